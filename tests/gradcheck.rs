//! Finite-difference checks of every layer's backward pass. Each model puts a trainable layer
//! first, so the gradient of its weights also checks the input gradients of every layer after it.

use mnistlab::data::Dataset;
use mnistlab::eval::loss::softmax_cross_entropy;
use mnistlab::layers::{Mode, Shape};
use mnistlab::model::{ModelConfig, Normalization, Sequential};
use mnistlab::rng::seeded;
use rand::Rng;

/// Central-difference steps: large ones beat f32 rounding noise in wide layers, small ones
/// resolve ReLU/max-pool kinks.
const STEPS: [f32; 4] = [1e-2, 1e-3, 3e-4, 1e-4];
/// Allowed |analytic − numeric| relative to the larger magnitude, plus an absolute floor.
const REL_TOL: f32 = 2e-2;
const ABS_TOL: f32 = 3e-4;
/// Parameters checked per tensor (spread evenly), to keep the test fast.
const SAMPLES_PER_TENSOR: usize = 24;

struct Problem {
    model: Sequential,
    x: Vec<f32>,
    targets: Vec<f32>,
    n: usize,
}

impl Problem {
    fn new(arch: &str, input: Shape, n: usize) -> Self {
        let config = ModelConfig {
            input,
            ..ModelConfig::new(arch, Dataset::Mnist, Normalization::None)
        };
        let mut model = Sequential::new(config, 3).unwrap();
        // Biases and BN offsets start at zero; move them so their gradients are generic.
        let mut rng = seeded(11);
        for v in &mut model.params.values {
            *v += rng.random_range(-0.1..0.1);
        }
        let x = (0..n * input.len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let mut targets = vec![0.0; n * 10];
        for row in targets.chunks_mut(10) {
            row[rng.random_range(0..10)] = 1.0;
        }
        model.reserve(n);
        Problem {
            model,
            x,
            targets,
            n,
        }
    }

    /// Mean loss of the batch; dropout masks are the same on every call.
    fn loss(&mut self) -> f64 {
        self.model.set_rng(seeded(5));
        self.model.input_mut(self.n).copy_from_slice(&self.x);
        let logits = self.model.forward(self.n, Mode::Train);
        softmax_cross_entropy(logits, &self.targets, 10, None).loss_sum / self.n as f64
    }

    /// Central difference of the loss in parameter `i` with step `eps`.
    fn numeric(&mut self, i: usize, eps: f32) -> f32 {
        let orig = self.model.params.values[i];
        self.model.params.values[i] = orig + eps;
        let up = self.loss();
        self.model.params.values[i] = orig - eps;
        let down = self.loss();
        self.model.params.values[i] = orig;
        ((up - down) / (2.0 * eps as f64)) as f32
    }

    fn analytic(&mut self) -> Vec<f32> {
        self.model.set_rng(seeded(5));
        self.model.input_mut(self.n).copy_from_slice(&self.x);
        let logits = self.model.forward(self.n, Mode::Train).to_vec();
        let mut dlogits = vec![0.0; logits.len()];
        softmax_cross_entropy(&logits, &self.targets, 10, Some(&mut dlogits));
        self.model.params.zero_grad();
        self.model.backward(self.n, &dlogits);
        self.model.params.grads.clone()
    }
}

/// One gradient check: what it covers, the model, one input's (height, width, channels) and the
/// batch size.
struct Case {
    covers: &'static str,
    arch: &'static str,
    input: (usize, usize, usize),
    n: usize,
}

const fn case(
    covers: &'static str,
    arch: &'static str,
    input: (usize, usize, usize),
    n: usize,
) -> Case {
    Case {
        covers,
        arch,
        input,
        n,
    }
}

/// Every layer, every convolution path (the implicit-GEMM and Winograd ones take sixteen
/// channels where AVX-512 or AVX2 exists) and every way the model fuses a ReLU.
const CASES: &[Case] = &[
    case("dense and ReLU", "D7-ReLU-D10", (3, 3, 1), 4),
    case(
        "3×3 convolution, same padding, flatten",
        "3C3-F-D10",
        (5, 5, 2),
        3,
    ),
    case(
        "strided 5×5 convolution, then max-pool",
        "4C3-4C5s2-MP2-D10",
        (8, 7, 1),
        3,
    ),
    case(
        "max-pool with overlapping windows",
        "3C3-MP3s2-D10",
        (7, 7, 1),
        2,
    ),
    case(
        "batch norm on images and on vectors",
        "4C3-BN-F-D6-BN-D10",
        (4, 4, 1),
        5,
    ),
    case("global average pooling", "5C3-BN-GAP-D10", (5, 5, 1), 3),
    case(
        "dropout with a fixed mask",
        "D12-Drop0.4-ReLU-D10",
        (3, 3, 1),
        4,
    ),
    case(
        "the tutorial's BN+GAP CNN, scaled down",
        "4C3-BN-ReLU-4C3-BN-ReLU-MP2-8C3-BN-ReLU-MP2-GAP-D10",
        (8, 8, 1),
        2,
    ),
    // 40 images: the convolution splits the batch into slices whose weight-gradient parts
    // must add up.
    case(
        "a batch of several convolution slices",
        "2C3-F-D10",
        (12, 12, 1),
        40,
    ),
    // The second convolution (16 input channels) takes the implicit input gradient, the one
    // after a 4-channel layer the column one.
    case(
        "implicit convolutions, 16 filters",
        "16C3-16C3-F-D10",
        (5, 5, 1),
        3,
    ),
    case(
        "implicit convolution after 4 channels",
        "4C3-16C4-ReLU-GAP-D10",
        (6, 5, 1),
        3,
    ),
    case(
        "implicit 5×5 then 3×3",
        "16C5-BN-32C3-GAP-D10",
        (6, 6, 1),
        2,
    ),
    // Winograd: forward, input gradient (the flipped-kernel plan) and the weight gradient
    // summed transformed; an odd size leaves partial tiles.
    case("Winograd 5×5", "16C3-16C5-GAP-D10", (6, 5, 1), 3),
    case(
        "Winograd 5×5, two layers",
        "16C3-32C5-ReLU-MP2-16C5-F-D10",
        (7, 7, 1),
        2,
    ),
    case(
        "valid padding, strided (im2col)",
        "4C3s2v-4C3v-F-D10",
        (9, 8, 1),
        3,
    ),
    case(
        "valid padding, 16 filters, dropout after a convolution",
        "16C3v-16C3v-Drop0.3-16C5v-GAP-D10",
        (10, 9, 1),
        2,
    ),
    case(
        "valid window as large as its input",
        "16C3v-BN-ReLU-32C4v-F-D10",
        (6, 6, 1),
        2,
    ),
    // The convolution applies the ReLU and writes past the skipped Flatten into the buffer the
    // dense layer reads.
    case(
        "ReLU taken over, then flatten",
        "4C3-ReLU-D10",
        (5, 5, 2),
        3,
    ),
    case(
        "ReLUs taken over around a flatten",
        "4C3-BN-ReLU-F-D6-ReLU-D10",
        (4, 4, 1),
        3,
    ),
    // The max-pool applies the ReLU's gradient mask: after a fused ReLU, after one that runs
    // its own forward, and beside a batch norm that applies the mask itself.
    case(
        "ReLU mask in the max-pool after it",
        "4C3-ReLU-MP2-F-D10",
        (6, 6, 1),
        3,
    ),
    case(
        "ReLU masks in max-pools beside a batch norm",
        "4C3-BN-ReLU-MP2-4C3-ReLU-MP2-GAP-D10",
        (8, 8, 1),
        3,
    ),
    case(
        "ReLU mask between two max-pools",
        "4C3-MP2-ReLU-MP2-F-D10",
        (8, 8, 1),
        3,
    ),
    // Batch norm with its ReLU fused applies the gradient mask in its own backward, before a
    // convolution, a dense layer and global average pooling, on images and on vectors.
    case(
        "ReLU mask in the batch norm that applies it",
        "4C3-BN-ReLU-4C3-BN-ReLU-MP2-F-D10",
        (6, 6, 1),
        2,
    ),
    case(
        "ReLU mask in a batch norm on vectors",
        "4C3-BN-ReLU-F-D8-BN-ReLU-D10",
        (4, 4, 1),
        4,
    ),
];

/// Compares the analytic gradient of every trainable tensor of `case` with finite differences.
fn check(case: &Case) {
    let Case {
        covers,
        arch,
        input,
        n,
    } = *case;
    let mut p = Problem::new(arch, Shape::new(input.0, input.1, input.2), n);
    let grads = p.analytic();
    let slots = p.model.params.trainable.clone();
    let mut checked = 0;
    for slot in &slots {
        let stride = (slot.range.len() / SAMPLES_PER_TENSOR).max(1);
        for i in slot.range.clone().step_by(stride) {
            let analytic = grads[i];
            // A ReLU or max-pool switching within ±step bends the difference quotient; it
            // converges as the step shrinks, so a point passes when one of three steps agrees.
            // A wrong backward disagrees with all of them.
            let numeric: Vec<f32> = STEPS.iter().map(|&eps| p.numeric(i, eps)).collect();
            assert!(
                numeric
                    .iter()
                    .any(|&q| (q - analytic).abs()
                        <= REL_TOL * q.abs().max(analytic.abs()) + ABS_TOL),
                "{covers} ({arch}): {} [{}]: analytic {analytic} vs numeric {numeric:?}",
                slot.key,
                i - slot.range.start
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[test]
fn every_backward_pass_matches_finite_differences() {
    for case in CASES {
        check(case);
    }
}
