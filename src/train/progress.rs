//! A Keras-like progress bar: `Epoch 3/10`, then
//! `422/422 ━━━━━━━━━━━━━━━━━━━━ 3s 7ms/step - loss: 0.0712 - accuracy: 0.9780 - val_loss: … - val_accuracy: …`.
//! On a terminal it redraws in place; otherwise (logs, CI) it prints one line per epoch.

use super::{Callback, EpochMetrics};
use crate::error::Result;
use crate::model::Sequential;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// Progress display for `fit`.
pub struct Progress {
    bar: Option<ProgressBar>,
    interactive: bool,
    start: Instant,
    steps: usize,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// A bar drawn on standard output when it is a terminal.
    pub fn new() -> Self {
        Progress {
            bar: None,
            interactive: std::io::stdout().is_terminal(),
            start: Instant::now(),
            steps: 0,
        }
    }

    fn timing(&self) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        format!(
            "{}s {:.0}ms/step",
            secs.round(),
            1000.0 * secs / self.steps.max(1) as f64
        )
    }
}

impl Callback for Progress {
    fn on_epoch_begin(&mut self, epoch: usize, epochs: usize, steps: usize) {
        println!("Epoch {epoch}/{epochs}");
        self.start = Instant::now();
        self.steps = steps;
        if self.interactive {
            let bar =
                ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template("{pos}/{len} {bar:20} {msg}")
                    .expect("valid template")
                    .progress_chars("━━─"),
            );
            self.bar = Some(bar);
        }
    }

    fn on_batch_end(&mut self, step: usize, loss: f64, accuracy: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64);
            let secs = self.start.elapsed().as_secs_f64();
            bar.set_message(format!(
                "{:.0}s {:.0}ms/step - loss: {loss:.4} - accuracy: {accuracy:.4}",
                secs,
                1000.0 * secs / step as f64
            ));
        }
    }

    fn on_epoch_end(&mut self, m: &EpochMetrics, _model: &mut Sequential) -> Result<()> {
        let mut line = format!(
            "{} - loss: {:.4} - accuracy: {:.4}",
            self.timing(),
            m.loss,
            m.accuracy
        );
        if let (Some(loss), Some(acc)) = (m.val_loss, m.val_accuracy) {
            line.push_str(&format!(" - val_loss: {loss:.4} - val_accuracy: {acc:.4}"));
        }
        match self.bar.take() {
            Some(bar) => bar.finish_with_message(line),
            None => println!("{0}/{0} - {line}", self.steps),
        }
        Ok(())
    }
}
