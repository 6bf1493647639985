//! Library errors as typed Python exceptions, naming the keyword argument at fault.

use mnistlab::Setting;
use pyo3::create_exception;
use pyo3::exceptions::{
    PyArithmeticError, PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;

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
        Setting::RunDir | Setting::ResumeState => "backup_dir".into(),
        other => other.to_string(),
    }
}

/// The library's error as the Python exception of its kind, naming the keyword argument at fault.
pub(crate) fn to_py(err: mnistlab::Error) -> PyErr {
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
