//! The fleet uplink against a real mosquitto on loopback and a real SQLite record store: every
//! saved record reaches a subscriber, in order, across a broker that starts late or restarts; the
//! status topic says `online` and `offline` (clean stop and last will).

mod util;

use edge_screen::records::store::{RecordContext, Store};
use edge_screen::records::uplink::{sessions_topic, Uplink, UplinkState, OFFLINE, ONLINE};
use edge_screen::records::{ModelInfo, UplinkSettings};
use edge_screen::screening::fusion::{ModalityProbabilities, Outcome};
use edge_screen::screening::SessionResult;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use util::mosquitto::{mosquitto_or_skip, Broker, CutProxy, Message, Subscriber};

const DEADLINE: Duration = Duration::from_secs(60);

fn settings(port: u16, client_id: &str) -> UplinkSettings {
    UplinkSettings {
        host: "127.0.0.1".into(),
        port,
        tls: false,
        client_id: client_id.into(),
        username: None,
        password_file: None,
        ca_file: None,
        keep_alive_s: 5.0,
    }
}

fn open(db: &Path) -> Store {
    let (s, problem) = Store::open(db).expect("open the record store");
    assert!(problem.is_none(), "{problem:?}");
    s
}

/// Saves session `id` (revision 0) and queues it on the device's sessions topic.
fn save(store: &mut Store, device: &str, id: &str) {
    let models = [ModelInfo {
        role: "breathing".into(),
        name: "bi_at_gru".into(),
        version: "1".into(),
        sha256: "ab".repeat(32),
    }];
    let topic = sessions_topic(device);
    let now = edge_screen::records::store::unix_ms_now();
    let result = SessionResult {
        t_s: 80.0,
        session_id: id.to_string(),
        revision: 0,
        outcome: Outcome::NoConcernFound,
        refer_probability: 0.2,
        modalities: ModalityProbabilities::default(),
        breathing: None,
        xray: None,
    };
    let cx = RecordContext {
        device_id: device,
        models: &models,
        started_unix_ms: Some(now - 60_000),
        now_unix_ms: now,
        xray_image: None,
        keep_image: false,
        topic: Some(&topic),
    };
    store.save(&result, &cx).expect("save a record");
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:04}")).collect()
}

struct Running {
    state: Arc<UplinkState>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start(port: u16, client_id: &str, db: &Path, device: &str) -> Running {
        Self::start_with(settings(port, client_id), db, device)
    }

    fn start_with(settings: UplinkSettings, db: &Path, device: &str) -> Running {
        let state = Arc::new(UplinkState::new());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = Uplink::spawn(
            settings,
            db.to_path_buf(),
            device.to_string(),
            state.clone(),
            stop.clone(),
        )
        .expect("start the uplink thread");
        Running {
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Clean stop; fails the test if it takes more than 10 s.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        if let Some(t) = self.thread.take() {
            t.join().expect("the uplink thread ended without a panic");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "stop took {:?}",
            t0.elapsed()
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The record ids of the JSON payloads received, in arrival order (panics on a non-object).
fn received_ids(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_else(|e| {
                panic!("payload on {} is not JSON ({e}): {}", m.topic, m.text())
            });
            let obj = v
                .as_object()
                .unwrap_or_else(|| panic!("payload is not a JSON object: {}", m.text()));
            obj.get("id")
                .and_then(|i| i.as_str())
                .unwrap_or_else(|| panic!("payload without a string id: {}", m.text()))
                .to_string()
        })
        .collect()
}

/// First occurrences, in arrival order.
fn dedup(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().filter(|i| seen.insert(*i)).cloned().collect()
}

fn missing(want: &[String], got: &[String]) -> Vec<String> {
    want.iter().filter(|w| !got.contains(w)).cloned().collect()
}

/// Waits until the outbox is empty; returns the pending count at the end.
fn wait_outbox_empty(db: &Path, deadline: Instant) -> u64 {
    let s = open(db);
    loop {
        let pending = s.outbox_stats().expect("outbox stats").pending;
        if pending == 0 || Instant::now() > deadline {
            return pending;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for(deadline: Instant, cond: impl Fn() -> bool) -> bool {
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn every_queued_record_reaches_the_subscriber_in_order() {
    let Some(bin) = mosquitto_or_skip("every_queued_record_reaches_the_subscriber_in_order") else {
        return;
    };
    let broker = Broker::start(&bin, false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let device = "kiosk-in-order";
    let want = ids("01INORDER", 20);
    {
        let mut s = open(&db);
        for id in &want {
            save(&mut s, device, id);
        }
        assert_eq!(s.outbox_stats().unwrap().pending, 20);
    }
    let mut sub = Subscriber::start(broker.port(), "sub-in-order", "edge-screen/+/sessions");
    let mut up = Running::start(broker.port(), "uplink-in-order", &db, device);

    let deadline = Instant::now() + DEADLINE;
    let all = sub.wait_until(deadline, |m| m.len() >= want.len());
    let got = received_ids(&sub.received);
    assert!(
        all,
        "received {} of {}; missing {:?}\n{}",
        got.len(),
        want.len(),
        missing(&want, &got),
        broker.logs()
    );
    // One steady connection: no duplicates, exactly the saved order, on the device's topic.
    assert_eq!(got, want);
    for m in &sub.received {
        assert_eq!(m.topic, sessions_topic(device));
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["device_id"], device);
        assert_eq!(v["revision"], 0);
    }
    assert_eq!(wait_outbox_empty(&db, deadline), 0, "outbox not emptied");
    assert!(wait_for(deadline, || up.state.delivered_total() == 20));
    let snap = up.state.snapshot();
    assert!(snap.connected, "{snap:?}");
    assert_eq!(snap.delivered_total, 20);
    assert!(snap.last_delivered_unix_ms.is_some());
    assert_eq!(snap.last_error, None);

    // A record saved while running goes out promptly (the idle poll).
    {
        let mut s = open(&db);
        save(&mut s, device, "01INORDERLATE");
    }
    let late = sub.wait_until(Instant::now() + Duration::from_secs(10), |m| m.len() > 20);
    assert!(
        late,
        "a record saved while the uplink ran did not arrive in 10 s"
    );
    assert_eq!(received_ids(&sub.received[20..]), ["01INORDERLATE"]);

    up.stop();
    assert!(!up.state.connected());
}

#[test]
fn a_broker_that_starts_late_gets_everything() {
    let Some(bin) = mosquitto_or_skip("a_broker_that_starts_late_gets_everything") else {
        return;
    };
    // The subscriber's persistent session is made first, then the broker stops (saving it), so
    // that what the uplink publishes after the broker returns is kept for the subscriber even if
    // the uplink reconnects first.
    let mut broker = Broker::start(&bin, true);
    let port = broker.port();
    let mut sub = Subscriber::start(port, "sub-late", "edge-screen/+/sessions");
    broker.stop();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let device = "kiosk-late";
    let want = ids("01LATE", 15);
    let mut s = open(&db);
    let up = Running::start(port, "uplink-late", &db, device);
    for id in &want[..10] {
        save(&mut s, device, id);
    }
    // The uplink keeps trying, and says why it cannot connect.
    assert!(
        wait_for(Instant::now() + Duration::from_secs(10), || up
            .state
            .last_error()
            .is_some()),
        "no error reported while the broker is down"
    );
    std::thread::sleep(Duration::from_secs(2));
    let err = up.state.last_error().unwrap_or_default();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!up.state.connected());
    assert_eq!(up.state.delivered_total(), 0);

    broker.restart();
    for id in &want[10..] {
        save(&mut s, device, id);
    }
    let deadline = Instant::now() + DEADLINE;
    let all = sub.wait_until(deadline, |m| dedup(&received_ids(m)).len() >= want.len());
    let got = dedup(&received_ids(&sub.received));
    assert!(all, "missing {:?}\n{}", missing(&want, &got), broker.logs());
    assert_eq!(got, want);
    assert_eq!(wait_outbox_empty(&db, deadline), 0, "outbox not emptied");
    assert!(wait_for(deadline, || up.state.connected()));
    assert_eq!(
        up.state.last_error(),
        None,
        "the error is cleared once connected"
    );
}

#[test]
fn a_broker_restart_mid_run_loses_nothing() {
    let Some(bin) = mosquitto_or_skip("a_broker_restart_mid_run_loses_nothing") else {
        return;
    };
    let broker = Broker::start(&bin, true);
    let port = broker.port();
    let mut sub = Subscriber::start(port, "sub-restart", "edge-screen/+/sessions");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let device = "kiosk-restart";
    let want = ids("01RESTART", 100);
    let up = Running::start(port, "uplink-restart", &db, device);
    assert!(wait_for(Instant::now() + Duration::from_secs(15), || up
        .state
        .connected()));

    // Stops the broker 1.5 s in (about record 30) for 3 s, watching the uplink notice.
    let state = up.state.clone();
    let control = std::thread::spawn(move || {
        let mut broker = broker;
        std::thread::sleep(Duration::from_millis(1500));
        broker.stop();
        let saw_down = wait_for(Instant::now() + Duration::from_secs(3), || {
            !state.connected()
        });
        std::thread::sleep(Duration::from_secs(3));
        broker.restart();
        (broker, saw_down)
    });
    let mut s = open(&db);
    for id in &want {
        save(&mut s, device, id);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (broker, saw_down) = control.join().expect("broker control thread");
    assert!(saw_down, "the uplink never noticed the broker stop");

    let deadline = Instant::now() + DEADLINE;
    let all = sub.wait_until(deadline, |m| dedup(&received_ids(m)).len() >= want.len());
    let raw = received_ids(&sub.received);
    let got = dedup(&raw);
    assert!(
        all,
        "{} distinct of {}; missing {:?}\n{}",
        got.len(),
        want.len(),
        missing(&want, &got),
        broker.logs()
    );
    assert_eq!(got.len(), 100);
    assert_eq!(got, want, "first arrivals out of save order");
    eprintln!(
        "broker restart: {} messages for {} records ({} duplicates)",
        raw.len(),
        got.len(),
        raw.len() - got.len()
    );
    assert_eq!(wait_outbox_empty(&db, deadline), 0, "outbox not emptied");
    assert!(wait_for(deadline, || up.state.connected()));
    assert!(up.state.delivered_total() >= 100);
}

#[test]
fn the_status_topic_says_online_then_offline_by_last_will_and_by_clean_stop() {
    let Some(bin) = mosquitto_or_skip(
        "the_status_topic_says_online_then_offline_by_last_will_and_by_clean_stop",
    ) else {
        return;
    };
    let broker = Broker::start(&bin, false);
    let proxy = CutProxy::start(broker.port());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let device = "kiosk-status";
    let status = format!("edge-screen/{device}/status");
    let mut up = Running::start(proxy.port(), "uplink-status", &db, device);
    assert!(wait_for(Instant::now() + Duration::from_secs(15), || up
        .state
        .connected()));

    // Subscribing after the uplink connected: `online` comes as a retained message.
    let mut sub = Subscriber::start(broker.port(), "sub-status", "edge-screen/+/status");
    let texts = |m: &[Message]| m.iter().map(Message::text).collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(15);
    assert!(
        sub.wait_until(deadline, |m| !m.is_empty()),
        "no retained status"
    );
    assert_eq!(sub.received[0].topic, status);
    assert_eq!(sub.received[0].text(), ONLINE);
    assert!(sub.received[0].retain, "online is not retained");

    // The connection breaks without a DISCONNECT: the broker publishes the last will.
    assert_eq!(proxy.cut(), 1);
    let deadline = Instant::now() + Duration::from_secs(15);
    assert!(
        sub.wait_until(deadline, |m| m.len() >= 2),
        "no last will: {:?}",
        texts(&sub.received)
    );
    assert_eq!(sub.received[1].text(), OFFLINE);
    // The uplink reconnects (through the proxy) and says so.
    let deadline = Instant::now() + Duration::from_secs(15);
    assert!(
        sub.wait_until(deadline, |m| m.len() >= 3),
        "no online after reconnecting: {:?}",
        texts(&sub.received)
    );
    assert_eq!(sub.received[2].text(), ONLINE);

    // Clean stop: `offline`, retained.
    up.stop();
    let deadline = Instant::now() + Duration::from_secs(15);
    assert!(
        sub.wait_until(deadline, |m| m.len() >= 4),
        "no offline on a clean stop: {:?}",
        texts(&sub.received)
    );
    assert_eq!(texts(&sub.received), [ONLINE, OFFLINE, ONLINE, OFFLINE]);
    let mut late = Subscriber::start(broker.port(), "sub-status-late", &status);
    assert!(late.wait_until(Instant::now() + Duration::from_secs(15), |m| !m.is_empty()));
    assert_eq!(late.received[0].text(), OFFLINE);
    assert!(late.received[0].retain, "offline is not retained");
}

/// Runs `openssl ARGS...` in `dir`, which must succeed.
#[cfg(feature = "mqtt-tls")]
fn openssl(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA and a server certificate for `localhost` signed by it, in `dir` (ca.crt, server.crt,
/// server.key); `other` is a second CA that signed nothing here.
#[cfg(feature = "mqtt-tls")]
fn certificates(dir: &Path) {
    for (cn, name) in [("edge-screen test CA", "ca"), ("another CA", "other")] {
        let (subj, key, crt) = (
            format!("/CN={cn}"),
            format!("{name}.key"),
            format!("{name}.crt"),
        );
        openssl(
            dir,
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subj,
                "-keyout", &key, "-out", &crt,
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
}

#[cfg(feature = "mqtt-tls")]
#[test]
fn mqtts_delivers_with_the_right_ca_and_refuses_another() {
    let Some(bin) = mosquitto_or_skip("mqtts") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let port = util::mosquitto::free_port();
    let conf = dir.path().join("tls.conf");
    std::fs::write(
        &conf,
        format!(
            "user root\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             cafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("mosquitto.log")).unwrap();
    let mut broker = std::process::Command::new(&bin)
        .arg("-c")
        .arg(&conf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < until,
            "TLS broker did not start: {}",
            std::fs::read_to_string(dir.path().join("mosquitto.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let tls = |ca: &str, client: &str| UplinkSettings {
        host: "localhost".into(),
        tls: true,
        ca_file: Some(dir.path().join(ca)),
        ..settings(port, client)
    };
    // A CA that did not sign the broker's certificate: nothing is delivered, the error says why.
    let wrong_db = dir.path().join("wrong.db");
    let mut store = open(&wrong_db);
    save(&mut store, "kiosk-tls", "01JTLSWRONG0");
    let mut wrong = Running::start_with(tls("other.crt", "tls-wrong"), &wrong_db, "kiosk-tls");
    let until = Instant::now() + Duration::from_secs(20);
    while wrong.state.last_error().is_none() {
        assert!(Instant::now() < until, "no error with the wrong CA");
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = wrong.state.last_error().unwrap();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert_eq!(wrong.state.delivered_total(), 0);
    wrong.stop();
    // The right CA: everything is acknowledged over TLS.
    let db = dir.path().join("records.db");
    let mut store = open(&db);
    let want = ids("01JTLSOK", 5);
    for id in &want {
        save(&mut store, "kiosk-tls", id);
    }
    let mut up = Running::start_with(tls("ca.crt", "tls-ok"), &db, "kiosk-tls");
    let until = Instant::now() + Duration::from_secs(30);
    while store.outbox_stats().unwrap().pending > 0 {
        assert!(
            Instant::now() < until,
            "not delivered over TLS: {:?}",
            up.state.snapshot()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(up.state.delivered_total(), 5);
    assert!(up.state.connected());
    up.stop();
    let _ = broker.kill();
    let _ = broker.wait();
}
