//! Models: the architecture notation, presets, the [`Sequential`] container that runs layers over
//! flat buffers, Keras-like summaries, and safetensors files.

mod io;
mod normalization;
pub mod notation;
mod params;
mod presets;
mod summary;

pub use io::{load, load_bytes, read_safetensors, save, write_safetensors};
pub(crate) use io::{read_tensor, verify_checksum};
pub use normalization::Normalization;
pub use params::{ParamStore, Slot};
pub use presets::{preset, preset_names, PRESETS};
pub use summary::summary;

use crate::error::{Error, Result};
use crate::layers::{
    BackwardArgs, BatchNormConfig, Conv2dConfig, DenseConfig, Dropout, Flatten, ForwardArgs,
    GlobalAvgPool, Layer, LayerKind, MaxPoolConfig, Mode, Normalize, Relu, Shape,
};
use crate::rng::{seeded, Rng};
use notation::LayerSpec;
use std::time::{Duration, Instant};

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
    /// Dataset the model is for (`mnist`, `fashion-mnist`).
    pub dataset: String,
    /// BatchNorm running-average momentum (Keras: 0.99).
    pub bn_momentum: f32,
}

impl ModelConfig {
    /// A model for 28×28 grayscale images and 10 classes from a preset name or a notation.
    pub fn new(model: &str, dataset: &str, normalization: Normalization) -> Self {
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
            dataset: dataset.to_string(),
            bn_momentum: 0.99,
        }
    }

    /// The same model with dropout at `rate` inserted where the tutorial puts it (before dense
    /// layers fed by the input or by another dense layer).
    pub fn with_dropout(self, rate: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::config(
                "dropout rate",
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
    fn build(&self) -> Result<BuiltLayers> {
        if !(0.0..1.0).contains(&self.bn_momentum) {
            return Err(Error::config(
                "BatchNorm momentum",
                format!("must be in [0, 1), got {}", self.bn_momentum),
            ));
        }
        let Shape { h, w, c } = self.input;
        let values = [h, w, c].iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if [h, w, c].contains(&0) || values.is_none_or(|n| n > MAX_INPUT_VALUES) {
            return Err(Error::config(
                "input shape",
                format!("{h}×{w}×{c} must have every side at least 1 and at most {MAX_INPUT_VALUES} values"),
            ));
        }
        if self.classes == 0 {
            return Err(Error::config("classes", "must be at least 1"));
        }
        let (mut layers, flat): (Vec<_>, Vec<_>) = build_layers(self)?.into_iter().unzip();
        let plan = plan_execution(&layers);
        apply_plan(&mut layers, &plan);
        let specs: Vec<_> = layers.iter().map(|l| l.params()).collect();
        let count: usize = specs.iter().flatten().map(|p| p.len()).sum();
        if count > MAX_PARAMS {
            return Err(Error::config(
                format!("architecture {:?}", self.arch),
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
struct BuiltLayers {
    layers: Vec<Box<dyn Layer>>,
    flat: Vec<bool>,
    plan: ExecutionPlan,
    specs: Vec<Vec<crate::layers::ParamSpec>>,
}

/// Time one layer has spent since profiling started.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerTime {
    /// Total time in `forward`.
    pub forward: Duration,
    /// Total time in `backward`.
    pub backward: Duration,
}

/// A sequential stack of layers with its parameters and activation buffers.
pub struct Sequential {
    config: ModelConfig,
    layers: Vec<Box<dyn Layer>>,
    /// Per layer: does its output count as flat (for summaries: `(None, d)`)?
    flat: Vec<bool>,
    /// All tensors.
    pub params: ParamStore,
    /// `acts[0]` is the input batch, `acts[i + 1]` the output of layer `i`.
    acts: Vec<Vec<f32>>,
    /// Ping-pong buffers for activation gradients.
    dacts: [Vec<f32>; 2],
    capacity: usize,
    /// Layers up to this index need no input gradient (nothing trainable before them).
    no_dx_through: usize,
    /// Per layer: its forward is skipped (a reshape, or a ReLU the layer before applies).
    skipped: Vec<bool>,
    /// Per layer: a ReLU whose gradient mask the layer after applies; its backward is skipped.
    relu_grad_taken: Vec<bool>,
    /// Per layer: the activation buffer its output goes to, `acts[i + 1]` unless the layers
    /// after it are skipped: then the buffer of the last of them, where the next layer reads.
    dest: Vec<usize>,
    /// Per layer: in evaluation it applies the batch norm after it through folded weights
    /// (that batch norm, and the ReLU it fused, then skipped): one pass over the activations
    /// instead of two.
    folds_next: Vec<Option<FoldedNorm>>,
    /// Time spent in each layer's forward and backward, while profiling.
    profile: Option<Vec<LayerTime>>,
    /// Randomness for dropout.
    rng: Rng,
}

/// Largest input accepted, in values per image (a damaged model file's `input` should fail,
/// not exhaust memory).
pub const MAX_INPUT_VALUES: usize = 1 << 20;

/// Largest model accepted, in parameters (a typo like `16000C3` should fail, not exhaust memory).
pub const MAX_PARAMS: usize = 100_000_000;
/// Largest sum of layer outputs per image accepted (batch buffers scale with it).
pub const MAX_ACTIVATIONS_PER_IMAGE: usize = 16_000_000;

/// How a model runs its layers, decided once from what the layers can do.
struct ExecutionPlan {
    /// Per layer: its forward is skipped (a reshape, or a ReLU the layer before applies).
    skipped: Vec<bool>,
    /// Per layer: a ReLU whose gradient mask the layer before (which fused it) or the layer after
    /// applies; its backward is skipped.
    relu_grad_taken: Vec<bool>,
    /// Per layer: a ReLU whose gradient mask the layer after applies.
    relu_grad_to_next: Vec<bool>,
    /// Per layer: the activation buffer its output goes to (see [`Sequential::dest`]).
    dest: Vec<usize>,
    /// Per layer: in evaluation it computes the batch norm after it too (see
    /// [`Sequential::folds_next`]).
    folds_next: Vec<Option<FoldedNorm>>,
}

/// A batch norm a layer computes in evaluation through folded weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FoldedNorm {
    /// Whether the batch norm applies the ReLU after it, which the layer then applies.
    relu: bool,
}

/// The plan for `layers`: reshapes skipped, each ReLU taken over by the layer before it where
/// that layer can apply it in its output loop, and its gradient mask by that same layer where it
/// applies the mask of a ReLU it fused, else by the layer after it where that one can. Asks
/// only; [`apply_plan`] tells the layers.
fn plan_execution(layers: &[Box<dyn Layer>]) -> ExecutionPlan {
    let is_relu = |i: usize| layers[i].kind() == LayerKind::Relu;
    let mut skipped = vec![false; layers.len()];
    for i in 1..layers.len() {
        skipped[i] = layers[i].is_reshape()
            || (is_relu(i) && !skipped[i - 1] && layers[i - 1].can_fuse_relu());
    }
    let mut relu_grad_to_next = vec![false; layers.len()];
    let mut relu_grad_taken = vec![false; layers.len()];
    for i in 1..layers.len().saturating_sub(1) {
        let by_fusing_layer = skipped[i] && layers[i - 1].masks_fused_relu_grad();
        relu_grad_to_next[i] = is_relu(i) && !by_fusing_layer && layers[i + 1].can_mask_relu_grad();
        relu_grad_taken[i] = is_relu(i) && (by_fusing_layer || relu_grad_to_next[i]);
    }
    let mut dest: Vec<usize> = (1..=layers.len()).collect();
    for i in (0..layers.len().saturating_sub(1)).rev() {
        if skipped[i + 1] {
            dest[i] = dest[i + 1];
        }
    }
    let folds_next = (0..layers.len())
        .map(|i| {
            let folds = i + 1 < layers.len()
                && layers[i].can_fold_affine()
                && layers[i + 1].kind() == LayerKind::BatchNorm
                && !skipped[i + 1];
            folds.then(|| FoldedNorm {
                relu: i + 2 < layers.len() && is_relu(i + 2) && skipped[i + 2],
            })
        })
        .collect();
    ExecutionPlan {
        skipped,
        relu_grad_taken,
        relu_grad_to_next,
        dest,
        folds_next,
    }
}

/// Tells each layer what the plan gives it to do.
fn apply_plan(layers: &mut [Box<dyn Layer>], plan: &ExecutionPlan) {
    for i in 1..layers.len() {
        if plan.skipped[i] && layers[i].kind() == LayerKind::Relu {
            layers[i - 1].fuse_relu();
        }
    }
    for i in 0..layers.len().saturating_sub(1) {
        if plan.relu_grad_to_next[i] {
            layers[i + 1].mask_relu_grad();
        }
    }
}

/// The layers of `config`, each with whether its output is flat.
fn build_layers(config: &ModelConfig) -> Result<Vec<(Box<dyn Layer>, bool)>> {
    let specs = notation::parse(&config.arch)?;
    let what = || format!("architecture {:?}", config.arch);
    let mut shape = config.input;
    let mut flat = false;
    let mut layers: Vec<(Box<dyn Layer>, bool)> = vec![(Box::new(Normalize::new(shape)), false)];
    for (i, spec) in specs.iter().enumerate() {
        let refuse = |why: String| {
            Error::config(
                what(),
                format!("token {} {:?}: {why}", i + 1, spec.to_string()),
            )
        };
        let needs_image = matches!(
            spec,
            LayerSpec::Conv { .. } | LayerSpec::MaxPool { .. } | LayerSpec::GlobalAvgPool
        );
        if needs_image && flat {
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
        let layer: Box<dyn Layer> = match *spec {
            LayerSpec::Conv {
                filters,
                kernel,
                stride,
                padding,
            } => {
                let config = Conv2dConfig {
                    input: shape,
                    filters,
                    kernel,
                    stride,
                    padding,
                };
                if config.geometry().is_none() {
                    return Err(refuse(format!(
                        "a {kernel}×{kernel} window does not fit the {}×{} input without padding",
                        shape.h, shape.w
                    )));
                }
                // Checked before the layer is built: building it allocates its weights' workspace.
                let weights = [kernel, kernel, shape.c, filters]
                    .iter()
                    .try_fold(1usize, |n, &d| n.checked_mul(d));
                if weights.is_none_or(|n| n > MAX_PARAMS) {
                    return Err(refuse(format!(
                        "{filters} filters of {kernel}×{kernel}×{} are more than the {MAX_PARAMS} parameters supported",
                        shape.c
                    )));
                }
                Box::new(config.init())
            }
            LayerSpec::BatchNorm => Box::new(
                BatchNormConfig {
                    momentum: config.bn_momentum,
                    ..BatchNormConfig::keras(shape)
                }
                .init(),
            ),
            LayerSpec::Relu => Box::new(Relu::new(shape)),
            LayerSpec::MaxPool { pool, stride } => {
                let cfg = MaxPoolConfig {
                    input: shape,
                    pool,
                    stride,
                };
                if cfg.output().is_none() {
                    return Err(refuse(format!(
                        "a {pool}×{pool} window does not fit its {}×{} input (pooling below 1×1)",
                        shape.h, shape.w
                    )));
                }
                Box::new(cfg.init())
            }
            LayerSpec::GlobalAvgPool => Box::new(GlobalAvgPool::new(shape)),
            LayerSpec::Flatten => Box::new(Flatten::new(shape)),
            LayerSpec::Dense(units) => Box::new(
                DenseConfig {
                    d_in: shape.len(),
                    d_out: units,
                }
                .init(),
            ),
            LayerSpec::Dropout(rate) => Box::new(Dropout::new(shape, rate)),
        };
        flat |= matches!(
            spec,
            LayerSpec::Flatten | LayerSpec::Dense(_) | LayerSpec::GlobalAvgPool
        );
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

impl Sequential {
    /// Builds the model; tensors hold their initial values drawn from `seed`.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        let BuiltLayers {
            layers,
            flat,
            plan:
                ExecutionPlan {
                    skipped,
                    relu_grad_taken,
                    dest,
                    folds_next,
                    ..
                },
            specs,
        } = config.build()?;
        let mut params = ParamStore::new(&specs);
        let mut rng = seeded(seed);
        params.initialize(&mut rng);
        let no_dx_through = params
            .layer_ranges
            .iter()
            .position(|(v, _)| !v.is_empty())
            .unwrap_or(layers.len());
        Ok(Sequential {
            config,
            layers,
            flat,
            params,
            acts: Vec::new(),
            dacts: [Vec::new(), Vec::new()],
            capacity: 0,
            no_dx_through,
            skipped,
            relu_grad_taken,
            dest,
            folds_next,
            profile: None,
            rng,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The layers, normalization first.
    pub fn layers(&self) -> impl Iterator<Item = &dyn Layer> {
        self.layers.iter().map(|l| l.as_ref())
    }

    /// Whether layer `i`'s output is a flat vector.
    pub fn is_flat(&self, i: usize) -> bool {
        self.flat[i]
    }

    /// Sets the input normalization statistics (first layer's `mean` and `std`).
    pub fn set_normalization(&mut self, mean: &[f32], std: &[f32]) {
        let len = self.config.input.len();
        assert!(
            mean.len() == len && std.len() == len,
            "normalization statistics must have {len} values"
        );
        let state = &mut self.params.state[self.params.layer_ranges[0].1.clone()];
        state[..len].copy_from_slice(mean);
        state[len..].copy_from_slice(std);
    }

    /// Batches of up to this many samples run without allocating.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sizes every buffer for batches of up to `capacity` samples.
    pub fn reserve(&mut self, capacity: usize) {
        if capacity <= self.capacity {
            return;
        }
        self.capacity = capacity;
        let mut lens = vec![self.config.input.len()];
        lens.extend(self.layers.iter().map(|l| l.output_shape().len()));
        // Only the input and the buffers layers write to hold data.
        self.acts = lens
            .iter()
            .enumerate()
            .map(|(j, len)| match j == 0 || self.dest.contains(&j) {
                true => vec![0.0; len * capacity],
                false => Vec::new(),
            })
            .collect();
        let max = lens.iter().max().copied().unwrap_or(0) * capacity;
        self.dacts = [vec![0.0; max], vec![0.0; max]];
        for layer in &mut self.layers {
            layer.reserve(capacity);
        }
    }

    /// The input buffer for a batch of `n` raw images, to be filled before [`Self::forward`].
    pub fn input_mut(&mut self, n: usize) -> &mut [f32] {
        self.reserve(n);
        &mut self.acts[0][..n * self.config.input.len()]
    }

    /// Runs the batch of `n` images in the input buffer; returns the logits, `(n, classes)`.
    pub fn forward(&mut self, n: usize, mode: Mode) -> &[f32] {
        assert!(
            n <= self.capacity,
            "batch of {n} exceeds the reserved {}",
            self.capacity
        );
        let mut folded_away = false;
        for i in 0..self.layers.len() {
            if self.skipped[i] || std::mem::take(&mut folded_away) {
                continue;
            }
            let start = self.profile.is_some().then(Instant::now);
            let fold = self.folds_next[i].filter(|_| mode == Mode::Eval);
            let affine = fold.and_then(|_| {
                let (weights, state) = &self.params.layer_ranges[i + 1];
                self.layers[i + 1].eval_affine(
                    &self.params.values[weights.clone()],
                    &self.params.state[state.clone()],
                )
            });
            // A folded batch norm's output (or that of the ReLU it fused) is where this writes.
            let to = self.dest[if affine.is_some() { i + 1 } else { i }];
            let (before, after) = self.acts.split_at_mut(i + 1);
            let (weights, state) = &self.params.layer_ranges[i];
            let args = ForwardArgs {
                x: &before[i],
                y: &mut after[to - i - 1],
                n,
                weights: &self.params.values[weights.clone()],
                state: &mut self.params.state[state.clone()],
                mode,
                rng: &mut self.rng,
            };
            match (affine, fold) {
                (Some(affine), Some(FoldedNorm { relu })) => {
                    self.layers[i].forward_folded(args, &affine, relu);
                    folded_away = true;
                }
                _ => self.layers[i].forward(args),
            }
            if let (Some(profile), Some(start)) = (self.profile.as_mut(), start) {
                profile[i].forward += start.elapsed();
            }
        }
        let last = self.acts.last().expect("at least the input");
        &last[..n * self.config.classes]
    }

    /// Back-propagates `dlogits` `(n, classes)` from the last [`Mode::Train`] forward of `n`
    /// images, adding into `params.grads`.
    pub fn backward(&mut self, n: usize, dlogits: &[f32]) {
        let classes = self.config.classes;
        self.dacts[0][..n * classes].copy_from_slice(&dlogits[..n * classes]);
        let mut cur = 0;
        for i in (0..self.layers.len()).rev() {
            if self.layers[i].is_reshape() || self.relu_grad_taken[i] {
                continue; // the gradient passes through unchanged, in the same buffer
            }
            let start = self.profile.is_some().then(Instant::now);
            let (weights, _) = self.params.layer_ranges[i].clone();
            let [a, b] = &mut self.dacts;
            let (dy, dx) = if cur == 0 { (&*a, b) } else { (&*b, a) };
            self.layers[i].backward(BackwardArgs {
                x: &self.acts[i],
                y: &self.acts[self.dest[i]],
                dy,
                dx: (i > self.no_dx_through).then_some(dx.as_mut_slice()),
                n,
                weights: &self.params.values[weights.clone()],
                dweights: &mut self.params.grads[weights],
            });
            if let (Some(profile), Some(start)) = (self.profile.as_mut(), start) {
                profile[i].backward += start.elapsed();
            }
            if i <= self.no_dx_through {
                break;
            }
            cur = 1 - cur;
        }
    }

    /// Starts (or restarts from zero) timing every layer's forward and backward.
    pub fn start_profiling(&mut self) {
        self.profile = Some(vec![LayerTime::default(); self.layers.len()]);
    }

    /// Times per layer (normalization first) since [`Self::start_profiling`]; empty when off.
    pub fn layer_times(&self) -> &[LayerTime] {
        self.profile.as_deref().unwrap_or_default()
    }

    /// State of the dropout generator, for resuming.
    pub fn rng(&self) -> &Rng {
        &self.rng
    }

    /// Replaces the dropout generator.
    pub fn set_rng(&mut self, rng: Rng) {
        self.rng = rng;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(model: &str) -> (usize, usize) {
        Sequential::new(ModelConfig::new(model, "mnist", Normalization::None), 0)
            .unwrap()
            .params
            .counts()
    }

    #[test]
    fn presets_have_keras_parameter_counts() {
        assert_eq!(counts("linear"), (7_850, 0));
        assert_eq!(counts("mlp"), (269_322, 0));
        assert_eq!(counts("cnn"), (147_274, 0));
        assert_eq!(counts("cnn-bn"), (72_890, 448));
    }

    #[test]
    fn relus_are_taken_over_by_their_neighbours() {
        let model = Sequential::new(ModelConfig::new("cnn", "mnist", Normalization::None), 0);
        let model = model.unwrap();
        let tokens: Vec<_> = model.layers.iter().map(|l| l.token()).collect();
        let relu = |i: usize| tokens[i].as_deref() == Some("ReLU");
        for i in 1..tokens.len() {
            // Every ReLU's forward is done by the convolution or dense layer before it.
            assert_eq!(
                model.skipped[i],
                relu(i) || tokens[i].as_deref() == Some("F")
            );
            // The max-pools mask the gradient of the ReLUs before them.
            let before_pool = tokens
                .get(i + 1)
                .is_some_and(|t| t.as_deref() == Some("MP2"));
            assert_eq!(
                model.relu_grad_taken[i],
                relu(i) && before_pool,
                "layer {i}"
            );
        }
        assert_eq!(model.relu_grad_taken.iter().filter(|&&t| t).count(), 3);
    }

    #[test]
    fn batch_norm_takes_the_gradient_of_the_relu_it_applies() {
        let model = Sequential::new(ModelConfig::new("cnn-bn", "mnist", Normalization::None), 0);
        let model = model.unwrap();
        let tokens: Vec<_> = model.layers.iter().map(|l| l.token()).collect();
        let relus: Vec<usize> = (0..tokens.len())
            .filter(|&i| tokens[i].as_deref() == Some("ReLU"))
            .collect();
        assert_eq!(relus.len(), 6);
        for &i in &relus {
            assert_eq!(tokens[i - 1].as_deref(), Some("BN"));
            assert!(model.skipped[i] && model.relu_grad_taken[i], "layer {i}");
        }
        // None is left to the max-pools after two of them.
        let plan = plan_execution(&model.layers);
        assert!(plan.relu_grad_to_next.iter().all(|&t| !t));
    }

    /// Evaluation with each batch norm folded into the layer before it gives the logits of
    /// running them one after the other: with and without its ReLU, after a convolution (before
    /// a reshape, too) and after a dense layer.
    #[test]
    fn batch_norms_folded_into_the_layer_before_them_give_the_same_logits() {
        let arch = "16C3-BN-ReLU-MP2-32C5-BN-F-D32-BN-ReLU-D10";
        let build = || {
            let config = ModelConfig::new(arch, "mnist", Normalization::None);
            let mut model = Sequential::new(config, 3).unwrap();
            for (i, layer) in model.layers.iter().enumerate() {
                if layer.kind() != LayerKind::BatchNorm {
                    continue;
                }
                let (weights, state) = model.params.layer_ranges[i].clone();
                let c = weights.len() / 2;
                for (j, v) in model.params.values[weights].iter_mut().enumerate() {
                    *v = if j < c {
                        1.0 + 0.3 * (j as f32).sin()
                    } else {
                        0.2 * (j as f32).cos()
                    };
                }
                for (j, v) in model.params.state[state].iter_mut().enumerate() {
                    *v = if j < c {
                        0.3 * (j as f32).sin()
                    } else {
                        0.5 + (j as f32).cos().powi(2)
                    };
                }
            }
            model
        };
        let (mut folded, mut plain) = (build(), build());
        let relus: Vec<bool> = folded.folds_next.iter().flatten().map(|f| f.relu).collect();
        assert_eq!(relus, [true, false, true]);
        plain.folds_next.iter_mut().for_each(|f| *f = None);
        let n = 3;
        for model in [&mut folded, &mut plain] {
            let x = model.input_mut(n);
            x.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = (i as f32 * 0.013).sin().abs());
        }
        let want = plain.forward(n, Mode::Eval).to_vec();
        let got = folded.forward(n, Mode::Eval).to_vec();
        crate::kernels::reference::assert_close(&got, &want, 1e-5, "folded logits");
        assert_ne!(got, want, "the folded path ran");
    }

    #[test]
    fn unbuildable_notations_are_refused_with_the_token() {
        for (arch, needle) in [
            ("D10-16C3-D10", "token 2 \"16C3\""),
            ("MP2-MP2-MP2-MP2-MP2-D10", "pooling below 1×1"),
            ("16C3-GAP", "must end with a dense layer of 10 units"),
            ("D12", "D10"),
        ] {
            let err = Sequential::new(ModelConfig::new(arch, "mnist", Normalization::None), 0)
                .err()
                .unwrap();
            assert!(err.to_string().contains(needle), "{arch}: {err}");
        }
    }
}
