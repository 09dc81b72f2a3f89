//! Where the model runs and how: the device, chosen at run time (WebGPU/Vulkan/Metal through
//! burn-wgpu, or one of the two CPU backends); reading results back from it; the model's own ops
//! on each backend (`dense`, `attention`), with the CPU kernels they run on in the browser
//! (`gemm`, `activation`) and the pool those share their work on.

pub mod activation;
pub mod attention;
pub mod dense;
mod device;
mod flex;
pub mod gemm;
pub mod lanes;
pub mod pool;
mod readback;

pub use device::BackendKind;
#[cfg(target_family = "wasm")]
pub use device::run_constructors;
#[cfg(feature = "wgpu")]
pub use device::{Gpu, gpu};
pub use readback::{rows, scalar};
