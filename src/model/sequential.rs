//! [`Sequential`]: a stack of layers run over flat buffers as its execution plan says.

use super::config::BuiltLayers;
use super::plan::{ExecutionPlan, FoldedNorm};
use super::{ModelConfig, ParamStore};
use crate::error::Result;
use crate::layers::{BackwardArgs, ForwardArgs, Layer, Mode};
use crate::rng::{seeded, Rng};
use std::time::{Duration, Instant};

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
            let layer = &mut self.layers[i];
            match (affine.zip(fold), layer.affine_folding()) {
                (Some((affine, FoldedNorm { relu })), Some(folding)) => {
                    folding.forward_folded(args, &affine, relu);
                    folded_away = true;
                }
                _ => layer.forward(args),
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
    use crate::data::Dataset;
    use crate::layers::{LayerKind, LayerSpec};
    use crate::model::plan::plan_execution;
    use crate::model::Normalization;

    fn counts(model: &str) -> (usize, usize) {
        Sequential::new(
            ModelConfig::new(model, Dataset::Mnist, Normalization::None),
            0,
        )
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
        let model = Sequential::new(
            ModelConfig::new("cnn", Dataset::Mnist, Normalization::None),
            0,
        );
        let model = model.unwrap();
        let specs: Vec<_> = model.layers.iter().map(|l| l.spec()).collect();
        let relu = |i: usize| specs[i] == Some(LayerSpec::Relu);
        for i in 1..specs.len() {
            // Every ReLU's forward is done by the convolution or dense layer before it.
            assert_eq!(
                model.skipped[i],
                relu(i) || specs[i] == Some(LayerSpec::Flatten)
            );
            // The max-pools mask the gradient of the ReLUs before them.
            let before_pool = specs
                .get(i + 1)
                .is_some_and(|s| matches!(s, Some(LayerSpec::MaxPool { .. })));
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
        let model = Sequential::new(
            ModelConfig::new("cnn-bn", Dataset::Mnist, Normalization::None),
            0,
        );
        let mut model = model.unwrap();
        let specs: Vec<_> = model.layers.iter().map(|l| l.spec()).collect();
        let relus: Vec<usize> = (0..specs.len())
            .filter(|&i| specs[i] == Some(LayerSpec::Relu))
            .collect();
        assert_eq!(relus.len(), 6);
        for &i in &relus {
            assert_eq!(specs[i - 1], Some(LayerSpec::BatchNorm));
            assert!(model.skipped[i] && model.relu_grad_taken[i], "layer {i}");
        }
        // None is left to the max-pools after two of them.
        let plan = plan_execution(&mut model.layers);
        assert!(plan.relu_grad_to_next.iter().all(|&t| !t));
    }

    /// Evaluation with each batch norm folded into the layer before it gives the logits of
    /// running them one after the other: with and without its ReLU, after a convolution (before
    /// a reshape, too) and after a dense layer.
    #[test]
    fn batch_norms_folded_into_the_layer_before_them_give_the_same_logits() {
        let arch = "16C3-BN-ReLU-MP2-32C5-BN-F-D32-BN-ReLU-D10";
        let build = || {
            let config = ModelConfig::new(arch, Dataset::Mnist, Normalization::None);
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
            let err = Sequential::new(
                ModelConfig::new(arch, Dataset::Mnist, Normalization::None),
                0,
            )
            .err()
            .unwrap();
            assert!(err.to_string().contains(needle), "{arch}: {err}");
        }
    }
}
