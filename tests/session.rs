//! The session's rules, natively: what the page's worker (`wasm::Model`) and the CLI both run.

mod common;

use common::{Fixture, IMAGES, max_abs_diff, reference};
use vit_wasm::backend::BackendKind;
use vit_wasm::error::VitError;
use vit_wasm::fingerprint::Fingerprint;
use vit_wasm::load::Head;
use vit_wasm::load::safetensors_file::SafetensorsReader;
use vit_wasm::session::{BATCH, FeatureSets, HeadChoice, Session};
use vit_wasm::train::{Features, TrainOptions};

fn session(fixture: Fixture, backend: BackendKind) -> Session {
    let device = pollster::block_on(backend.device()).unwrap();
    Session::load(fixture.files(), &device).unwrap()
}

/// Every fixture image, as files.
fn files() -> Vec<(String, Vec<u8>)> {
    IMAGES
        .iter()
        .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
        .collect()
}

/// The images every decoder reads to the reference's pixels.
const LOSSLESS: [&str; 5] = ["gradient.png", "disc_rgba.png", "grey.png", "noise.webp", "checker.bmp"];

/// The model's own head as a head file.
fn own_head_file(fixture: Fixture) -> Vec<u8> {
    let classifier = pollster::block_on(common::classifier(fixture, BackendKind::Flex));
    let head = Head {
        linear: classifier.model.head.clone().unwrap(),
        labels: classifier.labels.clone(),
    };
    pollster::block_on(head.to_bytes()).unwrap()
}

#[test]
fn a_list_is_classified_batch_by_batch_with_an_answer_or_an_error_per_file() {
    let s = session(Fixture::Hf, BackendKind::Flex);
    // Eleven files, one of them no image: two passes (eight files, one of which fails, then three).
    let mut list = files();
    list.insert(2, ("notes.txt".into(), b"not an image".to_vec()));
    list.extend(files().into_iter().take(3));
    assert_eq!(list.len(), BATCH + 3);
    let results = pollster::block_on(s.classify(list.clone(), 3, true)).unwrap();
    assert_eq!(results.len(), list.len());
    for ((name, _), result) in list.iter().zip(&results) {
        match result {
            Err(e) => {
                assert_eq!(name, "notes.txt");
                assert_eq!(e.code(), "bad-image");
                assert!(e.to_string().starts_with("notes.txt: "), "{e}");
            }
            Ok(c) => {
                assert_eq!(c.top_k.len(), 3);
                assert_eq!(c.backend, "flex");
                assert_eq!(c.grid, 6);
                assert_eq!(c.attention.len(), 36);
                if LOSSLESS.contains(&name.as_str()) {
                    let diff = max_abs_diff(&c.logits, &reference(name, "hf.logits"));
                    assert!(diff < 1e-4, "{name}: {diff}");
                }
            }
        }
    }
    let batches: Vec<usize> = results.iter().flatten().map(|c| c.batch).collect();
    assert_eq!(batches, [vec![BATCH - 1; BATCH - 1], vec![3; 3]].concat());
    // Without the attention map, the same answers.
    let plain = pollster::block_on(s.classify(list, 3, false)).unwrap();
    for (a, b) in results.iter().zip(&plain) {
        if let (Ok(a), Ok(b)) = (a, b) {
            assert!(b.attention.is_empty());
            assert!(max_abs_diff(&a.logits, &b.logits) < 1e-5);
        }
    }
}

#[test]
fn a_backbone_answers_only_once_it_has_a_head() {
    let mut s = session(Fixture::HfHeadless, BackendKind::Flex);
    assert_eq!(s.info().num_labels, 0);
    let e = pollster::block_on(s.classify(files(), 5, false)).unwrap_err();
    assert!(matches!(e, VitError::NoHead), "{e}");
    let labels = s.import_head("head.safetensors", &own_head_file(Fixture::Hf)).unwrap();
    assert_eq!(labels, common::LABELS);
    let results = pollster::block_on(s.classify(files(), 5, false)).unwrap();
    let grey = results[3].as_ref().unwrap();
    assert!(max_abs_diff(&grey.logits, &reference("grey.png", "hf.logits")) < 1e-4);
}

#[test]
fn heads_are_chosen_and_one_for_another_input_size_is_dropped() {
    let mut s = session(Fixture::Hf, BackendKind::Flex);
    let head_error = |s: &mut Session| s.use_head(HeadChoice::Trained).unwrap_err().to_string();
    assert_eq!(head_error(&mut s), "there is no trained head yet");
    assert_eq!(
        pollster::block_on(s.export_head()).unwrap_err().to_string(),
        "there is no trained head to export"
    );
    assert!(matches!(
        s.import_head("model.safetensors", common::HF_WEIGHTS),
        Err(VitError::Head(_))
    ));
    // A head of other classes, imported, is the one in use until the own one is chosen again.
    let features = Features::from_parts(48, vec![0.1; 2 * 48], vec![0, 1]).unwrap();
    let sets = FeatureSets {
        train: features.clone(),
        mirrored: Some(features.clone()),
        test: features,
    };
    assert_eq!(sets.clone().into_training().0.len(), 4);
    let names = vec!["yes".to_string(), "no".to_string()];
    let fitted = pollster::block_on(s.train_head(sets, names.clone(), &TrainOptions::default(), |_| {})).unwrap();
    assert_eq!(fitted.head.labels, names);
    let top = |s: &Session| {
        let results = pollster::block_on(s.classify(files(), 1, false)).unwrap();
        results[3].as_ref().unwrap().top_k[0].label.clone()
    };
    assert!(names.contains(&top(&s)));
    assert!(!pollster::block_on(s.export_head()).unwrap().is_empty());
    s.use_head(HeadChoice::Own).unwrap();
    assert!(common::LABELS.contains(&top(&s).as_str()));
    s.use_head(HeadChoice::Trained).unwrap();
    // Another input size is another model: its trained head goes.
    s.at_image_size(64).unwrap();
    assert_eq!((s.info().image_size, s.info().native_image_size), (64, 48));
    assert!(common::LABELS.contains(&top(&s).as_str()));
    assert_eq!(head_error(&mut s), "there is no trained head yet");
    assert!(matches!("own".parse::<HeadChoice>(), Err(VitError::Request(_))));
}

#[test]
fn the_model_moves_between_backends_at_the_size_it_runs_at() {
    let mut s = session(Fixture::Hf, BackendKind::Flex);
    s.at_image_size(64).unwrap();
    let before = pollster::block_on(s.classify(files(), 5, false)).unwrap();
    let ndarray = pollster::block_on(BackendKind::Ndarray.device()).unwrap();
    s.move_to(&ndarray).unwrap();
    let info = s.info();
    assert_eq!((info.backend, info.image_size), ("ndarray", 64));
    let after = pollster::block_on(s.classify(files(), 5, false)).unwrap();
    for (a, b) in before.iter().zip(&after) {
        assert!(max_abs_diff(&a.as_ref().unwrap().logits, &b.as_ref().unwrap().logits) < 1e-4);
    }
    // Back at its own size, it is the stored model again.
    s.at_image_size(48).unwrap();
    let own = pollster::block_on(s.classify(files(), 5, false)).unwrap();
    assert!(max_abs_diff(&own[3].as_ref().unwrap().logits, &reference("grey.png", "hf.logits")) < 1e-4);
}

#[test]
fn sizes_the_model_cannot_run_at_are_refused_and_it_runs_on() {
    let mut s = session(Fixture::Hf, BackendKind::Flex);
    let info = s.info();
    assert_eq!(info.max_image_size, 64 * 8);
    for bad in [50, 0, info.max_image_size + 8] {
        let e = s.at_image_size(bad).unwrap_err();
        assert_eq!(e.code(), "bad-request", "{bad}: {e}");
    }
    s.at_image_size(info.max_image_size).unwrap();
    assert_eq!(s.info().image_size, info.max_image_size);
}

#[test]
fn a_model_streamed_in_has_the_fingerprint_of_the_same_files_read_whole() {
    let device = pollster::block_on(BackendKind::Flex.device()).unwrap();
    let whole = Session::load(Fixture::Hf.files(), &device).unwrap();
    let files = Fixture::Hf.files();
    let mut reader = SafetensorsReader::new("model.safetensors");
    let mut hash = Fingerprint::default();
    for chunk in files.weights.bytes.chunks(1000) {
        reader.push(chunk).unwrap();
        hash.update(chunk);
    }
    let streamed = Session::from_weights(
        reader.finish().unwrap(),
        hash,
        files.config,
        files.preprocessor,
        &device,
    )
    .unwrap();
    assert_eq!(streamed.info().fingerprint, whole.info().fingerprint);
    // Another config is another model.
    let timm = Session::load(Fixture::Timm.files(), &device).unwrap();
    assert_ne!(timm.info().fingerprint, whole.info().fingerprint);
}
