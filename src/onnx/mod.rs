//! ONNX export: a trained model as one ONNX graph that ONNX Runtime, OpenCV's dnn module or
//! Netron read, and the reading back of such files for `summary`.
//!
//! The graph takes `image`, float32 `[N, 1, 28, 28]` in raw pixel units (0–255, light ink on
//! dark, like the MNIST files) and returns `probabilities` (softmax) and `logits`, both
//! `[N, classes]`. Weights are permuted from our NHWC/Keras layout to ONNX's NCHW, including
//! the rows of a dense layer that follows a flatten.

mod export;
mod inspect;
mod proto;

pub use export::{export, DEFAULT_OPSET, OPSETS, USAGE};
pub use inspect::{describe, describe_bytes, OnnxSummary};

use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::model::Sequential;
use std::path::Path;

/// Exports `model` to `path` (written atomically) with `opset`.
pub fn save(model: &Sequential, path: &Path, opset: i64) -> Result<()> {
    let bytes = export(model, opset, env!("CARGO_PKG_VERSION"))?;
    write_atomic(path, &bytes)
}
