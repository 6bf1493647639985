//! The hand-written matrix products, `C (m, n) (+)= A (m, k) · B (k, n)` with `A` read through a
//! [`Layout`] (strides, so `Aᵀ` costs nothing, or offset tables, so implicit-GEMM and Winograd
//! convolutions read their operands in place): one kernel per vector instruction set
//! (`sgemm_avx512`, `sgemm_avx2`), chosen by [`sgemm`]'s [`Simd`] argument.

use super::cpu::Simd;

/// Where element (i, p) of `A` lives, relative to its base pointer.
pub trait Layout: Copy {
    /// Offset of element (i, p).
    fn at(&self, i: usize, p: usize) -> usize;
    /// The layout of the sub-matrix starting at (i0, p0), and how far its base pointer moves.
    fn shifted(&self, i0: usize, p0: usize) -> (Self, usize);
    /// For table layouts whose first `rows` rows are equally spaced: (offset of row 0, row
    /// spacing, column table).
    fn row_run(&self, _rows: usize) -> Option<(usize, usize, *const usize)> {
        None
    }
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
    fn row_run(&self, rows: usize) -> Option<(usize, usize, *const usize)> {
        if rows < 2 {
            return None;
        }
        // SAFETY: the caller asks only for rows inside its block, which the tables cover.
        let row = |i: usize| unsafe { *self.rows.add(i) };
        let (first, stride) = (row(0), row(1).checked_sub(row(0))?);
        (2..rows)
            .all(|i| row(i) == first + i * stride)
            .then_some((first, stride, self.cols))
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

/// `C (m, n) (+)= A (m, k) · B (k, n)` on `simd`'s kernel; `A` through `la`; `B` row-major with
/// row stride `ldb`; `C` row-major with row stride `ldc`; `accumulate` adds to `C`, else `C` is
/// overwritten (never read).
///
/// # Safety
/// The CPU must have `simd`, and `la`, `ldb`, `ldc` must only reach elements inside the caller's
/// buffers for i < m, p < k, j < n.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn sgemm<L: Layout>(
    simd: Simd,
    shape: (usize, usize, usize),
    a: *const f32,
    la: L,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    match simd {
        Simd::Avx512 => super::sgemm_avx512::sgemm(shape, a, la, b, ldb, c, ldc, accumulate),
        Simd::Avx2Fma => super::sgemm_avx2::sgemm(shape, a, la, b, ldb, c, ldc, accumulate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::each_simd;
    use crate::kernels::reference::{assert_close, filled};

    #[test]
    fn equally_spaced_rows_match_the_definition_for_every_row_count_and_layout() {
        // Rows `stride` apart, as a Winograd product's tiles or an image row's pixels: every
        // count of rows from 1 to 40 (on AVX-512 split into 14-row run kernels of one or two
        // vectors of columns and a table-driven remainder), and column counts that end in a
        // part of a vector on either set.
        let (k, stride) = (11, 13);
        let cols: Vec<usize> = (0..k).collect();
        for simd in each_simd("table-driven matrix kernels") {
            for n in [16, 32, 13, 40] {
                for m in 1..=40 {
                    let rows: Vec<usize> = (0..m).map(|i| i * stride).collect();
                    let (a, b) = (filled(m * stride, 0.3), filled(k * n, 1.7));
                    let before = filled(m * n, 0.9);
                    for accumulate in [false, true] {
                        let mut want = if accumulate {
                            before.clone()
                        } else {
                            vec![0.0; m * n]
                        };
                        for (i, want_row) in want.chunks_exact_mut(n).enumerate() {
                            for (p, b_row) in b.chunks_exact(n).enumerate() {
                                for (w, bv) in want_row.iter_mut().zip(b_row) {
                                    *w += a[rows[i] + cols[p]] * bv;
                                }
                            }
                        }
                        let mut got = before.clone();
                        let tables = Tables {
                            rows: rows.as_ptr(),
                            cols: cols.as_ptr(),
                        };
                        // SAFETY: the CPU has `simd`; the tables cover m rows and k columns
                        // of `a`, `b` is k × n and `got` m × n.
                        unsafe {
                            sgemm(
                                simd,
                                (m, k, n),
                                a.as_ptr(),
                                tables,
                                b.as_ptr(),
                                n,
                                got.as_mut_ptr(),
                                n,
                                accumulate,
                            )
                        };
                        let what =
                            format!("{simd:?}: {m} rows × {n} columns, accumulate {accumulate}");
                        assert_close(&got, &want, 1e-5, &what);
                        // The same offsets as strides: row i at i·stride, column p at p.
                        let mut got = before.clone();
                        let strided = Strided { rs: stride, cs: 1 };
                        // SAFETY: as above, the strides reaching the same elements.
                        unsafe {
                            sgemm(
                                simd,
                                (m, k, n),
                                a.as_ptr(),
                                strided,
                                b.as_ptr(),
                                n,
                                got.as_mut_ptr(),
                                n,
                                accumulate,
                            )
                        };
                        assert_close(&got, &want, 1e-5, &format!("strided {what}"));
                    }
                }
            }
        }
    }
}
