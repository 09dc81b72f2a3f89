//! Rows of equal width, each with a class label: CIFAR images (rows of pixel bytes) and the
//! class-token features computed from them (rows of floats) alike.

/// `len` rows of `width` values, row-major, and one label per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labelled<T> {
    pub width: usize,
    pub values: Vec<T>,
    pub labels: Vec<u8>,
}

impl<T: Copy> Labelled<T> {
    /// No rows yet, of `width` values each.
    pub fn new(width: usize) -> Self {
        Self {
            width,
            values: Vec::new(),
            labels: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn row(&self, i: usize) -> &[T] {
        &self.values[i * self.width..][..self.width]
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self {
            width: self.width,
            values: indices.iter().flat_map(|&i| self.row(i).iter().copied()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Appends `other`'s rows (of the same width).
    pub fn extend(&mut self, other: &Self) {
        debug_assert_eq!(self.width, other.width);
        self.values.extend_from_slice(&other.values);
        self.labels.extend_from_slice(&other.labels);
    }
}
