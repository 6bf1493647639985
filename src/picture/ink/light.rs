//! Illumination flattened: the paper's brightness under each pixel, estimated at a scale far
//! wider than a stroke, for each pixel to be divided by.

/// The paper's brightness under each pixel: 90th percentile per block, each block raised to
/// the median of its 3 × 3 blocks (a block filled by a thick stroke takes its neighbours'
/// paper), smoothed over 3 × 3 blocks, interpolated between block centres.
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
    let raised: Vec<f32> = (0..bw * bh)
        .map(|i| {
            let mut around = neighbourhood(&level, bw, bh, i % bw, i / bw);
            around.sort_unstable_by(f32::total_cmp);
            level[i].max(around[4])
        })
        .collect();
    let smooth: Vec<f32> = (0..bw * bh)
        .map(|i| {
            neighbourhood(&raised, bw, bh, i % bw, i / bw)
                .iter()
                .sum::<f32>()
                / 9.0
        })
        .collect();
    // Bilinear between block centres, extrapolated over the outer half-blocks.
    let coord = |p: usize, n: usize| {
        let t = (p as f32 + 0.5) / side as f32 - 0.5;
        let i = (t.max(0.0) as usize).min(n.saturating_sub(2));
        (i, if n > 1 { t - i as f32 } else { 0.0 })
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

/// The 3 × 3 blocks round block (`bx`, `by`) of `grid` (`bw × bh`), those beyond the edge
/// extrapolated linearly from the two nearest inside. A light gradient then has the block's own
/// level as its median and mean everywhere, where the brightest neighbour or a one-sided
/// neighbourhood would overestimate the paper on the dark side and read its shade as ink.
fn neighbourhood(grid: &[f32], bw: usize, bh: usize, bx: usize, by: usize) -> [f32; 9] {
    // Index and extrapolation weight along one axis: inside, or mirrored with 2a − b.
    let reach = |p: isize, n: usize| -> [(usize, f32); 2] {
        if p < 0 && n > 1 {
            [(0, 2.0), (1, -1.0)]
        } else if p >= n as isize && n > 1 {
            [(n - 1, 2.0), (n - 2, -1.0)]
        } else {
            [(p.clamp(0, n as isize - 1) as usize, 1.0), (0, 0.0)]
        }
    };
    let mut out = [0.0f32; 9];
    for (k, v) in out.iter_mut().enumerate() {
        let (dx, dy) = (k as isize % 3 - 1, k as isize / 3 - 1);
        let mut sum = 0.0;
        for (y, wy) in reach(by as isize + dy, bh) {
            for (x, wx) in reach(bx as isize + dx, bw) {
                sum += wx * wy * grid[y * bw + x];
            }
        }
        *v = sum.clamp(0.0, 1.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_light_gradient_is_estimated_without_a_bias_to_the_bright_side() {
        // Paper lit from 50% on the left to 100% on the right, nothing written on it.
        let (w, h) = (400, 300);
        let light = |x: usize| 0.5 + 0.5 * x as f32 / (w - 1) as f32;
        let page: Vec<f32> = (0..w * h).map(|i| light(i % w)).collect();
        let level = paper_level(&page, w, h);
        for (i, &l) in level.iter().enumerate() {
            let truth = light(i % w);
            assert!(
                (l / truth - 1.0).abs() < 0.06,
                "at x = {}: {l} for {truth}",
                i % w
            );
        }
    }

    #[test]
    fn a_block_filled_by_a_thick_stroke_takes_its_neighbours_paper() {
        let (w, h) = (256, 256);
        let side = w / 8;
        // Even paper, one block (and a little round it) covered by ink.
        let page: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let inked = (3 * side - 4..4 * side + 4).contains(&x)
                    && (3 * side - 4..4 * side + 4).contains(&y);
                if inked {
                    0.1
                } else {
                    0.9
                }
            })
            .collect();
        let level = paper_level(&page, w, h);
        let centre = (3 * side + side / 2) * w + 3 * side + side / 2;
        assert!((level[centre] - 0.9).abs() < 0.02, "{}", level[centre]);
    }
}
