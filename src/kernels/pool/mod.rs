//! Max-pooling of one NHWC image with "valid" windows: the output, and for each output the index
//! in the input of its window's first maximum, which backward routes the gradient to. 2×2
//! windows with stride 2 on channels in sixteens (the tutorial's pooling) run the AVX-512 or
//! AVX2 kernel where the CPU has one; everything else the portable loop, which the compiler
//! vectorizes over sixteen channels at a time.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod two_by_two;

#[cfg(target_arch = "x86_64")]
use two_by_two::{max_pool2_backward, max_pool2_forward, max_pool2_kernel as two_by_two_kernel};

/// Channels handled together by the portable loop.
const LANES: usize = 16;

/// The sizes of one max-pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Input height, width, channels.
    pub input: (usize, usize, usize),
    /// Window side.
    pub pool: usize,
    /// Step between windows.
    pub stride: usize,
    /// Output height and width: `(side − pool) / stride + 1`.
    pub out: (usize, usize),
}

impl PoolGeometry {
    /// The geometry, or `None` when a side or the window is zero or the window does not fit.
    pub fn valid(input: (usize, usize, usize), pool: usize, stride: usize) -> Option<Self> {
        let (h, w, _) = input;
        if pool == 0 || stride == 0 || pool > h || pool > w {
            return None;
        }
        let out = ((h - pool) / stride + 1, (w - pool) / stride + 1);
        Some(PoolGeometry {
            input,
            pool,
            stride,
            out,
        })
    }

    /// The vector 2×2 kernel that runs it here, if any.
    #[cfg(target_arch = "x86_64")]
    fn vector_kernel(&self) -> Option<crate::kernels::cpu::Simd> {
        let two_by_two = self.pool == 2 && self.stride == 2;
        two_by_two_kernel(self.input.2).filter(|_| two_by_two)
    }
}

/// One image `x` → `y` and, per output, the input index of its window's first maximum (windows
/// read row by row; NaN never replaces a maximum).
pub fn max_pool_forward(x: &[f32], g: &PoolGeometry, y: &mut [f32], arg: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = g.vector_kernel() {
        return max_pool2_forward(simd, x, g.input, y, arg);
    }
    let ((h, w, c), (out_h, out_w), pool) = (g.input, g.out, g.pool);
    assert!(x.len() >= h * w * c && h * w * c <= u32::MAX as usize);
    assert!(y.len() >= out_h * out_w * c && arg.len() >= out_h * out_w * c);
    let mut window = Vec::with_capacity(pool * pool);
    for oy in 0..out_h {
        for ox in 0..out_w {
            let o = (oy * out_w + ox) * c;
            window.clear();
            for py in 0..pool {
                let row = (oy * g.stride + py) * w + ox * g.stride;
                window.extend((row..row + pool).map(|i| i * c));
            }
            for ch in (0..c).step_by(LANES) {
                let len = LANES.min(c - ch);
                let (best, at) = window_max(x, &window, ch, len);
                y[o + ch..o + ch + len].copy_from_slice(&best[..len]);
                arg[o + ch..o + ch + len].copy_from_slice(&at[..len]);
            }
        }
    }
}

/// The input gradient of one image: `dy` of each output goes to the input its maximum came from
/// (only where `y > 0` with `relu_mask`, a ReLU before having been folded in); every other
/// value of `dx` is written zero.
pub fn max_pool_backward(
    (arg, dy, y): (&[u32], &[f32], &[f32]),
    g: &PoolGeometry,
    relu_mask: bool,
    dx: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = g.vector_kernel() {
        return max_pool2_backward(simd, (arg, dy, y), g.input, relu_mask, dx);
    }
    let ((h, w, c), (out_h, out_w)) = (g.input, g.out);
    let outputs = out_h * out_w * c;
    dx[..h * w * c].fill(0.0);
    for ((&i, g), y) in arg[..outputs].iter().zip(dy).zip(y) {
        if !relu_mask || *y > 0.0 {
            dx[i as usize] += g;
        }
    }
}

/// Maximum and its index over the window positions `window` (offsets into `x`), for channels
/// `ch..ch + len` (`len ≤ LANES`; lanes past `len` are left at −∞). Fixed-size arrays and a
/// branch-free select let the compiler vectorize it.
#[inline(always)]
fn window_max(x: &[f32], window: &[usize], ch: usize, len: usize) -> ([f32; LANES], [u32; LANES]) {
    let load = |start: usize| -> [f32; LANES] {
        match x[start..].first_chunk::<LANES>() {
            Some(full) if len == LANES => *full,
            _ => {
                let mut v = [f32::NEG_INFINITY; LANES];
                v[..len].copy_from_slice(&x[start..start + len]);
                v
            }
        }
    };
    let first = window[0] + ch;
    let mut best = load(first);
    let mut at: [u32; LANES] = std::array::from_fn(|lane| (first + lane) as u32);
    for &offset in &window[1..] {
        let i = offset + ch;
        let v = load(i);
        for lane in 0..LANES {
            let take = v[lane] > best[lane];
            best[lane] = if take { v[lane] } else { best[lane] };
            at[lane] = if take { (i + lane) as u32 } else { at[lane] };
        }
    }
    (best, at)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Shapes the 2×2 kernels are checked on: odd sides, several vectors of channels.
    pub const TWO_BY_TWO_CASES: [(usize, usize, usize); 3] = [(4, 4, 16), (7, 5, 32), (28, 28, 16)];

    /// Pooling as the definition says, one value at a time.
    fn definition(x: &[f32], g: &PoolGeometry) -> (Vec<f32>, Vec<u32>) {
        let ((_, w, c), (oh, ow)) = (g.input, g.out);
        let (mut y, mut arg) = (vec![0.0; oh * ow * c], vec![0; oh * ow * c]);
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let o = (oy * ow + ox) * c + ch;
                    for py in 0..g.pool {
                        for px in 0..g.pool {
                            let (iy, ix) = (oy * g.stride + py, ox * g.stride + px);
                            let i = (iy * w + ix) * c + ch;
                            if (py, px) == (0, 0) || x[i] > y[o] {
                                (y[o], arg[o]) = (x[i], i as u32);
                            }
                        }
                    }
                }
            }
        }
        (y, arg)
    }

    /// Runs `forward` and `backward` (with and without the ReLU mask) on coarse values with many
    /// ties and zeros, as after a ReLU, and compares them with the definition.
    pub fn check_against_definition(
        input: (usize, usize, usize),
        pool: usize,
        stride: usize,
        forward: impl Fn(&[f32], &mut [f32], &mut [u32]),
        backward: impl Fn((&[u32], &[f32], &[f32]), bool, &mut [f32]),
    ) {
        let g = PoolGeometry::valid(input, pool, stride).expect("window fits");
        let len = input.0 * input.1 * input.2;
        let x: Vec<f32> = (0..len)
            .map(|i| (((i * 37) % 7) as f32 - 3.0).max(0.0))
            .collect();
        let (want_y, want_arg) = definition(&x, &g);
        let outputs = want_y.len();
        let (mut y, mut arg) = (vec![f32::NAN; outputs], vec![u32::MAX; outputs]);
        forward(&x, &mut y, &mut arg);
        assert_eq!((&y, &arg), (&want_y, &want_arg), "{g:?}");

        let dy: Vec<f32> = (0..outputs).map(|i| i as f32 + 0.5).collect();
        for relu_mask in [false, true] {
            let mut want_dx = vec![0.0; len];
            for o in 0..outputs {
                if !relu_mask || y[o] > 0.0 {
                    want_dx[arg[o] as usize] += dy[o];
                }
            }
            let mut dx = vec![f32::NAN; len];
            backward((&arg, &dy, &y), relu_mask, &mut dx);
            assert_eq!(dx, want_dx, "{g:?} mask {relu_mask}");
        }
    }

    #[test]
    fn the_chosen_kernel_matches_the_definition_for_every_window() {
        let cases = TWO_BY_TWO_CASES.map(|input| (input, 2, 2));
        let more = [((5, 7, 3), 3, 2), ((6, 6, 20), 2, 1), ((4, 4, 1), 4, 4)];
        for (input, pool, stride) in cases.into_iter().chain(more) {
            let g = PoolGeometry::valid(input, pool, stride).expect("window fits");
            check_against_definition(
                input,
                pool,
                stride,
                |x, y, arg| max_pool_forward(x, &g, y, arg),
                |outs, relu_mask, dx| max_pool_backward(outs, &g, relu_mask, dx),
            );
        }
    }

    #[test]
    fn oversized_or_empty_windows_have_no_geometry() {
        assert_eq!(PoolGeometry::valid((7, 7, 64), 2, 2).unwrap().out, (3, 3));
        assert!(PoolGeometry::valid((1, 1, 4), 2, 2).is_none());
        assert!(PoolGeometry::valid((4, 4, 4), 0, 1).is_none());
        assert!(PoolGeometry::valid((4, 4, 4), 2, 0).is_none());
    }
}
