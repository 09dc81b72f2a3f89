//! What a person sets for a fine-tuning run, and the one place each setting's rule is written:
//! the CLI's parser hands over typed values and the page's form plain numbers, and both are
//! checked here before any image is read (computing features takes long).

use serde::Deserialize;

use crate::data::Split;
use crate::error::OptionError;

const EPOCHS: &str = "the number of epochs";
const BATCH_SIZE: &str = "the batch size";
const LEARNING_RATE: &str = "the learning rate";
const WEIGHT_DECAY: &str = "the weight decay";
const SEED: &str = "the seed";

/// How a head is trained.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Seeds the head's initial weights and each epoch's shuffle.
    pub seed: u64,
}

impl Default for TrainOptions {
    /// The original's `train.py --epochs 5 --batch-size 32`, with PyTorch's AdamW defaults.
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 32,
            learning_rate: 1e-3,
            weight_decay: 0.01,
            seed: 0,
        }
    }
}

impl TrainOptions {
    /// Whether training can run with these options.
    pub fn check(&self) -> Result<(), OptionError> {
        if self.epochs == 0 {
            return Err(OptionError::AtLeastOne { what: EPOCHS });
        }
        if self.batch_size == 0 {
            return Err(OptionError::AtLeastOne { what: BATCH_SIZE });
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(OptionError::NotPositive { what: LEARNING_RATE });
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(OptionError::Negative { what: WEIGHT_DECAY });
        }
        Ok(())
    }
}

/// Training options as the page's form has them: numbers, whole or not, any of them NaN where a
/// field did not hold one.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainNumbers {
    pub epochs: f64,
    pub batch_size: f64,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: f64,
}

impl TryFrom<TrainNumbers> for TrainOptions {
    type Error = OptionError;

    fn try_from(n: TrainNumbers) -> Result<Self, OptionError> {
        let options = Self {
            epochs: count(n.epochs, EPOCHS)?,
            batch_size: count(n.batch_size, BATCH_SIZE)?,
            learning_rate: n.learning_rate,
            weight_decay: n.weight_decay,
            seed: seed(n.seed)?,
        };
        options.check()?;
        Ok(options)
    }
}

/// How many of a split's images a run uses, given as a number (JavaScript's): a whole one, at
/// least 1 (a sample larger than the split takes all of it).
pub fn image_count(split: Split, value: f64) -> Result<usize, OptionError> {
    let what = match split {
        Split::Train => "the number of training images",
        Split::Test => "the number of test images",
    };
    count(value, what)
}

/// A count given as a number: a whole one, at least 1.
fn count(value: f64, what: &'static str) -> Result<usize, OptionError> {
    if value.is_finite() && value.fract() != 0.0 {
        Err(OptionError::NotWhole { what })
    } else if value >= 1.0 && value <= usize::MAX as f64 {
        Ok(value as usize)
    } else {
        Err(OptionError::AtLeastOne { what })
    }
}

/// A seed given as a number (JavaScript's): a whole one from 0 to 2^53.
pub fn seed(value: f64) -> Result<u64, OptionError> {
    if value >= 0.0 && value.fract() == 0.0 && value < 2f64.powi(53) {
        Ok(value as u64)
    } else {
        Err(OptionError::NotNatural { what: SEED })
    }
}

/// The share of each class of a person's pictures held out for testing: above 0 and below 1.
pub fn check_test_fraction(fraction: f64) -> Result<(), OptionError> {
    if fraction > 0.0 && fraction < 1.0 {
        Ok(())
    } else {
        Err(OptionError::TestFraction {
            percent: format!("{}", fraction * 100.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers() -> TrainNumbers {
        TrainNumbers {
            epochs: 5.0,
            batch_size: 32.0,
            learning_rate: 1e-3,
            weight_decay: 0.01,
            seed: 0.0,
        }
    }

    #[test]
    fn the_forms_numbers_become_options_or_say_what_is_wrong() {
        assert_eq!(TrainOptions::try_from(numbers()), Ok(TrainOptions::default()));
        let message = |change: fn(&mut TrainNumbers)| {
            let mut n = numbers();
            change(&mut n);
            TrainOptions::try_from(n).unwrap_err().to_string()
        };
        assert_eq!(message(|n| n.epochs = 0.0), "the number of epochs must be at least 1");
        assert_eq!(
            message(|n| n.epochs = 2.5),
            "the number of epochs must be a whole number"
        );
        assert_eq!(
            message(|n| n.batch_size = f64::NAN),
            "the batch size must be at least 1"
        );
        assert_eq!(
            message(|n| n.learning_rate = -1.0),
            "the learning rate must be a positive number"
        );
        assert_eq!(
            message(|n| n.learning_rate = f64::NAN),
            "the learning rate must be a positive number"
        );
        assert_eq!(
            message(|n| n.weight_decay = -0.1),
            "the weight decay must be a number ≥ 0"
        );
        assert_eq!(
            message(|n| n.seed = 1.5),
            "the seed must be a non-negative whole number"
        );
        assert_eq!(
            message(|n| n.seed = 2f64.powi(53)),
            "the seed must be a non-negative whole number"
        );
    }

    #[test]
    fn image_counts_are_whole_and_positive() {
        assert_eq!(image_count(Split::Train, 300.0), Ok(300));
        assert_eq!(
            image_count(Split::Test, 0.0).unwrap_err().to_string(),
            "the number of test images must be at least 1"
        );
        assert_eq!(
            image_count(Split::Train, 2.5).unwrap_err().to_string(),
            "the number of training images must be a whole number"
        );
    }

    #[test]
    fn a_test_fraction_is_a_share_strictly_between_none_and_all() {
        assert_eq!(check_test_fraction(0.2), Ok(()));
        for bad in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(check_test_fraction(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_test_fraction(1.5).unwrap_err().to_string(),
            "the share held out for testing must be above 0% and below 100%; 150% was asked for"
        );
    }
}
