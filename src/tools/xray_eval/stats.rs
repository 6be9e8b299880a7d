//! The statistics of `edge-screen xray-eval`: Wilson intervals, the patient (cluster) bootstrap
//! and the Mann-Whitney AUC.

use rand::{Rng, SeedableRng};

/// Wilson score interval for k of n at 95 %.
pub fn wilson(k: usize, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let den = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / den;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / den;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// Mann-Whitney AUC of `pos` against `neg`, ties counted as one half.
pub fn auc(pos: &[f64], neg: &[f64]) -> Option<f64> {
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = neg.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut total = 0.0;
    for &p in pos {
        let below = sorted.partition_point(|&v| v < p);
        let not_above = sorted.partition_point(|&v| v <= p);
        total += below as f64 + 0.5 * (not_above - below) as f64;
    }
    Some(total / (pos.len() as f64 * neg.len() as f64))
}

/// Percentile interval of k/n when clusters (patients) are resampled with replacement.
/// `clusters` holds (correct, images) per patient.
pub fn cluster_bootstrap(clusters: &[(usize, usize)], draws: usize, seed: u64) -> [f64; 2] {
    if clusters.is_empty() || draws == 0 {
        return [0.0, 1.0];
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(draws);
    for _ in 0..draws {
        let (mut k, mut n) = (0usize, 0usize);
        for _ in 0..clusters.len() {
            let (ck, cn) = clusters[rng.gen_range(0..clusters.len())];
            k += ck;
            n += cn;
        }
        values.push(k as f64 / n.max(1) as f64);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((q * (draws - 1) as f64).round() as usize).min(draws - 1)];
    [at(0.025), at(0.975)]
}
