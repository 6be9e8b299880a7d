//! Screening sessions end to end: the real binary on the simulated camera playing a queue of
//! visitors, with chest X-rays dropped into the real inbox during a session and sent for a
//! session that has already ended (`edge-screen xray --session`).

mod util;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use util::*;

fn read_events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).map_or_else(|_| Vec::new(), |t| json_lines(&t))
}

fn of_type<'e>(ev: &'e [serde_json::Value], kind: &str) -> Vec<&'e serde_json::Value> {
    ev.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn a_queue_gives_one_result_per_person_and_a_short_visit_none() {
    // The command of issue 13's first "done when" item, exactly.
    let o = run(&[
        "--camera",
        "sim",
        "--visits",
        "empty:20,eupnea@15:100,empty:20,tachypnea@30:100,empty:10",
        "--speed",
        "max",
        "--events",
        "-",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ev = json_lines(&stdout(&o));
    let started = of_type(&ev, "session_started");
    let results = of_type(&ev, "session_result");
    let ended = of_type(&ev, "session_ended");
    assert_eq!((started.len(), results.len(), ended.len()), (2, 2, 2));
    for (r, (pattern, rate, tol)) in results
        .iter()
        .zip([("eupnea", 15.0, 1.0), ("tachypnea", 30.0, 1.5)])
    {
        let b = &r["breathing"];
        assert_eq!(b["pattern"], pattern, "{r}");
        let got = b["rate_bpm"].as_f64().expect("a rate");
        assert!((got - rate).abs() <= tol, "{pattern}: {got} vs {rate}");
        assert!(
            r["outcome"].is_string() && r["refer_probability"].is_number(),
            "{r}"
        );
        assert_eq!(r["xray"], serde_json::Value::Null);
    }
    // Normal breathing finds no concern; tachypnea refers.
    assert_eq!(results[0]["outcome"], "no_concern_found");
    assert_eq!(results[1]["outcome"], "refer_for_clinical_assessment");
    for (s, (r, e)) in started.iter().zip(results.iter().zip(&ended)) {
        assert_eq!(s["session_id"], r["session_id"]);
        assert_eq!(s["session_id"], e["session_id"]);
        assert_eq!(e["reason"], "left");
    }
    assert_ne!(started[0]["session_id"], started[1]["session_id"]);
    // Seated at 20 s and 140 s, measured for a minute, gone at 120 s and 240 s (plus the 5 s a
    // person must be away before the session ends).
    for (e, t) in started.iter().zip([20.0, 140.0]) {
        assert!((e["t_s"].as_f64().unwrap() - t).abs() < 1.5, "{e}");
    }
    for (e, t) in results.iter().zip([80.0, 200.0]) {
        assert!((e["t_s"].as_f64().unwrap() - t).abs() < 3.0, "{e}");
    }
    for (e, t) in ended.iter().zip([126.0, 246.0]) {
        assert!((e["t_s"].as_f64().unwrap() - t).abs() < 1.5, "{e}");
    }
    assert_eq!(ev.last().unwrap()["reason"], "end_of_visits");

    let o = run(&[
        "--camera",
        "sim",
        "--visits",
        "empty:5,eupnea:30,empty:10",
        "--speed",
        "max",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ev = json_lines(&stdout(&o));
    assert!(of_type(&ev, "session_result").is_empty());
    let ended = of_type(&ev, "session_ended");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["reason"], "left_early");
}

/// A kiosk configuration for the X-ray tests: a small camera (fast), an inbox scanned often.
fn kiosk(dir: &Path) -> (PathBuf, PathBuf) {
    let inbox = dir.join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let cfg = write(
        dir,
        "kiosk.toml",
        &format!(
            "[camera]\nwidth_px = 424\nheight_px = 240\n[xray]\ninbox = {:?}\npoll_interval_s = 0.2\n",
            inbox.display().to_string()
        ),
    );
    (cfg, inbox)
}

fn start(cfg: &Path, visits: &str, events: &Path) -> Child {
    bin()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--camera",
            "sim",
            "--visits",
            visits,
        ])
        .args(["--speed", "5", "--events", events.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("edge-screen starts")
}

/// Waits until an event satisfies `f`; panics after `secs` of wall time.
fn wait_for(events: &Path, secs: u64, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Some(e) = read_events(events).into_iter().find(|e| f(e)) {
            return e;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no such event within {secs} s: {:?}", read_events(events));
}

/// A real chest X-ray from `../shared/data/xray`.
fn an_xray() -> PathBuf {
    let dir = repo().join("../shared/data/xray/normal");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.remove(0)
}

fn finish(mut child: Child) {
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
}

#[test]
fn an_xray_dropped_into_the_inbox_during_a_session_is_in_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, inbox) = kiosk(dir.path());
    let events = dir.path().join("events.jsonl");
    let child = start(&cfg, "empty:3,eupnea@15:90,empty:8", &events);
    let session = wait_for(&events, 60, |e| e["type"] == "session_started");
    let id = session["session_id"].as_str().unwrap().to_string();
    // Copied in the way a PACS export does it: a temporary name, then a rename.
    let part = inbox.join("chest.png.part");
    std::fs::copy(an_xray(), &part).unwrap();
    std::fs::rename(&part, inbox.join("chest.png")).unwrap();
    finish(child);
    let ev = read_events(&events);
    let xray = of_type(&ev, "xray");
    assert_eq!(xray.len(), 1, "{ev:?}");
    assert_eq!(xray[0]["session_id"], id.as_str());
    let results = of_type(&ev, "session_result");
    assert!(!results.is_empty());
    let last = results.last().unwrap();
    assert_eq!(last["session_id"], id.as_str());
    let shown = last["xray"]["file"]
        .as_str()
        .expect("the X-ray is in the result");
    assert!(shown.ends_with("chest.png"), "{shown}");
    assert_eq!(
        last["xray"]["covid_probability"],
        xray[0]["covid_probability"]
    );
    assert!(last["modalities"]["xray"].is_number() && last["modalities"]["breathing"].is_number());
    // No site calibration here: the X-ray is reported but advisory, so the fused probability is
    // breathing's alone.
    assert_eq!(xray[0]["site_validated"], false);
    assert_eq!(last["xray"]["site_validated"], false);
    let (fused, breathing) = (
        last["refer_probability"].as_f64().unwrap(),
        last["modalities"]["breathing"].as_f64().unwrap(),
    );
    assert!((fused - breathing).abs() < 1e-6, "{fused} vs {breathing}");
    assert!(inbox.join("done/chest.png").is_file());
}

#[test]
fn an_xray_sent_for_an_ended_session_updates_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, inbox) = kiosk(dir.path());
    let events = dir.path().join("events.jsonl");
    let child = start(&cfg, "empty:2,eupnea@15:70,empty:60", &events);
    let ended = wait_for(&events, 90, |e| e["type"] == "session_ended");
    assert_eq!(ended["reason"], "left");
    let id = ended["session_id"].as_str().unwrap().to_string();
    let image = an_xray();
    let o = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "xray",
        "--session",
        &id,
        image.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&id), "{}", stdout(&o));
    let update = wait_for(&events, 30, |e| {
        e["type"] == "session_result" && e["revision"] == 1
    });
    finish(child);
    assert_eq!(update["session_id"], id.as_str());
    let name = image.file_name().unwrap().to_str().unwrap();
    assert!(
        update["xray"]["file"].as_str().unwrap().ends_with(name),
        "{update}"
    );
    assert!(update["breathing"]["pattern"] == "eupnea", "{update}");
    let ev = read_events(&events);
    let first = of_type(&ev, "session_result")[0];
    assert_eq!(
        (first["revision"].as_u64(), &first["xray"]),
        (Some(0), &serde_json::Value::Null)
    );
    let xray = of_type(&ev, "xray");
    assert_eq!(xray[0]["session_id"], id.as_str());
    // The request went with the image; the record names the session.
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(inbox.join("done").join(format!("{name}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(record["session_id"], id.as_str());
    assert!(inbox
        .join("done")
        .join(format!("{name}.request.json"))
        .is_file());
}

#[test]
fn xray_for_a_session_needs_an_inbox() {
    let image = an_xray();
    let o = run(&["xray", "--session", "01ABC", image.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("[xray] inbox"), "{}", stderr(&o));
}
