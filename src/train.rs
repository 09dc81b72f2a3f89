//! Transfer learning with a frozen backbone, as the original project's `train.py` did for
//! CIFAR-10 but without re-running the backbone every epoch: class-token features computed once,
//! a fresh linear head trained on them with Burn's autodiff and AdamW, and scored.

pub mod features;
pub mod fit;
pub mod metrics;
pub mod options;
pub mod rng;
pub mod trainer;

pub use features::{Features, extract_features};
pub use fit::{Fitted, fit};
pub use metrics::{Confusion, predict};
pub use options::{TrainNumbers, TrainOptions};
pub use rng::{epoch_order, hold_out, sample, sample_part, split_pictures};
pub use trainer::{EpochReport, HeadTrainer, Progress, fresh_head, train};
