//! Optimisers over a model's flat parameter buffer, plus L2 regularization of kernels.

use crate::error::{Error, Result};
use crate::kernels::PAR_CHUNK;
use crate::model::ParamStore;
use rayon::prelude::*;

/// Which optimiser, with its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerConfig {
    /// Adam, Keras' formulation and defaults (lr 1e-3, β 0.9 / 0.999, ε 1e-7).
    Adam {
        /// Learning rate.
        lr: f32,
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Added to √v.
        epsilon: f32,
    },
    /// Stochastic gradient descent with optional (heavy-ball) momentum, as Keras' SGD.
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum in [0, 1); 0 is plain SGD.
        momentum: f32,
    },
}

impl OptimizerConfig {
    /// Adam with Keras' defaults and learning rate `lr`.
    pub fn adam(lr: f32) -> Self {
        OptimizerConfig::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            OptimizerConfig::Adam { lr, .. } | OptimizerConfig::Sgd { lr, .. } => lr,
        }
    }

    /// Refuses learning rates and momenta that cannot train.
    pub fn validate(&self) -> Result<()> {
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::config(
                "learning rate",
                format!("must be a positive number, got {lr}"),
            ));
        }
        if let OptimizerConfig::Sgd { momentum, .. } = *self {
            if !(0.0..1.0).contains(&momentum) {
                return Err(Error::config(
                    "momentum",
                    format!("must be in [0, 1), got {momentum}"),
                ));
            }
        }
        Ok(())
    }
}

/// How the learning rate moves during training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Cosine decay from the rate to zero over all steps, step by step.
    Cosine,
}

impl Schedule {
    /// The rate at `step` (0-based) of `total` steps for base rate `lr`.
    pub fn rate(self, lr: f32, step: usize, total: usize) -> f32 {
        match self {
            Schedule::Constant => lr,
            Schedule::Cosine => {
                let progress = step as f64 / total.max(1) as f64;
                (lr as f64 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())) as f32
            }
        }
    }
}

/// Optimiser state: the moments and the step count.
#[derive(Clone, Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    /// Learning rate in use (a schedule may change it).
    lr: f32,
    /// Adam's first moment, or SGD's velocity.
    pub m: Vec<f32>,
    /// Adam's second moment (empty for SGD).
    pub v: Vec<f32>,
    /// Updates made so far.
    pub step: u64,
}

impl Optimizer {
    /// Fresh state for `len` parameters.
    pub fn new(config: OptimizerConfig, len: usize) -> Self {
        let v = match config {
            OptimizerConfig::Adam { .. } => vec![0.0; len],
            OptimizerConfig::Sgd { .. } => Vec::new(),
        };
        Optimizer {
            config,
            lr: config.lr(),
            m: vec![0.0; len],
            v,
            step: 0,
        }
    }

    /// The current learning rate.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// Sets the learning rate for the next steps.
    pub fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }

    /// One update of `values` from `grads`.
    pub fn step(&mut self, values: &mut [f32], grads: &[f32]) {
        self.step += 1;
        let lr = self.lr;
        match self.config {
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                let t = self.step as i32;
                let alpha = lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
                // Element-wise, so threads split it without changing any result.
                values
                    .par_chunks_mut(PAR_CHUNK)
                    .zip(grads.par_chunks(PAR_CHUNK))
                    .zip(self.m.par_chunks_mut(PAR_CHUNK))
                    .zip(self.v.par_chunks_mut(PAR_CHUNK))
                    .for_each(|(((values, grads), m), v)| {
                        let params = values.iter_mut().zip(grads).zip(m).zip(v);
                        for (((w, &g), m), v) in params {
                            *m += (g - *m) * (1.0 - beta1);
                            *v += (g * g - *v) * (1.0 - beta2);
                            *w -= alpha * *m / (v.sqrt() + epsilon);
                        }
                    });
            }
            OptimizerConfig::Sgd { momentum, .. } => {
                for ((w, &g), velocity) in values.iter_mut().zip(grads).zip(&mut self.m) {
                    *velocity = momentum * *velocity - lr * g;
                    *w += *velocity;
                }
            }
        }
    }
}

/// Adds L2 regularization `λ·Σw²` over kernels only (never biases or batch-norm tensors, as
/// Keras' `kernel_regularizer`): its gradient `2λw` goes into `grads`; returns the penalty.
pub fn apply_l2(params: &mut ParamStore, lambda: f32) -> f64 {
    if lambda == 0.0 {
        return 0.0;
    }
    let mut penalty = 0.0f64;
    for slot in params.trainable.iter().filter(|s| s.is_kernel) {
        let range = slot.range.clone();
        for (g, &w) in params.grads[range.clone()]
            .iter_mut()
            .zip(&params.values[range])
        {
            penalty += (w as f64) * (w as f64);
            *g += 2.0 * lambda * w;
        }
    }
    lambda as f64 * penalty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_adam_step_moves_each_weight_by_lr_against_its_gradient_sign() {
        // With bias correction, step 1 is lr·g/(|g| + ε') ≈ lr·sign(g).
        let mut opt = Optimizer::new(OptimizerConfig::adam(0.01), 2);
        let mut w = [1.0, 1.0];
        opt.step(&mut w, &[0.5, -2.0]);
        assert!(
            (w[0] - 0.99).abs() < 1e-6 && (w[1] - 1.01).abs() < 1e-6,
            "{w:?}"
        );
    }

    #[test]
    fn sgd_momentum_accumulates_velocity() {
        let mut opt = Optimizer::new(
            OptimizerConfig::Sgd {
                lr: 0.1,
                momentum: 0.9,
            },
            1,
        );
        let mut w = [0.0];
        opt.step(&mut w, &[1.0]); // v = −0.1
        opt.step(&mut w, &[1.0]); // v = −0.09 − 0.1
        assert!((w[0] - (-0.1 - 0.19)).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn cosine_schedule_starts_at_the_rate_halves_midway_and_ends_near_zero() {
        assert_eq!(Schedule::Cosine.rate(0.1, 0, 100), 0.1);
        assert!((Schedule::Cosine.rate(0.1, 50, 100) - 0.05).abs() < 1e-7);
        assert!(Schedule::Cosine.rate(0.1, 99, 100) < 1e-4);
        assert_eq!(Schedule::Constant.rate(0.1, 99, 100), 0.1);
    }

    #[test]
    fn bad_learning_rates_are_refused() {
        for lr in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(OptimizerConfig::adam(lr).validate().is_err(), "{lr}");
        }
        assert!(OptimizerConfig::Sgd {
            lr: 0.1,
            momentum: 1.0
        }
        .validate()
        .is_err());
    }
}
