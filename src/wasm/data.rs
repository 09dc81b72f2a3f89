//! The CIFAR-10 images uploaded to the page, split as its two inputs say (`data::Splits`).

use js_sys::Uint8Array;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::error::{Failure, to_js};
use crate::data::cifar::{Images, first_per_class, read_file, rgba};
use crate::data::splits::OtherSplit;
use crate::data::{Split, Splits};
use crate::error::VitError;

#[wasm_bindgen]
#[derive(Default)]
pub struct CifarData {
    splits: Splits,
}

#[derive(Serialize)]
struct Preview {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    labels: JsValue,
    /// 32x32 RGBA images, one after the other, for a canvas.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    rgba: JsValue,
}

impl CifarData {
    pub(super) fn images(&self, split: &str) -> Result<&Images, VitError> {
        Ok(self.splits.images(split.parse()?))
    }
}

#[wasm_bindgen]
impl CifarData {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one file to `split` (`train` or `test`); an archive holding both splits (the
    /// CIFAR-10 tarballs) fills each from its members' names. Returns what both splits hold.
    #[wasm_bindgen(unchecked_return_type = "import('../protocol.js').CifarSummary")]
    pub fn add(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').SplitName")] split: String,
        name: String,
        bytes: Vec<u8>,
    ) -> Result<JsValue, Failure> {
        let split: Split = split.parse()?;
        let contents = read_file(&name, &bytes)?;
        drop(bytes);
        self.splits.add(split, contents, OtherSplit::Keep);
        to_js(&self.splits.summary())
    }

    /// What both splits hold.
    #[wasm_bindgen(unchecked_return_type = "import('../protocol.js').CifarSummary")]
    pub fn summary(&self) -> Result<JsValue, Failure> {
        to_js(&self.splits.summary())
    }

    /// Forgets the images of `split`. Returns what both splits hold.
    #[wasm_bindgen(unchecked_return_type = "import('../protocol.js').CifarSummary")]
    pub fn clear(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').SplitName")] split: String,
    ) -> Result<JsValue, Failure> {
        self.splits.clear(split.parse()?);
        to_js(&self.splits.summary())
    }

    /// The first `per_class` images of each class in `split`.
    #[wasm_bindgen(unchecked_return_type = "import('../protocol.js').CifarPreview")]
    pub fn preview(
        &self,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').SplitName")] split: String,
        per_class: usize,
    ) -> Result<JsValue, Failure> {
        let images = self.images(&split)?;
        let picked = first_per_class(images, per_class);
        let labels: Vec<u8> = picked.iter().map(|&i| images.labels[i]).collect();
        to_js(&Preview {
            labels: Uint8Array::from(&labels[..]).into(),
            rgba: Uint8Array::from(&rgba(images, picked)[..]).into(),
        })
    }

    /// Images `indices` of `split` as 32x32 RGBA, one after the other.
    pub fn rgba(
        &self,
        #[wasm_bindgen(unchecked_param_type = "import('../protocol.js').SplitName")] split: String,
        indices: Vec<u32>,
    ) -> Result<Vec<u8>, Failure> {
        let indices: Vec<usize> = indices.into_iter().map(|i| i as usize).collect();
        Ok(self.splits.rgba(split.parse()?, &indices)?)
    }

    /// The class names: from a `batches.meta` file among those added, else CIFAR-10's.
    #[wasm_bindgen(js_name = classNames)]
    pub fn class_names(&self) -> Vec<String> {
        self.splits.class_names()
    }
}
