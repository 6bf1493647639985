//! `mnistlab runs`: the runs of a log directory, or the points of a sweep, as a table.

use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(super) struct RunsArgs {
    /// Directory holding run directories, or a sweep's directory.
    #[arg(default_value = "logs")]
    logdir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: RunsArgs) -> Result<()> {
    if mnistlab::sweep::is_sweep_dir(&args.logdir) {
        return print_report(&args.logdir, args.json);
    }
    let runs = mnistlab::runs::list_runs(&args.logdir)?;
    if runs.is_empty() {
        anyhow::bail!(
            "{}: no runs here (no folder with a history.csv)",
            args.logdir.display()
        );
    }
    if args.json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "run": r.dir, "model": r.model, "epochs": r.history.len(),
                    "best_val_loss": r.best_val_loss(),
                    "best_val_accuracy": r.best_val_accuracy(),
                    "test_accuracy": r.test_accuracy,
                    "seconds": r.seconds(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", mnistlab::runs::runs_table(&runs));
    }
    Ok(())
}

/// `runs` on a sweep directory.
fn print_report(dir: &Path, json: bool) -> Result<()> {
    let rows = mnistlab::sweep::report(dir)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", mnistlab::sweep::report_table(&rows));
    }
    Ok(())
}
