//! NumPy arrays in and out: images and labels for the library, probabilities back.

use crate::errors::{to_py, ConfigError};
use mnistlab::data::{pixels_from_floats, Images};
use mnistlab::model::Sequential;
use mnistlab::Setting;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::prelude::*;

/// The pixels of `x`, a `uint8` or `float32` array of any shape.
pub(crate) fn pixels(x: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
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
pub(crate) fn images(
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
pub(crate) fn inputs(model: &Sequential, x: &Bound<'_, PyAny>) -> PyResult<Images> {
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

/// `float32 (N, classes)` from probabilities.
pub(crate) fn probabilities<'py>(
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
