//! An AVX-512 matrix product for the shapes this engine meets most: `C (m, n) (+)= A (m, k) · B (k, n)`
//! with `n` a multiple of 16 (filters, hidden units). `A` is read through a [`Layout`]: strides
//! (so `Aᵀ` costs nothing) or offset tables (implicit-GEMM convolution reads a padded image
//! directly). Each microkernel keeps an `MR × 16·NV` block of `C` in zmm registers and, for every
//! `p`, broadcasts `MR` values of `A` against `NV` vectors of `B` row `p`. No packing: a block of
//! `B` stays in L1, and `A` streams.

use std::arch::x86_64::*;

/// Rows of `k` processed per pass, so a 64-wide block of `B` (256 bytes per row) stays in L1.
const KC: usize = 128;

/// Where element (i, p) of `A` lives, relative to its base pointer.
pub trait Layout: Copy {
    /// Offset of element (i, p).
    fn at(&self, i: usize, p: usize) -> usize;
    /// The layout of the sub-matrix starting at (i0, p0), and how far its base pointer moves.
    fn shifted(&self, i0: usize, p0: usize) -> (Self, usize);
}

/// Strided `A`: element (i, p) is at `i·rs + p·cs`.
#[derive(Clone, Copy, Debug)]
pub struct Strided {
    pub rs: usize,
    pub cs: usize,
}

impl Layout for Strided {
    #[inline(always)]
    fn at(&self, i: usize, p: usize) -> usize {
        i * self.rs + p * self.cs
    }
    fn shifted(&self, i0: usize, p0: usize) -> (Self, usize) {
        (*self, self.at(i0, p0))
    }
}

/// `A` through tables: element (i, p) is at `rows[i] + cols[p]`.
#[derive(Clone, Copy, Debug)]
pub struct Tables {
    pub rows: *const usize,
    pub cols: *const usize,
}

impl Layout for Tables {
    #[inline(always)]
    fn at(&self, i: usize, p: usize) -> usize {
        // SAFETY: `sgemm`'s caller guarantees the tables cover its m rows and k columns.
        unsafe { *self.rows.add(i) + *self.cols.add(p) }
    }
    fn shifted(&self, i0: usize, p0: usize) -> (Self, usize) {
        // SAFETY: as above, with i0 < m and p0 < k.
        unsafe {
            (
                Tables {
                    rows: self.rows.add(i0),
                    cols: self.cols.add(p0),
                },
                0,
            )
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
    accumulate: bool,
) {
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    if accumulate {
        for (i, row) in acc.iter_mut().enumerate() {
            for (v, reg) in row.iter_mut().enumerate() {
                *reg = _mm512_loadu_ps(c.add(i * ldc + 16 * v));
            }
        }
    }
    for p in 0..k {
        let mut bv = [_mm512_setzero_ps(); NV];
        for (v, reg) in bv.iter_mut().enumerate() {
            *reg = _mm512_loadu_ps(b.add(p * ldb + 16 * v));
        }
        for (i, row) in acc.iter_mut().enumerate() {
            broadcast_fma::<NV>(a.add(la.at(i, p)), row, &bv);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, reg) in row.iter().enumerate() {
            _mm512_storeu_ps(c.add(i * ldc + 16 * v), *reg);
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
            t = out(zmm_reg) _,
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
            t = out(zmm_reg) _,
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
            t = out(zmm_reg) _,
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
    accumulate: bool,
) {
    let mr = rows_for(NV);
    let mut i = 0;
    while i < m {
        let rows = (m - i).min(mr);
        let (li, shift) = la.shifted(i, 0);
        let (ai, ci) = (a.add(shift), c.add(i * ldc));
        macro_rules! go {
            ($($r:literal)*) => {
                match rows {
                    $($r => block::<$r, NV, L>(k, ai, li, b, ldb, ci, ldc, accumulate),)*
                    _ => unreachable!(),
                }
            };
        }
        go!(1 2 3 4 5 6 7 8 9 10 11 12 13 14);
        i += rows;
    }
}

/// `C (m, n) (+)= A (m, k) · B (k, n)`; `n % 16 == 0`; `A` through `la`; `B` row-major with row
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
    debug_assert!(n % 16 == 0);
    let mut p0 = 0;
    while p0 < k {
        let kc = (k - p0).min(KC);
        // Later k-blocks add to what the earlier ones wrote.
        let acc = accumulate || p0 > 0;
        let (lp, shift) = la.shifted(0, p0);
        let (ap, bp) = (a.add(shift), b.add(p0 * ldb));
        let mut j = 0;
        while j < n {
            let nv = ((n - j) / 16).min(4);
            let (bj, cj) = (bp.add(j), c.add(j));
            match nv {
                1 => column_block::<1, L>(m, kc, ap, lp, bj, ldb, cj, ldc, acc),
                2 => column_block::<2, L>(m, kc, ap, lp, bj, ldb, cj, ldc, acc),
                3 => column_block::<3, L>(m, kc, ap, lp, bj, ldb, cj, ldc, acc),
                _ => column_block::<4, L>(m, kc, ap, lp, bj, ldb, cj, ldc, acc),
            }
            j += 16 * nv;
        }
        p0 += kc;
    }
}
