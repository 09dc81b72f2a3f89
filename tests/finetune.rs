//! CIFAR-10 reading and head training: the parsers on every format, the loss curve against
//! PyTorch's AdamW, and the whole pipeline on the synthetic CIFAR-10 fixtures.
#![cfg(not(target_family = "wasm"))]

mod common;

use vit_wasm::backend::BackendKind;
use vit_wasm::data::cifar::{CLASS_NAMES, Contents, read_file};
use vit_wasm::error::DataError;
use vit_wasm::train::{Progress, TrainOptions};

const CIFAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cifar/");

fn read(name: &str) -> Result<Contents, DataError> {
    read_file(name, &std::fs::read(format!("{CIFAR}{name}")).unwrap())
}

#[test]
fn every_accepted_format_reads_the_same_images() {
    let binary = read("data_batch_1.bin").unwrap();
    assert_eq!(binary.batches.len(), 1);
    let b = &binary.batches[0];
    assert_eq!((b.images.len(), b.images.values.len()), (200, 200 * 3072));
    assert!(b.images.labels.iter().all(|l| *l < 10) && !b.is_test());

    let python = read("data_batch_1").unwrap();
    assert_eq!(python.batches[0].images.labels, b.images.labels);
    assert_eq!(python.batches[0].images.values, b.images.values);

    for tarball in ["cifar-10-binary.tar.gz", "cifar-10-python.tar.gz"] {
        let contents = read(tarball).unwrap();
        let names: Vec<_> = contents
            .batches
            .iter()
            .map(|b| b.source.rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(names.len(), 3, "{tarball}: {names:?}");
        assert_eq!(contents.batches.iter().filter(|b| b.is_test()).count(), 1, "{tarball}");
        assert_eq!(contents.batches[0].images.values, b.images.values, "{tarball}");
        assert_eq!(
            contents.class_names.as_deref(),
            Some(&CLASS_NAMES.map(String::from)[..]),
            "{tarball}"
        );
    }
    assert_eq!(read("batches.meta.txt").unwrap().class_names.unwrap(), CLASS_NAMES);
}

#[test]
fn malformed_files_get_errors_that_name_them() {
    let e = read("malformed/partial_record.bin").unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed/partial_record.bin: 9119 bytes is not a whole number of 3073-byte CIFAR-10 records (1 label byte + 3072 pixels)"
    );
    let e = read("malformed/bad_label.bin").unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed/bad_label.bin: record 1 has label 12; CIFAR-10 labels are 0 to 9"
    );
    let e = read("malformed/bad_label_pickle").unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed/bad_label_pickle: record 2 has label 11; CIFAR-10 labels are 0 to 9"
    );
    let e = read("malformed/corrupt.tar.gz").unwrap_err();
    assert!(matches!(e, DataError::Archive { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("malformed/corrupt.tar.gz: not a readable CIFAR-10 archive"),
        "{e}"
    );
    let e = read("malformed/truncated_pickle").unwrap_err();
    assert!(matches!(e, DataError::Pickle { .. }), "{e}");
    assert!(matches!(read_file("empty.bin", b""), Err(DataError::Empty { .. })));
    let e = read_file("batches.meta.txt", b"cat\ndog\n").unwrap_err();
    assert_eq!(e.to_string(), "batches.meta.txt: names 2 classes; CIFAR-10 has 10");
}

#[test]
fn pickles_from_python_2_and_protocol_5_read_the_same_images() {
    let binary = read("hostile/small_batch.bin").unwrap().batches.remove(0);
    for name in ["hostile/protocol5_batch", "hostile/python2_batch"] {
        let batch = read(name).unwrap().batches.remove(0);
        assert_eq!(batch.images, binary.images, "{name}");
    }
}

#[test]
fn hostile_files_get_clear_errors_in_bounded_memory() {
    let pickle_error = |name: &str, reason: &str| {
        let e = read(name).unwrap_err();
        assert!(matches!(e, DataError::Pickle { .. }), "{name}: {e}");
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("{name}: not a CIFAR-10 Python batch")),
            "{message}"
        );
        assert!(message.contains(reason), "{message}");
        // An error quotes no more than a short description of what it found.
        assert!(message.len() < 200, "{} bytes: {message:.200}", message.len());
    };
    pickle_error(
        "hostile/int8_pickle",
        "`data` has dtype i1; CIFAR-10's pixels are uint8 (u1)",
    );
    pickle_error("hostile/bool_pickle", "`data` has dtype b1");
    pickle_error("hostile/batches.meta", "label_names[0] is the integer 0, not a name");
    pickle_error(
        "hostile/quadratic_pickle",
        "label 0 is a list of 20000 items, not an integer",
    );
    pickle_error(
        "hostile/dup_pickle",
        "a container changed after it was put into another",
    );
    pickle_error("hostile/deep_pickle", "it nests deeper than 32 levels");
    let e = read("hostile/dup_bomb.tar.gz").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("hostile/dup_bomb.tar.gz/cifar-10-batches-py/data_batch_1: not a CIFAR-10 Python batch"),
        "{e}"
    );
    // More than an archive may hold once uncompressed: in members, or in a long name.
    for name in ["hostile/too_big.tar.gz", "hostile/long_name.tar.gz"] {
        let e = read(name).unwrap_err();
        assert!(matches!(e, DataError::Archive { .. }), "{name}: {e}");
        assert!(e.to_string().contains("larger than 256 MB uncompressed"), "{e}");
    }
}

#[test]
fn adamw_loss_curve_matches_pytorch() {
    for backend in [BackendKind::Flex, BackendKind::Ndarray] {
        pollster::block_on(common::check_loss_curve(backend));
    }
}

#[test]
fn the_whole_pipeline_learns_the_synthetic_classes() {
    use vit_wasm::load::Head;
    use vit_wasm::train::{Confusion, extract_features, fresh_head, predict, train};

    let backend = BackendKind::Flex;
    let classifier = pollster::block_on(common::classifier(common::Fixture::Hf, backend));
    let train_batches: Vec<_> = ["data_batch_1.bin", "data_batch_2.bin"]
        .iter()
        .map(|f| read(f).unwrap().batches.remove(0))
        .collect();
    let test_batch = read("test_batch.bin").unwrap().batches.remove(0);

    let features = |batch: &vit_wasm::data::cifar::Batch, flip: bool| {
        let batch = &batch.images;
        let all: Vec<usize> = (0..batch.len()).collect();
        let mut calls = 0;
        let f = pollster::block_on(extract_features(
            &classifier,
            batch,
            &all,
            flip,
            64,
            async |done, total| {
                calls += 1;
                assert!(done <= total && total == batch.len());
                true
            },
        ));
        assert_eq!(calls, batch.len().div_ceil(64));
        f.unwrap()
    };
    let mut train_set = features(&train_batches[0], false);
    train_set.extend(&features(&train_batches[1], false));
    train_set.extend(&features(&train_batches[0], true));
    let test_set = features(&test_batch, false);
    assert_eq!((train_set.len(), test_set.len()), (600, 200));

    let options = TrainOptions {
        learning_rate: 1e-2,
        seed: 7,
        ..TrainOptions::default()
    };
    let head = fresh_head(48, 10, options.seed, &classifier.device);
    let mut steps = Vec::new();
    let mut epochs = Vec::new();
    let (head, reports) =
        pollster::block_on(train(
            head,
            &train_set,
            &test_set,
            &options,
            &classifier.device,
            |p| match p {
                Progress::Step { step, loss } => steps.push((step, loss)),
                Progress::Epoch(r) => epochs.push(r.clone()),
            },
        ))
        .unwrap();
    assert_eq!(steps.len(), 5 * 600usize.div_ceil(32));
    assert_eq!(epochs, reports);
    let last = reports.last().unwrap();
    assert!(last.test_accuracy >= 0.9, "test accuracy {}", last.test_accuracy);
    assert!(reports[0].mean_loss > last.mean_loss);

    // Export, import, and the same predictions.
    let labels: Vec<String> = CLASS_NAMES.map(String::from).to_vec();
    let trained = Head {
        linear: head,
        labels: labels.clone(),
    };
    let bytes = pollster::block_on(trained.to_bytes()).unwrap();
    assert!(bytes.len() < 4096, "{} bytes", bytes.len());
    let again = Head::from_bytes("head.safetensors", &bytes, 48, &classifier.device).unwrap();
    assert_eq!(again.labels, labels);
    let before = pollster::block_on(predict(&trained.linear, &test_set, &classifier.device)).unwrap();
    let after = pollster::block_on(predict(&again.linear, &test_set, &classifier.device)).unwrap();
    assert_eq!(before, after);
    assert!((Confusion::new(10, &test_set.labels, &after).accuracy() - last.test_accuracy).abs() < 1e-12);

    // A head for another backbone width is refused with both shapes.
    let e = Head::from_bytes("head.safetensors", &bytes, 768, &classifier.device).unwrap_err();
    assert_eq!(
        e.to_string(),
        "head.safetensors: tensor `head.weight` has shape [10, 48], expected [classes, 768] for this model"
    );
}

#[test]
fn a_cancelled_extraction_keeps_the_images_done() {
    use vit_wasm::train::extract_features;
    let classifier = pollster::block_on(common::classifier(common::Fixture::Hf, BackendKind::Flex));
    let batch = read("test_batch.bin").unwrap().batches.remove(0);
    let indices = [5, 3, 8, 1, 0, 9];
    let batch = &batch.images;
    let f = pollster::block_on(extract_features(
        &classifier,
        batch,
        &indices,
        false,
        4,
        async |_, _| false,
    ))
    .unwrap();
    assert_eq!(f.labels, [5, 3, 8, 1].map(|i| batch.labels[i]));
    assert_eq!(f.values.len(), 4 * 48);
}

#[test]
fn training_refuses_bad_options_and_labels() {
    use vit_wasm::error::VitError;
    use vit_wasm::train::{Features, fresh_head, train};
    let device = pollster::block_on(BackendKind::Flex.device()).unwrap();
    let set = Features::from_parts(2, vec![0.5, -1.0, 2.0, 0.0], vec![0, 2]).unwrap();
    let run = |set: &Features, options: TrainOptions| {
        let head = fresh_head(2, 2, 0, &device);
        pollster::block_on(train(head, set, set, &options, &device, |_| {}))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        run(&set, TrainOptions::default()),
        "cannot train the head: a training label is 2, but the head has 2 classes"
    );
    let fine = Features::from_parts(2, vec![0.5, -1.0, 2.0, 0.0], vec![0, 1]).unwrap();
    let bad_lr = TrainOptions {
        learning_rate: 0.0,
        ..TrainOptions::default()
    };
    assert_eq!(
        run(&fine, bad_lr),
        "cannot train the head: the learning rate must be a positive number"
    );
    let no_epochs = TrainOptions {
        epochs: 0,
        ..TrainOptions::default()
    };
    assert_eq!(
        run(&fine, no_epochs),
        "cannot train the head: the number of epochs must be at least 1"
    );
    assert_eq!(
        run(&Features::new(2), TrainOptions::default()),
        "cannot train the head: there are no training images"
    );
    assert!(matches!(
        Features::from_parts(2, vec![0.0; 3], vec![0]),
        Err(VitError::Training(m)) if m == "3 feature values for 1 labels; expected 2 (rows of 2)"
    ));
}

#[test]
fn head_files_without_names_get_numbered_labels_and_bad_names_are_refused() {
    use safetensors::tensor::{Dtype, TensorView, serialize};
    use vit_wasm::load::Head;
    let device = pollster::block_on(BackendKind::Flex.device()).unwrap();
    let (w, b) = (vec![0u8; 2 * 3 * 4], vec![0u8; 2 * 4]);
    let file = |labels: Option<&str>| {
        let tensors = [
            ("head.weight", TensorView::new(Dtype::F32, vec![2, 3], &w).unwrap()),
            ("head.bias", TensorView::new(Dtype::F32, vec![2], &b).unwrap()),
        ];
        let metadata = labels.map(|l| std::collections::HashMap::from([("labels".to_string(), l.to_string())]));
        serialize(tensors, metadata).unwrap()
    };
    let head = Head::from_bytes("plain.safetensors", &file(None), 3, &device).unwrap();
    assert_eq!(head.labels, ["LABEL_0", "LABEL_1"]);
    let e = Head::from_bytes("odd.safetensors", &file(Some(r#"["cat"]"#)), 3, &device).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"odd.safetensors: `labels (metadata)` is ["cat"], which is not usable (expected a JSON list of 2 class names)"#
    );
}
