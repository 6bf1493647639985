//! Stride-1 convolution ("same" or "valid") as implicit GEMM on AVX-512 or AVX2 + FMA: no
//! column matrix. The
//! input image is copied once into a zero-padded buffer, and the matrix kernel reads it through
//! offset tables (output pixel × kernel tap). The weight gradient reads the same padded input; the input
//! gradient is the convolution of the padded output gradient with the flipped kernel.
//!
//! # Shapes (one image)
//! x: (H, W, C), padded: (H + K − 1, W + K − 1, C), weight: (K, K, C, F), y: (out_h, out_w, F).

use super::columns::input_grad_by_columns;
use super::{flip_kernel, one_slice_per_thread, ConvAlgorithm, OutputBias};
use crate::kernels::cpu::{isa, Isa, Simd};
use crate::kernels::im2col::ConvGeometry;
use crate::kernels::sgemm::{sgemm, Tables};

/// Plan of one implicit convolution; built only where it can run.
#[derive(Clone, Debug)]
pub struct ImplicitConv {
    /// The matrix kernels it runs on.
    simd: Simd,
    g: ConvGeometry,
    filters: usize,
    /// Padded height and width.
    hp: usize,
    wp: usize,
    /// Per output pixel: its window's top-left offset in the padded input (C channels).
    pixel: Vec<usize>,
    /// Per kernel tap (ky, kx, c): offset from a window's top-left (C channels).
    tap: Vec<usize>,
    /// The same two tables over a padded output gradient (F channels).
    pixel_f: Vec<usize>,
    tap_f: Vec<usize>,
}

impl ImplicitConv {
    /// A plan for `g` with `filters` outputs, or `None` where it does not apply (stride ≠ 1,
    /// filters not a multiple of 16, only the portable instruction set).
    pub fn new(g: &ConvGeometry, filters: usize) -> Option<Self> {
        Self::on(isa().simd()?, g, filters)
    }

    /// [`Self::new`] on the kernels of `simd`, which the CPU must have.
    pub(crate) fn on(simd: Simd, g: &ConvGeometry, filters: usize) -> Option<Self> {
        assert!(Isa::from(simd).on_cpu(), "no {simd:?} on this CPU");
        if g.stride != 1 || !filters.is_multiple_of(16) {
            return None;
        }
        let (hp, wp) = (g.h + g.k - 1, g.w + g.k - 1);
        // Window origins of every output pixel of a (rows × cols) result.
        let pixels = |ch: usize, (rows, cols): (usize, usize)| -> Vec<usize> {
            (0..rows)
                .flat_map(|oy| (0..cols).map(move |ox| (oy * wp + ox) * ch))
                .collect()
        };
        let taps = |ch: usize| -> Vec<usize> {
            let mut t = Vec::with_capacity(g.k * g.k * ch);
            for ky in 0..g.k {
                for kx in 0..g.k {
                    t.extend((0..ch).map(|c| (ky * wp + kx) * ch + c));
                }
            }
            t
        };
        Some(ImplicitConv {
            simd,
            g: *g,
            filters,
            hp,
            wp,
            pixel: pixels(g.c, (g.out_h, g.out_w)),
            tap: taps(g.c),
            // The input gradient has the input's size.
            pixel_f: pixels(filters, (g.h, g.w)),
            tap_f: taps(filters),
        })
    }

    /// Floats of one padded input image.
    pub fn padded_len(&self) -> usize {
        self.hp * self.wp * self.g.c
    }

    /// Floats of one padded output-gradient image.
    pub fn padded_dy_len(&self) -> usize {
        self.hp * self.wp * self.filters
    }

    /// Whether [`Self::input_grad`] applies (input channels a multiple of 16).
    pub fn has_input_grad(&self) -> bool {
        self.g.c.is_multiple_of(16)
    }

    /// Copies `img` (h, w, ch) into `out` (hp, wp, ch) with `top` zero rows and `left` zero
    /// columns before it; every value of `out` is written.
    fn pad(
        &self,
        img: &[f32],
        out: &mut [f32],
        (h, w, ch): (usize, usize, usize),
        (top, left): (usize, usize),
    ) {
        let wp = self.wp;
        assert!(img.len() >= h * w * ch && out.len() >= self.hp * wp * ch);
        assert!(top + h <= self.hp && left + w <= wp);
        out[..self.hp * wp * ch].fill(0.0);
        for y in 0..h {
            let dst = ((y + top) * wp + left) * ch;
            out[dst..dst + w * ch].copy_from_slice(&img[y * w * ch..(y + 1) * w * ch]);
        }
    }

    /// Pads an input image as the forward pass and weight gradient read it.
    pub fn pad_input(&self, x: &[f32], padded: &mut [f32]) {
        let g = &self.g;
        self.pad(x, padded, (g.h, g.w, g.c), (g.pad_top, g.pad_left));
    }

    /// y (out_h·out_w, F) = conv(padded input, weight); no bias.
    pub fn forward(&self, padded: &[f32], weight: &[f32], y: &mut [f32]) {
        let (k, f, m) = (self.tap.len(), self.filters, self.pixel.len());
        assert!(padded.len() >= self.padded_len() && weight.len() >= k * f && y.len() >= m * f);
        let la = Tables {
            rows: self.pixel.as_ptr(),
            cols: self.tap.as_ptr(),
        };
        // SAFETY: the CPU has `simd` (checked in `on`); the largest offset read is
        // pixel[m−1] + tap[k−1] = ((out_h−1+K−1)·wp + out_w−1+K−1)·C + C−1 with out_h ≤ H and
        // out_w ≤ W (stride 1), < hp·wp·C ≤ padded.len();
        // weight rows p < k of f values, y rows i < m of f values, as asserted.
        unsafe {
            sgemm(
                self.simd,
                (m, k, f),
                padded.as_ptr(),
                la,
                weight.as_ptr(),
                f,
                y.as_mut_ptr(),
                f,
                false,
            )
        }
    }

    /// dweight (K·K·C, F) += Σ over pixels of window ⊗ dy, for one image.
    pub fn weight_grad(&self, padded: &[f32], dy: &[f32], dweight: &mut [f32]) {
        let (k, f, m) = (self.tap.len(), self.filters, self.pixel.len());
        assert!(padded.len() >= self.padded_len() && dy.len() >= m * f && dweight.len() >= k * f);
        if self.g.c == 1 && self.simd == Simd::Avx512 {
            // SAFETY: the CPU has AVX-512F (checked in `on`); the sizes are asserted above.
            match self.g.k {
                3 => return unsafe { self.weight_grad_one_channel::<3, 9>(padded, dy, dweight) },
                5 => return unsafe { self.weight_grad_one_channel::<5, 25>(padded, dy, dweight) },
                _ => {}
            }
        }
        let la = Tables {
            rows: self.tap.as_ptr(),
            cols: self.pixel.as_ptr(),
        };
        // SAFETY: as in `forward`, with the roles of the two tables swapped; dy holds m rows of
        // f values and dweight k rows of f values.
        unsafe {
            sgemm(
                self.simd,
                (k, m, f),
                padded.as_ptr(),
                la,
                dy.as_ptr(),
                f,
                dweight.as_mut_ptr(),
                f,
                true,
            )
        }
    }

    /// [`Self::weight_grad`] for a single input channel and a K×K kernel (`TAPS` = K²): per block
    /// of 16 filters, all taps' gradients stay in registers over the whole image, each pixel
    /// adding its K² input values times its 16 output gradients. (As a matrix product its rows
    /// would be the taps: K² rows of one vector each, reloaded per block of pixels.) AVX-512
    /// only: 25 accumulators do not fit AVX2's 16 registers, which take the matrix product.
    ///
    /// # Safety
    /// AVX-512F must be available; `padded`, `dy` and `dweight` hold what `weight_grad` asserts.
    #[target_feature(enable = "avx512f")]
    unsafe fn weight_grad_one_channel<const K: usize, const TAPS: usize>(
        &self,
        padded: &[f32],
        dy: &[f32],
        dweight: &mut [f32],
    ) {
        use std::arch::x86_64::*;
        let (f, wp) = (self.filters, self.wp);
        for fb in (0..f).step_by(16) {
            let mut acc = [_mm512_setzero_ps(); TAPS];
            for (t, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_loadu_ps(dweight.as_ptr().add(t * f + fb));
            }
            for (p, &start) in self.pixel.iter().enumerate() {
                let g = _mm512_loadu_ps(dy.as_ptr().add(p * f + fb));
                let window = padded.as_ptr().add(start);
                for ky in 0..K {
                    let row = window.add(ky * wp);
                    for kx in 0..K {
                        let x = _mm512_set1_ps(*row.add(kx));
                        acc[ky * K + kx] = _mm512_fmadd_ps(x, g, acc[ky * K + kx]);
                    }
                }
            }
            for (t, acc) in acc.iter().enumerate() {
                _mm512_storeu_ps(dweight.as_mut_ptr().add(t * f + fb), *acc);
            }
        }
    }

    /// dx (H·W, C) = conv(padded dy, flipped kernel); `scratch` holds one padded dy image.
    pub fn input_grad(&self, dy: &[f32], scratch: &mut [f32], flipped: &[f32], dx: &mut [f32]) {
        assert!(
            self.has_input_grad(),
            "input gradient needs C a multiple of 16"
        );
        let (k, c, f, m) = (self.tap_f.len(), self.g.c, self.filters, self.pixel_f.len());
        assert!(
            flipped.len() >= k * c && dx.len() >= m * c && scratch.len() >= self.padded_dy_len()
        );
        let g = &self.g;
        // A "full" convolution of dy: K − 1 − padding zeros before it.
        let dy_shape = (g.out_h, g.out_w, f);
        self.pad(
            dy,
            scratch,
            dy_shape,
            (g.k - 1 - g.pad_top, g.k - 1 - g.pad_left),
        );
        let la = Tables {
            rows: self.pixel_f.as_ptr(),
            cols: self.tap_f.as_ptr(),
        };
        // SAFETY: as in `forward`, over the padded dy of hp·wp·F values; c % 16 == 0 as asserted.
        unsafe {
            sgemm(
                self.simd,
                (m, k, c),
                scratch.as_ptr(),
                la,
                flipped.as_ptr(),
                c,
                dx.as_mut_ptr(),
                c,
                false,
            )
        }
    }
}

/// How [`ImplicitGemm`] computes the input gradient, with the kernel it needs.
#[derive(Debug)]
enum InputGradRoute {
    /// C in sixteens: the padded output gradient convolved with this flipped kernel (K·K·F, C).
    FlippedKernel(Vec<f32>),
    /// Otherwise (the first layer): dcol = dy · Wᵀ and col2im, with this `Wᵀ` (F, K·K·C).
    Columns(Vec<f32>),
}

/// Implicit GEMM as a [`ConvAlgorithm`]: forward keeps each image padded, and the weight
/// gradient reads it again.
#[derive(Debug)]
pub struct ImplicitGemm {
    plan: ImplicitConv,
    input_grad: InputGradRoute,
}

impl ImplicitGemm {
    /// The algorithm where [`ImplicitConv`] applies.
    pub fn new(g: &ConvGeometry, filters: usize) -> Option<Self> {
        Self::on(isa().simd()?, g, filters)
    }

    /// [`Self::new`] on the kernels of `simd`, which the CPU must have.
    pub(crate) fn on(simd: Simd, g: &ConvGeometry, filters: usize) -> Option<Self> {
        let plan = ImplicitConv::on(simd, g, filters)?;
        let kernel = vec![0.0; g.patch_len() * filters];
        let input_grad = match plan.has_input_grad() {
            true => InputGradRoute::FlippedKernel(kernel),
            false => InputGradRoute::Columns(kernel),
        };
        Some(ImplicitGemm { plan, input_grad })
    }
}

impl ImplicitGemm {
    /// Floats of one input image, of its padded copy, and of one output image.
    fn image_lens(&self) -> (usize, usize, usize) {
        let (g, plan) = (&self.plan.g, &self.plan);
        (
            g.h * g.w * g.c,
            plan.padded_len(),
            plan.pixel.len() * plan.filters,
        )
    }
}

impl ConvAlgorithm for ImplicitGemm {
    fn name(&self) -> &'static str {
        "implicit GEMM"
    }
    fn images_per_slice(&self, n: usize) -> usize {
        one_slice_per_thread(n)
    }
    fn saved_len(&self) -> usize {
        self.plan.padded_len()
    }
    fn scratch_len(&self, images: usize) -> usize {
        match self.input_grad {
            InputGradRoute::FlippedKernel(_) => self.plan.padded_dy_len(),
            InputGradRoute::Columns(_) => {
                images * self.plan.g.out_h * self.plan.g.out_w * self.plan.g.patch_len()
            }
        }
    }
    fn weight_grad_len(&self) -> usize {
        self.plan.g.patch_len() * self.plan.filters
    }
    fn forward(
        &self,
        x: &[f32],
        weight: &[f32],
        out: OutputBias<'_>,
        padded: &mut [f32],
        _scratch: &mut [f32],
        y: &mut [f32],
    ) {
        let (in_len, plen, out_len) = self.image_lens();
        let images = y.chunks_mut(out_len).zip(padded.chunks_mut(plen));
        for ((y, padded), x) in images.zip(x.chunks(in_len)) {
            self.plan.pad_input(x, padded);
            self.plan.forward(padded, weight, y);
            out.apply(y);
        }
    }
    fn prepare_input_grad(&mut self, weight: &[f32]) {
        let (g, f) = (&self.plan.g, self.plan.filters);
        match &mut self.input_grad {
            InputGradRoute::FlippedKernel(flipped) => flip_kernel(weight, flipped, (g.k, g.c, f)),
            InputGradRoute::Columns(weight_t) => {
                crate::kernels::transpose(weight, weight_t, g.patch_len(), f)
            }
        }
    }
    fn backward(
        &self,
        _x: &[f32],
        padded: &mut [f32],
        dy: &[f32],
        scratch: &mut [f32],
        weight_grad: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
        let (in_len, plen, out_len) = self.image_lens();
        for (i, dy) in dy.chunks(out_len).enumerate() {
            self.plan.weight_grad(&padded[i * plen..], dy, weight_grad);
            if let (InputGradRoute::FlippedKernel(flipped), Some(dx)) =
                (&self.input_grad, dx.as_deref_mut())
            {
                let dx = &mut dx[i * in_len..(i + 1) * in_len];
                self.plan.input_grad(dy, scratch, flipped, dx);
            }
        }
        if let (InputGradRoute::Columns(weight_t), Some(dx)) = (&self.input_grad, dx) {
            input_grad_by_columns(&self.plan.g, weight_t, dy, scratch, dx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::each_simd;
    use crate::kernels::reference::{assert_close, conv_case};
    use crate::kernels::Padding;

    /// The implicit path against im2col + matrix product, for forward and both gradients, with
    /// "same" and "valid" padding.
    #[test]
    fn matches_im2col_for_forward_and_gradients() {
        let cases = [
            ((28, 28, 16, 3, 16), Padding::Same),
            ((14, 14, 16, 5, 32), Padding::Same),
            ((7, 7, 32, 3, 64), Padding::Same),
            ((6, 5, 1, 4, 16), Padding::Same),
            ((6, 5, 16, 4, 32), Padding::Same),
            ((28, 28, 1, 5, 16), Padding::Same),
            ((9, 7, 1, 3, 32), Padding::Same),
            ((12, 10, 16, 3, 32), Padding::Valid),
            ((9, 8, 32, 5, 16), Padding::Valid),
            ((4, 4, 16, 4, 16), Padding::Valid),
        ];
        for (simd, ((h, w, c, k, f), padding)) in each_simd("implicit convolution")
            .into_iter()
            .flat_map(|simd| cases.map(|case| (simd, case)))
        {
            let g = ConvGeometry::new((h, w, c), k, 1, padding).unwrap();
            let plan = ImplicitConv::on(simd, &g, f).unwrap();
            let case = conv_case(&g, f);
            let what = |part: &str| format!("{simd:?} {part} {g:?}");
            let mut padded = vec![f32::NAN; plan.padded_len()];
            plan.pad_input(&case.x, &mut padded);
            let mut y = vec![0.0; case.y.len()];
            plan.forward(&padded, &case.weight, &mut y);
            assert_close(&y, &case.y, 1e-5, &what("forward"));
            let mut dw = vec![0.0; case.dweight.len()];
            plan.weight_grad(&padded, &case.dy, &mut dw);
            assert_close(&dw, &case.dweight, 1e-5, &what("weight grad"));
            if plan.has_input_grad() {
                let (mut flipped, mut scratch) = (
                    vec![0.0; case.weight.len()],
                    vec![f32::NAN; plan.padded_dy_len()],
                );
                flip_kernel(&case.weight, &mut flipped, (k, c, f));
                let mut dx = vec![0.0; case.dx.len()];
                plan.input_grad(&case.dy, &mut scratch, &flipped, &mut dx);
                assert_close(&dx, &case.dx, 1e-5, &what("input grad"));
            }
        }
    }

    #[test]
    fn only_stride_one_and_filters_in_sixteens() {
        for simd in each_simd("implicit convolution") {
            assert!(ImplicitConv::on(simd, &ConvGeometry::same(8, 8, 16, 3, 2), 16).is_none());
            assert!(ImplicitConv::on(simd, &ConvGeometry::same(8, 8, 16, 3, 1), 8).is_none());
            assert!(ImplicitConv::on(simd, &ConvGeometry::same(8, 8, 16, 3, 1), 16).is_some());
        }
    }
}
