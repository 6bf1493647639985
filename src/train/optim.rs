//! Optimisers over a model's flat parameter buffer, plus L2 regularization of kernels.

use crate::error::{Error, Result, Setting};
use crate::kernels::{vectorized, PAR_CHUNK};
use crate::model::ParamStore;
use rayon::prelude::*;
use std::f64::consts::PI;

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
                Setting::LearningRate,
                format!("must be a positive number, got {lr}"),
            ));
        }
        if let OptimizerConfig::Sgd { momentum, .. } = *self {
            if !(0.0..1.0).contains(&momentum) {
                return Err(Error::config(
                    Setting::Momentum,
                    format!("must be in [0, 1), got {momentum}"),
                ));
            }
        }
        Ok(())
    }
}

/// How the learning rate moves during training, as a function of the step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The same rate throughout (`constant`).
    Constant,
    /// Cosine decay from the rate to zero over all steps, step by step (`cosine`).
    Cosine,
    /// The rate times `gamma` after every epoch (`exp:<gamma>`), as Keras'
    /// `LearningRateScheduler(lambda epoch: lr * gamma ** epoch)`.
    Exponential {
        /// Factor per epoch, in (0, 1].
        gamma: f32,
    },
    /// PyTorch's `OneCycleLR` with cosine annealing and no momentum cycling
    /// (`onecycle[:<warmup>]`): from rate/25 up to the rate over the first `warmup` of the
    /// steps, then down to rate/(25·10⁴) by the last step.
    OneCycle {
        /// Fraction of the steps spent warming up, in (0, 1); 0.3 as PyTorch's `pct_start`.
        warmup: f32,
    },
}

/// Where training is, for a [`Schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepOf {
    /// 0-based step over the whole run.
    pub step: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Steps of the whole run.
    pub total: usize,
}

/// OneCycle's starting rate is the peak divided by this (PyTorch's `div_factor`).
const ONECYCLE_DIV: f64 = 25.0;
/// OneCycle's final rate is the starting rate divided by this (`final_div_factor`).
const ONECYCLE_FINAL_DIV: f64 = 1e4;

impl Schedule {
    /// The rate at `at` for base rate `lr`.
    pub fn rate(self, lr: f32, at: StepOf) -> f32 {
        let lr = lr as f64;
        // Cosine from `from` (t = 0) to `to` (t = 1).
        let cosine = |from: f64, to: f64, t: f64| to + (from - to) * 0.5 * (1.0 + (PI * t).cos());
        let rate = match self {
            Schedule::Constant => lr,
            Schedule::Cosine => cosine(lr, 0.0, at.step as f64 / at.total.max(1) as f64),
            Schedule::Exponential { gamma } => {
                let epoch = at.step / at.steps_per_epoch.max(1);
                lr * (gamma as f64).powi(epoch as i32)
            }
            Schedule::OneCycle { warmup } => {
                // As PyTorch: the peak at step warmup·total − 1, the end at step total − 1
                // (a run of one or two steps has no room for both phases: no panic, no NaN).
                let last = at.total.saturating_sub(1) as f64;
                let peak = (warmup as f64 * at.total as f64 - 1.0).clamp(0.0, last);
                let (start, end) = (lr / ONECYCLE_DIV, lr / ONECYCLE_DIV / ONECYCLE_FINAL_DIV);
                let fraction = |done: f64, span: f64| if span > 0.0 { done / span } else { 1.0 };
                let step = at.step as f64;
                match step <= peak {
                    true => cosine(start, lr, fraction(step, peak)),
                    false => cosine(lr, end, fraction(step - peak, last - peak)),
                }
            }
        };
        rate as f32
    }

    /// Refuses factors outside their ranges, naming the setting.
    pub fn validate(self) -> Result<()> {
        match self {
            Schedule::Exponential { gamma } if !(gamma > 0.0 && gamma <= 1.0) => {
                Err(Error::config(
                    Setting::Schedule,
                    format!("exp: the factor must be in (0, 1], got {gamma}"),
                ))
            }
            Schedule::OneCycle { warmup } if !(warmup > 0.0 && warmup < 1.0) => Err(Error::config(
                Setting::Schedule,
                format!("onecycle: the warm-up fraction must be in (0, 1), got {warmup}"),
            )),
            _ => Ok(()),
        }
    }
}

impl std::str::FromStr for Schedule {
    type Err = Error;

    /// `constant`, `cosine`, `exp:<gamma>`, `onecycle` or `onecycle:<warmup>`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::config(
                Setting::Schedule,
                format!("{s:?} is not a schedule (expected constant, cosine, exp:<factor per epoch>, onecycle or onecycle:<warm-up fraction>)"),
            )
        };
        let number = |v: &str| v.parse::<f32>().map_err(|_| bad());
        let schedule = match s.split_once(':') {
            None if s == "constant" => Schedule::Constant,
            None if s == "cosine" => Schedule::Cosine,
            None if s == "onecycle" => Schedule::OneCycle { warmup: 0.3 },
            Some(("exp", gamma)) => Schedule::Exponential {
                gamma: number(gamma)?,
            },
            Some(("onecycle", warmup)) => Schedule::OneCycle {
                warmup: number(warmup)?,
            },
            _ => return Err(bad()),
        };
        schedule.validate()?;
        Ok(schedule)
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::Cosine => f.write_str("cosine"),
            Schedule::Exponential { gamma } => write!(f, "exp:{gamma}"),
            Schedule::OneCycle { warmup } => write!(f, "onecycle:{warmup}"),
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
                        vectorized(
                            #[inline(always)]
                            || {
                                for (((w, &g), m), v) in params {
                                    *m += (g - *m) * (1.0 - beta1);
                                    *v += (g * g - *v) * (1.0 - beta2);
                                    *w -= alpha * *m / (v.sqrt() + epsilon);
                                }
                            },
                        )
                    });
            }
            OptimizerConfig::Sgd { momentum, .. } => vectorized(
                #[inline(always)]
                || {
                    for ((w, &g), velocity) in values.iter_mut().zip(grads).zip(&mut self.m) {
                        *velocity = momentum * *velocity - lr * g;
                        *w += *velocity;
                    }
                },
            ),
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
        let at = |step| step_of(step, 10);
        assert_eq!(Schedule::Cosine.rate(0.1, at(0)), 0.1);
        assert!((Schedule::Cosine.rate(0.1, at(50)) - 0.05).abs() < 1e-7);
        assert!(Schedule::Cosine.rate(0.1, at(99)) < 1e-4);
        assert_eq!(Schedule::Constant.rate(0.1, at(99)), 0.1);
    }

    /// Step `step` of a 100-step run with `steps_per_epoch` steps per epoch.
    fn step_of(step: usize, steps_per_epoch: usize) -> StepOf {
        StepOf {
            step,
            steps_per_epoch,
            total: 100,
        }
    }

    #[test]
    fn exponential_decay_steps_once_per_epoch() {
        let exp = Schedule::Exponential { gamma: 0.5 };
        let at = |step| step_of(step, 10);
        assert_eq!(exp.rate(0.1, at(0)), 0.1);
        assert_eq!(exp.rate(0.1, at(9)), 0.1);
        assert_eq!(exp.rate(0.1, at(10)), 0.05);
        assert_eq!(exp.rate(0.1, at(35)), 0.0125);
    }

    /// The values of PyTorch's `OneCycleLR(max_lr=0.01, total_steps=100, pct_start=0.3,
    /// anneal_strategy="cos", cycle_momentum=False)` at a few steps.
    #[test]
    fn onecycle_matches_pytorch() {
        let one = Schedule::OneCycle { warmup: 0.3 };
        let at = |step| step_of(step, 50);
        let want = [
            (0, 0.0004),
            (14, 0.004_940_133),
            (29, 0.01),
            (30, 0.009_994_965),
            (64, 0.005_000_02),
            (99, 4e-8),
        ];
        for (step, lr) in want {
            let got = one.rate(0.01, at(step)) as f64;
            assert!(
                (got - lr).abs() <= 1e-6 * lr.max(1e-3),
                "step {step}: {got} vs {lr}"
            );
        }
        assert!(one.rate(0.01, at(28)) < one.rate(0.01, at(29)));
        assert!(one.rate(0.01, at(30)) < one.rate(0.01, at(29)));
        // Runs of a step or two (a tiny training set in one batch) get finite rates in range.
        for total in 1..4 {
            for step in 0..total {
                let rate = one.rate(
                    0.01,
                    StepOf {
                        step,
                        steps_per_epoch: 1,
                        total,
                    },
                );
                assert!(
                    rate.is_finite() && rate > 0.0 && rate <= 0.01,
                    "{step}/{total}: {rate}"
                );
            }
        }
    }

    #[test]
    fn schedules_parse_print_and_refuse() {
        for text in ["constant", "cosine", "exp:0.95", "onecycle:0.25"] {
            let schedule: Schedule = text.parse().unwrap();
            assert_eq!(schedule.to_string(), text);
        }
        assert_eq!(
            "onecycle".parse::<Schedule>().unwrap(),
            Schedule::OneCycle { warmup: 0.3 }
        );
        for bad in [
            "exp",
            "exp:0",
            "exp:1.5",
            "exp:x",
            "onecycle:1",
            "linear",
            "cosine:2",
        ] {
            let err = bad.parse::<Schedule>().unwrap_err().to_string();
            assert!(err.starts_with("schedule: "), "{bad}: {err}");
        }
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
