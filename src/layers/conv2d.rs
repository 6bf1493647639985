//! 2-D convolution with "same" or "valid" padding (Keras' two).
//!
//! # Shapes
//! x: (N, H, W, C_in), weight: (K, K, C_in, C_out) as Keras stores it, bias: (C_out),
//! y: (N, ceil(H/s), ceil(W/s), C_out) ("same") or (N, (H−K)/s + 1, (W−K)/s + 1, C_out) ("valid"). Weight Glorot-uniform with fans K·K·C_in and K·K·C_out.
//!
//! The convolution itself is a [`ConvAlgorithm`] from `kernels` (Winograd, implicit GEMM or
//! im2col), chosen once when the layer is built. The layer cuts the batch into the algorithm's
//! slices across threads, adds the bias (and a fused ReLU), and sums the slices' gradient parts.

use super::{
    BackwardArgs, ChannelAffine, ConvSpec, FoldsAffine, ForwardArgs, FusesRelu, Init, Layer,
    LayerError, LayerKind, LayerSpec, ParamKind, ParamSpec, Shape,
};
use crate::kernels::{
    conv_algorithm, same_bits, sum_rows_into, ConvAlgorithm, ConvGeometry, OutputBias, Padding,
};
use rayon::prelude::*;

/// Builds a [`Conv2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Input height, width, channels.
    pub input: Shape,
    /// Output channels (filters).
    pub filters: usize,
    /// Kernel size (square).
    pub kernel: usize,
    /// Stride (both directions).
    pub stride: usize,
    /// Border handling.
    pub padding: Padding,
}

impl Conv2dConfig {
    /// Its sizes, or `None` when a "valid" kernel is larger than the input.
    pub fn geometry(&self) -> Option<ConvGeometry> {
        let Shape { h, w, c } = self.input;
        ConvGeometry::new((h, w, c), self.kernel, self.stride, self.padding)
    }

    /// The layer, or why these sizes make none.
    pub fn init(&self) -> Result<Conv2d, LayerError> {
        for (size, what) in [
            (self.filters, "filter count"),
            (self.kernel, "kernel size"),
            (self.stride, "stride"),
        ] {
            if size == 0 {
                return Err(LayerError::Zero(what));
            }
        }
        let Shape { h, w, .. } = self.input;
        let kernel = self.kernel;
        let g = self
            .geometry()
            .ok_or(LayerError::ConvWindow { kernel, h, w })?;
        Ok(Conv2d {
            config: *self,
            geometry: g,
            algorithm: conv_algorithm(&g, self.filters),
            saved: Vec::new(),
            scratch: Vec::new(),
            grad_parts: Vec::new(),
            folded: Vec::new(),
            prepared_from: Vec::new(),
            relu: false,
        })
    }
}

/// Conv2D layer.
#[derive(Debug)]
pub struct Conv2d {
    config: Conv2dConfig,
    geometry: ConvGeometry,
    algorithm: Box<dyn ConvAlgorithm>,
    /// What the forward pass keeps for backward, per image (the algorithm's padded input or
    /// columns).
    saved: Vec<f32>,
    /// The algorithm's working space, per slice.
    scratch: Vec<f32>,
    /// Per slice: its weight-gradient part (laid out as the algorithm says), then its bias
    /// gradient; summed at the end of backward.
    grad_parts: Vec<f32>,
    /// Kernel and bias with the batch norm after the layer folded in, for evaluation.
    folded: Vec<f32>,
    /// What the algorithm's kernel was last prepared from: the kernel, or for a folded one the
    /// kernel and bias followed by the batch norm's scale and shift. Evaluation with unchanged
    /// weights (a server predicting one image at a time) skips folding and preparing it again,
    /// which at batch 1 can cost as much as the convolution itself.
    prepared_from: Vec<f32>,
    /// Applies the following ReLU itself.
    relu: bool,
}

impl FusesRelu for Conv2d {
    fn fuse_relu(&mut self) {
        self.relu = true;
    }
    fn masks_fused_relu_grad(&self) -> bool {
        false
    }
}

impl FoldsAffine for Conv2d {
    fn forward_folded(&mut self, a: ForwardArgs<'_>, affine: &ChannelAffine, relu: bool) {
        let sources = [a.weights, &affine.scale, &affine.shift];
        if !self.prepared_from_matches(&sources) {
            affine.fold_into(a.weights, &mut self.folded);
            self.algorithm
                .prepare_forward(&self.folded[..self.weight_len()]);
            self.remember_prepared_from(&sources);
        }
        let folded = std::mem::take(&mut self.folded);
        self.convolve(a.x, a.y, a.n, &folded, relu);
        self.folded = folded;
    }
}

impl Conv2d {
    /// The name of the algorithm that computes it here.
    pub fn algorithm(&self) -> &'static str {
        self.algorithm.name()
    }

    /// Floats of one input image and of one output image.
    fn image_lens(&self) -> (usize, usize) {
        let g = &self.geometry;
        (g.h * g.w * g.c, g.out_h * g.out_w * self.config.filters)
    }

    /// Floats of one slice's gradient part: the weight part, then the bias.
    fn part_len(&self) -> usize {
        self.algorithm.weight_grad_len() + self.config.filters
    }

    /// Cuts a batch of `n` into slices: returns images per slice and the lengths of one slice's
    /// saved values and scratch (each at least 1, so that chunking gives one chunk per slice),
    /// after growing the per-slice buffers: more slices than reserved when the thread count
    /// grew since `reserve`, or a smaller batch cuts into more, thinner slices.
    fn slices(&mut self, n: usize) -> (usize, usize, usize) {
        let per_slice = self.algorithm.images_per_slice(n);
        let slices = n.div_ceil(per_slice);
        let saved = (per_slice * self.algorithm.saved_len()).max(1);
        let scratch = self.algorithm.scratch_len(per_slice).max(1);
        let parts = slices * self.part_len();
        for (buffer, len) in [
            (&mut self.grad_parts, parts),
            (&mut self.scratch, slices * scratch),
            (&mut self.saved, slices * saved),
        ] {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
        }
        (per_slice, saved, scratch)
    }
}

impl Layer for Conv2d {
    fn kind(&self) -> LayerKind {
        LayerKind::Conv2d
    }
    fn spec(&self) -> Option<LayerSpec> {
        let Conv2dConfig {
            filters,
            kernel,
            stride,
            padding,
            ..
        } = self.config;
        Some(LayerSpec::Conv(ConvSpec {
            filters,
            kernel,
            stride,
            padding,
        }))
    }
    fn output_shape(&self) -> Shape {
        Shape::new(
            self.geometry.out_h,
            self.geometry.out_w,
            self.config.filters,
        )
    }
    fn params(&self) -> Vec<ParamSpec> {
        let Conv2dConfig {
            input,
            filters,
            kernel,
            ..
        } = self.config;
        let area = kernel * kernel;
        vec![
            ParamSpec::kernel(
                vec![kernel, kernel, input.c, filters],
                area * input.c,
                area * filters,
            ),
            ParamSpec::vector("bias", filters, ParamKind::Trainable, Init::Zeros),
        ]
    }
    fn reserve(&mut self, capacity: usize) {
        self.slices(capacity);
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let kernel = &a.weights[..self.weight_len()];
        if !self.prepared_from_matches(&[kernel]) {
            self.algorithm.prepare_forward(kernel);
            self.remember_prepared_from(&[kernel]);
        }
        self.convolve(a.x, a.y, a.n, a.weights, self.relu);
    }
    fn relu_fusion(&mut self) -> Option<&mut dyn FusesRelu> {
        Some(self)
    }
    fn affine_folding(&mut self) -> Option<&mut dyn FoldsAffine> {
        Some(self)
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let (in_len, out_len) = self.image_lens();
        let (per_slice, saved_len, scratch_len) = self.slices(a.n);
        let (slices, part_len) = (a.n.div_ceil(per_slice), self.part_len());
        let (weight_len, weight) = (self.weight_len(), &a.weights[..self.weight_len()]);
        let mut dx_slices: Vec<Option<&mut [f32]>> = match a.dx {
            Some(dx) => dx[..a.n * in_len]
                .chunks_mut(per_slice * in_len)
                .map(Some)
                .collect(),
            None => (0..slices).map(|_| None).collect(),
        };
        if dx_slices.iter().any(Option::is_some) {
            self.algorithm.prepare_input_grad(weight);
        }
        let algorithm = &*self.algorithm;
        let part_weights = algorithm.weight_grad_len();
        self.grad_parts[..slices * part_len]
            .par_chunks_mut(part_len)
            .zip(a.x[..a.n * in_len].par_chunks(per_slice * in_len))
            .zip(a.dy[..a.n * out_len].par_chunks(per_slice * out_len))
            .zip(self.saved.par_chunks_mut(saved_len))
            .zip(self.scratch.par_chunks_mut(scratch_len))
            .zip(dx_slices.par_iter_mut())
            .for_each(|(((((part, x), dy), saved), scratch), dx)| {
                let (weight_grad, bias_grad) = part.split_at_mut(part_weights);
                weight_grad.fill(0.0);
                bias_grad.fill(0.0);
                sum_rows_into(bias_grad, dy);
                algorithm.backward(x, saved, dy, scratch, weight_grad, dx.as_deref_mut());
            });
        // The slices' parts summed in slice order (reproducible whatever thread ran what).
        let (total, rest) = self.grad_parts[..slices * part_len].split_at_mut(part_len);
        for part in rest.chunks_exact(part_len) {
            total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
        }
        let (weight_part, bias_part) = total.split_at(part_weights);
        let (dweight, dbias) = a.dweights.split_at_mut(weight_len);
        algorithm.finish_weight_grad(weight_part, dweight);
        dbias.iter_mut().zip(bias_part).for_each(|(d, p)| *d += p);
    }
}

impl Conv2d {
    /// Floats of the kernel (the bias follows it in the layer's weights).
    fn weight_len(&self) -> usize {
        self.geometry.patch_len() * self.config.filters
    }

    /// Whether the algorithm's kernel was last prepared from `sources`, one after another.
    fn prepared_from_matches(&self, sources: &[&[f32]]) -> bool {
        let mut rest = &self.prepared_from[..];
        for source in sources {
            match rest.split_at_checked(source.len()) {
                Some((head, tail)) if same_bits(head, source) => rest = tail,
                _ => return false,
            }
        }
        rest.is_empty()
    }

    fn remember_prepared_from(&mut self, sources: &[&[f32]]) {
        self.prepared_from.clear();
        for source in sources {
            self.prepared_from.extend_from_slice(source);
        }
    }

    /// y = conv(x, kernel) + bias, then ReLU if `relu`, for a batch of `n`; `weights` is the
    /// kernel followed by the bias, and the algorithm has been prepared with that kernel.
    fn convolve(&mut self, x: &[f32], y: &mut [f32], n: usize, weights: &[f32], relu: bool) {
        let (in_len, out_len) = self.image_lens();
        let (per_slice, saved_len, scratch_len) = self.slices(n);
        let (weight, bias) = weights.split_at(self.weight_len());
        let algorithm = &*self.algorithm;
        y[..n * out_len]
            .par_chunks_mut(per_slice * out_len)
            .zip(x[..n * in_len].par_chunks(per_slice * in_len))
            .zip(self.saved.par_chunks_mut(saved_len))
            .zip(self.scratch.par_chunks_mut(scratch_len))
            .for_each(|(((y, x), saved), scratch)| {
                algorithm.forward(x, weight, OutputBias { bias, relu }, saved, scratch, y);
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::forward;
    use crate::layers::Mode;

    #[test]
    fn box_filter_sums_the_neighbourhood() {
        let mut conv = Conv2dConfig {
            input: Shape::new(3, 3, 1),
            filters: 1,
            kernel: 3,
            stride: 1,
            padding: Padding::Same,
        }
        .init()
        .unwrap();
        let mut weights = vec![1.0; 9];
        weights.push(0.5); // bias
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let y = forward(&mut conv, &x, 1, &weights, &mut [], Mode::Train);
        // Corner: 1+2+4+5; centre: 45; all plus the bias.
        assert_eq!(y[0], 12.5);
        assert_eq!(y[4], 45.5);
        assert_eq!(y[8], 5.0 + 6.0 + 8.0 + 9.0 + 0.5);
    }

    /// A stride-1 "same" layer on `input` with an input image and weights (kernel, then bias)
    /// of varied values.
    fn same_padded_case(
        input: Shape,
        filters: usize,
        kernel: usize,
    ) -> (Conv2dConfig, Vec<f32>, Vec<f32>) {
        let config = Conv2dConfig {
            input,
            filters,
            kernel,
            stride: 1,
            padding: Padding::Same,
        };
        let x = (0..input.len())
            .map(|i| ((i * 7) % 11) as f32 - 5.0)
            .collect();
        let weights = (0..kernel * kernel * input.c * filters + filters)
            .map(|i| ((i * 5) % 13) as f32 * 0.1 - 0.6)
            .collect();
        (config, x, weights)
    }

    /// The kernel is prepared (transformed, for Winograd) once and kept while the weights stay
    /// the same; a change to any weight is seen.
    #[test]
    fn a_changed_kernel_is_prepared_again() {
        let (config, x, mut weights) = same_padded_case(Shape::new(8, 8, 4), 8, 5);
        let mut conv = config.init().unwrap();
        let first = forward(&mut conv, &x, 1, &weights, &mut [], Mode::Eval);
        assert_eq!(
            forward(&mut conv, &x, 1, &weights, &mut [], Mode::Eval),
            first
        );
        weights[17] += 1.0;
        let changed = forward(&mut conv, &x, 1, &weights, &mut [], Mode::Eval);
        let fresh = forward(
            &mut config.init().unwrap(),
            &x,
            1,
            &weights,
            &mut [],
            Mode::Eval,
        );
        assert_ne!(changed, first);
        assert_eq!(changed, fresh);
    }

    /// The folded kernel is kept while the kernel and the batch norm after it stay the same; a
    /// change to either, or a plain pass in between, is seen.
    #[test]
    fn a_changed_batch_norm_is_folded_again() {
        let (config, x, weights) = same_padded_case(Shape::new(8, 8, 16), 16, 3);
        let mut affine = ChannelAffine {
            scale: (0..16).map(|i| 0.5 + i as f32 * 0.1).collect(),
            shift: (0..16).map(|i| i as f32 * 0.01).collect(),
        };
        let folded = |conv: &mut Conv2d, affine: &ChannelAffine| {
            conv.reserve(1);
            let mut y = vec![f32::NAN; conv.output_shape().len()];
            let mut rng = crate::rng::seeded(0);
            let args = ForwardArgs {
                x: &x,
                y: &mut y,
                n: 1,
                weights: &weights,
                state: &mut [],
                mode: Mode::Eval,
                rng: &mut rng,
            };
            conv.forward_folded(args, affine, false);
            y
        };
        let mut conv = config.init().unwrap();
        let first = folded(&mut conv, &affine);
        assert_eq!(folded(&mut conv, &affine), first);
        let plain = forward(&mut conv, &x, 1, &weights, &mut [], Mode::Eval);
        assert_eq!(
            plain,
            forward(
                &mut config.init().unwrap(),
                &x,
                1,
                &weights,
                &mut [],
                Mode::Eval
            )
        );
        assert_ne!(plain, first);
        assert_eq!(folded(&mut conv, &affine), first);
        affine.shift[3] += 1.0;
        let changed = folded(&mut conv, &affine);
        assert_ne!(changed, first);
        assert_eq!(changed, folded(&mut config.init().unwrap(), &affine));
    }

    #[test]
    fn stride_two_halves_the_output() {
        let conv = Conv2dConfig {
            input: Shape::new(28, 28, 16),
            filters: 8,
            kernel: 3,
            stride: 2,
            padding: Padding::Same,
        }
        .init()
        .unwrap();
        assert_eq!(conv.output_shape(), Shape::new(14, 14, 8));
        assert_eq!(conv.spec().unwrap().to_string(), "8C3s2");
        assert_eq!(conv.algorithm(), "im2col + GEMM");
    }

    #[test]
    fn valid_padding_keeps_only_whole_windows() {
        let config = Conv2dConfig {
            input: Shape::new(7, 6, 1),
            filters: 2,
            kernel: 3,
            stride: 2,
            padding: Padding::Valid,
        };
        let mut conv = config.init().unwrap();
        assert_eq!(conv.output_shape(), Shape::new(3, 2, 2));
        assert_eq!(conv.spec().unwrap().to_string(), "2C3s2v");
        // Weights summing the window into filter 0, nothing into filter 1; bias 0.
        let mut weights: Vec<f32> = (0..9).flat_map(|_| [1.0, 0.0]).collect();
        weights.extend([0.0, 0.0]);
        let x: Vec<f32> = (0..42).map(|v| v as f32).collect();
        let y = forward(&mut conv, &x, 1, &weights, &mut [], Mode::Train);
        // Output (0, 0): rows 0–2, columns 0–2 of a 6-wide image.
        let window: f32 = [0, 1, 2, 6, 7, 8, 12, 13, 14]
            .iter()
            .map(|&v| v as f32)
            .sum();
        assert_eq!(y[0], window);
        assert_eq!(y[1], 0.0);
        assert!(Conv2dConfig {
            kernel: 8,
            ..config
        }
        .geometry()
        .is_none());
    }
}
