//! CIFAR-10 files → images, on arbitrary bytes: binary batches, tarballs, pickles and meta
//! files. Errors are fine; panics, aborts, hangs and runaway memory are not.
//! Input: [name byte][file], the name byte choosing what the file is called (a meta file is
//! known by its name); `seed.py` writes the fixtures in that form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vit_wasm::data::cifar::read_file;

const NAMES: [&str; 5] = ["data_batch_1", "data_batch_1.bin", "cifar-10-python.tar.gz", "batches.meta", "batches.meta.txt"];

fuzz_target!(|data: &[u8]| {
    let Some((&which, file)) = data.split_first() else { return };
    let _ = read_file(NAMES[usize::from(which) % NAMES.len()], file);
});
