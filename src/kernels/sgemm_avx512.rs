//! An AVX-512 matrix product for the shapes this engine meets: `C (m, n) (+)= A (m, k) · B (k, n)`,
//! `n` in vectors of 16 columns (a ragged last vector is loaded and stored masked). `A` is read
//! through a `Layout`: strides (so `Aᵀ` costs nothing) or offset tables (implicit-GEMM
//! convolution reads a padded image directly). Each microkernel keeps an `MR × 16·NV` block of `C` in zmm registers and, for every
//! `p`, broadcasts `MR` values of `A` against `NV` vectors of `B` row `p`. No packing: a block of
//! `B` stays in L1, and `A` streams.

use super::sgemm::Layout;
use std::arch::x86_64::*;

/// Rows of `k` processed per pass, so a 64-wide block of `B` (256 bytes per row) stays in L1.
const KC: usize = 128;

/// How a block writes `C`: adding to it or overwriting it, and which columns of its last vector
/// exist (`n` need not be a multiple of 16: the last vector is loaded and stored masked).
#[derive(Clone, Copy, Debug)]
struct Out {
    accumulate: bool,
    last_mask: __mmask16,
}

impl Out {
    /// The mask of vector `v` of `NV`.
    #[inline(always)]
    fn mask<const NV: usize>(&self, v: usize) -> __mmask16 {
        if v + 1 == NV {
            self.last_mask
        } else {
            0xFFFF
        }
    }
}

/// `C[..MR, ..16·NV] (+)= A[..MR, ..k] · B[..k, ..16·NV]` for one register block.
///
/// # Safety
/// AVX-512F must be available; every element the layout, `ldb` and `ldc` reach must lie inside
/// the caller's buffers.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const MR: usize, const NV: usize, L: Layout>(
    k: usize,
    a: *const f32,
    la: L,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    out: Out,
) {
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    if out.accumulate {
        for (i, row) in acc.iter_mut().enumerate() {
            for (v, reg) in row.iter_mut().enumerate() {
                *reg = _mm512_maskz_loadu_ps(out.mask::<NV>(v), c.add(i * ldc + 16 * v));
            }
        }
    }
    for p in 0..k {
        let mut bv = [_mm512_setzero_ps(); NV];
        for (v, reg) in bv.iter_mut().enumerate() {
            *reg = _mm512_maskz_loadu_ps(out.mask::<NV>(v), b.add(p * ldb + 16 * v));
        }
        for (i, row) in acc.iter_mut().enumerate() {
            broadcast_fma::<NV>(a.add(la.at(i, p)), row, &bv);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, reg) in row.iter().enumerate() {
            _mm512_mask_storeu_ps(c.add(i * ldc + 16 * v), out.mask::<NV>(v), *reg);
        }
    }
}

/// `row[v] += broadcast(*a) · b[v]` for `v < NV`, as one assembly block.
///
/// Written in assembly so the compiler cannot hoist the broadcasts of all rows ahead of their
/// multiply-adds: with `MR·NV` accumulators live that runs out of registers and spills them in
/// the innermost loop (seen as a 2× slowdown). Each block needs one temporary register.
///
/// # Safety
/// AVX-512F must be available and `a` readable.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn broadcast_fma<const NV: usize>(a: *const f32, row: &mut [__m512; NV], b: &[__m512; NV]) {
    use std::arch::asm;
    let (r, b) = (row.as_mut_ptr(), b.as_ptr());
    // A typed scratch register: an untyped `out(zmm_reg) _` is given a type that prints as an
    // invalid register name once AVX-512VL is enabled crate-wide (`-C target-cpu=native`).
    let _t: __m512;
    match NV {
        1 => asm!(
            "vfmadd231ps {c0}, {b0}, dword ptr [{a}]{{1to16}}",
            a = in(reg) a,
            c0 = inout(zmm_reg) *r,
            b0 = in(zmm_reg) *b,
            options(nostack, readonly, preserves_flags),
        ),
        2 => asm!(
            "vbroadcastss {t}, dword ptr [{a}]",
            "vfmadd231ps {c0}, {t}, {b0}",
            "vfmadd231ps {c1}, {t}, {b1}",
            a = in(reg) a,
            t = out(zmm_reg) _t,
            c0 = inout(zmm_reg) *r,
            c1 = inout(zmm_reg) *r.add(1),
            b0 = in(zmm_reg) *b,
            b1 = in(zmm_reg) *b.add(1),
            options(nostack, readonly, preserves_flags),
        ),
        3 => asm!(
            "vbroadcastss {t}, dword ptr [{a}]",
            "vfmadd231ps {c0}, {t}, {b0}",
            "vfmadd231ps {c1}, {t}, {b1}",
            "vfmadd231ps {c2}, {t}, {b2}",
            a = in(reg) a,
            t = out(zmm_reg) _t,
            c0 = inout(zmm_reg) *r,
            c1 = inout(zmm_reg) *r.add(1),
            c2 = inout(zmm_reg) *r.add(2),
            b0 = in(zmm_reg) *b,
            b1 = in(zmm_reg) *b.add(1),
            b2 = in(zmm_reg) *b.add(2),
            options(nostack, readonly, preserves_flags),
        ),
        _ => asm!(
            "vbroadcastss {t}, dword ptr [{a}]",
            "vfmadd231ps {c0}, {t}, {b0}",
            "vfmadd231ps {c1}, {t}, {b1}",
            "vfmadd231ps {c2}, {t}, {b2}",
            "vfmadd231ps {c3}, {t}, {b3}",
            a = in(reg) a,
            t = out(zmm_reg) _t,
            c0 = inout(zmm_reg) *r,
            c1 = inout(zmm_reg) *r.add(1),
            c2 = inout(zmm_reg) *r.add(2),
            c3 = inout(zmm_reg) *r.add(3),
            b0 = in(zmm_reg) *b,
            b1 = in(zmm_reg) *b.add(1),
            b2 = in(zmm_reg) *b.add(2),
            b3 = in(zmm_reg) *b.add(3),
            options(nostack, readonly, preserves_flags),
        ),
    }
}

/// [`block`] for rows of `A` that are equally spaced, element (i, p) at `a[i·stride + cols[p]]`
/// (a run of output pixels in one image row), with `MR × NV` 14 × 1 or 14 × 2. The whole `k`
/// loop is one assembly block that addresses the rows from two row pointers and three stride
/// registers, so no row offset is reloaded (the table-driven [`block`] is load-bound on them). With one vector the multiply-adds take their
/// broadcast straight from memory; with two, one broadcast register feeds both (broadcasting
/// from memory per multiply-add makes the loop load-bound, as a 7 × 4 variant measured).
///
/// # Safety
/// AVX-512F must be available; `cols` must hold `k` offsets, and every element reached must lie
/// inside the caller's buffers.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_run<const MR: usize, const NV: usize>(
    k: usize,
    a: *const f32,
    stride: usize,
    cols: *const usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    use std::arch::asm;
    // Typed scratch registers (see `broadcast_fma`).
    let (_t, _b0, _b1): (__m512, __m512, __m512);
    let mut acc = [_mm512_setzero_ps(); 28];
    if accumulate {
        for (i, reg) in acc[..MR * NV].iter_mut().enumerate() {
            *reg = _mm512_loadu_ps(c.add((i / NV) * ldc + 16 * (i % NV)));
        }
    }
    if k > 0 {
        let s = stride * 4;
        // The loop head and tail and the operands both kernels share; `$body` is the work of
        // one `p`, addressing the rows from `r0` (rows 0–6) and `r7` (rows 7–13).
        macro_rules! run_loop {
            ($($body:literal,)* ; $($operands:tt)*) => {
                asm!(
                    "2:",
                    "mov {t0}, qword ptr [{cols}]",
                    "lea {r0}, [{a} + {t0}*4]",
                    "lea {r7}, [{r0} + {s7}]",
                    $($body,)*
                    "add {cols}, 8",
                    "add {b}, {ldb}",
                    "dec {k}",
                    "jnz 2b",
                    a = in(reg) a,
                    cols = inout(reg) cols => _,
                    b = inout(reg) b => _,
                    k = inout(reg) k => _,
                    ldb = in(reg) ldb * 4,
                    s = in(reg) s,
                    s3 = in(reg) 3 * s,
                    s5 = in(reg) 5 * s,
                    s7 = in(reg) 7 * s,
                    r7 = out(reg) _,
                    t0 = out(reg) _,
                    r0 = out(reg) _,
                    $($operands)*
                    options(nostack, readonly),
                )
            };
        }
        match (MR, NV) {
            (14, 1) => run_loop!(
                "vmovups {b0}, zmmword ptr [{b} + 0]",
                "vfmadd231ps {c0}, {b0}, dword ptr [{r0}]{{1to16}}",
                "vfmadd231ps {c1}, {b0}, dword ptr [{r0} + {s}]{{1to16}}",
                "vfmadd231ps {c2}, {b0}, dword ptr [{r0} + {s}*2]{{1to16}}",
                "vfmadd231ps {c3}, {b0}, dword ptr [{r0} + {s3}]{{1to16}}",
                "vfmadd231ps {c4}, {b0}, dword ptr [{r0} + {s}*4]{{1to16}}",
                "vfmadd231ps {c5}, {b0}, dword ptr [{r0} + {s5}]{{1to16}}",
                "vfmadd231ps {c6}, {b0}, dword ptr [{r0} + {s3}*2]{{1to16}}",
                "vfmadd231ps {c7}, {b0}, dword ptr [{r7}]{{1to16}}",
                "vfmadd231ps {c8}, {b0}, dword ptr [{r7} + {s}]{{1to16}}",
                "vfmadd231ps {c9}, {b0}, dword ptr [{r7} + {s}*2]{{1to16}}",
                "vfmadd231ps {c10}, {b0}, dword ptr [{r7} + {s3}]{{1to16}}",
                "vfmadd231ps {c11}, {b0}, dword ptr [{r7} + {s}*4]{{1to16}}",
                "vfmadd231ps {c12}, {b0}, dword ptr [{r7} + {s5}]{{1to16}}",
                "vfmadd231ps {c13}, {b0}, dword ptr [{r7} + {s3}*2]{{1to16}}",
                ;
                b0 = out(zmm_reg) _b0,
                c0 = inout(zmm_reg) acc[0],
                c1 = inout(zmm_reg) acc[1],
                c2 = inout(zmm_reg) acc[2],
                c3 = inout(zmm_reg) acc[3],
                c4 = inout(zmm_reg) acc[4],
                c5 = inout(zmm_reg) acc[5],
                c6 = inout(zmm_reg) acc[6],
                c7 = inout(zmm_reg) acc[7],
                c8 = inout(zmm_reg) acc[8],
                c9 = inout(zmm_reg) acc[9],
                c10 = inout(zmm_reg) acc[10],
                c11 = inout(zmm_reg) acc[11],
                c12 = inout(zmm_reg) acc[12],
                c13 = inout(zmm_reg) acc[13],
            ),
            (14, 2) => run_loop!(
                "vmovups {b0}, zmmword ptr [{b} + 0]",
                "vmovups {b1}, zmmword ptr [{b} + 64]",
                "vbroadcastss {t}, dword ptr [{r0}]",
                "vfmadd231ps {c0}, {t}, {b0}",
                "vfmadd231ps {c1}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r0} + {s}]",
                "vfmadd231ps {c2}, {t}, {b0}",
                "vfmadd231ps {c3}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r0} + {s}*2]",
                "vfmadd231ps {c4}, {t}, {b0}",
                "vfmadd231ps {c5}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r0} + {s3}]",
                "vfmadd231ps {c6}, {t}, {b0}",
                "vfmadd231ps {c7}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r0} + {s}*4]",
                "vfmadd231ps {c8}, {t}, {b0}",
                "vfmadd231ps {c9}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r0} + {s5}]",
                "vfmadd231ps {c10}, {t}, {b0}",
                "vfmadd231ps {c11}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r0} + {s3}*2]",
                "vfmadd231ps {c12}, {t}, {b0}",
                "vfmadd231ps {c13}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r7}]",
                "vfmadd231ps {c14}, {t}, {b0}",
                "vfmadd231ps {c15}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r7} + {s}]",
                "vfmadd231ps {c16}, {t}, {b0}",
                "vfmadd231ps {c17}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r7} + {s}*2]",
                "vfmadd231ps {c18}, {t}, {b0}",
                "vfmadd231ps {c19}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r7} + {s3}]",
                "vfmadd231ps {c20}, {t}, {b0}",
                "vfmadd231ps {c21}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r7} + {s}*4]",
                "vfmadd231ps {c22}, {t}, {b0}",
                "vfmadd231ps {c23}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r7} + {s5}]",
                "vfmadd231ps {c24}, {t}, {b0}",
                "vfmadd231ps {c25}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{r7} + {s3}*2]",
                "vfmadd231ps {c26}, {t}, {b0}",
                "vfmadd231ps {c27}, {t}, {b1}",
                ;
                t = out(zmm_reg) _t,
                b0 = out(zmm_reg) _b0,
                b1 = out(zmm_reg) _b1,
                c0 = inout(zmm_reg) acc[0],
                c1 = inout(zmm_reg) acc[1],
                c2 = inout(zmm_reg) acc[2],
                c3 = inout(zmm_reg) acc[3],
                c4 = inout(zmm_reg) acc[4],
                c5 = inout(zmm_reg) acc[5],
                c6 = inout(zmm_reg) acc[6],
                c7 = inout(zmm_reg) acc[7],
                c8 = inout(zmm_reg) acc[8],
                c9 = inout(zmm_reg) acc[9],
                c10 = inout(zmm_reg) acc[10],
                c11 = inout(zmm_reg) acc[11],
                c12 = inout(zmm_reg) acc[12],
                c13 = inout(zmm_reg) acc[13],
                c14 = inout(zmm_reg) acc[14],
                c15 = inout(zmm_reg) acc[15],
                c16 = inout(zmm_reg) acc[16],
                c17 = inout(zmm_reg) acc[17],
                c18 = inout(zmm_reg) acc[18],
                c19 = inout(zmm_reg) acc[19],
                c20 = inout(zmm_reg) acc[20],
                c21 = inout(zmm_reg) acc[21],
                c22 = inout(zmm_reg) acc[22],
                c23 = inout(zmm_reg) acc[23],
                c24 = inout(zmm_reg) acc[24],
                c25 = inout(zmm_reg) acc[25],
                c26 = inout(zmm_reg) acc[26],
                c27 = inout(zmm_reg) acc[27],
            ),
            _ => unreachable!("no run kernel for {MR} × {NV}"),
        }
    }
    for (i, reg) in acc[..MR * NV].iter().enumerate() {
        _mm512_storeu_ps(c.add((i / NV) * ldc + 16 * (i % NV)), *reg);
    }
}

/// Rows of the run kernel for `NV` vectors of columns, if there is one.
const fn run_rows(nv: usize) -> Option<usize> {
    match nv {
        1 | 2 => Some(14),
        _ => None,
    }
}

/// Rows per register block for `NV` vectors of columns: about 24 accumulators in all.
const fn rows_for(nv: usize) -> usize {
    match nv {
        1 => 14,
        2 => 12,
        3 => 8,
        _ => 6,
    }
}

/// All rows `0..m` for one column block of `16·NV` columns, `MR` rows at a time.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn column_block<const NV: usize, L: Layout>(
    m: usize,
    k: usize,
    a: *const f32,
    la: L,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    out: Out,
) {
    let mr = rows_for(NV);
    let mut i = 0;
    while i < m {
        let rows = (m - i).min(mr);
        let (li, shift) = la.shifted(i, 0);
        let (ai, ci) = (a.add(shift), c.add(i * ldc));
        if let Some(run) = run_rows(NV).filter(|&r| m - i >= r && out.last_mask == 0xFFFF) {
            if let Some((first, stride, cols)) = li.row_run(run) {
                let a = ai.add(first);
                let acc = out.accumulate;
                match NV {
                    1 => block_run::<14, 1>(k, a, stride, cols, b, ldb, ci, ldc, acc),
                    _ => block_run::<14, 2>(k, a, stride, cols, b, ldb, ci, ldc, acc),
                }
                i += run;
                continue;
            }
        }
        macro_rules! go {
            ($($r:literal)*) => {
                match rows {
                    $($r => block::<$r, NV, L>(k, ai, li, b, ldb, ci, ldc, out),)*
                    _ => unreachable!(),
                }
            };
        }
        go!(1 2 3 4 5 6 7 8 9 10 11 12 13 14);
        i += rows;
    }
}

/// `C (m, n) (+)= A (m, k) · B (k, n)`; `A` through `la`; `B` row-major with row
/// stride `ldb`; `C` row-major with row stride `ldc`.
///
/// # Safety
/// AVX-512F must be available, and `la`, `ldb`, `ldc` must only reach elements inside the
/// caller's buffers for i < m, p < k, j < n (checked by the safe callers in this module's parent).
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm<L: Layout>(
    (m, k, n): (usize, usize, usize),
    a: *const f32,
    la: L,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let mut p0 = 0;
    while p0 < k {
        let kc = (k - p0).min(KC);
        // Later k-blocks add to what the earlier ones wrote.
        let accumulate = accumulate || p0 > 0;
        let (lp, shift) = la.shifted(0, p0);
        let (ap, bp) = (a.add(shift), b.add(p0 * ldb));
        let mut j = 0;
        while j < n {
            let cols = (n - j).min(64);
            let nv = cols.div_ceil(16);
            let last = cols - 16 * (nv - 1); // columns in the last vector, 1..=16
            let out = Out {
                accumulate,
                last_mask: (((1u32 << last) - 1) & 0xFFFF) as __mmask16,
            };
            let (bj, cj) = (bp.add(j), c.add(j));
            match nv {
                1 => column_block::<1, L>(m, kc, ap, lp, bj, ldb, cj, ldc, out),
                2 => column_block::<2, L>(m, kc, ap, lp, bj, ldb, cj, ldc, out),
                3 => column_block::<3, L>(m, kc, ap, lp, bj, ldb, cj, ldc, out),
                _ => column_block::<4, L>(m, kc, ap, lp, bj, ldb, cj, ldc, out),
            }
            j += cols;
        }
        p0 += kc;
    }
}
