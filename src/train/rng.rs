//! The seeded randomness of training: the same numbers everywhere, so that a seed shown on the
//! page reproduces a run in the CLI.

use super::options::check_test_fraction;
use crate::data::image_folder::{ImageFolder, Role};
use crate::error::{PicturesError, VitError};

/// SplitMix64: small, seedable, and the same everywhere.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The sample order for one epoch: a Fisher-Yates shuffle seeded by the seed and the epoch.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed ^ (epoch as u64).wrapping_mul(0xd1b5_4a32_d192_ed03));
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}

/// The pictures of `folder` to train and to test on: those of a test folder if one was added,
/// else `fraction` of each class held out by [`hold_out`].
pub fn split_pictures(folder: &ImageFolder, fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>), VitError> {
    check_test_fraction(fraction)?;
    folder.check_trainable()?;
    if folder.pictures.iter().any(|p| p.role == Role::Test) {
        let with = |role| {
            (0..folder.pictures.len())
                .filter(|&i| folder.pictures[i].role == role)
                .collect()
        };
        return Ok((with(Role::Train), with(Role::Test)));
    }
    Ok(hold_out(folder, fraction, seed)?)
}

/// The pictures of `folder` held out for testing, `fraction` of each class (rounded, at least
/// one, never all), chosen by `seed`; and the rest, for training. Both in the folder's order.
pub fn hold_out(folder: &ImageFolder, fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>), PicturesError> {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (label, class) in folder.class_names.iter().enumerate() {
        let members: Vec<usize> = (0..folder.pictures.len())
            .filter(|&i| usize::from(folder.pictures[i].label) == label)
            .collect();
        if members.len() < 2 {
            return Err(PicturesError::TooFewToSplit {
                root: folder.root.clone(),
                class: class.clone(),
                count: members.len(),
            });
        }
        let held = ((members.len() as f64 * fraction).round() as usize).clamp(1, members.len() - 1);
        let order = epoch_order(members.len(), seed, label);
        test.extend(order[..held].iter().map(|&k| members[k]));
        train.extend(order[held..].iter().map(|&k| members[k]));
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

/// The first `limit` of a fixed shuffle of `0..n`: the training or test sample. A larger sample
/// extends a smaller one, so features computed for one stay valid for the other; and the choice
/// does not depend on the training seed, so changing that seed never re-runs the backbone.
pub fn sample(n: usize, limit: usize) -> Vec<usize> {
    const SAMPLE_SEED: u64 = 0x5eed;
    let mut order = epoch_order(n, SAMPLE_SEED, 0);
    order.truncate(limit.min(n));
    order
}

/// Images `from..to` of the sample of the `n` images of `set` (see [`sample`]): a run that
/// grows a sample computes only the images the smaller one lacked.
pub fn sample_part(set: &str, n: usize, from: usize, to: usize) -> Result<Vec<usize>, VitError> {
    if to > n || from > to {
        return Err(VitError::Request(format!(
            "the {set} set has {n} images; images {from} to {to} were asked for"
        )));
    }
    Ok(sample(n, to).split_off(from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_orders_are_seeded_permutations() {
        let a = epoch_order(100, 3, 0);
        assert_eq!(a, epoch_order(100, 3, 0));
        assert_ne!(a, epoch_order(100, 3, 1));
        assert_ne!(a, epoch_order(100, 4, 0));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn samples_are_prefixes_of_one_fixed_order() {
        let big = sample(100, 60);
        assert_eq!(sample(100, 20), big[..20]);
        let mut all = sample(100, usize::MAX);
        assert_eq!(all[..60], big[..]);
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }
}
