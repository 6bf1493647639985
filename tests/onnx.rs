//! ONNX export checked by the real clients: the `onnx` checker with full shape inference, and
//! ONNX Runtime's probabilities against our own on real test images (installed by `.ci/run`).

mod common;

use common::{load_mnist_from, mnistlab, needs, python_has, real_data, run};
use mnistlab::data::{DataSources, Dataset, Images, LoadedDataset};
use mnistlab::eval::predict_proba;
use mnistlab::model::{ModelConfig, Normalization, Sequential};
use std::path::Path;

const SCRIPT: &str = "interop/check_onnx.py";

/// Exports `model`, runs ONNX Runtime on `images` and returns the script's report.
fn check_against_onnxruntime(
    model: &mut Sequential,
    images: &Images,
    dir: &Path,
) -> serde_json::Value {
    let onnx = dir.join("model.onnx");
    mnistlab::onnx::save(model, &onnx, mnistlab::onnx::DEFAULT_OPSET).unwrap();
    let probs = predict_proba(model, images, 128).unwrap();
    let probs: Vec<u8> = probs
        .iter()
        .flat_map(|&p| (p as f32).to_le_bytes())
        .collect();
    std::fs::write(dir.join("images.u8"), &images.pixels).unwrap();
    std::fs::write(dir.join("probs.f32"), probs).unwrap();
    std::fs::write(dir.join("labels.u8"), &images.labels).unwrap();
    let files = ["model.onnx", "images.u8", "probs.f32", "labels.u8"].map(|f| dir.join(f));
    common::python_json(SCRIPT, &files)
}

/// A model of `arch` with its initial weights, input statistics from `images`, and running
/// statistics moved away from (0, 1) so that batch norm's inference form is exercised.
fn model_for(
    arch: &str,
    normalization: Normalization,
    images: &Images,
    dataset: Dataset,
) -> Sequential {
    let mut model = Sequential::new(ModelConfig::new(arch, dataset, normalization), 7).unwrap();
    let (mean, std) = normalization.statistics(&images.pixels, images.shape.len());
    model.set_normalization(&mean, &std);
    let slots: Vec<_> = model.params.slots().cloned().collect();
    for slot in slots
        .iter()
        .filter(|s| s.key.ends_with("running_var") || s.key.ends_with("running_mean"))
    {
        let var = slot.key.ends_with("running_var");
        for (j, v) in model.params.get_mut(slot).iter_mut().enumerate() {
            let wobble = ((j * 37 % 11) as f32) / 11.0;
            *v = if var { 0.5 + wobble } else { wobble - 0.5 };
        }
    }
    model
}

/// 1,000 real MNIST test images (or synthetic ones outside CI without the data).
fn test_images() -> Images {
    match real_data() {
        Some(root) => load_mnist_from(&root).test.slice(0..1000),
        None => {
            let (pixels, labels) = common::synthetic(200, 28, 1);
            let shape = mnistlab::layers::Shape::new(28, 28, 1);
            Images {
                pixels,
                labels,
                shape,
            }
        }
    }
}

#[test]
fn every_preset_and_notation_passes_the_checker_and_matches_onnxruntime() {
    if !python_has("onnxruntime") || !python_has("onnx") {
        return;
    }
    let images = test_images();
    let cases = [
        ("linear", Normalization::Standardize),
        ("mlp", Normalization::StandardizeGlobal),
        ("cnn", Normalization::StandardizeGlobal),
        ("cnn-bn", Normalization::StandardizeGlobal),
        // Strided convolutions with uneven "same" padding (28 → 14 → 7 → 4).
        (
            "8C3s2-BN-ReLU-16C5s2-ReLU-16C3s2-F-D10",
            Normalization::Standardize,
        ),
        // Odd sizes after pooling (28 → 14 → 7 → 3), a dense layer after the flatten.
        (
            "8C3-MP2-8C3-ReLU-MP2-8C3-MP2-D16-ReLU-D10",
            Normalization::MinMax,
        ),
        // Overlapping pooling, dropout, batch norm on flat features, no normalization.
        (
            "6C5-ReLU-MP3s2-F-Drop0.3-D32-BN-ReLU-Drop0.5-D10",
            Normalization::None,
        ),
        // "valid" convolutions (28 → 26 → 11 → 9 → 4 → 1), dropout after a convolution.
        (
            "16C3v-BN-ReLU-16C5s2v-Drop0.2-16C3v-ReLU-16C3s2v-16C4v-F-D10",
            Normalization::StandardizeGlobal,
        ),
        // Pooled to 1×1: a dense layer straight after an image of one pixel.
        ("4C3-MP2-MP2-MP2-MP2-D10", Normalization::StandardizeGlobal),
    ];
    for (arch, normalization) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut model = model_for(arch, normalization, &images, Dataset::Mnist);
        let report = check_against_onnxruntime(&mut model, &images, dir.path());
        let diff = report["max_abs_diff"].as_f64().unwrap();
        assert!(diff <= 1e-4, "{arch}: max |Δp| {diff}");
        assert_eq!(report["argmax_equal"], true, "{arch}");
        assert_eq!(report["sums_to_one"], true, "{arch}");
        assert_eq!(report["n"], images.len() as u64);
        assert_eq!(
            report["output_shapes"]["probabilities"],
            serde_json::json!(["N", 10])
        );
        assert_eq!(report["metadata"]["arch"], model.config().arch, "{arch}");
        assert_eq!(report["metadata"]["dataset"], "mnist");
        assert_eq!(report["opset"], mnistlab::onnx::DEFAULT_OPSET);
    }
}

#[test]
fn a_fashion_mnist_model_matches_onnxruntime_and_names_its_classes() {
    if !python_has("onnxruntime") {
        return;
    }
    let data = LoadedDataset::load(Dataset::FashionMnist, &DataSources::standard(None));
    if !needs(data.is_ok(), "Fashion-MNIST (dataset-fashion-mnist)") {
        return;
    }
    let data = data.unwrap();
    let images = data.test.slice(0..1000);
    let mut model = model_for(
        "cnn-bn",
        Normalization::StandardizeGlobal,
        &images,
        Dataset::FashionMnist,
    );
    let dir = tempfile::tempdir().unwrap();
    let report = check_against_onnxruntime(&mut model, &images, dir.path());
    assert!(report["max_abs_diff"].as_f64().unwrap() <= 1e-4, "{report}");
    assert_eq!(report["argmax_equal"], true);
    let classes = report["metadata"]["classes"].as_str().unwrap();
    assert!(classes.starts_with("T-shirt/top,Trouser,"), "{classes}");
}

/// The trained 5×5 CNN through ONNX Runtime classifies the whole MNIST test set exactly as
/// `mnistlab evaluate` does, and `predict --json` gives ONNX Runtime's probabilities.
#[test]
fn trained_cnn_has_the_same_test_accuracy_through_onnxruntime() {
    let Some(root) = real_data() else { return };
    if !python_has("onnxruntime") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let data_dir = root.to_str().unwrap();
    let model_path = common::train_quick_cnn(home.path(), &root, 12000);
    let (code, out, err) = run(mnistlab(home.path())
        .args(["evaluate", "--json", "--data-dir", data_dir])
        .arg(&model_path));
    assert_eq!(code, 0, "{err}");
    let evaluation: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (code, out, err) = run(mnistlab(home.path())
        .args(["export", "-o", "cnn.onnx"])
        .arg(&model_path));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("opset 17"), "{out}");

    let test = load_mnist_from(&root).test;
    let mut model = mnistlab::model::load(&model_path).unwrap();
    let report = check_against_onnxruntime(&mut model, &test, home.path());
    let n = evaluation["n"].as_u64().unwrap();
    let correct = (evaluation["accuracy"].as_f64().unwrap() * n as f64).round() as u64;
    assert_eq!(report["n"], n);
    assert_eq!(report["correct"].as_u64().unwrap(), correct, "{report}");
    assert!(
        correct as f64 / n as f64 > 0.9,
        "a trained CNN: {correct}/{n}"
    );

    // `predict --json` on PNGs of test images gives the probabilities ONNX Runtime gives.
    let mut pngs = Vec::new();
    for i in 0..5 {
        let img = image::GrayImage::from_raw(28, 28, test.image(i).to_vec()).unwrap();
        let path = home.path().join(format!("digit{i}.png"));
        img.save(&path).unwrap();
        pngs.push(path);
    }
    let (code, out, err) = run(mnistlab(home.path())
        .args(["predict", "--json", "--raw"])
        .arg(&model_path)
        .args(&pngs));
    assert_eq!(code, 0, "{err}");
    let cli: Vec<f32> = out
        .lines()
        .flat_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            serde_json::from_value::<Vec<f32>>(v["probabilities"].clone()).unwrap()
        })
        .collect();
    let five = test.slice(0..5);
    std::fs::write(
        home.path().join("probs.f32"),
        cli.iter()
            .flat_map(|p| p.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    std::fs::write(home.path().join("images.u8"), &five.pixels).unwrap();
    let files = ["cnn.onnx", "images.u8", "probs.f32"].map(|f| home.path().join(f));
    let report = common::python_json(SCRIPT, &files);
    assert!(report["max_abs_diff"].as_f64().unwrap() <= 1e-4, "{report}");
}

#[test]
fn export_refuses_bad_opsets_and_files_and_summary_reads_the_graph_back() {
    let home = tempfile::tempdir().unwrap();
    let model = Sequential::new(
        ModelConfig::new("cnn-bn", Dataset::Mnist, Normalization::MinMax),
        1,
    )
    .unwrap();
    let path = home.path().join("m.safetensors");
    mnistlab::model::save(&model, &path).unwrap();

    let (code, _, err) = run(mnistlab(home.path())
        .args(["export", "--opset", "12", "-o", "x.onnx"])
        .arg(&path));
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: --opset: 12 is not supported"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!home.path().join("x.onnx").exists());

    std::fs::write(home.path().join("junk.safetensors"), b"not a model").unwrap();
    let (code, _, err) = run(mnistlab(home.path()).args(["export", "junk.safetensors"]));
    assert_eq!(code, 2);
    assert!(err.contains("junk.safetensors"), "{err}");

    let (code, _, err) = run(mnistlab(home.path())
        .args(["export", "-o", "m.onnx", "--opset", "13"])
        .arg(&path));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(mnistlab(home.path()).args(["summary", "m.onnx"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("opset 13"), "{out}");
    assert!(out.contains("arch: 16C3-BN-ReLU-16C3"), "{out}");
    assert_eq!(out.matches(" Conv ").count(), 6, "{out}");
    assert_eq!(out.matches(" BatchNormalization ").count(), 6, "{out}");
    assert!(out.contains("GlobalAveragePool"), "{out}");
    assert!(out.contains("Input image: float32 [N, 1, 28, 28]"), "{out}");
    assert!(
        out.contains("Output probabilities: float32 [N, 10]"),
        "{out}"
    );

    std::fs::write(home.path().join("junk.onnx"), b"\xff\xff\xff").unwrap();
    let (code, _, err) = run(mnistlab(home.path()).args(["summary", "junk.onnx"]));
    assert_eq!(code, 2);
    assert!(err.contains("junk.onnx: not an ONNX model"), "{err}");
}
