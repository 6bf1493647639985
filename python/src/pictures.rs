//! Your own pictures made MNIST-style by the library's picture pipeline.

use crate::errors::{to_py, ConfigError};
use mnistlab::data::Dataset;
use mnistlab::picture::preprocess::{self, Preprocess};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use std::path::PathBuf;

/// A picture (a path, or a `uint8` array `(H, W)`, `(H, W, 3)` or `(H, W, 4)`) made MNIST-style
/// by the library's picture pipeline for `dataset`: `uint8 (28, 28)`, light ink on black.
#[pyfunction]
#[pyo3(signature = (picture, dataset = "mnist"))]
pub(crate) fn preprocess_picture<'py>(
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
    let dataset: Dataset = dataset.parse().map_err(to_py)?;
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
