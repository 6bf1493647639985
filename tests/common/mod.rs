//! Helpers shared by the integration tests: tiny IDX datasets written on the fly ([`Fixture`]),
//! running the `mnistlab` binary, and [`needs`] for the real components a test drives.
#![allow(dead_code)] // each test file uses its own subset

use flate2::{write::GzEncoder, Compression};
use mnistlab::data::idx::encode_idx;
use std::io::Write;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Synthetic images whose class is visible: class `k` lights up row band `k` (a learnable toy task).
pub fn synthetic(n: usize, side: usize, seed: usize) -> (Vec<u8>, Vec<u8>) {
    let mut pixels = vec![0u8; n * side * side];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i * 7 + seed) % 10;
        labels.push(label as u8);
        let img = &mut pixels[i * side * side..(i + 1) * side * side];
        let band = label * side / 10;
        for y in band..(band + side / 10).min(side) {
            for x in 0..side {
                img[y * side + x] = 150 + ((x * 13 + i * 5) % 100) as u8;
            }
        }
    }
    (pixels, labels)
}

/// Writes `bytes` to `path`, gzipped when the name ends in `.gz`.
pub fn write_maybe_gz(path: &Path, bytes: &[u8]) {
    if path.extension().is_some_and(|e| e == "gz") {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        std::fs::write(path, enc.finish().unwrap()).unwrap();
    } else {
        std::fs::write(path, bytes).unwrap();
    }
}

/// A fake dataset folder `<root>/mnist/` with `n_train` and `n_test` images of `side × side`.
pub fn fixture_dataset(root: &Path, n_train: usize, n_test: usize, side: usize) -> PathBuf {
    let dir = root.join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for (prefix, n, seed) in [("train", n_train, 0), ("t10k", n_test, 3)] {
        let (pixels, labels) = synthetic(n, side, seed);
        write_maybe_gz(
            &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            &encode_idx(&[n, side, side], &pixels),
        );
        // Labels raw, to cover both kinds of file.
        write_maybe_gz(
            &dir.join(format!("{prefix}-labels-idx1-ubyte")),
            &encode_idx(&[n], &labels),
        );
    }
    dir
}

/// The `mnistlab` binary with a clean environment: no dataset variables, a private HOME and
/// downloads turned off, so nothing outside `home` is read or written.
pub fn mnistlab(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnistlab"));
    cmd.env_remove("MNISTLAB_DATA")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", home)
        .env("MNISTLAB_MIRROR", "none")
        .current_dir(home);
    cmd
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("binary runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into(),
        String::from_utf8_lossy(&stderr).into(),
    )
}

/// Whether a component a test needs (`what`, named as CI provides it) is `present`. Outside CI
/// a missing one skips the test, which prints so; in CI (`CI` set) it is a failure, so a test
/// of a real client never silently vanishes. Use as `if !needs(found, "…") { return; }`.
pub fn needs(present: bool, what: &str) -> bool {
    if !present {
        assert!(std::env::var_os("CI").is_none(), "CI must provide {what}");
        eprintln!("{what} is missing: skipping");
    }
    present
}

/// The real MNIST folder's parent from `MNISTLAB_DATA`, or `None` (test skipped, see [`needs`]).
pub fn real_data() -> Option<PathBuf> {
    let dir = std::env::var_os("MNISTLAB_DATA");
    needs(dir.is_some(), "MNISTLAB_DATA (the real MNIST files)");
    dir.map(PathBuf::from)
}

/// True when `python3` can import `module` (else the test is skipped, see [`needs`]).
pub fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    needs(ok, &format!("the Python package {module}"))
}

/// A test's own home directory (removed when dropped) with a small synthetic dataset of 28×28
/// images in `home/data/mnist/`: what most tests of the binary start from.
pub struct Fixture {
    home: tempfile::TempDir,
    /// The dataset folder to give as `--data-dir`.
    pub data: PathBuf,
}

impl Fixture {
    /// A fresh home with `n_train` training and `n_test` test images.
    pub fn new(n_train: usize, n_test: usize) -> Fixture {
        let home = tempfile::tempdir().unwrap();
        let data = home.path().join("data");
        fixture_dataset(&data, n_train, n_test, 28);
        Fixture { home, data }
    }

    /// The home directory, where runs go (`logs/`).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `--data-dir`'s value.
    pub fn data_dir(&self) -> &str {
        self.data.to_str().unwrap()
    }

    /// `mnistlab` run in this home.
    pub fn mnistlab(&self) -> Command {
        mnistlab(self.home())
    }

    /// Trains a model, `mnistlab train ARGS --data-dir DATA`, and requires it to succeed;
    /// returns its output.
    pub fn train(&self, args: &[&str]) -> String {
        let (code, out, err) = run(self
            .mnistlab()
            .arg("train")
            .args(args)
            .args(["--data-dir", self.data_dir()]));
        assert_eq!(code, 0, "{out}\n{err}");
        out
    }
}

/// The MNIST-layout dataset under `root` (`root/mnist/`), searched nowhere else.
pub fn load_mnist_from(root: &Path) -> mnistlab::data::LoadedDataset {
    let sources = mnistlab::data::DataSources {
        roots: vec![(root.to_path_buf(), "test")],
        ..Default::default()
    };
    mnistlab::data::LoadedDataset::load(mnistlab::data::Dataset::Mnist, &sources).unwrap()
}

/// A running `mnistlab serve`, killed when dropped.
pub struct Served {
    /// The server process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Served {
    pub fn start(home: &Path, models: &[PathBuf]) -> Served {
        let mut child = mnistlab(home)
            .arg("serve")
            .args(models)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Served { child, base }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Trains the 5×5 CNN for one epoch on the first `images` real MNIST training images (a few
/// hundred steps) under `home/logs`; returns its best model file.
pub fn train_quick_cnn(home: &Path, data: &Path, images: usize) -> PathBuf {
    let (code, _, err) = run(mnistlab(home)
        .args([
            "train",
            "--model",
            "cnn",
            "--epochs",
            "1",
            "--no-histograms",
        ])
        .args(["--train-images", &images.to_string(), "--data-dir"])
        .arg(data));
    assert_eq!(code, 0, "{err}");
    home.join("logs/cnn-0/best_model.safetensors")
}

/// Runs the Python script `tests/<script>` with `args`, requires success, and parses the JSON
/// it prints.
pub fn python_json<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A photo-like page of `w × h`: cream paper lit from one side, pale blue ruling every
/// 15 pixels per 600 of width, a red margin line, and (when `written`) three dark blue marks left
/// to right (a bar, a ring and a 7-like hook) each half the page tall — a number of three
/// digits as far as finding and cutting digits goes. Drawn for 600 × 300 and scaled.
pub fn ruled_page(w: u32, h: u32, written: bool) -> image::RgbImage {
    let s = w as f32 / 600.0; // drawn at 600 pixels wide, scaled
    image::RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / s, y as f32 / s);
        let light = 1.0 - 0.35 * x as f32 / w as f32;
        let mut c = [242.0f32, 236.0, 212.0];
        if (fy as u32 + 3) % 15 < 2 {
            c = [160.0, 180.0, 225.0];
        }
        if (fx - 40.0).abs() < 1.5 {
            c = [215.0, 90.0, 95.0];
        }
        let half = 3.0; // half a stroke
        let bar = (fx - 150.0).abs() < half && (80.0..230.0).contains(&fy);
        let ring = {
            let (dx, dy) = ((fx - 260.0) / 45.0, (fy - 155.0) / 75.0);
            ((dx * dx + dy * dy).sqrt() - 1.0).abs() < half / 55.0
        };
        let hook = ((fy - 80.0).abs() < half && (350.0..440.0).contains(&fx))
            || ((fx - (440.0 - (fy - 80.0) * 0.45)).abs() < half && (80.0..230.0).contains(&fy));
        if written && (bar || ring || hook) {
            c = [30.0, 45.0, 140.0];
        }
        image::Rgb(c.map(|v| (v * light) as u8))
    })
}
