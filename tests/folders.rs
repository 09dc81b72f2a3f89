//! Folders of pictures as real file systems make them (`data::folder_reader`, what `vit finetune
//! --train DIR` reads): links that loop or lead back up the tree, the same file twice, devices
//! and FIFOs, names that are not UTF-8, empty class folders, pictures deep down. Each is read
//! once or skipped with a note that names it, never merged, never hung on.
#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vit_wasm::data::folder_reader::{FolderRead, read_folder};
use vit_wasm::data::image_folder::{ImageFolder, MAX_BYTES, Role};
use vit_wasm::error::{PicturesError, VitError};
use vit_wasm::train::split_pictures;

/// A fresh folder of its own for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vit-folders-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small PNG, different for each `seed`.
fn png(seed: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(4, 4, image::Rgb([seed, 255 - seed, 7]))
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

/// `class/NAME.png` files, `n` per class.
fn classes(root: &Path, names: &[&str], n: u8) {
    for (c, class) in names.iter().enumerate() {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..n {
            std::fs::write(root.join(class).join(format!("{i}.png")), png(c as u8 * 16 + i)).unwrap();
        }
    }
}

fn read(dir: &Path) -> FolderRead {
    read_folder(dir, &mut 0).unwrap()
}

fn files(read: &FolderRead) -> Vec<&str> {
    let mut files: Vec<&str> = read
        .entries
        .iter()
        .map(|(p, _)| p.as_str())
        .filter(|p| !p.ends_with('/'))
        .collect();
    files.sort();
    files
}

fn noted(read: &FolderRead, what: &str) -> bool {
    read.notes.iter().any(|n| n.contains(what))
}

#[test]
fn links_back_up_the_tree_are_read_once_and_named() {
    let dir = scratch("loops");
    classes(&dir, &["blue", "red"], 3);
    symlink(".", dir.join("red/again")).unwrap();
    symlink("..", dir.join("red/up")).unwrap();
    symlink(".", dir.join("all")).unwrap();
    symlink("../blue", dir.join("red/blue")).unwrap();
    // Out of the folder: a folder is not walked into (`/` would be the whole system), a file is read.
    symlink("/etc", dir.join("red/etc")).unwrap();
    symlink("..", dir.join("outside")).unwrap();
    let elsewhere = scratch("loops-elsewhere");
    std::fs::write(elsewhere.join("far.png"), png(99)).unwrap();
    symlink(elsewhere.join("far.png"), dir.join("blue/far.png")).unwrap();
    // The same file twice: a link to it, and a hard link.
    symlink("0.png", dir.join("red/zero.png")).unwrap();
    std::fs::hard_link(dir.join("red/1.png"), dir.join("red/one.png")).unwrap();
    let start = Instant::now();
    let read = read(&dir);
    assert!(start.elapsed() < Duration::from_secs(5));
    let expected = [
        "blue/0.png",
        "blue/1.png",
        "blue/2.png",
        "blue/far.png",
        "red/0.png",
        "red/1.png",
        "red/2.png",
    ];
    assert_eq!(files(&read), expected);
    for link in [
        "red/again",
        "red/up",
        "/all",
        "red/blue",
        "red/zero.png",
        "red/one.png",
        "red/etc: a link to /etc, outside",
        "/outside: a link to",
    ] {
        assert!(noted(&read, link), "{link} is not named: {:?}", read.notes);
    }
    assert!(noted(&read, "red/zero.png: the same file as"), "{:?}", read.notes);
    // Seven pictures in two classes, not a phantom class `all` and not red's copies of blue.
    let (folder, _) = ImageFolder::from_entries(&read.root, read.entries).unwrap();
    assert_eq!(folder.class_names, ["blue", "red"]);
    assert_eq!(folder.counts(Role::Train), [4, 3]);
    std::fs::remove_dir_all(elsewhere).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn only_regular_files_are_read_and_a_fifo_never_blocks() {
    let dir = scratch("special");
    classes(&dir, &["cat", "dog"], 2);
    symlink("/dev/zero", dir.join("cat/zero.png")).unwrap();
    symlink("/dev/urandom", dir.join("dog/noise.png")).unwrap();
    let fifo = dir.join("dog/pipe.png");
    let path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    // A file that claims no size and has some: read as it is, bounded as it is read.
    symlink("/proc/self/status", dir.join("cat/status.png")).unwrap();
    symlink("/nowhere/at/all.png", dir.join("cat/dangling.png")).unwrap();
    let start = Instant::now();
    let read = read(&dir);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        noted(&read, "cat/zero.png: not a regular file (a device)"),
        "{:?}",
        read.notes
    );
    assert!(noted(&read, "dog/noise.png: not a regular file (a device)"));
    assert!(noted(&read, "dog/pipe.png: not a regular file (a FIFO)"));
    assert!(noted(&read, "cat/dangling.png: cannot be read"));
    let (folder, notes) = ImageFolder::from_entries(&read.root, read.entries).unwrap();
    assert_eq!(folder.counts(Role::Train), [2, 2]);
    assert!(
        notes.iter().any(|n| n.contains("cat/status.png: not an image")),
        "{notes:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reads_stop_at_the_bound_as_the_bytes_come() {
    let dir = scratch("bound");
    classes(&dir, &["a", "b"], 1);
    // Nearly the whole bound spent already: a file larger than what is left stops the run.
    std::fs::write(dir.join("a/big.png"), vec![0u8; 4096]).unwrap();
    let mut total = MAX_BYTES - 1000;
    let e = read_folder(&dir, &mut total).unwrap_err();
    assert!(matches!(e, PicturesError::TooManyBytes { .. }), "{e}");
    assert!(total <= MAX_BYTES);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn names_that_are_not_utf8_are_named_and_never_merge() {
    let dir = scratch("names");
    classes(&dir, &["fine", "ok"], 2);
    for byte in [0xff, 0xfe] {
        let name = dir.join(OsStr::from_bytes(&[b'c', byte]));
        std::fs::create_dir(&name).unwrap();
        std::fs::write(name.join("1.png"), png(byte)).unwrap();
    }
    std::fs::write(dir.join("ok").join(OsStr::from_bytes(b"\xffpicture.png")), png(9)).unwrap();
    let read = read(&dir);
    let skipped = read.notes.iter().filter(|n| n.contains("is not UTF-8")).count();
    assert_eq!(skipped, 3, "{:?}", read.notes);
    let (folder, _) = ImageFolder::from_entries(&read.root, read.entries).unwrap();
    assert_eq!(folder.class_names, ["fine", "ok"]);
    assert_eq!(folder.counts(Role::Train), [2, 2]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_empty_class_is_refused_by_name_and_deep_pictures_are_found() {
    let dir = scratch("empty");
    classes(&dir, &["cat", "dog"], 3);
    std::fs::create_dir(dir.join("empty")).unwrap();
    std::fs::create_dir(dir.join("texts")).unwrap();
    std::fs::write(dir.join("texts/readme.txt"), "not a picture").unwrap();
    let deep: PathBuf = (0..21).fold(dir.join("dog"), |p, i| p.join(format!("d{i}")));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("deep.png"), png(200)).unwrap();
    let read = read(&dir);
    let (folder, notes) = ImageFolder::from_entries(&read.root, read.entries).unwrap();
    assert_eq!(folder.class_names, ["cat", "dog", "empty", "texts"]);
    assert_eq!(folder.counts(Role::Train), [3, 4, 0, 0]);
    assert!(
        notes.iter().any(|n| n.contains("texts/readme.txt: not an image")),
        "{notes:?}"
    );
    let e = split_pictures(&folder, 0.2, 0).unwrap_err();
    assert!(
        matches!(&e, VitError::Pictures(PicturesError::EmptyClass { class, .. }) if class == "empty"),
        "{e}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unknown_test_class_is_said_in_a_short_error() {
    let names: Vec<String> = (0..256).map(|i| format!("class-{i:03}")).collect();
    let mut folder = ImageFolder::new("train");
    for name in &names {
        folder.add_class(name).unwrap();
    }
    let e = folder
        .add_entries("test", [("unknown/1.png".to_string(), png(1))], Role::Test)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "test/unknown: not one of the training classes (class-000, class-001, class-002, class-003, class-004 and 251 more)"
    );
}
