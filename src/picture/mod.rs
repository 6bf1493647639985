//! Pictures from outside, made into model input, and pictures made for people. A photo or a
//! drawing is decoded and made to look like MNIST ([`preprocess`]), after the writing on the page
//! is found ([`ink`]); a number is cut into its digits ([`number`]); [`classify`] is the one path
//! from a picture to a reading that `predict`, `serve` and Python share. [`draw`] renders digit
//! grids, confusion matrices and the boxes of a number as PNG.

pub mod classify;
pub mod draw;
pub mod ink;
pub mod number;
pub mod preprocess;
