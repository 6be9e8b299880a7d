//! The simulated person talking and coughing: chest movement that is not quiet breathing.
//!
//! The model, plainly (all of it on top of the RSM's breathing, which goes on underneath, so the
//! truth rate stays the RSM's):
//! - **Talking**, during the stated stretches: (1) speech vibration, bursts of 0.2-0.6 s (one
//!   syllable group each), three in four voiced, a voiced burst a sine of 3-8 Hz and 1-3 mm under
//!   a `sin²` envelope, silent ones flat; (2) speech breathing, phrases of 2-5 s, each a quick
//!   inhalation (the chest rises 2-4 mm within 0.4 s, smoothstep) followed by a slow, linear
//!   exhalation back to where it started over the rest of the phrase. Both act on the chest like
//!   breathing (through the chest's breathing weight) and fade in and out over 0.3 s at the ends
//!   of a stretch. Lengths, frequencies and amplitudes are drawn from the camera's seed.
//! - **Coughing**, at the stated times, with strength `A` mm: a short inhalation (the chest rises
//!   0.3 `A` over 0.15 s), the expulsion (it falls by 1.3 `A` within 0.1 s, to `A` below rest) and
//!   the recovery back to rest over 0.45 s (smoothstep), 0.7 s in all; meanwhile the trunk bends
//!   toward the camera by up to 0.3 `A` (whole-body movement, `sin²` over 0.55 s from the
//!   expulsion on).
//!
//! Query at non-decreasing times; nothing is allocated per query.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Fade in and out at the ends of a talking stretch, s.
const FADE_S: f64 = 0.3;
/// Length of one cough, s.
pub(crate) const COUGH_S: f64 = 0.7;

/// Extra movement at one instant, mm.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Extra {
    /// Chest displacement toward the camera at full breathing weight, mm.
    pub chest_mm: f32,
    /// Whole-body movement toward the camera, mm.
    pub forward_mm: f32,
}

/// A seeded talking-and-coughing generator; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Speech {
    talking: Vec<(f64, f64)>,
    coughs: Vec<f64>,
    cough_mm: f32,
    rng: ChaCha8Rng,
    /// Current burst: start, length (s), frequency (Hz), amplitude (mm, 0 when silent).
    burst: (f64, f64, f64, f32),
    /// Current phrase: start, length (s), inhaled depth (mm).
    phrase: (f64, f64, f32),
}

fn smoothstep(u: f64) -> f64 {
    let u = u.clamp(0.0, 1.0);
    u * u * (3.0 - 2.0 * u)
}

impl Speech {
    /// Talking during `talking` (start, end s), coughs of strength `cough_mm` starting at
    /// `coughs` (s); draws from `seed`. With neither, every query is zero.
    pub(crate) fn new(talking: &[(f64, f64)], coughs: &[f64], cough_mm: f32, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7370_6565_6368);
        let burst = draw_burst(&mut rng, 0.0);
        let phrase = draw_phrase(&mut rng, 0.0);
        Self {
            talking: talking.to_vec(),
            coughs: coughs.to_vec(),
            cough_mm,
            rng,
            burst,
            phrase,
        }
    }

    /// Whether nothing is ever added.
    pub(crate) fn is_off(&self) -> bool {
        self.talking.is_empty() && self.coughs.is_empty()
    }

    /// The extra movement at `t_s` (must not decrease from one call to the next).
    pub(crate) fn at(&mut self, t_s: f64) -> Extra {
        if self.is_off() || !t_s.is_finite() {
            return Extra::default();
        }
        let mut e = Extra::default();
        let talk = self.talk_envelope(t_s);
        if talk > 0.0 {
            self.advance(t_s);
            let (b0, bl, hz, amp) = self.burst;
            let u = (t_s - b0) / bl;
            let vib = f64::from(amp)
                * (std::f64::consts::TAU * hz * (t_s - b0)).sin()
                * (std::f64::consts::PI * u).sin().powi(2);
            let (p0, pl, depth) = self.phrase;
            let inhale = 0.4f64.min(pl);
            let v = t_s - p0;
            let breath = f64::from(depth)
                * if v < inhale {
                    smoothstep(v / inhale)
                } else {
                    (1.0 - (v - inhale) / (pl - inhale).max(1e-3)).clamp(0.0, 1.0)
                };
            e.chest_mm += (talk * (vib + breath)) as f32;
        }
        let a = f64::from(self.cough_mm);
        for &c in &self.coughs {
            let u = t_s - c;
            if !(0.0..COUGH_S).contains(&u) {
                continue;
            }
            let chest = if u < 0.15 {
                0.3 * a * smoothstep(u / 0.15)
            } else if u < 0.25 {
                0.3 * a - 1.3 * a * smoothstep((u - 0.15) / 0.1)
            } else {
                -a * (1.0 - smoothstep((u - 0.25) / 0.45))
            };
            let bend = if u >= 0.15 {
                0.3 * a * (std::f64::consts::PI * (u - 0.15) / 0.55).sin().powi(2)
            } else {
                0.0
            };
            e.chest_mm += chest as f32;
            e.forward_mm += bend as f32;
        }
        e
    }

    /// 0 outside the talking stretches, 1 inside, with [`FADE_S`] ramps at both ends.
    fn talk_envelope(&self, t: f64) -> f64 {
        self.talking
            .iter()
            .filter(|&&(a, b)| a <= t && t < b)
            .map(|&(a, b)| smoothstep(((t - a) / FADE_S).min((b - t) / FADE_S)))
            .fold(0.0, f64::max)
    }

    /// Move the current burst and phrase on to the ones holding `t`.
    fn advance(&mut self, t: f64) {
        // A long jump (a silent stretch) starts afresh at `t` rather than drawing every burst.
        if t - self.burst.0 > 60.0 {
            self.burst = draw_burst(&mut self.rng, t);
            self.phrase = draw_phrase(&mut self.rng, t);
        }
        while t >= self.burst.0 + self.burst.1 {
            let next = self.burst.0 + self.burst.1;
            self.burst = draw_burst(&mut self.rng, next);
        }
        while t >= self.phrase.0 + self.phrase.1 {
            let next = self.phrase.0 + self.phrase.1;
            self.phrase = draw_phrase(&mut self.rng, next);
        }
    }
}

fn draw_burst(rng: &mut ChaCha8Rng, start: f64) -> (f64, f64, f64, f32) {
    let len = rng.gen_range(0.2..0.6);
    let hz = rng.gen_range(3.0..8.0);
    let amp = rng.gen_range(1.0..3.0);
    let voiced = rng.gen_bool(0.75);
    (start, len, hz, if voiced { amp } else { 0.0 })
}

fn draw_phrase(rng: &mut ChaCha8Rng, start: f64) -> (f64, f64, f32) {
    (start, rng.gen_range(2.0..5.0), rng.gen_range(2.0..4.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_outside_talking_and_coughs() {
        let mut s = Speech::new(&[(10.0, 20.0)], &[30.0], 10.0, 1);
        for i in 0..1000 {
            let t = i as f64 * 0.01;
            assert_eq!(s.at(t), Extra::default(), "t {t}");
        }
        assert_eq!(s.at(25.0), Extra::default());
        assert_eq!(s.at(31.0), Extra::default());
        let mut off = Speech::new(&[], &[], 10.0, 1);
        assert!(off.is_off());
        assert_eq!(off.at(15.0), Extra::default());
    }

    #[test]
    fn talking_is_a_few_mm_with_3_to_8_hz_bursts() {
        let mut s = Speech::new(&[(0.0, 60.0)], &[], 10.0, 3);
        let fs = 100.0;
        let x: Vec<f64> = (0..6000)
            .map(|i| f64::from(s.at(f64::from(i) / fs).chest_mm))
            .collect();
        let max = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        // Vibration at most 3 mm plus phrase breathing at most 4 mm.
        assert!(max > 2.0 && max <= 7.0, "max {max}");
        // The fast part (frame-to-frame differences) carries real 3-8 Hz energy: a 3 Hz sine of
        // 1 mm changes by up to 0.19 mm in 10 ms; the phrase breathing alone by at most 0.15 mm.
        let fast = x.windows(2).filter(|w| (w[1] - w[0]).abs() > 0.2).count();
        assert!(fast > 300, "fast steps {fast}");
        // Zero crossings of the vibration over 3-8 Hz bursts, three in four voiced: between
        // 2 * 3 * 0.75 * 0.6 (bursts' sin² edges make some short) and 2 * 8 per second.
        let d: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let turns = d.windows(2).filter(|w| w[0] * w[1] < 0.0).count() as f64 / 60.0;
        assert!((2.0..16.0).contains(&turns), "turns per s {turns}");
    }

    #[test]
    fn a_cough_is_a_sharp_jerk_of_its_strength() {
        let mut s = Speech::new(&[], &[5.0], 10.0, 1);
        let samples: Vec<Extra> = (0..200).map(|i| s.at(4.9 + f64::from(i) * 0.005)).collect();
        let top = samples.iter().map(|e| e.chest_mm).fold(f32::MIN, f32::max);
        let low = samples.iter().map(|e| e.chest_mm).fold(f32::MAX, f32::min);
        // Up 3 mm, down to 10 mm below rest.
        assert!(
            (top - 3.0).abs() < 0.05 && (low + 10.0).abs() < 0.05,
            "{top} {low}"
        );
        // From the top to 10 mm below rest within 0.3 s (0.1 s by the model).
        let i_top = samples.iter().position(|e| e.chest_mm == top).unwrap();
        let i_low = samples.iter().position(|e| e.chest_mm == low).unwrap();
        let dt = (i_low - i_top) as f64 * 0.005;
        assert!(dt > 0.0 && dt <= 0.3, "{dt}");
        let bend = samples.iter().map(|e| e.forward_mm).fold(0.0f32, f32::max);
        assert!((bend - 3.0).abs() < 0.05, "bend {bend}");
        assert_eq!(s.at(5.0 + COUGH_S), Extra::default());
    }
}
