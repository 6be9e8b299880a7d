//! Breath detection on a band-passed window: peaks and troughs found with hysteresis relative to the
//! recent breath amplitude, giving breath times and depths, and a rate
//! from counted breaths.

/// One detected breath (trough → peak is the inspiration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectedBreath {
    /// Time of the end-inspiratory peak, s on the stream's clock.
    pub peak_s: f64,
    /// Time of the preceding trough (start of inspiration), s.
    pub trough_s: f64,
    /// Peak minus preceding trough, in the signal's units (mm live).
    pub depth: f32,
}

/// Length of the blocks over which the local amplitude is measured, s.
const BLOCK_S: f64 = 5.0;
/// Hysteresis as a fraction of the local peak-to-trough range (blocks within ±1 of the sample's).
const LOCAL_FRACTION: f32 = 0.2;
/// Hysteresis never below this fraction of the window's robust amplitude.
const GLOBAL_FRACTION: f32 = 0.05;

/// Append the alternating local extrema of `x` (index, value, is_peak): a turn counts once the
/// signal has moved back by `h(i)`.
fn extrema(x: &[f32], h: impl Fn(usize) -> f32, out: &mut Vec<(usize, f32, bool)>) {
    out.clear();
    // state: 0 = undecided, 1 = seeking a peak, 2 = seeking a trough
    let mut state = 0u8;
    let (mut lo, mut lo_i, mut hi, mut hi_i) = (f32::MAX, 0usize, f32::MIN, 0usize);
    for (i, &v) in x.iter().enumerate() {
        if v < lo {
            (lo, lo_i) = (v, i);
        }
        if v > hi {
            (hi, hi_i) = (v, i);
        }
        let h = h(i);
        if state != 2 && v < hi - h {
            if state == 1 {
                out.push((hi_i, hi, true));
            }
            state = 2;
            (lo, lo_i) = (v, i);
        } else if state != 1 && v > lo + h {
            if state == 2 {
                out.push((lo_i, lo, false));
            }
            state = 1;
            (hi, hi_i) = (v, i);
        }
    }
}

/// Scratch buffers of [`detect_breaths`] (reused, no allocation after warm-up).
#[derive(Debug, Clone, Default)]
pub struct BreathScratch {
    extrema: Vec<(usize, f32, bool)>,
    blocks: Vec<f32>,
}

/// Detect breaths in `x` (band-passed, oldest first, `hz`, first sample at `t0_s`).
///
/// Peaks and troughs are turns of the signal by at least the hysteresis
/// `max(0.2 × local range, 0.05 × global_amp, floor)`, where the local range is the largest
/// peak-to-trough range of the 5 s blocks within ±1 block (so the threshold follows the recent breath
/// amplitude, and waning breaths are still seen) and `floor` keeps noise out. A breath is a trough
/// followed by a peak. Results replace the contents of `out`.
pub fn detect_breaths(
    x: &[f32],
    hz: f64,
    t0_s: f64,
    global_amp: f32,
    floor: f32,
    scratch: &mut BreathScratch,
    out: &mut Vec<DetectedBreath>,
) {
    out.clear();
    let blk = ((BLOCK_S * hz) as usize).max(1);
    let blocks = &mut scratch.blocks;
    blocks.clear();
    for c in x.chunks(blk) {
        let (lo, hi) = c
            .iter()
            .fold((f32::MAX, f32::MIN), |a, &v| (a.0.min(v), a.1.max(v)));
        blocks.push(hi - lo);
    }
    let blocks = &scratch.blocks;
    let h = |i: usize| -> f32 {
        let b = i / blk;
        // Median of the ranges of the blocks within ±2: one block holding a motion artefact does not
        // raise the threshold over its neighbours' breaths.
        let lo = b.saturating_sub(2);
        let hi = (b + 3).min(blocks.len());
        let mut near = [0.0f32; 5];
        let k = hi.saturating_sub(lo).min(5);
        for (d, s) in near.iter_mut().zip(blocks.get(lo..hi).unwrap_or(&[])) {
            *d = *s;
        }
        near[..k].sort_by(f32::total_cmp);
        let local = near.get(k / 2).copied().unwrap_or(0.0);
        (LOCAL_FRACTION * local)
            .max(GLOBAL_FRACTION * global_amp)
            .max(floor)
            .max(f32::MIN_POSITIVE)
    };
    extrema(x, h, &mut scratch.extrema);
    let t = |i: usize| t0_s + i as f64 / hz;
    for w in scratch.extrema.windows(2) {
        if let [(ti, tv, false), (pi, pv, true)] = *w {
            out.push(DetectedBreath {
                peak_s: t(pi),
                trough_s: t(ti),
                depth: pv - tv,
            });
        }
    }
}

/// Coefficient of variation of the intervals between consecutive peaks shorter than
/// `max_interval_s` (0 with fewer than 3 such intervals). Low means every breath was found.
pub fn interval_cv(breaths: &[DetectedBreath], max_interval_s: f64) -> f32 {
    let it = breaths
        .windows(2)
        .map(|w| w[1].peak_s - w[0].peak_s)
        .filter(|d| *d > 0.0 && *d < max_interval_s);
    let (n, s, s2) = it.fold((0.0, 0.0, 0.0), |a, d| (a.0 + 1.0, a.1 + d, a.2 + d * d));
    if n < 3.0 {
        return 0.0;
    }
    let mean = s / n;
    ((s2 / n - mean * mean).max(0.0).sqrt() / mean) as f32
}

/// Rate from counted breaths, breaths/min: 60 / mean interval between consecutive peaks, ignoring
/// intervals of `max_interval_s` or more (pauses). `None` with fewer than 3 usable intervals.
pub fn count_rate_bpm(breaths: &[DetectedBreath], max_interval_s: f64) -> Option<f32> {
    let (sum, n) = breaths
        .windows(2)
        .map(|w| w[1].peak_s - w[0].peak_s)
        .filter(|d| *d > 0.0 && *d < max_interval_s)
        .fold((0.0, 0usize), |a, d| (a.0 + d, a.1 + 1));
    (n >= 3).then(|| (60.0 * n as f64 / sum) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::f64::consts::PI;

    #[test]
    fn counts_every_breath_of_a_noisy_waxing_waning_signal() {
        let hz = 10.0;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // 15 breaths/min, depth modulated 1..5 mm with a 60 s cycle, 0.05 mm noise.
        let x: Vec<f32> = (0..1200)
            .map(|i| {
                let t = i as f64 / hz;
                let depth = 3.0 - 2.0 * (2.0 * PI * t / 60.0).cos();
                (0.5 * depth * (2.0 * PI * 0.25 * t).sin()) as f32 + rng.gen_range(-0.05..0.05)
            })
            .collect();
        let (mut blocks, mut out) = (BreathScratch::default(), Vec::new());
        detect_breaths(&x, hz, 100.0, 5.0, 0.2, &mut blocks, &mut out);
        assert!((29..=30).contains(&out.len()), "{}", out.len());
        for b in &out {
            // Peaks of sin(2π 0.25 t) sit at t = 1 + 4k.
            let phase = (b.peak_s - 100.0 - 1.0).rem_euclid(4.0);
            assert!(phase.min(4.0 - phase) < 0.3, "peak at {}", b.peak_s);
            assert!(b.depth > 0.7);
        }
        let rate = count_rate_bpm(&out, 10.0).expect("rate");
        assert!((rate - 15.0).abs() < 0.2, "{rate}");
    }

    #[test]
    fn noise_alone_gives_no_breaths() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x: Vec<f32> = (0..600).map(|_| rng.gen_range(-0.1..0.1)).collect();
        let (mut blocks, mut out) = (BreathScratch::default(), Vec::new());
        detect_breaths(&x, 10.0, 0.0, 0.2, 0.5, &mut blocks, &mut out);
        assert!(out.is_empty(), "{}", out.len());
        assert_eq!(count_rate_bpm(&out, 10.0), None);
    }
}
