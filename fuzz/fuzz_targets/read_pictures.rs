//! A person's pictures as an archive (`.zip`, `.tar`, `.tar.gz`) → class folders, on arbitrary
//! bytes. Errors are fine; panics, aborts, hangs and runaway memory are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vit_wasm::data::archive::{self, Kind};
use vit_wasm::data::image_folder::{ImageFolder, below_common_root};

fuzz_target!(|data: &[u8]| {
    let Some(kind) = Kind::of(data) else { return };
    let Ok(members) = archive::members(data, kind, |_| true) else { return };
    let (root, entries) = below_common_root("fuzz", members);
    let _ = ImageFolder::from_entries(&root, entries);
});
