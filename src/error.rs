//! The library's one error type. Every failure a user can cause (a file, a flag, a notation) is an
//! [`Error`] whose message names the thing at fault in one line; bugs in our own code are asserts.

use std::path::{Path, PathBuf};

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A failure caused by user input or the environment, never by a bug.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level.
    #[error("{path}: {err}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        err: std::io::Error,
    },
    /// A file was read but its contents are wrong (bad magic, truncated, corrupt model, ...).
    #[error("{path}: {message}")]
    Format {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A flag, hyper-parameter or architecture that cannot be used.
    #[error("{setting}: {message}")]
    Config {
        /// The setting refused; front ends map it to the flag or field that sets it.
        setting: Setting,
        /// Why it is refused.
        message: String,
    },
    /// A dataset could not be found or fetched anywhere.
    #[error("{0}")]
    Dataset(String),
    /// A sweep file describes more runs than the caller accepts.
    #[error("{path}: {count} points, more than the limit of {limit}")]
    TooManyPoints {
        /// The sweep file.
        path: PathBuf,
        /// How many it describes (`too many` past what a count can hold).
        count: String,
        /// The limit in force.
        limit: usize,
    },
    /// Training was stopped on request (Ctrl-C) after saving its resume state.
    #[error("interrupted at epoch {epoch}, step {step}; the resume state is saved")]
    Interrupted {
        /// 1-based epoch.
        epoch: usize,
        /// Steps of that epoch done.
        step: usize,
    },
    /// Training produced a non-finite loss (like Keras' TerminateOnNaN).
    #[error(
        "loss became NaN or infinite at epoch {epoch}, step {step}; try a smaller learning rate"
    )]
    NonFinite {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            err,
        }
    }

    /// A content error in the file at `path`.
    pub fn format(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// A refused setting.
    pub fn config(setting: Setting, message: impl Into<String>) -> Self {
        Error::Config {
            setting,
            message: message.into(),
        }
    }
}

/// A setting the library can refuse, named in [`Error::Config`]. Its display is the setting's
/// name in words; a front end that sets it through a flag of its own maps each variant to that
/// flag (the library knows no flag names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Passes over the training set.
    Epochs,
    /// Images per step.
    BatchSize,
    /// The optimiser's learning rate.
    LearningRate,
    /// SGD momentum.
    Momentum,
    /// The learning-rate schedule.
    Schedule,
    /// The L2 factor on kernels.
    L2,
    /// Batch norm's running-average momentum.
    BnMomentum,
    /// The dropout rate inserted where the tutorial puts it.
    Dropout,
    /// The input normalization.
    Normalization,
    /// The fraction of the training set held out.
    ValidationSplit,
    /// How many training images to use.
    TrainImages,
    /// How often batch losses are logged.
    UpdateFreq,
    /// A run's name.
    RunName,
    /// The directory a run is written into.
    RunDir,
    /// The run directory to continue.
    RunToResume,
    /// The saved state a run continues from.
    ResumeState,
    /// The augmentation's rotation range.
    Rotation,
    /// The augmentation's zoom range.
    Zoom,
    /// The augmentation's shear range.
    Shear,
    /// The augmentation's shift range.
    Shift,
    /// The probability of random erasing.
    Erase,
    /// Label smoothing.
    LabelSmoothing,
    /// The training steps a benchmark times.
    Steps,
    /// The inference batches a benchmark times.
    InferenceBatches,
    /// The images a benchmark predicts one at a time.
    SingleImages,
    /// The ONNX opset.
    Opset,
    /// The address a server listens on.
    ServerAddress,
    /// The widest instruction set the kernels may use (`MNISTLAB_ISA`).
    InstructionSet,
    /// A Slurm job's time limit.
    TimeLimit,
    /// A Slurm task's memory.
    MemPerTask,
    /// A Slurm partition.
    Partition,
    /// CPUs per Slurm task.
    CpusPerTask,
    /// Slurm tasks running at once.
    ParallelTasks,
    /// Which dataset (`mnist`, `fashion-mnist`).
    Dataset,
    /// The images given, against what a model expects.
    Data,
    /// Reading a whole number rather than one picture's class.
    NumberReading,
    /// The shape of one input image.
    InputShape,
    /// The number of classes a model scores.
    Classes,
    /// Images handed over in memory.
    Images,
    /// Labels handed over in memory, one per image.
    Labels,
    /// The metric a callback watches.
    Monitor,
    /// The smallest change a callback counts as an improvement.
    MinDelta,
    /// A model's architecture, in the notation.
    Architecture(String),
    /// The models of an ensemble.
    Ensemble,
    /// The models a classifier averages.
    Models,
    /// The drawing of a plot.
    Plot,
    /// Submitting to Slurm with `sbatch`.
    Sbatch,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Setting::Epochs => "epochs",
            Setting::BatchSize => "batch size",
            Setting::LearningRate => "learning rate",
            Setting::Momentum => "momentum",
            Setting::Schedule => "schedule",
            Setting::L2 => "L2 factor",
            Setting::BnMomentum => "BatchNorm momentum",
            Setting::Dropout => "dropout rate",
            Setting::Normalization => "normalization",
            Setting::ValidationSplit => "validation split",
            Setting::TrainImages => "training images",
            Setting::UpdateFreq => "update frequency",
            Setting::RunName => "run name",
            Setting::RunDir => "run directory",
            Setting::RunToResume => "run to resume",
            Setting::ResumeState => "resume state",
            Setting::Rotation => "rotation range",
            Setting::Zoom => "zoom range",
            Setting::Shear => "shear range",
            Setting::Shift => "shift range",
            Setting::Erase => "erasing probability",
            Setting::LabelSmoothing => "label smoothing",
            Setting::Steps => "steps",
            Setting::InferenceBatches => "inference batches",
            Setting::SingleImages => "single images",
            Setting::Opset => "opset",
            Setting::ServerAddress => "server address",
            Setting::InstructionSet => "MNISTLAB_ISA",
            Setting::TimeLimit => "time limit",
            Setting::MemPerTask => "memory per task",
            Setting::Partition => "partition",
            Setting::CpusPerTask => "CPUs per task",
            Setting::ParallelTasks => "parallel tasks",
            Setting::Dataset | Setting::Data => "dataset",
            Setting::NumberReading => "number",
            Setting::InputShape => "input shape",
            Setting::Classes => "classes",
            Setting::Images => "images",
            Setting::Labels => "labels",
            Setting::Monitor => "monitored metric",
            Setting::MinDelta => "minimum improvement",
            Setting::Architecture(notation) => return write!(f, "architecture {notation:?}"),
            Setting::Ensemble => "ensemble",
            Setting::Models => "models",
            Setting::Plot => "plot",
            Setting::Sbatch => "sbatch",
        };
        f.write_str(name)
    }
}
