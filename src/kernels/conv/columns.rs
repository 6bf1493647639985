//! im2col + matrix product, the portable convolution: a few images at a time are unfolded into
//! a column matrix and multiplied by the kernel. Backward unfolds them again rather than keeping
//! every image's columns from forward: a strided 5×5 layer's columns are 25× its input, and
//! unfolding a chunk that stays in cache costs about what reading kept columns back would.

use super::{one_slice_per_thread, ConvAlgorithm, OutputBias};
use crate::kernels::{col2im, im2col, matmul, transpose, ConvGeometry, Output, Threads, Transpose};

/// Target size of one chunk's column matrix, in floats (about 1 MiB, half of a Zen 4 core's L2).
const CHUNK_COL_FLOATS: usize = 1 << 18;

/// The im2col algorithm for one geometry.
#[derive(Debug)]
pub struct Im2colGemm {
    g: ConvGeometry,
    filters: usize,
    /// Images unfolded at a time: as many as keep the columns near [`CHUNK_COL_FLOATS`].
    images_per_chunk: usize,
    /// `Wᵀ` (F, K·K·C) for dcol = dy · Wᵀ; refreshed before backward.
    weight_t: Vec<f32>,
}

impl Im2colGemm {
    /// The algorithm for `g` with `filters` outputs (it applies to every geometry).
    pub fn new(g: &ConvGeometry, filters: usize) -> Self {
        Im2colGemm {
            g: *g,
            filters,
            images_per_chunk: (CHUNK_COL_FLOATS / Self::columns_per_image(g)).max(1),
            weight_t: vec![0.0; g.patch_len() * filters],
        }
    }

    fn columns_per_image(g: &ConvGeometry) -> usize {
        g.out_h * g.out_w * g.patch_len()
    }

    /// The slice's images chunk by chunk: (first image, images) of each.
    fn chunks(&self, images: usize) -> impl Iterator<Item = (usize, usize)> {
        let per = self.images_per_chunk;
        (0..images)
            .step_by(per)
            .map(move |first| (first, per.min(images - first)))
    }
}

impl ConvAlgorithm for Im2colGemm {
    fn name(&self) -> &'static str {
        "im2col + GEMM"
    }
    fn images_per_slice(&self, n: usize) -> usize {
        one_slice_per_thread(n)
    }
    fn saved_len(&self) -> usize {
        0
    }
    /// One chunk's columns.
    fn scratch_len(&self, images: usize) -> usize {
        images.min(self.images_per_chunk) * Self::columns_per_image(&self.g)
    }
    fn weight_grad_len(&self) -> usize {
        self.g.patch_len() * self.filters
    }
    fn forward(
        &self,
        x: &[f32],
        weight: &[f32],
        out: OutputBias<'_>,
        _saved: &mut [f32],
        columns: &mut [f32],
        y: &mut [f32],
    ) {
        let g = &self.g;
        let (in_len, rows) = (g.h * g.w * g.c, g.out_h * g.out_w);
        for (first, images) in self.chunks(x.len() / in_len) {
            let x = &x[first * in_len..(first + images) * in_len];
            im2col(x, columns, images, g);
            let y = &mut y[first * rows * self.filters..(first + images) * rows * self.filters];
            matmul(
                y,
                columns,
                weight,
                (images * rows, g.patch_len(), self.filters),
                Transpose::None,
                Output::Overwrite,
                Threads::Caller,
            );
            out.apply(y);
        }
    }
    fn prepare_input_grad(&mut self, weight: &[f32]) {
        transpose(weight, &mut self.weight_t, self.g.patch_len(), self.filters);
    }
    fn backward(
        &self,
        x: &[f32],
        _saved: &mut [f32],
        dy: &[f32],
        columns: &mut [f32],
        weight_grad: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
        let g = &self.g;
        let (in_len, out_len) = (g.h * g.w * g.c, g.out_h * g.out_w * self.filters);
        for (first, images) in self.chunks(x.len() / in_len) {
            let inputs = first * in_len..(first + images) * in_len;
            let dy = &dy[first * out_len..(first + images) * out_len];
            im2col(&x[inputs.clone()], columns, images, g);
            // dW (patch, filters) += colᵀ · dy
            matmul(
                weight_grad,
                columns,
                dy,
                (g.patch_len(), dy.len() / self.filters, self.filters),
                Transpose::A,
                Output::Accumulate,
                Threads::Caller,
            );
            if let Some(dx) = dx.as_deref_mut() {
                // The columns are no longer needed: they hold dcol.
                input_grad_by_columns(g, &self.weight_t, dy, columns, &mut dx[inputs]);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{assert_close, convolution, filled};

    /// Three images in chunks of two: each image's output, input gradient and its share of the
    /// kernel gradient, added to what the part held.
    #[test]
    fn backward_unfolds_each_chunk_again() {
        let (g, f) = (ConvGeometry::same(24, 24, 8, 5, 1), 8);
        let alg = Im2colGemm::new(&g, f);
        assert_eq!(alg.images_per_chunk, 2);
        let (n, in_len, out_len) = (3, g.h * g.w * g.c, g.out_h * g.out_w * f);
        let (x, weight, dy) = (
            filled(n * in_len, 0.3),
            filled(g.patch_len() * f, 0.8),
            filled(n * out_len, 1.1),
        );
        let mut alg = alg;
        let mut columns = vec![f32::NAN; alg.scratch_len(n)];
        let (mut y, mut dx) = (vec![f32::NAN; n * out_len], vec![f32::NAN; n * in_len]);
        let out = OutputBias {
            bias: &vec![0.0; f],
            relu: false,
        };
        alg.forward(&x, &weight, out, &mut [], &mut columns, &mut y);
        alg.prepare_input_grad(&weight);
        let mut dweight = vec![1.0; g.patch_len() * f];
        alg.backward(&x, &mut [], &dy, &mut columns, &mut dweight, Some(&mut dx));
        let mut want_dweight = vec![1.0; g.patch_len() * f];
        for i in 0..n {
            let (xs, ys) = (i * in_len..(i + 1) * in_len, i * out_len..(i + 1) * out_len);
            let (want_y, want_dw, want_dx) =
                convolution(&g, f, (&x[xs.clone()], &weight, &dy[ys.clone()]));
            assert_close(&y[ys], &want_y, 1e-4, &format!("forward, image {i}"));
            assert_close(&dx[xs], &want_dx, 1e-4, &format!("input grad, image {i}"));
            want_dweight
                .iter_mut()
                .zip(want_dw)
                .for_each(|(a, b)| *a += b);
        }
        assert_close(&dweight, &want_dweight, 1e-4, "weight grad");
    }
}
