//! A run directory and every file in it. Each training run gets its own directory,
//! `<logdir>/<name>-<i>` with the first free `i` (created atomically, so two runs started at once
//! never share one), or one the caller names. Files in it:
//!
//! | file | written | meaning |
//! |---|---|---|
//! | `args.json` | at the start | the run's arguments, read back to resume it |
//! | `summary.txt` | at the start | the command and every argument, as Markdown |
//! | `history.csv` | after each epoch | [`EpochMetrics`] rows |
//! | `best_model.safetensors` | when the monitored loss improves | the model kept |
//! | `last_state.safetensors` | after each epoch and on Ctrl-C | [`TrainState`], to resume |
//! | `results.json` | at the end | [`Results`]; its presence means the run finished |
//! | `.lock` | while a process trains the run | [`RunLock`]: one process at a time |
//! | `error.txt`, `output.log` | by sweeps | why a point failed, its output |

use super::history::{self, HistoryCsv};
use crate::data::Dataset;
use crate::error::{Error, Result, Setting};
use crate::fsutil::{remove_stale_temporaries, write_atomic};
use crate::model::Sequential;
use crate::train::state::TrainState;
use crate::train::{EpochMetrics, Optimizer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

const ARGS: &str = "args.json";
const SUMMARY: &str = "summary.txt";
const HISTORY: &str = "history.csv";
const BEST_MODEL: &str = "best_model.safetensors";
const LAST_STATE: &str = "last_state.safetensors";
const RESULTS: &str = "results.json";
const ERROR: &str = "error.txt";
const OUTPUT_LOG: &str = "output.log";
const LOCK: &str = ".lock";

/// `results.json`: the test numbers of the best model and the run's best validation numbers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Results {
    /// Preset name, or `custom`.
    pub model: String,
    /// Architecture notation.
    pub arch: String,
    /// Dataset trained and tested on.
    pub dataset: Dataset,
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

/// Refuses a run name that is empty or would make a path (slashes).
pub fn check_run_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(Error::config(
            Setting::RunName,
            "must be a non-empty name without slashes",
        ));
    }
    Ok(())
}

/// A run directory (which may not exist yet, or hold no run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory at `path`, for reading; nothing is checked or created.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        RunDir { path: path.into() }
    }

    /// Creates `<logdir>/<name>-<i>` for the first `i` not taken.
    pub fn create_numbered(logdir: &Path, name: &str) -> Result<Self> {
        check_run_name(name)?;
        std::fs::create_dir_all(logdir).map_err(|e| Error::io(logdir, e))?;
        for i in 0.. {
            let dir = logdir.join(format!("{name}-{i}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(RunDir::at(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&dir, e)),
            }
        }
        unreachable!("some index is free")
    }

    /// Uses exactly `dir` (created if missing) for a new run; refuses one that holds a run.
    pub fn create_at(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let run = RunDir::at(dir);
        if run.holds_run() {
            return Err(Error::config(
                Setting::RunDir,
                format!("{} already holds a run (resume it instead)", dir.display()),
            ));
        }
        Ok(run)
    }

    /// The run in `dir`, to continue: it must hold its arguments.
    pub fn open_to_resume(dir: &Path) -> Result<Self> {
        let run = RunDir::at(dir);
        if !run.holds_run() {
            return Err(Error::config(
                Setting::RunToResume,
                format!("{}: not a run directory (no {ARGS})", dir.display()),
            ));
        }
        Ok(run)
    }

    /// Takes the run's lock (creating the directory if needed) for a process that will write
    /// to it, refusing when another process holds it. Temporary files a killed process left
    /// behind are removed once the lock is held (no live writer can own them then).
    pub fn lock(&self) -> Result<RunLock> {
        let lock = RunLock::take(&self.lock_file(), None)?.ok_or_else(|| {
            Error::config(
                Setting::RunDir,
                format!(
                    "{}: another process is training this run (it holds {LOCK}); wait for it to finish or stop it first",
                    self.path.display()
                ),
            )
        })?;
        remove_stale_temporaries(&self.path)?;
        Ok(lock)
    }

    /// [`Self::lock`], waiting while another process holds the lock; `waiting` is called once
    /// if it has to wait.
    pub fn lock_waiting(&self, waiting: impl FnOnce()) -> Result<RunLock> {
        let lock = RunLock::take(&self.lock_file(), Some(Box::new(waiting)))?
            .expect("waiting for a lock ends holding it");
        remove_stale_temporaries(&self.path)?;
        Ok(lock)
    }

    /// Whether some process holds the run's lock (this one included).
    pub fn is_locked(&self) -> bool {
        File::open(self.lock_file()).is_ok_and(|f| f.try_lock().is_err())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a run was started here (its arguments are saved).
    pub fn holds_run(&self) -> bool {
        self.path.join(ARGS).is_file()
    }

    /// Whether the run finished (its results are saved).
    pub fn is_finished(&self) -> bool {
        self.path.join(RESULTS).is_file()
    }

    /// Whether it holds a history to read.
    pub fn has_history(&self) -> bool {
        self.path.join(HISTORY).is_file()
    }

    /// Saves the run's arguments.
    pub fn write_args(&self, args: &impl Serialize) -> Result<()> {
        let json = serde_json::to_string_pretty(args).expect("arguments serialize");
        write_atomic(&self.path.join(ARGS), json.as_bytes())
    }

    /// The run's saved arguments.
    pub fn read_args<T: DeserializeOwned>(&self) -> Result<T> {
        let path = self.path.join(ARGS);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::format(&path, format!("unreadable run arguments: {e}")))
    }

    /// Writes `summary.txt` (the command, then each argument and its value, as Markdown) unless
    /// the run has one; returns the text when it was written.
    pub fn write_summary(
        &self,
        command: &str,
        arguments: &[(String, String)],
    ) -> Result<Option<String>> {
        let path = self.path.join(SUMMARY);
        if path.is_file() {
            return Ok(None);
        }
        let mut text = format!("# {command}\n\n| argument | value |\n|---|---|\n");
        for (name, value) in arguments {
            text.push_str(&format!("| {name} | {value} |\n"));
        }
        write_atomic(&path, text.as_bytes())?;
        Ok(Some(text))
    }

    /// The history writer, continuing after the first `epochs_done` rows.
    pub fn history_writer(&self, epochs_done: usize) -> HistoryCsv {
        HistoryCsv::resume(self.path.join(HISTORY), epochs_done)
    }

    /// The finished epochs.
    pub fn read_history(&self) -> Result<Vec<EpochMetrics>> {
        let path = self.path.join(HISTORY);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        history::parse(&path, &text)
    }

    /// Where the best model is kept.
    pub fn best_model(&self) -> PathBuf {
        self.path.join(BEST_MODEL)
    }

    /// Saves the resume state.
    pub fn save_state(&self, state: &TrainState, model: &Sequential) -> Result<()> {
        state.save(model, &self.path.join(LAST_STATE))
    }

    /// The resume state read into `model`, if the run saved one (it has not after a crash in
    /// its first epoch: the run then starts over).
    pub fn load_state(
        &self,
        model: &mut Sequential,
        optimizer: Optimizer,
    ) -> Result<Option<TrainState>> {
        let path = self.path.join(LAST_STATE);
        match path.is_file() {
            true => TrainState::load(&path, model, optimizer).map(Some),
            false => Ok(None),
        }
    }

    /// Whether the run saved a resume state.
    pub fn has_state(&self) -> bool {
        self.path.join(LAST_STATE).is_file()
    }

    /// Forgets the resume state (a backup no longer needed once its fit has ended).
    pub fn remove_state(&self) -> Result<()> {
        self.remove(LAST_STATE)
    }

    /// The results, if the run finished (and the file is ours).
    pub fn results(&self) -> Option<Results> {
        let text = std::fs::read_to_string(self.path.join(RESULTS)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Saves the results, marking the run finished.
    pub fn write_results(&self, results: &Results) -> Result<()> {
        let json = serde_json::to_string_pretty(results).expect("results serialize");
        write_atomic(&self.path.join(RESULTS), json.as_bytes())
    }

    /// Why the run failed, if that was recorded.
    pub fn error(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.path.join(ERROR)).ok()?;
        Some(text.trim().to_string())
    }

    /// Records why the run failed.
    pub fn write_error(&self, message: &str) -> Result<()> {
        write_atomic(&self.path.join(ERROR), format!("{message}\n").as_bytes())
    }

    /// Forgets a recorded failure (before a retry).
    pub fn clear_error(&self) -> Result<()> {
        self.remove(ERROR)
    }

    /// Removes the run's file `name` if it is there.
    fn remove(&self, name: &str) -> Result<()> {
        let path = self.path.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Where a sweep appends the run's output.
    pub fn output_log(&self) -> PathBuf {
        self.path.join(OUTPUT_LOG)
    }

    /// The file locked while a process trains the run.
    fn lock_file(&self) -> PathBuf {
        self.path.join(LOCK)
    }
}

/// A process's exclusive claim on a run directory: an advisory lock (`flock`) on its `.lock`
/// file, released when the last clone is dropped or when the process dies, however it dies.
#[derive(Clone)]
pub struct RunLock {
    _file: Arc<File>,
}

/// The locks this process holds, by lock file: taking one again shares it instead of waiting
/// on itself (a sweep's task holds its point while the training it runs takes the run's lock).
static HELD: Mutex<Vec<(PathBuf, Weak<File>)>> = Mutex::new(Vec::new());

impl RunLock {
    /// The lock on `path` (its directory created if missing); `None` when another process holds
    /// it and there is no `waiting` callback, which is otherwise called once before waiting.
    fn take(path: &Path, waiting: Option<Box<dyn FnOnce() + '_>>) -> Result<Option<Self>> {
        let dir = path
            .parent()
            .expect("a lock file is inside its run directory");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let key = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let held = |held: &mut Vec<(PathBuf, Weak<File>)>| {
            held.retain(|(_, file)| file.strong_count() > 0);
            held.iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, file)| file.upgrade())
        };
        if let Some(file) = held(&mut HELD.lock().expect("lock table")) {
            return Ok(Some(RunLock { _file: file }));
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        if file.try_lock().is_err() {
            let Some(waiting) = waiting else {
                return Ok(None);
            };
            waiting();
            file.lock().map_err(|e| Error::io(path, e))?;
        }
        let file = Arc::new(file);
        HELD.lock()
            .expect("lock table")
            .push((key, Arc::downgrade(&file)));
        Ok(Some(RunLock { _file: file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another process's lock refuses (or waits); this process taking its own lock again
    /// shares it; dropping the last clone frees it.
    #[test]
    fn a_run_is_locked_by_one_process_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::at(tmp.path().join("r"));
        let lock = run.lock().unwrap();
        assert!(run.is_locked());
        let again = run.lock().expect("this process holds it already");
        drop(lock);
        assert!(run.is_locked(), "a clone still holds it");
        // Another open file description, as another process would have.
        let other = File::open(run.lock_file()).unwrap();
        drop(again);
        assert!(!run.is_locked());
        other.lock().unwrap();
        let err = run.lock().err().expect("held elsewhere").to_string();
        assert!(
            err.contains("another process is training this run"),
            "{err}"
        );
        let mut waited = false;
        let released = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(other);
        });
        let _lock = run.lock_waiting(|| waited = true).unwrap();
        released.join().unwrap();
        assert!(waited);
    }

    #[test]
    fn run_directories_are_numbered_and_unique() {
        let tmp = tempfile::tempdir().unwrap();
        let name = |r: RunDir| r.path().file_name().unwrap().to_owned();
        let a = RunDir::create_numbered(tmp.path(), "cnn").unwrap();
        let b = RunDir::create_numbered(tmp.path(), "cnn").unwrap();
        let c = RunDir::create_numbered(tmp.path(), "mlp").unwrap();
        assert_eq!(name(a), "cnn-0");
        assert_eq!(name(b), "cnn-1");
        assert_eq!(name(c), "mlp-0");
        assert!(RunDir::create_numbered(tmp.path(), "a/b").is_err());
    }

    #[test]
    fn a_directory_holding_a_run_is_resumed_not_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("point-3");
        assert!(RunDir::open_to_resume(&dir).is_err());
        let run = RunDir::create_at(&dir).unwrap();
        run.write_args(&serde_json::json!({"epochs": 2})).unwrap();
        let err = RunDir::create_at(&dir).unwrap_err().to_string();
        assert!(err.contains("already holds a run"), "{err}");
        let resumed = RunDir::open_to_resume(&dir).unwrap();
        assert_eq!(
            resumed.read_args::<serde_json::Value>().unwrap()["epochs"],
            2
        );
        assert!(!resumed.is_finished() && resumed.results().is_none());
    }

    #[test]
    fn errors_are_recorded_and_cleared() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::at(tmp.path());
        run.clear_error().unwrap();
        run.write_error("diverged").unwrap();
        assert_eq!(run.error().as_deref(), Some("diverged"));
        run.clear_error().unwrap();
        assert_eq!(run.error(), None);
    }
}
