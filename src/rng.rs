//! Seeded randomness. There is no global generator: every random choice (initialisation, shuffling,
//! dropout, augmentation) draws from an [`Rng`] that was passed in, so a seed fixes a whole run.

use rand::{Rng as _, SeedableRng};

/// The generator used everywhere: PCG-64, small, fast, serialisable for resuming.
pub type Rng = rand_pcg::Pcg64;

/// A generator seeded from `seed`.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// Fills `out` with Glorot-uniform values (Keras' default kernel initialiser):
/// uniform in ±sqrt(6 / (fan_in + fan_out)).
pub fn glorot_uniform(rng: &mut Rng, out: &mut [f32], fan_in: usize, fan_out: usize) {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    for v in out {
        *v = rng.random_range(-limit..limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_values_stay_inside_the_limit_and_cover_it() {
        let mut rng = seeded(1);
        let mut w = vec![0.0; 10_000];
        glorot_uniform(&mut rng, &mut w, 100, 50);
        let limit = (6.0f32 / 150.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            max > 0.95 * limit,
            "values should fill the range, max {max}"
        );
    }

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (seeded(7), seeded(7));
        let (mut x, mut y) = (vec![0.0; 8], vec![0.0; 8]);
        glorot_uniform(&mut a, &mut x, 3, 3);
        glorot_uniform(&mut b, &mut y, 3, 3);
        assert_eq!(x, y);
    }
}
