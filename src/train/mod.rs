//! Training and evaluation: the fit loop (`forward`, loss, `zero_grad`, `backward`, `step`),
//! metrics, callbacks (progress bar, best-model checkpoint, history file) and run directories.

pub mod bench;
pub mod callbacks;
pub mod optim;
pub mod progress;
pub mod state;

pub use callbacks::{BestCheckpoint, Callback};
pub use optim::{Optimizer, OptimizerConfig, Schedule};

use crate::data::Images;
use crate::error::{Error, Result, Setting};
use crate::eval::loss::{self, softmax_cross_entropy};
use crate::eval::{check_input, evaluate};
use crate::model::Sequential;
use crate::rng::seeded;
use crate::shape::Mode;
use state::TrainState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Hyper-parameters of one `fit`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Optimiser and learning rate.
    pub optimizer: OptimizerConfig,
    /// L2 factor λ on kernels (0 for none).
    pub l2: f32,
    /// Seed of the shuffling order.
    pub seed: u64,
    /// Learning-rate schedule over all steps.
    pub schedule: Schedule,
    /// Random affine augmentation of training images, if any.
    pub augment: Option<crate::data::augment::Augment>,
    /// Label smoothing ε (0 for none): training targets become `(1 − ε)·one-hot + ε/classes`.
    pub label_smoothing: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 128,
            optimizer: OptimizerConfig::adam(1e-3),
            l2: 0.0,
            seed: 0,
            schedule: Schedule::Constant,
            augment: None,
            label_smoothing: 0.0,
        }
    }
}

impl TrainConfig {
    /// Refuses settings that cannot train, naming the setting.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::config(Setting::Epochs, "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::config(Setting::BatchSize, "must be at least 1"));
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(Error::config(
                Setting::L2,
                format!("must be a non-negative number, got {}", self.l2),
            ));
        }
        if let Some(augment) = &self.augment {
            augment.validate()?;
        }
        self.schedule.validate()?;
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::config(
                Setting::LabelSmoothing,
                format!("must be in [0, 1), got {}", self.label_smoothing),
            ));
        }
        self.optimizer.validate()
    }
}

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss (cross-entropy plus the L2 penalty), as Keras reports it.
    pub loss: f64,
    /// Training accuracy.
    pub accuracy: f64,
    /// Validation loss, when there is a validation set.
    pub val_loss: Option<f64>,
    /// Validation accuracy.
    pub val_accuracy: Option<f64>,
    /// Learning rate used in the epoch.
    pub learning_rate: f32,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
}

impl EpochMetrics {
    /// The loss that decides which model is kept, with its name: the validation loss, or the
    /// training loss without a validation set (as Keras' `ModelCheckpoint` on `val_loss`).
    pub fn monitored_loss(&self) -> (&'static str, f64) {
        match self.val_loss {
            Some(v) => ("val_loss", v),
            None => ("loss", self.loss),
        }
    }
}

/// Sets `model`'s input normalization statistics from the training images, by the model's
/// [`crate::model::Normalization`] mode (as Keras' `Normalization.adapt`).
pub fn adapt_normalization(model: &mut Sequential, train: &Images) {
    let (mean, std) = model
        .config()
        .normalization
        .statistics(&train.pixels, train.shape.len());
    model.set_normalization(&mean, &std);
}

/// Trains `model` on `train`, evaluating on `val` after each epoch and calling `callbacks`.
pub fn fit(
    model: &mut Sequential,
    train: &Images,
    val: Option<&Images>,
    config: &TrainConfig,
    callbacks: &mut [&mut dyn Callback],
) -> Result<Vec<EpochMetrics>> {
    fit_with(model, train, val, config, callbacks, Control::default())
}

/// Receives the training state to keep it (e.g. write `last_state.safetensors`).
pub type StateSink<'a> = dyn FnMut(&TrainState, &Sequential) -> Result<()> + 'a;

/// How a run starts, keeps its resume state, and stops early.
#[derive(Default)]
pub struct Control<'a> {
    /// The state to continue from; `None` starts afresh.
    pub resume: Option<TrainState>,
    /// Receives the state after every epoch and when stopping early (to save it).
    pub save_state: Option<&'a mut StateSink<'a>>,
    /// When it becomes true (Ctrl-C), training stops after the current step.
    pub stop: Option<&'a AtomicBool>,
}

/// A fresh state for `config` and `model`.
pub fn initial_state(model: &Sequential, train: &Images, config: &TrainConfig) -> TrainState {
    let optimizer = Optimizer::new(config.optimizer, model.params.values.len());
    TrainState::new(optimizer, seeded(config.seed), train.len())
}

/// [`fit`] with resuming, state saving and early stopping; returns the epochs finished here.
///
/// A callback that asks to stop ([`Callback::stop_requested`], asked after every batch and every
/// epoch) ends the run normally after that batch or epoch, as Keras' `model.stop_training`: the
/// model keeps the weights of the last step, the state is saved, and `on_train_end` runs.
pub fn fit_with(
    model: &mut Sequential,
    train: &Images,
    val: Option<&Images>,
    config: &TrainConfig,
    callbacks: &mut [&mut dyn Callback],
    mut control: Control<'_>,
) -> Result<Vec<EpochMetrics>> {
    config.validate()?;
    check_input(model, train)?;
    if train.is_empty() {
        return Err(Error::config(Setting::Data, "the training set is empty"));
    }
    let (classes, batch) = (model.config().classes, config.batch_size.min(train.len()));
    model.reserve(batch);
    let mut st = match control.resume.take() {
        Some(st) if st.order.len() == train.len() => st,
        Some(st) => {
            return Err(Error::config(
                Setting::ResumeState,
                format!(
                    "the saved state is for {} training images, the data has {}",
                    st.order.len(),
                    train.len()
                ),
            ))
        }
        None => initial_state(model, train, config),
    };
    let (mut targets, mut dlogits) = (vec![0.0; batch * classes], vec![0.0; batch * classes]);
    let mut indices = Vec::with_capacity(batch);
    let steps = train.len().div_ceil(batch);
    let mut history = Vec::new();
    let mut save = |st: &TrainState, model: &Sequential| match control.save_state.as_mut() {
        Some(sink) => sink(st, model),
        None => Ok(()),
    };
    let stop_requested =
        |callbacks: &[&mut dyn Callback]| callbacks.iter().any(|c| c.stop_requested());
    'epochs: while st.epoch <= config.epochs {
        let epoch = st.epoch;
        let start = Instant::now();
        let elapsed = |st: &TrainState| st.seconds + start.elapsed().as_secs_f64();
        callbacks
            .iter_mut()
            .for_each(|c| c.on_epoch_begin(epoch, config.epochs, steps));
        while st.step < steps {
            if control.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                st.seconds = elapsed(&st);
                save(&st, model)?;
                return Err(Error::Interrupted {
                    epoch,
                    step: st.step,
                });
            }
            let step = st.step;
            indices.clear();
            let batch_order = &st.order[step * batch..((step + 1) * batch).min(train.len())];
            indices.extend(batch_order.iter().map(|&i| i as usize));
            let n = indices.len();
            let x = model.input_mut(n);
            match &config.augment {
                Some(aug) => aug.fill_batch(train, &indices, x, &mut targets, classes, &mut st.rng),
                None => train.fill_batch(&indices, x, &mut targets, classes),
            }
            if config.label_smoothing > 0.0 {
                loss::smooth_labels(&mut targets[..n * classes], config.label_smoothing, classes);
            }
            let logits = model.forward(n, Mode::Train);
            let score =
                softmax_cross_entropy(logits, &targets[..n * classes], classes, Some(&mut dlogits));
            model.params.zero_grad();
            model.backward(n, &dlogits);
            let penalty = optim::apply_l2(&mut model.params, config.l2);
            let batch_loss = score.loss_sum / n as f64 + penalty;
            if !batch_loss.is_finite() {
                return Err(Error::NonFinite {
                    epoch,
                    step: step + 1,
                });
            }
            let base_lr = config.optimizer.lr();
            st.optimizer.set_lr(config.schedule.rate(
                base_lr,
                optim::StepOf {
                    step: (epoch - 1) * steps + step,
                    steps_per_epoch: steps,
                    total: config.epochs * steps,
                },
            ));
            st.optimizer
                .step(&mut model.params.values, &model.params.grads);
            st.loss_sum += batch_loss * n as f64;
            st.correct += score.correct;
            st.seen += n;
            st.step += 1;
            let (loss, accuracy) = (
                st.loss_sum / st.seen as f64,
                st.correct as f64 / st.seen as f64,
            );
            callbacks
                .iter_mut()
                .for_each(|c| c.on_batch_end(step + 1, loss, accuracy));
            if stop_requested(callbacks) {
                st.seconds = elapsed(&st);
                save(&st, model)?;
                break 'epochs;
            }
        }
        let validation = val.map(|v| evaluate(model, v, batch)).transpose()?;
        let metrics = EpochMetrics {
            epoch,
            loss: st.loss_sum / st.seen as f64,
            accuracy: st.correct as f64 / st.seen as f64,
            val_loss: validation.map(|e| e.loss),
            val_accuracy: validation.map(|e| e.accuracy),
            learning_rate: st.optimizer.lr(),
            seconds: elapsed(&st),
        };
        for callback in callbacks.iter_mut() {
            callback.on_epoch_end(&metrics, model)?;
        }
        st.best_loss = st.best_loss.min(metrics.monitored_loss().1);
        history.push(metrics);
        st.next_epoch();
        save(&st, model)?;
        if stop_requested(callbacks) {
            break;
        }
    }
    for callback in callbacks.iter_mut() {
        callback.on_train_end(model)?;
    }
    Ok(history)
}

/// Small fixed data for the fit loop's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::data::Images;
    use crate::shape::Shape;

    /// `n` 28×28 images that a linear model can learn: labels cycle through the ten classes,
    /// and the pixels whose index ends in the label's digit are bright, the others noise.
    pub fn images(n: usize) -> Images {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let pixels = (0..n * 784)
            .map(|i| {
                let bright = i % 784 % 10 == labels[i / 784] as usize;
                (i * 7919 % 50) as u8 + if bright { 150 } else { 0 }
            })
            .collect();
        Images {
            pixels,
            labels,
            shape: Shape::new(28, 28, 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::model::{ModelConfig, Normalization};

    /// With ε = 0.5 the smoothed targets (0.55 and nine times 0.05) have an entropy of 1.677
    /// nats, a floor no model can go below; without smoothing the same run gets far under it.
    #[test]
    fn label_smoothing_reaches_the_training_loss() {
        let train = testing::images(200);
        let loss_with = |label_smoothing| {
            let config = ModelConfig::new("D10", Dataset::Mnist, Normalization::MinMax);
            let mut model = Sequential::new(config, 1).unwrap();
            let fit_config = TrainConfig {
                epochs: 8,
                batch_size: 20,
                optimizer: OptimizerConfig::adam(1e-2),
                label_smoothing,
                ..TrainConfig::default()
            };
            let history = fit(&mut model, &train, None, &fit_config, &mut []).unwrap();
            history.last().unwrap().loss
        };
        let floor = -(0.55f64 * 0.55f64.ln() + 9.0 * 0.05 * 0.05f64.ln());
        assert!(
            loss_with(0.5) >= floor - 1e-3,
            "{} < {floor}",
            loss_with(0.5)
        );
        assert!(loss_with(0.0) < floor - 0.5, "{}", loss_with(0.0));
    }

    /// The fit loop hands the schedule the right epoch: with exp:0.5 each epoch ran at half the
    /// rate of the one before.
    #[test]
    fn exponential_schedule_halves_the_rate_each_epoch() {
        let train = testing::images(60);
        let config = ModelConfig::new("D10", Dataset::Mnist, Normalization::MinMax);
        let mut model = Sequential::new(config, 1).unwrap();
        let fit_config = TrainConfig {
            epochs: 3,
            batch_size: 16,
            optimizer: OptimizerConfig::adam(0.008),
            schedule: Schedule::Exponential { gamma: 0.5 },
            ..TrainConfig::default()
        };
        let history = fit(&mut model, &train, None, &fit_config, &mut []).unwrap();
        let rates: Vec<f32> = history.iter().map(|m| m.learning_rate).collect();
        assert_eq!(rates, [0.008, 0.004, 0.002]);
    }
}
