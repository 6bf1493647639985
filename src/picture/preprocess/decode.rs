//! Picture files decoded, within limits on their size.

use crate::error::{Error, Result};
use image::DynamicImage;
use std::path::Path;

/// Largest picture decoded, per side (a 48-megapixel phone photo is 8,000 × 6,000).
pub const MAX_SIDE: u32 = 10_000;
/// Memory the decoder may allocate for one picture.
const MAX_DECODE_BYTES: u64 = 512 << 20;

/// Decodes PNG, JPEG, BMP or TIFF bytes; `source` names them in errors.
pub fn decode(source: &Path, bytes: &[u8]) -> Result<DynamicImage> {
    decode_within(source, bytes, MAX_SIDE, MAX_DECODE_BYTES)
}

/// [`decode`], refusing pictures wider or taller than `max_side` or that need more than
/// `max_alloc` bytes to decode (the fuzz targets use smaller limits, as the image crate's do).
pub fn decode_within(
    source: &Path,
    bytes: &[u8],
    max_side: u32,
    max_alloc: u64,
) -> Result<DynamicImage> {
    let bad = |why: String| Error::format(source, format!("cannot read as an image: {why}"));
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(max_alloc);
    reader.limits(limits);
    if reader.format().is_none() {
        return Err(bad("not a PNG, JPEG, BMP or TIFF file".into()));
    }
    let image = reader.decode().map_err(|e| bad(e.to_string()))?;
    if image.width() == 0 || image.height() == 0 {
        return Err(Error::format(source, "the image is empty (0 pixels)"));
    }
    Ok(image)
}

/// Reads and decodes the picture at `path`.
pub fn open(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(path, &bytes)
}
#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma};

    #[test]
    fn decode_refuses_what_is_not_a_picture() {
        let err = decode(Path::new("notes.txt"), b"hello").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("notes.txt: cannot read as an image"),
            "{err}"
        );
        let png = crate::picture::draw::png(&GrayImage::from_pixel(3, 2, Luma([7])));
        assert_eq!(decode(Path::new("a.png"), &png).unwrap().width(), 3);
        assert!(decode(Path::new("cut.png"), &png[..png.len() / 2]).is_err());
        // Past the side limit: refused before any pixel is decoded.
        let wide = crate::picture::draw::png(&GrayImage::new(MAX_SIDE + 1, 1));
        let err = decode(Path::new("wide.png"), &wide).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("wide.png: cannot read as an image"),
            "{err}"
        );
    }
}
