//! Callbacks hang on the fit loop: they see every batch and every epoch's metrics, may write
//! files and may stop training. The ones here keep the best model and stop early; the history
//! file has its own module.

use super::EpochMetrics;
use crate::error::{Error, Result, Setting};
use crate::model::{save, Sequential};
use std::path::PathBuf;

/// Something that follows training.
pub trait Callback {
    /// An epoch of `steps` batches starts.
    fn on_epoch_begin(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    /// Batch `step` (1-based) ended; `loss`/`accuracy` are running means over the epoch so far.
    fn on_batch_end(&mut self, _step: usize, _loss: f64, _accuracy: f64) {}
    /// An epoch ended; an error stops training. The model may be run (in eval mode).
    fn on_epoch_end(&mut self, _metrics: &EpochMetrics, _model: &mut Sequential) -> Result<()> {
        Ok(())
    }
    /// Training finished normally (after the last epoch, or when a callback asked to stop).
    fn on_train_end(&mut self, _model: &mut Sequential) -> Result<()> {
        Ok(())
    }
    /// Asked after every batch and every epoch: true ends training there (Keras'
    /// `model.stop_training = True`).
    fn stop_requested(&self) -> bool {
        false
    }
}

/// Saves the model whenever the monitored loss improves, like Keras'
/// `ModelCheckpoint(save_best_only=True)` on `val_loss` (on `loss` without validation).
#[derive(Debug)]
pub struct BestCheckpoint {
    path: PathBuf,
    best: f64,
    /// Print a line when the model is saved.
    pub verbose: bool,
}

impl BestCheckpoint {
    /// Saves to `path`.
    pub fn new(path: PathBuf) -> Self {
        BestCheckpoint {
            path,
            best: f64::INFINITY,
            verbose: true,
        }
    }

    /// Continues a run whose best monitored loss so far was `best`.
    pub fn resume(path: PathBuf, best: f64) -> Self {
        BestCheckpoint {
            best,
            ..Self::new(path)
        }
    }
}

impl Callback for BestCheckpoint {
    fn on_epoch_end(&mut self, m: &EpochMetrics, model: &mut Sequential) -> Result<()> {
        let (name, value) = m.monitored_loss();
        if value < self.best {
            if self.verbose {
                println!(
                    "Epoch {}: {name} improved from {:.5} to {value:.5}, saving model to {}",
                    m.epoch,
                    self.best,
                    self.path.display()
                );
            }
            self.best = value;
            save(model, &self.path)?;
        }
        Ok(())
    }
}

/// An epoch metric a callback watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Training loss (lower is better).
    Loss,
    /// Training accuracy (higher is better).
    Accuracy,
    /// Validation loss (lower is better).
    ValLoss,
    /// Validation accuracy (higher is better).
    ValAccuracy,
}

impl Monitor {
    /// Every metric with its Keras name.
    pub const ALL: [(Monitor, &'static str); 4] = [
        (Monitor::Loss, "loss"),
        (Monitor::Accuracy, "accuracy"),
        (Monitor::ValLoss, "val_loss"),
        (Monitor::ValAccuracy, "val_accuracy"),
    ];

    /// The metric's value in `m`, signed so that lower is better; `None` for a validation
    /// metric of a run without validation.
    fn score(self, m: &EpochMetrics) -> Option<f64> {
        match self {
            Monitor::Loss => Some(m.loss),
            Monitor::Accuracy => Some(-m.accuracy),
            Monitor::ValLoss => m.val_loss,
            Monitor::ValAccuracy => m.val_accuracy.map(|a| -a),
        }
    }
}

impl std::str::FromStr for Monitor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(m, _)| *m)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|(_, n)| *n).collect();
                Error::config(
                    Setting::Monitor,
                    format!(
                        "unknown metric {s:?} (expected one of {})",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// Stops training when the monitored metric has not improved by more than `min_delta` for
/// `patience` epochs, like Keras' `EarlyStopping`; with `restore_best_weights` the model gets
/// back the weights of its best epoch when it stops.
#[derive(Debug)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    min_delta: f64,
    restore_best_weights: bool,
    best: f64,
    /// Epochs since the last improvement.
    wait: usize,
    /// Trainable values and state of the best epoch, when restoring.
    best_weights: Option<(Vec<f32>, Vec<f32>)>,
    stop: bool,
}

impl EarlyStopping {
    /// Watches `monitor`; refuses a negative or non-finite `min_delta`.
    pub fn new(
        monitor: Monitor,
        patience: usize,
        min_delta: f64,
        restore_best_weights: bool,
    ) -> Result<Self> {
        if !(min_delta.is_finite() && min_delta >= 0.0) {
            return Err(Error::config(
                Setting::MinDelta,
                format!("must be a non-negative number, got {min_delta}"),
            ));
        }
        Ok(EarlyStopping {
            monitor,
            patience,
            min_delta,
            restore_best_weights,
            best: f64::INFINITY,
            wait: 0,
            best_weights: None,
            stop: false,
        })
    }
}

impl Callback for EarlyStopping {
    fn on_epoch_end(&mut self, m: &EpochMetrics, model: &mut Sequential) -> Result<()> {
        let Some(score) = self.monitor.score(m) else {
            return Err(Error::config(
                Setting::Monitor,
                "a validation metric needs validation data",
            ));
        };
        if score < self.best - self.min_delta {
            self.best = score;
            self.wait = 0;
            if self.restore_best_weights {
                self.best_weights = Some((model.params.values.clone(), model.params.state.clone()));
            }
            return Ok(());
        }
        self.wait += 1;
        if self.wait >= self.patience {
            self.stop = true;
            if let Some((values, state)) = self.best_weights.take() {
                (model.params.values, model.params.state) = (values, state);
            }
        }
        Ok(())
    }

    fn stop_requested(&self) -> bool {
        self.stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::model::{ModelConfig, Normalization};
    use crate::train::{fit, testing, OptimizerConfig, TrainConfig};

    /// No epoch can beat the first one's accuracy by more than 1: patience 1 stops after two
    /// epochs and restores the first epoch's weights.
    #[test]
    fn early_stopping_stops_and_restores_the_best_weights() {
        let train = testing::images(40);
        let config = ModelConfig::new("D10", Dataset::Mnist, Normalization::None);
        let mut model = Sequential::new(config, 1).unwrap();
        let fit_config = TrainConfig {
            epochs: 6,
            batch_size: 40,
            optimizer: OptimizerConfig::Sgd {
                lr: 1e-3,
                momentum: 0.0,
            },
            ..TrainConfig::default()
        };
        let mut keeps = Vec::new();
        struct Keep<'a>(&'a mut Vec<Vec<f32>>);
        impl Callback for Keep<'_> {
            fn on_epoch_end(&mut self, _: &EpochMetrics, model: &mut Sequential) -> Result<()> {
                self.0.push(model.params.values.clone());
                Ok(())
            }
        }
        let mut early = EarlyStopping::new(Monitor::Accuracy, 1, 1.0, true).unwrap();
        let history = fit(
            &mut model,
            &train,
            None,
            &fit_config,
            &mut [&mut Keep(&mut keeps), &mut early],
        )
        .unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(model.params.values, keeps[0]);
        assert_ne!(keeps[0], keeps[1]);
        assert!("val_acc".parse::<Monitor>().is_err());
        assert!(EarlyStopping::new(Monitor::Loss, 1, -1.0, false).is_err());
    }
}
