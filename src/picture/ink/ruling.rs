//! Ruling, squared paper and margin lines: long straight thin lines near the axes, dropped
//! except where strokes cross them or are darker.

use super::pieces::{components, Connectivity};
use super::{median_of, LINE_SPAN};

/// A line is at most this thick for its length (ruling: under 1/100; a digit 1: about 1/8).
const LINE_THINNESS: f32 = 1.0 / 20.0;
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
