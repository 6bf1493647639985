//! What every part of the crate agrees on: the shape of one sample, and whether a pass trains.
//! Data, layers, models and training all speak of these, so they live below all of them.

/// Per-sample shape (height, width, channels). A flat vector of `d` values is `1 × 1 × d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels (or features of a flat vector).
    pub c: usize,
}

impl Shape {
    /// A `h × w × c` shape.
    pub const fn new(h: usize, w: usize, c: usize) -> Self {
        Shape { h, w, c }
    }

    /// A flat vector of `d` features.
    pub const fn flat(d: usize) -> Self {
        Shape { h: 1, w: 1, c: d }
    }

    /// Values per sample.
    pub const fn len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// True when a sample holds no value.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Training (batch statistics, dropout on) or inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training step: BatchNorm uses and updates batch statistics, dropout is active.
    Train,
    /// Evaluation/prediction: running statistics, no dropout.
    Eval,
}
