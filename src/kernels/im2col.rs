//! NHWC im2col / col2im for convolutions with stride and TensorFlow's "same" or "valid" padding.
//! A column row holds one output pixel's receptive field in (ky, kx, c) order, which matches a
//! kernel stored as (kh, kw, c_in, c_out), so `col · kernel` is the convolution.

/// Sizes of one convolution: input (h, w, c), square kernel `k`, stride, and the padding before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input height, width and channels.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Kernel height and width.
    pub k: usize,
    /// Step between receptive fields.
    pub stride: usize,
    /// Zero rows above / columns left of the input.
    pub pad_top: usize,
    /// Zero columns left of the input.
    pub pad_left: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

/// How a convolution treats the border, as Keras' `padding` argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Padding {
    /// Zeros around the input so that the output is `ceil(size / stride)`.
    #[default]
    Same,
    /// No padding: windows only where they fit, output `(size − k) / stride + 1`.
    Valid,
}

/// TensorFlow's "same" padding: output `ceil(size / stride)`, padding split with the extra
/// pixel after. Returns (output size, padding before).
pub fn same_padding(size: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + k).saturating_sub(size);
    (out, total / 2)
}

impl ConvGeometry {
    /// The geometry with `padding`, or `None` for a "valid" kernel larger than the input.
    pub fn new(
        (h, w, c): (usize, usize, usize),
        k: usize,
        stride: usize,
        padding: Padding,
    ) -> Option<Self> {
        match padding {
            Padding::Same => Some(Self::same(h, w, c, k, stride)),
            Padding::Valid if k > h || k > w => None,
            Padding::Valid => Some(ConvGeometry {
                h,
                w,
                c,
                k,
                stride,
                pad_top: 0,
                pad_left: 0,
                out_h: (h - k) / stride + 1,
                out_w: (w - k) / stride + 1,
            }),
        }
    }

    /// Geometry of a "same"-padded convolution.
    pub fn same(h: usize, w: usize, c: usize, k: usize, stride: usize) -> Self {
        let (out_h, pad_top) = same_padding(h, k, stride);
        let (out_w, pad_left) = same_padding(w, k, stride);
        ConvGeometry {
            h,
            w,
            c,
            k,
            stride,
            pad_top,
            pad_left,
            out_h,
            out_w,
        }
    }

    /// The stride-1 convolution whose output is this one's input gradient: the output gradient
    /// (out_h, out_w, `filters`) with K − 1 − padding zeros before it (a "full" convolution for
    /// "valid" padding), through the flipped kernel. Only for stride 1 and padding under K.
    pub fn input_grad(&self, filters: usize) -> ConvGeometry {
        assert!(
            self.stride == 1 && self.pad_top < self.k && self.pad_left < self.k,
            "input gradient as a convolution of {self:?}"
        );
        ConvGeometry {
            h: self.out_h,
            w: self.out_w,
            c: filters,
            k: self.k,
            stride: 1,
            pad_top: self.k - 1 - self.pad_top,
            pad_left: self.k - 1 - self.pad_left,
            out_h: self.h,
            out_w: self.w,
        }
    }

    /// Length of one column row: k·k·c.
    pub fn patch_len(&self) -> usize {
        self.k * self.k * self.c
    }

    /// For output column `ox`: the kernel columns `kx0..kx1` that fall inside the image, and the
    /// input column `kx0` reads.
    fn kernel_columns(&self, ox: usize) -> (usize, usize, usize) {
        let start = ox * self.stride; // input column of kx = 0, shifted right by pad_left
        let kx0 = self.pad_left.saturating_sub(start).min(self.k);
        let kx1 = (self.w + self.pad_left)
            .saturating_sub(start)
            .min(self.k)
            .max(kx0);
        (kx0, kx1, (start + kx0).saturating_sub(self.pad_left))
    }

    /// The input row/column that output `o`, kernel offset `d` reads, if inside the image.
    fn source(o: usize, d: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
        (o * stride + d).checked_sub(pad).filter(|&i| i < size)
    }
}

/// x: (n, h, w, c) → col: (n·out_h·out_w, k·k·c). Every entry of `col` is written.
pub fn im2col(x: &[f32], col: &mut [f32], n: usize, g: &ConvGeometry) {
    let (row_len, c) = (g.patch_len(), g.c);
    assert!(x.len() >= n * g.h * g.w * c && col.len() >= n * g.out_h * g.out_w * row_len);
    let mut rows = col.chunks_exact_mut(row_len);
    for img in x.chunks_exact(g.h * g.w * c).take(n) {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let row = rows.next().expect("col sized above");
                let (kx0, kx1, ix0) = g.kernel_columns(ox);
                for ky in 0..g.k {
                    let dst = &mut row[ky * g.k * c..(ky + 1) * g.k * c];
                    let Some(iy) = ConvGeometry::source(oy, ky, g.stride, g.pad_top, g.h) else {
                        dst.fill(0.0);
                        continue;
                    };
                    // Kernel columns kx0..kx1 read one contiguous run of the input row (NHWC).
                    dst[..kx0 * c].fill(0.0);
                    let src = (iy * g.w + ix0) * c;
                    dst[kx0 * c..kx1 * c].copy_from_slice(&img[src..src + (kx1 - kx0) * c]);
                    dst[kx1 * c..].fill(0.0);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: dx (n, h, w, c) += scatter of dcol (n·out_h·out_w, k·k·c).
pub fn col2im(dcol: &[f32], dx: &mut [f32], n: usize, g: &ConvGeometry) {
    let (row_len, c) = (g.patch_len(), g.c);
    assert!(dx.len() >= n * g.h * g.w * c && dcol.len() >= n * g.out_h * g.out_w * row_len);
    let mut rows = dcol.chunks_exact(row_len);
    for img in dx.chunks_exact_mut(g.h * g.w * c).take(n) {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let row = rows.next().expect("dcol sized above");
                let (kx0, kx1, ix0) = g.kernel_columns(ox);
                for ky in 0..g.k {
                    let Some(iy) = ConvGeometry::source(oy, ky, g.stride, g.pad_top, g.h) else {
                        continue;
                    };
                    let src = &row[(ky * g.k + kx0) * c..(ky * g.k + kx1) * c];
                    let dst = &mut img[(iy * g.w + ix0) * c..][..src.len()];
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += s;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        assert_eq!(same_padding(28, 3, 1), (28, 1));
        assert_eq!(same_padding(28, 5, 1), (28, 2));
        assert_eq!(same_padding(28, 3, 2), (14, 0)); // total pad 1 goes after
        assert_eq!(same_padding(7, 3, 2), (4, 1));
    }

    #[test]
    fn im2col_of_3x3_image_with_3x3_kernel() {
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let g = ConvGeometry::same(3, 3, 1, 3, 1);
        let mut col = vec![f32::NAN; 9 * 9];
        im2col(&x, &mut col, 1, &g);
        // Centre pixel sees the whole image; top-left sees zeros above and left.
        assert_eq!(&col[4 * 9..5 * 9], &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
        assert_eq!(&col[0..9], &[0., 0., 0., 0., 1., 2., 0., 4., 5.]);
    }

    /// Element by element, straight from the definition.
    fn im2col_reference(x: &[f32], n: usize, g: &ConvGeometry) -> Vec<f32> {
        let mut col = Vec::new();
        for i in 0..n {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for ky in 0..g.k {
                        for kx in 0..g.k {
                            for ch in 0..g.c {
                                let iy = (oy * g.stride + ky) as isize - g.pad_top as isize;
                                let ix = (ox * g.stride + kx) as isize - g.pad_left as isize;
                                let inside = iy >= 0
                                    && ix >= 0
                                    && (iy as usize) < g.h
                                    && (ix as usize) < g.w;
                                let at = ((i * g.h + iy.max(0) as usize) * g.w
                                    + ix.max(0) as usize)
                                    * g.c
                                    + ch;
                                col.push(if inside { x[at] } else { 0.0 });
                            }
                        }
                    }
                }
            }
        }
        col
    }

    #[test]
    fn im2col_matches_the_definition_for_many_geometries() {
        for (h, w, c, k, s) in [
            (5, 4, 2, 3, 2),
            (28, 28, 1, 5, 1),
            (7, 7, 3, 3, 2),
            (2, 3, 1, 5, 1),
            (6, 5, 2, 4, 3),
        ] {
            let g = ConvGeometry::same(h, w, c, k, s);
            let n = 2;
            let x: Vec<f32> = (0..n * h * w * c).map(|i| i as f32 + 1.0).collect();
            let mut col = vec![f32::NAN; n * g.out_h * g.out_w * g.patch_len()];
            im2col(&x, &mut col, n, &g);
            assert_eq!(col, im2col_reference(&x, n, &g), "{g:?}");
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> == <x, col2im(y)> for any x, y.
        let g = ConvGeometry::same(5, 4, 2, 3, 2);
        let n = 2;
        let x: Vec<f32> = (0..n * 5 * 4 * 2)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let y: Vec<f32> = (0..n * g.out_h * g.out_w * g.patch_len())
            .map(|i| (i as f32 * 0.11).cos())
            .collect();
        let mut col = vec![0.0; y.len()];
        im2col(&x, &mut col, n, &g);
        let mut back = vec![0.0; x.len()];
        col2im(&y, &mut back, n, &g);
        let lhs: f64 = col.iter().zip(&y).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    }
}
