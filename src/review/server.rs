//! The review web page: a small HTTP/1.1 server on a plain `TcpListener` (as the metrics one),
//! for clinicians to review flagged films in a browser.
//!
//! Security, in order: it listens on loopback unless `[review] allow_remote` says otherwise; every
//! request's `Host` must be the address served (DNS-rebinding), every POST must come from the
//! page itself (`Origin`, else `Referer`) and carry the form token of its session (the login form a
//! token matching its cookie), or it is refused `403` and nothing is stored. Sessions are random
//! 256-bit tokens in an `HttpOnly; SameSite=Strict` cookie that expire after [`SESSION_TTL`]. The
//! reviewer recorded is the signed-in user. Requests are bounded in size and time, a handful of
//! connections are served at once, and a bad request gets an error status, never a panic. Five
//! failed sign-ins in a row lock that name for 5 minutes, doubling up to an hour
//! ([`super::throttle`]); a locked name is answered `429` even with the right password.

use super::http::{read_request, ReadError, Request, Response};
use super::pages;
use super::password::{hex, random_bytes, Credential};
use super::throttle::SignInThrottle;
use crate::records::review::Verdict;
use crate::records::store::{unix_ms_now, Store, StoreError};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a sign-in lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Connections served at once; more are answered `503`.
pub const MAX_CONNECTIONS: usize = 16;
/// Signed-in sessions kept at once (the oldest goes first).
const MAX_SESSIONS: usize = 256;
const POLL: Duration = Duration::from_millis(50);
const SESSION_COOKIE: &str = "es_session";
const LOGIN_COOKIE: &str = "es_login";

struct Session {
    user: String,
    csrf: String,
    expires: Instant,
}

struct Shared {
    store: Mutex<Store>,
    reviewers: Vec<Credential>,
    sessions: Mutex<HashMap<String, Session>>,
    /// Failed sign-ins per name (locks a name after several in a row).
    throttle: Mutex<SignInThrottle>,
    /// `Host` values accepted; empty = any (an unspecified listen address).
    hosts: Vec<String>,
    active: AtomicUsize,
}

/// A running review server.
pub struct Running {
    /// The address served (port 0 asked = the one picked).
    pub addr: SocketAddr,
    /// The accepting thread; ends after `stop` is set.
    pub handle: JoinHandle<()>,
}

/// Starts serving the review page for `store` on `listen` until `stop` is set. `reviewers` come
/// from the password file. A bind error names the address.
pub fn serve(
    listen: SocketAddr,
    store: Store,
    reviewers: Vec<Credential>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Running> {
    let named =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("review page on {listen}: {e}"));
    let listener = TcpListener::bind(listen).map_err(named)?;
    listener.set_nonblocking(true).map_err(named)?;
    let addr = listener.local_addr().map_err(named)?;
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        reviewers,
        sessions: Mutex::new(HashMap::new()),
        throttle: Mutex::new(SignInThrottle::default()),
        hosts: allowed_hosts(addr),
        active: AtomicUsize::new(0),
    });
    let handle = std::thread::Builder::new()
        .name("review-web".into())
        .spawn(move || accept_loop(&listener, &shared, &stop))
        .map_err(named)?;
    Ok(Running { addr, handle })
}

/// The `Host` headers that name this server.
fn allowed_hosts(addr: SocketAddr) -> Vec<String> {
    if addr.ip().is_unspecified() {
        return Vec::new();
    }
    let mut v = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        v.push(format!("localhost:{}", addr.port()));
    }
    v
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) {
    while !stop.load(Relaxed) {
        match listener.accept() {
            Ok((mut stream, peer)) => {
                let _ = stream.set_nonblocking(false);
                if shared.active.fetch_add(1, Relaxed) >= MAX_CONNECTIONS {
                    shared.active.fetch_sub(1, Relaxed);
                    let _ = Response::text("503 Service Unavailable", "busy: try again")
                        .write_to(&mut stream);
                    continue;
                }
                let sh = Arc::clone(shared);
                let spawned = std::thread::Builder::new()
                    .name("review-conn".into())
                    .spawn(move || {
                        answer(&sh, &mut stream, peer);
                        sh.active.fetch_sub(1, Relaxed);
                    });
                if let Err(e) = spawned {
                    shared.active.fetch_sub(1, Relaxed);
                    log::warn!("review page: cannot start a connection thread: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::warn!("review page: accept: {e}");
                std::thread::sleep(POLL * 5);
            }
        }
    }
}

fn answer(shared: &Shared, stream: &mut TcpStream, peer: SocketAddr) {
    let response = match read_request(stream) {
        Ok(req) => {
            let r = route(shared, &req);
            log::debug!(
                "review page: {peer}: {} {} -> {}",
                req.method,
                req.path,
                r.status
            );
            r
        }
        Err(ReadError::Gone) => return,
        Err(ReadError::Bad(why)) => Response::text("400 Bad Request", why),
        Err(ReadError::TooLarge(status)) => Response::text(status, "request too large"),
    };
    if let Err(e) = response.write_to(stream) {
        log::debug!("review page: {peer}: {e}");
    }
}

fn forbidden(why: &str) -> Response {
    Response::html("403 Forbidden", pages::error("Refused", why))
}

/// Whether a request names this server (`Host`).
fn host_ok<'a>(shared: &Shared, req: &'a Request) -> Option<&'a str> {
    let host = req.header("host")?;
    (shared.hosts.is_empty() || shared.hosts.iter().any(|h| h == host)).then_some(host)
}

/// Whether a POST comes from this page: its `Origin` (or, without one, its `Referer`) is this
/// server as the browser addressed it.
fn same_origin(req: &Request, host: &str) -> bool {
    let ours = format!("http://{host}");
    match (req.header("origin"), req.header("referer")) {
        (Some(o), _) => o == ours,
        (None, Some(r)) => r == ours || r.starts_with(&format!("{ours}/")),
        (None, None) => false,
    }
}

fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn new_token() -> Option<String> {
    random_bytes(32).ok().map(|b| hex(&b))
}

fn route(shared: &Shared, req: &Request) -> Response {
    let Some(host) = host_ok(shared, req) else {
        return forbidden("This page is served only under the address it listens on.");
    };
    let session = req.cookie(SESSION_COOKIE).and_then(|t| {
        let mut sessions = shared.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions
            .get(t)
            .map(|s| (t.to_string(), s.user.clone(), s.csrf.clone()))
    });
    if req.method == "POST" {
        if !same_origin(req, host) {
            return forbidden("Cross-site request refused.");
        }
        let token_ok = match (req.path.as_str(), &session) {
            ("/login", _) => match (req.form("csrf"), req.cookie(LOGIN_COOKIE)) {
                (Some(f), Some(c)) => !c.is_empty() && same_token(&f, c),
                _ => false,
            },
            (_, Some((_, _, csrf))) => req.form("csrf").is_some_and(|f| same_token(&f, csrf)),
            (_, None) => return Response::redirect("/login"),
        };
        if !token_ok {
            return forbidden(
                "The form's token is missing or wrong: reload the page and try again.",
            );
        }
    } else if req.method != "GET" {
        return Response::text("405 Method Not Allowed", "use GET or POST")
            .with("Allow", "GET, POST".into());
    }
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice(), &session) {
        ("GET", ["login"], _) => login_page(req, None),
        ("POST", ["login"], _) => login(shared, req),
        ("GET", ["favicon.ico"], _) => Response::text("404 Not Found", "no icon"),
        (_, _, None) => Response::redirect("/login"),
        ("POST", ["logout"], Some((token, _, _))) => {
            shared
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(token);
            Response::redirect("/login").with(
                "Set-Cookie",
                format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
            )
        }
        ("GET", [""], Some((_, user, csrf))) => {
            let all = req.query.split('&').any(|kv| kv == "all=1");
            with_store(shared, |s| s.review_queue(all))
                .map(|items| Response::html("200 OK", pages::queue(&items, all, user, csrf)))
                .unwrap_or_else(|r| r)
        }
        ("GET", ["item", id], Some((_, user, csrf))) => item_page(shared, id, user, csrf),
        ("GET", ["item", id, which @ ("film" | "heatmap")], _) => image(shared, id, which),
        ("POST", ["item", id, "review"], Some((_, user, _))) => review(shared, req, id, user),
        ("GET", ["done", id], Some((_, user, csrf))) => done_page(shared, id, user, csrf),
        _ => Response::html("404 Not Found", pages::error("Not found", "No such page.")),
    }
}

/// Runs `f` on the store; a store error is logged and becomes a `500` page (or `404` for an item
/// that does not exist).
fn with_store<T>(
    shared: &Shared,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
) -> Result<T, Response> {
    let mut store = shared.store.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut store).map_err(|e| match e {
        StoreError::NotFound { .. } => {
            Response::html("404 Not Found", pages::error("Not found", "No such film."))
        }
        StoreError::BadReview { problem, .. } => {
            Response::html("400 Bad Request", pages::error("Not saved", &problem))
        }
        e => {
            log::error!("review page: {e}");
            Response::html(
                "500 Internal Server Error",
                pages::error("Store error", &e.to_string()),
            )
        }
    })
}

fn parse_id(id: &str) -> Result<i64, Response> {
    id.parse::<i64>()
        .ok()
        .filter(|&i| i > 0)
        .ok_or_else(|| Response::html("404 Not Found", pages::error("Not found", "No such film.")))
}

/// The sign-in form. Its token is the one in the browser's login cookie when it has one (a second
/// tab or a background request must not invalidate the form already shown), else a new one.
fn login_page(req: &Request, error: Option<&str>) -> Response {
    let kept = req
        .cookie(LOGIN_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string);
    let Some(token) = kept.or_else(new_token) else {
        return Response::text("500 Internal Server Error", "no random source");
    };
    let status = if error.is_some() {
        "401 Unauthorized"
    } else {
        "200 OK"
    };
    Response::html(status, pages::login(&token, error)).with(
        "Set-Cookie",
        format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600"),
    )
}

/// The sign-in page with a lock message, `429`.
fn locked_page(req: &Request, left: Duration) -> Response {
    let minutes = left.as_secs().div_ceil(60).max(1);
    let mut page = login_page(
        req,
        Some(&format!(
            "Too many failed sign-ins for this name: try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        )),
    );
    page.status = "429 Too Many Requests";
    page
}

fn login(shared: &Shared, req: &Request) -> Response {
    let name = req.form("name").unwrap_or_default();
    let password = req.form("password").unwrap_or_default();
    let throttle = || shared.throttle.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(left) = throttle().locked_for(&name, Instant::now()) {
        log::warn!("review page: sign-in for {name:?} refused: locked after repeated failures");
        return locked_page(req, left);
    }
    let found = shared.reviewers.iter().find(|c| c.name == name);
    // An unknown name costs as long as a wrong password (no telling which names exist).
    let ok = match found {
        Some(c) => c.verify(&password),
        None => {
            if let Some(c) = shared.reviewers.first() {
                let _ = c.verify(&password);
            }
            false
        }
    };
    if !ok {
        log::warn!("review page: failed sign-in for {name:?}");
        if let Some(lock) = throttle().failed(&name, Instant::now()) {
            log::warn!(
                "review page: {name:?} locked for {} s after repeated failed sign-ins",
                lock.as_secs()
            );
            return locked_page(req, lock);
        }
        return login_page(req, Some("Wrong name or password."));
    }
    throttle().succeeded(&name);
    let (Some(token), Some(csrf)) = (new_token(), new_token()) else {
        return Response::text("500 Internal Server Error", "no random source");
    };
    {
        let mut sessions = shared.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            token.clone(),
            Session {
                user: name.clone(),
                csrf,
                expires: Instant::now() + SESSION_TTL,
            },
        );
    }
    log::info!("review page: {name} signed in");
    Response::redirect("/").with(
        "Set-Cookie",
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
            SESSION_TTL.as_secs()
        ),
    )
}

fn is_browser_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xff, 0xd8, 0xff])
}

fn item_page(shared: &Shared, id: &str, user: &str, csrf: &str) -> Response {
    let r = parse_id(id).and_then(|id| {
        with_store(shared, |s| {
            let item = s.review_item(id)?;
            let (film, _) = s.review_images(id)?;
            Ok((item, film.is_some_and(|f| is_browser_image(&f))))
        })
    });
    match r {
        Ok((item, viewable)) => Response::html("200 OK", pages::item(&item, viewable, user, csrf)),
        Err(r) => r,
    }
}

fn image(shared: &Shared, id: &str, which: &str) -> Response {
    let r = parse_id(id).and_then(|id| with_store(shared, |s| s.review_images(id)));
    let (film, heatmap) = match r {
        Ok(x) => x,
        Err(r) => return r,
    };
    let bytes = if which == "film" { film } else { heatmap };
    let Some(bytes) = bytes else {
        return Response::text("404 Not Found", "not kept");
    };
    let content_type = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else {
        "application/octet-stream"
    };
    Response {
        status: "200 OK",
        content_type,
        headers: Vec::new(),
        body: bytes,
    }
}

fn review(shared: &Shared, req: &Request, id: &str, user: &str) -> Response {
    let Some(verdict) = req.form("verdict").as_deref().and_then(Verdict::parse) else {
        return Response::html(
            "400 Bad Request",
            pages::error("Not saved", "Choose one of the three verdicts."),
        );
    };
    let note = req.form("note");
    let r = parse_id(id).and_then(|id| {
        with_store(shared, |s| {
            s.add_review(id, user, verdict, note.as_deref(), unix_ms_now())
        })
    });
    match r {
        Ok(rev) => {
            log::info!(
                "review page: film #{} marked {} by {user}",
                rev.item_id,
                rev.verdict.name()
            );
            Response::redirect(&format!("/done/{}", rev.item_id))
        }
        Err(r) => r,
    }
}

fn done_page(shared: &Shared, id: &str, user: &str, csrf: &str) -> Response {
    let r = parse_id(id).and_then(|id| {
        with_store(shared, |s| {
            let item = s.review_item(id)?;
            let next = s.review_queue(false)?.first().map(|i| i.id);
            Ok((item, next))
        })
    });
    match r {
        Ok((item, next)) => match item.reviews.iter().rev().find(|r| r.reviewer == user) {
            Some(rev) => Response::html("200 OK", pages::done(rev, next, user, csrf)),
            None => Response::redirect(&format!("/item/{}", item.id)),
        },
        Err(r) => r,
    }
}
