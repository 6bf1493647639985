//! 2-D convolution with "same" padding.
//!
//! # Shapes
//! x: (N, H, W, C_in), weight: (K, K, C_in, C_out) as Keras stores it, bias: (C_out),
//! y: (N, ceil(H/s), ceil(W/s), C_out). Weight Glorot-uniform with fans K·K·C_in and K·K·C_out.
//!
//! Three ways to compute it, chosen at build time:
//! - Winograd F(2×2, 5×5) for 5×5 kernels on top of the implicit path's conditions (channels in
//!   sixteens too): 2.8× fewer multiplies; the weight gradient is summed per slice in the
//!   transformed domain and transformed back once;
//! - implicit GEMM (stride 1, C_out a multiple of 16, AVX-512): each image is zero-padded once
//!   and the matrix kernel reads it through offset tables; backward reuses the padded input for
//!   the weight gradient and convolves the padded output gradient with the flipped kernel;
//! - im2col + GEMM otherwise: the batch is cut into slices of a few images, each unfolded into a
//!   column matrix (kept for backward) and multiplied.
//!
//! Either way threads take slices of the batch, and each slice adds its own weight-gradient part.
//! Implicit backward cuts the batch into one slice per thread, so only that many parts are summed.

use super::dense::{add_bias_rows, sum_rows_into};
use super::{BackwardArgs, ForwardArgs, Init, Layer, LayerKind, ParamKind, ParamSpec, Shape};
use crate::kernels::{col2im, im2col, matmul, transpose, ConvGeometry, Output, Threads, Transpose};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use crate::kernels::{ImplicitConv, WinogradConv};

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

/// Stand-in where the Winograd kernels do not exist: never built.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Debug)]
struct WinogradConv;
#[cfg(not(target_arch = "x86_64"))]
impl WinogradConv {
    fn new(_: &ConvGeometry, _: usize) -> Option<Self> {
        None
    }
    fn padded_len(&self) -> usize {
        unreachable!()
    }
    fn transformed_len(&self) -> usize {
        unreachable!()
    }
    fn scratch_len(&self) -> usize {
        unreachable!()
    }
    fn pad_input(&self, _: &[f32], _: &mut [f32]) {
        unreachable!()
    }
    fn transform_weight(&self, _: &[f32], _: &mut [f32]) {
        unreachable!()
    }
    fn untransform_weight_grad(&self, _: &[f32], _: &mut [f32]) {
        unreachable!()
    }
    fn forward(&self, _: &[f32], _: &[f32], _: &mut [f32], _: &mut [f32]) {
        unreachable!()
    }
    fn weight_grad(&self, _: &[f32], _: &[f32], _: &mut [f32], _: &mut [f32]) {
        unreachable!()
    }
}

/// The Winograd plans of a 5×5 layer: its forward pass, and its input gradient (the output
/// gradient convolved with the flipped kernel, F → C channels); with the transformed kernels.
#[derive(Clone, Debug)]
struct Winograd {
    forward: WinogradConv,
    input_grad: WinogradConv,
    /// The transformed kernel, refreshed in every forward pass.
    u: Vec<f32>,
    /// The transformed flipped kernel, refreshed in backward.
    u_flipped: Vec<f32>,
}

impl Winograd {
    fn new(g: &ConvGeometry, filters: usize) -> Option<Self> {
        let forward = WinogradConv::new(g, filters)?;
        let input_grad = WinogradConv::new(&ConvGeometry::same(g.h, g.w, filters, g.k, 1), g.c)?;
        Some(Winograd {
            u: vec![0.0; forward.transformed_len()],
            u_flipped: vec![0.0; input_grad.transformed_len()],
            forward,
            input_grad,
        })
    }

    /// Floats of one slice's scratch, forward and backward: a padded output-gradient image,
    /// then the transforms' scratch.
    fn slice_scratch_len(&self) -> usize {
        self.input_grad.padded_len()
            + self
                .forward
                .scratch_len()
                .max(self.input_grad.scratch_len())
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
        // Winograd also needs the implicit plan's flipped kernel.
        let winograd = implicit
            .as_ref()
            .and_then(|_| Winograd::new(&g, self.filters));
        let slice = (SLICE_COL_FLOATS / (g.out_h * g.out_w * g.patch_len())).clamp(1, 8);
        Conv2d {
            config: *self,
            geometry: g,
            implicit,
            winograd,
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
    /// The Winograd plans, where they apply (they take precedence).
    winograd: Option<Winograd>,
    /// Images per slice of the im2col path.
    slice: usize,
    /// im2col path: the unfolded input of the last forward pass, (N·out_h·out_w, K·K·C_in),
    /// reused as dcol in backward. Implicit path: dcol scratch when C_in is not a multiple of 16.
    col: Vec<f32>,
    /// Implicit and Winograd paths: padded input images of the last forward pass.
    padded: Vec<f32>,
    /// Implicit path: one padded output-gradient image per slice; Winograd path: that and the
    /// transforms' scratch.
    dy_scratch: Vec<f32>,
    /// One weight-and-bias gradient per slice (laid out as the parameters, the weight part
    /// transformed on the Winograd path), summed at the end of backward.
    dweight_parts: Vec<f32>,
    /// `Wᵀ` (C_out, K·K·C_in) for dcol = dy · Wᵀ, or the flipped kernel (K·K·C_out, C_in) for the
    /// implicit input gradient; refreshed in backward.
    weight_t: Vec<f32>,
    /// Applies the following ReLU itself.
    relu: bool,
}

impl Conv2d {
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

    /// Images per slice of a backward pass over `n` images (and of a Winograd forward pass).
    fn backward_slice(&self, n: usize) -> usize {
        match self.implicit {
            Some(_) => n.div_ceil(rayon::current_num_threads()).max(1),
            None => self.slice,
        }
    }

    /// Floats of one slice's gradient part: the weight gradient (transformed on the Winograd
    /// path), then the bias gradient.
    fn part_len(&self) -> usize {
        let (_, _, patch, filters) = self.sizes();
        match &self.winograd {
            Some(w) => w.forward.transformed_len() + filters,
            None => (patch + 1) * filters,
        }
    }

    /// Floats of one slice's scratch in `dy_scratch`.
    fn slice_scratch_len(&self) -> usize {
        match (&self.winograd, &self.implicit) {
            (Some(w), _) => w.slice_scratch_len(),
            (None, Some(plan)) if plan.has_input_grad() => plan.padded_dy_len(),
            _ => 0,
        }
    }

    /// Grows the per-slice buffers for `slices` slices: more than reserved when the thread count
    /// grew since `reserve`, or a smaller batch cuts into more, thinner slices.
    fn ensure_slices(&mut self, slices: usize) {
        let (part, scratch) = (self.part_len(), self.slice_scratch_len());
        if self.dweight_parts.len() < slices * part {
            self.dweight_parts.resize(slices * part, 0.0);
        }
        if self.dy_scratch.len() < slices * scratch {
            self.dy_scratch.resize(slices * scratch, 0.0);
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
            Output::Overwrite,
            Threads::Caller,
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
    fn kind(&self) -> LayerKind {
        LayerKind::Conv2d
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
        let (_, rows, patch, _) = self.sizes();
        let slices = capacity.div_ceil(self.backward_slice(capacity));
        match (&self.winograd, &self.implicit) {
            (Some(w), _) => self.padded.resize(capacity * w.forward.padded_len(), 0.0),
            (None, Some(plan)) => {
                self.padded.resize(capacity * plan.padded_len(), 0.0);
                if !plan.has_input_grad() {
                    self.col.resize(capacity * rows * patch, 0.0);
                }
            }
            (None, None) => self.col.resize(capacity * rows * patch, 0.0),
        }
        self.ensure_slices(slices);
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let (in_len, rows, patch, filters) = self.sizes();
        let (weight, bias) = a.weights.split_at(patch * filters);
        let (g, s, relu) = (&self.geometry, self.slice, self.relu);
        let y = &mut a.y[..a.n * rows * filters];
        let x = &a.x[..a.n * in_len];
        if self.winograd.is_some() {
            // One slice per thread, each with its own scratch.
            let s = self.backward_slice(a.n);
            self.ensure_slices(a.n.div_ceil(s));
            let scratch_len = self.slice_scratch_len();
            let w = self.winograd.as_mut().expect("checked");
            w.forward.transform_weight(weight, &mut w.u);
            let (plan, u, plen) = (&w.forward, &w.u, w.forward.padded_len());
            y.par_chunks_mut(s * rows * filters)
                .zip(self.padded[..a.n * plen].par_chunks_mut(s * plen))
                .zip(x.par_chunks(s * in_len))
                .zip(self.dy_scratch.par_chunks_mut(scratch_len))
                .for_each(|(((y, padded), x), scratch)| {
                    let images = y.chunks_mut(rows * filters).zip(padded.chunks_mut(plen));
                    for ((y, padded), x) in images.zip(x.chunks(in_len)) {
                        plan.pad_input(x, padded);
                        plan.forward(padded, u, scratch, y);
                        add_bias_rows(y, bias, relu);
                    }
                });
            return;
        }
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
                        matmul(
                            y,
                            col,
                            weight,
                            dims,
                            Transpose::None,
                            Output::Overwrite,
                            Threads::Caller,
                        );
                        add_bias_rows(y, bias, relu);
                    });
            }
        }
    }
    fn can_fuse_relu(&self) -> bool {
        true
    }
    fn fuse_relu(&mut self) {
        self.relu = true;
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let (in_len, rows, patch, filters) = self.sizes();
        let s = self.backward_slice(a.n);
        let dy = &a.dy[..a.n * rows * filters];
        let slices = a.n.div_ceil(s);
        let (part_len, scratch_len) = (self.part_len(), self.slice_scratch_len());
        self.ensure_slices(slices);
        let g = &self.geometry;
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
        if let Some(w) = self.winograd.as_mut() {
            if want_dx {
                w.input_grad
                    .transform_weight(&self.weight_t, &mut w.u_flipped);
            }
            let (fwd, igrad, u_flipped) = (&w.forward, &w.input_grad, &w.u_flipped);
            let (plen, dy_plen) = (fwd.padded_len(), igrad.padded_len());
            parts
                .zip(dy_slices)
                .zip(self.padded.par_chunks(s * plen))
                .zip(self.dy_scratch.par_chunks_mut(scratch_len))
                .zip(dx_slices.par_iter_mut())
                .for_each(|((((part, dy), inputs), scratch), dx)| {
                    let du = start_part(part, dy, fwd.transformed_len());
                    let (padded_dy, scratch) = scratch.split_at_mut(dy_plen);
                    for (i, dy) in dy.chunks(rows * filters).enumerate() {
                        fwd.weight_grad(&inputs[i * plen..], dy, scratch, du);
                        if let Some(dx) = dx.as_deref_mut() {
                            igrad.pad_input(dy, padded_dy);
                            let dx = &mut dx[i * in_len..(i + 1) * in_len];
                            igrad.forward(padded_dy, u_flipped, scratch, dx);
                        }
                    }
                });
            // Sum the slices' parts, then transform the kernel gradient back once.
            let (total, rest) = self.dweight_parts[..slices * part_len].split_at_mut(part_len);
            for part in rest.chunks_exact(part_len) {
                for (t, p) in total.iter_mut().zip(part) {
                    *t += p;
                }
            }
            let (du, dbias) = total.split_at(fwd.transformed_len());
            let (dweight, dbias_out) = a.dweights.split_at_mut(patch * filters);
            fwd.untransform_weight_grad(du, dweight);
            for (d, p) in dbias_out.iter_mut().zip(dbias) {
                *d += p;
            }
            return;
        }
        match &self.implicit {
            Some(plan) if plan.has_input_grad() => {
                let flipped = &self.weight_t;
                let plen = plan.padded_len();
                parts
                    .zip(dy_slices)
                    .zip(self.padded.par_chunks(s * plen))
                    .zip(self.dy_scratch.par_chunks_mut(scratch_len))
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
                        matmul(
                            dw,
                            col,
                            dy,
                            (patch, m, filters),
                            Transpose::A,
                            Output::Overwrite,
                            Threads::Caller,
                        );
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
