//! `Network`, a model of the engine as Python holds it: built, loaded, saved, trained,
//! evaluated, its tensors read and written.

use crate::arrays::{images, inputs, probabilities};
use crate::errors::{to_py, ConfigError};
use crate::fit::{self, augment_from, Backup, Extras};
use crate::listener::Listener;
use mnistlab::data::Dataset;
use mnistlab::eval;
use mnistlab::layers::ParamKind;
use mnistlab::model::{self, ModelConfig, Normalization, Sequential};
use mnistlab::train::callbacks::{EarlyStopping, Monitor};
use mnistlab::train::state::TrainState;
use mnistlab::train::{adapt_normalization, OptimizerConfig, Schedule, TrainConfig};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;

/// A model of the engine: its layers, tensors and input normalization.
#[pyclass(module = "mnistlab._engine")]
pub(crate) struct Network {
    pub(crate) model: Sequential,
    /// Where the last fit left its optimizer and generator: the next fit goes on from there,
    /// as Keras' does, until `compile` starts a new optimizer.
    carried: Option<TrainState>,
}

#[pymethods]
impl Network {
    /// A new model from a preset name or a notation, its weights drawn from `seed`.
    #[new]
    #[pyo3(signature = (arch, *, dataset = "mnist", normalization = "standardize-global", seed = 0, bn_momentum = 0.99, dropout = None))]
    fn new(
        arch: &str,
        dataset: &str,
        normalization: &str,
        seed: u64,
        bn_momentum: f32,
        dropout: Option<f32>,
    ) -> PyResult<Self> {
        let dataset: Dataset = dataset.parse().map_err(to_py)?;
        let normalization: Normalization = normalization.parse().map_err(to_py)?;
        let mut config = ModelConfig::new(arch, dataset, normalization);
        config.bn_momentum = bn_momentum;
        if let Some(rate) = dropout {
            config = config.with_dropout(rate).map_err(to_py)?;
        }
        let model = Sequential::new(config, seed).map_err(to_py)?;
        Ok(Network {
            model,
            carried: None,
        })
    }

    /// Reads a model file written by `save` (or `mnistlab train`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let model = py.detach(|| model::load(&path)).map_err(to_py)?;
        Ok(Network {
            model,
            carried: None,
        })
    }

    /// Writes the model as `.safetensors` (atomically).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| model::save(&self.model, &path)).map_err(to_py)
    }

    /// Writes the model as an ONNX graph.
    #[pyo3(signature = (path, opset = mnistlab::onnx::DEFAULT_OPSET))]
    fn export_onnx(&self, py: Python<'_>, path: PathBuf, opset: i64) -> PyResult<()> {
        py.detach(|| mnistlab::onnx::save(&self.model, &path, opset))
            .map_err(to_py)
    }

    /// The Keras-like summary table.
    fn summary(&self) -> String {
        model::summary(&self.model)
    }

    /// (name, notation, dataset, normalization) of the model.
    fn config(&self) -> (String, String, String, String) {
        let c = self.model.config();
        (
            c.name.clone(),
            c.arch.clone(),
            c.dataset.to_string(),
            c.normalization.to_string(),
        )
    }

    /// Sets the input normalization to `(pixel − mean) / std`, per pixel (raw pixels 0‥255).
    fn set_normalization(
        &mut self,
        mean: PyReadonlyArray1<'_, f32>,
        std: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<()> {
        let len = self.model.config().input.len();
        let (mean, std) = (mean.as_array().to_vec(), std.as_array().to_vec());
        for (name, values) in [("mean", &mean), ("std", &std)] {
            if values.len() != len {
                return Err(ConfigError::new_err(format!(
                    "normalization {name}: has {} values, the model's input {len}",
                    values.len()
                )));
            }
            if values.iter().any(|v| !v.is_finite()) {
                return Err(ConfigError::new_err(format!(
                    "normalization {name}: holds NaN or infinite values"
                )));
            }
        }
        if std.contains(&0.0) {
            return Err(ConfigError::new_err(
                "normalization std: holds zeros (the map must be invertible)",
            ));
        }
        self.model.set_normalization(&mean, &std);
        Ok(())
    }

    /// Sets the normalization statistics from the images `x` by the model's mode.
    fn adapt(&mut self, x: &Bound<'_, PyAny>) -> PyResult<()> {
        let images = inputs(&self.model, x)?;
        adapt_normalization(&mut self.model, &images);
        Ok(())
    }

    /// Trains on `x`/`y`, evaluating on `val_x`/`val_y` after each epoch; `hooks` receives
    /// `on_epoch_begin`, `on_train_batch_end` (when `batch_hooks`) and `on_epoch_end`, whose
    /// true result stops training. The GIL is released while the engine works. `backup`
    /// (a directory, and whether to forget its state once the fit ends) saves the training
    /// state there and continues from the one an interrupted fit left.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (x, y, *, val_x = None, val_y = None, epochs = 10, batch_size = 128,
        optimizer = "adam", learning_rate = 1e-3, momentum = 0.0, l2 = 0.0, seed = 0,
        schedule = "constant", label_smoothing = 0.0, augment = None, hooks, batch_hooks = false,
        tensorboard = None, update_freq = None, histograms = false, checkpoint = None,
        early_stopping = None, threads = None, backup = None))]
    fn fit(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: PyReadonlyArray1<'_, u8>,
        val_x: Option<&Bound<'_, PyAny>>,
        val_y: Option<PyReadonlyArray1<'_, u8>>,
        epochs: usize,
        batch_size: usize,
        optimizer: &str,
        learning_rate: f32,
        momentum: f32,
        l2: f32,
        seed: u64,
        schedule: &str,
        label_smoothing: f32,
        augment: Option<&Bound<'_, PyDict>>,
        hooks: Py<PyAny>,
        batch_hooks: bool,
        tensorboard: Option<PathBuf>,
        update_freq: Option<usize>,
        histograms: bool,
        checkpoint: Option<PathBuf>,
        early_stopping: Option<(String, usize, f64, bool)>,
        threads: Option<usize>,
        backup: Option<(PathBuf, bool)>,
    ) -> PyResult<()> {
        let pool = match threads {
            Some(0) => return Err(ConfigError::new_err("threads: must be at least 1")),
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| ConfigError::new_err(format!("threads: {e}")))?,
            ),
            None => None,
        };
        let optimizer = match optimizer {
            "adam" => OptimizerConfig::adam(learning_rate),
            "sgd" => OptimizerConfig::Sgd {
                lr: learning_rate,
                momentum,
            },
            other => {
                return Err(ConfigError::new_err(format!(
                    "optimizer: unknown {other:?} (expected adam or sgd)"
                )))
            }
        };
        let config = TrainConfig {
            epochs,
            batch_size,
            optimizer,
            l2,
            seed,
            schedule: schedule.parse::<Schedule>().map_err(to_py)?,
            augment: augment.map(augment_from).transpose()?,
            label_smoothing,
        };
        config.validate().map_err(to_py)?;
        let train = images(&self.model, x, y)?;
        let val = match (val_x, val_y) {
            (Some(x), Some(y)) => Some(images(&self.model, x, y)?),
            (None, None) => None,
            _ => {
                return Err(ConfigError::new_err(
                    "validation_data: needs both images and labels",
                ))
            }
        };
        let early_stopping = early_stopping
            .map(|(monitor, patience, min_delta, restore)| {
                EarlyStopping::new(monitor.parse::<Monitor>()?, patience, min_delta, restore)
            })
            .transpose()
            .map_err(to_py)?;
        let mut listener = Listener {
            hooks,
            batch_hooks,
            error: None,
        };
        let extras = Extras {
            tensorboard: tensorboard.map(|dir| (dir, update_freq, histograms)),
            checkpoint,
            early_stopping,
            backup: backup
                .map(|(dir, delete)| Backup::open(&dir, delete))
                .transpose()?,
            pool,
        };
        fit::fit(
            py,
            &mut self.model,
            &mut self.carried,
            &train,
            val.as_ref(),
            &config,
            extras,
            &mut listener,
        )
    }

    /// Starts the next fit with a new optimizer and shuffling generator (Keras' `compile`).
    fn reset_optimizer(&mut self) {
        self.carried = None;
    }

    /// `(loss, accuracy)` on `x`/`y`.
    #[pyo3(signature = (x, y, batch_size = eval::EVAL_BATCH))]
    fn evaluate(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: PyReadonlyArray1<'_, u8>,
        batch_size: usize,
    ) -> PyResult<(f64, f64)> {
        let data = images(&self.model, x, y)?;
        let model = &mut self.model;
        let e = py
            .detach(|| eval::evaluate(model, &data, batch_size))
            .map_err(to_py)?;
        Ok((e.loss, e.accuracy))
    }

    /// Class probabilities of the images `x`, `float32 (N, classes)`.
    #[pyo3(signature = (x, batch_size = eval::EVAL_BATCH))]
    fn predict<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        batch_size: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = inputs(&self.model, x)?;
        let classes = self.model.config().classes;
        let model = &mut self.model;
        let probs = py
            .detach(|| eval::predict_proba(model, &data, batch_size))
            .map_err(to_py)?;
        probabilities(py, &probs, classes)
    }

    /// Every tensor but the input normalization's, layer by layer in Keras' order (kernel,
    /// bias; gamma, beta, moving mean, moving variance): `(name, array)` pairs.
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (name, shape, values) in self.tensors() {
            let array = PyArray1::from_slice(py, values).reshape(shape)?;
            list.append((name, array))?;
        }
        Ok(list)
    }

    /// Replaces the tensors of [`Self::weights`], in the same order and shapes.
    fn set_weights(&mut self, arrays: Vec<PyReadonlyArrayDyn<'_, f32>>) -> PyResult<()> {
        let slots: Vec<(String, Vec<usize>, bool, std::ops::Range<usize>)> = self
            .slots()
            .map(|s| {
                let trainable = s.kind == ParamKind::Trainable;
                (s.key.clone(), s.shape.clone(), trainable, s.range.clone())
            })
            .collect();
        if arrays.len() != slots.len() {
            return Err(ConfigError::new_err(format!(
                "weights: the model has {} tensors, got {}",
                slots.len(),
                arrays.len()
            )));
        }
        for ((key, shape, _, _), array) in slots.iter().zip(&arrays) {
            if array.as_array().shape() != shape.as_slice() {
                return Err(ConfigError::new_err(format!(
                    "weights: tensor {key} has shape {shape:?}, got {:?}",
                    array.as_array().shape()
                )));
            }
        }
        for ((_, _, trainable, range), array) in slots.into_iter().zip(&arrays) {
            let buffer = match trainable {
                true => &mut self.model.params.values,
                false => &mut self.model.params.state,
            };
            for (d, s) in buffer[range].iter_mut().zip(array.as_array().iter()) {
                *d = *s;
            }
        }
        Ok(())
    }
}

impl Network {
    /// The tensors of [`Network::weights`], in that order.
    fn slots(&self) -> impl Iterator<Item = &model::Slot> {
        let params = &self.model.params;
        params.layer_ranges.iter().flat_map(move |(values, state)| {
            let trainable = params.trainable.iter().filter(move |s| {
                s.range.start >= values.start && s.range.end <= values.end && !values.is_empty()
            });
            let other = params.other.iter().filter(move |s| {
                s.kind == ParamKind::NonTrainable
                    && s.range.start >= state.start
                    && s.range.end <= state.end
                    && !state.is_empty()
            });
            trainable.chain(other)
        })
    }

    /// `(name, shape, values)` of each tensor of [`Network::weights`].
    fn tensors(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        self.slots()
            .map(|s| (s.key.clone(), s.shape.clone(), self.model.params.get(s)))
            .collect()
    }
}

/// The preset models: `(name, notation, description)`.
#[pyfunction]
pub(crate) fn presets() -> Vec<(&'static str, &'static str, &'static str)> {
    model::PRESETS.to_vec()
}

/// Checks a notation (or preset name) without building the model.
#[pyfunction]
pub(crate) fn check_architecture(arch: &str) -> PyResult<()> {
    ModelConfig::new(arch, Dataset::Mnist, Normalization::None)
        .validate()
        .map_err(to_py)
}
