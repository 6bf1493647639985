//! A sweep as a Slurm job array: a plain `sbatch` script whose task `i` runs
//! `mnistlab sweep task FILE i`, and its submission with `sbatch --parsable`.

use super::Sweep;
use crate::error::{Error, Result, Setting};
use std::path::Path;
use std::process::Command;

/// The resources each array task asks for (`None`: the cluster's default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time`, e.g. `01:00:00`.
    pub time: Option<String>,
    /// `--cpus-per-task` (also the run's thread count).
    pub cpus_per_task: usize,
    /// `--mem`, e.g. `4G`.
    pub mem: Option<String>,
    /// At most this many tasks at once (`%K` of `--array`).
    pub max_parallel: Option<usize>,
}

impl SlurmOptions {
    /// Refuses values `sbatch` would refuse, naming the setting.
    pub fn validate(&self) -> Result<()> {
        let time_ok = |t: &str| {
            // minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
            let (days, rest) = t.split_once('-').unwrap_or(("0", t));
            !rest.is_empty()
                && days.chars().all(|c| c.is_ascii_digit())
                && rest.split(':').count() <= 3
                && rest
                    .split(':')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        };
        if let Some(t) = self.time.as_deref().filter(|t| !time_ok(t)) {
            return Err(Error::config(
                Setting::TimeLimit,
                format!("{t:?} is not a Slurm time (e.g. 90, 01:30:00, 1-12:00:00)"),
            ));
        }
        let mem_ok = |m: &str| {
            let digits = m.trim_end_matches(['K', 'M', 'G', 'T']);
            !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit())
                && m.len() - digits.len() <= 1
        };
        if let Some(m) = self.mem.as_deref().filter(|m| !mem_ok(m)) {
            return Err(Error::config(
                Setting::MemPerTask,
                format!("{m:?} is not a Slurm memory size (e.g. 4G, 500M)"),
            ));
        }
        if self.cpus_per_task == 0 {
            return Err(Error::config(Setting::CpusPerTask, "must be at least 1"));
        }
        if self.max_parallel == Some(0) {
            return Err(Error::config(Setting::ParallelTasks, "must be at least 1"));
        }
        if let Some(p) = self
            .partition
            .as_deref()
            .filter(|p| p.is_empty() || p.contains(char::is_whitespace))
        {
            return Err(Error::config(
                Setting::Partition,
                format!("{p:?} is not a partition name"),
            ));
        }
        Ok(())
    }
}

/// `indices` (sorted) as Slurm's array list: `0-7`, `1,3-5`.
pub fn array_spec(indices: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(match start == end {
            true => start.to_string(),
            false => format!("{start}-{end}"),
        });
        i += 1;
    }
    parts.join(",")
}

/// Single-quoted for the shell.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// The script: one array task per index in `indices`; `exe` and `file` absolute, `workdir` where
/// the tasks run (relative paths of the sweep file are read from there).
pub fn script(
    sweep: &Sweep,
    indices: &[usize],
    file: &Path,
    exe: &Path,
    workdir: &Path,
    options: &SlurmOptions,
) -> String {
    let mut array = array_spec(indices);
    if let Some(k) = options.max_parallel {
        array.push_str(&format!("%{k}"));
    }
    let logs = workdir.join(&sweep.dir).join("slurm");
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!(
            "# mnistlab sweep {}: one array task per point of {}.",
            sweep.name,
            file.display()
        ),
        "# Task i runs point i; a point already done is skipped, an interrupted one resumed."
            .to_string(),
        format!("#SBATCH --job-name={}", sweep.name),
        format!("#SBATCH --array={array}"),
        format!("#SBATCH --cpus-per-task={}", options.cpus_per_task),
    ];
    if let Some(p) = &options.partition {
        lines.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(t) = &options.time {
        lines.push(format!("#SBATCH --time={t}"));
    }
    if let Some(m) = &options.mem {
        lines.push(format!("#SBATCH --mem={m}"));
    }
    lines.push(format!("#SBATCH --output={}/%A_%a.out", logs.display()));
    lines.push(format!("#SBATCH --chdir={}", workdir.display()));
    lines.push(String::new());
    lines.push(format!(
        "exec {} --threads \"${{SLURM_CPUS_PER_TASK:-1}}\" sweep task {} \"$SLURM_ARRAY_TASK_ID\"",
        quote(exe),
        quote(file)
    ));
    lines.join("\n") + "\n"
}

/// Submits `script` with `sbatch --parsable`; returns the job id.
pub fn submit(script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .output()
        .map_err(|e| {
            Error::config(
                Setting::Sbatch,
                format!("cannot run sbatch: {e} (is Slurm installed here?)"),
            )
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::config(
            Setting::Sbatch,
            err.trim().replace('\n', " "),
        ));
    }
    // "jobid" or "jobid;cluster"
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::config(
            Setting::Sbatch,
            format!("unexpected answer {:?}", stdout.trim()),
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_compress_runs_of_indices() {
        assert_eq!(array_spec(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_spec(&[1, 3, 4, 5, 9]), "1,3-5,9");
        assert_eq!(array_spec(&[7]), "7");
    }

    #[test]
    fn options_sbatch_would_refuse_are_refused() {
        let ok = SlurmOptions {
            cpus_per_task: 2,
            time: Some("1-02:30:00".into()),
            mem: Some("4G".into()),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        for bad in [
            SlurmOptions {
                time: Some("1h".into()),
                ..ok.clone()
            },
            SlurmOptions {
                mem: Some("lots".into()),
                ..ok.clone()
            },
            SlurmOptions {
                cpus_per_task: 0,
                ..ok.clone()
            },
            SlurmOptions {
                max_parallel: Some(0),
                ..ok.clone()
            },
            SlurmOptions {
                partition: Some("a b".into()),
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
