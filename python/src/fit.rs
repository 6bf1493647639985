//! One `fit` from Python: the engine's own callbacks (best model, TensorBoard, early stopping)
//! beside Python's, the optimizer carried on from the previous fit, and the backup from which an
//! interrupted fit continues (Keras' `BackupAndRestore`, a run directory kept as
//! `mnistlab train --resume` keeps one).

use crate::errors::{to_py, ConfigError};
use crate::listener::{Listener, Relay};
use mnistlab::data::augment::Augment;
use mnistlab::data::Images;
use mnistlab::model::Sequential;
use mnistlab::runs::run_dir::{RunDir, RunLock};
use mnistlab::tensorboard::TensorBoard;
use mnistlab::train::callbacks::EarlyStopping;
use mnistlab::train::state::TrainState;
use mnistlab::train::{fit_with, BestCheckpoint, Callback, Control, Optimizer, TrainConfig};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::{Path, PathBuf};

/// The augmentation of a `dict` with keys `rotation`, `zoom`, `shear`, `shift` (floats),
/// `flip` (bool) and `erase` (probability); missing keys are off.
pub(crate) fn augment_from(dict: &Bound<'_, PyDict>) -> PyResult<Augment> {
    let mut augment = Augment::default();
    for (key, value) in dict.iter() {
        let key: String = key.extract()?;
        match key.as_str() {
            "rotation" => augment.rotation = value.extract()?,
            "zoom" => augment.zoom = value.extract()?,
            "shear" => augment.shear = value.extract()?,
            "shift" => augment.shift = value.extract()?,
            "flip" => augment.flip = value.extract()?,
            "erase" => augment.erase = value.extract()?,
            other => {
                return Err(ConfigError::new_err(format!(
                    "augment: unknown setting {other:?} (expected rotation, zoom, shear, shift, \
                     flip or erase)"
                )))
            }
        }
    }
    Ok(augment)
}

/// A run directory that one fit holds, saving its state there after every epoch and when it
/// is interrupted; the next fit given it continues from that state.
pub(crate) struct Backup {
    dir: RunDir,
    _lock: RunLock,
    /// Forget the state once the fit ends without an exception (Keras' `delete_checkpoint`).
    delete: bool,
}

impl Backup {
    /// Takes `path` (created if missing) for one fit. Refused while another fit trains from it,
    /// in another process (its lock) or in this one: the GIL, held here, keeps two Python
    /// threads from both finding it free.
    pub(crate) fn open(path: &Path, delete: bool) -> PyResult<Self> {
        let dir = RunDir::at(path);
        if dir.is_locked() {
            return Err(ConfigError::new_err(format!(
                "backup_dir: {}: another fit is training from this backup; wait for it to \
                 finish or stop it first",
                path.display()
            )));
        }
        let lock = dir.lock().map_err(to_py)?;
        Ok(Backup {
            dir,
            _lock: lock,
            delete,
        })
    }

    /// The state an interrupted fit left, read into `model`, or `None` (its settings saved
    /// for the next fit to compare). A state from other settings is refused, naming them,
    /// before anything is read into `model`.
    fn restore(
        &self,
        model: &mut Sequential,
        config: &TrainConfig,
        settings: &Settings,
    ) -> PyResult<Option<TrainState>> {
        if !self.dir.has_state() {
            self.dir.write_args(settings).map_err(to_py)?;
            return Ok(None);
        }
        let saved: serde_json::Value = self.dir.read_args().map_err(to_py)?;
        let differ: Vec<String> = settings
            .iter()
            .filter(|(key, value)| saved.get(key.as_str()) != Some(value))
            .map(|(key, value)| {
                let was = saved.get(key.as_str()).unwrap_or(&serde_json::Value::Null);
                format!("{key} {was} there, {value} here")
            })
            .collect();
        if !differ.is_empty() {
            return Err(ConfigError::new_err(format!(
                "backup_dir: {} holds a fit with other settings ({}); call fit as before, or \
                 give another backup_dir",
                self.dir.path().display(),
                differ.join(", ")
            )));
        }
        let optimizer = Optimizer::new(config.optimizer, model.params.values.len());
        // A refused state leaves the model as it was.
        self.dir.load_state(model, optimizer).map_err(to_py)
    }
}

/// A fit's settings by name, as its backup records them.
type Settings = serde_json::Map<String, serde_json::Value>;

/// What a fit resumes from: everything but the number of epochs, which may grow.
fn settings(
    model: &Sequential,
    config: &TrainConfig,
    train: &Images,
    val: Option<&Images>,
) -> Settings {
    use serde_json::json;
    [
        ("model", json!(model.config().arch)),
        ("training images", json!(train.len())),
        ("validation images", json!(val.map_or(0, Images::len))),
        ("batch_size", json!(config.batch_size)),
        ("optimizer", json!(format!("{:?}", config.optimizer))),
        ("l2", json!(config.l2)),
        ("seed", json!(config.seed)),
        ("schedule", json!(config.schedule.to_string())),
        ("augment", json!(format!("{:?}", config.augment))),
        ("label_smoothing", json!(config.label_smoothing)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// The engine's own callbacks a fit was given, and its backup.
pub(crate) struct Extras {
    /// TensorBoard's log directory, its batch frequency and whether to write histograms.
    pub(crate) tensorboard: Option<(PathBuf, Option<usize>, bool)>,
    /// Where the best model is kept.
    pub(crate) checkpoint: Option<PathBuf>,
    pub(crate) early_stopping: Option<EarlyStopping>,
    pub(crate) backup: Option<Backup>,
    /// Its own thread pool when a thread count was asked for (the process-wide one is sized
    /// once).
    pub(crate) pool: Option<rayon::ThreadPool>,
}

/// Trains `model`, continuing from the backup's state if it holds one, else from `carried`
/// (the previous fit's optimizer and generator); leaves in `carried` the state it ends with.
/// Runs on a worker of the pool; the listener answers its events on this thread.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fit(
    py: Python<'_>,
    model: &mut Sequential,
    carried: &mut Option<TrainState>,
    train: &Images,
    val: Option<&Images>,
    config: &TrainConfig,
    extras: Extras,
    listener: &mut Listener,
) -> PyResult<()> {
    let Extras {
        tensorboard,
        checkpoint,
        mut early_stopping,
        backup,
        pool,
    } = extras;
    let restored = match &backup {
        Some(b) => b.restore(model, config, &settings(model, config, train, val))?,
        None => None,
    };
    // A restored state was saved by a fit on these images (its settings matched), so the
    // training set is not empty here.
    let (best_loss, global_step) = restored.as_ref().map_or((f64::INFINITY, 0), |s| {
        let steps = train.len().div_ceil(config.batch_size.min(train.len()));
        (s.best_loss, (s.epoch - 1) * steps + s.step)
    });
    let resume = restored.or_else(|| carried.take().map(|s| s.continued(train.len())));
    let mut last = None;
    let run = |relay: &mut Relay| {
        // Without validation data TensorBoard's grid and confusion matrix stay empty.
        let no_val = Images {
            pixels: Vec::new(),
            labels: Vec::new(),
            shape: train.shape,
        };
        let mut board = tensorboard
            .as_ref()
            .map(|(dir, freq, histograms)| {
                TensorBoard::new(dir, val.unwrap_or(&no_val), *freq, *histograms)
            })
            .transpose()?;
        if let Some(b) = board.as_mut() {
            b.set_global_step(global_step);
        }
        let mut best = checkpoint.map(|path| {
            let mut c = BestCheckpoint::resume(path, best_loss);
            c.verbose = false;
            c
        });
        let mut callbacks: Vec<&mut dyn Callback> = Vec::new();
        if let Some(b) = best.as_mut() {
            callbacks.push(b);
        }
        if let Some(b) = board.as_mut() {
            callbacks.push(b);
        }
        if let Some(e) = early_stopping.as_mut() {
            callbacks.push(e);
        }
        callbacks.push(relay);
        let mut keep = |state: &TrainState, model: &Sequential| {
            if let Some(b) = &backup {
                b.dir.save_state(state, model)?;
            }
            last = Some(state.clone());
            Ok(())
        };
        let control = Control {
            resume,
            save_state: Some(&mut keep),
            stop: None,
        };
        fit_with(model, train, val, config, &mut callbacks, control)
    };
    let result = listener.serve(py, |relay| match &pool {
        Some(pool) => pool.install(|| run(relay)),
        None => rayon::scope(|_| run(relay)),
    });
    *carried = last;
    if let Some(err) = listener.error.take() {
        return Err(err);
    }
    result.map_err(to_py)?;
    match backup {
        Some(b) if b.delete => b.dir.remove_state().map_err(to_py),
        _ => Ok(()),
    }
}
