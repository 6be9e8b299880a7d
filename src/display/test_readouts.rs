//! Readouts for the display's unit tests, one per screen, built from the real session types (the
//! outcome and referral probability come from the fusion rule, not typed in).

use crate::breathing::session::BreathingSummary;
use crate::pipeline::view::Readout;
use crate::screening::fusion::fuse;
use crate::screening::{SessionResult, SessionView};
use crate::types::{Pattern, PatternScores};
use crate::xray::screen::XrayReport;

/// The usual sizes, the smallest of each tier, and the extreme aspect ratios allowed.
pub(crate) const EDGE_SIZES: [(u32, u32); 10] = [
    (320, 240),
    (480, 320),
    (800, 480),
    (1024, 600),
    (1920, 1080),
    (408, 272),
    (624, 416),
    (1248, 832),
    (320, 1080),
    (1920, 240),
];

/// A person breathing normally, measured for 42 s of 60 s, with a sine waveform of the amplitude.
pub(crate) fn sine_readout(amplitude_mm: f32) -> Readout {
    let mut r = Readout {
        rate_bpm: Some(15.2),
        pattern: Some((Pattern::Eupnea, 0.93)),
        person_present: true,
        quality: 0.87,
        elapsed_s: 95.0,
        session: SessionView::Measuring {
            session_id: "01J2Q8M5TZ3W7X9K4F2R4F2K9Q".into(),
            signal_s: 42.0,
            needed_s: 60.0,
        },
        ..Readout::default()
    };
    for i in 0..300 {
        let t = i as f32 / 10.0;
        r.waveform
            .push(amplitude_mm * (t * 0.25 * std::f32::consts::TAU).sin());
    }
    r
}

/// Breathing verdict with `eupnea` as the eupnea score; `None` for an insufficient signal.
fn breathing(eupnea: Option<f32>) -> BreathingSummary {
    let e = eupnea.unwrap_or(1.0 / 6.0);
    let mut s = [(1.0 - e) / 5.0; 6];
    s[Pattern::Eupnea.index()] = e;
    let scores = PatternScores(s);
    BreathingSummary {
        pattern: eupnea.map(|_| scores.best().0),
        insufficient_signal: eupnea.is_none(),
        scores,
        rate_bpm: eupnea.map(|_| 14.6),
        quality: if eupnea.is_some() { 0.84 } else { 0.12 },
        apneas: Vec::new(),
        hypopneas: Vec::new(),
        artefacts: Vec::new(),
        windows: 14,
    }
}

fn xray(covid_probability: f32) -> XrayReport {
    XrayReport {
        file: "/inbox/chest_0042.png".into(),
        ..XrayReport::example(covid_probability)
    }
}

/// A result readout for the verdict and X-ray, fused by the real rule.
pub(crate) fn result_readout(eupnea: Option<f32>, covid: Option<f32>) -> Readout {
    let b = breathing(eupnea);
    let x = covid.map(xray);
    let f = fuse(Some(&b), x.as_ref());
    let result = SessionResult {
        t_s: 160.0,
        session_id: "01J2Q8M5TZ3W7X9K4F2R4F2K9Q".into(),
        revision: 0,
        outcome: f.outcome,
        refer_probability: f.refer_probability,
        modalities: f.modalities,
        breathing: Some(b),
        xray: x,
    };
    Readout {
        session: SessionView::Result(Box::new(result)),
        ..sine_readout(3.0)
    }
}

/// One readout per screen: waiting, measuring, and the three outcomes (no concern; refer, with an
/// X-ray; repeat, with an insufficient signal).
pub(crate) fn every_screen() -> Vec<(&'static str, Readout)> {
    vec![
        ("waiting", Readout::default()),
        ("measuring", sine_readout(4.0)),
        ("no concern", result_readout(Some(0.92), None)),
        ("refer", result_readout(Some(0.9), Some(0.62))),
        ("repeat", result_readout(None, None)),
    ]
}
