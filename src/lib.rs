//! mnistlab: train, evaluate and compare the models of the Keras tutorial "First steps in Keras:
//! classifying handwritten digits (MNIST)" on a small, fast CPU engine of its own.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod data;
pub mod error;
pub mod fsutil;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod pictures;
pub mod plot;
pub mod rng;
pub mod runs;
pub mod tensorboard;
pub mod train;

pub use error::{Error, Result};
