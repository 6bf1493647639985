//! `mnistlab sweep` on this machine: bad sweep files refused before anything runs, `run -j 2`,
//! a sweep killed with SIGKILL and run again, Ctrl-C and continue, and the results commands.

mod common;

use common::{mnistlab, run, Fixture};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A sweep file in the fixture's home over its synthetic dataset.
fn sweep_file(fx: &Fixture, name: &str, base: &str, axes: &str) -> std::path::PathBuf {
    let text = format!(
        "name = \"{name}\"\nseeds = [1, 2]\n\n[base]\ndata_dir = {:?}\nno_histograms = true\n{base}\n\n[axes]\n{axes}\n",
        fx.data.display()
    );
    let path = fx.home().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn report(home: &Path, dir: &str) -> Vec<serde_json::Value> {
    let (code, out, err) = run(mnistlab(home).args(["runs", "--json", dir]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn bad_sweep_files_are_refused_before_anything_runs() {
    let home = tempfile::tempdir().unwrap();
    let cases = [
        (
            "colour = 1\n[base]\nmodel = \"linear\"\n",
            "unknown field `colour`",
        ),
        (
            "[base]\nmodel = \"linear\"\nlearning_rate = 0.1\n",
            "learning-rate: not a train flag",
        ),
        ("[axes]\nlr = []\n", "axes.lr: is empty"),
        (
            "[axes]\nlr = [0.001, -1.0]\n",
            "point 1 (lr=-1.0): --lr: must be a positive number",
        ),
        (
            "[base]\nmodel = \"cnn-bnn\"\n",
            "--model: unknown preset \"cnn-bnn\"",
        ),
        (
            "[base]\nlogdir = \"elsewhere\"\n",
            "base.logdir: cannot be set in a sweep",
        ),
        (
            "method = \"random\"\n[axes]\nlr = [0.1]\n",
            "n: a random sweep needs n",
        ),
        (
            "[axes]\nlr = {min = 0.1, max = 1.0}\n",
            "need method = \"random\"",
        ),
        ("[axes\nlr = [1]\n", "(line 1)"),
    ];
    for (text, needle) in cases {
        std::fs::write(home.path().join("s.toml"), text).unwrap();
        for sub in ["plan", "run"] {
            let (code, out, err) = run(mnistlab(home.path()).args(["sweep", sub, "s.toml"]));
            assert_eq!(code, 2, "{text}: {out}");
            assert!(
                err.starts_with("error: s.toml: ") && err.contains(needle),
                "{text}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        assert!(
            !home.path().join("logs").exists(),
            "{text}: nothing may be written"
        );
    }
    // A grid of 101 × 100 points needs --yes.
    let values = |n: usize| {
        (1..=n)
            .map(|i| format!("{}", i as f64 * 1e-4))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let big = format!(
        "[base]\nmodel = \"linear\"\n[axes]\nlr = [{}]\nl2 = [{}]\n",
        values(101),
        values(100)
    );
    std::fs::write(home.path().join("big.toml"), big).unwrap();
    let (code, _, err) = run(mnistlab(home.path()).args(["sweep", "run", "big.toml"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("10100 points, more than the limit of 10000 (pass --yes"),
        "{err}"
    );
    let (code, out, err) = run(mnistlab(home.path()).args(["sweep", "plan", "--yes", "big.toml"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Sweep big: 10100 points (lr ×101, l2 ×100)"),
        "{out}"
    );
    assert!(!home.path().join("logs").exists(), "plan writes nothing");
}

#[test]
fn run_with_two_jobs_finishes_every_point_and_feeds_runs_ensemble_and_plot() {
    let fx = Fixture::new(600, 100);
    let file = sweep_file(
        &fx,
        "grid",
        "model = \"linear\"\nepochs = 2",
        "lr = [0.001, 0.003]",
    );
    let (code, out, err) = run(fx.mnistlab().args(["sweep", "run", "-j", "2"]).arg(&file));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("4 points, 0 done, 4 to run, 2 at a time"),
        "{out}"
    );
    assert_eq!(out.matches("done, val_accuracy").count(), 4, "{out}");
    let rows = report(fx.home(), "logs/grid");
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row["state"], "done", "{row}");
        let run = fx.home().join(row["run"].as_str().unwrap());
        assert!(run.join("results.json").is_file() && run.join("best_model.safetensors").is_file());
    }
    // Sorted by validation accuracy, axis values with each point.
    let accs: Vec<f64> = rows
        .iter()
        .map(|r| r["best_val_accuracy"].as_f64().unwrap())
        .collect();
    assert!(accs.windows(2).all(|w| w[0] >= w[1]), "{accs:?}");
    assert_eq!(rows[0]["values"][0][0], "lr");
    let sweep: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fx.home().join("logs/grid/sweep.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sweep["points"].as_array().unwrap().len(), 4);
    assert_eq!(
        sweep["points"][3]["args"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "2",
        "seed 2 last"
    );

    let (code, out, err) = run(fx.mnistlab().args(["runs", "logs/grid"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("| point | lr | seed | state |"), "{out}");
    let data = fx.home().join("data");
    let (code, out, err) = run(fx
        .mnistlab()
        .args(["ensemble", "--best", "2", "logs/grid", "--data-dir"])
        .arg(&data));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ensemble of 2: test loss"), "{out}");
    let (code, _, err) = run(fx
        .mnistlab()
        .args(["plot", "logs/grid", "-o", "curves.png"]));
    assert_eq!(code, 0, "{err}");
    assert!(fx.home().join("curves.png").is_file());

    // Everything done: a second run starts nothing; a task on a done point is a no-op.
    let (code, out, _) = run(fx.mnistlab().args(["sweep", "run"]).arg(&file));
    assert_eq!(code, 0);
    assert!(out.contains("4 done, 0 to run"), "{out}");
    let (code, out, _) = run(fx.mnistlab().args(["sweep", "task"]).arg(&file).arg("1"));
    assert_eq!(code, 0);
    assert!(out.contains("is done already"), "{out}");
    let (code, _, err) = run(fx.mnistlab().args(["sweep", "task"]).arg(&file).arg("4"));
    assert_eq!(code, 2);
    assert!(err.contains("past the sweep's 4 points"), "{err}");
}

/// Polls until `done` holds, for at most a minute.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A point in the middle of training: it has saved a resume state but not finished.
fn mid_run(sweep_dir: &Path) -> bool {
    std::fs::read_dir(sweep_dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let p = e.path();
            p.join("last_state.safetensors").is_file() && !p.join("results.json").is_file()
        })
}

fn assert_all_done_once(home: &Path, dir: &str, epochs: usize) {
    let rows = report(home, dir);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row["state"], "done", "{row}");
        let history =
            std::fs::read_to_string(home.join(row["run"].as_str().unwrap()).join("history.csv"))
                .unwrap();
        assert_eq!(
            history.lines().count(),
            1 + epochs,
            "every epoch once: {history}"
        );
    }
    let dirs = std::fs::read_dir(home.join(dir))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(dirs, 4, "no duplicate run directories");
}

#[test]
fn a_sweep_killed_with_sigkill_finishes_every_point_once_when_run_again() {
    let fx = Fixture::new(600, 100);
    let epochs = 8;
    let file = sweep_file(
        &fx,
        "killed",
        &format!("arch = \"8C3-ReLU-MP2-D10\"\nepochs = {epochs}"),
        "lr = [0.001, 0.002]",
    );
    // Its own process group, so that the kill takes the runs it started too (a machine dying).
    let mut child = fx
        .mnistlab()
        .args(["sweep", "run", "-j", "2"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let sweep_dir = fx.home().join("logs/killed");
    wait_until("a run mid-way", || mid_run(&sweep_dir));
    // The whole machine dies: `sweep run` and every run it started (each in a group of its
    // own, found by the sweep file's unique path).
    let group = format!("-{}", child.id());
    assert!(std::process::Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .unwrap()
        .success());
    let pattern = format!(
        "sweep task {}",
        std::fs::canonicalize(&file).unwrap().display()
    );
    let _ = std::process::Command::new("pkill")
        .args(["-KILL", "-f", &pattern])
        .status();

    let _ = child.wait();
    // The killed runs' locks go with them (the kernel releases a dead process's locks).
    wait_until("the killed runs to be gone", || {
        report(fx.home(), "logs/killed")
            .iter()
            .all(|r| r["state"] != "running")
    });

    let (code, out, err) = run(fx.mnistlab().args(["sweep", "run", "-j", "2"]).arg(&file));
    assert_eq!(code, 0, "{out}{err}");
    assert_all_done_once(fx.home(), "logs/killed", epochs);
}

#[test]
fn ctrl_c_stops_a_sweep_cleanly_and_the_next_run_continues_it() {
    let fx = Fixture::new(600, 100);
    let epochs = 8;
    let file = sweep_file(
        &fx,
        "stopped",
        &format!("arch = \"8C3-ReLU-MP2-D10\"\nepochs = {epochs}"),
        "lr = [0.001, 0.002]",
    );
    let child = fx
        .mnistlab()
        .args(["sweep", "run"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let sweep_dir = fx.home().join("logs/stopped");
    wait_until("a run mid-way", || mid_run(&sweep_dir));
    // Ctrl-C at a terminal signals the whole foreground group, as here.
    let group = format!("-{}", child.id());
    assert!(std::process::Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap()
        .success());
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{out}");
    assert!(out.contains("Stopped after"), "{out}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        err.trim(),
        "error: stopped by Ctrl-C; run the same command again to continue"
    );
    let rows = report(fx.home(), "logs/stopped");
    let stopped = rows
        .iter()
        .find(|r| r["state"] == "interrupted")
        .expect("an interrupted point");
    // It stopped gracefully (state saved mid-epoch), not by a second signal's hard exit.
    let log = std::fs::read_to_string(
        fx.home()
            .join(stopped["run"].as_str().unwrap())
            .join("output.log"),
    )
    .unwrap();
    assert!(log.contains("Interrupted. Continue with"), "{log}");

    let (code, out, err) = run(fx.mnistlab().args(["sweep", "run"]).arg(&file));
    assert_eq!(code, 0, "{out}{err}");
    assert_all_done_once(fx.home(), "logs/stopped", epochs);
    let log = std::fs::read_to_string(sweep_dir.join("stopped-000/output.log")).unwrap();
    assert!(
        log.contains("Resuming after epoch"),
        "the interrupted point resumed: {log}"
    );
}
