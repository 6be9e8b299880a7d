//! The record store through the real binary: every printed `session_result` is a committed record,
//! across SIGKILLs, a full disk, a corrupt file and odd event sinks.

mod util;

use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A small, fast camera and the shortest allowed sessions: a visit takes ~0.2 s at `--speed max`.
const FAST: &str = "[camera]\nwidth_px = 160\nheight_px = 120\nfps = 15\n\
                    [session]\nmin_signal_s = 30\nmax_measure_s = 60\n\
                    [metrics]\nlisten = \"\"\n";

/// `n` pairs of visits (eupnea, tachypnea), 75 s each, 8 s apart: one result each.
fn visits(n: usize) -> String {
    let mut v = String::from("empty:8");
    for _ in 0..n {
        v.push_str(",eupnea@15:75,empty:8,tachypnea@30:75,empty:8");
    }
    v
}

fn daemon(dir: &Path, records: &Path, extra: &[&str]) -> Command {
    let config = util::write(dir, "fast.toml", FAST);
    let mut c = util::bin();
    c.arg("--config")
        .arg(config)
        .arg("--records")
        .arg(records)
        .args(["--camera", "sim"])
        .args(extra);
    if !extra.contains(&"--events") {
        c.args(["--events", "-"]);
    }
    c
}

/// `session_result` events in `text`: id -> outcome (whole lines only).
fn printed_results(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "session_result")
        .map(|v| {
            (
                v["session_id"].as_str().unwrap().to_string(),
                v["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Starts the daemon on `config` for a second and expects a refusal (exit status 2, nothing on
/// standard output); returns standard error.
fn refused(config: &Path) -> String {
    let o = util::bin()
        .arg("--config")
        .arg(config)
        .args(["--camera", "sim", "--duration", "1"])
        .output()
        .unwrap();
    let err = util::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{}: {err}", config.display());
    assert!(o.stdout.is_empty(), "nothing ran: {}", util::stdout(&o));
    err
}

/// `edge-screen --records DB records ARGS...`, which must succeed.
fn records_cmd(db: &Path, args: &[&str]) -> std::process::Output {
    let o = util::bin()
        .arg("--records")
        .arg(db)
        .arg("records")
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "records {args:?}: {}", util::stderr(&o));
    o
}

/// `records list --json`: id -> outcome.
fn stored(records: &Path) -> BTreeMap<String, String> {
    let o = records_cmd(records, &["list", "--json"]);
    util::json_lines(&util::stdout(&o))
        .into_iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn verify(records: &Path) -> serde_json::Value {
    let o = records_cmd(records, &["verify", "--json"]);
    serde_json::from_str(util::stdout(&o).trim()).unwrap()
}

#[test]
fn every_printed_result_is_a_stored_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/records.db");
    let o = daemon(dir.path(), &db, &["--visits", &visits(3), "--speed", "max"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", util::stderr(&o));
    let printed = printed_results(&util::stdout(&o));
    assert_eq!(printed.len(), 6, "one result per visit");
    assert_eq!(stored(&db), printed);
    let v = verify(&db);
    assert_eq!(v["integrity"], "ok");
    assert_eq!(v["records"], 6);
    assert_eq!(v["local_only"], 6, "no uplink: nothing queued");
    // show and export agree with list.
    let id = printed.keys().next().unwrap();
    let show = records_cmd(&db, &["show", &id[..10]]);
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["models"][0]["role"], "breathing");
    assert_eq!(shown["models"][0]["sha256"].as_str().unwrap().len(), 64);
    let csv = records_cmd(&db, &["export", "--format", "csv"]);
    let text = util::stdout(&csv);
    assert_eq!(text.lines().count(), 7, "header and six rows:\n{text}");
    assert!(text
        .lines()
        .next()
        .unwrap()
        .starts_with("id,device_id,revision"));
}

/// Reads a child's stdout into a shared string until EOF.
fn collect(child: &mut Child) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let out = Arc::new(Mutex::new(String::new()));
    let stdout = child.stdout.take().unwrap();
    let sink = Arc::clone(&out);
    let h = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    (out, h)
}

#[test]
fn sigkill_at_random_moments_never_loses_a_printed_result() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let queue = visits(40);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
    let mut printed = BTreeMap::new();
    let mut kills = 0;
    let mut killed_mid_output = 0;
    for round in 0..50 {
        let mut child = daemon(dir.path(), &db, &["--visits", &queue, "--speed", "max"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (out, reader) = collect(&mut child);
        // Most kills come after start-up (the `started` event; results then come every ~0.2 s),
        // one in five during it (opening and migrating the store, loading the model).
        let wait = Duration::from_millis(rng.gen_range(0..1500));
        if rng.gen_range(0..5) > 0 {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !out.lock().unwrap().contains("\"started\"") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(wait);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let text = out.lock().unwrap().clone();
        let these = printed_results(&text);
        if !finished {
            kills += 1;
            if !these.is_empty() {
                killed_mid_output += 1;
            }
        }
        let before = printed.len();
        printed.extend(these);
        eprintln!(
            "round {round}: killed after {wait:?}, {} results printed",
            printed.len() - before
        );
    }
    assert_eq!(kills, 50, "every round was killed while running");
    assert!(
        killed_mid_output >= 20,
        "at least half the kills came while results were being given ({killed_mid_output})"
    );
    let stored = stored(&db);
    let missing: Vec<_> = printed
        .iter()
        .filter(|(id, outcome)| stored.get(*id) != Some(outcome))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} printed results are not stored as printed: {missing:?}",
        missing.len(),
        printed.len()
    );
    assert!(
        printed.len() >= 50,
        "only {} results printed",
        printed.len()
    );
    assert_eq!(verify(&db)["integrity"], "ok");
}

#[test]
fn a_corrupt_store_is_moved_aside_and_screening_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let junk: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&db, &junk).unwrap();
    let o = daemon(dir.path(), &db, &["--visits", &visits(1), "--speed", "max"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", util::stderr(&o));
    let err = util::stderr(&o);
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("moved aside to"), "{err}");
    let aside: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("records.db.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), junk, "never overwritten");
    assert_eq!(
        stored(&db),
        printed_results(&util::stdout(&o)),
        "the new store has this run's results"
    );
}

/// Mounts a tmpfs of `kib` KiB at `dir`; `false` where mounting is not allowed (not root).
fn mount_tmpfs(dir: &Path, kib: u32) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system under `dir` until a write fails (ENOSPC).
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).and_then(|_| f.flush()).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn a_full_disk_holds_results_and_saves_them_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("store");
    if !mount_tmpfs(&mnt, 4096) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to mount a tmpfs"
        );
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        return;
    }
    let _unmount = Unmount(mnt.clone());
    let db = mnt.join("records.db");
    // A first run saves some records.
    let o = daemon(dir.path(), &db, &["--visits", &visits(1), "--speed", "max"])
        .output()
        .unwrap();
    let first = printed_results(&util::stdout(&o));
    assert_eq!(first.len(), 2, "{}", util::stderr(&o));
    // The second runs at 40x real time (a visit every ~2 s); the disk fills while it runs.
    let mut child = daemon(dir.path(), &db, &["--visits", &visits(4), "--speed", "40"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, reader) = collect(&mut child);
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let log_reader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out.lock().unwrap().contains("\"started\"") {
        assert!(Instant::now() < deadline, "no start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let filler = fill(&mnt);
    // Screening goes on; the log says records are not being saved.
    while !log.lock().unwrap().contains("NOT being saved") {
        assert!(
            Instant::now() < deadline,
            "no 'not being saved' in the log:\n{}",
            log.lock().unwrap()
        );
        assert!(child.try_wait().unwrap().is_none(), "the daemon stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    let printed_while_full = printed_results(&out.lock().unwrap()).len();
    // Let a second result arrive while the disk is full, then make space.
    std::thread::sleep(Duration::from_secs(3));
    let sessions_while_full = out.lock().unwrap().matches("\"session_ended\"").count();
    std::fs::remove_file(&filler).unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    log_reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert!(status.success(), "{log}");
    assert!(log.contains("being saved again"), "{log}");
    let second = printed_results(&out.lock().unwrap());
    assert_eq!(
        second.len(),
        8,
        "every visit's result was printed in the end:\n{log}"
    );
    assert!(
        printed_while_full < 8 && sessions_while_full > printed_while_full,
        "results were held while the disk was full ({printed_while_full} printed, \
         {sessions_while_full} sessions ended)"
    );
    let stored = stored(&db);
    for (id, outcome) in first.iter().chain(&second) {
        assert_eq!(stored.get(id), Some(outcome), "{id} missing or changed");
    }
    assert_eq!(verify(&db)["integrity"], "ok");
}

#[test]
fn events_can_go_to_dev_null_or_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let queue = visits(1);
    let run = |events: &Path| {
        let events = events.display().to_string();
        daemon(
            dir.path(),
            &db,
            &["--visits", &queue, "--speed", "max", "--events", &events],
        )
        .output()
        .unwrap()
    };
    let o = run(Path::new("/dev/null"));
    assert!(o.status.success(), "{}", util::stderr(&o));
    assert!(
        !util::stderr(&o).contains("event sink"),
        "{}",
        util::stderr(&o)
    );
    assert_eq!(stored(&db).len(), 2);

    let fifo = dir.path().join("events.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = Command::new("cat")
        .arg(&fifo)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let o = run(&fifo);
    assert!(o.status.success(), "{}", util::stderr(&o));
    let got = reader.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&got.stdout);
    assert_eq!(printed_results(&text).len(), 2, "{text}");
    assert!(text.contains("\"stopped\""));
}

#[test]
fn bad_record_and_uplink_settings_refuse_to_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("[uplink]\nurl = \"http://broker:1883\"\n", "uplink.url"),
        ("[records]\nretention_days = -1\n", "records.retention_days"),
        ("[device]\nid = \"kiosk/7\"\n", "device.id"),
        ("[metrics]\nlisten = \"localhost\"\n", "metrics.listen"),
        ("[classifier]\nsha256 = \"abc\"\n", "classifier.sha256"),
    ] {
        let err = refused(&util::write(dir.path(), "bad.toml", text));
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn a_model_that_differs_from_its_pin_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = util::write(
        dir.path(),
        "pinned.toml",
        &format!("[classifier]\nsha256 = \"{}\"\n", "0".repeat(64)),
    );
    let err = refused(&config);
    assert!(err.contains("classifier.sha256 pins 0000"), "{err}");
    // The digest of the built-in model, as the shipped configuration pins it.
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config/kiosk.toml"),
    )
    .unwrap();
    let classifier = &shipped[shipped.find("[classifier]").unwrap()..];
    let pin = classifier
        .lines()
        .find_map(|l| l.strip_prefix("sha256 = \""))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap();
    assert_eq!(pin.len(), 64, "{pin}");
    assert!(err.contains(&pin), "names the actual digest {pin}: {err}");
}

#[test]
fn a_missing_or_malformed_config_refuses_to_start_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent/kiosk.toml");
    let broken = util::write(dir.path(), "broken.toml", "[records]\npath = \"x.db\n");
    for (config, expect) in [
        (
            missing.clone(),
            format!("{}: cannot read", missing.display()),
        ),
        (broken.clone(), broken.display().to_string()),
    ] {
        let err = refused(&config);
        assert!(err.contains(&expect), "{err}");
    }
}

/// libfaketime, which moves a process's wall clock (not its monotonic clock).
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

#[test]
fn record_times_stay_ordered_when_the_wall_clock_jumps() {
    if !Path::new(FAKETIME).exists() {
        assert!(
            std::env::var_os("CI").is_none() || !cfg!(target_arch = "x86_64"),
            "CI installs libfaketime (scripts/setup.sh)"
        );
        eprintln!("skipped: {FAKETIME} is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let offset = dir.path().join("faketime");
    std::fs::write(&offset, "+0\n").unwrap();
    // 40x real time: a result every ~2 s for ~16 s.
    let mut child = daemon(dir.path(), &db, &["--visits", &visits(4), "--speed", "40"])
        .env("LD_PRELOAD", FAKETIME)
        .env("FAKETIME_TIMESTAMP_FILE", &offset)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (out, reader) = collect(&mut child);
    let wait_results = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while printed_results(&out.lock().unwrap()).len() < n {
            assert!(Instant::now() < deadline, "only {n} results");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_results(2);
    std::fs::write(&offset, "-2h\n").unwrap(); // back two hours
    wait_results(5);
    std::fs::write(&offset, "+3h\n").unwrap(); // forward three hours
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    let printed = printed_results(&out.lock().unwrap());
    assert!(printed.len() >= 6, "{printed:?}");
    let o = records_cmd(&db, &["list", "--json"]);
    let records = util::json_lines(&util::stdout(&o));
    let times: Vec<i64> = records
        .iter()
        .map(|r| r["result_unix_ms"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "result times in saving order: {times:?}"
    );
    for r in &records {
        let (start, end) = (r["started_unix_ms"].as_i64(), r["result_unix_ms"].as_i64());
        assert!(start <= end, "{r}");
    }
    // The backward jump was not taken (times went on from the monotonic clock), the forward one
    // was: the last results are about three hours after the first.
    let span_h = (times[times.len() - 1] - times[0]) as f64 / 3_600_000.0;
    assert!((2.9..3.2).contains(&span_h), "{span_h} h: {times:?}");
}

/// `GET /metrics` from a running daemon.
fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[test]
fn metrics_count_each_commit_once_and_sessions_by_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = daemon(
        dir.path(),
        &db,
        &["--visits", &visits(3), "--speed", "40", "--metrics", &addr],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let (out, reader) = collect(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while printed_results(&out.lock().unwrap()).len() < 3 {
        assert!(Instant::now() < deadline, "no results");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = printed_results(&out.lock().unwrap()).len() as f64;
    let text = scrape(port);
    std::thread::sleep(Duration::from_millis(300));
    let after = printed_results(&out.lock().unwrap()).len() as f64;
    child.wait().unwrap();
    reader.join().unwrap();
    let commits = metric(
        &text,
        "edge_screen_stage_seconds_count{stage=\"record_commit\"}",
    );
    assert!(
        before <= commits && commits <= after + 1.0,
        "{commits} commits observed, {before}-{after} results printed"
    );
    let sessions: f64 = [
        "no_concern_found",
        "refer_for_clinical_assessment",
        "repeat_measurement",
    ]
    .iter()
    .map(|o| {
        metric(
            &text,
            &format!("edge_screen_sessions_total{{outcome=\"{o}\"}}"),
        )
    })
    .sum();
    assert!(
        before <= sessions && sessions <= after,
        "{sessions} sessions counted"
    );
    assert!(metric(&text, "edge_screen_frames_processed_total") > 0.0);
    assert_eq!(metric(&text, "edge_screen_store_writable"), 1.0);
}
