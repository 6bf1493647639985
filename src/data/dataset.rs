//! The datasets mnistlab knows: [`Dataset`], which one (its name in flags, run files and model
//! metadata), and [`DatasetInfo`], what it is made of (files, checksums, class names, mirrors).

use crate::error::{Error, Result, Setting};
use std::fmt;
use std::str::FromStr;

/// A dataset of the MNIST family. Written and read by its [`name`](Dataset::name) everywhere
/// (flags, `args.json`, `results.json`, model metadata), so a new variant keeps every format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum Dataset {
    /// The MNIST database of handwritten digits.
    Mnist,
    /// Zalando's Fashion-MNIST: ten kinds of clothes and shoes.
    FashionMnist,
}

impl Dataset {
    /// Every dataset, in the order error messages list them.
    pub const ALL: [Dataset; 2] = [Dataset::Mnist, Dataset::FashionMnist];

    /// Its name in flags and files, also the folder holding its files.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
        }
    }

    /// Its files, class names and mirrors.
    pub fn info(self) -> &'static DatasetInfo {
        match self {
            Dataset::Mnist => &MNIST,
            Dataset::FashionMnist => &FASHION_MNIST,
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = Error;

    /// The dataset called `name`; an unknown name is an error naming [`Setting::Dataset`].
    fn from_str(name: &str) -> Result<Dataset> {
        Dataset::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| {
                Error::config(
                    Setting::Dataset,
                    format!("unknown dataset {name:?} (expected mnist or fashion-mnist)"),
                )
            })
    }
}

impl From<Dataset> for &'static str {
    fn from(dataset: Dataset) -> &'static str {
        dataset.name()
    }
}

impl TryFrom<String> for Dataset {
    type Error = Error;

    fn try_from(name: String) -> Result<Dataset> {
        name.parse()
    }
}

/// One file of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Name without `.gz`.
    pub name: &'static str,
    /// SHA-256 of the decompressed file, lowercase hex.
    pub sha256: &'static str,
}

/// A dataset of the MNIST family: four IDX files, ten class names, mirrors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasetInfo {
    /// Which dataset.
    pub dataset: Dataset,
    /// Training images, training labels, test images, test labels.
    pub files: [FileInfo; 4],
    /// Class names, by label.
    pub classes: [&'static str; 10],
    /// Base URLs that serve `<file>.gz`.
    pub mirrors: &'static [&'static str],
}

const fn file(name: &'static str, sha256: &'static str) -> FileInfo {
    FileInfo { name, sha256 }
}

/// The MNIST database of handwritten digits.
pub const MNIST: DatasetInfo = DatasetInfo {
    dataset: Dataset::Mnist,
    files: [
        file(
            "train-images-idx3-ubyte",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        file(
            "train-labels-idx1-ubyte",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        file(
            "t10k-images-idx3-ubyte",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        file(
            "t10k-labels-idx1-ubyte",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ],
    classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
};

/// Zalando's Fashion-MNIST.
pub const FASHION_MNIST: DatasetInfo = DatasetInfo {
    dataset: Dataset::FashionMnist,
    files: [
        file(
            "train-images-idx3-ubyte",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        file(
            "train-labels-idx1-ubyte",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        file(
            "t10k-images-idx3-ubyte",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        file(
            "t10k-labels-idx1-ubyte",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    ],
    classes: [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    mirrors: &[
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_name_the_setting() {
        for dataset in Dataset::ALL {
            assert_eq!(dataset.name().parse::<Dataset>().unwrap(), dataset);
            assert_eq!(dataset.info().dataset, dataset);
            let json = serde_json::to_string(&dataset).unwrap();
            assert_eq!(json, format!("{:?}", dataset.name()));
            assert_eq!(serde_json::from_str::<Dataset>(&json).unwrap(), dataset);
        }
        let err = "cifar".parse::<Dataset>().unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Config {
                    setting: Setting::Dataset,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("\"cifar\""), "{err}");
        assert!(serde_json::from_str::<Dataset>("\"Mnist\"").is_err());
    }
}
