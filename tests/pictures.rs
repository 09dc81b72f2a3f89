//! A person's own pictures for fine-tuning: the folder-per-class layout read, bad files named and
//! skipped, and the held-out split.
#![cfg(not(target_family = "wasm"))]

use std::path::Path;

use vit_wasm::data::archive::{self, Kind};
use vit_wasm::data::image_folder::{ImageFolder, Role, below_common_root};
use vit_wasm::error::PicturesError;
use vit_wasm::train::{hold_out, split_pictures};

/// Every file under `dir`, as `(path below it, bytes)`.
fn entries(dir: &Path, below: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{below}{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            out.extend(entries(&entry.path(), &format!("{name}/")));
        } else {
            out.push((name, std::fs::read(entry.path()).unwrap()));
        }
    }
    out
}

fn fixture() -> Vec<(String, Vec<u8>)> {
    entries(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pictures")),
        "",
    )
}

#[test]
fn a_folder_per_class_is_read_and_bad_files_are_named_and_skipped() {
    let (folder, mut notes) = ImageFolder::from_entries("pictures", fixture()).unwrap();
    notes.sort();
    assert_eq!(folder.class_names, ["disc", "square", "stripes"]);
    assert_eq!(folder.counts(Role::Train), [20, 20, 20]);
    assert_eq!(folder.pictures[0].name, "pictures/disc/disc_00.png");
    // The text files are named; the hidden one is passed over.
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(notes[0], "pictures/README.txt: not in a class folder, skipped");
    assert!(
        notes[1].starts_with("pictures/stripes/notes.txt: not an image this app can read"),
        "{notes:?}"
    );
    // The order the files come in does not matter.
    let mut reversed = fixture();
    reversed.reverse();
    let (again, _) = ImageFolder::from_entries("pictures", reversed).unwrap();
    assert_eq!(
        again.pictures.iter().map(|p| &p.name).collect::<Vec<_>>(),
        folder.pictures.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
}

#[test]
fn a_fixed_fraction_of_each_class_is_held_out_by_seed() {
    let (folder, _) = ImageFolder::from_entries("pictures", fixture()).unwrap();
    let (train, test) = hold_out(&folder, 0.2, 0).unwrap();
    assert_eq!((train.len(), test.len()), (48, 12));
    for label in 0..3u8 {
        assert_eq!(test.iter().filter(|&&i| folder.pictures[i].label == label).count(), 4);
    }
    let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..60).collect::<Vec<_>>());
    assert_eq!(hold_out(&folder, 0.2, 0).unwrap().1, test);
    assert_ne!(hold_out(&folder, 0.2, 1).unwrap().1, test);
    // At least one held out, never all.
    assert_eq!(hold_out(&folder, 0.001, 0).unwrap().1.len(), 3);
    assert_eq!(hold_out(&folder, 0.999, 0).unwrap().0.len(), 3);
}

#[test]
fn too_few_classes_or_pictures_and_unknown_test_classes_are_refused() {
    let only = |prefix: &str| {
        fixture()
            .into_iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .collect::<Vec<_>>()
    };
    let e = ImageFolder::from_entries("pictures", only("disc/")).unwrap_err();
    assert!(matches!(e, PicturesError::TooFewClasses { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("pictures: one class (disc); fine-tuning needs at least two classes"),
        "{e}"
    );
    let e = ImageFolder::from_entries("pictures", only("README")).unwrap_err();
    assert!(e.to_string().starts_with("pictures: no folder of pictures;"), "{e}");

    // One disc is not enough to hold any out.
    let mut few = only("square/");
    few.extend(only("disc/disc_00"));
    let (folder, _) = ImageFolder::from_entries("pictures", few).unwrap();
    let e = hold_out(&folder, 0.2, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "pictures/disc: 1 picture(s); holding some out for testing needs at least 2 in each class (or give a separate test folder)"
    );

    let (mut two, _) = ImageFolder::from_entries("pictures", [only("disc/"), only("square/")].concat()).unwrap();
    let e = two.add_entries("test", only("stripes/"), Role::Test).unwrap_err();
    assert_eq!(
        e.to_string(),
        "test/stripes: not one of the training classes (disc, square)"
    );
    // Nothing of a refused test folder is kept.
    assert_eq!(two.pictures.len(), 40);
}

#[test]
fn a_test_folder_replaces_the_held_out_split() {
    let (mut folder, _) = ImageFolder::from_entries("pictures", fixture()).unwrap();
    let test: Vec<_> = fixture()
        .into_iter()
        .filter(|(p, _)| p.starts_with("square/") || p.starts_with("disc/disc_0"))
        .collect();
    folder.add_entries("test", test, Role::Test).unwrap();
    assert_eq!(folder.counts(Role::Test), [10, 20, 0]);
    let (train, test) = split_pictures(&folder, 0.2, 0).unwrap();
    assert_eq!((train.len(), test.len()), (60, 30));
    assert!(
        test.iter()
            .all(|&i| folder.pictures[i].role == Role::Test && folder.pictures[i].name.starts_with("test/"))
    );
    // The same picture has the same fingerprint wherever it came from.
    let square = |root: &str| {
        folder
            .pictures
            .iter()
            .find(|p| p.name == format!("{root}/square/square_03.png"))
            .unwrap()
    };
    assert_eq!(square("pictures").fingerprint, square("test").fingerprint);
    assert_ne!(folder.pictures[0].fingerprint, folder.pictures[1].fingerprint);
}

#[test]
fn pictures_come_out_of_zip_and_tar_archives_as_out_of_folders() {
    let (folder, notes) = ImageFolder::from_entries("pictures", fixture()).unwrap();
    for archive in ["pictures.zip", "pictures.tar.gz", "pictures.tar"] {
        let bytes = std::fs::read(format!("{}/tests/fixtures/{archive}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let kind = Kind::of(&bytes).unwrap();
        let members = archive::members(&bytes, kind, |_| true).unwrap();
        let (root, below) = below_common_root(archive, members);
        assert_eq!(root, "pictures", "{archive}");
        let (read, read_notes) = ImageFolder::from_entries(&root, below).unwrap();
        assert_eq!(read.class_names, folder.class_names, "{archive}");
        assert_eq!(read.labels(), folder.labels(), "{archive}");
        let names = |f: &ImageFolder| {
            f.pictures
                .iter()
                .map(|p| (p.name.clone(), p.fingerprint.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&read), names(&folder), "{archive}");
        // The zip was made on a Mac: its __MACOSX folder is passed over.
        assert_eq!(read_notes.len(), notes.len(), "{archive}: {read_notes:?}");
    }
}

#[test]
fn hostile_archives_are_refused_within_their_bounds() {
    // 300 MB of zeros deflated into 300 KB, a zip listing too many members, and no zip at all.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pictures_hostile");
    for (file, reason) in [
        ("zip_bomb.zip", "larger than 256 MB uncompressed"),
        ("many_members.zip", "it lists more than 100000 members"),
        ("not_a_zip.zip", "invalid Zip archive"),
    ] {
        let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
        let e = archive::members(&bytes, Kind::of(&bytes).unwrap_or(Kind::Zip), |_| true).unwrap_err();
        assert!(e.contains(reason), "{file}: {e}");
    }
}

#[test]
fn dropped_archives_and_folders_mix_and_what_cannot_be_added_is_noted() {
    let read = |name: &str| std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut folder = ImageFolder::new("your pictures");
    let dropped = [
        ("pictures.zip".to_string(), read("pictures.zip")),
        (
            "hostile/not_a_zip.zip".to_string(),
            read("pictures_hostile/not_a_zip.zip"),
        ),
    ];
    let notes = folder.add_files("your pictures", dropped, Role::Train);
    assert_eq!(folder.class_names, ["disc", "square", "stripes"]);
    assert_eq!(folder.counts(Role::Train), [20, 20, 20]);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("not_a_zip.zip: not a readable archive of pictures")),
        "{notes:?}"
    );
    // A dropped test folder with a class training has not: refused whole, in a note; the rest stays.
    let other: Vec<_> = fixture()
        .into_iter()
        .filter(|(p, _)| p.starts_with("disc/"))
        .map(|(p, bytes)| (format!("extra/{}", p.replace("disc/", "round/")), bytes))
        .collect();
    let notes = folder.add_files("your pictures", other, Role::Test);
    assert_eq!(
        notes,
        ["extra/round: not one of the training classes (disc, square, stripes); skipped"]
    );
    assert_eq!(folder.pictures.len(), 60);
}
