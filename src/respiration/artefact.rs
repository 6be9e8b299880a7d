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
//! A **body shift** (the person sliding on the seat, leaning back) is slower than a jerk but
//! moves the chest farther than any breath goes in the same time: the chest level changes by
//! more than [`SHIFT_DEPTHS`] breath depths within [`SHIFT_S`], and is still that far from where
//! it was [`SHIFT_S`] later (a cough is back by then), and the whole breathing range moved with
//! it: the 10th and the 90th percentile over [`SETTLE_S`] after the move both lie more than half
//! that distance from those over [`SETTLE_S`] before it. A deep breath out of a pause (the climb
//! out of a Cheyne-Stokes nadir) lifts the high but not the low, and is no shift. The depth is
//! the 75th percentile over the window's 5 s blocks of each block's range, so the shift itself
//! hardly raises it. A shift is an artefact from [`LEAD_S`] before its start to [`TAIL_S`] after
//! its end; one in the window's last 2 s is left to the next windows, which see where the chest
//! stayed.
//!
//! **Removal.** Inside an artefact the unfiltered signal is replaced by a straight line between
//! the samples either side of it; where the body moved and stayed (the median level over
//! [`SETTLE_S`] after the artefact differs from the one before by more than a breath's depth),
//! everything after it is moved back by that difference, so the band-pass does not ring on the
//! step for many seconds after it. The band-pass is linear, so band-passing the cleaned signal
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
/// A body shift moves the chest more than this many of the window's breath depths within
/// [`SHIFT_S`].
pub const SHIFT_DEPTHS: f32 = 2.0;
/// Time over which a body shift is measured, s.
pub const SHIFT_S: f64 = 1.0;
/// Blocks over which the breath depth for body shifts is measured, s.
const BLOCK_S: f64 = 5.0;
/// The level either side of an artefact is the median over this long, s.
pub const SETTLE_S: f64 = 4.0;
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
    marked: Vec<bool>,
    /// Breath depth of the latest window for body shifts (see [`Artefacts::find`]).
    depth: f32,
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
            marked: Vec::with_capacity(max_len),
            depth: 0.0,
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
        self.marked.clear();
        self.marked.resize(n, false);
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
            if jerk {
                // The step lies between samples i - 1 and i.
                let (a, b) = ((i - 1).saturating_sub(lead), (i + tail).min(n));
                self.marked[a..b].iter_mut().for_each(|m| *m = true);
            }
        }
        // Body shifts: slower than a jerk, farther than any breath goes in the same time.
        self.depth = self.block_depth(raw, valid);
        let lag = ((SHIFT_S * self.hz).round() as usize).max(1);
        let shift_limit = (SHIFT_DEPTHS * self.depth).max(JERK_STEPS * typical);
        if shift_limit > 0.0 {
            // Moved by more than the limit within SHIFT_S, still so SHIFT_S later (a cough is
            // back by then), and the whole breathing range moved with it: the low and the high
            // of the SETTLE_S after the move lie more than half the limit from those of the
            // SETTLE_S before it, the same way. A deep breath out of a pause (the climb out of
            // a Cheyne-Stokes nadir) raises the high, not the low. A move in the window's last
            // 2 SHIFT_S is judged by the next windows, which see where the chest stayed.
            let moved =
                |i: usize, j: usize| valid[i] && valid[j] && (raw[j] - raw[i]).abs() > shift_limit;
            let settle = ((SETTLE_S * self.hz).round() as usize).max(lag);
            for i in 0..n.saturating_sub(2 * lag) {
                let up = raw[i + lag] - raw[i];
                let shifted = moved(i, i + lag)
                    && moved(i, i + 2 * lag)
                    && (raw[i + 2 * lag] - raw[i]).signum() == up.signum()
                    && self.range_moved(
                        raw,
                        valid,
                        i,
                        i + lag,
                        settle,
                        0.5 * shift_limit * up.signum(),
                    );
                if shifted {
                    let (a, b) = (i.saturating_sub(lead), (i + lag + tail).min(n));
                    self.marked[a..b].iter_mut().for_each(|m| *m = true);
                }
            }
        }
        let mut start = None;
        for (i, &m) in self
            .marked
            .iter()
            .chain(std::iter::once(&false))
            .enumerate()
        {
            match (m, start) {
                (true, None) => start = Some(i),
                (false, Some(a)) => {
                    self.spans.push((a, i));
                    start = None;
                }
                _ => {}
            }
        }
        self.spans.iter().map(|(a, b)| b - a).sum()
    }

    /// The window's breath depth for body shifts: the 75th percentile over its 5 s blocks of the
    /// range of each block's valid samples. A shift inflates one or two blocks, not the
    /// percentile; a window of pauses keeps its breathing blocks above it.
    fn block_depth(&mut self, raw: &[f32], valid: &[bool]) -> f32 {
        let blk = ((BLOCK_S * self.hz).round() as usize).max(2);
        self.steps.clear();
        for (r, v) in raw.chunks(blk).zip(valid.chunks(blk)) {
            let (lo, hi) = r
                .iter()
                .zip(v)
                .filter(|(_, ok)| **ok)
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (x, _)| {
                    (lo.min(*x), hi.max(*x))
                });
            if hi >= lo {
                self.steps.push(hi - lo);
            }
        }
        if self.steps.is_empty() {
            return 0.0;
        }
        let k = self.steps.len() * 3 / 4;
        *self.steps.select_nth_unstable_by(k, f32::total_cmp).1
    }

    /// Whether the 10th and the 90th percentile of the valid samples of `raw` over `settle`
    /// samples from `after` both lie beyond `by` (signed) from those over `settle` samples
    /// before `before`. False where either side has fewer than a quarter of `settle` valid
    /// samples.
    fn range_moved(
        &mut self,
        raw: &[f32],
        valid: &[bool],
        before: usize,
        after: usize,
        settle: usize,
        by: f32,
    ) -> bool {
        let n = raw.len().min(valid.len());
        let (Some((lo0, hi0)), Some((lo1, hi1))) = (
            self.low_high(raw, valid, before.saturating_sub(settle), before, settle),
            self.low_high(raw, valid, after.min(n), (after + settle).min(n), settle),
        ) else {
            return false;
        };
        let beyond = |d: f32| if by > 0.0 { d > by } else { d < by };
        beyond(lo1 - lo0) && beyond(hi1 - hi0)
    }

    /// The 10th and 90th percentile of the valid samples of `raw[a..b]`, or `None` with fewer
    /// than a quarter of `settle` of them.
    fn low_high(
        &mut self,
        raw: &[f32],
        valid: &[bool],
        a: usize,
        b: usize,
        settle: usize,
    ) -> Option<(f32, f32)> {
        self.collect_valid(raw, valid, a, b);
        let m = self.steps.len();
        if m == 0 || m * 4 < settle {
            return None;
        }
        let lo = *self.steps.select_nth_unstable_by(m / 10, f32::total_cmp).1;
        let hi = *self
            .steps
            .select_nth_unstable_by(m * 9 / 10, f32::total_cmp)
            .1;
        Some((lo, hi))
    }

    /// The valid samples of `raw[a..b]`, into the scratch `steps`.
    fn collect_valid(&mut self, raw: &[f32], valid: &[bool], a: usize, b: usize) {
        self.steps.clear();
        self.steps.extend(
            raw[a..b]
                .iter()
                .zip(&valid[a..b])
                .filter(|(_, ok)| **ok)
                .map(|(x, _)| *x),
        );
    }

    /// Median of the valid samples of `raw[range]` (NaN when none).
    fn level(&mut self, raw: &[f32], valid: &[bool], a: usize, b: usize) -> f32 {
        self.collect_valid(raw, valid, a, b);
        if self.steps.is_empty() {
            return f32::NAN;
        }
        let k = self.steps.len() / 2;
        *self.steps.select_nth_unstable_by(k, f32::total_cmp).1
    }

    /// Takes the artefacts found by [`Artefacts::find`] out of `band` (the band-passed `raw`,
    /// the same length, `valid` its flags): what band-passing `raw` with each artefact replaced
    /// by a straight line between its neighbours gives, and, where the body moved and stayed
    /// (the median level over [`SETTLE_S`] after the artefact differs from the one before by
    /// more than a breath's depth), with everything after it moved back by that much.
    pub fn remove(&mut self, raw: &[f32], valid: &[bool], band: &mut [f32]) {
        let n = raw.len().min(band.len()).min(valid.len());
        let settle = ((SETTLE_S * self.hz).round() as usize).max(1);
        for k in 0..self.spans.len() {
            let (a, b) = self.spans[k];
            let (a, b) = (a.min(n), b.min(n));
            if a >= b {
                continue;
            }
            // A body that moved and stayed: the level after minus the level before (medians
            // over SETTLE_S, breaths and all), when it is more than a breath's depth.
            let before = self.level(raw, valid, a.saturating_sub(settle), a);
            let after = self.level(raw, valid, b, (b + settle).min(n));
            let moved = after - before;
            let offset = if moved.abs() > self.depth { moved } else { 0.0 };
            // Line from the sample before the artefact to the one after it, less the offset
            // (flat at the end).
            let left = raw[a.saturating_sub(1)];
            let right = raw.get(b).map_or(left, |r| r - offset);
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
                    offset
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
        a.remove(&coughed, &[true; 1200], &mut band);
        let after = max_diff(&band, &truth);
        // The line across each artefact is not the breath that was under it, so a small
        // error stays (the breath's curvature over 1.2 s); the cough's 12-unit jerk is gone.
        assert!(before > 4.0, "the cough must show before removal: {before}");
        assert!(after < 0.6, "left after removal: {after} (was {before})");
    }

    #[test]
    fn a_body_shift_is_found_and_the_level_after_it_moved_back() {
        // The chest moves 20 units (over three breath depths) away within 1.5 s and stays.
        let clean = signal(1200, 15.0, 6.0, &[], 0.0);
        let ramp = |i: usize| 20.0 * ((i as f32 - 500.0) / 15.0).clamp(0.0, 1.0);
        let shifted: Vec<f32> = clean.iter().enumerate().map(|(i, v)| v + ramp(i)).collect();
        let mut band = band_pass(&shifted);
        let truth = band_pass(&clean);
        let mut a = finder();
        a.find(&shifted, &[true; 1200], amplitude(&band));
        assert_eq!(a.spans.len(), 1, "{:?}", a.spans);
        let (s, e) = a.spans[0];
        assert!(s <= 500 && e >= 515 && e - s <= 40, "{:?}", a.spans);
        // Band-passed, the step rings for many seconds; moved back, only the line across the
        // shift (up to 4 s of breathing replaced) is left, and after 8 s hardly anything.
        let late = |b: &[f32]| max_diff(&b[600..], &truth[600..]);
        let before = late(&band);
        a.remove(&shifted, &[true; 1200], &mut band);
        assert!(before > 3.0, "the step must show before removal: {before}");
        assert!(
            late(&band) < 0.3,
            "left after removal: {} (was {before})",
            late(&band)
        );
    }

    #[test]
    fn the_climb_out_of_a_cheyne_stokes_pause_is_no_shift() {
        // Cycles of 60 s: 20 s of breaths at 20/min whose depth waxes to 12 and wanes (each
        // breath rising from the resting level, 0), then 40 s of pause at that level. Most 5 s
        // blocks are pause, so the deepest breaths move over twice the window's block depth
        // within 1 s and are still up 2 s after they began, but the low of the breathing stays
        // at rest: no shift.
        let x: Vec<f32> = (0..1200)
            .map(|i| {
                let t = (i as f32 / HZ as f32) % 60.0;
                if t >= 20.0 {
                    return 0.0;
                }
                let depth = 12.0 * (std::f32::consts::PI * t / 20.0).sin().powi(4);
                0.5 * depth * (1.0 - (TAU * t / 3.0).cos())
            })
            .collect();
        let band = band_pass(&x);
        let mut a = finder();
        assert_eq!(
            a.find(&x, &[true; 1200], amplitude(&band)),
            0,
            "{:?}",
            a.spans
        );
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
