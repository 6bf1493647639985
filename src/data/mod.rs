//! Data: IDX files, the MNIST-family datasets and where to find them, validation splits, and
//! filling training batches (raw pixel values and one-hot targets).

pub mod augment;
pub mod dataset;
pub mod idx;
pub mod sources;

pub use dataset::{Dataset, DatasetInfo, FASHION_MNIST, MNIST};
pub use sources::{locate, DataSources};

use crate::error::{Error, Result, Setting};
use crate::shape::Shape;
use std::path::{Path, PathBuf};

/// Labelled grayscale images, one after another, as stored in IDX files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// Pixels, `len() × shape.len()` bytes.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Shape of one image (`h × w × 1`).
    pub shape: Shape,
}

impl Images {
    /// Images from memory: `pixels` holds `labels.len()` images of `shape`, one after another,
    /// and each label is a class below `classes`. The error names [`Setting::Images`] or
    /// [`Setting::Labels`] (Keras' `x` and `y`).
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>, shape: Shape, classes: usize) -> Result<Images> {
        if labels.is_empty() {
            return Err(Error::config(Setting::Images, "holds no image"));
        }
        if pixels.len() != labels.len() * shape.len() {
            return Err(Error::config(
                Setting::Labels,
                format!(
                    "has {} labels but the images hold {} values, not {} images of {}×{}×{}",
                    labels.len(),
                    pixels.len(),
                    labels.len(),
                    shape.h,
                    shape.w,
                    shape.c
                ),
            ));
        }
        if let Some(pos) = labels.iter().position(|&l| l as usize >= classes) {
            return Err(Error::config(
                Setting::Labels,
                format!(
                    "label {} at index {pos} is not a class 0‥{}",
                    labels[pos],
                    classes - 1
                ),
            ));
        }
        Ok(Images {
            pixels,
            labels,
            shape,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.shape.len();
        &self.pixels[i * len..(i + 1) * len]
    }

    /// Images `range` as a new set.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Images {
        let len = self.shape.len();
        Images {
            pixels: self.pixels[range.start * len..range.end * len].to_vec(),
            labels: self.labels[range].to_vec(),
            shape: self.shape,
        }
    }

    /// Keeps only the first `n` images (all of them when there are fewer).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.pixels.truncate(n * self.shape.len());
        self.labels.truncate(n);
    }

    /// Splits off the last `fraction` as validation, like Keras' `validation_split`:
    /// returns (training, validation). The training part keeps this set's buffer, so a split
    /// costs only the validation images' copy.
    pub fn split_validation(mut self, fraction: f64) -> Result<(Images, Images)> {
        check_validation_split(fraction)?;
        let n_val = ((self.len() as f64) * fraction).round() as usize;
        if n_val == 0 || n_val == self.len() {
            return Err(Error::config(
                Setting::ValidationSplit,
                format!(
                    "{fraction} of {} images leaves an empty training or validation set",
                    self.len()
                ),
            ));
        }
        let cut = self.len() - n_val;
        let val = Images {
            pixels: self.pixels.split_off(cut * self.shape.len()),
            labels: self.labels.split_off(cut),
            shape: self.shape,
        };
        Ok((self, val))
    }

    /// Fills a batch with the images `indices`: raw pixel values (0‥255) into `x` and one-hot
    /// rows of `classes` into `targets`.
    pub fn fill_batch(
        &self,
        indices: &[usize],
        x: &mut [f32],
        targets: &mut [f32],
        classes: usize,
    ) {
        let len = self.shape.len();
        for (k, &i) in indices.iter().enumerate() {
            for (d, &p) in x[k * len..(k + 1) * len].iter_mut().zip(self.image(i)) {
                *d = p as f32;
            }
        }
        one_hot_into(indices.iter().map(|&i| self.labels[i]), targets, classes);
    }
}

/// Pixel values (0‥255) from floats: values in `[0, 1]` (all of them at most 1) are read as
/// `pixel / 255`, others as pixels in `[0, 255]`; each is rounded to the nearest of the 256 levels
/// the engine stores. NaN, infinities and values outside the range are refused, naming `what`.
pub fn pixels_from_floats(values: &[f32], what: Setting) -> Result<Vec<u8>> {
    if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::config(
            what.clone(),
            format!("value {} at index {pos} is not a number", values[pos]),
        ));
    }
    let max = values.iter().copied().fold(0.0f32, f32::max);
    let scale = if max <= 1.0 { 255.0 } else { 1.0 };
    if let Some(pos) = values.iter().position(|&v| !(0.0..=255.0).contains(&v)) {
        return Err(Error::config(
            what.clone(),
            format!(
                "value {} at index {pos} is outside the pixel range [0, 1] or [0, 255]",
                values[pos]
            ),
        ));
    }
    Ok(values.iter().map(|&v| (v * scale).round() as u8).collect())
}

/// Writes one-hot rows of `classes` values into `targets`, one per label.
pub fn one_hot_into(labels: impl IntoIterator<Item = u8>, targets: &mut [f32], classes: usize) {
    for (row, label) in targets.chunks_exact_mut(classes).zip(labels) {
        row.fill(0.0);
        row[label as usize] = 1.0;
    }
}

/// Refuses a validation fraction outside (0, 1), as Keras' `validation_split`.
pub fn check_validation_split(fraction: f64) -> Result<()> {
    if fraction > 0.0 && fraction < 1.0 {
        return Ok(());
    }
    Err(Error::config(
        Setting::ValidationSplit,
        format!("must be between 0 and 1 (exclusive), got {fraction}"),
    ))
}

/// A dataset's training and test sets, as read from its folder.
#[derive(Clone, Debug)]
pub struct LoadedDataset {
    /// Which dataset.
    pub info: &'static DatasetInfo,
    /// Folder the files were read from.
    pub dir: PathBuf,
    /// The 60,000 training images.
    pub train: Images,
    /// The 10,000 test images.
    pub test: Images,
}

impl LoadedDataset {
    /// Finds (or downloads) and reads `dataset`.
    pub fn load(dataset: Dataset, sources: &DataSources) -> Result<LoadedDataset> {
        let info = dataset.info();
        let dir = locate(info, sources)?;
        Self::load_dir(info, &dir)
    }

    /// Reads the dataset's four files from `dir`.
    pub fn load_dir(info: &'static DatasetInfo, dir: &Path) -> Result<LoadedDataset> {
        let path = |i: usize| {
            sources::find_file(dir, &info.files[i]).ok_or_else(|| {
                Error::format(dir.join(info.files[i].name), "not found (nor with .gz)")
            })
        };
        let (train, test) = rayon::join(
            || read_images(&path(0)?, &path(1)?, info.classes.len()),
            || read_images(&path(2)?, &path(3)?, info.classes.len()),
        );
        Ok(LoadedDataset {
            info,
            dir: dir.to_path_buf(),
            train: train?,
            test: test?,
        })
    }
}

/// Reads an images file and its labels file and checks they belong together.
pub fn read_images(images_path: &Path, labels_path: &Path, classes: usize) -> Result<Images> {
    let (images, labels) =
        rayon::join(|| idx::read_idx(images_path), || idx::read_idx(labels_path));
    let (images, labels) = (images?, labels?);
    let [n, h, w] = images.dims[..] else {
        return Err(Error::format(
            images_path,
            format!("expected 3 dimensions (images), found {:?}", images.dims),
        ));
    };
    let [n_labels] = labels.dims[..] else {
        return Err(Error::format(
            labels_path,
            format!("expected 1 dimension (labels), found {:?}", labels.dims),
        ));
    };
    if n != n_labels {
        return Err(Error::format(
            labels_path,
            format!(
                "has {n_labels} labels but {} has {n} images",
                images_path.display()
            ),
        ));
    }
    if let Some(pos) = labels.data.iter().position(|&l| l as usize >= classes) {
        return Err(Error::format(
            labels_path,
            format!(
                "label {} at index {pos} is not a class 0‥{}",
                labels.data[pos],
                classes - 1
            ),
        ));
    }
    Ok(Images {
        pixels: images.data,
        labels: labels.data,
        shape: Shape::new(h, w, 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize) -> Images {
        Images {
            pixels: (0..n * 4).map(|i| i as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
            shape: Shape::new(2, 2, 1),
        }
    }

    #[test]
    fn validation_is_the_last_fraction() {
        let (train, val) = images(20).split_validation(0.1).unwrap();
        assert_eq!((train.len(), val.len()), (18, 2));
        assert_eq!((train.pixels.len(), train.labels[17]), (72, 7));
        assert_eq!(val.labels, vec![8, 9]);
        assert_eq!(val.image(0), &[72, 73, 74, 75]);
        let mut first = images(20);
        first.truncate(3);
        assert_eq!((first.pixels.len(), first.labels.len()), (12, 3));
        first.truncate(5);
        assert_eq!(first.len(), 3);
        for bad in [0.0, 1.0, -0.5, f64::NAN, 0.01] {
            assert!(images(20).split_validation(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn images_from_memory_are_checked() {
        let shape = Shape::new(2, 2, 1);
        assert!(Images::new(vec![0; 8], vec![1, 9], shape, 10).is_ok());
        let err = |r: Result<Images>| r.unwrap_err().to_string();
        assert!(err(Images::new(vec![], vec![], shape, 10)).starts_with("images:"));
        assert!(err(Images::new(vec![0; 7], vec![1, 9], shape, 10)).starts_with("labels:"));
        assert!(err(Images::new(vec![0; 8], vec![1, 10], shape, 10)).contains("label 10"));
        assert_eq!(
            pixels_from_floats(&[0.0, 0.5, 1.0], Setting::Images).unwrap(),
            [0, 128, 255]
        );
        assert_eq!(
            pixels_from_floats(&[3.0, 254.6], Setting::Images).unwrap(),
            [3, 255]
        );
        for bad in [f32::NAN, -0.5, 256.0, f32::INFINITY] {
            let message = pixels_from_floats(&[0.0, bad], Setting::Images)
                .unwrap_err()
                .to_string();
            assert!(message.starts_with("images:"), "{message}");
        }
    }

    #[test]
    fn batches_hold_raw_pixels_and_one_hot_targets() {
        let set = images(3);
        let (mut x, mut t) = (vec![0.0; 8], vec![9.0; 20]);
        set.fill_batch(&[2, 0], &mut x, &mut t, 10);
        assert_eq!(&x[..4], &[8.0, 9.0, 10.0, 11.0]);
        assert_eq!(&t[..10], &[0., 0., 1., 0., 0., 0., 0., 0., 0., 0.]);
        assert_eq!(t[10], 1.0);
        assert_eq!(t[11..].iter().sum::<f32>(), 0.0);
    }
}
