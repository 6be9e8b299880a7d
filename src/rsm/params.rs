//! Parameters of one simulated subject: the knobs of the RSM, their clinical ranges per pattern,
//! typical values, random draws inside those ranges ([`RsmParams::draw`]) and validation.
//!
//! Ranges follow the pattern definitions in the README and the measurements of real recordings in
//! `src/rsm/README.md` (period CV 0.07-0.13, amplitude CV 0.07-0.12, I:E about 1:1.2).

use super::RsmError;
use crate::types::Pattern;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Parameters of one simulated subject and pattern. All fields are public plain data; call
/// [`RsmParams::validate`] before use when they come from outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RsmParams {
    /// Breathing pattern to simulate.
    pub pattern: Pattern,
    /// Mean breathing rate while breathing (inside a cluster for Biot's, during the hyperpnoea for
    /// Cheyne-Stokes), breaths/min.
    pub rate_bpm: f32,
    /// Mean peak-to-trough chest displacement of one breath, mm (for Cheyne-Stokes: the depth at the
    /// top of the crescendo).
    pub depth_mm: f32,
    /// Sensor noise added by [`super::Rsm::sample`] (not by the camera path), mm RMS.
    pub noise_mm: f32,
    /// Expiration time / inspiration time (2.0 means I:E = 1:2), dimensionless.
    pub ie_ratio: f32,
    /// Sharpness of the exponential-like expiration (higher = faster emptying, longer plateau).
    pub expiration_k: f32,
    /// Breath-to-breath coefficient of variation of the period (log-normal, AR(1)-correlated).
    pub period_cv: f32,
    /// Breath-to-breath coefficient of variation of the depth.
    pub depth_cv: f32,
    /// Baseline drift of the chest/body distance, mm RMS (minutes time scale).
    pub drift_mm: f32,
    /// Posture sway, mm RMS per axis (10-100 s time scale; forward sway is a third of it).
    pub sway_mm: f32,
    /// Mean number of larger motion artefacts (fidgets, position shifts) per minute.
    pub artefacts_per_min: f32,
    /// Typical size of a motion artefact, mm.
    pub artefact_mm: f32,
    /// Cardiac ripple on the chest, mm peak.
    pub cardiac_mm: f32,
    /// Heart rate of the cardiac ripple, beats/min.
    pub heart_rate_bpm: f32,
    /// Pause length range `[min, max]`, s: Biot's pauses between clusters, Cheyne-Stokes apneas,
    /// central apneas. Unused by the regular patterns.
    pub pause_s: [f32; 2],
    /// Biot's: breaths per cluster `[min, max]`; central apnea: breathing time between two pauses
    /// `[min, max]` in s. Unused otherwise.
    pub group: [f32; 2],
    /// Cheyne-Stokes cycle length (hyperpnoea + apnea/hypopnoea), s. Unused otherwise.
    pub cycle_s: f32,
    /// Cheyne-Stokes: `true` for hypopnoeas (shallow breathing) instead of apneas between cycles.
    pub hypopnea: bool,
    /// Sighs (one breath 1.6-2.4 times as deep, then 1.5-4 s of stillness, never an apnea) per
    /// minute of breathing, for the regular patterns and the breathing stretches of central apnea;
    /// 0 for none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sighs_per_min: f32,
    /// Cheyne-Stokes: where the largest breath falls in the crescendo-decrescendo run, as a share of
    /// the run (0.5 is symmetric). `None`: symmetric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cs_peak: Option<f32>,
    /// Cheyne-Stokes: depth of the smallest breaths of a run, as a share of the largest. `None`: 0.12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cs_floor: Option<f32>,
    /// Cheyne-Stokes hypopnoea variant: the shallow breaths are drawn between half this share of
    /// the largest breath and this share. `None`: 0.12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypopnea_depth: Option<f32>,
    /// Biot's: each cluster's depth is the mean depth times a factor drawn in `1 ± this`. `None`: 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_depth_spread: Option<f32>,
    /// Central apnea: the 1-3 breaths after each pause are this many times as deep (a recovery
    /// after the apnea). `None`: no recovery breaths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_depth: Option<f32>,
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

/// Allowed mean breathing rate for `pattern`, breaths/min (inclusive). Used to validate `--rate`.
pub fn rate_range(pattern: Pattern) -> (f32, f32) {
    match pattern {
        Pattern::Eupnea | Pattern::CentralApnea => (12.0, 20.0),
        Pattern::Tachypnea => (21.0, 40.0),
        Pattern::Bradypnea => (6.0, 11.0),
        Pattern::Biots => (16.0, 32.0),
        Pattern::CheyneStokes => (12.0, 26.0),
    }
}

impl RsmParams {
    /// Typical parameters for `pattern` (used when nothing else is given).
    pub fn typical(pattern: Pattern) -> Self {
        let (rate_bpm, depth_mm) = match pattern {
            Pattern::Tachypnea => (28.0, 4.0),
            Pattern::Bradypnea => (8.0, 8.0),
            Pattern::Biots => (22.0, 6.0),
            Pattern::CheyneStokes => (18.0, 9.0),
            _ => (15.0, 6.0),
        };
        let (pause_s, group) = match pattern {
            Pattern::Biots => ([3.0, 25.0], [2.0, 6.0]),
            Pattern::CheyneStokes => ([12.0, 25.0], [0.0, 0.0]),
            Pattern::CentralApnea => ([12.0, 30.0], [25.0, 60.0]),
            _ => ([0.0, 0.0], [0.0, 0.0]),
        };
        Self {
            pattern,
            rate_bpm,
            depth_mm,
            noise_mm: 0.1,
            ie_ratio: 1.4,
            expiration_k: 4.5,
            period_cv: 0.08,
            depth_cv: 0.08,
            drift_mm: 0.8,
            sway_mm: 0.8,
            artefacts_per_min: 0.1,
            artefact_mm: 15.0,
            cardiac_mm: 0.12,
            heart_rate_bpm: 72.0,
            pause_s,
            group,
            cycle_s: 70.0,
            hypopnea: false,
            sighs_per_min: 0.0,
            cs_peak: None,
            cs_floor: None,
            hypopnea_depth: None,
            cluster_depth_spread: None,
            recovery_depth: None,
        }
    }

    /// These parameters with the mean rate set to `rate_bpm` (breaths/min); an error naming `rate`
    /// and the pattern's allowed range ([`rate_range`]) if it is outside.
    pub fn with_rate(mut self, rate_bpm: f32) -> Result<Self, RsmError> {
        let (lo, hi) = rate_range(self.pattern);
        check("rate", rate_bpm, lo, hi)?;
        self.rate_bpm = rate_bpm;
        Ok(self)
    }

    /// A random subject for `pattern`, every value inside the pattern's clinical range: rates keep a
    /// margin from the class borders so that the measured mean rate stays inside them; apnea pauses
    /// of Cheyne-Stokes and central apnea are at least 11 s.
    pub fn draw<R: Rng + ?Sized>(pattern: Pattern, rng: &mut R) -> Self {
        let mut p = Self::typical(pattern);
        let (lo, hi) = rate_range(pattern);
        p.rate_bpm = rng.gen_range(lo + 0.6..hi - 0.6);
        p.depth_mm = match pattern {
            Pattern::Tachypnea => rng.gen_range(2.0..7.0),
            Pattern::Bradypnea => rng.gen_range(5.0..12.0),
            Pattern::CheyneStokes => rng.gen_range(6.0..12.0),
            _ => rng.gen_range(3.0..10.0),
        };
        p.noise_mm = rng.gen_range(0.02..0.2);
        p.ie_ratio = rng.gen_range(1.1..2.0);
        p.expiration_k = rng.gen_range(3.5..6.0);
        p.period_cv = rng.gen_range(0.04..0.12);
        p.depth_cv = rng.gen_range(0.04..0.12);
        p.drift_mm = rng.gen_range(0.2..1.5);
        p.sway_mm = rng.gen_range(0.3..2.0);
        p.artefacts_per_min = rng.gen_range(0.0..0.3);
        p.artefact_mm = rng.gen_range(5.0..30.0);
        p.cardiac_mm = rng.gen_range(0.05..0.3);
        p.heart_rate_bpm = rng.gen_range(50.0..110.0);
        match pattern {
            Pattern::Biots => {
                // Clusters of similar breaths: low depth variability by definition.
                p.depth_cv = rng.gen_range(0.03..0.07);
                p.pause_s = [rng.gen_range(3.0..6.0), rng.gen_range(14.0..30.0)];
                p.group = [2.0, rng.gen_range(4.0..6.99_f32).floor()];
            }
            Pattern::CheyneStokes => {
                p.cycle_s = rng.gen_range(45.0..110.0);
                p.pause_s = cs_pauses(rng, 11.5, p.cycle_s);
                p.hypopnea = rng.gen_bool(0.2);
            }
            Pattern::CentralApnea => {
                p.depth_cv = rng.gen_range(0.04..0.09);
                let lo = rng.gen_range(11.5..18.0);
                p.pause_s = [lo, rng.gen_range(lo + 1.0..35.0)];
                let g = rng.gen_range(20.0..40.0);
                p.group = [g, g + rng.gen_range(10.0..30.0)];
            }
            _ => {}
        }
        p
    }

    /// Widens a drawn subject toward the edges of its pattern's clinical definition, for training
    /// sets: the classifier must learn the definitions, not the shapes [`RsmParams::draw`] happens
    /// to favour. Consumes `rng` only (the drawn values stay as they are where nothing is widened).
    ///
    /// * eupnea, tachypnea, bradypnea: sighs (0.3-2 per minute) in half the subjects;
    /// * Biot's: clusters of 1 to 3-8 breaths whose depth differs 10-50 % from cluster to cluster
    ///   (ataxic), pauses from 2.5-6 s up to 12-30 s;
    /// * Cheyne-Stokes: the run's largest breath 30-70 % of the way through it, its smallest 5-30 %
    ///   as deep; hypopnoeas (10-22 % depth) instead of apneas in a third; cycles of 40-110 s;
    /// * central apnea: 1-3 recovery breaths 1.2-1.6 times as deep after each pause in half the
    ///   subjects; sighs in a quarter; pauses up to 40 s; 15-90 s of breathing between them.
    pub fn widen<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        match self.pattern {
            Pattern::Eupnea | Pattern::Tachypnea | Pattern::Bradypnea => {
                if rng.gen_bool(0.5) {
                    self.sighs_per_min = rng.gen_range(0.3..2.0);
                }
            }
            Pattern::Biots => {
                self.cluster_depth_spread = Some(rng.gen_range(0.1..0.5));
                self.group = [1.0, rng.gen_range(3.0..8.99_f32).floor()];
                self.pause_s = [rng.gen_range(2.5..6.0), rng.gen_range(12.0..30.0)];
            }
            Pattern::CheyneStokes => {
                self.cs_peak = Some(rng.gen_range(0.3..0.7));
                self.cs_floor = Some(rng.gen_range(0.05..0.3));
                self.cycle_s = rng.gen_range(40.0..110.0);
                self.hypopnea = rng.gen_bool(1.0 / 3.0);
                self.hypopnea_depth = Some(rng.gen_range(0.1..0.22));
                self.pause_s = cs_pauses(rng, 10.5, self.cycle_s);
            }
            Pattern::CentralApnea => {
                if rng.gen_bool(0.5) {
                    self.recovery_depth = Some(rng.gen_range(1.2..1.6));
                }
                if rng.gen_bool(0.25) {
                    self.sighs_per_min = rng.gen_range(0.3..1.5);
                }
                let lo = rng.gen_range(11.0..18.0);
                self.pause_s = [lo, rng.gen_range(lo + 1.0..40.0)];
                let g = rng.gen_range(15.0..45.0);
                self.group = [g, g + rng.gen_range(5.0..45.0)];
            }
        }
    }

    /// Checks every field against its allowed range; the error names the field and the range.
    pub fn validate(&self) -> Result<(), RsmError> {
        let (rlo, rhi) = rate_range(self.pattern);
        check("rate_bpm", self.rate_bpm, rlo, rhi)?;
        check("depth_mm", self.depth_mm, 0.1, 50.0)?;
        check("noise_mm", self.noise_mm, 0.0, 10.0)?;
        check("ie_ratio", self.ie_ratio, 0.5, 4.0)?;
        check("expiration_k", self.expiration_k, 1.0, 10.0)?;
        check("period_cv", self.period_cv, 0.0, 0.3)?;
        check("depth_cv", self.depth_cv, 0.0, 0.3)?;
        check("drift_mm", self.drift_mm, 0.0, 50.0)?;
        check("sway_mm", self.sway_mm, 0.0, 50.0)?;
        check("artefacts_per_min", self.artefacts_per_min, 0.0, 1.0)?;
        check("artefact_mm", self.artefact_mm, 0.0, 200.0)?;
        check("cardiac_mm", self.cardiac_mm, 0.0, 2.0)?;
        check("heart_rate_bpm", self.heart_rate_bpm, 30.0, 200.0)?;
        check("cycle_s", self.cycle_s, 40.0, 120.0)?;
        check("sighs_per_min", self.sighs_per_min, 0.0, 6.0)?;
        let optional = [
            ("cs_peak", self.cs_peak, 0.2, 0.8),
            ("cs_floor", self.cs_floor, 0.0, 0.5),
            ("hypopnea_depth", self.hypopnea_depth, 0.02, 0.5),
            ("cluster_depth_spread", self.cluster_depth_spread, 0.0, 0.8),
            ("recovery_depth", self.recovery_depth, 1.0, 3.0),
        ];
        for (name, value, lo, hi) in optional {
            if let Some(v) = value {
                check(name, v, lo, hi)?;
            }
        }
        match self.pattern {
            Pattern::Biots => {
                check("pause_s[0]", self.pause_s[0], 1.0, 60.0)?;
                check("pause_s[1]", self.pause_s[1], self.pause_s[0], 60.0)?;
                check("group[0]", self.group[0], 1.0, 10.0)?;
                check("group[1]", self.group[1], self.group[0], 10.0)?;
            }
            Pattern::CheyneStokes | Pattern::CentralApnea => {
                check("pause_s[0]", self.pause_s[0], 10.5, 60.0)?;
                check("pause_s[1]", self.pause_s[1], self.pause_s[0], 60.0)?;
                if self.pattern == Pattern::CentralApnea {
                    check("group[0]", self.group[0], 10.0, 300.0)?;
                    check("group[1]", self.group[1], self.group[0], 300.0)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Cheyne-Stokes apnea range `[lo, hi]`, s: `lo` drawn in `shortest..16`, `hi` 2-15 s longer but
/// at most 45 % of the cycle `cycle_s`.
fn cs_pauses<R: Rng + ?Sized>(rng: &mut R, shortest: f32, cycle_s: f32) -> [f32; 2] {
    let lo = rng.gen_range(shortest..16.0);
    [
        lo,
        (lo + rng.gen_range(2.0..15.0)).min(0.45 * cycle_s).max(lo),
    ]
}

/// `Ok` when `value` is finite and inside `[lo, hi]`, else an error naming `name` and the range.
pub(crate) fn check(name: &'static str, value: f32, lo: f32, hi: f32) -> Result<(), RsmError> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(())
    } else {
        Err(RsmError::OutOfRange {
            name,
            value: value as f64,
            lo: lo as f64,
            hi: hi as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn typical_and_drawn_params_validate() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for p in Pattern::ALL {
            RsmParams::typical(p)
                .validate()
                .map_err(|e| format!("{p}: {e}"))
                .unwrap();
            for _ in 0..50 {
                let d = RsmParams::draw(p, &mut rng);
                d.validate().map_err(|e| format!("{p}: {e}")).unwrap();
                assert!(
                    (2.0..=12.0).contains(&d.depth_mm),
                    "{p} depth {}",
                    d.depth_mm
                );
            }
        }
    }

    #[test]
    fn widened_params_validate_and_reach_the_definitions_edges() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut sighs = 0;
        let mut skewed = 0;
        let mut single_breath_clusters = 0;
        for _ in 0..200 {
            for p in Pattern::ALL {
                let mut d = RsmParams::draw(p, &mut rng);
                d.widen(&mut rng);
                d.validate().map_err(|e| format!("{p}: {e}")).unwrap();
                sighs += usize::from(d.sighs_per_min > 0.0);
                skewed += usize::from(d.cs_peak.is_some_and(|c| !(0.4..=0.6).contains(&c)));
                single_breath_clusters += usize::from(p == Pattern::Biots && d.group[0] == 1.0);
            }
        }
        // Half of 600 regular subjects and a quarter of 200 central-apnea ones: about 350.
        assert!((280..=420).contains(&sighs), "{sighs}");
        // cs_peak is uniform in 0.3-0.7: half of 200 lie outside 0.4-0.6.
        assert!((70..=130).contains(&skewed), "{skewed}");
        assert_eq!(single_breath_clusters, 200);
    }

    #[test]
    fn validate_names_the_bad_field() {
        let mut p = RsmParams::typical(Pattern::Tachypnea);
        p.rate_bpm = 15.0;
        let msg = p.validate().unwrap_err().to_string();
        assert!(
            msg.contains("rate_bpm") && msg.contains("21") && msg.contains("40"),
            "{msg}"
        );
        p.rate_bpm = f32::NAN;
        assert!(p.validate().is_err());
        let q = RsmParams::typical(Pattern::Bradypnea);
        assert_eq!(q.clone().with_rate(7.5).map(|q| q.rate_bpm).ok(), Some(7.5));
        let msg = q.with_rate(30.0).map(|_| ()).unwrap_err().to_string();
        assert!(
            msg.contains("rate = 30") && msg.contains("6 to 11"),
            "{msg}"
        );
    }
}
