//! Learning curves as a PNG: loss and accuracy per epoch, one colour per run, training solid and
//! validation dashed — the picture the tutorial draws with matplotlib.

use crate::error::{Error, Result, Setting};
use crate::runs::Run;
use plotters::prelude::*;
use std::path::Path;

/// TrueType fonts tried for the labels; `MNISTLAB_FONT` is tried first.
const FONT_PATHS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// (epoch, value) points of one curve.
type Curve = Vec<(i32, f64)>;

/// Runs this short (in epochs) get a marker on every point, so a two-point curve reads as two
/// measurements, not as a ruler line.
const MARKERS_UP_TO: usize = 20;

/// Registers a font for plotters once; errors when no font is installed.
fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<std::result::Result<(), String>> =
        std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let candidates = std::env::var("MNISTLAB_FONT").into_iter().chain(FONT_PATHS.iter().map(|s| s.to_string()));
            for path in candidates {
                if let Ok(bytes) = std::fs::read(&path) {
                    // plotters keeps fonts for the life of the program.
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                        return Ok(());
                    }
                }
            }
            Err("no TrueType font found for the plot labels: install fonts-dejavu-core or set MNISTLAB_FONT=/path/to/font.ttf".into())
        })
        .clone()
        .map_err(|e| Error::config(Setting::Plot, e))
}

/// Draws the learning curves of `runs` into the PNG `out`.
pub fn plot_runs(runs: &[Run], out: &Path) -> Result<()> {
    register_font()?;
    let draw_err = |e: String| Error::format(out, format!("cannot draw the plot: {e}"));
    let root = BitMapBackend::new(out, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
    let panels = root.split_evenly((1, 2));
    let epochs = runs.iter().map(|r| r.history.len()).max().unwrap_or(1);
    let max_epoch = epochs.max(2) as i32;
    for (panel, metric) in panels.iter().zip(["loss", "accuracy"]) {
        let series: Vec<(Curve, Curve)> = runs
            .iter()
            .map(|r| {
                let pick = |val: bool| -> Curve {
                    r.history
                        .iter()
                        .filter_map(|h| {
                            let v = match (metric, val) {
                                ("loss", false) => Some(h.loss),
                                ("loss", true) => h.val_loss,
                                (_, false) => Some(h.accuracy),
                                (_, true) => h.val_accuracy,
                            };
                            v.map(|v| (h.epoch as i32, v))
                        })
                        .collect()
                };
                (pick(false), pick(true))
            })
            .collect();
        let values = series
            .iter()
            .flat_map(|(t, v)| t.iter().chain(v))
            .map(|p| p.1);
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let (lo, hi) = if lo.is_finite() {
            (lo, hi.max(lo + 1e-3))
        } else {
            (0.0, 1.0)
        };
        let pad = (hi - lo) * 0.05;
        let mut chart = ChartBuilder::on(panel)
            .caption(metric, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            // Whole epochs on the x axis: an integer range ticks at integers only.
            .build_cartesian_2d(1..max_epoch, (lo - pad)..(hi + pad))
            .map_err(|e| draw_err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_labels((max_epoch as usize).min(12))
            .x_desc("epoch")
            .draw()
            .map_err(|e| draw_err(e.to_string()))?;
        for (i, (run, (train, val))) in runs.iter().zip(series).enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let name = run
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if epochs <= MARKERS_UP_TO {
                let points = train.iter().chain(&val).copied();
                chart
                    .draw_series(points.map(|p| Circle::new(p, 4, color.filled())))
                    .map_err(|e| draw_err(e.to_string()))?;
            }
            chart
                .draw_series(LineSeries::new(train, color.stroke_width(2)))
                .map_err(|e| draw_err(e.to_string()))?
                .label(format!("{name} train"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(DashedLineSeries::new(val, 6, 4, color.stroke_width(2)))
                .map_err(|e| draw_err(e.to_string()))?
                .label(format!("{name} validation"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 8, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw_err(e.to_string()))?;
    }
    root.present().map_err(|e| draw_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::EpochMetrics;

    /// A two-epoch run gets a marker on each point: at epoch 1 the series' colour fills discs
    /// (train and validation), far more pixels than two thin lines starting there.
    #[test]
    fn short_runs_get_point_markers() {
        if let Err(e) = register_font() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install fonts-dejavu-core: {e}"
            );
            return eprintln!("no font: skipping ({e})");
        }
        let row = |epoch, loss: f64| EpochMetrics {
            epoch,
            loss,
            accuracy: 1.0 - loss / 4.0,
            val_loss: Some(loss * 0.9),
            val_accuracy: Some(1.0 - loss / 3.0),
            learning_rate: 1e-3,
            seconds: 1.0,
        };
        let run = Run {
            dir: "logs/short-0".into(),
            model: "linear".into(),
            history: vec![row(1, 1.2), row(2, 0.6)],
            test_accuracy: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        plot_runs(&[run], &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        let color = Palette99::pick(0).to_rgba();
        let is_series = |x: u32, y: u32| {
            let p = img.get_pixel(x, y).0;
            (p[0] as i32 - color.0 as i32).abs() < 8
                && (p[1] as i32 - color.1 as i32).abs() < 8
                && (p[2] as i32 - color.2 as i32).abs() < 8
        };
        let left = (0..600)
            .find(|&x| (0..500).any(|y| is_series(x, y)))
            .unwrap();
        let band = (left..left + 5)
            .flat_map(|x| (0..500).map(move |y| (x, y)))
            .filter(|&(x, y)| is_series(x, y))
            .count();
        assert!(band > 50, "markers at epoch 1: {band} pixels");
    }
}
