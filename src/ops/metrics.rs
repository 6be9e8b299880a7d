//! Prometheus metrics: lock-free counters, gauges and latency histograms ([`Metrics`]), their text
//! exposition (format 0.0.4, [`Metrics::render`]) and a small HTTP server for `GET /metrics`
//! ([`serve`]).
//!
//! Everything is plain atomics, so the daemon's threads update a shared `Arc<Metrics>` without
//! locks and a scrape never waits on the pipeline. Every metric is prefixed `edge_screen_`:
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `edge_screen_build_info{version}` | gauge | always 1 |
//! | `edge_screen_uptime_seconds` | gauge | since [`Metrics::new`] (monotonic clock) |
//! | `edge_screen_frames_received_total` | counter | frames delivered by the camera |
//! | `edge_screen_frames_processed_total` | counter | frames run through the pipeline |
//! | `edge_screen_frames_dropped_total` | counter | frames replaced by a newer one before processing |
//! | `edge_screen_sessions_total{outcome}` | counter | finished sessions by [`Outcome`] |
//! | `edge_screen_records_saved_total` | counter | records committed to the store |
//! | `edge_screen_records_unsaved_total` | counter | records whose commit failed |
//! | `edge_screen_outbox_pending` | gauge | results waiting to be sent upstream |
//! | `edge_screen_outbox_oldest_age_seconds` | gauge | age of the oldest of them (0 when none) |
//! | `edge_screen_uplink_connected` | gauge | 1 when connected to the fleet's broker |
//! | `edge_screen_camera_up` | gauge | 1 while the camera delivers frames |
//! | `edge_screen_store_writable` | gauge | 1 while records can be saved |
//! | `edge_screen_stage_seconds{stage}` | histogram | latency per [`Stage`] |

use crate::screening::Outcome;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The most of a request that is read (request line and headers); the rest is ignored.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// How long a client may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the server looks at its stop flag while idle.
const POLL: Duration = Duration::from_millis(50);

/// A counter. The owner either counts events ([`Counter::inc`], [`Counter::add`]) or, when it
/// already keeps the total itself (frame counters), stores it ([`Counter::set`]); a total only
/// grows, so the exposed series stays a counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    /// Sets the total (kept by the caller).
    pub fn set(&self, total: u64) {
        self.0.store(total, Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A gauge: a value that goes up and down (an `f64` kept as bits in an atomic).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Relaxed);
    }

    /// Sets 1 for `true`, 0 for `false` (up/down, connected, writable).
    pub fn set_bool(&self, up: bool) {
        self.set(if up { 1.0 } else { 0.0 });
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }
}

/// A latency histogram with fixed buckets. [`Histogram::observe`] is two atomic additions; the
/// exposition's `_bucket{le=...}` lines are cumulative and its `_count` is their total, so a scrape
/// during an update is still consistent.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds, ns, ascending.
    bounds_ns: &'static [u64],
    /// Observations per bucket (not cumulative); the last one is above every bound (`+Inf`).
    counts: Box<[AtomicU64]>,
    /// Sum of the observations, ns.
    sum_ns: AtomicU64,
}

impl Histogram {
    /// A histogram with these upper bounds, ns (ascending; a bound out of order is dropped).
    pub fn new(bounds_ns: &'static [u64]) -> Self {
        Self {
            bounds_ns,
            counts: (0..=bounds_ns.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = self.bounds_ns.partition_point(|&b| b < ns);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Sum of the observations, s.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns.load(Relaxed) as f64 / 1e9
    }

    /// `(upper bound ns, cumulative count)` per bucket, then `(None, total)` for `+Inf`.
    pub fn cumulative(&self) -> Vec<(Option<u64>, u64)> {
        let mut total = 0;
        let mut out = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Relaxed);
            out.push((self.bounds_ns.get(i).copied(), total));
        }
        out
    }
}

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// Bucket bounds in a 1-2.5-5 progression from 50 µs to 10 s; each stage takes the decades that
/// suit it.
const BOUNDS: &[u64] = &[
    50 * US,
    100 * US,
    250 * US,
    500 * US,
    MS,
    2_500 * US,
    5 * MS,
    10 * MS,
    25 * MS,
    50 * MS,
    100 * MS,
    250 * MS,
    500 * MS,
    S,
    2_500 * MS,
    5 * S,
    10 * S,
];
/// One frame through the pipeline: 50 µs to 1 s.
const FRAME_BOUNDS: &[u64] = BOUNDS.split_at(14).0;
/// One breathing window classified: 1 ms to 10 s.
const WINDOW_BOUNDS: &[u64] = BOUNDS.split_at(4).1;
/// One chest X-ray decoded and screened: 10 ms to 10 s.
const XRAY_BOUNDS: &[u64] = BOUNDS.split_at(7).1;
/// One record committed to the store: 100 µs to 10 s.
const COMMIT_BOUNDS: &[u64] = BOUNDS.split_at(1).1;

/// A timed stage of the kiosk (the `stage` label of `edge_screen_stage_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// One depth frame through the pipeline.
    Frame,
    /// One breathing window through the classifier.
    BreathingWindow,
    /// One chest X-ray decoded and screened.
    Xray,
    /// One record committed to the store.
    RecordCommit,
}

impl Stage {
    /// Every stage, in exposition order.
    pub const ALL: [Stage; 4] = [
        Stage::Frame,
        Stage::BreathingWindow,
        Stage::Xray,
        Stage::RecordCommit,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Frame => "frame",
            Stage::BreathingWindow => "breathing_window",
            Stage::Xray => "xray",
            Stage::RecordCommit => "record_commit",
        }
    }

    fn bounds_ns(self) -> &'static [u64] {
        match self {
            Stage::Frame => FRAME_BOUNDS,
            Stage::BreathingWindow => WINDOW_BOUNDS,
            Stage::Xray => XRAY_BOUNDS,
            Stage::RecordCommit => COMMIT_BOUNDS,
        }
    }
}

const OUTCOMES: [Outcome; 3] = [
    Outcome::NoConcernFound,
    Outcome::ReferForClinicalAssessment,
    Outcome::RepeatMeasurement,
];

fn outcome_index(o: Outcome) -> usize {
    match o {
        Outcome::NoConcernFound => 0,
        Outcome::ReferForClinicalAssessment => 1,
        Outcome::RepeatMeasurement => 2,
    }
}

/// The kiosk's metrics, shared between threads as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    version: String,
    /// Frames delivered by the camera (the daemon stores its total).
    pub frames_received: Counter,
    /// Frames run through the pipeline (the daemon stores its total).
    pub frames_processed: Counter,
    /// Frames replaced by a newer one before processing (the daemon stores its total).
    pub frames_dropped: Counter,
    /// Records committed to the store.
    pub records_saved: Counter,
    /// Records whose commit failed.
    pub records_unsaved: Counter,
    /// Results waiting to be sent upstream.
    pub outbox_pending: Gauge,
    /// Age of the oldest pending result, s (0 when none).
    pub outbox_oldest_age_seconds: Gauge,
    /// 1 when connected to the fleet's broker, else 0.
    pub uplink_connected: Gauge,
    /// 1 while the camera delivers frames, else 0.
    pub camera_up: Gauge,
    /// 1 while records can be saved, else 0.
    pub store_writable: Gauge,
    sessions: [Counter; 3],
    stages: [Histogram; 4],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All zero; uptime counts from now; `build_info` carries this crate's version.
    pub fn new() -> Self {
        Self::with_version(env!("CARGO_PKG_VERSION"))
    }

    /// As [`Metrics::new`] with another version label (tests, embedding programs).
    pub fn with_version(version: &str) -> Self {
        Self {
            started: Instant::now(),
            version: version.to_string(),
            frames_received: Counter::default(),
            frames_processed: Counter::default(),
            frames_dropped: Counter::default(),
            records_saved: Counter::default(),
            records_unsaved: Counter::default(),
            outbox_pending: Gauge::default(),
            outbox_oldest_age_seconds: Gauge::default(),
            uplink_connected: Gauge::default(),
            camera_up: Gauge::default(),
            store_writable: Gauge::default(),
            sessions: Default::default(),
            stages: Stage::ALL.map(|s| Histogram::new(s.bounds_ns())),
        }
    }

    /// Counts one finished session with this outcome.
    pub fn session(&self, outcome: Outcome) {
        self.sessions[outcome_index(outcome)].inc();
    }

    /// Finished sessions with this outcome so far.
    pub fn sessions(&self, outcome: Outcome) -> u64 {
        self.sessions[outcome_index(outcome)].get()
    }

    /// The latency histogram of a stage.
    pub fn stage(&self, stage: Stage) -> &Histogram {
        &self.stages[Stage::ALL.iter().position(|&s| s == stage).unwrap_or(0)]
    }

    /// Records how long one pass of a stage took.
    pub fn observe(&self, stage: Stage, d: Duration) {
        self.stage(stage).observe(d);
    }

    /// The text exposition (Prometheus format 0.0.4).
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(8 * 1024);
        let version = escape_label(&self.version);
        family(
            &mut o,
            "build_info",
            "gauge",
            "Build of this program (always 1).",
        );
        let _ = writeln!(o, "edge_screen_build_info{{version=\"{version}\"}} 1");
        let uptime = self.started.elapsed().as_secs_f64();
        gauge(
            &mut o,
            "uptime_seconds",
            "Seconds since the daemon started.",
            uptime,
        );
        let counters: [(&str, &str, &Counter); 5] = [
            (
                "frames_received_total",
                "Frames delivered by the camera.",
                &self.frames_received,
            ),
            (
                "frames_processed_total",
                "Frames run through the pipeline.",
                &self.frames_processed,
            ),
            (
                "frames_dropped_total",
                "Frames replaced by a newer one before processing.",
                &self.frames_dropped,
            ),
            (
                "records_saved_total",
                "Records committed to the store.",
                &self.records_saved,
            ),
            (
                "records_unsaved_total",
                "Records whose commit failed.",
                &self.records_unsaved,
            ),
        ];
        for (name, help, c) in counters {
            family(&mut o, name, "counter", help);
            let _ = writeln!(o, "edge_screen_{name} {}", c.get());
        }
        family(
            &mut o,
            "sessions_total",
            "counter",
            "Finished screening sessions by outcome.",
        );
        for outcome in OUTCOMES {
            let n = self.sessions(outcome);
            let _ = writeln!(
                o,
                "edge_screen_sessions_total{{outcome=\"{}\"}} {n}",
                outcome.name()
            );
        }
        let gauges: [(&str, &str, &Gauge); 5] = [
            (
                "outbox_pending",
                "Results waiting to be sent upstream.",
                &self.outbox_pending,
            ),
            (
                "outbox_oldest_age_seconds",
                "Age of the oldest result waiting to be sent (0 when none).",
                &self.outbox_oldest_age_seconds,
            ),
            (
                "uplink_connected",
                "1 when connected to the fleet's broker.",
                &self.uplink_connected,
            ),
            (
                "camera_up",
                "1 while the camera delivers frames.",
                &self.camera_up,
            ),
            (
                "store_writable",
                "1 while records can be saved.",
                &self.store_writable,
            ),
        ];
        for (name, help, g) in gauges {
            gauge(&mut o, name, help, g.get());
        }
        family(
            &mut o,
            "stage_seconds",
            "histogram",
            "Time one pass of a stage took (frame, breathing_window, xray, record_commit).",
        );
        for stage in Stage::ALL {
            let h = self.stage(stage);
            let cumulative = h.cumulative();
            let stage = stage.name();
            for (bound, n) in &cumulative {
                let le = bound.map_or_else(|| "+Inf".to_string(), seconds_text);
                let _ = writeln!(
                    o,
                    "edge_screen_stage_seconds_bucket{{stage=\"{stage}\",le=\"{le}\"}} {n}"
                );
            }
            let count = cumulative.last().map_or(0, |&(_, n)| n);
            let sum = value_text(h.sum_seconds());
            let _ = writeln!(
                o,
                "edge_screen_stage_seconds_sum{{stage=\"{stage}\"}} {sum}"
            );
            let _ = writeln!(
                o,
                "edge_screen_stage_seconds_count{{stage=\"{stage}\"}} {count}"
            );
        }
        o
    }
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP edge_screen_{name} {help}");
    let _ = writeln!(o, "# TYPE edge_screen_{name} {kind}");
}

fn gauge(o: &mut String, name: &str, help: &str, v: f64) {
    family(o, name, "gauge", help);
    let _ = writeln!(o, "edge_screen_{name} {}", value_text(v));
}

/// A sample value as the format spells it (`NaN`, `+Inf`, `-Inf`, else a decimal).
fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

/// Nanoseconds as exact decimal seconds (`50000` → `0.00005`).
fn seconds_text(ns: u64) -> String {
    let (whole, frac) = (ns / S, ns % S);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:09}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `GET /metrics` on `addr` from a thread until `stop` is set (looked at every 50 ms while
/// idle, and while a client is slow to send its request).
///
/// Returns the address actually bound (asking for port 0 picks a free one) and the thread. A bind
/// error names the address, so the caller can log it and run on without metrics. One connection is
/// answered at a time: `200` with the exposition for `GET /metrics`, `404` for another path, `405`
/// for another method, `400` for a request that is not HTTP. A request is read up to
/// [`MAX_REQUEST_BYTES`] and for at most [`REQUEST_TIMEOUT`]. A non-loopback address is allowed,
/// with a warning: the metrics are then open to the network.
pub fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("metrics on {addr}: {e}"));
    let listener = TcpListener::bind(addr).map_err(named)?;
    listener.set_nonblocking(true).map_err(named)?;
    let bound = listener.local_addr().map_err(named)?;
    if !addr.ip().is_loopback() {
        log::warn!(
            "metrics served on {bound}, which is not a loopback address: anyone who can reach \
             this kiosk can read them"
        );
    }
    let handle = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || accept_loop(&listener, &metrics, &stop))
        .map_err(named)?;
    log::info!("metrics at http://{bound}/metrics");
    Ok((bound, handle))
}

fn accept_loop(listener: &TcpListener, metrics: &Metrics, stop: &AtomicBool) {
    while !stop.load(Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(e) = answer(stream, metrics, stop) {
                    log::debug!("metrics: {peer}: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Running out of file descriptors and the like: wait, do not spin.
                log::warn!("metrics: accept: {e}");
                std::thread::sleep(POLL * 5);
            }
        }
    }
}

/// Reads one request and answers it.
fn answer(mut stream: TcpStream, metrics: &Metrics, stop: &AtomicBool) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let Some(head) = read_head(&mut stream, stop)? else {
        return Ok(());
    };
    let complete = head.windows(4).any(|w| w == b"\r\n\r\n");
    let (status, body) = if !complete && head.len() >= MAX_REQUEST_BYTES {
        (
            "431 Request Header Fields Too Large",
            "request too large\n".to_string(),
        )
    } else {
        route(&head, metrics)
    };
    let content_type = if status.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let allow = if status.starts_with("405") {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    linger(&mut stream, stop)
}

/// Closes our side, then reads and drops what the client still sends (briefly): closing a socket
/// with unread input resets the connection, and the client could lose the reply.
fn linger(stream: &mut TcpStream, stop: &AtomicBool) -> io::Result<()> {
    stream.shutdown(std::net::Shutdown::Write)?;
    let deadline = Instant::now() + Duration::from_millis(500);
    let (mut chunk, mut drained) = ([0u8; 4096], 0usize);
    while drained < 1024 * 1024 && Instant::now() < deadline && !stop.load(Relaxed) {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if is_retry(&e) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// A read that found nothing yet (time-out, would block, interrupted): try again.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// The request up to the end of its headers (or the first [`MAX_REQUEST_BYTES`]); `None` when
/// the client sent nothing in time, closed, or the server is stopping.
fn read_head(stream: &mut TcpStream, stop: &AtomicBool) -> io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() >= MAX_REQUEST_BYTES {
            return Ok(Some(buf));
        }
        if stop.load(Relaxed) || Instant::now() >= deadline {
            return Ok((!buf.is_empty()).then_some(buf));
        }
        let room = (MAX_REQUEST_BYTES - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Ok((!buf.is_empty()).then_some(buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_retry(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Status line and body for a request head.
fn route(head: &[u8], metrics: &Metrics) -> (&'static str, String) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return ("400 Bad Request", "bad request\n".into());
    };
    if !version.starts_with("HTTP/") {
        return ("400 Bad Request", "bad request\n".into());
    }
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if path != "/metrics" {
        return ("404 Not Found", "not found: try /metrics\n".into());
    }
    if method != "GET" {
        return (
            "405 Method Not Allowed",
            "method not allowed: use GET\n".into(),
        );
    }
    ("200 OK", metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_value(text: &str, series: &str) -> Option<String> {
        text.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')
                .map(str::to_string)
        })
    }

    #[test]
    fn render_has_exact_lines_after_updates() {
        let m = Metrics::with_version("9.8.7");
        m.frames_received.set(1200);
        m.frames_processed.set(1190);
        m.frames_dropped.set(10);
        m.records_saved.inc();
        m.records_saved.add(2);
        m.records_unsaved.inc();
        m.session(Outcome::ReferForClinicalAssessment);
        m.session(Outcome::ReferForClinicalAssessment);
        m.session(Outcome::RepeatMeasurement);
        m.outbox_pending.set(4.0);
        m.outbox_oldest_age_seconds.set(12.5);
        m.uplink_connected.set_bool(true);
        m.camera_up.set_bool(true);
        m.store_writable.set_bool(false);
        let text = m.render();
        for line in [
            "edge_screen_build_info{version=\"9.8.7\"} 1",
            "edge_screen_frames_received_total 1200",
            "edge_screen_frames_processed_total 1190",
            "edge_screen_frames_dropped_total 10",
            "edge_screen_records_saved_total 3",
            "edge_screen_records_unsaved_total 1",
            "edge_screen_sessions_total{outcome=\"no_concern_found\"} 0",
            "edge_screen_sessions_total{outcome=\"refer_for_clinical_assessment\"} 2",
            "edge_screen_sessions_total{outcome=\"repeat_measurement\"} 1",
            "edge_screen_outbox_pending 4",
            "edge_screen_outbox_oldest_age_seconds 12.5",
            "edge_screen_uplink_connected 1",
            "edge_screen_camera_up 1",
            "edge_screen_store_writable 0",
            "# TYPE edge_screen_stage_seconds histogram",
            "# TYPE edge_screen_sessions_total counter",
            "# TYPE edge_screen_camera_up gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
        let uptime: f64 = line_value(&text, "edge_screen_uptime_seconds")
            .and_then(|v| v.parse().ok())
            .expect("uptime line");
        assert!((0.0..60.0).contains(&uptime), "uptime {uptime}");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_count_matches() {
        let m = Metrics::new();
        m.observe(Stage::Frame, Duration::from_micros(300)); // in le=0.0005
        m.observe(Stage::Frame, Duration::from_millis(20)); // in le=0.025
        let text = m.render();
        let frame = |suffix: &str| {
            line_value(&text, &format!("edge_screen_stage_seconds_{suffix}"))
                .unwrap_or_else(|| panic!("no {suffix} in\n{text}"))
        };
        assert_eq!(frame("count{stage=\"frame\"}"), "2");
        assert_eq!(frame("sum{stage=\"frame\"}"), "0.0203");
        assert_eq!(frame("bucket{stage=\"frame\",le=\"0.00005\"}"), "0");
        assert_eq!(frame("bucket{stage=\"frame\",le=\"0.00025\"}"), "0");
        assert_eq!(frame("bucket{stage=\"frame\",le=\"0.0005\"}"), "1");
        assert_eq!(frame("bucket{stage=\"frame\",le=\"0.01\"}"), "1");
        assert_eq!(frame("bucket{stage=\"frame\",le=\"0.025\"}"), "2");
        assert_eq!(frame("bucket{stage=\"frame\",le=\"1\"}"), "2");
        assert_eq!(frame("bucket{stage=\"frame\",le=\"+Inf\"}"), "2");
        assert_eq!(frame("count{stage=\"xray\"}"), "0");
        // Every stage's buckets rise monotonically, bounds ascend, and +Inf equals _count.
        for stage in Stage::ALL {
            let prefix = format!(
                "edge_screen_stage_seconds_bucket{{stage=\"{}\",le=\"",
                stage.name()
            );
            let buckets: Vec<(f64, u64)> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&prefix))
                .map(|rest| {
                    let (le, value) = rest.split_once("\"} ").expect("bucket line");
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().expect("le")
                    };
                    (le, value.parse().expect("count"))
                })
                .collect();
            assert!(buckets.len() >= 10, "{stage:?}: {} buckets", buckets.len());
            assert!(buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
            assert_eq!(buckets.last().map(|b| b.0), Some(f64::INFINITY));
            let count = m.stage(stage).count();
            assert_eq!(buckets.last().map(|b| b.1), Some(count));
        }
    }

    #[test]
    fn an_observation_on_a_bound_falls_in_that_bucket() {
        let h = Histogram::new(FRAME_BOUNDS);
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_secs(3600)); // above every bound
        let c = h.cumulative();
        assert_eq!(c[0], (Some(50_000), 1));
        assert_eq!(c[c.len() - 2], (Some(S), 1));
        assert_eq!(c[c.len() - 1], (None, 2));
    }

    #[test]
    fn exposition_parses_line_by_line() {
        let m = Metrics::with_version("1.0 \"quoted\"");
        m.observe(Stage::RecordCommit, Duration::from_millis(3));
        m.outbox_oldest_age_seconds.set(f64::NAN);
        let text = m.render();
        assert!(text.ends_with('\n'));
        let mut families = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(c) = line.strip_prefix("# ") {
                let mut w = c.splitn(3, ' ');
                let (kind, name) = (w.next(), w.next());
                assert!(matches!(kind, Some("HELP" | "TYPE")), "{line}");
                assert!(
                    name.is_some_and(|n| n.starts_with("edge_screen_")),
                    "{line}"
                );
                if kind == Some("TYPE") {
                    let t = w.next().unwrap_or_default();
                    assert!(["counter", "gauge", "histogram"].contains(&t), "{line}");
                    assert!(
                        families.insert(name.unwrap_or_default().to_string()),
                        "{line}"
                    );
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(name.starts_with("edge_screen_"), "{line}");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| families.contains(*b)))
                .unwrap_or(name);
            assert!(families.contains(base), "no TYPE before {line}");
            if name_end < series.len() {
                let labels = &series[name_end..];
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                for pair in split_labels(&labels[1..labels.len() - 1]) {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{line}"
                    );
                    assert!(
                        v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                        "{line}"
                    );
                }
            }
            assert!(
                value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
                "bad value in {line}"
            );
        }
        assert!(text.contains("edge_screen_outbox_oldest_age_seconds NaN\n"));
        assert!(text.contains("edge_screen_build_info{version=\"1.0 \\\"quoted\\\"\"} 1\n"));
    }

    /// Splits `a="x",b="y"` at the commas outside quotes.
    fn split_labels(s: &str) -> Vec<String> {
        let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
        for c in s.chars() {
            match c {
                ',' if !quoted => out.push(std::mem::take(&mut cur)),
                _ => {
                    if c == '"' && !escaped {
                        quoted = !quoted;
                    }
                    escaped = c == '\\' && !escaped;
                    cur.push(c);
                }
            }
        }
        out.push(cur);
        out
    }

    #[test]
    fn seconds_text_is_exact() {
        assert_eq!(seconds_text(50 * US), "0.00005");
        assert_eq!(seconds_text(2_500 * US), "0.0025");
        assert_eq!(seconds_text(S), "1");
        assert_eq!(seconds_text(2_500 * MS), "2.5");
        assert_eq!(value_text(f64::INFINITY), "+Inf");
    }

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(request.as_bytes()).expect("send");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("reply");
        reply
    }

    fn start() -> (SocketAddr, JoinHandle<()>, Arc<Metrics>, Arc<AtomicBool>) {
        let metrics = Arc::new(Metrics::new());
        let stop = Arc::new(AtomicBool::new(false));
        let any_port: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let (addr, handle) = serve(any_port, metrics.clone(), stop.clone()).expect("serve");
        assert_ne!(addr.port(), 0);
        (addr, handle, metrics, stop)
    }

    #[test]
    fn serves_metrics_over_tcp_and_stops() {
        let (addr, handle, metrics, stop) = start();
        metrics.frames_received.set(77);
        let reply = get(addr, "GET /metrics HTTP/1.1\r\nHost: kiosk\r\n\r\n");
        let (head, body) = reply.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        assert!(
            body.contains("\nedge_screen_frames_received_total 77\n"),
            "{body}"
        );

        let reply = get(addr, "GET /metricsx HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 404 Not Found\r\n"), "{reply}");
        let reply = get(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(
            reply.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{reply}"
        );
        assert!(reply.contains("Allow: GET\r\n"), "{reply}");
        let reply = get(addr, "hello\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
        // A request over 8 KiB is refused, and the refusal arrives (no reset).
        let long = format!("GET /metrics?{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
        let reply = get(addr, &long);
        assert!(
            reply.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{}",
            &reply[..reply.len().min(200)]
        );
        // A query string is not part of the path.
        let reply = get(addr, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));

        let t0 = Instant::now();
        stop.store(true, Relaxed);
        handle.join().expect("thread ends cleanly");
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        assert!(
            TcpStream::connect(addr).is_err(),
            "still listening after stop"
        );
    }

    #[test]
    fn a_silent_client_does_not_block_stop() {
        let (addr, handle, _metrics, stop) = start();
        let _silent = TcpStream::connect(addr).expect("connect");
        std::thread::sleep(Duration::from_millis(200)); // the server is now reading from it
        let t0 = Instant::now();
        stop.store(true, Relaxed);
        handle.join().expect("thread ends");
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    }

    #[test]
    fn bind_error_names_the_address() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr");
        let err = serve(
            addr,
            Arc::new(Metrics::new()),
            Arc::new(AtomicBool::new(false)),
        )
        .expect_err("address in use");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
