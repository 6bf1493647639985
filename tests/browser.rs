//! The drawing page in real headless Chromium (Debian's chromium and chromium-driver, driven by
//! Python's selenium; installed by `.ci/run`): three digits drawn stroke by stroke with pointer
//! events, and the page's answers checked against `mnistlab predict` on the PNGs it sent.

mod common;

use common::{mnistlab, needs, python_has, real_data, run, Served};
use std::path::Path;

#[test]
fn digits_drawn_in_chromium_are_answered_as_predict_answers_them() {
    let Some(root) = real_data() else { return };
    let chromium =
        Path::new("/usr/bin/chromium").is_file() && Path::new("/usr/bin/chromedriver").is_file();
    if !needs(chromium, "chromium and chromium-driver") || !python_has("selenium") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    // A few hundred steps of the 5×5 CNN on real MNIST.
    let model = common::train_quick_cnn(home.path(), &root, 30000);
    let served = Served::start(home.path(), std::slice::from_ref(&model));

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let base = std::ffi::OsString::from(&served.base);
    let drawn = common::python_json(
        "browser/draw_digits.py",
        &[base.clone(), artifacts.clone().into()],
    );
    let drawn = drawn.as_array().expect("a list of drawings");
    assert_eq!(drawn.len(), 3);
    let mut right = 0;
    for d in drawn {
        let png = d["png"].as_str().unwrap();
        let (code, line, err) = run(mnistlab(home.path())
            .args(["predict", "--json"])
            .arg(&model)
            .arg(png));
        assert_eq!(code, 0, "{err}");
        let predicted: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(d["shown"], predicted["name"], "page vs predict for {d}");
        assert_eq!(d["server_class"], predicted["class"]);
        let probs: Vec<f64> = serde_json::from_value(d["bar_probabilities"].clone()).unwrap();
        assert_eq!(probs.len(), 10);
        assert!(
            (probs.iter().sum::<f64>() - 1.0).abs() < 1e-6,
            "bars sum to 100%: {probs:?}"
        );
        let shown: f64 = d["bar_percent_texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t.as_str()
                    .unwrap()
                    .trim_end_matches('%')
                    .parse::<f64>()
                    .unwrap()
            })
            .sum();
        assert!(
            (shown - 100.0).abs() <= 0.6,
            "shown percentages sum to {shown}"
        );
        assert_eq!(
            d["seen_src"], "data:image/png;base64,",
            "the 28×28 input is shown"
        );
        assert!(d["requests"].as_u64().unwrap() >= 1);
        right += usize::from(predicted["class"] == d["digit"]);
    }
    // Clearly drawn digits are read by a model of a few hundred steps.
    assert!(
        right >= 2,
        "only {right} of 3 drawn digits read right: {drawn:?}"
    );
    let screenshot = artifacts.join("page.png");
    assert!(image::open(&screenshot).unwrap().width() >= 800);
    eprintln!("screenshot: {}", screenshot.display());

    // A photo of a number uploaded through the page's file input: the page shows what
    // `predict --number` reads in the same file, a tile per digit, and the photo with boxes.
    let photo = artifacts.join("page-photo.jpg");
    common::ruled_page(600, 300, true).save(&photo).unwrap();
    let shown = common::python_json(
        "browser/upload_photo.py",
        &[base, photo.clone().into(), artifacts.clone().into()],
    );
    let (code, line, err) = run(mnistlab(home.path())
        .args(["predict", "--number", "--json"])
        .arg(&model)
        .arg(&photo));
    assert_eq!(code, 0, "{err}");
    let predicted: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        shown["shown"], predicted["number"],
        "page vs predict: {shown}"
    );
    assert_eq!(shown["result"]["digits"].as_array().unwrap().len(), 3);
    assert_eq!(shown["tiles"], 3);
    assert!(shown["drawn"].as_u64().unwrap() > 0, "the photo is drawn");
    assert_eq!(shown["canvas_kept"], 1, "the drawing pad stays");
}
