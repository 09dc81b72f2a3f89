//! The dense-layer op, through a Burn backend extension: on Flex in the browser, the packed
//! kernels of [`super::gemm`] with the bias and GELU in the same pass; on every other backend,
//! Burn's own linear and GELU.
//!
//! A dense weight is a `[d_in, panels, panel]` tensor: the `[d_in, d_out]` matrix with its
//! output columns grouped in panels, the columns past `d_out` zero. Where the kernels run, its
//! memory is panel-major (strides `[panel, d_in·panel, 1]`), the order the kernel reads;
//! elsewhere it is one row-major panel of `d_out`. The values are the same either way, so any
//! Burn op on the weight sees the matrix it means.

#![allow(deprecated)] // `NdArray` is deprecated in favour of Flex, and still offered.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, NdArray, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::{DType, Slice};

use super::activation::gelu_in_place;
use super::flex::{filled, values};
use super::gemm::{self, Epilogue, Kernel, Matrix, Packed};
use super::pool::threads;

/// `x [.., d_in]` through a dense layer: `x·W + bias`, then GELU if `gelu`.
pub fn dense<const D: usize>(x: Tensor<D>, weight: Tensor<3>, bias: Tensor<1>, gelu: bool) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as DenseOps>::dense(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        gelu,
    ))
}

/// `residual + x·W + bias`, `residual` shaped as the output: a layer on a residual connection.
pub fn dense_add<const D: usize>(x: Tensor<D>, weight: Tensor<3>, bias: Tensor<1>, residual: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as DenseOps>::dense_add(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        residual.into_dispatch(),
    ))
}

/// A dense weight `[d_in, panels, panel]` (see the module doc) from PyTorch's Linear layout
/// `[d_out, d_in]`, laid out for the backend and kernel it will run on.
pub fn dense_weight(pytorch: Tensor<2>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as DenseOps>::dense_weight(pytorch.into_dispatch()))
}

#[backend_extension(Cube: cfg(feature = "wgpu"), Flex, NdArray)]
pub trait DenseOps: Backend {
    /// `weight` is `[d_in, panels, panel]`, `bias` `[d_out]`.
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gelu: bool,
    ) -> FloatTensor<Self> {
        let y = linear::<Self>(x, weight, bias);
        if gelu { Self::gelu(y) } else { y }
    }

    fn dense_add(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::float_add(residual, linear::<Self>(x, weight, bias))
    }

    fn dense_weight(pytorch: FloatTensor<Self>) -> FloatTensor<Self> {
        one_panel::<Self>(pytorch)
    }
}

/// `[d_out, d_in]` → `[d_in, 1, d_out]`: one panel, row-major (the reshape of the transposed view
/// copies it so), as Burn's linear reads it.
fn one_panel<B: Backend>(pytorch: FloatTensor<B>) -> FloatTensor<B> {
    let [d_out, d_in] = pytorch.shape().dims();
    let transposed = B::float_swap_dims(pytorch, 0, 1);
    B::float_reshape(transposed, Shape::new([d_in, 1, d_out]))
}

/// Burn's linear on a dense weight, whatever its panels.
fn linear<B: Backend>(x: FloatTensor<B>, weight: FloatTensor<B>, bias: FloatTensor<B>) -> FloatTensor<B> {
    let [d_in, panels, panel] = weight.shape().dims();
    let d_out = bias.shape()[0];
    let mut weight = B::float_reshape(weight, Shape::new([d_in, panels * panel]));
    if panels * panel != d_out {
        weight = B::float_slice(weight, &[Slice::from(..), Slice::new(0, Some(d_out as isize), 1)]);
    }
    B::linear(x, weight, Some(bias))
}

#[cfg(feature = "wgpu")]
impl DenseOps for burn::backend::Cube {}
impl DenseOps for NdArray {}

impl DenseOps for Flex {
    fn dense(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, gelu: bool) -> FlexTensor {
        let epilogue = if gelu { Epilogue::Gelu } else { Epilogue::None };
        if let Some(y) = on_kernels(&x, &weight, &bias, |_| epilogue) {
            return y;
        }
        let y = linear::<Flex>(x, weight, bias);
        match (gelu, y.dtype()) {
            (false, _) => y,
            (true, DType::F32) => gelu_in_place(y),
            (true, _) => Flex::gelu(y),
        }
    }

    fn dense_add(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, residual: FlexTensor) -> FlexTensor {
        let residual = residual.to_contiguous();
        let same = residual.dtype() == DType::F32 && residual.layout().shape() == &output_shape(&x, &bias);
        let add = |d_out| Epilogue::Add(Matrix::new(values(&residual), d_out));
        if same && let Some(y) = on_kernels(&x, &weight, &bias, add) {
            return y;
        }
        Flex::float_add(residual, linear::<Flex>(x, weight, bias))
    }

    fn dense_weight(pytorch: FlexTensor) -> FlexTensor {
        if !gemm::enabled() || pytorch.dtype() != DType::F32 {
            return one_panel::<Flex>(pytorch);
        }
        let pytorch = pytorch.to_contiguous();
        let [d_out, d_in] = pytorch.layout().shape().dims();
        let panel = gemm::kernel().panel;
        let values = &pytorch.storage::<f32>()[pytorch.layout().start_offset()..][..d_out * d_in];
        let packed = gemm::pack_from_outputs(Matrix::new(values, d_in), panel);
        let panels = d_out.div_ceil(panel);
        // Panel-major memory, `[d_in, panels, panel]` indices.
        FlexTensor::from_data(TensorData::new(packed, [panels, d_in, panel])).transpose(0, 1)
    }
}

/// `x·W + b` and the epilogue (`epilogue(d_out)`) on the kernels, where the weight is packed
/// for the one in use (else `None`).
fn on_kernels<'a>(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    epilogue: impl FnOnce(usize) -> Epilogue<'a>,
) -> Option<FlexTensor> {
    // Read once: the weight's layout is checked against this kernel, which then runs.
    let kernel = gemm::kernel();
    if x.dtype() != DType::F32 || !packed_for(kernel, weight, bias) {
        return None;
    }
    let x = x.to_contiguous();
    let d_in = x.layout().shape()[x.layout().num_dims() - 1];
    let d_out = bias.layout().shape()[0];
    let w = Packed {
        kernel,
        values: weight.storage::<f32>(),
        d_in,
        bias: values(bias),
    };
    let input = Matrix::new(values(&x), d_in);
    let epilogue = epilogue(d_out);
    // SAFETY: the layer writes its whole output, `input.rows` rows of `d_out`.
    let y = unsafe {
        filled(output_shape(&x, bias), |y| {
            gemm::dense_raw(input, &w, epilogue, y, d_out, threads())
        })
    };
    Some(y)
}

/// `x`'s shape with `bias`'s length last: a dense layer's output.
fn output_shape(x: &FlexTensor, bias: &FlexTensor) -> Shape {
    let mut dims = x.layout().shape().to_vec();
    *dims.last_mut().expect("a dense layer's input has a last dimension") = bias.layout().shape()[0];
    Shape::from(dims)
}

/// Whether `weight` is laid out, in memory, as `kernel` reads it.
fn packed_for(kernel: &Kernel, weight: &FlexTensor, bias: &FlexTensor) -> bool {
    let (layout, panel) = (weight.layout(), kernel.panel);
    let [d_in, panels, width] = match layout.shape().to_vec()[..] {
        [a, b, c] => [a, b, c],
        _ => return false,
    };
    let d_out = bias.layout().shape().to_vec().first().copied().unwrap_or(0);
    gemm::enabled()
        && weight.dtype() == DType::F32
        && bias.dtype() == DType::F32
        && bias.is_contiguous()
        && width == panel
        && d_out.div_ceil(panel) == panels
        && layout.start_offset() == 0
        && layout.strides() == [panel as isize, (d_in * panel) as isize, 1]
        && weight.storage::<f32>().len() == panels * d_in * panel
}
