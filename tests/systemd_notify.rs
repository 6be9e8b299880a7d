//! The daemon under systemd's notify protocol, with the test as systemd: a datagram socket named by
//! `NOTIFY_SOCKET` and a watchdog interval in `WATCHDOG_USEC`. The daemon says READY=1 once set up,
//! pings the watchdog while frames are processed, keeps a STATUS= line, and says STOPPING=1.

mod util;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

#[test]
fn the_daemon_reports_ready_feeds_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let config = util::write(
        dir.path(),
        "k.toml",
        "[camera]\nwidth_px = 160\nheight_px = 120\nfps = 15\n\
         [metrics]\nlisten = \"\"\n[status]\ninterval_s = 0.5\n",
    );
    // A 2 s watchdog: pings are due every second; the run lasts ~6 s of wall time.
    let mut child = util::bin()
        .arg("--config")
        .arg(&config)
        .arg("--records")
        .arg(dir.path().join("records.db"))
        .args(["--camera", "sim", "--speed", "10", "--duration", "60"])
        .args(["--events", "/dev/null"])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "2000000")
        .spawn()
        .unwrap();
    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => messages.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
            }
        }
    }
    while let Ok(n) = sock.recv(&mut buf) {
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(child.wait().unwrap().success());
    let first = messages.first().map(String::as_str);
    assert_eq!(first, Some("READY=1"), "{messages:?}");
    let pings = messages.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(
        (3..=8).contains(&pings),
        "about one ping a second over ~6 s: {pings} in {messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("STATUS=camera ok") && m.contains("records saving")),
        "{messages:?}"
    );
    assert_eq!(
        messages.last().map(String::as_str),
        Some("STOPPING=1"),
        "{messages:?}"
    );
}
