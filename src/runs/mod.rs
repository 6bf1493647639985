//! Run records: everything a training run leaves on disk and reads back. A run directory and its
//! files ([`run_dir`]), the per-epoch history ([`history`]), one training run end to end as
//! `mnistlab train` runs it ([`training`]), and finished runs read back as a table ([`table`]) or
//! as learning curves ([`plot`]).

pub mod history;
pub mod plot;
pub mod run_dir;
pub mod table;
pub mod training;

pub use table::{list_runs, read_run, runs_table, Run};
