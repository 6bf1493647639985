//! `mnistlab serve` over real HTTP on 127.0.0.1: the page, `/model`, `/predict`, every bad
//! request answered with a 4xx JSON error while the server keeps serving, 200 concurrent
//! requests, and a clean stop on Ctrl-C.

mod common;

use common::{mnistlab, Served};
use image::{GrayImage, Luma};
use mnistlab::data::Dataset;
use mnistlab::model::{ModelConfig, Normalization, Sequential};
use std::io::Read;
use std::path::{Path, PathBuf};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// (status, body) of a request.
fn send(method: &str, url: &str, content_type: Option<&str>, body: &[u8]) -> (u16, String) {
    let agent = agent();
    let response = match method {
        "GET" => agent.get(url).call(),
        _ => {
            let mut request = agent.post(url);
            if let Some(ct) = content_type {
                request = request.header("Content-Type", ct);
            }
            request.send(body)
        }
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut text)
        .unwrap();
    (response.status().as_u16(), text)
}

fn png(image: &GrayImage) -> Vec<u8> {
    mnistlab::picture::draw::png(image)
}

/// A dark stroke on white paper, different per `i`.
fn drawing(i: usize) -> GrayImage {
    GrayImage::from_fn(120, 90, |x, y| {
        let on = (x as i64 - (30 + 3 * i as i64) - (y as i64 * (i as i64 % 3)) / 4).abs() < 6
            && (10..80).contains(&y);
        let bar = i.is_multiple_of(2) && (10..16).contains(&y) && (20..90).contains(&x);
        Luma([if on || bar { 15 } else { 245 }])
    })
}

fn saved_model(home: &Path, arch: &str, seed: u64) -> PathBuf {
    let path = home.join(format!("m{seed}.safetensors"));
    let model = Sequential::new(
        ModelConfig::new(arch, Dataset::Mnist, Normalization::MinMax),
        seed,
    )
    .unwrap();
    mnistlab::model::save(&model, &path).unwrap();
    path
}

#[test]
fn serves_the_page_the_model_and_predictions_and_refuses_bad_requests() {
    let home = tempfile::tempdir().unwrap();
    let model = saved_model(home.path(), "8C3-ReLU-MP2-D10", 1);
    let served = Served::start(home.path(), std::slice::from_ref(&model));
    let url = |p: &str| format!("{}{p}", served.base);

    let (status, page) = send("GET", &url("/"), None, b"");
    assert_eq!(status, 200);
    assert!(page.contains("<canvas id=\"pad\" width=\"280\" height=\"280\""));
    assert!(
        page.contains("pointerdown") && page.contains("pointermove"),
        "pointer events"
    );
    // Self-contained: nothing is fetched from elsewhere.
    for external in ["http://", "https://", "<link", "src=\"/", "@import", "url("] {
        assert!(!page.contains(external), "the page refers to {external}");
    }

    let (status, about) = send("GET", &url("/model"), None, b"");
    assert_eq!(status, 200);
    let about: serde_json::Value = serde_json::from_str(&about).unwrap();
    assert_eq!(about["models"][0]["arch"], "8C3-ReLU-MP2-D10");
    assert_eq!(about["classes"].as_array().unwrap().len(), 10);
    assert!(about["models"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("Conv2D"));

    let (status, body) = send(
        "POST",
        &url("/predict"),
        Some("image/png"),
        &png(&drawing(1)),
    );
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let probs: Vec<f64> = serde_json::from_value(answer["probabilities"].clone()).unwrap();
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    use base64::Engine;
    let input = base64::engine::general_purpose::STANDARD
        .decode(answer["input_png"].as_str().unwrap())
        .unwrap();
    let input = image::load_from_memory(&input).unwrap().to_luma8();
    assert_eq!(input.dimensions(), (28, 28));
    assert_eq!(
        input.get_pixel(0, 0).0[0],
        0,
        "light ink on black, as the model saw it"
    );

    let blank = png(&GrayImage::from_pixel(280, 280, Luma([255])));
    let huge = vec![0u8; 50 << 20];
    // (method, path, Content-Type, body, status, words of the error)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a [u8], u16, &'a str);
    let cases: [Case; 8] = [
        (
            "POST",
            "/predict",
            Some("image/png"),
            b"definitely not a png",
            400,
            "cannot read as an image",
        ),
        (
            "POST",
            "/predict",
            Some("image/png"),
            &blank,
            422,
            "no digit found",
        ),
        (
            "POST",
            "/predict",
            Some("image/png"),
            b"",
            400,
            "body is empty",
        ),
        (
            "POST",
            "/predict",
            Some("image/png"),
            &huge,
            413,
            "larger than 10 MiB",
        ),
        (
            "POST",
            "/predict",
            Some("text/plain"),
            &blank,
            415,
            "Content-Type must be an image",
        ),
        (
            "POST",
            "/predict",
            None,
            &blank,
            415,
            "Content-Type must be an image",
        ),
        (
            "GET",
            "/predict",
            None,
            b"",
            405,
            "GET is not allowed on /predict",
        ),
        (
            "GET",
            "/no/such/page",
            None,
            b"",
            404,
            "no such path: /no/such/page",
        ),
    ];
    for (method, path, ct, body, want, needle) in cases {
        let (status, text) = send(method, &url(path), ct, body);
        assert_eq!(status, want, "{method} {path} {ct:?}: {text}");
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON error body: {text}"));
        assert!(
            json["error"].as_str().unwrap().contains(needle),
            "{method} {path}: {text}"
        );
        // Still serving after every bad request.
        assert_eq!(send("GET", &url("/model"), None, b"").0, 200);
    }
}

#[test]
fn answers_200_concurrent_predictions_correctly_and_averages_several_models() {
    let home = tempfile::tempdir().unwrap();
    let models = [
        saved_model(home.path(), "8C3-ReLU-MP2-D10", 1),
        saved_model(home.path(), "D32-ReLU-D10", 2),
    ];
    let served = Served::start(home.path(), &models);
    let loaded = models
        .iter()
        .map(|p| mnistlab::model::load(p).unwrap())
        .collect();
    let mut classifier = mnistlab::picture::classify::Classifier::new(
        loaded,
        mnistlab::picture::preprocess::Polarity::Auto,
        false,
    )
    .unwrap();
    let pictures: Vec<Vec<u8>> = (0..8).map(|i| png(&drawing(i))).collect();
    let expected: Vec<Vec<f64>> = pictures
        .iter()
        .map(|bytes| {
            let image = image::load_from_memory(bytes).unwrap();
            let input = classifier.prepare(Path::new("x"), &image).unwrap();
            classifier
                .classify(&[input])
                .unwrap()
                .remove(0)
                .probabilities
        })
        .collect();
    let (_, about) = send("GET", &format!("{}/model", served.base), None, b"");
    let about: serde_json::Value = serde_json::from_str(&about).unwrap();
    assert_eq!(about["models"].as_array().unwrap().len(), 2);

    let url = format!("{}/predict", served.base);
    let answers: Vec<(usize, u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let (url, body) = (&url, &pictures[i % pictures.len()]);
                s.spawn(move || {
                    let (status, text) = send("POST", url, Some("image/png"), body);
                    (i, status, text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, status, text) in answers {
        assert_eq!(status, 200, "request {i}: {text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let probs: Vec<f64> = serde_json::from_value(json["probabilities"].clone()).unwrap();
        let want = &expected[i % pictures.len()];
        assert!(
            probs.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9),
            "request {i}: the ensemble's mean"
        );
    }
}

#[test]
fn ctrl_c_stops_the_server_cleanly_and_a_taken_port_is_an_error() {
    let home = tempfile::tempdir().unwrap();
    let model = saved_model(home.path(), "D10", 1);
    let mut served = Served::start(home.path(), std::slice::from_ref(&model));
    let port = served.base.rsplit(':').next().unwrap().to_string();

    let (code, _, err) = common::run(
        mnistlab(home.path())
            .arg("serve")
            .arg(&model)
            .args(["--port", &port]),
    );
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: --host/--port: 127.0.0.1:") && err.lines().count() == 1,
        "{err}"
    );

    let pid = served.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = served.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean stop");
    let mut rest = String::new();
    served
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    assert!(rest.contains("Stopped."), "{rest}");
}

#[test]
fn predict_with_number_answers_the_digits_of_a_photo_and_refuses_paper() {
    let home = tempfile::tempdir().unwrap();
    let model = saved_model(home.path(), "8C3-ReLU-MP2-D10", 1);
    let served = Served::start(home.path(), std::slice::from_ref(&model));
    let url = format!("{}/predict?number=1", served.base);
    let mut jpeg = Vec::new();
    common::ruled_page(600, 300, true)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let (status, body) = send("POST", &url, Some("image/jpeg"), &jpeg);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let digits = answer["digits"].as_array().unwrap();
    assert_eq!(digits.len(), 3, "{answer}");
    let names: String = digits.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(answer["number"], names);
    let xs: Vec<u64> = digits
        .iter()
        .map(|d| d["box"]["x"].as_u64().unwrap())
        .collect();
    assert!(xs.windows(2).all(|p| p[0] < p[1]), "left to right: {xs:?}");
    for d in digits {
        assert!(d["input_png"].as_str().unwrap().len() > 50);
    }
    // An empty ruled page and a blank one: 422 with the reason.
    let mut paper = Vec::new();
    common::ruled_page(600, 300, false)
        .write_to(
            &mut std::io::Cursor::new(&mut paper),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let (status, body) = send("POST", &url, Some("image/jpeg"), &paper);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("only paper"), "{body}");
    let blank = png(&GrayImage::from_pixel(100, 80, Luma([250])));
    let (status, body) = send("POST", &url, Some("image/png"), &blank);
    assert_eq!(status, 422, "{body}");
    let (status, _) = send("POST", &url, Some("image/png"), b"not a picture");
    assert_eq!(status, 400);
}
