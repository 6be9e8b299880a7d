//! Everything on the chest that is not breathing: baseline drift, posture sway, motion artefacts
//! (fidgets and position shifts), cardiac ripple and sensor noise.
//!
//! Each is a pure function of (seed, t): drift interpolates Gaussian knots on a fixed grid
//! (Catmull-Rom), sway and the heartbeat are seeded sinusoids, artefacts are drawn per fixed 60 s
//! slot and noise per microsecond of time, all by seeking a ChaCha8 stream to a position computed
//! from the grid index. So values never depend on how often or in which order they are queried.

use super::params::RsmParams;
use super::{ArtefactKind, BodyMotion, MotionArtefact};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::{PI, TAU};

const STREAM_DRIFT: u64 = 10;
const STREAM_SWAY: u64 = 20;
const STREAM_ARTEFACT: u64 = 30;
const STREAM_NOISE: u64 = 40;
/// Length of an artefact slot; each slot holds at most one artefact, wholly inside it.
pub(crate) const SLOT_S: f64 = 60.0;

/// The `index`-th standard normal value of ChaCha stream `stream` for `seed` (random access).
pub(crate) fn gauss_at(seed: u64, stream: u64, index: u64) -> f64 {
    let (u1, u2) = uniforms_at(seed, stream, index);
    (-2.0 * (1.0 - u1).ln()).sqrt() * (TAU * u2).cos()
}

/// Two uniforms in `[0, 1)` at position `index` of stream `stream` (random access).
fn uniforms_at(seed: u64, stream: u64, index: u64) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng.set_word_pos(index as u128 * 8);
    (rng.gen::<f64>(), rng.gen::<f64>())
}

/// A smooth random process: Catmull-Rom interpolation of N(0,1) knots spaced `spacing_s` apart.
#[derive(Debug, Clone)]
struct Knots {
    stream: u64,
    spacing_s: f64,
    seg: Option<i64>,
    k: [f64; 4],
}

impl Knots {
    fn new(stream: u64, spacing_s: f64) -> Self {
        Self {
            stream,
            spacing_s,
            seg: None,
            k: [0.0; 4],
        }
    }

    fn value(&mut self, seed: u64, t_s: f64) -> f64 {
        let x = t_s / self.spacing_s;
        let seg = x.floor() as i64;
        if self.seg != Some(seg) {
            for (j, kv) in self.k.iter_mut().enumerate() {
                *kv = gauss_at(seed, self.stream, (seg - 1 + j as i64) as u64);
            }
            self.seg = Some(seg);
        }
        let u = x - seg as f64;
        let [p0, p1, p2, p3] = self.k;
        0.5 * (2.0 * p1
            + (p2 - p0) * u
            + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * u * u
            + (3.0 * p1 - p0 - 3.0 * p2 + p3) * u * u * u)
    }
}

/// Non-breathing movement and noise of one simulated subject.
#[derive(Debug, Clone)]
pub(crate) struct Motion {
    seed: u64,
    drift_mm: f64,
    artefact_rate: f64,
    artefact_mm: f64,
    /// Drift processes: per axis (forward, lateral, vertical), a 30 s and a 120 s grid.
    drift: [[Knots; 2]; 3],
    /// Sway sinusoids per axis: (amplitude mm, frequency Hz, phase rad).
    sway: [[(f64, f64, f64); 3]; 3],
    /// Cardiac ripple: amplitude mm, mean frequency Hz, modulation frequency Hz, phase.
    cardiac: (f64, f64, f64, f64),
    noise_mm: f64,
}

impl Motion {
    pub fn new(p: &RsmParams, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(STREAM_SWAY);
        let mut sway = [[(0.0, 0.0, 0.0); 3]; 3];
        for (axis, comps) in sway.iter_mut().enumerate() {
            let rms = p.sway_mm as f64 * if axis == 0 { 1.0 / 3.0 } else { 1.0 };
            // Forward sway stays below the breathing band (0.05 Hz) so that it cannot pass for
            // breathing during an apnea; sideways and vertical sway may be a little faster.
            let (f_lo, f_hi): (f64, f64) = if axis == 0 {
                (0.005, 0.04)
            } else {
                (0.01, 0.08)
            };
            for c in comps.iter_mut() {
                let f = rng.gen_range(f_lo.ln()..f_hi.ln()).exp();
                *c = (rms * (2.0f64 / 3.0).sqrt(), f, rng.gen_range(0.0..TAU));
            }
        }
        let cardiac = (
            p.cardiac_mm as f64,
            p.heart_rate_bpm as f64 / 60.0,
            rng.gen_range(0.01..0.05),
            rng.gen_range(0.0..TAU),
        );
        let d = |a: u64| {
            [
                Knots::new(STREAM_DRIFT + 2 * a, 30.0),
                Knots::new(STREAM_DRIFT + 2 * a + 1, 120.0),
            ]
        };
        Self {
            seed,
            drift_mm: p.drift_mm as f64,
            artefact_rate: p.artefacts_per_min as f64 * SLOT_S / 60.0,
            artefact_mm: p.artefact_mm as f64,
            drift: [d(0), d(1), d(2)],
            sway,
            cardiac,
            noise_mm: p.noise_mm as f64,
        }
    }

    /// Cardiac ripple at `t_s`, mm: a two-harmonic beat (peak = `cardiac_mm`) whose rate wanders ±3 %.
    pub fn cardiac_mm(&self, t_s: f64) -> f64 {
        let (a, f, fm, ph) = self.cardiac;
        let phase = TAU * f * t_s - 0.03 * f / fm * (TAU * fm * t_s + ph).cos();
        a * (phase.sin() + 0.35 * (2.0 * phase + 0.8).sin()) / 1.307
    }

    /// Sensor noise at `t_s` (quantised to 1 µs), mm.
    pub fn noise_mm(&self, t_s: f64) -> f64 {
        let q = (t_s * 1e6).round() as i64 as u64;
        self.noise_mm * gauss_at(self.seed, STREAM_NOISE, q)
    }

    /// The artefact of slot `slot`, if any.
    pub fn artefact_in_slot(&self, slot: i64) -> Option<MotionArtefact> {
        if slot < 0 {
            return None;
        }
        let idx = (slot as u64).wrapping_mul(8);
        let (u0, u1) = uniforms_at(self.seed, STREAM_ARTEFACT, idx);
        if u0 >= self.artefact_rate {
            return None;
        }
        let (u2, u3) = uniforms_at(self.seed, STREAM_ARTEFACT, idx + 1);
        let start_s = slot as f64 * SLOT_S + u1 * (SLOT_S - 21.0);
        let size = self.artefact_mm * (0.5 + u3);
        let dir = [0, 1, 2].map(|a| gauss_at(self.seed, STREAM_ARTEFACT, idx + 2 + a));
        let norm = (dir[0] * dir[0] + dir[1] * dir[1] + 0.25 * dir[2] * dir[2])
            .sqrt()
            .max(1e-6);
        let v = [dir[0], dir[1], 0.5 * dir[2]].map(|c| (c / norm * size) as f32);
        let (kind, dur) = if u2 < 0.6 {
            (ArtefactKind::Fidget, 1.0 + 3.0 * (u2 / 0.6))
        } else {
            (ArtefactKind::Shift, 5.0 + 15.0 * ((u2 - 0.6) / 0.4))
        };
        Some(MotionArtefact {
            start_s,
            end_s: start_s + dur,
            kind,
            offset_mm: v,
        })
    }

    /// Whole-body movement at `t_s`: drift + sway + the artefact of the current slot.
    pub fn body(&mut self, t_s: f64) -> BodyMotion {
        let mut out = [0.0f64; 3];
        for (axis, o) in out.iter_mut().enumerate() {
            let scale = self.drift_mm * if axis == 0 { 1.0 } else { 0.5 };
            let [a, b] = &mut self.drift[axis];
            *o += scale * (a.value(self.seed, t_s) + 0.7 * b.value(self.seed, t_s)) / 1.22;
            for (amp, f, ph) in self.sway[axis] {
                *o += amp * (TAU * f * t_s + ph).sin();
            }
        }
        if let Some(a) = self.artefact_in_slot((t_s / SLOT_S).floor() as i64) {
            let w = artefact_profile(&a, t_s);
            for (o, v) in out.iter_mut().zip(a.offset_mm) {
                *o += w * v as f64;
            }
        }
        BodyMotion {
            forward_mm: out[0] as f32,
            lateral_mm: out[1] as f32,
            vertical_mm: out[2] as f32,
        }
    }
}

/// Weight 0..1 of an artefact's offset at `t_s`: a smooth bump (fidget) or a smooth step that
/// holds and returns (shift).
fn artefact_profile(a: &MotionArtefact, t_s: f64) -> f64 {
    if t_s <= a.start_s || t_s >= a.end_s {
        return 0.0;
    }
    let dur = a.end_s - a.start_s;
    let u = (t_s - a.start_s) / dur;
    match a.kind {
        ArtefactKind::Fidget => (PI * u).sin().powi(2),
        ArtefactKind::Shift => {
            let ramp = (1.5 / dur).min(0.5);
            let r = |x: f64| 0.5 - 0.5 * (PI * x.clamp(0.0, 1.0)).cos();
            r(u / ramp).min(r((1.0 - u) / ramp))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Pattern;

    #[test]
    fn knots_interpolate_through_knot_values_and_are_continuous() {
        let mut k = Knots::new(3, 10.0);
        for i in 0..5u64 {
            let want = gauss_at(9, 3, i);
            assert!((k.value(9, i as f64 * 10.0) - want).abs() < 1e-12);
        }
        let mut prev = k.value(9, 0.0);
        for i in 1..5000 {
            let v = k.value(9, i as f64 * 0.01);
            assert!((v - prev).abs() < 0.02, "jump at {}", i);
            prev = v;
        }
    }

    #[test]
    fn gauss_at_has_unit_variance() {
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|i| gauss_at(1, 2, i)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn artefacts_fit_their_slot_and_follow_the_rate() {
        let mut p = RsmParams::typical(Pattern::Eupnea);
        p.artefacts_per_min = 0.25;
        let m = Motion::new(&p, 5);
        let events: Vec<_> = (0..2000).filter_map(|s| m.artefact_in_slot(s)).collect();
        let frac = events.len() as f64 / 2000.0;
        assert!((frac - 0.25).abs() < 0.04, "{frac}");
        for e in &events {
            let slot = (e.start_s / SLOT_S).floor();
            assert!(e.end_s <= (slot + 1.0) * SLOT_S && e.end_s > e.start_s);
        }
    }

    #[test]
    fn cardiac_ripple_amplitude_and_rate() {
        let mut p = RsmParams::typical(Pattern::Eupnea);
        p.cardiac_mm = 0.2;
        p.heart_rate_bpm = 60.0;
        let m = Motion::new(&p, 2);
        let xs: Vec<f64> = (0..60_000)
            .map(|i| m.cardiac_mm(i as f64 * 0.001))
            .collect();
        let peak = xs.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        assert!(peak > 0.15 && peak < 0.3, "{peak}");
        let ups = xs.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        assert!((55..=65).contains(&ups), "{ups}");
    }
}
