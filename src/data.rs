//! What the model is fed: image files decoded, resized as Pillow does and normalised; CIFAR-10
//! in the formats people have it, split into training and test images; and labelled rows, the
//! one container for images and for their features.

pub mod archive;
pub mod cifar;
/// Reads folders from a file system: the CLI's, not the page's (a browser hands over files).
#[cfg(not(target_family = "wasm"))]
pub mod folder_reader;
pub mod image;
pub mod image_folder;
pub mod labelled;
pub mod pickle;
pub mod preprocess;
pub mod resize;
pub mod splits;

pub use labelled::Labelled;
pub use splits::{Split, Splits};
