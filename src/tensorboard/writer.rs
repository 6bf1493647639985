//! An event file in a directory, named like TensorFlow's
//! (`events.out.tfevents.<unix-seconds>.<host>.<pid>.<n>.v2`), written record by record.

use super::proto::{
    event, value, Event, HistogramProto, Image, PluginData, Summary, SummaryMetadata, TensorProto,
    TensorShapeProto, Value,
};
use super::record::frame;
use crate::error::{Error, Result};
use prost::Message;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Files opened by this process so far, for unique names.
static FILES_OPENED: AtomicUsize = AtomicUsize::new(0);

/// Buckets of a weight histogram.
const HISTOGRAM_BUCKETS: usize = 30;

/// Writes TensorBoard events to one file.
#[derive(Debug)]
pub struct EventWriter {
    file: File,
    path: PathBuf,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

impl EventWriter {
    /// Creates `dir` if needed and a new event file in it, starting with the file-version record.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let n = FILES_OPENED.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "events.out.tfevents.{}.{}.{}.{n}.v2",
            now() as u64,
            host_name(),
            std::process::id()
        );
        let path = dir.join(name);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer = EventWriter { file, path };
        writer.write(Event {
            wall_time: now(),
            step: 0,
            what: Some(event::What::FileVersion("brain.Event:2".into())),
        })?;
        Ok(writer)
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, event: Event) -> Result<()> {
        self.file
            .write_all(&frame(&event.encode_to_vec()))
            .map_err(|e| Error::io(&self.path, e))
    }

    fn write_value(&mut self, step: i64, value: Value) -> Result<()> {
        let summary = Summary { value: vec![value] };
        self.write(Event {
            wall_time: now(),
            step,
            what: Some(event::What::Summary(summary)),
        })
    }

    /// A scalar (the Scalars tab).
    pub fn add_scalar(&mut self, tag: &str, step: i64, v: f32) -> Result<()> {
        self.write_value(
            step,
            Value {
                tag: tag.into(),
                metadata: None,
                kind: Some(value::Kind::SimpleValue(v)),
            },
        )
    }

    /// Markdown text (the Text tab), as the text plugin stores it: a string tensor.
    pub fn add_text(&mut self, tag: &str, step: i64, markdown: &str) -> Result<()> {
        let metadata = SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: "text".into(),
                content: Vec::new(),
            }),
            data_class: 2,
            ..Default::default()
        };
        let tensor = TensorProto {
            dtype: 7,
            tensor_shape: Some(TensorShapeProto::default()),
            string_val: vec![markdown.as_bytes().to_vec()],
        };
        self.write_value(
            step,
            Value {
                tag: tag.into(),
                metadata: Some(metadata),
                kind: Some(value::Kind::Tensor(tensor)),
            },
        )
    }

    /// A PNG image (the Images tab); `channels` is 1 (gray) or 3 (RGB).
    pub fn add_png(
        &mut self,
        tag: &str,
        step: i64,
        png: Vec<u8>,
        (height, width, channels): (u32, u32, u32),
    ) -> Result<()> {
        let image = Image {
            height: height as i32,
            width: width as i32,
            colorspace: channels as i32,
            encoded_image_string: png,
        };
        self.write_value(
            step,
            Value {
                tag: tag.into(),
                metadata: None,
                kind: Some(value::Kind::Image(image)),
            },
        )
    }

    /// A histogram of `values` (the Histograms and Distributions tabs).
    pub fn add_histogram(&mut self, tag: &str, step: i64, values: &[f32]) -> Result<()> {
        self.write_value(
            step,
            Value {
                tag: tag.into(),
                metadata: None,
                kind: Some(value::Kind::Histo(histogram(values))),
            },
        )
    }

    /// Pushes written records to the file, so a running TensorBoard sees them.
    pub fn flush(&mut self) -> Result<()> {
        self.file
            .flush()
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Equal-width buckets between the minimum and the maximum.
pub fn histogram(values: &[f32]) -> HistogramProto {
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v as f64), hi.max(v as f64))
        });
    let (min, max) = if values.is_empty() {
        (0.0, 0.0)
    } else {
        (min, max)
    };
    let width = ((max - min) / HISTOGRAM_BUCKETS as f64).max(f64::MIN_POSITIVE);
    let mut bucket = vec![0.0; HISTOGRAM_BUCKETS];
    for &v in values {
        let i = (((v as f64 - min) / width) as usize).min(HISTOGRAM_BUCKETS - 1);
        bucket[i] += 1.0;
    }
    HistogramProto {
        min,
        max,
        num: values.len() as f64,
        sum: values.iter().map(|&v| v as f64).sum(),
        sum_squares: values.iter().map(|&v| (v as f64) * (v as f64)).sum(),
        bucket_limit: (1..=HISTOGRAM_BUCKETS)
            .map(|i| {
                if i == HISTOGRAM_BUCKETS {
                    max
                } else {
                    min + width * i as f64
                }
            })
            .collect(),
        bucket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_every_value_once() {
        let h = histogram(&[0.0, 1.0, 2.0, 3.0, 3.0]);
        assert_eq!((h.min, h.max, h.num, h.sum), (0.0, 3.0, 5.0, 9.0));
        assert_eq!(h.bucket.iter().sum::<f64>(), 5.0);
        assert_eq!(*h.bucket.last().unwrap(), 2.0);
        assert!(h.bucket_limit.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn file_starts_with_the_version_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(&dir.path().join("train")).unwrap();
        w.add_scalar("epoch_loss", 0, 0.5).unwrap();
        w.flush().unwrap();
        let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("events.out.tfevents.") && name.ends_with(".v2"),
            "{name}"
        );
        let bytes = std::fs::read(w.path()).unwrap();
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let first = Event::decode(&bytes[12..12 + len]).unwrap();
        assert_eq!(
            first.what,
            Some(event::What::FileVersion("brain.Event:2".into()))
        );
    }
}
