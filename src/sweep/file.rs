//! Sweep files: read, checked and expanded into points.

use super::{point_state, PointState, SWEEP_JSON};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Points accepted unless the caller raises the limit (a typo in a grid should not start a
/// million runs).
pub const DEFAULT_MAX_POINTS: usize = 10_000;
/// Points never accepted, whatever the caller says: the plan is held in memory.
pub const HARD_MAX_POINTS: usize = 1_000_000;
/// Flags a sweep sets itself.
const RESERVED: [&str; 5] = ["logdir", "name", "resume", "run-dir", "seed"];

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Method {
    Grid,
    Random,
}

/// The file as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Option<String>,
    logdir: Option<PathBuf>,
    method: Option<Method>,
    n: Option<usize>,
    seed: Option<u64>,
    seeds: Option<Vec<u64>>,
    #[serde(default)]
    base: toml::Table,
    #[serde(default)]
    axes: toml::Table,
}

/// One axis: the values a flag takes.
#[derive(Clone, Debug, PartialEq)]
enum Axis {
    /// These values (grid: each; random: one drawn uniformly).
    List(Vec<toml::Value>),
    /// Random only: a number drawn from `[min, max]`, log-uniformly when `log`, whole when `int`.
    Range {
        min: f64,
        max: f64,
        log: bool,
        int: bool,
    },
}

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// 0-based index (the Slurm array task id).
    pub index: usize,
    /// Run directory name inside the sweep directory.
    pub run: String,
    /// The axis values (and the seed) of this point, in axis order.
    pub values: Vec<(String, toml::Value)>,
    /// Every `train` flag of this point, base and axes, as command-line arguments.
    pub args: Vec<String>,
}

/// A sweep file read and expanded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sweep {
    /// Its name.
    pub name: String,
    /// Where its runs go: `<logdir>/<name>`.
    pub dir: PathBuf,
    /// The axes' names (then `seed` when seeds are given), as the columns of its tables.
    pub axes: Vec<String>,
    /// Every point.
    pub points: Vec<Point>,
}

/// A TOML error as one line: the message and where.
fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> Error {
    let line = err
        .span()
        .map(|s| {
            format!(
                " (line {})",
                text[..s.start.min(text.len())].lines().count().max(1)
            )
        })
        .unwrap_or_default();
    let message = err.message().trim().replace('\n', " ");
    Error::format(path, format!("{message}{line}"))
}

fn is_scalar(v: &toml::Value) -> bool {
    matches!(
        v,
        toml::Value::String(_)
            | toml::Value::Integer(_)
            | toml::Value::Float(_)
            | toml::Value::Boolean(_)
    )
}

/// Flag names as on the command line (`bn_momentum` → `bn-momentum`).
fn flag_name(key: &str) -> String {
    key.replace('_', "-")
}

/// The command-line arguments of one flag.
fn flag_args(key: &str, value: &toml::Value) -> Vec<String> {
    let flag = format!("--{key}");
    match value {
        toml::Value::Boolean(true) => vec![flag],
        toml::Value::Boolean(false) => vec![],
        toml::Value::String(s) => vec![flag, s.clone()],
        toml::Value::Float(f) => vec![flag, f.to_string()],
        other => vec![flag, other.to_string()],
    }
}

fn parse_axis(path: &Path, key: &str, value: &toml::Value, method: Method) -> Result<Axis> {
    let bad = |why: &str| Error::format(path, format!("axes.{key}: {why}"));
    match value {
        toml::Value::Array(values) if values.is_empty() => {
            Err(bad("is empty; give at least one value"))
        }
        toml::Value::Array(values) => match values.iter().all(is_scalar) {
            true => Ok(Axis::List(values.clone())),
            false => Err(bad("values must be numbers, strings or booleans")),
        },
        toml::Value::Table(range) if method == Method::Random => {
            let number = |k: &str| match range.get(k) {
                Some(toml::Value::Float(f)) => Ok(*f),
                Some(toml::Value::Integer(i)) => Ok(*i as f64),
                _ => Err(bad(&format!("a range needs a number {k}"))),
            };
            let flag = |k: &str| match range.get(k) {
                None => Ok(false),
                Some(toml::Value::Boolean(b)) => Ok(*b),
                _ => Err(bad(&format!("{k} must be true or false"))),
            };
            if let Some(k) = range
                .keys()
                .find(|k| !["min", "max", "log", "int"].contains(&k.as_str()))
            {
                return Err(bad(&format!(
                    "unknown range key {k:?} (expected min, max, log, int)"
                )));
            }
            let (min, max, log, int) = (number("min")?, number("max")?, flag("log")?, flag("int")?);
            if !(min.is_finite() && max.is_finite() && min <= max) {
                return Err(bad("needs finite min ≤ max"));
            }
            if log && min <= 0.0 {
                return Err(bad("a log range needs min > 0"));
            }
            Ok(Axis::Range { min, max, log, int })
        }
        toml::Value::Table(_) => Err(bad(
            "ranges {min, max} need method = \"random\"; a grid takes lists",
        )),
        _ => Err(bad("must be a list of values")),
    }
}

impl Axis {
    fn draw(&self, rng: &mut crate::rng::Rng) -> toml::Value {
        match self {
            Axis::List(values) => values[rng.random_range(0..values.len())].clone(),
            Axis::Range { min, max, log, int } => {
                let u: f64 = rng.random();
                let v = match log {
                    true => (min.ln() + u * (max.ln() - min.ln())).exp(),
                    false => min + u * (max - min),
                };
                match int {
                    true => toml::Value::Integer(v.round() as i64),
                    // Four significant digits: readable in tables, and as good for a search.
                    false => toml::Value::Float(format!("{v:.3e}").parse().expect("a float")),
                }
            }
        }
    }
}

/// Reads the sweep file at `path`, refusing more than `max_points` points (capped at
/// [`HARD_MAX_POINTS`]). Relative log directories are taken from the current directory.
pub fn read(path: &Path, max_points: usize) -> Result<Sweep> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(path, &text, max_points)
}

/// Plans the sweep described by `text`, the contents of the sweep file at `path` (which names it
/// in errors and, without a `name`, names the sweep).
pub fn parse(path: &Path, text: &str, max_points: usize) -> Result<Sweep> {
    let file: SweepFile = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    let method = file.method.unwrap_or(Method::Grid);
    let bad = |why: String| Error::format(path, why);
    let name = match file.name {
        Some(n) if n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.') => {
            return Err(bad(format!(
                "name {n:?}: must be a plain name without slashes"
            )))
        }
        Some(n) => n,
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| bad("has no name to give the sweep".into()))?,
    };
    for (section, table) in [("base", &file.base), ("axes", &file.axes)] {
        for key in table.keys() {
            if RESERVED.contains(&flag_name(key).as_str()) {
                let hint = match key.as_str() {
                    "seed" => "use seeds = [...] at the top level",
                    _ => "the sweep sets it",
                };
                return Err(bad(format!(
                    "{section}.{key}: cannot be set in a sweep ({hint})"
                )));
            }
        }
    }
    if let Some((key, _)) = file.base.iter().find(|(_, v)| !is_scalar(v)) {
        return Err(bad(format!(
            "base.{key}: must be a number, a string or a boolean"
        )));
    }
    if let Some(key) = file.base.keys().find(|k| file.axes.contains_key(*k)) {
        return Err(bad(format!("{key}: is both in [base] and in [axes]")));
    }
    let axes = file
        .axes
        .iter()
        .map(|(k, v)| Ok((k.clone(), parse_axis(path, k, v, method)?)))
        .collect::<Result<Vec<_>>>()?;
    let seeds = match file.seeds {
        Some(s) if s.is_empty() => {
            return Err(bad(
                "seeds: is empty; leave it out for train's default".into()
            ))
        }
        Some(s) => Some(s),
        None => None,
    };
    let per_seed = match method {
        Method::Grid => {
            if file.n.is_some() {
                return Err(bad("n: only a random sweep draws n points".into()));
            }
            axes.iter().try_fold(1usize, |acc, (_, axis)| match axis {
                Axis::List(v) => acc.checked_mul(v.len()),
                Axis::Range { .. } => unreachable!("grids refuse ranges"),
            })
        }
        Method::Random => match file.n {
            Some(0) | None => return Err(bad("n: a random sweep needs n ≥ 1 draws".into())),
            Some(n) => Some(n),
        },
    };
    let count = per_seed.and_then(|p| p.checked_mul(seeds.as_ref().map_or(1, Vec::len)));
    let limit = max_points.min(HARD_MAX_POINTS);
    match count {
        Some(c) if c <= limit => {}
        _ => {
            return Err(Error::TooManyPoints {
                path: path.to_path_buf(),
                count: count.map_or("too many".into(), |c| c.to_string()),
                limit,
            });
        }
    }

    // The axis values of each point, before seeds.
    let mut combos: Vec<Vec<toml::Value>> = Vec::new();
    match method {
        Method::Grid => {
            combos.push(Vec::new());
            for (_, axis) in &axes {
                let Axis::List(values) = axis else {
                    unreachable!("grids refuse ranges")
                };
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        values.iter().map(move |v| {
                            let mut c = c.clone();
                            c.push(v.clone());
                            c
                        })
                    })
                    .collect();
            }
        }
        Method::Random => {
            let mut rng = crate::rng::seeded(file.seed.unwrap_or(0));
            for _ in 0..per_seed.unwrap_or(0) {
                combos.push(axes.iter().map(|(_, a)| a.draw(&mut rng)).collect());
            }
        }
    }
    let mut names: Vec<String> = axes.iter().map(|(k, _)| flag_name(k)).collect();
    let seed_values: Vec<Option<u64>> = match &seeds {
        Some(s) => s.iter().copied().map(Some).collect(),
        None => vec![None],
    };
    if seeds.is_some() {
        names.push("seed".into());
    }
    let width = count
        .unwrap_or(1)
        .saturating_sub(1)
        .to_string()
        .len()
        .max(3);
    let base_args: Vec<String> = file
        .base
        .iter()
        .flat_map(|(k, v)| flag_args(&flag_name(k), v))
        .collect();
    let mut points = Vec::new();
    for combo in &combos {
        for seed in &seed_values {
            let index = points.len();
            let mut values: Vec<(String, toml::Value)> =
                names.iter().cloned().zip(combo.iter().cloned()).collect();
            if let Some(seed) = seed {
                values.push(("seed".into(), toml::Value::Integer(*seed as i64)));
            }
            let mut args = base_args.clone();
            args.extend(values.iter().flat_map(|(k, v)| flag_args(k, v)));
            points.push(Point {
                index,
                run: format!("{name}-{index:0width$}"),
                values,
                args,
            });
        }
    }
    let dir = file
        .logdir
        .unwrap_or_else(|| PathBuf::from("logs"))
        .join(&name);
    Ok(Sweep {
        name,
        dir,
        axes: names,
        points,
    })
}

impl Sweep {
    /// The run directory of point `index`.
    pub fn run_dir(&self, index: usize) -> PathBuf {
        self.dir.join(&self.points[index].run)
    }

    /// Creates the sweep directory and writes `sweep.json` (the same bytes every time).
    pub fn write_description(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let json = serde_json::to_string_pretty(self).expect("serializable");
        write_atomic(&self.dir.join(SWEEP_JSON), json.as_bytes())
    }

    /// Where point `index` stands.
    pub fn state(&self, index: usize) -> PointState {
        point_state(&self.run_dir(index))
    }

    /// Points that are not done, in order.
    pub fn unfinished(&self) -> Vec<usize> {
        (0..self.points.len())
            .filter(|&i| self.state(i) != PointState::Done)
            .collect()
    }

    /// Points that are neither done nor running, in order.
    pub fn pending(&self) -> Vec<usize> {
        (0..self.points.len())
            .filter(|&i| !matches!(self.state(i), PointState::Done | PointState::Running))
            .collect()
    }
}

/// Distinct values per axis, for a plan's one-line summary.
pub fn axis_sizes(sweep: &Sweep) -> Vec<(String, usize)> {
    sweep
        .axes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let distinct: BTreeSet<String> = sweep
                .points
                .iter()
                .map(|p| p.values[i].1.to_string())
                .collect();
            (name.clone(), distinct.len())
        })
        .collect()
}
