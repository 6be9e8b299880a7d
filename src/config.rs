//! Configuration: `firmware-config/*.toml` → raw serde structs → validated [`Settings`].
//!
//! Two levels, as in ripgrep: [`RawConfig`] mirrors the file exactly (unknown keys are rejected by
//! serde), [`Settings`] holds checked values with units. Every range error names the file, the key,
//! the value and the allowed range. The shipped `firmware-config/kiosk.toml` is embedded in the
//! binary and is the default.

use crate::camera::hardware::{
    CameraSelector, Emitter, FilterSettings, HoleFilling, RealSenseSettings, VisualPreset,
};
use crate::respiration::RespirationSettings;
use crate::types::Pattern;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The shipped configuration, embedded at build time.
pub const DEFAULT_CONFIG: &str = include_str!("../firmware-config/kiosk.toml");

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key or a value of the wrong type (the message names the key).
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// toml's message, which names the key and line.
        message: String,
    },
    /// A value outside its allowed range.
    #[error("{file}: {key} = {value} is out of range: allowed {allowed}")]
    Range {
        /// The file.
        file: PathBuf,
        /// Dotted key, e.g. `camera.fps`.
        key: &'static str,
        /// The value as given.
        value: String,
        /// The allowed range, with its unit.
        allowed: &'static str,
    },
}

/// `[camera]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawCamera {
    pub source: String,
    pub width_px: u32,
    pub height_px: u32,
    pub fps: u32,
    pub depth_unit_mm: f64,
    pub emitter: String,
    pub visual_preset: String,
    pub frame_timeout_ms: u32,
    pub filters: RawFilters,
}

/// `[camera.filters]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawFilters {
    pub decimation: u32,
    pub spatial: bool,
    pub temporal: bool,
    pub hole_filling: String,
}

impl Default for RawFilters {
    fn default() -> Self {
        RawConfig::default().camera.filters
    }
}

/// `[simulation]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawSimulation {
    pub pattern: String,
    pub rate_bpm: f64,
    pub distance_m: f64,
    pub seed: u64,
    pub noise_scale: f64,
    pub sway: bool,
    pub motion_artefacts: bool,
}

/// `[chest]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawChest {
    pub min_distance_m: f64,
    pub max_distance_m: f64,
    pub redetect_interval_s: f64,
}

/// `[classifier]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawClassifier {
    pub kind: String,
    pub model: String,
}

/// `[display]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawDisplay {
    pub target: String,
    pub width_px: u32,
    pub height_px: u32,
    pub max_refresh_hz: f64,
}

/// `[events]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawEvents {
    pub output: String,
    pub frames_interval_s: f64,
}

/// `[xray]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawXray {
    pub model: String,
    pub threshold: f64,
    pub inbox: String,
    pub poll_interval_s: f64,
    pub heatmap_dir: String,
}

/// The whole file. Missing sections and keys take the shipped defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawConfig {
    pub camera: RawCamera,
    pub simulation: RawSimulation,
    pub chest: RawChest,
    pub respiration: RespirationSettings,
    pub classifier: RawClassifier,
    pub display: RawDisplay,
    pub events: RawEvents,
    pub xray: RawXray,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            camera: RawCamera {
                source: "sim".into(),
                width_px: 848,
                height_px: 480,
                fps: 30,
                depth_unit_mm: 1.0,
                emitter: "on".into(),
                visual_preset: "default".into(),
                frame_timeout_ms: 1000,
                filters: RawFilters {
                    decimation: 1,
                    spatial: false,
                    temporal: false,
                    hole_filling: "off".into(),
                },
            },
            simulation: RawSimulation {
                pattern: "eupnea".into(),
                rate_bpm: 0.0,
                distance_m: 1.1,
                seed: 1,
                noise_scale: 1.0,
                sway: true,
                motion_artefacts: true,
            },
            chest: RawChest {
                min_distance_m: 0.3,
                max_distance_m: 2.0,
                redetect_interval_s: 1.0,
            },
            respiration: RespirationSettings::default(),
            classifier: RawClassifier {
                kind: "bi_at_gru".into(),
                model: String::new(),
            },
            display: RawDisplay {
                target: String::new(),
                width_px: 480,
                height_px: 320,
                max_refresh_hz: 2.0,
            },
            events: RawEvents {
                output: "-".into(),
                frames_interval_s: 10.0,
            },
            xray: RawXray {
                model: String::new(),
                threshold: 0.0,
                inbox: String::new(),
                poll_interval_s: 1.0,
                heatmap_dir: String::new(),
            },
        }
    }
}

macro_rules! raw_default {
    ($($t:ident => $field:ident),*) => {
        $(impl Default for $t {
            fn default() -> Self {
                RawConfig::default().$field
            }
        })*
    };
}
raw_default!(RawCamera => camera, RawSimulation => simulation, RawChest => chest,
    RawClassifier => classifier, RawDisplay => display, RawEvents => events, RawXray => xray);

/// Validated `[xray]`: paths resolved against the file's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct XraySettings {
    /// ONNX model file (with `model.json` beside it); `None` = the built-in model.
    pub model: Option<PathBuf>,
    /// Operating threshold on the covid probability; `None` = the model's own.
    pub threshold: Option<f32>,
    /// Folder the daemon watches for new images; `None` = no inbox.
    pub inbox: Option<PathBuf>,
    /// How often the inbox is scanned, s.
    pub poll_interval_s: f64,
    /// Where the daemon writes heatmaps of inbox images; `None` = none.
    pub heatmap_dir: Option<PathBuf>,
}

/// Which breathing classifier runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassifierKind {
    /// The rule-based baseline (`rule_baseline`).
    RuleBaseline,
    /// The BI-AT-GRU (`bi_at_gru`) run with tract.
    BiAtGru {
        /// ONNX file to load; `None` = the model built into the program. A relative path in a
        /// file is relative to that file's folder.
        model: Option<PathBuf>,
    },
}

impl ClassifierKind {
    /// Parse a `classifier.kind` value (with an optional model path).
    pub fn parse(kind: &str, model: Option<PathBuf>) -> Option<Self> {
        match kind {
            "rule_baseline" => Some(ClassifierKind::RuleBaseline),
            "bi_at_gru" => Some(ClassifierKind::BiAtGru { model }),
            _ => None,
        }
    }
}

/// Validated settings. Fields keep the file's names and units.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The file the settings came from (`<embedded kiosk.toml>` for the default).
    pub origin: PathBuf,
    /// `[camera]`, checked.
    pub camera: RawCamera,
    /// `camera.source`, parsed.
    pub camera_source: CameraSelector,
    /// `[camera]` and `[camera.filters]` as a RealSense camera is set up.
    pub realsense: RealSenseSettings,
    /// `[simulation]`, checked; `pattern` parsed.
    pub simulation: RawSimulation,
    /// The simulated pattern.
    pub sim_pattern: Pattern,
    /// `[chest]`, checked.
    pub chest: RawChest,
    /// `[respiration]`, checked.
    pub respiration: RespirationSettings,
    /// `[classifier]`, parsed.
    pub classifier: ClassifierKind,
    /// `[display]`, checked.
    pub display: RawDisplay,
    /// `[events]`, checked.
    pub events: RawEvents,
    /// `[xray]`, checked.
    pub xray: XraySettings,
}

impl Settings {
    /// The shipped defaults (the embedded `kiosk.toml`).
    pub fn embedded() -> Result<Self, ConfigError> {
        Self::from_toml(DEFAULT_CONFIG, Path::new("<embedded kiosk.toml>"))
    }

    /// Loads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: origin.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        Self::validate(raw, origin)
    }

    /// Checks every value of `raw`.
    pub fn validate(raw: RawConfig, origin: &Path) -> Result<Self, ConfigError> {
        let c = Checker { file: origin };
        let cam = &raw.camera;
        c.range(
            "camera.width_px",
            cam.width_px as f64,
            64.0,
            1920.0,
            "64-1920 px",
        )?;
        c.range(
            "camera.height_px",
            cam.height_px as f64,
            48.0,
            1080.0,
            "48-1080 px",
        )?;
        c.range("camera.fps", cam.fps as f64, 1.0, 90.0, "1-90 frames/s")?;
        c.range(
            "camera.depth_unit_mm",
            cam.depth_unit_mm,
            0.05,
            10.0,
            "0.05-10 mm",
        )?;
        let camera_source = CameraSelector::parse(&cam.source).map_err(|_| {
            c.bad(
                "camera.source",
                &format!("{:?}", cam.source),
                "\"sim\", a camera index (0, 1, ...) or a serial number (4-32 letters and digits)",
            )
        })?;
        let emitter: Emitter = cam.emitter.parse().map_err(|_| {
            c.bad(
                "camera.emitter",
                &format!("{:?}", cam.emitter),
                "keep, on, off",
            )
        })?;
        let visual_preset: VisualPreset = cam.visual_preset.parse().map_err(|_| {
            c.bad(
                "camera.visual_preset",
                &format!("{:?}", cam.visual_preset),
                "keep, default, high_accuracy, high_density, medium_density, hand",
            )
        })?;
        c.range(
            "camera.frame_timeout_ms",
            cam.frame_timeout_ms as f64,
            100.0,
            10000.0,
            "100-10000 ms",
        )?;
        let f = &cam.filters;
        c.range(
            "camera.filters.decimation",
            f.decimation as f64,
            1.0,
            8.0,
            "1 (off) to 8",
        )?;
        let hole_filling: HoleFilling = f.hole_filling.parse().map_err(|_| {
            c.bad(
                "camera.filters.hole_filling",
                &format!("{:?}", f.hole_filling),
                "off, fill_from_left, farthest_from_around, nearest_from_around",
            )
        })?;
        let realsense = RealSenseSettings {
            width_px: cam.width_px,
            height_px: cam.height_px,
            fps: cam.fps,
            depth_unit_m: (cam.depth_unit_mm / 1000.0) as f32,
            emitter,
            visual_preset,
            frame_timeout_ms: cam.frame_timeout_ms,
            filters: FilterSettings {
                decimation: f.decimation as u8,
                spatial: f.spatial,
                temporal: f.temporal,
                hole_filling,
            },
        };
        let sim = &raw.simulation;
        let sim_pattern: Pattern = sim.pattern.parse().map_err(|_| {
            c.bad(
                "simulation.pattern",
                &format!("{:?}", sim.pattern),
                "eupnea, tachypnea, bradypnea, biots, cheyne_stokes, central_apnea",
            )
        })?;
        if sim.rate_bpm != 0.0 {
            c.range(
                "simulation.rate_bpm",
                sim.rate_bpm,
                4.0,
                60.0,
                "0 (typical) or 4-60 breaths/min",
            )?;
        }
        c.range(
            "simulation.distance_m",
            sim.distance_m,
            0.5,
            3.0,
            "0.5-3.0 m",
        )?;
        c.range("simulation.noise_scale", sim.noise_scale, 0.0, 10.0, "0-10")?;
        let ch = &raw.chest;
        c.range(
            "chest.min_distance_m",
            ch.min_distance_m,
            0.2,
            5.0,
            "0.2-5.0 m",
        )?;
        c.range(
            "chest.max_distance_m",
            ch.max_distance_m,
            0.2,
            5.0,
            "0.2-5.0 m",
        )?;
        if ch.max_distance_m <= ch.min_distance_m {
            return Err(c.bad(
                "chest.max_distance_m",
                &ch.max_distance_m.to_string(),
                "greater than chest.min_distance_m",
            ));
        }
        c.range(
            "chest.redetect_interval_s",
            ch.redetect_interval_s,
            0.1,
            60.0,
            "0.1-60 s",
        )?;
        let r = &raw.respiration;
        c.range(
            "respiration.resample_hz",
            r.resample_hz,
            4.0,
            50.0,
            "4-50 Hz",
        )?;
        c.range("respiration.window_s", r.window_s, 30.0, 300.0, "30-300 s")?;
        c.range(
            "respiration.update_interval_s",
            r.update_interval_s,
            0.5,
            60.0,
            "0.5-60 s",
        )?;
        c.range(
            "respiration.band_low_hz",
            r.band_low_hz,
            0.01,
            0.2,
            "0.01-0.2 Hz",
        )?;
        c.range(
            "respiration.band_high_hz",
            r.band_high_hz,
            0.5,
            3.0,
            "0.5-3.0 Hz",
        )?;
        if r.band_high_hz >= r.resample_hz / 2.0 {
            return Err(c.bad(
                "respiration.band_high_hz",
                &r.band_high_hz.to_string(),
                "below half of respiration.resample_hz",
            ));
        }
        c.range(
            "respiration.apnea_min_s",
            r.apnea_min_s,
            5.0,
            60.0,
            "5-60 s",
        )?;
        // A relative path in a file is relative to that file's folder.
        let resolve = |value: &str| {
            (!value.is_empty()).then(|| {
                let p = PathBuf::from(value);
                match origin.parent() {
                    Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
                    _ => p,
                }
            })
        };
        let model = resolve(&raw.classifier.model);
        let Some(classifier) = ClassifierKind::parse(&raw.classifier.kind, model) else {
            return Err(c.bad(
                "classifier.kind",
                &format!("{:?}", raw.classifier.kind),
                "\"bi_at_gru\" or \"rule_baseline\"",
            ));
        };
        if classifier == ClassifierKind::RuleBaseline && !raw.classifier.model.is_empty() {
            return Err(c.bad(
                "classifier.model",
                &format!("{:?}", raw.classifier.model),
                "empty for kind \"rule_baseline\" (only bi_at_gru loads a model)",
            ));
        }
        let d = &raw.display;
        c.range(
            "display.width_px",
            d.width_px as f64,
            320.0,
            1920.0,
            "320-1920 px",
        )?;
        c.range(
            "display.height_px",
            d.height_px as f64,
            240.0,
            1080.0,
            "240-1080 px",
        )?;
        if !(d.max_refresh_hz > 0.0 && d.max_refresh_hz <= 2.0) {
            return Err(c.bad(
                "display.max_refresh_hz",
                &d.max_refresh_hz.to_string(),
                "greater than 0 and at most 2 Hz",
            ));
        }
        let t = d.target.as_str();
        if !(t.is_empty() || t.starts_with("png:") || t.starts_with("fb:")) {
            return Err(c.bad(
                "display.target",
                &format!("{t:?}"),
                "\"\", \"png:PATH\" or \"fb:/dev/fbN\"",
            ));
        }
        c.range(
            "events.frames_interval_s",
            raw.events.frames_interval_s,
            1.0,
            3600.0,
            "1-3600 s",
        )?;
        if raw.events.output.trim().is_empty() {
            return Err(c.bad("events.output", "\"\"", "\"-\" or a file path"));
        }
        let x = &raw.xray;
        if x.threshold != 0.0 {
            c.range(
                "xray.threshold",
                x.threshold,
                0.01,
                0.99,
                "0 (the model's own) or 0.01-0.99",
            )?;
        }
        c.range(
            "xray.poll_interval_s",
            x.poll_interval_s,
            0.2,
            60.0,
            "0.2-60 s",
        )?;
        let xray = XraySettings {
            model: resolve(&x.model),
            threshold: (x.threshold != 0.0).then_some(x.threshold as f32),
            inbox: resolve(&x.inbox),
            poll_interval_s: x.poll_interval_s,
            heatmap_dir: resolve(&x.heatmap_dir),
        };
        Ok(Settings {
            origin: origin.to_path_buf(),
            camera: raw.camera,
            camera_source,
            realsense,
            simulation: raw.simulation,
            sim_pattern,
            chest: raw.chest,
            respiration: raw.respiration,
            classifier,
            display: raw.display,
            events: raw.events,
            xray,
        })
    }
}

struct Checker<'a> {
    file: &'a Path,
}

impl Checker<'_> {
    fn bad(&self, key: &'static str, value: &str, allowed: &'static str) -> ConfigError {
        ConfigError::Range {
            file: self.file.to_path_buf(),
            key,
            value: value.to_string(),
            allowed,
        }
    }

    fn range(
        &self,
        key: &'static str,
        v: f64,
        lo: f64,
        hi: f64,
        allowed: &'static str,
    ) -> Result<(), ConfigError> {
        if v.is_finite() && (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(self.bad(key, &v.to_string(), allowed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(text: &str) -> String {
        Settings::from_toml(text, Path::new("test.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn shipped_file_equals_the_code_defaults() {
        let from_file: RawConfig = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert_eq!(from_file, RawConfig::default());
        let s = Settings::embedded().unwrap();
        assert_eq!(s.sim_pattern, Pattern::Eupnea);
        assert_eq!(s.respiration.window_s, 120.0);
    }

    #[test]
    fn empty_file_takes_defaults() {
        let s = Settings::from_toml("", Path::new("empty.toml")).unwrap();
        assert_eq!(s.camera.fps, 30);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = err_of("[camera]\nfsp = 30\n");
        assert!(e.contains("test.toml") && e.contains("fsp"), "{e}");
        let e = err_of("[cameras]\n");
        assert!(e.contains("cameras"), "{e}");
    }

    #[test]
    fn out_of_range_value_names_key_and_range() {
        let e = err_of("[camera]\nfps = 500\n");
        assert_eq!(
            e,
            "test.toml: camera.fps = 500 is out of range: allowed 1-90 frames/s"
        );
        let e = err_of("[respiration]\nwindow_s = nan\n");
        assert!(
            e.contains("respiration.window_s") && e.contains("30-300 s"),
            "{e}"
        );
        let e = err_of("[simulation]\npattern = \"snoring\"\n");
        assert!(
            e.contains("simulation.pattern") && e.contains("cheyne_stokes"),
            "{e}"
        );
        let e = err_of("[chest]\nmin_distance_m = 1.5\nmax_distance_m = 1.0\n");
        assert!(e.contains("chest.max_distance_m"), "{e}");
        let e = err_of("[display]\nmax_refresh_hz = 5\n");
        assert!(e.contains("display.max_refresh_hz"), "{e}");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = err_of("[camera]\nfps = \"thirty\"\n");
        assert!(e.contains("fps"), "{e}");
    }

    #[test]
    fn realsense_settings_are_parsed_and_bad_ones_named() {
        let s = Settings::from_toml(
            "[camera]\nsource = \"838212073161\"\nemitter = \"off\"\nvisual_preset = \"high_accuracy\"\n\
             depth_unit_mm = 0.1\n[camera.filters]\ndecimation = 2\nhole_filling = \"farthest_from_around\"\n",
            Path::new("test.toml"),
        )
        .unwrap();
        assert_eq!(
            s.camera_source,
            CameraSelector::Serial("838212073161".into())
        );
        let r = &s.realsense;
        assert_eq!(
            (r.emitter, r.visual_preset),
            (Emitter::Off, VisualPreset::HighAccuracy)
        );
        assert!((r.depth_unit_m - 0.0001).abs() < 1e-9);
        assert_eq!(r.filters.decimation, 2);
        assert_eq!(r.filters.hole_filling, HoleFilling::FarthestFromAround);
        assert!(!r.filters.spatial && !r.filters.temporal);
        for (text, key, allowed) in [
            (
                "[camera]\nsource = \"cam 0\"\n",
                "camera.source",
                "serial number",
            ),
            (
                "[camera]\nemitter = \"auto\"\n",
                "camera.emitter",
                "keep, on, off",
            ),
            (
                "[camera]\nvisual_preset = \"max\"\n",
                "camera.visual_preset",
                "high_density",
            ),
            (
                "[camera]\nframe_timeout_ms = 50\n",
                "camera.frame_timeout_ms",
                "100-10000 ms",
            ),
            (
                "[camera.filters]\ndecimation = 9\n",
                "camera.filters.decimation",
                "1 (off) to 8",
            ),
            (
                "[camera.filters]\nhole_filling = \"yes\"\n",
                "camera.filters.hole_filling",
                "fill_from_left",
            ),
        ] {
            let e = err_of(text);
            assert!(
                e.starts_with("test.toml: ") && e.contains(key) && e.contains(allowed),
                "{e}"
            );
        }
        let e = err_of("[camera.filters]\nmedian = true\n");
        assert!(e.contains("median"), "{e}");
    }
}
