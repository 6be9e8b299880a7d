//! The readout's colours: light text on a dark background (every text colour has a WCAG contrast
//! ratio of at least 4.5:1 against the background it is drawn on), traffic-light colours for
//! states, one colour per screening outcome, and an amber band for the disclaimer.

use crate::screening::Outcome;
use embedded_graphics::pixelcolor::Rgb888;

/// Screen background.
pub const BACKGROUND: Rgb888 = Rgb888::new(14, 18, 26);
/// Tile and band background.
pub const PANEL: Rgb888 = Rgb888::new(30, 37, 50);
/// Main text.
pub const TEXT: Rgb888 = Rgb888::new(240, 242, 245);
/// Labels and units.
pub const MUTED: Rgb888 = Rgb888::new(160, 170, 185);
/// Good state (quality bar, camera ok, person present).
pub const GOOD: Rgb888 = Rgb888::new(90, 220, 130);
/// Warning state.
pub const WARN: Rgb888 = Rgb888::new(255, 190, 60);
/// Alarm state (apnea, camera lost).
pub const ALARM: Rgb888 = Rgb888::new(255, 85, 85);
/// Waveform trace and confidence bar.
pub const TRACE: Rgb888 = Rgb888::new(100, 200, 255);
/// Waveform zero line and bar outlines.
pub const GRID: Rgb888 = Rgb888::new(70, 80, 98);
/// Disclaimer band.
pub const BAND: Rgb888 = Rgb888::new(255, 196, 70);
/// Disclaimer text.
pub const BAND_TEXT: Rgb888 = Rgb888::new(0, 0, 0);

/// Outcome "no concern found": calm green.
pub const CALM: Rgb888 = GOOD;
/// Outcome "refer for clinical assessment": amber, a request rather than an alarm.
pub const REFER: Rgb888 = WARN;
/// Outcome "repeat measurement": neutral blue.
pub const REPEAT: Rgb888 = TRACE;

/// The colour of an outcome's headline and panel border.
pub fn outcome_color(o: Outcome) -> Rgb888 {
    match o {
        Outcome::NoConcernFound => CALM,
        Outcome::ReferForClinicalAssessment => REFER,
        Outcome::RepeatMeasurement => REPEAT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::prelude::RgbColor;

    /// WCAG 2 relative luminance of an sRGB colour.
    fn luminance(c: Rgb888) -> f64 {
        let lin = |v: u8| {
            let s = f64::from(v) / 255.0;
            if s <= 0.03928 {
                s / 12.92
            } else {
                ((s + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(c.r()) + 0.7152 * lin(c.g()) + 0.0722 * lin(c.b())
    }

    fn contrast(a: Rgb888, b: Rgb888) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn reference_contrast_values() {
        assert!((contrast(Rgb888::WHITE, Rgb888::BLACK) - 21.0).abs() < 1e-9);
        assert!((contrast(Rgb888::BLACK, Rgb888::BLACK) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn text_colours_meet_wcag_aa() {
        let pairs = [
            (TEXT, PANEL),
            (TEXT, BACKGROUND),
            (MUTED, PANEL),
            (GOOD, PANEL),
            (WARN, PANEL),
            (ALARM, PANEL),
            (ALARM, BACKGROUND),
            (WARN, BACKGROUND),
            (BAND_TEXT, BAND),
            (BAND_TEXT, ALARM),
            (CALM, PANEL),
            (REFER, PANEL),
            (REPEAT, PANEL),
        ];
        for (fg, bg) in pairs {
            let c = contrast(fg, bg);
            assert!(c >= 4.5, "{fg:?} on {bg:?}: contrast {c:.2}");
        }
    }

    #[test]
    fn outcomes_have_distinct_colours() {
        let c = [
            outcome_color(Outcome::NoConcernFound),
            outcome_color(Outcome::ReferForClinicalAssessment),
            outcome_color(Outcome::RepeatMeasurement),
        ];
        assert_eq!(c, [CALM, REFER, REPEAT]);
        assert!(c[0] != c[1] && c[1] != c[2] && c[0] != c[2]);
    }
}
