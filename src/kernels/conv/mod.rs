//! Convolution algorithms. Each computes a convolution (x: (n, H, W, C), weight: (K, K, C, F) as
//! Keras stores it, y: (n, out_h, out_w, F), plus the bias) over one slice of a batch, and its
//! gradients, through the [`ConvAlgorithm`] trait:
//!
//! - [`Im2colGemm`]: im2col + matrix product, every geometry, the portable algorithm;
//! - `ImplicitGemm` (AVX-512 or AVX2 + FMA): stride 1, F in sixteens; no column matrix, the
//!   input padded once and read through offset tables (the first layer, with one input channel,
//!   included);
//! - `Winograd` (AVX-512 or AVX2 + FMA): F(4×4, 5×5) for 5×5 kernels and F(4×4, 3×3) for 3×3
//!   kernels, stride 1 ("same" or "valid"), C and F in sixteens.
//!
//! [`conv_algorithm`] picks the fastest one that applies, once per layer. The layer cuts the
//! batch into slices, gives each slice its share of three buffers the algorithm sizes (what
//! forward keeps for backward, scratch, a weight-gradient part) and sums the parts. Forward adds
//! the bias (and applies a fused ReLU) to each cache-sized piece of output as soon as it is
//! written, rather than in a second pass over the slice.

mod columns;
#[cfg(target_arch = "x86_64")]
mod implicit;
#[cfg(target_arch = "x86_64")]
mod winograd;

pub use columns::Im2colGemm;
#[cfg(target_arch = "x86_64")]
pub use implicit::{ImplicitConv, ImplicitGemm};
#[cfg(target_arch = "x86_64")]
pub use winograd::{Winograd, WinogradConv};

use super::cpu::{isa, Isa};
use super::{add_bias_rows, ConvGeometry};
use std::fmt::Debug;

/// What forward applies to every output row (F values) right after computing it: `+ bias`, then
/// `max(·, 0)` where the layer took over the following ReLU.
#[derive(Clone, Copy, Debug)]
pub struct OutputBias<'a> {
    /// One value per filter.
    pub bias: &'a [f32],
    /// Clamp at zero after adding it.
    pub relu: bool,
}

impl OutputBias<'_> {
    /// Applies it to `y`, whole rows of F values.
    pub fn apply(&self, y: &mut [f32]) {
        add_bias_rows(y, self.bias, self.relu);
    }
}

/// One way to compute a convolution over a slice of images and its gradients.
///
/// Per slice, forward gets `saved` (the slice's images × [`Self::saved_len`] floats, which
/// backward gets again with the slice's input) and `scratch` ([`Self::scratch_len`] floats);
/// backward also gets a zeroed weight-gradient part of [`Self::weight_grad_len`] floats to add
/// into. The parts of all slices are summed and handed to [`Self::finish_weight_grad`] once.
pub trait ConvAlgorithm: Debug + Send + Sync {
    /// What it is called in tests and benchmarks.
    fn name(&self) -> &'static str;
    /// Images per slice when a batch of `n` is cut across threads.
    fn images_per_slice(&self, n: usize) -> usize;
    /// Floats per image that forward keeps for backward (none is fine: backward also gets the
    /// input).
    fn saved_len(&self) -> usize;
    /// Floats of the scratch of one slice of `images` images.
    fn scratch_len(&self, images: usize) -> usize;
    /// Floats of one slice's weight-gradient part.
    fn weight_grad_len(&self) -> usize;
    /// Readies what forward needs from the kernel; called before a forward pass whose kernel
    /// differs from the one it was last readied with.
    fn prepare_forward(&mut self, _weight: &[f32]) {}
    /// `y` = the convolution of the slice `x` with `weight`, with `out` applied; fills `saved`.
    fn forward(
        &self,
        x: &[f32],
        weight: &[f32],
        out: OutputBias<'_>,
        saved: &mut [f32],
        scratch: &mut [f32],
        y: &mut [f32],
    );
    /// Readies what the input gradient needs from the kernel; called before a backward pass
    /// that asks for it.
    fn prepare_input_grad(&mut self, weight: &[f32]);
    /// One slice's backward from its input `x`, what forward saved and `dy`: `weight_grad` +=
    /// its weight gradient; `dx`, when asked, = its input gradient. `saved` may be overwritten.
    fn backward(
        &self,
        x: &[f32],
        saved: &mut [f32],
        dy: &[f32],
        scratch: &mut [f32],
        weight_grad: &mut [f32],
        dx: Option<&mut [f32]>,
    );
    /// `dweight` (K, K, C, F) += the kernel gradient from the slices' summed parts.
    fn finish_weight_grad(&self, summed: &[f32], dweight: &mut [f32]) {
        for (d, p) in dweight.iter_mut().zip(summed) {
            *d += p;
        }
    }
}

/// Output pixels per image below which im2col beats implicit GEMM: implicit GEMM's weight
/// gradient is one product per image over its output pixels, too short below about 10×10; the
/// two are level on 7×7 and 8×8 outputs (`cargo bench --bench kernels`, its `conv` group).
#[cfg(target_arch = "x86_64")]
const MIN_IMPLICIT_PIXELS: usize = 100;

/// The fastest algorithm that applies to `g` with `filters` outputs on this CPU.
pub fn conv_algorithm(g: &ConvGeometry, filters: usize) -> Box<dyn ConvAlgorithm> {
    conv_algorithm_on(isa(), g, filters)
}

/// [`conv_algorithm`] among the algorithms of `isa`, which the CPU must have.
fn conv_algorithm_on(isa: Isa, g: &ConvGeometry, filters: usize) -> Box<dyn ConvAlgorithm> {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = isa.simd() {
        if let Some(winograd) = Winograd::<8, 4>::on(simd, g, filters) {
            return Box::new(winograd);
        }
        if winograd_3x3_pays(g) {
            if let Some(winograd) = Winograd::<6, 4>::on(simd, g, filters) {
                return Box::new(winograd);
            }
        }
        // Implicit GEMM's weight gradient is one product per image, over its output pixels:
        // with few of them (a small output, or a last layer that sees the whole image: rank-1
        // updates) the products are too short, and im2col's one product over a chunk of
        // images is faster.
        if g.out_h * g.out_w >= MIN_IMPLICIT_PIXELS {
            if let Some(implicit) = ImplicitGemm::on(simd, g, filters) {
                return Box::new(implicit);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    Box::new(Im2colGemm::new(g, filters))
}

/// Whether F(4×4, 3×3) beats implicit GEMM on a 3×3 layer of `g` (the BN+GAP CNN's layers in
/// `mnistlab bench`, with and without `MNISTLAB_NO_WINOGRAD`): yes where the outputs fill the 4×4 tiles exactly, or where the
/// products have 32 or more input channels, long enough to repay the partly wasted tiles; no on
/// 14×14 with 16 channels.
#[cfg(target_arch = "x86_64")]
fn winograd_3x3_pays(g: &ConvGeometry) -> bool {
    let whole_tiles = g.out_h.is_multiple_of(4) && g.out_w.is_multiple_of(4);
    whole_tiles || g.c >= 32
}

/// The flipped, transposed kernel an input gradient convolves with:
/// `flipped[(ky, kx, f)][c] = weight[(K−1−ky, K−1−kx, c)][f]`, shape (K·K·F, C).
pub fn flip_kernel(weight: &[f32], flipped: &mut [f32], (k, c, f): (usize, usize, usize)) {
    assert!(weight.len() >= k * k * c * f && flipped.len() >= k * k * c * f);
    for ky in 0..k {
        for kx in 0..k {
            let src_tap = (k - 1 - ky) * k + (k - 1 - kx);
            for fi in 0..f {
                for ci in 0..c {
                    flipped[((ky * k + kx) * f + fi) * c + ci] =
                        weight[(src_tap * c + ci) * f + fi];
                }
            }
        }
    }
}

/// Images per slice for the algorithms whose slices carry per-slice state: one slice per thread,
/// so only that many weight-gradient parts are summed.
fn one_slice_per_thread(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::{each_isa, each_simd};
    use crate::kernels::reference::{assert_close, convolution, filled};
    use crate::kernels::Padding;

    #[test]
    fn winograd_for_5x5_and_3x3_and_implicit_gemm_for_other_stride_one_layers_with_100_pixels_or_more(
    ) {
        assert_eq!(
            conv_algorithm_on(Isa::Portable, &ConvGeometry::same(28, 28, 16, 5, 1), 32).name(),
            "im2col + GEMM"
        );
        for simd in each_simd("implicit GEMM and Winograd convolution") {
            picks_on(simd.into());
        }
    }

    /// The choices of [`conv_algorithm_on`] for `isa`'s kernels.
    fn picks_on(isa: Isa) {
        let pick =
            |(h, c, k, s), f| conv_algorithm_on(isa, &ConvGeometry::same(h, h, c, k, s), f).name();
        assert_eq!(pick((14, 16, 3, 2), 16), "im2col + GEMM");
        assert_eq!(pick((14, 16, 3, 1), 8), "im2col + GEMM");
        assert_eq!(pick((28, 16, 3, 1), 32), "Winograd F(4×4, 3×3)");
        assert_eq!(pick((28, 1, 3, 1), 16), "implicit GEMM");
        assert_eq!(pick((7, 64, 3, 1), 64), "Winograd F(4×4, 3×3)");
        assert_eq!(pick((14, 32, 3, 1), 32), "Winograd F(4×4, 3×3)");
        assert_eq!(pick((14, 16, 3, 1), 32), "implicit GEMM");
        assert_eq!(pick((28, 1, 5, 1), 32), "implicit GEMM");
        assert_eq!(pick((14, 32, 5, 1), 64), "Winograd F(4×4, 5×5)");
        // "Valid" ones: the speedrun's second convolution (8×8 outputs per image) and
        // cnn-deep's 3×3 layers on whole tiles (24×24 and 8×8 outputs).
        let valid = |(h, c, k), f| {
            let g = ConvGeometry::new((h, h, c), k, 1, Padding::Valid).unwrap();
            conv_algorithm_on(isa, &g, f).name()
        };
        assert_eq!(valid((12, 16, 5), 32), "Winograd F(4×4, 5×5)");
        assert_eq!(valid((26, 32, 3), 32), "Winograd F(4×4, 3×3)");
        assert_eq!(valid((10, 64, 3), 64), "Winograd F(4×4, 3×3)");
        assert_eq!(valid((12, 32, 3), 64), "Winograd F(4×4, 3×3)");
        assert_eq!(valid((12, 16, 3), 64), "implicit GEMM");
        // A window over the whole 4×4 input: one output pixel per image.
        assert_eq!(valid((4, 64, 4), 128), "im2col + GEMM");
    }

    /// Every algorithm this CPU picks on each of its instruction sets, through the trait as the
    /// layer drives it (two slices, parts summed, a bias added), against im2col on each image.
    #[test]
    fn each_chosen_algorithm_matches_the_reference_through_the_trait() {
        for isa in each_isa("implicit GEMM and Winograd convolution") {
            chosen_algorithms_match_the_reference(isa);
        }
    }

    fn chosen_algorithms_match_the_reference(isa: Isa) {
        for (h, w, c, k, s, f, padding) in [
            (28, 28, 1, 5, 1, 32, Padding::Same),
            (14, 14, 32, 5, 1, 64, Padding::Same),
            (12, 12, 16, 3, 1, 32, Padding::Same),
            (7, 9, 3, 3, 2, 8, Padding::Same),
            (6, 5, 1, 4, 1, 16, Padding::Same),
            (12, 12, 16, 5, 1, 32, Padding::Valid),
            (10, 10, 64, 3, 1, 64, Padding::Valid),
        ] {
            let g = ConvGeometry::new((h, w, c), k, s, padding).unwrap();
            let mut alg = conv_algorithm_on(isa, &g, f);
            // The 8×8 tiles' transforms (points ±½) round more than the others: up to 1.0e-4
            // of the largest value on the 14×14 case (6×6 tiles and direct kernels: < 2e-5).
            let tolerance = match alg.name() {
                "Winograd F(4×4, 5×5)" => 2e-4,
                _ => 1e-4,
            };
            let (n, in_len, out_len) = (7, h * w * c, g.out_h * g.out_w * f);
            let (x, weight, dy) = (
                filled(n * in_len, 0.2),
                filled(g.patch_len() * f, 0.9),
                filled(n * out_len, 1.7),
            );
            let bias = filled(f, 2.3);
            let out = OutputBias {
                bias: &bias,
                relu: false,
            };
            let per = alg.images_per_slice(n).min(4);
            let mut saved = vec![f32::NAN; n * alg.saved_len()];
            let mut scratch = vec![f32::NAN; alg.scratch_len(per)];
            let mut parts = vec![0.0; 2 * alg.weight_grad_len()];
            let (mut y, mut dx) = (vec![f32::NAN; n * out_len], vec![f32::NAN; n * in_len]);
            alg.prepare_forward(&weight);
            alg.prepare_input_grad(&weight);
            for (i, part) in parts.chunks_mut(alg.weight_grad_len()).enumerate() {
                let images = i * per..(n).min((i + 1) * per);
                if images.is_empty() {
                    continue;
                }
                let saved =
                    &mut saved[images.start * alg.saved_len()..images.end * alg.saved_len()];
                let (xs, ys) = (
                    &x[images.start * in_len..images.end * in_len],
                    &mut y[images.start * out_len..images.end * out_len],
                );
                alg.forward(xs, &weight, out, saved, &mut scratch, ys);
                let dys = &dy[images.start * out_len..images.end * out_len];
                let dxs = &mut dx[images.start * in_len..images.end * in_len];
                alg.backward(xs, saved, dys, &mut scratch, part, Some(dxs));
            }
            let (first, second) = parts.split_at_mut(alg.weight_grad_len());
            first.iter_mut().zip(&*second).for_each(|(a, b)| *a += b);
            let mut dweight = vec![0.0; g.patch_len() * f];
            alg.finish_weight_grad(first, &mut dweight);
            let mut want_dweight = vec![0.0; g.patch_len() * f];
            for i in 0..n.min(2 * per) {
                let one = |v: &[f32], len: usize| v[i * len..(i + 1) * len].to_vec();
                let (mut want_y, want_dw, want_dx) =
                    convolution(&g, f, (&one(&x, in_len), &weight, &one(&dy, out_len)));
                out.apply(&mut want_y);
                let what = |part: &str| format!("{isa} {} {part} {g:?}", alg.name());
                let (ys, dxs) = (i * out_len..(i + 1) * out_len, i * in_len..(i + 1) * in_len);
                assert_close(&y[ys], &want_y, tolerance, &what("forward"));
                assert_close(&dx[dxs], &want_dx, tolerance, &what("input grad"));
                want_dweight
                    .iter_mut()
                    .zip(want_dw)
                    .for_each(|(a, b)| *a += b);
            }
            let what = format!("{isa} {} weight grad {g:?}", alg.name());
            assert_close(&dweight, &want_dweight, tolerance, &what);
        }
    }

    #[test]
    fn flip_kernel_reverses_taps_and_swaps_channels() {
        // k 2, c 1, f 2: weight[(tap, c), f]
        let weight = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let mut flipped = [0.0; 8];
        flip_kernel(&weight, &mut flipped, (2, 1, 2));
        // Tap 0 of the flipped kernel is tap 3 of the original.
        assert_eq!(flipped[..2], [7.0, 8.0]);
        assert_eq!(flipped[6..], [1.0, 2.0]);
    }
}
