//! Winograd convolution for stride-1 convolutions ("same" or "valid") with channel counts in
//! sixteens:
//! F(4×4, 5×5) on 8×8 input tiles for 5×5 kernels (64 multiplies per channel pair and 4×4
//! outputs instead of 400, 6.25× fewer) and F(4×4, 3×3) on 6×6 tiles for 3×3 kernels (36
//! instead of 144, 4× fewer). (F(2×2, 3×3) saves only 2.25× and measured slower than the direct
//! kernel at the tutorial's channel counts.) Per group of images: the tiles are transformed
//! (`V = Bᵀ d B`), multiplied per tile position ξ by the transformed kernel (`M[ξ] = V[ξ] · U[ξ]`,
//! one matrix product per ξ over the group's tiles) and transformed back (`y = Aᵀ M A`). The
//! weight gradient is the transpose of the same linear map: `dU[ξ] += V[ξ]ᵀ · (A dy Aᵀ)[ξ]`,
//! `dW = Gᵀ dU G`; the input gradient is this convolution of the output gradient with the
//! flipped kernel.
//!
//! The transform matrices come from the interpolation points 0, 1, −1, 2, −2 (α = 6), then
//! ½ and −½ (α = 8), and ∞ (Toom-Cook): `Bᵀ` depends only on the points; the Lagrange
//! denominators are folded into `G`, so the data transforms have small entries.
//!
//! Images are taken in groups of at least [`GROUP_TILES`] tiles: a 7×7 image has only 4 tiles
//! of 4×4, and a product per image would have an inner dimension of 4 in the weight gradient.
//!
//! The input transform reads the image itself: a tile's pixels in the padding (or past the
//! last tile's edge) are zeros it puts in registers, so no padded copy of the input (or, for the
//! input gradient, of the output gradient) is written and read back.
//!
//! # Layouts (one image)
//! x: (H, W, C); y: (H, W, F); U and dU: (α², C, F). For a group of T tiles (its images'
//! tiles one after another) V: (α², T, C), M and dM: (α², T, F): each ξ's matrix is contiguous,
//! so the products stream through it (with the tiles as the outer index, each of a product's
//! rows was a cache line of its own, α²·C floats from the next); consecutive ξ's matrices are
//! one cache line further apart than their size ([`xi_stride`]).

use super::{flip_kernel, one_slice_per_thread, ConvAlgorithm, OutputBias};
use crate::kernels::cpu::{isa, on_simd, Isa, Simd};
use crate::kernels::im2col::ConvGeometry;
use crate::kernels::sgemm::{sgemm, Tables};
use crate::kernels::simd::Vector;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Channels and filters come in multiples of this (one AVX-512 vector, two AVX2 ones), and the
/// matrices of V, M and dM are this many floats (a cache line) further apart than their size.
const LANES: usize = 16;
/// Tiles a group of images reaches at least: larger groups read the transformed kernel once for
/// more tiles and give the products longer inner dimensions, until a group's transforms spill
/// out of L2. 32 beat 16 on every layer of the 5×5 and BN+GAP CNNs, and 64 lost again on the
/// 7×7 layers (forward + weight gradient, group sizes interleaved: `cargo bench --bench kernels`).
const GROUP_TILES: usize = 32;
/// The interpolation points besides ∞: the first α − 1 of them for tiles of side α.
const POINTS: [f64; 7] = [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5];

/// Plan of one Winograd convolution with `ALPHA`×`ALPHA` input tiles (α) and `M`×`M` output tiles
/// (kernel side α + 1 − M); built only where it applies.
#[derive(Clone, Debug)]
pub struct WinogradConv<const ALPHA: usize, const M: usize> {
    /// The instruction set of its transforms and matrix kernels.
    simd: Simd,
    g: ConvGeometry,
    filters: usize,
    tiles_y: usize,
    tiles_x: usize,
    /// Images transformed and multiplied together.
    group: usize,
    /// G (α × r), row-major: the kernel transform.
    gm: Vec<f32>,
    /// Offsets of a group's tiles (t·C) and of the channels (c) in V\[ξ\], for the matrix kernel.
    tile_offsets: Vec<usize>,
    channel_offsets: Vec<usize>,
}

/// Floats from one tile position's matrix to the next in V, M or dM, for `tiles` rows of
/// `width`: one cache line more than the matrix. Without it the matrices lie a power of two
/// apart (1–2 KiB on the tutorial's layers), so a transform's α² stores of one tile all fall
/// into the same few L1 sets and evict each other.
fn xi_stride(tiles: usize, width: usize) -> usize {
    tiles * width + LANES
}

/// `dst += coef · src`, vectorized for `simd`; a zero coefficient (the kernel transforms have
/// several) costs nothing.
///
/// # Safety
/// The CPU must have `simd`.
unsafe fn scaled_add(simd: Simd, dst: &mut [f32], coef: f32, src: &[f32]) {
    if coef != 0.0 {
        on_simd!(simd, _V => {
            for (d, s) in dst.iter_mut().zip(src) {
                *d += coef * s;
            }
        })
    }
}

/// G (α × r) of F(m, r) with m + r − 1 = α, row-major: row i is point i's powers over its
/// Lagrange denominator (row α − 1, the point at infinity, picks the last kernel tap).
fn kernel_transform(alpha: usize, r: usize) -> Vec<f32> {
    let points = &POINTS[..alpha - 1];
    let mut gm = vec![0.0; alpha * r];
    for (i, &p) in points.iter().enumerate() {
        let denominator: f64 = (points.iter().enumerate())
            .filter(|&(j, _)| j != i)
            .map(|(_, &q)| p - q)
            .product();
        for k in 0..r {
            gm[i * r + k] = (p.powi(k as i32) / denominator) as f32;
        }
    }
    gm[(alpha - 1) * r + r - 1] = 1.0;
    gm
}

/// `m · x` for a small constant matrix on vectors. Inlined into vector code with a constant
/// `m`, the loops unroll and zero and ±1 coefficients cost nothing. The 2-D transforms apply it
/// to each row of a tile as it is loaded, then to each column.
#[inline(always)]
unsafe fn mat_vec<V: Vector, const I: usize, const O: usize>(
    m: &[[f32; I]; O],
    x: &[V; I],
) -> [V; O] {
    let mut out = [V::zero(); O];
    for (row, o) in m.iter().zip(out.iter_mut()) {
        let mut acc: Option<V> = None;
        for (&coef, &v) in row.iter().zip(x) {
            acc = match (coef, acc) {
                (0.0, acc) => acc,
                (1.0, None) => Some(v),
                (1.0, Some(a)) => Some(a.add(v)),
                (-1.0, Some(a)) => Some(a.sub(v)),
                (_, None) => Some(v.mul(V::splat(coef))),
                (_, Some(a)) => Some(v.mul_add(V::splat(coef), a)),
            };
        }
        *o = acc.unwrap_or(V::zero());
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

/// Bᵀ of tiles of side `ALPHA` as a constant, so the tile transforms compile to straight-line code:
/// row i < α − 1 holds the coefficients (constant term first) of Π (x − p) over the points p but
/// point i (its unnormalized Lagrange basis polynomial), the last row those of Π (x − p) over all
/// of them (the point at infinity).
const fn input_transform_matrix<const ALPHA: usize>() -> [[f32; ALPHA]; ALPHA] {
    let mut bt = [[0.0; ALPHA]; ALPHA];
    let mut i = 0;
    while i < ALPHA {
        let mut coefs = [0.0f64; 8];
        coefs[0] = 1.0;
        let mut degree = 0;
        let mut j = 0;
        while j < ALPHA - 1 {
            if j != i {
                // Multiply by (x − p_j).
                degree += 1;
                let mut n = degree;
                while n > 0 {
                    coefs[n] = coefs[n - 1] - POINTS[j] * coefs[n];
                    n -= 1;
                }
                coefs[0] *= -POINTS[j];
            }
            j += 1;
        }
        let mut n = 0;
        while n < ALPHA {
            bt[i][n] = coefs[n] as f32;
            n += 1;
        }
        i += 1;
    }
    bt
}

/// Aᵀ of M×M output tiles from tiles of side `ALPHA` as a constant (`Aᵀ[j][i]` = point i to the
/// power j, and the point at infinity in the last row only).
const fn output_transform_matrix<const ALPHA: usize, const M: usize>() -> [[f32; ALPHA]; M] {
    let mut at = [[0.0; ALPHA]; M];
    let mut j = 0;
    while j < M {
        let mut i = 0;
        while i < ALPHA - 1 {
            let (mut power, mut e) = (1.0f32, 0);
            while e < j {
                power *= POINTS[i] as f32;
                e += 1;
            }
            at[j][i] = power;
            i += 1;
        }
        j += 1;
    }
    at[M - 1][ALPHA - 1] = 1.0;
    at
}

impl<const ALPHA: usize, const M: usize> WinogradConv<ALPHA, M> {
    /// Kernel side.
    const R: usize = ALPHA + 1 - M;
    /// Bᵀ, for the input transform.
    const BT: [[f32; ALPHA]; ALPHA] = input_transform_matrix::<ALPHA>();
    /// Aᵀ, for the output transform.
    const AT: [[f32; ALPHA]; M] = output_transform_matrix::<ALPHA, M>();
    /// (Aᵀ)ᵀ, for the output-gradient transform.
    const A_MATRIX: [[f32; M]; ALPHA] = transposed(Self::AT);

    /// A plan for `g` with `filters` outputs, or `None` where it does not apply (not stride 1,
    /// padding of K or more, kernel not α + 1 − M, channels or filters not multiples of 16, only
    /// the portable instruction set, or `MNISTLAB_NO_WINOGRAD` set).
    pub fn new(g: &ConvGeometry, filters: usize) -> Option<Self> {
        Self::on(isa().simd()?, g, filters)
    }

    /// [`Self::new`] on the kernels of `simd`, which the CPU must have.
    pub(crate) fn on(simd: Simd, g: &ConvGeometry, filters: usize) -> Option<Self> {
        assert!(Isa::from(simd).on_cpu(), "no {simd:?} on this CPU");
        let applies = g.stride == 1
            && g.pad_top < g.k
            && g.pad_left < g.k
            && g.k == Self::R
            && g.c.is_multiple_of(LANES)
            && filters.is_multiple_of(LANES)
            && std::env::var_os("MNISTLAB_NO_WINOGRAD").is_none();
        if !applies {
            return None;
        }
        let (tiles_y, tiles_x) = (g.out_h.div_ceil(M), g.out_w.div_ceil(M));
        let gm = kernel_transform(ALPHA, Self::R);
        let plan = WinogradConv {
            simd,
            g: *g,
            filters,
            tiles_y,
            tiles_x,
            group: 0,
            gm,
            tile_offsets: Vec::new(),
            channel_offsets: (0..g.c).collect(),
        };
        Some(plan.with_group(GROUP_TILES.div_ceil(tiles_y * tiles_x)))
    }

    /// The plan taking `group` images together.
    fn with_group(self, group: usize) -> Self {
        let tile_offsets = (0..group * self.tiles()).map(|t| t * self.g.c).collect();
        WinogradConv {
            group,
            tile_offsets,
            ..self
        }
    }

    fn tiles(&self) -> usize {
        self.tiles_y * self.tiles_x
    }

    /// Images transformed and multiplied together.
    pub fn group(&self) -> usize {
        self.group
    }

    /// Floats of one input image.
    pub fn in_len(&self) -> usize {
        self.g.h * self.g.w * self.g.c
    }

    /// Floats of one output image.
    fn out_len(&self) -> usize {
        self.g.out_h * self.g.out_w * self.filters
    }

    /// Floats of the transformed kernel (and of its gradient): α²·C·F.
    pub fn transformed_len(&self) -> usize {
        ALPHA * ALPHA * self.g.c * self.filters
    }

    /// Floats of the scratch [`Self::forward`] and [`Self::weight_grad`] use for a group.
    pub fn scratch_len(&self) -> usize {
        let tt = self.group * self.tiles();
        ALPHA * ALPHA * (xi_stride(tt, self.g.c) + xi_stride(tt, self.filters))
    }

    /// U (α², C, F) = G w Gᵀ for every (c, f) of `weight` (r, r, C, F). Separably, a row i of
    /// tile positions at a time (in parallel): `(G w)[i]` over the kernel's rows, then over its
    /// columns — α·r·(r + α) multiply-adds per (c, f) instead of α²·r².
    pub fn transform_weight(&self, weight: &[f32], u: &mut [f32]) {
        let (r, cf) = (Self::R, self.g.c * self.filters);
        let (gm, simd) = (&self.gm, self.simd);
        let u = &mut u[..ALPHA * ALPHA * cf];
        u.par_chunks_mut(ALPHA * cf)
            .enumerate()
            .for_each(|(i, u_row)| {
                let mut gw = vec![0.0; r * cf];
                for (ky, w_row) in weight[..r * r * cf].chunks_exact(r * cf).enumerate() {
                    // SAFETY: the CPU has `simd` (checked in `on`).
                    unsafe { scaled_add(simd, &mut gw, gm[i * r + ky], w_row) };
                }
                for (j, u) in u_row.chunks_exact_mut(cf).enumerate() {
                    u.fill(0.0);
                    for (kx, gw) in gw.chunks_exact(cf).enumerate() {
                        // SAFETY: as above.
                        unsafe { scaled_add(simd, u, gm[j * r + kx], gw) };
                    }
                }
            });
    }

    /// dweight (r, r, C, F) += Gᵀ dU G: the kernel gradient from its transformed gradient.
    /// Separably, a kernel row ky at a time (in parallel): `(Gᵀ dU)[ky]` over the tile rows,
    /// then over the tile columns.
    pub fn untransform_weight_grad(&self, du: &[f32], dweight: &mut [f32]) {
        let (r, cf) = (Self::R, self.g.c * self.filters);
        let (gm, simd) = (&self.gm, self.simd);
        let dweight = &mut dweight[..r * r * cf];
        dweight
            .par_chunks_mut(r * cf)
            .enumerate()
            .for_each(|(ky, dw_row)| {
                let mut gdu = vec![0.0; ALPHA * cf];
                for (i, du_row) in du[..ALPHA * ALPHA * cf]
                    .chunks_exact(ALPHA * cf)
                    .enumerate()
                {
                    // SAFETY: the CPU has `simd` (checked in `on`).
                    unsafe { scaled_add(simd, &mut gdu, gm[i * r + ky], du_row) };
                }
                for (kx, dw) in dw_row.chunks_exact_mut(cf).enumerate() {
                    for (j, gdu) in gdu.chunks_exact(cf).enumerate() {
                        // SAFETY: as above.
                        unsafe { scaled_add(simd, dw, gm[j * r + kx], gdu) };
                    }
                }
            });
    }

    /// y (images × H·W, F) = conv(x, kernel) with `u` the transformed kernel, for up to
    /// [`Self::group`] images of `x`; no bias.
    pub fn forward(&self, images: usize, x: &[f32], u: &[f32], scratch: &mut [f32], y: &mut [f32]) {
        let (c, f, aa, t) = (self.g.c, self.filters, ALPHA * ALPHA, images * self.tiles());
        assert!(images <= self.group && x.len() >= images * self.in_len());
        assert!(u.len() >= self.transformed_len() && scratch.len() >= self.scratch_len());
        assert!(y.len() >= images * self.out_len());
        let (v, m) = scratch.split_at_mut(aa * xi_stride(t, c));
        for i in 0..images {
            // SAFETY: the CPU has `simd` (checked in `on`).
            unsafe { self.input_transform(&x[i * self.in_len()..], v, (i * self.tiles(), t)) };
        }
        for xi in 0..aa {
            // SAFETY: A = V[ξ] (tiles × C), B = U[ξ] (C × F), C = M[ξ] (tiles × F), all inside
            // the buffers asserted above; the tables cover the group's tiles.
            unsafe {
                sgemm(
                    self.simd,
                    (t, c, f),
                    v.as_ptr().add(xi * xi_stride(t, c)),
                    Tables {
                        rows: self.tile_offsets.as_ptr(),
                        cols: self.channel_offsets.as_ptr(),
                    },
                    u.as_ptr().add(xi * c * f),
                    f,
                    m.as_mut_ptr().add(xi * xi_stride(t, f)),
                    f,
                    false,
                )
            }
        }
        for i in 0..images {
            // SAFETY: as above.
            unsafe {
                self.output_transform(m, (i * self.tiles(), t), &mut y[i * self.out_len()..])
            };
        }
    }

    /// du (α², C, F) += the transformed kernel gradient of up to [`Self::group`] images:
    /// V\[ξ\]ᵀ · (A dy Aᵀ)\[ξ\].
    pub fn weight_grad(
        &self,
        images: usize,
        x: &[f32],
        dy: &[f32],
        scratch: &mut [f32],
        du: &mut [f32],
    ) {
        let (c, f, aa, t) = (self.g.c, self.filters, ALPHA * ALPHA, images * self.tiles());
        assert!(images <= self.group && x.len() >= images * self.in_len());
        assert!(du.len() >= self.transformed_len() && scratch.len() >= self.scratch_len());
        assert!(dy.len() >= images * self.out_len());
        let (v, dm) = scratch.split_at_mut(aa * xi_stride(t, c));
        for i in 0..images {
            let tiles = (i * self.tiles(), t);
            // SAFETY: the CPU has `simd` (checked in `on`).
            unsafe {
                self.input_transform(&x[i * self.in_len()..], v, tiles);
                self.output_grad_transform(&dy[i * self.out_len()..], dm, tiles);
            }
        }
        for xi in 0..aa {
            // SAFETY: A = V[ξ]ᵀ (C × tiles), B = dM[ξ] (tiles × F), C = dU[ξ] (C × F), all
            // inside the buffers asserted above; the tables cover the group's tiles.
            unsafe {
                sgemm(
                    self.simd,
                    (c, t, f),
                    v.as_ptr().add(xi * xi_stride(t, c)),
                    Tables {
                        rows: self.channel_offsets.as_ptr(),
                        cols: self.tile_offsets.as_ptr(),
                    },
                    dm.as_ptr().add(xi * xi_stride(t, f)),
                    f,
                    du.as_mut_ptr().add(xi * c * f),
                    f,
                    true,
                )
            }
        }
    }

    /// V (α², T, C) = Bᵀ d B for every tile d of one input image `x` (H, W, C), with zeros
    /// where a tile reaches into the padding; the image's tiles are `first..` of the group's
    /// `T` (`(first, T)` = `tiles`).
    ///
    /// # Safety
    /// The CPU must have the plan's instruction set.
    unsafe fn input_transform(&self, x: &[f32], v: &mut [f32], tiles: (usize, usize)) {
        on_simd!(self.simd, V => self.input_transform_with::<V>(x, v, tiles))
    }

    /// [`Self::input_transform`] on vectors `V`.
    #[inline(always)]
    unsafe fn input_transform_with<V: Vector>(
        &self,
        x: &[f32],
        v: &mut [f32],
        (first, tt): (usize, usize),
    ) {
        let ConvGeometry { h, w, c, .. } = self.g;
        assert!(first + self.tiles() <= tt);
        let xs = xi_stride(tt, c);
        assert!(x.len() >= self.in_len() && v.len() >= ALPHA * ALPHA * xs);
        let (src, dst) = (x.as_ptr(), v.as_mut_ptr());
        for ty in 0..self.tiles_y {
            // Image rows and columns of the tile's first pixel (negative inside the padding).
            let top = (M * ty) as isize - self.g.pad_top as isize;
            for tx in 0..self.tiles_x {
                let left = (M * tx) as isize - self.g.pad_left as isize;
                let inside = |i: usize, j: usize| {
                    let (y, x) = (top + i as isize, left + j as isize);
                    (0..h as isize).contains(&y) && (0..w as isize).contains(&x)
                };
                let whole = inside(0, 0) && inside(ALPHA - 1, ALPHA - 1);
                let t = first + ty * self.tiles_x + tx;
                for cb in (0..c).step_by(V::LANES) {
                    // Each row of the tile through Bᵀ as it is loaded, then each column.
                    let mut half = [const { MaybeUninit::<[V; ALPHA]>::uninit() }; ALPHA];
                    for (i, h) in half.iter_mut().enumerate() {
                        let mut row = [V::zero(); ALPHA];
                        for (j, r) in row.iter_mut().enumerate() {
                            if whole || inside(i, j) {
                                let pixel = (top + i as isize) * w as isize + left + j as isize;
                                // SAFETY: the pixel is inside the image, cb + V::LANES ≤ C.
                                *r = V::load(src.add(pixel as usize * c + cb));
                            }
                        }
                        h.write(mat_vec(&Self::BT, &row));
                    }
                    for j in 0..ALPHA {
                        let mut column = [V::zero(); ALPHA];
                        for (col, h) in column.iter_mut().zip(&half) {
                            // SAFETY: every row of `half` was written above.
                            *col = h.assume_init_ref()[j];
                        }
                        for (i, out) in mat_vec(&Self::BT, &column).into_iter().enumerate() {
                            let at = (i * ALPHA + j) * xs + t * c + cb;
                            // SAFETY: t < T, cb + V::LANES ≤ C, as asserted.
                            out.store(dst.add(at));
                        }
                    }
                }
            }
        }
    }

    /// y = Aᵀ M A for every tile of one image (tiles `first..` of M's `T`, `(first, T)` =
    /// `tiles`), keeping the outputs inside the image.
    ///
    /// # Safety
    /// The CPU must have the plan's instruction set.
    unsafe fn output_transform(&self, m: &[f32], tiles: (usize, usize), y: &mut [f32]) {
        on_simd!(self.simd, V => self.output_transform_with::<V>(m, tiles, y))
    }

    /// [`Self::output_transform`] on vectors `V`.
    #[inline(always)]
    unsafe fn output_transform_with<V: Vector>(
        &self,
        m: &[f32],
        (first, tt): (usize, usize),
        y: &mut [f32],
    ) {
        let (f, (h, w)) = (self.filters, (self.g.out_h, self.g.out_w));
        assert!(first + self.tiles() <= tt);
        let xs = xi_stride(tt, f);
        assert!(m.len() >= ALPHA * ALPHA * xs && y.len() >= h * w * f);
        let (src, dst) = (m.as_ptr(), y.as_mut_ptr());
        for ty in 0..self.tiles_y {
            for tx in 0..self.tiles_x {
                let t = first + ty * self.tiles_x + tx;
                for fb in (0..f).step_by(V::LANES) {
                    let mut half = [const { MaybeUninit::<[V; M]>::uninit() }; ALPHA];
                    for (i, half_row) in half.iter_mut().enumerate() {
                        let mut row = [V::zero(); ALPHA];
                        for (j, r) in row.iter_mut().enumerate() {
                            let at = (i * ALPHA + j) * xs + t * f + fb;
                            // SAFETY: t < T, fb + V::LANES ≤ F, as asserted.
                            *r = V::load(src.add(at));
                        }
                        half_row.write(mat_vec(&Self::AT, &row));
                    }
                    for j in 0..M.min(w - M * tx) {
                        let mut column = [V::zero(); ALPHA];
                        for (col, h) in column.iter_mut().zip(&half) {
                            // SAFETY: every row of `half` was written above.
                            *col = h.assume_init_ref()[j];
                        }
                        let out = mat_vec(&Self::AT, &column);
                        for (i, &o) in out.iter().enumerate().take(h - M * ty) {
                            let at = ((M * ty + i) * w + M * tx + j) * f + fb;
                            // SAFETY: the pixel is inside the image, as the loop bounds keep it.
                            o.store(dst.add(at));
                        }
                    }
                }
            }
        }
    }

    /// dM (α², T, F) = A dy Aᵀ for every M×M block of one image's output gradient (zero
    /// outside), into tiles `first..` of the group's `T` (`(first, T)` = `tiles`).
    ///
    /// # Safety
    /// The CPU must have the plan's instruction set.
    unsafe fn output_grad_transform(&self, dy: &[f32], dm: &mut [f32], tiles: (usize, usize)) {
        on_simd!(self.simd, V => self.output_grad_transform_with::<V>(dy, dm, tiles))
    }

    /// [`Self::output_grad_transform`] on vectors `V`.
    #[inline(always)]
    unsafe fn output_grad_transform_with<V: Vector>(
        &self,
        dy: &[f32],
        dm: &mut [f32],
        (first, tt): (usize, usize),
    ) {
        let (f, (h, w)) = (self.filters, (self.g.out_h, self.g.out_w));
        assert!(first + self.tiles() <= tt);
        let xs = xi_stride(tt, f);
        assert!(dm.len() >= ALPHA * ALPHA * xs && dy.len() >= h * w * f);
        let (src, dst) = (dy.as_ptr(), dm.as_mut_ptr());
        for ty in 0..self.tiles_y {
            for tx in 0..self.tiles_x {
                let t = first + ty * self.tiles_x + tx;
                for fb in (0..f).step_by(V::LANES) {
                    let mut half = [const { MaybeUninit::<[V; ALPHA]>::uninit() }; M];
                    for (i, half_row) in half.iter_mut().enumerate() {
                        let mut row = [V::zero(); M];
                        for (j, r) in row.iter_mut().enumerate() {
                            let (oy, ox) = (M * ty + i, M * tx + j);
                            if oy < h && ox < w {
                                // SAFETY: the pixel is inside the image.
                                *r = V::load(src.add((oy * w + ox) * f + fb));
                            }
                        }
                        half_row.write(mat_vec(&Self::A_MATRIX, &row));
                    }
                    for j in 0..ALPHA {
                        let mut column = [V::zero(); M];
                        for (col, h) in column.iter_mut().zip(&half) {
                            // SAFETY: every row of `half` was written above.
                            *col = h.assume_init_ref()[j];
                        }
                        for (i, out) in mat_vec(&Self::A_MATRIX, &column).into_iter().enumerate() {
                            let at = (i * ALPHA + j) * xs + t * f + fb;
                            // SAFETY: t < T, fb + V::LANES ≤ F, as asserted.
                            out.store(dst.add(at));
                        }
                    }
                }
            }
        }
    }
}

/// Winograd convolution as a [`ConvAlgorithm`]: a plan for the forward pass and one for the
/// input gradient (the output gradient convolved with the flipped kernel, F → C channels), with
/// their transformed kernels. The weight gradient is summed in the transformed domain and
/// transformed back once per batch.
#[derive(Debug)]
pub struct Winograd<const ALPHA: usize, const M: usize> {
    forward: WinogradConv<ALPHA, M>,
    input_grad: WinogradConv<ALPHA, M>,
    /// The transformed kernel, refreshed before every forward pass.
    u: Vec<f32>,
    /// The flipped kernel and its transform, refreshed before backward.
    flipped: Vec<f32>,
    u_flipped: Vec<f32>,
}

impl<const ALPHA: usize, const M: usize> Winograd<ALPHA, M> {
    /// The algorithm where both plans apply.
    pub fn new(g: &ConvGeometry, filters: usize) -> Option<Self> {
        Self::on(isa().simd()?, g, filters)
    }

    /// [`Self::new`] on the kernels of `simd`, which the CPU must have.
    pub(crate) fn on(simd: Simd, g: &ConvGeometry, filters: usize) -> Option<Self> {
        let (forward, input_grad) = (
            WinogradConv::on(simd, g, filters)?,
            WinogradConv::on(simd, &g.input_grad(filters), g.c)?,
        );
        // Backward takes the forward's groups through both plans; their tile counts differ
        // where the padding is not "same" (a "valid" layer's input gradient has more tiles).
        let group = forward.group().max(input_grad.group());
        let (forward, input_grad) = (forward.with_group(group), input_grad.with_group(group));
        Some(Winograd {
            u: vec![0.0; forward.transformed_len()],
            flipped: vec![0.0; g.patch_len() * filters],
            u_flipped: vec![0.0; input_grad.transformed_len()],
            forward,
            input_grad,
        })
    }

    /// Floats of one input image and of one output image.
    fn image_lens(&self) -> (usize, usize) {
        (self.forward.in_len(), self.forward.out_len())
    }
}

impl<const ALPHA: usize, const M: usize> ConvAlgorithm for Winograd<ALPHA, M> {
    fn name(&self) -> &'static str {
        match ALPHA {
            6 => "Winograd F(4×4, 3×3)",
            _ => "Winograd F(4×4, 5×5)",
        }
    }
    fn images_per_slice(&self, n: usize) -> usize {
        one_slice_per_thread(n)
    }
    /// Nothing: backward transforms the input again.
    fn saved_len(&self) -> usize {
        0
    }
    /// The transforms of a group.
    fn scratch_len(&self, _images: usize) -> usize {
        self.forward
            .scratch_len()
            .max(self.input_grad.scratch_len())
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
        out: OutputBias<'_>,
        _saved: &mut [f32],
        scratch: &mut [f32],
        y: &mut [f32],
    ) {
        let (in_len, out_len) = self.image_lens();
        let group = self.forward.group();
        for (y, x) in y.chunks_mut(group * out_len).zip(x.chunks(group * in_len)) {
            let images = y.len() / out_len;
            self.forward.forward(images, x, &self.u, scratch, y);
            out.apply(y);
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
        x: &[f32],
        _saved: &mut [f32],
        dy: &[f32],
        scratch: &mut [f32],
        du: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
        let (in_len, out_len) = self.image_lens();
        let group = self.forward.group();
        for (g, dy) in dy.chunks(group * out_len).enumerate() {
            let images = dy.len() / out_len;
            let first = g * group;
            self.forward
                .weight_grad(images, &x[first * in_len..], dy, scratch, du);
            if let Some(dx) = dx.as_deref_mut() {
                let dx = &mut dx[first * in_len..(first + images) * in_len];
                self.input_grad
                    .forward(images, dy, &self.u_flipped, scratch, dx);
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
    use crate::kernels::cpu::each_simd;
    use crate::kernels::reference::{assert_close, conv_case, convolution, filled, ConvCase};
    use crate::kernels::Padding;

    /// Forward, weight gradient, and input gradient (the flipped kernel through a plan for F → C
    /// channels, as the layer runs it) against im2col + matrix products, for one image and for a
    /// group of two.
    fn matches_im2col<const ALPHA: usize, const M: usize>(
        simd: Simd,
        (h, w, c, f, padding): (usize, usize, usize, usize, Padding),
    ) {
        let k = ALPHA + 1 - M;
        let g = ConvGeometry::new((h, w, c), k, 1, padding).unwrap();
        let plan = WinogradConv::<ALPHA, M>::on(simd, &g, f).unwrap();
        let input_grad = WinogradConv::<ALPHA, M>::on(simd, &g.input_grad(f), c).unwrap();
        let (in_len, out_len) = (h * w * c, g.out_h * g.out_w * f);
        // A second image with other values, so that mixing up the images shows.
        let first = conv_case(&g, f);
        let (x, dy) = (filled(in_len, 0.45), filled(out_len, 1.9));
        let (y, dweight, dx) = convolution(&g, f, (&x, &first.weight, &dy));
        let weight = first.weight.clone();
        let second = ConvCase {
            x,
            weight,
            dy,
            y,
            dweight,
            dx,
        };
        let images = plan.group().min(2);
        let cases = &[first, second][..images];

        let (mut x, mut dy, mut want_dw) = (Vec::new(), Vec::new(), vec![0.0; g.patch_len() * f]);
        for case in cases {
            x.extend_from_slice(&case.x);
            dy.extend_from_slice(&case.dy);
            want_dw
                .iter_mut()
                .zip(&case.dweight)
                .for_each(|(a, b)| *a += b);
        }
        let mut u = vec![0.0; plan.transformed_len()];
        plan.transform_weight(&cases[0].weight, &mut u);
        let mut scratch = vec![f32::NAN; plan.scratch_len().max(input_grad.scratch_len())];
        let mut y = vec![f32::NAN; images * out_len];
        plan.forward(images, &x, &u, &mut scratch, &mut y);
        let mut du = vec![0.0; plan.transformed_len()];
        plan.weight_grad(images, &x, &dy, &mut scratch, &mut du);
        let mut dw = vec![0.0; g.patch_len() * f];
        plan.untransform_weight_grad(&du, &mut dw);

        let mut flipped = vec![0.0; g.patch_len() * f];
        flip_kernel(&cases[0].weight, &mut flipped, (k, c, f));
        let mut u_flipped = vec![0.0; input_grad.transformed_len()];
        input_grad.transform_weight(&flipped, &mut u_flipped);
        let mut dx = vec![f32::NAN; images * in_len];
        input_grad.forward(images, &dy, &u_flipped, &mut scratch, &mut dx);

        let what = |part: &str| format!("{simd:?} {part} {h}x{w}x{c} {f}C{k} {padding:?}");
        for (i, case) in cases.iter().enumerate() {
            let (ys, xs) = (i * out_len..(i + 1) * out_len, i * in_len..(i + 1) * in_len);
            assert_close(&y[ys], &case.y, 1e-4, &what("forward"));
            assert_close(&dx[xs], &case.dx, 1e-4, &what("input grad"));
        }
        assert_close(&dw, &want_dw, 1e-4, &what("weight grad"));
    }

    #[test]
    fn five_by_five_and_three_by_three_match_im2col_for_forward_and_gradients() {
        use Padding::{Same, Valid};
        let cases = [
            (5, (14, 14, 16, 32, Same)),
            (5, (7, 7, 32, 64, Same)),
            (5, (14, 14, 32, 16, Same)),
            (5, (7, 7, 64, 32, Same)),
            (5, (5, 6, 16, 16, Same)),
            (5, (3, 2, 16, 16, Same)),
            (5, (12, 12, 16, 32, Valid)),
            (5, (9, 7, 16, 16, Valid)),
            (5, (5, 5, 32, 16, Valid)),
            (3, (28, 28, 16, 16, Same)),
            (3, (14, 14, 16, 32, Same)),
            (3, (7, 7, 64, 64, Same)),
            (3, (5, 6, 16, 16, Same)),
            (3, (3, 2, 32, 16, Same)),
            (3, (26, 26, 32, 32, Valid)),
            (3, (10, 10, 64, 64, Valid)),
            (3, (7, 4, 16, 16, Valid)),
        ];
        for simd in each_simd("Winograd convolution") {
            for (k, case) in cases {
                match k {
                    5 => matches_im2col::<8, 4>(simd, case),
                    _ => matches_im2col::<6, 4>(simd, case),
                }
            }
        }
    }

    /// Aᵀ [(G g) ⊙ (Bᵀ d)] is the correlation of d (α values) with g (r taps), in one dimension,
    /// for every tile shape: the constant matrices and G agree with each other.
    fn transforms_correlate<const ALPHA: usize, const M: usize>() {
        let r = ALPHA + 1 - M;
        let g = kernel_transform(ALPHA, r);
        let (bt, at) = (WinogradConv::<ALPHA, M>::BT, WinogradConv::<ALPHA, M>::AT);
        let d: Vec<f32> = (0..ALPHA)
            .map(|i| 0.3 + 0.17 * i as f32 - 0.02 * (i * i) as f32)
            .collect();
        let taps: Vec<f32> = (0..r).map(|k| 0.5 - 0.21 * k as f32).collect();
        let product: Vec<f32> = (0..ALPHA)
            .map(|i| {
                let gi: f32 = (0..r).map(|k| g[i * r + k] * taps[k]).sum();
                let di: f32 = (0..ALPHA).map(|n| bt[i][n] * d[n]).sum();
                gi * di
            })
            .collect();
        for (j, row) in at.iter().enumerate() {
            let got: f32 = row.iter().zip(&product).map(|(a, p)| a * p).sum();
            let want: f32 = (0..r).map(|k| d[j + k] * taps[k]).sum();
            assert!(
                (got - want).abs() < 1e-5,
                "F({M}, {r}) output {j}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn tile_transforms_compute_a_correlation() {
        transforms_correlate::<6, 4>();
        transforms_correlate::<8, 4>();
    }

    #[test]
    fn only_stride_one_kernels_of_the_tile_and_channels_in_sixteens() {
        for simd in each_simd("Winograd convolution") {
            let plan5 = |h, c, k, s, f| {
                WinogradConv::<8, 4>::on(simd, &ConvGeometry::same(h, h, c, k, s), f)
            };
            assert!(plan5(8, 16, 5, 1, 16).is_some());
            assert!(plan5(8, 16, 5, 2, 16).is_none());
            assert!(plan5(8, 16, 3, 1, 16).is_none());
            assert!(plan5(8, 1, 5, 1, 16).is_none());
            assert!(plan5(8, 16, 5, 1, 8).is_none());
            let plan3 = |h, c, k, s, f| {
                WinogradConv::<6, 4>::on(simd, &ConvGeometry::same(h, h, c, k, s), f)
            };
            assert!(plan3(8, 16, 3, 1, 16).is_some());
            assert!(plan3(8, 16, 3, 2, 16).is_none());
            assert!(plan3(8, 16, 5, 1, 16).is_none());
            assert!(plan3(8, 1, 3, 1, 16).is_none());
            // "Valid" padding too, but not padding as wide as the kernel (no input-gradient
            // plan).
            let valid = ConvGeometry::new((12, 12, 16), 5, 1, Padding::Valid).unwrap();
            assert!(WinogradConv::<8, 4>::on(simd, &valid, 16).is_some());
            let wide = ConvGeometry {
                pad_top: 5,
                out_h: 13,
                ..valid
            };
            assert!(WinogradConv::<8, 4>::on(simd, &wide, 16).is_none());
        }
    }

    #[test]
    fn groups_reach_the_tile_target() {
        for simd in each_simd("Winograd convolution") {
            let plan = |h, k| {
                let g = ConvGeometry::same(h, h, 16, k, 1);
                (
                    WinogradConv::<6, 4>::on(simd, &g, 16).map(|p| p.group()),
                    WinogradConv::<8, 4>::on(simd, &g, 16).map(|p| p.group()),
                )
            };
            // 7×7 outputs: 4 tiles of 4×4, so 8 images make 32 tiles, whatever the kernel.
            assert_eq!(plan(7, 3).0, Some(8));
            assert_eq!(plan(7, 5).1, Some(8));
            // 28×28: 49 tiles; 14×14: 16, so two images; 3×3: one tile, so 32 images.
            assert_eq!(plan(28, 3).0, Some(1));
            assert_eq!(plan(14, 5).1, Some(2));
            assert_eq!(plan(3, 5).1, Some(32));
        }
    }
}
