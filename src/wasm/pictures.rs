//! A person's own pictures in the page: class cards filled from folders, archives, single files
//! and webcam frames, split for training and testing.

use js_sys::{Uint8Array, Uint32Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::error::{Failure, to_js};
use crate::data::image::decode;
use crate::data::image_folder::{ImageFolder, Role};
use crate::data::preprocess::thumbnail;
use crate::error::{PicturesError, VitError};
use crate::train::split_pictures;

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
        let (train, test) = (self.folder.counts(Role::Train), self.folder.counts(Role::Test));
        let classes = (self.folder.class_names.iter().enumerate())
            .map(|(label, name)| {
                let members: Vec<u32> = (0..self.folder.pictures.len() as u32)
                    .filter(|&i| usize::from(self.folder.pictures[i as usize].label) == label)
                    .collect();
                ClassSummary {
                    name,
                    train: train[label],
                    test: test[label],
                    shown: members[members.len().saturating_sub(SHOWN)..].to_vec(),
                }
            })
            .collect();
        to_js(&Summary {
            classes,
            pictures: self.folder.pictures.len(),
            notes,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClassSummary<'a> {
    name: &'a str,
    train: usize,
    test: usize,
    /// The pictures shown on its card: its last ones.
    shown: Vec<u32>,
}

/// What the pictures are, after each change: `notes` say what a change skipped, and why.
#[derive(Serialize)]
struct Summary<'a> {
    classes: Vec<ClassSummary<'a>>,
    pictures: usize,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct SplitIndices {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    train: JsValue,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    test: JsValue,
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

    /// What the classes hold: `{ classes: [{ name, train, test, shown }], pictures, notes }`.
    #[wasm_bindgen(js_name = summary)]
    pub fn summary_js(&self) -> Result<JsValue, Failure> {
        self.summary(Vec::new())
    }

    /// Adds dropped or picked files as `role` (`train` or `test`): `paths` as the browser gives
    /// them, from the dropped folder down (see `ImageFolder::add_files`). Returns what the
    /// pictures are, with notes on what was skipped.
    #[wasm_bindgen(js_name = addFiles)]
    pub fn add_files(&mut self, role: String, paths: Vec<String>, files: Vec<Uint8Array>) -> Result<JsValue, Failure> {
        let role: Role = role.parse()?;
        let files = paths.into_iter().zip(files.iter().map(Uint8Array::to_vec));
        let notes = self.folder.add_files(ROOT, files, role);
        self.summary(notes)
    }

    /// Adds pictures to class `label` (the person's files, or webcam frames); one that is not an
    /// image this app reads is skipped and named in the notes.
    #[wasm_bindgen(js_name = addToClass)]
    pub fn add_to_class(
        &mut self,
        label: usize,
        names: Vec<String>,
        files: Vec<Uint8Array>,
    ) -> Result<JsValue, Failure> {
        let mut notes = Vec::new();
        for (name, file) in names.into_iter().zip(files) {
            match self.folder.add_picture(label, name, file.to_vec(), Role::Train) {
                Err(VitError::Image(e)) => notes.push(format!("{e}; skipped")),
                other => other?,
            }
        }
        self.summary(notes)
    }

    #[wasm_bindgen(js_name = addClass)]
    pub fn add_class(&mut self, name: String) -> Result<JsValue, Failure> {
        self.folder.add_class(&name)?;
        self.summary(Vec::new())
    }

    #[wasm_bindgen(js_name = renameClass)]
    pub fn rename_class(&mut self, label: usize, name: String) -> Result<JsValue, Failure> {
        self.folder.rename_class(label, &name)?;
        self.summary(Vec::new())
    }

    #[wasm_bindgen(js_name = clearClass)]
    pub fn clear_class(&mut self, label: usize) -> Result<JsValue, Failure> {
        self.folder.clear_class(label)?;
        self.summary(Vec::new())
    }

    #[wasm_bindgen(js_name = removeClass)]
    pub fn remove_class(&mut self, label: usize) -> Result<JsValue, Failure> {
        self.folder.remove_class(label)?;
        self.summary(Vec::new())
    }

    #[wasm_bindgen(js_name = removePicture)]
    pub fn remove_picture(&mut self, index: usize) -> Result<JsValue, Failure> {
        self.folder.remove_picture(index)?;
        self.summary(Vec::new())
    }

    /// The pictures to train and to test on (`{ train, test }`, indices): a test folder's if one
    /// was added, else `fraction` of each class held out, chosen by `seed`.
    pub fn split(&self, fraction: f64, seed: f64) -> Result<JsValue, Failure> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(
                VitError::Request("the share held out for testing must be above 0% and below 100%".into()).into(),
            );
        }
        // A JavaScript number: a whole one, as the training options take it.
        if !(seed >= 0.0 && seed.fract() == 0.0 && seed < 2f64.powi(53)) {
            return Err(VitError::Request("the seed must be a non-negative whole number".into()).into());
        }
        let (train, test) = split_pictures(&self.folder, fraction, seed as u64)?;
        let indices =
            |v: Vec<usize>| Uint32Array::from(&v.into_iter().map(|i| i as u32).collect::<Vec<_>>()[..]).into();
        to_js(&SplitIndices {
            train: indices(train),
            test: indices(test),
        })
    }

    /// The hashes of pictures `indices`' bytes: what their features are cached by.
    pub fn fingerprints(&self, indices: Vec<u32>) -> Result<Vec<String>, Failure> {
        self.each(&indices, |p| p.fingerprint.clone())
    }

    /// The names of pictures `indices` (their paths, or the webcam frames' names).
    pub fn names(&self, indices: Vec<u32>) -> Result<Vec<String>, Failure> {
        self.each(&indices, |p| p.name.clone())
    }

    /// The labels of pictures `indices`.
    pub fn labels(&self, indices: Vec<u32>) -> Result<Vec<u8>, Failure> {
        self.each(&indices, |p| p.label)
    }

    #[wasm_bindgen(js_name = classNames)]
    pub fn class_names(&self) -> Vec<String> {
        self.folder.class_names.clone()
    }

    /// Pictures `indices` as `side` x `side` RGBA thumbnails of their centres, one after the other.
    pub fn thumbnails(&self, indices: Vec<u32>, side: usize) -> Result<Vec<u8>, Failure> {
        let side = side.clamp(1, 256);
        let shown = self.each(&indices, |p| {
            decode(&p.name, &p.bytes).map(|image| thumbnail(&image, side))
        })?;
        Ok(shown.into_iter().collect::<Result<Vec<_>, _>>()?.concat())
    }
}

impl PictureData {
    fn each<T>(
        &self,
        indices: &[u32],
        f: impl Fn(&crate::data::image_folder::Picture) -> T,
    ) -> Result<Vec<T>, Failure> {
        indices
            .iter()
            .map(|&i| match self.folder.pictures.get(i as usize) {
                Some(p) => Ok(f(p)),
                None => Err(PicturesError::NoSuchPicture { index: i as usize }.into()),
            })
            .collect()
    }
}
