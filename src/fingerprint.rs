//! Content hashes: what the page keys its cached features by, so that a changed model or data
//! set never reuses another's.

use xxhash_rust::xxh3::Xxh3;

/// A 128-bit hash of a sequence of byte strings (each length-prefixed, so that the parts' borders
/// count), fed as they arrive.
#[derive(Clone, Default)]
pub struct Fingerprint(Xxh3);

impl Fingerprint {
    /// Adds bytes to the current part (a file arriving in chunks).
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Adds a whole part.
    pub fn part(mut self, bytes: &[u8]) -> Self {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn hex(&self) -> String {
        format!("{:032x}", self.0.digest128())
    }
}
