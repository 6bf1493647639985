//! Real images (photos, scans, drawings) made to look like the images a model was trained on.
//!
//! MNIST's own recipe: each digit was scaled to fit a 20×20 box (aspect kept, anti-aliased) and
//! placed in the 28×28 field so that its centre of mass lies at the centre, light ink on black.
//! [`prepare`] does the same to any picture: grayscale (transparency over white), polarity from
//! the border (a light background is inverted), background subtracted, crop to the ink, scale,
//! place. Fashion-MNIST's products were instead scaled to fill the field and centred by their
//! bounding box ([`Fit::Object`]). [`Fit::Raw`] only resizes the whole picture.

mod decode;
mod place;

pub use decode::{decode, decode_within, open, MAX_SIDE};
pub use place::place_digit;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::picture::ink::{find_ink, WORKING_SIDE};
use image::{imageops, DynamicImage, GrayImage};
use place::{fitted, paste, resized};
use std::path::Path;

/// Which way round ink and background are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// Decide from the border: a light background (dark ink on paper) is inverted.
    Auto,
    /// Always invert.
    Invert,
    /// Never invert.
    Keep,
}

/// How the ink is placed in the model's field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// MNIST: the ink's box scaled to 20/28 of the field, centre of mass at the centre.
    Digit,
    /// Fashion-MNIST: the ink's box scaled to fill the field, the box centred.
    Object,
    /// The whole picture resized to the field, nothing else.
    Raw,
}

/// A preprocessing recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preprocess {
    /// Inversion.
    pub polarity: Polarity,
    /// Placement.
    pub fit: Fit,
}

impl Preprocess {
    /// The recipe of the dataset a model was trained on.
    pub fn for_dataset(dataset: Dataset) -> Self {
        let fit = match dataset {
            Dataset::Mnist => Fit::Digit,
            Dataset::FashionMnist => Fit::Object,
        };
        Preprocess {
            polarity: Polarity::Auto,
            fit,
        }
    }
}

/// Gray levels with transparency composited over white (a drawing on a transparent canvas is
/// dark ink on paper).
fn to_gray(image: &DynamicImage) -> GrayImage {
    let rgba = image.to_rgba32f();
    GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let luma = 0.299 * r + 0.587 * g + 0.114 * b; // ITU-R 601, as image's to_luma
        image::Luma([((a * luma + (1.0 - a)) * 255.0).round().clamp(0.0, 255.0) as u8])
    })
}

fn median(mut values: Vec<u8>) -> u8 {
    let mid = values.len() / 2;
    *values.select_nth_unstable(mid).1
}

/// The border's pixels (one pixel wide all round).
fn border(gray: &GrayImage) -> Vec<u8> {
    let (w, h) = gray.dimensions();
    gray.enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x + 1 == w || *y + 1 == h)
        .map(|(_, _, p)| p.0[0])
        .collect()
}

/// Ink must stand out from the background by this much of the full range, or the picture
/// counts as blank.
const MIN_CONTRAST: u8 = 32;

/// The picture as `h × w` gray levels, light ink on black, ready for a model.
///
/// Digits go through [`find_ink`] (illumination flattened, ink thresholded, ruling, specks and
/// page edges dropped, the ink's grey levels kept) and then MNIST's recipe; objects
/// (Fashion-MNIST) are not strokes, so they keep the plain path: the border's level subtracted
/// and a crop to what stands out from it.
pub fn prepare(
    source: &Path,
    image: &DynamicImage,
    recipe: Preprocess,
    (h, w): (usize, usize),
) -> Result<Vec<u8>> {
    if recipe.fit == Fit::Digit {
        let ink = find_ink(source, image, recipe.polarity)?;
        let digit = ink.main_digit();
        let bounds = ink.bounds(&digit);
        return Ok(place_digit(&ink.crop(bounds, &digit), bounds, (h, w)));
    }
    let mut gray = if image.width().max(image.height()) > WORKING_SIDE {
        to_gray(&image.resize(WORKING_SIDE, WORKING_SIDE, imageops::FilterType::Triangle))
    } else {
        to_gray(image)
    };
    let (low, high) = gray
        .pixels()
        .fold((u8::MAX, 0), |(lo, hi), p| (lo.min(p.0[0]), hi.max(p.0[0])));
    if high.saturating_sub(low) < MIN_CONTRAST {
        return Err(Error::format(
            source,
            "no digit found: the image is blank or uniform",
        ));
    }
    let invert = match recipe.polarity {
        Polarity::Invert => true,
        Polarity::Keep => false,
        Polarity::Auto => median(border(&gray)) > 127,
    };
    if invert {
        imageops::invert(&mut gray);
    }
    if recipe.fit == Fit::Raw {
        let resized = imageops::resize(&gray, w as u32, h as u32, imageops::FilterType::Triangle);
        return Ok(resized.into_raw());
    }
    let background = median(border(&gray));
    let peak = gray.pixels().map(|p| p.0[0]).max().unwrap_or(0);
    if peak.saturating_sub(background) < MIN_CONTRAST {
        let hint = match recipe.polarity {
            Polarity::Keep => " (dark ink on a light background must be inverted)",
            _ => "",
        };
        return Err(Error::format(
            source,
            format!("no digit found: nothing lighter than the background{hint}"),
        ));
    }
    // Background to black, the brightest ink to white.
    let contrast = (peak - background) as f32;
    for p in gray.pixels_mut() {
        let v = (p.0[0].saturating_sub(background)) as f32 * 255.0 / contrast;
        p.0[0] = v.round().min(255.0) as u8;
    }
    // Ink: clearly above the background's own noise (paper texture, JPEG ringing).
    let mut edge = border(&gray);
    edge.sort_unstable();
    let noise = edge[edge.len() * 95 / 100];
    let threshold = (2 * noise as u32).clamp(13, 200) as u8;
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in gray.enumerate_pixels() {
        if p.0[0] > threshold {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    if x0 > x1 {
        return Err(Error::format(
            source,
            "no digit found: the image is blank or uniform",
        ));
    }
    let object = imageops::crop_imm(&gray, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    // The longer side fills the field, aspect kept, the box centred.
    let side = h.min(w) as f32;
    let (bw, bh) = fitted(object.dimensions(), side);
    let scaled = resized(object, bw, bh);
    let at = ((h as i64 - bh as i64) / 2, (w as i64 - bw as i64) / 2);
    Ok(paste(&scaled, at, (h, w)))
}

#[cfg(test)]
mod tests {
    use super::place::center_of_mass;
    use super::*;
    use image::{GrayImage, Luma, Rgba, RgbaImage};

    const DIGIT: Preprocess = Preprocess {
        polarity: Polarity::Auto,
        fit: Fit::Digit,
    };

    fn run(image: GrayImage, recipe: Preprocess) -> Result<Vec<u8>> {
        prepare(
            Path::new("x.png"),
            &DynamicImage::ImageLuma8(image),
            recipe,
            (28, 28),
        )
    }

    /// A dark filled rectangle (x0..x1, y0..y1) on white paper of `w × h`.
    fn dark_box(w: u32, h: u32, (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| {
            Luma([if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
                10
            } else {
                250
            }])
        })
    }

    fn ink_box(out: &[u8]) -> (usize, usize, usize, usize) {
        let ink: Vec<(usize, usize)> = (0..784)
            .filter(|&i| out[i] > 64)
            .map(|i| (i / 28, i % 28))
            .collect();
        let rows = ink.iter().map(|p| p.0);
        let cols = ink.iter().map(|p| p.1);
        (
            rows.clone().min().unwrap(),
            rows.max().unwrap(),
            cols.clone().min().unwrap(),
            cols.max().unwrap(),
        )
    }

    fn center(out: &[u8]) -> (f64, f64) {
        let img = GrayImage::from_raw(28, 28, out.to_vec()).unwrap();
        center_of_mass(&img)
    }

    #[test]
    fn a_dark_digit_off_centre_on_paper_becomes_light_centred_and_20_pixels_tall() {
        // A tall bar (aspect 1:4) in the corner of an 80 × 64 page.
        let out = run(dark_box(80, 64, (60, 70), (4, 44)), DIGIT).unwrap();
        let (top, bottom, left, right) = ink_box(&out);
        assert_eq!(bottom - top + 1, 20, "longer side scaled to 20");
        assert!(
            (4..=6).contains(&(right - left + 1)),
            "aspect kept: {}",
            right - left + 1
        );
        let (cy, cx) = center(&out);
        assert!(
            (cy - 14.0).abs() <= 0.5 && (cx - 14.0).abs() <= 0.5,
            "centre of mass {cy}, {cx}"
        );
        assert_eq!(out[0], 0, "background black");
        assert!(out.contains(&255), "ink white");
    }

    #[test]
    fn polarity_is_taken_from_the_border_unless_forced() {
        let light_on_dark = GrayImage::from_fn(40, 40, |x, y| {
            Luma([if (10..20).contains(&x) && (5..30).contains(&y) {
                240
            } else {
                5
            }])
        });
        let auto = run(light_on_dark.clone(), DIGIT).unwrap();
        assert_eq!(auto[0], 0);
        assert!(auto.iter().filter(|&&v| v > 200).count() > 50);
        // Forced the wrong way round, light ink becomes a dark shape on light paper: no digit.
        let err = run(
            light_on_dark,
            Preprocess {
                polarity: Polarity::Invert,
                ..DIGIT
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("nothing lighter than the background"),
            "{err}"
        );
        let dark_ink = dark_box(40, 40, (10, 20), (5, 30));
        let err = run(
            dark_ink,
            Preprocess {
                polarity: Polarity::Keep,
                ..DIGIT
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("must be inverted"), "{err}");
    }

    #[test]
    fn blank_and_uniform_images_are_refused_with_the_file_name() {
        for level in [0u8, 128, 255] {
            let err = run(GrayImage::from_pixel(28, 28, Luma([level])), DIGIT).unwrap_err();
            assert_eq!(
                err.to_string(),
                "x.png: no digit found: the image is blank or uniform"
            );
            let raw = Preprocess {
                fit: Fit::Raw,
                ..DIGIT
            };
            assert!(run(GrayImage::from_pixel(50, 30, Luma([level])), raw).is_err());
        }
        // Faint noise is not a digit either.
        let noise = GrayImage::from_fn(60, 60, |x, y| Luma([200 + ((x * 7 + y * 13) % 20) as u8]));
        assert!(run(noise, DIGIT).is_err());
    }

    #[test]
    fn transparency_counts_as_white_paper() {
        // Black strokes on a fully transparent canvas (what drawing apps save).
        let img = RgbaImage::from_fn(50, 50, |x, y| {
            if (20..26).contains(&x) && (10..40).contains(&y) {
                Rgba([0, 0, 0, 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        });
        let out = prepare(
            Path::new("t.png"),
            &DynamicImage::ImageRgba8(img),
            DIGIT,
            (28, 28),
        )
        .unwrap();
        let (top, bottom, ..) = ink_box(&out);
        assert_eq!(bottom - top + 1, 20);
        assert_eq!(out[0], 0);
    }

    #[test]
    fn objects_fill_the_field_and_are_centred_by_their_box() {
        let object = Preprocess {
            polarity: Polarity::Auto,
            fit: Fit::Object,
        };
        let out = run(dark_box(100, 60, (5, 45), (10, 30)), object).unwrap();
        let (top, bottom, left, right) = ink_box(&out);
        assert_eq!((left, right), (0, 27), "longer side fills 28");
        assert_eq!(bottom - top + 1, 14, "aspect 2:1 kept");
        assert_eq!(top, 7, "box centred");
        assert_eq!(
            Preprocess::for_dataset(Dataset::FashionMnist).fit,
            Fit::Object
        );
        assert_eq!(Preprocess::for_dataset(Dataset::Mnist).fit, Fit::Digit);
    }

    #[test]
    fn photo_sized_pictures_are_shrunk_first_and_read_the_same() {
        // A 6000 × 4000 page with a dark bar: worked on at 2048 × 1365, the bar still becomes a
        // centred 20-pixel digit.
        let out = run(dark_box(6000, 4000, (4000, 4300), (500, 3500)), DIGIT).unwrap();
        let (top, bottom, left, right) = ink_box(&out);
        assert_eq!(bottom - top + 1, 20);
        assert!((1..=3).contains(&(right - left + 1)), "{left}..{right}");
        let (cy, cx) = center(&out);
        assert!((cy - 14.0).abs() <= 0.5 && (cx - 14.0).abs() <= 0.5);
    }

    #[test]
    fn raw_only_resizes() {
        let img = GrayImage::from_fn(56, 56, |x, _| Luma([if x < 28 { 0 } else { 200 }]));
        let out = run(
            img,
            Preprocess {
                polarity: Polarity::Keep,
                fit: Fit::Raw,
            },
        )
        .unwrap();
        assert_eq!(out[0], 0);
        assert_eq!(out[27], 200);
    }
}
