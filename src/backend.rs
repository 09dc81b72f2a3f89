//! Which device the model runs on, chosen at run time: WebGPU/Vulkan/Metal through burn-wgpu,
//! or one of the two CPU backends.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;

use crate::error::VitError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// burn-wgpu: WebGPU in the browser, the platform's graphics API natively.
    Wgpu,
    /// Burn's pure-Rust CPU backend (SIMD, WASM).
    Flex,
    /// burn-ndarray, the older CPU backend.
    Ndarray,
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [BackendKind::Wgpu, BackendKind::Flex, BackendKind::Ndarray];

    /// The CPU backend used when no GPU is asked for or found.
    pub const DEFAULT_CPU: BackendKind = BackendKind::Flex;

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Wgpu => "wgpu",
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
        }
    }

    /// The backend's device. The GPU is initialised asynchronously, as the browser requires,
    /// and only once: Burn registers one wgpu runtime per process, so later calls share it.
    pub async fn device(self) -> Result<Device, VitError> {
        Ok(match self {
            BackendKind::Flex => Device::flex(),
            #[allow(deprecated)]
            BackendKind::Ndarray => Device::ndarray(),
            #[cfg(not(feature = "wgpu"))]
            BackendKind::Wgpu => {
                return Err(VitError::Backend {
                    backend: self.name().into(),
                    reason: "this build has no WebGPU (it is the threaded CPU build)".into(),
                });
            }
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => {
                use burn::tensor::wgpu::WgpuBackend;
                static WGPU: std::sync::Mutex<Option<Device>> = std::sync::Mutex::new(None);
                if let Some(device) = WGPU.lock().unwrap().clone() {
                    return Ok(device);
                }
                let api = if cfg!(target_family = "wasm") {
                    WgpuBackend::WebGpu
                } else {
                    WgpuBackend::Auto
                };
                let device = Device::wgpu_options()
                    .graphics_api(api)
                    .init_async()
                    .await
                    .map_err(|e| VitError::Backend {
                        backend: self.name().into(),
                        reason: e.to_string(),
                    })?;
                WGPU.lock().unwrap().get_or_insert(device).clone()
            }
        })
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("unknown backend `{s}` (expected wgpu, flex or ndarray)"))
    }
}
