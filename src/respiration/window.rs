//! Analysis of one window at the fixed rate: quality, amplitude, breaths, pauses, spectral and
//! counted rate, and the reading's rate. Used by the live analyser and by offline analysis alike.
//!
//! A window with clipped (flat) stretches whose counted and spectral rates disagree loses quality
//! as a frozen sensor does (three times its flat share): clipping distorts the breaths it cuts.
//!
//! Rate rule: no rate (`None`) when the quality is below [`MIN_RATE_QUALITY`]. Otherwise (a count
//! needs at least [`MIN_BREATHS`] detected breaths) the counted rate when the spectral and counted
//! rates agree (within 1 breath/min or 5 %), else the counted rate when the breaths come in
//! clusters (see [`clustered`]) and it is at least 1.8 times the spectral one (the spectrum then
//! peaks at the clusters' repetition), else the spectral rate when one steady rhythm holds
//! the band (prominence ≥ [`STEADY_PROMINENCE`]), else the counted rate when the breath intervals
//! are regular (CV below [`MAX_REGULAR_CV`]: no breath was missed or doubled), else the spectral
//! rate when its peak is prominent (≥ [`MIN_PROMINENCE`] of the band power), else none (irregular
//! breathing has no single rate).

use super::apnea::{find_pauses, Pause};
use super::artefact::Artefacts;
use super::breaths::{
    clustered, count_rate_bpm, detect_breaths, interval_cv, BreathScratch, DetectedBreath,
};
use super::filter::BandPass;
use super::quality::{assess, coverage, Quality};
use super::spectrum::SpectralRate;

/// Readings below this quality carry no rate.
pub const MIN_RATE_QUALITY: f32 = 0.3;
/// Fewest detected breaths for a rate.
pub const MIN_BREATHS: usize = 4;
/// Largest coefficient of variation of breath intervals for which counted breaths are trusted over
/// a disagreeing spectrum.
pub const MAX_REGULAR_CV: f32 = 0.2;
/// Smallest spectral prominence for a spectral rate when the counted rate disagrees.
pub const MIN_PROMINENCE: f32 = 0.25;
/// Spectral prominence of one steady rhythm: with three quarters of the band's power in one line,
/// a count that disagrees has missed or doubled breaths (weak signals at 2-3 m from a camera), so
/// the spectral rate wins over a regular-looking count.
pub const STEADY_PROMINENCE: f32 = 0.75;
/// A breath at most this fraction of the window's median breath depth is shallow (hypopnea; the
/// clinical criterion without oximetry is a drop of 50 % or more for at least 10 s).
pub const HYPOPNEA_DEPTH: f32 = 0.5;
/// Shortest motionless interval listed in [`BreathWindow::pauses`], s.
pub const PAUSE_MIN_S: f64 = 3.0;

/// One analysed window of the breathing signal: what the respiration stage hands on (to a pattern
/// classifier, a session verdict, the training-set writer). Plain data borrowed from the
/// analyser's preallocated buffers; copy what must outlive the call.
#[derive(Debug, Clone, Copy)]
pub struct BreathWindow<'a> {
    /// Sample rate of `samples`, Hz.
    pub hz: f64,
    /// Time of the newest sample, s on the stream's clock.
    pub t_end_s: f64,
    /// Band-passed displacement at the fixed rate, oldest first (mm live; normalised units for a
    /// recording, where a typical breath is about 8 units peak to trough), movement artefacts
    /// taken out.
    pub samples: &'a [f32],
    /// Breaths detected in the window, oldest first.
    pub breaths: &'a [DetectedBreath],
    /// Motionless pauses of at least [`PAUSE_MIN_S`] inside the window, oldest first (clipped to it).
    pub pauses: &'a [Pause],
    /// Hypopneas: runs of at least `apnea_min_s` of shallow breathing (breaths at most
    /// [`HYPOPNEA_DEPTH`] of the window's median breath), oldest first. Never overlaps a pause of
    /// `pauses` that is an apnea.
    pub hypopneas: &'a [Pause],
    /// Movement artefacts (a cough, a jolt: see [`super::artefact`]), oldest first: taken out of
    /// `samples`, the breaths and the rate.
    pub artefacts: &'a [Pause],
    /// Shortest pause that counts as an apnea, s.
    pub apnea_min_s: f64,
    /// Rate of the dominant spectral peak, breaths/min.
    pub spectral_rate_bpm: Option<f32>,
    /// Fraction of band power in the spectral peak (0..1; high = one steady rhythm).
    pub spectral_prominence: f32,
    /// Rate from counted breaths, breaths/min.
    pub count_rate_bpm: Option<f32>,
    /// The reading's rate (see the module doc for the rule), breaths/min.
    pub rate_bpm: Option<f32>,
    /// Signal-quality index, 0..=1.
    pub quality: f32,
    /// Robust peak-to-trough amplitude of `samples` (95th − 5th percentile), signal units.
    pub amplitude: f32,
    /// The longest stretch without signal in the window (samples marked invalid: a person out of
    /// view, a recording's hole), s; 0 when every sample had signal.
    pub unseen_s: f64,
}

impl BreathWindow<'_> {
    /// Length of the window, s.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / self.hz
    }

    /// Whether the window holds an apnea: a motionless pause of at least `apnea_min_s`.
    pub fn has_apnea(&self) -> bool {
        self.pauses
            .iter()
            .any(|p| p.duration_s() >= self.apnea_min_s - 1e-6)
    }
}

/// The signals of one window, all the same length, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct WindowInput<'a> {
    /// Unfiltered signal (invalid samples hold the last valid value).
    pub raw: &'a [f32],
    /// Band-passed signal.
    pub band: &'a [f32],
    /// Low-passed (not detrended) signal, for stillness.
    pub low: &'a [f32],
    /// Whether each sample came from valid input.
    pub valid: &'a [bool],
    /// Time of the newest sample, s.
    pub t_end_s: f64,
}

/// Reusable window analyser (FFT plan and scratch buffers made once).
#[derive(Debug)]
pub struct WindowProcessor {
    hz: f64,
    apnea_min_s: f64,
    spectral: SpectralRate,
    breaths: Vec<DetectedBreath>,
    pauses: Vec<Pause>,
    hypopneas: Vec<Pause>,
    artefacts: Artefacts,
    artefact_intervals: Vec<Pause>,
    /// The window's band-passed signal, artefacts taken out.
    clean: Vec<f32>,
    blocks: BreathScratch,
    scratch: Vec<f32>,
    /// Samples with signal that is not stuck at one value ([`super::quality::coverage`]).
    seen: Vec<bool>,
    /// The pauses and the stretches without signal: what breath counting leaves out.
    left_out: Vec<Pause>,
    /// Stillness threshold of the latest window (signal units).
    pub theta: Option<f32>,
    /// Quality breakdown of the latest window.
    pub quality: Quality,
}

impl WindowProcessor {
    /// For windows of up to `max_len` samples at `hz`, band-passed by `band` (a fresh filter
    /// with the signal chain's settings, for taking artefacts out).
    pub fn new(max_len: usize, hz: f64, apnea_min_s: f64, band: BandPass) -> Self {
        Self {
            hz,
            apnea_min_s,
            spectral: SpectralRate::new(max_len, hz),
            breaths: Vec::with_capacity(max_len / 10 + 8),
            pauses: Vec::with_capacity(max_len / 20 + 8),
            hypopneas: Vec::with_capacity(max_len / 20 + 8),
            artefacts: Artefacts::new(max_len, hz, band),
            artefact_intervals: Vec::with_capacity(64),
            clean: Vec::with_capacity(max_len),
            blocks: BreathScratch::default(),
            scratch: Vec::with_capacity(max_len),
            seen: Vec::with_capacity(max_len),
            left_out: Vec::with_capacity(max_len / 10 + 16),
            theta: None,
            quality: Quality::default(),
        }
    }

    /// Robust peak-to-trough amplitude (95th − 5th percentile) of the window's cleaned
    /// band-passed signal.
    fn amplitude_of_clean(&mut self) -> f32 {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.clean);
        let n = self.scratch.len();
        if n < 2 {
            return 0.0;
        }
        let hi = *self
            .scratch
            .select_nth_unstable_by(n * 95 / 100, f32::total_cmp)
            .1;
        let lo = *self
            .scratch
            .select_nth_unstable_by(n * 5 / 100, f32::total_cmp)
            .1;
        hi - lo
    }

    /// Analyse one window.
    pub fn analyze<'a>(&'a mut self, w: WindowInput<'a>) -> BreathWindow<'a> {
        let hz = self.hz;
        let n = w
            .raw
            .len()
            .min(w.band.len())
            .min(w.low.len())
            .min(w.valid.len());
        let t0 = w.t_end_s - n.saturating_sub(1) as f64 / hz;
        self.clean.clear();
        self.clean.extend_from_slice(&w.band[..n]);
        let mut amplitude = self.amplitude_of_clean();
        let jerked = self.artefacts.find(&w.raw[..n], &w.valid[..n], amplitude);
        self.artefact_intervals.clear();
        if jerked > 0 {
            self.artefacts
                .remove(&w.raw[..n], &w.valid[..n], &mut self.clean);
            self.artefacts
                .push_intervals(t0, &mut self.artefact_intervals);
            amplitude = self.amplitude_of_clean();
        }
        let peak = self.spectral.peak(&self.clean);
        let cover = coverage(&w.raw[..n], &w.valid[..n], hz, &mut self.seen);
        for &(a, b) in &self.artefacts.spans {
            self.seen[a..b].iter_mut().for_each(|v| *v = false);
        }
        self.quality = assess(
            &w.raw[..n],
            &self.clean,
            cover,
            hz,
            peak.map_or(0.0, |p| p.prominence),
            &mut self.scratch,
        );
        // Samples inside artefacts show no breathing.
        self.quality.artefact_fraction = jerked as f32 / n.max(1) as f32;
        self.quality.index *= 1.0 - self.quality.artefact_fraction;
        let sigma = self.quality.noise_sigma;
        detect_breaths(
            &self.clean,
            hz,
            t0,
            amplitude,
            3.0 * sigma,
            &mut self.blocks,
            &mut self.breaths,
        );
        let theta = (0.15 * amplitude).max(2.5 * sigma);
        self.theta = (theta > 0.0).then_some(theta);
        find_pauses(&w.low[..n], hz, t0, theta, PAUSE_MIN_S, &mut self.pauses);
        keep_seen(&mut self.pauses, &self.seen, hz, t0, PAUSE_MIN_S);
        find_hypopneas(
            &self.breaths,
            &self.pauses,
            self.apnea_min_s,
            &mut self.scratch,
            &mut self.hypopneas,
        );
        // An interval between breaths across a stretch without signal is no breath interval.
        self.left_out.clear();
        self.left_out.extend_from_slice(&self.pauses);
        let longest_unseen = push_false_runs(&w.valid[..n], hz, t0, &mut self.left_out);
        let count = count_rate_bpm(
            &self.breaths,
            self.apnea_min_s,
            &self.left_out,
            &self.artefact_intervals,
        );
        let counted = count.filter(|_| self.breaths.len() >= MIN_BREATHS);
        let agree = matches!((peak, counted),
            (Some(p), Some(c)) if (p.rate_bpm - c).abs() <= (0.05 * p.rate_bpm).max(1.0));
        if !agree {
            // Clipping distorts the breaths it cuts: a clipped window is trusted only when its
            // counted breaths and its spectrum tell the same rate.
            self.quality.index *= (1.0 - 3.0 * self.quality.flat_fraction).max(0.0);
        }
        let quality = self.quality.index;
        let rate_bpm = if quality < MIN_RATE_QUALITY {
            None
        } else {
            match (peak, counted) {
                (_, Some(c)) if agree => Some(c),
                // Breaths in clusters: the spectrum peaks at the clusters' repetition.
                (Some(p), Some(c))
                    if c >= 1.8 * p.rate_bpm && clustered(&self.breaths, self.apnea_min_s) =>
                {
                    Some(c)
                }
                (Some(p), _) if p.prominence >= STEADY_PROMINENCE => Some(p.rate_bpm),
                (_, Some(c))
                    if interval_cv(&self.breaths, self.apnea_min_s)
                        .map_or(true, |cv| cv < MAX_REGULAR_CV) =>
                {
                    Some(c)
                }
                (Some(p), _) if p.prominence >= MIN_PROMINENCE => Some(p.rate_bpm),
                _ => None,
            }
        };
        log::trace!(
            "window to {:.1} s: quality {quality:.2} (snr {:.2}, flat {:.2}, invalid {:.2}, \
             {} artefacts over {:.2}), rate {rate_bpm:?}, spectral {:?} (prominence {:.2}), \
             counted {count:?} ({} breaths)",
            w.t_end_s,
            self.quality.snr,
            self.quality.flat_fraction,
            self.quality.invalid_fraction,
            self.artefact_intervals.len(),
            self.quality.artefact_fraction,
            peak.map(|p| p.rate_bpm),
            peak.map_or(0.0, |p| p.prominence),
            self.breaths.len()
        );
        BreathWindow {
            hz,
            t_end_s: w.t_end_s,
            samples: &self.clean,
            breaths: &self.breaths,
            pauses: &self.pauses,
            hypopneas: &self.hypopneas,
            artefacts: &self.artefact_intervals,
            apnea_min_s: self.apnea_min_s,
            spectral_rate_bpm: peak.map(|p| p.rate_bpm),
            spectral_prominence: peak.map_or(0.0, |p| p.prominence),
            count_rate_bpm: count,
            rate_bpm,
            quality,
            amplitude,
            unseen_s: longest_unseen as f64 / hz,
        }
    }
}

/// Appends to `out` each run of `false` in `flags` (samples at `hz`, the first at `t0_s`) as an
/// interval from its first to its last sample; returns the longest run's length, samples.
fn push_false_runs(flags: &[bool], hz: f64, t0_s: f64, out: &mut Vec<Pause>) -> usize {
    let mut start: Option<usize> = None;
    let mut longest = 0;
    for (i, &f) in flags.iter().chain(std::iter::once(&true)).enumerate() {
        match (f, start) {
            (false, None) => start = Some(i),
            (true, Some(a)) => {
                out.push(Pause {
                    start_s: t0_s + a as f64 / hz,
                    end_s: t0_s + (i - 1) as f64 / hz,
                });
                longest = longest.max(i - a);
                start = None;
            }
            _ => {}
        }
    }
    longest
}

/// Cuts the samples without signal out of `pauses` (found in a window of `valid` flags at `hz`,
/// first sample at `t0_s`): each pause keeps its longest stretch of valid samples, if that lasts
/// at least `min_len_s`. A held value looks perfectly still, but no signal is not "no breathing":
/// a person out of view, or a recording's hole, must never become an apnea.
pub fn keep_seen(pauses: &mut Vec<Pause>, valid: &[bool], hz: f64, t0_s: f64, min_len_s: f64) {
    if valid.iter().all(|v| *v) {
        return;
    }
    let n = valid.len();
    let index = |t: f64| (((t - t0_s) * hz).round().max(0.0) as usize).min(n.saturating_sub(1));
    let time = |i: usize| t0_s + i as f64 / hz;
    for p in pauses.iter_mut() {
        let (a, b) = (index(p.start_s), index(p.end_s));
        if valid[a..=b].iter().all(|v| *v) {
            continue;
        }
        let mut best: Option<Pause> = None;
        let mut run: Option<usize> = None;
        // A `false` after the last sample closes the last run.
        let flags = valid[a..=b].iter().copied().chain(std::iter::once(false));
        for (i, ok) in (a..).zip(flags) {
            match (ok, run) {
                (true, None) => run = Some(i),
                (false, Some(r)) => {
                    // The piece runs from its first valid sample (or the pause's own start) to
                    // its last valid one (or the pause's own end).
                    let piece = Pause {
                        start_s: if r == a { p.start_s } else { time(r) },
                        end_s: if i - 1 == b { p.end_s } else { time(i - 1) },
                    };
                    if best.map_or(true, |x| piece.duration_s() > x.duration_s()) {
                        best = Some(piece);
                    }
                    run = None;
                }
                _ => {}
            }
        }
        *p = best.unwrap_or(Pause {
            start_s: p.start_s,
            end_s: p.start_s,
        });
    }
    pauses.retain(|p| p.duration_s() >= min_len_s);
}

/// Hypopneas of one window (see [`BreathWindow::hypopneas`]), into `out` (cleared first): runs of
/// consecutive breaths of at most [`HYPOPNEA_DEPTH`] of the median breath depth, from the first
/// one's trough to the next breath's trough (or the last one's peak plus its rise), lasting at
/// least `apnea_min_s` and overlapping no apnea. A still-looking stretch stays an apnea even when
/// small oscillations are detected in it: at 6 fps a true central apnea showed "breaths" of a
/// fifth of the median depth at the breathing pace, as shallow as a Cheyne-Stokes nadir's, so
/// depth and pace cannot tell them apart and a missed apnea costs more than a hypopnea reported
/// as an apnea.
///
/// `scratch` is reused for the median (no allocation once it holds a window's breaths).
pub fn find_hypopneas(
    breaths: &[DetectedBreath],
    pauses: &[Pause],
    apnea_min_s: f64,
    scratch: &mut Vec<f32>,
    out: &mut Vec<Pause>,
) {
    out.clear();
    if breaths.len() < 3 {
        return;
    }
    let is_apnea = |p: &Pause| p.duration_s() >= apnea_min_s - 1e-6;
    scratch.clear();
    scratch.extend(breaths.iter().map(|b| b.depth));
    let k = scratch.len() / 2;
    let median = *scratch.select_nth_unstable_by(k, f32::total_cmp).1;
    let limit = HYPOPNEA_DEPTH * median;
    let mut i = 0;
    while i < breaths.len() {
        if breaths[i].depth > limit {
            i += 1;
            continue;
        }
        let first = i;
        while i < breaths.len() && breaths[i].depth <= limit {
            i += 1;
        }
        let last = &breaths[i - 1];
        let end = breaths
            .get(i)
            .map_or(last.peak_s + (last.peak_s - last.trough_s), |b| b.trough_s);
        let run = Pause {
            start_s: breaths[first].trough_s,
            end_s: end,
        };
        let overlaps_apnea = pauses
            .iter()
            .any(|p| is_apnea(p) && p.start_s < run.end_s && run.start_s < p.end_s);
        if run.duration_s() >= apnea_min_s && !overlaps_apnea {
            match out
                .iter_mut()
                .find(|h| h.start_s <= run.end_s && run.start_s <= h.end_s)
            {
                Some(h) => {
                    h.start_s = h.start_s.min(run.start_s);
                    h.end_s = h.end_s.max(run.end_s);
                }
                None => out.push(run),
            }
        }
    }
    out.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
}

#[cfg(test)]
mod seen_tests {
    use super::*;

    #[test]
    fn runs_without_signal_become_intervals() {
        let mut flags = vec![true; 50];
        flags[10..20].iter_mut().for_each(|v| *v = false);
        flags[45..].iter_mut().for_each(|v| *v = false);
        let mut out = Vec::new();
        // The longest run (10 samples) comes back too: the window's `unseen_s`.
        assert_eq!(push_false_runs(&flags, 10.0, 100.0, &mut out), 10);
        assert_eq!(
            out,
            vec![
                Pause {
                    start_s: 101.0,
                    end_s: 101.9
                },
                Pause {
                    start_s: 104.5,
                    end_s: 104.9
                }
            ]
        );
    }

    #[test]
    fn a_signal_stuck_at_one_value_is_not_seen() {
        // 10 Hz: a rail (exactly 1.0) for 1.5 s, a repeat of 0.5 s, held invalid samples.
        let mut raw: Vec<f32> = (0..100).map(|i| (i as f32 * 0.3).sin()).collect();
        raw[20..35].iter_mut().for_each(|v| *v = 1.0);
        raw[50..55].iter_mut().for_each(|v| *v = 0.25);
        let mut valid = vec![true; 100];
        valid[80..83].iter_mut().for_each(|v| *v = false);
        let mut seen = Vec::new();
        let c = crate::respiration::quality::coverage(&raw, &valid, 10.0, &mut seen);
        // One pass gives the shares too: the rail is clipped (under 8 s), none frozen.
        assert_eq!((c.invalid, c.clipped, c.frozen), (0.03, 0.15, 0.0));
        let unseen: Vec<usize> = (0..100).filter(|&i| !seen[i]).collect();
        let expect: Vec<usize> = (20..35).chain(80..83).collect();
        assert_eq!(unseen, expect);
    }

    #[test]
    fn a_pause_keeps_only_its_longest_stretch_with_signal() {
        // 10 Hz from t = 100 s; no signal from 110 to 118 s.
        let valid: Vec<bool> = (0..600).map(|i| !(100..180).contains(&i)).collect();
        let mut pauses = vec![
            // Still before the hole and across it: 4 s seen before, 2 s after.
            Pause {
                start_s: 106.0,
                end_s: 120.0,
            },
            // Entirely inside the hole: gone.
            Pause {
                start_s: 111.0,
                end_s: 117.0,
            },
            // Away from it: untouched.
            Pause {
                start_s: 130.0,
                end_s: 142.0,
            },
        ];
        keep_seen(&mut pauses, &valid, 10.0, 100.0, 3.0);
        assert_eq!(pauses.len(), 2, "{pauses:?}");
        assert!((pauses[0].start_s - 106.0).abs() < 1e-9, "{pauses:?}");
        assert!((pauses[0].end_s - 109.9).abs() < 1e-9, "{pauses:?}");
        assert_eq!(
            pauses[1],
            Pause {
                start_s: 130.0,
                end_s: 142.0
            }
        );
        // With signal everywhere nothing changes.
        let mut same = pauses.clone();
        keep_seen(&mut same, &[true; 600], 10.0, 100.0, 3.0);
        assert_eq!(same, pauses);
    }
}

#[cfg(test)]
mod hypopnea_tests {
    use super::*;

    /// Breaths every 4 s from `t0` with the given depths (peak 1 s after the trough).
    fn breaths(t0: f64, depths: &[f32]) -> Vec<DetectedBreath> {
        depths
            .iter()
            .enumerate()
            .map(|(i, &depth)| {
                let t = t0 + 4.0 * i as f64;
                DetectedBreath {
                    trough_s: t,
                    mid_s: t + 0.5,
                    peak_s: t + 1.0,
                    depth,
                }
            })
            .collect()
    }

    fn run(b: &[DetectedBreath], pauses: &[Pause]) -> Vec<Pause> {
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        find_hypopneas(b, pauses, 10.0, &mut scratch, &mut out);
        out
    }

    #[test]
    fn a_run_of_shallow_breaths_of_ten_seconds_or_more_is_a_hypopnea() {
        // 6 normal, 4 at a third (16 s from the first shallow trough to the next trough), 6 normal.
        let mut d = vec![6.0; 6];
        d.extend([2.0; 4]);
        d.extend([6.0; 6]);
        let b = breaths(0.0, &d);
        let h = run(&b, &[]);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!((h[0].start_s - 24.0).abs() < 1e-9 && (h[0].end_s - 40.0).abs() < 1e-9);
        // Two shallow breaths (8 s) are not enough; half-depth breaths are not shallow enough.
        let mut d = vec![6.0; 6];
        d.extend([2.0; 2]);
        d.extend([3.1; 4]);
        d.extend([6.0; 6]);
        assert!(run(&breaths(0.0, &d), &[]).is_empty());
    }

    #[test]
    fn a_shallow_run_overlapping_an_apnea_is_not_a_hypopnea() {
        let mut d = vec![6.0; 6];
        d.extend([2.0; 4]);
        d.extend([6.0; 6]);
        let b = breaths(0.0, &d);
        let apnea = [Pause {
            start_s: 30.0,
            end_s: 41.0,
        }];
        assert!(run(&b, &apnea).is_empty());
        // A pause shorter than an apnea does not hide it.
        let short = [Pause {
            start_s: 30.0,
            end_s: 35.0,
        }];
        assert_eq!(run(&b, &short).len(), 1);
    }
}
