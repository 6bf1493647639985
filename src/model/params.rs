//! All tensors of a model in two flat buffers: trainable values (with their gradients) and state
//! (running statistics and constants). Each tensor is a named slot into one of them, so the
//! optimiser makes one pass over `values`/`grads` and saving a model is one loop over slots.

use crate::layers::{Init, ParamKind, ParamSpec};
use crate::rng::{glorot_uniform, Rng};
use std::ops::Range;

/// One named tensor inside a [`ParamStore`].
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    /// `"{layer}.{name}"`, e.g. `3.running_var`.
    pub key: String,
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// Where it lives in its buffer.
    pub range: Range<usize>,
    /// Trainable, non-trainable or constant.
    pub kind: ParamKind,
    /// Initial values.
    pub init: Init,
    /// Kernels get L2 regularization.
    pub is_kernel: bool,
}

/// Flat storage of every tensor of a model.
#[derive(Clone, Debug, Default)]
pub struct ParamStore {
    /// Trainable values.
    pub values: Vec<f32>,
    /// Gradients of `values`, same layout.
    pub grads: Vec<f32>,
    /// Non-trainable tensors and constants.
    pub state: Vec<f32>,
    /// Trainable slots (into `values`), in layer order.
    pub trainable: Vec<Slot>,
    /// Other slots (into `state`), in layer order.
    pub other: Vec<Slot>,
    /// Per layer: its range in `values` and its range in `state`.
    pub layer_ranges: Vec<(Range<usize>, Range<usize>)>,
}

impl ParamStore {
    /// Lays out the tensors of each layer, in order.
    pub fn new(layers: &[Vec<ParamSpec>]) -> Self {
        let mut store = ParamStore::default();
        for (index, specs) in layers.iter().enumerate() {
            let (v0, s0) = (store.values.len(), store.state.len());
            for spec in specs {
                let (buffer, slots) = match spec.kind {
                    ParamKind::Trainable => (&mut store.values, &mut store.trainable),
                    _ => (&mut store.state, &mut store.other),
                };
                let range = buffer.len()..buffer.len() + spec.len();
                buffer.resize(range.end, 0.0);
                slots.push(Slot {
                    key: format!("{index}.{}", spec.name),
                    shape: spec.shape.clone(),
                    range,
                    kind: spec.kind,
                    init: spec.init,
                    is_kernel: spec.is_kernel,
                });
            }
            store
                .layer_ranges
                .push((v0..store.values.len(), s0..store.state.len()));
        }
        store.grads = vec![0.0; store.values.len()];
        store
    }

    /// Sets every tensor to its initial values, drawing kernels from `rng` in layer order.
    pub fn initialize(&mut self, rng: &mut Rng) {
        for slot in &self.trainable {
            fill(&mut self.values[slot.range.clone()], slot.init, rng);
        }
        for slot in &self.other {
            fill(&mut self.state[slot.range.clone()], slot.init, rng);
        }
    }

    /// All slots, trainable first.
    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.trainable.iter().chain(&self.other)
    }

    /// The values of `slot`.
    pub fn get(&self, slot: &Slot) -> &[f32] {
        match slot.kind {
            ParamKind::Trainable => &self.values[slot.range.clone()],
            _ => &self.state[slot.range.clone()],
        }
    }

    /// The values of `slot`, writable.
    pub fn get_mut(&mut self, slot: &Slot) -> &mut [f32] {
        match slot.kind {
            ParamKind::Trainable => &mut self.values[slot.range.clone()],
            _ => &mut self.state[slot.range.clone()],
        }
    }

    /// Counts as Keras reports them: (trainable, non-trainable). Constants count in neither.
    pub fn counts(&self) -> (usize, usize) {
        let non_trainable = self
            .other
            .iter()
            .filter(|s| s.kind == ParamKind::NonTrainable)
            .map(|s| s.range.len())
            .sum();
        (self.values.len(), non_trainable)
    }

    /// Zeroes the gradients (backward adds into them).
    pub fn zero_grad(&mut self) {
        self.grads.fill(0.0);
    }
}

fn fill(out: &mut [f32], init: Init, rng: &mut Rng) {
    match init {
        Init::Zeros => out.fill(0.0),
        Init::Ones => out.fill(1.0),
        Init::GlorotUniform { fan_in, fan_out } => glorot_uniform(rng, out, fan_in, fan_out),
    }
}
