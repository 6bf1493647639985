//! Layers of a sequential model. Each layer is explicit: `forward` writes its output and caches what
//! `backward` needs; `backward` *adds* into the parameter gradients (zeroing is the model's step) and
//! writes the input gradient when asked for. Tensors are NHWC `f32`, one sample after another.

mod batch_norm;
mod conv2d;
mod dense;
mod dropout;
mod flatten;
mod global_avg_pool;
mod max_pool;
mod normalize;
mod relu;
mod spec;

pub use batch_norm::{BatchNorm, BatchNormConfig};
pub use conv2d::{Conv2d, Conv2dConfig};
pub use dense::{Dense, DenseConfig};
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use global_avg_pool::GlobalAvgPool;
pub use max_pool::{MaxPool, MaxPoolConfig};
pub use normalize::Normalize;
pub use relu::Relu;
pub use spec::{ConvSpec, LayerError, LayerSpec};

pub use crate::shape::{Mode, Shape};

pub use crate::kernels::Padding;
pub(crate) use crate::kernels::{par_zip_map, PAR_CHUNK};
use crate::rng::Rng;

/// How a tensor counts and changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Updated by the optimiser (kernels, biases, BN scale/offset).
    Trainable,
    /// Updated by the forward pass, counted as non-trainable (BN running statistics).
    NonTrainable,
    /// Fixed data carried by the model, not counted as parameters (input normalization statistics).
    Constant,
}

/// Initial values of a tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Glorot-uniform with these fans (Keras' default for kernels).
    GlorotUniform {
        /// Inputs feeding one output.
        fan_in: usize,
        /// Outputs fed by one input.
        fan_out: usize,
    },
}

/// A tensor a layer owns, declared once; the model stores all of them in flat buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// PyTorch-style name: `weight`, `bias`, `running_mean`, `running_var`, `mean`, `std`.
    pub name: &'static str,
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// Trainable, running statistic or constant.
    pub kind: ParamKind,
    /// Initial values.
    pub init: Init,
    /// True for kernels, the only tensors L2 regularization applies to (as Keras' kernel_regularizer).
    pub is_kernel: bool,
}

impl ParamSpec {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a tensor with no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn kernel(shape: Vec<usize>, fan_in: usize, fan_out: usize) -> Self {
        let init = Init::GlorotUniform { fan_in, fan_out };
        ParamSpec {
            name: "weight",
            shape,
            kind: ParamKind::Trainable,
            init,
            is_kernel: true,
        }
    }

    pub(crate) fn vector(name: &'static str, len: usize, kind: ParamKind, init: Init) -> Self {
        ParamSpec {
            name,
            shape: vec![len],
            kind,
            init,
            is_kernel: false,
        }
    }
}

/// What a forward pass reads and writes.
pub struct ForwardArgs<'a> {
    /// Input, `(n, in_shape)`.
    pub x: &'a [f32],
    /// Output, `(n, out_shape)`; fully overwritten.
    pub y: &'a mut [f32],
    /// Samples in the batch (at most the reserved capacity).
    pub n: usize,
    /// The layer's trainable tensors, concatenated in `params()` order.
    pub weights: &'a [f32],
    /// The layer's other tensors (running statistics, constants), concatenated in `params()` order.
    pub state: &'a mut [f32],
    /// Train or eval.
    pub mode: Mode,
    /// Randomness for dropout.
    pub rng: &'a mut Rng,
}

/// What a backward pass reads and writes; valid right after a `Mode::Train` forward of the same batch.
pub struct BackwardArgs<'a> {
    /// The forward input.
    pub x: &'a [f32],
    /// The forward output.
    pub y: &'a [f32],
    /// Gradient of the loss with respect to `y`.
    pub dy: &'a [f32],
    /// Where to write the gradient with respect to `x` (overwritten); `None` when nobody needs it.
    pub dx: Option<&'a mut [f32]>,
    /// Samples in the batch.
    pub n: usize,
    /// The layer's trainable tensors.
    pub weights: &'a [f32],
    /// Their gradients, added to.
    pub dweights: &'a mut [f32],
}

/// A per-channel map `y = x·scale + shift` over the last axis: what batch norm does in
/// evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelAffine {
    /// Multiplier per channel.
    pub scale: Vec<f32>,
    /// Added per channel after the multiplication.
    pub shift: Vec<f32>,
}

impl ChannelAffine {
    /// `weights` — a kernel whose last axis is the channels, then a bias per channel — with this
    /// map applied to their output folded in: the kernel times `scale` along its last axis, the
    /// bias mapped itself (`b·scale + shift`).
    pub fn fold_into(&self, weights: &[f32], folded: &mut Vec<f32>) {
        let channels = self.scale.len();
        let (kernel, bias) = weights.split_at(weights.len() - channels);
        folded.clear();
        for row in kernel.chunks_exact(channels) {
            folded.extend(row.iter().zip(&self.scale).map(|(w, s)| w * s));
        }
        let terms = bias.iter().zip(&self.scale).zip(&self.shift);
        folded.extend(terms.map(|((b, s), t)| b * s + t));
    }
}

/// What a layer is, for the model's planning (which neighbour takes over a ReLU) and names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// [`Normalize`].
    Normalize,
    /// [`Conv2d`].
    Conv2d,
    /// [`BatchNorm`].
    BatchNorm,
    /// [`Relu`].
    Relu,
    /// [`MaxPool`].
    MaxPool,
    /// [`GlobalAvgPool`].
    GlobalAvgPool,
    /// [`Flatten`].
    Flatten,
    /// [`Dense`].
    Dense,
    /// [`Dropout`].
    Dropout,
}

impl LayerKind {
    /// Keras' class name (`Conv2D`, `Dense`, ...).
    pub fn keras_name(self) -> &'static str {
        match self {
            LayerKind::Normalize => "Normalization",
            LayerKind::Conv2d => "Conv2D",
            LayerKind::BatchNorm => "BatchNormalization",
            LayerKind::Relu => "ReLU",
            LayerKind::MaxPool => "MaxPooling2D",
            LayerKind::GlobalAvgPool => "GlobalAveragePooling2D",
            LayerKind::Flatten => "Flatten",
            LayerKind::Dense => "Dense",
            LayerKind::Dropout => "Dropout",
        }
    }

    /// Keras' default name for a layer of this class, before its `_<i>` suffix (`conv2d`,
    /// `re_lu`, ...).
    pub fn keras_layer_name(self) -> &'static str {
        match self {
            LayerKind::Normalize => "normalization",
            LayerKind::Conv2d => "conv2d",
            LayerKind::BatchNorm => "batch_normalization",
            LayerKind::Relu => "re_lu",
            LayerKind::MaxPool => "max_pooling2d",
            LayerKind::GlobalAvgPool => "global_average_pooling2d",
            LayerKind::Flatten => "flatten",
            LayerKind::Dense => "dense",
            LayerKind::Dropout => "dropout",
        }
    }
}

/// One layer of a [`crate::model::Sequential`].
pub trait Layer: Send + Sync {
    /// What it is.
    fn kind(&self) -> LayerKind;
    /// Keras' class name, for summaries (`Conv2D`, `Dense`, ...).
    fn type_name(&self) -> &'static str {
        self.kind().keras_name()
    }
    /// Its description in the architecture notation, or `None` for the input normalization,
    /// which the notation leaves implicit.
    fn spec(&self) -> Option<LayerSpec>;
    /// Shape of one output sample.
    fn output_shape(&self) -> Shape;
    /// Tensors the layer owns.
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    /// Sizes the layer's caches for batches of up to `capacity` samples.
    fn reserve(&mut self, _capacity: usize) {}
    /// Computes `y` from `x`.
    fn forward(&mut self, args: ForwardArgs<'_>);
    /// Adds parameter gradients and writes `dx`.
    fn backward(&mut self, args: BackwardArgs<'_>);
    /// The layer as one that can apply the ReLU after it, where it can.
    fn relu_fusion(&mut self) -> Option<&mut dyn FusesRelu> {
        None
    }
    /// The layer as one that can apply the gradient mask of the ReLU before it, where it can.
    fn relu_grad_mask(&mut self) -> Option<&mut dyn MasksReluGrad> {
        None
    }
    /// The layer as one that a per-channel map of its output folds into, where it is.
    fn affine_folding(&mut self) -> Option<&mut dyn FoldsAffine> {
        None
    }
    /// In evaluation, the per-channel map the layer computes, where that is all it computes
    /// (batch norm, from its running statistics).
    fn eval_affine(&self, _weights: &[f32], _state: &[f32]) -> Option<ChannelAffine> {
        None
    }
    /// True for layers that only relabel the shape (NHWC values stay in place): the model skips
    /// them, the layer before writing into their buffer and gradients passing through as they are.
    fn is_reshape(&self) -> bool {
        false
    }
}

/// A layer that can apply the ReLU that follows it in its own output loop (the ReLU's forward is
/// then skipped: one pass over the activations less). The model plans which layers do.
pub trait FusesRelu {
    /// Makes the layer apply the following ReLU itself. Its output then lives in the ReLU's
    /// buffer, which its backward receives as `y`.
    fn fuse_relu(&mut self);
    /// Whether the layer, once it applies the following ReLU, also applies that ReLU's gradient
    /// mask in its own backward (the ReLU's backward is then skipped).
    fn masks_fused_relu_grad(&self) -> bool;
}

/// A layer whose input is a ReLU's output and that can apply that ReLU's gradient mask in its own
/// backward (the ReLU's backward is then skipped).
pub trait MasksReluGrad {
    /// Makes the layer apply the ReLU's gradient mask.
    fn mask_relu_grad(&mut self);
}

/// A layer whose weights are a kernel whose last axis is the output channel, then a bias per
/// channel, so that a per-channel map of its output folds into them.
pub trait FoldsAffine {
    /// Evaluation forward with `affine`, then a ReLU if `relu`, applied to the output through
    /// folded weights: one pass over the activations instead of the two of this layer and a
    /// batch norm after it.
    fn forward_folded(&mut self, args: ForwardArgs<'_>, affine: &ChannelAffine, relu: bool);
}

/// Running one layer by hand in unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{BackwardArgs, ForwardArgs, Layer, Mode};

    /// `layer.forward` on a batch of `n`; returns the output.
    pub fn forward(
        layer: &mut dyn Layer,
        x: &[f32],
        n: usize,
        weights: &[f32],
        state: &mut [f32],
        mode: Mode,
    ) -> Vec<f32> {
        layer.reserve(n);
        let mut y = vec![f32::NAN; n * layer.output_shape().len()];
        let mut rng = crate::rng::seeded(0);
        layer.forward(ForwardArgs {
            x,
            y: &mut y,
            n,
            weights,
            state,
            mode,
            rng: &mut rng,
        });
        y
    }

    /// `layer.backward` after a forward of the same batch; returns (dx, dweights).
    pub fn backward(
        layer: &mut dyn Layer,
        x: &[f32],
        y: &[f32],
        dy: &[f32],
        n: usize,
        weights: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let (mut dx, mut dweights) = (vec![f32::NAN; x.len()], vec![0.0; weights.len()]);
        layer.backward(BackwardArgs {
            x,
            y,
            dy,
            dx: Some(&mut dx),
            n,
            weights,
            dweights: &mut dweights,
        });
        (dx, dweights)
    }
}

#[cfg(test)]
mod fused_relu_tests {
    use super::testing::{backward, forward};
    use super::*;

    /// A layer that takes over the next ReLU must output exactly `max(its output, 0)`.
    fn check(make: impl Fn() -> Box<dyn Layer>, input: usize, n: usize) {
        let mut plain = make();
        let mut fused = make();
        let name = fused.type_name();
        let fusion = fused.relu_fusion();
        fusion
            .unwrap_or_else(|| panic!("{name} does not fuse"))
            .fuse_relu();
        let params: usize = plain.params().iter().map(ParamSpec::len).sum();
        let weights: Vec<f32> = (0..params).map(|i| (i as f32 * 0.61).sin()).collect();
        let x: Vec<f32> = (0..n * input).map(|i| (i as f32 * 0.37).cos()).collect();
        let mut state = vec![0.0; 2 * params];
        let want: Vec<f32> = forward(plain.as_mut(), &x, n, &weights, &mut state, Mode::Train)
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        let got = forward(fused.as_mut(), &x, n, &weights, &mut state, Mode::Train);
        assert!(want.contains(&0.0) && want.iter().any(|&v| v > 0.0));
        assert_eq!(got, want, "{}", plain.type_name());
    }

    #[test]
    fn batch_norm_applies_the_gradient_mask_of_its_fused_relu_exactly() {
        let config = BatchNormConfig::keras(Shape::new(4, 4, 3));
        let (mut plain, mut fused) = (config.init().unwrap(), config.init().unwrap());
        fused.fuse_relu();
        let n = 2;
        let weights: Vec<f32> = (0..6).map(|i| (i as f32 * 0.61).sin()).collect();
        let x: Vec<f32> = (0..n * 48).map(|i| (i as f32 * 0.37).cos()).collect();
        let dy: Vec<f32> = (0..n * 48).map(|i| (i as f32 * 0.23).sin()).collect();
        let mut state = vec![0.0; 6];
        let y = forward(&mut plain, &x, n, &weights, &mut state, Mode::Train);
        let relu_y = forward(&mut fused, &x, n, &weights, &mut state, Mode::Train);
        // What the ReLU's own backward would pass on.
        let masked: Vec<f32> = dy
            .iter()
            .zip(&y)
            .map(|(&g, &v)| if v > 0.0 { g } else { 0.0 })
            .collect();
        assert!(masked.contains(&0.0) && masked.iter().any(|&g| g != 0.0));
        let want = backward(&mut plain, &x, &y, &masked, n, &weights);
        let got = backward(&mut fused, &x, &relu_y, &dy, n, &weights);
        assert_eq!(got, want);
    }

    #[test]
    fn dense_conv_and_batch_norm_apply_a_fused_relu_exactly() {
        let dense = DenseConfig { d_in: 5, d_out: 7 };
        check(move || Box::new(dense.init().unwrap()), 5, 3);
        let conv = |filters| Conv2dConfig {
            input: Shape::new(6, 5, 16),
            filters,
            kernel: 3,
            stride: 1,
            padding: Padding::Same,
        };
        // implicit GEMM (AVX-512 or AVX2)
        check(move || Box::new(conv(16).init().unwrap()), 6 * 5 * 16, 2);
        check(move || Box::new(conv(3).init().unwrap()), 6 * 5 * 16, 2); // im2col
        let conv5 = Conv2dConfig {
            kernel: 5,
            ..conv(16)
        };
        // Winograd F(4×4, 5×5) (AVX-512 or AVX2)
        check(move || Box::new(conv5.init().unwrap()), 6 * 5 * 16, 2);
        let bn = BatchNormConfig::keras(Shape::new(4, 4, 3));
        check(move || Box::new(bn.init().unwrap()), 4 * 4 * 3, 2);
    }
}
