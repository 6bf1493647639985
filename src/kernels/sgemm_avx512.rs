//! An AVX-512 matrix product for the shapes this engine meets most: `C (m, n) (+)= A (m, k) · B (k, n)`
//! with `n` a multiple of 16 (filters, hidden units) and `A` read through arbitrary strides (so
//! `Aᵀ` costs nothing). Each microkernel keeps an `MR × 16·NV` block of `C` in zmm registers and,
//! for every `p`, broadcasts `MR` values of `A` against `NV` vectors of `B` row `p`.
//! No packing: `B` blocks are small enough to stay in L1/L2, and `A` rows stream.

use std::arch::x86_64::*;

/// Rows of `k` processed per pass, so a 64-wide block of `B` (256 bytes per row) stays in L1.
const KC: usize = 128;

/// Strided view of `A`: element (i, p) is at `i·rs + p·cs`.
#[derive(Clone, Copy, Debug)]
pub struct Strided {
    pub rs: usize,
    pub cs: usize,
}

/// `C[..mr, ..16·NV] (+)= A[..mr, ..k] · B[..k, ..16·NV]` for one register block.
///
/// # Safety
/// AVX-512F must be available; `a`, `b`, `c` must hold every element the strides reach:
/// `a[(mr−1)·rs + (k−1)·cs]`, `b[(k−1)·ldb + 16·NV − 1]`, `c[(mr−1)·ldc + 16·NV − 1]`.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const MR: usize, const NV: usize>(
    k: usize,
    a: *const f32,
    sa: Strided,
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
            let ai = _mm512_set1_ps(*a.add(i * sa.rs + p * sa.cs));
            for (reg, bvv) in row.iter_mut().zip(&bv) {
                *reg = _mm512_fmadd_ps(ai, *bvv, *reg);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, reg) in row.iter().enumerate() {
            _mm512_storeu_ps(c.add(i * ldc + 16 * v), *reg);
        }
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
unsafe fn column_block<const NV: usize>(
    m: usize,
    k: usize,
    a: *const f32,
    sa: Strided,
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
        let (ai, ci) = (a.add(i * sa.rs), c.add(i * ldc));
        macro_rules! go {
            ($($r:literal)*) => {
                match rows {
                    $($r => block::<$r, NV>(k, ai, sa, b, ldb, ci, ldc, accumulate),)*
                    _ => unreachable!(),
                }
            };
        }
        go!(1 2 3 4 5 6 7 8 9 10 11 12 13 14);
        i += rows;
    }
}

/// `C (m, n) (+)= A (m, k) · B (k, n)`; `n % 16 == 0`; `B` row-major with row stride `ldb`,
/// `C` row-major with row stride `ldc`.
///
/// # Safety
/// AVX-512F must be available and the slices must cover what the strides reach (checked by the
/// caller, `kernels::matmul`).
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    (m, k, n): (usize, usize, usize),
    a: *const f32,
    sa: Strided,
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
        let (ap, bp) = (a.add(p0 * sa.cs), b.add(p0 * ldb));
        let mut j = 0;
        while j < n {
            let nv = ((n - j) / 16).min(4);
            let (bj, cj) = (bp.add(j), c.add(j));
            match nv {
                1 => column_block::<1>(m, kc, ap, sa, bj, ldb, cj, ldc, acc),
                2 => column_block::<2>(m, kc, ap, sa, bj, ldb, cj, ldc, acc),
                3 => column_block::<3>(m, kc, ap, sa, bj, ldb, cj, ldc, acc),
                _ => column_block::<4>(m, kc, ap, sa, bj, ldb, cj, ldc, acc),
            }
            j += 16 * nv;
        }
        p0 += kc;
    }
}
