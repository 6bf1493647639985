//! One training run end to end, as `mnistlab train` runs it: the training images cut and split,
//! the model with its input normalization, the run directory (new or resumed) with its
//! arguments and summary, the callbacks (progress bar, history, best model, TensorBoard), `fit`,
//! and the best model's test numbers in `results.json`.

use crate::data::{check_validation_split, DatasetInfo, Images, LoadedDataset};
use crate::error::{Error, Result, Setting};
use crate::eval::{check_input, evaluate, EVAL_BATCH};
use crate::model::{load, ModelConfig, Sequential};
use crate::runs::run_dir::{Results, RunDir, RunLock};
use crate::tensorboard::{write_run_summary, TensorBoard, HISTOGRAM_MAX_PARAMS};
use crate::train::progress::Progress;
use crate::train::state::TrainState;
use crate::train::{
    adapt_normalization, fit_with, BestCheckpoint, Callback, Control, Optimizer, TrainConfig,
};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// What a run trains and how.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    /// The model (its seed is `train.seed`).
    pub model: ModelConfig,
    /// Epochs, batch, optimiser, schedule, augmentation, seed.
    pub train: TrainConfig,
    /// Use only the first this many training images.
    pub train_images: Option<usize>,
    /// Fraction of the training images held out for validation (the last ones).
    pub val_split: f64,
    /// Also log the batch loss to TensorBoard every this many steps.
    pub update_freq: Option<usize>,
    /// Write weight histograms (models over [`HISTOGRAM_MAX_PARAMS`] never do).
    pub histograms: bool,
}

impl RunSettings {
    /// Refuses settings that cannot train, naming the setting; reads and writes nothing.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.train.validate()?;
        check_validation_split(self.val_split)?;
        if self.train_images == Some(0) {
            return Err(Error::config(Setting::TrainImages, "must be at least 1"));
        }
        if self.update_freq == Some(0) {
            return Err(Error::config(Setting::UpdateFreq, "must be at least 1"));
        }
        Ok(())
    }
}

/// Where a run goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A new `<logdir>/<name>-<i>`.
    Numbered {
        /// Parent directory.
        logdir: PathBuf,
        /// Run name.
        name: String,
    },
    /// Exactly this directory (created if missing), which must not hold a run yet.
    Exactly(PathBuf),
    /// Continue the run in this directory.
    Resume(PathBuf),
}

/// How the run was asked for, kept in its directory: the arguments (read back to resume it),
/// and for `summary.txt` the command line and each argument with its value.
pub struct Record<'a, A: Serialize> {
    /// Saved as `args.json`.
    pub args: &'a A,
    /// The command as typed.
    pub command: String,
    /// Each argument and its value, defaults included.
    pub arguments: Vec<(String, String)>,
}

/// A run ready to train: data split, model built, directory written.
pub struct TrainingRun {
    settings: RunSettings,
    dataset: &'static DatasetInfo,
    train: Images,
    val: Images,
    test: Images,
    model: Sequential,
    dir: RunDir,
    _lock: RunLock,
    resume: Option<TrainState>,
}

impl TrainingRun {
    /// Checks `settings`, splits `data`'s training images (in place: a dataset is held once),
    /// builds the model and sets up the run directory: a new one gets `record`; a resumed one
    /// gets back the model and state it saved.
    pub fn prepare<A: Serialize>(
        settings: RunSettings,
        data: LoadedDataset,
        location: &Location,
        record: &Record<'_, A>,
    ) -> Result<Self> {
        settings.validate()?;
        let LoadedDataset {
            info: dataset,
            train: mut full,
            test,
            ..
        } = data;
        if let Some(n) = settings.train_images {
            full.truncate(n);
        }
        let (train, val) = full.split_validation(settings.val_split)?;
        let mut model = Sequential::new(settings.model.clone(), settings.train.seed)?;
        check_input(&model, &train)?;
        adapt_normalization(&mut model, &train);
        let dir = match location {
            Location::Numbered { logdir, name } => RunDir::create_numbered(logdir, name)?,
            Location::Exactly(dir) => RunDir::create_at(dir)?,
            Location::Resume(dir) => RunDir::open_to_resume(dir)?,
        };
        // Held until the run ends: a second process resuming it is refused.
        let lock = dir.lock()?;
        if !matches!(location, Location::Resume(_)) {
            dir.write_args(record.args)?;
        }
        if let Some(text) = dir.write_summary(&record.command, &record.arguments)? {
            write_run_summary(dir.path(), &text)?;
        }
        let resume = match location {
            Location::Resume(_) => {
                let optimizer = Optimizer::new(settings.train.optimizer, model.params.values.len());
                dir.load_state(&mut model, optimizer)?
            }
            _ => None,
        };
        Ok(TrainingRun {
            settings,
            dataset,
            train,
            val,
            test,
            model,
            dir,
            _lock: lock,
            resume,
        })
    }

    /// The run directory.
    pub fn dir(&self) -> &RunDir {
        &self.dir
    }

    /// The model as it will start training.
    pub fn model(&self) -> &Sequential {
        &self.model
    }

    /// The training and validation sets.
    pub fn split(&self) -> (&Images, &Images) {
        (&self.train, &self.val)
    }

    /// Where a resumed run continues: epochs finished and steps of the next one done.
    pub fn resumed_after(&self) -> Option<(usize, usize)> {
        self.resume.as_ref().map(|s| (s.epoch - 1, s.step))
    }

    /// Trains until the last epoch (or until `stop` is set, which saves the state and returns
    /// [`Error::Interrupted`]), then tests the best model and writes `results.json`.
    pub fn fit(self, stop: &AtomicBool) -> Result<Results> {
        let TrainingRun {
            settings,
            dataset,
            train,
            val,
            test,
            mut model,
            dir,
            _lock,
            resume,
        } = self;
        let (done, step) = resume.as_ref().map_or((0, 0), |s| (s.epoch - 1, s.step));
        let best_loss = resume.as_ref().map_or(f64::INFINITY, |s| s.best_loss);
        let mut progress = Progress::new();
        let mut history = dir.history_writer(done);
        let mut checkpoint = BestCheckpoint::resume(dir.best_model(), best_loss);
        let histograms = settings.histograms && model.params.values.len() < HISTOGRAM_MAX_PARAMS;
        let mut tensorboard = TensorBoard::new(dir.path(), &val, settings.update_freq, histograms)?;
        let batch = settings.train.batch_size.min(train.len());
        tensorboard.set_global_step(done * train.len().div_ceil(batch) + step);
        let mut callbacks: [&mut dyn Callback; 4] = [
            &mut progress,
            &mut history,
            &mut checkpoint,
            &mut tensorboard,
        ];
        let mut save_state = |st: &TrainState, m: &Sequential| dir.save_state(st, m);
        let control = Control {
            resume,
            save_state: Some(&mut save_state),
            stop: Some(stop),
        };
        let start = Instant::now();
        fit_with(
            &mut model,
            &train,
            Some(&val),
            &settings.train,
            &mut callbacks,
            control,
        )?;
        let seconds = start.elapsed().as_secs_f64();
        let (name, arch) = (model.config().name.clone(), model.config().arch.clone());
        // The training buffers go before the best model's are made.
        drop((model, train, val));
        let run = crate::runs::read_run(dir.path())?;
        let mut best = load(&dir.best_model())?;
        let test = evaluate(&mut best, &test, EVAL_BATCH)?;
        let results = Results {
            model: name,
            arch,
            dataset: dataset.dataset,
            epochs: run.history.len(),
            best_val_loss: run.best_val_loss(),
            best_val_accuracy: run.best_val_accuracy(),
            test_loss: test.loss,
            test_accuracy: test.accuracy,
            seconds: run.seconds().max(seconds),
        };
        dir.write_results(&results)?;
        Ok(results)
    }
}
