//! `mnistlab evaluate`: a saved model's loss and accuracy on a test set.

use super::TestSetArgs;
use anyhow::Result;
use clap::Args;
use mnistlab::eval::evaluate;
use mnistlab::model::load;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct EvaluateArgs {
    /// Model file (.safetensors).
    model: PathBuf,
    #[command(flatten)]
    test_set: TestSetArgs,
    /// Print one JSON object {"loss", "accuracy", "n"}.
    #[arg(long)]
    json: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = mnistlab::eval::EVAL_BATCH)]
    batch_size: usize,
}

pub(super) fn run(args: EvaluateArgs) -> Result<()> {
    let mut model = load(&args.model)?;
    let data = args.test_set.load(model.config().dataset)?;
    let result = evaluate(&mut model, &data.test, args.batch_size.max(1))?;
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!("Test loss: {:.4}", result.loss);
        println!("Test accuracy: {:.4}", result.accuracy);
    }
    Ok(())
}
