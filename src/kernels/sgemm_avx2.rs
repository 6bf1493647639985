//! The AVX2 + FMA twin of `sgemm_avx512`: `C (m, n) (+)= A (m, k) · B (k, n)` with `A` through a
//! [`Layout`], `n` in vectors of 8 columns (a ragged last vector is loaded and stored masked).
//! With 16 ymm registers a block of `C` is 6 rows × 16 columns (12 accumulators, two vectors of
//! `B` and one broadcast register) or, for a last column block of one vector, 12 rows × 8. As on
//! AVX-512 there is no packing: a 16-column block of `B` stays in L1 and `A` streams.

use super::sgemm::Layout;
use std::arch::x86_64::*;

/// Rows of `k` processed per pass, so a 16-wide block of `B` (64 bytes per row) stays in L1.
const KC: usize = 128;
/// `f32` lanes per vector.
const LANES: usize = 8;
/// Columns of a column block: two vectors.
const NR: usize = 2 * LANES;

/// How a block writes `C`: adding to it or overwriting it, and which columns of its last vector
/// exist (`n` need not be a multiple of 8: the last vector is loaded and stored masked).
#[derive(Clone, Copy, Debug)]
struct Out {
    accumulate: bool,
    /// Whether the last vector of the block is partial, and its lanes (all ones where a column
    /// exists).
    ragged: bool,
    last_mask: __m256i,
}

impl Out {
    /// Vector `v` of `NV` at `p`, masked if it is a partial last one.
    #[inline(always)]
    unsafe fn load<const NV: usize>(&self, v: usize, p: *const f32) -> __m256 {
        if self.ragged && v + 1 == NV {
            _mm256_maskload_ps(p, self.last_mask)
        } else {
            _mm256_loadu_ps(p)
        }
    }

    /// Stores vector `v` of `NV` at `p`, masked if it is a partial last one.
    #[inline(always)]
    unsafe fn store<const NV: usize>(&self, v: usize, p: *mut f32, x: __m256) {
        if self.ragged && v + 1 == NV {
            _mm256_maskstore_ps(p, self.last_mask, x)
        } else {
            _mm256_storeu_ps(p, x)
        }
    }
}

/// `C[..MR, ..8·NV] (+)= A[..MR, ..k] · B[..k, ..8·NV]` for one register block.
///
/// # Safety
/// AVX2 and FMA must be available; every element the layout, `ldb` and `ldc` reach must lie
/// inside the caller's buffers.
#[target_feature(enable = "avx2,fma")]
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
    let mut acc = [[_mm256_setzero_ps(); NV]; MR];
    if out.accumulate {
        for (i, row) in acc.iter_mut().enumerate() {
            for (v, reg) in row.iter_mut().enumerate() {
                *reg = out.load::<NV>(v, c.add(i * ldc + LANES * v));
            }
        }
    }
    for p in 0..k {
        let mut bv = [_mm256_setzero_ps(); NV];
        for (v, reg) in bv.iter_mut().enumerate() {
            *reg = out.load::<NV>(v, b.add(p * ldb + LANES * v));
        }
        for (i, row) in acc.iter_mut().enumerate() {
            broadcast_fma::<NV>(a.add(la.at(i, p)), row, &bv);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, reg) in row.iter().enumerate() {
            out.store::<NV>(v, c.add(i * ldc + LANES * v), *reg);
        }
    }
}

/// `row[v] += broadcast(*a) · b[v]` for `v < NV`, as one assembly block, for the reason
/// `sgemm_avx512`'s twin gives: left to itself the compiler hoists every row's broadcast ahead
/// of the multiply-adds and spills accumulators in the innermost loop.
///
/// # Safety
/// AVX2 and FMA must be available and `a` readable.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn broadcast_fma<const NV: usize>(a: *const f32, row: &mut [__m256; NV], b: &[__m256; NV]) {
    use std::arch::asm;
    let (r, b) = (row.as_mut_ptr(), b.as_ptr());
    let _t: __m256;
    match NV {
        1 => asm!(
            "vbroadcastss {t}, dword ptr [{a}]",
            "vfmadd231ps {c0}, {t}, {b0}",
            a = in(reg) a,
            t = out(ymm_reg) _t,
            c0 = inout(ymm_reg) *r,
            b0 = in(ymm_reg) *b,
            options(nostack, readonly, preserves_flags),
        ),
        _ => asm!(
            "vbroadcastss {t}, dword ptr [{a}]",
            "vfmadd231ps {c0}, {t}, {b0}",
            "vfmadd231ps {c1}, {t}, {b1}",
            a = in(reg) a,
            t = out(ymm_reg) _t,
            c0 = inout(ymm_reg) *r,
            c1 = inout(ymm_reg) *r.add(1),
            b0 = in(ymm_reg) *b,
            b1 = in(ymm_reg) *b.add(1),
            options(nostack, readonly, preserves_flags),
        ),
    }
}

/// Rows per register block for `NV` vectors of columns: 12 accumulators.
const fn rows_for(nv: usize) -> usize {
    match nv {
        1 => 12,
        _ => 6,
    }
}

/// All rows `0..m` for one column block of `8·NV` columns, `MR` rows at a time.
#[target_feature(enable = "avx2,fma")]
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
        macro_rules! go {
            ($($r:literal)*) => {
                match rows {
                    $($r => block::<$r, NV, L>(k, ai, li, b, ldb, ci, ldc, out),)*
                    _ => unreachable!(),
                }
            };
        }
        go!(1 2 3 4 5 6 7 8 9 10 11 12);
        i += rows;
    }
}

/// `C (m, n) (+)= A (m, k) · B (k, n)`; `A` through `la`; `B` row-major with row
/// stride `ldb`; `C` row-major with row stride `ldc`.
///
/// # Safety
/// AVX2 and FMA must be available, and `la`, `ldb`, `ldc` must only reach elements inside the
/// caller's buffers for i < m, p < k, j < n.
#[target_feature(enable = "avx2,fma")]
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
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut p0 = 0;
    while p0 < k {
        let kc = (k - p0).min(KC);
        // Later k-blocks add to what the earlier ones wrote.
        let accumulate = accumulate || p0 > 0;
        let (lp, shift) = la.shifted(0, p0);
        let (ap, bp) = (a.add(shift), b.add(p0 * ldb));
        let mut j = 0;
        while j < n {
            let cols = (n - j).min(NR);
            let nv = cols.div_ceil(LANES);
            let last = cols - LANES * (nv - 1); // columns in the last vector, 1..=8
            let out = Out {
                accumulate,
                ragged: last < LANES,
                last_mask: _mm256_cmpgt_epi32(_mm256_set1_epi32(last as i32), lane),
            };
            let (bj, cj) = (bp.add(j), c.add(j));
            match nv {
                1 => column_block::<1, L>(m, kc, ap, lp, bj, ldb, cj, ldc, out),
                _ => column_block::<2, L>(m, kc, ap, lp, bj, ldb, cj, ldc, out),
            }
            j += cols;
        }
        p0 += kc;
    }
}
