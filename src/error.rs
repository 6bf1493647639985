//! The library's one error type. Every failure a user can cause (a file, a flag, a notation) is an
//! [`Error`] whose message names the thing at fault in one line; bugs in our own code are asserts.

use std::path::{Path, PathBuf};

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A failure caused by user input or the environment, never by a bug.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level.
    #[error("{path}: {err}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        err: std::io::Error,
    },
    /// A file was read but its contents are wrong (bad magic, truncated, corrupt model, ...).
    #[error("{path}: {message}")]
    Format {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A flag, hyper-parameter or architecture that cannot be used.
    #[error("{what}: {message}")]
    Config {
        /// The flag or setting, e.g. `--epochs` or `architecture "16C3-X"`.
        what: String,
        /// Why it is refused.
        message: String,
    },
    /// A dataset could not be found or fetched anywhere.
    #[error("{0}")]
    Dataset(String),
    /// A sweep file describes more runs than the caller accepts.
    #[error("{path}: {count} points, more than the limit of {limit}")]
    TooManyPoints {
        /// The sweep file.
        path: PathBuf,
        /// How many it describes (`too many` past what a count can hold).
        count: String,
        /// The limit in force.
        limit: usize,
    },
    /// Training was stopped on request (Ctrl-C) after saving its resume state.
    #[error("interrupted at epoch {epoch}, step {step}; the resume state is saved")]
    Interrupted {
        /// 1-based epoch.
        epoch: usize,
        /// Steps of that epoch done.
        step: usize,
    },
    /// Training produced a non-finite loss (like Keras' TerminateOnNaN).
    #[error(
        "loss became NaN or infinite at epoch {epoch}, step {step}; try a smaller learning rate"
    )]
    NonFinite {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            err,
        }
    }

    /// A content error in the file at `path`.
    pub fn format(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// A refused flag or setting.
    pub fn config(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            what: what.into(),
            message: message.into(),
        }
    }
}
