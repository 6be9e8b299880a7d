//! Validated display settings: readout size in pixels and the refresh-rate cap.

use super::DisplayError;

/// Smallest supported readout size in pixels (width, height).
pub const MIN_SIZE: (u32, u32) = (320, 240);
/// Largest supported readout size in pixels (width, height).
pub const MAX_SIZE: (u32, u32) = (1920, 1080);
/// Highest allowed refresh rate in Hz (the issue caps the PNG target at twice a second).
pub const MAX_REFRESH_HZ: f64 = 2.0;

/// Size and refresh cap of the local readout.
///
/// Fields are public so that the configuration layer can fill them; every display target calls
/// [`DisplaySettings::validate`] when it is opened, and [`DisplaySettings::new`] validates too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisplaySettings {
    /// Readout width in pixels, 320..=1920.
    pub width: u32,
    /// Readout height in pixels, 240..=1080.
    pub height: u32,
    /// Maximum refreshes per second in Hz, in (0, 2].
    pub max_refresh_hz: f64,
}

impl Default for DisplaySettings {
    /// 480x320 pixels, at most 2 refreshes per second.
    fn default() -> Self {
        Self {
            width: 480,
            height: 320,
            max_refresh_hz: 2.0,
        }
    }
}

impl DisplaySettings {
    /// Validated settings; the error names the bad field and its allowed range.
    pub fn new(width: u32, height: u32, max_refresh_hz: f64) -> Result<Self, DisplayError> {
        let s = Self {
            width,
            height,
            max_refresh_hz,
        };
        s.validate()?;
        Ok(s)
    }

    /// Check every field against its range.
    pub fn validate(&self) -> Result<(), DisplayError> {
        let bad = |field: &'static str, value: String, allowed: String| DisplayError::Settings {
            field,
            value,
            allowed,
        };
        if !(MIN_SIZE.0..=MAX_SIZE.0).contains(&self.width) {
            return Err(bad(
                "width",
                format!("{} px", self.width),
                format!("{}..={} px", MIN_SIZE.0, MAX_SIZE.0),
            ));
        }
        if !(MIN_SIZE.1..=MAX_SIZE.1).contains(&self.height) {
            return Err(bad(
                "height",
                format!("{} px", self.height),
                format!("{}..={} px", MIN_SIZE.1, MAX_SIZE.1),
            ));
        }
        let hz = self.max_refresh_hz;
        if !(hz.is_finite() && hz > 0.0 && hz <= MAX_REFRESH_HZ) {
            return Err(bad(
                "max_refresh_hz",
                format!("{hz} Hz"),
                format!("greater than 0 and at most {MAX_REFRESH_HZ} Hz"),
            ));
        }
        Ok(())
    }

    /// Shortest time between two refreshes in seconds (`1 / max_refresh_hz`).
    pub fn min_interval_s(&self) -> f64 {
        1.0 / self.max_refresh_hz
    }
}

/// Decides whether a refresh is due, from caller-supplied timestamps (no wall clock).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshLimiter {
    min_interval_s: f64,
    last_s: Option<f64>,
}

impl RefreshLimiter {
    /// A limiter allowing one refresh per `1 / max_refresh_hz` seconds.
    pub fn new(settings: &DisplaySettings) -> Self {
        Self {
            min_interval_s: settings.min_interval_s(),
            last_s: None,
        }
    }

    /// Whether a refresh at `now_s` is allowed; if so it is recorded as the latest one.
    ///
    /// The first call is always due; so is a call whose time went backwards (a restarted stream).
    /// A non-finite `now_s` is never due.
    pub fn due(&mut self, now_s: f64) -> bool {
        if !now_s.is_finite() {
            return false;
        }
        let due = match self.last_s {
            None => true,
            Some(last) => now_s < last || now_s - last >= self.min_interval_s,
        };
        if due {
            self.last_s = Some(now_s);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert!(DisplaySettings::default().validate().is_ok());
        assert!(DisplaySettings::new(800, 480, 1.0).is_ok());
        assert!(DisplaySettings::new(320, 240, 2.0).is_ok());
        assert!(DisplaySettings::new(1920, 1080, 0.1).is_ok());
    }

    #[test]
    fn rejects_out_of_range_with_field_name() {
        let e = DisplaySettings::new(319, 240, 2.0).unwrap_err().to_string();
        assert!(e.contains("width") && e.contains("320..=1920"), "{e}");
        let e = DisplaySettings::new(480, 200, 2.0).unwrap_err().to_string();
        assert!(e.contains("height") && e.contains("240..=1080"), "{e}");
        for hz in [0.0, -1.0, 2.5, f64::NAN] {
            let e = DisplaySettings::new(480, 320, hz).unwrap_err().to_string();
            assert!(e.contains("max_refresh_hz"), "{e}");
        }
    }

    #[test]
    fn limiter_caps_rate() {
        let mut l = RefreshLimiter::new(&DisplaySettings::default());
        let written: Vec<bool> = [0.0, 0.2, 0.49, 0.5, 0.9, 1.0, 0.1, f64::NAN]
            .iter()
            .map(|&t| l.due(t))
            .collect();
        assert_eq!(
            written,
            vec![true, false, false, true, false, true, true, false]
        );
    }
}
