//! `RuleBaseline`: the rule-based classifier of the six patterns, kept in the product as the named
//! comparator for learned models.
//!
//! Features of a window ([`Features::of`]):
//! * `rate`: the reading's rate (else counted, else spectral), breaths/min;
//! * significant pauses: motionless pauses of at least `max(3 s, 0.8 × breath period)` (period =
//!   60 / rate, else the median breath interval), so the natural end-expiratory rest of slow
//!   breathing is not one; `pause_frac` is their share
//!   of the window and `longest` the longest one; apneas are those of `apnea_min_s` or more;
//! * clusters: runs of breaths between significant pauses; `cluster_size` is the mean number of
//!   breaths of the clusters bounded by pauses on both sides (all clusters if none is);
//! * depth modulation `waxwane` in 0..1, the larger of: the best least-squares sinusoid of period
//!   40-120 s fitted to breath depth against time (fraction of depth variance explained, R²), times
//!   how strongly depth varies (coefficient of variation ramping from 0.2 to 0.45); and, over the
//!   clusters of at least 4 breaths, the correlation of depth with a crescendo-decrescendo (half-sine)
//!   template times the within-cluster depth CV ramping from 0.15 to 0.35.
//!
//! Soft evidence (σ = logistic), normalised with `PatternScores::from_evidence`:
//! * `paused = max(σ((longest − (apnea_min − 1)) / 0.7), σ((pause_frac − 0.1) / 0.03))`
//! * `small = σ((size − 1.6) / 0.3) · σ((6.5 − size) / 0.8)` (clusters of about 2-6 breaths)
//! * `regular = (1 − paused)(1 − waxwane)`, split by rate: eupnea `σ((r − 12)/0.4) σ((20 − r)/0.4)`,
//!   tachypnea `σ((r − 20)/0.4)`, bradypnea `σ((12 − r)/0.4)` (a third each without a rate);
//! * biots `paused · small · (1 − waxwane)`; cheyne_stokes `waxwane · max(paused, 0.5)`;
//!   central_apnea `σ((longest − (apnea_min − 1)) / 0.7) · (1 − small) · (1 − waxwane)`;
//! * every class gets 0.01 so nothing is ever exactly impossible.

use super::PatternClassifier;
use crate::respiration::window::{BreathWindow, PAUSE_MIN_S};
use crate::types::{Pattern, PatternScores};

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Window features the rules use (public for diagnostics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Features {
    /// Rate, breaths/min.
    pub rate: Option<f32>,
    /// Share of the window in significant pauses.
    pub pause_frac: f32,
    /// Longest significant pause, s.
    pub longest_pause_s: f32,
    /// Number of significant pauses.
    pub pauses: usize,
    /// Mean breaths per cluster.
    pub cluster_size: f32,
    /// Depth waxing/waning strength, 0..1.
    pub waxwane: f32,
    /// Coefficient of variation of breath depth.
    pub depth_cv: f32,
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let m = v.len() / 2;
    Some(*v.select_nth_unstable_by(m, f64::total_cmp).1)
}

/// Best R² of a sinusoid (period 40-120 s) fitted to (t, d) by least squares on cos and sin.
fn sinusoid_r2(t: &[f64], d: &[f64]) -> f64 {
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let var: f64 = d.iter().map(|v| (v - mean).powi(2)).sum();
    if var <= 0.0 || d.len() < 6 {
        return 0.0;
    }
    let mut best: f64 = 0.0;
    for period in (40..=120).step_by(5) {
        let w = 2.0 * std::f64::consts::PI / period as f64;
        let (mut cc, mut ss, mut cs, mut yc, mut ys, mut c1, mut s1) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for (&ti, &di) in t.iter().zip(d) {
            let (c, s, y) = ((w * ti).cos(), (w * ti).sin(), di - mean);
            cc += c * c;
            ss += s * s;
            cs += c * s;
            yc += y * c;
            ys += y * s;
            c1 += c;
            s1 += s;
        }
        // Centre the regressors so the fit is orthogonal to the mean.
        let (cc, ss, cs) = (cc - c1 * c1 / n, ss - s1 * s1 / n, cs - c1 * s1 / n);
        let det = cc * ss - cs * cs;
        if det.abs() < 1e-9 {
            continue;
        }
        let a = (yc * ss - ys * cs) / det;
        let b = (ys * cc - yc * cs) / det;
        best = best.max((a * yc + b * ys) / var);
    }
    best.clamp(0.0, 1.0)
}

/// Crescendo-decrescendo evidence from the clusters of at least 4 breaths: the mean correlation
/// of breath depth with a half-sine template over each cluster (negative counts as 0), times how
/// strongly depth varies within the clusters (CV ramping from 0.15 to 0.35).
fn cluster_crescendo(depths: &[f64], bounds: &[(usize, usize)]) -> f64 {
    let (mut corr_sum, mut cv_sum, mut n) = (0.0, 0.0, 0usize);
    for &(a, b) in bounds {
        let Some(d) = depths.get(a..b) else { continue };
        if d.len() < 4 {
            continue;
        }
        let m = d.len() as f64;
        let tpl: Vec<f64> = (0..d.len())
            .map(|k| (std::f64::consts::PI * (k as f64 + 0.5) / m).sin())
            .collect();
        let (dm, tm) = (d.iter().sum::<f64>() / m, tpl.iter().sum::<f64>() / m);
        let cov: f64 = d.iter().zip(&tpl).map(|(x, y)| (x - dm) * (y - tm)).sum();
        let vd: f64 = d.iter().map(|x| (x - dm).powi(2)).sum();
        let vt: f64 = tpl.iter().map(|y| (y - tm).powi(2)).sum();
        if vd > 0.0 && vt > 0.0 && dm > 0.0 {
            corr_sum += (cov / (vd * vt).sqrt()).max(0.0);
            cv_sum += (vd / m).sqrt() / dm;
            n += 1;
        }
    }
    if n == 0 {
        return 0.0;
    }
    let cv = cv_sum / n as f64;
    corr_sum / n as f64 * ((cv - 0.15) / 0.2).clamp(0.0, 1.0)
}

impl Features {
    /// Compute the features of a window.
    pub fn of(w: &BreathWindow<'_>) -> Self {
        let br = w.breaths;
        let mut intervals: Vec<f64> = br.windows(2).map(|p| p[1].peak_s - p[0].peak_s).collect();
        let rate = w.rate_bpm.or(w.count_rate_bpm).or(w.spectral_rate_bpm);
        // The typical breath period: from the rate when there is one (robust to spurious extra
        // breaths), else from the median interval between breaths.
        let period = rate
            .filter(|r| *r > 0.0)
            .map(|r| 60.0 / r as f64)
            .or_else(|| median(&mut intervals))
            .unwrap_or(4.0);
        let min_pause = PAUSE_MIN_S.max(0.8 * period);
        let sig: Vec<_> = w
            .pauses
            .iter()
            .filter(|p| p.duration_s() >= min_pause)
            .collect();
        let total: f64 = sig.iter().map(|p| p.duration_s()).sum();
        let longest = sig.iter().map(|p| p.duration_s()).fold(0.0, f64::max);
        // Clusters: split breaths at significant pauses; count only clusters with pauses both sides.
        let mut sizes = Vec::new();
        let mut all_sizes = Vec::new();
        let mut cur = 0usize;
        let mut bounded_left = false;
        let mut bounds = Vec::new();
        for (i, b) in br.iter().enumerate() {
            cur += 1;
            let next = br.get(i + 1).map_or(f64::INFINITY, |n| n.peak_s);
            let split = sig.iter().any(|p| {
                let mid = 0.5 * (p.start_s + p.end_s);
                mid > b.peak_s && mid < next
            });
            if split || i + 1 == br.len() {
                all_sizes.push(cur as f32);
                bounds.push((i + 1 - cur, i + 1));
                if split && bounded_left {
                    sizes.push(cur as f32);
                }
                bounded_left = split;
                cur = 0;
            }
        }
        let use_sizes = if sizes.is_empty() { &all_sizes } else { &sizes };
        let cluster_size = use_sizes.iter().sum::<f32>() / use_sizes.len().max(1) as f32;
        let t: Vec<f64> = br.iter().map(|b| b.peak_s).collect();
        let d: Vec<f64> = br.iter().map(|b| b.depth as f64).collect();
        let n = d.len().max(1) as f64;
        let mean = d.iter().sum::<f64>() / n;
        let cv = if mean > 0.0 {
            ((d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt() / mean) as f32
        } else {
            0.0
        };
        let ramp = ((cv - 0.2) / 0.25).clamp(0.0, 1.0);
        Features {
            rate,
            pause_frac: (total / w.duration_s().max(1.0)) as f32,
            longest_pause_s: longest as f32,
            pauses: sig.len(),
            cluster_size,
            waxwane: ((sinusoid_r2(&t, &d) * ramp as f64).max(cluster_crescendo(&d, &bounds)))
                as f32,
            depth_cv: cv,
        }
    }
}

/// The rule-based baseline classifier (stateless).
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleBaseline;

impl RuleBaseline {
    /// Evidence per pattern, in `Pattern::ALL` order, from features (see the module doc).
    pub fn evidence(f: &Features, apnea_min_s: f64) -> [f32; 6] {
        let long = sigmoid((f.longest_pause_s - (apnea_min_s as f32 - 1.0)) / 0.7);
        let paused = long.max(sigmoid((f.pause_frac - 0.1) / 0.03));
        let small = sigmoid((f.cluster_size - 1.6) / 0.3) * sigmoid((6.5 - f.cluster_size) / 0.8);
        let ww = f.waxwane;
        let regular = (1.0 - paused) * (1.0 - ww);
        let (eu, ta, br) = match f.rate {
            Some(r) => (
                sigmoid((r - 12.0) / 0.4) * sigmoid((20.0 - r) / 0.4),
                sigmoid((r - 20.0) / 0.4),
                sigmoid((12.0 - r) / 0.4),
            ),
            None => (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0),
        };
        let mut e = [0.0f32; 6];
        e[Pattern::Eupnea.index()] = regular * eu;
        e[Pattern::Tachypnea.index()] = regular * ta;
        e[Pattern::Bradypnea.index()] = regular * br;
        e[Pattern::Biots.index()] = paused * small * (1.0 - ww);
        e[Pattern::CheyneStokes.index()] = ww * paused.max(0.5);
        e[Pattern::CentralApnea.index()] = long * (1.0 - small) * (1.0 - ww);
        e.map(|v| v + 0.01)
    }
}

impl PatternClassifier for RuleBaseline {
    fn name(&self) -> &'static str {
        "rule_baseline"
    }

    fn classify(&mut self, w: &BreathWindow<'_>) -> PatternScores {
        let f = Features::of(w);
        log::trace!("baseline features {f:?}");
        PatternScores::from_evidence(Self::evidence(&f, w.apnea_min_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats(rate: f32) -> Features {
        Features {
            rate: Some(rate),
            cluster_size: 20.0,
            ..Default::default()
        }
    }

    #[test]
    fn regular_breathing_is_split_by_rate() {
        for (r, p) in [
            (8.0, Pattern::Bradypnea),
            (15.0, Pattern::Eupnea),
            (26.0, Pattern::Tachypnea),
        ] {
            let s = PatternScores::from_evidence(RuleBaseline::evidence(&feats(r), 10.0));
            assert_eq!(s.best().0, p);
            assert!(s.best().1 > 0.8, "{r}: {s:?}");
        }
    }

    #[test]
    fn pauses_clusters_and_modulation_select_the_irregular_patterns() {
        let ca = Features {
            longest_pause_s: 15.0,
            pause_frac: 0.15,
            pauses: 2,
            ..feats(15.0)
        };
        let bi = Features {
            cluster_size: 4.0,
            pause_frac: 0.4,
            longest_pause_s: 12.0,
            ..ca
        };
        let cs = Features { waxwane: 0.8, ..ca };
        for (f, p) in [
            (ca, Pattern::CentralApnea),
            (bi, Pattern::Biots),
            (cs, Pattern::CheyneStokes),
        ] {
            let s = PatternScores::from_evidence(RuleBaseline::evidence(&f, 10.0));
            assert_eq!(s.best().0, p, "{f:?} {s:?}");
        }
    }

    #[test]
    fn crescendo_clusters_score_and_steady_clusters_do_not() {
        let cres: Vec<f64> = (0..10)
            .map(|k| 1.0 + 4.0 * (std::f64::consts::PI * (k as f64 + 0.5) / 10.0).sin())
            .collect();
        let steady: Vec<f64> = (0..10).map(|k| 5.0 + 0.2 * (k % 2) as f64).collect();
        assert!(cluster_crescendo(&cres, &[(0, 10)]) > 0.9);
        assert!(cluster_crescendo(&steady, &[(0, 10)]) < 0.01);
        assert_eq!(
            cluster_crescendo(&cres, &[(0, 3)]),
            0.0,
            "too short a cluster"
        );
    }

    #[test]
    fn sinusoid_fit_explains_a_modulated_depth() {
        let t: Vec<f64> = (0..30).map(|i| i as f64 * 4.0).collect();
        let d: Vec<f64> = t
            .iter()
            .map(|t| 3.0 + 2.0 * (t / 60.0 * std::f64::consts::TAU + 1.0).sin())
            .collect();
        assert!(sinusoid_r2(&t, &d) > 0.97);
        let flat: Vec<f64> = t.iter().map(|t| 3.0 + 0.1 * ((t * 7.3).sin())).collect();
        assert!(sinusoid_r2(&t, &flat) < 0.5);
    }
}
