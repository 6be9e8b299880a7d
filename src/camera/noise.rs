//! Cheap, seeded per-pixel randomness for the simulated camera.
//!
//! Drawing a Gaussian per pixel with a real generator costs more than the rest of a frame, so the
//! camera draws one table of standard-normal values at construction and, per frame and row, reads
//! a contiguous slice of it at a pseudo-random start. Neighbouring rows and frames get unrelated
//! slices; that is plenty random for a simulation and costs one add per pixel. Samples are stored
//! as `i8` in steps of 1/32 (clipped at ±3.97 sigma) so that the table stays in the L2 cache.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// log2 of the number of distinct table entries.
const TABLE_BITS: u32 = 18;
/// Standard deviations per table step.
pub(crate) const STEP: f32 = 1.0 / 32.0;

/// A table of standard-normal samples read in row-sized slices.
#[derive(Debug, Clone)]
pub(crate) struct NoiseTable {
    /// `2^TABLE_BITS + max_row` samples in units of [`STEP`], so any start in
    /// `0..2^TABLE_BITS` has a full row after it.
    gauss: Vec<i8>,
    /// Sorted absolute values of the first `2^TABLE_BITS` samples, for dropout thresholds.
    abs_sorted: Vec<u8>,
}

impl NoiseTable {
    /// A table whose slices are at least `max_row` long, fully determined by `seed`.
    pub(crate) fn new(max_row: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6e6f_6973_655f_7462);
        let n = 1usize << TABLE_BITS;
        let gauss: Vec<i8> = (0..n + max_row)
            .map(|_| {
                (rng.sample::<f32, _>(StandardNormal) / STEP)
                    .round()
                    .clamp(-127.0, 127.0) as i8
            })
            .collect();
        let mut abs_sorted: Vec<u8> = gauss.iter().take(n).map(|g| g.unsigned_abs()).collect();
        abs_sorted.sort_unstable();
        Self { gauss, abs_sorted }
    }

    /// The `|g|` (table steps) above which about a fraction `p` (0..=1) of entries lie; 128 (more
    /// than any entry) for p = 0.
    pub(crate) fn abs_threshold(&self, p: f32) -> i16 {
        if p.is_nan() || p <= 0.0 {
            return 128;
        }
        let n = self.abs_sorted.len();
        let k = ((1.0 - p.min(1.0)) * n as f32) as usize;
        self.abs_sorted
            .get(k.min(n.saturating_sub(1)))
            .map_or(0, |&v| i16::from(v))
    }

    /// A slice of `len` samples starting at a position derived from `key` (e.g. frame and row).
    /// `len` must not exceed the `max_row` given at construction; a longer request is shortened.
    pub(crate) fn row(&self, key: u64, len: usize) -> &[i8] {
        let start = (splitmix64(key) as usize) & ((1usize << TABLE_BITS) - 1);
        let end = (start + len).min(self.gauss.len());
        self.gauss.get(start..end).unwrap_or(&[])
    }
}

/// SplitMix64 finaliser: a fast, well-mixed hash of a 64-bit key.
pub(crate) fn splitmix64(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_standard_normal() {
        let t = NoiseTable::new(16, 7);
        let n = t.gauss.len() as f64;
        let step = f64::from(STEP);
        let mean = t.gauss.iter().map(|&g| g as f64 * step).sum::<f64>() / n;
        let var = t
            .gauss
            .iter()
            .map(|&g| (g as f64 * step - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn threshold_matches_two_sided_normal_tail() {
        let t = NoiseTable::new(16, 3);
        // P(|Z| > 1.96) = 0.05 for a standard normal.
        let thr = f32::from(t.abs_threshold(0.05)) * STEP;
        assert!((thr - 1.96).abs() < 0.04, "threshold {thr}");
        assert_eq!(t.abs_threshold(0.0), 128);
    }

    #[test]
    fn rows_have_requested_length_and_differ() {
        let t = NoiseTable::new(848, 1);
        let a = t.row(1, 848);
        let b = t.row(2, 848);
        assert_eq!(a.len(), 848);
        assert_eq!(b.len(), 848);
        assert_ne!(a, b);
    }
}
