//! Reference results for the convolution kernels' tests: one image through im2col, plain matrix
//! products and col2im, the path whose correctness the gradient checks establish.

use super::{col2im, im2col, matmul, transpose, ConvGeometry, Output, Threads, Transpose};

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
        Output::Overwrite,
        Threads::Caller,
    );
    let mut dweight = vec![0.0; patch * f];
    matmul(
        &mut dweight,
        &col,
        dy,
        (patch, pixels, f),
        Transpose::A,
        Output::Overwrite,
        Threads::Caller,
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
        Output::Overwrite,
        Threads::Caller,
    );
    let mut dx = vec![0.0; g.h * g.w * g.c];
    col2im(&dcol, &mut dx, 1, g);
    (y, dweight, dx)
}

/// One image's inputs for a convolution test, and the reference results.
#[cfg(target_arch = "x86_64")]
pub struct ConvCase {
    /// Input image (H, W, C).
    pub x: Vec<f32>,
    /// Kernel (K, K, C, F).
    pub weight: Vec<f32>,
    /// Output gradient (out_h, out_w, F).
    pub dy: Vec<f32>,
    /// Reference output.
    pub y: Vec<f32>,
    /// Reference kernel gradient.
    pub dweight: Vec<f32>,
    /// Reference input gradient.
    pub dx: Vec<f32>,
}

/// Smooth test inputs for `g` with `filters` outputs, and their [`convolution`].
#[cfg(target_arch = "x86_64")]
pub fn conv_case(g: &ConvGeometry, filters: usize) -> ConvCase {
    let x = filled(g.h * g.w * g.c, 0.1);
    let weight = filled(g.patch_len() * filters, 0.7);
    let dy = filled(g.out_h * g.out_w * filters, 1.3);
    let (y, dweight, dx) = convolution(g, filters, (&x, &weight, &dy));
    ConvCase {
        x,
        weight,
        dy,
        y,
        dweight,
        dx,
    }
}

/// Asserts that `got` equals `want` within `tolerance` times the largest value of `want` (at
/// least 1): convolution results are sums whose rounding grows with their size.
pub fn assert_close(got: &[f32], want: &[f32], tolerance: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tolerance * scale,
            "{what} [{i}]: {a} vs {b}"
        );
    }
}
