//! Row-major matrix product: the AVX-512 kernel of `sgemm` where the CPU has it (row blocks split
//! across threads), else — and for `Bᵀ` — the `gemm` crate, wrapped once so no caller sees
//! its conventions (`gemm::gemm` computes `dst := alpha·dst + beta·lhs·rhs`, takes strides as
//! (column, row), and overwrites `dst` when `read_dst` is false). A product too small for the
//! pool but worth two threads (a dense layer at batch 1) is split by columns with the helper
//! thread of `pair`, each half on the hand-written kernel (AVX-512 or AVX2 + FMA).

use gemm::Parallelism;
#[cfg(target_arch = "x86_64")]
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::cpu::Simd;
use super::cpu::{isa, Isa};
use super::pair::{in_two_halves, Disjoint};

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
    /// Spread over the current rayon pool when it is big enough to pay; a smaller one split
    /// with the spinning helper thread instead when that pays.
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
    let operands = Operands {
        a: a.as_ptr(),
        a_strides: (a_rs, a_cs),
        b: b.as_ptr(),
        b_strides: (b_rs, b_cs),
        b_transposed: transpose == Transpose::B,
    };
    let macs = m * k * n;
    let pool_threads = rayon::current_num_threads();
    // Too small for the pool, yet worth two threads: columns in two halves, the split on a
    // vector boundary, one half on the spinning helper thread.
    let pair_pays = (PAIR_MIN_MACS..PARALLEL_MIN_MACS).contains(&macs)
        && n >= 2 * PAIR_MIN_COLUMNS
        && operands.splits(isa);
    if parallel && pool_threads > 1 && pair_pays {
        let split = (n / 2).next_multiple_of(16);
        let c = Disjoint(out.as_mut_ptr());
        in_two_halves(&|half| {
            let columns = if half == 0 { 0..split } else { split..n };
            // SAFETY: the asserts above bound every index (see `block`); the two halves write
            // disjoint columns of `out`, a unique borrow held until both return.
            unsafe {
                block(
                    isa,
                    c.get(),
                    operands,
                    (m, k, n),
                    columns,
                    accumulate,
                    Run::Half,
                )
            };
        });
        return;
    }
    let parallel = parallel && pool_threads > 1 && macs >= PARALLEL_MIN_MACS;
    #[cfg(target_arch = "x86_64")]
    if parallel && operands.sgemm(isa, false).is_some() {
        // Row blocks of C are independent: split them across threads.
        let rows_per_task = m.div_ceil(pool_threads * 4).max(16);
        out[..m * n]
            .par_chunks_mut(rows_per_task * n)
            .enumerate()
            .for_each(|(t, c)| {
                let rows = c.len() / n;
                let mut operands = operands;
                // SAFETY: `t · rows_per_task < m`, so the offset stays inside `a`.
                operands.a = unsafe { operands.a.add(t * rows_per_task * a_rs as usize) };
                // SAFETY: as for the whole product; this C block holds rows×n values.
                unsafe {
                    block(
                        isa,
                        c.as_mut_ptr(),
                        operands,
                        (rows, k, n),
                        0..n,
                        accumulate,
                        Run::Here,
                    )
                };
            });
        return;
    }
    let run = if parallel {
        Run::Pool(pool_threads)
    } else {
        Run::Here
    };
    // SAFETY: the asserts above guarantee every index the strides reach lies inside its slice
    // (a: max offset (m-1)·k + (k-1) or (k-1)·m + (m-1) < m·k; likewise b and out), and `out`
    // is a unique borrow, so it aliases neither `a` nor `b`.
    unsafe {
        block(
            isa,
            out.as_mut_ptr(),
            operands,
            (m, k, n),
            0..n,
            accumulate,
            run,
        )
    };
}

/// Below this many multiply-adds a product too small for the pool stays on one thread rather
/// than being split with the helper thread of [`super::pair`].
const PAIR_MIN_MACS: usize = 1 << 15;

/// Fewest columns of `out` worth giving each of the two threads.
const PAIR_MIN_COLUMNS: usize = 32;

/// The operands of a product as stored: base pointers and (row, column) strides.
#[derive(Clone, Copy)]
struct Operands {
    a: *const f32,
    a_strides: (isize, isize),
    b: *const f32,
    b_strides: (isize, isize),
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    b_transposed: bool,
}

// SAFETY: read-only pointers into slices the caller of `matmul_on` borrows for the whole product.
unsafe impl Send for Operands {}
unsafe impl Sync for Operands {}

impl Operands {
    /// The hand-written kernel for these operands, where there is one. On AVX2 + FMA the `gemm`
    /// crate's packed kernels are level with or faster than the unpacked 6×16 kernel on whole
    /// products of the dense layers (MLP steps, interleaved runs), so there `sgemm` takes only
    /// the halves of a `split` product: the crate is slower, and erratic, on half the columns
    /// of a row-major matrix.
    #[cfg(target_arch = "x86_64")]
    fn sgemm(&self, isa: Isa, split: bool) -> Option<Simd> {
        isa.simd()
            .filter(|s| (*s == Simd::Avx512 || split) && !self.b_transposed)
    }

    /// Whether a product of these operands may be split by columns: only where its halves run
    /// on the hand-written kernel.
    fn splits(&self, isa: Isa) -> bool {
        #[cfg(target_arch = "x86_64")]
        return self.sgemm(isa, true).is_some();
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = isa;
            false
        }
    }
}

/// Where [`block`] runs.
#[derive(Clone, Copy)]
enum Run {
    /// On this thread: a whole product, or a block of rows of one.
    Here,
    /// On this many threads of the pool, which the `gemm` crate splits it across.
    Pool(usize),
    /// On this thread or the helper: one half of a product split by columns.
    Half,
}

/// `out[.., columns] (+)= op(a) · op(b)[.., columns]` for the `m` rows of `out` (row stride
/// `n`) starting at `c`, where `run` says.
///
/// # Safety
/// The CPU has `isa`; `a` holds `m × k` values and `b` `k × n` as their strides say, `c` holds
/// `m × n`, and nothing else reads or writes `out[.., columns]` meanwhile.
unsafe fn block(
    isa: Isa,
    c: *mut f32,
    operands: Operands,
    (m, k, n): (usize, usize, usize),
    columns: std::ops::Range<usize>,
    accumulate: bool,
    run: Run,
) {
    let Operands {
        a,
        a_strides: (a_rs, a_cs),
        b,
        b_strides: (b_rs, b_cs),
        ..
    } = operands;
    let (c, width) = (c.add(columns.start), columns.len());
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = operands.sgemm(isa, matches!(run, Run::Half)) {
        let sa = super::sgemm::Strided {
            rs: a_rs as usize,
            cs: a_cs as usize,
        };
        let b = b.add(columns.start);
        super::sgemm::sgemm(simd, (m, k, width), a, sa, b, n, c, n, accumulate);
        return;
    }
    let _ = isa;
    let parallelism = match run {
        Run::Pool(threads) => Parallelism::Rayon(threads),
        Run::Here | Run::Half => Parallelism::None,
    };
    let b = b.offset(columns.start as isize * b_cs);
    gemm::gemm(
        m,
        width,
        k,
        c,
        1,
        n as isize,
        accumulate,
        a,
        a_cs,
        a_rs,
        b,
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
        for &(m, k, n) in shapes
            .iter()
            .chain(&[(15, 7, 48), (100, 129, 64), (9, 25, 144), (130, 784, 256)])
            // Split in column halves with the helper thread (a ragged second half).
            .chain(&[(1, 784, 256), (2, 300, 77)])
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
