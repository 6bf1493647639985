//! The `mnistlab` binary on tiny fixture datasets: the whole workflow, then every bad input.

mod common;

use common::{fixture_dataset, mnistlab, run, write_maybe_gz, Fixture};
use mnistlab::data::idx::encode_idx;
use std::path::Path;

/// `train`'s flags for a 2-epoch linear model, the fixture model of most tests here.
const LINEAR: [&str; 8] = [
    "--model",
    "linear",
    "--epochs",
    "2",
    "--batch-size",
    "25",
    "--logdir",
    "logs",
];

#[test]
fn summary_prints_keras_parameter_counts_for_every_preset() {
    let home = tempfile::tempdir().unwrap();
    for (model, total) in [
        ("linear", "7,850"),
        ("mlp", "269,322"),
        ("cnn", "147,274"),
        ("cnn-bn", "73,338"),
        ("cnn-deep", "327,242"),
    ] {
        let (code, out, err) = run(mnistlab(home.path()).args(["summary", "--model", model]));
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(&format!("Total params: {total}")),
            "{model}: {out}"
        );
    }
    let (_, out, _) = run(mnistlab(home.path()).args(["summary", "--model", "cnn-bn"]));
    assert!(
        out.contains("Trainable params: 72,890") && out.contains("Non-trainable params: 448"),
        "{out}"
    );
    let (_, out, _) = run(mnistlab(home.path()).args(["summary", "--model", "cnn-deep"]));
    assert!(
        out.contains("Trainable params: 326,410") && out.contains("Non-trainable params: 832"),
        "{out}"
    );
    let (code, out, _) =
        run(mnistlab(home.path()).args(["summary", "--arch", "8C3-BN-ReLU-GAP-D10"]));
    assert_eq!(code, 0);
    assert!(out.contains("Total params: 202"), "{out}"); // 80 + 32 + 90
}

#[test]
fn train_evaluate_predict_round_trip() {
    let fx = Fixture::new(500, 100);
    let out = fx.train(&LINEAR);
    assert!(
        out.contains("Epoch 2/2") && out.contains("val_accuracy"),
        "{out}"
    );
    let run_dir = fx.home().join("logs/linear-0");
    let summary = std::fs::read_to_string(run_dir.join("summary.txt")).unwrap();
    assert!(
        summary.contains("# mnistlab train --model linear --epochs 2 --batch-size 25"),
        "{summary}"
    );
    assert!(
        summary.contains("| --batch-size | 25 |") && summary.contains("| --seed | 0 |"),
        "{summary}"
    );
    let history = std::fs::read_to_string(run_dir.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(history.starts_with("epoch,loss,accuracy,val_loss,val_accuracy"));

    // The printed test accuracy is the saved best model's, and evaluate reproduces it.
    let printed: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("Test accuracy: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(printed > 0.9, "the toy task is easy: {printed}");
    let model = run_dir.join("best_model.safetensors");
    let (code, json, err) = run(fx.mnistlab().args([
        "evaluate",
        model.to_str().unwrap(),
        "--json",
        "--data-dir",
        fx.data_dir(),
    ]));
    assert_eq!(code, 0, "{err}");
    let eval: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(eval["n"], 100);
    assert!(
        (eval["accuracy"].as_f64().unwrap() - printed).abs() < 1e-4,
        "{json} vs {printed}"
    );

    // A second run gets the next directory.
    fx.train(&LINEAR);
    assert!(fx
        .home()
        .join("logs/linear-1/best_model.safetensors")
        .is_file());

    // Predict: an image drawn like class 3 of the toy task. Its class is where the band is, which
    // the digit preprocessing (crop and centre) would erase, so the picture goes in as it is.
    let (pixels, labels) = common::synthetic(10, 28, 0);
    let k = labels.iter().position(|&l| l == 3).unwrap();
    let png = fx.home().join("three.png");
    image::GrayImage::from_raw(28, 28, pixels[k * 784..(k + 1) * 784].to_vec())
        .unwrap()
        .save(&png)
        .unwrap();
    let (code, out, err) = run(fx.mnistlab().args([
        "predict",
        "--raw",
        model.to_str().unwrap(),
        png.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("three.png: 3 (3)"), "{out}");
}

/// Runs `args`, expects exit code 2 and one `error:` line containing `needle`, and no run directory.
fn refused(home: &Path, args: &[&str], needle: &str) {
    let (code, out, err) = run(mnistlab(home).args(args));
    assert_eq!(
        code, 2,
        "{args:?} should fail\nstdout: {out}\nstderr: {err}"
    );
    let err = err.trim_end();
    assert!(
        err.starts_with("error: ") && !err.contains('\n'),
        "{args:?}: not one error line: {err:?}"
    );
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
    let runs = home.join("logs");
    let left: Vec<_> = std::fs::read_dir(&runs)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{args:?} left {left:?}");
}

#[test]
fn bad_flags_are_refused_before_anything_is_written() {
    let fx = Fixture::new(50, 10);
    let data = fx.data_dir();
    let base = ["train", "--data-dir", data];
    let cases: &[(&[&str], &str)] = &[
        (&["--epochs", "0"], "--epochs"),
        (&["--batch-size", "0"], "--batch-size"),
        (&["--lr", "-1"], "--lr"),
        (&["--lr", "NaN"], "--lr"),
        (&["--val-split", "1.5"], "--val-split"),
        (&["--val-split", "0"], "--val-split"),
        (&["--l2", "-0.1"], "--l2"),
        (&["--normalize", "zscore"], "--normalize"),
        (&["--dataset", "cifar"], "--dataset"),
        (&["--epochs", "many"], "--epochs"),
        (&["--arch", "16C3-BN-16X3-D10"], "token 3 \"16X3\""),
        (&["--arch", "D10-16C3-D10"], "needs an image input"),
        (&["--arch", "MP2-MP2-MP2-MP2-MP2-D10"], "pooling below 1×1"),
        (&["--arch", "16C3-GAP-D7"], "D10"),
        (&["--optimizer", "sgd", "--momentum", "1.5"], "--momentum"),
        // The library names the setting; the CLI names the flag that sets it.
        (&["--dropout", "1.5"], "--dropout: must be in [0, 1)"),
        (&["--bn-momentum", "1"], "--bn-momentum: must be in [0, 1)"),
        (
            &["--augment", "--rotation", "500"],
            "--rotation: must be between",
        ),
        (
            &["--train-images", "0"],
            "--train-images: must be at least 1",
        ),
        (&["--update-freq", "0"], "--update-freq: must be at least 1"),
        (&["--name", "a/b"], "--name: must be a non-empty name"),
        (
            &["--resume", "nowhere"],
            "--resume: nowhere: not a run directory",
        ),
        (
            &["--model", "linear", "--arch", "D10"],
            "cannot be used with",
        ),
    ];
    for (extra, needle) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        refused(fx.home(), &args, needle);
    }
    refused(fx.home(), &["train", "--model", "resnet"], "--model");
    refused(
        fx.home(),
        &["--threads", "0", "summary", "--model", "cnn"],
        "--threads",
    );
}

/// A batch larger than the training set trains (one step per epoch, as Keras clamps it), and
/// says so.
#[test]
fn an_oversized_batch_trains_with_a_warning() {
    let fx = Fixture::new(50, 10);
    let (code, out, err) = run(fx
        .mnistlab()
        .args([
            "train",
            "--model",
            "linear",
            "--epochs",
            "1",
            "--batch-size",
            "100000000",
            "--data-dir",
        ])
        .arg(&fx.data));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with("warning: --batch-size 100000000 is larger than the 45 training images: each step uses all of them"),
        "{err}"
    );
    assert!(out.contains("Test accuracy"), "{out}");
}

#[test]
fn bad_dataset_files_are_named() {
    let home = tempfile::tempdir().unwrap();
    let good = encode_idx(&[10, 28, 28], &[0; 7840]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "train-images-idx3-ubyte",
            good[..good.len() - 100].to_vec(),
            "truncated",
        ),
        ("train-images-idx3-ubyte", vec![], "is empty"),
        (
            "train-images-idx3-ubyte",
            [&[0u8, 0, 9, 3][..], &good[4..]].concat(),
            "bad IDX magic number 0x00000903",
        ),
        (
            "train-labels-idx1-ubyte",
            encode_idx(&[9], &[1; 9]),
            "has 9 labels but",
        ),
        (
            "train-labels-idx1-ubyte",
            encode_idx(&[50], &[12; 50]),
            "label 12 at index 0",
        ),
        ("train-images-idx3-ubyte.gz", good.clone(), "not gzip"),
    ];
    for (i, (file, bytes, needle)) in cases.into_iter().enumerate() {
        let root = home.path().join(format!("case{i}"));
        let dir = fixture_dataset(&root, 50, 10, 28);
        for f in ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        if file.starts_with("train-labels") {
            write_maybe_gz(
                &dir.join("train-images-idx3-ubyte.gz"),
                &encode_idx(&[50, 28, 28], &[0; 50 * 784]),
            );
        }
        std::fs::write(dir.join(file), &bytes).unwrap();
        refused(
            home.path(),
            &[
                "train",
                "--model",
                "linear",
                "--data-dir",
                root.to_str().unwrap(),
            ],
            needle,
        );
        let err =
            run(mnistlab(home.path()).args(["train", "--data-dir", root.to_str().unwrap()])).2;
        assert!(
            err.contains(&format!("case{i}/mnist/")),
            "the file is named: {err}"
        );
    }
    // A missing file: every place searched is listed, with what was missing.
    let root = home.path().join("missing");
    let dir = fixture_dataset(&root, 50, 10, 28);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    refused(
        home.path(),
        &["train", "--data-dir", root.to_str().unwrap()],
        "missing t10k-labels-idx1-ubyte[.gz]",
    );
    // Images that are not 28×28 for a 28×28 model.
    let root = home.path().join("small");
    fixture_dataset(&root, 50, 10, 20);
    refused(
        home.path(),
        &["train", "--data-dir", root.to_str().unwrap()],
        "images are 20×20×1 but the model expects 28×28×1",
    );
}

#[test]
fn bad_model_files_are_refused() {
    let fx = Fixture::new(200, 20);
    fx.train(&LINEAR);
    let good = std::fs::read(fx.home().join("logs/linear-0/best_model.safetensors")).unwrap();
    std::fs::remove_dir_all(fx.home().join("logs")).unwrap();

    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&good[8..8 + header_len])
        .unwrap()
        .to_string();
    let wrong_shape = header.replace("[784,10]", "[10,784]");
    assert_ne!(
        wrong_shape, header,
        "fixture header should name the kernel shape: {header}"
    );
    let with_header = |h: &str| {
        [
            &(h.len() as u64).to_le_bytes()[..],
            h.as_bytes(),
            &good[8 + header_len..],
        ]
        .concat()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            good[..good.len() - 10].to_vec(),
            "not a valid model file",
        ),
        (
            "text",
            b"hello, this is not a model".to_vec(),
            "not a valid model file",
        ),
        ("empty", Vec::new(), "not a valid model file"),
        (
            "huge-header",
            [&(1u64 << 40).to_le_bytes()[..], &good[8..]].concat(),
            "not a valid model file",
        ),
        (
            "wrong-shape",
            with_header(&wrong_shape),
            "expected F32 [784, 10]",
        ),
        (
            "no-metadata",
            with_header(&header.replace("\"arch\"", "\"arch_\"")),
            "metadata has no \"arch\"",
        ),
    ];
    for (name, bytes, needle) in cases {
        let path = fx.home().join(format!("{name}.safetensors"));
        std::fs::write(&path, bytes).unwrap();
        refused(
            fx.home(),
            &[
                "evaluate",
                path.to_str().unwrap(),
                "--data-dir",
                fx.data_dir(),
            ],
            needle,
        );
        refused(
            fx.home(),
            &["summary", path.to_str().unwrap()],
            &format!("{name}.safetensors"),
        );
    }
    refused(
        fx.home(),
        &["evaluate", "nope.safetensors"],
        "nope.safetensors",
    );
}

#[test]
fn unwritable_logdir_is_named() {
    let fx = Fixture::new(50, 10);
    let blocker = fx.home().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let logdir = blocker.join("logs");
    let (code, _, err) = run(fx.mnistlab().args([
        "train",
        "--model",
        "linear",
        "--data-dir",
        fx.data_dir(),
        "--logdir",
        logdir.to_str().unwrap(),
    ]));
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: ") && err.contains("file/logs"),
        "{err}"
    );
}

#[test]
fn bench_reports_speeds_and_every_layer_and_respects_threads() {
    let fx = Fixture::new(300, 100);
    let data = fx.data_dir();
    let saved = fx.home().join("benchmarked.safetensors");
    let args = [
        "--threads",
        "1",
        "bench",
        "--arch",
        "8C3-BN-ReLU-MP2-D10",
        "--steps",
        "3",
        "--batch-size",
        "32",
        "--inference-batches",
        "2",
        "--single-images",
        "3",
        "--save",
        saved.to_str().unwrap(),
        "--json",
        "--data-dir",
        data,
    ];
    let (code, out, err) = run(fx.mnistlab().args(args));
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["threads"], 1, "{report}");
    assert_eq!(report["steps"], 3);
    assert!(report["train_images_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["inference_images_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["single_images_per_s"].as_f64().unwrap() > 0.0);
    let benchmarked = mnistlab::model::load(&saved).unwrap();
    assert_eq!(benchmarked.config().arch, "8C3-BN-ReLU-MP2-D10");
    assert_eq!(
        report["data_dir"],
        fx.data.join("mnist").display().to_string()
    );
    let layers: Vec<&str> = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(
        layers,
        ["Normalization", "8C3", "BN", "ReLU", "MP2", "F", "D10"]
    );
    let conv = &report["layers"][1];
    assert!(
        conv["forward_ms"].as_f64().unwrap() > 0.0 && conv["backward_ms"].as_f64().unwrap() > 0.0
    );

    let (code, out, err) = run(fx.mnistlab().args([
        "bench",
        "--model",
        "linear",
        "--steps",
        "2",
        "--data-dir",
        data,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("images/s") && out.contains("D10"), "{out}");

    refused(
        fx.home(),
        &["bench", "--steps", "0", "--data-dir", data],
        "--steps",
    );
    refused(
        fx.home(),
        &[
            "bench",
            "--model",
            "linear",
            "--steps",
            "100",
            "--data-dir",
            data,
        ],
        "need 12800 training images, the data has 300",
    );
    refused(fx.home(), &["bench", "--model", "vgg"], "--model");

    // The instruction-set switch: the portable path forced and named in the report, and a
    // misspelt value refused with one error line naming the variable.
    let portable = mnistlab(fx.home())
        .env("MNISTLAB_ISA", "portable")
        .args(args)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&portable.stdout).unwrap();
    assert_eq!(report["isa"], "portable", "{report}");
    let (code, _, err) = run(mnistlab(fx.home())
        .env("MNISTLAB_ISA", "sse9")
        .args(["summary", "--model", "cnn"]));
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim_end(),
        "error: MNISTLAB_ISA: unknown instruction set \"sse9\" (portable, avx2 or avx512)"
    );
}

/// A reader that stops early (`| head`) ends the command quietly, not with a panic.
#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let values = (1..=100)
        .map(|i| format!("{}", i as f64 * 1e-4))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        home.path().join("s.toml"),
        format!("[base]\nmodel = \"linear\"\n[axes]\nlr = [{values}]\nl2 = [{values}]\n"),
    )
    .unwrap();
    let mut child = mnistlab(home.path())
        .args(["sweep", "plan", "s.toml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("Sweep s: 10000 points"), "{first}");
    // The reader is dropped here: the pipe closes while 10,000 rows are still to come.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no panic message");
}
