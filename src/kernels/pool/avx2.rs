//! 2×2 max-pooling with stride 2 on AVX2: two vectors of 8 channels per window position, the
//! maximum and its index chosen by compare results used as blend masks.

use std::arch::x86_64::*;

/// `f32` lanes per vector.
const LANES: usize = 8;

/// See `two_by_two::max_pool2_forward`.
///
/// # Safety
/// AVX2 must be available and the sizes as that function asserts.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn forward(
    x: &[f32],
    (h, w, c): (usize, usize, usize),
    y: &mut [f32],
    arg: &mut [u32],
) {
    let (oh, ow) = (h / 2, w / 2);
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for oy in 0..oh {
        for ox in 0..ow {
            let o = (oy * ow + ox) * c;
            let top = (2 * oy * w + 2 * ox) * c;
            let window = [top, top + c, top + w * c, top + (w + 1) * c];
            for ch in (0..c).step_by(LANES) {
                let mut best = _mm256_loadu_ps(x.as_ptr().add(window[0] + ch));
                let mut at = _mm256_add_epi32(_mm256_set1_epi32((window[0] + ch) as i32), lane);
                for &start in &window[1..] {
                    let v = _mm256_loadu_ps(x.as_ptr().add(start + ch));
                    // All ones where v is greater (never for NaN), as the AVX-512 mask.
                    let take = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
                    best = _mm256_blendv_ps(best, v, take);
                    let here = _mm256_add_epi32(_mm256_set1_epi32((start + ch) as i32), lane);
                    at = _mm256_castps_si256(_mm256_blendv_ps(
                        _mm256_castsi256_ps(at),
                        _mm256_castsi256_ps(here),
                        take,
                    ));
                }
                _mm256_storeu_ps(y.as_mut_ptr().add(o + ch), best);
                _mm256_storeu_si256(arg.as_mut_ptr().add(o + ch).cast(), at);
            }
        }
    }
}

/// See `two_by_two::max_pool2_backward`.
///
/// # Safety
/// As [`forward`].
#[target_feature(enable = "avx2")]
pub(super) unsafe fn backward(
    (arg, dy, y): (&[u32], &[f32], &[f32]),
    (h, w, c): (usize, usize, usize),
    relu_mask: bool,
    dx: &mut [f32],
) {
    let (oh, ow) = (h / 2, w / 2);
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
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
                let g = _mm256_loadu_ps(dy.as_ptr().add(o + ch));
                let from = _mm256_loadu_si256(arg.as_ptr().add(o + ch).cast());
                let passes = if relu_mask {
                    let yv = _mm256_loadu_ps(y.as_ptr().add(o + ch));
                    _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(yv, _mm256_setzero_ps()))
                } else {
                    _mm256_set1_epi32(-1)
                };
                for start in [top, top + c, top + w * c, top + (w + 1) * c] {
                    let here = _mm256_add_epi32(_mm256_set1_epi32((start + ch) as i32), lane);
                    let hit = _mm256_and_si256(passes, _mm256_cmpeq_epi32(from, here));
                    let value = _mm256_and_ps(g, _mm256_castsi256_ps(hit));
                    _mm256_storeu_ps(dx.as_mut_ptr().add(start + ch), value);
                }
            }
        }
    }
}
