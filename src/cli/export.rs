//! `mnistlab export`: a saved model as an ONNX file.

use anyhow::Result;
use clap::Args;
use mnistlab::model::load;
use mnistlab::onnx::{DEFAULT_OPSET, USAGE};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct ExportArgs {
    /// Model file (.safetensors).
    model: PathBuf,
    /// Output ONNX file.
    #[arg(long, short, default_value = "model.onnx")]
    out: PathBuf,
    /// ONNX opset (13 to 21).
    #[arg(long, default_value_t = DEFAULT_OPSET)]
    opset: i64,
}

pub(super) fn run(args: ExportArgs) -> Result<()> {
    let model = load(&args.model)?;
    mnistlab::onnx::save(&model, &args.out, args.opset)?;
    println!(
        "{} written to {} (opset {})",
        args.model.display(),
        args.out.display(),
        args.opset
    );
    println!("{USAGE}");
    Ok(())
}
