//! Evaluation and prediction: a model run in inference mode over a set of images, alone or as
//! an ensemble averaging the probabilities of several.

pub mod loss;

use crate::data::{one_hot_into, Dataset, Images};
use crate::error::{Error, Result, Setting};
use crate::model::Sequential;
use crate::shape::Mode;
use loss::{softmax_cross_entropy, softmax_into, BatchScore};

/// Images per forward pass when evaluating or predicting: the default training batch, so that
/// testing a model never needs more memory than training it did (larger batches test only a
/// little faster and hold more).
pub const EVAL_BATCH: usize = 128;

/// Loss and accuracy over a set of images.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Number of images.
    pub n: usize,
}

/// Refuses images whose shape is not the model's input shape.
pub fn check_input(model: &Sequential, data: &Images) -> Result<()> {
    let want = model.config().input;
    if data.shape != want {
        return Err(Error::config(
            Setting::Data,
            format!(
                "images are {}×{}×{} but the model expects {}×{}×{}",
                data.shape.h, data.shape.w, data.shape.c, want.h, want.w, want.c
            ),
        ));
    }
    Ok(())
}

/// Runs `model` in inference mode over `data` in batches, handing each batch's logits to `visit`
/// with the index of its first image.
fn for_each_batch(
    model: &mut Sequential,
    data: &Images,
    batch: usize,
    mut visit: impl FnMut(usize, &[f32]),
) {
    let batch = batch.max(1);
    model.reserve(batch.min(data.len()));
    let len = data.shape.len();
    for start in (0..data.len()).step_by(batch) {
        let n = batch.min(data.len() - start);
        for (d, &p) in model
            .input_mut(n)
            .iter_mut()
            .zip(&data.pixels[start * len..(start + n) * len])
        {
            *d = p as f32;
        }
        visit(start, model.forward(n, Mode::Eval));
    }
}

/// Mean loss and accuracy of `model` on `data`.
pub fn evaluate(model: &mut Sequential, data: &Images, batch: usize) -> Result<Evaluation> {
    check_input(model, data)?;
    let classes = model.config().classes;
    let mut targets = vec![0.0; batch.max(1) * classes];
    let mut total = BatchScore::default();
    for_each_batch(model, data, batch, |start, logits| {
        let n = logits.len() / classes;
        one_hot_into(
            data.labels[start..start + n].iter().copied(),
            &mut targets,
            classes,
        );
        let score = softmax_cross_entropy(logits, &targets[..n * classes], classes, None);
        total.loss_sum += score.loss_sum;
        total.correct += score.correct;
    });
    let n = data.len().max(1) as f64;
    Ok(Evaluation {
        loss: total.loss_sum / n,
        accuracy: total.correct as f64 / n,
        n: data.len(),
    })
}

/// Class probabilities of every image of `data`, `(len, classes)`.
pub fn predict_proba(model: &mut Sequential, data: &Images, batch: usize) -> Result<Vec<f64>> {
    check_input(model, data)?;
    let classes = model.config().classes;
    let mut probs = vec![0.0f64; data.len() * classes];
    for_each_batch(model, data, batch, |start, logits| {
        softmax_into(
            logits,
            &mut probs[start * classes..start * classes + logits.len()],
            classes,
        );
    });
    Ok(probs)
}

/// Loss and accuracy of given probabilities against labels (for ensembles of averaged predictions).
pub fn score_probabilities(probs: &[f64], labels: &[u8], classes: usize) -> Evaluation {
    let mut loss = 0.0;
    let mut correct = 0;
    for (row, &label) in probs.chunks_exact(classes).zip(labels) {
        loss -= row[label as usize].max(f64::MIN_POSITIVE).ln();
        correct += usize::from(loss::argmax(row) == label as usize);
    }
    let n = labels.len().max(1) as f64;
    Evaluation {
        loss: loss / n,
        accuracy: correct as f64 / n,
        n: labels.len(),
    }
}

/// Each model's evaluation on `data` and the evaluation of their averaged probabilities.
/// Models of different architectures mix freely; models made for another dataset are refused.
pub fn ensemble(
    models: &mut [Sequential],
    data: &Images,
    dataset: Dataset,
    batch: usize,
) -> Result<(Vec<Evaluation>, Evaluation)> {
    if models.is_empty() {
        return Err(Error::config(Setting::Ensemble, "needs at least one model"));
    }
    if let Some(other) = models.iter().find(|m| m.config().dataset != dataset) {
        return Err(Error::config(
            Setting::Ensemble,
            format!(
                "a model was trained on {} but the ensemble is evaluated on {dataset}",
                other.config().dataset
            ),
        ));
    }
    let classes = models[0].config().classes;
    let (probs, mean) = ensemble_proba(models, data, batch)?;
    let each = probs
        .iter()
        .map(|p| score_probabilities(p, &data.labels, classes))
        .collect();
    Ok((each, score_probabilities(&mean, &data.labels, classes)))
}

/// Each model's probabilities for `data`, and their mean (the ensemble's prediction).
pub fn ensemble_proba<'a>(
    models: impl IntoIterator<Item = &'a mut Sequential>,
    data: &Images,
    batch: usize,
) -> Result<(Vec<Vec<f64>>, Vec<f64>)> {
    let each = models
        .into_iter()
        .map(|model| predict_proba(model, data, batch))
        .collect::<Result<Vec<_>>>()?;
    let mut mean = vec![0.0f64; each.first().map_or(0, Vec::len)];
    for probs in &each {
        mean.iter_mut().zip(probs).for_each(|(m, p)| *m += p);
    }
    let k = each.len().max(1) as f64;
    mean.iter_mut().for_each(|m| *m /= k);
    Ok((each, mean))
}
