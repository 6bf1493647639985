//! Ensembles: the mean of several models' probabilities, and its score.

use crate::arrays::{inputs, probabilities};
use crate::errors::to_py;
use crate::errors::ConfigError;
use crate::network::Network;
use mnistlab::eval;
use numpy::{PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::prelude::*;

/// The mean class probabilities of several models on `x` (the ensemble's prediction).
#[pyfunction]
#[pyo3(signature = (networks, x, batch_size = eval::EVAL_BATCH))]
pub(crate) fn ensemble_predict<'py>(
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
    let (_, mean) = eval::ensemble_proba(models, &data, batch_size).map_err(to_py)?;
    probabilities(py, &mean, classes)
}

/// `(loss, accuracy)` of class probabilities `probs` (N, classes) against labels `y`.
#[pyfunction]
pub(crate) fn score_probabilities(
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
    let e = eval::score_probabilities(&values, &labels, shape[1]);
    Ok((e.loss, e.accuracy))
}
