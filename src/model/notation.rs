//! The tutorial's architecture notation: layers joined by `-`, e.g.
//! `16C3-BN-ReLU-MP2-32C3-BN-ReLU-GAP-D10`.
//!
//! | token | layer |
//! |---|---|
//! | `<n>C<k>[s<s>][v]` | Conv2D, n filters, k×k kernel, stride s (default 1), "same" padding, or "valid" with `v` |
//! | `BN` | BatchNormalization |
//! | `ReLU` | ReLU activation |
//! | `MP<k>[s<s>]` | MaxPooling2D, k×k window, stride s (default k) |
//! | `GAP` | GlobalAveragePooling2D |
//! | `F` | Flatten (implied before a dense layer that follows image-shaped layers) |
//! | `D<n>` | Dense, n units |
//! | `Drop<p>` | Dropout with rate p in [0, 1) |

use crate::error::{Error, Result, Setting};
pub use crate::layers::LayerSpec;
use crate::layers::{ConvSpec, Padding};
use std::fmt;

const EXPECTED: &str = "expected <n>C<k>[s<s>][v], BN, ReLU, MP<k>[s<s>], GAP, F, D<n> or Drop<p>";

/// Parses a whole notation; an error names the offending token and its position.
pub fn parse(notation: &str) -> Result<Vec<LayerSpec>> {
    let what = || Setting::Architecture(notation.to_string());
    if notation.trim().is_empty() {
        return Err(Error::config(what(), "is empty"));
    }
    notation
        .split('-')
        .enumerate()
        .map(|(i, token)| {
            parse_token(token.trim())
                .map_err(|why| Error::config(what(), format!("token {} {token:?}: {why}", i + 1)))
        })
        .collect()
}

/// Parses one token, returning why it is not one.
fn parse_token(token: &str) -> std::result::Result<LayerSpec, String> {
    let positive = |digits: &str, what: &str| -> std::result::Result<usize, String> {
        match digits.parse::<usize>() {
            Ok(0) => Err(format!("{what} must be at least 1")),
            Ok(v) => Ok(v),
            Err(_) => Err(format!(
                "{what} {digits:?} is not a whole number ({EXPECTED})"
            )),
        }
    };
    // "3s2" -> (3, Some(2))
    let with_stride =
        |rest: &str, what: &str| -> std::result::Result<(usize, Option<usize>), String> {
            match rest.split_once('s') {
                Some((k, s)) => Ok((positive(k, what)?, Some(positive(s, "stride")?))),
                None => Ok((positive(rest, what)?, None)),
            }
        };
    match token {
        "BN" => return Ok(LayerSpec::BatchNorm),
        "ReLU" => return Ok(LayerSpec::Relu),
        "GAP" => return Ok(LayerSpec::GlobalAvgPool),
        "F" => return Ok(LayerSpec::Flatten),
        _ => {}
    }
    if let Some(rate) = token.strip_prefix("Drop") {
        return match rate.parse::<f32>() {
            Ok(p) if (0.0..1.0).contains(&p) => Ok(LayerSpec::Dropout(p)),
            Ok(_) => Err("dropout rate must be in [0, 1)".into()),
            Err(_) => Err(format!("dropout rate {rate:?} is not a number")),
        };
    }
    if let Some(pool) = token.strip_prefix("MP") {
        let (pool, stride) = with_stride(pool, "pool size")?;
        return Ok(LayerSpec::MaxPool {
            pool,
            stride: stride.unwrap_or(pool),
        });
    }
    if let Some(units) = token.strip_prefix('D') {
        return Ok(LayerSpec::Dense(positive(units, "unit count")?));
    }
    if let Some((filters, kernel)) = token.split_once('C') {
        if !filters.is_empty() && filters.bytes().all(|b| b.is_ascii_digit()) {
            let filters = positive(filters, "filter count")?;
            let (kernel, padding) = match kernel.strip_suffix('v') {
                Some(kernel) => (kernel, Padding::Valid),
                None => (kernel, Padding::Same),
            };
            let (kernel, stride) = with_stride(kernel, "kernel size")?;
            return Ok(LayerSpec::Conv(ConvSpec {
                filters,
                kernel,
                stride: stride.unwrap_or(1),
                padding,
            }));
        }
    }
    Err(format!("unknown layer ({EXPECTED})"))
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayerSpec::Conv(ConvSpec {
                filters,
                kernel,
                stride,
                padding,
            }) => {
                write!(f, "{filters}C{kernel}")?;
                if stride != 1 {
                    write!(f, "s{stride}")?;
                }
                if padding == Padding::Valid {
                    f.write_str("v")?;
                }
                Ok(())
            }
            LayerSpec::BatchNorm => f.write_str("BN"),
            LayerSpec::Relu => f.write_str("ReLU"),
            LayerSpec::MaxPool { pool, stride } if pool == stride => write!(f, "MP{pool}"),
            LayerSpec::MaxPool { pool, stride } => write!(f, "MP{pool}s{stride}"),
            LayerSpec::GlobalAvgPool => f.write_str("GAP"),
            LayerSpec::Flatten => f.write_str("F"),
            LayerSpec::Dense(n) => write!(f, "D{n}"),
            LayerSpec::Dropout(p) => write!(f, "Drop{p}"),
        }
    }
}

/// Inserts `Drop<rate>` where the tutorial puts dropout: before the first dense layer when the
/// input reaches it directly (linear, MLP), and before every dense layer that follows another
/// one; a dense layer after convolutions keeps its input. No dropout is added twice.
pub fn with_dropout(specs: &[LayerSpec], rate: f32) -> Vec<LayerSpec> {
    let mut out = Vec::with_capacity(specs.len() * 2);
    let mut seen_image_layer = false;
    let mut seen_dense = false;
    for &spec in specs {
        match spec {
            LayerSpec::Dense(_) => {
                let fed_by_input = !seen_dense && !seen_image_layer;
                if (fed_by_input || seen_dense)
                    && !matches!(out.last(), Some(LayerSpec::Dropout(_)))
                {
                    out.push(LayerSpec::Dropout(rate));
                }
                seen_dense = true;
            }
            LayerSpec::Conv(_) | LayerSpec::MaxPool { .. } | LayerSpec::GlobalAvgPool => {
                seen_image_layer = true
            }
            _ => {}
        }
        out.push(spec);
    }
    out
}

/// Writes specs back as notation; `parse(&render(x)) == x`.
pub fn render(specs: &[LayerSpec]) -> String {
    specs
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_token_kind_and_renders_back() {
        let text = "16C3-BN-ReLU-32C5s2-MP2-MP3s2-Drop0.25-GAP-F-D10";
        let specs = parse(text).unwrap();
        assert_eq!(
            specs[0],
            LayerSpec::Conv(ConvSpec {
                filters: 16,
                kernel: 3,
                stride: 1,
                padding: Padding::Same,
            })
        );
        assert_eq!(
            specs[3],
            LayerSpec::Conv(ConvSpec {
                filters: 32,
                kernel: 5,
                stride: 2,
                padding: Padding::Same,
            })
        );
        assert_eq!(specs[4], LayerSpec::MaxPool { pool: 2, stride: 2 });
        assert_eq!(specs[5], LayerSpec::MaxPool { pool: 3, stride: 2 });
        assert_eq!(specs[6], LayerSpec::Dropout(0.25));
        assert_eq!(specs[9], LayerSpec::Dense(10));
        assert_eq!(render(&specs), text);
    }

    #[test]
    fn valid_padding_is_a_suffix_after_the_stride() {
        let text = "32C3v-32C5s2v-Drop0.4-64C3-D10";
        let specs = parse(text).unwrap();
        assert_eq!(
            specs[1],
            LayerSpec::Conv(ConvSpec {
                filters: 32,
                kernel: 5,
                stride: 2,
                padding: Padding::Valid,
            })
        );
        assert_eq!(render(&specs), text);
        for bad in ["32Cv", "32C3vs2", "32C3vv", "32C3s2vx"] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn dropout_goes_where_the_tutorial_puts_it() {
        let drop = |arch: &str| render(&with_dropout(&parse(arch).unwrap(), 0.5));
        assert_eq!(drop("D10"), "Drop0.5-D10");
        assert_eq!(
            drop("D256-ReLU-D256-ReLU-D10"),
            "Drop0.5-D256-ReLU-Drop0.5-D256-ReLU-Drop0.5-D10"
        );
        assert_eq!(
            drop("16C5-ReLU-MP2-D128-ReLU-D64-ReLU-D10"),
            "16C5-ReLU-MP2-D128-ReLU-Drop0.5-D64-ReLU-Drop0.5-D10"
        );
        assert_eq!(drop("16C3-GAP-Drop0.2-D10"), "16C3-GAP-Drop0.2-D10");
    }

    #[test]
    fn errors_name_the_offending_token_and_its_position() {
        let err = parse("16C3-BN-16X3-D10").unwrap_err().to_string();
        assert!(err.contains("token 3 \"16X3\""), "{err}");
        assert!(err.contains("unknown layer"), "{err}");
        for bad in [
            "", "D0", "Drop1.5", "DropX", "C3", "16C", "16C3s0", "MP", "relu", "D10-",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
