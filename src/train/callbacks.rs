//! Callbacks hang on the fit loop: they see every batch and every epoch's metrics, and may write
//! files. The one here keeps the best model; the history file has its own module.

use super::EpochMetrics;
use crate::error::Result;
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
    /// Training finished normally.
    fn on_train_end(&mut self, _model: &mut Sequential) -> Result<()> {
        Ok(())
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
