//! How a model runs its layers: which are skipped, which ReLUs and batch norms a neighbour
//! applies, decided once from what the layers can do.

use crate::layers::{Layer, LayerKind};

/// How a model runs its layers, decided once from what the layers can do.
pub(super) struct ExecutionPlan {
    /// Per layer: its forward is skipped (a reshape, or a ReLU the layer before applies).
    pub(super) skipped: Vec<bool>,
    /// Per layer: a ReLU whose gradient mask the layer before (which fused it) or the layer after
    /// applies; its backward is skipped.
    pub(super) relu_grad_taken: Vec<bool>,
    /// Per layer: a ReLU whose gradient mask the layer after applies.
    pub(super) relu_grad_to_next: Vec<bool>,
    /// Per layer: the activation buffer its output goes to (see [`Sequential::dest`](super::Sequential::dest)).
    pub(super) dest: Vec<usize>,
    /// Per layer: in evaluation it computes the batch norm after it too (see
    /// [`Sequential::folds_next`](super::Sequential::folds_next)).
    pub(super) folds_next: Vec<Option<FoldedNorm>>,
}

/// A batch norm a layer computes in evaluation through folded weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FoldedNorm {
    /// Whether the batch norm applies the ReLU after it, which the layer then applies.
    pub(super) relu: bool,
}

/// The plan for `layers`: reshapes skipped, each ReLU taken over by the layer before it where
/// that layer can apply it in its output loop, and its gradient mask by that same layer where it
/// applies the mask of a ReLU it fused, else by the layer after it where that one can. Asks
/// only (the capabilities are borrowed mutably, nothing is changed); [`apply_plan`] tells the
/// layers.
pub(super) fn plan_execution(layers: &mut [Box<dyn Layer>]) -> ExecutionPlan {
    let is_relu: Vec<bool> = layers.iter().map(|l| l.kind() == LayerKind::Relu).collect();
    let mut skipped = vec![false; layers.len()];
    for i in 1..layers.len() {
        skipped[i] = layers[i].is_reshape()
            || (is_relu[i] && !skipped[i - 1] && layers[i - 1].relu_fusion().is_some());
    }
    let mut relu_grad_to_next = vec![false; layers.len()];
    let mut relu_grad_taken = vec![false; layers.len()];
    for i in 1..layers.len().saturating_sub(1) {
        let by_fusing_layer = skipped[i]
            && layers[i - 1]
                .relu_fusion()
                .is_some_and(|f| f.masks_fused_relu_grad());
        relu_grad_to_next[i] =
            is_relu[i] && !by_fusing_layer && layers[i + 1].relu_grad_mask().is_some();
        relu_grad_taken[i] = is_relu[i] && (by_fusing_layer || relu_grad_to_next[i]);
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
                && layers[i].affine_folding().is_some()
                && layers[i + 1].kind() == LayerKind::BatchNorm
                && !skipped[i + 1];
            folds.then(|| FoldedNorm {
                relu: i + 2 < layers.len() && is_relu[i + 2] && skipped[i + 2],
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

/// Tells each layer what the plan gives it to do; the plan only gives a layer work it said it
/// can do.
pub(super) fn apply_plan(layers: &mut [Box<dyn Layer>], plan: &ExecutionPlan) {
    for i in 1..layers.len() {
        if plan.skipped[i] && layers[i].kind() == LayerKind::Relu {
            if let Some(fusion) = layers[i - 1].relu_fusion() {
                fusion.fuse_relu();
            }
        }
    }
    for i in 0..layers.len().saturating_sub(1) {
        if plan.relu_grad_to_next[i] {
            if let Some(mask) = layers[i + 1].relu_grad_mask() {
                mask.mask_relu_grad();
            }
        }
    }
}
