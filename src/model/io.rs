//! Model files: one safetensors file with every tensor as `"{layer}.{name}"` (f32, little-endian)
//! and the configuration in the metadata, so the file alone rebuilds the model. Loading checks
//! every tensor's presence, dtype and shape, then the file's checksum (a CRC-32C of every byte,
//! kept in the metadata), so that a damaged file is refused rather than loaded with wrong weights;
//! writing goes through a temporary file and a rename.

use super::{ModelConfig, Normalization, Sequential};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::shape::Shape;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// Format version written into every file.
const FORMAT: &str = "mnistlab-1";

/// Metadata key of the file's checksum.
const CHECKSUM: &str = "checksum";
/// The checksum's value in the file while it is computed: the same length as any value, so
/// writing the value changes no offset.
const CHECKSUM_PLACEHOLDER: &str = "crc32c:00000000";

/// The checksum of `bytes`, a safetensors file whose checksum value is the placeholder.
fn checksum_of(bytes: &[u8]) -> String {
    format!("crc32c:{:08x}", crc32c::crc32c(bytes))
}

/// Where the checksum's value lies in the file's JSON header (the header is compact JSON, and a
/// quote inside a string is escaped, so the key followed by its value occurs once).
fn checksum_span(bytes: &[u8], value: &str) -> Option<std::ops::Range<usize>> {
    let header_len = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header = bytes.get(8..8usize.checked_add(header_len)?)?;
    let needle = format!("\"{CHECKSUM}\":\"{value}\"");
    let at = header
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())?;
    let start = 8 + at + needle.len() - 1 - value.len();
    Some(start..start + value.len())
}

/// Checks the checksum [`write_safetensors`] put in the file at `path`, after its structure was
/// read: any change to any byte (a bit flipped on disk, a file cut short and padded) is refused.
pub(crate) fn verify_checksum(
    path: &Path,
    bytes: &[u8],
    meta: &HashMap<String, String>,
) -> Result<()> {
    let damaged = |why: &str| Error::format(path, format!("damaged model file: {why}"));
    let stored = meta
        .get(CHECKSUM)
        .ok_or_else(|| damaged("its metadata has no checksum"))?;
    if stored.len() != CHECKSUM_PLACEHOLDER.len() {
        return Err(damaged("its checksum is malformed"));
    }
    let span = checksum_span(bytes, stored).ok_or_else(|| damaged("its checksum is malformed"))?;
    let mut copy = bytes.to_vec();
    copy[span].copy_from_slice(CHECKSUM_PLACEHOLDER.as_bytes());
    let actual = checksum_of(&copy);
    if *stored != actual {
        return Err(damaged(&format!(
            "checksum {actual} does not match the {stored} it was saved with"
        )));
    }
    Ok(())
}

/// Serializes named tensors and metadata to safetensors bytes, with a checksum of every byte in
/// the metadata (checked when the file is loaded).
pub fn write_safetensors(
    tensors: &[(String, Vec<usize>, &[f32])],
    mut metadata: HashMap<String, String>,
) -> Vec<u8> {
    metadata.insert(CHECKSUM.to_string(), CHECKSUM_PLACEHOLDER.to_string());
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|((name, shape, _), b)| {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), b)
            .expect("shape matches data");
        (name.clone(), view)
    });
    let bytes = safetensors::serialize(views, Some(metadata)).expect("tensor names are unique");
    let mut bytes = sorted_header(bytes);
    let sum = checksum_of(&bytes);
    let span = checksum_span(&bytes, CHECKSUM_PLACEHOLDER).expect("the placeholder was written");
    bytes[span].copy_from_slice(sum.as_bytes());
    bytes
}

/// The same file with its JSON header's keys (tensors and metadata) in sorted order: the
/// library writes the metadata in hash order, and a model file's bytes should depend only on
/// its contents, so that checksums of two identical models agree.
fn sorted_header(bytes: Vec<u8>) -> Vec<u8> {
    use std::collections::BTreeMap;
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + len]).expect("safetensors wrote valid JSON");
    let header: BTreeMap<String, serde_json::Value> = header
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::Object(map) => {
                    let sorted: BTreeMap<String, serde_json::Value> = map.into_iter().collect();
                    serde_json::to_value(sorted).expect("serializable")
                }
                other => other,
            };
            (k, v)
        })
        .collect();
    let mut json = serde_json::to_vec(&header).expect("serializable");
    // The format pads the header with spaces so the data starts 8-byte aligned.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - len);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + len..]);
    out
}

/// Parses safetensors bytes read from `path`: its metadata and a lookup of f32 tensors.
pub fn read_safetensors<'a>(
    path: &Path,
    bytes: &'a [u8],
) -> Result<(HashMap<String, String>, SafeTensors<'a>)> {
    let bad = |why: String| Error::format(path, format!("not a valid model file: {why}"));
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    Ok((meta.metadata().clone().unwrap_or_default(), tensors))
}

/// Copies tensor `key` from `tensors` into `out`, checking dtype and shape.
pub(crate) fn read_tensor(
    path: &Path,
    tensors: &SafeTensors<'_>,
    key: &str,
    shape: &[usize],
    out: &mut [f32],
) -> Result<()> {
    let view = tensors
        .tensor(key)
        .map_err(|_| Error::format(path, format!("tensor {key:?} is missing")))?;
    if view.dtype() != Dtype::F32 || view.shape() != shape {
        return Err(Error::format(
            path,
            format!(
                "tensor {key:?} is {:?} {:?}, expected F32 {shape:?}",
                view.dtype(),
                view.shape()
            ),
        ));
    }
    for (o, b) in out.iter_mut().zip(view.data().chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    Ok(())
}

fn metadata_of(config: &ModelConfig) -> HashMap<String, String> {
    let s = config.input;
    HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("name".to_string(), config.name.clone()),
        ("arch".to_string(), config.arch.clone()),
        ("input".to_string(), format!("{}x{}x{}", s.h, s.w, s.c)),
        ("classes".to_string(), config.classes.to_string()),
        (
            "normalization".to_string(),
            config.normalization.to_string(),
        ),
        ("dataset".to_string(), config.dataset.name().to_string()),
        ("bn_momentum".to_string(), config.bn_momentum.to_string()),
    ])
}

fn config_of(path: &Path, meta: &HashMap<String, String>) -> Result<ModelConfig> {
    let get = |key: &str| {
        meta.get(key).ok_or_else(|| {
            Error::format(
                path,
                format!("not a mnistlab model: metadata has no {key:?}"),
            )
        })
    };
    if get("format")? != FORMAT {
        return Err(Error::format(
            path,
            format!(
                "unsupported model format {:?} (expected {FORMAT})",
                get("format")?
            ),
        ));
    }
    let bad = |key: &str| Error::format(path, format!("metadata {key:?} is invalid"));
    let dims: Vec<usize> = get("input")?
        .split('x')
        .map(|d| d.parse().map_err(|_| bad("input")))
        .collect::<Result<_>>()?;
    let [h, w, c] = dims[..] else {
        return Err(bad("input"));
    };
    Ok(ModelConfig {
        name: get("name")?.clone(),
        arch: get("arch")?.clone(),
        input: Shape::new(h, w, c),
        classes: get("classes")?.parse().map_err(|_| bad("classes"))?,
        normalization: get("normalization")?
            .parse::<Normalization>()
            .map_err(|_| bad("normalization"))?,
        dataset: get("dataset")?
            .parse::<Dataset>()
            .map_err(|e| Error::format(path, format!("metadata {e}")))?,
        bn_momentum: get("bn_momentum")?
            .parse()
            .map_err(|_| bad("bn_momentum"))?,
    })
}

/// The model's tensors in slot order, for writing.
pub(crate) fn model_tensors(model: &Sequential) -> Vec<(String, Vec<usize>, &[f32])> {
    model
        .params
        .slots()
        .map(|s| (s.key.clone(), s.shape.clone(), model.params.get(s)))
        .collect()
}

/// Writes `model` to `path` atomically.
pub fn save(model: &Sequential, path: &Path) -> Result<()> {
    write_atomic(
        path,
        &write_safetensors(&model_tensors(model), metadata_of(model.config())),
    )
}

/// Reads a model file written by [`save`].
pub fn load(path: &Path) -> Result<Sequential> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    load_bytes(path, &bytes)
}

/// Builds a model from the bytes of a model file; `path` only names it in errors.
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Result<Sequential> {
    let (meta, tensors) = read_safetensors(path, bytes)?;
    let config = config_of(path, &meta)?;
    let mut model = Sequential::new(config, 0).map_err(|e| Error::format(path, e.to_string()))?;
    load_tensors_into(path, &tensors, &mut model)?;
    verify_checksum(path, bytes, &meta)?;
    Ok(model)
}

/// Fills every tensor of `model` from `tensors`.
pub(crate) fn load_tensors_into(
    path: &Path,
    tensors: &SafeTensors<'_>,
    model: &mut Sequential,
) -> Result<()> {
    let slots: Vec<_> = model.params.slots().cloned().collect();
    for slot in &slots {
        read_tensor(
            path,
            tensors,
            &slot.key,
            &slot.shape,
            model.params.get_mut(slot),
        )?;
    }
    let unknown = tensors
        .names()
        .into_iter()
        .find(|n| !slots.iter().any(|s| s.key == *n));
    if let Some(name) = unknown {
        return Err(Error::format(
            path,
            format!(
                "unexpected tensor {name:?} for architecture {:?}",
                model.config().arch
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata map iterates in a different order in each new map; the file must not.
    #[test]
    fn saving_one_model_twice_gives_the_same_bytes() {
        let model = Sequential::new(
            ModelConfig::new("8C3-BN-ReLU-GAP-D10", Dataset::Mnist, Normalization::MinMax),
            5,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<Vec<u8>> = (0..8)
            .map(|i| {
                let path = dir.path().join(format!("m{i}.safetensors"));
                save(&model, &path).unwrap();
                std::fs::read(&path).unwrap()
            })
            .collect();
        assert!(
            files.windows(2).all(|w| w[0] == w[1]),
            "byte-identical saves"
        );
        let header_len = u64::from_le_bytes(files[0][..8].try_into().unwrap()) as usize;
        assert_eq!((8 + header_len) % 8, 0, "data stays 8-byte aligned");
        let header = std::str::from_utf8(&files[0][8..8 + header_len]).unwrap();
        let arch = header.find("\"arch\"").unwrap();
        assert!(
            arch < header.find("\"bn_momentum\"").unwrap()
                && header.find("\"classes\"").unwrap() > arch
        );
        let loaded = load(&dir.path().join("m0.safetensors")).unwrap();
        assert_eq!(loaded.params.values, model.params.values);
        assert_eq!(loaded.config(), model.config());
    }

    /// The dataset is written by its name and read back as the same `Dataset`; a name no
    /// dataset has is refused, naming the file and the setting.
    #[test]
    fn the_dataset_is_stored_by_name_and_an_unknown_one_is_refused() {
        let config = ModelConfig::new("D10", Dataset::FashionMnist, Normalization::MinMax);
        let model = Sequential::new(config, 1).unwrap();
        let mut meta = metadata_of(model.config());
        assert_eq!(meta["dataset"], "fashion-mnist");
        let path = Path::new("m.safetensors");
        assert_eq!(config_of(path, &meta).unwrap(), *model.config());
        meta.insert("dataset".into(), "cifar".into());
        let err = config_of(path, &meta).unwrap_err().to_string();
        assert!(
            err.starts_with("m.safetensors: metadata dataset: unknown dataset \"cifar\""),
            "{err}"
        );
    }

    /// A small model file cut short at every byte, and with every bit of every byte flipped in
    /// turn, is refused: the safetensors structure catches most damage, the checksum the rest
    /// (a flipped bit in a weight or in a metadata value that still parses).
    #[test]
    fn a_file_cut_or_flipped_anywhere_is_refused() {
        let model = Sequential::new(
            ModelConfig::new("2C3-BN-ReLU-GAP-D10", Dataset::Mnist, Normalization::MinMax),
            3,
        )
        .unwrap();
        let good = write_safetensors(&model_tensors(&model), metadata_of(model.config()));
        let path = Path::new("m.safetensors");
        assert_eq!(
            load_bytes(path, &good).unwrap().params.values,
            model.params.values
        );
        for cut in 0..good.len() {
            assert!(load_bytes(path, &good[..cut]).is_err(), "cut at {cut}");
        }
        let mut by_checksum = 0;
        for at in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[at] ^= 1 << bit;
                let err = load_bytes(path, &bad)
                    .err()
                    .unwrap_or_else(|| panic!("byte {at} bit {bit} flipped was loaded"));
                by_checksum += err.to_string().contains("checksum") as usize;
            }
        }
        // The weights are most of the file, and only the checksum sees their flips.
        let weights = 4 * model.params.values.len();
        assert!(
            by_checksum >= 8 * weights,
            "{by_checksum} refused by the checksum"
        );
    }
}
