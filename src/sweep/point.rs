//! A point's run directory: where it stands, and the lock of the process running it.

use super::{Point, Sweep};
use crate::error::Result;
use crate::runs::run_dir::{RunDir, RunLock};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where a point stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointState {
    /// No run directory yet.
    NotStarted,
    /// Started and stopped (interrupted or killed); running it again resumes it.
    Interrupted,
    /// A process is running it now.
    Running,
    /// Its run failed; `error.txt` says why.
    Failed,
    /// Finished, with `results.json`.
    Done,
}

impl std::fmt::Display for PointState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PointState::NotStarted => "not started",
            PointState::Interrupted => "interrupted",
            PointState::Running => "running",
            PointState::Failed => "failed",
            PointState::Done => "done",
        })
    }
}

/// Where the run in `dir` stands.
pub fn point_state(dir: &Path) -> PointState {
    let run = RunDir::at(dir);
    if run.is_finished() {
        return PointState::Done;
    }
    if !dir.is_dir() {
        return PointState::NotStarted;
    }
    if run.is_locked() {
        return PointState::Running;
    }
    if run.error().is_some() {
        PointState::Failed
    } else if run.holds_run() {
        PointState::Interrupted
    } else {
        PointState::NotStarted
    }
}

/// A point claimed for running: its lock held and its last error cleared; released when dropped.
pub struct PointTask {
    _lock: RunLock,
    run: RunDir,
    /// The point's run directory.
    pub dir: PathBuf,
    /// `train`'s arguments: the point's flags and its run directory, or the resumption of the
    /// run the directory already holds.
    pub args: Vec<String>,
}

impl PointTask {
    /// Records why the point's run failed (its `error.txt`), so that its state says so.
    pub fn record_failure(&self, message: &str) -> Result<()> {
        self.run.write_error(message)
    }
}

/// Claims `point` of `sweep` for running in this process: writes the sweep's description, takes
/// the point's lock (calling `waiting` once if another process holds it) and clears its last
/// error. `None` when the point is done already.
pub fn claim_point(
    sweep: &Sweep,
    point: &Point,
    waiting: impl FnOnce(),
) -> Result<Option<PointTask>> {
    sweep.write_description()?;
    let dir = sweep.run_dir(point.index);
    let lock = RunDir::at(&dir).lock_waiting(waiting)?;
    if point_state(&dir) == PointState::Done {
        return Ok(None);
    }
    let run = RunDir::at(&dir);
    run.clear_error()?;
    let dir_arg = dir.display().to_string();
    let args: Vec<String> = match run.holds_run() {
        true => vec!["--resume".into(), dir_arg],
        false => point
            .args
            .iter()
            .cloned()
            .chain(["--run-dir".into(), dir_arg])
            .collect(),
    };
    Ok(Some(PointTask {
        _lock: lock,
        run,
        dir,
        args,
    }))
}
