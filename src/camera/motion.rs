//! The simulated camera's own occasional larger movements: the person shifting in the seat.
//!
//! Every 30-90 s (seeded) the body moves to a new resting offset over one second (smoothstep),
//! up to about ±60 mm sideways, ±15 mm vertically and ±25 mm toward or away from the camera, and
//! stays there until the next shift. This comes on top of the RSM's slow posture sway.

use crate::rsm::BodyMotion;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Duration of one shift, s.
const RAMP_S: f64 = 1.0;

/// A seeded sequence of step-like body shifts; query at non-decreasing times.
#[derive(Debug, Clone)]
pub struct ShiftEvents {
    enabled: bool,
    rng: ChaCha8Rng,
    start_s: f64,
    from: [f32; 3],
    to: [f32; 3],
}

impl ShiftEvents {
    /// Shifts drawn from `seed`; when `enabled` is false [`ShiftEvents::at`] is always zero.
    pub fn new(seed: u64, enabled: bool) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0073_6869_6674);
        let start_s = rng.gen_range(30.0..90.0);
        let to = draw(&mut rng);
        Self {
            enabled,
            rng,
            start_s,
            from: [0.0; 3],
            to,
        }
    }

    /// The shifts that begin before `until_s`, as (start, end) of their movement, s: the same
    /// sequence [`ShiftEvents::at`] follows, drawn afresh from `seed` (empty when not `enabled`).
    /// For scoring: a pause during which the body moved is no pause to a depth camera.
    pub fn intervals(seed: u64, enabled: bool, until_s: f64) -> Vec<(f64, f64)> {
        let mut ev = Self::new(seed, enabled);
        let mut out = Vec::new();
        while ev.enabled && ev.start_s < until_s && out.len() < 100_000 {
            out.push((ev.start_s, ev.start_s + RAMP_S));
            ev.at(ev.start_s + RAMP_S);
        }
        out
    }

    /// Offset of the body at `t_s` (forward, lateral, vertical, mm). `t_s` must not decrease.
    pub fn at(&mut self, t_s: f64) -> BodyMotion {
        if !self.enabled {
            return BodyMotion::default();
        }
        while t_s >= self.start_s + RAMP_S {
            self.from = self.to;
            self.to = draw(&mut self.rng);
            self.start_s += RAMP_S + self.rng.gen_range(30.0..90.0);
        }
        let u = ((t_s - self.start_s) / RAMP_S).clamp(0.0, 1.0) as f32;
        let s = u * u * (3.0 - 2.0 * u);
        let v: [f32; 3] = std::array::from_fn(|i| self.from[i] + s * (self.to[i] - self.from[i]));
        BodyMotion {
            forward_mm: v[0],
            lateral_mm: v[1],
            vertical_mm: v[2],
        }
    }
}

/// A new resting offset: forward ±25 mm, lateral ±60 mm, vertical ±15 mm.
fn draw(rng: &mut ChaCha8Rng) -> [f32; 3] {
    [
        rng.gen_range(-25.0..25.0),
        rng.gen_range(-60.0..60.0),
        rng.gen_range(-15.0..15.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_is_zero_and_enabled_moves_within_bounds() {
        let mut off = ShiftEvents::new(3, false);
        assert_eq!(off.at(500.0), BodyMotion::default());
        let mut on = ShiftEvents::new(3, true);
        assert_eq!(on.at(0.0), BodyMotion::default());
        let mut moved = false;
        for i in 0..6000 {
            let m = on.at(i as f64 * 0.1);
            assert!(m.forward_mm.abs() <= 25.0 && m.lateral_mm.abs() <= 60.0);
            assert!(m.vertical_mm.abs() <= 15.0);
            moved |= m.lateral_mm.abs() > 1.0;
        }
        assert!(moved, "no shift within 600 s");
    }

    #[test]
    fn shifts_are_smooth() {
        let mut on = ShiftEvents::new(9, true);
        let mut prev = on.at(0.0);
        for i in 1..30_000 {
            let m = on.at(i as f64 / 30.0);
            // At most 120 mm over 1 s with smoothstep: peak speed 1.5 * 120 mm/s = 6 mm/frame.
            assert!((m.lateral_mm - prev.lateral_mm).abs() < 6.1);
            prev = m;
        }
    }

    #[test]
    fn intervals_are_where_the_body_moves() {
        assert!(ShiftEvents::intervals(5, false, 600.0).is_empty());
        let iv = ShiftEvents::intervals(5, true, 600.0);
        // One every 31-91 s over 600 s, the first within 30-90 s.
        assert!((6..=20).contains(&iv.len()), "{iv:?}");
        let mut ev = ShiftEvents::new(5, true);
        let mut t = 0.0;
        let mut last = ev.at(0.0);
        while t < 600.0 {
            t += 0.05;
            let m = ev.at(t);
            let moved = (m.forward_mm - last.forward_mm).abs() > 1e-6
                || (m.lateral_mm - last.lateral_mm).abs() > 1e-6
                || (m.vertical_mm - last.vertical_mm).abs() > 1e-6;
            let inside = iv.iter().any(|(a, b)| t >= *a && t <= *b + 0.05);
            assert!(!moved || inside, "moved at {t} outside {iv:?}");
            last = m;
        }
    }
}
