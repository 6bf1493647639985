//! Flatten `(h, w, c)` to `h·w·c` features. NHWC is already row-major in that order, so this
//! only relabels the shape: a model skips it (see [`Layer::is_reshape`]); run on its own it
//! copies.

use super::{BackwardArgs, ForwardArgs, Layer, LayerKind, LayerSpec, Shape};

/// Flattening layer.
#[derive(Debug, Clone)]
pub struct Flatten {
    len: usize,
}

impl Flatten {
    /// Flattens samples of `input` shape.
    pub fn new(input: Shape) -> Self {
        Flatten { len: input.len() }
    }
}

impl Layer for Flatten {
    fn kind(&self) -> LayerKind {
        LayerKind::Flatten
    }
    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::Flatten)
    }
    fn output_shape(&self) -> Shape {
        Shape::flat(self.len)
    }
    fn is_reshape(&self) -> bool {
        true
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let len = a.n * self.len;
        a.y[..len].copy_from_slice(&a.x[..len]);
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        if let Some(dx) = a.dx {
            let len = a.n * self.len;
            dx[..len].copy_from_slice(&a.dy[..len]);
        }
    }
}
