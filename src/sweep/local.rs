//! Running a sweep's points on this machine, each in a process of its own.

use super::{PointState, Sweep};
use crate::error::{Error, Result};
use crate::runs::run_dir::RunDir;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How [`LocalRunner::run`] starts each point: `EXE --threads T sweep task FILE INDEX`.
pub struct LocalRunner<'a> {
    /// The `mnistlab` executable.
    pub exe: &'a Path,
    /// The sweep file, as each point's process will read it.
    pub file: &'a Path,
    /// Points run at a time.
    pub jobs: usize,
    /// Threads each point's run uses.
    pub threads: usize,
    /// Whether each point's process accepts a sweep past [`super::DEFAULT_MAX_POINTS`].
    pub accept_large: bool,
}

/// How a local run of a sweep ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalOutcome {
    /// Every point given ran; this many of them did not finish.
    Ran {
        /// Points whose run ended without being done.
        failed: usize,
    },
    /// Stopped on request: the running points were asked to save their state and stop.
    Stopped {
        /// Points that had ended before the stop.
        finished: usize,
    },
}

impl LocalRunner<'_> {
    /// Runs the points `todo` of `sweep`, [`Self::jobs`] at a time, until all have ended or
    /// `stop` is set; `ended(count, index)` is called as each point ends, `count` of them so far.
    pub fn run(
        &self,
        sweep: &Sweep,
        todo: Vec<usize>,
        stop: &AtomicBool,
        mut ended: impl FnMut(usize, usize),
    ) -> Result<LocalOutcome> {
        let mut queue = todo.into_iter();
        let mut running: Vec<(usize, Child)> = Vec::new();
        let (mut finished, mut failed) = (0, 0);
        loop {
            while !stop.load(Ordering::SeqCst) && running.len() < self.jobs {
                let Some(index) = queue.next() else { break };
                let child = self.start_point(&sweep.run_dir(index), index)?;
                running.push((index, child));
            }
            if running.is_empty() {
                break;
            }
            if stop.load(Ordering::SeqCst) {
                // Each run saves its resume state on SIGINT, as train does on Ctrl-C.
                for (_, child) in &running {
                    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
                }
                for (_, child) in &mut running {
                    let _ = child.wait();
                }
                return Ok(LocalOutcome::Stopped { finished });
            }
            std::thread::sleep(Duration::from_millis(100));
            let mut still = Vec::with_capacity(running.len());
            for (index, mut child) in running {
                match child.try_wait().map_err(|e| Error::io(self.exe, e))? {
                    None => still.push((index, child)),
                    Some(_) => {
                        finished += 1;
                        if sweep.state(index) != PointState::Done {
                            failed += 1;
                        }
                        ended(finished, index);
                    }
                }
            }
            running = still;
        }
        Ok(LocalOutcome::Ran { failed })
    }

    /// Starts point `index`'s process with its output appended to the run's `output.log`.
    /// It gets a process group of its own: a terminal's Ctrl-C then reaches only the runner,
    /// which passes one SIGINT on (a second one would make `train` quit without saving its
    /// state).
    fn start_point(&self, dir: &Path, index: usize) -> Result<Child> {
        use std::os::unix::process::CommandExt;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let log_path = RunDir::at(dir).output_log();
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(&log_path, e))?;
        let log_copy = log.try_clone().map_err(|e| Error::io(&log_path, e))?;
        let mut command = Command::new(self.exe);
        command
            .args(["--threads", &self.threads.to_string(), "sweep", "task"])
            .arg(self.file)
            .arg(index.to_string())
            .stdin(Stdio::null())
            .stdout(log_copy)
            .stderr(log)
            .process_group(0);
        if self.accept_large {
            command.arg("--yes");
        }
        command.spawn().map_err(|e| Error::io(self.exe, e))
    }
}
