//! Ink told from paper: Otsu's threshold on the flattened strengths, found again once a
//! photographed page's surround is set aside.

use super::pieces::{
    along_border, border_contact, components, keep_writing, outlines, Connectivity,
};
use super::ruling::remove_lines;
use super::stroke::widen;
use super::{Piece, MIN_STRENGTH};

/// A dark piece touching the border over this fraction of the picture, and solid (thicker
/// than [`SOLID`] pixels and a hundredth of the picture), is its surround.
const SURROUND: f32 = 0.01;
/// See [`SURROUND`].
const SOLID: f32 = 8.0;

/// The writing among `strength`s: thresholded (the surround set aside first when
/// `set_aside`), ruling dropped, then specks and edges; `None` if nothing is left.
pub(super) fn writing(
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
/// takes Otsu's threshold for itself, above faint writing. Solid dark pieces running along the
/// border (not a bold digit the border cuts off) and covering over [`SURROUND`] of the picture
/// are set to paper (with a few pixels round them:
/// the blurred edge); true when there was one, so the threshold is found again on the page.
fn set_aside_surround(strength: &mut [f32], threshold: f32, w: usize, h: usize) -> bool {
    let mask: Vec<bool> = strength.iter().map(|&s| s > threshold).collect();
    let (labels, pieces) = components(&mask, w, h, Connectivity::Eight);
    // Thickness as twice the area over the outline: a desk is solid, ruling and strokes thin.
    let outline = outlines(&labels, pieces.len(), w, h);
    let solid = SOLID.max(w.min(h) as f32 / 100.0);
    let contact = border_contact(&labels, pieces.len(), w, h);
    let surround: Vec<bool> = pieces
        .iter()
        .zip(outline)
        .zip(contact)
        .map(|((p, outline), contact)| {
            along_border(p, contact)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desk_along_the_border_is_set_aside_but_not_a_bold_digit_the_border_cuts_off() {
        let (w, h) = (200, 160);
        let inked = |x: usize, y: usize| {
            let desk = x < 30;
            // A ring with strokes 20 pixels wide whose top is cut off by the border.
            let ring = y < 100 && ((60..80).contains(&x) || (120..140).contains(&x))
                || (60..140).contains(&x) && (80..100).contains(&y);
            desk || ring
        };
        let mut strength: Vec<f32> = (0..w * h)
            .map(|i| f32::from(u8::from(inked(i % w, i / w))))
            .collect();
        assert!(set_aside_surround(&mut strength, 0.5, w, h));
        assert_eq!(strength[80 * w + 10], 0.0, "the desk");
        assert_eq!(strength[50 * w + 70], 1.0, "the digit's stroke");
        assert_eq!(strength[90 * w + 100], 1.0, "the digit's stroke");
    }
}
