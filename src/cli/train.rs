//! `mnistlab train`: flags → the library's run settings (checked before any file is read or
//! written, so a bad flag leaves nothing behind) → `TrainingRun` → printed results.

use super::DataArgs;
use anyhow::Result;
use clap::{Args, ValueEnum};
use mnistlab::data::augment::Augment;
use mnistlab::data::Dataset;
use mnistlab::model::{summary, ModelConfig};
use mnistlab::runs::run_dir::{check_run_name, RunDir};
use mnistlab::runs::training::{Location, Record, RunSettings, TrainingRun};
use mnistlab::train::{OptimizerConfig, TrainConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum OptimizerKind {
    Adam,
    Sgd,
}

/// Ranges of the random affine augmentation (also used by `augment-preview`).
#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AugmentArgs {
    /// Rotation range, degrees (±).
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub rotation: f32,
    /// Zoom range: factors in [1 − z, 1 + z] for x and y independently.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub zoom: f32,
    /// Shear range, degrees (±); Keras' shear_range=0.3 is 0.3°.
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true)]
    pub shear: f32,
    /// Shift range, fraction of the side (±).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub shift: f32,
    /// Flip half of the training images left to right (for clothes, not digits).
    #[arg(long)]
    #[serde(default)]
    pub flip: bool,
    /// Erase a random rectangle of a training image with probability P (torchvision's
    /// RandomErasing: 2-33 % of the image, aspect 0.3-3.3, set to black).
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    #[serde(default)]
    pub erase: f32,
}

impl AugmentArgs {
    /// The augmentation: the affine ranges when `affine`, else none; flip and erasing as given.
    pub(crate) fn augment(&self, affine: bool) -> Augment {
        let range = |r: f32| if affine { r } else { 0.0 };
        Augment {
            rotation: range(self.rotation),
            zoom: range(self.zoom),
            shear: range(self.shear),
            shift: range(self.shift),
            flip: self.flip,
            erase: self.erase,
        }
    }
}

#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct TrainArgs {
    /// Preset: linear, mlp, cnn, cnn-bn, cnn-deep.
    #[arg(long, default_value = "cnn-bn", conflicts_with = "arch")]
    model: String,
    /// Architecture notation instead of a preset, e.g. 32C3-BN-ReLU-MP2-GAP-D10.
    #[arg(long)]
    arch: Option<String>,
    /// Dataset to train and test on.
    #[arg(long, value_parser = super::dataset_flag(), default_value_t = Dataset::Mnist)]
    dataset: Dataset,
    #[command(flatten)]
    data: DataArgs,
    /// Input normalization: standardize-global (one mean/std), standardize (per pixel, std + 1, as
    /// the tutorial), minmax (x/255 − 0.5) or none.
    #[arg(long, default_value = "standardize-global")]
    normalize: String,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    optimizer: OptimizerKind,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    lr: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    momentum: f32,
    /// L2 factor on kernels (Keras' kernel_regularizer=l2(λ)).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l2: f32,
    /// BatchNorm running-average momentum.
    #[arg(long, default_value_t = 0.99, allow_negative_numbers = true)]
    bn_momentum: f32,
    /// Fraction of the training set held out (the last images), as Keras' validation_split.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    val_split: f64,
    /// Use only the first N training images (quick experiments).
    #[arg(long, value_name = "N")]
    train_images: Option<usize>,
    /// Seed for initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Parent directory of run directories.
    #[arg(long, default_value = "logs")]
    logdir: PathBuf,
    /// Run name (default: the model name); the run goes to <logdir>/<name>-<i>.
    #[arg(long)]
    name: Option<String>,
    /// Also log TensorBoard's batch_loss every N steps (Keras' update_freq).
    #[arg(long, value_name = "N")]
    update_freq: Option<usize>,
    /// Skip the weight histograms (on by default for models under a million parameters).
    #[arg(long)]
    no_histograms: bool,
    /// Dropout rate inserted where the tutorial puts it (before dense layers fed by the input
    /// or by another dense layer).
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    dropout: Option<f32>,
    /// Learning-rate schedule: constant, cosine (to zero over the run), exp:<factor> (per
    /// epoch, e.g. exp:0.95) or onecycle[:<warm-up fraction>] (PyTorch's OneCycleLR).
    #[arg(long, default_value = "constant")]
    schedule: String,
    /// Label smoothing ε: training targets become (1 − ε)·one-hot + ε/classes (the validation
    /// and test losses stay plain cross-entropy).
    #[arg(
        long,
        value_name = "EPSILON",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    #[serde(default)]
    label_smoothing: f32,
    /// Continue the run in RUN_DIR where it stopped (its other flags come from its args.json).
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Write the run into exactly this directory (created if missing) instead of
    /// <logdir>/<name>-<i>; it must not hold a run yet.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    #[serde(default)]
    run_dir: Option<PathBuf>,
    /// Random affine augmentation of training images (ranges below).
    #[arg(long)]
    augment: bool,
    #[command(flatten)]
    ranges: AugmentArgs,
}

impl TrainArgs {
    /// The library's settings for these flags.
    fn settings(&self) -> Result<RunSettings> {
        let spec = super::model_spec(&self.model, self.arch.as_deref())?;
        let mut model = ModelConfig {
            bn_momentum: self.bn_momentum,
            ..ModelConfig::new(&spec, self.dataset, self.normalize.parse()?)
        };
        if let Some(rate) = self.dropout {
            model = model.with_dropout(rate)?;
        }
        let optimizer = match self.optimizer {
            OptimizerKind::Adam => OptimizerConfig::adam(self.lr),
            OptimizerKind::Sgd => OptimizerConfig::Sgd {
                lr: self.lr,
                momentum: self.momentum,
            },
        };
        let train = TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer,
            l2: self.l2,
            seed: self.seed,
            schedule: self.schedule.parse()?,
            label_smoothing: self.label_smoothing,
            augment: (self.augment || self.ranges.flip || self.ranges.erase != 0.0)
                .then(|| self.ranges.augment(self.augment)),
        };
        Ok(RunSettings {
            model,
            train,
            train_images: self.train_images,
            val_split: self.val_split,
            update_freq: self.update_freq,
            histograms: !self.no_histograms,
        })
    }

    /// Where the run goes: `resume_dir`, `--run-dir`, or `<logdir>/<name>-<i>`.
    fn location(&self, resume_dir: Option<&Path>, model: &ModelConfig) -> Location {
        match (resume_dir, &self.run_dir) {
            (Some(dir), _) => Location::Resume(dir.to_path_buf()),
            (None, Some(dir)) => Location::Exactly(dir.clone()),
            (None, None) => Location::Numbered {
                logdir: self.logdir.clone(),
                name: self.name.clone().unwrap_or_else(|| model.name.clone()),
            },
        }
    }
}

/// Checks every flag as `train` would, without reading or writing anything; returns the
/// settings they make.
pub(super) fn validate(args: &TrainArgs) -> Result<RunSettings> {
    let settings = args.settings().map_err(super::with_flag_named)?;
    if let Some(name) = &args.name {
        check_run_name(name).map_err(super::name_the_flag)?;
    }
    settings.validate().map_err(super::name_the_flag)?;
    Ok(settings)
}

/// The command line as typed (program by its file name), each argument shell-quoted when needed.
fn command_line() -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(name) = args.first().and_then(|p| Path::new(p).file_name()) {
        args[0] = name.to_string_lossy().into_owned();
    }
    args.into_iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every argument with its value, defaults included, for `summary.txt`.
fn argument_table(args: &TrainArgs) -> Vec<(String, String)> {
    let value = serde_json::to_value(args).unwrap_or_default();
    let mut rows = Vec::new();
    let mut push = |obj: &serde_json::Map<String, serde_json::Value>| {
        for (k, v) in obj {
            if !v.is_object() {
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                rows.push((format!("--{}", k.replace('_', "-")), v));
            }
        }
    };
    if let Some(obj) = value.as_object() {
        push(obj);
        obj.values()
            .filter_map(|v| v.as_object())
            .for_each(&mut push);
    }
    rows
}

/// Set by Ctrl-C: training stops after the current step and saves its resume state.
static STOP: AtomicBool = AtomicBool::new(false);

pub(super) fn run(args: TrainArgs) -> Result<()> {
    match &args.resume {
        Some(dir) => {
            let saved: TrainArgs = RunDir::open_to_resume(dir)?.read_args()?;
            execute(saved, Some(dir))
        }
        None => execute(args, None),
    }
}

fn execute(args: TrainArgs, resume_dir: Option<&Path>) -> Result<()> {
    let settings = validate(&args)?;
    let data = args.data.load(args.dataset)?;
    let location = args.location(resume_dir, &settings.model);
    let record = Record {
        args: &args,
        command: command_line(),
        arguments: argument_table(&args),
    };
    let batch_size = settings.train.batch_size;
    let (dataset, data_dir) = (data.info.dataset, data.dir.clone());
    let run = TrainingRun::prepare(settings, data, &location, &record)?;
    let (train, val) = run.split();
    if batch_size > train.len() {
        // As Keras does, each step then takes the whole training set; say so, since it is rarely
        // what was meant (one step per epoch).
        eprintln!(
            "warning: --batch-size {batch_size} is larger than the {} training images: each step uses all of them (one step per epoch)",
            train.len()
        );
    }
    println!("{}", summary(run.model()));
    println!(
        "Training on {} images, validating on {} ({} from {}); run directory {}",
        train.len(),
        val.len(),
        dataset,
        data_dir.display(),
        run.dir().path().display()
    );
    if let Some((epochs, step)) = run.resumed_after() {
        println!("Resuming after epoch {epochs}, step {step}");
    }
    // A second Ctrl-C ends the process at once.
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let dir = run.dir().path().to_path_buf();
    let results = match run.fit(&STOP) {
        Err(e @ mnistlab::Error::Interrupted { .. }) => {
            println!(
                "Interrupted. Continue with: mnistlab train --resume {}",
                dir.display()
            );
            return Err(e.into());
        }
        other => other?,
    };
    println!("Test loss: {:.4}", results.test_loss);
    println!("Test accuracy: {:.4}", results.test_accuracy);
    println!("Run saved in {}", dir.display());
    Ok(())
}
