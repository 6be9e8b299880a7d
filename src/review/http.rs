//! Just enough HTTP/1.1 for the review page: read one bounded request from a socket (with a
//! deadline), parse its head, form body and cookies, and write one response. One request per
//! connection (`Connection: close`); nothing here panics on what a client sends.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Longest request head (request line and headers), bytes.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Longest request body (a login or review form), bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Time a client has to send its whole request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query (after `?`), possibly empty.
    pub query: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (a form).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// A field of an `application/x-www-form-urlencoded` body.
    pub fn form(&self, name: &str) -> Option<String> {
        let body = std::str::from_utf8(&self.body).ok()?;
        body.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| url_decode(k).as_deref() == Some(name))
            .and_then(|(_, v)| url_decode(v))
    }
}

/// Why a request could not be read; each maps to a status.
#[derive(Debug, PartialEq)]
pub enum ReadError {
    /// Nothing (or not all) arrived before the deadline, or the client closed: no answer.
    Gone,
    /// Not HTTP/1.x: 400.
    Bad(&'static str),
    /// Head or body over the bounds: 431 / 413.
    TooLarge(&'static str),
}

/// Reads one request within [`REQUEST_TIMEOUT`] (a slow client is dropped, not waited on).
pub fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut buf = Vec::with_capacity(2048);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() >= MAX_HEAD_BYTES {
            return Err(ReadError::TooLarge("431 Request Header Fields Too Large"));
        }
        read_some(stream, &mut buf, MAX_HEAD_BYTES + MAX_BODY_BYTES, deadline)?;
    };
    let mut req = parse_head(&buf[..head_end])?;
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| ReadError::Bad("bad Content-Length"))?,
    };
    if req.header("transfer-encoding").is_some() {
        return Err(ReadError::Bad("chunked bodies are not accepted"));
    }
    if len > MAX_BODY_BYTES {
        return Err(ReadError::TooLarge("413 Content Too Large"));
    }
    while buf.len() < head_end + len {
        read_some(stream, &mut buf, head_end + len, deadline)?;
    }
    req.body = buf[head_end..head_end + len].to_vec();
    Ok(req)
}

fn read_some(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    limit: usize,
    deadline: Instant,
) -> Result<(), ReadError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ReadError::Gone);
    }
    stream
        .set_read_timeout(Some(left))
        .map_err(|_| ReadError::Gone)?;
    let mut chunk = [0u8; 4096];
    let room = limit.saturating_sub(buf.len()).clamp(1, chunk.len());
    match stream.read(&mut chunk[..room]) {
        Ok(0) => Err(ReadError::Gone),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(_) => Err(ReadError::Gone),
    }
}

/// Parses a request head (up to and including the blank line).
pub fn parse_head(head: &[u8]) -> Result<Request, ReadError> {
    let text = std::str::from_utf8(head).map_err(|_| ReadError::Bad("not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad("bad request line"));
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(ReadError::Bad("bad request line"));
    }
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (n, v) = l.split_once(':').ok_or(ReadError::Bad("bad header"))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        path: target.split(['?', '#']).next().unwrap_or("/").to_string(),
        query: target
            .split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or_default().to_string())
            .unwrap_or_default(),
        headers,
        body: Vec::new(),
    })
}

/// Decodes `%XX` and `+`; `None` when malformed or not UTF-8.
pub fn url_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A response to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Status line text, e.g. `200 OK`.
    pub status: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers (`Location`, `Set-Cookie`).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// An HTML page.
    pub fn html(status: &'static str, body: String) -> Response {
        Response {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// A plain-text message.
    pub fn text(status: &'static str, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: format!("{body}\n").into_bytes(),
        }
    }

    /// `303 See Other` to `location`.
    pub fn redirect(location: &str) -> Response {
        Response::text("303 See Other", "see other").with("Location", location.to_string())
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// Writes the response (with the page's security headers) and closes our side.
    pub fn write_to(&self, stream: &mut TcpStream) -> io::Result<()> {
        stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        let mut head = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
             X-Frame-Options: DENY\r\nReferrer-Policy: same-origin\r\n\
             Content-Security-Policy: default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(&self.body)?;
        stream.flush()?;
        stream.shutdown(std::net::Shutdown::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_parses_with_cookies_and_a_form() {
        let mut r = parse_head(
            b"POST /item/3/review?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9755\r\n\
              Cookie: a=1; es_session=abc\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/item/3/review")
        );
        assert_eq!(r.header("host"), Some("127.0.0.1:9755"));
        assert_eq!(r.cookie("es_session"), Some("abc"));
        assert_eq!(r.cookie("nope"), None);
        r.body = b"verdict=covid&note=a+b%21&csrf=%E2%9C%93".to_vec();
        assert_eq!(r.form("verdict").as_deref(), Some("covid"));
        assert_eq!(r.form("note").as_deref(), Some("a b!"));
        assert_eq!(r.form("csrf").as_deref(), Some("\u{2713}"));
        assert_eq!(r.form("missing"), None);
    }

    #[test]
    fn malformed_heads_are_errors_not_panics() {
        for bad in [
            &b"\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / FTP/1.0\r\n\r\n",
            b"GET nothing HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"\xff\xfe / HTTP/1.1\r\n\r\n",
        ] {
            assert!(matches!(parse_head(bad), Err(ReadError::Bad(_))), "{bad:?}");
        }
        assert_eq!(url_decode("%zz"), None);
        assert_eq!(url_decode("%4"), None);
        assert_eq!(url_decode("%ff"), None);
    }
}
