//! Reference results for the convolution kernels' tests: one image through im2col, plain matrix
//! products and col2im, the path whose correctness the gradient checks establish.

use super::{col2im, im2col, matmul, transpose, ConvGeometry, Transpose};

/// `len` smooth, varied test values.
pub fn filled(len: usize, seed: f32) -> Vec<f32> {
    (0..len).map(|i| (i as f32 * 0.37 + seed).sin()).collect()
}

/// (y, dweight, dx) of the convolution `g` with `filters` outputs, for one image `x`, kernel
/// `weight` (K, K, C, F) and output gradient `dy`.
pub fn convolution(
    g: &ConvGeometry,
    filters: usize,
    (x, weight, dy): (&[f32], &[f32], &[f32]),
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (pixels, patch, f) = (g.out_h * g.out_w, g.patch_len(), filters);
    let mut col = vec![0.0; pixels * patch];
    im2col(x, &mut col, 1, g);
    let mut y = vec![0.0; pixels * f];
    matmul(
        &mut y,
        &col,
        weight,
        (pixels, patch, f),
        Transpose::None,
        false,
        false,
    );
    let mut dweight = vec![0.0; patch * f];
    matmul(
        &mut dweight,
        &col,
        dy,
        (patch, pixels, f),
        Transpose::A,
        false,
        false,
    );
    let mut weight_t = vec![0.0; patch * f];
    transpose(weight, &mut weight_t, patch, f);
    let mut dcol = vec![0.0; pixels * patch];
    matmul(
        &mut dcol,
        dy,
        &weight_t,
        (pixels, f, patch),
        Transpose::None,
        false,
        false,
    );
    let mut dx = vec![0.0; g.h * g.w * g.c];
    col2im(&dcol, &mut dx, 1, g);
    (y, dweight, dx)
}
