//! Models: the architecture notation, presets, the [`Sequential`] container that runs layers over
//! flat buffers, Keras-like summaries, and safetensors files.

mod config;
mod io;
mod normalization;
pub mod notation;
mod params;
mod plan;
mod presets;
mod sequential;
mod summary;

pub use config::{ModelConfig, MAX_ACTIVATIONS_PER_IMAGE, MAX_INPUT_VALUES, MAX_PARAMS};
pub use io::{load, load_bytes, read_safetensors, save, write_safetensors};
pub(crate) use io::{read_tensor, verify_checksum};
pub use normalization::Normalization;
pub use params::{ParamStore, Slot};
pub use presets::{preset, preset_names, PRESETS};
pub use sequential::{LayerTime, Sequential};
pub use summary::summary;
