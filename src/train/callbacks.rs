//! Callbacks hang on the fit loop: they see every batch and every epoch's metrics, and may write
//! files. The ones here keep the best model and the history; the CLI attaches them.

use super::EpochMetrics;
use crate::error::Result;
use crate::fsutil::write_atomic;
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
        let (name, value) = match m.val_loss {
            Some(v) => ("val_loss", v),
            None => ("loss", m.loss),
        };
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

/// Writes `history.csv`, one row per epoch, replaced whole after each epoch.
#[derive(Debug)]
pub struct HistoryCsv {
    path: PathBuf,
    text: String,
}

/// The header of `history.csv`.
pub const HISTORY_HEADER: &str = "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds";

impl HistoryCsv {
    /// Writes to `path`.
    pub fn new(path: PathBuf) -> Self {
        HistoryCsv {
            path,
            text: format!("{HISTORY_HEADER}\n"),
        }
    }
}

impl HistoryCsv {
    /// Continues `path` after its first `epochs` rows (later rows, from epochs that were cut
    /// short, are dropped).
    pub fn resume(path: PathBuf, epochs: usize) -> Self {
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let mut text = format!("{HISTORY_HEADER}\n");
        for line in old.lines().skip(1).take(epochs) {
            text.push_str(line);
            text.push('\n');
        }
        HistoryCsv { path, text }
    }
}

impl Callback for HistoryCsv {
    fn on_epoch_end(&mut self, m: &EpochMetrics, _model: &mut Sequential) -> Result<()> {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        self.text.push_str(&format!(
            "{},{:.6},{:.6},{},{},{},{:.3}\n",
            m.epoch,
            m.loss,
            m.accuracy,
            opt(m.val_loss),
            opt(m.val_accuracy),
            m.learning_rate,
            m.seconds
        ));
        write_atomic(&self.path, self.text.as_bytes())
    }
}
