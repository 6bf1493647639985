//! Sweeps as Slurm job arrays on a real single-node Slurm (Debian's slurm-wlm and munge,
//! installed by `.ci/run`): the test writes a slurm.conf in a temporary directory, starts munged,
//! slurmctld and slurmd as its own processes, submits sweeps with `mnistlab sweep slurm --submit`
//! and stops the daemons by their PIDs whatever happens.

mod common;

use common::{mnistlab, needs, real_data, run};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A one-node Slurm cluster in a temporary directory.
struct Cluster {
    dir: tempfile::TempDir,
    daemons: Vec<(&'static str, Child)>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Starts the daemons and waits (at most 30 s) for the node to be idle.
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["state", "spool", "munge"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let key: Vec<u8> = (0..1024u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 ^ std::process::id() as u8)
            .collect();
        let key_path = d.join("munge.key");
        std::fs::write(&key_path, key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o400)).unwrap();
        std::fs::set_permissions(d.join("munge"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = d.join("munge/munge.socket");
        let mut cluster = Cluster {
            dir,
            daemons: Vec::new(),
        };
        let d = cluster.dir.path().to_path_buf();
        let munged = Command::new("munged")
            .args(["--foreground", "--force"])
            .arg(format!("--key-file={}", key_path.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--log-file={}", d.join("munged.log").display()))
            .arg(format!("--pid-file={}", d.join("munged.pid").display()))
            .arg(format!("--seed-file={}", d.join("munged.seed").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("munged starts (Debian package munge)");
        cluster.daemons.push(("munged", munged));
        cluster.wait("munged's socket", || socket.exists());

        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let conf = format!(
            "ClusterName=mnistlab\nSlurmctldHost=localhost(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n\
             AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket={socket}\n\
             SlurmctldPort={ctld}\nSlurmdPort={slurmd}\n\
             StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
             AccountingStorageType=accounting_storage/none\nJobCompType=jobcomp/none\n\
             JobAcctGatherType=jobacct_gather/none\nMpiDefault=none\nReturnToService=2\n\
             NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1024 State=UNKNOWN\n\
             PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP\n",
            socket = socket.display(),
            ctld = free_port(),
            slurmd = free_port(),
            d = d.display(),
        );
        std::fs::write(cluster.conf(), conf).unwrap();
        for (name, args) in [
            ("slurmctld", vec!["-D", "-i"]),
            ("slurmd", vec!["-D", "-N", "localhost"]),
        ] {
            let child = Command::new(name)
                .args(args)
                .env("SLURM_CONF", cluster.conf())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{name} starts (Debian package slurm-wlm): {e}"));
            cluster.daemons.push((name, child));
        }
        cluster.wait("the node to be idle", || {
            let out = cluster.command("sinfo").args(["-h", "-o", "%t"]).output();
            out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        });
        cluster
    }

    /// A Slurm client command that talks to this cluster.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", self.conf());
        cmd
    }

    fn wait(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ready() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "Slurm did not start: waiting for {what}\nslurmctld.log:\n{}\nslurmd.log:\n{}\nmunged.log:\n{}",
                self.log("slurmctld.log"),
                self.log("slurmd.log"),
                self.log("munged.log")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (at most 3 minutes) until job `id` has left the queue.
    fn wait_for_job(&self, id: &str) {
        let start = Instant::now();
        loop {
            let out = self
                .command("squeue")
                .args(["-h", "-j", id, "-o", "%i %T"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() || text.trim().is_empty() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "job {id} still queued: {text}\n{}",
                self.log("slurmctld.log")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    /// A clean shutdown first (so that slurmctld's helper and slurmd's step daemons end with
    /// them), then SIGTERM, then SIGKILL, each daemon by its own PID.
    fn drop(&mut self) {
        let _ = self
            .command("scontrol")
            .arg("shutdown")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for signal in [
            None,
            Some(nix::sys::signal::Signal::SIGTERM),
            Some(nix::sys::signal::Signal::SIGKILL),
        ] {
            if let Some(signal) = signal {
                for (_, daemon) in &self.daemons {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(daemon.id() as i32),
                        signal,
                    );
                }
            }
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if self
                    .daemons
                    .iter_mut()
                    .all(|(_, d)| d.try_wait().is_ok_and(|s| s.is_some()))
                {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Submits the sweep `file`; returns the job id and the command's output.
fn submit(home: &Path, cluster: &Cluster, file: &Path) -> (String, String) {
    let (code, out, err) = run(mnistlab(home)
        .env("SLURM_CONF", cluster.conf())
        .args([
            "sweep",
            "slurm",
            "--cpus-per-task",
            "1",
            "--max-parallel",
            "2",
            "--time",
            "00:10:00",
            "--submit",
        ])
        .arg(file));
    assert_eq!(code, 0, "{out}{err}");
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Submitted job array "))
        .unwrap_or_else(|| panic!("no job id in {out}"))
        .trim()
        .to_string();
    (id, out)
}

fn states(home: &Path, dir: &str) -> Vec<(u64, String, Option<String>)> {
    let (code, out, err) = run(mnistlab(home).args(["runs", "--json", dir]));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let mut states: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["state"].as_str().unwrap().to_string(),
                r["error"].as_str().map(String::from),
            )
        })
        .collect();
    states.sort();
    states
}

#[test]
fn sweeps_run_as_slurm_job_arrays_and_resubmission_runs_only_unfinished_points() {
    let Some(data) = real_data() else { return };
    let installed = ["munged", "slurmctld", "slurmd", "sbatch"].iter().all(|p| {
        Command::new("which")
            .arg(p)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !needs(installed, "slurm-wlm and munge") {
        return;
    }
    let cluster = Cluster::start();
    let home = tempfile::tempdir().unwrap();
    let base = "[base]\nmodel = \"mlp\"\nepochs = 1\ntrain_images = 2000\nno_histograms = true\n";

    // Four points on real MNIST, two at a time.
    let file = home.path().join("seeds.toml");
    std::fs::write(
        &file,
        format!(
            "seeds = [1, 2, 3, 4]\n{base}data_dir = {:?}\n",
            data.display()
        ),
    )
    .unwrap();
    let (id, out) = submit(home.path(), &cluster, &file);
    assert!(out.contains("4 array tasks (0-3 of 4 points"), "{out}");
    let script = std::fs::read_to_string(home.path().join("logs/seeds/sweep.sbatch")).unwrap();
    assert!(
        script.contains("#SBATCH --array=0-3%2") && script.contains("#SBATCH --cpus-per-task=1"),
        "{script}"
    );
    cluster.wait_for_job(&id);
    let got = states(home.path(), "logs/seeds");
    assert_eq!(
        got.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
        ["done"; 4],
        "{got:?}"
    );
    for task in 0..4 {
        assert!(
            home.path()
                .join(format!("logs/seeds/slurm/{id}_{task}.out"))
                .is_file(),
            "task {task}'s output file"
        );
    }
    let (code, out, err) = run(mnistlab(home.path())
        .args(["ensemble", "--best", "2", "logs/seeds", "--data-dir"])
        .arg(&data));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ensemble of 2: test loss"), "{out}");
    let (code, out, _) = run(mnistlab(home.path())
        .env("SLURM_CONF", cluster.conf())
        .args(["sweep", "slurm", "--submit"])
        .arg(&file));
    assert_eq!(code, 0);
    assert!(out.contains("nothing to submit"), "{out}");

    // One point whose data folder does not exist fails at run time; the others finish.
    let elsewhere = home.path().join("same-data");
    std::os::unix::fs::symlink(&data, &elsewhere).unwrap();
    let file = home.path().join("mixed.toml");
    let axes = format!(
        "[axes]\ndata_dir = [{:?}, {:?}, {:?}]\n",
        data.display(),
        elsewhere.display(),
        home.path().join("no-data").display()
    );
    std::fs::write(&file, format!("{base}\n{axes}")).unwrap();
    let (id, _) = submit(home.path(), &cluster, &file);
    cluster.wait_for_job(&id);
    let got = states(home.path(), "logs/mixed");
    assert_eq!(got[0].1, "done", "{got:?}");
    assert_eq!(got[1].1, "done", "{got:?}");
    assert_eq!(got[2].1, "failed", "{got:?}");
    assert!(
        got[2]
            .2
            .as_deref()
            .unwrap_or("")
            .contains("dataset mnist not found"),
        "{got:?}"
    );
    let results = home.path().join("logs/mixed/mixed-000/results.json");
    let before = std::fs::metadata(&results).unwrap().modified().unwrap();

    // Re-submitting submits only the failed point.
    let (again, out) = submit(home.path(), &cluster, &file);
    assert!(out.contains("1 array task (2 of 3 points"), "{out}");
    let script = std::fs::read_to_string(home.path().join("logs/mixed/sweep.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=2%2"), "{script}");
    cluster.wait_for_job(&again);
    let mut log = String::new();
    std::fs::File::open(home.path().join(format!("logs/mixed/slurm/{again}_2.out")))
        .expect("the failed point ran again")
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("dataset mnist not found"), "{log}");
    assert!(
        !home
            .path()
            .join(format!("logs/mixed/slurm/{again}_0.out"))
            .exists(),
        "done points are not resubmitted"
    );
    assert_eq!(
        std::fs::metadata(&results).unwrap().modified().unwrap(),
        before
    );
    assert_eq!(states(home.path(), "logs/mixed")[2].1, "failed");
}
