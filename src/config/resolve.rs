//! From text to [`Settings`]: merge the file and the flags over the shipped defaults, then check
//! every value once and build each component's settings.

use super::raw::{self, RawConfig};
use super::{
    CameraSettings, ConfigError, DisplayConfig, EventSettings, ModelPins, Overrides, Settings,
    SubjectSettings, EMBEDDED,
};
use crate::breathing::ClassifierKind;
use crate::camera::hardware::{
    CameraSelector, Emitter, FilterSettings, HoleFilling, RealSenseSettings, VisualPreset,
};
use crate::camera::simulated::SimCameraSettings;
use crate::limits::{self as lim, Limit};
use crate::ops::OpsSettings;
use crate::pipeline::PipelineSettings;
use crate::records::{RecordSettings, UplinkSettings};
use crate::respiration::roi::ChestSettings;
use crate::screening::SessionSettings;
use crate::xray::site::SiteCalibration;
use crate::xray::{SiteSetting, XraySettings};
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
    let records = records(&raw, &o)?;
    Ok(Settings {
        origin,
        subject: subject(&raw, &o)?,
        pipeline: pipeline(&raw, &o)?,
        classifier: classifier(&raw, &o)?,
        display: display(&raw, &o)?,
        events: events(&raw, &o)?,
        xray: xray(&raw, &o)?,
        camera,
        device_id: device_id(&raw, &o)?,
        uplink: uplink(&raw, &o)?,
        pins: pins(&raw, &o)?,
        ops: ops(&raw, &o, &records)?,
        review: review(&raw, &o)?,
        records,
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
        site_calibration: site_calibration(&x.site_calibration, o)?,
    })
}

/// `[xray] site_calibration`: the file read and checked now (whether it belongs to the model is
/// checked when the model is loaded, `XrayScreener::from_settings`).
fn site_calibration(value: &str, o: &Origins<'_>) -> Result<Option<SiteSetting>, ConfigError> {
    const KEY: &str = "xray.site_calibration";
    let Some(path) = o.path(KEY, value) else {
        return Ok(None);
    };
    let calibration = SiteCalibration::load(&path)
        .map_err(|e| o.invalid(KEY, format!("{value:?}"), &e.to_string()))?;
    Ok(Some(SiteSetting {
        path,
        origin: o.of(KEY),
        calibration,
    }))
}

/// The longest device id (it is part of MQTT topics and file names).
const MAX_DEVICE_ID: usize = 64;

fn valid_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_DEVICE_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn device_id(raw: &RawConfig, o: &Origins<'_>) -> Result<String, ConfigError> {
    let id = raw.device.id.trim();
    if !id.is_empty() {
        if !valid_device_id(id) {
            return Err(o.invalid(
                "device.id",
                format!("{id:?}"),
                "expected 1-64 letters, digits, `-`, `_` or `.` (it is part of MQTT topics)",
            ));
        }
        return Ok(id.to_string());
    }
    // The machine id: 32 hex digits written at first boot (systemd); D-Bus keeps a copy.
    for file in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            let id = text.trim();
            if valid_device_id(id) {
                return Ok(id.to_string());
            }
        }
    }
    Err(o.invalid(
        "device.id",
        "\"\"",
        "this machine has no /etc/machine-id: set [device] id to the kiosk's name",
    ))
}

/// The state directory: systemd's `$STATE_DIRECTORY` (the first, if several), else
/// `/var/lib/edge-screen` for root and `$XDG_STATE_HOME/edge-screen` (or
/// `~/.local/state/edge-screen`) for other users.
pub fn state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("STATE_DIRECTORY") {
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        if !first.is_empty() {
            return Some(PathBuf::from(first));
        }
    }
    if is_root() {
        return Some(PathBuf::from("/var/lib/edge-screen"));
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("edge-screen"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".local/state/edge-screen"))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn records(raw: &RawConfig, o: &Origins<'_>) -> Result<RecordSettings, ConfigError> {
    let r = &raw.records;
    o.check(lim::RETENTION_DAYS, r.retention_days.into())?;
    o.check(lim::RETENTION_COUNT, r.retention_count.into())?;
    let path = match o.path("records.path", r.path.trim()) {
        Some(p) => p,
        None => state_dir().map(|d| d.join("records.db")).ok_or_else(|| {
            o.invalid(
                "records.path",
                "\"\"",
                "no state directory (no $STATE_DIRECTORY or $HOME): set [records] path",
            )
        })?,
    };
    Ok(RecordSettings {
        path,
        keep_images: r.keep_images,
        retention_days: (r.retention_days > 0).then_some(r.retention_days),
        retention_count: (r.retention_count > 0).then_some(r.retention_count),
    })
}

fn uplink(raw: &RawConfig, o: &Origins<'_>) -> Result<Option<UplinkSettings>, ConfigError> {
    let u = &raw.uplink;
    o.check(lim::UPLINK_KEEP_ALIVE, u.keep_alive_s)?;
    let url = u.url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let bad = |problem: &str| o.invalid("uplink.url", format!("{url:?}"), problem);
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else {
        return Err(bad("expected mqtt://HOST:PORT or mqtts://HOST:PORT"));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port must be 1-65535"))?;
            (h, port)
        }
        _ => (rest, if tls { 8883 } else { 1883 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(bad("expected mqtt://HOST:PORT (no user, path or spaces)"));
    }
    let ca_file = o.path("uplink.ca_file", u.ca_file.trim());
    if tls && ca_file.is_none() {
        return Err(o.invalid(
            "uplink.ca_file",
            "\"\"",
            "mqtts:// needs the CA certificate that signed the broker's certificate",
        ));
    }
    let client_id = u.client_id.trim();
    let client_id = if client_id.is_empty() {
        format!("edge-screen-{}", device_id(raw, o)?)
    } else {
        client_id.to_string()
    };
    Ok(Some(UplinkSettings {
        host: host.to_string(),
        port,
        tls,
        client_id,
        username: Some(u.username.trim().to_string()).filter(|s| !s.is_empty()),
        password_file: o.path("uplink.password_file", u.password_file.trim()),
        ca_file,
        keep_alive_s: u.keep_alive_s,
    }))
}

fn pin(o: &Origins<'_>, key: &str, value: &str) -> Result<Option<String>, ConfigError> {
    let v = value.trim().to_ascii_lowercase();
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() != 64 || !v.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(o.invalid(
            key,
            format!("{value:?}"),
            "expected 64 hex digits (what `sha256sum FILE` prints) or \"\"",
        ));
    }
    Ok(Some(v))
}

fn pins(raw: &RawConfig, o: &Origins<'_>) -> Result<ModelPins, ConfigError> {
    Ok(ModelPins {
        breathing: pin(o, "classifier.sha256", &raw.classifier.sha256)?,
        xray: pin(o, "xray.sha256", &raw.xray.sha256)?,
    })
}

fn review(raw: &RawConfig, o: &Origins<'_>) -> Result<crate::review::ReviewSettings, ConfigError> {
    let r = &raw.review;
    let text = r.listen.trim();
    let listen: std::net::SocketAddr = text.parse().map_err(|_| {
        o.invalid(
            "review.listen",
            format!("{text:?}"),
            "expected ADDRESS:PORT, e.g. \"127.0.0.1:9755\"",
        )
    })?;
    if !listen.ip().is_loopback() && !r.allow_remote {
        return Err(o.invalid(
            "review.listen",
            format!("{text:?}"),
            "not a loopback address: the review page shows patients' films; set \
             review.allow_remote = true to serve it to the network (behind TLS)",
        ));
    }
    Ok(crate::review::ReviewSettings {
        listen,
        allow_remote: r.allow_remote,
        password_file: o.path("review.password_file", r.password_file.trim()),
    })
}

fn ops(
    raw: &RawConfig,
    o: &Origins<'_>,
    records: &RecordSettings,
) -> Result<OpsSettings, ConfigError> {
    o.check(lim::STATUS_INTERVAL, raw.status.interval_s)?;
    let listen = raw.metrics.listen.trim();
    let metrics_listen = if listen.is_empty() {
        None
    } else {
        Some(listen.parse().map_err(|_| {
            o.invalid(
                "metrics.listen",
                format!("{listen:?}"),
                "expected ADDRESS:PORT, e.g. \"127.0.0.1:9754\", or \"\" (off)",
            )
        })?)
    };
    let status_file = match o.path("status.path", raw.status.path.trim()) {
        Some(p) => p,
        None => records
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join("status.json"),
    };
    Ok(OpsSettings {
        metrics_listen,
        status_file,
        status_interval_s: raw.status.interval_s,
    })
}
