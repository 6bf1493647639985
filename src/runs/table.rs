//! Reading finished or running run directories back: `history.csv`, `results.json` and the
//! model name, for `mnistlab runs` (a comparison table) and `mnistlab plot` (learning curves).

use crate::error::{Error, Result};
use crate::runs::run_dir::RunDir;
use crate::train::EpochMetrics;
use std::path::{Path, PathBuf};

/// A run directory read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The directory.
    pub dir: PathBuf,
    /// Model name (from `results.json`; `?` while the run has not finished).
    pub model: String,
    /// One row per finished epoch.
    pub history: Vec<EpochMetrics>,
    /// Test accuracy of the best model, once training finished.
    pub test_accuracy: Option<f64>,
}

impl Run {
    /// Lowest validation loss of any finished epoch.
    pub fn best_val_loss(&self) -> Option<f64> {
        self.history
            .iter()
            .filter_map(|h| h.val_loss)
            .reduce(f64::min)
    }

    /// Highest validation accuracy of any finished epoch.
    pub fn best_val_accuracy(&self) -> Option<f64> {
        self.history
            .iter()
            .filter_map(|h| h.val_accuracy)
            .reduce(f64::max)
    }

    /// Training time of the finished epochs.
    pub fn seconds(&self) -> f64 {
        self.history.iter().map(|h| h.seconds).sum()
    }
}

/// Reads the run in `dir`.
pub fn read_run(dir: &Path) -> Result<Run> {
    let run = RunDir::at(dir);
    let history = run.read_history()?;
    let results = run.results();
    Ok(Run {
        dir: dir.to_path_buf(),
        model: results
            .as_ref()
            .map_or_else(|| "?".into(), |r| r.model.clone()),
        history,
        test_accuracy: results.map(|r| r.test_accuracy),
    })
}

/// Every run directly inside `logdir` (folders holding `history.csv`), sorted by name.
pub fn list_runs(logdir: &Path) -> Result<Vec<Run>> {
    let entries = std::fs::read_dir(logdir).map_err(|e| Error::io(logdir, e))?;
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| RunDir::at(p).has_history())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| read_run(d)).collect()
}

/// The comparison table of `runs` as Markdown.
pub fn runs_table(runs: &[Run]) -> String {
    let mut out = String::from(
        "| run | model | epochs | best val_loss | best val_accuracy | test accuracy | time |\n|---|---|---|---|---|---|---|\n",
    );
    for run in runs {
        let show = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.4}"));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} s |\n",
            run.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            run.model,
            run.history.len(),
            show(run.best_val_loss()),
            show(run.best_val_accuracy()),
            show(run.test_accuracy),
            run.seconds()
        ));
    }
    out
}
