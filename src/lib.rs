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
pub mod rng;
pub mod train;

pub use error::{Error, Result};
