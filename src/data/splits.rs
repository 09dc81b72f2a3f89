//! CIFAR-10 files sorted into training and test images: which file feeds which split is decided
//! here, for the page and the CLI alike.

use std::str::FromStr;

use serde::Serialize;

use super::cifar::{CLASS_NAMES, Contents, Images, NUM_CLASSES, PIXELS, rgba};
use crate::error::VitError;
use crate::fingerprint::Fingerprint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train = 0,
    Test = 1,
}

impl FromStr for Split {
    type Err = VitError;

    fn from_str(s: &str) -> Result<Self, VitError> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => Err(VitError::Request(format!("unknown split `{s}`: use train or test"))),
        }
    }
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// What to do with an archive's members of the other split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherSplit {
    /// Fill that split too: the page's one upload of the whole CIFAR-10 tarball.
    Keep,
    /// Leave them out: the CLI's `--train` and `--test`, each taking its own members.
    Skip,
}

/// The training and the test images, the files they came from, and the class names.
#[derive(Debug, Clone)]
pub struct Splits {
    sets: [Images; 2],
    files: [Vec<String>; 2],
    class_names: Option<Vec<String>>,
}

impl Default for Splits {
    fn default() -> Self {
        Self {
            sets: [Images::new(PIXELS), Images::new(PIXELS)],
            files: Default::default(),
            class_names: None,
        }
    }
}

impl Splits {
    /// Adds a file's contents, given for `split`. A single batch goes there; an archive holding
    /// both splits (the CIFAR-10 tarballs) sends each member to the split its name says, or with
    /// [`OtherSplit::Skip`] only the members of `split`.
    pub fn add(&mut self, split: Split, contents: Contents, other: OtherSplit) {
        self.class_names = contents.class_names.or(self.class_names.take());
        let single = contents.batches.len() == 1;
        for batch in contents.batches {
            let own = if batch.is_test() { Split::Test } else { Split::Train };
            let to = match (single, other) {
                (true, _) => split,
                (false, OtherSplit::Keep) => own,
                (false, OtherSplit::Skip) if own == split => split,
                (false, OtherSplit::Skip) => continue,
            } as usize;
            self.files[to].push(batch.source);
            self.sets[to].extend(&batch.images);
        }
    }

    /// Forgets the images of `split`.
    pub fn clear(&mut self, split: Split) {
        self.sets[split as usize] = Images::new(PIXELS);
        self.files[split as usize].clear();
    }

    pub fn images(&self, split: Split) -> &Images {
        &self.sets[split as usize]
    }

    /// Images `indices` of `split` as 32x32 RGBA, one after the other.
    pub fn rgba(&self, split: Split, indices: &[usize]) -> Result<Vec<u8>, VitError> {
        let images = self.images(split);
        match indices.iter().find(|&&i| i >= images.len()) {
            Some(i) => Err(VitError::Request(format!("no image {i} in the {} set", split.name()))),
            None => Ok(rgba(images, indices.iter().copied())),
        }
    }

    /// The files `split`'s images came from.
    pub fn files(&self, split: Split) -> &[String] {
        &self.files[split as usize]
    }

    /// The names from a `batches.meta` file among those added, else CIFAR-10's own.
    pub fn class_names(&self) -> Vec<String> {
        self.class_names
            .clone()
            .unwrap_or_else(|| CLASS_NAMES.map(String::from).to_vec())
    }

    pub fn summary(&self) -> Summary {
        let set = |split: Split| {
            let images = self.images(split);
            let mut per_class = [0; NUM_CLASSES];
            images.labels.iter().for_each(|l| per_class[usize::from(*l)] += 1);
            SetSummary {
                images: images.len(),
                files: self.files(split).to_vec(),
                per_class,
                fingerprint: Fingerprint::default().part(&images.labels).part(&images.values).hex(),
            }
        };
        Summary {
            train: set(Split::Train),
            test: set(Split::Test),
            class_names: self.class_names(),
        }
    }
}

/// What the splits hold, for a person to read.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub train: SetSummary,
    pub test: SetSummary,
    pub class_names: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetSummary {
    pub images: usize,
    pub files: Vec<String>,
    pub per_class: [usize; NUM_CLASSES],
    /// A hash of the images and labels: what features computed from them are cached by.
    pub fingerprint: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::cifar::Batch;

    fn batch(source: &str, labels: &[u8]) -> Batch {
        Batch {
            source: source.into(),
            images: Images {
                width: PIXELS,
                values: vec![0; labels.len() * PIXELS],
                labels: labels.to_vec(),
            },
        }
    }

    fn archive() -> Contents {
        Contents {
            batches: vec![
                batch("c.tar.gz/data_batch_1", &[0, 1]),
                batch("c.tar.gz/test_batch", &[2]),
            ],
            class_names: None,
        }
    }

    #[test]
    fn a_single_batch_goes_where_it_was_given_and_an_archive_by_its_members_names() {
        let mut splits = Splits::default();
        let single = Contents {
            batches: vec![batch("test_batch.bin", &[3])],
            class_names: None,
        };
        splits.add(Split::Train, single, OtherSplit::Keep);
        assert_eq!(splits.images(Split::Train).labels, [3]);
        splits.add(Split::Train, archive(), OtherSplit::Keep);
        assert_eq!(splits.images(Split::Train).labels, [3, 0, 1]);
        assert_eq!(splits.images(Split::Test).labels, [2]);
        assert_eq!(splits.files(Split::Test), ["c.tar.gz/test_batch"]);
        assert_eq!(splits.rgba(Split::Test, &[0]).unwrap().len(), 32 * 32 * 4);
        assert_eq!(
            splits.rgba(Split::Test, &[1]).unwrap_err().to_string(),
            "no image 1 in the test set"
        );
        splits.clear(Split::Train);
        assert!(splits.images(Split::Train).is_empty() && splits.files(Split::Train).is_empty());
    }

    #[test]
    fn skipping_the_other_split_takes_only_the_given_one_s_members() {
        let mut splits = Splits::default();
        splits.add(Split::Test, archive(), OtherSplit::Skip);
        assert!(splits.images(Split::Train).is_empty());
        assert_eq!(splits.images(Split::Test).labels, [2]);
        assert_eq!(splits.class_names(), CLASS_NAMES);
        assert!(matches!("validation".parse::<Split>(), Err(VitError::Request(_))));
    }
}
