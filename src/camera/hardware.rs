//! RealSense settings that come from `firmware-config/` (`[camera]` and `[camera.filters]`).
//!
//! These types are compiled in every build, so one configuration file is valid whether or not
//! the program was built with the `realsense` feature; only `realsense.rs` acts on them.

use std::fmt;
use std::str::FromStr;

/// Which camera `--camera` / `camera.source` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSelector {
    /// The simulated camera (`sim`).
    Simulated,
    /// The N-th connected RealSense camera, in librealsense's order (`0`, `1`, ...).
    Index(usize),
    /// The RealSense camera with this serial number (12 digits on D4xx cameras).
    Serial(String),
}

impl CameraSelector {
    /// Parses `sim`, an index (up to 3 digits) or a serial number (4-32 letters and digits).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "sim" {
            return Ok(Self::Simulated);
        }
        if !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(Self::Index)
                .map_err(|_| format!("{s:?} is not a camera index"));
        }
        if (4..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(Self::Serial(s.to_string()));
        }
        Err(format!(
            "{s:?} is neither \"sim\", a camera index (0, 1, ...) nor a serial number (4-32 letters and digits)"
        ))
    }
}

impl fmt::Display for CameraSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Simulated => f.write_str("sim"),
            Self::Index(i) => write!(f, "camera index {i}"),
            Self::Serial(s) => write!(f, "camera serial {s}"),
        }
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every accepted spelling, for error messages.
            pub const NAMES: &'static str = concat!($($s, " "),+);

            /// The spelling used in the configuration file.
            pub fn name(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($s => Ok(Self::$v),)+ _ => Err(()) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum!(
    /// The infrared projector (`camera.emitter`). Its dot pattern gives the stereo matcher texture
    /// on plain clothing, so breathing needs it on.
    Emitter {
        /// Leave the camera's current setting.
        Keep = "keep",
        /// Projector on.
        On = "on",
        /// Projector off.
        Off = "off",
    }
);

named_enum!(
    /// D400 visual preset (`camera.visual_preset`): a bundle of stereo-matcher settings.
    VisualPreset {
        /// Leave the camera's current preset.
        Keep = "keep",
        /// Intel's default: a balance of fill and accuracy.
        Default = "default",
        /// Fewer, more reliable depth pixels.
        HighAccuracy = "high_accuracy",
        /// More depth pixels, more noise.
        HighDensity = "high_density",
        /// Between the two.
        MediumDensity = "medium_density",
        /// Tuned for hands close to the camera.
        Hand = "hand",
    }
);

impl VisualPreset {
    /// librealsense's `rs2_rs400_visual_preset` value; `None` for `keep`.
    pub fn rs400_value(self) -> Option<f32> {
        match self {
            Self::Keep => None,
            Self::Default => Some(1.0),
            Self::Hand => Some(2.0),
            Self::HighAccuracy => Some(3.0),
            Self::HighDensity => Some(4.0),
            Self::MediumDensity => Some(5.0),
        }
    }
}

named_enum!(
    /// librealsense's hole-filling filter (`camera.filters.hole_filling`).
    HoleFilling {
        /// No hole filling.
        Off = "off",
        /// Each hole takes the value of the pixel to its left.
        FillFromLeft = "fill_from_left",
        /// The farthest of the valid neighbours (safe: never invents a nearer surface).
        FarthestFromAround = "farthest_from_around",
        /// The nearest of the valid neighbours.
        NearestFromAround = "nearest_from_around",
    }
);

impl HoleFilling {
    /// librealsense's `holes_fill` option value; `None` when off.
    pub fn mode_value(self) -> Option<f32> {
        match self {
            Self::Off => None,
            Self::FillFromLeft => Some(0.0),
            Self::FarthestFromAround => Some(1.0),
            Self::NearestFromAround => Some(2.0),
        }
    }
}

/// librealsense post-processing filters, applied in Intel's recommended order: decimation,
/// spatial, temporal, hole filling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterSettings {
    /// Decimation factor, 1 (off) to 8: the image shrinks by this factor in each direction and
    /// each output pixel is the median of its block. 2 quarters the work of everything after it.
    pub decimation: u8,
    /// Edge-preserving spatial smoothing (librealsense defaults: alpha 0.5, delta 20).
    pub spatial: bool,
    /// Temporal smoothing over frames (alpha 0.4). It low-passes each pixel, so it also smooths
    /// the breathing movement a little; off by default.
    pub temporal: bool,
    /// Hole filling.
    pub hole_filling: HoleFilling,
}

impl FilterSettings {
    /// Whether any filter is on.
    pub fn any(&self) -> bool {
        self.decimation > 1
            || self.spatial
            || self.temporal
            || self.hole_filling != HoleFilling::Off
    }
}

impl fmt::Display for FilterSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.any() {
            return f.write_str("no filters");
        }
        let mut parts = Vec::new();
        if self.decimation > 1 {
            parts.push(format!("decimation {}", self.decimation));
        }
        if self.spatial {
            parts.push("spatial".into());
        }
        if self.temporal {
            parts.push("temporal".into());
        }
        if self.hole_filling != HoleFilling::Off {
            parts.push(format!("hole filling {}", self.hole_filling));
        }
        f.write_str(&parts.join(", "))
    }
}

/// Everything a RealSense camera is set to when it starts streaming.
#[derive(Debug, Clone, PartialEq)]
pub struct RealSenseSettings {
    /// Depth stream width, px (the camera must offer it, e.g. 848, 640, 480, 424).
    pub width_px: u32,
    /// Depth stream height, px.
    pub height_px: u32,
    /// Frames per second (the camera must offer it, e.g. 6, 15, 30, 60, 90).
    pub fps: u32,
    /// Metres per raw Z16 step (written to the camera's depth-units option).
    pub depth_unit_m: f32,
    /// Infrared projector.
    pub emitter: Emitter,
    /// Visual preset.
    pub visual_preset: VisualPreset,
    /// How long to wait for a frame before counting a time-out, ms.
    pub frame_timeout_ms: u32,
    /// Post-processing filters.
    pub filters: FilterSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse() {
        assert_eq!(CameraSelector::parse("sim"), Ok(CameraSelector::Simulated));
        assert_eq!(CameraSelector::parse("0"), Ok(CameraSelector::Index(0)));
        assert_eq!(CameraSelector::parse(" 12 "), Ok(CameraSelector::Index(12)));
        assert_eq!(
            CameraSelector::parse("838212073161"),
            Ok(CameraSelector::Serial("838212073161".into()))
        );
        for bad in [
            "",
            "-1",
            "a b",
            "cam/0",
            "12345678901234567890123456789012345",
        ] {
            let e = CameraSelector::parse(bad).unwrap_err();
            assert!(e.contains("serial number"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn names_round_trip() {
        for p in [
            VisualPreset::Keep,
            VisualPreset::Default,
            VisualPreset::HighAccuracy,
            VisualPreset::HighDensity,
            VisualPreset::MediumDensity,
            VisualPreset::Hand,
        ] {
            assert_eq!(p.name().parse::<VisualPreset>(), Ok(p));
        }
        assert_eq!(
            "farthest_from_around".parse(),
            Ok(HoleFilling::FarthestFromAround)
        );
        assert_eq!(HoleFilling::FarthestFromAround.mode_value(), Some(1.0));
        assert!("Off".parse::<Emitter>().is_err());
        assert_eq!(Emitter::NAMES.trim(), "keep on off");
    }

    #[test]
    fn filter_summary() {
        let mut f = FilterSettings {
            decimation: 1,
            spatial: false,
            temporal: false,
            hole_filling: HoleFilling::Off,
        };
        assert_eq!(f.to_string(), "no filters");
        f.decimation = 2;
        f.hole_filling = HoleFilling::FarthestFromAround;
        assert_eq!(
            f.to_string(),
            "decimation 2, hole filling farthest_from_around"
        );
    }
}
