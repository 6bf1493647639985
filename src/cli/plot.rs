//! `mnistlab plot`: the learning curves of runs, drawn into a PNG.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct PlotArgs {
    /// Run directories (each with a history.csv), or log directories holding them.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Output PNG.
    #[arg(long, short, default_value = "curves.png")]
    out: PathBuf,
}

pub(super) fn run(args: PlotArgs) -> Result<()> {
    let mut runs = Vec::new();
    for path in &args.runs {
        if mnistlab::runs::run_dir::RunDir::at(path).has_history() {
            runs.push(mnistlab::runs::read_run(path)?);
        } else {
            let found = mnistlab::runs::list_runs(path)?;
            if found.is_empty() {
                anyhow::bail!(
                    "{}: not a run directory and holds no runs (no history.csv)",
                    path.display()
                );
            }
            runs.extend(found);
        }
    }
    mnistlab::runs::plot::plot_runs(&runs, &args.out)?;
    println!(
        "Learning curves of {} run{} written to {}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        args.out.display()
    );
    Ok(())
}
