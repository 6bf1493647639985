//! Peak memory of training: every preset trains on real MNIST within 200 MiB (the whole
//! process, the dataset included), measured as the kernel counts it (getrusage).

mod common;

use common::{mnistlab, real_data, run};
use nix::sys::resource::{getrusage, UsageWho};

/// The largest peak resident set of the children waited for so far, in MiB.
fn children_peak_mib() -> f64 {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    usage.max_rss() as f64 / 1024.0
}

// The only test in this file: the children's peak is one number for the whole process.
#[test]
fn every_preset_trains_within_200_mib() {
    let Some(data) = real_data() else { return };
    let home = tempfile::tempdir().unwrap();
    for preset in mnistlab::model::PRESETS.map(|(name, _, _)| name) {
        // The whole dataset is read and held; a few batches train, and the best model is tested
        // on all 10,000 test images.
        let (code, _, err) = run(mnistlab(home.path())
            .args([
                "train",
                "--model",
                preset,
                "--epochs",
                "1",
                "--train-images",
                "1500",
            ])
            .args(["--no-histograms", "--logdir", "runs"])
            .env("MNISTLAB_DATA", &data));
        assert_eq!(code, 0, "{preset}: {err}");
        let peak = children_peak_mib();
        eprintln!("{preset}: peak so far {peak:.0} MiB");
        assert!(
            peak <= 200.0,
            "{preset}: peak resident memory {peak:.0} MiB"
        );
    }
}
