//! Validated display settings: readout size in pixels and the refresh-rate cap.

use super::DisplayError;
use crate::limits::{DISPLAY_HEIGHT, DISPLAY_REFRESH, DISPLAY_WIDTH};

/// Size and refresh cap of the local readout.
///
/// Fields are public so that the configuration layer can fill them; every display target calls
/// [`DisplaySettings::validate`] when it is opened, and [`DisplaySettings::new`] validates too.
/// The ranges are `display.width_px`, `display.height_px` and `display.max_refresh_hz` of
/// [`crate::limits`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisplaySettings {
    /// Readout width in pixels.
    pub width: u32,
    /// Readout height in pixels.
    pub height: u32,
    /// Maximum refreshes per second in Hz.
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

    /// Check every field against its range ([`crate::limits`]).
    pub fn validate(&self) -> Result<(), DisplayError> {
        DISPLAY_WIDTH.check(self.width.into())?;
        DISPLAY_HEIGHT.check(self.height.into())?;
        DISPLAY_REFRESH.check(self.max_refresh_hz)?;
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
        assert!(
            e.contains("display.width_px") && e.contains("320-1920 px"),
            "{e}"
        );
        let e = DisplaySettings::new(480, 200, 2.0).unwrap_err().to_string();
        assert!(
            e.contains("display.height_px") && e.contains("240-1080 px"),
            "{e}"
        );
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
