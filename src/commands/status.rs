//! `edge-screen status [--json]`: the running daemon's status file, read and summarised.

use crate::config::Settings;
use crate::ops::status::{self, Status};

use super::failed;

/// How many rewrite intervals a status may miss before it is called stale.
pub const STALE_INTERVALS: f64 = 3.0;

/// `status --json`: the status in its own field order, then whether it is stale and its age.
#[derive(serde::Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    status: &'a Status,
    stale: bool,
    age_s: f64,
}

/// Reads `settings.ops.status_file` and prints it (text, or one JSON object with `stale` and
/// `age_s` added). Fails (exit 1) when the file is missing, malformed or stale, after printing a
/// stale status.
pub fn run(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let path = &settings.ops.status_file;
    let s: Status = status::read(path).map_err(|e| failed(e.to_string()))?;
    let now = status::now_unix_ms();
    let stale_after_s = STALE_INTERVALS * settings.ops.status_interval_s;
    let age_s = status::age_s(&s, now);
    let stale = age_s > stale_after_s;
    if json {
        let shown = Shown {
            status: &s,
            stale,
            age_s,
        };
        let v = serde_json::to_string(&shown)
            .map_err(|e| failed(format!("{}: {e}", path.display())))?;
        out!("{v}")?;
    } else {
        let text = status::render_text(&s, now, stale_after_s);
        out!("{}", text.trim_end())?;
    }
    if stale {
        return Err(failed(format!(
            "status file {} is stale: written {:.0} s ago, rewritten every {} s: the daemon may \
             not be running",
            path.display(),
            age_s.floor(),
            settings.ops.status_interval_s
        )));
    }
    Ok(())
}
