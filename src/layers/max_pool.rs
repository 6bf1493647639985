//! Max pooling with "valid" padding (Keras' default): output `(H − k) / s + 1` per side.
//! Forward keeps the argmax of each output so backward routes the gradient to it.

use super::{
    BackwardArgs, ForwardArgs, Layer, LayerError, LayerKind, LayerSpec, MasksReluGrad, Shape,
};
use crate::kernels::{max_pool_backward, max_pool_forward, PoolGeometry};
use rayon::prelude::*;

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
    fn geometry(&self) -> Option<PoolGeometry> {
        let Shape { h, w, c } = self.input;
        PoolGeometry::valid((h, w, c), self.pool, self.stride)
    }

    /// Output side lengths, or `None` when the window does not fit the input.
    pub fn output(&self) -> Option<Shape> {
        let g = self.geometry()?;
        Some(Shape::new(g.out.0, g.out.1, self.input.c))
    }

    /// The layer, or why these sizes make none.
    pub fn init(&self) -> Result<MaxPool, LayerError> {
        for (size, what) in [(self.pool, "pool size"), (self.stride, "stride")] {
            if size == 0 {
                return Err(LayerError::Zero(what));
            }
        }
        let Shape { h, w, .. } = self.input;
        let pool = self.pool;
        let geometry = self
            .geometry()
            .ok_or(LayerError::PoolWindow { pool, h, w })?;
        Ok(MaxPool {
            config: *self,
            geometry,
            argmax: Vec::new(),
            relu_mask: false,
        })
    }
}

/// MaxPooling2D.
#[derive(Debug, Clone)]
pub struct MaxPool {
    config: MaxPoolConfig,
    geometry: PoolGeometry,
    /// Index, within its sample, of the input each output came from.
    argmax: Vec<u32>,
    /// Backward also applies the gradient mask of the ReLU before: its input is then ≥ 0, so a
    /// window's maximum is positive exactly where the ReLU passes the gradient of its argmax.
    relu_mask: bool,
}

impl Layer for MaxPool {
    fn kind(&self) -> LayerKind {
        LayerKind::MaxPool
    }
    fn spec(&self) -> Option<LayerSpec> {
        let MaxPoolConfig { pool, stride, .. } = self.config;
        Some(LayerSpec::MaxPool { pool, stride })
    }
    fn output_shape(&self) -> Shape {
        let (h, w) = self.geometry.out;
        Shape::new(h, w, self.config.input.c)
    }
    fn reserve(&mut self, capacity: usize) {
        self.argmax.resize(capacity * self.output_shape().len(), 0);
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let (in_len, out_len) = (self.config.input.len(), self.output_shape().len());
        let g = &self.geometry;
        a.y[..a.n * out_len]
            .par_chunks_mut(out_len)
            .zip(self.argmax.par_chunks_mut(out_len))
            .zip(a.x.par_chunks(in_len))
            .for_each(|((y, arg), x)| max_pool_forward(x, g, y, arg));
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let Some(dx) = a.dx else { return };
        let (in_len, out_len) = (self.config.input.len(), self.output_shape().len());
        let (g, relu_mask) = (&self.geometry, self.relu_mask);
        dx[..a.n * in_len]
            .par_chunks_mut(in_len)
            .zip(self.argmax.par_chunks(out_len))
            .zip(a.dy.par_chunks(out_len))
            .zip(a.y.par_chunks(out_len))
            .for_each(|(((dx, arg), dy), y)| max_pool_backward((arg, dy, y), g, relu_mask, dx));
    }
    fn relu_grad_mask(&mut self) -> Option<&mut dyn MasksReluGrad> {
        Some(self)
    }
}

impl MasksReluGrad for MaxPool {
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
        .unwrap()
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
        mp.relu_grad_mask()
            .expect("max-pool masks")
            .mask_relu_grad();
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
