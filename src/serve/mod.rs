//! `mnistlab serve`: a small HTTP server with a page to draw digits on.
//!
//! `GET /` is one self-contained page (no external script, style or font); `POST /predict`
//! takes a picture (PNG, JPEG, BMP or TIFF body) and answers JSON with the class, every
//! probability and the input the model saw as a base64 PNG (`POST /predict?number=1`: the
//! number written in it, each digit with its box, probabilities and input); `GET /model`
//! describes the models.
//! Every bad request gets a 4xx and the server keeps serving: a JSON `{"error": …}` from
//! [`handle`], or a bare 400 or 431 from hyper for a head it cannot parse. hyper serves the
//! connections ([`http`]), reads each request whole within the limits stated there, and hands it
//! to one worker thread per classifier, each with its own copy of the models, so no model is
//! shared between threads, the inference stays off the connections' threads and a slow client
//! never holds a worker. [`handle`] is the request → response function, free of sockets: the one
//! place that decides answers.

use crate::error::{Error, Result, Setting};
use crate::model::summary;
use crate::picture::classify::{Classifier, NumberReading};
use base64::Engine;
pub use http::{BodyError, HttpRequest, HttpResponse, Method};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use tokio_io_timeout::TimeoutStream;

pub mod http;

/// The drawing page.
const PAGE: &str = include_str!("page.html");
/// Largest request body accepted (a 280×280 PNG is a few kB; a phone photo a few MB).
pub const MAX_BODY: usize = 10 << 20;
/// Content types `/predict` accepts.
const IMAGE_TYPES: [&str; 5] = [
    "image/png",
    "image/jpeg",
    "image/bmp",
    "image/tiff",
    "image/x-ms-bmp",
];

/// A request handed to a classifier worker, and where its answer goes.
type Job = (HttpRequest, oneshot::Sender<HttpResponse>);

/// A running server: its address, and the threads to wait for.
pub struct Serving {
    address: std::net::SocketAddr,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Starts serving on `address` (`host:port`; port 0 picks a free one): connections are served
/// by hyper on a small tokio runtime, which reads each request whole; a worker thread per
/// classifier computes the answers, off the runtime's threads.
pub fn start(
    address: &str,
    classifiers: Vec<Classifier>,
    stop: Arc<AtomicBool>,
) -> Result<Serving> {
    let refused =
        |e: std::io::Error| Error::config(Setting::ServerAddress, format!("{address}: {e}"));
    let listener = std::net::TcpListener::bind(address).map_err(refused)?;
    let local = listener.local_addr().map_err(refused)?;
    listener.set_nonblocking(true).map_err(refused)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(refused)?;
    let listener = {
        let _inside = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(refused)?
    };
    let about = Arc::new(describe(&classifiers[0]).to_string());
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    let mut threads: Vec<_> = classifiers
        .into_iter()
        .map(|mut classifier| {
            let (queue, about, stop) = (queue.clone(), about.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let job = queue.lock().expect("job queue").recv_timeout(POLL);
                    if let Ok((request, reply)) = job {
                        let _ = reply.send(handle(&request, &mut classifier, &about));
                    }
                }
            })
        })
        .collect();
    threads.push(std::thread::spawn(move || {
        runtime.block_on(accept(listener, jobs, stop));
        // Connections still open end here, unanswered.
        runtime.shutdown_background();
    }));
    Ok(Serving {
        address: local,
        threads,
    })
}

/// Accepts connections until `stop`, each served on a task of its own (past
/// [`http::MAX_CONNECTIONS`] open, answered 503), every read and write within
/// [`http::IO_TIMEOUT`].
async fn accept(listener: tokio::net::TcpListener, jobs: mpsc::Sender<Job>, stop: Arc<AtomicBool>) {
    let open = Arc::new(Semaphore::new(http::MAX_CONNECTIONS));
    while !stop.load(Ordering::SeqCst) {
        // Bounded, so that the loop sees a stop request.
        let Ok(Ok((stream, _))) = tokio::time::timeout(POLL, listener.accept()).await else {
            continue; // no connection yet, or one reset before it was taken
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_read_timeout(Some(http::IO_TIMEOUT));
        stream.set_write_timeout(Some(http::IO_TIMEOUT));
        let stream = Box::pin(stream);
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tokio::spawn(http::refuse_busy(stream));
            continue;
        };
        let jobs = jobs.clone();
        tokio::spawn(async move {
            http::serve_connection(stream, |request| ask(jobs.clone(), request)).await;
            drop(permit);
        });
    }
}

/// The answer a classifier worker gives `request`.
async fn ask(jobs: mpsc::Sender<Job>, request: HttpRequest) -> HttpResponse {
    let (reply, answer) = oneshot::channel();
    let stopping = || error(503, "the server is stopping");
    if jobs.send((request, reply)).is_err() {
        return stopping();
    }
    answer.await.unwrap_or_else(|_| stopping())
}

/// How often idle workers and the accepting loop look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

impl Serving {
    /// The address actually listened on (with the port chosen when 0 was asked for).
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Waits until the workers and the accepting thread end (after the stop flag is set);
    /// connections still open end with the process.
    pub fn wait(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// `GET /model`: the models, their classes and input.
fn describe(classifier: &Classifier) -> serde_json::Value {
    let models: Vec<_> = classifier
        .models()
        .iter()
        .map(|m| {
            let c = m.config();
            let (trainable, non_trainable) = m.params.counts();
            serde_json::json!({
                "name": c.name, "arch": c.arch, "dataset": c.dataset,
                "normalization": c.normalization.to_string(),
                "params": {"trainable": trainable, "non_trainable": non_trainable},
                "summary": summary(m),
            })
        })
        .collect();
    let (h, w) = classifier.input_size();
    serde_json::json!({ "models": models, "classes": classifier.classes(), "input": [h, w] })
}

fn json(status: u16, body: String) -> HttpResponse {
    HttpResponse::json(status, body)
}

fn error(status: u16, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::error(status, message)
}

/// Answers one request; `about` is what `GET /model` answers. The server and the fuzz target
/// (through [`crate::untrusted::http_request`]) both call this.
pub fn handle(request: &HttpRequest, classifier: &mut Classifier, about: &str) -> HttpResponse {
    let path = request.url.split('?').next().unwrap_or("");
    match (&request.method, path) {
        (Method::Get, "/") => HttpResponse {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PAGE.as_bytes().to_vec(),
        },
        (Method::Get, "/model") => json(200, about.to_string()),
        (Method::Post, "/predict") => predict(request, classifier),
        (method, "/" | "/model" | "/predict") => {
            error(405, format!("{method} is not allowed on {path}"))
        }
        _ => error(404, format!("no such path: {path}")),
    }
}

/// `POST /predict`.
fn predict(request: &HttpRequest, classifier: &mut Classifier) -> HttpResponse {
    let content_type = request
        .content_type
        .as_deref()
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !IMAGE_TYPES.contains(&content_type.as_str()) {
        return error(
            415,
            format!("Content-Type must be an image (image/png, image/jpeg, image/bmp or image/tiff), got {content_type:?}"),
        );
    }
    let body = match &request.body {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return error(
                413,
                format!("the body is larger than {} MiB", MAX_BODY >> 20),
            )
        }
        Err(BodyError::TooSlow) => {
            return error(
                408,
                format!(
                    "the body did not arrive within {} s",
                    http::BODY_DEADLINE.as_secs()
                ),
            )
        }
        Err(BodyError::Unreadable(e)) => {
            return error(400, format!("the body could not be read: {e}"))
        }
    };
    if body.is_empty() {
        return error(400, "the body is empty: send the picture");
    }
    let source = Path::new("request body");
    let image = match crate::picture::preprocess::decode(source, body) {
        Ok(image) => image,
        Err(e) => return error(400, e),
    };
    if wants_number(&request.url) {
        return match classifier.read_number(source, &image) {
            Ok(reading) => json(200, number_json(&reading, classifier).to_string()),
            Err(e) => error(422, e),
        };
    }
    let input = match classifier.prepare(source, &image) {
        Ok(input) => input,
        Err(e) => return error(422, e),
    };
    let prediction = match classifier.classify(std::slice::from_ref(&input)) {
        Ok(mut p) => p.remove(0),
        Err(e) => return error(500, e),
    };
    let mut body = serde_json::to_value(&prediction).expect("serializable");
    body["input_png"] = serde_json::json!(input_png(&input, classifier));
    json(200, body.to_string())
}

/// `number=1` (or `true`) among the query's parameters.
fn wants_number(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|p| p == "number=1" || p == "number=true")
    })
}

/// The input the model saw, as a base64 PNG.
fn input_png(input: &[u8], classifier: &Classifier) -> String {
    let (h, w) = classifier.input_size();
    let seen =
        image::GrayImage::from_raw(w as u32, h as u32, input.to_vec()).expect("h × w values");
    base64::engine::general_purpose::STANDARD.encode(crate::picture::draw::png(&seen))
}

/// A number's answer: as `predict --number --json`, each digit with its input as a base64 PNG.
fn number_json(reading: &NumberReading, classifier: &Classifier) -> serde_json::Value {
    let mut body = serde_json::to_value(reading).expect("serializable");
    for (d, json) in reading.digits.iter().zip(
        body["digits"]
            .as_array_mut()
            .expect("digits serialize as a list"),
    ) {
        json["input_png"] = serde_json::json!(input_png(&d.input, classifier));
    }
    body
}
