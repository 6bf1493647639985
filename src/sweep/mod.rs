//! Sweeps: many training runs described by one TOML file — a base set of `train` flags and axes
//! to combine — each point becoming one ordinary run directory inside the sweep's directory.
//!
//! ```toml
//! name = "lr-l2"             # default: the file's name; the sweep lives in <logdir>/<name>
//! logdir = "logs"            # default: logs
//! method = "grid"            # every combination; or "random" with n draws
//! seeds = [1, 2]             # each point once per seed (train's --seed)
//!
//! [base]                     # train flags for every point (names as on the command line)
//! model = "cnn-bn"
//! epochs = 3
//! augment = true
//!
//! [axes]                     # lists; for random also {min, max, log = true, int = true}
//! lr = [1e-3, 3e-4]
//! l2 = [0.0, 1e-4]
//! ```
//!
//! Only the structure is checked here; whether `train` accepts each point's flags is for the
//! caller, which knows them. A point's state is read from its run directory: `results.json`
//! (done), `error.txt` (failed), the lock held by a live process (running), `args.json`
//! (started, can be resumed), nothing (not started).

mod file;
mod local;
mod point;
mod report;
pub mod slurm;

pub use file::{axis_sizes, parse, read, Point, Sweep, DEFAULT_MAX_POINTS, HARD_MAX_POINTS};
pub use local::{LocalOutcome, LocalRunner};
pub use point::{claim_point, point_state, PointState, PointTask};
pub use report::{best_models, is_sweep_dir, report, report_table, PointReport};

/// The sweep's description beside its runs.
pub const SWEEP_JSON: &str = "sweep.json";
