//! Photos of pages through `predict`: numbers found and cut into digits (`--number`, `--json`,
//! `--show`), a 12-megapixel JPEG, a small set of phone-photo-like pictures made by
//! `experiments/photos.py` read by a quickly trained CNN, and blank, all-paper and non-picture
//! inputs refused with one clear error.

mod common;

use common::{mnistlab, python_has, real_data, ruled_page, run};
use mnistlab::data::Dataset;
use mnistlab::model::{ModelConfig, Normalization, Sequential};
use std::path::{Path, PathBuf};

fn untrained_model(home: &Path) -> PathBuf {
    let path = home.join("m.safetensors");
    let model = Sequential::new(
        ModelConfig::new("8C3-ReLU-MP2-D10", Dataset::Mnist, Normalization::MinMax),
        1,
    )
    .unwrap();
    mnistlab::model::save(&model, &path).unwrap();
    path
}

fn save_jpeg(image: &image::RgbImage, path: &Path) {
    image.save(path).unwrap();
}

#[test]
fn a_number_on_ruled_paper_is_cut_into_its_digits_with_boxes_and_shown() {
    let home = tempfile::tempdir().unwrap();
    let model = untrained_model(home.path());
    let photo = home.path().join("page.jpg");
    save_jpeg(&ruled_page(600, 300, true), &photo);
    let (code, out, err) = run(mnistlab(home.path())
        .args(["predict", "--number", "--json"])
        .arg(&model)
        .arg(&photo)
        .arg("--show")
        .arg(home.path().join("seen.png")));
    assert_eq!(code, 0, "{err}");
    let reading: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let digits = reading["digits"].as_array().unwrap();
    assert_eq!(digits.len(), 3, "three marks, three digits: {reading}");
    assert_eq!(reading["number"].as_str().unwrap().len(), 3);
    // Left to right, each where its mark is (bar at 150, ring round 260, hook 350–440), the
    // ruling and the margin line not taken for ink.
    let xs: Vec<(u64, u64)> = digits
        .iter()
        .map(|d| {
            let b = &d["box"];
            let x = b["x"].as_u64().unwrap();
            (x, x + b["width"].as_u64().unwrap())
        })
        .collect();
    assert!(xs[0].0 >= 140 && xs[0].1 <= 160, "{xs:?}");
    assert!(xs[1].0 >= 205 && xs[1].1 <= 315, "{xs:?}");
    assert!(xs[2].0 >= 340 && xs[2].1 <= 450, "{xs:?}");
    for d in digits {
        let h = d["box"]["height"].as_u64().unwrap();
        assert!((140..=160).contains(&h), "height of {d}");
        let p: Vec<f64> = serde_json::from_value(d["probabilities"].clone()).unwrap();
        assert_eq!(p.len(), 10);
        assert!(d["name"].as_str().unwrap().len() == 1);
    }
    let shown = image::open(home.path().join("seen.png")).unwrap();
    assert_eq!(shown.width(), 640);
    // Boxes are drawn in red on the photo.
    let red = shown
        .to_rgb8()
        .pixels()
        .filter(|p| p.0[0] > 200 && p.0[1] < 60 && p.0[2] < 60)
        .count();
    assert!(red > 500, "{red} red pixels");

    // The same in words, and from a 12-megapixel JPEG: boxes in the photo's own pixels.
    let big = home.path().join("big.jpg");
    save_jpeg(&ruled_page(4000, 3000, true), &big);
    let (code, out, err) = run(mnistlab(home.path())
        .args(["predict", "--number", "--json"])
        .arg(&model)
        .arg(&big));
    assert_eq!(code, 0, "{err}");
    let reading: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let digits = reading["digits"].as_array().unwrap();
    assert_eq!(digits.len(), 3, "{reading}");
    let first = digits[0]["box"]["x"].as_u64().unwrap();
    assert!((950..1050).contains(&first), "x of the bar {first}");
    let (code, out, err) = run(mnistlab(home.path())
        .args(["predict", "--number"])
        .arg(&model)
        .arg(&photo));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("{}: ", photo.display())) && out.contains("digits: "),
        "{out}"
    );
}

#[test]
fn blank_all_paper_and_non_pictures_get_one_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let model = untrained_model(home.path());
    let blank = home.path().join("blank.png");
    image::GrayImage::from_pixel(300, 200, image::Luma([250]))
        .save(&blank)
        .unwrap();
    let paper = home.path().join("paper.jpg");
    save_jpeg(&ruled_page(600, 300, false), &paper);
    let text = home.path().join("notes.jpg");
    std::fs::write(&text, "not a picture").unwrap();
    for (file, says) in [
        (&blank, "blank or uniform"),
        (&paper, "only paper"),
        (&text, "cannot read as an image"),
    ] {
        for number in [false, true] {
            let mut cmd = mnistlab(home.path());
            cmd.arg("predict");
            if number {
                cmd.arg("--number");
            }
            let (code, out, err) = run(cmd.arg(&model).arg(file));
            assert_eq!(code, 2, "{file:?}: {out}{err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(
                err.starts_with(&format!("error: {}: ", file.display())) && err.contains(says),
                "{err}"
            );
        }
    }
}

#[test]
fn phone_photo_like_digits_and_numbers_are_read_by_a_quick_cnn() {
    let Some(root) = real_data() else { return };
    if !python_has("PIL") || !python_has("numpy") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let set = home.path().join("photos");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/photos.py");
    let made = std::process::Command::new("python3")
        .arg(&script)
        .args(["--generate-only", "--singles", "30", "--numbers", "10"])
        .args(["--seed", "11", "--out"])
        .arg(&set)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&made.stderr);
    assert!(
        made.status.success() || std::env::var_os("CI").is_none(),
        "CI must install the handwriting fonts: {err}"
    );
    if !made.status.success() {
        return eprintln!("photos.py failed, skipping: {err}");
    }
    let labels: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    let labels = labels["labels"].as_object().unwrap();
    let model = common::train_quick_cnn(home.path(), &root, 30000);
    let (mut singles, mut numbers) = ((0, 0), (0, 0));
    for (name, label) in labels {
        let number = name.starts_with('n');
        let mut cmd = mnistlab(home.path());
        cmd.args(["predict", "--json"]);
        if number {
            cmd.arg("--number");
        }
        let (code, out, _) = run(cmd.arg(&model).arg(set.join(name)));
        let answer: Option<serde_json::Value> =
            (code == 0).then(|| serde_json::from_str(out.lines().next().unwrap()).unwrap());
        let read = answer.as_ref().and_then(|a| {
            a[if number { "number" } else { "name" }]
                .as_str()
                .map(String::from)
        });
        let right = usize::from(read.as_deref() == label.as_str());
        let tally = if number { &mut numbers } else { &mut singles };
        *tally = (tally.0 + right, tally.1 + 1);
    }
    eprintln!("single digits {singles:?}, numbers {numbers:?}");
    assert_eq!((singles.1, numbers.1), (30, 10));
    assert!(singles.0 >= 24, "single digits read right: {singles:?}");
    assert!(numbers.0 >= 6, "numbers read right: {numbers:?}");
}
