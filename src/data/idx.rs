//! The IDX file format of MNIST: a 4-byte magic number (two zero bytes, a type code, the number of
//! dimensions), the dimensions as big-endian u32, then the values. Files may be gzipped.
//! Only unsigned-byte data (type 0x08) occurs in the MNIST family, so only it is read.

use crate::error::{Error, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// A parsed IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file, gunzipping it when it starts with the gzip signature.
pub fn read_idx(path: &Path) -> Result<Idx> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_idx(path, decompress(path, raw)?)
}

/// `raw` itself, or its decompression when it is gzip data.
pub fn decompress(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        if path.extension().is_some_and(|e| e == "gz") && !raw.is_empty() {
            return Err(Error::format(path, "is named .gz but is not gzip data"));
        }
        return Ok(raw);
    }
    // Sized once from the gzip trailer (the length mod 2³²; a damaged one is capped by deflate's
    // largest ratio and 256 MiB, far above the family's 47 MB) so that a 47 MB training set does
    // not pass through a 64 MB doubling.
    let trailer: [u8; 4] = raw[raw.len().saturating_sub(4)..]
        .try_into()
        .unwrap_or([0; 4]);
    let stated = u32::from_le_bytes(trailer) as usize;
    let mut out = Vec::with_capacity(stated.min(raw.len().saturating_mul(1032)).min(1 << 28));
    GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| Error::format(path, format!("corrupt gzip data ({e})")))?;
    Ok(out)
}

/// Parses IDX bytes, keeping their buffer for the values; `path` only names the file in errors.
pub fn parse_idx(path: &Path, mut bytes: Vec<u8>) -> Result<Idx> {
    let bad = |why: String| Error::format(path, why);
    if bytes.is_empty() {
        return Err(bad("is empty".into()));
    }
    if bytes.len() < 4 {
        return Err(bad(format!(
            "is truncated: {} bytes, shorter than the 4-byte IDX magic number",
            bytes.len()
        )));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] == 0 {
        return Err(bad(format!(
            "bad IDX magic number 0x{magic:08x} (expected 0x00000801 or 0x00000803)"
        )));
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(bad(format!(
            "is truncated: the header needs {header} bytes, the file has {}",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} are too large")))?;
    let found = bytes.len() - header;
    if found < expected {
        return Err(bad(format!(
            "is truncated: dimensions {dims:?} need {expected} data bytes, found {found}"
        )));
    }
    if found > expected {
        return Err(bad(format!(
            "has {} bytes after the {expected} its dimensions {dims:?} describe",
            found - expected
        )));
    }
    bytes.drain(..header);
    Ok(Idx { dims, data: bytes })
}

/// Encodes `data` with `dims` as IDX bytes (for writing fixtures and exports).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend((d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Idx> {
        parse_idx(Path::new("t.idx"), bytes.to_vec())
    }

    #[test]
    fn round_trips_images_and_labels() {
        let bytes = encode_idx(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(&bytes[..4], &[0, 0, 8, 3]);
        let idx = parse(&bytes).unwrap();
        assert_eq!(idx.dims, vec![2, 2, 3]);
        assert_eq!(idx.data[11], 12);
    }

    #[test]
    fn every_fault_is_named() {
        let good = encode_idx(&[3], &[1, 2, 3]);
        let cases: [(&[u8], &str); 5] = [
            (&[], "is empty"),
            (&good[..2], "truncated"),
            (
                &[0, 0, 0x0d, 1, 0, 0, 0, 1, 0],
                "bad IDX magic number 0x00000d01",
            ),
            (&good[..good.len() - 1], "need 3 data bytes, found 2"),
            (&[&good[..], &[9]].concat(), "1 bytes after"),
        ];
        for (bytes, needle) in cases {
            let err = parse(bytes).unwrap_err().to_string();
            assert!(err.starts_with("t.idx: ") && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn gzip_is_detected_and_fake_gzip_refused() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let raw = encode_idx(&[2], &[7, 8]);
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&raw).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decompress(Path::new("a.gz"), gz.clone()).unwrap(), raw);
        let err = decompress(Path::new("a.gz"), raw.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not gzip"), "{err}");
        let err = decompress(Path::new("a.gz"), gz[..gz.len() / 2].to_vec())
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt gzip"), "{err}");
    }
}
