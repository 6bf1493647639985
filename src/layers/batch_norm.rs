//! Batch normalization over the last (channel) axis, with Keras' defaults (momentum 0.99, ε 1e-3).
//!
//! # Shapes
//! x, y: (N, H, W, C) (or (N, C) after a dense layer); weight (γ, ones), bias (β, zeros),
//! running_mean (zeros), running_var (ones): (C).
//!
//! Training normalizes with the batch's mean and biased variance and moves the running averages
//! towards them (`running = momentum·running + (1 − momentum)·batch`, as Keras does); evaluation
//! uses the running averages. Forward caches the batch mean and 1/σ for backward.

use super::{BackwardArgs, ForwardArgs, Init, Layer, LayerKind, Mode, ParamKind, ParamSpec, Shape};
use crate::kernels::{channel_sums, par_tiles, tile_len, tiled};

/// Builds a [`BatchNorm`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Input shape; statistics are per channel `c`.
    pub input: Shape,
    /// Weight of the old running statistics in each update.
    pub momentum: f32,
    /// Added to the variance before the square root.
    pub epsilon: f32,
}

impl BatchNormConfig {
    /// Keras' defaults for `input`.
    pub fn keras(input: Shape) -> Self {
        BatchNormConfig {
            input,
            momentum: 0.99,
            epsilon: 1e-3,
        }
    }

    /// The layer.
    pub fn init(&self) -> BatchNorm {
        assert!(
            (0.0..1.0).contains(&self.momentum) && self.epsilon > 0.0,
            "bad batch norm config {self:?}"
        );
        let c = self.input.c;
        BatchNorm {
            config: *self,
            batch_mean: vec![0.0; c],
            batch_rstd: vec![0.0; c],
            relu: false,
        }
    }
}

/// BatchNormalization layer.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    config: BatchNormConfig,
    batch_mean: Vec<f32>,
    batch_rstd: Vec<f32>,
    /// Applies the following ReLU itself.
    relu: bool,
}

impl Layer for BatchNorm {
    fn kind(&self) -> LayerKind {
        LayerKind::BatchNorm
    }
    fn token(&self) -> Option<String> {
        Some("BN".into())
    }
    fn output_shape(&self) -> Shape {
        self.config.input
    }
    fn params(&self) -> Vec<ParamSpec> {
        let c = self.config.input.c;
        vec![
            ParamSpec::vector("weight", c, ParamKind::Trainable, Init::Ones),
            ParamSpec::vector("bias", c, ParamKind::Trainable, Init::Zeros),
            ParamSpec::vector("running_mean", c, ParamKind::NonTrainable, Init::Zeros),
            ParamSpec::vector("running_var", c, ParamKind::NonTrainable, Init::Ones),
        ]
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let BatchNormConfig {
            input,
            momentum,
            epsilon,
        } = self.config;
        let c = input.c;
        let rows = a.n * input.h * input.w;
        let x = &a.x[..rows * c];
        let (gamma, beta) = a.weights.split_at(c);
        let (running_mean, running_var) = a.state.split_at_mut(c);
        if a.mode == Mode::Train {
            // One pass: sums of (x − K) and (x − K)² with K the first row, a cheap estimate of
            // the mean that keeps E[(x−K)²] − E[x−K]² free of cancellation.
            let shift_k = &x[..c];
            let shift_tile = tiled(shift_k, tile_len(c));
            let sums = channel_sums(rows * c, c, |range, sum, sq| {
                for values in x[range].chunks(shift_tile.len()) {
                    let terms = sum.iter_mut().zip(sq.iter_mut()).zip(values);
                    for (((s, q), &v), &k) in terms.zip(&shift_tile) {
                        let d = v - k;
                        *s += d;
                        *q += d * d;
                    }
                }
            });
            let n = rows as f64;
            let centred: Vec<f64> = sums[..c].iter().map(|s| s / n).collect();
            let mean: Vec<f32> = centred
                .iter()
                .zip(shift_k)
                .map(|(m, &k)| (m + k as f64) as f32)
                .collect();
            let sq: Vec<f64> = sums[c..]
                .iter()
                .zip(&centred)
                .map(|(q, m)| (q - n * m * m).max(0.0))
                .collect();
            for ch in 0..c {
                let var = sq[ch] / rows as f64;
                self.batch_mean[ch] = mean[ch];
                self.batch_rstd[ch] = (1.0 / (var + epsilon as f64).sqrt()) as f32;
                running_mean[ch] = momentum * running_mean[ch] + (1.0 - momentum) * mean[ch];
                running_var[ch] = momentum * running_var[ch] + (1.0 - momentum) * var as f32;
            }
        } else {
            for ch in 0..c {
                self.batch_mean[ch] = running_mean[ch];
                self.batch_rstd[ch] = 1.0 / (running_var[ch] + epsilon).sqrt();
            }
        }
        // y = (x − mean)·rstd·γ + β, folded into one multiply-add per value.
        let scale: Vec<f32> = self
            .batch_rstd
            .iter()
            .zip(gamma)
            .map(|(r, g)| r * g)
            .collect();
        let shift: Vec<f32> = (0..c)
            .map(|ch| beta[ch] - self.batch_mean[ch] * scale[ch])
            .collect();
        let tile = tile_len(c);
        let (scale, shift) = (tiled(&scale, tile), tiled(&shift, tile));
        let relu = self.relu;
        par_tiles(&mut a.y[..rows * c], x, x, tile, |y, x, _| {
            let terms = y.iter_mut().zip(x).zip(&scale).zip(&shift);
            if relu {
                terms.for_each(|(((y, x), s), t)| *y = (x * s + t).max(0.0));
            } else {
                terms.for_each(|(((y, x), s), t)| *y = x * s + t);
            }
        });
    }
    fn can_fuse_relu(&self) -> bool {
        true
    }
    fn fuse_relu(&mut self) {
        self.relu = true;
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let input = self.config.input;
        let c = input.c;
        let rows = a.n * input.h * input.w;
        let (x, dy) = (&a.x[..rows * c], &a.dy[..rows * c]);
        let (mean, rstd) = (&self.batch_mean, &self.batch_rstd);
        // One pass: Σdy and Σdy·x̂ per channel, side by side.
        let tile = tile_len(c);
        let (mean_tile, rstd_tile) = (tiled(mean, tile), tiled(rstd, tile));
        let sums = channel_sums(rows * c, c, |range, sum_dy, sum_dy_xhat| {
            for (g, v) in dy[range.clone()].chunks(tile).zip(x[range].chunks(tile)) {
                let terms = sum_dy
                    .iter_mut()
                    .zip(sum_dy_xhat.iter_mut())
                    .zip(g)
                    .zip(v)
                    .zip(&mean_tile)
                    .zip(&rstd_tile);
                for (((((sd, sdx), &g), &v), &m), &r) in terms {
                    *sd += g;
                    *sdx += g * (v - m) * r;
                }
            }
        });
        let (dgamma, dbeta) = a.dweights.split_at_mut(c);
        for ch in 0..c {
            dbeta[ch] += sums[ch] as f32;
            dgamma[ch] += sums[c + ch] as f32;
        }
        let Some(dx) = a.dx else { return };
        // dx = γ·rstd/N · (N·dy − Σdy − x̂·Σdy·x̂)
        let gamma = &a.weights[..c];
        let inv_n = 1.0 / rows as f64;
        let k: Vec<f32> = (0..c).map(|ch| gamma[ch] * rstd[ch]).collect();
        let mean_dy: Vec<f32> = (0..c).map(|ch| (sums[ch] * inv_n) as f32).collect();
        let mean_dy_xhat: Vec<f32> = (0..c).map(|ch| (sums[c + ch] * inv_n) as f32).collect();
        // Expanded per channel into dx = a·dy + b·x + o.
        let coef_x: Vec<f32> = (0..c)
            .map(|ch| -k[ch] * rstd[ch] * mean_dy_xhat[ch])
            .collect();
        let offset: Vec<f32> = (0..c)
            .map(|ch| -coef_x[ch] * mean[ch] - k[ch] * mean_dy[ch])
            .collect();
        let (k, coef_x, offset) = (tiled(&k, tile), tiled(&coef_x, tile), tiled(&offset, tile));
        par_tiles(&mut dx[..rows * c], dy, x, tile, |dx, dy, x| {
            let terms = dx
                .iter_mut()
                .zip(dy)
                .zip(x)
                .zip(&k)
                .zip(&coef_x)
                .zip(&offset);
            for (((((dx, &dy), &x), &a), &b), &o) in terms {
                *dx = a * dy + b * x + o;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::forward;

    #[test]
    fn normalizes_the_batch_and_moves_running_stats() {
        let mut bn = BatchNormConfig::keras(Shape::flat(1)).init();
        let x = [1.0, 3.0]; // mean 2, biased variance 1
        let weights = [2.0, 0.5]; // γ, β
        let mut state = [0.0, 1.0];
        let y = forward(&mut bn, &x, 2, &weights, &mut state, Mode::Train);
        let r = 1.0 / (1.0f32 + 1e-3).sqrt();
        assert!(
            (y[0] - (0.5 - 2.0 * r)).abs() < 1e-6 && (y[1] - (0.5 + 2.0 * r)).abs() < 1e-6,
            "{y:?}"
        );
        assert!((state[0] - 0.02).abs() < 1e-7, "running mean {}", state[0]);
        assert!((state[1] - 1.0).abs() < 1e-7, "running var {}", state[1]);
        // Eval uses the running statistics: (3 − 0.02)/sqrt(1 + ε)·2 + 0.5.
        let y = forward(&mut bn, &[3.0], 1, &weights, &mut state, Mode::Eval);
        assert!((y[0] - (2.98 * r * 2.0 + 0.5)).abs() < 1e-5, "{}", y[0]);
    }
}
