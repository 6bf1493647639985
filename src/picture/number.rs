//! A handwritten number in a picture, cut into its digits: [`digits`] finds the ink
//! ([`find_ink`]), groups its pieces into digits, splits digits that touch, and returns each
//! digit left to right as the model's input with its box.
//!
//! - **Pieces of one digit are merged** ([`Ink::digits`]): a 5 whose bar was drawn apart, a 4
//!   in two strokes, a stroke broken where it crossed the ruling.
//! - **One line, one pen**: what is not in line with most digits, much taller or shorter, or
//!   drawn with a much thinner line (a margin line's stub), is not one of them.
//! - **Touching digits are split**: a group wider than [`MAX_ASPECT`] × its height holds
//!   several digits (a digit is rarely wider than tall); it is cut into as many as its width
//!   holds at the columns with the least ink near the even cuts. Where even the thinnest column
//!   holds more than two strokes' width of ink, the digits overlap rather than touch and the
//!   picture is refused with an error saying which digits.

use crate::error::{Error, Result};
use crate::picture::ink::{find_ink, stroke_width, Ink, PixelBox};
use crate::picture::preprocess::{place_digit, Polarity};
use image::DynamicImage;
use std::path::Path;

/// A group wider than this times its height is several digits.
pub const MAX_ASPECT: f32 = 1.15;
/// How far (in digit heights) a digit's middle may be from the number's.
const LINE_DRIFT: f32 = 1.0;
/// How much taller or shorter than the median a digit may be.
const HEIGHT_RANGE: f32 = 2.2;
/// A group whose strokes are thinner than this fraction of the median group's was not written
/// with the same pen: a stub of a margin line or of a page's edge.
const SAME_PEN: f32 = 0.4;
/// The width a digit is expected to have, for its height, when a group is cut.
const DIGIT_ASPECT: f32 = 0.7;

/// One digit of a number.
#[derive(Clone, Debug, PartialEq)]
pub struct DigitInput {
    /// Where it is, in the original picture's pixels.
    pub bounds: PixelBox,
    /// What the model sees: `h × w` gray levels, light ink on black (MNIST's recipe).
    pub input: Vec<u8>,
}

/// The digits of the number written in `image`, left to right, each prepared for a model of
/// input `(h, w)` as [`crate::picture::preprocess::prepare`] prepares a single digit. The library
/// function behind `predict --number`, `POST /predict?number=1` and the Python package;
/// `source` names the picture in errors.
pub fn digits(
    source: &Path,
    image: &DynamicImage,
    polarity: Polarity,
    (h, w): (usize, usize),
) -> Result<Vec<DigitInput>> {
    let ink = find_ink(source, image, polarity)?;
    let mut found = Vec::new();
    for group in in_line(&ink, ink.digits()) {
        for (area, strengths) in split(source, &ink, &group, found.len())? {
            found.push(DigitInput {
                bounds: ink.to_original(area),
                input: place_digit(&strengths, area, (h, w)),
            });
        }
    }
    if found.is_empty() {
        return Err(Error::format(
            source,
            "no digit found: no marks in one line and of one pen, as a number's digits are",
        ));
    }
    Ok(found)
}

/// The groups written in one line and with one pen as the digits of a number are: those whose
/// middle is within [`LINE_DRIFT`] of the median group's height from the median middle, whose
/// height is within [`HEIGHT_RANGE`] of the median height, and whose strokes are at least
/// [`SAME_PEN`] as wide as the median group's (a margin line's remnant, a stub of ruling in a
/// corner are not).
fn in_line(ink: &Ink, groups: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
    let boxes: Vec<PixelBox> = groups.iter().map(|g| ink.bounds(g)).collect();
    let median = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let height = median(boxes.iter().map(|b| b.height as f32).collect());
    let middle = median(
        boxes
            .iter()
            .map(|b| b.y as f32 + b.height as f32 / 2.0)
            .collect(),
    );
    let widths: Vec<f32> = groups
        .iter()
        .zip(&boxes)
        .map(|(g, b)| stroke_width(&ink.crop(*b, g), b.width as usize, b.height as usize))
        .collect();
    let pen = median(widths.clone());
    groups
        .into_iter()
        .zip(boxes)
        .zip(widths)
        .filter(|((_, b), width)| {
            let h = b.height as f32;
            ((b.y as f32 + h / 2.0) - middle).abs() <= LINE_DRIFT * height
                && (height / HEIGHT_RANGE..=height * HEIGHT_RANGE).contains(&h)
                && *width >= SAME_PEN * pen
        })
        .map(|((g, _), _)| g)
        .collect()
}

/// One group's digits: the group itself, or its parts cut at the thinnest ink. `before` is the
/// number of digits to its left (for the error).
fn split(
    source: &Path,
    ink: &Ink,
    group: &[usize],
    before: usize,
) -> Result<Vec<(PixelBox, Vec<f32>)>> {
    let area = ink.bounds(group);
    let strengths = ink.crop(area, group);
    let (w, h) = (area.width as usize, area.height as usize);
    if (w as f32) <= h as f32 * MAX_ASPECT {
        return Ok(vec![(area, strengths)]);
    }
    let count = ((w as f32 / (h as f32 * DIGIT_ASPECT)).round() as usize).max(2);
    let column = |x: usize| (0..h).filter(|&y| strengths[y * w + x] > 127.0).count();
    let stroke = stroke_width(&strengths, w, h);
    let mut cuts = vec![0];
    for k in 1..count {
        let even = k * w / count;
        let reach = w / count / 3;
        let best = (even.saturating_sub(reach)..(even + reach).min(w - 1))
            .min_by_key(|&x| column(x))
            .unwrap_or(even);
        if column(best) as f32 > 2.0 * stroke {
            return Err(Error::format(
                source,
                format!(
                    "digits {} and {} of the number touch too much to be told apart: write them apart",
                    before + k,
                    before + k + 1
                ),
            ));
        }
        cuts.push(best);
    }
    cuts.push(w);
    Ok(cuts
        .windows(2)
        .filter_map(|c| trimmed(&strengths, area, c[0]..c[1]))
        .collect())
}

/// The columns `columns` of a group's strengths, trimmed to their ink; `None` if none.
fn trimmed(
    strengths: &[f32],
    area: PixelBox,
    columns: std::ops::Range<usize>,
) -> Option<(PixelBox, Vec<f32>)> {
    let w = area.width as usize;
    let h = area.height as usize;
    let on: Vec<(usize, usize)> = (0..h)
        .flat_map(|y| columns.clone().map(move |x| (x, y)))
        .filter(|&(x, y)| strengths[y * w + x] > 0.0)
        .collect();
    let x0 = on.iter().map(|p| p.0).min()?;
    let x1 = on.iter().map(|p| p.0).max()?;
    let y0 = on.iter().map(|p| p.1).min()?;
    let y1 = on.iter().map(|p| p.1).max()?;
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    let mut out = vec![0.0f32; cw * ch];
    for y in 0..ch {
        for x in 0..cw {
            out[y * cw + x] = strengths[(y0 + y) * w + x0 + x];
        }
    }
    let peak = out.iter().copied().fold(0.0f32, f32::max);
    out.iter_mut().for_each(|v| *v *= 255.0 / peak);
    let bounds = PixelBox {
        x: area.x + x0 as u32,
        y: area.y + y0 as u32,
        width: cw as u32,
        height: ch as u32,
    };
    Some((bounds, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma};

    /// The digits found on `page`, read as `t.png` for the model's 28 × 28 input.
    fn digits_of(page: GrayImage) -> Result<Vec<DigitInput>> {
        digits(
            Path::new("t.png"),
            &DynamicImage::ImageLuma8(page),
            Polarity::Auto,
            (28, 28),
        )
    }

    #[test]
    fn marks_none_of_which_look_like_a_numbers_digits_are_refused_not_read_as_nothing() {
        // A thin line, and lower down a ring drawn with a broad pen but too short beside it:
        // one fails the pen, the other the height.
        let page = GrayImage::from_fn(300, 400, |x, y| {
            let line = (50..52).contains(&x) && (50..150).contains(&y);
            let ring = (150..190).contains(&x)
                && (230..270).contains(&y)
                && !((160..180).contains(&x) && (240..260).contains(&y));
            Luma([if line || ring { 20 } else { 240 }])
        });
        let err = digits_of(page).unwrap_err();
        assert!(
            err.to_string().starts_with("t.png: no digit found"),
            "{err}"
        );
    }

    #[test]
    fn a_thin_line_beside_digits_drawn_with_a_broad_pen_is_not_a_digit() {
        // Three bars 10 pixels wide (ones) and, in line with them, a line 2 pixels wide as tall
        // (a stub of a margin line).
        let page = GrayImage::from_fn(320, 200, |x, y| {
            let bar = [50, 120, 190].iter().any(|&x0| (x0..x0 + 10).contains(&x));
            let line = (260..262).contains(&x);
            Luma([if (50..150).contains(&y) && (bar || line) {
                20
            } else {
                240
            }])
        });
        let found = digits_of(page).unwrap();
        let lefts: Vec<u32> = found.iter().map(|d| d.bounds.x).collect();
        assert_eq!(lefts.len(), 3, "{lefts:?}");
        assert!(lefts.iter().all(|&x| x < 200), "{lefts:?}");
    }
}
