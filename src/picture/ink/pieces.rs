//! Connected pieces of ink: found, specks and page edges dropped, a rim added for the
//! anti-aliased edge.

use super::{Piece, PixelBox};

/// Pieces smaller than this fraction of the largest are specks.
const SPECK_FRACTION: f32 = 0.02;
/// Pieces smaller than the picture's shorter side over this, both ways, are specks.
const TINY_PIECE: u32 = 25;
/// A piece covering at least this fraction of its box's longer side of the picture's border
/// runs along it (the desk, a page's edge); a digit cut off by the border only touches it
/// across its strokes.
const ALONG_BORDER: f32 = 0.5;
/// A piece touching the border whose box is narrower than this for its length is a stretch of
/// ruling or a page's edge, not a digit cut off by the border.
const LINE_LIKE: f32 = 0.2;

/// Which neighbours of a pixel join its piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Connectivity {
    /// Left, right, up and down: paper between two strokes that touch at a corner is not one
    /// region.
    Four,
    /// The four and the diagonals: a thin slanted stroke stays one piece.
    Eight,
}

/// The connected pieces of `mask` (`w × h`): a label per pixel (index + 1, 0 for none) and
/// each piece's box and area (mass left 0).
pub(super) fn components(
    mask: &[bool],
    w: usize,
    h: usize,
    connectivity: Connectivity,
) -> (Vec<u32>, Vec<Piece>) {
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
                    let diagonal = nx != x && ny != y;
                    if mask[j]
                        && labels[j] == 0
                        && !(diagonal && connectivity == Connectivity::Four)
                    {
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

/// How many pixels of each of the `count` pieces of `labels` (`w × h`) lie on its outline:
/// next to (left, right, up or down) another piece, nothing, or the picture's border. Twice a
/// piece's area over this is its thickness.
pub(super) fn outlines(labels: &[u32], count: usize, w: usize, h: usize) -> Vec<usize> {
    let mut outline = vec![0usize; count];
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
    outline
}

/// The pieces that are writing: not specks, not page edges; relabelled densely.
pub(super) fn keep_writing(
    mask: &[bool],
    strength: &[f32],
    w: usize,
    h: usize,
) -> (Vec<u32>, Vec<Piece>) {
    let (labels, mut pieces) = components(mask, w, h, Connectivity::Eight);
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
    // A page's edge, the desk, a neighbouring page, a stretch of ruling: what touches the
    // picture's border and runs along it or is a line. A digit the border cuts off stays.
    let contact = border_contact(&labels, pieces.len(), w, h);
    let edge = |p: &Piece, contact: usize| {
        let b = p.bounds;
        let (long, short) = (b.width.max(b.height) as f32, b.width.min(b.height) as f32);
        contact > 0 && (along_border(p, contact) || short < long * LINE_LIKE)
    };
    let mut keep: Vec<bool> = pieces
        .iter()
        .zip(&contact)
        .map(|(p, &c)| !speck(p) && !edge(p, c))
        .collect();
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

/// How many of the picture's border pixels each of the `count` pieces of `labels` covers.
pub(super) fn border_contact(labels: &[u32], count: usize, w: usize, h: usize) -> Vec<usize> {
    let mut contact = vec![0usize; count];
    for (i, &l) in labels.iter().enumerate() {
        let (x, y) = (i % w, i / w);
        if l > 0 && (x == 0 || y == 0 || x + 1 == w || y + 1 == h) {
            contact[l as usize - 1] += 1;
        }
    }
    contact
}

/// Whether a piece covering `contact` border pixels runs along the border (see
/// [`ALONG_BORDER`]).
pub(super) fn along_border(p: &Piece, contact: usize) -> bool {
    contact > 0 && contact as f32 >= ALONG_BORDER * p.bounds.width.max(p.bounds.height) as f32
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Pixels of `mask` (`w` wide) set in the rectangle `x0..x1 × y0..y1`.
    fn fill(mask: &mut [bool], w: usize, (x0, x1): (usize, usize), (y0, y1): (usize, usize)) {
        for y in y0..y1 {
            for x in x0..x1 {
                mask[y * w + x] = true;
            }
        }
    }

    #[test]
    fn a_digit_cut_off_by_the_border_stays_but_the_pages_edge_and_ruling_stubs_go() {
        let (w, h) = (200, 160);
        let mut mask = vec![false; w * h];
        // A thick ring (a 0) whose top the picture's border cuts off.
        fill(&mut mask, w, (80, 90), (0, 90));
        fill(&mut mask, w, (120, 130), (0, 90));
        fill(&mut mask, w, (80, 130), (80, 90));
        // A page's edge along the left border, and a stretch of ruling off the right one.
        fill(&mut mask, w, (0, 6), (10, 150));
        fill(&mut mask, w, (150, 200), (120, 123));
        // A digit clear of the border, smaller than the ring.
        fill(&mut mask, w, (30, 40), (100, 140));
        let strength: Vec<f32> = mask.iter().map(|&m| f32::from(u8::from(m))).collect();
        let (_, kept) = keep_writing(&mask, &strength, w, h);
        let mut boxes: Vec<PixelBox> = kept.iter().map(|p| p.bounds).collect();
        boxes.sort_by_key(|b| b.x);
        assert_eq!(
            boxes,
            [
                PixelBox {
                    x: 30,
                    y: 100,
                    width: 10,
                    height: 40
                },
                PixelBox {
                    x: 80,
                    y: 0,
                    width: 50,
                    height: 90
                },
            ]
        );
    }

    #[test]
    fn border_contact_counts_the_border_pixels_each_piece_covers() {
        let (w, h) = (10, 8);
        let mut mask = vec![false; w * h];
        fill(&mut mask, w, (0, 3), (2, 6)); // 4 pixels on the left border
        fill(&mut mask, w, (5, 7), (3, 5)); // inside
        fill(&mut mask, w, (8, 10), (7, 8)); // 2 on the bottom, 1 of them also on the right
        let (labels, pieces) = components(&mask, w, h, Connectivity::Eight);
        assert_eq!(border_contact(&labels, pieces.len(), w, h), [4, 0, 2]);
        assert!(along_border(&pieces[0], 4));
        assert!(!along_border(&pieces[1], 0));
    }

    #[test]
    fn diagonal_neighbours_join_only_eight_connected_pieces() {
        let (w, h) = (4, 4);
        let mut mask = vec![false; w * h];
        fill(&mut mask, w, (0, 2), (0, 2));
        fill(&mut mask, w, (2, 4), (2, 4));
        assert_eq!(components(&mask, w, h, Connectivity::Eight).1.len(), 1);
        let (labels, pieces) = components(&mask, w, h, Connectivity::Four);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| p.area == 4));
        // Every pixel of a 2 × 2 square is on its outline.
        assert_eq!(outlines(&labels, 2, w, h), [4, 4]);
    }
}
