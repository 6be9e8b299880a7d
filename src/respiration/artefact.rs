//! Movement artefacts: sudden chest movements that no breath makes (a cough, a sneeze, a knock
//! against the seat), found in one window and taken out of its breathing signal.
//!
//! **Finding.** A step between two valid samples is a jerk when it is larger than both
//! [`JERK_STEPS`] times the window's typical step (the 90th percentile of the absolute steps
//! between valid samples: breathing and noise together) and [`JERK_DEPTH`] of the window's breath
//! amplitude. Each bound alone fails somewhere: in noise the steps dwarf the band-passed amplitude,
//! and in a window that is mostly pause the typical step is small. No breath of the searched band
//! (at most 60/min) moves more than a third of its depth in 0.1 s, a cough moves more than its
//! whole depth. The chest must also still be displaced by more than the bound, the same way,
//! [`HOLD_S`] after the step, and the step must not be the way back from the step before: a
//! spike of one sample (an ECG complex bleeding into an impedance lead) is no movement of the
//! chest. An artefact runs from [`LEAD_S`] before the first jerk of a burst to [`TAIL_S`]
//! after its last one (a cough's short inhalation before the expulsion, its recovery after);
//! jerks closer than that join one artefact.
//!
//! **Removal.** Inside an artefact the unfiltered signal is replaced by a straight line between
//! the samples either side of it. The band-pass is linear, so band-passing the cleaned signal
//! equals subtracting the band-passed difference (zero outside the artefact, filtered from rest)
//! from the window's band-passed signal: exact, and no refiltering of the window's history.
//! The breaths and the spectrum then see the breathing without the jerk, breath counting leaves
//! out the intervals across an artefact (as across a stretch without signal), and the window's
//! quality falls by the share of its samples inside artefacts.

use super::apnea::Pause;
use super::filter::BandPass;

/// A jerk's step is more than this many times the window's 90th-percentile step.
pub const JERK_STEPS: f32 = 6.0;
/// A jerk's step is more than this share of the window's breath amplitude (95th − 5th percentile
/// of the band-passed signal).
pub const JERK_DEPTH: f32 = 0.6;
/// A jerk leaves the chest displaced for at least this long, s (one sample at the analysis rate of
/// 10 Hz): a spike of one sample is no movement.
pub const HOLD_S: f64 = 0.1;
/// An artefact starts this long before its first jerk, s.
pub const LEAD_S: f64 = 0.3;
/// An artefact ends this long after its last jerk, s.
pub const TAIL_S: f64 = 0.8;

/// Finds and removes movement artefacts in windows of up to a fixed length (buffers made once).
#[derive(Debug, Clone)]
pub struct Artefacts {
    hz: f64,
    filter: BandPass,
    steps: Vec<f32>,
    /// Artefacts of the latest window: first and one-past-last sample.
    pub spans: Vec<(usize, usize)>,
}

impl Artefacts {
    /// For windows of up to `max_len` samples at `hz`, band-passed by `band` (a fresh filter
    /// with the signal chain's settings).
    pub fn new(max_len: usize, hz: f64, band: BandPass) -> Self {
        Self {
            hz,
            filter: band,
            steps: Vec::with_capacity(max_len),
            spans: Vec::with_capacity(64),
        }
    }

    /// Finds the artefacts of one window into [`Artefacts::spans`]: `raw` unfiltered (invalid
    /// samples hold the last valid value), `valid` its flags, `amplitude` the band-passed
    /// signal's breath amplitude. Returns how many samples they cover.
    pub fn find(&mut self, raw: &[f32], valid: &[bool], amplitude: f32) -> usize {
        self.spans.clear();
        let n = raw.len().min(valid.len());
        self.steps.clear();
        self.steps.extend(
            (1..n)
                .filter(|&i| valid[i] && valid[i - 1])
                .map(|i| (raw[i] - raw[i - 1]).abs()),
        );
        if self.steps.len() < 10 || amplitude.is_nan() || amplitude <= 0.0 {
            return 0;
        }
        let k = self.steps.len() * 9 / 10;
        let typical = *self.steps.select_nth_unstable_by(k, f32::total_cmp).1;
        let limit = (JERK_STEPS * typical).max(JERK_DEPTH * amplitude);
        if limit.is_nan() || limit <= 0.0 {
            return 0;
        }
        let lead = (LEAD_S * self.hz).round() as usize;
        let tail = (TAIL_S * self.hz).round() as usize;
        let hold = ((HOLD_S * self.hz).round() as usize).max(1);
        for i in 1..n.saturating_sub(hold) {
            let step = raw[i] - raw[i - 1];
            let later = raw[i + hold] - raw[i - 1];
            // The way back from a spike starts at the spike, not at the chest.
            let back = i >= 2
                && valid[i - 2]
                && (raw[i - 1] - raw[i - 2]).abs() > limit
                && (raw[i - 1] - raw[i - 2]).signum() != step.signum();
            let jerk = valid[i - 1]
                && valid[i]
                && valid[i + hold]
                && step.abs() > limit
                && later.abs() > limit
                && later.signum() == step.signum()
                && !back;
            if !jerk {
                continue;
            }
            // The step lies between samples i - 1 and i.
            let (a, b) = ((i - 1).saturating_sub(lead), (i + tail).min(n));
            match self.spans.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => self.spans.push((a, b)),
            }
        }
        self.spans.iter().map(|(a, b)| b - a).sum()
    }

    /// Takes the artefacts found by [`Artefacts::find`] out of `band` (the band-passed `raw`,
    /// the same length): what band-passing `raw` with each artefact replaced by a straight line
    /// between its neighbours gives.
    pub fn remove(&mut self, raw: &[f32], band: &mut [f32]) {
        let n = raw.len().min(band.len());
        for &(a, b) in &self.spans {
            let (a, b) = (a.min(n), b.min(n));
            if a >= b {
                continue;
            }
            // Line from the sample before the artefact to the one after it (flat at the end).
            let left = raw[a.saturating_sub(1)];
            let right = raw.get(b).copied().unwrap_or(left);
            let (x0, len) = (a as f32 - 1.0, (b - a + 1) as f32);
            let f = &mut self.filter;
            // From rest: after a reset the first sample settles the filter (no allocation).
            f.reset();
            f.process(0.0);
            for i in a..n {
                let e = if i < b {
                    let line = left + (right - left) * (i as f32 - x0) / len;
                    raw[i] - line
                } else {
                    0.0
                };
                band[i] -= f.process(f64::from(e)) as f32;
            }
        }
    }

    /// The latest window's artefacts as intervals, its first sample at `t0_s`, into `out`.
    pub fn push_intervals(&self, t0_s: f64, out: &mut Vec<Pause>) {
        out.extend(self.spans.iter().map(|&(a, b)| Pause {
            start_s: t0_s + a as f64 / self.hz,
            end_s: t0_s + (b.max(a + 1) - 1) as f64 / self.hz,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::TAU;

    const HZ: f64 = 10.0;

    /// Breathing at `bpm` of peak-to-trough `depth`, with coughs (a drop of `drop` within one
    /// sample, back over 0.5 s) at the given sample indices.
    fn signal(n: usize, bpm: f32, depth: f32, coughs: &[usize], drop: f32) -> Vec<f32> {
        let mut x: Vec<f32> = (0..n)
            .map(|i| 0.5 * depth * (TAU * bpm / 60.0 * i as f32 / HZ as f32).sin())
            .collect();
        for &c in coughs {
            for (k, v) in x.iter_mut().skip(c).take(6).enumerate() {
                *v -= drop * (1.0 - k as f32 / 6.0);
            }
        }
        x
    }

    fn band_pass(x: &[f32]) -> Vec<f32> {
        let mut f = BandPass::new(0.05, 1.0, HZ);
        x.iter().map(|&v| f.process(f64::from(v)) as f32).collect()
    }

    fn amplitude(x: &[f32]) -> f32 {
        let mut v = x.to_vec();
        v.sort_by(f32::total_cmp);
        v[v.len() * 95 / 100] - v[v.len() * 5 / 100]
    }

    fn finder() -> Artefacts {
        Artefacts::new(1200, HZ, BandPass::new(0.05, 1.0, HZ))
    }

    #[test]
    fn breathing_alone_has_no_artefact_at_any_rate_of_the_band() {
        for bpm in [4.0, 12.0, 30.0, 60.0] {
            let x = signal(1200, bpm, 6.0, &[], 0.0);
            let band = band_pass(&x);
            let mut a = finder();
            assert_eq!(a.find(&x, &[true; 1200], amplitude(&band)), 0, "{bpm}/min");
        }
    }

    #[test]
    fn coughs_are_found_where_they_are_and_nowhere_else() {
        let x = signal(1200, 15.0, 6.0, &[300, 700], 12.0);
        let band = band_pass(&x);
        let mut a = finder();
        let covered = a.find(&x, &[true; 1200], amplitude(&band));
        // Each: the drop between samples c - 1 and c; from 0.3 s before it to 0.8 s after it.
        assert_eq!(a.spans, vec![(296, 308), (696, 708)]);
        assert_eq!(covered, a.spans.iter().map(|(s, e)| e - s).sum::<usize>());
        let mut out = Vec::new();
        a.push_intervals(100.0, &mut out);
        assert!((out[0].start_s - (100.0 + a.spans[0].0 as f64 / HZ)).abs() < 1e-9);
    }

    #[test]
    fn removal_gives_the_band_passed_breathing_back() {
        let clean = signal(1200, 15.0, 6.0, &[], 0.0);
        let coughed = signal(1200, 15.0, 6.0, &[400, 800], 12.0);
        let mut band = band_pass(&coughed);
        let truth = band_pass(&clean);
        let mut a = finder();
        a.find(&coughed, &[true; 1200], amplitude(&band));
        let before = max_diff(&band, &truth);
        a.remove(&coughed, &mut band);
        let after = max_diff(&band, &truth);
        // The line across each artefact is not the breath that was under it, so a small
        // error stays (the breath's curvature over 1.2 s); the cough's 12-unit jerk is gone.
        assert!(before > 4.0, "the cough must show before removal: {before}");
        assert!(after < 0.6, "left after removal: {after} (was {before})");
    }

    #[test]
    fn noise_alone_has_no_artefact() {
        // Deterministic pseudo-noise of unit size: steps of up to about 2, no jerk.
        let mut s = 12345u32;
        let x: Vec<f32> = (0..1200)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let band = band_pass(&x);
        let mut a = finder();
        assert_eq!(a.find(&x, &[true; 1200], amplitude(&band)), 0);
    }

    #[test]
    fn one_sample_spikes_are_no_artefacts() {
        // An ECG complex bleeding into an impedance lead: twice the breath depth, gone by the
        // next sample, every 4 s. The same spike held for two samples is a jerk.
        let mut x = signal(1200, 15.0, 6.0, &[], 0.0);
        for i in (17..1200).step_by(40) {
            x[i] += 12.0;
        }
        let band = band_pass(&x);
        let mut a = finder();
        assert_eq!(a.find(&x, &[true; 1200], amplitude(&band)), 0);
        x[418] += 12.0;
        let covered = a.find(&x, &[true; 1200], amplitude(&band_pass(&x)));
        // Up at 417 and back at 419: one artefact from 0.3 s before the first step to 0.8 s
        // after the last.
        assert_eq!(a.spans, vec![(413, 427)], "{covered}");
        assert_eq!(covered, 14);
    }

    #[test]
    fn steps_into_or_out_of_invalid_samples_are_no_jerks() {
        let mut x = signal(1200, 15.0, 6.0, &[], 0.0);
        let mut valid = vec![true; 1200];
        // A hole whose held value then jumps by 20 units when the signal comes back.
        for (v, ok) in x[500..520].iter_mut().zip(&mut valid[500..520]) {
            *v = 20.0;
            *ok = false;
        }
        let band = band_pass(&x);
        let mut a = finder();
        assert_eq!(a.find(&x, &valid, amplitude(&band)), 0);
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }
}
