//! Tests on the real MNIST files (`MNISTLAB_DATA`, set by CI): loading, short training runs,
//! and downloading them from a local mirror.

mod common;

use common::{mnistlab, needs, real_data, run};
use mnistlab::data::{sources, DataSources, Dataset, LoadedDataset, MNIST};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

fn data_arg(root: &Path) -> [String; 2] {
    ["--data-dir".into(), root.display().to_string()]
}

fn test_accuracy(stdout: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Test accuracy: "))
        .expect("test accuracy printed")
        .parse()
        .unwrap()
}

#[test]
fn loads_the_real_files() {
    let Some(root) = real_data() else { return };
    let data = common::load_mnist_from(&root);
    assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000));
    assert_eq!(data.train.shape, mnistlab::layers::Shape::new(28, 28, 1));
    // Known facts of MNIST: first training label is 5, first test label is 7.
    assert_eq!((data.train.labels[0], data.test.labels[0]), (5, 7));
    assert_files_match_checksums(&data.dir, &MNIST);
}

fn assert_files_match_checksums(dir: &Path, info: &mnistlab::data::DatasetInfo) {
    for file in info.files {
        let path = sources::find_file(dir, &file).unwrap();
        let raw = mnistlab::data::idx::decompress(&path, std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(sources::sha256_hex(&raw), file.sha256, "{}", path.display());
    }
}

#[test]
fn fashion_mnist_is_found_in_the_system_path() {
    let system = Path::new("/usr/share/datasets/fashion-mnist");
    if !needs(system.is_dir(), "dataset-fashion-mnist") {
        return;
    }
    let data = LoadedDataset::load(Dataset::FashionMnist, &DataSources::standard(None)).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000));
    assert_eq!(data.info.classes[9], "Ankle boot");
    assert_files_match_checksums(&data.dir, &mnistlab::data::FASHION_MNIST);
}

#[test]
fn linear_one_epoch_reaches_88_percent_and_evaluate_reproduces_it() {
    let Some(root) = real_data() else { return };
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) = run(mnistlab(home.path())
        .args(["train", "--model", "linear", "--epochs", "1"])
        .args(data_arg(&root)));
    assert_eq!(code, 0, "{err}");
    let acc = test_accuracy(&out);
    assert!(acc >= 0.88, "linear after one epoch: {acc}");
    let model = home.path().join("logs/linear-0/best_model.safetensors");
    let (code, json, err) = run(mnistlab(home.path())
        .arg("evaluate")
        .arg(&model)
        .arg("--json")
        .args(data_arg(&root)));
    assert_eq!(code, 0, "{err}");
    let eval: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(eval["n"], 10_000);
    assert!(
        (eval["accuracy"].as_f64().unwrap() - acc).abs() < 1e-4,
        "{json} vs {acc}"
    );
}

#[test]
fn cnn_bn_learns_from_a_subset() {
    let Some(root) = real_data() else { return };
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) = run(mnistlab(home.path())
        .args([
            "train",
            "--model",
            "cnn-bn",
            "--epochs",
            "1",
            "--train-images",
            "12000",
            "--bn-momentum",
            "0.9",
        ])
        .args(["--normalize", "standardize-global"])
        .args(data_arg(&root)));
    assert_eq!(code, 0, "{out}\n{err}");
    let acc = test_accuracy(&out);
    assert!(acc >= 0.90, "cnn-bn after 85 steps: {acc}");
}

/// Serves the files of `dir` over HTTP on loopback; with `corrupt`, flips a byte of each body.
fn serve(dir: PathBuf, corrupt: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(64) {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let name = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = stream;
            match std::fs::read(dir.join(&name)) {
                Ok(mut body) => {
                    if corrupt {
                        let mid = body.len() / 2;
                        body[mid] ^= 0xff;
                    }
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                }
                Err(_) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        }
    });
    url
}

#[test]
fn downloads_into_the_cache_and_verifies_checksums() {
    let Some(root) = real_data() else { return };
    let home = tempfile::tempdir().unwrap();
    // A corrupt mirror: every file fails its checksum, nothing is kept, the error says why.
    let bad = serve(root.join("mnist"), true);
    let quick_run = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "1",
        "--train-images",
        "1000",
    ];
    let (code, _, err) = run(mnistlab(home.path())
        .env("MNISTLAB_MIRROR", &bad)
        .args(quick_run));
    assert_eq!(code, 2);
    assert!(
        err.contains("checksum mismatch") || err.contains("corrupt gzip"),
        "{err}"
    );
    let cache = home.path().join(".cache/mnistlab/mnist");
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        0,
        "nothing half-downloaded is kept"
    );

    // A good mirror: the four files land in the cache, verified, and training runs from them.
    let good = serve(root.join("mnist"), false);
    let first_refuses = format!("http://127.0.0.1:9/,{good}");
    let (code, out, err) = run(mnistlab(home.path())
        .env("MNISTLAB_MIRROR", first_refuses)
        .args(quick_run));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&format!("{}", cache.display())), "{out}");
    assert_files_match_checksums(&cache, &MNIST);
}
