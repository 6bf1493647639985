//! Connected pieces of ink: found, specks and page edges dropped, a rim added for the
//! anti-aliased edge.

use super::{Piece, PixelBox};

/// Pieces smaller than this fraction of the largest are specks.
const SPECK_FRACTION: f32 = 0.02;
/// Pieces smaller than the picture's shorter side over this, both ways, are specks.
const TINY_PIECE: u32 = 25;

/// 8-connected pieces of `mask` (`w × h`): a label per pixel (index + 1, 0 for none) and each
/// piece's box and area (mass left 0).
pub(super) fn components(mask: &[bool], w: usize, h: usize) -> (Vec<u32>, Vec<Piece>) {
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
pub(super) fn keep_writing(
    mask: &[bool],
    strength: &[f32],
    w: usize,
    h: usize,
) -> (Vec<u32>, Vec<Piece>) {
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
pub(super) fn with_rim(
    labels: Vec<u32>,
    mut strength: Vec<f32>,
    w: usize,
    h: usize,
) -> (Vec<u32>, Vec<f32>) {
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
