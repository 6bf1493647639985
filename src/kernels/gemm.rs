//! Row-major matrix product: the AVX-512 kernel of `sgemm` where the CPU has it (row blocks split
//! across threads), else — and for `Bᵀ` — the `gemm` crate, wrapped once so no caller sees
//! its conventions (`gemm::gemm` computes `dst := alpha·dst + beta·lhs·rhs`, takes strides as
//! (column, row), and overwrites `dst` when `read_dst` is false).

use gemm::Parallelism;
#[cfg(target_arch = "x86_64")]
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::cpu::Simd;
use super::cpu::{isa, Isa};

/// Which operands are stored transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transpose {
    /// `out = a · b`
    None,
    /// `out = aᵀ · b`, `a` stored `(k, m)`
    A,
    /// `out = a · bᵀ`, `b` stored `(n, k)`
    B,
}

/// Whether a product replaces what its output holds or adds to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// `out = a · b`; `out` is never read.
    Overwrite,
    /// `out += a · b`.
    Accumulate,
}

/// Where a product runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Spread over the current rayon pool when it is big enough to pay.
    Pool,
    /// On the calling thread (callers already inside a parallel loop).
    Caller,
}

/// Below this many multiply-adds one thread is faster than waking the pool.
const PARALLEL_MIN_MACS: usize = 1 << 18;

/// Rows per task for a caller that splits an `(m, k) · (k, n)` product across the pool itself,
/// to finish each block of rows (a bias, an activation) while it is in cache: one block per
/// thread, or all `m` rows on the caller when the product is too small to pay for waking the pool.
pub fn rows_per_thread((m, k, n): (usize, usize, usize)) -> usize {
    if m * k * n < PARALLEL_MIN_MACS {
        return m.max(1);
    }
    m.div_ceil(rayon::current_num_threads()).max(1)
}

/// `out (m, n) = [out +] op(a) (m, k) · op(b) (k, n)`, all row-major.
///
/// [`Output`] says whether `out` is overwritten or added to, [`Threads`] whether the product may
/// use the rayon pool.
pub fn matmul(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    shape: (usize, usize, usize),
    transpose: Transpose,
    output: Output,
    threads: Threads,
) {
    matmul_on(isa(), out, (a, b), shape, transpose, (output, threads));
}

/// [`matmul`] with the kernels of `isa`, which the CPU must have.
fn matmul_on(
    isa: Isa,
    out: &mut [f32],
    (a, b): (&[f32], &[f32]),
    (m, k, n): (usize, usize, usize),
    transpose: Transpose,
    (output, threads): (Output, Threads),
) {
    assert!(isa.on_cpu(), "matmul: no {isa} on this CPU");
    let accumulate = output == Output::Accumulate;
    let parallel = threads == Threads::Pool;
    assert!(
        out.len() >= m * n,
        "matmul: out holds {} < {m}×{n}",
        out.len()
    );
    assert!(a.len() >= m * k, "matmul: a holds {} < {m}×{k}", a.len());
    assert!(b.len() >= k * n, "matmul: b holds {} < {k}×{n}", b.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out[..m * n].fill(0.0);
        }
        return;
    }
    // (row stride, column stride) of each operand as stored.
    let (a_rs, a_cs) = match transpose {
        Transpose::A => (1, m as isize),
        _ => (k as isize, 1),
    };
    let (b_rs, b_cs) = match transpose {
        Transpose::B => (1, k as isize),
        _ => (n as isize, 1),
    };
    #[cfg(target_arch = "x86_64")]
    // On AVX2 + FMA the `gemm` crate's packed kernels are level with or faster than the
    // unpacked 6×16 kernel on the dense layers' products (MLP steps, interleaved runs), so
    // there only the convolutions, which read their operands through tables, use `sgemm`.
    if let Some(simd) = isa
        .simd()
        .filter(|s| *s == Simd::Avx512 && transpose != Transpose::B)
    {
        let sa = match transpose {
            Transpose::A => super::sgemm::Strided { rs: 1, cs: m },
            _ => super::sgemm::Strided { rs: k, cs: 1 },
        };
        let rows_per_task = if parallel && m * n * k >= PARALLEL_MIN_MACS {
            m.div_ceil(rayon::current_num_threads() * 4).max(16)
        } else {
            m
        };
        // Row blocks of C are independent: split them across threads.
        out[..m * n]
            .par_chunks_mut(rows_per_task * n)
            .enumerate()
            .for_each(|(t, c)| {
                let rows = c.len() / n;
                let a_start = t * rows_per_task * sa.rs;
                // SAFETY: the CPU has `simd` (asserted); the asserts above bound every index: A
                // rows t·rows_per_task.. stay below m, B is k×n, and this C block holds rows×n
                // values.
                unsafe {
                    super::sgemm::sgemm(
                        simd,
                        (rows, k, n),
                        a[a_start..].as_ptr(),
                        sa,
                        b.as_ptr(),
                        n,
                        c.as_mut_ptr(),
                        n,
                        accumulate,
                    );
                }
            });
        return;
    }
    let threads = rayon::current_num_threads();
    let parallelism = if parallel && threads > 1 && m * n * k >= PARALLEL_MIN_MACS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above guarantee every index the strides reach lies inside its slice
    // (a: max offset (m-1)·k + (k-1) or (k-1)·m + (m-1) < m·k; likewise b and out), and `out`
    // is a unique borrow, so it aliases neither `a` nor `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Side of the square blocks [`transpose`] copies one at a time: the block's 16 destination
/// rows stay in L1 while it fills them, where writing a whole source row at once touches a new
/// cache line per value (a column of `dst`).
const TRANSPOSE_BLOCK: usize = 16;

/// `dst (cols, rows) = srcᵀ` for `src (rows, cols)`, both row-major.
pub fn transpose(src: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
    for r0 in (0..rows).step_by(TRANSPOSE_BLOCK) {
        for c0 in (0..cols).step_by(TRANSPOSE_BLOCK) {
            for r in r0..(r0 + TRANSPOSE_BLOCK).min(rows) {
                let row = &src[r * cols..(r + 1) * cols];
                for c in c0..(c0 + TRANSPOSE_BLOCK).min(cols) {
                    dst[c * rows + r] = row[c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::each_isa;

    /// Plain triple loop, the reference the fast path is checked against.
    fn reference(a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize), t: Transpose) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for p in 0..k {
                    let av = if t == Transpose::A {
                        a[p * m + i]
                    } else {
                        a[i * k + p]
                    };
                    let bv = if t == Transpose::B {
                        b[j * k + p]
                    } else {
                        b[p * n + j]
                    };
                    s += av * bv;
                }
                out[i * n + j] = s;
            }
        }
        out
    }

    #[test]
    fn matches_reference_for_every_transpose_and_odd_sizes() {
        // Without Bᵀ the AVX-512 kernel runs where the CPU has it (every column-block width,
        // masked last vectors, ragged row blocks, k beyond one k-block); Bᵀ and the other
        // instruction sets the `gemm` crate.
        let shapes = [
            (1, 1, 1),
            (7, 33, 5),
            (64, 65, 17),
            (130, 9, 300),
            (1, 1, 16),
            (29, 300, 16),
            (37, 144, 32),
        ];
        for &(m, k, n) in
            shapes
                .iter()
                .chain(&[(15, 7, 48), (100, 129, 64), (9, 25, 144), (130, 784, 256)])
        {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
                .collect();
            for t in [Transpose::None, Transpose::A, Transpose::B] {
                let want = reference(&a, &b, (m, k, n), t);
                for (isa, threads) in each_isa("matmul")
                    .into_iter()
                    .flat_map(|i| [(i, Threads::Caller), (i, Threads::Pool)])
                {
                    let mut out = vec![f32::NAN; m * n];
                    let how = (Output::Overwrite, threads);
                    matmul_on(isa, &mut out, (&a, &b), (m, k, n), t, how);
                    for (x, y) in out.iter().zip(&want) {
                        assert!(
                            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                            "{isa} {t:?} {m}x{k}x{n}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn transpose_swaps_rows_and_columns() {
        let mut t = [0.0; 6];
        transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut t, 2, 3);
        assert_eq!(t, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        // Sizes that are not multiples of the block, on both sides of it.
        for (rows, cols) in [(37, 21), (16, 40), (5, 33)] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let mut dst = vec![f32::NAN; rows * cols];
            transpose(&src, &mut dst, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        dst[c * rows + r],
                        src[r * cols + c],
                        "{rows}×{cols} at {r}, {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn accumulate_adds_to_out() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 0.0, 0.0, 1.0];
        let mut out = [10.0; 4];
        matmul(
            &mut out,
            &a,
            &b,
            (2, 2, 2),
            Transpose::None,
            Output::Accumulate,
            Threads::Caller,
        );
        assert_eq!(out, [11.0, 12.0, 13.0, 14.0]);
    }
}
