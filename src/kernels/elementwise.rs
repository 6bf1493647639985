//! Portable loops over flat slices that layers share: element-wise maps split across threads,
//! per-channel bias and bias gradients over NHWC rows, and batch norm's per-channel sums and
//! tiled passes. The compiler vectorizes them: for the CPU's widest vectors where it has
//! AVX-512 (see [`vectorized`]), else for the baseline target.

use super::cpu::{isa, Isa};
#[cfg(target_arch = "x86_64")]
use super::cpu::{with_avx2_fma, with_avx512};
use rayon::prelude::*;
use std::ops::Range;

/// Runs `f` with its loops compiled for the widest vectors [`isa`] allows (AVX-512, else AVX2 and
/// FMA), else as compiled for the baseline target (SSE2 on x86-64). The arithmetic is the same
/// lane by lane (no reassociation, no fused multiply-adds the code does not ask for), so every
/// path gives identical bits; only the width of the vectors changes, which speeds batch norm's
/// passes (`cargo bench --bench kernels`; figures in docs/speed.md).
///
/// Only code inlined into `f` is widened: `f`, and any closure it calls that is more than a
/// line or two, is marked `#[inline(always)]` (LLVM would otherwise keep a big closure, called
/// from every path, as one baseline function).
#[inline]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    vectorized_on(isa(), f)
}

/// [`vectorized`] for the instruction set `isa`, which the CPU must have.
#[inline]
fn vectorized_on<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    match isa {
        // SAFETY: the CPU has AVX-512F (`isa` comes from the detection, or a test checked it).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { with_avx512(f) },
        // SAFETY: as above, for AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { with_avx2_fma(f) },
        _ => f(),
    }
}

/// Whether `a` and `b` hold the same values bit for bit (NaNs and the sign of zero included).
/// Compared as bytes, so it runs as the C library's vectorized `memcmp`: a layer checks its whole
/// kernel this way before every pass, where a loop over one value at a time is a large part of a
/// batch-1 forward.
pub(crate) fn same_bits(a: &[f32], b: &[f32]) -> bool {
    // SAFETY: every `f32` is four initialized bytes, and `u8` needs no alignment.
    let bytes = |v: &[f32]| unsafe {
        std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v))
    };
    bytes(a) == bytes(b)
}

/// Elements per task when an elementwise loop is split across threads: big enough that
/// scheduling costs nothing, small enough to give both cores work on a 128-image batch.
pub(crate) const PAR_CHUNK: usize = 1 << 14;

/// `out[i] = f(a[i], b[i])` over the first `len` elements, split across the rayon pool.
pub(crate) fn par_zip_map(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32 + Sync,
) {
    out.par_chunks_mut(PAR_CHUNK)
        .zip(a.par_chunks(PAR_CHUNK).zip(b.par_chunks(PAR_CHUNK)))
        .for_each(|(o, (a, b))| {
            vectorized(
                #[inline(always)]
                || {
                    for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                        *o = f(a, b);
                    }
                },
            )
        });
}

/// Adds `bias` to every row of `y` (rows of `bias.len()` values), then clamps at zero if `relu`.
pub(crate) fn add_bias_rows(y: &mut [f32], bias: &[f32], relu: bool) {
    vectorized(
        #[inline(always)]
        || {
            for row in y.chunks_exact_mut(bias.len()) {
                if relu {
                    row.iter_mut()
                        .zip(bias)
                        .for_each(|(v, b)| *v = (*v + b).max(0.0));
                } else {
                    row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                }
            }
        },
    )
}

/// `dbias += Σ_rows dy` for rows of `dbias.len()` values.
pub(crate) fn sum_rows_into(dbias: &mut [f32], dy: &[f32]) {
    vectorized(
        #[inline(always)]
        || {
            for row in dy.chunks_exact(dbias.len()) {
                for (d, g) in dbias.iter_mut().zip(row) {
                    *d += g;
                }
            }
        },
    )
}

/// Values per tile: whole rows of `c` channels, at least [`TILE_MIN`] values. Per-channel vectors
/// are repeated to a tile, so the element-wise loops run over long stretches (and vectorize)
/// however few channels there are.
const TILE_MIN: usize = 256;

pub(crate) fn tile_len(c: usize) -> usize {
    c * TILE_MIN.div_ceil(c)
}

/// `v` (one value per channel) repeated to `tile` values.
pub(crate) fn tiled(v: &[f32], tile: usize) -> Vec<f32> {
    v.iter().cycle().take(tile).copied().collect()
}

/// Two per-channel sums over `len` values of `c` channels, split across threads: each task adds
/// its values (`f` gets the task's value range, a whole number of tiles, and two `tile`-long
/// `f32` accumulators) and folds its accumulators per channel in `f64`; the tasks' sums are then
/// added in task order (bit-reproducible runs). Returns the `2·c` sums.
pub(crate) fn channel_sums(
    len: usize,
    c: usize,
    f: impl Fn(Range<usize>, &mut [f32], &mut [f32]) + Sync,
) -> Vec<f64> {
    let tile = tile_len(c);
    let per_task = (PAR_CHUNK / tile).max(1) * tile;
    (0..len.div_ceil(per_task))
        .into_par_iter()
        .map(|t| {
            let mut acc = vec![0.0f32; 2 * tile];
            let (first, second) = acc.split_at_mut(tile);
            vectorized(
                #[inline(always)]
                || f(t * per_task..((t + 1) * per_task).min(len), first, second),
            );
            // A tile is whole rows of c channels: lane j holds channel j mod c. (Folded here,
            // in parallel: the serial fold below then adds only 2·c values per task.)
            let mut sums = vec![0.0f64; 2 * c];
            for (half, lanes) in sums.chunks_exact_mut(c).zip(acc.chunks_exact(tile)) {
                for row in lanes.chunks_exact(c) {
                    half.iter_mut()
                        .zip(row)
                        .for_each(|(s, &v)| *s += f64::from(v));
                }
            }
            sums
        })
        .collect::<Vec<_>>()
        .into_iter()
        // Added in task order, so the result does not depend on which thread ran what.
        .fold(vec![0.0; 2 * c], |mut total, part| {
            total.iter_mut().zip(&part).for_each(|(t, p)| *t += p);
            total
        })
}

/// Runs `f(out, a, b)` over matching tiles of the three slices, split across threads.
pub(crate) fn par_tiles(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    tile: usize,
    f: impl Fn(&mut [f32], &[f32], &[f32]) + Sync,
) {
    let per_task = (PAR_CHUNK / tile).max(1) * tile;
    out.par_chunks_mut(per_task)
        .zip(a.par_chunks(per_task).zip(b.par_chunks(per_task)))
        .for_each(|(out, (a, b))| {
            vectorized(
                #[inline(always)]
                || {
                    for ((out, a), b) in
                        out.chunks_mut(tile).zip(a.chunks(tile)).zip(b.chunks(tile))
                    {
                        f(out, a, b);
                    }
                },
            )
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bits_tells_apart_what_equality_would_not() {
        let values = [1.5, -0.0, f32::NAN, 3.0];
        assert!(same_bits(&values, &values.clone()));
        // -0.0 == 0.0 and NaN != NaN for `==`; bit for bit it is the other way round.
        assert!(!same_bits(&values, &[1.5, 0.0, f32::NAN, 3.0]));
        assert!(!same_bits(&values, &values[..3]));
        assert!(!same_bits(&values, &[1.5, -0.0, f32::NAN, 3.0000002]));
        assert!(same_bits(&[], &[]));
    }

    /// The claim [`vectorized`] rests on: the loops compiled for AVX-512 and for AVX2 + FMA give
    /// the baseline build's bits (here Adam's update and batch norm's gated sums, on values of
    /// every size).
    #[test]
    fn vector_loops_give_the_portable_bits() {
        // `#[inline(always)]`, here and on the closures below, so that the loops are compiled
        // into each instruction set's function: a plain closure called from every path is kept
        // as one baseline function, and the paths would all run the same code.
        #[inline(always)]
        fn run(values: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>, [Vec<f32>; 2]) {
            let (mut w, mut m, mut v) = (values.to_vec(), vec![0.1f32; 4099], vec![0.2f32; 4099]);
            let mut sums = [vec![0.0f32; 256], vec![0.0f32; 256]];
            for _ in 0..3 {
                for (((w, &g), m), v) in w.iter_mut().zip(values).zip(&mut m).zip(&mut v) {
                    *m += (g - *m) * (1.0 - 0.9);
                    *v += (g * g - *v) * (1.0 - 0.999);
                    *w -= 1e-3 * *m / (v.sqrt() + 1e-7);
                }
                for tile in w.chunks(256) {
                    let [sum, sq] = &mut sums;
                    for (((s, q), &x), &g) in sum.iter_mut().zip(sq.iter_mut()).zip(tile).zip(&m) {
                        let g = if x * 0.5 + 0.1 > 0.0 { g } else { 0.0 };
                        *s += g;
                        *q += g * (x - 0.3) * 1.7;
                    }
                }
            }
            (w, m, v, sums)
        }
        let values: Vec<f32> = (0..4099).map(|i| (i as f32 * 0.731).sin() * 3.0).collect();
        let portable = vectorized_on(Isa::Portable, || run(&values));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for isa in crate::kernels::cpu::each_simd("element-wise loops") {
            let wide = vectorized_on(
                isa.into(),
                #[inline(always)]
                || run(&values),
            );
            assert_eq!(bits(&portable.0), bits(&wide.0), "{isa:?}: Adam's weights");
            assert_eq!(
                bits(&portable.1),
                bits(&wide.1),
                "{isa:?}: Adam's first moments"
            );
            assert_eq!(
                bits(&portable.2),
                bits(&wide.2),
                "{isa:?}: Adam's second moments"
            );
            assert_eq!(
                bits(&portable.3[0]),
                bits(&wide.3[0]),
                "{isa:?}: gated sums"
            );
            assert_eq!(
                bits(&portable.3[1]),
                bits(&wide.3[1]),
                "{isa:?}: gated products"
            );
        }
    }

    /// Per-channel sums over many tasks (tiles of 258 values for 3 channels, of 256 for 16)
    /// match a plain f64 sum per channel.
    #[test]
    fn channel_sums_add_each_channel_over_every_task() {
        for c in [3, 16] {
            let len = c * (3 * PAR_CHUNK / c + 5);
            let values: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let sums = channel_sums(len, c, |range, first, second| {
                for tile in values[range].chunks(first.len()) {
                    for ((a, b), &v) in first.iter_mut().zip(second.iter_mut()).zip(tile) {
                        *a += v;
                        *b += v * v;
                    }
                }
            });
            for ch in 0..c {
                let column = values.iter().skip(ch).step_by(c).map(|&v| f64::from(v));
                let (sum, sq): (f64, f64) = column.fold((0.0, 0.0), |(s, q), v| (s + v, q + v * v));
                assert!(
                    (sums[ch] - sum).abs() < 1e-3,
                    "c {c} channel {ch}: {} vs {sum}",
                    sums[ch]
                );
                assert!(
                    (sums[c + ch] - sq).abs() < 1e-3,
                    "c {c} channel {ch} squares"
                );
            }
        }
    }
}
