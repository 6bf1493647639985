//! Every committed fuzz input — the minimized corpus of each target (`fuzz/corpus/<target>/`) and
//! every crash found (`fuzz/regressions/<target>/`) — fed to the same `mnistlab::untrusted`
//! function its fuzz target calls, on stable Rust: past findings stay fixed on every commit.

use std::path::{Path, PathBuf};

/// The files of `fuzz/<kind>/<target>/`, if any.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
}

/// Feeds every input of `target` to `entry`; returns how many there were.
fn replay(target: &str, mut entry: impl FnMut(&[u8])) -> usize {
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        for path in inputs(kind, target) {
            let bytes = std::fs::read(&path).unwrap();
            eprintln!("{}", path.display());
            entry(&bytes);
            count += 1;
        }
    }
    count
}

#[test]
fn every_committed_fuzz_input_is_handled() {
    let mut classifier = mnistlab::untrusted::http_classifier();
    let counts = [
        ("idx", replay("idx", |b| drop(mnistlab::untrusted::idx(b)))),
        (
            "model_file",
            replay("model_file", |b| drop(mnistlab::untrusted::model_file(b))),
        ),
        (
            "notation",
            replay("notation", |b| drop(mnistlab::untrusted::notation(b))),
        ),
        (
            "sweep_file",
            replay("sweep_file", |b| drop(mnistlab::untrusted::sweep_file(b))),
        ),
        (
            "picture",
            replay("picture", |b| drop(mnistlab::untrusted::picture(b))),
        ),
        (
            "onnx_file",
            replay("onnx_file", |b| drop(mnistlab::untrusted::onnx_file(b))),
        ),
        (
            "http_request",
            replay("http_request", |b| {
                drop(mnistlab::untrusted::http_request(b, &mut classifier))
            }),
        ),
    ];
    for (target, count) in counts {
        assert!(count > 0, "fuzz/corpus/{target}/ holds no input");
    }
}
