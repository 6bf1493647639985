//! 2×2 max-pooling with stride 2 on AVX-512: one vector of 16 channels per window position, the
//! maximum and its index chosen by compare masks.

use super::two_by_two::LANES;
use std::arch::x86_64::*;

/// See `two_by_two::max_pool2_forward`.
///
/// # Safety
/// AVX-512F must be available and the sizes as that function asserts.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn forward(
    x: &[f32],
    (h, w, c): (usize, usize, usize),
    y: &mut [f32],
    arg: &mut [u32],
) {
    let (oh, ow) = (h / 2, w / 2);
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for oy in 0..oh {
        for ox in 0..ow {
            let o = (oy * ow + ox) * c;
            let top = (2 * oy * w + 2 * ox) * c;
            let window = [top, top + c, top + w * c, top + (w + 1) * c];
            for ch in (0..c).step_by(LANES) {
                let mut best = _mm512_loadu_ps(x.as_ptr().add(window[0] + ch));
                let mut at = _mm512_add_epi32(_mm512_set1_epi32((window[0] + ch) as i32), lane);
                for &start in &window[1..] {
                    let v = _mm512_loadu_ps(x.as_ptr().add(start + ch));
                    let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
                    best = _mm512_mask_blend_ps(take, best, v);
                    let here = _mm512_add_epi32(_mm512_set1_epi32((start + ch) as i32), lane);
                    at = _mm512_mask_blend_epi32(take, at, here);
                }
                _mm512_storeu_ps(y.as_mut_ptr().add(o + ch), best);
                _mm512_storeu_si512(arg.as_mut_ptr().add(o + ch).cast(), at);
            }
        }
    }
}

/// See `two_by_two::max_pool2_backward`.
///
/// # Safety
/// As [`forward`].
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn backward(
    (arg, dy, y): (&[u32], &[f32], &[f32]),
    (h, w, c): (usize, usize, usize),
    relu_mask: bool,
    dx: &mut [f32],
) {
    let (oh, ow) = (h / 2, w / 2);
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // Rows and columns past the last window get no gradient.
    dx[2 * oh * w * c..h * w * c].fill(0.0);
    for row in 0..2 * oh {
        dx[(row * w + 2 * ow) * c..(row + 1) * w * c].fill(0.0);
    }
    for oy in 0..oh {
        for ox in 0..ow {
            let o = (oy * ow + ox) * c;
            let top = (2 * oy * w + 2 * ox) * c;
            for ch in (0..c).step_by(LANES) {
                let g = _mm512_loadu_ps(dy.as_ptr().add(o + ch));
                let from = _mm512_loadu_si512(arg.as_ptr().add(o + ch).cast());
                let passes = if relu_mask {
                    let yv = _mm512_loadu_ps(y.as_ptr().add(o + ch));
                    _mm512_cmp_ps_mask::<_CMP_GT_OQ>(yv, _mm512_setzero_ps())
                } else {
                    0xFFFF
                };
                for start in [top, top + c, top + w * c, top + (w + 1) * c] {
                    let here = _mm512_add_epi32(_mm512_set1_epi32((start + ch) as i32), lane);
                    let hit = _mm512_mask_cmpeq_epi32_mask(passes, from, here);
                    _mm512_storeu_ps(dx.as_mut_ptr().add(start + ch), _mm512_maskz_mov_ps(hit, g));
                }
            }
        }
    }
}
