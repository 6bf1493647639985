//! Speed measurement: training steps and batch inference of a model, with the time of each layer.

use super::{fit, Callback, EpochMetrics, TrainConfig};
use crate::data::Images;
use crate::error::{Error, Result, Setting};
use crate::model::Sequential;
use crate::shape::Mode;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchConfig {
    /// Timed training steps (a first, untimed pass of the same steps warms caches and buffers).
    pub steps: usize,
    /// Images per step, for training and inference.
    pub batch_size: usize,
    /// Timed inference passes (forward, eval mode) over one batch.
    pub inference_batches: usize,
    /// Images predicted one at a time (batch 1, as `serve` and `predict` run them).
    pub single_images: usize,
}

/// Forward and backward milliseconds per training step of one layer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerReport {
    /// The layer's notation token, or its type for layers without one.
    pub layer: String,
    /// Forward time per step.
    pub forward_ms: f64,
    /// Backward time per step.
    pub backward_ms: f64,
}

/// Measured speeds.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BenchReport {
    /// Images per step.
    pub batch_size: usize,
    /// Timed training steps.
    pub steps: usize,
    /// Worker threads.
    pub threads: usize,
    /// Wall time per training step (forward, loss, backward, optimizer).
    pub step_ms: f64,
    /// Training throughput.
    pub train_images_per_s: f64,
    /// Inference throughput: forward passes in eval mode over a batch already in the model.
    pub inference_images_per_s: f64,
    /// Inference throughput at batch 1: one image per forward pass.
    pub single_images_per_s: f64,
    /// Training-step time by layer, normalization first.
    pub layers: Vec<LayerReport>,
}

/// Restarts the layer timers when the untimed warm-up epoch ends, and keeps the epoch times.
struct WarmupThenProfile {
    seconds: Vec<f64>,
}

impl Callback for WarmupThenProfile {
    fn on_epoch_end(&mut self, metrics: &EpochMetrics, model: &mut Sequential) -> Result<()> {
        self.seconds.push(metrics.seconds);
        if metrics.epoch == 1 {
            model.start_profiling();
        }
        Ok(())
    }
}

/// Trains `model` for `2 × steps` steps on the first images of `train` (the second pass timed) and
/// runs `inference_batches` forward passes in inference mode over a batch of `test`.
pub fn benchmark(
    model: &mut Sequential,
    train: &Images,
    test: &Images,
    config: &BenchConfig,
) -> Result<BenchReport> {
    if config.steps == 0 {
        return Err(Error::config(Setting::Steps, "must be at least 1"));
    }
    if config.inference_batches == 0 {
        return Err(Error::config(
            Setting::InferenceBatches,
            "must be at least 1",
        ));
    }
    if config.single_images == 0 {
        return Err(Error::config(Setting::SingleImages, "must be at least 1"));
    }
    let images = config.steps * config.batch_size;
    if images > train.len() {
        return Err(Error::config(
            Setting::Steps,
            format!(
                "{} steps of {} images need {images} training images, the data has {}",
                config.steps,
                config.batch_size,
                train.len()
            ),
        ));
    }
    let train_config = TrainConfig {
        epochs: 2,
        batch_size: config.batch_size,
        ..TrainConfig::default()
    };
    let mut timer = WarmupThenProfile {
        seconds: Vec::new(),
    };
    fit(
        model,
        &train.slice(0..images),
        None,
        &train_config,
        &mut [&mut timer],
    )?;
    let step_seconds = timer.seconds[1] / config.steps as f64;
    let per_step = |d: std::time::Duration| d.as_secs_f64() * 1e3 / config.steps as f64;
    let layers = model
        .layers()
        .zip(model.layer_times())
        .map(|(layer, time)| LayerReport {
            layer: layer
                .spec()
                .map_or_else(|| layer.type_name().to_string(), |s| s.to_string()),
            forward_ms: per_step(time.forward),
            backward_ms: per_step(time.backward),
        })
        .collect();

    // Inference: forward passes (eval mode) over one batch of test images already in the
    // input buffer, as a serving loop would run them; then one image at a time.
    let n = config.batch_size.min(test.len());
    let pixels = &test.pixels[..n * test.shape.len()];
    for (x, &p) in model.input_mut(n).iter_mut().zip(pixels) {
        *x = f32::from(p);
    }
    let inference_seconds = time_forward(model, n, config.inference_batches);
    let single_seconds = time_forward(model, 1, config.single_images);
    Ok(BenchReport {
        batch_size: config.batch_size,
        steps: config.steps,
        threads: rayon::current_num_threads(),
        step_ms: step_seconds * 1e3,
        train_images_per_s: config.batch_size as f64 / step_seconds,
        inference_images_per_s: (config.inference_batches * n) as f64 / inference_seconds,
        single_images_per_s: config.single_images as f64 / single_seconds,
        layers,
    })
}

/// Seconds for `passes` eval-mode forward passes over the first `n` images in the input buffer,
/// after one untimed pass.
fn time_forward(model: &mut Sequential, n: usize, passes: usize) -> f64 {
    model.forward(n, Mode::Eval);
    let start = Instant::now();
    for _ in 0..passes {
        model.forward(n, Mode::Eval);
    }
    start.elapsed().as_secs_f64()
}
