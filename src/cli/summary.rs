//! `mnistlab summary`: a Keras-like summary of a preset, a notation or a saved model.

use super::model_spec;
use anyhow::Result;
use clap::Args;
use mnistlab::data::Dataset;
use mnistlab::model::{load, summary, ModelConfig, Normalization, Sequential};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct SummaryArgs {
    /// Saved model file (.safetensors, or an exported .onnx).
    #[arg(conflicts_with_all = ["model", "arch"])]
    file: Option<PathBuf>,
    /// Preset: linear, mlp, cnn, cnn-bn, cnn-deep.
    #[arg(long, conflicts_with = "arch")]
    model: Option<String>,
    /// Architecture notation, e.g. 16C3-BN-ReLU-MP2-GAP-D10.
    #[arg(long)]
    arch: Option<String>,
}

pub(super) fn run(args: SummaryArgs) -> Result<()> {
    let model = match (&args.file, &args.model, &args.arch) {
        (Some(file), _, _) if file.extension().is_some_and(|e| e == "onnx") => {
            print!("{}", mnistlab::onnx::describe(file)?);
            return Ok(());
        }
        (Some(file), _, _) => load(file)?,
        (_, Some(m), _) | (_, _, Some(m)) => {
            let spec = model_spec(m, args.arch.as_deref())?;
            Sequential::new(
                ModelConfig::new(&spec, Dataset::Mnist, Normalization::Standardize),
                0,
            )?
        }
        _ => anyhow::bail!("summary: give a model file, --model PRESET or --arch NOTATION"),
    };
    println!("{}", summary(&model));
    Ok(())
}
