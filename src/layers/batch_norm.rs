//! Batch normalization over the last (channel) axis, with Keras' defaults (momentum 0.99, ε 1e-3).
//!
//! # Shapes
//! x, y: (N, H, W, C) (or (N, C) after a dense layer); weight (γ, ones), bias (β, zeros),
//! running_mean (zeros), running_var (ones): (C).
//!
//! Training normalizes with the batch's mean and biased variance and moves the running averages
//! towards them (`running = momentum·running + (1 − momentum)·batch`, as Keras does); evaluation
//! uses the running averages. Forward caches the batch mean and 1/σ for backward.
//!
//! With the following ReLU fused, the layer also applies that ReLU's gradient mask, recomputed
//! from x as forward computed it (`x·scale + shift > 0`): the ReLU's backward, a pass over the
//! activations reading two arrays and writing one, is skipped, at no extra memory traffic here.

use super::{
    BackwardArgs, ChannelAffine, ForwardArgs, FusesRelu, Init, Layer, LayerError, LayerKind,
    LayerSpec, Mode, ParamKind, ParamSpec, Shape,
};
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

    /// The layer, or why this configuration makes none.
    pub fn init(&self) -> Result<BatchNorm, LayerError> {
        let BatchNormConfig {
            momentum, epsilon, ..
        } = *self;
        if !((0.0..1.0).contains(&momentum) && epsilon > 0.0) {
            return Err(LayerError::BatchNorm { momentum, epsilon });
        }
        let c = self.input.c;
        Ok(BatchNorm {
            config: *self,
            batch_mean: vec![0.0; c],
            batch_rstd: vec![0.0; c],
            relu: false,
        })
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

impl FusesRelu for BatchNorm {
    fn fuse_relu(&mut self) {
        self.relu = true;
    }
    fn masks_fused_relu_grad(&self) -> bool {
        true
    }
}

impl Layer for BatchNorm {
    fn kind(&self) -> LayerKind {
        LayerKind::BatchNorm
    }
    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::BatchNorm)
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
            let sums = channel_sums(
                rows * c,
                c,
                #[inline(always)]
                |range, sum, sq| {
                    for values in x[range].chunks(shift_tile.len()) {
                        let terms = sum.iter_mut().zip(sq.iter_mut()).zip(values);
                        for (((s, q), &v), &k) in terms.zip(&shift_tile) {
                            let d = v - k;
                            *s += d;
                            *q += d * d;
                        }
                    }
                },
            );
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
            self.batch_mean.copy_from_slice(running_mean);
            self.batch_rstd = running_rstd(running_var, epsilon);
        }
        let tile = tile_len(c);
        let (scale, shift) = self.output_affine(gamma, beta, tile);
        let relu = self.relu;
        par_tiles(
            &mut a.y[..rows * c],
            x,
            x,
            tile,
            #[inline(always)]
            |y, x, _| {
                let terms = y.iter_mut().zip(x).zip(&scale).zip(&shift);
                if relu {
                    terms.for_each(|(((y, x), s), t)| *y = (x * s + t).max(0.0));
                } else {
                    terms.for_each(|(((y, x), s), t)| *y = x * s + t);
                }
            },
        );
    }
    fn relu_fusion(&mut self) -> Option<&mut dyn FusesRelu> {
        Some(self)
    }
    fn eval_affine(&self, weights: &[f32], state: &[f32]) -> Option<ChannelAffine> {
        let c = self.config.input.c;
        let (gamma, beta) = weights.split_at(c);
        let (running_mean, running_var) = state.split_at(c);
        let rstd = running_rstd(running_var, self.config.epsilon);
        let (scale, shift) = affine(gamma, beta, running_mean, &rstd);
        Some(ChannelAffine { scale, shift })
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let input = self.config.input;
        let c = input.c;
        let rows = a.n * input.h * input.w;
        let (x, dy) = (&a.x[..rows * c], &a.dy[..rows * c]);
        let (mean, rstd) = (&self.batch_mean, &self.batch_rstd);
        let (gamma, beta) = a.weights.split_at(c);
        let tile = tile_len(c);
        // The fused ReLU's gradient: dy where forward's x·scale + shift was positive. Without
        // one the gate (0, 1) passes every finite x's dy (a non-finite x has already wrecked
        // the batch's statistics).
        let (gate_scale, gate_shift) = match self.relu {
            true => self.output_affine(gamma, beta, tile),
            false => (vec![0.0; tile], vec![1.0; tile]),
        };
        let gated = |g: f32, v: f32, s: f32, t: f32| if v * s + t > 0.0 { g } else { 0.0 };
        // One pass: Σdy and Σdy·x̂ per channel, side by side.
        let (mean_tile, rstd_tile) = (tiled(mean, tile), tiled(rstd, tile));
        let sums = channel_sums(
            rows * c,
            c,
            #[inline(always)]
            |range, sum_dy, sum_dy_xhat| {
                for (g, v) in dy[range.clone()].chunks(tile).zip(x[range].chunks(tile)) {
                    let terms = sum_dy
                        .iter_mut()
                        .zip(sum_dy_xhat.iter_mut())
                        .zip(g)
                        .zip(v)
                        .zip(&mean_tile)
                        .zip(&rstd_tile)
                        .zip(&gate_scale)
                        .zip(&gate_shift);
                    for (((((((sd, sdx), &g), &v), &m), &r), &s), &t) in terms {
                        let g = gated(g, v, s, t);
                        *sd += g;
                        *sdx += g * (v - m) * r;
                    }
                }
            },
        );
        let (dgamma, dbeta) = a.dweights.split_at_mut(c);
        for ch in 0..c {
            dbeta[ch] += sums[ch] as f32;
            dgamma[ch] += sums[c + ch] as f32;
        }
        let Some(dx) = a.dx else { return };
        // dx = γ·rstd/N · (N·dy − Σdy − x̂·Σdy·x̂)
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
        par_tiles(
            &mut dx[..rows * c],
            dy,
            x,
            tile,
            #[inline(always)]
            |dx, dy, x| {
                let terms = dx
                    .iter_mut()
                    .zip(dy)
                    .zip(x)
                    .zip(&k)
                    .zip(&coef_x)
                    .zip(&offset)
                    .zip(&gate_scale)
                    .zip(&gate_shift);
                for (((((((dx, &dy), &x), &a), &b), &o), &s), &t) in terms {
                    *dx = a * gated(dy, x, s, t) + b * x + o;
                }
            },
        );
    }
}

impl BatchNorm {
    /// Forward's output map `y = x·scale + shift` per channel, with `scale = γ·rstd` and `shift =
    /// β − mean·scale` ((x − mean)·rstd·γ + β folded into one multiply-add), each repeated to a
    /// `tile`. Backward recomputes it bit for bit to find where the fused ReLU passed.
    fn output_affine(&self, gamma: &[f32], beta: &[f32], tile: usize) -> (Vec<f32>, Vec<f32>) {
        let (scale, shift) = affine(gamma, beta, &self.batch_mean, &self.batch_rstd);
        (tiled(&scale, tile), tiled(&shift, tile))
    }
}

/// 1/σ per channel from the running variances.
fn running_rstd(running_var: &[f32], epsilon: f32) -> Vec<f32> {
    running_var
        .iter()
        .map(|v| 1.0 / (v + epsilon).sqrt())
        .collect()
}

/// (scale, shift) of `y = (x − mean)·rstd·γ + β` folded into one multiply-add per value:
/// `scale = γ·rstd`, `shift = β − mean·scale`.
fn affine(gamma: &[f32], beta: &[f32], mean: &[f32], rstd: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = rstd.iter().zip(gamma).map(|(r, g)| r * g).collect();
    let shift = (0..scale.len())
        .map(|ch| beta[ch] - mean[ch] * scale[ch])
        .collect();
    (scale, shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::forward;

    #[test]
    fn normalizes_the_batch_and_moves_running_stats() {
        let mut bn = BatchNormConfig::keras(Shape::flat(1)).init().unwrap();
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
