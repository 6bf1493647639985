//! `mnistlab._engine`: the glue between Python and the mnistlab library — NumPy arrays in,
//! library calls, arrays and typed exceptions out. The Keras-shaped API is the Python package
//! around it (`python/mnistlab/`).

mod arrays;
mod datasets;
mod ensemble;
mod errors;
mod fit;
mod listener;
mod network;
mod pictures;

use errors::{ConfigError, DatasetError, FormatError, NonFiniteLossError};
use pyo3::prelude::*;

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<network::Network>()?;
    m.add_function(wrap_pyfunction!(ensemble::ensemble_predict, m)?)?;
    m.add_function(wrap_pyfunction!(ensemble::score_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(pictures::preprocess_picture, m)?)?;
    m.add_function(wrap_pyfunction!(network::presets, m)?)?;
    m.add_function(wrap_pyfunction!(network::check_architecture, m)?)?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("FormatError", py.get_type::<FormatError>())?;
    m.add("DatasetError", py.get_type::<DatasetError>())?;
    m.add("NonFiniteLossError", py.get_type::<NonFiniteLossError>())?;
    Ok(())
}
