//! Input normalization modes and their statistics. The statistics come from the training split and
//! are stored in the model (first layer), so evaluation and prediction see the same scaling.

use crate::error::{Error, Result, Setting};
use std::fmt;
use std::str::FromStr;

/// How raw pixels (0‥255) are scaled before the first layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalization {
    /// Raw pixel values.
    None,
    /// `x / 255 − 0.5`.
    MinMax,
    /// Per pixel `(x − mean) / (std + 1)` over the training split, as in the tutorial's code
    /// (the +1 keeps always-black border pixels finite).
    Standardize,
    /// One mean and one standard deviation over all training pixels.
    StandardizeGlobal,
}

impl Normalization {
    /// Every mode with its name.
    pub const ALL: [(Normalization, &'static str); 4] = [
        (Normalization::None, "none"),
        (Normalization::MinMax, "minmax"),
        (Normalization::Standardize, "standardize"),
        (Normalization::StandardizeGlobal, "standardize-global"),
    ];

    /// Per-value (mean, std) for samples of `len` values from `pixels` (whole samples, one after another).
    pub fn statistics(self, pixels: &[u8], len: usize) -> (Vec<f32>, Vec<f32>) {
        let count = (pixels.len() / len).max(1) as f64;
        match self {
            Normalization::None => (vec![0.0; len], vec![1.0; len]),
            Normalization::MinMax => (vec![127.5; len], vec![255.0; len]),
            Normalization::Standardize => {
                let (mut sum, mut sq) = (vec![0.0f64; len], vec![0.0f64; len]);
                for sample in pixels.chunks_exact(len) {
                    for ((s, q), &p) in sum.iter_mut().zip(&mut sq).zip(sample) {
                        *s += p as f64;
                        *q += (p as f64) * (p as f64);
                    }
                }
                let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
                let std = sq
                    .iter()
                    .zip(&mean)
                    .map(|(q, m)| ((q / count - m * m).max(0.0).sqrt() + 1.0) as f32);
                (mean.iter().map(|&m| m as f32).collect(), std.collect())
            }
            Normalization::StandardizeGlobal => {
                let n = pixels.len().max(1) as f64;
                let mean = pixels.iter().map(|&p| p as f64).sum::<f64>() / n;
                let var = pixels
                    .iter()
                    .map(|&p| (p as f64 - mean).powi(2))
                    .sum::<f64>()
                    / n;
                (
                    vec![mean as f32; len],
                    vec![var.sqrt().max(1e-6) as f32; len],
                )
            }
        }
    }
}

impl fmt::Display for Normalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::ALL
            .iter()
            .find(|(n, _)| n == self)
            .map(|(_, s)| *s)
            .unwrap_or("?");
        f.write_str(name)
    }
}

impl FromStr for Normalization {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(n, _)| *n)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|(_, s)| *s).collect();
                Error::config(
                    Setting::Normalization,
                    format!("unknown mode {s:?} (expected one of {})", names.join(", ")),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_pixel_standardization_adds_one_to_std() {
        // Two samples of two pixels: pixel 0 is (0, 2), pixel 1 is (5, 5).
        let (mean, std) = Normalization::Standardize.statistics(&[0, 5, 2, 5], 2);
        assert_eq!(mean, vec![1.0, 5.0]);
        assert_eq!(std, vec![2.0, 1.0]);
        let (mean, std) = Normalization::MinMax.statistics(&[0, 5], 2);
        assert_eq!((mean[0], std[0]), (127.5, 255.0));
    }

    #[test]
    fn names_round_trip() {
        for (mode, name) in Normalization::ALL {
            assert_eq!(name.parse::<Normalization>().unwrap(), mode);
            assert_eq!(mode.to_string(), name);
        }
        assert!("zscore".parse::<Normalization>().is_err());
    }
}
