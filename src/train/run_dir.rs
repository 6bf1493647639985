//! Every training run gets its own directory, `<logdir>/<name>-<i>` with the first free `i`,
//! created atomically (so two runs started at once never share one), and a `summary.txt` with
//! the executed command and all arguments.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Creates `<logdir>/<name>-<i>` for the first `i` not taken.
pub fn create_run_dir(logdir: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(logdir).map_err(|e| Error::io(logdir, e))?;
    for i in 0.. {
        let dir = logdir.join(format!("{name}-{i}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    unreachable!("some index is free")
}

/// The summary of a run as Markdown: the command line, then each argument and its value.
pub fn summary_markdown(command: &str, arguments: &[(String, String)]) -> String {
    let mut text = format!("# {command}\n\n| argument | value |\n|---|---|\n");
    for (name, value) in arguments {
        text.push_str(&format!("| {name} | {value} |\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_directories_are_numbered_and_unique() {
        let tmp = tempfile::tempdir().unwrap();
        let a = create_run_dir(tmp.path(), "cnn").unwrap();
        let b = create_run_dir(tmp.path(), "cnn").unwrap();
        let c = create_run_dir(tmp.path(), "mlp").unwrap();
        assert_eq!(a.file_name().unwrap(), "cnn-0");
        assert_eq!(b.file_name().unwrap(), "cnn-1");
        assert_eq!(c.file_name().unwrap(), "mlp-0");
    }
}
