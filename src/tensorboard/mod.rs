//! TensorBoard event files written natively: TFRecord framing with masked CRC32C, the `Event` and
//! `Summary` protobuf messages, and a writer for scalars, text, images and histograms laid out as
//! Keras does (`<run>/train`, `<run>/validation`). The [`TensorBoard`] callback follows training.

mod callback;
pub mod proto;
pub mod record;
mod writer;

pub use callback::{write_run_summary, TensorBoard};
pub use writer::EventWriter;

/// Models with fewer parameters get weight histograms every epoch by default (a histogram of
/// a bigger model costs more to compute and to store than it shows).
pub const HISTOGRAM_MAX_PARAMS: usize = 1_000_000;
