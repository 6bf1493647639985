//! `mnistlab._engine`: the glue between Python and the mnistlab library — NumPy arrays in,
//! library calls, arrays and typed exceptions out. The Keras-shaped API is the Python package
//! around it (`python/mnistlab/`).

use mnistlab::data::augment::Augment;
use mnistlab::data::{pixels_from_floats, DataSources, Dataset, Images, LoadedDataset};
use mnistlab::layers::{ParamKind, Shape};
use mnistlab::model::{self, ModelConfig, Normalization, Sequential};
use mnistlab::picture::preprocess::{self, Preprocess};
use mnistlab::tensorboard::TensorBoard;
use mnistlab::train::callbacks::{EarlyStopping, Monitor};
use mnistlab::train::{
    self, adapt_normalization, BestCheckpoint, Callback, EpochMetrics, OptimizerConfig, Schedule,
    TrainConfig,
};
use mnistlab::Setting;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::create_exception;
use pyo3::exceptions::{
    PyArithmeticError, PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;

create_exception!(
    _engine,
    ConfigError,
    PyValueError,
    "A setting, argument or architecture that mnistlab cannot use."
);
create_exception!(
    _engine,
    FormatError,
    PyValueError,
    "A file that was read but whose contents are wrong (not a model, corrupt, truncated)."
);
create_exception!(
    _engine,
    DatasetError,
    PyFileNotFoundError,
    "A dataset that could not be found in any data folder nor downloaded."
);
create_exception!(
    _engine,
    NonFiniteLossError,
    PyArithmeticError,
    "Training produced a NaN or infinite loss (try a smaller learning rate)."
);

/// The keyword argument that sets `setting` in the Python interface, as Keras spells it; settings
/// with no keyword of their own are named in words.
fn keyword(setting: &Setting) -> String {
    match setting {
        Setting::Images => "x".into(),
        Setting::Labels => "y".into(),
        Setting::Monitor => "monitor".into(),
        Setting::MinDelta => "min_delta".into(),
        Setting::Epochs => "epochs".into(),
        Setting::BatchSize => "batch_size".into(),
        Setting::LearningRate => "learning_rate".into(),
        Setting::ValidationSplit => "validation_split".into(),
        other => other.to_string(),
    }
}

/// The library's error as the Python exception of its kind, naming the keyword argument at fault.
fn to_py(err: mnistlab::Error) -> PyErr {
    use mnistlab::Error;
    let message = err.to_string();
    match err {
        Error::Config { setting, message } => {
            ConfigError::new_err(format!("{}: {message}", keyword(&setting)))
        }
        Error::Io { err, .. } => match err.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        Error::Format { .. } => FormatError::new_err(message),
        Error::Dataset(_) => DatasetError::new_err(message),
        Error::NonFinite { .. } => NonFiniteLossError::new_err(message),
        Error::TooManyPoints { .. } | Error::Interrupted { .. } => ConfigError::new_err(message),
    }
}

/// The pixels of `x`, a `uint8` or `float32` array of any shape.
fn pixels(x: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(array) = x.extract::<PyReadonlyArrayDyn<'_, u8>>() {
        return Ok(match array.as_slice() {
            Ok(slice) => slice.to_vec(),
            Err(_) => array.as_array().iter().copied().collect(),
        });
    }
    if let Ok(array) = x.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        let values: Vec<f32> = match array.as_slice() {
            Ok(slice) => slice.to_vec(),
            Err(_) => array.as_array().iter().copied().collect(),
        };
        return pixels_from_floats(&values, Setting::Images).map_err(to_py);
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "x: expected a uint8 or float32 NumPy array",
    ))
}

/// Labelled images for `model` from `x` (images) and `y` (one label per image).
fn images(
    model: &Sequential,
    x: &Bound<'_, PyAny>,
    y: PyReadonlyArray1<'_, u8>,
) -> PyResult<Images> {
    let config = model.config();
    Images::new(
        pixels(x)?,
        y.as_array().to_vec(),
        config.input,
        config.classes,
    )
    .map_err(to_py)
}

/// Unlabelled images for `model` (labels 0, unused), named `x` in errors.
fn inputs(model: &Sequential, x: &Bound<'_, PyAny>) -> PyResult<Images> {
    let pixels = pixels(x)?;
    let len = model.config().input.len();
    if pixels.is_empty() || pixels.len() % len != 0 {
        return Err(ConfigError::new_err(format!(
            "x: holds {} values, not a whole number of images of {len}",
            pixels.len()
        )));
    }
    let labels = vec![0; pixels.len() / len];
    Images::new(pixels, labels, model.config().input, model.config().classes).map_err(to_py)
}

/// Hands the fit loop's batches and epochs to a Python object (the Keras-shaped callback list),
/// re-taking the GIL only there, and turns Ctrl-C into `KeyboardInterrupt` at the next batch.
struct Listener {
    hooks: Py<PyAny>,
    /// Call `on_train_batch_end` for every batch (else only signals are checked).
    batch_hooks: bool,
    /// The first Python exception raised in a hook or by a signal: training stops at once and
    /// it is raised when `fit` returns.
    error: Option<PyErr>,
    stop: bool,
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

/// A model of the engine: its layers, tensors and input normalization.
#[pyclass(module = "mnistlab._engine")]
struct Network {
    model: Sequential,
}

/// The augmentation of a `dict` with keys `rotation`, `zoom`, `shear`, `shift` (floats),
/// `flip` (bool) and `erase` (probability); missing keys are off.
fn augment_from(dict: &Bound<'_, PyDict>) -> PyResult<Augment> {
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
        Ok(Network { model })
    }

    /// Reads a model file written by `save` (or `mnistlab train`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let model = py.detach(|| model::load(&path)).map_err(to_py)?;
        Ok(Network { model })
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
    /// true result stops training. The GIL is released while the engine works.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (x, y, *, val_x = None, val_y = None, epochs = 10, batch_size = 128,
        optimizer = "adam", learning_rate = 1e-3, momentum = 0.0, l2 = 0.0, seed = 0,
        schedule = "constant", label_smoothing = 0.0, augment = None, hooks, batch_hooks = false,
        tensorboard = None, update_freq = None, histograms = false, checkpoint = None,
        early_stopping = None, threads = None))]
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
    ) -> PyResult<()> {
        // Its own pool when asked for a thread count: the process-wide one is sized once.
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
        let mut early = early_stopping
            .map(|(monitor, patience, min_delta, restore)| {
                EarlyStopping::new(monitor.parse::<Monitor>()?, patience, min_delta, restore)
            })
            .transpose()
            .map_err(to_py)?;
        let mut listener = Listener {
            hooks,
            batch_hooks,
            error: None,
            stop: false,
        };
        let model = &mut self.model;
        let run = || {
            // Without validation data TensorBoard's grid and confusion matrix stay empty.
            let no_val = Images {
                pixels: Vec::new(),
                labels: Vec::new(),
                shape: train.shape,
            };
            let shown = val.as_ref().unwrap_or(&no_val);
            let mut board = tensorboard
                .as_ref()
                .map(|dir| TensorBoard::new(dir, shown, update_freq, histograms))
                .transpose()?;
            let mut best = checkpoint.map(|path| {
                let mut c = BestCheckpoint::new(path);
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
            if let Some(e) = early.as_mut() {
                callbacks.push(e);
            }
            callbacks.push(&mut listener);
            train::fit(model, &train, val.as_ref(), &config, &mut callbacks).map(|_| ())
        };
        let result = py.detach(|| match &pool {
            Some(pool) => pool.install(run),
            None => run(),
        });
        if let Some(err) = listener.error.take() {
            return Err(err);
        }
        result.map_err(to_py)
    }

    /// `(loss, accuracy)` on `x`/`y`.
    #[pyo3(signature = (x, y, batch_size = train::EVAL_BATCH))]
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
            .detach(|| train::evaluate(model, &data, batch_size))
            .map_err(to_py)?;
        Ok((e.loss, e.accuracy))
    }

    /// Class probabilities of the images `x`, `float32 (N, classes)`.
    #[pyo3(signature = (x, batch_size = train::EVAL_BATCH))]
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
            .detach(|| train::predict_proba(model, &data, batch_size))
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

/// `float32 (N, classes)` from probabilities.
fn probabilities<'py>(
    py: Python<'py>,
    probs: &[f64],
    classes: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let values: Vec<f32> = probs.iter().map(|&p| p as f32).collect();
    let rows = values.len() / classes.max(1);
    Ok(PyArray1::from_vec(py, values)
        .reshape([rows, classes])?
        .into_any())
}

/// The mean class probabilities of several models on `x` (the ensemble's prediction).
#[pyfunction]
#[pyo3(signature = (networks, x, batch_size = train::EVAL_BATCH))]
fn ensemble_predict<'py>(
    py: Python<'py>,
    networks: Vec<PyRefMut<'py, Network>>,
    x: &Bound<'py, PyAny>,
    batch_size: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let mut networks = networks;
    let first = networks
        .first()
        .ok_or_else(|| ConfigError::new_err("models: the ensemble needs at least one model"))?;
    let data = inputs(&first.model, x)?;
    let classes = first.model.config().classes;
    let models = networks.iter_mut().map(|n| &mut n.model);
    let (_, mean) = train::ensemble_proba(models, &data, batch_size).map_err(to_py)?;
    probabilities(py, &mean, classes)
}

/// `(loss, accuracy)` of class probabilities `probs` (N, classes) against labels `y`.
#[pyfunction]
fn score_probabilities(
    probs: PyReadonlyArrayDyn<'_, f32>,
    y: PyReadonlyArray1<'_, u8>,
) -> PyResult<(f64, f64)> {
    let shape = probs.as_array().shape().to_vec();
    let labels = y.as_array().to_vec();
    if shape.len() != 2 || shape[0] != labels.len() {
        return Err(ConfigError::new_err(format!(
            "y: has {} labels for probabilities of shape {shape:?}",
            labels.len()
        )));
    }
    let values: Vec<f64> = probs.as_array().iter().map(|&p| p as f64).collect();
    let e = train::score_probabilities(&values, &labels, shape[1]);
    Ok((e.loss, e.accuracy))
}

/// `(x_train, y_train, x_test, y_test)` of dataset `name` as `uint8` arrays, found as the
/// command line finds it (`MNISTLAB_DATA`, the cache, `/usr/share/datasets`, a download).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn load_dataset<'py>(
    py: Python<'py>,
    name: &str,
) -> PyResult<(
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
)> {
    let dataset: Dataset = name.parse().map_err(to_py)?;
    let data = py
        .detach(|| LoadedDataset::load(dataset, &DataSources::standard(None)))
        .map_err(to_py)?;
    let split = |set: Images| -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let Shape { h, w, .. } = set.shape;
        let n = set.len();
        let x = PyArray1::from_vec(py, set.pixels).reshape([n, h, w])?;
        Ok((x.into_any(), PyArray1::from_vec(py, set.labels).into_any()))
    };
    let (x_train, y_train) = split(data.train)?;
    let (x_test, y_test) = split(data.test)?;
    Ok((x_train, y_train, x_test, y_test))
}

/// A picture (a path, or a `uint8` array `(H, W)`, `(H, W, 3)` or `(H, W, 4)`) made MNIST-style
/// by the library's picture pipeline for `dataset`: `uint8 (28, 28)`, light ink on black.
#[pyfunction]
#[pyo3(signature = (picture, dataset = "mnist"))]
fn preprocess_picture<'py>(
    py: Python<'py>,
    picture: &Bound<'py, PyAny>,
    dataset: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let (source, image) = match picture.extract::<PathBuf>() {
        Ok(path) => {
            let image = py.detach(|| preprocess::open(&path)).map_err(to_py)?;
            (path, image)
        }
        Err(_) => (PathBuf::from("<array>"), picture_from_array(picture)?),
    };
    let recipe = Preprocess::for_dataset(dataset);
    let prepared = py
        .detach(|| preprocess::prepare(&source, &image, recipe, (28, 28)))
        .map_err(to_py)?;
    Ok(PyArray1::from_vec(py, prepared)
        .reshape([28, 28])?
        .into_any())
}

/// An image from a `uint8` array `(H, W)`, `(H, W, 3)` or `(H, W, 4)`.
fn picture_from_array(array: &Bound<'_, PyAny>) -> PyResult<image::DynamicImage> {
    let array = array.extract::<PyReadonlyArrayDyn<'_, u8>>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(
            "picture: expected a path or a uint8 NumPy array (H, W), (H, W, 3) or (H, W, 4)",
        )
    })?;
    let shape = array.as_array().shape().to_vec();
    let bytes: Vec<u8> = array.as_array().iter().copied().collect();
    let bad = || {
        ConfigError::new_err(format!(
            "picture: shape {shape:?} is not (H, W), (H, W, 3) or (H, W, 4) with H, W ≥ 1"
        ))
    };
    let (h, w) = match shape[..] {
        [h, w] | [h, w, 3] | [h, w, 4] if h > 0 && w > 0 => (h as u32, w as u32),
        _ => return Err(bad()),
    };
    let image = match shape.len() {
        2 => image::GrayImage::from_raw(w, h, bytes).map(image::DynamicImage::ImageLuma8),
        _ if shape[2] == 3 => {
            image::RgbImage::from_raw(w, h, bytes).map(image::DynamicImage::ImageRgb8)
        }
        _ => image::RgbaImage::from_raw(w, h, bytes).map(image::DynamicImage::ImageRgba8),
    };
    image.ok_or_else(bad)
}

/// The preset models: `(name, notation, description)`.
#[pyfunction]
fn presets() -> Vec<(&'static str, &'static str, &'static str)> {
    model::PRESETS.to_vec()
}

/// Checks a notation (or preset name) without building the model.
#[pyfunction]
fn check_architecture(arch: &str) -> PyResult<()> {
    ModelConfig::new(arch, Dataset::Mnist, Normalization::None)
        .validate()
        .map_err(to_py)
}

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Network>()?;
    m.add_function(wrap_pyfunction!(ensemble_predict, m)?)?;
    m.add_function(wrap_pyfunction!(score_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(preprocess_picture, m)?)?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(check_architecture, m)?)?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("FormatError", py.get_type::<FormatError>())?;
    m.add("DatasetError", py.get_type::<DatasetError>())?;
    m.add("NonFiniteLossError", py.get_type::<NonFiniteLossError>())?;
    Ok(())
}
