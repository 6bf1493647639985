//! Datasets as NumPy arrays, found as the command line finds them.

use crate::errors::to_py;
use mnistlab::data::{DataSources, Dataset, Images, LoadedDataset};
use mnistlab::layers::Shape;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;

/// `(x_train, y_train, x_test, y_test)` of dataset `name` as `uint8` arrays, found as the
/// command line finds it (`MNISTLAB_DATA`, the cache, `/usr/share/datasets`, a download).
#[pyfunction]
#[allow(clippy::type_complexity)]
pub(crate) fn load_dataset<'py>(
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
