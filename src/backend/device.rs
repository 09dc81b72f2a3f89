//! The backends a model can run on, and their devices.

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

    /// The backend a device belongs to (an autodiff device, the backend under it).
    pub fn of(device: &Device) -> Self {
        #[allow(deprecated)]
        let ndarray = Device::ndarray();
        if *device == Device::flex() {
            BackendKind::Flex
        } else if *device == ndarray {
            BackendKind::Ndarray
        } else {
            BackendKind::Wgpu
        }
    }

    /// How many images to run through the backbone at once when extracting features: bigger
    /// batches keep a GPU busy; on the CPU in a browser, small ones keep progress and cancel
    /// prompt; natively (the CLI, which has no cancel) the CPU gets big ones too.
    pub fn feature_chunk(self) -> usize {
        match self {
            BackendKind::Wgpu => 16,
            BackendKind::Flex | BackendKind::Ndarray if cfg!(target_family = "wasm") => 4,
            BackendKind::Flex | BackendKind::Ndarray => 32,
        }
    }

    /// The error for something this backend failed to do.
    pub fn failed(self, reason: String) -> VitError {
        VitError::Backend {
            backend: self.name().into(),
            reason,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Wgpu => "wgpu",
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
        }
    }

    /// The backend's device (for wgpu, the one [`gpu`] chose, emulated or not).
    pub async fn device(self) -> Result<Device, VitError> {
        #[cfg(target_family = "wasm")]
        run_constructors();
        Ok(match self {
            BackendKind::Flex => Device::flex(),
            #[allow(deprecated)]
            BackendKind::Ndarray => Device::ndarray(),
            #[cfg(not(feature = "wgpu"))]
            BackendKind::Wgpu => {
                return Err(self.failed("this build has no WebGPU (it is the threaded CPU build)".into()));
            }
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => gpu().await?.device,
        })
    }
}

/// The GPU wgpu chose: its device and adapter.
#[cfg(feature = "wgpu")]
#[derive(Clone)]
pub struct Gpu {
    pub device: Device,
    /// The adapter's name, as its driver reports it.
    pub adapter: String,
    /// The adapter is the CPU emulating a GPU (llvmpipe, lavapipe, SwiftShader, WARP): slower than
    /// the CPU backends, so never chosen on its own.
    pub emulated: bool,
}

/// Initialises wgpu once: Burn registers one wgpu runtime per process, so later calls share it.
/// The GPU is initialised asynchronously, as the browser requires.
#[cfg(feature = "wgpu")]
pub async fn gpu() -> Result<Gpu, VitError> {
    use burn::tensor::wgpu::{WgpuBackend, wgpu::DeviceType};
    static WGPU: std::sync::Mutex<Option<Gpu>> = std::sync::Mutex::new(None);
    if let Some(gpu) = WGPU.lock().unwrap().clone() {
        return Ok(gpu);
    }
    let api = if cfg!(target_family = "wasm") {
        WgpuBackend::WebGpu
    } else {
        WgpuBackend::Auto
    };
    let (device, setup) = Device::wgpu_options()
        .graphics_api(api)
        .init_with_setup_async()
        .await
        .map_err(|e| BackendKind::Wgpu.failed(e.to_string()))?;
    let info = setup.adapter.get_info();
    let gpu = Gpu {
        device,
        emulated: info.device_type == DeviceType::Cpu,
        adapter: info.name,
    };
    Ok(WGPU.lock().unwrap().get_or_insert(gpu).clone())
}

/// Runs, once, the constructors the linker gathers in `__wasm_call_ctors`: Burn's dependencies
/// register their ops with `inventory` there. A module that never calls it is linked
/// "command-style", and every exported function then runs all the constructors again before its
/// own work: tens of milliseconds per call (per forward pass, per chunk of weights). The page
/// calls this when the module starts; every device is made after it, which covers the test
/// harness, which does not run the start function.
#[cfg(target_family = "wasm")]
pub fn run_constructors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the constructors are `inventory`'s, which are idempotent; the `Once` keeps them
    // to one run anyway.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
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
