//! 2×2 max-pooling with stride 2 over NHWC images whose channels come in sixteens, on the vector
//! kernels (`avx512`, `avx2`): one vector of channels per window position. The generic pooling
//! loop spends most of its time on bookkeeping per window at these sizes; this is the tutorial's
//! pooling layer.

use super::{avx2, avx512};
use crate::kernels::cpu::{isa, Simd};

/// Channels must come in multiples of this (one AVX-512 vector, two AVX2 ones).
pub(super) const LANES: usize = 16;

/// The vector kernel that runs here for `c` channels, if any.
pub(super) fn max_pool2_kernel(c: usize) -> Option<Simd> {
    isa().simd().filter(|_| c.is_multiple_of(LANES))
}

/// One image `x` (h, w, c) → `y` (h/2, w/2, c), and for each output the index in `x` of the
/// first maximum of its window (windows read row by row; NaN never replaces a maximum), on the
/// kernel of `simd`, which the CPU must have.
pub(super) fn max_pool2_forward(
    simd: Simd,
    x: &[f32],
    (h, w, c): (usize, usize, usize),
    y: &mut [f32],
    arg: &mut [u32],
) {
    let (oh, ow) = (h / 2, w / 2);
    assert!(crate::kernels::Isa::from(simd).on_cpu() && c.is_multiple_of(LANES));
    assert!(x.len() >= h * w * c);
    assert!(y.len() >= oh * ow * c && arg.len() >= oh * ow * c && h * w * c <= u32::MAX as usize);
    // SAFETY: the CPU has `simd` (asserted); every index stays below the asserted sizes.
    unsafe {
        match simd {
            Simd::Avx512 => avx512::forward(x, (h, w, c), y, arg),
            Simd::Avx2Fma => avx2::forward(x, (h, w, c), y, arg),
        }
    }
}

/// The input gradient of one image: `dy` of each output goes to the input its maximum came from
/// (only where `y > 0` with `relu_mask`, the ReLU before having been folded in); every other
/// value of `dx` (h, w, c) is written zero.
pub(super) fn max_pool2_backward(
    simd: Simd,
    (arg, dy, y): (&[u32], &[f32], &[f32]),
    (h, w, c): (usize, usize, usize),
    relu_mask: bool,
    dx: &mut [f32],
) {
    let outputs = (h / 2) * (w / 2) * c;
    assert!(crate::kernels::Isa::from(simd).on_cpu() && c.is_multiple_of(LANES));
    assert!(dx.len() >= h * w * c);
    assert!(arg.len() >= outputs && dy.len() >= outputs && y.len() >= outputs);
    let outs = (arg, dy, y);
    // SAFETY: as in `max_pool2_forward`.
    unsafe {
        match simd {
            Simd::Avx512 => avx512::backward(outs, (h, w, c), relu_mask, dx),
            Simd::Avx2Fma => avx2::backward(outs, (h, w, c), relu_mask, dx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu::each_simd;
    use crate::kernels::pool::tests::{check_against_definition, TWO_BY_TWO_CASES};

    #[test]
    fn matches_the_definition_with_ties_odd_sizes_and_the_relu_mask() {
        for simd in each_simd("2×2 max-pooling") {
            for (h, w, c) in TWO_BY_TWO_CASES {
                check_against_definition(
                    (h, w, c),
                    2,
                    2,
                    |x, y, arg| max_pool2_forward(simd, x, (h, w, c), y, arg),
                    |outs, relu_mask, dx| max_pool2_backward(simd, outs, (h, w, c), relu_mask, dx),
                );
            }
        }
    }
}
