//! From text to [`Settings`]: merge the file and the flags over the shipped defaults, then check
//! every value once and build each component's settings.

use super::raw::{self, RawConfig};
use super::{
    CameraSettings, ConfigError, DisplayConfig, EventSettings, Overrides, Settings,
    SubjectSettings, EMBEDDED,
};
use crate::breathing::ClassifierKind;
use crate::camera::hardware::{
    CameraSelector, Emitter, FilterSettings, HoleFilling, RealSenseSettings, VisualPreset,
};
use crate::camera::simulated::SimCameraSettings;
use crate::limits::{self as lim, Limit};
use crate::pipeline::PipelineSettings;
use crate::respiration::roi::ChestSettings;
use crate::screening::SessionSettings;
use crate::xray::XraySettings;
use std::path::{Path, PathBuf};

/// Where each value came from, for messages and for resolving relative paths.
struct Origins<'a> {
    file: &'a str,
    dir: Option<&'a Path>,
    overrides: &'a Overrides,
}

impl Origins<'_> {
    fn of(&self, key: &str) -> String {
        match self.overrides.flag_of(key) {
            Some(flag) => flag.to_string(),
            None => self.file.to_string(),
        }
    }

    fn bad(&self, key: &str, value: impl std::fmt::Display, allowed: &str) -> ConfigError {
        ConfigError::Value {
            origin: self.of(key),
            key: key.to_string(),
            value: value.to_string(),
            allowed: allowed.to_string(),
        }
    }

    fn invalid(&self, key: &str, value: impl std::fmt::Display, problem: &str) -> ConfigError {
        ConfigError::Invalid {
            origin: self.of(key),
            key: key.to_string(),
            value: value.to_string(),
            problem: problem.to_string(),
        }
    }

    fn check(&self, limit: Limit, v: f64) -> Result<(), ConfigError> {
        limit
            .check(v)
            .map_err(|e| self.bad(e.key, e.value, &e.allowed))
    }

    /// A path value: `None` when empty; relative to the file's folder when it came from a file.
    fn path(&self, key: &str, value: &str) -> Option<PathBuf> {
        if value.is_empty() {
            return None;
        }
        let p = PathBuf::from(value);
        match self.dir {
            Some(dir) if p.is_relative() && self.overrides.flag_of(key).is_none() => {
                Some(dir.join(p))
            }
            _ => Some(p),
        }
    }

    /// A named value parsed with `parse`; `allowed` lists the names.
    fn named<T, E>(
        &self,
        key: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
        allowed: &str,
    ) -> Result<T, ConfigError> {
        parse(value)
            .map_err(|_| self.invalid(key, format!("{value:?}"), &format!("expected {allowed}")))
    }
}

/// The spellings of a `named_enum`, comma-separated.
fn names(list: &str) -> String {
    list.split_whitespace().collect::<Vec<_>>().join(", ")
}

pub(super) fn resolve(
    file: Option<(&str, &Path)>,
    overrides: &Overrides,
) -> Result<Settings, ConfigError> {
    let mut table = raw::defaults()?;
    let (origin, dir) = match file {
        None => (PathBuf::from(EMBEDDED), None),
        Some((text, path)) => {
            let name = path.display().to_string();
            raw::merge(&mut table, raw::parse(text, &name)?, "", &name)?;
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            (path.to_path_buf(), dir)
        }
    };
    for (key, value, flag) in &overrides.entries {
        let Some(slot) = raw::slot(&mut table, key) else {
            return Err(ConfigError::UnknownKey {
                origin: flag.to_string(),
                key: key.to_string(),
                known: "the keys of kiosk.toml".into(),
            });
        };
        raw::set(slot, value.clone(), key, flag)?;
    }
    let raw = raw::into_raw(table)?;
    let file_name = origin.display().to_string();
    let o = Origins {
        file: &file_name,
        dir,
        overrides,
    };
    let camera = camera(&raw, &o)?;
    Ok(Settings {
        origin,
        subject: subject(&raw, &o)?,
        pipeline: pipeline(&raw, &o)?,
        classifier: classifier(&raw, &o)?,
        display: display(&raw, &o)?,
        events: events(&raw, &o)?,
        xray: xray(&raw, &o)?,
        camera,
    })
}

fn camera(raw: &RawConfig, o: &Origins<'_>) -> Result<CameraSettings, ConfigError> {
    let (c, s) = (&raw.camera, &raw.simulation);
    o.check(lim::CAMERA_WIDTH, c.width_px.into())?;
    o.check(lim::CAMERA_HEIGHT, c.height_px.into())?;
    o.check(lim::CAMERA_FPS, c.fps.into())?;
    o.check(lim::CAMERA_DEPTH_UNIT, c.depth_unit_mm)?;
    o.check(lim::CAMERA_FRAME_TIMEOUT, c.frame_timeout_ms.into())?;
    o.check(lim::CAMERA_DECIMATION, c.filters.decimation.into())?;
    o.check(lim::SIM_DISTANCE, s.distance_m)?;
    o.check(lim::SIM_NOISE, s.noise_scale)?;
    let source = o.named(
        "camera.source",
        &c.source,
        CameraSelector::parse,
        "\"sim\", a camera index (0, 1, ...) or a serial number (4-32 letters and digits)",
    )?;
    let emitter: Emitter = o.named(
        "camera.emitter",
        &c.emitter,
        str::parse,
        &names(Emitter::NAMES),
    )?;
    let visual_preset: VisualPreset = o.named(
        "camera.visual_preset",
        &c.visual_preset,
        str::parse,
        &names(VisualPreset::NAMES),
    )?;
    let hole_filling: HoleFilling = o.named(
        "camera.filters.hole_filling",
        &c.filters.hole_filling,
        str::parse,
        &names(HoleFilling::NAMES),
    )?;
    let depth_unit_m = (c.depth_unit_mm / 1000.0) as f32;
    Ok(CameraSettings {
        source,
        sim: SimCameraSettings {
            width: c.width_px,
            height: c.height_px,
            fps: c.fps.into(),
            depth_unit_m,
            subject_distance_m: s.distance_m as f32,
            noise_scale: s.noise_scale as f32,
            sway: s.sway,
            ..SimCameraSettings::default()
        },
        realsense: RealSenseSettings {
            width_px: c.width_px,
            height_px: c.height_px,
            fps: c.fps,
            depth_unit_m,
            emitter,
            visual_preset,
            frame_timeout_ms: c.frame_timeout_ms,
            filters: FilterSettings {
                decimation: c.filters.decimation as u8,
                spatial: c.filters.spatial,
                temporal: c.filters.temporal,
                hole_filling,
            },
        },
    })
}

fn subject(raw: &RawConfig, o: &Origins<'_>) -> Result<SubjectSettings, ConfigError> {
    let s = &raw.simulation;
    o.check(lim::SIM_RATE, s.rate_bpm)?;
    let pattern = o.named(
        "simulation.pattern",
        &s.pattern,
        str::parse,
        "eupnea, tachypnea, bradypnea, biots, cheyne_stokes, central_apnea",
    )?;
    let visits = if s.visits.trim().is_empty() {
        Vec::new()
    } else {
        crate::camera::visits::parse_visits(&s.visits).map_err(|e| {
            o.invalid(
                "simulation.visits",
                format!("{:?}", s.visits),
                &e.to_string(),
            )
        })?
    };
    Ok(SubjectSettings {
        pattern,
        rate_bpm: (s.rate_bpm != 0.0).then_some(s.rate_bpm as f32),
        seed: s.seed,
        motion_artefacts: s.motion_artefacts,
        visits,
    })
}

fn pipeline(raw: &RawConfig, o: &Origins<'_>) -> Result<PipelineSettings, ConfigError> {
    let (ch, r, se) = (&raw.chest, &raw.respiration, &raw.session);
    o.check(lim::CHEST_MIN_DISTANCE, ch.min_distance_m)?;
    o.check(lim::CHEST_MAX_DISTANCE, ch.max_distance_m)?;
    if ch.max_distance_m <= ch.min_distance_m {
        return Err(o.bad(
            "chest.max_distance_m",
            ch.max_distance_m,
            "greater than chest.min_distance_m",
        ));
    }
    o.check(lim::CHEST_REDETECT, ch.redetect_interval_s)?;
    o.check(lim::RESAMPLE_HZ, r.resample_hz)?;
    o.check(lim::WINDOW, r.window_s)?;
    o.check(lim::UPDATE_INTERVAL, r.update_interval_s)?;
    o.check(lim::BAND_LOW, r.band_low_hz)?;
    o.check(lim::BAND_HIGH, r.band_high_hz)?;
    if r.band_high_hz >= r.resample_hz / 2.0 {
        return Err(o.bad(
            "respiration.band_high_hz",
            r.band_high_hz,
            "below half of respiration.resample_hz",
        ));
    }
    o.check(lim::APNEA_MIN, r.apnea_min_s)?;
    o.check(lim::SESSION_MIN_SIGNAL, se.min_signal_s)?;
    o.check(lim::SESSION_MAX_MEASURE, se.max_measure_s)?;
    if se.max_measure_s < se.min_signal_s {
        return Err(o.bad(
            "session.max_measure_s",
            se.max_measure_s,
            "at least session.min_signal_s",
        ));
    }
    o.check(lim::SESSION_QUALITY_GATE, se.quality_gate)?;
    o.check(lim::SESSION_ABSENCE, se.absence_s)?;
    Ok(PipelineSettings {
        chest: ChestSettings {
            min_distance_m: ch.min_distance_m as f32,
            max_distance_m: ch.max_distance_m as f32,
            redetect_interval_s: ch.redetect_interval_s,
            ..ChestSettings::default()
        },
        respiration: r.clone(),
        session: SessionSettings {
            min_signal_s: se.min_signal_s,
            max_measure_s: se.max_measure_s,
            quality_gate: se.quality_gate as f32,
            absence_s: se.absence_s,
            apnea_min_s: r.apnea_min_s,
        },
    })
}

fn classifier(raw: &RawConfig, o: &Origins<'_>) -> Result<ClassifierKind, ConfigError> {
    let c = &raw.classifier;
    let model = o.path("classifier.model", &c.model);
    let kind = ClassifierKind::parse(&c.kind, model).ok_or_else(|| {
        let expected = format!("expected {}", ClassifierKind::NAMES);
        o.invalid("classifier.kind", format!("{:?}", c.kind), &expected)
    })?;
    if kind == ClassifierKind::RuleBaseline && !c.model.is_empty() {
        return Err(o.invalid(
            "classifier.model",
            format!("{:?}", c.model),
            "must be empty for kind \"rule_baseline\" (only bi_at_gru loads a model)",
        ));
    }
    Ok(kind)
}

fn display(raw: &RawConfig, o: &Origins<'_>) -> Result<DisplayConfig, ConfigError> {
    let d = &raw.display;
    o.check(lim::DISPLAY_WIDTH, d.width_px.into())?;
    o.check(lim::DISPLAY_HEIGHT, d.height_px.into())?;
    o.check(lim::DISPLAY_REFRESH, d.max_refresh_hz)?;
    let target = if d.target.is_empty() {
        None
    } else {
        Some(o.named(
            "display.target",
            &d.target,
            str::parse,
            "\"\", \"png:PATH\" or \"fb:/dev/fbN\"",
        )?)
    };
    Ok(DisplayConfig {
        target,
        settings: crate::display::DisplaySettings {
            width: d.width_px,
            height: d.height_px,
            max_refresh_hz: d.max_refresh_hz,
        },
    })
}

fn events(raw: &RawConfig, o: &Origins<'_>) -> Result<EventSettings, ConfigError> {
    let e = &raw.events;
    o.check(lim::FRAMES_INTERVAL, e.frames_interval_s)?;
    let out = e.output.trim();
    if out.is_empty() {
        return Err(o.invalid("events.output", "\"\"", "expected \"-\" or a file path"));
    }
    Ok(EventSettings {
        file: (out != "-").then(|| o.path("events.output", out)).flatten(),
        frames_interval_s: e.frames_interval_s,
    })
}

fn xray(raw: &RawConfig, o: &Origins<'_>) -> Result<XraySettings, ConfigError> {
    let x = &raw.xray;
    o.check(lim::XRAY_THRESHOLD, x.threshold)?;
    o.check(lim::XRAY_POLL, x.poll_interval_s)?;
    Ok(XraySettings {
        model: o.path("xray.model", &x.model),
        threshold: (x.threshold != 0.0).then_some(x.threshold as f32),
        inbox: o.path("xray.inbox", &x.inbox),
        poll_interval_s: x.poll_interval_s,
        heatmap_dir: o.path("xray.heatmap_dir", &x.heatmap_dir),
    })
}
