//! Flex tensors as the CPU kernels read and write them: their values as a slice, and new ones
//! filled by a kernel. `FlexTensor::empty` zeroes its buffer, then copies it to align it for any
//! type; a kernel's output is written whole, so neither is needed.

use burn::backend::flex::{FlexTensor, Layout};
use burn::prelude::Shape;
use burn::tensor::{Bytes, DType};

/// A contiguous f32 tensor's values.
pub fn values(t: &FlexTensor) -> &[f32] {
    &t.storage::<f32>()[t.layout().start_offset()..][..t.layout().num_elements()]
}

/// A new f32 tensor of `shape`, its values written by `fill` through the pointer it is given.
///
/// # Safety
/// `fill` writes every one of the `shape.num_elements()` values, and only those.
pub unsafe fn filled(shape: Shape, fill: impl FnOnce(*mut f32)) -> FlexTensor {
    let n = shape.num_elements();
    let mut values = Vec::<f32>::with_capacity(n);
    fill(values.as_mut_ptr());
    // SAFETY: `fill` wrote all `n` values (the caller's contract).
    unsafe { values.set_len(n) };
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape), DType::F32)
}
