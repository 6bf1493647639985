//! Where datasets come from: their files and checksums, the places searched on disk, and the
//! download from public mirrors into the user cache.
//!
//! Search order for dataset `<name>`: `--data-dir DIR` (a folder holding `<name>/`), the
//! environment variable `MNISTLAB_DATA` (same layout), the user cache (`~/.cache/mnistlab/<name>`),
//! the system path `/usr/share/datasets/<name>` (Debian's `dataset-fashion-mnist` installs there),
//! then a download from the mirrors into the cache, each file checked against its SHA-256.
//! `MNISTLAB_MIRROR` replaces the mirror list (`none` turns downloading off).

use super::dataset::{DatasetInfo, FileInfo};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The places searched, in order, and whether and where to download.
#[derive(Clone, Debug, Default)]
pub struct DataSources {
    /// Folders holding `<dataset>/`, searched in order, each with where it came from.
    pub roots: Vec<(PathBuf, &'static str)>,
    /// Where downloads go: `<cache>/<dataset>/`.
    pub cache: Option<PathBuf>,
    /// Base URLs to download from; empty to never download.
    pub mirrors: Option<Vec<String>>,
}

impl DataSources {
    /// The standard search order with `data_dir` (from `--data-dir`) first.
    pub fn standard(data_dir: Option<PathBuf>) -> Self {
        let mut roots = Vec::new();
        if let Some(dir) = data_dir {
            roots.push((dir, "--data-dir"));
        }
        if let Some(dir) = std::env::var_os("MNISTLAB_DATA").filter(|v| !v.is_empty()) {
            roots.push((PathBuf::from(dir), "MNISTLAB_DATA"));
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|c| c.join("mnistlab"));
        if let Some(dir) = &cache {
            roots.push((dir.clone(), "cache"));
        }
        roots.push((PathBuf::from("/usr/share/datasets"), "system"));
        let mirrors = std::env::var("MNISTLAB_MIRROR")
            .ok()
            .map(|m| match m.as_str() {
                "none" | "" => Vec::new(),
                list => list.split(',').map(str::to_string).collect(),
            });
        DataSources {
            roots,
            cache,
            mirrors,
        }
    }
}

/// The path of `file` in `dir`: gzipped or raw, or `None`.
pub fn find_file(dir: &Path, file: &FileInfo) -> Option<PathBuf> {
    [format!("{}.gz", file.name), file.name.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// The folder holding all four files of `info`, searching then downloading.
pub fn locate(info: &DatasetInfo, sources: &DataSources) -> Result<PathBuf> {
    let mut tried = Vec::new();
    for (root, origin) in &sources.roots {
        let dir = root.join(info.dataset.name());
        let missing: Vec<_> = info
            .files
            .iter()
            .filter(|f| find_file(&dir, f).is_none())
            .map(|f| f.name)
            .collect();
        if missing.is_empty() {
            return Ok(dir);
        }
        let why = if dir.is_dir() {
            format!("missing {}[.gz]", missing.join("[.gz], "))
        } else {
            "no such folder".into()
        };
        tried.push(format!("{} ({origin}): {why}", dir.display()));
    }
    let mirrors: Vec<String> = match &sources.mirrors {
        Some(list) => list.clone(),
        None => info.mirrors.iter().map(|m| m.to_string()).collect(),
    };
    match (&sources.cache, mirrors.is_empty()) {
        (Some(cache), false) => match download(info, &cache.join(info.dataset.name()), &mirrors) {
            Ok(dir) => return Ok(dir),
            Err(e) => tried.push(format!("download: {e}")),
        },
        _ => tried.push("download: turned off (MNISTLAB_MIRROR=none or no cache folder)".into()),
    }
    Err(Error::Dataset(format!(
        "dataset {} not found; tried {}. Put the four IDX files (.gz or raw) in <DIR>/{} and pass --data-dir <DIR> \
         or set MNISTLAB_DATA=<DIR>",
        info.dataset,
        tried.join("; "),
        info.dataset
    )))
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Downloads every file of `info` missing from `dir`, verifying checksums; returns `dir`.
pub fn download(info: &DatasetInfo, dir: &Path, mirrors: &[String]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_body(Some(Duration::from_secs(300)))
        .build()
        .into();
    for file in info.files.iter().filter(|f| find_file(dir, f).is_none()) {
        let mut errors = Vec::new();
        let fetched = mirrors.iter().find_map(|mirror| {
            let url = format!("{}/{}.gz", mirror.trim_end_matches('/'), file.name);
            match fetch_verified(&agent, &url, file) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    errors.push(format!("{url}: {e}"));
                    None
                }
            }
        });
        let bytes = fetched.ok_or_else(|| Error::Dataset(errors.join("; ")))?;
        write_atomic(&dir.join(format!("{}.gz", file.name)), &bytes)?;
    }
    Ok(dir.to_path_buf())
}

/// The gzipped bytes at `url`, if their decompression has `file`'s checksum.
fn fetch_verified(
    agent: &ureq::Agent,
    url: &str,
    file: &FileInfo,
) -> std::result::Result<Vec<u8>, String> {
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let total = response.body().content_length();
    let bar = match total {
        Some(len) => indicatif::ProgressBar::new(len),
        None => indicatif::ProgressBar::no_length(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("valid template"),
    );
    bar.set_message(format!("downloading {}.gz", file.name));
    let mut bytes = Vec::new();
    bar.wrap_read(response.body_mut().with_config().limit(200 << 20).reader())
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let raw = super::idx::decompress(Path::new(url), bytes.clone()).map_err(|e| e.to_string())?;
    let sum = sha256_hex(&raw);
    if sum != file.sha256 {
        return Err(format!(
            "checksum mismatch: got sha256 {sum}, expected {}",
            file.sha256
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::MNIST;

    #[test]
    fn sha256_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn not_found_lists_every_place_and_how_to_fix_it() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("mnist")).unwrap();
        std::fs::write(tmp.path().join("mnist/train-images-idx3-ubyte.gz"), b"x").unwrap();
        let sources = DataSources {
            roots: vec![
                (tmp.path().to_path_buf(), "--data-dir"),
                (tmp.path().join("nope"), "MNISTLAB_DATA"),
            ],
            cache: None,
            mirrors: Some(Vec::new()),
        };
        let err = locate(&MNIST, &sources).unwrap_err().to_string();
        assert!(
            err.contains("missing train-labels-idx1-ubyte[.gz]"),
            "{err}"
        );
        assert!(
            err.contains("nope/mnist (MNISTLAB_DATA): no such folder"),
            "{err}"
        );
        assert!(err.contains("MNISTLAB_DATA=<DIR>"), "{err}");
        assert!(!err.contains('\n'));
    }
}
