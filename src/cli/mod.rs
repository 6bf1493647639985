//! The command-line interface: the clap `Cli`, the dispatch to one file per subcommand, and what
//! they share (data flags, the setting → flag match). Only this module knows about clap and
//! `anyhow`.

mod augment_preview;
mod bench;
mod ensemble;
mod evaluate;
mod export;
mod plot;
mod predict;
mod runs;
mod serve;
mod summary;
mod sweep;
mod train;

use anyhow::{Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use mnistlab::data::{DataSources, Dataset, LoadedDataset};
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
    Evaluate(evaluate::EvaluateArgs),
    /// Print a Keras-like summary of a preset, a notation, or a saved model.
    Summary(summary::SummaryArgs),
    /// Classify pictures (PNG, JPEG, BMP, TIFF) with a saved model, preprocessed as MNIST was.
    Predict(predict::PredictArgs),
    /// Serve a page to draw digits on, and /predict, over HTTP.
    Serve(serve::ServeArgs),
    /// Evaluate several models and the average of their predicted probabilities.
    Ensemble(ensemble::EnsembleArgs),
    /// Write an image beside 8 randomly augmented versions of it (PNG).
    AugmentPreview(augment_preview::AugmentPreviewArgs),
    /// List the runs of a log directory as a table.
    Runs(runs::RunsArgs),
    /// Draw the learning curves of runs into a PNG.
    Plot(plot::PlotArgs),
    /// Measure training and inference speed, with the time of each layer.
    Bench(bench::BenchArgs),
    /// Export a saved model to ONNX (for ONNX Runtime, OpenCV, Netron).
    Export(export::ExportArgs),
    /// Many training runs from one TOML file: plan, run here K at a time, or as a Slurm job array.
    Sweep(sweep::SweepArgs),
}

/// Where to find datasets.
#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DataArgs {
    /// Folder holding <dataset>/ with the IDX files (else MNISTLAB_DATA, the cache, /usr/share/datasets, download).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl DataArgs {
    fn load(&self, dataset: Dataset) -> mnistlab::Result<LoadedDataset> {
        LoadedDataset::load(dataset, &DataSources::standard(self.data_dir.clone()))
    }
}

/// The parser of `--dataset`: the library's names, listed by `--help`, parsed by the library.
fn dataset_flag() -> impl TypedValueParser<Value = Dataset> {
    PossibleValuesParser::new(Dataset::ALL.map(Dataset::name)).try_map(|name| name.parse())
}

/// The test set of `evaluate` and `ensemble`: which dataset, and where to find it.
#[derive(Args, Debug)]
struct TestSetArgs {
    /// Dataset to test on (default: the one the models were trained on).
    #[arg(long, value_parser = dataset_flag())]
    dataset: Option<Dataset>,
    #[command(flatten)]
    data: DataArgs,
}

impl TestSetArgs {
    /// The test set of `--dataset`, else of `trained_on`.
    fn load(&self, trained_on: Dataset) -> mnistlab::Result<LoadedDataset> {
        self.data.load(self.dataset.unwrap_or(trained_on))
    }
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
        Setting::NumberReading => "--number",
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
        | Setting::InputShape
        | Setting::Classes
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
        Command::Evaluate(args) => evaluate::run(args),
        Command::Summary(args) => summary::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Ensemble(args) => ensemble::run(args),
        Command::AugmentPreview(args) => augment_preview::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Export(args) => export::run(args),
        Command::Sweep(args) => sweep::run(args),
    }
}
