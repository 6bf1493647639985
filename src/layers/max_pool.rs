//! Max pooling with "valid" padding (Keras' default): output `(H − k) / s + 1` per side.
//! Forward keeps the argmax of each output so backward routes the gradient to it.

use super::{BackwardArgs, ForwardArgs, Layer, LayerKind, Shape};
use crate::kernels::max_pool2_applies;
#[cfg(target_arch = "x86_64")]
use crate::kernels::{max_pool2_backward, max_pool2_forward};
use rayon::prelude::*;

/// Channels handled together in the forward loop.
const LANES: usize = 16;

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

/// Builds a [`MaxPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPoolConfig {
    /// Input shape.
    pub input: Shape,
    /// Window size.
    pub pool: usize,
    /// Step between windows.
    pub stride: usize,
}

impl MaxPoolConfig {
    /// Output side lengths, or `None` when the window does not fit the input.
    pub fn output(&self) -> Option<Shape> {
        let Self {
            input,
            pool,
            stride,
        } = *self;
        if pool == 0 || stride == 0 || pool > input.h || pool > input.w {
            return None;
        }
        Some(Shape::new(
            (input.h - pool) / stride + 1,
            (input.w - pool) / stride + 1,
            input.c,
        ))
    }

    /// The layer; the caller has checked [`Self::output`].
    pub fn init(&self) -> MaxPool {
        let output = self.output().expect("pool window larger than its input");
        MaxPool {
            config: *self,
            output,
            argmax: Vec::new(),
            relu_mask: false,
            vector_kernel: self.pool == 2 && self.stride == 2 && max_pool2_applies(self.input.c),
        }
    }
}

/// MaxPooling2D.
#[derive(Debug, Clone)]
pub struct MaxPool {
    config: MaxPoolConfig,
    output: Shape,
    /// Index, within its sample, of the input each output came from.
    argmax: Vec<u32>,
    /// Backward also applies the gradient mask of the ReLU before: its input is then ≥ 0, so a
    /// window's maximum is positive exactly where the ReLU passes the gradient of its argmax.
    relu_mask: bool,
    /// 2×2 windows with stride 2 on channels in sixteens: the AVX-512 kernel runs them.
    vector_kernel: bool,
}

impl Layer for MaxPool {
    fn kind(&self) -> LayerKind {
        LayerKind::MaxPool
    }
    fn token(&self) -> Option<String> {
        let MaxPoolConfig { pool, stride, .. } = self.config;
        Some(if stride == pool {
            format!("MP{pool}")
        } else {
            format!("MP{pool}s{stride}")
        })
    }
    fn output_shape(&self) -> Shape {
        self.output
    }
    fn reserve(&mut self, capacity: usize) {
        self.argmax.resize(capacity * self.output.len(), 0);
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let MaxPoolConfig {
            input,
            pool,
            stride,
        } = self.config;
        let (out, c) = (self.output, input.c);
        #[cfg(target_arch = "x86_64")]
        if self.vector_kernel {
            let dims = (input.h, input.w, c);
            a.y[..a.n * out.len()]
                .par_chunks_mut(out.len())
                .zip(self.argmax.par_chunks_mut(out.len()))
                .zip(a.x.par_chunks(input.len()))
                .for_each(|((y, arg), x)| max_pool2_forward(x, dims, y, arg));
            return;
        }
        a.y[..a.n * out.len()]
            .par_chunks_mut(out.len())
            .zip(self.argmax.par_chunks_mut(out.len()))
            .zip(a.x.par_chunks(input.len()))
            .for_each(|((y, arg), x)| {
                let mut window = Vec::with_capacity(pool * pool);
                for oy in 0..out.h {
                    for ox in 0..out.w {
                        let o = (oy * out.w + ox) * c;
                        window.clear();
                        for py in 0..pool {
                            let row = (oy * stride + py) * input.w + ox * stride;
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
            });
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let Some(dx) = a.dx else { return };
        let (in_len, out_len) = (self.config.input.len(), self.output.len());
        let relu_mask = self.relu_mask;
        #[cfg(target_arch = "x86_64")]
        if self.vector_kernel {
            let input = self.config.input;
            dx[..a.n * in_len]
                .par_chunks_mut(in_len)
                .zip(self.argmax.par_chunks(out_len))
                .zip(a.dy.par_chunks(out_len))
                .zip(a.y.par_chunks(out_len))
                .for_each(|(((dx, arg), dy), y)| {
                    let dims = (input.h, input.w, input.c);
                    max_pool2_backward((arg, dy, y), dims, relu_mask, dx)
                });
            return;
        }
        dx[..a.n * in_len]
            .par_chunks_mut(in_len)
            .zip(self.argmax.par_chunks(out_len))
            .zip(a.dy.par_chunks(out_len))
            .zip(a.y.par_chunks(out_len))
            .for_each(|(((dx, arg), dy), y)| {
                dx.fill(0.0);
                for ((&i, g), y) in arg.iter().zip(dy).zip(y) {
                    if !relu_mask || *y > 0.0 {
                        dx[i as usize] += g;
                    }
                }
            });
    }
    fn can_mask_relu_grad(&self) -> bool {
        true
    }
    fn mask_relu_grad(&mut self) {
        self.relu_mask = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::{backward, forward};
    use crate::layers::Mode;

    fn pool_2x2(input: Shape) -> MaxPool {
        MaxPoolConfig {
            input,
            pool: 2,
            stride: 2,
        }
        .init()
    }

    #[test]
    fn picks_the_max_and_routes_the_gradient_to_it() {
        let mut mp = pool_2x2(Shape::new(2, 4, 1));
        let x = [1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 1.0];
        let y = forward(&mut mp, &x, 1, &[], &mut [], Mode::Train);
        assert_eq!(y, [5.0, 9.0]);
        let (dx, _) = backward(&mut mp, &x, &y, &[1.0, 2.0], 1, &[]);
        assert_eq!(dx, [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0]);
    }

    #[test]
    fn after_a_relu_windows_whose_maximum_is_zero_pass_no_gradient() {
        let mut mp = pool_2x2(Shape::new(2, 4, 1));
        assert!(mp.can_mask_relu_grad());
        mp.mask_relu_grad();
        // ReLU outputs: the left window is all zero (every input was ≤ 0 before the ReLU).
        let x = [0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 9.0, 1.0];
        let y = forward(&mut mp, &x, 1, &[], &mut [], Mode::Train);
        assert_eq!(y, [0.0, 9.0]);
        let (dx, _) = backward(&mut mp, &x, &y, &[1.0, 2.0], 1, &[]);
        assert_eq!(dx, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0]);
    }

    #[test]
    fn inputs_past_the_last_window_get_a_zero_gradient() {
        // 3×3 with two channels, 2×2 windows: the last row and column are in no window.
        let mut mp = pool_2x2(Shape::new(3, 3, 2));
        let x: Vec<f32> = (0..18).map(|i| ((i * 7) % 11) as f32).collect();
        let y = forward(&mut mp, &x, 1, &[], &mut [], Mode::Train);
        assert_eq!(y, [9.0, 10.0]); // channel 0 max at pixel (1, 0), channel 1 at (0, 1)
        let (dx, _) = backward(&mut mp, &x, &y, &[1.5, 2.5], 1, &[]);
        let mut want = vec![0.0; 18];
        (want[6], want[3]) = (1.5, 2.5);
        assert_eq!(dx, want);
    }

    #[test]
    fn odd_sizes_floor_and_oversized_windows_are_refused() {
        let cfg = MaxPoolConfig {
            input: Shape::new(7, 7, 64),
            pool: 2,
            stride: 2,
        };
        assert_eq!(cfg.output(), Some(Shape::new(3, 3, 64)));
        assert_eq!(
            MaxPoolConfig {
                input: Shape::new(1, 1, 4),
                pool: 2,
                stride: 2
            }
            .output(),
            None
        );
    }
}
