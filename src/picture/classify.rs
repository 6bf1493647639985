//! Pictures in, classes out: the one path `predict` and `serve` share — decode, preprocess for
//! the models' dataset, run one model or the average of several; or a number's digits, each
//! read in turn ([`Classifier::read_number`]).

use crate::data::Images;
use crate::error::{Error, Result, Setting};
use crate::eval::{ensemble_proba, loss::argmax, EVAL_BATCH};
use crate::model::Sequential;
use crate::picture::ink::PixelBox;
use crate::picture::number::digits;
use crate::picture::preprocess::{prepare, Fit, Polarity, Preprocess};
use image::DynamicImage;
use std::path::Path;

/// One picture's answer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// The most probable class.
    pub class: usize,
    /// Its name (`"3"`, `"Sneaker"`).
    pub name: String,
    /// Its probability.
    pub probability: f64,
    /// Every class's probability, by class.
    pub probabilities: Vec<f64>,
}

impl Prediction {
    /// The `k` most probable classes with their probabilities, most probable first.
    pub fn top(&self, k: usize) -> Vec<(usize, f64)> {
        let mut ranked: Vec<(usize, f64)> =
            self.probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(k);
        ranked
    }
}

/// One digit of a number, as read.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DigitReading {
    /// Where the digit is, in the picture's pixels.
    #[serde(rename = "box")]
    pub bounds: PixelBox,
    /// What the models read.
    #[serde(flatten)]
    pub prediction: Prediction,
    /// What the models saw (`h × w` gray levels).
    #[serde(skip)]
    pub input: Vec<u8>,
}

/// A number read from a picture, digit by digit.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NumberReading {
    /// The digits' classes left to right (`"2026"`).
    pub number: String,
    /// The product of the digits' probabilities: how sure the whole number is.
    pub probability: f64,
    /// Each digit, left to right.
    pub digits: Vec<DigitReading>,
}

/// One model, or several averaged, with the preprocessing of their dataset.
pub struct Classifier {
    models: Vec<Sequential>,
    recipe: Preprocess,
    classes: Vec<String>,
}

impl Classifier {
    /// Models trained on the same dataset with the same input shape; `polarity` and `raw`
    /// override the dataset's recipe.
    pub fn new(models: Vec<Sequential>, polarity: Polarity, raw: bool) -> Result<Self> {
        let first = models
            .first()
            .ok_or_else(|| Error::config(Setting::Models, "at least one is needed"))?
            .config()
            .clone();
        if let Some(other) = models.iter().find(|m| {
            let c = m.config();
            (c.dataset, c.input, c.classes) != (first.dataset, first.input, first.classes)
        }) {
            return Err(Error::config(
                Setting::Models,
                format!(
                    "cannot be averaged: one is for {} images of {:?}, another for {} of {:?}",
                    first.dataset,
                    first.input,
                    other.config().dataset,
                    other.config().input
                ),
            ));
        }
        let recipe = match raw {
            // Only a resize: inverted when asked, never by guess.
            true => Preprocess {
                polarity: match polarity {
                    Polarity::Auto => Polarity::Keep,
                    other => other,
                },
                fit: Fit::Raw,
            },
            false => Preprocess {
                polarity,
                ..Preprocess::for_dataset(first.dataset)
            },
        };
        let classes = first.dataset.info().classes.map(str::to_string).to_vec();
        Ok(Classifier {
            models,
            recipe,
            classes,
        })
    }

    /// The models.
    pub fn models(&self) -> &[Sequential] {
        &self.models
    }

    /// Class names, by class.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The models' input side lengths `(h, w)`.
    pub fn input_size(&self) -> (usize, usize) {
        let s = self.models[0].config().input;
        (s.h, s.w)
    }

    /// The picture as the models see it (`h × w` gray levels); `source` names it in errors.
    pub fn prepare(&self, source: &Path, image: &DynamicImage) -> Result<Vec<u8>> {
        prepare(source, image, self.recipe, self.input_size())
    }

    /// The number written in `image`: its digits found and cut apart by
    /// [`crate::picture::number::digits`], each read by the models; `source` names it in errors.
    pub fn read_number(&mut self, source: &Path, image: &DynamicImage) -> Result<NumberReading> {
        if self.recipe.fit != Fit::Digit {
            return Err(Error::config(
                Setting::NumberReading,
                "only digit models with MNIST's preprocessing read numbers (not a raw resize, not Fashion-MNIST)",
            ));
        }
        let found = digits(source, image, self.recipe.polarity, self.input_size())?;
        let inputs: Vec<Vec<u8>> = found.iter().map(|d| d.input.clone()).collect();
        let predictions = self.classify(&inputs)?;
        let digits: Vec<DigitReading> = found
            .into_iter()
            .zip(predictions)
            .map(|(d, prediction)| DigitReading {
                bounds: d.bounds,
                prediction,
                input: d.input,
            })
            .collect();
        Ok(NumberReading {
            number: digits.iter().map(|d| d.prediction.name.as_str()).collect(),
            probability: digits.iter().map(|d| d.prediction.probability).product(),
            digits,
        })
    }

    /// Predictions for prepared inputs (each `h × w`).
    pub fn classify(&mut self, inputs: &[Vec<u8>]) -> Result<Vec<Prediction>> {
        let shape = self.models[0].config().input;
        let images = Images {
            pixels: inputs.concat(),
            labels: vec![0; inputs.len()],
            shape,
        };
        let (_, mean) = ensemble_proba(&mut self.models, &images, EVAL_BATCH)?;
        let k = self.classes.len();
        Ok(mean
            .chunks_exact(k)
            .map(|row| {
                let class = argmax(row);
                Prediction {
                    class,
                    name: self.classes[class].clone(),
                    probability: row[class],
                    probabilities: row.to_vec(),
                }
            })
            .collect())
    }
}
