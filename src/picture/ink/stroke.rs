//! Strokes measured and widened.

use super::pieces::{components, outlines, Connectivity};

/// Mean stroke width of ink strengths (`h × w`, 0–255): twice the area over the outline.
pub fn stroke_width(ink: &[f32], w: usize, h: usize) -> f32 {
    let on: Vec<u32> = ink.iter().map(|&v| u32::from(v > 127.0)).collect();
    let area = on.iter().filter(|&&l| l > 0).count();
    let outline = outlines(&on, 1, w, h)[0];
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

/// Each pixel of `ink` (`h × w`, not negative) the weakest within `radius` (a square): strokes
/// become `2 × radius` narrower, and those no wider vanish.
fn narrow(ink: &[f32], w: usize, h: usize, radius: usize) -> Vec<f32> {
    let peak = ink.iter().copied().fold(0.0f32, f32::max);
    let inverted: Vec<f32> = ink.iter().map(|v| peak - v).collect();
    widen(&inverted, w, h, radius)
        .into_iter()
        .map(|v| peak - v)
        .collect()
}

/// The paper inside strokes drawn as their two contours, in `mask` (`h × w`): true where a gap
/// narrower than `2 × close` was closed, or where paper enclosed by ink (gaps closed) is
/// thinner (twice its area over its outline) than `thinnest`, unlike a digit's loops.
pub fn hollows(mask: &[bool], w: usize, h: usize, close: usize, thinnest: f32) -> Vec<bool> {
    // Padded so that closing does not stick to the box's edges.
    let (pw, ph) = (w + 2 * close + 2, h + 2 * close + 2);
    let mut padded = vec![0.0f32; pw * ph];
    for y in 0..h {
        for x in 0..w {
            if mask[y * w + x] {
                padded[(y + close + 1) * pw + x + close + 1] = 1.0;
            }
        }
    }
    let closed = narrow(&widen(&padded, pw, ph, close), pw, ph, close);
    let paper: Vec<bool> = closed.iter().map(|&v| v < 0.5).collect();
    // 4-connected: paper meeting at a corner of two strokes is two regions, as the eye sees.
    let (label, regions) = components(&paper, pw, ph, Connectivity::Four);
    let outline = outlines(&label, regions.len(), pw, ph);
    // Regions reaching the padded border are the paper outside the digit.
    let fill: Vec<bool> = regions
        .iter()
        .zip(&outline)
        .map(|(r, &outline)| {
            let b = r.bounds;
            let outside =
                b.x == 0 || b.y == 0 || b.right() as usize == pw || b.bottom() as usize == ph;
            !outside && 2.0 * r.area as f32 / (outline.max(1) as f32) < thinnest
        })
        .collect();
    let mut out = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = (y + close + 1) * pw + x + close + 1;
            out[y * w + x] = !mask[y * w + x]
                && (closed[i] >= 0.5 || (label[i] > 0 && fill[label[i] as usize - 1]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w × h` mask with the rectangles `(x0, x1, y0, y1)` set.
    fn mask_of(w: usize, h: usize, rects: &[(usize, usize, usize, usize)]) -> Vec<bool> {
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                rects
                    .iter()
                    .any(|&(x0, x1, y0, y1)| (x0..x1).contains(&x) && (y0..y1).contains(&y))
            })
            .collect()
    }

    /// The outline (`t` pixels thick) of the rectangle `x0..x1 × y0..y1`.
    fn contour(
        x0: usize,
        x1: usize,
        y0: usize,
        y1: usize,
        t: usize,
    ) -> [(usize, usize, usize, usize); 4] {
        [
            (x0, x1, y0, y0 + t),
            (x0, x1, y1 - t, y1),
            (x0, x0 + t, y0, y1),
            (x1 - t, x1, y0, y1),
        ]
    }

    #[test]
    fn narrow_thins_strokes_and_drops_those_no_wider_than_it() {
        let (w, h) = (20, 10);
        let ink: Vec<f32> = mask_of(w, h, &[(2, 7, 0, 10), (12, 13, 0, 10)])
            .into_iter()
            .map(|m| if m { 200.0 } else { 0.0 })
            .collect();
        let thin = narrow(&ink, w, h, 1);
        let row: Vec<f32> = thin[5 * w..6 * w].to_vec();
        let on: Vec<usize> = (0..w).filter(|&x| row[x] > 0.0).collect();
        assert_eq!(on, [3, 4, 5], "{row:?}");
        assert_eq!(row[4], 200.0);
    }

    #[test]
    fn a_strokes_hollow_is_found_but_not_a_digits_loop() {
        let (w, h) = (120, 100);
        // A bar drawn as its two contours: a hollow 6 pixels wide inside.
        let bar = mask_of(w, h, &contour(10, 20, 5, 95, 2));
        let hollow = hollows(&bar, w, h, 0, 15.0);
        assert!(hollow[50 * w + 15], "inside the bar's contours");
        assert!(!hollow[50 * w + 50], "the paper beside it");
        assert_eq!(hollow.iter().filter(|&&m| m).count(), 6 * 86);
        // A ring with a solid stroke round a loop 40 pixels wide: not a hollow.
        let ring = mask_of(w, h, &contour(40, 100, 10, 90, 10));
        assert!(!hollows(&ring, w, h, 0, 15.0).iter().any(|&m| m));
    }

    #[test]
    fn a_gap_in_the_contours_narrower_than_the_closing_is_bridged() {
        let (w, h) = (60, 100);
        // The bar's contours open by 2 pixels at the bottom.
        let mut bar = mask_of(w, h, &contour(10, 20, 5, 95, 2));
        for y in 93..95 {
            for x in 14..16 {
                bar[y * w + x] = false;
            }
        }
        assert!(
            !hollows(&bar, w, h, 0, 15.0)[50 * w + 15],
            "open: paper outside"
        );
        let closed = hollows(&bar, w, h, 2, 15.0);
        assert!(closed[50 * w + 15], "closed: a hollow");
        assert!(closed[94 * w + 14], "the gap itself");
    }
}
