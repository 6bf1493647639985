//! Ruling, squared paper and margin lines: long straight thin lines near the axes, dropped
//! except where strokes cross them or are darker.

use super::pieces::{components, Connectivity};
use super::{median_of, LINE_SPAN};
use std::ops::Range;

/// A line is at most this thick for its length (ruling: under 1/100; a digit 1: about 1/8).
const LINE_THINNESS: f32 = 1.0 / 20.0;
/// A broken line is judged in this many parts along its length.
const BROKEN_LINE_PARTS: usize = 8;
/// The pieces of a broken line are at most this many pixels thick (at the finding's scale),
/// as ruling is and a digit's strokes in a picture of one digit are not.
const BROKEN_LINE_WIDTH: usize = 3;
/// A stroke on a ruling line stays where it is this much darker than the line.
const DARKER_THAN_LINE: f32 = 1.6;

/// Drops ruling: pixels of long straight thin lines near the axes, except where a stroke
/// crosses the line or is clearly darker than it.
pub(super) fn remove_lines(mask: &mut [bool], strength: &[f32], w: usize, h: usize) {
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
/// thin for their length; each found line widened by a pixel on each side over its ink. Where
/// such lines were found, lines parallel to them broken into pieces are found too (see
/// [`broken_line`]).
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
    // How far the ink at (a, c) runs across the track, both ways.
    let across = |a: usize, c: usize| {
        let inked = |c: usize| low[at(a, c)];
        let down = (1..=c).take_while(|&d| inked(c - d)).count();
        let up = (c + 1..nc).take_while(|&c| inked(c)).count();
        1 + down + up
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
    // Solid lines first; then, at the slopes where some were found (the page's ruling runs
    // parallel), lines broken into pieces: on plain paper a digit's bar is never taken for one.
    let mut ruled = vec![false; (2 * slopes + 1) as usize];
    for broken_pass in [false, true] {
        for k in -slopes..=slopes {
            let parallel = |j: i32| ruled.get((j + slopes) as usize) == Some(&true);
            if broken_pass && !(parallel(k - 1) || parallel(k) || parallel(k + 1)) {
                continue;
            }
            let slope = k as f32 * step;
            let shift = (slope.abs() * na as f32).ceil() as isize;
            for c0 in -shift..nc as isize + shift {
                let column = |a: usize| {
                    let c = c0 + (slope * a as f32).round() as isize;
                    (c >= 0 && c < nc as isize).then_some(c as usize)
                };
                let track = |a: usize| column(a).map(|c| at(a, c));
                let ink = |a: usize| track(a).is_some_and(|i| low[i]);
                if broken_pass {
                    if !broken_line(&ink, na) {
                        continue;
                    }
                    let thin = |r: &Range<usize>| {
                        let mut widths: Vec<usize> = r
                            .clone()
                            .filter_map(|a| column(a).map(|c| across(a, c)))
                            .collect();
                        let mid = widths.len() / 2;
                        *widths.select_nth_unstable(mid).1 <= BROKEN_LINE_WIDTH
                    };
                    let stretches: Vec<Range<usize>> =
                        long_stretches(&ink, na).into_iter().filter(thin).collect();
                    if stretches.len() >= 2 {
                        for i in stretches.into_iter().flatten().filter_map(track) {
                            found[i] |= low[i];
                        }
                    }
                    continue;
                }
                run.iter_mut().for_each(|r| *r = 0);
                let mut sum = (0..span).filter(|&a| ink(a)).count();
                let mut any = false;
                for start in 0..=na - span {
                    if start > 0 {
                        sum =
                            sum + usize::from(ink(start + span - 1)) - usize::from(ink(start - 1));
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
                ruled[(k + slopes) as usize] = true;
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
    }
    keep_thin(&mut found, low, lw, lh, transposed);
    found
}

/// Whether the track `ink(0..na)` is a ruling line broken into pieces (faint ruling, pencil
/// grey, thresholded in stretches): ink over at least 40% of its length, and over a quarter or
/// more of 5 of its [`BROKEN_LINE_PARTS`] parts: spread along it, as no row of digits is.
fn broken_line(ink: &impl Fn(usize) -> bool, na: usize) -> bool {
    let parts = BROKEN_LINE_PARTS.min(na);
    let mut covered = 0;
    let mut total = 0;
    for part in 0..parts {
        let (a0, a1) = (part * na / parts, (part + 1) * na / parts);
        let on = (a0..a1).filter(|&a| ink(a)).count();
        total += on;
        covered += usize::from(on * 4 >= a1 - a0);
    }
    total * 5 >= na * 2 && covered * 8 >= parts * 5
}

/// The stretches of ink along `ink(0..na)` (gaps of a pixel bridged) at least
/// `2 × `[`BROKEN_LINE_PARTS`] times shorter than the track: the pieces of a broken line, not
/// the short stretch where a digit's contour runs along it. A line broken into pieces has two
/// or more; a digit's stroke as long (a 1 as tall as the picture) has one.
fn long_stretches(ink: &impl Fn(usize) -> bool, na: usize) -> Vec<Range<usize>> {
    let shortest = na.div_ceil(2 * BROKEN_LINE_PARTS);
    let mut stretches = Vec::new();
    let mut a = 0;
    while a < na {
        if !ink(a) {
            a += 1;
            continue;
        }
        let start = a;
        let mut end = a + 1;
        while end < na && (ink(end) || (end + 1 < na && ink(end + 1))) {
            end += 1;
        }
        if end - start >= shortest {
            stretches.push(start..end);
        }
        a = end;
    }
    stretches
}

/// Keeps the lines of `found` whose thickness (area over length) is under [`LINE_THINNESS`]
/// of their length, then widens them by a pixel across over ink of `low` (after measuring, so
/// that the close lines of squared paper are measured one by one).
fn keep_thin(found: &mut [bool], low: &[bool], lw: usize, lh: usize, transposed: bool) {
    let (labels, pieces) = components(found, lw, lh, Connectivity::Eight);
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

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 400;
    const H: usize = 200;

    /// A mask with a 2-pixel-thick horizontal line at `y` wherever `on(x)`.
    fn line(mask: &mut [bool], y: usize, on: impl Fn(usize) -> bool) {
        for x in (0..W).filter(|&x| on(x)) {
            mask[y * W + x] = true;
            mask[(y + 1) * W + x] = true;
        }
    }

    /// Every other stretch of 40 pixels: half of a line, spread along all of it.
    fn every_other_stretch(x: usize) -> bool {
        (x / 40).is_multiple_of(2)
    }

    /// A vertical stroke 4 pixels wide, clear of the lines: a digit's.
    fn stroke(mask: &mut [bool]) {
        for y in 130..190 {
            for x in 210..214 {
                mask[y * W + x] = true;
            }
        }
    }

    fn removed(mut mask: Vec<bool>) -> Vec<bool> {
        let strength: Vec<f32> = mask.iter().map(|&m| f32::from(u8::from(m))).collect();
        remove_lines(&mut mask, &strength, W, H);
        mask
    }

    #[test]
    fn a_line_broken_into_pieces_beside_solid_ruling_is_ruling_too() {
        let mut mask = vec![false; W * H];
        line(&mut mask, 40, |_| true);
        line(&mut mask, 80, every_other_stretch);
        stroke(&mut mask);
        let left = removed(mask);
        assert!(!left[40 * W + 200], "the solid line");
        assert!(
            (0..W).all(|x| !left[80 * W + x]),
            "every piece of the broken line"
        );
        assert!(left[160 * W + 211], "the digit's stroke");
    }

    #[test]
    fn on_unruled_paper_pieces_in_a_row_are_not_a_broken_line() {
        let mut mask = vec![false; W * H];
        line(&mut mask, 80, every_other_stretch);
        stroke(&mut mask);
        let left = removed(mask.clone());
        assert_eq!(left, mask);
    }

    #[test]
    fn a_one_over_half_the_pictures_height_beside_a_margin_line_stays() {
        // Too short to be a solid line, long enough to be a broken one in one piece.
        let mut mask = vec![false; W * H];
        for y in 0..H {
            for x in (20..22).chain((200..203).filter(|_| (68..182).contains(&y))) {
                mask[y * W + x] = true;
            }
        }
        let left = removed(mask);
        assert!(!left[100 * W + 20], "the margin line");
        assert!((68..182).all(|y| left[y * W + 201]), "the 1");
    }
}
