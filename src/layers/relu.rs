//! Rectified linear unit, `y = max(x, 0)`. Backward reads the output as its mask, so no cache.

use super::{par_zip_map, BackwardArgs, ForwardArgs, Layer, LayerKind, LayerSpec, Shape};

/// ReLU activation.
#[derive(Debug, Clone)]
pub struct Relu {
    shape: Shape,
}

impl Relu {
    /// A ReLU over samples of `shape`.
    pub fn new(shape: Shape) -> Self {
        Relu { shape }
    }
}

impl Layer for Relu {
    fn kind(&self) -> LayerKind {
        LayerKind::Relu
    }
    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::Relu)
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        let len = a.n * self.shape.len();
        par_zip_map(&mut a.y[..len], &a.x[..len], &a.x[..len], |x, _| x.max(0.0));
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        if let Some(dx) = a.dx {
            let len = a.n * self.shape.len();
            par_zip_map(&mut dx[..len], &a.dy[..len], &a.y[..len], |dy, y| {
                if y > 0.0 {
                    dy
                } else {
                    0.0
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::{backward, forward};
    use crate::layers::Mode;

    #[test]
    fn clamps_negatives_and_masks_their_gradient() {
        let mut relu = Relu::new(Shape::flat(4));
        let x = [-1.0, 0.0, 2.0, -3.0];
        let y = forward(&mut relu, &x, 1, &[], &mut [], Mode::Train);
        assert_eq!(y, [0.0, 0.0, 2.0, 0.0]);
        let (dx, _) = backward(&mut relu, &x, &y, &[1.0, 1.0, 5.0, 1.0], 1, &[]);
        assert_eq!(dx, [0.0, 0.0, 5.0, 0.0]);
    }
}
