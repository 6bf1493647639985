//! What a model is made of: its configuration, and the layers built and checked from it.

use super::notation;
use super::plan::{apply_plan, plan_execution, ExecutionPlan};
use super::preset;
use super::Normalization;
use crate::data::Dataset;
use crate::error::{Error, Result, Setting};
use crate::layers::{ConvSpec, Flatten, Layer, LayerSpec, Normalize, ParamSpec, Shape};

/// Everything needed to rebuild a model; stored in its file's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Preset name, or `custom`.
    pub name: String,
    /// Architecture in the notation (without the input normalization).
    pub arch: String,
    /// Shape of one input image.
    pub input: Shape,
    /// Number of classes the last layer scores.
    pub classes: usize,
    /// How raw pixels are scaled (statistics live in the model's first layer).
    pub normalization: Normalization,
    /// Dataset the model is for.
    pub dataset: Dataset,
    /// BatchNorm running-average momentum (Keras: 0.99).
    pub bn_momentum: f32,
}

impl ModelConfig {
    /// A model for 28×28 grayscale images and 10 classes from a preset name or a notation.
    pub fn new(model: &str, dataset: Dataset, normalization: Normalization) -> Self {
        let (name, arch) = match preset(model) {
            Some(arch) => (model.to_string(), arch.to_string()),
            None => ("custom".to_string(), model.to_string()),
        };
        ModelConfig {
            name,
            arch,
            input: Shape::new(28, 28, 1),
            classes: 10,
            normalization,
            dataset,
            bn_momentum: 0.99,
        }
    }

    /// The same model with dropout at `rate` inserted where the tutorial puts it (before dense
    /// layers fed by the input or by another dense layer).
    pub fn with_dropout(self, rate: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::config(
                Setting::Dropout,
                format!("must be in [0, 1), got {rate}"),
            ));
        }
        let arch = notation::render(&notation::with_dropout(&notation::parse(&self.arch)?, rate));
        Ok(ModelConfig { arch, ..self })
    }

    /// Refuses a model that cannot be built (bad notation, shapes, sizes, momentum), without
    /// allocating its parameters.
    pub fn validate(&self) -> Result<()> {
        self.build().map(|_| ())
    }

    /// The layers, fused as they will run, with whether each output is flat, and each layer's
    /// tensors.
    pub(super) fn build(&self) -> Result<BuiltLayers> {
        if !(0.0..1.0).contains(&self.bn_momentum) {
            return Err(Error::config(
                Setting::BnMomentum,
                format!("must be in [0, 1), got {}", self.bn_momentum),
            ));
        }
        let Shape { h, w, c } = self.input;
        let values = [h, w, c].iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if [h, w, c].contains(&0) || values.is_none_or(|n| n > MAX_INPUT_VALUES) {
            return Err(Error::config(
                Setting::InputShape,
                format!(
                    "{h}×{w}×{c} must have every side at least 1 and at most \
                     {MAX_INPUT_VALUES} values"
                ),
            ));
        }
        if self.classes == 0 {
            return Err(Error::config(Setting::Classes, "must be at least 1"));
        }
        let (mut layers, flat): (Vec<_>, Vec<_>) = build_layers(self)?.into_iter().unzip();
        let plan = plan_execution(&mut layers);
        apply_plan(&mut layers, &plan);
        let specs: Vec<_> = layers.iter().map(|l| l.params()).collect();
        let count: usize = specs.iter().flatten().map(|p| p.len()).sum();
        if count > MAX_PARAMS {
            return Err(Error::config(
                Setting::Architecture(self.arch.clone()),
                format!("has {count} parameters, more than the {MAX_PARAMS} supported"),
            ));
        }
        Ok(BuiltLayers {
            layers,
            flat,
            plan,
            specs,
        })
    }
}
/// What [`ModelConfig::build`] makes.
pub(super) struct BuiltLayers {
    pub(super) layers: Vec<Box<dyn Layer>>,
    pub(super) flat: Vec<bool>,
    pub(super) plan: ExecutionPlan,
    pub(super) specs: Vec<Vec<ParamSpec>>,
}

/// Largest model accepted, in parameters (a typo like `16000C3` should fail, not exhaust memory).
pub const MAX_PARAMS: usize = 100_000_000;
/// Largest input accepted, in values per image (a damaged model file's `input` should fail,
/// not exhaust memory).
pub const MAX_INPUT_VALUES: usize = 1 << 20;
/// Largest sum of layer outputs per image accepted (batch buffers scale with it).
pub const MAX_ACTIVATIONS_PER_IMAGE: usize = 16_000_000;
/// The layers of `config`, each with whether its output is flat.
fn build_layers(config: &ModelConfig) -> Result<Vec<(Box<dyn Layer>, bool)>> {
    let specs = notation::parse(&config.arch)?;
    let what = || Setting::Architecture(config.arch.clone());
    let mut shape = config.input;
    let mut flat = false;
    let mut layers: Vec<(Box<dyn Layer>, bool)> = vec![(Box::new(Normalize::new(shape)), false)];
    for (i, &spec) in specs.iter().enumerate() {
        let refuse = |why: String| {
            Error::config(
                what(),
                format!("token {} {:?}: {why}", i + 1, spec.to_string()),
            )
        };
        if spec.needs_image() && flat {
            return Err(refuse(
                "needs an image input, but the layers before it made the data flat".into(),
            ));
        }
        if let LayerSpec::Dense(_) = spec {
            if !flat && shape.h * shape.w > 1 {
                layers.push((Box::new(Flatten::new(shape)), true));
                shape = Shape::flat(shape.len());
                flat = true;
            }
        }
        // Checked before the layer is built: building it allocates its weights.
        let weights = match spec {
            LayerSpec::Conv(ConvSpec {
                filters, kernel, ..
            }) => Some((
                vec![kernel, kernel, shape.c, filters],
                format!("{filters} filters of {kernel}×{kernel}×{}", shape.c),
            )),
            LayerSpec::Dense(units) => Some((
                vec![shape.len(), units],
                format!("{units} units of {} inputs", shape.len()),
            )),
            _ => None,
        };
        if let Some((dims, what)) = weights {
            let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if count.is_none_or(|n| n > MAX_PARAMS) {
                return Err(refuse(format!(
                    "{what} are more than the {MAX_PARAMS} parameters supported"
                )));
            }
        }
        let layer = spec
            .build(shape, config.bn_momentum)
            .map_err(|why| refuse(why.to_string()))?;
        flat |= spec.outputs_flat();
        shape = layer.output_shape();
        layers.push((layer, flat));
    }
    let activations: usize = layers.iter().map(|(l, _)| l.output_shape().len()).sum();
    if activations > MAX_ACTIVATIONS_PER_IMAGE {
        return Err(Error::config(
            what(),
            format!(
                "needs {activations} activations per image, more than the \
                 {MAX_ACTIVATIONS_PER_IMAGE} supported"
            ),
        ));
    }
    if !flat || shape.len() != config.classes {
        return Err(Error::config(
            what(),
            format!(
                "must end with a dense layer of {0} units (D{0}), one score per class",
                config.classes
            ),
        ));
    }
    Ok(layers)
}
