//! The HTTP/1.1 layer of `serve`, with every limit stated: a request's head (request line and
//! headers) at most [`MAX_HEAD`] bytes, its body at most [`super::MAX_BODY`] bytes sent with a
//! `Content-Length` (no chunked bodies), each read or write on a connection waited for at most
//! [`IO_TIMEOUT`], a body received whole within [`BODY_DEADLINE`], at most [`MAX_CONNECTIONS`]
//! connections at once (the next ones get a 503). Keep-alive as HTTP/1.1 defines it.

use super::MAX_BODY;
use std::io::{BufRead, Read, Write};
use std::time::{Duration, Instant};

/// Largest request head accepted (request line and headers); more gets a 431.
pub const MAX_HEAD: usize = 16 << 10;
/// Longest wait for any one read or write on a connection, and for a next request on an idle
/// kept-alive one: a client that stops sending or reading is dropped after it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time a request's body may take to arrive whole, however it trickles in.
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);
/// Connections served at once, each on its own thread; a slow client holds one of these, never
/// a classifier.
pub const MAX_CONNECTIONS: usize = 256;

/// A request method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// Any other, as sent.
    Other(String),
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::Get => f.write_str("GET"),
            Method::Post => f.write_str("POST"),
            Method::Other(m) => f.write_str(m),
        }
    }
}

/// A request as [`super::handle`] sees it, with the body already read.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The URL as sent (path and query).
    pub url: String,
    /// The `Content-Type` header's value, if sent.
    pub content_type: Option<String>,
    /// The body, or why it was not read whole.
    pub body: Result<Vec<u8>, BodyError>,
}

/// Why a request's body was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// It is larger than [`MAX_BODY`].
    TooLarge,
    /// It did not arrive within [`BODY_DEADLINE`] (or a read waited past [`IO_TIMEOUT`]).
    TooSlow,
    /// Reading it failed (the client went away).
    Unreadable(String),
}

/// An answer: status, content type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header's value.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON answer.
    pub fn json(status: u16, body: String) -> Self {
        HttpResponse {
            status,
            content_type: "application/json",
            body: body.into_bytes(),
        }
    }

    /// A JSON `{"error": message}` answer.
    pub fn error(status: u16, message: impl std::fmt::Display) -> Self {
        let body = serde_json::json!({ "error": message.to_string() }).to_string();
        HttpResponse::json(status, body)
    }

    /// Writes the answer; `close` says the connection ends after it.
    fn write_to(&self, out: &mut impl Write, close: bool) -> std::io::Result<()> {
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
            if close { "Connection: close\r\n" } else { "" },
        );
        out.write_all(head.as_bytes())?;
        out.write_all(&self.body)?;
        out.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A request's head.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Head {
    method: Method,
    url: String,
    content_type: Option<String>,
    content_length: usize,
    keep_alive: bool,
    expects_continue: bool,
}

/// Reads a request's head; `Ok(None)` when the connection ended cleanly before one began. An
/// error is the answer to send before closing (none when the client went away or timed out).
fn read_head(reader: &mut impl BufRead) -> Result<Option<Head>, Option<HttpResponse>> {
    let bad = |why: &str| Some(HttpResponse::error(400, why));
    let mut head = Vec::new();
    loop {
        let room = (MAX_HEAD + 1).saturating_sub(head.len()) as u64;
        let before = head.len();
        match reader.by_ref().take(room).read_until(b'\n', &mut head) {
            Ok(0) if head.is_empty() => return Ok(None),
            Ok(0) => return Err(None), // closed mid-head
            Ok(_) => {}
            Err(_) => return Err(None),
        }
        if head.len() > MAX_HEAD {
            return Err(Some(HttpResponse::error(
                431,
                format!("the request head is larger than {} KiB", MAX_HEAD >> 10),
            )));
        }
        let line = &head[before..];
        // Blank lines before the request line are allowed (RFC 9112 §2.2); one after it ends the head.
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                head.clear();
                continue;
            }
            break;
        }
    }
    let text = std::str::from_utf8(&head).map_err(|_| bad("the request head is not text"))?;
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(url), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(bad("only HTTP/1.0 and HTTP/1.1 are spoken here")),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || !url.starts_with('/')
    {
        return Err(bad("malformed request line"));
    }
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        other => Method::Other(other.to_string()),
    };
    let mut parsed = Head {
        method,
        url: url.to_string(),
        content_type: None,
        content_length: 0,
        keep_alive: http11,
        expects_continue: false,
    };
    let mut length: Option<usize> = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("malformed header"))?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(bad("malformed header"));
        }
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-type" => parsed.content_type = Some(value.to_string()),
            "content-length" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| bad("Content-Length is not a number"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("two different Content-Lengths"));
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                return Err(Some(HttpResponse::error(
                    411,
                    "send the body with a Content-Length (chunked bodies are not accepted)",
                )))
            }
            "connection" => {
                let value = value.to_ascii_lowercase();
                if value.contains("close") {
                    parsed.keep_alive = false;
                } else if value.contains("keep-alive") {
                    parsed.keep_alive = true;
                }
            }
            "expect" => parsed.expects_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    parsed.content_length = length.unwrap_or(0);
    Ok(Some(parsed))
}

/// Reads a body of `length` bytes begun at `start`, keeping it when `keep` (a body too large to
/// keep is still read, within the deadline, so that a client that sends before it reads sees
/// the 413 rather than a reset).
fn read_body(
    reader: &mut impl Read,
    length: usize,
    start: Instant,
    keep: bool,
) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::with_capacity(if keep { length.min(64 << 10) } else { 0 });
    let mut chunk = [0u8; 16 << 10];
    let mut read = 0;
    while read < length {
        let want = chunk.len().min(length - read);
        match reader.read(&mut chunk[..want]) {
            Ok(0) => {
                return Err(BodyError::Unreadable(
                    "the client closed the connection".into(),
                ))
            }
            Ok(n) => {
                if keep {
                    body.extend_from_slice(&chunk[..n]);
                }
                read += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(BodyError::TooSlow)
            }
            Err(e) => return Err(BodyError::Unreadable(e.to_string())),
        }
        if start.elapsed() > BODY_DEADLINE {
            return Err(BodyError::TooSlow);
        }
    }
    Ok(body)
}

/// The first request in `bytes` (what a client sent on a connection), read as the server reads
/// it: `Ok(None)` when there is none, an error with the answer its head gets (none when the
/// head is cut short). The HTTP fuzz target calls this, then [`super::handle`].
pub fn parse(bytes: &[u8]) -> Result<Option<HttpRequest>, Option<HttpResponse>> {
    let mut reader = bytes;
    let Some(head) = read_head(&mut reader)? else {
        return Ok(None);
    };
    Ok(Some(request_of(head, &mut reader, Instant::now())))
}

/// The request with its body read (or why not).
fn request_of(head: Head, reader: &mut impl Read, start: Instant) -> HttpRequest {
    let keep = head.content_length <= MAX_BODY;
    let body = read_body(reader, head.content_length, start, keep);
    let body = if keep { body } else { Err(BodyError::TooLarge) };
    HttpRequest {
        method: head.method,
        url: head.url,
        content_type: head.content_type,
        body,
    }
}

/// Serves the requests of one connection in turn with `answer`, until the client closes it, a
/// request asks to close, a limit is passed, or `stopping` says so.
pub(super) fn serve_connection(
    stream: std::net::TcpStream,
    answer: impl Fn(HttpRequest) -> Option<HttpResponse>,
    stopping: impl Fn() -> bool,
) {
    let configured = stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.set_nodelay(true));
    let (Ok(()), Ok(mut out)) = (configured, stream.try_clone()) else {
        return;
    };
    let mut reader = std::io::BufReader::new(stream);
    while !stopping() {
        let head = match read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) | Err(None) => return,
            Err(Some(response)) => {
                let _ = response.write_to(&mut out, true);
                return;
            }
        };
        if head.expects_continue && out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
            return;
        }
        let keep_alive = head.keep_alive;
        let request = request_of(head, &mut reader, Instant::now());
        let whole = request.body.is_ok();
        if matches!(request.body, Err(BodyError::Unreadable(_))) {
            return; // nobody to answer
        }
        let Some(response) = answer(request) else {
            return; // stopping
        };
        let close = !(keep_alive && whole);
        if response.write_to(&mut out, close).is_err() || close {
            return;
        }
    }
}

/// The answer to a connection past [`MAX_CONNECTIONS`].
pub(super) fn refuse_busy(mut stream: std::net::TcpStream) {
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let response = HttpResponse::error(
        503,
        format!("the server is serving {MAX_CONNECTIONS} connections; try again"),
    );
    let _ = response.write_to(&mut stream, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_within_their_limits() {
        let request = parse(b"POST /predict?x=1 HTTP/1.1\r\nContent-Type: image/png\r\nContent-Length: 3\r\n\r\nabcdef")
            .unwrap()
            .unwrap();
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.url, "/predict?x=1");
        assert_eq!(request.content_type.as_deref(), Some("image/png"));
        assert_eq!(request.body, Ok(b"abc".to_vec()));
        let status = |bytes: &[u8]| parse(bytes).err().flatten().map(|r| r.status);
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(status(long.as_bytes()), Some(431));
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET /\r\n\r\n"), Some(400));
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(411)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Some(400)
        );
        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse(big.as_bytes()).unwrap().unwrap().body,
            Err(BodyError::TooLarge)
        );
        assert!(matches!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc")
                .unwrap()
                .unwrap()
                .body,
            Err(BodyError::Unreadable(_))
        ));
        assert!(parse(b"").unwrap().is_none());
    }
}
