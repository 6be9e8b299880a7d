//! Ground truth of a simulation: every breath, every pause (apneas are pauses of 10 s or more),
//! Cheyne-Stokes cycle starts and motion artefacts — the labels evaluations compare against.

use crate::types::{ApneaInterval, Pattern};
use serde::{Deserialize, Serialize};

/// Shortest pause recorded as an apnea, s.
pub const APNEA_MIN_S: f64 = 10.0;

/// One simulated breath. The chest is at its resting level at `onset_s` and again at
/// `onset_s + duration_s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Breath {
    /// Start of inspiration, s.
    pub onset_s: f64,
    /// Inspiration + expiration time, s (excluding any pause after it).
    pub duration_s: f64,
    /// Inspiration time, s (so I:E = `inspiration_s : duration_s - inspiration_s`).
    pub inspiration_s: f64,
    /// Peak chest displacement of this breath above the resting level, mm.
    pub depth_mm: f32,
}

/// Kind of a larger body movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtefactKind {
    /// A brief movement out and back (1-4 s).
    Fidget,
    /// The person shifts position, holds it for a while and settles back (5-20 s).
    Shift,
}

/// A larger body movement (motion artefact) in the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MotionArtefact {
    /// Start, s.
    pub start_s: f64,
    /// End, s (the body is back to its drift/sway path).
    pub end_s: f64,
    /// Fidget or position shift.
    pub kind: ArtefactKind,
    /// Largest offset reached, mm (forward, lateral, vertical).
    pub offset_mm: [f32; 3],
}

/// What was simulated: the labels every evaluation compares against.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Simulated pattern (`None` only for an empty default value).
    pub pattern: Option<Pattern>,
    /// Breaths generated so far, in time order.
    pub breaths: Vec<Breath>,
    /// Pauses of 10 s or more with no breathing movement, in time order.
    pub apneas: Vec<ApneaInterval>,
    /// Every pause between breaths of any length (Biot's pauses, apneas), in time order.
    pub pauses: Vec<ApneaInterval>,
    /// Cheyne-Stokes: onsets of the first breath of each crescendo-decrescendo cycle, s.
    pub cycle_starts_s: Vec<f64>,
    /// Larger body movements, in time order.
    pub motion_artefacts: Vec<MotionArtefact>,
}

impl GroundTruth {
    /// Instantaneous rate at `t_s`: 60 / duration of the latest breath started at or before `t_s`,
    /// breaths/min; `None` during a pause of 10 s or more or before the first breath.
    pub fn rate_at(&self, t_s: f64) -> Option<f32> {
        if self
            .apneas
            .iter()
            .any(|a| a.start_s <= t_s && t_s < a.end_s)
        {
            return None;
        }
        let i = self.breaths.partition_point(|b| b.onset_s <= t_s);
        let b = self.breaths.get(i.checked_sub(1)?)?;
        (b.duration_s > 0.0).then(|| (60.0 / b.duration_s) as f32)
    }

    /// Mean rate while breathing over `[t0, t1)`: 60 / mean duration of the breaths whose onset lies
    /// in the range (pauses excluded), breaths/min; `None` with fewer than two breaths.
    pub fn mean_rate_bpm(&self, t0: f64, t1: f64) -> Option<f32> {
        let (n, sum) = self
            .breaths
            .iter()
            .filter(|b| b.onset_s >= t0 && b.onset_s < t1)
            .fold((0usize, 0.0f64), |(n, s), b| (n + 1, s + b.duration_s));
        (n >= 2 && sum > 0.0).then(|| (60.0 * n as f64 / sum) as f32)
    }

    /// The labels restricted to `[t0, t1)`: breaths with their onset inside, pauses and artefacts
    /// clipped to the range, apneas clipped and kept only if at least 10 s remain.
    pub fn clipped(&self, t0: f64, t1: f64) -> GroundTruth {
        let clip = |a: &ApneaInterval| ApneaInterval {
            start_s: a.start_s.max(t0),
            end_s: a.end_s.min(t1),
        };
        GroundTruth {
            pattern: self.pattern,
            breaths: self
                .breaths
                .iter()
                .filter(|b| b.onset_s >= t0 && b.onset_s < t1)
                .copied()
                .collect(),
            apneas: self
                .apneas
                .iter()
                .map(clip)
                .filter(|a| a.duration_s() >= APNEA_MIN_S)
                .collect(),
            pauses: self
                .pauses
                .iter()
                .map(clip)
                .filter(|a| a.duration_s() > 0.0)
                .collect(),
            cycle_starts_s: self
                .cycle_starts_s
                .iter()
                .copied()
                .filter(|t| *t >= t0 && *t < t1)
                .collect(),
            motion_artefacts: self
                .motion_artefacts
                .iter()
                .filter(|m| m.end_s > t0 && m.start_s < t1)
                .copied()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breath(onset_s: f64, duration_s: f64) -> Breath {
        Breath {
            onset_s,
            duration_s,
            inspiration_s: duration_s / 3.0,
            depth_mm: 5.0,
        }
    }

    #[test]
    fn rates_on_a_hand_made_truth() {
        let t = GroundTruth {
            breaths: vec![breath(0.0, 4.0), breath(4.0, 6.0), breath(22.0, 3.0)],
            apneas: vec![ApneaInterval {
                start_s: 10.0,
                end_s: 22.0,
            }],
            ..Default::default()
        };
        assert_eq!(t.rate_at(-1.0), None);
        assert_eq!(t.rate_at(1.0), Some(15.0));
        assert_eq!(t.rate_at(5.0), Some(10.0));
        assert_eq!(t.rate_at(15.0), None);
        assert_eq!(t.rate_at(23.0), Some(20.0));
        // (4 + 6 + 3) / 3 s per breath.
        let m = t.mean_rate_bpm(0.0, 30.0).unwrap_or(0.0);
        assert!((m - 60.0 * 3.0 / 13.0).abs() < 1e-4, "{m}");
        let c = t.clipped(15.0, 40.0);
        assert!(c.apneas.is_empty(), "7 s left of the apnea is not an apnea");
        assert_eq!(c.breaths.len(), 1);
        assert_eq!(t.clipped(0.0, 40.0).apneas.len(), 1);
    }
}
