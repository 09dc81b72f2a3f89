//! The 1000 ImageNet-1k class names, in class-index order (as in `google/vit-base-patch16-224`'s
//! `id2label`), for weights that come without a config.

use std::sync::LazyLock;

pub static IMAGENET_LABELS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| include_str!("imagenet_labels.txt").lines().collect());
