//! mnistlab: train, evaluate and compare the models of the Keras tutorial "First steps in Keras:
//! classifying handwritten digits (MNIST)" on a small, fast CPU engine of its own.
//!
//! Build a model from the tutorial's notation, check its size, train it a step and save it:
//!
//! ```
//! use mnistlab::data::{Dataset, Images};
//! use mnistlab::layers::Shape;
//! use mnistlab::model::{ModelConfig, Normalization, Sequential};
//! use mnistlab::eval::evaluate;
//! use mnistlab::train::{fit, TrainConfig};
//!
//! let config = ModelConfig::new("8C3-BN-ReLU-MP2-GAP-D10", Dataset::Mnist, Normalization::MinMax);
//! let mut model = Sequential::new(config, 42)?;
//! assert_eq!(model.params.counts(), (80 + 16 + 90, 16)); // trainable, non-trainable
//!
//! // Sixteen 28×28 images whose label is the brightness band they are lit in.
//! let labels: Vec<u8> = (0..16).map(|i| (i % 10) as u8).collect();
//! let pixels = labels.iter().flat_map(|&l| vec![25 * l; 784]).collect();
//! let images = Images { pixels, labels, shape: Shape::new(28, 28, 1) };
//! let history = fit(&mut model, &images, None, &TrainConfig { epochs: 2, batch_size: 8, ..Default::default() }, &mut [])?;
//! assert_eq!(history.len(), 2);
//! let result = evaluate(&mut model, &images, 8)?;
//! assert_eq!(result.n, 16);
//!
//! let dir = tempfile::tempdir().unwrap();
//! mnistlab::model::save(&model, &dir.path().join("model.safetensors"))?;
//! let again = mnistlab::model::load(&dir.path().join("model.safetensors"))?;
//! assert_eq!(again.config().arch, "8C3-BN-ReLU-MP2-GAP-D10");
//! # Ok::<(), mnistlab::Error>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod data;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod onnx;
pub mod picture;
pub mod rng;
pub mod runs;
pub mod serve;
pub mod shape;
pub mod sweep;
pub mod tensorboard;
pub mod train;
pub mod untrusted;

pub use error::{Error, Result, Setting};
