//! Global average pooling: `(h, w, c)` → `c`, the mean of each channel over the image.

use super::{BackwardArgs, ForwardArgs, Layer, LayerKind, LayerSpec, Shape};
use crate::kernels::vectorized;

/// GlobalAveragePooling2D.
#[derive(Debug, Clone)]
pub struct GlobalAvgPool {
    input: Shape,
}

impl GlobalAvgPool {
    /// Pools samples of `input` shape.
    pub fn new(input: Shape) -> Self {
        GlobalAvgPool { input }
    }
}

impl Layer for GlobalAvgPool {
    fn kind(&self) -> LayerKind {
        LayerKind::GlobalAvgPool
    }
    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::GlobalAvgPool)
    }
    fn output_shape(&self) -> Shape {
        Shape::flat(self.input.c)
    }
    // x: (N, H, W, C) → y: (N, C)
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let (c, hw) = (self.input.c, self.input.h * self.input.w);
        let scale = 1.0 / hw as f32;
        vectorized(
            #[inline(always)]
            || {
                for (y, x) in a.y[..a.n * c]
                    .chunks_exact_mut(c)
                    .zip(a.x.chunks_exact(hw * c))
                {
                    y.fill(0.0);
                    for pixel in x.chunks_exact(c) {
                        for (y, v) in y.iter_mut().zip(pixel) {
                            *y += v;
                        }
                    }
                    y.iter_mut().for_each(|y| *y *= scale);
                }
            },
        )
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let Some(dx) = a.dx else { return };
        let (c, hw) = (self.input.c, self.input.h * self.input.w);
        let scale = 1.0 / hw as f32;
        vectorized(
            #[inline(always)]
            || {
                for (dx, dy) in dx[..a.n * hw * c]
                    .chunks_exact_mut(hw * c)
                    .zip(a.dy.chunks_exact(c))
                {
                    for pixel in dx.chunks_exact_mut(c) {
                        for (d, g) in pixel.iter_mut().zip(dy) {
                            *d = g * scale;
                        }
                    }
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::forward;
    use crate::layers::Mode;

    #[test]
    fn averages_each_channel() {
        let mut gap = GlobalAvgPool::new(Shape::new(2, 1, 2));
        assert_eq!(
            forward(
                &mut gap,
                &[1.0, 10.0, 3.0, 20.0],
                1,
                &[],
                &mut [],
                Mode::Eval
            ),
            [2.0, 15.0]
        );
    }
}
