//! The bridge from the library's fit loop to Python's callbacks.
//!
//! The loop runs on a worker of the thread pool, as the command line runs its commands: from
//! any other thread each of an epoch's thousands of parallel loops would wake a worker and put
//! that thread to sleep until the loop ends. Python code runs on the thread that called `fit`,
//! as in Keras: the callbacks, and the signal handlers, which CPython runs only on the main
//! thread. That thread waits, without the GIL, for the loop's events, and between them looks
//! for signals every few milliseconds, so Ctrl-C stops the loop at its next batch.

use mnistlab::model::Sequential;
use mnistlab::train::{Callback, EpochMetrics};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// How often the waiting thread looks for signals between the loop's events.
const SIGNAL_POLL: Duration = Duration::from_millis(10);

/// What the fit loop tells the thread that called `fit`.
enum Event {
    EpochBegin {
        epoch: usize,
        epochs: usize,
        steps: usize,
    },
    BatchEnd {
        step: usize,
        loss: f64,
        accuracy: f64,
    },
    EpochEnd(EpochMetrics),
}

/// The fit loop's end of the bridge: one of its callbacks, handing each event over and waiting
/// until it has been handled.
pub(crate) struct Relay<'a> {
    events: Sender<Event>,
    handled: Receiver<()>,
    /// Send every batch's end (else a batch costs no hand-over).
    batch_hooks: bool,
    /// Set by the calling thread: a hook asked to stop, raised, or a signal came.
    stop: &'a AtomicBool,
}

impl Relay<'_> {
    fn tell(&mut self, event: Event) {
        // A closed channel means the other end is gone: nobody is left to train for.
        if self.events.send(event).is_err() || self.handled.recv().is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

impl Callback for Relay<'_> {
    fn on_epoch_begin(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.tell(Event::EpochBegin {
            epoch,
            epochs,
            steps,
        });
    }

    fn on_batch_end(&mut self, step: usize, loss: f64, accuracy: f64) {
        if self.batch_hooks {
            self.tell(Event::BatchEnd {
                step,
                loss,
                accuracy,
            });
        }
    }

    fn on_epoch_end(&mut self, m: &EpochMetrics, _model: &mut Sequential) -> mnistlab::Result<()> {
        self.tell(Event::EpochEnd(m.clone()));
        Ok(())
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// The calling thread's end: hands the events to a Python object (the Keras-shaped callback
/// list) and turns Ctrl-C into `KeyboardInterrupt`.
pub(crate) struct Listener {
    pub(crate) hooks: Py<PyAny>,
    /// Call `on_train_batch_end` for every batch.
    pub(crate) batch_hooks: bool,
    /// The first Python exception raised in a hook or by a signal: training stops at once and
    /// it is raised when `fit` returns.
    pub(crate) error: Option<PyErr>,
}

impl Listener {
    /// Runs `fit_loop` on another thread, which passes the relay it is given to the loop among
    /// its callbacks; answers the loop's events on this thread until it returns.
    pub(crate) fn serve<R: Send>(
        &mut self,
        py: Python<'_>,
        fit_loop: impl FnOnce(&mut Relay<'_>) -> R + Send,
    ) -> R {
        let (events, event_rx) = channel();
        let (done, handled) = channel();
        let stop = AtomicBool::new(false);
        let batch_hooks = self.batch_hooks;
        let outcome = py.detach(move || {
            std::thread::scope(|scope| {
                let stop = &stop;
                let fit = scope.spawn(move || {
                    fit_loop(&mut Relay {
                        events,
                        handled,
                        batch_hooks,
                        stop,
                    })
                });
                loop {
                    let handled = match event_rx.recv_timeout(SIGNAL_POLL) {
                        Ok(event) => Python::attach(|py| self.handle(py, event)),
                        Err(RecvTimeoutError::Timeout) => {
                            Python::attach(|py| self.keep(py.check_signals().map(|()| false)))
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    if handled.stop {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if handled.answer && done.send(()).is_err() {
                        break;
                    }
                }
                fit.join()
            })
        });
        outcome.unwrap_or_else(|payload| panic::resume_unwind(payload))
    }

    /// Calls the hook for `event`.
    fn handle(&mut self, py: Python<'_>, event: Event) -> Handled {
        let outcome = match event {
            _ if self.error.is_some() => Ok(true),
            Event::EpochBegin {
                epoch,
                epochs,
                steps,
            } => self
                .hooks
                .call_method1(py, "on_epoch_begin", (epoch - 1, epochs, steps))
                .map(|_| false),
            // A signal sent by the hook itself is raised here, before the next batch.
            Event::BatchEnd {
                step,
                loss,
                accuracy,
            } => self
                .hooks
                .bind(py)
                .call_method1("on_train_batch_end", (step - 1, loss, accuracy))
                .and_then(|stop| stop.is_truthy())
                .and_then(|stop| py.check_signals().map(|()| stop)),
            Event::EpochEnd(m) => epoch_logs(py, &m).and_then(|logs| {
                self.hooks
                    .bind(py)
                    .call_method1("on_epoch_end", (m.epoch - 1, logs))?
                    .is_truthy()
            }),
        };
        Handled {
            answer: true,
            ..self.keep(outcome)
        }
    }

    /// Keeps the first error; whether to stop.
    fn keep(&mut self, outcome: PyResult<bool>) -> Handled {
        let stop = match outcome {
            Ok(stop) => stop,
            Err(err) => {
                self.error.get_or_insert(err);
                true
            }
        };
        Handled {
            stop,
            answer: false,
        }
    }
}

/// What the calling thread did with an event or a look for signals.
struct Handled {
    /// The loop is to stop at its next batch.
    stop: bool,
    /// The loop waits for this one.
    answer: bool,
}

/// Keras' `logs` of an epoch.
fn epoch_logs<'py>(py: Python<'py>, m: &EpochMetrics) -> PyResult<Bound<'py, PyDict>> {
    let logs = PyDict::new(py);
    logs.set_item("loss", m.loss)?;
    logs.set_item("accuracy", m.accuracy)?;
    if let (Some(loss), Some(acc)) = (m.val_loss, m.val_accuracy) {
        logs.set_item("val_loss", loss)?;
        logs.set_item("val_accuracy", acc)?;
    }
    logs.set_item("learning_rate", m.learning_rate)?;
    logs.set_item("seconds", m.seconds)?;
    Ok(logs)
}
