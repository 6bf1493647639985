//! The bridge from the library's fit loop to Python's callbacks.

use mnistlab::model::Sequential;
use mnistlab::train::{Callback, EpochMetrics};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Hands the fit loop's batches and epochs to a Python object (the Keras-shaped callback list),
/// re-taking the GIL only there, and turns Ctrl-C into `KeyboardInterrupt` at the next batch.
pub(crate) struct Listener {
    pub(crate) hooks: Py<PyAny>,
    /// Call `on_train_batch_end` for every batch (else only signals are checked).
    pub(crate) batch_hooks: bool,
    /// The first Python exception raised in a hook or by a signal: training stops at once and
    /// it is raised when `fit` returns.
    pub(crate) error: Option<PyErr>,
    pub(crate) stop: bool,
}

impl Listener {
    fn call(&mut self, run: impl FnOnce(Python<'_>, &Bound<'_, PyAny>) -> PyResult<bool>) {
        if self.error.is_some() {
            return;
        }
        Python::attach(|py| match run(py, self.hooks.bind(py)) {
            Ok(stop) => self.stop |= stop,
            Err(err) => self.error = Some(err),
        });
    }
}

impl Callback for Listener {
    fn on_epoch_begin(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.call(|_, hooks| {
            hooks.call_method1("on_epoch_begin", (epoch - 1, epochs, steps))?;
            Ok(false)
        });
    }

    fn on_batch_end(&mut self, step: usize, loss: f64, accuracy: f64) {
        let batch_hooks = self.batch_hooks;
        self.call(|py, hooks| {
            py.check_signals()?;
            match batch_hooks {
                true => hooks
                    .call_method1("on_train_batch_end", (step - 1, loss, accuracy))?
                    .is_truthy(),
                false => Ok(false),
            }
        });
    }

    fn on_epoch_end(&mut self, m: &EpochMetrics, _model: &mut Sequential) -> mnistlab::Result<()> {
        self.call(|py, hooks| {
            let logs = PyDict::new(py);
            logs.set_item("loss", m.loss)?;
            logs.set_item("accuracy", m.accuracy)?;
            if let (Some(loss), Some(acc)) = (m.val_loss, m.val_accuracy) {
                logs.set_item("val_loss", loss)?;
                logs.set_item("val_accuracy", acc)?;
            }
            logs.set_item("learning_rate", m.learning_rate)?;
            logs.set_item("seconds", m.seconds)?;
            hooks
                .call_method1("on_epoch_end", (m.epoch - 1, logs))?
                .is_truthy()
        });
        Ok(())
    }

    fn stop_requested(&self) -> bool {
        self.stop || self.error.is_some()
    }
}
