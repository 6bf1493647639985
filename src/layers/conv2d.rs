//! 2-D convolution with "same" padding.
//!
//! # Shapes
//! x: (N, H, W, C_in), weight: (K, K, C_in, C_out) as Keras stores it, bias: (C_out),
//! y: (N, ceil(H/s), ceil(W/s), C_out). Weight Glorot-uniform with fans K·K·C_in and K·K·C_out.
//!
//! Two ways to compute it, chosen at build time:
//! - implicit GEMM (stride 1, C_out a multiple of 16, AVX-512): each image is zero-padded once
//!   and the matrix kernel reads it through offset tables; backward reuses the padded input for
//!   the weight gradient and convolves the padded output gradient with the flipped kernel;
//! - im2col + GEMM otherwise: the batch is cut into slices of a few images, each unfolded into a
//!   column matrix (kept for backward) and multiplied.
//!
//! Either way threads take slices of the batch, and each slice adds its own weight-gradient part.
//! Implicit backward cuts the batch into one slice per thread, so only that many parts are summed.

use super::dense::{add_bias_rows, sum_rows_into};
use super::{BackwardArgs, ForwardArgs, Init, Layer, ParamKind, ParamSpec, Shape};
use crate::kernels::{col2im, im2col, matmul, transpose, ConvGeometry, Transpose};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use crate::kernels::ImplicitConv;

/// Stand-in where the implicit kernels do not exist: never built.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Debug)]
struct ImplicitConv;
#[cfg(not(target_arch = "x86_64"))]
impl ImplicitConv {
    fn new(_: &ConvGeometry, _: usize) -> Option<Self> {
        None
    }
    fn padded_len(&self) -> usize {
        unreachable!()
    }
    fn padded_dy_len(&self) -> usize {
        unreachable!()
    }
    fn has_input_grad(&self) -> bool {
        unreachable!()
    }
    fn pad_input(&self, _: &[f32], _: &mut [f32]) {
        unreachable!()
    }
    fn forward(&self, _: &[f32], _: &[f32], _: &mut [f32]) {
        unreachable!()
    }
    fn weight_grad(&self, _: &[f32], _: &[f32], _: &mut [f32]) {
        unreachable!()
    }
    fn flip_weight(&self, _: &[f32], _: &mut [f32]) {
        unreachable!()
    }
    fn input_grad(&self, _: &[f32], _: &mut [f32], _: &[f32], _: &mut [f32]) {
        unreachable!()
    }
}

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
}

/// Target size of one slice's column buffer, in floats (about 1 MiB, half of a Zen 4 core's L2).
const SLICE_COL_FLOATS: usize = 1 << 18;

impl Conv2dConfig {
    /// The layer.
    pub fn init(&self) -> Conv2d {
        assert!(
            self.filters > 0 && self.kernel > 0 && self.stride > 0,
            "conv sizes must be positive: {self:?}"
        );
        let g = ConvGeometry::same(
            self.input.h,
            self.input.w,
            self.input.c,
            self.kernel,
            self.stride,
        );
        let implicit = ImplicitConv::new(&g, self.filters);
        let slice = (SLICE_COL_FLOATS / (g.out_h * g.out_w * g.patch_len())).clamp(1, 8);
        Conv2d {
            config: *self,
            geometry: g,
            implicit,
            slice,
            col: Vec::new(),
            padded: Vec::new(),
            dy_scratch: Vec::new(),
            dweight_parts: Vec::new(),
            weight_t: vec![0.0; g.patch_len() * self.filters],
            relu: false,
        }
    }
}

/// Conv2D layer.
#[derive(Debug, Clone)]
pub struct Conv2d {
    config: Conv2dConfig,
    geometry: ConvGeometry,
    /// The implicit-GEMM plan, where it applies.
    implicit: Option<ImplicitConv>,
    /// Images per slice of the im2col path.
    slice: usize,
    /// im2col path: the unfolded input of the last forward pass, (N·out_h·out_w, K·K·C_in),
    /// reused as dcol in backward. Implicit path: dcol scratch when C_in is not a multiple of 16.
    col: Vec<f32>,
    /// Implicit path: padded input images of the last forward pass.
    padded: Vec<f32>,
    /// Implicit path: one padded output-gradient image per slice.
    dy_scratch: Vec<f32>,
    /// One weight-and-bias gradient per slice (laid out as the parameters), summed at the end of
    /// backward.
    dweight_parts: Vec<f32>,
    /// `Wᵀ` (C_out, K·K·C_in) for dcol = dy · Wᵀ, or the flipped kernel (K·K·C_out, C_in) for the
    /// implicit input gradient; refreshed in backward.
    weight_t: Vec<f32>,
    /// Applies the following ReLU itself.
    relu: bool,
}

impl Conv2d {
    /// Its configuration.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }

    /// Whether it runs as implicit GEMM.
    pub fn is_implicit(&self) -> bool {
        self.implicit.is_some()
    }

    fn sizes(&self) -> (usize, usize, usize, usize) {
        let g = &self.geometry;
        (
            g.h * g.w * g.c,
            g.out_h * g.out_w,
            g.patch_len(),
            self.config.filters,
        )
    }

    /// Images per slice of a backward pass over `n` images.
    fn backward_slice(&self, n: usize) -> usize {
        match self.implicit {
            Some(_) => n.div_ceil(rayon::current_num_threads()).max(1),
            None => self.slice,
        }
    }

    /// Input gradient of one slice through dcol = dy · Wᵀ and col2im (`weight_t` holds Wᵀ).
    fn input_grad_by_columns(
        g: &ConvGeometry,
        weight_t: &[f32],
        dy: &[f32],
        dcol: &mut [f32],
        dx: &mut [f32],
    ) {
        let (rows, patch) = (g.out_h * g.out_w, g.patch_len());
        let (filters, m) = (weight_t.len() / patch, dy.len() / (weight_t.len() / patch));
        matmul(
            dcol,
            dy,
            weight_t,
            (m, filters, patch),
            Transpose::None,
            false,
            false,
        );
        dx.fill(0.0);
        col2im(dcol, dx, m / rows, g);
    }
}

/// Starts one slice's gradient part (`weights` values, then the bias): the weight gradient
/// zeroed, the bias gradient the slice's sum of `dy` rows. Returns the weight gradient.
fn start_part<'a>(part: &'a mut [f32], dy: &[f32], weights: usize) -> &'a mut [f32] {
    let (dw, db) = part.split_at_mut(weights);
    dw.fill(0.0);
    db.fill(0.0);
    sum_rows_into(db, dy);
    dw
}

impl Layer for Conv2d {
    fn type_name(&self) -> &'static str {
        "Conv2D"
    }
    fn token(&self) -> Option<String> {
        let Conv2dConfig {
            filters,
            kernel,
            stride,
            ..
        } = self.config;
        Some(match stride {
            1 => format!("{filters}C{kernel}"),
            s => format!("{filters}C{kernel}s{s}"),
        })
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
        let (_, rows, patch, filters) = self.sizes();
        let slices = capacity.div_ceil(self.backward_slice(capacity));
        match &self.implicit {
            Some(plan) => {
                self.padded.resize(capacity * plan.padded_len(), 0.0);
                if plan.has_input_grad() {
                    self.dy_scratch.resize(slices * plan.padded_dy_len(), 0.0);
                } else {
                    self.col.resize(capacity * rows * patch, 0.0);
                }
            }
            None => self.col.resize(capacity * rows * patch, 0.0),
        }
        self.dweight_parts
            .resize(slices * (patch + 1) * filters, 0.0);
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let (in_len, rows, patch, filters) = self.sizes();
        let (weight, bias) = a.weights.split_at(patch * filters);
        let (g, s, relu) = (&self.geometry, self.slice, self.relu);
        let y = &mut a.y[..a.n * rows * filters];
        let x = &a.x[..a.n * in_len];
        match &self.implicit {
            Some(plan) => {
                let plen = plan.padded_len();
                y.par_chunks_mut(rows * filters)
                    .zip(self.padded[..a.n * plen].par_chunks_mut(plen))
                    .zip(x.par_chunks(in_len))
                    .for_each(|((y, padded), x)| {
                        plan.pad_input(x, padded);
                        plan.forward(padded, weight, y);
                        add_bias_rows(y, bias, relu);
                    });
            }
            None => {
                y.par_chunks_mut(s * rows * filters)
                    .zip(self.col.par_chunks_mut(s * rows * patch))
                    .zip(x.par_chunks(s * in_len))
                    .for_each(|((y, col), x)| {
                        let images = x.len() / in_len;
                        im2col(x, col, images, g);
                        let dims = (images * rows, patch, filters);
                        matmul(y, col, weight, dims, Transpose::None, false, false);
                        add_bias_rows(y, bias, relu);
                    });
            }
        }
    }
    fn fuse_relu(&mut self) -> bool {
        self.relu = true;
        true
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let (in_len, rows, patch, filters) = self.sizes();
        let (g, s) = (&self.geometry, self.backward_slice(a.n));
        let dy = &a.dy[..a.n * rows * filters];
        let slices = a.n.div_ceil(s);
        let part_len = (patch + 1) * filters;
        // More slices than reserved only if the thread count grew since `reserve`.
        if self.dweight_parts.len() < slices * part_len {
            self.dweight_parts.resize(slices * part_len, 0.0);
        }
        if let Some(plan) = self.implicit.as_ref().filter(|p| p.has_input_grad()) {
            if self.dy_scratch.len() < slices * plan.padded_dy_len() {
                self.dy_scratch.resize(slices * plan.padded_dy_len(), 0.0);
            }
        }
        let want_dx = a.dx.is_some();
        let mut dx_slices: Vec<Option<&mut [f32]>> = match a.dx {
            Some(dx) => dx[..a.n * in_len]
                .chunks_mut(s * in_len)
                .map(Some)
                .collect(),
            None => (0..slices).map(|_| None).collect(),
        };
        if want_dx {
            // The input gradient multiplies by Wᵀ, or convolves with the flipped kernel.
            let weight = &a.weights[..patch * filters];
            match &self.implicit {
                Some(plan) if plan.has_input_grad() => plan.flip_weight(weight, &mut self.weight_t),
                _ => transpose(weight, &mut self.weight_t, patch, filters),
            }
        }
        let parts = self.dweight_parts[..slices * part_len].par_chunks_mut(part_len);
        let dy_slices = dy.par_chunks(s * rows * filters);
        match &self.implicit {
            Some(plan) if plan.has_input_grad() => {
                let (plen, slen) = (plan.padded_len(), plan.padded_dy_len());
                let flipped = &self.weight_t;
                parts
                    .zip(dy_slices)
                    .zip(self.padded.par_chunks(s * plen))
                    .zip(self.dy_scratch.par_chunks_mut(slen))
                    .zip(dx_slices.par_iter_mut())
                    .for_each(|((((part, dy), inputs), scratch), dx)| {
                        let dw = start_part(part, dy, patch * filters);
                        for (i, dy) in dy.chunks(rows * filters).enumerate() {
                            plan.weight_grad(&inputs[i * plen..], dy, dw);
                            if let Some(dx) = dx.as_deref_mut() {
                                plan.input_grad(
                                    dy,
                                    scratch,
                                    flipped,
                                    &mut dx[i * in_len..(i + 1) * in_len],
                                );
                            }
                        }
                    });
            }
            Some(plan) => {
                let plen = plan.padded_len();
                let weight_t = &self.weight_t;
                parts
                    .zip(dy_slices)
                    .zip(self.padded.par_chunks(s * plen))
                    .zip(self.col.par_chunks_mut(s * rows * patch))
                    .zip(dx_slices.par_iter_mut())
                    .for_each(|((((part, dy), inputs), dcol), dx)| {
                        let dw = start_part(part, dy, patch * filters);
                        for (i, dy) in dy.chunks(rows * filters).enumerate() {
                            plan.weight_grad(&inputs[i * plen..], dy, dw);
                        }
                        if let Some(dx) = dx {
                            Self::input_grad_by_columns(g, weight_t, dy, dcol, dx);
                        }
                    });
            }
            None => {
                let weight_t = &self.weight_t;
                parts
                    .zip(dy_slices)
                    .zip(self.col.par_chunks_mut(s * rows * patch))
                    .zip(dx_slices.par_iter_mut())
                    .for_each(|(((part, dy), col), dx)| {
                        let dw = start_part(part, dy, patch * filters);
                        let m = dy.len() / filters;
                        // dW (patch, filters) = colᵀ · dy
                        matmul(dw, col, dy, (patch, m, filters), Transpose::A, false, false);
                        if let Some(dx) = dx {
                            // The columns are no longer needed: reuse them for dcol.
                            Self::input_grad_by_columns(g, weight_t, dy, col, dx);
                        }
                    });
            }
        }
        for part in self.dweight_parts[..slices * part_len].chunks_exact(part_len) {
            for (d, p) in a.dweights.iter_mut().zip(part) {
                *d += p;
            }
        }
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
        }
        .init();
        let mut weights = vec![1.0; 9];
        weights.push(0.5); // bias
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let y = forward(&mut conv, &x, 1, &weights, &mut [], Mode::Train);
        // Corner: 1+2+4+5; centre: 45; all plus the bias.
        assert_eq!(y[0], 12.5);
        assert_eq!(y[4], 45.5);
        assert_eq!(y[8], 5.0 + 6.0 + 8.0 + 9.0 + 0.5);
    }

    #[test]
    fn sixteen_filters_at_stride_one_run_implicit_where_avx512_exists() {
        let conv = Conv2dConfig {
            input: Shape::new(28, 28, 16),
            filters: 32,
            kernel: 3,
            stride: 1,
        }
        .init();
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            conv.is_implicit(),
            std::env::var_os("MNISTLAB_NO_AVX512").is_none() && is_x86_feature_detected!("avx512f")
        );
        assert_eq!(conv.output_shape(), Shape::new(28, 28, 32));
    }

    #[test]
    fn stride_two_halves_the_output() {
        let conv = Conv2dConfig {
            input: Shape::new(28, 28, 16),
            filters: 8,
            kernel: 3,
            stride: 2,
        }
        .init();
        assert_eq!(conv.output_shape(), Shape::new(14, 14, 8));
        assert_eq!(conv.token().unwrap(), "8C3s2");
        assert!(!conv.is_implicit());
    }
}
