//! Strokes measured and widened.

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
