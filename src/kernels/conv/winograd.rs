//! Winograd convolution F(2×2, 5×5) for stride-1 "same" convolutions with 5×5 kernels and
//! channel counts in sixteens: each 2×2 block of outputs comes from a 6×6 input tile (α = 6)
//! with 36 multiplies per channel pair instead of 100 (2.8× fewer). (F(2×2, 3×3) saves only
//! 2.25× and measured slower than the direct kernel at the tutorial's channel counts.) Per
//! image: the tiles are transformed (`V = Bᵀ d B`), multiplied per tile position ξ by the
//! transformed kernel (`M[ξ] = V[ξ] · U[ξ]`, one matrix product per ξ) and transformed back
//! (`y = Aᵀ M A`). The weight gradient is the transpose of the same linear map:
//! `dU[ξ] += V[ξ]ᵀ · (A dy Aᵀ)[ξ]`, `dW = Gᵀ dU G`; the input gradient is this convolution of
//! the output gradient with the flipped kernel.
//!
//! The transform matrices come from the interpolation points 0, 1, −1, 2, −2 and ∞
//! (Toom-Cook); the Lagrange denominators are folded into `G`, so the data transforms have
//! small integer entries.
//!
//! # Layouts (one image)
//! padded input: (hp, wp, C) with hp = 2·tiles_y + 4; V: (tiles, α², C); M and dM:
//! (tiles, α², F); U and dU: (α², C, F); y: (H, W, F).

use super::{flip_kernel, one_slice_per_thread, ConvAlgorithm};
use crate::kernels::gemm::HAS_AVX512;
use crate::kernels::im2col::ConvGeometry;
use crate::kernels::sgemm_avx512::{sgemm, Tables};
use std::arch::x86_64::*;

/// Outputs per tile side.
const TILE: usize = 2;
/// Kernel side.
const R: usize = 5;
/// Input tile side.
const ALPHA: usize = TILE + R - 1;
/// Channels transformed together (one AVX-512 vector).
const LANES: usize = 16;

/// Plan of one Winograd convolution; built only where it applies.
#[derive(Clone, Debug)]
pub struct WinogradConv {
    g: ConvGeometry,
    filters: usize,
    tiles_y: usize,
    tiles_x: usize,
    /// Padded input height and width: whole tiles, with the "same" padding before.
    hp: usize,
    wp: usize,
    /// G (α × r), row-major: the kernel transform.
    gm: Vec<f32>,
    /// Offsets of the tiles (t·α²·C) and of the channels (c) in V, for the matrix kernel.
    tile_offsets: Vec<usize>,
    channel_offsets: Vec<usize>,
}

/// Coefficients (constant term first) of Π (x − p) over `points`.
fn poly_from_roots(points: &[f64]) -> Vec<f64> {
    let mut c = vec![1.0];
    for &p in points {
        let mut next = vec![0.0; c.len() + 1];
        for (i, &v) in c.iter().enumerate() {
            next[i + 1] += v;
            next[i] -= p * v;
        }
        c = next;
    }
    c
}

/// (Bᵀ, Aᵀ, G) of F(2, 5), row-major: interpolation points 0, 1, −1, 2, −2 and ∞.
fn transforms() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (alpha, r) = (ALPHA, R);
    let points = [0.0, 1.0, -1.0, 2.0, -2.0_f64];
    let mut bt = vec![0.0; alpha * alpha];
    let mut at = vec![0.0; TILE * alpha];
    let mut gm = vec![0.0; alpha * r];
    for (i, &p) in points.iter().enumerate() {
        let others: Vec<f64> = points
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, &q)| q)
            .collect();
        // Row i of Bᵀ: the (unnormalized) Lagrange basis polynomial of point i.
        for (n, v) in poly_from_roots(&others).into_iter().enumerate() {
            bt[i * alpha + n] = v as f32;
        }
        let denominator: f64 = others.iter().map(|q| p - q).product();
        for k in 0..r {
            gm[i * r + k] = (p.powi(k as i32) / denominator) as f32;
        }
        for j in 0..TILE {
            at[j * alpha + i] = p.powi(j as i32) as f32;
        }
    }
    // The point at infinity: leading coefficients.
    let last = alpha - 1;
    for (n, v) in poly_from_roots(&points).into_iter().enumerate() {
        bt[last * alpha + n] = v as f32;
    }
    gm[last * r + r - 1] = 1.0;
    at[(TILE - 1) * alpha + last] = 1.0;
    (bt, at, gm)
}

/// `m · x` for a small constant matrix on vectors. Inlined into AVX-512 code with a constant
/// `m`, the loops unroll and zero and ±1 coefficients cost nothing. The 2-D transforms apply it
/// to each row of a tile as it is loaded, then to each column.
#[inline(always)]
unsafe fn mat_vec<const I: usize, const O: usize>(
    m: &[[f32; I]; O],
    x: &[__m512; I],
) -> [__m512; O] {
    let mut out = [_mm512_setzero_ps(); O];
    for (row, o) in m.iter().zip(out.iter_mut()) {
        let mut acc: Option<__m512> = None;
        for (&coef, &v) in row.iter().zip(x) {
            acc = match (coef, acc) {
                (0.0, acc) => acc,
                (1.0, None) => Some(v),
                (1.0, Some(a)) => Some(_mm512_add_ps(a, v)),
                (-1.0, Some(a)) => Some(_mm512_sub_ps(a, v)),
                (_, None) => Some(_mm512_mul_ps(v, _mm512_set1_ps(coef))),
                (_, Some(a)) => Some(_mm512_fmadd_ps(v, _mm512_set1_ps(coef), a)),
            };
        }
        *o = acc.unwrap_or(_mm512_setzero_ps());
    }
    out
}

/// Transposes a small matrix.
const fn transposed<const ROWS: usize, const COLS: usize>(
    m: [[f32; COLS]; ROWS],
) -> [[f32; ROWS]; COLS] {
    let mut t = [[0.0; ROWS]; COLS];
    let mut i = 0;
    while i < ROWS {
        let mut j = 0;
        while j < COLS {
            t[j][i] = m[i][j];
            j += 1;
        }
        i += 1;
    }
    t
}

/// Bᵀ and Aᵀ as constants, so the tile transforms compile to straight-line code; a test checks
/// them against [`transforms`].
const BT5: [[f32; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];
const AT5: [[f32; 6]; TILE] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 1.0],
];

/// A = (Aᵀ)ᵀ, for the output-gradient transform.
const A5: [[f32; TILE]; ALPHA] = transposed(AT5);

impl WinogradConv {
    /// A plan for `g` with `filters` outputs, or `None` where it does not apply (not stride 1
    /// with "same" padding, kernel not 5×5, channels or filters not multiples of 16, no AVX-512, or
    /// `MNISTLAB_NO_WINOGRAD` set).
    pub fn new(g: &ConvGeometry, filters: usize) -> Option<Self> {
        let applies = g.keeps_size()
            && g.k == R
            && g.c.is_multiple_of(LANES)
            && filters.is_multiple_of(LANES)
            && *HAS_AVX512
            && std::env::var_os("MNISTLAB_NO_WINOGRAD").is_none();
        if !applies {
            return None;
        }
        let (tiles_y, tiles_x) = (g.out_h.div_ceil(TILE), g.out_w.div_ceil(TILE));
        let (_, _, gm) = transforms();
        Some(WinogradConv {
            g: *g,
            filters,
            tiles_y,
            tiles_x,
            hp: TILE * tiles_y + g.k - 1,
            wp: TILE * tiles_x + g.k - 1,
            gm,
            tile_offsets: (0..tiles_y * tiles_x)
                .map(|t| t * ALPHA * ALPHA * g.c)
                .collect(),
            channel_offsets: (0..g.c).collect(),
        })
    }

    fn tiles(&self) -> usize {
        self.tiles_y * self.tiles_x
    }

    /// Floats of one padded input image.
    pub fn padded_len(&self) -> usize {
        self.hp * self.wp * self.g.c
    }

    /// Floats of the transformed kernel (and of its gradient): α²·C·F.
    pub fn transformed_len(&self) -> usize {
        ALPHA * ALPHA * self.g.c * self.filters
    }

    /// Floats of the per-image scratch [`Self::forward`] and [`Self::weight_grad`] use.
    pub fn scratch_len(&self) -> usize {
        self.tiles() * ALPHA * ALPHA * (self.g.c + self.filters)
    }

    /// Copies `x` (H, W, C) into `padded` with the "same" padding before and zeros after;
    /// every value of `padded` is written.
    pub fn pad_input(&self, x: &[f32], padded: &mut [f32]) {
        let (h, w, c, wp) = (self.g.h, self.g.w, self.g.c, self.wp);
        let padded = &mut padded[..self.padded_len()];
        padded.fill(0.0);
        for y in 0..h {
            let dst = ((y + self.g.pad_top) * wp + self.g.pad_left) * c;
            padded[dst..dst + w * c].copy_from_slice(&x[y * w * c..(y + 1) * w * c]);
        }
    }

    /// U (α², C, F) = G w Gᵀ for every (c, f) of `weight` (r, r, C, F).
    pub fn transform_weight(&self, weight: &[f32], u: &mut [f32]) {
        // SAFETY: AVX-512F is present (checked in `new`).
        unsafe { self.transform_weight_avx512(weight, u) }
    }

    /// dweight (r, r, C, F) += Gᵀ dU G: the kernel gradient from its transformed gradient.
    pub fn untransform_weight_grad(&self, du: &[f32], dweight: &mut [f32]) {
        // SAFETY: AVX-512F is present (checked in `new`).
        unsafe { self.untransform_weight_grad_avx512(du, dweight) }
    }

    /// [`Self::transform_weight`], its loops vectorized for AVX-512.
    #[target_feature(enable = "avx512f")]
    unsafe fn transform_weight_avx512(&self, weight: &[f32], u: &mut [f32]) {
        let (r, a, cf) = (self.g.k, ALPHA, self.g.c * self.filters);
        let u = &mut u[..a * a * cf];
        u.fill(0.0);
        for (xi, ux) in u.chunks_exact_mut(cf).enumerate() {
            let (i, j) = (xi / a, xi % a);
            for ky in 0..r {
                for kx in 0..r {
                    let coef = self.gm[i * r + ky] * self.gm[j * r + kx];
                    if coef != 0.0 {
                        let w = &weight[(ky * r + kx) * cf..(ky * r + kx + 1) * cf];
                        for (u, w) in ux.iter_mut().zip(w) {
                            *u += coef * w;
                        }
                    }
                }
            }
        }
    }

    /// [`Self::untransform_weight_grad`], its loops vectorized for AVX-512.
    #[target_feature(enable = "avx512f")]
    unsafe fn untransform_weight_grad_avx512(&self, du: &[f32], dweight: &mut [f32]) {
        let (r, a, cf) = (self.g.k, ALPHA, self.g.c * self.filters);
        for ky in 0..r {
            for kx in 0..r {
                let dw = &mut dweight[(ky * r + kx) * cf..(ky * r + kx + 1) * cf];
                for (xi, dux) in du[..a * a * cf].chunks_exact(cf).enumerate() {
                    let (i, j) = (xi / a, xi % a);
                    let coef = self.gm[i * r + ky] * self.gm[j * r + kx];
                    if coef != 0.0 {
                        for (d, u) in dw.iter_mut().zip(dux) {
                            *d += coef * u;
                        }
                    }
                }
            }
        }
    }

    /// y (H·W, F) = conv(padded input, kernel) with `u` the transformed kernel; no bias.
    pub fn forward(&self, padded: &[f32], u: &[f32], scratch: &mut [f32], y: &mut [f32]) {
        let (c, f, aa) = (self.g.c, self.filters, ALPHA * ALPHA);
        assert!(padded.len() >= self.padded_len() && u.len() >= self.transformed_len());
        assert!(scratch.len() >= self.scratch_len() && y.len() >= self.g.h * self.g.w * f);
        let t = self.tiles();
        let (v, m) = scratch.split_at_mut(t * aa * c);
        // SAFETY: AVX-512F is present (checked in `new`).
        unsafe { self.input_transform(padded, v) };
        for xi in 0..aa {
            // SAFETY: A = V[ξ] (tiles × C), B = U[ξ] (C × F), C = M[ξ] (tiles × F), all inside
            // the buffers asserted above.
            unsafe {
                sgemm(
                    (t, c, f),
                    v.as_ptr().add(xi * c),
                    Tables {
                        rows: self.tile_offsets.as_ptr(),
                        cols: self.channel_offsets.as_ptr(),
                    },
                    u.as_ptr().add(xi * c * f),
                    f,
                    m.as_mut_ptr().add(xi * f),
                    aa * f,
                    false,
                )
            }
        }
        // SAFETY: as above.
        unsafe { self.output_transform(m, y) };
    }

    /// du (α², C, F) += the transformed kernel gradient of one image: V\[ξ\]ᵀ · (A dy Aᵀ)\[ξ\].
    pub fn weight_grad(&self, padded: &[f32], dy: &[f32], scratch: &mut [f32], du: &mut [f32]) {
        let (c, f, aa) = (self.g.c, self.filters, ALPHA * ALPHA);
        assert!(padded.len() >= self.padded_len() && du.len() >= self.transformed_len());
        assert!(scratch.len() >= self.scratch_len() && dy.len() >= self.g.h * self.g.w * f);
        let t = self.tiles();
        let (v, dm) = scratch.split_at_mut(t * aa * c);
        // SAFETY: AVX-512F is present (checked in `new`).
        unsafe {
            self.input_transform(padded, v);
            self.output_grad_transform(dy, dm);
        }
        for xi in 0..aa {
            // SAFETY: A = V[ξ]ᵀ (C × tiles), B = dM[ξ] (tiles × F), C = dU[ξ] (C × F), all
            // inside the buffers asserted above.
            unsafe {
                sgemm(
                    (c, t, f),
                    v.as_ptr().add(xi * c),
                    Tables {
                        rows: self.channel_offsets.as_ptr(),
                        cols: self.tile_offsets.as_ptr(),
                    },
                    dm.as_ptr().add(xi * f),
                    aa * f,
                    du.as_mut_ptr().add(xi * c * f),
                    f,
                    true,
                )
            }
        }
    }

    /// V (tiles, α², C) = Bᵀ d B for every tile d of the padded input.
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[target_feature(enable = "avx512f")]
    unsafe fn input_transform(&self, padded: &[f32], v: &mut [f32]) {
        let (c, wp) = (self.g.c, self.wp);
        assert!(padded.len() >= self.padded_len() && v.len() >= self.tiles() * ALPHA * ALPHA * c);
        let (src, dst) = (padded.as_ptr(), v.as_mut_ptr());
        for ty in 0..self.tiles_y {
            for tx in 0..self.tiles_x {
                let t = ty * self.tiles_x + tx;
                for cb in (0..c).step_by(LANES) {
                    // Each row of the tile through Bᵀ as it is loaded, then each column.
                    let mut half = [[_mm512_setzero_ps(); ALPHA]; ALPHA];
                    for (i, h) in half.iter_mut().enumerate() {
                        let row_start = ((TILE * ty + i) * wp + TILE * tx) * c + cb;
                        let mut row = [_mm512_setzero_ps(); ALPHA];
                        for (j, r) in row.iter_mut().enumerate() {
                            // SAFETY: inside the padded image (tiles fit it by construction).
                            *r = _mm512_loadu_ps(src.add(row_start + j * c));
                        }
                        *h = mat_vec(&BT5, &row);
                    }
                    for j in 0..ALPHA {
                        let mut column = [_mm512_setzero_ps(); ALPHA];
                        for (col, h) in column.iter_mut().zip(&half) {
                            *col = h[j];
                        }
                        for (i, out) in mat_vec(&BT5, &column).into_iter().enumerate() {
                            let at = (t * ALPHA * ALPHA + i * ALPHA + j) * c + cb;
                            // SAFETY: t < tiles, cb + 16 ≤ C, as asserted.
                            _mm512_storeu_ps(dst.add(at), out);
                        }
                    }
                }
            }
        }
    }

    /// y = Aᵀ M A for every tile, keeping the outputs inside the image.
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[target_feature(enable = "avx512f")]
    unsafe fn output_transform(&self, m: &[f32], y: &mut [f32]) {
        let (f, (h, w)) = (self.filters, (self.g.out_h, self.g.out_w));
        assert!(m.len() >= self.tiles() * ALPHA * ALPHA * f && y.len() >= h * w * f);
        let (src, dst) = (m.as_ptr(), y.as_mut_ptr());
        for ty in 0..self.tiles_y {
            for tx in 0..self.tiles_x {
                let t = ty * self.tiles_x + tx;
                for fb in (0..f).step_by(LANES) {
                    let mut half = [[_mm512_setzero_ps(); TILE]; ALPHA];
                    for (i, half_row) in half.iter_mut().enumerate() {
                        let mut row = [_mm512_setzero_ps(); ALPHA];
                        for (j, r) in row.iter_mut().enumerate() {
                            let at = (t * ALPHA * ALPHA + i * ALPHA + j) * f + fb;
                            // SAFETY: t < tiles, fb + 16 ≤ F, as asserted.
                            *r = _mm512_loadu_ps(src.add(at));
                        }
                        *half_row = mat_vec(&AT5, &row);
                    }
                    for j in 0..TILE.min(w - TILE * tx) {
                        let mut column = [_mm512_setzero_ps(); ALPHA];
                        for (col, h) in column.iter_mut().zip(&half) {
                            *col = h[j];
                        }
                        let out = mat_vec(&AT5, &column);
                        for (i, &o) in out.iter().enumerate().take(h - TILE * ty) {
                            let at = ((TILE * ty + i) * w + TILE * tx + j) * f + fb;
                            // SAFETY: the pixel is inside the image, as the loop bounds keep it.
                            _mm512_storeu_ps(dst.add(at), o);
                        }
                    }
                }
            }
        }
    }

    /// dM (tiles, α², F) = A dy Aᵀ for every 2×2 block of the output gradient (zero outside).
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[target_feature(enable = "avx512f")]
    unsafe fn output_grad_transform(&self, dy: &[f32], dm: &mut [f32]) {
        let (f, (h, w)) = (self.filters, (self.g.out_h, self.g.out_w));
        assert!(dm.len() >= self.tiles() * ALPHA * ALPHA * f && dy.len() >= h * w * f);
        let (src, dst) = (dy.as_ptr(), dm.as_mut_ptr());
        for ty in 0..self.tiles_y {
            for tx in 0..self.tiles_x {
                let t = ty * self.tiles_x + tx;
                for fb in (0..f).step_by(LANES) {
                    let mut half = [[_mm512_setzero_ps(); ALPHA]; TILE];
                    for (i, half_row) in half.iter_mut().enumerate() {
                        let mut row = [_mm512_setzero_ps(); TILE];
                        for (j, r) in row.iter_mut().enumerate() {
                            let (oy, ox) = (TILE * ty + i, TILE * tx + j);
                            if oy < h && ox < w {
                                // SAFETY: the pixel is inside the image.
                                *r = _mm512_loadu_ps(src.add((oy * w + ox) * f + fb));
                            }
                        }
                        *half_row = mat_vec(&A5, &row);
                    }
                    for (j, (&top, &bottom)) in half[0].iter().zip(&half[1]).enumerate() {
                        let column = [top, bottom];
                        for (i, out) in mat_vec(&A5, &column).into_iter().enumerate() {
                            let at = (t * ALPHA * ALPHA + i * ALPHA + j) * f + fb;
                            // SAFETY: t < tiles, fb + 16 ≤ F, as asserted.
                            _mm512_storeu_ps(dst.add(at), out);
                        }
                    }
                }
            }
        }
    }
}

/// Winograd F(2×2, 5×5) as a [`ConvAlgorithm`]: a plan for the forward pass and one for the
/// input gradient (the output gradient convolved with the flipped kernel, F → C channels), with
/// their transformed kernels. The weight gradient is summed in the transformed domain and
/// transformed back once per batch.
#[derive(Debug)]
pub struct Winograd5x5 {
    forward: WinogradConv,
    input_grad: WinogradConv,
    /// The transformed kernel, refreshed before every forward pass.
    u: Vec<f32>,
    /// The flipped kernel and its transform, refreshed before backward.
    flipped: Vec<f32>,
    u_flipped: Vec<f32>,
}

impl Winograd5x5 {
    /// The algorithm where both plans apply.
    pub fn new(g: &ConvGeometry, filters: usize) -> Option<Self> {
        let forward = WinogradConv::new(g, filters)?;
        let input_grad = WinogradConv::new(&ConvGeometry::same(g.h, g.w, filters, g.k, 1), g.c)?;
        Some(Winograd5x5 {
            u: vec![0.0; forward.transformed_len()],
            flipped: vec![0.0; g.patch_len() * filters],
            u_flipped: vec![0.0; input_grad.transformed_len()],
            forward,
            input_grad,
        })
    }

    /// Floats of one input image, of its padded copy, and of one output image.
    fn image_lens(&self) -> (usize, usize, usize) {
        let g = &self.forward.g;
        let out_len = g.out_h * g.out_w * self.forward.filters;
        (g.h * g.w * g.c, self.forward.padded_len(), out_len)
    }
}

impl ConvAlgorithm for Winograd5x5 {
    fn name(&self) -> &'static str {
        "Winograd F(2×2, 5×5)"
    }
    fn images_per_slice(&self, n: usize) -> usize {
        one_slice_per_thread(n)
    }
    fn saved_len(&self) -> usize {
        self.forward.padded_len()
    }
    /// A padded output-gradient image, then the transforms' scratch.
    fn scratch_len(&self, _images: usize) -> usize {
        let transforms = self
            .forward
            .scratch_len()
            .max(self.input_grad.scratch_len());
        self.input_grad.padded_len() + transforms
    }
    /// The transformed kernel's gradient.
    fn weight_grad_len(&self) -> usize {
        self.forward.transformed_len()
    }
    fn prepare_forward(&mut self, weight: &[f32]) {
        self.forward.transform_weight(weight, &mut self.u);
    }
    fn forward(
        &self,
        x: &[f32],
        _weight: &[f32],
        padded: &mut [f32],
        scratch: &mut [f32],
        y: &mut [f32],
    ) {
        let (in_len, plen, out_len) = self.image_lens();
        let images = y.chunks_mut(out_len).zip(padded.chunks_mut(plen));
        for ((y, padded), x) in images.zip(x.chunks(in_len)) {
            self.forward.pad_input(x, padded);
            self.forward.forward(padded, &self.u, scratch, y);
        }
    }
    fn prepare_input_grad(&mut self, weight: &[f32]) {
        let g = &self.forward.g;
        flip_kernel(weight, &mut self.flipped, (g.k, g.c, self.forward.filters));
        self.input_grad
            .transform_weight(&self.flipped, &mut self.u_flipped);
    }
    fn backward(
        &self,
        _x: &[f32],
        padded: &mut [f32],
        dy: &[f32],
        scratch: &mut [f32],
        du: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
        let (in_len, plen, out_len) = self.image_lens();
        let (padded_dy, scratch) = scratch.split_at_mut(self.input_grad.padded_len());
        for (i, dy) in dy.chunks(out_len).enumerate() {
            self.forward
                .weight_grad(&padded[i * plen..], dy, scratch, du);
            if let Some(dx) = dx.as_deref_mut() {
                self.input_grad.pad_input(dy, padded_dy);
                let dx = &mut dx[i * in_len..(i + 1) * in_len];
                self.input_grad
                    .forward(padded_dy, &self.u_flipped, scratch, dx);
            }
        }
    }
    fn finish_weight_grad(&self, summed: &[f32], dweight: &mut [f32]) {
        self.forward.untransform_weight_grad(summed, dweight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{assert_close, conv_case, kernel_unavailable};

    /// Forward, weight gradient, and input gradient (the flipped kernel through a plan for F → C
    /// channels, as the layer runs it) against im2col + matrix products.
    #[test]
    fn matches_im2col_for_forward_and_gradients() {
        for (h, w, c, k, f) in [
            (14, 14, 16, 5, 32),
            (7, 7, 32, 5, 64),
            (14, 14, 32, 5, 16),
            (5, 6, 16, 5, 16),
            (3, 2, 16, 5, 16),
        ] {
            let g = ConvGeometry::same(h, w, c, k, 1);
            let Some(plan) = WinogradConv::new(&g, f) else {
                return kernel_unavailable("Winograd convolution");
            };
            let patch = g.patch_len();
            let case = conv_case(&g, f);
            let (x, weight, dy) = (&case.x, &case.weight, &case.dy);

            let mut padded = vec![f32::NAN; plan.padded_len()];
            plan.pad_input(x, &mut padded);
            let mut u = vec![0.0; plan.transformed_len()];
            plan.transform_weight(weight, &mut u);
            let mut scratch = vec![f32::NAN; plan.scratch_len()];
            let mut y = vec![f32::NAN; h * w * f];
            plan.forward(&padded, &u, &mut scratch, &mut y);
            let mut du = vec![0.0; plan.transformed_len()];
            plan.weight_grad(&padded, dy, &mut scratch, &mut du);
            let mut dw = vec![0.0; patch * f];
            plan.untransform_weight_grad(&du, &mut dw);

            let input_grad = WinogradConv::new(&ConvGeometry::same(h, w, f, k, 1), c).unwrap();
            let mut flipped = vec![0.0; patch * f];
            flip_kernel(weight, &mut flipped, (k, c, f));
            let mut u_flipped = vec![0.0; input_grad.transformed_len()];
            input_grad.transform_weight(&flipped, &mut u_flipped);
            let mut padded_dy = vec![f32::NAN; input_grad.padded_len()];
            input_grad.pad_input(dy, &mut padded_dy);
            let mut scratch = vec![f32::NAN; input_grad.scratch_len()];
            let mut dx = vec![f32::NAN; h * w * c];
            input_grad.forward(&padded_dy, &u_flipped, &mut scratch, &mut dx);

            let what = |part: &str| format!("{part} {h}x{w}x{c} {f}C{k}");
            assert_close(&y, &case.y, 1e-4, &what("forward"));
            assert_close(&dw, &case.dweight, 1e-4, &what("weight grad"));
            assert_close(&dx, &case.dx, 1e-4, &what("input grad"));
        }
    }

    #[test]
    fn constant_tile_transforms_are_the_interpolation_ones() {
        let (bt, at, _) = transforms();
        assert_eq!(
            (bt.as_slice(), at.as_slice()),
            (BT5.as_flattened(), AT5.as_flattened())
        );
    }

    #[test]
    fn only_stride_one_five_by_five_and_channels_in_sixteens() {
        let plan = |h, c, k, s, f| WinogradConv::new(&ConvGeometry::same(h, h, c, k, s), f);
        assert!(plan(8, 16, 5, 1, 16).is_some() || !*HAS_AVX512);
        assert!(plan(8, 16, 5, 2, 16).is_none());
        assert!(plan(8, 16, 3, 1, 16).is_none());
        assert!(plan(8, 1, 5, 1, 16).is_none());
        assert!(plan(8, 16, 5, 1, 8).is_none());
    }
}
