//! `mnistlab predict`: classify pictures (files or folders of them) with a saved model.

use anyhow::{Context, Result};
use clap::Args;
use mnistlab::model::load;
use mnistlab::picture::classify::Classifier;
use mnistlab::picture::preprocess::Polarity;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct PredictArgs {
    /// Model file (.safetensors).
    model: PathBuf,
    /// Pictures (PNG, JPEG, BMP, TIFF; any size, colour or gray), or folders of them.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    /// Print one JSON object per image.
    #[arg(long)]
    json: bool,
    /// Read each picture as a number of several digits (left to right), each digit with its
    /// probability and box.
    #[arg(long, conflicts_with = "raw")]
    number: bool,
    /// Write each original beside the 28×28 input the model saw to this PNG (with --number:
    /// the picture with a box round each digit, and each digit as the model saw it).
    #[arg(long, value_name = "PNG")]
    show: Option<PathBuf>,
}

/// How pictures are turned into model inputs (also used by `serve`).
#[derive(Args, Debug, Clone, Copy)]
pub(super) struct InputArgs {
    /// Always invert (dark ink on a light background); default: decided from the border.
    #[arg(long, conflicts_with = "no_invert")]
    invert: bool,
    /// Never invert.
    #[arg(long)]
    no_invert: bool,
    /// Only resize the whole picture to the model's input (no cropping or centring).
    #[arg(long)]
    raw: bool,
}

impl InputArgs {
    pub(super) fn classifier(
        &self,
        models: Vec<mnistlab::model::Sequential>,
    ) -> Result<Classifier> {
        let polarity = match (self.invert, self.no_invert) {
            (true, _) => Polarity::Invert,
            (_, true) => Polarity::Keep,
            _ => Polarity::Auto,
        };
        Ok(Classifier::new(models, polarity, self.raw)?)
    }
}

/// File names `predict` takes from a folder.
const EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff"];

/// The pictures named: files as given, folders as their picture files in name order.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("{}: cannot list the folder", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        if found.is_empty() {
            anyhow::bail!(
                "{}: the folder holds no PNG, JPEG, BMP or TIFF file",
                path.display()
            );
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

pub(super) fn run(args: PredictArgs) -> Result<()> {
    let mut classifier = args.input.classifier(vec![load(&args.model)?])?;
    let files = expand(&args.images)?;
    if args.number {
        return read_numbers(&args, &mut classifier, &files);
    }
    let mut originals = Vec::with_capacity(files.len());
    let mut inputs = Vec::with_capacity(files.len());
    for path in &files {
        let image = mnistlab::picture::preprocess::open(path)?;
        inputs.push(classifier.prepare(path, &image)?);
        originals.push(image);
    }
    let predictions = classifier.classify(&inputs)?;
    for (path, p) in files.iter().zip(&predictions) {
        if args.json {
            let mut obj = serde_json::to_value(p)?;
            obj["image"] = serde_json::json!(path);
            println!("{obj}");
        } else {
            let top: Vec<String> = p
                .top(3)
                .iter()
                .map(|(c, q)| format!("{} {:.2}%", classifier.classes()[*c], 100.0 * q))
                .collect();
            println!(
                "{}: {} ({}) {:.2}%   top 3: {}",
                path.display(),
                p.class,
                p.name,
                100.0 * p.probability,
                top.join(", ")
            );
        }
    }
    if let Some(out) = &args.show {
        let pairs: Vec<_> = originals
            .iter()
            .zip(&inputs)
            .map(|(o, i)| (o, i.as_slice()))
            .collect();
        let picture = mnistlab::picture::draw::before_after(&pairs, classifier.input_size());
        mnistlab::fsutil::write_atomic(out, &mnistlab::picture::draw::png(&picture))?;
        if !args.json {
            println!(
                "Originals beside the model's inputs written to {}",
                out.display()
            );
        }
    }
    Ok(())
}

/// `--number`: each picture read as a number.
fn read_numbers(args: &PredictArgs, classifier: &mut Classifier, files: &[PathBuf]) -> Result<()> {
    let mut sheets = Vec::new();
    for path in files {
        let image = mnistlab::picture::preprocess::open(path)?;
        let reading = classifier.read_number(path, &image)?;
        if args.json {
            let mut obj = serde_json::to_value(&reading)?;
            obj["image"] = serde_json::json!(path);
            println!("{obj}");
        } else {
            let digits: Vec<String> = reading
                .digits
                .iter()
                .map(|d| {
                    format!(
                        "{} {:.2}%",
                        d.prediction.name,
                        100.0 * d.prediction.probability
                    )
                })
                .collect();
            println!(
                "{}: {}   digits: {}",
                path.display(),
                reading.number,
                digits.join(", ")
            );
        }
        if args.show.is_some() {
            let digits: Vec<_> = reading
                .digits
                .iter()
                .map(|d| (d.bounds, d.input.as_slice(), d.prediction.name.as_str()))
                .collect();
            sheets.push(mnistlab::picture::draw::number_boxes(
                &image,
                &digits,
                classifier.input_size(),
            ));
        }
    }
    if let Some(out) = &args.show {
        let height = sheets.iter().map(|s| s.height()).sum();
        let mut picture = image::RgbImage::new(sheets[0].width(), height);
        let mut y = 0;
        for sheet in &sheets {
            image::imageops::overlay(&mut picture, sheet, 0, y as i64);
            y += sheet.height();
        }
        mnistlab::fsutil::write_atomic(out, &mnistlab::picture::draw::png(&picture))?;
        if !args.json {
            println!(
                "The digits found and what the model saw written to {}",
                out.display()
            );
        }
    }
    Ok(())
}
