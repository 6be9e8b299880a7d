//! The exact ASCII strings the readout draws, from the values of a
//! [`Readout`](crate::pipeline::view::Readout), so that tests can
//! check them directly.

use crate::pipeline::view::{CameraStatus, XrayResult};

/// The disclaimer line that is always drawn.
pub const DISCLAIMER: &str = "Screening aid only - not a diagnosis";

/// Rate as drawn: one decimal in breaths/min, "--" when unknown, non-finite or outside 0..200.
pub fn rate_text(rate_bpm: Option<f32>) -> String {
    match rate_bpm {
        Some(r) if r.is_finite() && (0.0..200.0).contains(&r) => format!("{r:.1}"),
        _ => "--".to_string(),
    }
}

/// A fraction in 0..=1 as a whole percentage ("87%"); "--" when non-finite; clamped otherwise.
pub fn percent_text(fraction: f32) -> String {
    if fraction.is_finite() {
        format!("{:.0}%", fraction.clamp(0.0, 1.0) * 100.0)
    } else {
        "--".to_string()
    }
}

/// Time since start as "t+HH:MM:SS" ("t+--:--:--" when negative or non-finite; hours wrap at 100).
pub fn time_text(elapsed_s: f64) -> String {
    if !elapsed_s.is_finite() || elapsed_s < 0.0 {
        return "t+--:--:--".to_string();
    }
    let s = elapsed_s.floor().min(1.0e12) as u64;
    format!(
        "t+{:02}:{:02}:{:02}",
        (s / 3600) % 100,
        (s / 60) % 60,
        s % 60
    )
}

/// The X-ray line: "X-ray: none", "X-ray: FINDING 82% (FILE)", file name only, or
/// "X-ray not assessable: REASON (FILE)" for an image out of scope.
pub fn xray_text(x: Option<&XrayResult>) -> String {
    match x {
        None => "X-ray: none".to_string(),
        Some(x) => {
            let file = std::path::Path::new(&x.source)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| x.source.clone());
            let caveat = if x.site_validated {
                ""
            } else {
                ", not yet validated at this site"
            };
            match x.probability {
                Some(p) => format!(
                    "X-ray: {} {} ({}){caveat}",
                    x.finding,
                    percent_text(p),
                    file
                ),
                None => format!("X-ray not assessable: {} ({})", x.finding, file),
            }
        }
    }
}

/// Camera state as drawn in the header.
pub fn camera_text(c: &CameraStatus) -> String {
    match c {
        CameraStatus::Ok => "camera ok".to_string(),
        CameraStatus::Lost => "CAMERA LOST".to_string(),
        CameraStatus::Message(m) => m.clone(),
    }
}

/// The header's state text: the camera's, with a warning when results are not being saved.
pub fn header_status_text(c: &CameraStatus, records_saving: bool) -> String {
    let camera = camera_text(c);
    if records_saving {
        camera
    } else if *c == CameraStatus::Ok {
        "RECORDS NOT SAVED".to_string()
    } else {
        format!("{camera} | RECORDS NOT SAVED")
    }
}

/// The apnea indicator: `Some("APNEA 12 s")` while a pause is ongoing, else `None`.
pub fn apnea_text(apnea_s: Option<f32>) -> Option<String> {
    match apnea_s {
        Some(s) if s.is_finite() && s > 0.0 => Some(format!("APNEA {:.0} s", s.min(99_999.0))),
        _ => None,
    }
}

/// Replace every non-printable-ASCII character by '?', so mono ASCII fonts draw it predictably.
pub fn ascii_only(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(rate_text(None), "--");
        assert_eq!(rate_text(Some(f32::NAN)), "--");
        assert_eq!(rate_text(Some(15.24)), "15.2");
        assert_eq!(percent_text(0.874), "87%");
        assert_eq!(percent_text(1.7), "100%");
        assert_eq!(time_text(3725.9), "t+01:02:05");
        assert_eq!(time_text(-1.0), "t+--:--:--");
        assert_eq!(apnea_text(Some(12.4)).as_deref(), Some("APNEA 12 s"));
        assert_eq!(header_status_text(&CameraStatus::Ok, true), "camera ok");
        assert_eq!(
            header_status_text(&CameraStatus::Ok, false),
            "RECORDS NOT SAVED"
        );
        assert_eq!(
            header_status_text(&CameraStatus::Lost, false),
            "CAMERA LOST | RECORDS NOT SAVED"
        );
        assert_eq!(apnea_text(Some(0.0)), None);
        assert_eq!(ascii_only("Biot\u{2019}s"), "Biot?s");
        let x = XrayResult {
            finding: "consolidation".into(),
            probability: Some(0.82),
            source: "/inbox/chest_01.png".into(),
            site_validated: true,
        };
        assert_eq!(
            xray_text(Some(&x)),
            "X-ray: consolidation 82% (chest_01.png)"
        );
        let advisory = XrayResult {
            site_validated: false,
            ..x.clone()
        };
        assert_eq!(
            xray_text(Some(&advisory)),
            "X-ray: consolidation 82% (chest_01.png), not yet validated at this site"
        );
        let refused = XrayResult {
            finding: "rotated".into(),
            probability: None,
            source: "/inbox/chest_02.png".into(),
            site_validated: false,
        };
        assert_eq!(
            xray_text(Some(&refused)),
            "X-ray not assessable: rotated (chest_02.png)"
        );
        assert_eq!(xray_text(None), "X-ray: none");
    }
}
