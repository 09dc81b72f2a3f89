//! A folder of pictures as a file system can make it → `folder_reader::read_folder` → class
//! folders. The input builds a tree in a fresh folder: folders, files, links (to siblings, up the
//! tree, to the root, to devices, dangling), FIFOs, names that are not UTF-8. Notes and errors are
//! fine; panics, hangs (a FIFO read, a loop followed) and runaway memory are not.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use vit_wasm::data::folder_reader::read_folder;
use vit_wasm::data::image_folder::ImageFolder;

/// One entry to make, in the folder `at` (an index into the folders made so far, 0 the root).
#[derive(Arbitrary, Debug)]
struct Make {
    at: u8,
    name: Name,
    what: What,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Plain(u8),
    Hidden(u8),
    /// Bytes as they are: not UTF-8, `..`-free (a name is one path component).
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum What {
    Folder,
    Picture(u8),
    Bytes(Vec<u8>),
    /// A link to folder or file `n` made before (relative or absolute), or up `n` levels.
    LinkTo(u8, bool),
    LinkUp(u8),
    LinkDevice(bool),
    Dangling,
    Fifo,
}

/// A tiny PNG of one colour.
fn png(colour: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    let image = image::RgbImage::from_pixel(2, 2, image::Rgb([colour, 0, 255 - colour]));
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

fuzz_target!(|makes: Vec<Make>| {
    let root = std::env::temp_dir().join(format!("fuzz-folder-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let mut folders: Vec<PathBuf> = vec![root.clone()];
    let mut made: Vec<PathBuf> = vec![root.clone()];
    for make in makes.iter().take(64) {
        let dir = &folders[usize::from(make.at) % folders.len()];
        let name: OsString = match &make.name {
            Name::Plain(n) => format!("n{n}").into(),
            Name::Hidden(n) => format!(".h{n}").into(),
            Name::Raw(bytes) => {
                let bytes: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'/' && b != 0).take(32).collect();
                if bytes.is_empty() || bytes == b"." || bytes == b".." {
                    continue;
                }
                OsString::from_vec(bytes)
            }
        };
        let path = dir.join(name);
        if path.symlink_metadata().is_ok() {
            continue;
        }
        let made_ok = match &make.what {
            What::Folder => std::fs::create_dir(&path).is_ok() && {
                folders.push(path.clone());
                true
            },
            What::Picture(c) => std::fs::write(&path, png(*c)).is_ok(),
            What::Bytes(b) => std::fs::write(&path, &b[..b.len().min(4096)]).is_ok(),
            What::LinkTo(n, absolute) => {
                let target = &made[usize::from(*n) % made.len()];
                let target = match (absolute, target.strip_prefix(dir)) {
                    (false, Ok(relative)) if !relative.as_os_str().is_empty() => relative.to_path_buf(),
                    _ => target.clone(),
                };
                std::os::unix::fs::symlink(target, &path).is_ok()
            }
            What::LinkUp(n) => {
                let up: PathBuf = (0..=n % 4).map(|_| "..").collect();
                std::os::unix::fs::symlink(up, &path).is_ok()
            }
            What::LinkDevice(zero) => std::os::unix::fs::symlink(if *zero { "/dev/zero" } else { "/dev/null" }, &path).is_ok(),
            What::Dangling => std::os::unix::fs::symlink("/nowhere/at/all", &path).is_ok(),
            What::Fifo => {
                let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
                unsafe { libc::mkfifo(c.as_ptr(), 0o644) == 0 }
            }
        };
        if made_ok {
            made.push(path);
        }
    }
    if let Ok(read) = read_folder(&root, &mut 0) {
        let _ = ImageFolder::from_entries(&read.root, read.entries);
    }
    let _ = std::fs::remove_dir_all(&root);
});
