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
//!    90th percentile, each block raised to the brightest of its neighbours (a block filled by a
//!    thick stroke takes its neighbours' paper), smoothed and interpolated; each pixel is
//!    divided by it. A shadowed corner and yellow paper both become reflectance 1.
//! 4. **Ink strength** `1 − reflectance`, the largest over the three channels, so that blue ink
//!    on yellow paper or red ink on green shows in the channel where it is darkest.
//! 5. **Threshold: Otsu's, global, on the flattened strengths**, never below
//!    [`MIN_STRENGTH`]; found again without the desk when the page's surround shows. Once the light is flat, paper is one narrow mode near 0 and ink another,
//!    which is exactly the two-class case Otsu's method solves without a parameter; a local
//!    method (Sauvola, Niblack) would instead find "ink" in every empty stretch of paper and
//!    hollow out strokes wider than its window. The floor keeps paper grain, JPEG ringing and a
//!    blank page from being split in two.
//! 6. **Not writing, dropped**: straight ink lines running across at least
//!    [`LINE_SPAN`] of the picture within ±6° of the axes and thinner than a twentieth of their
//!    length (ruling, squared paper, margin lines) — where a stroke crosses such a line, or is
//!    clearly darker than it, its pixels stay; specks (pieces under 2% of the largest, or
//!    under a 25th of the picture's shorter side both ways); page edges (pieces touching the
//!    picture's border, when other ink remains).
//! 7. **Grey levels kept**: what remains keeps its strength, with a one-pixel rim for the
//!    anti-aliased edge, as pieces (connected components) that `preprocess` and `number` read.
//!
//! Out of reach: ink as light as its paper in every channel (yellow highlighter, a pencil
//! barely touched to the paper); sharp shadows and glare smaller than a block (a hand's shadow
//! edge reads as a stroke); curved ruling (a page bent at the spine, wide-angle distortion);
//! ruling as dark as the ink where it runs along a stroke; writing on a printed or patterned
//! background.

use crate::error::{Error, Result};
use crate::picture::preprocess::Polarity;
use image::DynamicImage;
use std::path::Path;

/// Pictures are worked on at most this many pixels per side.
pub const WORKING_SIDE: u32 = 1024;
/// The weakest ink: 18% darker than its paper.
pub const MIN_STRENGTH: f32 = 0.18;
/// A ruling line runs across at least this fraction of the picture.
pub const LINE_SPAN: f32 = 0.7;
/// A line is at most this thick for its length (ruling: under 1/100; a digit 1: about 1/8).
const LINE_THINNESS: f32 = 1.0 / 20.0;
/// Pieces smaller than this fraction of the largest are specks.
const SPECK_FRACTION: f32 = 0.02;
/// Pieces smaller than the picture's shorter side over this, both ways, are specks.
const TINY_PIECE: u32 = 25;
/// A dark piece touching the border over this fraction of the picture, and solid (thicker
/// than [`SOLID`] pixels and a hundredth of the picture), is its surround.
const SURROUND: f32 = 0.01;
/// See [`SURROUND`].
const SOLID: f32 = 8.0;
/// Groups of pieces shorter than this fraction of the tallest are not digits.
const SMALL_PIECE: f32 = 0.3;
/// A stroke on a ruling line stays where it is this much darker than the line.
const DARKER_THAN_LINE: f32 = 1.6;

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

/// The paper's brightness under each pixel: 90th percentile per block, each block raised to
/// its brightest neighbour, smoothed over 3 × 3 blocks, interpolated between block centres.
fn paper_level(v: &[f32], w: usize, h: usize) -> Vec<f32> {
    let side = (w.max(h) / 8).max(16);
    let (bw, bh) = (w.div_ceil(side), h.div_ceil(side));
    let mut level = vec![0.0f32; bw * bh];
    for by in 0..bh {
        for bx in 0..bw {
            let mut histogram = [0u32; 256];
            let mut n = 0;
            for y in by * side..((by + 1) * side).min(h) {
                for x in bx * side..((bx + 1) * side).min(w) {
                    histogram[(v[y * w + x] * 255.0).round().clamp(0.0, 255.0) as usize] += 1;
                    n += 1;
                }
            }
            let mut seen = 0;
            let target = n * 9 / 10;
            let mut bin = 0;
            while bin < 255 && seen + histogram[bin] <= target {
                seen += histogram[bin];
                bin += 1;
            }
            level[by * bw + bx] = bin as f32 / 255.0;
        }
    }
    let around = |grid: &[f32], bx: usize, by: usize, f: fn(f32, f32) -> f32, start: f32| {
        let mut acc = start;
        let mut n = 0;
        for y in by.saturating_sub(1)..(by + 2).min(bh) {
            for x in bx.saturating_sub(1)..(bx + 2).min(bw) {
                acc = f(acc, grid[y * bw + x]);
                n += 1;
            }
        }
        (acc, n)
    };
    let raised: Vec<f32> = (0..bw * bh)
        .map(|i| around(&level, i % bw, i / bw, f32::max, 0.0).0)
        .collect();
    let smooth: Vec<f32> = (0..bw * bh)
        .map(|i| {
            let (sum, n) = around(&raised, i % bw, i / bw, |a, b| a + b, 0.0);
            sum / n as f32
        })
        .collect();
    // Bilinear between block centres (clamped at the outer half-blocks).
    let coord = |p: usize, n: usize| {
        let t = ((p as f32 + 0.5) / side as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let i = (t.floor() as usize).min(n.saturating_sub(2));
        (i, (t - i as f32).min(1.0))
    };
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let (iy, fy) = coord(y, bh);
        let iy1 = (iy + 1).min(bh - 1);
        for x in 0..w {
            let (ix, fx) = coord(x, bw);
            let ix1 = (ix + 1).min(bw - 1);
            let top = smooth[iy * bw + ix] * (1.0 - fx) + smooth[iy * bw + ix1] * fx;
            let bottom = smooth[iy1 * bw + ix] * (1.0 - fx) + smooth[iy1 * bw + ix1] * fx;
            out[y * w + x] = top * (1.0 - fy) + bottom * fy;
        }
    }
    out
}

/// The writing among `strength`s: thresholded (the surround set aside first when
/// `set_aside`), ruling dropped, then specks and edges; `None` if nothing is left.
fn writing(
    strength: &mut [f32],
    w: usize,
    h: usize,
    set_aside: bool,
) -> Option<(Vec<u32>, Vec<Piece>)> {
    let mut threshold = otsu(strength).max(MIN_STRENGTH);
    // Each surround set aside can uncover the next (a desk on two sides, of two shades).
    for _ in 0..3 {
        if !set_aside || !set_aside_surround(strength, threshold, w, h) {
            break;
        }
        threshold = otsu(strength).max(MIN_STRENGTH);
    }
    let mut mask: Vec<bool> = strength.iter().map(|&s| s > threshold).collect();
    remove_lines(&mut mask, strength, w, h);
    let (labels, pieces) = keep_writing(&mask, strength, w, h);
    (!pieces.is_empty()).then_some((labels, pieces))
}

/// A photographed page's surround (the desk, a dark table) is ink as far as strength goes and
/// takes Otsu's threshold for itself, above faint writing. Solid dark pieces touching the border
/// and covering over [`SURROUND`] of the picture are set to paper (with a few pixels round them:
/// the blurred edge); true when there was one, so the threshold is found again on the page.
fn set_aside_surround(strength: &mut [f32], threshold: f32, w: usize, h: usize) -> bool {
    let mask: Vec<bool> = strength.iter().map(|&s| s > threshold).collect();
    let (labels, pieces) = components(&mask, w, h);
    // Thickness as twice the area over the outline: a desk is solid, ruling and strokes thin.
    let mut outline = vec![0usize; pieces.len()];
    for y in 0..h {
        for x in 0..w {
            let l = labels[y * w + x];
            let inner = x > 0 && y > 0 && x + 1 < w && y + 1 < h;
            if l > 0
                && !(inner
                    && [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                        .iter()
                        .all(|&(nx, ny)| labels[ny * w + nx] == l))
            {
                outline[l as usize - 1] += 1;
            }
        }
    }
    let solid = SOLID.max(w.min(h) as f32 / 100.0);
    let surround: Vec<bool> = pieces
        .iter()
        .zip(outline)
        .map(|(p, outline)| {
            let b = p.bounds;
            let border = b.x == 0 || b.y == 0 || b.right() == w as u32 || b.bottom() == h as u32;
            border
                && p.area as f32 > SURROUND * (w * h) as f32
                && 2.0 * p.area as f32 / outline as f32 > solid
        })
        .collect();
    if !surround.iter().any(|&s| s) {
        return false;
    }
    let marked: Vec<f32> = labels
        .iter()
        .map(|&l| f32::from(u8::from(l > 0 && surround[l as usize - 1])))
        .collect();
    let grown = widen(&marked, w, h, 4);
    for (s, g) in strength.iter_mut().zip(grown) {
        if g > 0.0 {
            *s = 0.0;
        }
    }
    true
}

/// Otsu's threshold on strengths 0–1 (256 bins): the level that best separates two classes.
fn otsu(strength: &[f32]) -> f32 {
    let mut histogram = [0f64; 256];
    for &s in strength {
        histogram[(s * 255.0).round() as usize] += 1.0;
    }
    let total: f64 = histogram.iter().sum();
    let sum: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, n)| i as f64 * n)
        .sum();
    let (mut below, mut below_sum, mut best, mut best_at) = (0.0, 0.0, -1.0, 0);
    for (i, &n) in histogram.iter().enumerate() {
        below += n;
        below_sum += i as f64 * n;
        let above = total - below;
        if below == 0.0 || above == 0.0 {
            continue;
        }
        let gap = below_sum / below - (sum - below_sum) / above;
        let between = below * above * gap * gap;
        if between > best {
            (best, best_at) = (between, i);
        }
    }
    best_at as f32 / 255.0
}

/// Drops ruling: pixels of long straight thin lines near the axes, except where a stroke
/// crosses the line or is clearly darker than it.
fn remove_lines(mask: &mut [bool], strength: &[f32], w: usize, h: usize) {
    // Found on a copy at most 256 pixels per side where a pixel is ink if any pixel of its
    // block is: thin lines stay unbroken and a few dozen angles cover ±6°.
    let f = w.max(h).div_ceil(256).max(1);
    let (lw, lh) = (w.div_ceil(f), h.div_ceil(f));
    let mut low = vec![false; lw * lh];
    for (i, _) in mask.iter().enumerate().filter(|(_, &m)| m) {
        low[(i / w / f) * lw + (i % w) / f] = true;
    }
    let horizontal = line_map(&low, lw, lh, false);
    let vertical = line_map(&low, lw, lh, true);
    let in_zone = |zone: &[bool], x: usize, y: usize| zone[(y / f) * lw + x / f];
    // The ink level of each kind of line, so that a red margin line is judged against itself
    // and not against pale blue ruling.
    let level = |zone: &[bool]| {
        let on: Vec<f32> = (0..w * h)
            .filter(|&i| mask[i] && in_zone(zone, i % w, i / w))
            .map(|i| strength[i])
            .collect();
        (!on.is_empty()).then(|| median_of(&on))
    };
    let levels = [level(&horizontal), level(&vertical)];
    if levels.iter().all(Option::is_none) {
        return;
    }
    let reach = 5 * f + 2;
    let original = mask.to_vec();
    let on_a_line = |x: usize, y: usize| in_zone(&horizontal, x, y) || in_zone(&vertical, x, y);
    // Ink off every line just beyond the zone on both sides, along (dx, dy): a stroke crossing.
    let crossing = |x: usize, y: usize, (dx, dy): (isize, isize)| {
        [1isize, -1].iter().all(|&sign| {
            (1..=reach as isize).any(|k| {
                let (px, py) = (x as isize + sign * k * dx, y as isize + sign * k * dy);
                if px < 0 || py < 0 || px >= w as isize || py >= h as isize {
                    return false;
                }
                let (px, py) = (px as usize, py as usize);
                !on_a_line(px, py) && original[py * w + px]
            })
        })
    };
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !mask[i] {
                continue;
            }
            for ((zone, across), level) in [(&horizontal, (0, 1)), (&vertical, (1, 0))]
                .into_iter()
                .zip(levels)
            {
                let Some(level) = level else { continue };
                if in_zone(zone, x, y)
                    && strength[i] <= level * DARKER_THAN_LINE
                    && !crossing(x, y, across)
                {
                    mask[i] = false;
                }
            }
        }
    }
}

/// Pixels of `low` (`lw × lh`) on straight runs across at least [`LINE_SPAN`] of the picture,
/// at most 6° off the horizontal (or the vertical when `transposed`), at least 85% ink, and
/// thin for their length; each found line widened by a pixel on each side over its ink.
fn line_map(low: &[bool], lw: usize, lh: usize, transposed: bool) -> Vec<bool> {
    // (along, across) extents and a reader in those coordinates.
    let (na, nc) = if transposed { (lh, lw) } else { (lw, lh) };
    let at = |a: usize, c: usize| {
        if transposed {
            a * lw + c
        } else {
            c * lw + a
        }
    };
    let span = ((na as f32 * LINE_SPAN).ceil() as usize).max(2);
    let need = (span as f32 * 0.85).ceil() as usize;
    let mut found = vec![false; lw * lh];
    // A picture one pixel long holds no run of two.
    if na < span {
        return found;
    }
    let max_slope = 0.105f32; // tan 6°
    let step = 1.0 / span as f32;
    let slopes = (max_slope / step).ceil() as i32;
    let mut run = vec![0i32; na + 1];
    for k in -slopes..=slopes {
        let slope = k as f32 * step;
        let shift = (slope.abs() * na as f32).ceil() as isize;
        for c0 in -shift..nc as isize + shift {
            let track = |a: usize| {
                let c = c0 + (slope * a as f32).round() as isize;
                (c >= 0 && c < nc as isize).then(|| at(a, c as usize))
            };
            let ink = |a: usize| track(a).is_some_and(|i| low[i]);
            let mut sum = (0..span).filter(|&a| ink(a)).count();
            run.iter_mut().for_each(|r| *r = 0);
            let mut any = false;
            for start in 0..=na - span {
                if start > 0 {
                    sum = sum + usize::from(ink(start + span - 1)) - usize::from(ink(start - 1));
                }
                if sum >= need {
                    run[start] += 1;
                    run[start + span] -= 1;
                    any = true;
                }
            }
            if !any {
                continue;
            }
            let mut open = 0;
            for (a, step) in run[..na].iter().enumerate() {
                open += step;
                if open > 0 {
                    if let Some(i) = track(a).filter(|&i| low[i]) {
                        found[i] = true;
                    }
                }
            }
        }
    }
    keep_thin(&mut found, low, lw, lh, transposed);
    found
}

/// Keeps the lines of `found` whose thickness (area over length) is under [`LINE_THINNESS`]
/// of their length, then widens them by a pixel across over ink of `low` (after measuring, so
/// that the close lines of squared paper are measured one by one).
fn keep_thin(found: &mut [bool], low: &[bool], lw: usize, lh: usize, transposed: bool) {
    let (labels, pieces) = components(found, lw, lh);
    let thin: Vec<bool> = pieces
        .iter()
        .map(|p| {
            let length = if transposed {
                p.bounds.height
            } else {
                p.bounds.width
            } as f32;
            p.area as f32 / length <= length * LINE_THINNESS
        })
        .collect();
    let kept: Vec<bool> = labels
        .iter()
        .map(|&l| l > 0 && thin[l as usize - 1])
        .collect();
    for (i, f) in found.iter_mut().enumerate() {
        let (x, y) = (i % lw, i / lw);
        let neighbours = if transposed {
            [(x.wrapping_sub(1), y), (x + 1, y)]
        } else {
            [(x, y.wrapping_sub(1)), (x, y + 1)]
        };
        *f = kept[i]
            || (low[i]
                && neighbours
                    .iter()
                    .any(|&(nx, ny)| nx < lw && ny < lh && kept[ny * lw + nx]));
    }
}

/// 8-connected pieces of `mask` (`w × h`): a label per pixel (index + 1, 0 for none) and each
/// piece's box and area (mass left 0).
fn components(mask: &[bool], w: usize, h: usize) -> (Vec<u32>, Vec<Piece>) {
    let mut labels = vec![0u32; w * h];
    let mut pieces = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !mask[start] || labels[start] > 0 {
            continue;
        }
        let label = pieces.len() as u32 + 1;
        labels[start] = label;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1, mut area) = (w, h, 0, 0, 0);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            area += 1;
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if mask[j] && labels[j] == 0 {
                        labels[j] = label;
                        stack.push(j);
                    }
                }
            }
        }
        pieces.push(Piece {
            bounds: PixelBox {
                x: x0 as u32,
                y: y0 as u32,
                width: (x1 - x0 + 1) as u32,
                height: (y1 - y0 + 1) as u32,
            },
            area,
            mass: 0.0,
        });
    }
    (labels, pieces)
}

/// The pieces that are writing: not specks, not page edges; relabelled densely.
fn keep_writing(mask: &[bool], strength: &[f32], w: usize, h: usize) -> (Vec<u32>, Vec<Piece>) {
    let (labels, mut pieces) = components(mask, w, h);
    for (i, &l) in labels.iter().enumerate() {
        if l > 0 {
            pieces[l as usize - 1].mass += strength[i];
        }
    }
    let largest = pieces.iter().map(|p| p.area).max().unwrap_or(0);
    let tiny = w.min(h) as u32 / TINY_PIECE;
    let speck = |p: &Piece| {
        (p.area as f32) < largest as f32 * SPECK_FRACTION
            || p.area < 3
            || p.bounds.width.max(p.bounds.height) < tiny
    };
    // A page's edge, the desk, a neighbouring page: whatever touches the picture's border.
    let edge = |p: &Piece| {
        let b = p.bounds;
        b.x == 0 || b.y == 0 || b.right() == w as u32 || b.bottom() == h as u32
    };
    let mut keep: Vec<bool> = pieces.iter().map(|p| !speck(p) && !edge(p)).collect();
    if !keep.iter().any(|&k| k) {
        // Only edge-like pieces: a digit cropped tightly to its box.
        keep = pieces.iter().map(|p| !speck(p)).collect();
    }
    let mut new_label = vec![0u32; pieces.len()];
    let mut kept = Vec::new();
    for (i, p) in pieces.into_iter().enumerate() {
        if keep[i] {
            kept.push(p);
            new_label[i] = kept.len() as u32;
        }
    }
    let labels = labels
        .into_iter()
        .map(|l| if l > 0 { new_label[l as usize - 1] } else { 0 })
        .collect();
    (labels, kept)
}

/// Each piece grown by a one-pixel rim (its anti-aliased edge, below the threshold); strengths
/// outside the pieces and their rims set to 0.
fn with_rim(labels: Vec<u32>, mut strength: Vec<f32>, w: usize, h: usize) -> (Vec<u32>, Vec<f32>) {
    let mut grown = labels.clone();
    for y in 0..h {
        for x in 0..w {
            if labels[y * w + x] > 0 {
                continue;
            }
            'around: for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    if labels[ny * w + nx] > 0 {
                        grown[y * w + x] = labels[ny * w + nx];
                        break 'around;
                    }
                }
            }
        }
    }
    for (s, &l) in strength.iter_mut().zip(&grown) {
        if l == 0 {
            *s = 0.0;
        }
    }
    (grown, strength)
}

/// Mean stroke width of ink strengths (`h × w`, 0–255): twice the area over the outline.
pub fn stroke_width(ink: &[f32], w: usize, h: usize) -> f32 {
    let on = |x: usize, y: usize| ink[y * w + x] > 127.0;
    let (mut area, mut outline) = (0usize, 0usize);
    for y in 0..h {
        for x in 0..w {
            if !on(x, y) {
                continue;
            }
            area += 1;
            let inner = x > 0 && y > 0 && x + 1 < w && y + 1 < h;
            if !(inner && on(x - 1, y) && on(x + 1, y) && on(x, y - 1) && on(x, y + 1)) {
                outline += 1;
            }
        }
    }
    if outline == 0 {
        return 0.0;
    }
    2.0 * area as f32 / outline as f32
}

/// Each pixel of `ink` (`h × w`) the strongest within `radius` (a square): strokes become
/// `2 × radius` wider.
pub fn widen(ink: &[f32], w: usize, h: usize, radius: usize) -> Vec<f32> {
    if radius == 0 {
        return ink.to_vec();
    }
    let mut rows = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            rows[y * w + x] = (x.saturating_sub(radius)..(x + radius + 1).min(w))
                .map(|i| ink[y * w + i])
                .fold(0.0, f32::max);
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = (y.saturating_sub(radius)..(y + radius + 1).min(h))
                .map(|j| rows[j * w + x])
                .fold(0.0, f32::max);
        }
    }
    out
}
