//! What a layer is, as one token of the architecture notation writes it: the description the model
//! builds each layer from, and that every layer hands back ([`Layer::spec`]) for the notation
//! printer, the summary and the ONNX exporter to read.

use super::{
    BatchNormConfig, Conv2dConfig, DenseConfig, Dropout, Flatten, GlobalAvgPool, Layer,
    MaxPoolConfig, Padding, Relu, Shape,
};

/// One layer of a sequential model as the notation describes it (`16C3`, `BN`, `MP2`, ...).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerSpec {
    /// `<n>C<k>[s<s>][v]`
    Conv(ConvSpec),
    /// `BN`
    BatchNorm,
    /// `ReLU`
    Relu,
    /// `MP<k>[s<s>]`
    MaxPool {
        /// Window size.
        pool: usize,
        /// Stride.
        stride: usize,
    },
    /// `GAP`
    GlobalAvgPool,
    /// `F`
    Flatten,
    /// `D<n>`
    Dense(usize),
    /// `Drop<p>`
    Dropout(f32),
}

/// A convolution as the notation describes it: everything of its [`Conv2dConfig`] but the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Output channels.
    pub filters: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// "same", or "valid" with the `v` suffix.
    pub padding: Padding,
}

impl ConvSpec {
    /// The convolution over inputs of `input`.
    pub fn at(self, input: Shape) -> Conv2dConfig {
        let ConvSpec {
            filters,
            kernel,
            stride,
            padding,
        } = self;
        Conv2dConfig {
            input,
            filters,
            kernel,
            stride,
            padding,
        }
    }
}

/// Why a layer cannot be built from a configuration.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LayerError {
    /// A "valid" convolution whose kernel is larger than its input.
    #[error("a {kernel}×{kernel} window does not fit the {h}×{w} input without padding")]
    ConvWindow {
        /// Kernel size.
        kernel: usize,
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
    },
    /// A pooling window larger than its input.
    #[error("a {pool}×{pool} window does not fit its {h}×{w} input (pooling below 1×1)")]
    PoolWindow {
        /// Window size.
        pool: usize,
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
    },
    /// A size that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// A dropout rate outside `[0, 1)`.
    #[error("dropout rate must be in [0, 1), got {0}")]
    DropoutRate(f32),
    /// A batch norm momentum outside `[0, 1)` or a non-positive ε.
    #[error("BatchNorm momentum must be in [0, 1) and ε positive, got {momentum} and {epsilon}")]
    BatchNorm {
        /// Weight of the old running statistics.
        momentum: f32,
        /// Added to the variance.
        epsilon: f32,
    },
}

impl LayerSpec {
    /// The layer for inputs of `input`; a batch norm moves its running averages with
    /// `bn_momentum`.
    pub fn build(self, input: Shape, bn_momentum: f32) -> Result<Box<dyn Layer>, LayerError> {
        Ok(match self {
            LayerSpec::Conv(conv) => Box::new(conv.at(input).init()?),
            LayerSpec::BatchNorm => {
                let config = BatchNormConfig {
                    momentum: bn_momentum,
                    ..BatchNormConfig::keras(input)
                };
                Box::new(config.init()?)
            }
            LayerSpec::Relu => Box::new(Relu::new(input)),
            LayerSpec::MaxPool { pool, stride } => Box::new(
                MaxPoolConfig {
                    input,
                    pool,
                    stride,
                }
                .init()?,
            ),
            LayerSpec::GlobalAvgPool => Box::new(GlobalAvgPool::new(input)),
            LayerSpec::Flatten => Box::new(Flatten::new(input)),
            LayerSpec::Dense(units) => {
                let config = DenseConfig {
                    d_in: input.len(),
                    d_out: units,
                };
                Box::new(config.init()?)
            }
            LayerSpec::Dropout(rate) => Box::new(Dropout::new(input, rate)?),
        })
    }

    /// Whether the layer reads an image (height, width, channels) rather than a vector.
    pub fn needs_image(self) -> bool {
        matches!(
            self,
            LayerSpec::Conv(_) | LayerSpec::MaxPool { .. } | LayerSpec::GlobalAvgPool
        )
    }

    /// Whether the layer's output is a vector per image.
    pub fn outputs_flat(self) -> bool {
        matches!(
            self,
            LayerSpec::Flatten | LayerSpec::Dense(_) | LayerSpec::GlobalAvgPool
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layer hands back the spec it was built from.
    #[test]
    fn a_layer_built_from_a_spec_hands_it_back() {
        let specs = [
            LayerSpec::Conv(ConvSpec {
                filters: 4,
                kernel: 3,
                stride: 2,
                padding: Padding::Valid,
            }),
            LayerSpec::BatchNorm,
            LayerSpec::Relu,
            LayerSpec::MaxPool { pool: 3, stride: 2 },
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            LayerSpec::Dense(7),
            LayerSpec::Dropout(0.25),
        ];
        for spec in specs {
            let layer = spec.build(Shape::new(9, 9, 2), 0.9).unwrap();
            assert_eq!(layer.spec(), Some(spec));
        }
    }

    /// A configuration no layer can have is an error from the constructor, never a panic.
    #[test]
    fn constructors_refuse_what_cannot_be_built() {
        let input = Shape::new(4, 4, 1);
        let refusals = [
            (
                LayerSpec::Conv(ConvSpec {
                    filters: 1,
                    kernel: 5,
                    stride: 1,
                    padding: Padding::Valid,
                }),
                LayerError::ConvWindow {
                    kernel: 5,
                    h: 4,
                    w: 4,
                },
            ),
            (
                LayerSpec::Conv(ConvSpec {
                    filters: 0,
                    kernel: 3,
                    stride: 1,
                    padding: Padding::Same,
                }),
                LayerError::Zero("filter count"),
            ),
            (
                LayerSpec::MaxPool { pool: 5, stride: 1 },
                LayerError::PoolWindow {
                    pool: 5,
                    h: 4,
                    w: 4,
                },
            ),
            (
                LayerSpec::MaxPool { pool: 2, stride: 0 },
                LayerError::Zero("stride"),
            ),
            (LayerSpec::Dense(0), LayerError::Zero("unit count")),
            (LayerSpec::Dropout(1.0), LayerError::DropoutRate(1.0)),
        ];
        for (spec, want) in refusals {
            assert_eq!(spec.build(input, 0.99).err(), Some(want), "{spec:?}");
        }
        let momentum = LayerSpec::BatchNorm.build(input, 1.0).err();
        assert_eq!(
            momentum,
            Some(LayerError::BatchNorm {
                momentum: 1.0,
                epsilon: 1e-3
            })
        );
    }
}
