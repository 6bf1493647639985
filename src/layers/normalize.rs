//! Input normalization, `y = (x − mean) / std` per input value. The statistics are constants of the
//! model (stored in the model file, not counted as parameters), so a saved model normalizes raw
//! pixels the same way at evaluation as in training. Identity until the statistics are set.

use super::{
    par_zip_map, BackwardArgs, ForwardArgs, Init, Layer, LayerKind, LayerSpec, ParamKind,
    ParamSpec, Shape, PAR_CHUNK,
};
use crate::kernels::vectorized;
use rayon::prelude::*;

/// Per-value affine input normalization; state is `mean` then `std`, each of `shape.len()` values.
#[derive(Debug, Clone)]
pub struct Normalize {
    shape: Shape,
    /// `1 / std`, refreshed at each forward pass from the state (cheap: one image's worth).
    inv_std: Vec<f32>,
}

impl Normalize {
    /// Normalization of samples of `shape`.
    pub fn new(shape: Shape) -> Self {
        Normalize {
            shape,
            inv_std: vec![1.0; shape.len()],
        }
    }
}

impl Layer for Normalize {
    fn kind(&self) -> LayerKind {
        LayerKind::Normalize
    }
    fn spec(&self) -> Option<LayerSpec> {
        None
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn params(&self) -> Vec<ParamSpec> {
        let len = self.shape.len();
        vec![
            ParamSpec::vector("mean", len, ParamKind::Constant, Init::Zeros),
            ParamSpec::vector("std", len, ParamKind::Constant, Init::Ones),
        ]
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let len = self.shape.len();
        let (mean, std) = a.state.split_at(len);
        for (inv, s) in self.inv_std.iter_mut().zip(std) {
            *inv = 1.0 / s;
        }
        let inv_std = &self.inv_std;
        let task = (PAR_CHUNK / len).max(1) * len; // whole images, a few per task
        a.y[..a.n * len]
            .par_chunks_mut(task)
            .zip(a.x.par_chunks(task))
            .for_each(|(y, x)| {
                vectorized(
                    #[inline(always)]
                    || {
                        for (y, x) in y.chunks_exact_mut(len).zip(x.chunks_exact(len)) {
                            for (((y, x), m), s) in y.iter_mut().zip(x).zip(mean).zip(inv_std) {
                                *y = (x - m) * s;
                            }
                        }
                    },
                )
            });
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        if let Some(dx) = a.dx {
            let len = self.shape.len();
            for (dx, dy) in dx[..a.n * len].chunks_mut(len).zip(a.dy.chunks(len)) {
                par_zip_map(dx, dy, &self.inv_std, |dy, s| dy * s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::forward;
    use crate::layers::Mode;

    #[test]
    fn subtracts_mean_and_divides_by_std() {
        let mut layer = Normalize::new(Shape::flat(2));
        let mut state = [1.0, 10.0, 2.0, 4.0]; // mean (1, 10), std (2, 4)
        let y = forward(
            &mut layer,
            &[5.0, 2.0, 1.0, 10.0],
            2,
            &[],
            &mut state,
            Mode::Eval,
        );
        assert_eq!(y, [2.0, -2.0, 0.0, 0.0]);
    }
}
