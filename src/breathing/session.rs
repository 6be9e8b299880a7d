//! The breathing verdict over many windows: a screening session, or a whole recording.
//!
//! Rule (the same for the kiosk's sessions and for `edge-screen breathing`): the scores are the mean
//! of the windows' (tempered) scores; the pattern is the best of those, but none is claimed when the
//! median window quality is below [`MIN_RATE_QUALITY`] ("insufficient signal"); the rate is the
//! median of the windows' rates, given only when at least half of the windows have one and the
//! quality is sufficient; the apneas are the union of the windows' motionless pauses, merged where
//! they overlap, that last at least the apnea threshold; the hypopneas (runs of shallow breathing)
//! likewise, less any that overlaps an apnea; the movement artefacts (coughs, jolts) likewise.
//! A window with a stretch of more than [`MAX_UNSEEN_FOR_PATTERN_S`] without signal gives its rate
//! and quality but no pattern evidence (a hole looks like a pause to a classifier); when no window
//! gives evidence, no pattern is claimed although the rate may be ("pattern not classified").

use crate::respiration::window::{BreathWindow, MIN_RATE_QUALITY};
use crate::types::{ApneaInterval, BreathingReading, Pattern, PatternScores};
use serde::Serialize;

/// Longest stretch without signal in a window whose pattern scores still count, s: shorter than
/// the briefest pause a pattern is told by (3 s), so a hole cannot pass for one.
pub const MAX_UNSEEN_FOR_PATTERN_S: f64 = 2.0;

/// Accumulates window readings.
#[derive(Debug, Clone, Default)]
pub struct SessionVerdict {
    sum: [f64; 6],
    windows: usize,
    /// Windows whose scores are in `sum`.
    scored: usize,
    rates: Vec<f32>,
    qualities: Vec<f32>,
    pauses: Vec<ApneaInterval>,
    hypopneas: Vec<ApneaInterval>,
    artefacts: Vec<ApneaInterval>,
    apnea_min_s: f64,
}

/// The verdict, as reported (`edge-screen breathing --json`, a `session_result`'s `breathing`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreathingSummary {
    /// The most likely pattern; `None` when the signal is insufficient.
    pub pattern: Option<Pattern>,
    /// Whether the signal was too poor to claim a pattern or a rate.
    pub insufficient_signal: bool,
    /// Mean window scores, summing to 1.
    pub scores: PatternScores,
    /// Median window rate, breaths/min; `None` when not meaningful (see the module doc).
    pub rate_bpm: Option<f32>,
    /// Median window quality, 0..=1.
    pub quality: f32,
    /// Pauses of at least the apnea threshold, s on the stream's (or recording's) clock.
    pub apneas: Vec<ApneaInterval>,
    /// Hypopneas: runs of shallow breathing of at least the apnea threshold (see
    /// [`BreathWindow::hypopneas`]), merged over the windows, none overlapping an apnea.
    pub hypopneas: Vec<ApneaInterval>,
    /// Movement artefacts (coughs, jolts: [`BreathWindow::artefacts`]), merged over the windows:
    /// taken out of the rate and the pattern evidence, listed so a reviewer knows they happened.
    pub artefacts: Vec<ApneaInterval>,
    /// Number of windows behind the verdict.
    #[serde(skip)]
    pub windows: usize,
}

impl SessionVerdict {
    /// An empty verdict; pauses count as apneas from `apnea_min_s` (s).
    pub fn new(apnea_min_s: f64) -> Self {
        Self {
            apnea_min_s,
            ..Self::default()
        }
    }

    /// Add one window: its reading and the window itself (for its pauses).
    pub fn add(&mut self, reading: &BreathingReading, window: &BreathWindow<'_>) {
        if window.unseen_s > MAX_UNSEEN_FOR_PATTERN_S {
            self.add_unscored(reading.rate_bpm, reading.quality);
        } else {
            self.add_scores(&reading.scores, reading.rate_bpm, reading.quality);
        }
        for p in window.pauses {
            merge(&mut self.pauses, *p);
        }
        for h in window.hypopneas {
            merge(&mut self.hypopneas, *h);
        }
        for a in window.artefacts {
            merge(&mut self.artefacts, *a);
        }
    }

    /// Add one window's scores, rate (breaths/min) and quality (0..1).
    pub fn add_scores(&mut self, scores: &PatternScores, rate_bpm: Option<f32>, quality: f32) {
        for (s, v) in self.sum.iter_mut().zip(scores.0) {
            *s += v as f64;
        }
        self.scored += 1;
        self.add_unscored(rate_bpm, quality);
    }

    /// Add one window's rate and quality without pattern evidence.
    fn add_unscored(&mut self, rate_bpm: Option<f32>, quality: f32) {
        self.windows += 1;
        self.rates.extend(rate_bpm.filter(|r| r.is_finite()));
        self.qualities.push(quality);
    }

    /// Number of windows added.
    pub fn windows(&self) -> usize {
        self.windows
    }

    /// Mean scores of the windows with pattern evidence (uniform when none).
    pub fn scores(&self) -> PatternScores {
        let n = self.scored.max(1) as f64;
        PatternScores::from_evidence(self.sum.map(|s| (s / n) as f32))
    }

    /// The most likely pattern of the session.
    pub fn pattern(&self) -> Pattern {
        self.scores().best().0
    }

    fn median(v: &[f32]) -> Option<f32> {
        let mut v = v.to_vec();
        v.sort_by(f32::total_cmp);
        match v.len() {
            0 => None,
            n if n % 2 == 1 => Some(v[n / 2]),
            n => Some(0.5 * (v[n / 2 - 1] + v[n / 2])),
        }
    }

    /// Median of the window rates, if at least half of the windows have a rate.
    pub fn rate_bpm(&self) -> Option<f32> {
        if self.windows == 0 || 2 * self.rates.len() < self.windows {
            return None;
        }
        Self::median(&self.rates)
    }

    /// Median window quality (0 when empty).
    pub fn quality(&self) -> f32 {
        Self::median(&self.qualities).unwrap_or(0.0)
    }

    /// The verdict by the rule in the module doc.
    pub fn summary(&self) -> BreathingSummary {
        let quality = self.quality();
        let sufficient = quality >= MIN_RATE_QUALITY;
        let scores = self.scores();
        let mut apneas: Vec<ApneaInterval> = self
            .pauses
            .iter()
            .copied()
            .filter(|p| p.duration_s() >= self.apnea_min_s)
            .collect();
        apneas.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        let mut hypopneas: Vec<ApneaInterval> = self
            .hypopneas
            .iter()
            .copied()
            .filter(|h| h.duration_s() >= self.apnea_min_s)
            .filter(|h| !apneas.iter().any(|a| a.overlaps(h)))
            .collect();
        hypopneas.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        let mut artefacts = self.artefacts.clone();
        artefacts.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        BreathingSummary {
            pattern: (sufficient && self.scored > 0).then(|| scores.best().0),
            insufficient_signal: !sufficient,
            scores,
            rate_bpm: self.rate_bpm().filter(|_| sufficient),
            quality,
            apneas,
            hypopneas,
            artefacts,
            windows: self.windows,
        }
    }
}

/// Add `p` to the merged interval list.
fn merge(list: &mut Vec<ApneaInterval>, p: ApneaInterval) {
    if let Some(last) = list
        .iter_mut()
        .find(|a| a.start_s <= p.end_s && p.start_s <= a.end_s)
    {
        last.start_s = last.start_s.min(p.start_s);
        last.end_s = last.end_s.max(p.end_s);
    } else {
        list.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_scores_and_median_rate() {
        let mut s = SessionVerdict::new(10.0);
        let mut a = [0.0; 6];
        a[0] = 1.0;
        let mut b = [0.0; 6];
        b[1] = 1.0;
        s.add_scores(&PatternScores(a), Some(14.0), 0.9);
        s.add_scores(&PatternScores(a), Some(16.0), 0.8);
        s.add_scores(&PatternScores(b), None, 0.1);
        let sc = s.scores();
        assert!((sc.0[0] - 2.0 / 3.0).abs() < 1e-6 && (sc.0[1] - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(s.pattern(), Pattern::Eupnea);
        assert_eq!(s.rate_bpm(), Some(15.0));
        assert_eq!(s.quality(), 0.8);
        s.add_scores(&PatternScores(b), None, 0.1);
        assert_eq!(s.rate_bpm(), Some(15.0));
        s.add_scores(&PatternScores(b), None, 0.1);
        assert_eq!(
            s.rate_bpm(),
            None,
            "fewer than half of the windows have a rate"
        );
        let v = s.summary();
        assert!(v.insufficient_signal && v.pattern.is_none() && v.rate_bpm.is_none());
        assert_eq!(v.quality, 0.1);
    }

    #[test]
    fn overlapping_pauses_merge_and_short_ones_are_not_apneas() {
        let mut list = Vec::new();
        for (a, b) in [(10.0, 16.0), (14.0, 22.0), (40.0, 44.0), (60.0, 75.0)] {
            merge(
                &mut list,
                ApneaInterval {
                    start_s: a,
                    end_s: b,
                },
            );
        }
        let s = SessionVerdict {
            pauses: list,
            apnea_min_s: 10.0,
            ..SessionVerdict::default()
        };
        let apneas = s.summary().apneas;
        assert_eq!(
            apneas,
            vec![
                ApneaInterval {
                    start_s: 10.0,
                    end_s: 22.0
                },
                ApneaInterval {
                    start_s: 60.0,
                    end_s: 75.0
                },
            ]
        );
    }
}
