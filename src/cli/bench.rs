//! `mnistlab bench`: training and inference speed of a model, with the time of each layer.

use super::{model_spec, DataArgs};
use anyhow::Result;
use clap::Args;
use mnistlab::data::Dataset;
use mnistlab::model::{ModelConfig, Normalization, Sequential};
use mnistlab::train::bench::{benchmark, BenchConfig};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct BenchArgs {
    /// Preset: linear, mlp, cnn, cnn-bn, cnn-deep.
    #[arg(long, default_value = "cnn-bn", conflicts_with = "arch")]
    model: String,
    /// Architecture notation instead of a preset.
    #[arg(long)]
    arch: Option<String>,
    /// Dataset to read.
    #[arg(long, value_parser = super::dataset_flag(), default_value_t = Dataset::Mnist)]
    dataset: Dataset,
    #[command(flatten)]
    data: DataArgs,
    /// Timed training steps (after as many untimed ones).
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Timed inference passes (forward, eval mode) over one batch.
    #[arg(long, default_value_t = 40)]
    inference_batches: usize,
    /// Images predicted one at a time (batch 1).
    #[arg(long, default_value_t = 300)]
    single_images: usize,
    /// Also write the benchmarked model here (.safetensors), e.g. to export it for another runtime.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: BenchArgs) -> Result<()> {
    let spec = model_spec(&args.model, args.arch.as_deref())?;
    let config = BenchConfig {
        steps: args.steps,
        batch_size: args.batch_size,
        inference_batches: args.inference_batches,
        single_images: args.single_images,
    };
    if config.batch_size == 0 {
        anyhow::bail!("--batch-size: must be at least 1");
    }
    let normalization = Normalization::StandardizeGlobal;
    let mut model = Sequential::new(ModelConfig::new(&spec, args.dataset, normalization), 0)?;
    let data = args.data.load(args.dataset)?;
    mnistlab::eval::check_input(&model, &data.train)?;
    let (mean, std) = normalization.statistics(&data.train.pixels, data.train.shape.len());
    model.set_normalization(&mean, &std);
    let report = benchmark(&mut model, &data.train, &data.test, &config)?;
    if let Some(path) = &args.save {
        mnistlab::model::save(&model, path)?;
    }
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        json["model"] = model.config().name.clone().into();
        json["isa"] = mnistlab::kernels::isa().name().into();
        json["data_dir"] = data.dir.display().to_string().into();
        println!("{json}");
        return Ok(());
    }
    println!(
        "{}: {} threads, {}, batch {}, {} timed steps",
        model.config().name,
        report.threads,
        mnistlab::kernels::isa(),
        report.batch_size,
        report.steps
    );
    println!(
        "training:  {:8.2} ms/step  {:9.0} images/s  ({:.2} s per 54,000-image epoch)",
        report.step_ms,
        report.train_images_per_s,
        54_000.0 / report.train_images_per_s
    );
    println!(
        "inference: {:>24.0} images/s at batch {}, {:.0} images/s at batch 1",
        report.inference_images_per_s, report.batch_size, report.single_images_per_s
    );
    println!();
    println!(
        "{:<12} {:>12} {:>12} {:>7}",
        "layer", "forward ms", "backward ms", "share"
    );
    let total: f64 = report
        .layers
        .iter()
        .map(|l| l.forward_ms + l.backward_ms)
        .sum();
    for layer in &report.layers {
        let both = layer.forward_ms + layer.backward_ms;
        println!(
            "{:<12} {:>12.3} {:>12.3} {:>6.1}%",
            layer.layer,
            layer.forward_ms,
            layer.backward_ms,
            100.0 * both / total.max(f64::MIN_POSITIVE)
        );
    }
    println!(
        "{:<12} {:>25.3} of {:.3} ms per step",
        "all layers", total, report.step_ms
    );
    Ok(())
}
