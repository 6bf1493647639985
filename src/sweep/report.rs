//! A sweep's results: one row per point, read back from its runs.

use super::{point_state, PointState, SWEEP_JSON};
use crate::error::{Error, Result};
use crate::runs::run_dir::RunDir;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One row of a sweep's results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointReport {
    /// The point's index.
    pub index: usize,
    /// Its run directory.
    pub run: PathBuf,
    /// Its axis values.
    pub values: Vec<(String, toml::Value)>,
    /// Where it stands.
    pub state: PointState,
    /// From `results.json` once done.
    pub best_val_loss: Option<f64>,
    /// From `results.json` once done.
    pub best_val_accuracy: Option<f64>,
    /// From `results.json` once done.
    pub test_accuracy: Option<f64>,
    /// Training time, from `results.json` once done.
    pub seconds: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// True when `dir` holds a sweep (its `sweep.json`).
pub fn is_sweep_dir(dir: &Path) -> bool {
    dir.join(SWEEP_JSON).is_file()
}

#[derive(Deserialize)]
struct SavedPoint {
    index: usize,
    run: String,
    values: Vec<(String, toml::Value)>,
}

#[derive(Deserialize)]
struct SavedSweep {
    points: Vec<SavedPoint>,
}

/// Every point of the sweep in `dir`, best validation accuracy first (points without one
/// after, in index order).
pub fn report(dir: &Path) -> Result<Vec<PointReport>> {
    let path = dir.join(SWEEP_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let saved: SavedSweep = serde_json::from_str(&text)
        .map_err(|e| Error::format(&path, format!("not a mnistlab sweep description: {e}")))?;
    let mut rows: Vec<PointReport> = saved
        .points
        .into_iter()
        .map(|p| {
            let run = dir.join(&p.run);
            let results = RunDir::at(&run).results();
            let error = RunDir::at(&run).error();
            PointReport {
                index: p.index,
                state: point_state(&run),
                values: p.values,
                best_val_loss: results.as_ref().and_then(|r| r.best_val_loss),
                best_val_accuracy: results.as_ref().and_then(|r| r.best_val_accuracy),
                test_accuracy: results.as_ref().map(|r| r.test_accuracy),
                seconds: results.as_ref().map(|r| r.seconds),
                error,
                run,
            }
        })
        .collect();
    rows.sort_by(|a, b| match (a.best_val_accuracy, b.best_val_accuracy) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.index.cmp(&b.index)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.index.cmp(&b.index),
    });
    Ok(rows)
}

/// The best models of the sweep in `dir` by validation loss (at most `k`, finished points only).
pub fn best_models(dir: &Path, k: usize) -> Result<Vec<PathBuf>> {
    let mut done: Vec<PointReport> = report(dir)?
        .into_iter()
        .filter(|r| r.state == PointState::Done && r.best_val_loss.is_some())
        .collect();
    done.sort_by(|a, b| {
        a.best_val_loss
            .unwrap_or(f64::INFINITY)
            .total_cmp(&b.best_val_loss.unwrap_or(f64::INFINITY))
    });
    Ok(done
        .into_iter()
        .take(k)
        .map(|r| RunDir::at(r.run).best_model())
        .collect())
}

/// The results as a Markdown table, one row per point.
pub fn report_table(rows: &[PointReport]) -> String {
    let axes: Vec<&str> = rows
        .first()
        .map(|r| r.values.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let mut out = String::from("| point |");
    for axis in &axes {
        out.push_str(&format!(" {axis} |"));
    }
    out.push_str(" state | best val_accuracy | test accuracy | time |\n|---|");
    out.push_str(&"---|".repeat(axes.len() + 4));
    out.push('\n');
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    for row in rows {
        out.push_str(&format!("| {} |", row.index));
        for (_, value) in &row.values {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!(" {text} |"));
        }
        out.push_str(&format!(
            " {} | {} | {} | {} |\n",
            row.state,
            show(row.best_val_accuracy),
            show(row.test_accuracy),
            row.seconds.map_or("-".into(), |s| format!("{s:.1} s"))
        ));
    }
    out
}
