//! `mnistlab train`: flags → a validated plan → data → model → fit → run directory.
//! Every flag is checked before any file is read or written, so a bad flag leaves nothing behind.

use super::DataArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use mnistlab::data::augment::Augment;
use mnistlab::data::Images;
use mnistlab::fsutil::write_atomic;
use mnistlab::model::{load, notation, summary, ModelConfig, Normalization, Sequential};
use mnistlab::tensorboard::{EventWriter, TensorBoard};
use mnistlab::train::progress::Progress;
use mnistlab::train::run_dir::{self as files, create_run_dir, summary_markdown, Results};
use mnistlab::train::state::TrainState;
use mnistlab::train::{
    check_input, evaluate, BestCheckpoint, Callback, HistoryCsv, OptimizerConfig, Schedule,
    TrainConfig, EVAL_BATCH,
};
use mnistlab::train::{fit_with, Control, Optimizer};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum OptimizerKind {
    Adam,
    Sgd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ScheduleKind {
    Constant,
    Cosine,
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
}

impl AugmentArgs {
    pub(crate) fn augment(&self) -> Augment {
        Augment {
            rotation: self.rotation,
            zoom: self.zoom,
            shear: self.shear,
            shift: self.shift,
        }
    }
}

#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct TrainArgs {
    /// Preset: linear, mlp, cnn, cnn-bn.
    #[arg(long, default_value = "cnn-bn", conflicts_with = "arch")]
    model: String,
    /// Architecture notation instead of a preset, e.g. 32C3-BN-ReLU-MP2-GAP-D10.
    #[arg(long)]
    arch: Option<String>,
    /// mnist or fashion-mnist.
    #[arg(long, default_value = "mnist")]
    dataset: String,
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
    /// Learning-rate schedule over the whole run.
    #[arg(long, value_enum, default_value_t = ScheduleKind::Constant)]
    schedule: ScheduleKind,
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

/// What `train` will do, fully checked.
struct Plan {
    model: ModelConfig,
    train: TrainConfig,
}

impl TryFrom<&TrainArgs> for Plan {
    type Error = anyhow::Error;

    fn try_from(args: &TrainArgs) -> Result<Self> {
        mnistlab::data::dataset_info(&args.dataset)?;
        let normalization: Normalization = args.normalize.parse()?;
        let spec = super::model_spec(&args.model, args.arch.as_deref())?;
        let mut model = ModelConfig {
            bn_momentum: args.bn_momentum,
            ..ModelConfig::new(&spec, &args.dataset, normalization)
        };
        if let Some(rate) = args.dropout {
            if !(0.0..1.0).contains(&rate) {
                bail!("--dropout: must be in [0, 1), got {rate}");
            }
            model.arch = notation::render(&notation::with_dropout(
                &notation::parse(&model.arch)?,
                rate,
            ));
        }
        Sequential::new(model.clone(), args.seed)?; // refuses unbuildable architectures now
        let optimizer = match args.optimizer {
            OptimizerKind::Adam => OptimizerConfig::adam(args.lr),
            OptimizerKind::Sgd => OptimizerConfig::Sgd {
                lr: args.lr,
                momentum: args.momentum,
            },
        };
        let train = TrainConfig {
            epochs: args.epochs,
            batch_size: args.batch_size,
            optimizer,
            l2: args.l2,
            seed: args.seed,
            schedule: match args.schedule {
                ScheduleKind::Constant => Schedule::Constant,
                ScheduleKind::Cosine => Schedule::Cosine,
            },
            augment: args.augment.then(|| args.ranges.augment()),
        };
        train.validate()?;
        if !(args.val_split > 0.0 && args.val_split < 1.0) {
            bail!(
                "--val-split: must be between 0 and 1 (exclusive), got {}",
                args.val_split
            );
        }
        if args.train_images == Some(0) {
            bail!("--train-images: must be at least 1");
        }
        if args
            .name
            .as_deref()
            .is_some_and(|n| n.is_empty() || n.contains(['/', '\\']))
        {
            bail!("--name: must be a non-empty name without slashes");
        }
        Ok(Plan { model, train })
    }
}

/// Checks every flag as `train` would, without reading or writing anything.
pub(super) fn validate(args: &TrainArgs) -> Result<()> {
    Plan::try_from(args).map(|_| ())
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
            let path = dir.join(files::ARGS);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "{}: not a run directory to resume (no args.json)",
                    dir.display()
                )
            })?;
            let saved: TrainArgs = serde_json::from_str(&text)
                .with_context(|| format!("{}: unreadable run arguments", path.display()))?;
            execute(saved, Some(dir))
        }
        None => execute(args, None),
    }
}

/// The best validation loss in the first `epochs` rows of a run's history.
fn best_val_loss(run_dir: &Path, epochs: usize) -> f64 {
    let path = run_dir.join(files::HISTORY);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let rows = mnistlab::runs::parse_history(&path, &text).unwrap_or_default();
    rows.iter()
        .take(epochs)
        .filter_map(|r| r.val_loss)
        .fold(f64::INFINITY, f64::min)
}

fn execute(args: TrainArgs, resume_dir: Option<&Path>) -> Result<()> {
    let plan = Plan::try_from(&args)?;
    let data = args.data.load(&args.dataset)?;
    let full: Images = match args.train_images {
        Some(n) => data.train.slice(0..n.min(data.train.len())),
        None => data.train.clone(),
    };
    let (train, val) = full.split_validation(args.val_split)?;
    let mut model = Sequential::new(plan.model.clone(), args.seed)?;
    check_input(&model, &train)?;
    let (mean, std) = plan
        .model
        .normalization
        .statistics(&train.pixels, train.shape.len());
    model.set_normalization(&mean, &std);

    let run_dir = match resume_dir {
        Some(dir) => {
            mnistlab::fsutil::remove_stale_temporaries(dir)?;
            dir.to_path_buf()
        }
        None => {
            let name = args
                .name
                .clone()
                .unwrap_or_else(|| model.config().name.clone());
            let dir = match &args.run_dir {
                Some(dir) => {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("--run-dir: {}", dir.display()))?;
                    if dir.join(files::ARGS).is_file() {
                        bail!(
                            "--run-dir: {} already holds a run (continue it with --resume)",
                            dir.display()
                        );
                    }
                    dir.clone()
                }
                None => create_run_dir(&args.logdir, &name)?,
            };
            write_atomic(
                &dir.join(files::ARGS),
                serde_json::to_string_pretty(&args)?.as_bytes(),
            )?;
            dir
        }
    };
    if !run_dir.join(files::SUMMARY).is_file() {
        let summary_text = summary_markdown(&command_line(), &argument_table(&args));
        write_atomic(&run_dir.join(files::SUMMARY), summary_text.as_bytes())?;
        let mut summary_events = EventWriter::create(&run_dir.join("summary"))?;
        summary_events.add_text("summary", 0, &summary_text)?;
        summary_events.flush()?;
    }
    let state_path = run_dir.join(files::LAST_STATE);
    let resume = match resume_dir {
        Some(_) if state_path.is_file() => {
            let optimizer = Optimizer::new(plan.train.optimizer, model.params.values.len());
            Some(TrainState::load(&state_path, &mut model, optimizer)?)
        }
        _ => None,
    };
    let (done, step) = resume
        .as_ref()
        .map(|s| (s.epoch - 1, s.step))
        .unwrap_or((0, 0));
    if plan.train.batch_size > train.len() {
        // As Keras does, each step then takes the whole training set; say so, since it is rarely
        // what was meant (one step per epoch).
        eprintln!(
            "warning: --batch-size {} is larger than the {} training images: each step uses all of them (one step per epoch)",
            plan.train.batch_size,
            train.len()
        );
    }
    println!("{}", summary(&model));
    println!(
        "Training on {} images, validating on {} ({} from {}); run directory {}",
        train.len(),
        val.len(),
        data.info.name,
        data.dir.display(),
        run_dir.display()
    );
    if resume_dir.is_some() {
        println!("Resuming after epoch {done}, step {step}");
    }

    let best_path = run_dir.join(files::BEST_MODEL);
    let mut progress = Progress::new();
    let mut history = HistoryCsv::resume(run_dir.join(files::HISTORY), done);
    let mut checkpoint = BestCheckpoint::resume(best_path.clone(), best_val_loss(&run_dir, done));
    let histograms = !args.no_histograms
        && model.params.values.len() < mnistlab::tensorboard::HISTOGRAM_MAX_PARAMS;
    let mut tensorboard = TensorBoard::new(&run_dir, &val, args.update_freq, histograms)?;
    let steps_per_epoch = train.len().div_ceil(plan.train.batch_size.min(train.len()));
    tensorboard.set_global_step(done * steps_per_epoch + step);
    let mut callbacks: [&mut dyn Callback; 4] = [
        &mut progress,
        &mut history,
        &mut checkpoint,
        &mut tensorboard,
    ];
    // A second Ctrl-C ends the process at once.
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let mut save_state = |st: &TrainState, m: &Sequential| st.save(m, &state_path);
    let control = Control {
        resume,
        save_state: Some(&mut save_state),
        stop: Some(&STOP),
    };
    let start = Instant::now();
    match fit_with(
        &mut model,
        &train,
        Some(&val),
        &plan.train,
        &mut callbacks,
        control,
    ) {
        Err(e @ mnistlab::Error::Interrupted { .. }) => {
            println!(
                "Interrupted. Continue with: mnistlab train --resume {}",
                run_dir.display()
            );
            return Err(e.into());
        }
        other => other?,
    };
    let seconds = start.elapsed().as_secs_f64();

    let run = mnistlab::runs::read_run(&run_dir)?;
    let mut best = load(&best_path)?;
    let test = evaluate(&mut best, &data.test, EVAL_BATCH)?;
    println!("Test loss: {:.4}", test.loss);
    println!("Test accuracy: {:.4}", test.accuracy);
    Results {
        model: model.config().name.clone(),
        arch: model.config().arch.clone(),
        dataset: data.info.name.to_string(),
        epochs: run.history.len(),
        best_val_loss: run.best_val_loss(),
        best_val_accuracy: run.best_val_accuracy(),
        test_loss: test.loss,
        test_accuracy: test.accuracy,
        seconds: run.seconds().max(seconds),
    }
    .write(&run_dir)?;
    println!("Run saved in {}", run_dir.display());
    Ok(())
}
