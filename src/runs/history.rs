//! `history.csv`: one [`EpochMetrics`] row per finished epoch, written by the [`HistoryCsv`]
//! callback and read back by [`parse`] (for `runs`, `plot` and sweeps).

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::model::Sequential;
use crate::train::{Callback, EpochMetrics};
use std::path::{Path, PathBuf};

/// The header of `history.csv`.
pub const HEADER: &str = "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds";

impl EpochMetrics {
    /// The row of `history.csv` (without the line end).
    fn csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        format!(
            "{},{:.6},{:.6},{},{},{},{:.3}",
            self.epoch,
            self.loss,
            self.accuracy,
            opt(self.val_loss),
            opt(self.val_accuracy),
            self.learning_rate,
            self.seconds
        )
    }
}

/// Parses `history.csv` text; `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<Vec<EpochMetrics>> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
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
            let opt = |s: &str| match s {
                "" => Ok(None),
                s => num(s).map(Some),
            };
            Ok(EpochMetrics {
                epoch: f[0].parse().map_err(|_| bad())?,
                loss: num(f[1])?,
                accuracy: num(f[2])?,
                val_loss: opt(f[3])?,
                val_accuracy: opt(f[4])?,
                learning_rate: f[5].parse().map_err(|_| bad())?,
                seconds: num(f[6])?,
            })
        })
        .collect()
}

/// Writes `history.csv`, one row per epoch, replaced whole after each epoch.
#[derive(Debug)]
pub struct HistoryCsv {
    path: PathBuf,
    text: String,
}

impl HistoryCsv {
    /// Writes to `path`.
    pub fn new(path: PathBuf) -> Self {
        HistoryCsv {
            path,
            text: format!("{HEADER}\n"),
        }
    }

    /// Continues `path` after its first `epochs` rows (later rows, from epochs that were cut
    /// short, are dropped).
    pub fn resume(path: PathBuf, epochs: usize) -> Self {
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let mut text = format!("{HEADER}\n");
        for line in old.lines().skip(1).take(epochs) {
            text.push_str(line);
            text.push('\n');
        }
        HistoryCsv { path, text }
    }
}

impl Callback for HistoryCsv {
    fn on_epoch_end(&mut self, m: &EpochMetrics, _model: &mut Sequential) -> Result<()> {
        self.text.push_str(&m.csv_row());
        self.text.push('\n');
        write_atomic(&self.path, self.text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_as_written() {
        let rows = [
            EpochMetrics {
                epoch: 1,
                loss: 0.5,
                accuracy: 0.8,
                val_loss: Some(0.4),
                val_accuracy: Some(0.85),
                learning_rate: 1e-3,
                seconds: 1.5,
            },
            EpochMetrics {
                epoch: 2,
                loss: 0.3,
                accuracy: 0.9,
                val_loss: None,
                val_accuracy: None,
                learning_rate: 2.5e-4,
                seconds: 1.25,
            },
        ];
        let text: String = std::iter::once(HEADER.to_string())
            .chain(rows.iter().map(EpochMetrics::csv_row))
            .map(|line| line + "\n")
            .collect();
        assert_eq!(parse(Path::new("h.csv"), &text).unwrap(), rows);
    }

    #[test]
    fn foreign_or_broken_files_are_refused_naming_the_line() {
        assert!(parse(Path::new("h.csv"), "a,b\n1,2\n").is_err());
        let err = parse(Path::new("h.csv"), &format!("{HEADER}\n1,x\n")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
