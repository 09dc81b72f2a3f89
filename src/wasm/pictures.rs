//! A person's own pictures in the page (`data::image_folder::ImageFolder`): class cards filled
//! from folders, archives, single files and webcam frames, split for training and testing.

use js_sys::{Uint8Array, Uint32Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::error::{Failure, to_js};
use crate::data::image_folder::{FolderSummary, ImageFolder, Role};
use crate::train::{options, split_pictures};

/// The name messages give the page's pictures when they came from no folder.
const ROOT: &str = "your pictures";
/// How many of each class's pictures the page shows.
const SHOWN: usize = 8;

#[wasm_bindgen]
pub struct PictureData {
    folder: ImageFolder,
}

impl PictureData {
    pub(super) fn folder(&self) -> &ImageFolder {
        &self.folder
    }

    fn summary(&self, notes: Vec<String>) -> Result<JsValue, Failure> {
        to_js(&Summary {
            folder: self.folder.summary(SHOWN),
            notes,
        })
    }
}

/// What the pictures are, after each change: `notes` say what a change skipped, and why.
#[derive(Serialize)]
struct Summary {
    #[serde(flatten)]
    folder: FolderSummary,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct SplitIndices {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    train: JsValue,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    test: JsValue,
}

fn positions(v: Vec<u32>) -> Vec<usize> {
    v.into_iter().map(|i| i as usize).collect()
}

impl Default for PictureData {
    fn default() -> Self {
        Self {
            folder: ImageFolder::new(ROOT),
        }
    }
}

#[wasm_bindgen]
impl PictureData {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// What the classes hold.
    #[wasm_bindgen(js_name = summary, unchecked_return_type = "import('../protocol.js').PictureSummary")]
    pub fn summary_js(&self) -> Result<JsValue, Failure> {
        self.summary(Vec::new())
    }

    /// Whether `bytes` more of pictures (`what`, for the message) can be held: asked before
    /// reading them.
    #[wasm_bindgen(js_name = checkRoom)]
    pub fn check_room(&self, what: String, bytes: f64) -> Result<(), Failure> {
        Ok(self.folder.check_room(&what, bytes as u64)?)
    }

    /// Adds dropped or picked files as `role`: `paths` as the browser gives them, from the
    /// dropped folder down (see `ImageFolder::add_files`). What the pictures are, with notes on
    /// what was skipped.
    #[wasm_bindgen(js_name = addFiles, unchecked_return_type = "import('../protocol.js').PictureSummary")]
    pub fn add_files(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').Role")] role: String,
        paths: Vec<String>,
        files: Vec<Uint8Array>,
    ) -> Result<JsValue, Failure> {
        let role: Role = role.parse()?;
        let files = paths.into_iter().zip(files.iter().map(Uint8Array::to_vec));
        let notes = self.folder.add_files(ROOT, files, role);
        self.summary(notes)
    }

    /// Adds pictures to class `label` (see `ImageFolder::add_to_class`).
    #[wasm_bindgen(js_name = addToClass, unchecked_return_type = "import('../protocol.js').PictureSummary")]
    pub fn add_to_class(
        &mut self,
        label: usize,
        names: Vec<String>,
        files: Vec<Uint8Array>,
    ) -> Result<JsValue, Failure> {
        let files = names.into_iter().zip(files.iter().map(Uint8Array::to_vec));
        let notes = self.folder.add_to_class(label, files)?;
        self.summary(notes)
    }

    #[wasm_bindgen(js_name = addClass, unchecked_return_type = "import('../protocol.js').PictureSummary")]
    pub fn add_class(&mut self, name: String) -> Result<JsValue, Failure> {
        self.folder.add_class(&name)?;
        self.summary(Vec::new())
    }

    #[wasm_bindgen(js_name = renameClass, unchecked_return_type = "import('../protocol.js').PictureSummary")]
    pub fn rename_class(&mut self, label: usize, name: String) -> Result<JsValue, Failure> {
        self.folder.rename_class(label, &name)?;
        self.summary(Vec::new())
    }

    #[wasm_bindgen(js_name = clearClass, unchecked_return_type = "import('../protocol.js').PictureSummary")]
    pub fn clear_class(&mut self, label: usize) -> Result<JsValue, Failure> {
        self.folder.clear_class(label)?;
        self.summary(Vec::new())
    }

    #[wasm_bindgen(js_name = removeClass, unchecked_return_type = "import('../protocol.js').PictureSummary")]
    pub fn remove_class(&mut self, label: usize) -> Result<JsValue, Failure> {
        self.folder.remove_class(label)?;
        self.summary(Vec::new())
    }

    #[wasm_bindgen(js_name = removePicture, unchecked_return_type = "import('../protocol.js').PictureSummary")]
    pub fn remove_picture(&mut self, index: usize) -> Result<JsValue, Failure> {
        self.folder.remove_picture(index)?;
        self.summary(Vec::new())
    }

    /// The pictures to train and to test on (indices): a test folder's if one was added, else
    /// `fraction` of each class held out, chosen by `seed` (see `train::split_pictures`).
    #[wasm_bindgen(unchecked_return_type = "import('../protocol.js').PictureSplit")]
    pub fn split(&self, fraction: f64, seed: f64) -> Result<JsValue, Failure> {
        let (train, test) = split_pictures(&self.folder, fraction, options::seed(seed)?)?;
        let indices =
            |v: Vec<usize>| Uint32Array::from(&v.into_iter().map(|i| i as u32).collect::<Vec<_>>()[..]).into();
        to_js(&SplitIndices {
            train: indices(train),
            test: indices(test),
        })
    }

    /// The hashes of pictures `indices`' bytes: what their features are cached by.
    pub fn fingerprints(&self, indices: Vec<u32>) -> Result<Vec<String>, Failure> {
        Ok(self.folder.each(&positions(indices), |p| p.fingerprint.clone())?)
    }

    /// The names of pictures `indices` (their paths, or the webcam frames' names).
    pub fn names(&self, indices: Vec<u32>) -> Result<Vec<String>, Failure> {
        Ok(self.folder.each(&positions(indices), |p| p.name.clone())?)
    }

    /// The labels of pictures `indices`.
    pub fn labels(&self, indices: Vec<u32>) -> Result<Vec<u8>, Failure> {
        Ok(self.folder.each(&positions(indices), |p| p.label)?)
    }

    #[wasm_bindgen(js_name = classNames)]
    pub fn class_names(&self) -> Vec<String> {
        self.folder.class_names.clone()
    }

    /// Pictures `indices` as `side` x `side` RGBA thumbnails, one after the other.
    pub fn thumbnails(&self, indices: Vec<u32>, side: usize) -> Result<Vec<u8>, Failure> {
        Ok(self.folder.thumbnails(&positions(indices), side)?)
    }
}
