//! The allowed range of every setting a person can change, written once.
//!
//! The configuration (`firmware-config/kiosk.toml` and the command-line flags that override it)
//! checks its values against these, and so do the components that take the settings from code
//! (the simulated camera, the chest tracker, the display), so a value is never accepted in one
//! place and refused in another. Each limit carries its configuration key, so an error names it.

/// An inclusive range with its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// The configuration key, e.g. `camera.fps`.
    pub key: &'static str,
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
    /// Unit, as written after the range (may be empty).
    pub unit: &'static str,
    /// Whether 0 is also allowed and means "the default" (written `0 (default) or ...`).
    pub zero_means_default: bool,
}

/// A value outside its [`Limit`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key} = {value} is out of range: allowed {allowed}")]
pub struct OutOfRange {
    /// The configuration key.
    pub key: &'static str,
    /// The value as given.
    pub value: String,
    /// The allowed range, with its unit.
    pub allowed: String,
}

impl Limit {
    const fn new(key: &'static str, min: f64, max: f64, unit: &'static str) -> Self {
        Self {
            key,
            min,
            max,
            unit,
            zero_means_default: false,
        }
    }

    const fn or_zero(self) -> Self {
        Self {
            zero_means_default: true,
            ..self
        }
    }

    /// The allowed values in words, e.g. `1-90 frames/s`.
    pub fn allowed(&self) -> String {
        let range = format!("{}-{}", self.min, self.max);
        let range = if self.unit.is_empty() {
            range
        } else {
            format!("{range} {}", self.unit)
        };
        if self.zero_means_default {
            format!("0 (the default) or {range}")
        } else {
            range
        }
    }

    /// Whether `v` is allowed (never for NaN or infinities).
    pub fn contains(&self, v: f64) -> bool {
        v.is_finite() && ((self.min..=self.max).contains(&v) || self.zero_means_default && v == 0.0)
    }

    /// `Ok` when `v` is allowed, else the error naming the key, the value and the range.
    pub fn check(&self, v: f64) -> Result<(), OutOfRange> {
        if self.contains(v) {
            Ok(())
        } else {
            Err(OutOfRange {
                key: self.key,
                value: v.to_string(),
                allowed: self.allowed(),
            })
        }
    }
}

/// Depth image width.
pub const CAMERA_WIDTH: Limit = Limit::new("camera.width_px", 64.0, 1920.0, "px");
/// Depth image height.
pub const CAMERA_HEIGHT: Limit = Limit::new("camera.height_px", 48.0, 1080.0, "px");
/// Frame rate.
pub const CAMERA_FPS: Limit = Limit::new("camera.fps", 1.0, 90.0, "frames/s");
/// Depth unit.
pub const CAMERA_DEPTH_UNIT: Limit = Limit::new("camera.depth_unit_mm", 0.05, 10.0, "mm");
/// Frame time-out.
pub const CAMERA_FRAME_TIMEOUT: Limit = Limit::new("camera.frame_timeout_ms", 100.0, 10000.0, "ms");
/// Decimation filter factor (1 = off).
pub const CAMERA_DECIMATION: Limit = Limit::new("camera.filters.decimation", 1.0, 8.0, "");
/// Simulated breathing rate (0 = the pattern's typical rate).
pub const SIM_RATE: Limit = Limit::new("simulation.rate_bpm", 4.0, 60.0, "breaths/min").or_zero();
/// Simulated camera-to-chest distance.
pub const SIM_DISTANCE: Limit = Limit::new("simulation.distance_m", 0.5, 3.0, "m");
/// Simulated depth-noise multiplier.
pub const SIM_NOISE: Limit = Limit::new("simulation.noise_scale", 0.0, 10.0, "");
/// Nearest distance a person is looked for at.
pub const CHEST_MIN_DISTANCE: Limit = Limit::new("chest.min_distance_m", 0.2, 5.0, "m");
/// Farthest distance a person is looked for at.
pub const CHEST_MAX_DISTANCE: Limit = Limit::new("chest.max_distance_m", 0.2, 5.0, "m");
/// Time between chest re-detections.
pub const CHEST_REDETECT: Limit = Limit::new("chest.redetect_interval_s", 0.1, 60.0, "s");
/// Breathing-signal rate.
pub const RESAMPLE_HZ: Limit = Limit::new("respiration.resample_hz", 4.0, 50.0, "Hz");
/// Analysis window.
pub const WINDOW: Limit = Limit::new("respiration.window_s", 30.0, 300.0, "s");
/// Time between readings.
pub const UPDATE_INTERVAL: Limit = Limit::new("respiration.update_interval_s", 0.5, 60.0, "s");
/// Band-pass lower edge.
pub const BAND_LOW: Limit = Limit::new("respiration.band_low_hz", 0.01, 0.2, "Hz");
/// Band-pass upper edge.
pub const BAND_HIGH: Limit = Limit::new("respiration.band_high_hz", 0.5, 3.0, "Hz");
/// Apnea threshold.
pub const APNEA_MIN: Limit = Limit::new("respiration.apnea_min_s", 5.0, 60.0, "s");
/// Good signal a session needs for a result.
pub const SESSION_MIN_SIGNAL: Limit = Limit::new("session.min_signal_s", 30.0, 600.0, "s");
/// Longest measurement.
pub const SESSION_MAX_MEASURE: Limit = Limit::new("session.max_measure_s", 30.0, 1800.0, "s");
/// Quality a window needs for its signal to count.
pub const SESSION_QUALITY_GATE: Limit = Limit::new("session.quality_gate", 0.0, 1.0, "");
/// Absence that ends a session.
pub const SESSION_ABSENCE: Limit = Limit::new("session.absence_s", 1.0, 120.0, "s");
/// Readout width.
pub const DISPLAY_WIDTH: Limit = Limit::new("display.width_px", 320.0, 1920.0, "px");
/// Readout height.
pub const DISPLAY_HEIGHT: Limit = Limit::new("display.height_px", 240.0, 1080.0, "px");
/// Readout refresh cap (strictly above 0).
pub const DISPLAY_REFRESH: Limit = Limit::new("display.max_refresh_hz", 0.1, 2.0, "Hz");
/// Interval of the `frames` events.
pub const FRAMES_INTERVAL: Limit = Limit::new("events.frames_interval_s", 1.0, 3600.0, "s");
/// X-ray operating threshold (0 = the model's own).
pub const XRAY_THRESHOLD: Limit = Limit::new("xray.threshold", 0.01, 0.99, "").or_zero();
/// X-ray inbox scan interval.
pub const XRAY_POLL: Limit = Limit::new("xray.poll_interval_s", 0.2, 60.0, "s");
/// Record retention by age (0 = no age limit).
pub const RETENTION_DAYS: Limit = Limit::new("records.retention_days", 0.0, 36500.0, "days");
/// Record retention by count (0 = no count limit).
pub const RETENTION_COUNT: Limit =
    Limit::new("records.retention_count", 0.0, 10_000_000.0, "records");
/// MQTT keep-alive.
pub const UPLINK_KEEP_ALIVE: Limit = Limit::new("uplink.keep_alive_s", 5.0, 3600.0, "s");
/// How often the status file is rewritten.
pub const STATUS_INTERVAL: Limit = Limit::new("status.interval_s", 0.5, 60.0, "s");

/// Every limit, for documentation checks.
pub const ALL: [Limit; 32] = [
    CAMERA_WIDTH,
    CAMERA_HEIGHT,
    CAMERA_FPS,
    CAMERA_DEPTH_UNIT,
    CAMERA_FRAME_TIMEOUT,
    CAMERA_DECIMATION,
    SIM_RATE,
    SIM_DISTANCE,
    SIM_NOISE,
    CHEST_MIN_DISTANCE,
    CHEST_MAX_DISTANCE,
    CHEST_REDETECT,
    RESAMPLE_HZ,
    WINDOW,
    UPDATE_INTERVAL,
    BAND_LOW,
    BAND_HIGH,
    APNEA_MIN,
    SESSION_MIN_SIGNAL,
    SESSION_MAX_MEASURE,
    SESSION_QUALITY_GATE,
    SESSION_ABSENCE,
    DISPLAY_WIDTH,
    DISPLAY_HEIGHT,
    DISPLAY_REFRESH,
    FRAMES_INTERVAL,
    XRAY_THRESHOLD,
    XRAY_POLL,
    RETENTION_DAYS,
    RETENTION_COUNT,
    UPLINK_KEEP_ALIVE,
    STATUS_INTERVAL,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_written_and_reject_nan() {
        assert_eq!(CAMERA_FPS.allowed(), "1-90 frames/s");
        assert_eq!(SIM_RATE.allowed(), "0 (the default) or 4-60 breaths/min");
        assert!(SIM_RATE.contains(0.0) && !SIM_RATE.contains(2.0));
        assert!(!WINDOW.contains(f64::NAN) && !WINDOW.contains(f64::INFINITY));
        let e = CAMERA_FPS.check(500.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "camera.fps = 500 is out of range: allowed 1-90 frames/s"
        );
    }
}
