//! `edge-screen status`: the status file read, summarised and judged fresh or stale.

mod util;

use edge_screen::ops::status::{
    now_unix_ms, write_atomic, CameraStatus, ModelStatus, OutboxStatus, RecordsStatus, Status,
    UplinkStatus,
};
use std::path::Path;

fn status(written_unix_ms: i64) -> Status {
    Status {
        written_unix_ms,
        pid: 31337,
        version: "0.1.0".into(),
        device_id: "kiosk-test-3".into(),
        started_unix_ms: written_unix_ms - 3_900_000,
        uptime_s: 3_905.0,
        camera: CameraStatus {
            state: "lost".into(),
            source: "realsense:123456".into(),
            fps: 0.0,
            frames_received: 5000,
            frames_processed: 4900,
            frames_dropped: 100,
        },
        sessions_today: 17,
        last_result_unix_ms: Some(written_unix_ms - 45_000),
        models: vec![ModelStatus {
            name: "breathing".into(),
            version: "bi_at_gru-2".into(),
            sha256: "a1b2c3d4e5f6".repeat(5) + "0000",
        }],
        records: RecordsStatus {
            path: "/data/records.db".into(),
            saving: false,
            last_error: Some("database or disk is full".into()),
            db_bytes: 2_500_000,
            disk_free_bytes: Some(0),
            saved_total: 99,
        },
        outbox: OutboxStatus {
            pending: 8,
            oldest_pending_age_s: Some(600.0),
        },
        uplink: UplinkStatus {
            state: "off".into(),
            broker: None,
            last_error: None,
        },
    }
}

/// A config file in `dir` whose `[status] path` is `status.json` beside it.
fn config(dir: &Path) -> String {
    let text = "[status]\npath = \"status.json\"\ninterval_s = 2.0\n";
    util::write(dir, "kiosk.toml", text).display().to_string()
}

#[test]
fn fresh_status_as_text_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("status.json");
    write_atomic(&file, &status(now_unix_ms())).expect("write status");
    let cfg = config(dir.path());

    let o = util::run(&["--config", &cfg, "status"]);
    let text = util::stdout(&o);
    assert!(o.status.success(), "{o:?}");
    for line in [
        "device:      kiosk-test-3 (edge-screen 0.1.0, pid 31337)",
        "uptime:      1 h 5 min",
        "camera:      lost, 0.0 fps (realsense:123456)",
        "frames:      5000 received, 4900 processed, 100 dropped (2.0 %)",
        "sessions:    17 today",
        "model:       breathing bi_at_gru-2 (sha256 a1b2c3d4e5f6)",
        "records:     NOT SAVING: database or disk is full (/data/records.db), 99 saved",
        "database:    2.5 MB, 0.0 MB free on disk",
        "outbox:      8 pending, oldest 10 min",
        "uplink:      off",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    // 45 s before writing, and the command ran within seconds of that.
    let last = text
        .lines()
        .find_map(|l| l.strip_prefix("last result: "))
        .expect("last result line");
    let secs: u64 = last
        .strip_suffix(" s ago")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{last}"));
    assert!((45..60).contains(&secs), "{last}");
    assert!(!text.contains("WARNING"), "{text}");

    let o = util::run(&["status", "--json", "--config", &cfg]);
    assert!(o.status.success(), "{o:?}");
    let v = util::json_lines(&util::stdout(&o));
    assert_eq!(v.len(), 1, "one JSON object");
    let v = &v[0];
    assert_eq!(v["stale"], false);
    assert!(
        v["age_s"].as_f64().is_some_and(|a| (0.0..6.0).contains(&a)),
        "{v}"
    );
    assert_eq!(v["device_id"], "kiosk-test-3");
    assert_eq!(v["camera"]["frames_dropped"], 100);
    assert_eq!(v["records"]["last_error"], "database or disk is full");
    assert_eq!(v["outbox"]["pending"], 8);
    // The rest is the status itself.
    let mut back = v.clone();
    let obj = back.as_object_mut().expect("object");
    obj.remove("stale");
    obj.remove("age_s");
    let back: Status = serde_json::from_value(back).expect("a Status");
    assert_eq!(back.pid, 31337);
}

#[test]
fn records_flag_puts_the_status_file_beside_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_atomic(&dir.path().join("status.json"), &status(now_unix_ms())).expect("write");
    let db = dir.path().join("records.db").display().to_string();
    let o = util::run(&["--records", &db, "status"]);
    assert!(o.status.success(), "{o:?}");
    assert!(util::stdout(&o).contains("sessions:    17 today\n"));
}

#[test]
fn missing_file_fails_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    for args in [
        vec!["--config", &cfg, "status"],
        vec!["--config", &cfg, "status", "--json"],
    ] {
        let o = util::run(&args);
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        let err = util::stderr(&o);
        let expected = format!(
            "no status file at {}: is the daemon running?",
            dir.path().join("status.json").display()
        );
        assert!(err.contains(&expected), "{err}");
        assert!(util::stdout(&o).is_empty());
    }
}

#[test]
fn malformed_file_fails_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = util::write(dir.path(), "status.json", "{\"written_unix_ms\": 5,");
    let o = util::run(&["--config", &config(dir.path()), "status"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = util::stderr(&o);
    assert!(
        err.contains(&format!("status file {} is malformed", file.display())),
        "{err}"
    );
}

#[test]
fn stale_file_is_shown_then_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("status.json");
    write_atomic(&file, &status(now_unix_ms() - 60_000)).expect("write");
    let cfg = config(dir.path());

    let o = util::run(&["--config", &cfg, "status"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let text = util::stdout(&o);
    assert!(text.starts_with("WARNING: status is 6"), "{text}");
    assert!(
        text.contains("s old: the daemon may not be running\n"),
        "{text}"
    );
    assert!(text.contains("sessions:    17 today\n"), "{text}");
    let err = util::stderr(&o);
    assert!(
        err.contains(&format!("status file {} is stale", file.display())),
        "{err}"
    );

    let o = util::run(&["--config", &cfg, "status", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let v = &util::json_lines(&util::stdout(&o))[0];
    assert_eq!(v["stale"], true);
    assert!(v["age_s"].as_f64().is_some_and(|a| a >= 60.0), "{v}");
}
