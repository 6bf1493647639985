//! Inverted dropout: in training each value is zeroed with probability `rate` and the survivors
//! scaled by `1 / (1 − rate)`, so evaluation is the identity and the expectation is unchanged.

use super::{
    par_zip_map, BackwardArgs, ForwardArgs, Layer, LayerError, LayerKind, LayerSpec, Mode, Shape,
};
use rand::Rng as _;

/// Dropout layer.
#[derive(Debug, Clone)]
pub struct Dropout {
    shape: Shape,
    rate: f32,
    /// 0 or `1 / (1 − rate)` per value of the last training batch.
    mask: Vec<f32>,
}

impl Dropout {
    /// Dropout with `rate`, which must be in `[0, 1)`.
    pub fn new(shape: Shape, rate: f32) -> Result<Self, LayerError> {
        if !(0.0..1.0).contains(&rate) {
            return Err(LayerError::DropoutRate(rate));
        }
        Ok(Dropout {
            shape,
            rate,
            mask: Vec::new(),
        })
    }
}

impl Layer for Dropout {
    fn kind(&self) -> LayerKind {
        LayerKind::Dropout
    }
    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::Dropout(self.rate))
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn reserve(&mut self, capacity: usize) {
        self.mask.resize(capacity * self.shape.len(), 0.0);
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let len = a.n * self.shape.len();
        if a.mode == Mode::Eval || self.rate == 0.0 {
            a.y[..len].copy_from_slice(&a.x[..len]);
            self.mask[..len].fill(1.0);
            return;
        }
        let keep_scale = 1.0 / (1.0 - self.rate);
        for m in &mut self.mask[..len] {
            *m = if a.rng.random::<f32>() < self.rate {
                0.0
            } else {
                keep_scale
            };
        }
        par_zip_map(&mut a.y[..len], &a.x[..len], &self.mask[..len], |x, m| {
            x * m
        });
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        if let Some(dx) = a.dx {
            let len = a.n * self.shape.len();
            par_zip_map(&mut dx[..len], &a.dy[..len], &self.mask[..len], |dy, m| {
                dy * m
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(layer: &mut Dropout, x: &[f32], mode: Mode, seed: u64) -> Vec<f32> {
        let mut y = vec![0.0; x.len()];
        let mut rng = crate::rng::seeded(seed);
        layer.forward(ForwardArgs {
            x,
            y: &mut y,
            n: 1,
            weights: &[],
            state: &mut [],
            mode,
            rng: &mut rng,
        });
        y
    }

    #[test]
    fn identity_in_eval() {
        let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let mut d = Dropout::new(Shape::flat(100), 0.5).unwrap();
        d.reserve(1);
        assert_eq!(run(&mut d, &x, Mode::Eval, 1), x);
    }

    #[test]
    fn keeps_the_expectation_in_train() {
        let n = 200_000;
        let x = vec![1.0; n];
        let mut d = Dropout::new(Shape::flat(n), 0.3).unwrap();
        d.reserve(1);
        let y = run(&mut d, &x, Mode::Train, 2);
        let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!((zeros - 0.3).abs() < 0.01, "dropped fraction {zeros}");
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
    }
}
