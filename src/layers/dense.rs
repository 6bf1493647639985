//! Fully connected layer, `y = x · W + b`.
//!
//! # Shapes
//! x: (N, d_in), weight: (d_in, d_out) as Keras stores it, bias: (d_out), y: (N, d_out).
//! The weight starts Glorot-uniform (fans d_in, d_out), the bias at zero.

use super::{
    BackwardArgs, ChannelAffine, FoldsAffine, ForwardArgs, FusesRelu, Init, Layer, LayerError,
    LayerKind, LayerSpec, ParamKind, ParamSpec, Shape,
};
use crate::kernels::{
    add_bias_rows, matmul, rows_per_thread, sum_rows_into, transpose, Output, Threads, Transpose,
};
use rayon::prelude::*;

/// Builds a [`Dense`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseConfig {
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
}

impl DenseConfig {
    /// The layer, or why these sizes make none.
    pub fn init(&self) -> Result<Dense, LayerError> {
        if self.d_in == 0 {
            return Err(LayerError::Zero("input size"));
        }
        if self.d_out == 0 {
            return Err(LayerError::Zero("unit count"));
        }
        Ok(Dense {
            config: *self,
            weight_t: vec![0.0; self.d_in * self.d_out],
            folded: Vec::new(),
            relu: false,
        })
    }
}

impl DenseConfig {
    /// y = x · W + b, then ReLU if `relu`, for a batch of `n`; `weights` is W followed by b.
    fn apply(&self, x: &[f32], y: &mut [f32], n: usize, weights: &[f32], relu: bool) {
        let DenseConfig { d_in, d_out } = *self;
        let (weight, bias) = weights.split_at(d_in * d_out);
        // One block of rows per thread, each its product and then its bias (and ReLU) while
        // the rows are in cache: a single parallel section per layer, faster at inference than
        // the pool's product followed by the bias on the calling thread (docs/speed.md).
        let rows = rows_per_thread((n, d_in, d_out));
        // A single block (a few images) leaves the product itself free to split its columns.
        let threads = if rows >= n {
            Threads::Pool
        } else {
            Threads::Caller
        };
        y[..n * d_out]
            .par_chunks_mut(rows * d_out)
            .zip(x[..n * d_in].par_chunks(rows * d_in))
            .for_each(|(y, x)| {
                let dims = (y.len() / d_out, d_in, d_out);
                matmul(
                    y,
                    x,
                    weight,
                    dims,
                    Transpose::None,
                    Output::Overwrite,
                    threads,
                );
                add_bias_rows(y, bias, relu);
            });
    }
}

/// Dense (fully connected) layer.
#[derive(Debug, Clone)]
pub struct Dense {
    config: DenseConfig,
    /// `Wᵀ` (d_out, d_in), refreshed in backward so `dy · Wᵀ` is a plain row-major product.
    weight_t: Vec<f32>,
    /// Weight and bias with the batch norm after the layer folded in, for evaluation.
    folded: Vec<f32>,
    /// Applies the following ReLU itself.
    relu: bool,
}

impl FusesRelu for Dense {
    fn fuse_relu(&mut self) {
        self.relu = true;
    }
    fn masks_fused_relu_grad(&self) -> bool {
        false
    }
}

impl FoldsAffine for Dense {
    fn forward_folded(&mut self, a: ForwardArgs<'_>, affine: &ChannelAffine, relu: bool) {
        affine.fold_into(a.weights, &mut self.folded);
        self.config.apply(a.x, a.y, a.n, &self.folded, relu);
    }
}

impl Layer for Dense {
    fn kind(&self) -> LayerKind {
        LayerKind::Dense
    }
    fn spec(&self) -> Option<LayerSpec> {
        Some(LayerSpec::Dense(self.config.d_out))
    }
    fn output_shape(&self) -> Shape {
        Shape::flat(self.config.d_out)
    }
    fn params(&self) -> Vec<ParamSpec> {
        let DenseConfig { d_in, d_out } = self.config;
        vec![
            ParamSpec::kernel(vec![d_in, d_out], d_in, d_out),
            ParamSpec::vector("bias", d_out, ParamKind::Trainable, Init::Zeros),
        ]
    }
    fn forward(&mut self, a: ForwardArgs<'_>) {
        self.config.apply(a.x, a.y, a.n, a.weights, self.relu);
    }
    fn relu_fusion(&mut self) -> Option<&mut dyn FusesRelu> {
        Some(self)
    }
    fn affine_folding(&mut self) -> Option<&mut dyn FoldsAffine> {
        Some(self)
    }
    fn backward(&mut self, a: BackwardArgs<'_>) {
        let DenseConfig { d_in, d_out } = self.config;
        let (dweight, dbias) = a.dweights.split_at_mut(d_in * d_out);
        let dy = &a.dy[..a.n * d_out];
        // dW (d_in, d_out) += xᵀ · dy
        matmul(
            dweight,
            a.x,
            dy,
            (d_in, a.n, d_out),
            Transpose::A,
            Output::Accumulate,
            Threads::Pool,
        );
        sum_rows_into(dbias, dy);
        if let Some(dx) = a.dx {
            // dx (N, d_in) = dy · Wᵀ
            transpose(&a.weights[..d_in * d_out], &mut self.weight_t, d_in, d_out);
            let dims = (a.n, d_out, d_in);
            matmul(
                dx,
                dy,
                &self.weight_t,
                dims,
                Transpose::None,
                Output::Overwrite,
                Threads::Pool,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::{backward, forward};
    use crate::layers::Mode;

    #[test]
    fn computes_x_w_plus_b_and_its_gradients() {
        let mut layer = DenseConfig { d_in: 2, d_out: 2 }.init().unwrap();
        // weight [[1, 2], [3, 4]], bias [10, 20]
        let weights = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0];
        let x = [1.0, 1.0, 2.0, 0.0];
        let y = forward(&mut layer, &x, 2, &weights, &mut [], Mode::Train);
        assert_eq!(y, [14.0, 26.0, 12.0, 24.0]);
        let (dx, dweights) = backward(&mut layer, &x, &y, &[1.0, 0.0, 0.0, 1.0], 2, &weights);
        // dW = xᵀ·dy = [[1, 2], [1, 0]], db = [1, 1], dx = dy·Wᵀ = [[1, 3], [2, 4]]
        assert_eq!(dweights, [1.0, 2.0, 1.0, 0.0, 1.0, 1.0]);
        assert_eq!(dx, [1.0, 3.0, 2.0, 4.0]);
    }
}
