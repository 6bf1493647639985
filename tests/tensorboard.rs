//! Run records read back: TensorBoard's own Python reader on our event files, a damaged last
//! record, and `mnistlab runs` / `mnistlab plot` on good, empty and foreign directories.

mod common;

use common::{needs, python_has, run, Fixture};
use std::path::{Path, PathBuf};

/// Trains a tiny model for `epochs` on the fixture data; returns the run directory.
fn tiny_run(fx: &Fixture, name: &str, epochs: &str) -> PathBuf {
    fx.train(&[
        "--arch",
        "4C3-ReLU-MP2-D10",
        "--epochs",
        epochs,
        "--batch-size",
        "50",
        "--update-freq",
        "2",
        "--name",
        name,
    ]);
    fx.home().join(format!("logs/{name}-0"))
}

fn read_events(run_dir: &Path) -> serde_json::Value {
    common::python_json("interop/read_events.py", &[run_dir])
}

#[test]
fn tensorboard_reads_scalars_text_images_and_histograms() {
    if !python_has("tensorboard") {
        return;
    }
    let fx = Fixture::new(300, 40);
    let dir = tiny_run(&fx, "tb", "3");
    let events = read_events(&dir);

    // Scalars equal history.csv, at step = epoch − 1, train and validation under the same tags.
    let history = mnistlab::runs::read_run(&dir).unwrap().history;
    assert_eq!(history.len(), 3);
    for (sub, tag, pick) in [
        (
            "train",
            "epoch_loss",
            (|h: &mnistlab::train::EpochMetrics| h.loss) as fn(&_) -> f64,
        ),
        ("train", "epoch_accuracy", |h| h.accuracy),
        ("validation", "epoch_loss", |h| h.val_loss.unwrap()),
        ("validation", "epoch_accuracy", |h| h.val_accuracy.unwrap()),
    ] {
        let got = &events[sub][tag];
        assert_eq!(got["plugin"], "scalars", "{sub}/{tag}");
        let items = got["events"].as_array().unwrap();
        assert_eq!(items.len(), 3, "{sub}/{tag}");
        for (item, row) in items.iter().zip(&history) {
            assert_eq!(item["step"].as_u64().unwrap() as usize, row.epoch - 1);
            assert!(
                (item["value"].as_f64().unwrap() - pick(row)).abs() < 1e-5,
                "{sub}/{tag}: {item} vs {row:?}"
            );
        }
    }
    assert_eq!(
        events["train"]["epoch_learning_rate"]["events"][0]["value"]
            .as_f64()
            .unwrap(),
        0.001f32 as f64
    );
    // 6 steps per epoch (270 images / 50), batch_loss every 2 steps.
    assert_eq!(
        events["train"]["batch_loss"]["events"]
            .as_array()
            .unwrap()
            .len(),
        9
    );

    // The summary text holds the executed command.
    let text = events["summary"]["summary"]["events"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("mnistlab train --arch 4C3-ReLU-MP2-D10 --epochs 3"),
        "{text}"
    );
    assert!(text.contains("| --batch-size | 50 |"), "{text}");

    // Images decode as PNG of the size declared: the 30 validation samples in rows of 6 cells
    // of 60×72, and a 10-class confusion matrix.
    let grid = &events["validation"]["validation_predictions"]["events"][0];
    assert_eq!(
        (grid["width"].as_u64(), grid["height"].as_u64()),
        (Some(360), Some(360)),
        "{grid}"
    );
    assert_eq!(grid["declared"], serde_json::json!([360, 360]));
    let cm = &events["validation"]["confusion_matrix"]["events"][0];
    assert_eq!(
        (cm["width"].as_u64(), cm["height"].as_u64()),
        (Some(440), Some(440))
    );

    // Histograms count every weight of their tensor: the conv kernel (layer 1) is 3×3×1×4, the
    // dense kernel (layer 5, after ReLU, pooling and the implied flatten) 784·4/4 × 10.
    let histo = &events["train"]["1.weight"];
    assert_eq!(histo["plugin"], "histograms");
    assert_eq!(histo["events"].as_array().unwrap().len(), 3);
    assert_eq!(histo["events"][0]["count"].as_f64().unwrap(), 36.0);
    assert_eq!(
        events["train"]["5.weight"]["events"][0]["count"]
            .as_f64()
            .unwrap(),
        (14 * 14 * 4 * 10) as f64
    );
}

#[test]
fn a_damaged_last_record_leaves_the_earlier_ones_readable() {
    if !python_has("tensorboard") {
        return;
    }
    let fx = Fixture::new(300, 40);
    let dir = tiny_run(&fx, "cut", "2");
    let file = std::fs::read_dir(dir.join("validation"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    // Flip a byte inside the last record's payload (its CRC no longer matches)...
    let n = bytes.len();
    bytes[n - 6] ^= 0xff;
    // ...and append half of a record, as a crash in the middle of a write would leave.
    bytes.extend_from_within(..10);
    std::fs::write(&file, bytes).unwrap();
    let events = read_events(&dir);
    let loss = events["validation"]["epoch_loss"]["events"]
        .as_array()
        .unwrap();
    assert_eq!(loss.len(), 2, "{events}");
}

#[test]
fn runs_and_plot_compare_runs_and_refuse_empty_or_foreign_directories() {
    let fx = Fixture::new(300, 40);
    tiny_run(&fx, "a", "2");
    tiny_run(&fx, "b", "1");
    let (code, out, err) = run(fx.mnistlab().args(["runs", "logs"]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[2].starts_with("| a-0 | custom | 2 |")
            && lines[3].starts_with("| b-0 | custom | 1 |"),
        "{out}"
    );
    let (code, out, err) = run(fx.mnistlab().args(["runs", "--json", "logs"]));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(
        (rows[0]["epochs"].as_u64(), rows[1]["epochs"].as_u64()),
        (Some(2), Some(1))
    );
    for row in &rows {
        let acc = row["best_val_accuracy"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&acc) && row["best_val_loss"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        assert!(
            row["test_accuracy"].is_f64() && row["seconds"].as_f64().unwrap() > 0.0,
            "{row}"
        );
    }

    let (code, out, err) = run(fx.mnistlab().args(["plot", "logs", "--out", "curves.png"]));
    if !needs(!err.contains("no TrueType font"), "fonts-dejavu-core") {
        return;
    }
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Learning curves of 2 runs"), "{out}");
    let (code, out, err) = run(fx.mnistlab().args(["plot", "logs/b-0", "--out", "one.png"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Learning curves of 1 run written"), "{out}");
    let png = image::open(fx.home().join("curves.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1200, 500));

    std::fs::create_dir(fx.home().join("empty")).unwrap();
    std::fs::write(fx.home().join("empty/notes.txt"), "hello").unwrap();
    for args in [
        &["runs", "empty"][..],
        &["plot", "empty"],
        &["runs", "nope"],
        &["plot", "nope/x"],
    ] {
        let (code, _, err) = run(fx.mnistlab().args(args));
        assert_eq!(code, 2, "{args:?}");
        assert!(
            err.starts_with("error: ") && err.trim_end().lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"));
    }
    // A foreign history.csv is named, not trusted.
    std::fs::create_dir(fx.home().join("foreign")).unwrap();
    std::fs::write(fx.home().join("foreign/history.csv"), "a,b\n1,2\n").unwrap();
    let (code, _, err) = run(fx.mnistlab().args(["plot", "foreign"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("foreign/history.csv") && err.contains("not a mnistlab history"),
        "{err}"
    );
}
