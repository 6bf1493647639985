//! The TensorBoard callback: per epoch, `epoch_loss`/`epoch_accuracy` for training and validation
//! at step = epoch index (0-based, as Keras), the learning rate, weight histograms, and a grid of
//! validation samples with their predictions; optionally `batch_loss` every N steps; at the end,
//! the confusion matrix on the validation set.

use super::EventWriter;
use crate::data::Images;
use crate::error::Result;
use crate::eval::loss::argmax;
use crate::eval::predict_proba;
use crate::model::Sequential;
use crate::picture::draw::{confusion_matrix, png, prediction_grid};
use crate::train::{Callback, EpochMetrics};
use std::path::Path;

/// Validation samples shown in the prediction grid.
const GRID_SAMPLES: usize = 36;

/// Writes a run's summary (Markdown) as text events in `<run_dir>/summary`, where TensorBoard's
/// Text tab shows it beside the run.
pub fn write_run_summary(run_dir: &Path, markdown: &str) -> Result<()> {
    let mut events = EventWriter::create(&run_dir.join("summary"))?;
    events.add_text("summary", 0, markdown)?;
    events.flush()
}

/// Writes a run's TensorBoard events.
pub struct TensorBoard<'a> {
    train: EventWriter,
    validation: EventWriter,
    val: &'a Images,
    batch_every: Option<usize>,
    histograms: bool,
    /// Steps since training started.
    global_step: usize,
}

impl<'a> TensorBoard<'a> {
    /// Event files in `<run_dir>/train` and `<run_dir>/validation`; `batch_every` adds
    /// `batch_loss` every that many steps; `histograms` adds weight histograms each epoch.
    pub fn new(
        run_dir: &Path,
        val: &'a Images,
        batch_every: Option<usize>,
        histograms: bool,
    ) -> Result<Self> {
        Ok(TensorBoard {
            train: EventWriter::create(&run_dir.join("train"))?,
            validation: EventWriter::create(&run_dir.join("validation"))?,
            val,
            batch_every: batch_every.filter(|&n| n > 0),
            histograms,
            global_step: 0,
        })
    }

    /// Continues step numbering after `steps` earlier steps (when resuming a run).
    pub fn set_global_step(&mut self, steps: usize) {
        self.global_step = steps;
    }

    fn predictions(model: &mut Sequential, images: &Images) -> Result<Vec<usize>> {
        let classes = model.config().classes;
        Ok(predict_proba(model, images, crate::eval::EVAL_BATCH)?
            .chunks_exact(classes)
            .map(argmax)
            .collect())
    }
}

impl Callback for TensorBoard<'_> {
    fn on_batch_end(&mut self, _step: usize, loss: f64, _accuracy: f64) {
        self.global_step += 1;
        if let Some(every) = self.batch_every {
            if self.global_step.is_multiple_of(every) {
                // A failed write here surfaces at the epoch's flush.
                let _ = self
                    .train
                    .add_scalar("batch_loss", self.global_step as i64, loss as f32);
            }
        }
    }

    fn on_epoch_end(&mut self, m: &EpochMetrics, model: &mut Sequential) -> Result<()> {
        let step = m.epoch as i64 - 1;
        self.train.add_scalar("epoch_loss", step, m.loss as f32)?;
        self.train
            .add_scalar("epoch_accuracy", step, m.accuracy as f32)?;
        self.train
            .add_scalar("epoch_learning_rate", step, m.learning_rate)?;
        if let (Some(loss), Some(acc)) = (m.val_loss, m.val_accuracy) {
            self.validation
                .add_scalar("epoch_loss", step, loss as f32)?;
            self.validation
                .add_scalar("epoch_accuracy", step, acc as f32)?;
        }
        if self.histograms {
            let slots: Vec<_> = model.params.slots().cloned().collect();
            for slot in slots
                .iter()
                .filter(|s| s.kind != crate::layers::ParamKind::Constant)
            {
                self.train
                    .add_histogram(&slot.key, step, model.params.get(slot))?;
            }
        }
        let shown = self.val.slice(0..GRID_SAMPLES.min(self.val.len()));
        if !shown.is_empty() {
            let predicted = Self::predictions(model, &shown)?;
            let (h, w) = (shown.shape.h, shown.shape.w);
            let images: Vec<&[u8]> = (0..shown.len()).map(|i| shown.image(i)).collect();
            let grid = prediction_grid(&images, (h, w), &shown.labels, &predicted, 6);
            let (gw, gh) = grid.dimensions();
            self.validation
                .add_png("validation_predictions", step, png(&grid), (gh, gw, 3))?;
        }
        self.train.flush()?;
        self.validation.flush()
    }

    fn on_train_end(&mut self, model: &mut Sequential) -> Result<()> {
        let classes = model.config().classes;
        let predicted = Self::predictions(model, self.val)?;
        let mut counts = vec![vec![0usize; classes]; classes];
        for (&label, &p) in self.val.labels.iter().zip(&predicted) {
            counts[label as usize][p] += 1;
        }
        let cm = confusion_matrix(&counts);
        let (w, h) = cm.dimensions();
        self.validation
            .add_png("confusion_matrix", 0, png(&cm), (h, w, 3))?;
        self.validation.flush()
    }
}
