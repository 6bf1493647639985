//! Every entry point that takes bytes from outside, as one function each over raw bytes: the fuzz
//! targets (`fuzz/`) and the corpus replay (`tests/fuzz_corpus.rs`) call these, so the two can
//! never test different code. Each returns what the parser made or its error; a panic, a hang or
//! an allocation beyond the stated caps is a bug.

use crate::data::Dataset;
use crate::error::Result;
use crate::model::{ModelConfig, Normalization, Sequential};
use crate::picture::classify::Classifier;
use crate::picture::preprocess::Polarity;
use std::path::Path;

/// Largest picture side the picture target decodes (as the image crate's fuzzers cap theirs):
/// bigger ones are refused by the same limit check that guards `predict` and `serve`.
pub const PICTURE_MAX_SIDE: u32 = 1024;
/// Memory the picture target lets the decoder allocate.
pub const PICTURE_MAX_ALLOC: u64 = 32 << 20;

/// An IDX file, gzipped or not.
pub fn idx(bytes: &[u8]) -> Result<crate::data::idx::Idx> {
    let path = Path::new("input.idx.gz");
    crate::data::idx::parse_idx(path, crate::data::idx::decompress(path, bytes.to_vec())?)
}

/// A model file: its safetensors header, metadata, tensors against the architecture, checksum.
pub fn model_file(bytes: &[u8]) -> Result<Sequential> {
    crate::model::load_bytes(Path::new("input.safetensors"), bytes)
}

/// An architecture notation, built into a model when it parses (within the parameter cap).
pub fn notation(bytes: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(bytes);
    let specs = crate::model::notation::parse(&text)?;
    let rendered = crate::model::notation::render(&specs);
    assert_eq!(
        crate::model::notation::parse(&rendered)?,
        specs,
        "a rendered notation parses back to itself"
    );
    ModelConfig::new(&text, Dataset::Mnist, Normalization::MinMax).validate()
}

/// A sweep file, planned (at most 1000 points).
pub fn sweep_file(bytes: &[u8]) -> Result<crate::sweep::Sweep> {
    let text = String::from_utf8_lossy(bytes);
    crate::sweep::parse(Path::new("input.toml"), &text, 1000)
}

/// A picture, decoded within [`PICTURE_MAX_SIDE`] and [`PICTURE_MAX_ALLOC`], then prepared as
/// MNIST is (28 × 28, light ink on black, centred by mass).
pub fn picture(bytes: &[u8]) -> Result<Vec<u8>> {
    let source = Path::new("input picture");
    let image = crate::picture::preprocess::decode_within(
        source,
        bytes,
        PICTURE_MAX_SIDE,
        PICTURE_MAX_ALLOC,
    )?;
    let input = crate::picture::preprocess::prepare(
        source,
        &image,
        crate::picture::preprocess::Preprocess::for_dataset(crate::data::Dataset::Mnist),
        (28, 28),
    )?;
    assert_eq!(input.len(), 28 * 28);
    Ok(input)
}

/// An ONNX file, described as `summary` does.
pub fn onnx_file(bytes: &[u8]) -> Result<String> {
    crate::onnx::describe_bytes(Path::new("input.onnx"), bytes).map(|s| s.to_string())
}

/// The classifier the HTTP target answers with: a small untrained MNIST model.
pub fn http_classifier() -> Classifier {
    let config = ModelConfig::new("4C3-ReLU-MP2-D10", Dataset::Mnist, Normalization::MinMax);
    let model = Sequential::new(config, 1).expect("a valid model");
    Classifier::new(vec![model], Polarity::Auto, false).expect("one model")
}

/// A connection's bytes, served as the server serves a connection (hyper over an in-memory
/// connection), each request answered by `classifier` through the server's own handler; what
/// the connection gets back.
pub fn http_request(bytes: &[u8], classifier: &mut Classifier) -> std::io::Result<Vec<u8>> {
    let classifier = std::cell::RefCell::new(classifier);
    crate::serve::http::exchange(bytes, |request| {
        let response = crate::serve::handle(&request, &mut classifier.borrow_mut(), "{}");
        assert!(
            (200..500).contains(&response.status),
            "outside bytes get an answer or a 4xx, never a server error: {} {:?}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        response
    })
}
