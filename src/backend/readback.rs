//! Results back to the host, without blocking: WebGPU forbids synchronous reads in browsers.

use burn::prelude::*;

use super::BackendKind;
use crate::error::VitError;

/// A 2-D tensor's rows.
pub async fn rows(t: Tensor<2>) -> Result<Vec<Vec<f32>>, VitError> {
    let [_, cols] = t.dims();
    let backend = BackendKind::of(&t.device());
    let data = t
        .into_data_async()
        .await
        .map_err(|e| backend.failed(format!("{e:?}")))?;
    let values = data
        .try_into_vec::<f32>()
        .map_err(|e| backend.failed(format!("{e:?}")))?;
    Ok(values.chunks(cols.max(1)).map(<[f32]>::to_vec).collect())
}

/// A one-element tensor's value.
pub async fn scalar(t: Tensor<1>) -> Result<f32, VitError> {
    let backend = BackendKind::of(&t.device());
    t.into_scalar_async::<f32>()
        .await
        .map_err(|e| backend.failed(format!("{e:?}")))
}
