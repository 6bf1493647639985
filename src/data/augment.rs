//! Random affine augmentation like Keras' `ImageDataGenerator(rotation_range, zoom_range,
//! shear_range, width/height_shift_range)`: a fresh transform per image per epoch, bilinear
//! sampling, `nearest` fill (coordinates outside the image are clamped to its edge).
//!
//! Units: rotation and shear in degrees (as current Keras reads `shear_range`; the tutorial's 0.3
//! is therefore almost no shear), zoom as a fraction (factors for x and y drawn independently in
//! [1 − zoom, 1 + zoom]), shift as a fraction of the side.
//!
//! After the warp, two transforms that suit clothes more than digits: a horizontal flip with
//! probability ½ (Keras' `RandomFlip("horizontal")`, torchvision's `RandomHorizontalFlip()`), and
//! random erasing with probability p (torchvision's `RandomErasing(p, scale=(0.02, 0.33),
//! ratio=(0.3, 3.3), value=0)`: a rectangle of 2–33 % of the image, aspect ratio 0.3–3.3 drawn
//! log-uniformly, set to 0, the background of these datasets; as torchvision, the draw is given
//! up after 10 rectangles that do not fit).

use super::Images;
use crate::error::{Error, Result, Setting};
use crate::rng::Rng;
use rand::Rng as _;
use rayon::prelude::*;

/// Ranges of the random transform; the default is every transform off (the identity).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Augment {
    /// Rotation drawn uniformly in ±this many degrees.
    pub rotation: f32,
    /// Zoom factors drawn in [1 − zoom, 1 + zoom], for x and y independently.
    pub zoom: f32,
    /// Shear angle drawn in ±this many degrees.
    pub shear: f32,
    /// Shifts drawn in ±this fraction of the width and of the height.
    pub shift: f32,
    /// Flip half of the images left to right.
    pub flip: bool,
    /// Probability of erasing a random rectangle.
    pub erase: f32,
}

/// A rectangle of an image: top row, left column, height, width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

/// Everything drawn for one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    /// The warp.
    pub affine: Affine,
    /// Flip left to right after warping.
    pub flip: bool,
    /// Set this rectangle to zero last.
    pub erase: Option<Rect>,
}

/// One drawn transform.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Affine {
    /// Counter-clockwise rotation of the content, degrees.
    pub rotation: f32,
    /// Zoom factors: above 1 samples a wider area, so the content shrinks.
    pub zoom_x: f32,
    /// Vertical zoom factor.
    pub zoom_y: f32,
    /// Shear, degrees.
    pub shear: f32,
    /// Shift of the sampling window, pixels.
    pub shift_x: f32,
    /// Vertical shift, pixels.
    pub shift_y: f32,
}

impl Affine {
    /// The identity transform.
    pub fn identity() -> Self {
        Affine {
            zoom_x: 1.0,
            zoom_y: 1.0,
            ..Default::default()
        }
    }
}

impl Augment {
    /// The tutorial's generator: rotation 10°, zoom 0.1, shear 0.3°, no shift.
    pub fn tutorial() -> Self {
        Augment {
            rotation: 10.0,
            zoom: 0.1,
            shear: 0.3,
            shift: 0.0,
            flip: false,
            erase: 0.0,
        }
    }

    /// Refuses ranges that make no sense, naming the setting.
    pub fn validate(&self) -> Result<()> {
        let check = |v: f32, max: f32, setting: Setting| {
            if v.is_finite() && (0.0..=max).contains(&v) {
                Ok(())
            } else {
                Err(Error::config(
                    setting,
                    format!("must be between 0 and {max}, got {v}"),
                ))
            }
        };
        check(self.rotation, 180.0, Setting::Rotation)?;
        check(self.zoom, 0.9, Setting::Zoom)?;
        check(self.shear, 80.0, Setting::Shear)?;
        check(self.shift, 0.9, Setting::Shift)?;
        check(self.erase, 1.0, Setting::Erase)
    }

    /// Draws everything for one image of `h × w`. Nothing is drawn for a transform that is off,
    /// so adding one never changes the draws of a run without it.
    pub fn sample(&self, rng: &mut Rng, (h, w): (usize, usize)) -> Draw {
        let mut sym = |r: f32| {
            if r > 0.0 {
                rng.random_range(-r..=r)
            } else {
                0.0
            }
        };
        let affine = Affine {
            rotation: sym(self.rotation),
            zoom_x: 1.0 + sym(self.zoom),
            zoom_y: 1.0 + sym(self.zoom),
            shear: sym(self.shear),
            shift_x: sym(self.shift) * w as f32,
            shift_y: sym(self.shift) * h as f32,
        };
        let flip = self.flip && rng.random_bool(0.5);
        let erase = match self.erase > 0.0 && rng.random::<f32>() < self.erase {
            true => erasing_rect(rng, (h, w)),
            false => None,
        };
        Draw {
            affine,
            flip,
            erase,
        }
    }

    /// One image `src` (`h × w` bytes) through `draw`, into `out` as floats.
    pub fn apply(src: &[u8], (h, w): (usize, usize), draw: &Draw, out: &mut [f32]) {
        warp(src, (h, w), &draw.affine, out);
        if draw.flip {
            out[..h * w].chunks_exact_mut(w).for_each(<[f32]>::reverse);
        }
        if let Some(r) = draw.erase {
            for row in out[..h * w].chunks_exact_mut(w).skip(r.top).take(r.h) {
                row[r.left..r.left + r.w].fill(0.0);
            }
        }
    }

    /// Like [`Images::fill_batch`], each image warped by a freshly drawn transform. Transforms
    /// are drawn in order from `rng` (reproducible), then the images are warped in parallel.
    pub fn fill_batch(
        &self,
        images: &Images,
        indices: &[usize],
        x: &mut [f32],
        targets: &mut [f32],
        classes: usize,
        rng: &mut Rng,
    ) {
        let (h, w, len) = (images.shape.h, images.shape.w, images.shape.len());
        let draws: Vec<Draw> = indices.iter().map(|_| self.sample(rng, (h, w))).collect();
        x[..indices.len() * len]
            .par_chunks_mut(len)
            .zip(indices.par_iter().zip(&draws))
            .for_each(|(out, (&i, d))| Self::apply(images.image(i), (h, w), d, out));
        super::one_hot_into(indices.iter().map(|&i| images.labels[i]), targets, classes);
    }
}

/// torchvision's `RandomErasing.get_params` for an `h × w` image: up to 10 tries at a rectangle of
/// 2–33 % of the area with an aspect ratio drawn log-uniformly in [0.3, 3.3].
fn erasing_rect(rng: &mut Rng, (h, w): (usize, usize)) -> Option<Rect> {
    let area = (h * w) as f32;
    let (low, high) = (0.3f32.ln(), 3.3f32.ln());
    for _ in 0..10 {
        let target = area * rng.random_range(0.02f32..0.33);
        let aspect = rng.random_range(low..high).exp();
        let rh = (target * aspect).sqrt().round() as usize;
        let rw = (target / aspect).sqrt().round() as usize;
        if rh > 0 && rw > 0 && rh < h && rw < w {
            let top = rng.random_range(0..=h - rh);
            let left = rng.random_range(0..=w - rw);
            return Some(Rect {
                top,
                left,
                h: rh,
                w: rw,
            });
        }
    }
    None
}

/// Warps a grayscale `h × w` image: output pixel p samples the input at `M·(p − centre) + centre
/// + shift` with M = rotation · shear · zoom, bilinearly, clamping at the edges.
pub fn warp(src: &[u8], (h, w): (usize, usize), t: &Affine, out: &mut [f32]) {
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    let (sin_r, cos_r) = t.rotation.to_radians().sin_cos();
    let (sin_s, cos_s) = t.shear.to_radians().sin_cos();
    // rotation [[c, −s], [s, c]] · shear [[1, −sin], [0, cos]] · zoom diag(zx, zy)
    let m00 = cos_r * t.zoom_x;
    let m01 = (-cos_r * sin_s - sin_r * cos_s) * t.zoom_y;
    let m10 = sin_r * t.zoom_x;
    let m11 = (-sin_r * sin_s + cos_r * cos_s) * t.zoom_y;
    let at = |x: isize, y: isize| -> f32 {
        let (x, y) = (
            x.clamp(0, w as isize - 1) as usize,
            y.clamp(0, h as isize - 1) as usize,
        );
        src[y * w + x] as f32
    };
    for r in 0..h {
        for c in 0..w {
            let (x, y) = (c as f32 - cx, r as f32 - cy);
            let xs = m00 * x + m01 * y + cx + t.shift_x;
            let ys = m10 * x + m11 * y + cy + t.shift_y;
            let (x0, y0) = (xs.floor(), ys.floor());
            let (fx, fy) = (xs - x0, ys - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
            let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
            out[r * w + c] = top * (1.0 - fy) + bottom * fy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Shape;

    fn image(h: usize, w: usize) -> Vec<u8> {
        (0..h * w).map(|i| (i * 37 % 251) as u8).collect()
    }

    #[test]
    fn zero_ranges_are_the_identity() {
        let src = image(28, 28);
        let zero = Augment::default();
        let set = Images {
            pixels: src.clone(),
            labels: vec![3],
            shape: Shape::new(28, 28, 1),
        };
        let (mut x, mut t) = (vec![0.0; 784], vec![0.0; 10]);
        zero.fill_batch(&set, &[0], &mut x, &mut t, 10, &mut crate::rng::seeded(1));
        assert!(x.iter().zip(&src).all(|(a, &b)| *a == b as f32));
        assert_eq!(t[3], 1.0);
    }

    #[test]
    fn a_quarter_turn_moves_the_top_to_the_left() {
        // 5×5 with one lit pixel at the top middle; a 90° counter-clockwise turn brings it to
        // the left middle.
        let mut src = vec![0u8; 25];
        src[2] = 200;
        let mut out = vec![0.0; 25];
        warp(
            &src,
            (5, 5),
            &Affine {
                rotation: 90.0,
                ..Affine::identity()
            },
            &mut out,
        );
        let lit: Vec<usize> = (0..25).filter(|&i| out[i] > 100.0).collect();
        assert_eq!(lit, vec![10], "{out:?}");
        assert!((out[10] - 200.0).abs() < 1e-3);
    }

    #[test]
    fn zooming_in_spreads_and_edges_are_filled_with_the_nearest_pixel() {
        // A shift by a whole image samples beyond the edge: nearest fill repeats the last column.
        let src: Vec<u8> = (0..16).map(|i| (i % 4 * 50) as u8).collect();
        let mut out = vec![0.0; 16];
        warp(
            &src,
            (4, 4),
            &Affine {
                shift_x: 10.0,
                ..Affine::identity()
            },
            &mut out,
        );
        assert!(out.iter().all(|&v| v == 150.0), "{out:?}");
    }

    #[test]
    fn draws_stay_inside_the_ranges_and_bad_ranges_are_refused() {
        let aug = Augment::tutorial();
        let mut rng = crate::rng::seeded(3);
        for _ in 0..1000 {
            let t = aug.sample(&mut rng, (28, 28)).affine;
            assert!(
                t.rotation.abs() <= 10.0 && (t.zoom_x - 1.0).abs() <= 0.1 && t.shear.abs() <= 0.3
            );
        }
        assert!(Augment {
            rotation: -1.0,
            ..aug
        }
        .validate()
        .is_err());
        assert!(Augment {
            zoom: f32::NAN,
            ..aug
        }
        .validate()
        .is_err());
        assert!(Augment { erase: 1.5, ..aug }.validate().is_err());
        assert!(aug.validate().is_ok());
    }

    #[test]
    fn flips_mirror_rows_and_erasing_zeroes_a_rectangle() {
        let src = image(4, 5);
        let mut out = vec![0.0; 20];
        let draw = Draw {
            affine: Affine::identity(),
            flip: true,
            erase: Some(Rect {
                top: 1,
                left: 3,
                h: 2,
                w: 2,
            }),
        };
        Augment::apply(&src, (4, 5), &draw, &mut out);
        for r in 0..4 {
            for c in 0..5 {
                let erased = (1..3).contains(&r) && (3..5).contains(&c);
                let want = if erased {
                    0.0
                } else {
                    src[r * 5 + 4 - c] as f32
                };
                assert_eq!(out[r * 5 + c], want, "({r}, {c})");
            }
        }
    }

    #[test]
    fn half_the_images_flip_and_erasing_follows_torchvision_ranges() {
        let aug = Augment {
            rotation: 0.0,
            zoom: 0.0,
            shear: 0.0,
            shift: 0.0,
            flip: true,
            erase: 0.5,
        };
        let mut rng = crate::rng::seeded(7);
        let draws: Vec<Draw> = (0..4000).map(|_| aug.sample(&mut rng, (28, 28))).collect();
        let flipped = draws.iter().filter(|d| d.flip).count();
        assert!((1800..2200).contains(&flipped), "{flipped}");
        let rects: Vec<Rect> = draws.iter().filter_map(|d| d.erase).collect();
        // p = 0.5, and a few draws give up after ten rectangles that do not fit.
        assert!((1700..2100).contains(&rects.len()), "{}", rects.len());
        for r in rects {
            let area = (r.h * r.w) as f32 / 784.0;
            assert!((0.01..0.36).contains(&area), "{r:?}");
            let aspect = r.h as f32 / r.w as f32;
            assert!((0.2..5.0).contains(&aspect), "{r:?}");
            assert!(r.top + r.h <= 28 && r.left + r.w <= 28, "{r:?}");
        }
        // Off, nothing is drawn: the generator is where a run without them would leave it.
        let (mut a, mut b) = (crate::rng::seeded(1), crate::rng::seeded(1));
        Augment::tutorial().sample(&mut a, (28, 28));
        Augment {
            flip: false,
            erase: 0.0,
            ..Augment::tutorial()
        }
        .sample(&mut b, (28, 28));
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }
}
