//! Small pictures for people: grids of digits with their predicted class, confusion matrices,
//! encoded as PNG. Numbers are drawn with a built-in 3×5 pixel digit font, so no font file is needed.

use image::{GrayImage, Luma, Rgb, RgbImage};

/// 3×5 bitmaps of the digits 0‥9, one row of three bits per line, top first.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b001, 0b001, 0b001],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// 3×5 bitmaps of the letters A‥Z, like [`DIGITS`].
const LETTERS: [[u8; 5]; 26] = [
    [0b010, 0b101, 0b111, 0b101, 0b101],
    [0b110, 0b101, 0b110, 0b101, 0b110],
    [0b011, 0b100, 0b100, 0b100, 0b011],
    [0b110, 0b101, 0b101, 0b101, 0b110],
    [0b111, 0b100, 0b110, 0b100, 0b111],
    [0b111, 0b100, 0b110, 0b100, 0b100],
    [0b011, 0b100, 0b101, 0b101, 0b011],
    [0b101, 0b101, 0b111, 0b101, 0b101],
    [0b111, 0b010, 0b010, 0b010, 0b111],
    [0b001, 0b001, 0b001, 0b101, 0b010],
    [0b101, 0b101, 0b110, 0b101, 0b101],
    [0b100, 0b100, 0b100, 0b100, 0b111],
    [0b101, 0b111, 0b111, 0b101, 0b101],
    [0b110, 0b101, 0b101, 0b101, 0b101],
    [0b010, 0b101, 0b101, 0b101, 0b010],
    [0b110, 0b101, 0b110, 0b100, 0b100],
    [0b010, 0b101, 0b101, 0b110, 0b011],
    [0b110, 0b101, 0b110, 0b101, 0b101],
    [0b011, 0b100, 0b010, 0b001, 0b110],
    [0b111, 0b010, 0b010, 0b010, 0b010],
    [0b101, 0b101, 0b101, 0b101, 0b111],
    [0b101, 0b101, 0b101, 0b101, 0b010],
    [0b101, 0b101, 0b111, 0b111, 0b101],
    [0b101, 0b101, 0b010, 0b101, 0b101],
    [0b101, 0b101, 0b010, 0b010, 0b010],
    [0b111, 0b001, 0b010, 0b100, 0b111],
];

/// Draws `text` (digits, capital letters, spaces) with its top-left corner at (x, y), each font
/// pixel `scale`×`scale`, glyphs 4 font pixels apart.
pub fn draw_text(img: &mut RgbImage, (x, y): (u32, u32), text: &str, scale: u32, color: Rgb<u8>) {
    for (i, ch) in text.bytes().enumerate() {
        let glyph = match ch {
            b'0'..=b'9' => DIGITS[(ch - b'0') as usize],
            b'A'..=b'Z' => LETTERS[(ch - b'A') as usize],
            _ => continue, // space
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits >> (2 - col) & 1 == 1 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = x + (i as u32 * 4 + col) * scale + dx;
                            let py = y + row as u32 * scale + dy;
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, color);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Draws `n` in decimal with its top-left corner at (x, y), each font pixel `scale`×`scale`.
pub fn draw_number(img: &mut RgbImage, at: (u32, u32), n: usize, scale: u32, color: Rgb<u8>) {
    draw_text(img, at, &n.to_string(), scale, color);
}

/// Width in pixels of `text` drawn at `scale`.
fn text_width(text: &str, scale: u32) -> u32 {
    (text.len() as u32 * 4).saturating_sub(1) * scale
}

/// PNG bytes of an image.
pub fn png<P: image::PixelWithColorType, C: std::ops::Deref<Target = [P::Subpixel]>>(
    img: &image::ImageBuffer<P, C>,
) -> Vec<u8>
where
    [P::Subpixel]: image::EncodableLayout,
{
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("PNG encoding into memory does not fail");
    out.into_inner()
}

/// Side of each picture in [`before_after`].
const SHOW_SIDE: u32 = 112;

/// One row per picture: the original (fitted into a square, aspect kept) beside what the model
/// saw (`h × w` gray levels, enlarged without smoothing), so preprocessing can be checked by eye.
pub fn before_after(pairs: &[(&image::DynamicImage, &[u8])], (h, w): (usize, usize)) -> GrayImage {
    let gap = 8;
    let width = 2 * SHOW_SIDE + 3 * gap;
    let height = pairs.len() as u32 * (SHOW_SIDE + gap) + gap;
    let mut out = GrayImage::from_pixel(width, height, Luma([128]));
    for (row, (original, seen)) in pairs.iter().enumerate() {
        let y = gap + row as u32 * (SHOW_SIDE + gap);
        let thumb = original.thumbnail(SHOW_SIDE, SHOW_SIDE).to_luma8();
        let dx = (SHOW_SIDE - thumb.width()) / 2;
        let dy = (SHOW_SIDE - thumb.height()) / 2;
        image::imageops::overlay(&mut out, &thumb, (gap + dx) as i64, (y + dy) as i64);
        let seen = GrayImage::from_raw(w as u32, h as u32, seen.to_vec()).expect("h × w values");
        let big = image::imageops::resize(
            &seen,
            SHOW_SIDE,
            SHOW_SIDE,
            image::imageops::FilterType::Nearest,
        );
        image::imageops::overlay(&mut out, &big, (2 * gap + SHOW_SIDE) as i64, y as i64);
    }
    out
}

/// Width of the picture [`number_boxes`] draws.
const NUMBER_SHEET_WIDTH: u32 = 640;

/// A number as read: the picture (fitted to 640 pixels wide) with a red box round each digit
/// found, and below it each digit's `h × w` input as the model saw it, enlarged, with the
/// class read under it. `digits` holds each digit's box (in the picture's pixels), input and
/// class name.
pub fn number_boxes(
    picture: &image::DynamicImage,
    digits: &[(crate::picture::ink::PixelBox, &[u8], &str)],
    (h, w): (usize, usize),
) -> RgbImage {
    let gap = 8;
    let shown = picture.resize(
        NUMBER_SHEET_WIDTH - 2 * gap,
        NUMBER_SHEET_WIDTH,
        image::imageops::FilterType::Triangle,
    );
    let scale = shown.width() as f32 / picture.width() as f32;
    let tile = ((NUMBER_SHEET_WIDTH - gap) / digits.len().max(6) as u32 - gap).min(SHOW_SIDE);
    let height = gap + shown.height() + gap + tile + gap + 7 * 3 + gap;
    let mut out = RgbImage::from_pixel(NUMBER_SHEET_WIDTH, height, Rgb([128, 128, 128]));
    image::imageops::overlay(&mut out, &shown.to_rgb8(), gap as i64, gap as i64);
    let red = Rgb([220, 30, 30]);
    for (b, ..) in digits {
        let x0 = gap + (b.x as f32 * scale) as u32;
        let y0 = gap + (b.y as f32 * scale) as u32;
        let x1 = (gap + (b.right() as f32 * scale) as u32).min(gap + shown.width() - 1);
        let y1 = (gap + (b.bottom() as f32 * scale) as u32).min(gap + shown.height() - 1);
        for t in 0..2 {
            for x in x0..=x1 {
                out.put_pixel(x, (y0 + t).min(y1), red);
                out.put_pixel(x, y1.saturating_sub(t).max(y0), red);
            }
            for y in y0..=y1 {
                out.put_pixel((x0 + t).min(x1), y, red);
                out.put_pixel(x1.saturating_sub(t).max(x0), y, red);
            }
        }
    }
    let top = gap + shown.height() + gap;
    for (i, (_, input, name)) in digits.iter().enumerate() {
        let left = gap + i as u32 * (tile + gap);
        let seen = GrayImage::from_raw(w as u32, h as u32, input.to_vec()).expect("h × w values");
        let big = image::imageops::resize(&seen, tile, tile, image::imageops::FilterType::Nearest);
        image::imageops::overlay(
            &mut out,
            &image::DynamicImage::ImageLuma8(big).to_rgb8(),
            left as i64,
            top as i64,
        );
        let label_x = left + tile.saturating_sub(text_width(name, 3)) / 2;
        draw_text(
            &mut out,
            (label_x, top + tile + gap),
            name,
            3,
            Rgb([255, 255, 255]),
        );
    }
    out
}

/// Gray images of `h × w` side by side in rows of `cols`, 2 pixels apart.
pub fn gray_grid(images: &[&[u8]], (h, w): (usize, usize), cols: usize) -> GrayImage {
    let rows = images.len().div_ceil(cols);
    let (cell_w, cell_h) = (w as u32 + 2, h as u32 + 2);
    let mut out = GrayImage::from_pixel(cols as u32 * cell_w, rows as u32 * cell_h, Luma([64]));
    for (i, img) in images.iter().enumerate() {
        let (cx, cy) = (
            (i % cols) as u32 * cell_w + 1,
            (i / cols) as u32 * cell_h + 1,
        );
        for (p, &v) in img.iter().enumerate() {
            out.put_pixel(cx + (p % w) as u32, cy + (p / w) as u32, Luma([v]));
        }
    }
    out
}

const GREEN: Rgb<u8> = Rgb([60, 200, 80]);
const RED: Rgb<u8> = Rgb([230, 60, 50]);

/// Samples (gray, `h × w`, shown twice as large) in rows of `cols`, each with its predicted class
/// below it: green when right, red when wrong.
pub fn prediction_grid(
    images: &[&[u8]],
    (h, w): (usize, usize),
    labels: &[u8],
    predicted: &[usize],
    cols: usize,
) -> RgbImage {
    let rows = images.len().div_ceil(cols);
    let (cell_w, cell_h) = (2 * w as u32 + 4, 2 * h as u32 + 16);
    let mut out = RgbImage::from_pixel(
        cols as u32 * cell_w,
        rows as u32 * cell_h,
        Rgb([30, 30, 30]),
    );
    for (i, img) in images.iter().enumerate() {
        let (cx, cy) = (
            (i % cols) as u32 * cell_w + 2,
            (i / cols) as u32 * cell_h + 2,
        );
        for (p, &v) in img.iter().enumerate() {
            let (x, y) = (cx + 2 * (p % w) as u32, cy + 2 * (p / w) as u32);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                out.put_pixel(x + dx, y + dy, Rgb([v, v, v]));
            }
        }
        let color = if predicted[i] == labels[i] as usize {
            GREEN
        } else {
            RED
        };
        draw_number(
            &mut out,
            (cx + w as u32 - 3, cy + 2 * h as u32 + 2),
            predicted[i],
            2,
            color,
        );
    }
    out
}

/// A confusion matrix (`counts[true][predicted]`) as a heat map: rows are the true classes
/// (titled TRUE), columns the predictions (PREDICTED), each cell shaded by its share of the row
/// and its count written in black or white, whichever stands out from the shade.
pub fn confusion_matrix(counts: &[Vec<usize>]) -> RgbImage {
    let k = counts.len() as u32;
    let cell = 40;
    let margin = 40;
    let black = Rgb([0, 0, 0]);
    let side = margin + k * cell;
    let mut out = RgbImage::from_pixel(side, side, Rgb([255, 255, 255]));
    let title = "PREDICTED";
    draw_text(
        &mut out,
        (margin + (k * cell - text_width(title, 2)) / 2, 4),
        title,
        2,
        black,
    );
    // TRUE down the left edge, one letter under the other.
    let top = margin + (k * cell - (4 * 12 - 2)) / 2;
    for (i, letter) in "TRUE".chars().enumerate() {
        draw_text(
            &mut out,
            (4, top + i as u32 * 12),
            &letter.to_string(),
            2,
            black,
        );
    }
    for i in 0..k {
        let label = i.to_string();
        let centre = margin + i * cell + (cell - text_width(&label, 2)) / 2;
        draw_text(
            &mut out,
            (22, margin + i * cell + cell / 2 - 5),
            &label,
            2,
            black,
        );
        draw_text(&mut out, (centre, 22), &label, 2, black);
    }
    for (t, row) in counts.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f32;
        for (p, &n) in row.iter().enumerate() {
            let share = n as f32 / total;
            let shade = (255.0 * (1.0 - share)) as u8;
            let fill = Rgb([shade, shade, 255]);
            let (x0, y0) = (margin + p as u32 * cell, margin + t as u32 * cell);
            for y in y0 + 1..y0 + cell {
                for x in x0 + 1..x0 + cell {
                    out.put_pixel(x, y, fill);
                }
            }
            let luma = 0.299 * shade as f32 + 0.587 * shade as f32 + 0.114 * 255.0;
            let ink = if luma < 150.0 {
                Rgb([255, 255, 255])
            } else {
                black
            };
            let text = n.to_string();
            let scale = if text_width(&text, 2) + 4 <= cell {
                2
            } else {
                1
            };
            let x = x0 + (cell - text_width(&text, scale)) / 2;
            draw_text(
                &mut out,
                (x, y0 + (cell - 5 * scale) / 2),
                &text,
                scale,
                ink,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_drawn_where_asked() {
        let mut img = RgbImage::new(8, 5);
        draw_number(&mut img, (0, 0), 17, 1, Rgb([255, 0, 0]));
        // "1": middle column set on the top row; "7": full top row, starting at x = 4.
        assert_eq!(img.get_pixel(1, 0)[0], 255);
        assert_eq!(img.get_pixel(0, 0)[0], 0);
        assert!((4..7).all(|x| img.get_pixel(x, 0)[0] == 255));
        assert_eq!(img.get_pixel(4, 4)[0], 0);
        assert_eq!(img.get_pixel(6, 4)[0], 255);
    }

    #[test]
    fn png_round_trips_and_grids_have_the_expected_size() {
        let a = vec![200u8; 28 * 28];
        let grid = prediction_grid(&[&a, &a, &a], (28, 28), &[1, 2, 3], &[1, 2, 4], 2);
        assert_eq!(grid.dimensions(), (2 * 60, 2 * 72));
        let decoded = image::load_from_memory(&png(&grid)).unwrap();
        assert_eq!((decoded.width(), decoded.height()), grid.dimensions());
        let cm = confusion_matrix(&vec![vec![1; 10]; 10]);
        assert_eq!(cm.dimensions(), (440, 440));
    }

    #[test]
    fn confusion_matrix_names_its_axes_and_counts_stand_out_from_their_cells() {
        let mut counts = vec![vec![0usize; 10]; 10];
        for (t, row) in counts.iter_mut().enumerate() {
            row[t] = 980;
            row[(t + 1) % 10] = 20;
        }
        let cm = confusion_matrix(&counts);
        let ink = |x0: u32, y0: u32, x1: u32, y1: u32, c: [u8; 3]| {
            (x0..x1)
                .flat_map(|x| (y0..y1).map(move |y| (x, y)))
                .filter(|&(x, y)| cm.get_pixel(x, y).0 == c)
                .count()
        };
        // The titles: PREDICTED across the top, TRUE down the left.
        assert!(ink(40, 0, 440, 16, [0, 0, 0]) > 100, "PREDICTED");
        assert!(ink(0, 40, 12, 440, [0, 0, 0]) > 40, "TRUE");
        // A dark diagonal cell carries white digits, a light one black digits.
        assert!(ink(41, 41, 80, 80, [255, 255, 255]) > 20, "white on dark");
        assert!(ink(81, 41, 120, 80, [0, 0, 0]) > 10, "black on light");
    }
}
