//! `mnistlab sweep`: plan, run locally, run one point, or run as a Slurm job array.

use super::train::{self, TrainArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use mnistlab::sweep::slurm::{self, SlurmOptions};
use mnistlab::sweep::{self as planner, PointState, Sweep};
use mnistlab::train::run_dir::RunDir;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub(super) struct SweepArgs {
    #[command(subcommand)]
    command: SweepCommand,
}

#[derive(Subcommand, Debug)]
enum SweepCommand {
    /// Print the points of a sweep file as a table; runs nothing.
    Plan(FileArgs),
    /// Run the points on this machine, K at a time; run again to continue after a stop.
    Run(RunArgs),
    /// Run one point (what each Slurm array task runs); a point already done is skipped.
    Task(TaskArgs),
    /// Write a Slurm job-array script for the points not yet done, and submit it with --submit.
    Slurm(SlurmArgs),
}

#[derive(Args, Debug)]
struct FileArgs {
    /// Sweep file (TOML).
    file: PathBuf,
    /// Accept a sweep of more than 10,000 points.
    #[arg(long)]
    yes: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    sweep: FileArgs,
    /// Runs at a time, each with cores/K threads.
    #[arg(long, short = 'j', default_value_t = 1)]
    jobs: usize,
}

#[derive(Args, Debug)]
struct TaskArgs {
    #[command(flatten)]
    sweep: FileArgs,
    /// The point's index (0-based; Slurm's $SLURM_ARRAY_TASK_ID).
    index: usize,
}

#[derive(Args, Debug)]
struct SlurmArgs {
    #[command(flatten)]
    sweep: FileArgs,
    /// Partition to run in (default: the cluster's).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task (HH:MM:SS, D-HH:MM:SS or minutes).
    #[arg(long)]
    time: Option<String>,
    /// CPUs per task; each run uses that many threads.
    #[arg(long, default_value_t = 2)]
    cpus_per_task: usize,
    /// Memory per task (e.g. 4G).
    #[arg(long)]
    mem: Option<String>,
    /// At most this many tasks at once.
    #[arg(long)]
    max_parallel: Option<usize>,
    /// Submit the script with sbatch.
    #[arg(long)]
    submit: bool,
}

/// A point's flags parsed as `train` parses its own.
#[derive(Parser, Debug)]
#[command(no_binary_name = true)]
struct PointFlags {
    #[command(flatten)]
    train: TrainArgs,
}

/// The point's `train` flags; an unknown flag is named as the sweep file's key.
fn parse_point(args: &[String]) -> std::result::Result<TrainArgs, String> {
    PointFlags::try_parse_from(args)
        .map(|f| f.train)
        .map_err(
            |e| match (e.kind(), e.get(clap::error::ContextKind::InvalidArg)) {
                (clap::error::ErrorKind::UnknownArgument, Some(arg)) => {
                    let key = arg.to_string();
                    let key = key.trim_start_matches('-').to_string();
                    format!("{key}: not a train flag (see mnistlab train --help)")
                }
                _ => e
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    .to_string(),
            },
        )
}

/// `point 3 (lr=0.001, seed=1)`.
fn describe(index: usize, values: &[(String, toml::Value)]) -> String {
    let values: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    match values.is_empty() {
        true => format!("point {index}"),
        false => format!("point {index} ({})", values.join(", ")),
    }
}

/// Reads the sweep and checks every point's flags as `train` would, before anything runs.
fn read(args: &FileArgs) -> Result<Sweep> {
    let limit = match args.yes {
        true => planner::HARD_MAX_POINTS,
        false => planner::DEFAULT_MAX_POINTS,
    };
    let sweep = match planner::read(&args.file, limit) {
        Err(e @ mnistlab::Error::TooManyPoints { .. }) if !args.yes => bail!(
            "{e} (pass --yes to accept up to {})",
            planner::HARD_MAX_POINTS
        ),
        other => other?,
    };
    let mut checked = std::collections::HashSet::new();
    for point in &sweep.points {
        if !checked.insert(&point.args) {
            continue;
        }
        let what = || {
            format!(
                "{}: {}",
                args.file.display(),
                describe(point.index, &point.values)
            )
        };
        let flags = parse_point(&point.args).map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
        train::validate(&flags).map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
    }
    Ok(sweep)
}

pub(super) fn run(args: SweepArgs) -> Result<()> {
    match args.command {
        SweepCommand::Plan(args) => plan(args),
        SweepCommand::Run(args) => run_local(args),
        SweepCommand::Task(args) => task(args),
        SweepCommand::Slurm(args) => run_slurm(args),
    }
}

fn plan(args: FileArgs) -> Result<()> {
    let sweep = read(&args)?;
    let sizes: Vec<String> = planner::axis_sizes(&sweep)
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    println!(
        "Sweep {}: {} points ({}) into {}\n",
        sweep.name,
        sweep.points.len(),
        if sizes.is_empty() {
            "no axes".to_string()
        } else {
            sizes.join(", ")
        },
        sweep.dir.display()
    );
    println!(
        "| point | run | {} | state | train flags |",
        sweep.axes.join(" | ")
    );
    println!("|---|---|{}---|---|", "---|".repeat(sweep.axes.len()));
    for point in &sweep.points {
        let values: Vec<String> = point.values.iter().map(|(_, v)| v.to_string()).collect();
        println!(
            "| {} | {} | {} | {} | {} |",
            point.index,
            point.run,
            values.join(" | "),
            sweep.state(point.index),
            point.args.join(" ")
        );
    }
    Ok(())
}

/// Runs one point in this process.
fn task(args: TaskArgs) -> Result<()> {
    let sweep = read(&args.sweep)?;
    let Some(point) = sweep.points.get(args.index) else {
        bail!(
            "index: {} is past the sweep's {} points (0 to {})",
            args.index,
            sweep.points.len(),
            sweep.points.len().saturating_sub(1)
        );
    };
    sweep.write_description()?;
    let dir = sweep.run_dir(args.index);
    let _lock = RunDir::at(&dir).lock_waiting(|| {
        println!(
            "Point {} is running in another process; waiting for it",
            args.index
        )
    })?;
    if planner::point_state(&dir) == PointState::Done {
        println!("Point {} ({}) is done already", args.index, point.run);
        return Ok(());
    }
    let run = RunDir::at(&dir);
    run.clear_error()?;
    let dir_arg = dir.display().to_string();
    let argv: Vec<String> = match run.holds_run() {
        true => vec!["--resume".into(), dir_arg],
        false => point
            .args
            .iter()
            .cloned()
            .chain(["--run-dir".into(), dir_arg])
            .collect(),
    };
    let flags = parse_point(&argv).map_err(|e| anyhow::anyhow!("point {}: {e}", args.index))?;
    println!("{}: {}", describe(args.index, &point.values), dir.display());
    let result = train::run(flags);
    if let Err(e) = &result {
        let interrupted = matches!(
            e.downcast_ref::<mnistlab::Error>(),
            Some(mnistlab::Error::Interrupted { .. })
        );
        if !interrupted {
            run.write_error(&format!("{e:#}"))?;
        }
    }
    result
}

/// `sweep run` was stopped by Ctrl-C (exit code 130, as for `train`).
#[derive(Debug, thiserror::Error)]
#[error("stopped by Ctrl-C; run the same command again to continue")]
pub(super) struct SweepStopped;

/// One line about a finished point.
fn finished_line(sweep: &Sweep, index: usize) -> String {
    let dir = sweep.run_dir(index);
    let state = planner::point_state(&dir);
    let point = &sweep.points[index];
    let what = format!("{}, {}", point.run, describe(index, &point.values));
    let run = RunDir::at(&dir);
    match (state, run.results()) {
        (PointState::Done, Some(r)) => format!(
            "{what}: done, val_accuracy {:.4}, test accuracy {:.4}, {:.1} s",
            r.best_val_accuracy.unwrap_or(f64::NAN),
            r.test_accuracy,
            r.seconds
        ),
        (PointState::Failed, _) => {
            format!("{what}: failed: {}", run.error().unwrap_or_default())
        }
        (other, _) => format!("{what}: {other}"),
    }
}

/// Starts `mnistlab sweep task FILE INDEX` with its output appended to the run's `output.log`.
/// It gets a process group of its own: a terminal's Ctrl-C then reaches only `sweep run`, which
/// passes one SIGINT on (a second one would make `train` quit without saving its state).
fn start_point(
    exe: &Path,
    file: &Path,
    dir: &Path,
    index: usize,
    threads: usize,
    yes: bool,
) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let log_path = RunDir::at(dir).output_log();
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| log_path.display().to_string())?;
    let mut command = Command::new(exe);
    command
        .args(["--threads", &threads.to_string(), "sweep", "task"])
        .arg(file)
        .arg(index.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    if yes {
        command.arg("--yes");
    }
    command.spawn().context("cannot start a run")
}

fn run_local(args: RunArgs) -> Result<()> {
    if args.jobs == 0 {
        bail!("--jobs: must be at least 1");
    }
    let sweep = read(&args.sweep)?;
    sweep.write_description()?;
    let todo: Vec<usize> = (0..sweep.points.len())
        .filter(|&i| sweep.state(i) != PointState::Done)
        .collect();
    let threads = (rayon::current_num_threads() / args.jobs).max(1);
    println!(
        "Sweep {}: {} points, {} done, {} to run, {} at a time with {threads} thread{} each; runs in {}",
        sweep.name,
        sweep.points.len(),
        sweep.points.len() - todo.len(),
        todo.len(),
        args.jobs,
        if threads == 1 { "" } else { "s" },
        sweep.dir.display()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;
    let exe = std::env::current_exe().context("cannot find the mnistlab executable")?;
    let file = std::fs::canonicalize(&args.sweep.file)
        .with_context(|| args.sweep.file.display().to_string())?;
    let total = todo.len();
    let mut queue = todo.into_iter();
    let mut running: Vec<(usize, Child)> = Vec::new();
    let (mut finished, mut failed) = (0, 0);
    loop {
        while !stop.load(Ordering::SeqCst) && running.len() < args.jobs {
            let Some(index) = queue.next() else { break };
            let child = start_point(
                &exe,
                &file,
                &sweep.run_dir(index),
                index,
                threads,
                args.sweep.yes,
            )?;
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
            println!(
                "Stopped after {finished} of {total} points; `mnistlab sweep run {}` continues",
                args.sweep.file.display()
            );
            return Err(SweepStopped.into());
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut still = Vec::with_capacity(running.len());
        for (index, mut child) in running {
            match child.try_wait()? {
                None => still.push((index, child)),
                Some(_) => {
                    finished += 1;
                    if sweep.state(index) != PointState::Done {
                        failed += 1;
                    }
                    println!("[{finished}/{total}] {}", finished_line(&sweep, index));
                }
            }
        }
        running = still;
    }
    if failed > 0 {
        bail!(
            "{failed} of {total} points did not finish (see mnistlab runs {})",
            sweep.dir.display()
        );
    }
    println!(
        "All {} points done: mnistlab runs {}",
        sweep.points.len(),
        sweep.dir.display()
    );
    Ok(())
}

fn run_slurm(args: SlurmArgs) -> Result<()> {
    let options = SlurmOptions {
        partition: args.partition.clone(),
        time: args.time.clone(),
        cpus_per_task: args.cpus_per_task,
        mem: args.mem.clone(),
        max_parallel: args.max_parallel,
    };
    options.validate()?;
    let sweep = read(&args.sweep)?;
    sweep.write_description()?;
    let pending = sweep.pending();
    if pending.is_empty() {
        println!(
            "Every point of {} is done or running: nothing to submit",
            sweep.name
        );
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find the mnistlab executable")?;
    let file = std::fs::canonicalize(&args.sweep.file)
        .with_context(|| args.sweep.file.display().to_string())?;
    let workdir = std::env::current_dir()?;
    let logs = sweep.dir.join("slurm");
    std::fs::create_dir_all(&logs).with_context(|| logs.display().to_string())?;
    let text = slurm::script(&sweep, &pending, &file, &exe, &workdir, &options);
    let path = sweep.dir.join("sweep.sbatch");
    mnistlab::fsutil::write_atomic(&path, text.as_bytes())?;
    println!(
        "Wrote {} : {} array task{} ({} of {} points; the others are done or running)",
        path.display(),
        pending.len(),
        if pending.len() == 1 { "" } else { "s" },
        slurm::array_spec(&pending),
        sweep.points.len()
    );
    if !args.submit {
        println!("Submit it with: sbatch {}", path.display());
        return Ok(());
    }
    let id = match slurm::submit(&path) {
        Err(mnistlab::Error::Config { message, .. }) => bail!("sbatch: {message}"),
        other => other?,
    };
    println!("Submitted job array {id}");
    println!("Watch it: squeue -j {id}   (once finished: sacct -j {id}, where accounting is on)");
    println!("Results: mnistlab runs {}", sweep.dir.display());
    Ok(())
}

/// The sweep directories' best models for `ensemble --best K`.
pub(super) fn best_models(dirs: &[PathBuf], k: usize) -> Result<Vec<PathBuf>> {
    let mut models = Vec::new();
    for dir in dirs {
        if !planner::is_sweep_dir(dir) {
            bail!("{}: not a sweep directory (no sweep.json)", dir.display());
        }
        let best = planner::best_models(dir, k)?;
        if best.is_empty() {
            bail!("{}: no point of this sweep is done yet", dir.display());
        }
        models.extend(best);
    }
    Ok(models)
}

/// `runs` on a sweep directory.
pub(super) fn print_report(dir: &Path, json: bool) -> Result<()> {
    let rows = planner::report(dir)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", planner::report_table(&rows));
    }
    Ok(())
}
