//! Class-token features of CIFAR images or a person's pictures: the backbone's work, done once
//! per image.

use crate::backend::pool;
use crate::classifier::Classifier;
use crate::data::Labelled;
use crate::data::cifar::Images;
use crate::data::image::decode;
use crate::data::image_folder::ImageFolder;
use crate::data::preprocess::{Preprocess, mirror, preprocess, preprocess_cifar};
use crate::error::VitError;

/// Images to compute features of: CIFAR's arrays, or picture files (decoded on the CPU threads
/// there are, a batch at a time: decoding a photo is a real share of its cost).
pub trait FeatureSource: Sync {
    fn label(&self, i: usize) -> u8;
    /// Image `i` as model input preprocessed as `p` says, mirrored when `flip`.
    fn pixels(&self, p: &Preprocess, i: usize, flip: bool) -> Result<Vec<f32>, VitError>;
}

impl FeatureSource for Images {
    fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    fn pixels(&self, p: &Preprocess, i: usize, flip: bool) -> Result<Vec<f32>, VitError> {
        Ok(preprocess_cifar(self.row(i), flip, p))
    }
}

impl FeatureSource for ImageFolder {
    fn label(&self, i: usize) -> u8 {
        self.pictures[i].label
    }

    fn pixels(&self, p: &Preprocess, i: usize, flip: bool) -> Result<Vec<f32>, VitError> {
        let picture = &self.pictures[i];
        let mut pixels = preprocess(&decode(&picture.name, &picture.bytes)?, p);
        if flip {
            mirror(&mut pixels, p.size);
        }
        Ok(pixels)
    }
}

/// Rows of `hidden` class-token features, labelled.
pub type Features = Labelled<f32>;

impl Features {
    /// Features from flat rows, checking that there is one row of `hidden` values per label.
    pub fn from_parts(hidden: usize, values: Vec<f32>, labels: Vec<u8>) -> Result<Self, VitError> {
        if values.len() != labels.len() * hidden {
            return Err(VitError::Training(format!(
                "{} feature values for {} labels; expected {} (rows of {hidden})",
                values.len(),
                labels.len(),
                labels.len() * hidden
            )));
        }
        Ok(Self {
            width: hidden,
            values,
            labels,
        })
    }
}

/// Class-token features of images `indices` (mirrored when `flip`), computed `chunk` images at a
/// time. `progress(done, total)` is awaited after each chunk and stops the work when it returns
/// false; then the result holds the features of the images done so far, which stay good for a
/// later run. It is async so that a browser worker can yield to its event loop there and hear a
/// cancel.
pub async fn extract_features(
    classifier: &Classifier,
    images: &impl FeatureSource,
    indices: &[usize],
    flip: bool,
    chunk: usize,
    mut progress: impl AsyncFnMut(usize, usize) -> bool,
) -> Result<Features, VitError> {
    let mut features = Features::new(classifier.config.hidden_size);
    for part in indices.chunks(chunk.max(1)) {
        let p = &classifier.preprocess;
        let pixels = pool::map_index(part.len(), pool::threads(), |k| images.pixels(p, part[k], flip))
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        for row in classifier.features(&pixels).await? {
            features.values.extend(row);
        }
        features.labels.extend(part.iter().map(|&i| images.label(i)));
        if !progress(features.len(), indices.len()).await {
            break;
        }
    }
    Ok(features)
}
