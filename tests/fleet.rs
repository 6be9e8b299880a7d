//! The kiosk and its fleet broker end to end: the daemon on a queue of visits with the uplink on,
//! a real mosquitto restarted mid-run, and a subscriber with a persistent session. Every printed
//! `session_result` is a stored record and reaches the subscriber (once, after de-duplication),
//! in order.

mod util;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use util::mosquitto::{mosquitto_or_skip, Broker, Subscriber};

const FAST: &str = "[camera]\nwidth_px = 160\nheight_px = 120\nfps = 15\n\
                    [session]\nmin_signal_s = 30\nmax_measure_s = 60\n\
                    [metrics]\nlisten = \"\"\n";

/// When the broker is away.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outage {
    /// Down for 3 s after the third result.
    MidRun,
    /// Down when the daemon starts; up after the second result.
    AtStart,
}

#[test]
fn every_result_reaches_the_store_and_the_fleet_across_a_broker_restart() {
    fleet_run(Outage::MidRun);
}

#[test]
fn every_result_reaches_the_fleet_when_the_broker_is_down_at_start() {
    fleet_run(Outage::AtStart);
}

fn fleet_run(outage: Outage) {
    let Some(bin) = mosquitto_or_skip("fleet") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(&bin, true);
    let port = broker.port();
    // The subscriber's persistent session is kept by the broker (persistence on) across its stops.
    let mut sub = Subscriber::start(port, "fleet-test-sub", "edge-screen/+/sessions");
    if outage == Outage::AtStart {
        broker.stop();
    }
    let config = util::write(dir.path(), "fast.toml", FAST);
    let db = dir.path().join("records.db");
    let mut queue = String::from("empty:8");
    for _ in 0..5 {
        queue.push_str(",eupnea@15:75,empty:8,tachypnea@30:75,empty:8");
    }
    // 60x real time: a result every ~1.4 s, ~14 s in all.
    let mut child = daemon(&config, &db, &queue, port);
    let out = Arc::new(Mutex::new(String::new()));
    let reader = {
        let out = Arc::clone(&out);
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                out.lock().unwrap().push_str(&(line + "\n"));
            }
        })
    };
    let err_reader = {
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                s.push_str(&(line + "\n"));
            }
            s
        })
    };
    // After three results, the broker goes away for 3 s and comes back.
    let deadline = Instant::now() + Duration::from_secs(120);
    while out.lock().unwrap().matches("\"session_result\"").count() < 3 {
        assert!(
            Instant::now() < deadline,
            "no results:\n{}",
            out.lock().unwrap()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon stopped early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    broker.stop();
    std::thread::sleep(Duration::from_secs(3));
    broker.restart();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let log = err_reader.join().unwrap();
    assert!(status.success(), "{log}");
    let text = out.lock().unwrap().clone();
    let printed: Vec<String> = util::json_lines(&text)
        .into_iter()
        .filter(|v| v["type"] == "session_result")
        .map(|v| v["session_id"].as_str().unwrap().to_string())
        .collect();
    // One result per visit, unless a loaded machine dropped so many paced frames that a visit
    // ended without one; what matters below is that every printed result went everywhere.
    assert!(printed.len() >= 6, "{} results:\n{log}", printed.len());

    // The store has every printed result.
    let o = util::bin()
        .arg("--records")
        .arg(&db)
        .args(["records", "list", "--json"])
        .output()
        .unwrap();
    let stored: Vec<String> = util::json_lines(&util::stdout(&o))
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        stored, printed,
        "records list = session_result events, in order"
    );

    // The subscriber got every record: once after de-duplication, in order of first arrival.
    let want: BTreeSet<String> = printed.iter().cloned().collect();
    let got_all = sub.wait_until(Instant::now() + Duration::from_secs(30), |msgs| {
        let ids: BTreeSet<String> = msgs.iter().filter_map(id_of).collect();
        ids == want
    });
    let mut first_seen = Vec::new();
    for m in &sub.received {
        assert_eq!(m.topic, "edge-screen/kiosk-fleet-test/sessions");
        if let Some(id) = id_of(m) {
            if !first_seen.contains(&id) {
                first_seen.push(id);
            }
        }
    }
    assert!(
        got_all,
        "the subscriber lacks {:?}\nbroker: {}\ndaemon: {log}",
        want.difference(&first_seen.iter().cloned().collect())
            .collect::<Vec<_>>(),
        broker.logs()
    );
    assert_eq!(first_seen, printed, "delivered in order");
    let duplicates = sub.received.len() - first_seen.len();
    eprintln!(
        "{} results, {} messages received ({duplicates} duplicates)",
        printed.len(),
        sub.received.len()
    );
    // Everything was acknowledged: nothing is left in the outbox.
    let v = verify(&db);
    assert_eq!(v["pending"], 0, "{v}");
    assert_eq!(v["delivered"], printed.len(), "{v}");
}

/// The daemon on the simulated camera at 60x real time, a queue of `visits`, events on standard
/// output, the uplink to the broker on `port`.
fn daemon(config: &Path, db: &Path, visits: &str, port: u16) -> Child {
    util::bin()
        .arg("--config")
        .arg(config)
        .arg("--records")
        .arg(db)
        .args(["--camera", "sim", "--visits", visits, "--speed", "60"])
        .args(["--device-id", "kiosk-fleet-test", "--events", "-"])
        .arg("--uplink")
        .arg(format!("mqtt://127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `records verify --json` of the store at `db`.
fn verify(db: &Path) -> serde_json::Value {
    let v = util::bin()
        .arg("--records")
        .arg(db)
        .args(["records", "verify", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&v.stdout).unwrap()
}

fn id_of(m: &util::mosquitto::Message) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&m.payload).ok()?;
    Some(v["id"].as_str()?.to_string())
}

/// The broker is away while the daemon makes its results and comes back a moment before the daemon
/// is stopped (SIGTERM), while the uplink waits out its retry delay (seconds by then): the clean
/// stop retries at once and sends everything, instead of leaving it in the outbox until the next
/// start.
#[test]
fn results_made_while_the_broker_was_away_are_sent_at_a_clean_stop() {
    let Some(bin) = mosquitto_or_skip("fleet") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(&bin, true);
    let port = broker.port();
    let mut sub = Subscriber::start(port, "fleet-test-sub", "edge-screen/+/sessions");
    broker.stop();
    let config = util::write(dir.path(), "fast.toml", FAST);
    let db = dir.path().join("records.db");
    // At 60x real time: two results in the first ~3 s, then an empty seat until stopped.
    let queue = "empty:8,eupnea@15:75,empty:8,tachypnea@30:75,empty:6000";
    let mut child = daemon(&config, &db, queue, port);
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["type"] == "session_result" {
            printed.push(v["session_id"].as_str().unwrap().to_string());
            if printed.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(printed.len(), 2, "the daemon ended before its two results");
    // Both results are made and unsent; the broker comes back during the empty seat, and the
    // daemon is stopped half a second later (its uplink's next retry is seconds away).
    broker.restart();
    std::thread::sleep(Duration::from_millis(500));
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{log}");
    assert!(
        !rest.iter().any(|l| l.contains("\"session_result\"")),
        "a third result: {rest:?}"
    );
    let want: BTreeSet<String> = printed.iter().cloned().collect();
    let got_all = sub.wait_until(Instant::now() + Duration::from_secs(30), |msgs| {
        let ids: BTreeSet<String> = msgs.iter().filter_map(id_of).collect();
        ids == want
    });
    assert!(
        got_all,
        "the subscriber lacks results\ndaemon: {log}\nbroker: {}",
        broker.logs()
    );
    let v = verify(&db);
    assert_eq!(v["pending"], 0, "{v}");
}
