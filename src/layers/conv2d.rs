//! 2-D convolution with "same" padding, as im2col + one GEMM per slice of the batch.
//!
//! # Shapes
//! x: (N, H, W, C_in), weight: (K, K, C_in, C_out) as Keras stores it, bias: (C_out),
//! y: (N, ceil(H/s), ceil(W/s), C_out). Weight Glorot-uniform with fans K·K·C_in and K·K·C_out.
//!
//! The batch is cut into slices of a few images; each thread unfolds its slice and multiplies it,
//! so the column buffer of a slice stays in cache. The unfolded columns are kept for backward.

use super::dense::{add_bias_rows, sum_rows_into};
use super::{BackwardArgs, ForwardArgs, Init, Layer, ParamKind, ParamSpec, Shape};
use crate::kernels::{col2im, im2col, matmul, transpose, ConvGeometry, Transpose};
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
        let rows_per_image = g.out_h * g.out_w;
        let slice = (SLICE_COL_FLOATS / (rows_per_image * g.patch_len())).clamp(1, 8);
        Conv2d {
            config: *self,
            geometry: g,
            slice,
            col: Vec::new(),
            dweight_parts: Vec::new(),
            weight_t: vec![0.0; g.patch_len() * self.filters],
        }
    }
}

/// Conv2D layer.
#[derive(Debug, Clone)]
pub struct Conv2d {
    config: Conv2dConfig,
    geometry: ConvGeometry,
    /// Images per slice.
    slice: usize,
    /// Unfolded input of the last forward pass, (N·out_h·out_w, K·K·C_in).
    col: Vec<f32>,
    /// One weight gradient per slice, summed at the end of backward.
    dweight_parts: Vec<f32>,
    /// `Wᵀ` (C_out, K·K·C_in), refreshed in backward so `dy · Wᵀ` is a plain row-major product.
    weight_t: Vec<f32>,
}

impl Conv2d {
    /// Its configuration.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
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
        self.col.resize(capacity * rows * patch, 0.0);
        self.dweight_parts
            .resize(capacity.div_ceil(self.slice) * patch * filters, 0.0);
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let (in_len, rows, patch, filters) = self.sizes();
        let (weight, bias) = a.weights.split_at(patch * filters);
        let (g, s) = (&self.geometry, self.slice);
        a.y[..a.n * rows * filters]
            .par_chunks_mut(s * rows * filters)
            .zip(self.col.par_chunks_mut(s * rows * patch))
            .zip(a.x[..a.n * in_len].par_chunks(s * in_len))
            .for_each(|((y, col), x)| {
                let images = x.len() / in_len;
                im2col(x, col, images, g);
                matmul(
                    y,
                    col,
                    weight,
                    (images * rows, patch, filters),
                    Transpose::None,
                    false,
                    false,
                );
                add_bias_rows(y, bias);
            });
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let (in_len, rows, patch, filters) = self.sizes();
        let (dweight, dbias) = a.dweights.split_at_mut(patch * filters);
        transpose(
            &a.weights[..patch * filters],
            &mut self.weight_t,
            patch,
            filters,
        );
        let weight_t = &self.weight_t;
        let (g, s) = (&self.geometry, self.slice);
        let dy = &a.dy[..a.n * rows * filters];
        sum_rows_into(dbias, dy);
        let slices = a.n.div_ceil(s);
        let mut dx_slices: Vec<Option<&mut [f32]>> = match a.dx {
            Some(dx) => dx[..a.n * in_len]
                .chunks_mut(s * in_len)
                .map(Some)
                .collect(),
            None => (0..slices).map(|_| None).collect(),
        };
        self.dweight_parts[..slices * patch * filters]
            .par_chunks_mut(patch * filters)
            .zip(self.col.par_chunks_mut(s * rows * patch))
            .zip(dy.par_chunks(s * rows * filters))
            .zip(dx_slices.par_iter_mut())
            .for_each(|(((dw, col), dy), dx)| {
                let m = dy.len() / filters;
                // dW (patch, filters) = colᵀ · dy
                matmul(dw, col, dy, (patch, m, filters), Transpose::A, false, false);
                if let Some(dx) = dx {
                    // The columns are no longer needed: reuse them for dcol = dy · Wᵀ.
                    let dims = (m, filters, patch);
                    matmul(col, dy, weight_t, dims, Transpose::None, false, false);
                    dx.fill(0.0);
                    col2im(col, dx, m / rows, g);
                }
            });
        for part in self.dweight_parts[..slices * patch * filters].chunks_exact(patch * filters) {
            for (d, p) in dweight.iter_mut().zip(part) {
                *d += p;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        conv.reserve(1);
        let mut weights = vec![1.0; 9];
        weights.push(0.5); // bias
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut y = vec![0.0; 9];
        let mut rng = crate::rng::seeded(0);
        conv.forward(ForwardArgs {
            x: &x,
            y: &mut y,
            n: 1,
            weights: &weights,
            state: &mut [],
            mode: Mode::Train,
            rng: &mut rng,
        });
        // Corner: 1+2+4+5; centre: 45; all plus the bias.
        assert_eq!(y[0], 12.5);
        assert_eq!(y[4], 45.5);
        assert_eq!(y[8], 5.0 + 6.0 + 8.0 + 9.0 + 0.5);
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
    }
}
