//! Everything needed to continue a run exactly where it stopped: the model's tensors, the
//! optimiser's moments and step, the shuffling/augmentation and dropout generators, the epoch and
//! step, this epoch's order and running sums. Saved as `last_state.safetensors` (atomically) after
//! every epoch and when training is interrupted; resuming from it gives bit-identical weights on
//! the same machine and thread count.

use super::Optimizer;
use crate::error::{Error, Result};
use crate::model::{read_safetensors, write_safetensors, ParamStore, Sequential};
use crate::rng::Rng;
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::path::Path;

/// Where a run stands.
#[derive(Clone, Debug)]
pub struct TrainState {
    /// Epoch in progress, 1-based (`epochs + 1` once the run is complete).
    pub epoch: usize,
    /// Steps of that epoch already done.
    pub step: usize,
    /// This epoch's shuffled order (meaningful once `step > 0`).
    pub order: Vec<u32>,
    /// Shuffling and augmentation generator.
    pub rng: Rng,
    /// Optimiser moments and step count.
    pub optimizer: Optimizer,
    /// Running loss sum of this epoch.
    pub loss_sum: f64,
    /// Running count of correct predictions of this epoch.
    pub correct: usize,
    /// Images of this epoch so far.
    pub seen: usize,
    /// Seconds already spent in this epoch (before an interruption).
    pub seconds: f64,
    /// Lowest monitored loss of the finished epochs ([`super::EpochMetrics::monitored_loss`]):
    /// the model kept as the best has it.
    pub best_loss: f64,
}

/// Format tag of state files.
const FORMAT: &str = "mnistlab-state-1";

impl TrainState {
    /// A fresh start: epoch 1, its order already shuffled.
    pub fn new(optimizer: Optimizer, mut rng: Rng, images: usize) -> Self {
        let mut order: Vec<u32> = (0..images as u32).collect();
        order.shuffle(&mut rng);
        TrainState {
            epoch: 1,
            step: 0,
            order,
            rng,
            optimizer,
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            seconds: 0.0,
            best_loss: f64::INFINITY,
        }
    }

    /// Moves to the start of the next epoch, shuffling its order now: a state saved at any
    /// point then holds the order in use, and resuming never shuffles twice.
    pub fn next_epoch(&mut self) {
        self.epoch += 1;
        self.step = 0;
        self.order.shuffle(&mut self.rng);
        (self.loss_sum, self.correct, self.seen, self.seconds) = (0.0, 0, 0, 0.0);
    }

    /// The start of another fit on `images` images that goes on with this one's optimiser and
    /// generator, as Keras keeps its optimizer between `fit` calls: a first epoch in the order
    /// already drawn for the next one when a new epoch was due on as many images, so that two
    /// fits of one epoch train as one fit of two (with a constant learning rate).
    pub fn continued(self, images: usize) -> Self {
        match self.step == 0 && self.order.len() == images {
            true => TrainState {
                epoch: 1,
                best_loss: f64::INFINITY,
                ..self
            },
            false => TrainState::new(self.optimizer, self.rng, images),
        }
    }

    /// Writes the state and `model`'s tensors to `path` atomically.
    pub fn save(&self, model: &Sequential, path: &Path) -> Result<()> {
        // Indices as f32 are exact below 2^24; datasets here have 60,000 images.
        let order: Vec<f32> = self.order.iter().map(|&i| i as f32).collect();
        let mut tensors: Vec<(String, Vec<usize>, &[f32])> = model
            .params
            .slots()
            .map(|s| {
                (
                    format!("model.{}", s.key),
                    s.shape.clone(),
                    model.params.get(s),
                )
            })
            .collect();
        tensors.push((
            "optimizer.m".into(),
            vec![self.optimizer.m.len()],
            &self.optimizer.m,
        ));
        tensors.push((
            "optimizer.v".into(),
            vec![self.optimizer.v.len()],
            &self.optimizer.v,
        ));
        tensors.push(("order".into(), vec![order.len()], &order));
        let json = |v: &Rng| serde_json::to_string(v).expect("generator state serializes");
        let meta = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("epoch".to_string(), self.epoch.to_string()),
            ("step".to_string(), self.step.to_string()),
            ("rng".to_string(), json(&self.rng)),
            ("dropout_rng".to_string(), json(model.rng())),
            (
                "optimizer_step".to_string(),
                self.optimizer.step.to_string(),
            ),
            ("optimizer_lr".to_string(), self.optimizer.lr().to_string()),
            ("loss_sum".to_string(), format!("{:e}", self.loss_sum)),
            ("correct".to_string(), self.correct.to_string()),
            ("seen".to_string(), self.seen.to_string()),
            ("seconds".to_string(), self.seconds.to_string()),
            ("best_loss".to_string(), format!("{:e}", self.best_loss)),
        ]);
        crate::fsutil::write_atomic(path, &write_safetensors(&tensors, meta))
    }

    /// Reads a state written by [`Self::save`] into `model` (built for the same architecture) and
    /// `optimizer` (fresh, for the same parameters). All or nothing: a state refused for any
    /// reason, its checksum included, leaves `model` as it was.
    pub fn load(path: &Path, model: &mut Sequential, mut optimizer: Optimizer) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (meta, tensors) = read_safetensors(path, &bytes)?;
        let bad = |what: &str| Error::format(path, format!("not a usable resume state: {what}"));
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad("unknown format"));
        }
        let get = |k: &str| meta.get(k).ok_or_else(|| bad(&format!("no {k:?}")));
        let num =
            |k: &str| -> Result<f64> { get(k)?.parse().map_err(|_| bad(&format!("bad {k:?}"))) };
        let rng = |k: &str| -> Result<Rng> {
            serde_json::from_str(get(k)?).map_err(|_| bad(&format!("bad {k:?}")))
        };
        // Read beside the model's own values, which are replaced once everything checked out.
        let mut staged = ParamStore {
            values: model.params.values.clone(),
            state: model.params.state.clone(),
            ..ParamStore::default()
        };
        for slot in model.params.slots() {
            let key = format!("model.{}", slot.key);
            crate::model::read_tensor(path, &tensors, &key, &slot.shape, staged.get_mut(slot))?;
        }
        let (m_len, v_len) = (optimizer.m.len(), optimizer.v.len());
        crate::model::read_tensor(path, &tensors, "optimizer.m", &[m_len], &mut optimizer.m)?;
        crate::model::read_tensor(path, &tensors, "optimizer.v", &[v_len], &mut optimizer.v)?;
        optimizer.step = num("optimizer_step")? as u64;
        optimizer.set_lr(num("optimizer_lr")? as f32);
        let images = tensors
            .tensor("order")
            .map_err(|_| bad("no order"))?
            .shape()
            .first()
            .copied()
            .unwrap_or(0);
        let mut order = vec![0.0f32; images];
        crate::model::read_tensor(path, &tensors, "order", &[images], &mut order)?;
        let dropout_rng = rng("dropout_rng")?;
        let state = TrainState {
            epoch: num("epoch")? as usize,
            step: num("step")? as usize,
            order: order.iter().map(|&i| i as u32).collect(),
            rng: rng("rng")?,
            optimizer,
            loss_sum: num("loss_sum")?,
            correct: num("correct")? as usize,
            seen: num("seen")? as usize,
            seconds: num("seconds")?,
            best_loss: num("best_loss")?,
        };
        crate::model::verify_checksum(path, &bytes, &meta)?;
        model.params.values = staged.values;
        model.params.state = staged.state;
        model.set_rng(dropout_rng);
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::model::{ModelConfig, Normalization};
    use crate::train::testing::images;
    use crate::train::{fit_with, Control, TrainConfig};

    /// The state after each epoch carries the lowest monitored loss so far, and a saved state
    /// gives it back, so a resumed run keeps the best model it had.
    #[test]
    fn the_best_loss_is_kept_across_epochs_and_files() {
        let (train, val) = (images(64), images(32));
        let config = ModelConfig::new("D10", Dataset::Mnist, Normalization::MinMax);
        let mut model = Sequential::new(config.clone(), 1).unwrap();
        let fit_config = TrainConfig {
            epochs: 3,
            batch_size: 16,
            ..TrainConfig::default()
        };
        let mut saved: Vec<TrainState> = Vec::new();
        let mut sink = |st: &TrainState, _: &Sequential| {
            saved.push(st.clone());
            Ok(())
        };
        let control = Control {
            save_state: Some(&mut sink),
            ..Control::default()
        };
        let history = fit_with(
            &mut model,
            &train,
            Some(&val),
            &fit_config,
            &mut [],
            control,
        )
        .unwrap();
        for (epoch, state) in saved.iter().enumerate() {
            let best = history[..=epoch]
                .iter()
                .map(|m| m.monitored_loss().1)
                .fold(f64::INFINITY, f64::min);
            assert_eq!(state.best_loss, best, "after epoch {}", epoch + 1);
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.safetensors");
        let last = saved.last().unwrap();
        last.save(&model, &path).unwrap();
        let mut fresh = Sequential::new(config, 2).unwrap();
        let optimizer = Optimizer::new(fit_config.optimizer, fresh.params.values.len());
        let loaded = TrainState::load(&path, &mut fresh, optimizer).unwrap();
        assert_eq!(loaded.best_loss, last.best_loss);
        assert_eq!(loaded.epoch, 4);
    }

    /// A state refused by its checksum (one bit of its last tensor flipped: the structure still
    /// reads) leaves the model it was to be read into untouched.
    #[test]
    fn a_refused_state_leaves_the_model_as_it_was() {
        let train = images(32);
        let config = ModelConfig::new("D10", Dataset::Mnist, Normalization::MinMax);
        let fit_config = TrainConfig {
            epochs: 1,
            batch_size: 16,
            ..TrainConfig::default()
        };
        let mut trained = Sequential::new(config.clone(), 1).unwrap();
        let mut saved = None;
        let mut keep = |st: &TrainState, _: &Sequential| {
            saved = Some(st.clone());
            Ok(())
        };
        let control = Control {
            save_state: Some(&mut keep),
            ..Control::default()
        };
        fit_with(&mut trained, &train, None, &fit_config, &mut [], control).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.safetensors");
        saved.unwrap().save(&trained, &path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 0x10;
        std::fs::write(&path, bytes).unwrap();

        let mut fresh = Sequential::new(config, 2).unwrap();
        let (values, state, rng) = (
            fresh.params.values.clone(),
            fresh.params.state.clone(),
            fresh.rng().clone(),
        );
        let optimizer = Optimizer::new(fit_config.optimizer, values.len());
        let err = TrainState::load(&path, &mut fresh, optimizer).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        assert_eq!(fresh.params.values, values);
        assert_eq!(fresh.params.state, state);
        assert_eq!(fresh.rng(), &rng);
    }

    /// A fit that continues the state the one before ended with trains as one fit of both
    /// fits' epochs: the optimiser's moments and step and the shuffling order go on.
    #[test]
    fn a_continued_fit_trains_as_one_longer_fit() {
        let train = images(60);
        let config = ModelConfig::new("D10", Dataset::Mnist, Normalization::MinMax);
        let fit_config = |epochs| TrainConfig {
            epochs,
            batch_size: 16,
            ..TrainConfig::default()
        };
        let mut once = Sequential::new(config.clone(), 1).unwrap();
        fit_with(
            &mut once,
            &train,
            None,
            &fit_config(2),
            &mut [],
            Control::default(),
        )
        .unwrap();

        let mut twice = Sequential::new(config, 1).unwrap();
        let mut last = None;
        for _ in 0..2 {
            let resume = last.take().map(|s: TrainState| s.continued(train.len()));
            let mut keep = |st: &TrainState, _: &Sequential| {
                last = Some(st.clone());
                Ok(())
            };
            let control = Control {
                resume,
                save_state: Some(&mut keep),
                stop: None,
            };
            fit_with(&mut twice, &train, None, &fit_config(1), &mut [], control).unwrap();
        }
        assert_eq!(once.params.values, twice.params.values);
    }
}
