//! `mnistlab serve`: a small HTTP server with a page to draw digits on.
//!
//! `GET /` is one self-contained page (no external script, style or font); `POST /predict`
//! takes a picture (PNG, JPEG, BMP or TIFF body) and answers JSON with the class, every
//! probability and the input the model saw as a base64 PNG (`POST /predict?number=1`: the
//! number written in it, each digit with its box, probabilities and input); `GET /model`
//! describes the models.
//! Every bad request gets a 4xx JSON `{"error": …}` and the server keeps serving. Requests are
//! answered by one worker per classifier, each with its own copy of the models, so no model is
//! shared between threads.

use crate::classify::{Classifier, NumberReading};
use crate::error::{Error, Result};
use crate::model::summary;
use base64::Engine;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response, Server};

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

/// A running server: its address, and the workers to wait for.
pub struct Serving {
    http: Arc<Server>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

/// Starts serving on `address` (`host:port`; port 0 picks a free one) with one worker per
/// classifier; `about` is what `GET /model` answers.
pub fn start(
    address: &str,
    classifiers: Vec<Classifier>,
    stop: Arc<AtomicBool>,
) -> Result<Serving> {
    let http = Server::http(address)
        .map_err(|e| Error::config("server address", format!("{address}: {e}")))?;
    let http = Arc::new(http);
    let about = Arc::new(describe(&classifiers[0]).to_string());
    let workers = classifiers
        .into_iter()
        .map(|mut classifier| {
            let (http, about, stop) = (http.clone(), about.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    // A short timeout so that a stop request is seen promptly.
                    if let Ok(Some(request)) = http.recv_timeout(Duration::from_millis(100)) {
                        answer(request, &mut classifier, &about);
                    }
                }
            })
        })
        .collect();
    Ok(Serving { http, workers })
}

impl Serving {
    /// The address actually listened on (with the port chosen when 0 was asked for).
    pub fn address(&self) -> String {
        self.http.server_addr().to_string()
    }

    /// Waits until the workers end (after the stop flag is set).
    pub fn wait(self) {
        for worker in self.workers {
            let _ = worker.join();
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

fn json(status: u16, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let header = Header::from_bytes("Content-Type", "application/json").expect("valid header");
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header)
}

fn error(status: u16, message: impl std::fmt::Display) -> Response<std::io::Cursor<Vec<u8>>> {
    json(
        status,
        serde_json::json!({ "error": message.to_string() }).to_string(),
    )
}

fn answer(mut request: Request, classifier: &mut Classifier, about: &str) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let response = match (request.method(), path.as_str()) {
        (Method::Get, "/") => {
            let header = Header::from_bytes("Content-Type", "text/html; charset=utf-8")
                .expect("valid header");
            Response::from_string(PAGE).with_header(header)
        }
        (Method::Get, "/model") => json(200, about.to_string()),
        (Method::Post, "/predict") => predict(&mut request, classifier),
        (_, "/" | "/model" | "/predict") => error(
            405,
            format!("{} is not allowed on {path}", request.method()),
        ),
        _ => error(404, format!("no such path: {path}")),
    };
    let _ = request.respond(response); // the client may have gone; nothing to do then
}

/// `POST /predict`.
fn predict(
    request: &mut Request,
    classifier: &mut Classifier,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let content_type = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| {
            h.value
                .as_str()
                .split(';')
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
    if request.body_length().is_some_and(|n| n > MAX_BODY) {
        return error(
            413,
            format!("the body is larger than {} MiB", MAX_BODY >> 20),
        );
    }
    let mut body = Vec::new();
    if let Err(e) = request
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
    {
        return error(400, format!("the body could not be read: {e}"));
    }
    if body.len() > MAX_BODY {
        return error(
            413,
            format!("the body is larger than {} MiB", MAX_BODY >> 20),
        );
    }
    if body.is_empty() {
        return error(400, "the body is empty: send the picture");
    }
    let source = Path::new("request body");
    let image = match crate::preprocess::decode(source, &body) {
        Ok(image) => image,
        Err(e) => return error(400, e),
    };
    if wants_number(request.url()) {
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
    base64::engine::general_purpose::STANDARD.encode(crate::pictures::png(&seen))
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
