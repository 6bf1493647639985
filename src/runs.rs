//! Reading finished or running run directories back: `history.csv`, `results.json` and the
//! model name, for `mnistlab runs` (a comparison table) and `mnistlab plot` (learning curves).

use crate::error::{Error, Result};
use crate::train::callbacks::HISTORY_HEADER;
use crate::train::run_dir::{self as files, Results};
use std::path::{Path, PathBuf};

/// One epoch row of `history.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRow {
    /// 1-based epoch.
    pub epoch: usize,
    /// Training loss and accuracy.
    pub loss: f64,
    /// Training accuracy.
    pub accuracy: f64,
    /// Validation loss, if any.
    pub val_loss: Option<f64>,
    /// Validation accuracy, if any.
    pub val_accuracy: Option<f64>,
    /// Epoch wall time.
    pub seconds: f64,
}

/// A run directory read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The directory.
    pub dir: PathBuf,
    /// Model name (from `results.json`; `?` while the run has not finished).
    pub model: String,
    /// One row per finished epoch.
    pub history: Vec<HistoryRow>,
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

/// Parses `history.csv` text; `path` only names the file in errors.
pub fn parse_history(path: &Path, text: &str) -> Result<Vec<HistoryRow>> {
    let mut lines = text.lines();
    if lines.next() != Some(HISTORY_HEADER) {
        return Err(Error::format(
            path,
            "is not a mnistlab history (unexpected header)",
        ));
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let bad = || Error::format(path, format!("line {} is malformed: {line:?}", i + 2));
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 7 {
                return Err(bad());
            }
            let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
            let opt = |s: &str| {
                if s.is_empty() {
                    Ok(None)
                } else {
                    num(s).map(Some)
                }
            };
            Ok(HistoryRow {
                epoch: f[0].parse().map_err(|_| bad())?,
                loss: num(f[1])?,
                accuracy: num(f[2])?,
                val_loss: opt(f[3])?,
                val_accuracy: opt(f[4])?,
                seconds: num(f[6])?,
            })
        })
        .collect()
}

/// Reads the run in `dir`.
pub fn read_run(dir: &Path) -> Result<Run> {
    let path = dir.join(files::HISTORY);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let history = parse_history(&path, &text)?;
    let results = Results::read(dir);
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
        .filter(|p| p.join(files::HISTORY).is_file())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_history_and_refuses_foreign_csv() {
        let text =
            format!("{HISTORY_HEADER}\n1,0.5,0.8,0.4,0.85,0.001,1.5\n2,0.3,0.9,,,0.001,1.4\n");
        let rows = parse_history(Path::new("h.csv"), &text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].val_accuracy, Some(0.85));
        assert_eq!(rows[1].val_loss, None);
        assert!(parse_history(Path::new("h.csv"), "a,b\n1,2\n").is_err());
        let err =
            parse_history(Path::new("h.csv"), &format!("{HISTORY_HEADER}\n1,x\n")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
