//! Real pictures through `predict`: MNIST's own preprocessing recipe keeps MNIST images as they
//! are, reads dark digits on paper, and refuses what is not a digit.

mod common;

use common::{load_mnist_from, mnistlab, real_data, run};
use image::{DynamicImage, GrayImage, Luma};
use mnistlab::data::Dataset;
use mnistlab::model::{load, ModelConfig, Normalization, Sequential};
use mnistlab::picture::classify::Classifier;
use mnistlab::picture::preprocess::Polarity;
use std::path::Path;

fn gray(pixels: &[u8]) -> DynamicImage {
    DynamicImage::ImageLuma8(GrayImage::from_raw(28, 28, pixels.to_vec()).unwrap())
}

/// Classes for `images` through the classifier's preprocessing.
fn classes(classifier: &mut Classifier, images: &[DynamicImage]) -> Vec<usize> {
    let inputs: Vec<Vec<u8>> = images
        .iter()
        .map(|img| classifier.prepare(Path::new("test"), img).unwrap())
        .collect();
    classifier
        .classify(&inputs)
        .unwrap()
        .iter()
        .map(|p| p.class)
        .collect()
}

#[test]
fn mnist_images_keep_their_predictions_and_digits_on_paper_are_read() {
    let Some(root) = real_data() else { return };
    let home = tempfile::tempdir().unwrap();
    let path = common::train_quick_cnn(home.path(), &root, 12000);
    let test = load_mnist_from(&root).test;

    // 1,000 MNIST test images: as they are (raw) and through the pipeline.
    let originals: Vec<DynamicImage> = (0..1000).map(|i| gray(test.image(i))).collect();
    let mut pipeline = Classifier::new(vec![load(&path).unwrap()], Polarity::Auto, false).unwrap();
    let mut raw = Classifier::new(vec![load(&path).unwrap()], Polarity::Auto, true).unwrap();
    let through = classes(&mut pipeline, &originals);
    let as_is = classes(&mut raw, &originals);
    let kept = through.iter().zip(&as_is).filter(|(a, b)| a == b).count();
    assert!(
        kept >= 990,
        "only {kept} of 1,000 predictions kept through the pipeline"
    );

    // The same digits as a student would photograph them: dark ink on white paper, twice the
    // size, off-centre in a 90 × 70 page.
    let pages: Vec<DynamicImage> = (0..200)
        .map(|i| {
            let digit = GrayImage::from_raw(28, 28, test.image(i).to_vec()).unwrap();
            let big =
                image::imageops::resize(&digit, 56, 56, image::imageops::FilterType::Triangle);
            let mut page = GrayImage::from_pixel(90, 70, Luma([235]));
            let (x, y) = ((i * 7 % 30) as i64, (i * 3 % 12) as i64);
            for (px, py, p) in big.enumerate_pixels() {
                page.put_pixel(
                    px + x as u32,
                    py + y as u32,
                    Luma([235 - (p.0[0] as u32 * 225 / 255) as u8]),
                );
            }
            DynamicImage::ImageLuma8(page)
        })
        .collect();
    let labels = &test.labels[..200];
    let right = |got: &[usize]| {
        got.iter()
            .zip(labels)
            .filter(|(g, l)| **g == **l as usize)
            .count()
    };
    let read = right(&classes(&mut pipeline, &pages));
    let resized = right(&classes(&mut raw, &pages));
    eprintln!(
        "kept {kept}/1000 MNIST predictions; on paper: pipeline {read}/200, resize {resized}/200"
    );
    assert!(read >= 180, "pipeline read {read} of 200 digits on paper");
    assert!(
        resized < 100,
        "a plain resize should not read them ({resized} of 200)"
    );
}

/// A saved model with its initial weights, for the command-line checks (no data needed).
fn saved_model(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("m.safetensors");
    let model = Sequential::new(
        ModelConfig::new("linear", Dataset::Mnist, Normalization::MinMax),
        3,
    )
    .unwrap();
    mnistlab::model::save(&model, &path).unwrap();
    path
}

#[test]
fn predict_reads_folders_prints_json_and_top_three_and_shows_its_inputs() {
    let home = tempfile::tempdir().unwrap();
    let model = saved_model(home.path());
    let pics = home.path().join("pics");
    std::fs::create_dir(&pics).unwrap();
    let stroke = |w: u32, h: u32| {
        GrayImage::from_fn(w, h, |x, y| {
            Luma([if x > w / 3 && x < w / 2 && y > 5 && y < h - 5 {
                20
            } else {
                240
            }])
        })
    };
    stroke(64, 80).save(pics.join("a.png")).unwrap();
    stroke(100, 60).save(pics.join("b.jpg")).unwrap();
    DynamicImage::ImageLuma8(stroke(40, 40))
        .to_rgb8()
        .save(pics.join("c.bmp"))
        .unwrap();
    stroke(30, 50).save(pics.join("d.tiff")).unwrap();
    std::fs::write(pics.join("notes.txt"), "not a picture, not listed").unwrap();

    let (code, out, err) = run(mnistlab(home.path())
        .args(["predict", "--json", "--show", "show.png"])
        .arg(&model)
        .arg(&pics));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    for (row, name) in rows.iter().zip(["a.png", "b.jpg", "c.bmp", "d.tiff"]) {
        assert!(row["image"].as_str().unwrap().ends_with(name), "{row}");
        let probs: Vec<f64> = serde_json::from_value(row["probabilities"].clone()).unwrap();
        assert_eq!(probs.len(), 10);
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-6);
        let class = row["class"].as_u64().unwrap() as usize;
        assert_eq!(row["name"], class.to_string());
        assert_eq!(row["probability"].as_f64().unwrap(), probs[class]);
    }
    let show = image::open(home.path().join("show.png")).unwrap();
    assert_eq!(
        (show.width(), show.height()),
        (2 * 112 + 24, 4 * 120 + 8),
        "one row per picture"
    );

    let (code, out, err) = run(mnistlab(home.path())
        .arg("predict")
        .arg(&model)
        .arg(pics.join("a.png")));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("a.png: ") && out.contains("%   top 3: "),
        "{out}"
    );
    assert_eq!(out.matches('%').count(), 4, "class and three ranked: {out}");
}

#[test]
fn predict_refuses_blank_pictures_non_pictures_and_empty_folders() {
    let home = tempfile::tempdir().unwrap();
    let model = saved_model(home.path());
    GrayImage::from_pixel(28, 28, Luma([0]))
        .save(home.path().join("blank.png"))
        .unwrap();
    GrayImage::from_pixel(50, 40, Luma([200]))
        .save(home.path().join("grey.png"))
        .unwrap();
    std::fs::write(home.path().join("fake.png"), "plain text").unwrap();
    std::fs::create_dir(home.path().join("empty")).unwrap();
    for (arg, needle) in [
        (
            "blank.png",
            "blank.png: no digit found: the image is blank or uniform",
        ),
        ("grey.png", "grey.png: no digit found"),
        ("fake.png", "fake.png: cannot read as an image"),
        ("missing.png", "missing.png"),
        (
            "empty",
            "empty: the folder holds no PNG, JPEG, BMP or TIFF file",
        ),
    ] {
        let (code, out, err) = run(mnistlab(home.path()).arg("predict").arg(&model).arg(arg));
        assert_eq!(code, 2, "{arg}: {out}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{arg}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let (code, _, err) = run(mnistlab(home.path())
        .args(["predict", "--invert", "--no-invert"])
        .arg(&model)
        .arg("blank.png"));
    assert_eq!(code, 2);
    assert!(
        err.contains("--invert") && err.contains("--no-invert"),
        "{err}"
    );
}
