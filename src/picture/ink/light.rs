//! Illumination flattened: the paper's brightness under each pixel, estimated at a scale far
//! wider than a stroke, for each pixel to be divided by.

/// The paper's brightness under each pixel: 90th percentile per block, each block raised to
/// its brightest neighbour, smoothed over 3 × 3 blocks, interpolated between block centres.
pub(super) fn paper_level(v: &[f32], w: usize, h: usize) -> Vec<f32> {
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
