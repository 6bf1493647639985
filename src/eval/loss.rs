//! Softmax fused with categorical cross-entropy: stable (max-shifted log-sum-exp) and with the
//! simple gradient `(softmax − target) / n`.

/// Writes the softmax of each row of `logits` (rows of `classes` values) into `probs`, in `f64`
/// so that tiny probabilities keep their logarithm (ensembles score averaged probabilities).
pub fn softmax_into(logits: &[f32], probs: &mut [f64], classes: usize) {
    for (row, out) in logits
        .chunks_exact(classes)
        .zip(probs.chunks_exact_mut(classes))
    {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0;
        for (o, &v) in out.iter_mut().zip(row) {
            *o = ((v - max) as f64).exp();
            sum += *o;
        }
        out.iter_mut().for_each(|o| *o /= sum);
    }
}

/// Label smoothing as Keras' `CategoricalCrossentropy(label_smoothing=ε)` and PyTorch's
/// `CrossEntropyLoss(label_smoothing=ε)`: each target row becomes `(1 − ε)·target + ε/classes`.
/// The loss against these targets, and its gradient `(softmax − target) / n`, are then the
/// smoothed ones.
pub fn smooth_labels(targets: &mut [f32], epsilon: f32, classes: usize) {
    let spread = epsilon / classes as f32;
    let rows = targets.len() / classes;
    targets[..rows * classes]
        .iter_mut()
        .for_each(|t| *t = (1.0 - epsilon) * *t + spread);
}

/// Index of the largest value (the first one on ties).
pub fn argmax<T: PartialOrd>(row: &[T]) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

/// Loss and accuracy of one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchScore {
    /// Sum over samples of −Σ target·log softmax.
    pub loss_sum: f64,
    /// Samples whose top logit is the target's top class.
    pub correct: usize,
}

/// Categorical cross-entropy of `logits` (n, classes) against `targets` (n, classes; one-hot or
/// probabilities). When `dlogits` is given it receives `(softmax − target) / n`, the gradient of
/// the batch's mean loss.
pub fn softmax_cross_entropy(
    logits: &[f32],
    targets: &[f32],
    classes: usize,
    mut dlogits: Option<&mut [f32]>,
) -> BatchScore {
    let n = logits.len() / classes;
    let mut score = BatchScore::default();
    for (i, (row, target)) in logits
        .chunks_exact(classes)
        .zip(targets.chunks_exact(classes))
        .enumerate()
    {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let sum_exp: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
        let log_sum = sum_exp.ln();
        score.loss_sum -= row
            .iter()
            .zip(target)
            .map(|(&v, &t)| t as f64 * ((v - max) as f64 - log_sum))
            .sum::<f64>();
        if argmax(row) == argmax(target) {
            score.correct += 1;
        }
        if let Some(d) = dlogits.as_deref_mut() {
            for ((d, &v), &t) in d[i * classes..(i + 1) * classes]
                .iter_mut()
                .zip(row)
                .zip(target)
            {
                *d = ((((v - max) as f64).exp() / sum_exp) as f32 - t) / n as f32;
            }
        }
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_cost_log_k_and_large_logits_stay_finite() {
        let score = softmax_cross_entropy(&[0.0; 4], &[0.0, 1.0, 0.0, 0.0], 4, None);
        assert!((score.loss_sum - 4f64.ln()).abs() < 1e-9);
        let mut d = [0.0; 2];
        let score = softmax_cross_entropy(&[1000.0, -1000.0], &[0.0, 1.0], 2, Some(&mut d));
        assert!((score.loss_sum - 2000.0).abs() < 1e-3, "{}", score.loss_sum);
        assert_eq!(score.correct, 0);
        assert_eq!(d, [1.0, -1.0]);
    }

    #[test]
    fn gradient_is_softmax_minus_target_over_n() {
        let logits = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
        let targets = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let mut d = [0.0; 6];
        let score = softmax_cross_entropy(&logits, &targets, 3, Some(&mut d));
        let mut p = [0.0; 6];
        softmax_into(&logits, &mut p, 3);
        for i in 0..6 {
            assert!((d[i] - (p[i] as f32 - targets[i]) / 2.0).abs() < 1e-7);
        }
        assert_eq!(score.correct, 2); // row 2 ties: argmax picks class 0, the target
        let want = -p[2].ln() - p[3].ln();
        assert!((score.loss_sum - want).abs() < 1e-6);
    }

    /// Smoothed targets: the definition's values, the loss Keras computes for them
    /// (−Σ smoothed·log softmax), and a gradient that matches finite differences of that loss.
    #[test]
    fn label_smoothing_gives_keras_targets_loss_and_gradient() {
        let mut targets = vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        smooth_labels(&mut targets, 0.3, 3);
        assert_eq!(targets, [0.1, 0.8, 0.1, 0.1, 0.1, 0.8]);

        let logits = [0.5f32, 2.0, -1.0, 0.2, 0.1, 0.4];
        let mut d = [0.0; 6];
        let score = softmax_cross_entropy(&logits, &targets, 3, Some(&mut d));
        let mut p = [0.0; 6];
        softmax_into(&logits, &mut p, 3);
        let want: f64 = (0..6).map(|i| -(targets[i] as f64) * p[i].ln()).sum();
        assert!((score.loss_sum - want).abs() < 1e-6);
        let mean_loss = |l: &[f32]| softmax_cross_entropy(l, &targets, 3, None).loss_sum / 2.0;
        for i in 0..6 {
            let h = 1e-2;
            let (mut up, mut down) = (logits, logits);
            up[i] += h;
            down[i] -= h;
            let numeric = (mean_loss(&up) - mean_loss(&down)) / (2.0 * h as f64);
            assert!(
                (d[i] as f64 - numeric).abs() < 1e-4,
                "[{i}]: {} vs {numeric}",
                d[i]
            );
        }
        // ε = 0 leaves one-hot targets as they are.
        let mut one_hot = vec![0.0, 0.0, 1.0];
        smooth_labels(&mut one_hot, 0.0, 3);
        assert_eq!(one_hot, [0.0, 0.0, 1.0]);
    }
}
