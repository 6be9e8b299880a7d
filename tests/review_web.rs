//! The clinician review page in a real browser: a flagged chest X-ray screened by the real daemon
//! is reviewed in headless Chromium (driven through chromedriver's W3C WebDriver protocol), and the
//! review shows in `records show` and `review list`; cross-site and token-less POSTs are refused
//! 403 and store nothing.
//!
//! Needs Debian's `chromium` and `chromium-driver` (CI installs them in scripts/setup.sh); without
//! them the test fails saying how to install them.

mod util;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use util::mosquitto::free_port;
use util::{bin, json_lines, repo, run, site_folder, stderr, stdout, write};

const PASSWORD: &str = "correct horse battery";

/// Kills a child process when dropped (a failed assertion leaves nothing running).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// A chest film from `../shared/data/xray/covid` that the shipped model flags.
fn a_flagged_film(dir: &Path) -> PathBuf {
    let covid = repo().join("../shared/data/xray/covid");
    let mut films: Vec<PathBuf> = std::fs::read_dir(&covid)
        .unwrap_or_else(|e| panic!("{}: {e}", covid.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    films.sort();
    for film in films.iter().take(8) {
        let o = run(&["xray", "--json", film.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let r: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        if r["finding"] == "covid" {
            let copy = dir.join("flagged.png");
            std::fs::copy(film, &copy).unwrap();
            return copy;
        }
    }
    panic!("none of the first 8 covid films is flagged by the shipped model");
}

/// Runs the kiosk daemon on a simulated visitor, drops `film` into its inbox during the session,
/// and returns the session id once the daemon has finished.
fn screen_with_daemon(cfg: &Path, inbox: &Path, film: &Path, dir: &Path) -> String {
    let events = dir.join("events.jsonl");
    let child = bin()
        .args(["--config", cfg.to_str().unwrap(), "--camera", "sim"])
        .args(["--visits", "empty:3,eupnea@15:90,empty:8", "--speed", "5"])
        .args(["--events", events.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("edge-screen starts");
    let mut child = Running(child);
    let end = Instant::now() + Duration::from_secs(120);
    let id = loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        if let Some(e) = json_lines(&text)
            .into_iter()
            .find(|e| e["type"] == "session_started")
        {
            break e["session_id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < end, "no session started: {text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let part = inbox.join("chest.png.part");
    std::fs::copy(film, &part).unwrap();
    std::fs::rename(&part, inbox.join("chest.png")).unwrap();
    let status = child.0.wait().unwrap();
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    let ev = json_lines(&std::fs::read_to_string(&events).unwrap());
    let xray = ev.iter().find(|e| e["type"] == "xray").expect("screened");
    assert_eq!(xray["finding"], "covid", "{xray}");
    assert_eq!(xray["session_id"], id.as_str(), "{xray}");
    id
}

/// One HTTP/1.1 request over a fresh connection; (status, headers lower-cased, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    // Read the head, then exactly Content-Length bytes (chromedriver keeps connections open).
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if len.is_some_and(|n| raw.len() >= end + 4 + n) {
                break;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// A W3C WebDriver session on chromedriver.
struct Driver {
    port: u16,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Ends the browser (a failed assertion must not leave Chromium running).
        let _ = std::panic::catch_unwind(|| {
            http(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                "",
            )
        });
    }
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Driver {
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let text = if method == "GET" || method == "DELETE" {
            String::new()
        } else {
            body.to_string()
        };
        let (status, _, out) = http(
            self.port,
            method,
            path,
            &[("Content-Type", "application/json")],
            &text,
        );
        let v: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{method} {path}: {e}: {out}"));
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn cmd(&self, method: &str, what: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}/{what}", self.session), body)
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "url", json!({ "url": url }));
    }

    fn find(&self, css: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        let body = json!({"using": "css selector", "value": css}).to_string();
        // After a click the next page may still be loading: look again for up to 10 s, as a
        // person would wait for it.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _, out) = http(
                self.port,
                "POST",
                &path,
                &[("Content-Type", "application/json")],
                &body,
            );
            let v: Value = serde_json::from_str(&out).unwrap_or_default();
            match v["value"][ELEMENT].as_str() {
                Some(e) if status == 200 => return e.to_string(),
                _ if Instant::now() < until => std::thread::sleep(Duration::from_millis(100)),
                _ => panic!(
                    "{css}: not on the page at {}: {}",
                    self.url(),
                    self.cmd("GET", "source", json!({}))
                ),
            }
        }
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("element/{e}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("element/{e}/value"),
            json!({ "text": text }),
        );
    }

    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("element/{e}/text"), json!({}))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn script(&self, js: &str) -> Value {
        self.cmd("POST", "execute/sync", json!({"script": js, "args": []}))
    }

    fn url(&self) -> String {
        self.cmd("GET", "url", json!({}))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn start_chromedriver(dir: &Path) -> (Running, Driver) {
    let (Some(chromium), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
        panic!(
            "review_web needs a headless browser: install Debian's chromium and chromedriver with \
             `apt-get install -y chromium chromium-driver` (scripts/setup.sh does this for CI)"
        );
    };
    let port = free_port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let guard = Running(child);
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let (s, _, body) = http(port, "GET", "/status", &[], "");
            if s == 200 && body.contains("\"ready\":true") {
                break;
            }
        }
        assert!(Instant::now() < end, "chromedriver did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let profile = dir.join("chromium-profile");
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.to_str().unwrap(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", profile.display())]
        }
    }}});
    let (status, _, body) = http(
        port,
        "POST",
        "/session",
        &[("Content-Type", "application/json")],
        &caps.to_string(),
    );
    assert_eq!(status, 200, "new WebDriver session: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let session = v["value"]["sessionId"]
        .as_str()
        .expect("session id")
        .to_string();
    (guard, Driver { port, session })
}

/// `review serve` on a free port; returns the process and the port.
fn serve(cfg: &Path) -> (Running, u16) {
    let mut child = bin()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "review",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("review serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address printed: {line:?}"));
    (Running(child), port)
}

fn reviews_of_queue(cfg: &Path) -> Vec<Value> {
    let o = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "review",
        "list",
        "--all",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    json_lines(&stdout(&o))
}

fn cookie(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {headers:?}"))
        .to_string()
}

fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

#[test]
fn a_review_clicked_in_the_browser_is_stored_and_cross_site_posts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inbox = d.join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let db = d.join("records.db");
    let cfg = write(
        d,
        "kiosk.toml",
        &format!(
            "[camera]\nwidth_px = 424\nheight_px = 240\n[xray]\ninbox = {:?}\npoll_interval_s = 0.2\n\
             [records]\npath = {:?}\n[review]\npassword_file = \"reviewers\"\n",
            inbox.display().to_string(),
            db.display().to_string()
        ),
    );
    // The password file, written by the command (a salted hash, never the password).
    let mut p = bin()
        .args([
            "review",
            "passwd",
            "ana",
            "--file",
            d.join("reviewers").to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(p.wait().unwrap().success());
    let line = std::fs::read_to_string(d.join("reviewers")).unwrap();
    assert!(
        line.starts_with("ana:pbkdf2-sha256$") && !line.contains(PASSWORD),
        "{line}"
    );

    let film = a_flagged_film(d);
    let record_id = screen_with_daemon(&cfg, &inbox, &film, d);
    let queue = reviews_of_queue(&cfg);
    assert_eq!(queue.len(), 1, "{queue:?}");
    let item_id = queue[0]["id"].as_i64().unwrap();
    assert_eq!(queue[0]["record_id"], record_id.as_str());
    assert_eq!(
        (
            queue[0]["has_image"].as_bool(),
            queue[0]["has_heatmap"].as_bool()
        ),
        (Some(true), Some(true))
    );

    let (_server, port) = serve(&cfg);
    let base = format!("http://127.0.0.1:{port}");
    let (_chromedriver, driver) = start_chromedriver(d);

    // Sign in, open the film, check what is shown, click "confirmed COVID".
    driver.goto(&format!("{base}/"));
    assert!(driver.url().ends_with("/login"), "{}", driver.url());
    driver.type_into("#name", "ana");
    driver.type_into("#password", PASSWORD);
    let before = edge_now_ms();
    driver.click("#signin");
    assert_eq!(driver.text("#user"), "ana");
    driver.click(&format!("a[href='/item/{item_id}']"));
    let shown = driver.text("#probability");
    let p = queue[0]["covid_probability"].as_f64().unwrap();
    assert!(shown.starts_with(&format!("{p:.3}")), "{shown} vs {p}");
    assert_eq!(driver.text("#finding"), "covid");
    // Both images loaded from the server (decoded by the browser: a real width).
    for img in ["film", "heatmap"] {
        let w = driver.script(&format!(
            "const i = document.getElementById('{img}'); return i.complete ? i.naturalWidth : -1;"
        ));
        assert!(w.as_i64().unwrap_or(0) > 100, "{img}: naturalWidth {w}");
    }
    driver.type_into("#note", "bilateral opacities");
    driver.click("#verdict-covid");
    let saved = driver.text("#saved");
    assert!(
        saved.contains("confirmed COVID") && saved.contains("ana"),
        "{saved}"
    );
    let after = edge_now_ms();
    drop(driver);

    // The review is in the record and in the queue, with who and when.
    let o = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "records",
        "show",
        &record_id,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rec: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let reviews = rec["reviews"].as_array().expect("reviews in the record");
    assert_eq!(reviews.len(), 1, "{rec}");
    assert_eq!(
        (
            reviews[0]["reviewer"].as_str(),
            reviews[0]["verdict"].as_str()
        ),
        (Some("ana"), Some("covid"))
    );
    assert_eq!(reviews[0]["note"], "bilateral opacities");
    let at = reviews[0]["reviewed_unix_ms"].as_i64().unwrap();
    assert!(
        (before..=after).contains(&at),
        "{before} <= {at} <= {after}"
    );
    let item = &reviews_of_queue(&cfg)[0];
    assert_eq!(item["reviews"][0]["reviewer"], "ana");
    assert_eq!(item["reviews"][0]["reviewed_unix_ms"].as_i64(), Some(at));

    // Cross-site and token-less POSTs, with a valid signed-in session: 403, nothing stored.
    let (_, h, html) = http(port, "GET", "/login", &[], "");
    let login_cookie = cookie(&h, "es_login");
    let login_csrf = hidden_csrf(&html);
    let origin = base.as_str();
    let form = format!(
        "csrf={login_csrf}&name=ana&password={}",
        PASSWORD.replace(' ', "+")
    );
    let (s, h, _) = http(
        port,
        "POST",
        "/login",
        &[
            ("Origin", origin),
            ("Cookie", &format!("es_login={login_cookie}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &form,
    );
    assert_eq!(s, 303);
    let session = format!("es_session={}", cookie(&h, "es_session"));
    let (_, _, page) = http(
        port,
        "GET",
        &format!("/item/{item_id}"),
        &[("Cookie", &session)],
        "",
    );
    let csrf = hidden_csrf(&page);
    let path = format!("/item/{item_id}/review");
    let good = format!("csrf={csrf}&verdict=normal");
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let host = format!("127.0.0.1:{port}");
    type Attempt<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);
    let attempts: Vec<Attempt> = vec![
        (
            "another site's Origin",
            vec![
                ("Origin", "http://evil.example"),
                ("Cookie", &session),
                form_type,
            ],
            good.clone(),
        ),
        (
            "no Origin or Referer",
            vec![("Cookie", &session), form_type],
            good.clone(),
        ),
        (
            "another site's Referer",
            vec![
                ("Referer", "http://evil.example/x"),
                ("Cookie", &session),
                form_type,
            ],
            good.clone(),
        ),
        (
            "no token",
            vec![("Origin", origin), ("Cookie", &session), form_type],
            "verdict=normal".into(),
        ),
        (
            "a wrong token",
            vec![("Origin", origin), ("Cookie", &session), form_type],
            format!("csrf={}&verdict=normal", "0".repeat(64)),
        ),
        (
            "a rebound Host",
            vec![
                ("Host", "evil.example"),
                ("Origin", "http://evil.example"),
                ("Cookie", &session),
                form_type,
            ],
            good.clone(),
        ),
    ];
    for (what, headers, body) in &attempts {
        let (s, _, _) = http(port, "POST", &path, headers, body);
        assert_eq!(s, 403, "{what}");
    }
    let count = |cfg: &Path| {
        reviews_of_queue(cfg)[0]["reviews"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&cfg), 1, "a refused POST stored nothing");
    // The same request from the page itself is taken (so the refusals above were the checks').
    let (s, h, _) = http(
        port,
        "POST",
        &path,
        &[
            ("Origin", origin),
            ("Cookie", &session),
            form_type,
            ("Host", &host),
        ],
        &good,
    );
    assert_eq!(s, 303, "{h:?}");
    assert_eq!(count(&cfg), 2);

    // Password guessing: five wrong passwords in a row lock the name; then even the right password
    // is answered 429 (and no session is given), while another name may still try.
    let sign_in = |name: &str, password: &str| {
        let body = format!(
            "csrf={login_csrf}&name={name}&password={}",
            password.replace(' ', "+")
        );
        http(
            port,
            "POST",
            "/login",
            &[
                ("Origin", origin),
                ("Cookie", &format!("es_login={login_cookie}")),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &body,
        )
    };
    for k in 1..5 {
        let (s, _, _) = sign_in("ana", "wrong guess");
        assert_eq!(s, 401, "wrong password {k}");
    }
    let (s, _, html) = sign_in("ana", "wrong guess");
    assert_eq!(s, 429, "the fifth wrong password locks the name");
    assert!(html.contains("Too many failed sign-ins"), "{html}");
    let (s, h, _) = sign_in("ana", PASSWORD);
    assert_eq!(s, 429, "locked even with the right password");
    assert!(
        !h.iter()
            .any(|(n, v)| n == "set-cookie" && v.contains("es_session=")),
        "{h:?}"
    );
    let (s, _, _) = sign_in("ben", "wrong guess");
    assert_eq!(s, 401, "another name is not locked");

    // The reviews feed site validation: `xray-validate --from-reviews` counts the film under its
    // latest review (ana's second one, normal) beside a labelled folder of 25 + 25 films; if the
    // reviewed film is also one of the labelled ones, it is counted once, under its label.
    let (labels, films, picked) = site_folder(d);
    let reviewed = std::fs::read(&film).unwrap();
    let also_labelled = picked
        .iter()
        .any(|(f, _)| std::fs::read(films.join(f)).unwrap() == reviewed);
    let site = d.join("site.json");
    let o = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "xray-validate",
        "--from-reviews",
        "--labels",
        labels.to_str().unwrap(),
        films.to_str().unwrap(),
        "--out",
        site.to_str().unwrap(),
        "--target-specificity",
        "0.5",
        "--min-sensitivity",
        "0.5",
        "--json",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "stderr: {err}");
    assert!(
        err.contains("1 reviewed films") && err.contains("(0 covid, 1 normal; 0 not assessable"),
        "{err}"
    );
    let cal: Value = serde_json::from_str(&std::fs::read_to_string(&site).unwrap()).unwrap();
    assert_eq!(cal["counts"]["covid"], 25, "{cal}");
    if also_labelled {
        assert!(
            err.contains("the same image as") && err.contains("counted once"),
            "{err}"
        );
        assert_eq!(cal["counts"]["normal"], 25, "counted once: {cal}");
    } else {
        assert_eq!(
            cal["counts"]["normal"], 26,
            "the reviewed film is counted: {cal}"
        );
    }
    assert!(
        cal["labels"].as_str().unwrap().contains("reviews in"),
        "{cal}"
    );
}

fn edge_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
