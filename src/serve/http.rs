//! The HTTP/1.1 layer of `serve`, on hyper, with every limit stated: a request's head (request
//! line and headers) at most [`MAX_HEAD`] bytes (431 past it), and received whole within
//! [`IO_TIMEOUT`]; its body at most [`super::MAX_BODY`] bytes (413 past it), received whole
//! within [`BODY_DEADLINE`] (408 past it); each read or write on a connection waited for at most
//! [`IO_TIMEOUT`]; at most [`MAX_CONNECTIONS`] connections at once (the next ones get a 503).
//! Keep-alive as HTTP/1.1 defines it. A request is read here, whole, and handed on as an
//! [`HttpRequest`]; what it is answered is decided elsewhere ([`super::handle`]).

use super::MAX_BODY;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head accepted (request line and headers); more gets a 431.
pub const MAX_HEAD: usize = 16 << 10;
/// Longest wait for any one read or write on a connection, for a request's whole head, and for
/// a next request on an idle kept-alive connection: a client that stops sending or reading is
/// dropped after it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time a request's body may take to arrive whole, however it trickles in.
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);
/// Connections served at once; a slow client holds one of these, never a classifier.
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
    /// The URL's path and query.
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
    /// Reading it failed (the client went away, or sent a malformed chunk).
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

    /// The answer as hyper sends it; `close` says the connection ends after it.
    fn into_hyper(self, close: bool) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(self.body)));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// How every connection is served (the fuzz target's too): the head's size and time limits,
/// and a client that stops sending once its request is out still gets the answer.
fn http1_settings() -> http1::Builder {
    let mut settings = http1::Builder::new();
    settings
        .timer(TokioTimer::new())
        .header_read_timeout(IO_TIMEOUT)
        .max_header_size(MAX_HEAD)
        .half_close(true);
    settings
}

/// The request with its body read (or why not), within [`BODY_DEADLINE`].
async fn read_request(request: Request<Incoming>) -> HttpRequest {
    let (head, body) = request.into_parts();
    let method = match head.method {
        hyper::Method::GET => Method::Get,
        hyper::Method::POST => Method::Post,
        other => Method::Other(other.to_string()),
    };
    let url = head
        .uri
        .path_and_query()
        .map_or_else(|| head.uri.to_string(), |p| p.to_string());
    let content_type = head
        .headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = tokio::time::timeout(BODY_DEADLINE, read_body(body))
        .await
        .unwrap_or(Err(BodyError::TooSlow));
    HttpRequest {
        method,
        url,
        content_type,
        body,
    }
}

/// A body of at most [`MAX_BODY`] bytes. A larger one is still read to its end (within the
/// caller's deadline) and dropped, so that a client that sends before it reads sees the 413
/// rather than a reset connection.
async fn read_body(mut body: Incoming) -> Result<Vec<u8>, BodyError> {
    if body.size_hint().lower() <= MAX_BODY as u64 {
        match Limited::new(&mut body, MAX_BODY).collect().await {
            Ok(whole) => return Ok(whole.to_bytes().to_vec()),
            Err(e) if !e.is::<LengthLimitError>() => {
                return Err(if timed_out(e.as_ref()) {
                    BodyError::TooSlow
                } else {
                    BodyError::Unreadable(e.to_string())
                });
            }
            Err(_) => {}
        }
    }
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
    Err(BodyError::TooLarge)
}

/// Whether `e` comes from a read that waited past [`IO_TIMEOUT`].
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Serves the requests of one connection in turn until the client closes it, a request asks to
/// close, or a limit is passed: each request read whole, then answered with `answer`.
pub(super) async fn serve_connection<I, F, A>(io: I, answer: F)
where
    I: AsyncRead + AsyncWrite + Unpin,
    F: Fn(HttpRequest) -> A,
    A: Future<Output = HttpResponse>,
{
    let answer = &answer;
    let service = service_fn(move |request| async move {
        let request = read_request(request).await;
        // A body not read whole leaves the connection in no state to go on.
        let close = request.body.is_err();
        Ok::<_, Infallible>(answer(request).await.into_hyper(close))
    });
    let _ = http1_settings()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// Serves a connection past [`MAX_CONNECTIONS`]: its request is answered 503, unread.
pub(super) async fn refuse_busy<I: AsyncRead + AsyncWrite + Unpin>(io: I) {
    let busy = || {
        let response = HttpResponse::error(
            503,
            format!("the server is serving {MAX_CONNECTIONS} connections; try again"),
        );
        std::future::ready(Ok::<_, Infallible>(response.into_hyper(true)))
    };
    let _ = http1_settings()
        .keep_alive(false)
        .serve_connection(TokioIo::new(io), service_fn(move |_| busy()))
        .await;
}

/// What a connection that sends `bytes`, then closes its sending side, gets back: read and
/// served as the server serves its connections, each request answered with `answer`. The
/// HTTP fuzz target and its corpus replay call this, over an in-memory connection.
pub fn exchange(
    bytes: &[u8],
    answer: impl Fn(HttpRequest) -> HttpResponse,
) -> std::io::Result<Vec<u8>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let (client, server) = tokio::io::duplex(64 << 10);
    let (mut from_server, mut to_server) = tokio::io::split(client);
    let served = serve_connection(server, |request| std::future::ready(answer(request)));
    let send = async move {
        to_server.write_all(bytes).await?;
        to_server.shutdown().await
    };
    let receive = async move {
        let mut received = Vec::new();
        from_server
            .read_to_end(&mut received)
            .await
            .map(|_| received)
    };
    runtime.block_on(async {
        // Sending fails when the server closes before reading all of a bad request.
        let (_sent, (), received) = tokio::join!(send, served, receive);
        received
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The requests `bytes` makes as the server reads them, and what the connection gets back.
    fn requests(bytes: &[u8]) -> (Vec<HttpRequest>, String) {
        let seen = std::cell::RefCell::new(Vec::new());
        let back = exchange(bytes, |request| {
            seen.borrow_mut().push(request);
            HttpResponse::json(200, "{}".into())
        })
        .unwrap();
        (
            seen.into_inner(),
            String::from_utf8_lossy(&back).into_owned(),
        )
    }

    #[test]
    fn requests_are_read_within_their_limits() {
        let (seen, back) = requests(b"POST /predict?x=1 HTTP/1.1\r\nContent-Type: image/png\r\nContent-Length: 3\r\n\r\nabcGET /model HTTP/1.1\r\n\r\n");
        assert_eq!(seen.len(), 2, "{back}");
        assert_eq!(seen[0].method, Method::Post);
        assert_eq!(seen[0].url, "/predict?x=1");
        assert_eq!(seen[0].content_type.as_deref(), Some("image/png"));
        assert_eq!(seen[0].body, Ok(b"abc".to_vec()));
        assert_eq!(
            (&seen[1].method, seen[1].url.as_str()),
            (&Method::Get, "/model")
        );
        assert_eq!(back.matches("HTTP/1.1 200 OK").count(), 2, "{back}");

        let (seen, back) =
            requests(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(seen[0].body, Ok(b"abc".to_vec()), "{back}");

        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let (seen, back) = requests(long.as_bytes());
        assert!(
            seen.is_empty() && back.starts_with("HTTP/1.1 431 "),
            "{back}"
        );
        for bad in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET /\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            let (seen, back) = requests(bad);
            assert!(
                seen.is_empty() && back.starts_with("HTTP/1.1 400 "),
                "{back}"
            );
        }

        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let mut big = big.into_bytes();
        big.resize(big.len() + MAX_BODY + 1, b'x');
        let (seen, back) = requests(&big);
        assert_eq!(seen[0].body, Err(BodyError::TooLarge));
        assert!(back.contains("connection: close"), "{back}");

        let (seen, _) = requests(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc");
        assert!(matches!(seen[0].body, Err(BodyError::Unreadable(_))));
        assert_eq!(requests(b"").0.len(), 0);
    }
}
