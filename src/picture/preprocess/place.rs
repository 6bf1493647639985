//! MNIST's placement of a digit in the model's field, and the scaling and pasting it shares
//! with Fashion-MNIST's.

use crate::picture::ink::{hollows, stroke_width, widen, PixelBox};
use image::{imageops, GrayImage};

/// Stroke width MNIST's digits have in the 28 × 28 field, in pixels.
const MNIST_STROKE: f32 = 2.5;
/// Strokes thinner than this in the field are widened to [`MNIST_STROKE`] first.
const THINNEST_STROKE: f32 = 1.6;
/// Gaps in a stroke's contours narrower than twice this fraction of the digit are closed.
const HOLLOW_GAP: f32 = 0.02;
/// Enclosed paper thinner than this fraction of the digit is a stroke's hollow; a digit's
/// loops (0, 6, 8, 9) are wider.
const HOLLOW_WIDTH: f32 = 0.15;
/// A digit whose hollows cover at least this fraction of its ink's area is drawn in outline.
const HOLLOW_SHARE: f32 = 0.8;

/// MNIST's recipe for one digit's ink (`bounds.height × bounds.width` strengths 0–255): the
/// longer side scaled to 20/28 of the field (aspect kept), strokes too thin to survive the
/// shrinking widened first, the strongest pixel 255, the centre of mass at the centre.
pub fn place_digit(ink: &[f32], bounds: PixelBox, (h, w): (usize, usize)) -> Vec<u8> {
    let (iw, ih) = (bounds.width, bounds.height);
    let target = (h.min(w) * 20).div_ceil(28) as f32;
    let (bw, bh) = fitted((iw, ih), target);
    let scale = bw.max(bh) as f32 / iw.max(ih) as f32;
    let outline = along_the_middle(ink, iw as usize, ih as usize);
    let ink = outline.as_deref().unwrap_or(ink);
    let width = stroke_width(ink, iw as usize, ih as usize);
    let radius = if width * scale < THINNEST_STROKE {
        ((MNIST_STROKE / scale - width) / 2.0).round().max(0.0) as usize
    } else {
        0
    };
    let widened = widen(ink, iw as usize, ih as usize, radius);
    let gray = GrayImage::from_fn(iw, ih, |x, y| {
        image::Luma([widened[(y * iw + x) as usize].round().clamp(0.0, 255.0) as u8])
    });
    let mut scaled = resized(gray, bw, bh);
    // Shrinking dims a thin stroke: its strongest pixel back to white, as MNIST's are.
    let peak = scaled.pixels().map(|p| p.0[0]).max().unwrap_or(0);
    if peak > 0 && peak < 255 {
        for p in scaled.pixels_mut() {
            p.0[0] = (p.0[0] as u32 * 255 / peak as u32) as u8;
        }
    }
    let (cy, cx) = center_of_mass(&scaled);
    let at = (
        (h as f64 / 2.0 - cy).round() as i64,
        (w as f64 / 2.0 - cx).round() as i64,
    );
    paste(&scaled, at, (h, w))
}

/// A digit drawn in outline (each stroke as its two contours, as outline and sketchy fonts
/// draw them) as the strokes' hollows, full strength: their middle, which is the stroke a pen
/// would have drawn. Kept bold, or filled in, the strokes close up the digit's openings at
/// MNIST's size. `None` for a digit drawn with solid strokes: its hollows (enclosed paper
/// thinner than [`HOLLOW_WIDTH`] of the digit, after closing gaps of [`HOLLOW_GAP`]) cover
/// less than [`HOLLOW_SHARE`] of its ink.
fn along_the_middle(ink: &[f32], w: usize, h: usize) -> Option<Vec<f32>> {
    let long = w.max(h) as f32;
    let mask: Vec<bool> = ink.iter().map(|&v| v > 0.0).collect();
    let hollow = hollows(
        &mask,
        w,
        h,
        (HOLLOW_GAP * long).round() as usize,
        HOLLOW_WIDTH * long,
    );
    let inked = mask.iter().filter(|&&m| m).count();
    let hollowed = hollow.iter().filter(|&&m| m).count();
    (hollowed > 0 && hollowed as f32 >= HOLLOW_SHARE * inked as f32).then(|| {
        hollow
            .iter()
            .map(|&m| if m { 255.0 } else { 0.0 })
            .collect()
    })
}

/// `(width, height)` scaled so the longer side is `side`, aspect kept, at least 1 each.
pub(super) fn fitted((w, h): (u32, u32), side: f32) -> (u32, u32) {
    let scale = side / w.max(h) as f32;
    (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    )
}

pub(super) fn resized(image: GrayImage, w: u32, h: u32) -> GrayImage {
    if (w, h) == image.dimensions() {
        image
    } else {
        imageops::resize(&image, w, h, imageops::FilterType::Triangle)
    }
}

/// `image` with its top-left corner at `(top, left)` in a black `h × w` field (clipped).
pub(super) fn paste(image: &GrayImage, (top, left): (i64, i64), (h, w): (usize, usize)) -> Vec<u8> {
    let mut out = vec![0u8; h * w];
    for (x, y, p) in image.enumerate_pixels() {
        let (oy, ox) = (top + y as i64, left + x as i64);
        if (0..h as i64).contains(&oy) && (0..w as i64).contains(&ox) {
            out[oy as usize * w + ox as usize] = p.0[0];
        }
    }
    out
}

/// Intensity-weighted mean (row, column), in pixel indices.
pub(super) fn center_of_mass(image: &GrayImage) -> (f64, f64) {
    let (mut total, mut sy, mut sx) = (0.0, 0.0, 0.0);
    for (x, y, p) in image.enumerate_pixels() {
        let v = p.0[0] as f64;
        total += v;
        sy += v * y as f64;
        sx += v * x as f64;
    }
    if total == 0.0 {
        let (w, h) = image.dimensions();
        return ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    }
    (sy / total, sx / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digit_drawn_in_outline_is_placed_as_the_middle_of_its_strokes() {
        // A bar 30 pixels wide and 200 tall drawn as its two contours, 3 pixels thick: its
        // middle (24 pixels wide) is what a pen would have drawn.
        let (w, h) = (30usize, 200usize);
        let ink: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let edge = x < 3 || x >= w - 3 || y < 3 || y >= h - 3;
                if edge {
                    255.0
                } else {
                    0.0
                }
            })
            .collect();
        let bounds = PixelBox {
            x: 0,
            y: 0,
            width: w as u32,
            height: h as u32,
        };
        let out = place_digit(&ink, bounds, (28, 28));
        // A stroke brightest down its middle column, as a pen's; the contours would leave the
        // middle darker than its sides.
        let middle: Vec<u8> = (6..22).map(|y| out[y * 28 + 14]).collect();
        assert!(middle.iter().all(|&v| v == 255), "{middle:?}");
        let row = &out[14 * 28..15 * 28];
        assert!(row[13] < 255 && row[15] < 255, "{row:?}");
        assert_eq!(row.iter().filter(|&&v| v > 100).count(), 3, "{row:?}");
    }
}
