//! A real mosquitto broker on loopback, an MQTT subscriber with a persistent session, and a TCP
//! proxy whose connections can be cut (to make a client disconnect uncleanly).
//!
//! Tests call [`mosquitto_or_skip`] first: without mosquitto installed they are skipped with a
//! message, except in CI (`CI` set), where a missing broker is a failure.

use rumqttc::{Client, Event, MqttOptions, Packet, QoS, RecvTimeoutError};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where mosquitto is: `$PATH`, then the Debian package's /usr/sbin (not on a user's `$PATH`).
pub fn mosquitto_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

/// mosquitto's path; `None` (after saying why) when it is missing outside CI. Panics when it is
/// missing in CI (`CI` set): there the uplink tests must run.
pub fn mosquitto_or_skip(test: &str) -> Option<PathBuf> {
    match mosquitto_bin() {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!(
                "{test}: mosquitto is not installed, and CI is set (scripts/setup.sh installs it)"
            )
        }
        None => {
            eprintln!("{test}: SKIPPED: mosquitto is not installed (apt-get install mosquitto)");
            None
        }
    }
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// A mosquitto process on 127.0.0.1, killed when dropped.
pub struct Broker {
    bin: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    starts: u32,
}

impl Broker {
    /// Starts mosquitto on a free port. With `persistence`, sessions and queued messages are
    /// saved (in a folder of this broker's) when it stops with SIGTERM, and loaded on restart.
    pub fn start(bin: &Path, persistence: bool) -> Broker {
        Self::start_on(bin, free_port(), persistence)
    }

    /// Starts mosquitto on `port`.
    pub fn start_on(bin: &Path, port: u16, persistence: bool) -> Broker {
        let dir = tempfile::tempdir().expect("broker folder");
        let mut conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence {persistence}\n"
        );
        if persistence {
            conf += &format!("persistence_location {}/\n", dir.path().display());
        }
        std::fs::write(dir.path().join("mosquitto.conf"), conf).expect("write mosquitto.conf");
        let mut b = Broker {
            bin: bin.to_path_buf(),
            port,
            dir,
            child: None,
            starts: 0,
        };
        b.restart();
        b
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts it again (same port, same configuration and persistence folder) after
    /// [`Broker::stop`]; waits until the port accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        self.starts += 1;
        let log = self
            .dir
            .path()
            .join(format!("mosquitto-{}.log", self.starts));
        let log = std::fs::File::create(&log).expect("broker log file");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                panic!(
                    "mosquitto on port {} exited ({status}):\n{}",
                    self.port,
                    self.logs()
                );
            }
            if Instant::now() > until {
                panic!(
                    "mosquitto on port {} did not accept connections in 15 s:\n{}",
                    self.port,
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it with SIGTERM (it saves its persistence file) and waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let term = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -TERM {}", child.id()))
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while term.as_ref().is_ok_and(|s| s.success()) && Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "mosquitto on port {} did not stop on SIGTERM; killing it",
            self.port
        );
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Everything the broker logged so far (for failure messages).
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|i| {
                let p = self.dir.path().join(format!("mosquitto-{i}.log"));
                format!(
                    "--- run {i}:\n{}",
                    std::fs::read_to_string(&p).unwrap_or_default()
                )
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A message the subscriber received.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// The retain flag as delivered (set for a retained message sent on subscribing).
    pub retain: bool,
}

impl Message {
    /// The payload as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// A real MQTT subscriber (rumqttc) on a thread: QoS 1, persistent session (`clean_session`
/// false), reconnecting every 200 ms while the broker is away.
pub struct Subscriber {
    rx: mpsc::Receiver<Message>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Everything received so far, in order.
    pub received: Vec<Message>,
}

impl Subscriber {
    /// Connects as `client_id`, subscribes to `filter` and waits (up to 15 s) for the SUBACK.
    pub fn start(port: u16, client_id: &str, filter: &str) -> Subscriber {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
        o.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut conn) = Client::new(o, 16);
        let (tx, rx) = mpsc::channel();
        let (subscribed_tx, subscribed_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let topic_filter = filter.to_string();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match conn.recv_timeout(Duration::from_millis(100)) {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                        // Idempotent; covers a broker that lost the session.
                        let _ = client.subscribe(topic_filter.as_str(), QoS::AtLeastOnce);
                    }
                    Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                        let _ = subscribed_tx.send(());
                    }
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        let _ = tx.send(Message {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                    Ok(Err(_)) => std::thread::sleep(Duration::from_millis(200)),
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            let _ = client.disconnect();
            let _ = conn.recv_timeout(Duration::from_millis(200));
        });
        subscribed_rx
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("{client_id}: no SUBACK for {filter:?} within 15 s"));
        Subscriber {
            rx,
            stop,
            thread: Some(thread),
            received: Vec::new(),
        }
    }

    /// Collects what has arrived, waiting until `done(&received)` or `deadline`; returns whether
    /// `done` became true.
    pub fn wait_until(&mut self, deadline: Instant, done: impl Fn(&[Message]) -> bool) -> bool {
        loop {
            while let Ok(m) = self.rx.try_recv() {
                self.received.push(m);
            }
            if done(&self.received) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Ok(m) = self.rx.recv_timeout(left.min(Duration::from_millis(100))) {
                self.received.push(m);
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A TCP proxy on a free loopback port to `127.0.0.1:target`, whose connections [`CutProxy::cut`]
/// closes without any MQTT goodbye (the broker then publishes the client's last will).
pub struct CutProxy {
    port: u16,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl CutProxy {
    /// Starts forwarding (the accepting thread lives as long as the test process).
    pub fn start(target: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let conns2 = conns.clone();
        std::thread::spawn(move || {
            for down in listener.incoming().flatten() {
                let Ok(up) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (Ok(d2), Ok(u2), Ok(d3), Ok(u3)) = (
                    down.try_clone(),
                    up.try_clone(),
                    down.try_clone(),
                    up.try_clone(),
                ) else {
                    continue;
                };
                if let Ok(mut c) = conns2.lock() {
                    c.push(d3);
                    c.push(u3);
                }
                std::thread::spawn(move || pipe(down, up));
                std::thread::spawn(move || pipe(u2, d2));
            }
        });
        CutProxy { port, conns }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every connection made so far, both ways; returns how many were open.
    pub fn cut(&self) -> usize {
        let mut c = self.conns.lock().expect("proxy connections");
        for s in c.iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let n = c.len() / 2;
        c.clear();
        n
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
