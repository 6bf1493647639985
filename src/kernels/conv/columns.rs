//! im2col + matrix product, the portable convolution: a slice of a few images is unfolded into
//! a column matrix (kept for backward, then reused for the input gradient's columns) and
//! multiplied by the kernel.

use super::ConvAlgorithm;
use crate::kernels::{col2im, im2col, matmul, transpose, ConvGeometry, Output, Threads, Transpose};

/// Target size of one slice's column matrix, in floats (about 1 MiB, half of a Zen 4 core's L2).
const SLICE_COL_FLOATS: usize = 1 << 18;

/// The im2col algorithm for one geometry.
#[derive(Debug)]
pub struct Im2colGemm {
    g: ConvGeometry,
    filters: usize,
    /// Images per slice: as many as keep a slice's columns near [`SLICE_COL_FLOATS`].
    images_per_slice: usize,
    /// `Wᵀ` (F, K·K·C) for dcol = dy · Wᵀ; refreshed before backward.
    weight_t: Vec<f32>,
}

impl Im2colGemm {
    /// The algorithm for `g` with `filters` outputs (it applies to every geometry).
    pub fn new(g: &ConvGeometry, filters: usize) -> Self {
        let column_floats = g.out_h * g.out_w * g.patch_len();
        Im2colGemm {
            g: *g,
            filters,
            images_per_slice: (SLICE_COL_FLOATS / column_floats).clamp(1, 8),
            weight_t: vec![0.0; g.patch_len() * filters],
        }
    }
}

impl ConvAlgorithm for Im2colGemm {
    fn name(&self) -> &'static str {
        "im2col + GEMM"
    }
    fn images_per_slice(&self, _n: usize) -> usize {
        self.images_per_slice
    }
    fn saved_len(&self) -> usize {
        self.g.out_h * self.g.out_w * self.g.patch_len()
    }
    fn scratch_len(&self, _images: usize) -> usize {
        0
    }
    fn weight_grad_len(&self) -> usize {
        self.g.patch_len() * self.filters
    }
    fn forward(
        &self,
        x: &[f32],
        weight: &[f32],
        columns: &mut [f32],
        _scratch: &mut [f32],
        y: &mut [f32],
    ) {
        let g = &self.g;
        let images = x.len() / (g.h * g.w * g.c);
        im2col(x, columns, images, g);
        matmul(
            y,
            columns,
            weight,
            (images * g.out_h * g.out_w, g.patch_len(), self.filters),
            Transpose::None,
            Output::Overwrite,
            Threads::Caller,
        );
    }
    fn prepare_input_grad(&mut self, weight: &[f32]) {
        transpose(weight, &mut self.weight_t, self.g.patch_len(), self.filters);
    }
    fn backward(
        &self,
        columns: &mut [f32],
        dy: &[f32],
        _scratch: &mut [f32],
        weight_grad: &mut [f32],
        dx: Option<&mut [f32]>,
    ) {
        let (patch, filters) = (self.g.patch_len(), self.filters);
        // dW (patch, filters) = colᵀ · dy
        matmul(
            weight_grad,
            columns,
            dy,
            (patch, dy.len() / filters, filters),
            Transpose::A,
            Output::Overwrite,
            Threads::Caller,
        );
        if let Some(dx) = dx {
            // The columns are no longer needed: they hold dcol.
            input_grad_by_columns(&self.g, &self.weight_t, dy, columns, dx);
        }
    }
}

/// The input gradient of a slice through dcol = dy · Wᵀ and col2im, for `weight_t` = Wᵀ
/// (F, K·K·C); `dcol` holds the slice's columns.
pub(super) fn input_grad_by_columns(
    g: &ConvGeometry,
    weight_t: &[f32],
    dy: &[f32],
    dcol: &mut [f32],
    dx: &mut [f32],
) {
    let (rows, patch) = (g.out_h * g.out_w, g.patch_len());
    let filters = weight_t.len() / patch;
    let m = dy.len() / filters;
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
