//! `mnistlab sweep`: plan, run locally, run one point, or run as a Slurm job array.

use super::train::{self, TrainArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use mnistlab::runs::run_dir::RunDir;
use mnistlab::sweep::slurm::{self, SlurmOptions};
use mnistlab::sweep::{self as planner, LocalOutcome, LocalRunner, PointState, Sweep};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
    let claimed = planner::claim_point(&sweep, point, || {
        println!(
            "Point {} is running in another process; waiting for it",
            args.index
        )
    })?;
    let Some(task) = claimed else {
        println!("Point {} ({}) is done already", args.index, point.run);
        return Ok(());
    };
    let flags =
        parse_point(&task.args).map_err(|e| anyhow::anyhow!("point {}: {e}", args.index))?;
    println!(
        "{}: {}",
        describe(args.index, &point.values),
        task.dir.display()
    );
    let result = train::run(flags);
    if let Err(e) = &result {
        let interrupted = matches!(
            e.downcast_ref::<mnistlab::Error>(),
            Some(mnistlab::Error::Interrupted { .. })
        );
        if !interrupted {
            task.record_failure(&format!("{e:#}"))?;
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

fn run_local(args: RunArgs) -> Result<()> {
    if args.jobs == 0 {
        bail!("--jobs: must be at least 1");
    }
    let sweep = read(&args.sweep)?;
    sweep.write_description()?;
    let todo = sweep.unfinished();
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
    let runner = LocalRunner {
        exe: &exe,
        file: &file,
        jobs: args.jobs,
        threads,
        accept_large: args.sweep.yes,
    };
    let outcome = runner.run(&sweep, todo, &stop, |finished, index| {
        println!("[{finished}/{total}] {}", finished_line(&sweep, index))
    })?;
    match outcome {
        LocalOutcome::Stopped { finished } => {
            println!(
                "Stopped after {finished} of {total} points; `mnistlab sweep run {}` continues",
                args.sweep.file.display()
            );
            Err(SweepStopped.into())
        }
        LocalOutcome::Ran { failed } if failed > 0 => bail!(
            "{failed} of {total} points did not finish (see mnistlab runs {})",
            sweep.dir.display()
        ),
        LocalOutcome::Ran { .. } => {
            println!(
                "All {} points done: mnistlab runs {}",
                sweep.points.len(),
                sweep.dir.display()
            );
            Ok(())
        }
    }
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
