//! `mnistlab predict`: classify PNG images with a saved model.

use anyhow::{Context, Result};
use clap::Args;
use mnistlab::data::{dataset_info, Images};
use mnistlab::model::load;
use mnistlab::train::{loss::argmax, predict_proba};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct PredictArgs {
    /// Model file (.safetensors).
    model: PathBuf,
    /// Grayscale PNG images; other sizes are resized to the model's input.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Invert the images first (for dark digits on a light background; MNIST is light on dark).
    #[arg(long)]
    invert: bool,
    /// Print one JSON object per image.
    #[arg(long)]
    json: bool,
}

/// Reads `path` as a grayscale `h × w` image.
fn read_image(path: &PathBuf, h: usize, w: usize, invert: bool) -> Result<Vec<u8>> {
    let img = image::open(path)
        .with_context(|| format!("{}: cannot read as an image", path.display()))?
        .to_luma8();
    let img = if (img.height() as usize, img.width() as usize) == (h, w) {
        img
    } else {
        image::imageops::resize(
            &img,
            w as u32,
            h as u32,
            image::imageops::FilterType::Triangle,
        )
    };
    Ok(img
        .into_raw()
        .into_iter()
        .map(|p| if invert { 255 - p } else { p })
        .collect())
}

pub(super) fn run(args: PredictArgs) -> Result<()> {
    let mut model = load(&args.model)?;
    let config = model.config().clone();
    let classes = dataset_info(&config.dataset)
        .map(|d| d.classes.to_vec())
        .unwrap_or_default();
    let (h, w) = (config.input.h, config.input.w);
    let mut pixels = Vec::new();
    for path in &args.images {
        pixels.extend(read_image(path, h, w, args.invert)?);
    }
    let images = Images {
        pixels,
        labels: vec![0; args.images.len()],
        shape: config.input,
    };
    let probs = predict_proba(&mut model, &images, 128)?;
    for (path, row) in args.images.iter().zip(probs.chunks_exact(config.classes)) {
        let class = argmax(row);
        let name = classes.get(class).copied().unwrap_or("?");
        if args.json {
            let obj = serde_json::json!({ "image": path, "class": class, "name": name, "probability": row[class], "probabilities": row });
            println!("{obj}");
        } else {
            println!(
                "{}: {class} ({name}) {:.2}%",
                path.display(),
                100.0 * row[class]
            );
        }
    }
    Ok(())
}
