//! The command-line interface: clap definitions, conversion of flags into library configs, and
//! one function per subcommand. Only this module knows about clap and `anyhow`.

mod bench;
mod export;
mod predict;
mod serve;
mod sweep;
mod train;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use mnistlab::data::augment::Augment;
use mnistlab::data::{DataSources, Dataset};
use mnistlab::model::{load, summary, ModelConfig, Normalization, Sequential};
use mnistlab::train::evaluate;
use mnistlab::Setting;
use std::ffi::OsString;
use std::path::PathBuf;

/// Train and evaluate the models of the Keras MNIST tutorial on a fast CPU engine.
#[derive(Parser, Debug)]
#[command(name = "mnistlab", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model; each run gets its own directory under --logdir.
    Train(Box<train::TrainArgs>),
    /// Evaluate a saved model on a dataset's test set.
    Evaluate(EvaluateArgs),
    /// Print a Keras-like summary of a preset, a notation, or a saved model.
    Summary(SummaryArgs),
    /// Classify pictures (PNG, JPEG, BMP, TIFF) with a saved model, preprocessed as MNIST was.
    Predict(predict::PredictArgs),
    /// Serve a page to draw digits on, and /predict, over HTTP.
    Serve(serve::ServeArgs),
    /// Evaluate several models and the average of their predicted probabilities.
    Ensemble(EnsembleArgs),
    /// Write an image beside 8 randomly augmented versions of it (PNG).
    AugmentPreview(AugmentPreviewArgs),
    /// List the runs of a log directory as a table.
    Runs(RunsArgs),
    /// Draw the learning curves of runs into a PNG.
    Plot(PlotArgs),
    /// Measure training and inference speed, with the time of each layer.
    Bench(bench::BenchArgs),
    /// Export a saved model to ONNX (for ONNX Runtime, OpenCV, Netron).
    Export(export::ExportArgs),
    /// Many training runs from one TOML file: plan, run here K at a time, or as a Slurm job array.
    Sweep(sweep::SweepArgs),
}

#[derive(Args, Debug)]
struct EnsembleArgs {
    /// Model files (.safetensors; architectures may differ), or sweep directories with --best.
    #[arg(required = true)]
    models: Vec<PathBuf>,
    /// Average the K best models of each sweep directory given (lowest validation loss).
    #[arg(long, value_name = "K")]
    best: Option<usize>,
    /// Dataset to test on (default: the one the models were trained on).
    #[arg(long)]
    dataset: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Print one JSON object {"models": [...], "ensemble": {...}}.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct AugmentPreviewArgs {
    /// mnist or fashion-mnist.
    #[arg(long, default_value = "mnist")]
    dataset: String,
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

#[derive(Args, Debug)]
struct RunsArgs {
    /// Directory holding run directories, or a sweep's directory.
    #[arg(default_value = "logs")]
    logdir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct PlotArgs {
    /// Run directories (each with a history.csv), or log directories holding them.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Output PNG.
    #[arg(long, short, default_value = "curves.png")]
    out: PathBuf,
}

/// Where to find datasets.
#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DataArgs {
    /// Folder holding <dataset>/ with the IDX files (else MNISTLAB_DATA, the cache, /usr/share/datasets, download).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl DataArgs {
    fn load(&self, dataset: &str) -> mnistlab::Result<Dataset> {
        Dataset::load(dataset, &DataSources::standard(self.data_dir.clone()))
    }
}

#[derive(Args, Debug)]
struct EvaluateArgs {
    /// Model file (.safetensors).
    model: PathBuf,
    /// Dataset to test on (default: the one the model was trained on).
    #[arg(long)]
    dataset: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Print one JSON object {"loss", "accuracy", "n"}.
    #[arg(long)]
    json: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = mnistlab::train::EVAL_BATCH)]
    batch_size: usize,
}

#[derive(Args, Debug)]
struct SummaryArgs {
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

/// Exit code for an error: 3 when training diverged (like Keras' TerminateOnNaN), 130 when
/// interrupted by Ctrl-C (as shells report SIGINT), else 2.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<sweep::SweepStopped>().is_some() {
        return 130;
    }
    match err.downcast_ref::<mnistlab::Error>() {
        Some(mnistlab::Error::NonFinite { .. }) => 3,
        Some(mnistlab::Error::Interrupted { .. }) => 130,
        _ => 2,
    }
}

/// The flag that sets `setting`, or `None` for one no flag sets. Exhaustive, so that a new
/// setting does not compile until it is given its flag or said to have none.
fn flag(setting: &Setting) -> Option<&'static str> {
    Some(match setting {
        Setting::Epochs => "--epochs",
        Setting::BatchSize => "--batch-size",
        Setting::LearningRate => "--lr",
        Setting::Momentum => "--momentum",
        Setting::Schedule => "--schedule",
        Setting::L2 => "--l2",
        Setting::BnMomentum => "--bn-momentum",
        Setting::Dropout => "--dropout",
        Setting::Normalization => "--normalize",
        Setting::ValidationSplit => "--val-split",
        Setting::TrainImages => "--train-images",
        Setting::UpdateFreq => "--update-freq",
        Setting::RunName => "--name",
        Setting::RunDir => "--run-dir",
        Setting::RunToResume | Setting::ResumeState => "--resume",
        Setting::Rotation => "--rotation",
        Setting::Zoom => "--zoom",
        Setting::Shear => "--shear",
        Setting::Shift => "--shift",
        Setting::Erase => "--erase",
        Setting::LabelSmoothing => "--label-smoothing",
        Setting::Steps => "--steps",
        Setting::InferenceBatches => "--inference-batches",
        Setting::SingleImages => "--single-images",
        Setting::Opset => "--opset",
        Setting::ServerAddress => "--host/--port",
        // An environment variable, not a flag: named as the user set it.
        Setting::InstructionSet => "MNISTLAB_ISA",
        Setting::TimeLimit => "--time",
        Setting::MemPerTask => "--mem",
        Setting::Partition => "--partition",
        Setting::CpusPerTask => "--cpus-per-task",
        Setting::ParallelTasks => "--max-parallel",
        Setting::Dataset => "--dataset",
        // Settings only the library's in-memory interface (the Python package) takes.
        Setting::Images | Setting::Labels | Setting::Monitor | Setting::MinDelta => return None,
        Setting::Data
        | Setting::Architecture(_)
        | Setting::Ensemble
        | Setting::Models
        | Setting::Plot
        | Setting::Sbatch => return None,
    })
}

/// A library error about a setting, reworded to name the flag that sets it.
fn name_the_flag(err: mnistlab::Error) -> anyhow::Error {
    match &err {
        mnistlab::Error::Config { setting, message } => match flag(setting) {
            Some(flag) => anyhow::anyhow!("{flag}: {message}"),
            None => err.into(),
        },
        _ => err.into(),
    }
}

/// [`name_the_flag`] for an error straight from the library (one with context added by the CLI
/// already says where it came from).
fn with_flag_named(err: anyhow::Error) -> anyhow::Error {
    if err.chain().count() > 1 {
        return err;
    }
    match err.downcast::<mnistlab::Error>() {
        Ok(lib) => name_the_flag(lib),
        Err(other) => other,
    }
}

/// The notation to build: `arch` if given, else the preset named `model`.
fn model_spec(model: &str, arch: Option<&str>) -> Result<String> {
    match arch {
        Some(arch) => Ok(arch.to_string()),
        None if mnistlab::model::preset(model).is_some() => Ok(model.to_string()),
        None => anyhow::bail!(
            "--model: unknown preset {model:?} (expected one of {})",
            mnistlab::model::preset_names()
        ),
    }
}

/// Parses `args` (program name first) and runs the subcommand.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<()> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            e.print()?; // --help, --version
            return Ok(());
        }
        Err(e) => {
            // clap's message is "error: …" plus usage; keep its first line, ours adds "error: ".
            let first = e
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            anyhow::bail!("{first} (see --help)");
        }
    };
    if cli.threads == Some(0) {
        anyhow::bail!("--threads: must be at least 1");
    }
    // A misspelt instruction-set switch fails here rather than being ignored by the kernels.
    mnistlab::kernels::isa_setting()?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(cli.threads.unwrap_or(0)) // 0: one per core
        .stack_size(COMMAND_STACK_BYTES)
        .build_global()
        .context("--threads")?;
    // The command runs on a worker of the pool, so the parallel loops it starts are shared with
    // the other workers directly; from this thread each loop would wake a worker and put this
    // thread to sleep until the loop ends, hand-offs that cost more than a linear model's whole
    // inference batch. `serve` stays here: its request threads use the pool, and a worker held
    // by its accept loop would be one worker less for them.
    let result = match cli.command {
        command @ Command::Serve(_) => run_command(command),
        command => rayon::scope(|_| run_command(command)),
    };
    result.map_err(with_flag_named)
}

/// Stack of each pool thread, one of which runs the whole command: the main thread's usual size.
const COMMAND_STACK_BYTES: usize = 8 << 20;

fn run_command(command: Command) -> Result<()> {
    match command {
        Command::Train(args) => train::run(*args),
        Command::Evaluate(args) => run_evaluate(args),
        Command::Summary(args) => run_summary(args),
        Command::Predict(args) => predict::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Ensemble(args) => run_ensemble(args),
        Command::AugmentPreview(args) => run_augment_preview(args),
        Command::Runs(args) => run_runs(args),
        Command::Plot(args) => run_plot(args),
        Command::Bench(args) => bench::run(args),
        Command::Export(args) => export::run(args),
        Command::Sweep(args) => sweep::run(args),
    }
}

fn run_evaluate(args: EvaluateArgs) -> Result<()> {
    let mut model = load(&args.model)?;
    let dataset = args
        .dataset
        .clone()
        .unwrap_or_else(|| model.config().dataset.clone());
    let data = args.data.load(&dataset)?;
    let result = evaluate(&mut model, &data.test, args.batch_size.max(1))?;
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!("Test loss: {:.4}", result.loss);
        println!("Test accuracy: {:.4}", result.accuracy);
    }
    Ok(())
}

fn run_summary(args: SummaryArgs) -> Result<()> {
    let model = match (&args.file, &args.model, &args.arch) {
        (Some(file), _, _) if file.extension().is_some_and(|e| e == "onnx") => {
            print!("{}", mnistlab::onnx::describe(file)?);
            return Ok(());
        }
        (Some(file), _, _) => load(file)?,
        (_, Some(m), _) | (_, _, Some(m)) => {
            let spec = model_spec(m, args.arch.as_deref())?;
            Sequential::new(
                ModelConfig::new(&spec, "mnist", Normalization::Standardize),
                0,
            )?
        }
        _ => anyhow::bail!("summary: give a model file, --model PRESET or --arch NOTATION"),
    };
    println!("{}", summary(&model));
    Ok(())
}

fn run_runs(args: RunsArgs) -> Result<()> {
    if mnistlab::sweep::is_sweep_dir(&args.logdir) {
        return sweep::print_report(&args.logdir, args.json);
    }
    let runs = mnistlab::runs::list_runs(&args.logdir)?;
    if runs.is_empty() {
        anyhow::bail!(
            "{}: no runs here (no folder with a history.csv)",
            args.logdir.display()
        );
    }
    if args.json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "run": r.dir, "model": r.model, "epochs": r.history.len(),
                    "best_val_loss": r.best_val_loss(),
                    "best_val_accuracy": r.best_val_accuracy(),
                    "test_accuracy": r.test_accuracy,
                    "seconds": r.seconds(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", mnistlab::runs::runs_table(&runs));
    }
    Ok(())
}

fn run_plot(args: PlotArgs) -> Result<()> {
    let mut runs = Vec::new();
    for path in &args.runs {
        if mnistlab::train::run_dir::RunDir::at(path).has_history() {
            runs.push(mnistlab::runs::read_run(path)?);
        } else {
            let found = mnistlab::runs::list_runs(path)?;
            if found.is_empty() {
                anyhow::bail!(
                    "{}: not a run directory and holds no runs (no history.csv)",
                    path.display()
                );
            }
            runs.extend(found);
        }
    }
    mnistlab::plot::plot_runs(&runs, &args.out)?;
    println!(
        "Learning curves of {} run{} written to {}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        args.out.display()
    );
    Ok(())
}

fn run_ensemble(mut args: EnsembleArgs) -> Result<()> {
    if let Some(k) = args.best {
        if k == 0 {
            anyhow::bail!("--best: must be at least 1");
        }
        args.models = sweep::best_models(&args.models, k)?;
    }
    let mut models = args
        .models
        .iter()
        .map(|p| load(p))
        .collect::<mnistlab::Result<Vec<_>>>()?;
    let dataset = args
        .dataset
        .clone()
        .unwrap_or_else(|| models[0].config().dataset.clone());
    let data = args.data.load(&dataset)?;
    let (each, mean) = mnistlab::train::ensemble(
        &mut models,
        &data.test,
        &dataset,
        mnistlab::train::EVAL_BATCH,
    )?;
    if args.json {
        let members: Vec<_> = args
            .models
            .iter()
            .zip(&each)
            .map(|(p, e)| serde_json::json!({"model": p, "loss": e.loss, "accuracy": e.accuracy, "n": e.n}))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "models": members, "ensemble": mean })
        );
    } else {
        for (path, e) in args.models.iter().zip(&each) {
            println!(
                "{}: test loss {:.4}, test accuracy {:.4}",
                path.display(),
                e.loss,
                e.accuracy
            );
        }
        println!(
            "ensemble of {}: test loss {:.4}, test accuracy {:.4}",
            each.len(),
            mean.loss,
            mean.accuracy
        );
    }
    Ok(())
}

fn run_augment_preview(args: AugmentPreviewArgs) -> Result<()> {
    let augment = args.ranges.augment(true);
    augment.validate()?;
    let data = args.data.load(&args.dataset)?;
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
    let grid = mnistlab::pictures::gray_grid(&refs, (h, w), 9);
    let big = image::imageops::resize(
        &grid,
        grid.width() * 4,
        grid.height() * 4,
        image::imageops::FilterType::Nearest,
    );
    mnistlab::fsutil::write_atomic(&args.out, &mnistlab::pictures::png(&big))?;
    let label = data.info.classes[data.train.labels[args.index] as usize];
    println!(
        "Image {} ({label}) and 8 augmented versions written to {}",
        args.index,
        args.out.display()
    );
    Ok(())
}
