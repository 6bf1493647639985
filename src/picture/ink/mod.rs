//! Where the writing is in a photo of a page: [`find_ink`] turns any picture into a map of ink
//! strength with everything that is not writing dropped.
//!
//! 1. **Shrunk first**: at most [`WORKING_SIDE`] pixels per side (a 12-megapixel photo becomes
//!    1024 × 768), colour kept.
//! 2. **Polarity** from the picture's median, which is paper wherever writing covers less than
//!    half of it (the border would be the desk around a photographed page): a light one (dark
//!    ink on paper) is kept, a dark one (chalk on a board, MNIST's light digits on black) is
//!    inverted, so that from here on ink is darker than its paper.
//! 3. **Illumination flattened, per colour channel**: the paper's brightness is estimated on
//!    blocks of an eighth of the picture (at least 16 pixels, far wider than a stroke) as their
//!    90th percentile, each block raised to the median of its 3 × 3 blocks (a block filled by a
//!    thick stroke takes its neighbours' paper; a gradient keeps its own level, the blocks past
//!    the edge extrapolated), smoothed and interpolated; each pixel is divided by it. A
//!    shadowed corner and yellow paper both become reflectance 1.
//! 4. **Ink strength** `1 − reflectance`, the largest over the three channels, so that blue ink
//!    on yellow paper or red ink on green shows in the channel where it is darkest.
//! 5. **Threshold: Otsu's, global, on the flattened strengths**, never below
//!    [`MIN_STRENGTH`]; found again without the desk when the page's surround shows (solid
//!    ink running along the border). Once the light is flat, paper is one narrow mode near 0
//!    and ink another,
//!    which is exactly the two-class case Otsu's method solves without a parameter; a local
//!    method (Sauvola, Niblack) would instead find "ink" in every empty stretch of paper and
//!    hollow out strokes wider than its window. The floor keeps paper grain, JPEG ringing and a
//!    blank page from being split in two.
//! 6. **Not writing, dropped**: straight ink lines running across at least
//!    [`LINE_SPAN`] of the picture within ±6° of the axes and thinner than a twentieth of their
//!    length (ruling, squared paper, margin lines), and lines parallel to those broken into
//!    pieces by the threshold (faint ruling, pencil-grey ruling: ink over 40% of the picture's
//!    width, spread along it) — where a stroke crosses such a line, or is
//!    clearly darker than it, its pixels stay; specks (pieces under 2% of the largest, or
//!    under a 25th of the picture's shorter side both ways); page edges and the desk (pieces
//!    touching the picture's border that run along it or are line-like, when other ink
//!    remains; a digit the border cuts off only touches it across its strokes and stays).
//! 7. **Grey levels kept**: what remains keeps its strength, with a one-pixel rim for the
//!    anti-aliased edge, as pieces (connected components) that `preprocess` and `number` read.
//!
//! Out of reach: ink as light as its paper in every channel (yellow highlighter, a pencil
//! barely touched to the paper); sharp shadows and glare smaller than a block (a hand's shadow
//! edge reads as a stroke); curved ruling (a page bent at the spine, wide-angle distortion);
//! ruling as dark as the ink where it runs along a stroke; writing on a printed or patterned
//! background.

mod light;
mod pieces;
mod ruling;
mod stroke;
mod threshold;

pub use stroke::{hollows, stroke_width, widen};

use crate::error::{Error, Result};
use crate::picture::preprocess::Polarity;
use image::DynamicImage;
use light::paper_level;
use pieces::with_rim;
use std::path::Path;
use threshold::writing;

/// Pictures are worked on at most this many pixels per side.
pub const WORKING_SIDE: u32 = 1024;
/// The weakest ink: 18% darker than its paper.
pub const MIN_STRENGTH: f32 = 0.18;
/// A ruling line runs across at least this fraction of the picture.
pub const LINE_SPAN: f32 = 0.7;
/// Groups of pieces shorter than this fraction of the tallest are not digits.
const SMALL_PIECE: f32 = 0.3;

/// A rectangle of pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PixelBox {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl PixelBox {
    /// The smallest box holding both.
    pub fn union(self, other: PixelBox) -> PixelBox {
        let (x0, y0) = (self.x.min(other.x), self.y.min(other.y));
        let x1 = (self.x + self.width).max(other.x + other.width);
        let y1 = (self.y + self.height).max(other.y + other.height);
        PixelBox {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        }
    }

    /// One past the right column.
    pub fn right(&self) -> u32 {
        self.x + self.width
    }

    /// One past the bottom row.
    pub fn bottom(&self) -> u32 {
        self.y + self.height
    }
}

/// One connected piece of ink.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    /// Its box, in working pixels.
    pub bounds: PixelBox,
    /// Its pixels (without the rim).
    pub area: usize,
    /// The sum of its strengths.
    pub mass: f32,
}

/// The writing found in a picture, at the working resolution.
#[derive(Clone, Debug)]
pub struct Ink {
    width: u32,
    height: u32,
    /// Original pixels per working pixel.
    scale: f32,
    /// Ink strength 0–1 of the kept pixels, 0 elsewhere (row-major).
    strength: Vec<f32>,
    /// Which piece each pixel belongs to (index + 1), 0 for none.
    labels: Vec<u32>,
    pieces: Vec<Piece>,
}

impl Ink {
    /// Working width and height.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The kept pieces, in no particular order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// A box in working pixels as a box in the original picture's pixels.
    pub fn to_original(&self, b: PixelBox) -> PixelBox {
        let s = self.scale;
        let x = (b.x as f32 * s).floor() as u32;
        let y = (b.y as f32 * s).floor() as u32;
        PixelBox {
            x,
            y,
            width: ((b.right() as f32 * s).ceil() as u32).saturating_sub(x),
            height: ((b.bottom() as f32 * s).ceil() as u32).saturating_sub(y),
        }
    }

    /// The pieces of each digit (indices into [`Ink::pieces`]), left to right: pieces whose
    /// columns overlap by at least half of the narrower one's width are one digit; a group
    /// shorter than three tenths of the tallest (a dot, a stub of ruling) is dropped.
    pub fn digits(&self) -> Vec<Vec<usize>> {
        let pieces = &self.pieces;
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        order.sort_by_key(|&i| pieces[i].bounds.x);
        let mut groups: Vec<(PixelBox, Vec<usize>)> = Vec::new();
        for i in order {
            let b = pieces[i].bounds;
            let same = groups.iter().position(|(g, _)| {
                let overlap = b.right().min(g.right()) as i64 - b.x.max(g.x) as i64;
                overlap * 2 >= b.width.min(g.width) as i64
            });
            match same {
                Some(k) => {
                    groups[k].0 = groups[k].0.union(b);
                    groups[k].1.push(i);
                }
                None => groups.push((b, vec![i])),
            }
        }
        let tallest = groups.iter().map(|(b, _)| b.height).max().unwrap_or(0) as f32;
        groups
            .into_iter()
            .filter(|(b, _)| b.height as f32 >= tallest * SMALL_PIECE)
            .map(|(_, g)| g)
            .collect()
    }

    /// The box of the pieces `which`.
    pub fn bounds(&self, which: &[usize]) -> PixelBox {
        which
            .iter()
            .map(|&i| self.pieces[i].bounds)
            .reduce(PixelBox::union)
            .expect("at least one piece")
    }

    /// The pieces of the digit with the most ink (for a picture of one digit: what is not
    /// beside it is not part of it).
    pub fn main_digit(&self) -> Vec<usize> {
        let mass = |g: &Vec<usize>| g.iter().map(|&i| self.pieces[i].mass).sum::<f32>();
        self.digits()
            .into_iter()
            .max_by(|a, b| mass(a).total_cmp(&mass(b)))
            .expect("find_ink keeps at least one piece")
    }

    /// The ink of the pieces `which` (indices into [`Ink::pieces`]) inside `area`, as strengths
    /// 0–255 (the strongest pixel 255), row-major `area.height × area.width`; other pieces'
    /// ink is left out.
    pub fn crop(&self, area: PixelBox, which: &[usize]) -> Vec<f32> {
        let mut out = vec![0.0f32; (area.width * area.height) as usize];
        for y in 0..area.height {
            for x in 0..area.width {
                let i = ((area.y + y) * self.width + area.x + x) as usize;
                let label = self.labels[i];
                if label > 0 && which.contains(&(label as usize - 1)) {
                    out[(y * area.width + x) as usize] = self.strength[i];
                }
            }
        }
        let peak = out.iter().copied().fold(0.0f32, f32::max);
        if peak > 0.0 {
            out.iter_mut().for_each(|v| *v *= 255.0 / peak);
        }
        out
    }
}

/// The writing in `image`: flattened, thresholded, with ruling, specks and page edges dropped
/// (see the module's documentation). This is the photo-robust half of every front end's
/// preprocessing (`predict`, `serve`, Python); `source` names the picture in errors.
pub fn find_ink(source: &Path, image: &DynamicImage, polarity: Polarity) -> Result<Ink> {
    let scale = (image.width().max(image.height()) as f32 / WORKING_SIDE as f32).max(1.0);
    let small;
    let image = if scale > 1.0 {
        small = image.thumbnail(WORKING_SIDE, WORKING_SIDE);
        &small
    } else {
        image
    };
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut channels = to_channels(image);
    let light_paper = match polarity {
        Polarity::Invert => true,
        Polarity::Keep => false,
        Polarity::Auto => median_of(&luma(&channels)) > 0.5,
    };
    if !light_paper {
        for c in &mut channels {
            c.iter_mut().for_each(|v| *v = 1.0 - *v);
        }
    }
    let contrast = channels
        .iter()
        .map(|c| {
            let (lo, hi) = c
                .iter()
                .fold((1.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            hi - lo
        })
        .fold(0.0f32, f32::max);
    if contrast < 32.0 / 255.0 {
        return Err(Error::format(
            source,
            "no digit found: the image is blank or uniform",
        ));
    }
    // Forced the wrong way round, the "paper" is the dark side.
    if median_of(&luma(&channels)) < 0.5 {
        let hint = match polarity {
            Polarity::Keep => " (dark ink on a light background must be inverted)",
            _ => "",
        };
        return Err(Error::format(
            source,
            format!("no digit found: nothing lighter than the background{hint}"),
        ));
    }
    let mut strength = vec![0.0f32; w * h];
    for c in &channels {
        let background = paper_level(c, w, h);
        for ((s, &v), &b) in strength.iter_mut().zip(c).zip(&background) {
            *s = s.max((1.0 - v / b.max(0.05)).clamp(0.0, 1.0));
        }
    }
    // With the page's surround set aside first; if that leaves nothing, it was the writing
    // (a digit cropped tightly enough to touch the border).
    let whole = strength.clone();
    let (labels, pieces) = match writing(&mut strength, w, h, true) {
        Some(found) => found,
        None => {
            strength = whole;
            writing(&mut strength, w, h, false).ok_or_else(|| {
                Error::format(
                    source,
                    "no digit found: the image is only paper (and its ruling), no writing",
                )
            })?
        }
    };
    let (labels, strength) = with_rim(labels, strength, w, h);
    Ok(Ink {
        width: w as u32,
        height: h as u32,
        scale,
        strength,
        labels,
        pieces,
    })
}

/// Colour channels 0–1 (one for gray pictures), transparency composited over white.
fn to_channels(image: &DynamicImage) -> Vec<Vec<f32>> {
    let rgba = image.to_rgba32f();
    let gray = !image.color().has_color();
    let n = if gray { 1 } else { 3 };
    let mut out = vec![Vec::with_capacity(rgba.len() / 4); n];
    for p in rgba.pixels() {
        let [r, g, b, a] = p.0;
        let over_white = |v: f32| a * v + (1.0 - a);
        if gray {
            out[0].push(over_white(r));
        } else {
            out[0].push(over_white(r));
            out[1].push(over_white(g));
            out[2].push(over_white(b));
        }
    }
    out
}

/// Brightness as ITU-R 601 weighs it.
fn luma(channels: &[Vec<f32>]) -> Vec<f32> {
    match channels {
        [r, g, b] => r
            .iter()
            .zip(g)
            .zip(b)
            .map(|((r, g), b)| 0.299 * r + 0.587 * g + 0.114 * b)
            .collect(),
        _ => channels[0].clone(),
    }
}

fn median_of(values: &[f32]) -> f32 {
    let mut v = values.to_vec();
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f32::total_cmp).1
}
