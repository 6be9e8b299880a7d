//! The fleet uplink: publishes the record store's outbox to an MQTT broker.
//!
//! [`Uplink::spawn`] starts one plain thread with its own [`Store`] connection to the record file
//! (WAL lets the daemon keep writing meanwhile) and rumqttc's blocking client. The thread:
//!
//! - publishes each outbox message at QoS 1 on the message's own topic (the daemon queues
//!   `edge-screen/<device_id>/sessions`, see [`sessions_topic`]), strictly in outbox (`seq`) order,
//!   with at most [`WINDOW`] messages awaiting their PUBACK;
//! - marks a message delivered ([`Store::mark_delivered`]) only once the broker's PUBACK for it
//!   has arrived *and* every earlier message has been marked, so the delivered part of the outbox
//!   is always a prefix;
//! - polls the outbox every [`POLL_INTERVAL`] when it has nothing to send (one indexed query), so
//!   a newly saved record goes out within about a quarter of a second;
//! - keeps the status topic [`status_topic`] current: the last will is [`OFFLINE`] (retained,
//!   QoS 1), [`ONLINE`] (retained, QoS 1) is published after every connect, and [`OFFLINE`] is
//!   published before a clean stop's DISCONNECT;
//! - when the broker cannot be reached, refuses the connection or goes away, retries with
//!   back-off ([`Backoff`]: 1 s, doubling, at most 30 s; back to 1 s after each successful
//!   connect). It never panics and never blocks its caller; what went wrong is in
//!   [`UplinkState::last_error`] and the log. The password file is read again at every connection
//!   attempt, so a missing file that appears later, or a rotated password, is picked up.
//!
//! # Delivery contract: at least once
//!
//! A message stays in the outbox until the broker has acknowledged it. Messages sent but not yet
//! acknowledged when the connection drops (or the kiosk restarts) are sent again, from the oldest
//! undelivered one, after reconnecting — so a consumer may see a message more than once, and a
//! duplicate may arrive after later messages did. Every payload is a [`Record`](super::store::Record)
//! carrying `id` and `revision`: consumers drop duplicates by (`id`, `revision`). Taken in order of
//! first arrival, the messages are in outbox order.
//!
//! # Session
//!
//! The uplink connects with `clean_session = true`. It only publishes, so the broker holds nothing
//! for it worth keeping, and the outbox (not the broker session) is what makes delivery durable: a
//! fresh session after each connect means no stale packet ids and no retransmission by the MQTT
//! library behind the outbox's back.
//!
//! # TLS
//!
//! This build has no TLS (rumqttc is built without its rustls feature). With `mqtts://` the uplink
//! stays down and reports "mqtts:// needs a build with --features mqtt-tls" (that feature does not
//! exist yet: adding it means `rumqttc/use-rustls` and a `ca_file` transport here).

use super::store::{unix_ms_now, OutboxItem, Store, StoreError};
use super::UplinkSettings;
use rumqttc::{
    Client, ConnectionError, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, RecvTimeoutError,
};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Status payload while the uplink is connected (retained).
pub const ONLINE: &str = "online";
/// Status payload after a clean stop, and the last will (retained).
pub const OFFLINE: &str = "offline";
/// Most outbox messages awaiting their PUBACK at once.
pub const WINDOW: usize = 8;
/// How often an idle uplink looks for new outbox messages.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// First retry delay.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// TCP connect + CONNACK must complete within this many seconds.
const CONNECT_TIMEOUT_S: u64 = 5;
/// Largest packet sent (a record never carries its image; this is far above any record).
const MAX_OUTGOING_PACKET: usize = 4 << 20;
/// Largest packet accepted (the broker only sends acknowledgements).
const MAX_INCOMING_PACKET: usize = 64 << 10;
/// How long a clean stop waits for the broker to acknowledge `offline`.
const STOP_WAIT: Duration = Duration::from_secs(2);
/// How long a failed store operation waits before it is tried again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// The topic the daemon queues session records on: `edge-screen/<device_id>/sessions`.
pub fn sessions_topic(device_id: &str) -> String {
    format!("edge-screen/{device_id}/sessions")
}

/// The kiosk's status topic: `edge-screen/<device_id>/status`.
pub fn status_topic(device_id: &str) -> String {
    format!("edge-screen/{device_id}/status")
}

/// What went wrong in the uplink. Every message names what failed.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The password file could not be read.
    #[error("uplink: password file {}: {source}", path.display())]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The password file's first line is empty.
    #[error("uplink: password file {}: the first line is empty", path.display())]
    PasswordEmpty {
        /// The file.
        path: PathBuf,
    },
    /// MQTT 3.1.1 sends a password only with a user name.
    #[error("uplink: password file {} given without a user name ([uplink] username)", path.display())]
    PasswordWithoutUser {
        /// The file.
        path: PathBuf,
    },
    /// The device id cannot be part of a topic.
    #[error(
        "uplink: device id {0:?} cannot be part of an MQTT topic (empty, or has '/', '+' or '#')"
    )]
    DeviceId(String),
    /// The CA certificate file cannot be read.
    #[error("uplink: CA file {}: {source}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `mqtts://` in a build without TLS.
    #[error("uplink: mqtts://{host}:{port} needs a build with --features mqtt-tls")]
    TlsNotBuilt {
        /// Broker host.
        host: String,
        /// Broker port.
        port: u16,
    },
    /// The record store failed.
    #[error("uplink: {0}")]
    Store(#[from] StoreError),
    /// Connecting to the broker failed, or the connection broke.
    #[error("uplink: {host}:{port}: {problem}")]
    Connection {
        /// Broker host.
        host: String,
        /// Broker port.
        port: u16,
        /// What happened.
        problem: String,
    },
    /// An outbox message cannot be published (its topic is not a valid topic name).
    #[error("uplink: outbox message {seq} (record {record_id}): cannot publish on {topic:?}")]
    BadTopic {
        /// Outbox position.
        seq: i64,
        /// The record.
        record_id: String,
        /// The topic.
        topic: String,
    },
}

impl UplinkError {
    /// Whether retrying cannot help (the uplink then stays down until stopped).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            UplinkError::TlsNotBuilt { .. } | UplinkError::DeviceId(_)
        )
    }
}

/// Reads the password: the file's first line, trimmed. A missing or unreadable file, or an empty
/// first line, is an error naming the file.
pub fn read_password(path: &Path) -> Result<String, UplinkError> {
    let text = std::fs::read_to_string(path).map_err(|source| UplinkError::PasswordFile {
        path: path.to_path_buf(),
        source,
    })?;
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(UplinkError::PasswordEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(first.to_string())
}

/// Keep-alive from `[uplink] keep_alive_s`, whole seconds within what MQTT can carry (1-65535 s);
/// anything not a finite number gives 60 s.
pub fn keep_alive(keep_alive_s: f64) -> Duration {
    if !keep_alive_s.is_finite() {
        return Duration::from_secs(60);
    }
    Duration::from_secs(keep_alive_s.round().clamp(1.0, 65535.0) as u64)
}

/// The rumqttc options for `settings`: client id, keep-alive, clean session, credentials (the
/// password read from its file now), last will `offline` (retained, QoS 1) on
/// [`status_topic`]`(device_id)`.
pub fn mqtt_options(
    settings: &UplinkSettings,
    device_id: &str,
) -> Result<MqttOptions, UplinkError> {
    if device_id.is_empty() || device_id.contains(['/', '+', '#']) {
        return Err(UplinkError::DeviceId(device_id.to_string()));
    }
    let mut o = MqttOptions::new(
        settings.client_id.clone(),
        settings.host.clone(),
        settings.port,
    );
    if settings.tls {
        o.set_transport(tls_transport(settings)?);
    }
    o.set_keep_alive(keep_alive(settings.keep_alive_s))
        .set_clean_session(true)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET)
        .set_last_will(LastWill::new(
            status_topic(device_id),
            OFFLINE,
            QoS::AtLeastOnce,
            true,
        ));
    match (&settings.username, &settings.password_file) {
        (Some(user), Some(file)) => {
            o.set_credentials(user.clone(), read_password(file)?);
        }
        (Some(user), None) => {
            o.set_credentials(user.clone(), "");
        }
        (None, Some(file)) => {
            return Err(UplinkError::PasswordWithoutUser { path: file.clone() });
        }
        (None, None) => {}
    }
    Ok(o)
}

/// TLS to the broker, verified against `[uplink] ca_file` (and the host name in the URL).
#[cfg(feature = "mqtt-tls")]
fn tls_transport(settings: &UplinkSettings) -> Result<rumqttc::Transport, UplinkError> {
    let path = settings.ca_file.clone().unwrap_or_default();
    let ca = std::fs::read(&path).map_err(|source| UplinkError::CaFile {
        path: path.clone(),
        source,
    })?;
    // rustls needs one process-wide crypto provider; a second install is refused, harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Simple {
            ca,
            alpn: None,
            client_auth: None,
        },
    ))
}

/// Without the `mqtt-tls` feature `mqtts://` cannot work: a permanent error that says so.
#[cfg(not(feature = "mqtt-tls"))]
fn tls_transport(settings: &UplinkSettings) -> Result<rumqttc::Transport, UplinkError> {
    Err(UplinkError::TlsNotBuilt {
        host: settings.host.clone(),
        port: settings.port,
    })
}

/// Retry delays: [`BACKOFF_START`], doubling each time, at most [`BACKOFF_MAX`].
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// Starts at [`BACKOFF_START`].
    pub fn new() -> Self {
        Backoff {
            next: BACKOFF_START,
        }
    }

    /// The delay before the next try; each call doubles the one after (up to [`BACKOFF_MAX`]).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        d
    }

    /// Back to [`BACKOFF_START`] (after a successful connect).
    pub fn reset(&mut self) {
        self.next = BACKOFF_START;
    }
}

/// What the uplink reports, shared with the status file and metrics. All methods are cheap and
/// never block for long.
#[derive(Debug, Default)]
pub struct UplinkState {
    connected: AtomicBool,
    delivered_total: AtomicU64,
    /// 0 = never.
    last_delivered_unix_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
    /// Set by [`UplinkState::retry_now`]: the uplink cuts its retry delay short.
    retry_now: AtomicBool,
    /// Connection attempts that ended (failed, or a connection that dropped).
    attempts_ended: AtomicU64,
}

/// A copy of [`UplinkState`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct UplinkSnapshot {
    /// Connected to the broker now.
    pub connected: bool,
    /// Messages acknowledged by the broker since the uplink started.
    pub delivered_total: u64,
    /// When the last one was acknowledged (wall clock, ms since 1970).
    pub last_delivered_unix_ms: Option<i64>,
    /// The latest error since the last successful connect (`None` while all is well).
    pub last_error: Option<String>,
}

impl UplinkState {
    /// Not connected, nothing delivered, no error.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connected to the broker now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Messages acknowledged by the broker since the uplink started.
    pub fn delivered_total(&self) -> u64 {
        self.delivered_total.load(Ordering::Relaxed)
    }

    /// When the last message was acknowledged (wall clock, ms since 1970).
    pub fn last_delivered_unix_ms(&self) -> Option<i64> {
        Some(self.last_delivered_unix_ms.load(Ordering::Relaxed)).filter(|&t| t != 0)
    }

    /// The latest error since the last successful connect.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// All of the above at once.
    pub fn snapshot(&self) -> UplinkSnapshot {
        UplinkSnapshot {
            connected: self.connected(),
            delivered_total: self.delivered_total(),
            last_delivered_unix_ms: self.last_delivered_unix_ms(),
            last_error: self.last_error(),
        }
    }

    /// Asks the uplink to try the broker again now instead of at the end of its retry delay (a
    /// clean stop does, to send what is left while it can).
    pub fn retry_now(&self) {
        self.retry_now.store(true, Ordering::Relaxed);
    }

    /// How many connection attempts have ended so far (failed, or a connection that dropped).
    pub fn attempts_ended(&self) -> u64 {
        self.attempts_ended.load(Ordering::Relaxed)
    }

    fn set_connected(&self, c: bool) {
        self.connected.store(c, Ordering::Relaxed);
    }

    fn delivered(&self, now_unix_ms: i64) {
        self.delivered_total.fetch_add(1, Ordering::Relaxed);
        self.last_delivered_unix_ms
            .store(now_unix_ms.max(1), Ordering::Relaxed);
    }

    /// Records `e`; returns whether it differs from the error before (worth a warning).
    fn set_error(&self, e: Option<String>) -> bool {
        match self.last_error.lock() {
            Ok(mut g) => {
                let changed = *g != e;
                *g = e;
                changed
            }
            Err(_) => true,
        }
    }
}

/// The uplink thread (see the module documentation).
pub struct Uplink {
    settings: UplinkSettings,
    db_path: PathBuf,
    device_id: String,
    state: Arc<UplinkState>,
    stop: Arc<AtomicBool>,
}

/// What a published packet carries, to match its PUBACK.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tag {
    Status,
    Record(i64),
}

/// An outbox message sent and not yet marked delivered.
#[derive(Debug)]
struct InFlight {
    seq: i64,
    acked: bool,
}

impl Uplink {
    /// Starts the uplink thread for the store at `db_path` (open it in the daemon first, so that
    /// it is created and migrated before two connections race to do so). Returns at once; the
    /// thread runs until `stop` is set, then publishes `offline`, disconnects and ends (within a
    /// few seconds; up to 5 s more while a connection attempt is pending).
    /// The only error is failing to start a thread.
    pub fn spawn(
        settings: UplinkSettings,
        db_path: PathBuf,
        device_id: String,
        state: Arc<UplinkState>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<JoinHandle<()>> {
        let uplink = Uplink {
            settings,
            db_path,
            device_id,
            state,
            stop,
        };
        std::thread::Builder::new()
            .name("uplink".into())
            .spawn(move || uplink.run())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn fail(&self, e: &UplinkError) {
        let msg = e.to_string();
        if self.state.set_error(Some(msg.clone())) {
            log::warn!("{msg}");
        } else {
            log::debug!("{msg}");
        }
    }

    /// Sleeps `d`, waking early when asked to stop or to retry now.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopping() && !self.state.retry_now.swap(false, Ordering::Relaxed) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    fn run(self) {
        let mut backoff = Backoff::new();
        let mut store: Option<Store> = None;
        while !self.stopping() {
            let s = match store.take() {
                Some(s) => s,
                None => match Store::open(&self.db_path) {
                    Ok((s, problem)) => {
                        if let Some(p) = problem {
                            log::warn!("uplink: {p}");
                        }
                        s
                    }
                    Err(e) => {
                        self.fail(&e.into());
                        self.sleep(backoff.next_delay());
                        continue;
                    }
                },
            };
            let mut connected = false;
            let end = self.session(&s, &mut connected);
            store = Some(s);
            self.state.set_connected(false);
            self.state.attempts_ended.fetch_add(1, Ordering::Relaxed);
            match end {
                Ok(()) => break,
                Err(e) if e.is_permanent() => {
                    self.fail(&e);
                    // Stays down: nothing will change until the configuration does.
                    while !self.stopping() {
                        self.sleep(Duration::from_secs(1));
                    }
                }
                Err(e) => {
                    self.fail(&e);
                    if connected {
                        backoff.reset();
                    }
                    self.sleep(backoff.next_delay());
                }
            }
        }
        self.state.set_connected(false);
        log::debug!("uplink: stopped");
    }

    fn conn_error(&self, problem: impl std::fmt::Display) -> UplinkError {
        UplinkError::Connection {
            host: self.settings.host.clone(),
            port: self.settings.port,
            problem: problem.to_string(),
        }
    }

    /// One connection: connect, publish until an error or `stop`. `Ok` only after a stop.
    fn session(&self, store: &Store, connected: &mut bool) -> Result<(), UplinkError> {
        let opts = mqtt_options(&self.settings, &self.device_id)?;
        let (client, mut conn) = Client::new(opts, 4 * WINDOW);
        let mut net = conn.eventloop.network_options();
        net.set_connection_timeout(CONNECT_TIMEOUT_S);
        conn.eventloop.set_network_options(net);
        // Waits for the CONNACK. The wait is longer than rumqttc's own connect timeout: cancelling
        // its connect half-way would start it over.
        loop {
            if self.stopping() {
                return Ok(());
            }
            match conn.recv_timeout(Duration::from_secs(CONNECT_TIMEOUT_S + 2)) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
                Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => return Err(self.conn_error(describe(&e))),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.conn_error("the client closed"))
                }
            }
        }
        *connected = true;
        self.state.set_connected(true);
        self.state.set_error(None);
        log::info!(
            "uplink: connected to mqtt://{}:{}",
            self.settings.host,
            self.settings.port
        );
        let status = status_topic(&self.device_id);
        let mut p = Publisher {
            client: &client,
            unassigned: VecDeque::new(),
            by_pkid: HashMap::new(),
            in_flight: VecDeque::new(),
            last_sent: i64::MIN,
            status_unacked: 0,
        };
        p.send_status(&status, ONLINE)
            .map_err(|e| self.conn_error(format!("publish {ONLINE}: {e}")))?;

        let mut next_query = Instant::now();
        let mut stop_deadline: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if self.stopping() && stop_deadline.is_none() {
                // Clean stop: `offline`, wait (bounded) for its PUBACK, then DISCONNECT.
                p.send_status(&status, OFFLINE)
                    .map_err(|e| self.conn_error(format!("publish {OFFLINE}: {e}")))?;
                stop_deadline = Some(now + STOP_WAIT);
            }
            if let Some(d) = stop_deadline {
                if p.status_unacked == 0 || now >= d {
                    if p.status_unacked > 0 {
                        log::warn!("uplink: the broker did not acknowledge {OFFLINE} in time");
                    }
                    disconnect(&client, &mut conn);
                    return Ok(());
                }
            }
            // Marks the acknowledged prefix delivered.
            match p.mark_acked(store, &self.state) {
                Ok(true) => next_query = now,
                Ok(false) => {}
                Err(e) => {
                    self.fail(&e.into());
                    next_query = now + STORE_RETRY;
                }
            }
            if stop_deadline.is_none() && p.in_flight.len() < WINDOW && now >= next_query {
                match store.pending(WINDOW + p.in_flight.len()) {
                    Ok(items) => {
                        let new: Vec<&OutboxItem> =
                            items.iter().filter(|i| i.seq > p.last_sent).collect();
                        let room = WINDOW - p.in_flight.len();
                        let full = new.len() >= room;
                        for item in new.into_iter().take(room) {
                            p.send_record(item)?;
                        }
                        next_query = if full { now } else { now + POLL_INTERVAL };
                    }
                    Err(e) => {
                        self.fail(&e.into());
                        next_query = now + STORE_RETRY;
                    }
                }
            }
            let wait = if p.in_flight.len() < WINDOW && stop_deadline.is_none() {
                next_query
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), POLL_INTERVAL)
            } else {
                Duration::from_millis(50)
            };
            match conn.recv_timeout(wait) {
                Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                    if let Some(tag) = p.unassigned.pop_front() {
                        p.by_pkid.insert(pkid, tag);
                    }
                }
                Ok(Ok(Event::Outgoing(Outgoing::AwaitAck(pkid)))) => {
                    // Cannot happen with WINDOW below rumqttc's in-flight limit; start over
                    // rather than guess which packet is which.
                    return Err(self.conn_error(format!("packet id {pkid} still in use")));
                }
                Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => p.acked(ack.pkid),
                Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => return Err(self.conn_error(describe(&e))),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.conn_error("the client closed"))
                }
            }
        }
    }
}

/// The publishing side of one connection: what was sent, and which PUBACK is whose.
struct Publisher<'a> {
    client: &'a Client,
    /// Published, waiting for rumqttc to give it a packet id (in request order).
    unassigned: VecDeque<Tag>,
    by_pkid: HashMap<u16, Tag>,
    /// Outbox messages sent and not yet marked, in `seq` order.
    in_flight: VecDeque<InFlight>,
    /// The last outbox position sent on this connection.
    last_sent: i64,
    /// Status messages not yet acknowledged.
    status_unacked: u32,
}

impl Publisher<'_> {
    fn send_status(&mut self, topic: &str, payload: &str) -> Result<(), rumqttc::ClientError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload.as_bytes())?;
        self.unassigned.push_back(Tag::Status);
        self.status_unacked += 1;
        Ok(())
    }

    fn send_record(&mut self, item: &OutboxItem) -> Result<(), UplinkError> {
        self.client
            .publish(
                item.topic.as_str(),
                QoS::AtLeastOnce,
                false,
                item.payload.as_bytes(),
            )
            .map_err(|_| UplinkError::BadTopic {
                seq: item.seq,
                record_id: item.record_id.clone(),
                topic: item.topic.clone(),
            })?;
        self.unassigned.push_back(Tag::Record(item.seq));
        self.in_flight.push_back(InFlight {
            seq: item.seq,
            acked: false,
        });
        self.last_sent = item.seq;
        Ok(())
    }

    fn acked(&mut self, pkid: u16) {
        match self.by_pkid.remove(&pkid) {
            Some(Tag::Status) => self.status_unacked = self.status_unacked.saturating_sub(1),
            Some(Tag::Record(seq)) => {
                if let Some(f) = self.in_flight.iter_mut().find(|f| f.seq == seq) {
                    f.acked = true;
                }
            }
            None => log::debug!("uplink: PUBACK for unknown packet id {pkid}"),
        }
    }

    /// Marks the acknowledged messages at the front delivered, in order; returns whether any was.
    fn mark_acked(&mut self, store: &Store, state: &UplinkState) -> Result<bool, StoreError> {
        let mut any = false;
        while let Some(f) = self.in_flight.front().filter(|f| f.acked) {
            let now = unix_ms_now();
            store.mark_delivered(f.seq, now)?;
            state.delivered(now);
            self.in_flight.pop_front();
            any = true;
        }
        Ok(any)
    }
}

/// Sends DISCONNECT and waits (bounded) until it has been written.
fn disconnect(client: &Client, conn: &mut rumqttc::Connection) {
    if client.disconnect().is_err() {
        return;
    }
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        match conn.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) => return,
            Err(RecvTimeoutError::Disconnected) => return,
            Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused the connection ({code:?})")
        }
        ConnectionError::NetworkTimeout => {
            format!("no connection within {CONNECT_TIMEOUT_S} s")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> UplinkSettings {
        UplinkSettings {
            host: "broker.example".into(),
            port: 1883,
            tls: false,
            client_id: "edge-screen-kiosk-1".into(),
            username: None,
            password_file: None,
            ca_file: None,
            keep_alive_s: 30.0,
        }
    }

    #[test]
    fn backoff_doubles_from_one_second_to_thirty_and_resets() {
        let mut b = Backoff::new();
        let secs: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
        assert_eq!(b.next_delay(), Duration::from_secs(2));
    }

    #[test]
    fn options_carry_the_settings_and_the_last_will() {
        let o = mqtt_options(&settings(), "kiosk-1").unwrap();
        assert_eq!(o.broker_address(), ("broker.example".to_string(), 1883));
        assert_eq!(o.client_id(), "edge-screen-kiosk-1");
        assert_eq!(o.keep_alive(), Duration::from_secs(30));
        assert!(o.clean_session());
        assert!(o.credentials().is_none());
        let will = o.last_will().expect("a last will");
        assert_eq!(will.topic, "edge-screen/kiosk-1/status");
        assert_eq!(&will.message[..], b"offline");
        assert_eq!(will.qos, QoS::AtLeastOnce);
        assert!(will.retain);
    }

    #[test]
    fn keep_alive_is_whole_seconds_within_mqtt_range() {
        assert_eq!(keep_alive(30.4), Duration::from_secs(30));
        assert_eq!(keep_alive(0.2), Duration::from_secs(1));
        assert_eq!(keep_alive(-5.0), Duration::from_secs(1));
        assert_eq!(keep_alive(1e9), Duration::from_secs(65535));
        assert_eq!(keep_alive(f64::NAN), Duration::from_secs(60));
        // Out-of-range settings never reach rumqttc's assertion.
        let mut s = settings();
        s.keep_alive_s = 0.001;
        assert_eq!(
            mqtt_options(&s, "k").unwrap().keep_alive(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn the_password_is_the_first_line_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "  s3cret \nsecond line\n").unwrap();
        assert_eq!(read_password(&f).unwrap(), "s3cret");
        let mut s = settings();
        s.username = Some("kiosk".into());
        s.password_file = Some(f);
        let login = mqtt_options(&s, "kiosk-1").unwrap().credentials().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("kiosk", "s3cret")
        );
    }

    #[test]
    fn password_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-password");
        let e = read_password(&missing).unwrap_err();
        assert!(matches!(e, UplinkError::PasswordFile { .. }), "{e:?}");
        assert!(e.to_string().contains("no-such-password"), "{e}");

        let empty = dir.path().join("empty-password");
        std::fs::write(&empty, "\n\nlater\n").unwrap();
        let e = read_password(&empty).unwrap_err();
        assert!(matches!(e, UplinkError::PasswordEmpty { .. }), "{e:?}");
        assert!(e.to_string().contains("empty-password"), "{e}");

        // A folder is unreadable as a file.
        let e = read_password(dir.path()).unwrap_err();
        assert!(matches!(e, UplinkError::PasswordFile { .. }), "{e:?}");

        // Through the options: the same error, and a password without a user is refused.
        let mut s = settings();
        s.username = Some("kiosk".into());
        s.password_file = Some(missing.clone());
        let e = mqtt_options(&s, "kiosk-1").unwrap_err();
        assert!(e.to_string().contains("no-such-password"), "{e}");
        assert!(!e.is_permanent());
        s.username = None;
        let e = mqtt_options(&s, "kiosk-1").unwrap_err();
        assert!(
            matches!(e, UplinkError::PasswordWithoutUser { .. }),
            "{e:?}"
        );
    }

    #[cfg(not(feature = "mqtt-tls"))]
    #[test]
    fn tls_without_the_feature_is_a_permanent_error() {
        let mut s = settings();
        s.tls = true;
        s.port = 8883;
        let e = mqtt_options(&s, "kiosk-1").unwrap_err();
        assert!(e.is_permanent());
        assert_eq!(
            e.to_string(),
            "uplink: mqtts://broker.example:8883 needs a build with --features mqtt-tls"
        );
    }

    #[cfg(feature = "mqtt-tls")]
    #[test]
    fn tls_needs_a_readable_ca_file() {
        let mut s = settings();
        s.tls = true;
        s.ca_file = Some("/nonexistent/ca.pem".into());
        let e = mqtt_options(&s, "kiosk-1").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        s.ca_file = Some(ca);
        assert!(mqtt_options(&s, "kiosk-1").is_ok());
    }

    #[test]
    fn bad_device_ids_are_permanent_errors() {
        for bad in ["", "a/b", "k+", "#"] {
            let e = mqtt_options(&settings(), bad).unwrap_err();
            assert!(matches!(e, UplinkError::DeviceId(_)), "{bad:?}: {e:?}");
            assert!(e.is_permanent());
        }
    }

    #[test]
    fn topics_follow_the_device_id() {
        assert_eq!(sessions_topic("k1"), "edge-screen/k1/sessions");
        assert_eq!(status_topic("k1"), "edge-screen/k1/status");
    }

    #[test]
    fn the_state_reports_what_happened() {
        let s = UplinkState::new();
        assert_eq!(s.snapshot(), UplinkSnapshot::default());
        s.set_connected(true);
        s.delivered(1234);
        s.delivered(5678);
        assert!(s.set_error(Some("x".into())));
        assert!(!s.set_error(Some("x".into())));
        assert_eq!(
            s.snapshot(),
            UplinkSnapshot {
                connected: true,
                delivered_total: 2,
                last_delivered_unix_ms: Some(5678),
                last_error: Some("x".into()),
            }
        );
    }

    #[test]
    fn a_broker_that_is_not_there_is_retried_and_reported_without_blocking() {
        // Nothing listens on this port (bound, then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings();
        s.host = "127.0.0.1".into();
        s.port = port;
        let state = Arc::new(UplinkState::new());
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let h = Uplink::spawn(
            s,
            dir.path().join("records.db"),
            "kiosk-1".into(),
            state.clone(),
            stop.clone(),
        )
        .unwrap();
        assert!(started.elapsed() < Duration::from_millis(500));
        let until = Instant::now() + Duration::from_secs(10);
        while state.last_error().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let e = state
            .last_error()
            .expect("an error while the broker is away");
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(!state.connected());
        stop.store(true, Ordering::Relaxed);
        let stopping = Instant::now();
        h.join().unwrap();
        assert!(stopping.elapsed() < Duration::from_secs(2));
    }
}
