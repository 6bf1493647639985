//! Every training run gets its own directory, `<logdir>/<name>-<i>` with the first free `i`,
//! created atomically (so two runs started at once never share one), and a `summary.txt` with
//! the executed command and all arguments.

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use std::path::{Path, PathBuf};

/// The arguments of the run, read back by `--resume`.
pub const ARGS: &str = "args.json";
/// The command and every argument, as Markdown.
pub const SUMMARY: &str = "summary.txt";
/// One row per finished epoch.
pub const HISTORY: &str = "history.csv";
/// The model with the lowest validation loss.
pub const BEST_MODEL: &str = "best_model.safetensors";
/// Everything needed to resume.
pub const LAST_STATE: &str = "last_state.safetensors";
/// What the finished run measured ([`Results`]); its presence means the run finished.
pub const RESULTS: &str = "results.json";
/// Why a sweep's run failed.
pub const ERROR: &str = "error.txt";

/// `results.json`: the test numbers of the best model and the run's best validation numbers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Results {
    /// Preset name, or `custom`.
    pub model: String,
    /// Architecture notation.
    pub arch: String,
    /// Dataset trained and tested on.
    pub dataset: String,
    /// Epochs trained.
    pub epochs: usize,
    /// Lowest validation loss of any epoch (none without a validation split).
    pub best_val_loss: Option<f64>,
    /// Highest validation accuracy of any epoch.
    pub best_val_accuracy: Option<f64>,
    /// Test loss of the best model.
    pub test_loss: f64,
    /// Test accuracy of the best model.
    pub test_accuracy: f64,
    /// Training wall time.
    pub seconds: f64,
}

impl Results {
    /// The results of the run in `dir`, if it finished (and the file is ours).
    pub fn read(dir: &Path) -> Option<Results> {
        let text = std::fs::read_to_string(dir.join(RESULTS)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes them into the run directory `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("serializable");
        write_atomic(&dir.join(RESULTS), json.as_bytes())
    }
}

/// Creates `<logdir>/<name>-<i>` for the first `i` not taken.
pub fn create_run_dir(logdir: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(logdir).map_err(|e| Error::io(logdir, e))?;
    for i in 0.. {
        let dir = logdir.join(format!("{name}-{i}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    unreachable!("some index is free")
}

/// The summary of a run as Markdown: the command line, then each argument and its value.
pub fn summary_markdown(command: &str, arguments: &[(String, String)]) -> String {
    let mut text = format!("# {command}\n\n| argument | value |\n|---|---|\n");
    for (name, value) in arguments {
        text.push_str(&format!("| {name} | {value} |\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_directories_are_numbered_and_unique() {
        let tmp = tempfile::tempdir().unwrap();
        let a = create_run_dir(tmp.path(), "cnn").unwrap();
        let b = create_run_dir(tmp.path(), "cnn").unwrap();
        let c = create_run_dir(tmp.path(), "mlp").unwrap();
        assert_eq!(a.file_name().unwrap(), "cnn-0");
        assert_eq!(b.file_name().unwrap(), "cnn-1");
        assert_eq!(c.file_name().unwrap(), "mlp-0");
    }
}
