//! Nothing lost, nothing half-written: Ctrl-C and resume give the same weights as an uninterrupted
//! run, SIGKILL at random moments leaves loadable files and a resumable run, NaN stops cleanly.

mod common;

use common::{mnistlab, needs, run, Fixture};
use mnistlab::model::read_safetensors;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const ARCH: &str = "8C3-BN-ReLU-MP2-Drop0.2-D10";

fn train_args(data: &Path, name: &str, epochs: &str) -> Vec<String> {
    let d = data.display().to_string();
    [
        "train",
        "--arch",
        ARCH,
        "--epochs",
        epochs,
        "--augment",
        "--batch-size",
        "50",
        "--data-dir",
        &d,
        "--name",
        name,
    ]
    .map(String::from)
    .to_vec()
}

fn spawn(home: &Path, args: &[String]) -> Child {
    mnistlab(home)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits until `path` exists (or the child ended), at most 60 s.
fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() && child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The model tensors of a resume state, by name.
fn final_weights(run_dir: &Path) -> Vec<(String, Vec<u8>)> {
    let path = run_dir.join("last_state.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let (_, tensors) = read_safetensors(&path, &bytes).unwrap();
    let mut out: Vec<_> = tensors
        .tensors()
        .into_iter()
        .filter(|(name, _)| name.starts_with("model."))
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    out.sort();
    out
}

fn history_losses(run_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run_dir.join("history.csv")).unwrap();
    // epoch, loss, accuracy, val_loss, val_accuracy (time differs)
    text.lines()
        .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn ctrl_c_then_resume_equals_an_uninterrupted_run() {
    let fx = Fixture::new(2000, 100);
    let (code, _, err) = run(fx
        .mnistlab()
        .args(train_args(&fx.data, "whole", "3"))
        .arg("--threads")
        .arg("2"));
    assert_eq!(code, 0, "{err}");

    let whole = fx.home().join("logs/whole-0");
    // Interrupt right when epoch 1 is recorded (between epochs), and later inside epoch 2.
    for (i, delay) in [0u64, 120].into_iter().enumerate() {
        let name = format!("cut{i}");
        let args: Vec<String> = train_args(&fx.data, &name, "3")
            .into_iter()
            .chain(["--threads".into(), "2".into()])
            .collect();
        let child = spawn(fx.home(), &args);
        let cut = fx.home().join(format!("logs/{name}-0"));
        let history = cut.join("history.csv");
        let start = Instant::now();
        while std::fs::read_to_string(&history)
            .map(|t| t.lines().count())
            .unwrap_or(0)
            < 2
        {
            assert!(start.elapsed() < Duration::from_secs(60));
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(delay));
        signal(&child, "-INT");
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        assert!(
            stderr.contains("interrupted at epoch 2") || stderr.contains("interrupted at epoch 3"),
            "{stderr}"
        );
        assert!(cut.join("last_state.safetensors").is_file());

        let (code, out, err) =
            run(fx
                .mnistlab()
                .args(["--threads", "2", "train", "--resume", cut.to_str().unwrap()]));
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Resuming after epoch"), "{out}");
        assert_eq!(
            history_losses(&cut),
            history_losses(&whole),
            "delay {delay} ms"
        );
        assert_eq!(
            final_weights(&cut),
            final_weights(&whole),
            "delay {delay} ms: resumed weights differ"
        );
        // Same weights and metadata, same bytes: a model file's checksum means something.
        let bytes = |dir: &Path| std::fs::read(dir.join("best_model.safetensors")).unwrap();
        assert!(
            bytes(&cut) == bytes(&whole),
            "delay {delay} ms: model files differ"
        );
    }
}

#[test]
fn sigkill_at_twenty_random_moments_leaves_a_loadable_best_model_and_a_resumable_run() {
    let fx = Fixture::new(1500, 100);
    // How long an uninterrupted run takes, to spread the kills over it.
    let start = Instant::now();
    let (code, _, err) = run(fx.mnistlab().args(train_args(&fx.data, "timing", "3")));
    assert_eq!(code, 0, "{err}");
    let span = start.elapsed().as_millis() as u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let data = common::load_mnist_from(&fx.data);
    for i in 0..20 {
        let name = format!("kill{i}");
        let dir: PathBuf = fx.home().join(format!("logs/{name}-0"));
        let mut child = spawn(fx.home(), &train_args(&fx.data, &name, "3"));
        wait_for(&dir.join("args.json"), &mut child);
        std::thread::sleep(Duration::from_millis(rng.random_range(0..span)));
        signal(&child, "-KILL");
        child.wait().unwrap();

        let best = dir.join("best_model.safetensors");
        if best.exists() {
            let mut model =
                mnistlab::model::load(&best).unwrap_or_else(|e| panic!("kill {i}: {e}"));
            let eval = mnistlab::eval::evaluate(&mut model, &data.test, 64).unwrap();
            assert!(eval.loss.is_finite(), "kill {i}");
        }
        let (code, out, err) =
            run(fx
                .mnistlab()
                .args(["train", "--resume", dir.to_str().unwrap()]));
        assert_eq!(code, 0, "kill {i}: resume failed\n{out}\n{err}");
        let history = std::fs::read_to_string(dir.join("history.csv")).unwrap();
        assert_eq!(history.lines().count(), 4, "kill {i}: {history}");
        assert!(dir.join("results.json").is_file());
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "kill {i}: {leftovers:?}");
    }
}

#[test]
fn a_diverging_run_stops_with_exit_code_3_naming_epoch_and_step() {
    let fx = Fixture::new(500, 50);
    let (code, _, err) = run(fx.mnistlab().args([
        "train",
        "--model",
        "mlp",
        "--lr",
        "1e30",
        "--epochs",
        "2",
        "--data-dir",
        fx.data_dir(),
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.starts_with("error: loss became NaN or infinite at epoch 1, step "),
        "{err}"
    );
    // Whatever was saved before the divergence is whole and finite.
    let dir = fx.home().join("logs/mlp-0");
    if let Ok(model) = mnistlab::model::load(&dir.join("best_model.safetensors")) {
        assert!(model.params.values.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn resuming_a_run_that_a_live_process_trains_is_refused() {
    let fx = Fixture::new(1500, 100);
    let dir = fx.home().join("logs/busy-0");
    let mut child = spawn(fx.home(), &train_args(&fx.data, "busy", "3"));
    wait_for(&dir.join("args.json"), &mut child);
    // Stopped, it holds its lock without finishing under our feet.
    signal(&child, "-STOP");
    let resume = || {
        run(fx
            .mnistlab()
            .args(["train", "--resume", dir.to_str().unwrap()]))
    };
    let (code, _, err) = resume();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{}: another process is training this run",
            dir.display()
        )),
        "{err}"
    );
    signal(&child, "-KILL");
    child.wait().unwrap();
    // The lock dies with its process, however it dies.
    let (code, out, err) = resume();
    assert_eq!(code, 0, "{out}\n{err}");
    let history = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 4, "{history}");
}

/// A tmpfs of `size` mounted for one test, unmounted when dropped. Mounting needs root (CI runs
/// as root); elsewhere the test is skipped, and in CI (`CI` set) that is a failure.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        needs(mounted, "a tmpfs mount (as root)").then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the file system is full.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path().join("filler")).unwrap();
        while file.write_all(&[0u8; 4096]).is_ok() {}
        let _ = file.write_all(&[0u8; 1]);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_stops_training_naming_the_file_and_keeps_the_saved_run() {
    let fx = Fixture::new(1500, 100);
    let Some(disk) = Tmpfs::mount("16m") else {
        return;
    };
    let dir = disk.path().join("full-0");
    let mut args = train_args(&fx.data, "full", "3");
    args.extend(["--logdir".into(), disk.path().display().to_string()]);
    let mut child = spawn(fx.home(), &args);
    // Epoch 1 is saved: its best model and resume state are what must survive.
    wait_for(&dir.join("last_state.safetensors"), &mut child);
    signal(&child, "-STOP");
    let saved = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let (best, state) = (
        saved("best_model.safetensors"),
        saved("last_state.safetensors"),
    );
    disk.fill();
    signal(&child, "-CONT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let named = stderr
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .and_then(|l| l.split(": ").next())
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        Path::new(named).starts_with(&dir) && !named.contains(".mnistlab-"),
        "names the file being written, not a temporary: {stderr}"
    );
    assert_eq!(saved("best_model.safetensors"), best, "best model intact");
    assert_eq!(
        saved("last_state.safetensors"),
        state,
        "resume state intact"
    );
    mnistlab::model::load(&dir.join("best_model.safetensors")).unwrap();

    std::fs::remove_file(disk.path().join("filler")).unwrap();
    let (code, out, err) = run(fx
        .mnistlab()
        .args(["train", "--resume", dir.to_str().unwrap()]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Resuming after epoch 1"), "{out}");
    let history = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 4, "{history}");
}
