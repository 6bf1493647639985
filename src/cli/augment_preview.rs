//! `mnistlab augment-preview`: an image beside 8 randomly augmented versions of it.

use super::{train, DataArgs};
use anyhow::Result;
use clap::Args;
use mnistlab::data::augment::Augment;
use mnistlab::data::Dataset;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct AugmentPreviewArgs {
    /// Dataset to read.
    #[arg(long, value_parser = super::dataset_flag(), default_value_t = Dataset::Mnist)]
    dataset: Dataset,
    #[command(flatten)]
    data: DataArgs,
    /// Training image to show.
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// Output PNG.
    #[arg(long, short, default_value = "augment.png")]
    out: PathBuf,
    /// Seed of the drawn transforms.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    ranges: train::AugmentArgs,
}

pub(super) fn run(args: AugmentPreviewArgs) -> Result<()> {
    let augment = args.ranges.augment(true);
    augment.validate()?;
    let data = args.data.load(args.dataset)?;
    if args.index >= data.train.len() {
        anyhow::bail!(
            "--index: {} is past the {} training images",
            args.index,
            data.train.len()
        );
    }
    let (h, w) = (data.train.shape.h, data.train.shape.w);
    let original = data.train.image(args.index).to_vec();
    let mut rng = mnistlab::rng::seeded(args.seed);
    let mut versions = vec![original.clone()];
    for _ in 0..8 {
        let mut out = vec![0.0; h * w];
        let draw = augment.sample(&mut rng, (h, w));
        Augment::apply(&original, (h, w), &draw, &mut out);
        versions.push(
            out.iter()
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
                .collect(),
        );
    }
    let refs: Vec<&[u8]> = versions.iter().map(|v| v.as_slice()).collect();
    let grid = mnistlab::picture::draw::gray_grid(&refs, (h, w), 9);
    let big = image::imageops::resize(
        &grid,
        grid.width() * 4,
        grid.height() * 4,
        image::imageops::FilterType::Nearest,
    );
    mnistlab::fsutil::write_atomic(&args.out, &mnistlab::picture::draw::png(&big))?;
    let label = data.info.classes[data.train.labels[args.index] as usize];
    println!(
        "Image {} ({label}) and 8 augmented versions written to {}",
        args.index,
        args.out.display()
    );
    Ok(())
}
