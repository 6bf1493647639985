//! Rectified linear unit, `y = max(x, 0)`. Backward reads the output as its mask, so no cache.

use super::{par_zip_map, BackwardArgs, ForwardArgs, Layer, Shape};

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
    fn type_name(&self) -> &'static str {
        "ReLU"
    }
    fn token(&self) -> Option<String> {
        Some("ReLU".into())
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
    use crate::layers::Mode;

    #[test]
    fn clamps_negatives_and_masks_their_gradient() {
        let mut relu = Relu::new(Shape::flat(4));
        let x = [-1.0, 0.0, 2.0, -3.0];
        let mut y = [9.0; 4];
        let mut rng = crate::rng::seeded(0);
        relu.forward(ForwardArgs {
            x: &x,
            y: &mut y,
            n: 1,
            weights: &[],
            state: &mut [],
            mode: Mode::Train,
            rng: &mut rng,
        });
        assert_eq!(y, [0.0, 0.0, 2.0, 0.0]);
        let mut dx = [9.0; 4];
        relu.backward(BackwardArgs {
            x: &x,
            y: &y,
            dy: &[1.0, 1.0, 5.0, 1.0],
            dx: Some(&mut dx),
            n: 1,
            weights: &[],
            dweights: &mut [],
        });
        assert_eq!(dx, [0.0, 0.0, 5.0, 0.0]);
    }
}
