//! Breath detection on a band-passed window: peaks and troughs found with hysteresis relative to the
//! recent breath amplitude, giving breath times and depths, and a rate from counted breaths.
//!
//! Breath-by-breath timing uses each breath's mid-rise time: where the inspiration crosses halfway
//! between its trough and its peak, linearly interpolated between samples. That is the steepest,
//! least noise-sensitive point of a breath (a peak's time wanders along a rounded top by a
//! sample or more), and it is sub-sample. The counted rate is 60 × breaths / time between the
//! first and the last mid-rise, with intervals that are a whole multiple of the typical one
//! (a breath the hysteresis missed) counted as that many breaths.

/// One detected breath (trough → peak is the inspiration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectedBreath {
    /// Time of the end-inspiratory peak, s on the stream's clock.
    pub peak_s: f64,
    /// Time of the preceding trough (start of inspiration), s.
    pub trough_s: f64,
    /// Mid-rise time: where the inspiration crosses halfway from trough to peak, interpolated
    /// between samples, s (the breath's time for intervals and rates).
    pub mid_s: f64,
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
                mid_s: t0_s + mid_rise(x, ti, pi, 0.5 * (tv + pv)) / hz,
                depth: pv - tv,
            });
        }
    }
}

/// The fractional sample index in `trough..=peak` where `x` first rises through `level`
/// (linear interpolation between the two samples around the crossing).
fn mid_rise(x: &[f32], trough: usize, peak: usize, level: f32) -> f64 {
    for i in trough..peak.min(x.len().saturating_sub(1)) {
        let (a, b) = (x[i], x[i + 1]);
        if a < level && b >= level {
            let f = if b > a { (level - a) / (b - a) } else { 0.0 };
            return i as f64 + f64::from(f.clamp(0.0, 1.0));
        }
    }
    0.5 * (trough + peak) as f64
}

/// Coefficient of variation of the intervals between consecutive breaths (mid-rise times) shorter than
/// `max_interval_s` (`None` with fewer than 3 such intervals). Low means every breath was found.
pub fn interval_cv(breaths: &[DetectedBreath], max_interval_s: f64) -> Option<f32> {
    let it = breaths
        .windows(2)
        .map(|w| w[1].mid_s - w[0].mid_s)
        .filter(|d| *d > 0.0 && *d < max_interval_s);
    let (n, s, s2) = it.fold((0.0, 0.0, 0.0), |a, d| (a.0 + 1.0, a.1 + d, a.2 + d * d));
    if n < 3.0 {
        return None;
    }
    let mean = s / n;
    Some(((s2 / n - mean * mean).max(0.0).sqrt() / mean) as f32)
}

/// Whether the breaths come in clusters: runs of breaths at one pace separated by longer gaps (as
/// in Biot's breathing). Over the intervals between consecutive mid-rise times shorter than
/// `max_interval_s`: at least 6 of them, at least half within ±20 % of their median, and at least
/// two of more than twice the median. A spectrum then peaks at the clusters' repetition, not at the
/// breathing pace.
pub fn clustered(breaths: &[DetectedBreath], max_interval_s: f64) -> bool {
    let mut buf = [0f64; 256];
    let mut n = 0;
    for w in breaths.windows(2) {
        let d = w[1].mid_s - w[0].mid_s;
        if d > 0.0 && d < max_interval_s && n < buf.len() {
            buf[n] = d;
            n += 1;
        }
    }
    if n < 6 {
        return false;
    }
    let v = &mut buf[..n];
    v.sort_by(f64::total_cmp);
    let med = v[n / 2];
    let near = v.iter().filter(|d| (**d - med).abs() <= 0.2 * med).count();
    let long = v.iter().filter(|d| **d > 2.0 * med).count();
    2 * near >= n && long >= 2
}

/// Rate from counted breaths, breaths/min: 60 × breaths / time, over the intervals between
/// consecutive mid-rise times shorter than `max_interval_s` (longer ones are pauses). An interval
/// of about k times the median interval (k ≥ 2, within ±0.15 of a whole multiple) holds k breaths,
/// k − 1 of them too shallow for the hysteresis: it counts as k. An interval of 1.5 typical ones
/// or more in which one of `pauses` (motionless stretches) lies is left out: the rate is that of
/// breathing between pauses. An interval that touches one of `blind` (movement artefacts, whose
/// breaths cannot be seen), from its first breath's trough to its second one's peak, is left out
/// whatever its length. `None` with fewer than 3 usable
/// intervals.
pub fn count_rate_bpm(
    breaths: &[DetectedBreath],
    max_interval_s: f64,
    pauses: &[crate::types::ApneaInterval],
    blind: &[crate::types::ApneaInterval],
) -> Option<f32> {
    let holds_pause = |w: &[DetectedBreath]| {
        pauses
            .iter()
            .any(|p| p.start_s < w[1].mid_s && w[0].mid_s < p.end_s)
    };
    // An interval of `max_interval_s` or more is a pause only when the chest was still in it;
    // without stillness it is one slow breath (a ventilated patient at 6 /min breathes every
    // 7-14 s).
    // From the first breath's trough to the second one's peak: a breath whose rise an artefact
    // cut has a displaced mid-rise time.
    let seen = |w: &[DetectedBreath]| {
        !blind
            .iter()
            .any(|b| b.start_s <= w[1].peak_s && w[0].trough_s <= b.end_s)
    };
    let usable = |w: &[DetectedBreath]| {
        let d = w[1].mid_s - w[0].mid_s;
        (d > 0.0 && seen(w) && (d < max_interval_s || !holds_pause(w))).then_some(d)
    };
    // Median interval, without allocating: a window holds at most a few hundred breaths.
    let mut buf = [0f64; 256];
    let mut n = 0;
    for d in breaths.windows(2).filter_map(usable) {
        if n < buf.len() {
            buf[n] = d;
            n += 1;
        }
    }
    if n < 3 {
        return None;
    }
    let med = {
        let v = &mut buf[..n];
        v.sort_by(f64::total_cmp);
        v[n / 2]
    };
    let (mut time, mut count) = (0.0f64, 0.0f64);
    for w in breaths.windows(2) {
        let Some(d) = usable(w) else { continue };
        let ratio = d / med;
        let k = ratio.round();
        // A long interval holding a motionless stretch is a pause, not breathing: the rate is the
        // rate of breathing between pauses (as the simulator's truth defines it). Intervals of
        // typical length keep their end-expiratory rests (slow breathing has them).
        if ratio >= 1.5 && holds_pause(w) {
            continue;
        }
        let breaths_in = if k >= 2.0 && (ratio - k).abs() <= 0.15 {
            k
        } else {
            1.0
        };
        time += d;
        count += breaths_in;
    }
    Some((60.0 * count / time) as f32)
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
        let rate = count_rate_bpm(&out, 10.0, &[], &[]).expect("rate");
        assert!((rate - 15.0).abs() < 0.2, "{rate}");
    }

    /// Breaths as mid-rise times only (what the rate uses).
    fn at(times: &[f64]) -> Vec<DetectedBreath> {
        times
            .iter()
            .map(|&t| DetectedBreath {
                peak_s: t + 1.0,
                trough_s: t - 1.0,
                mid_s: t,
                depth: 1.0,
            })
            .collect()
    }

    #[test]
    fn a_missed_breath_is_counted_and_pauses_are_not() {
        // 15 /min (4 s), one breath missed (an 8 s interval), then a 12 s pause, then 4 s again.
        let mut t = vec![0.0, 4.0, 8.0, 16.0, 20.0, 24.0];
        t.extend([36.0, 40.0, 44.0]);
        let rate = count_rate_bpm(&at(&t), 10.0, &[], &[]).expect("rate");
        // 7 intervals under 10 s covering 32 s hold 8 breaths: 15 /min exactly.
        assert!((rate - 15.0).abs() < 1e-4, "{rate}");
        // An interval of 1.5 typical ones is not a whole multiple: counted as one breath.
        let rate =
            count_rate_bpm(&at(&[0.0, 4.0, 8.0, 12.0, 18.0, 22.0]), 10.0, &[], &[]).expect("rate");
        assert!((rate - 60.0 * 5.0 / 22.0).abs() < 1e-4, "{rate}");
        // An 8 s interval holding a motionless stretch is a short pause, not a missed breath: left out.
        let still = [crate::types::ApneaInterval {
            start_s: 9.0,
            end_s: 15.0,
        }];
        let rate = count_rate_bpm(&at(&t), 10.0, &still, &[]).expect("rate");
        assert!((rate - 15.0).abs() < 1e-4, "{rate}");
        // A cough from 13 to 14.5 s (a movement artefact) hid a breath: the 6 s interval across
        // it (1.5 typical ones) would count as one breath; it is left out instead.
        let t = at(&[0.0, 4.0, 8.0, 12.0, 18.0, 22.0, 26.0]);
        let cough = [crate::types::ApneaInterval {
            start_s: 13.0,
            end_s: 14.5,
        }];
        let rate = count_rate_bpm(&t, 10.0, &[], &cough).expect("rate");
        assert!((rate - 15.0).abs() < 1e-4, "{rate}");
    }

    #[test]
    fn slow_breaths_over_ten_seconds_apart_count_unless_the_chest_was_still() {
        // A ventilated patient at about 6 /min: intervals of 9 and 12 s, no stillness.
        let t = at(&[0.0, 9.0, 21.0, 30.0, 42.0, 51.0]);
        let rate = count_rate_bpm(&t, 10.0, &[], &[]).expect("rate");
        assert!((rate - 60.0 * 5.0 / 51.0).abs() < 1e-4, "{rate}");
        // The chest still from 10 to 20 s: the 12 s interval around it is a pause, left out.
        let still = [crate::types::ApneaInterval {
            start_s: 10.0,
            end_s: 20.0,
        }];
        let rate = count_rate_bpm(&t, 10.0, &still, &[]).expect("rate");
        assert!((rate - 60.0 * 4.0 / 39.0).abs() < 1e-4, "{rate}");
    }

    #[test]
    fn mid_rise_times_are_sub_sample_and_give_the_rate_to_a_hundredth() {
        // 14.37 /min sampled at 10 Hz for 120 s: peaks land on the 0.1 s grid, mid-rises do not.
        let hz = 10.0;
        let f = 14.37 / 60.0;
        let x: Vec<f32> = (0..1200)
            .map(|i| (2.0 * PI * f * i as f64 / hz).sin() as f32)
            .collect();
        let (mut blocks, mut out) = (BreathScratch::default(), Vec::new());
        detect_breaths(&x, hz, 0.0, 2.0, 0.05, &mut blocks, &mut out);
        for b in &out {
            // sin rises through 0 at t = k / f.
            let k = (b.mid_s * f).round();
            assert!((b.mid_s - k / f).abs() < 0.01, "mid-rise at {}", b.mid_s);
        }
        let rate = count_rate_bpm(&out, 10.0, &[], &[]).expect("rate");
        assert!((rate - 14.37).abs() < 0.01, "{rate}");
    }

    #[test]
    fn noise_alone_gives_no_breaths() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x: Vec<f32> = (0..600).map(|_| rng.gen_range(-0.1..0.1)).collect();
        let (mut blocks, mut out) = (BreathScratch::default(), Vec::new());
        detect_breaths(&x, 10.0, 0.0, 0.2, 0.5, &mut blocks, &mut out);
        assert!(out.is_empty(), "{}", out.len());
        assert_eq!(count_rate_bpm(&out, 10.0, &[], &[]), None);
    }

    #[test]
    fn clusters_of_breaths_are_told_from_regular_and_irregular_breathing() {
        // Three clusters of four breaths 2.2 s apart, 8-9 s between clusters.
        let mut t = Vec::new();
        for c in 0..3 {
            for k in 0..4 {
                t.push(c as f64 * 15.0 + k as f64 * 2.2);
            }
        }
        assert!(clustered(&at(&t), 10.0));
        // Regular breathing: no long intervals.
        let regular: Vec<f64> = (0..12).map(|k| k as f64 * 4.0).collect();
        assert!(!clustered(&at(&regular), 10.0));
        // Irregular breathing: few intervals near the median.
        let irregular = [0.0, 2.0, 5.5, 7.0, 11.0, 12.5, 17.5, 19.0, 24.0];
        assert!(!clustered(&at(&irregular), 10.0));
        // Too few intervals.
        assert!(!clustered(&at(&t[..5]), 10.0));
    }
}
