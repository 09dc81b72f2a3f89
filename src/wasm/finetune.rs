//! The fine-tuning half of the JavaScript API: CIFAR-10 uploads, feature extraction, head
//! training, and choosing, exporting and importing heads. The page keeps the features (in memory
//! and in IndexedDB); this side keeps the images and the heads.

use std::str::FromStr;

use burn::module::Module;
use burn::nn::Linear;
use js_sys::{Float32Array, Function, Object, Promise, Reflect, Uint8Array, Uint32Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use xxhash_rust::xxh3::Xxh3;

use super::{STATE, classifier, js_err};
use crate::backend::BackendKind;
use crate::cifar::{Batch, CLASS_NAMES, NUM_CLASSES, SIDE, read_file};
use crate::classifier::Classifier;
use crate::head_file::{load_head, save_head};
use crate::head_training::{
    Confusion, EpochReport, Features, TrainOptions, extract_features, fresh_head, predict, sample, train,
};

/// The uploaded CIFAR-10 images, split as the page's two inputs say.
#[derive(Default)]
pub(super) struct Data {
    sets: [Batch; 2],
    files: [Vec<String>; 2],
    class_names: Option<Vec<String>>,
}

impl Data {
    fn class_names(&self) -> Vec<String> {
        self.class_names
            .clone()
            .unwrap_or_else(|| CLASS_NAMES.map(String::from).to_vec())
    }
}

#[derive(Clone, Copy)]
enum Split {
    Train = 0,
    Test = 1,
}

impl FromStr for Split {
    type Err = JsError;
    fn from_str(s: &str) -> Result<Self, JsError> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => Err(JsError::new(&format!("unknown split `{s}`: use train or test"))),
        }
    }
}

fn with_set<T>(split: &str, f: impl FnOnce(&Batch) -> T) -> Result<T, JsError> {
    let split: Split = split.parse()?;
    Ok(STATE.with_borrow(|s| f(&s.data.sets[split as usize])))
}

/// A head for the loaded backbone, with its class names.
pub(super) struct TrainedHead {
    head: Linear,
    labels: Vec<String>,
}

impl TrainedHead {
    /// `classifier` with this head in place of its own, on its device.
    pub(super) fn attach(&self, classifier: &Classifier) -> Classifier {
        let mut model = classifier.model.clone();
        model.head = self.head.clone().to_device(&classifier.device);
        let mut config = classifier.config.clone();
        config.labels = self.labels.clone();
        Classifier {
            model,
            config,
            backend: classifier.backend,
            device: classifier.device.clone(),
        }
    }
}

/// A 128-bit hash of some bytes, as hex, continuing `hasher`: what cached features are keyed by.
pub(super) fn fingerprint<'a>(mut hasher: Xxh3, parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    format!("{:032x}", hasher.digest128())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SetSummary {
    images: usize,
    files: Vec<String>,
    per_class: [usize; NUM_CLASSES],
    fingerprint: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DataSummary {
    train: SetSummary,
    test: SetSummary,
    class_names: Vec<String>,
}

fn summary(data: &Data) -> Result<JsValue, JsError> {
    let set = |split: Split| {
        let batch = &data.sets[split as usize];
        let mut per_class = [0; NUM_CLASSES];
        batch.labels.iter().for_each(|l| per_class[usize::from(*l)] += 1);
        SetSummary {
            images: batch.len(),
            files: data.files[split as usize].clone(),
            per_class,
            fingerprint: fingerprint(Xxh3::new(), [&batch.labels[..], &batch.pixels[..]]),
        }
    };
    let summary = DataSummary {
        train: set(Split::Train),
        test: set(Split::Test),
        class_names: data.class_names(),
    };
    Ok(serde_wasm_bindgen::to_value(&summary)?)
}

/// Adds one uploaded file to `split` (`train` or `test`). An archive holding both splits (the
/// CIFAR-10 tarballs) fills each from its members' names. Returns what both splits now hold.
#[wasm_bindgen(js_name = cifarAdd)]
pub fn cifar_add(split: String, name: String, bytes: Vec<u8>) -> Result<JsValue, JsError> {
    let split: Split = split.parse()?;
    let contents = read_file(&name, &bytes).map_err(js_err)?;
    drop(bytes);
    STATE.with_borrow_mut(|s| {
        let data = &mut s.data;
        data.class_names = contents.class_names.or(data.class_names.take());
        let single = contents.batches.len() == 1;
        for batch in contents.batches {
            let to = match (single, batch.is_test()) {
                (true, _) => split,
                (false, true) => Split::Test,
                (false, false) => Split::Train,
            } as usize;
            data.files[to].push(batch.source.clone());
            data.sets[to].labels.extend(batch.labels);
            data.sets[to].pixels.extend(batch.pixels);
        }
        summary(data)
    })
}

/// Forgets the images of `split`.
#[wasm_bindgen(js_name = cifarClear)]
pub fn cifar_clear(split: String) -> Result<JsValue, JsError> {
    let split: Split = split.parse()?;
    STATE.with_borrow_mut(|s| {
        s.data.sets[split as usize] = Batch::default();
        s.data.files[split as usize].clear();
        summary(&s.data)
    })
}

/// Images `indices` of a batch as 32x32 RGBA, one after the other, for a canvas.
fn rgba(batch: &Batch, indices: impl IntoIterator<Item = usize>) -> Vec<u8> {
    let plane = SIDE * SIDE;
    let mut out = Vec::new();
    for i in indices {
        let image = batch.image(i);
        for p in 0..plane {
            out.extend_from_slice(&[image[p], image[plane + p], image[2 * plane + p], 255]);
        }
    }
    out
}

/// The first `per_class` images of each class in `split`: `{ labels, rgba }`.
#[wasm_bindgen(js_name = cifarPreview)]
pub fn cifar_preview(split: String, per_class: usize) -> Result<JsValue, JsError> {
    with_set(&split, |batch| {
        let mut taken = [0; NUM_CLASSES];
        let mut picked: Vec<usize> = (0..batch.len())
            .filter(|&i| {
                let class = usize::from(batch.labels[i]);
                taken[class] += 1;
                taken[class] <= per_class
            })
            .collect();
        picked.sort_by_key(|&i| batch.labels[i]);
        let labels: Vec<u8> = picked.iter().map(|&i| batch.labels[i]).collect();
        object(&[
            ("labels", Uint8Array::from(&labels[..]).into()),
            ("rgba", Uint8Array::from(&rgba(batch, picked)[..]).into()),
        ])
    })?
}

/// Images `indices` of `split` as 32x32 RGBA, one after the other.
#[wasm_bindgen(js_name = cifarImages)]
pub fn cifar_images(split: String, indices: Vec<u32>) -> Result<Vec<u8>, JsError> {
    with_set(&split, |batch| {
        match indices.iter().find(|&&i| i as usize >= batch.len()) {
            Some(i) => Err(JsError::new(&format!("no image {i} in the {split} set"))),
            None => Ok(rgba(batch, indices.iter().map(|&i| i as usize))),
        }
    })?
}

fn object(fields: &[(&str, JsValue)]) -> Result<JsValue, JsError> {
    let object = Object::new();
    for (key, value) in fields {
        Reflect::set(&object, &(*key).into(), value).map_err(|_| JsError::new("cannot build a result object"))?;
    }
    Ok(object.into())
}

/// Class-token features of the sample's images `from..to` (see `head_training::sample`), in
/// `split`, mirrored when `flip`: `{ values, labels, indices, complete }`. `progress(done,
/// total)` is called after each batch of images; a false result (or a promise of one) cancels,
/// and then the result holds the images done so far.
#[wasm_bindgen(js_name = extractFeatures)]
pub async fn extract(
    split: String,
    from: usize,
    to: usize,
    flip: bool,
    progress: Function,
) -> Result<JsValue, JsError> {
    let c = classifier()?;
    let split_kind: Split = split.parse()?;
    // The images are copied out so that an upload during extraction cannot change them.
    let batch = STATE.with_borrow(|s| s.data.sets[split_kind as usize].clone());
    if to > batch.len() || from > to {
        return Err(JsError::new(&format!(
            "the {split} set has {} images; images {from} to {to} were asked for",
            batch.len()
        )));
    }
    let indices = &sample(batch.len(), to)[from..];
    // Bigger batches keep a GPU busy; on the CPU, small ones keep progress and cancel prompt.
    let chunk = if c.backend == BackendKind::Wgpu { 16 } else { 4 };
    let go_on = async |done: usize, total: usize| -> bool {
        let Ok(answer) = progress.call2(&JsValue::NULL, &done.into(), &total.into()) else {
            return false;
        };
        let answer = JsFuture::from(Promise::resolve(&answer)).await;
        answer.is_ok_and(|a| a.is_truthy())
    };
    let features = extract_features(&c, &batch, indices, flip, chunk, go_on)
        .await
        .map_err(js_err)?;
    let done: Vec<u32> = indices[..features.len()].iter().map(|&i| i as u32).collect();
    object(&[
        ("values", Float32Array::from(&features.values[..]).into()),
        ("labels", Uint8Array::from(&features.labels[..]).into()),
        ("indices", Uint32Array::from(&done[..]).into()),
        ("complete", (done.len() == indices.len()).into()),
    ])
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrainResult {
    reports: Vec<EpochReport>,
    /// `confusion[true][predicted]` on the test images.
    confusion: Vec<Vec<usize>>,
    test_predictions: Vec<usize>,
    class_names: Vec<String>,
}

/// Trains a fresh head on features from `extractFeatures` and makes it the trained head.
/// `onStep(step, loss)` hears every batch, `onEpoch(report)` every epoch.
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen(js_name = trainHead)]
pub async fn train_head(
    train_values: Vec<f32>,
    train_labels: Vec<u8>,
    test_values: Vec<f32>,
    test_labels: Vec<u8>,
    options: JsValue,
    on_step: Function,
    on_epoch: Function,
) -> Result<JsValue, JsError> {
    let c = classifier()?;
    let options: TrainOptions = serde_wasm_bindgen::from_value(options)?;
    let hidden = c.config.hidden_size;
    let train_set = Features::from_parts(hidden, train_values, train_labels).map_err(js_err)?;
    let test_set = Features::from_parts(hidden, test_values, test_labels).map_err(js_err)?;
    let class_names = STATE.with_borrow(|s| s.data.class_names());
    let head = fresh_head(hidden, class_names.len(), options.seed, &c.device);
    let (head, reports) = train(
        head,
        &train_set,
        &test_set,
        &options,
        c.backend,
        &c.device,
        |step, loss| {
            let _ = on_step.call2(&JsValue::NULL, &step.into(), &loss.into());
        },
        |report| {
            if let Ok(report) = serde_wasm_bindgen::to_value(report) {
                let _ = on_epoch.call1(&JsValue::NULL, &report);
            }
        },
    )
    .await
    .map_err(js_err)?;
    let test_predictions = predict(&head, &test_set, c.backend, &c.device).await.map_err(js_err)?;
    let confusion = Confusion::new(class_names.len(), &test_set.labels, &test_predictions).counts;
    STATE.with_borrow_mut(|s| {
        s.trained = Some(TrainedHead {
            head,
            labels: class_names.clone(),
        });
        s.use_trained = true;
    });
    Ok(serde_wasm_bindgen::to_value(&TrainResult {
        reports,
        confusion,
        test_predictions,
        class_names,
    })?)
}

/// The trained head as a `.safetensors` file.
#[wasm_bindgen(js_name = exportHead)]
pub async fn export_head() -> Result<Vec<u8>, JsError> {
    let c = classifier()?;
    let (head, labels) = STATE
        .with_borrow(|s| s.trained.as_ref().map(|t| (t.head.clone(), t.labels.clone())))
        .ok_or_else(|| JsError::new("there is no trained head to export"))?;
    save_head(&head, &labels, c.backend).await.map_err(js_err)
}

/// Reads a head exported before, for the loaded model, and makes it the trained head. Returns
/// its class names.
#[wasm_bindgen(js_name = importHead)]
pub fn import_head(name: String, bytes: Vec<u8>) -> Result<Vec<String>, JsError> {
    let c = classifier()?;
    let (head, labels) = load_head(&name, &bytes, c.config.hidden_size, &c.device).map_err(js_err)?;
    STATE.with_borrow_mut(|s| {
        s.trained = Some(TrainedHead {
            head,
            labels: labels.clone(),
        });
        s.use_trained = true;
    });
    Ok(labels)
}

/// Classifies with the trained head (`trained`) or the model's own (`original`).
#[wasm_bindgen(js_name = useHead)]
pub fn use_head(which: String) -> Result<(), JsError> {
    STATE.with_borrow_mut(|s| match which.as_str() {
        "original" => {
            s.use_trained = false;
            Ok(())
        }
        "trained" if s.trained.is_some() => {
            s.use_trained = true;
            Ok(())
        }
        "trained" => Err(JsError::new("there is no trained head yet")),
        _ => Err(JsError::new(&format!(
            "unknown head `{which}`: use original or trained"
        ))),
    })
}
