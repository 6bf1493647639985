//! `mnistlab ensemble`: several models and the average of their predicted probabilities.

use super::TestSetArgs;
use anyhow::Result;
use clap::Args;
use mnistlab::model::load;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct EnsembleArgs {
    /// Model files (.safetensors; architectures may differ), or sweep directories with --best.
    #[arg(required = true)]
    models: Vec<PathBuf>,
    /// Average the K best models of each sweep directory given (lowest validation loss).
    #[arg(long, value_name = "K")]
    best: Option<usize>,
    #[command(flatten)]
    test_set: TestSetArgs,
    /// Print one JSON object {"models": [...], "ensemble": {...}}.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(mut args: EnsembleArgs) -> Result<()> {
    if let Some(k) = args.best {
        if k == 0 {
            anyhow::bail!("--best: must be at least 1");
        }
        args.models = best_models(&args.models, k)?;
    }
    let mut models = args
        .models
        .iter()
        .map(|p| load(p))
        .collect::<mnistlab::Result<Vec<_>>>()?;
    let data = args.test_set.load(models[0].config().dataset)?;
    let (each, mean) = mnistlab::eval::ensemble(
        &mut models,
        &data.test,
        data.info.dataset,
        mnistlab::eval::EVAL_BATCH,
    )?;
    if args.json {
        let members: Vec<_> = args
            .models
            .iter()
            .zip(&each)
            .map(|(p, e)| serde_json::json!({"model": p, "loss": e.loss, "accuracy": e.accuracy, "n": e.n}))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "models": members, "ensemble": mean })
        );
    } else {
        for (path, e) in args.models.iter().zip(&each) {
            println!(
                "{}: test loss {:.4}, test accuracy {:.4}",
                path.display(),
                e.loss,
                e.accuracy
            );
        }
        println!(
            "ensemble of {}: test loss {:.4}, test accuracy {:.4}",
            each.len(),
            mean.loss,
            mean.accuracy
        );
    }
    Ok(())
}

/// The sweep directories' best models for `ensemble --best K`.
fn best_models(dirs: &[PathBuf], k: usize) -> Result<Vec<PathBuf>> {
    let mut models = Vec::new();
    for dir in dirs {
        if !mnistlab::sweep::is_sweep_dir(dir) {
            anyhow::bail!("{}: not a sweep directory (no sweep.json)", dir.display());
        }
        let best = mnistlab::sweep::best_models(dir, k)?;
        if best.is_empty() {
            anyhow::bail!("{}: no point of this sweep is done yet", dir.display());
        }
        models.extend(best);
    }
    Ok(models)
}
