//! Position embeddings for another input size: timm's `resample_abs_pos_embed` (what its
//! `checkpoint_filter_fn` does when a checkpoint meets a model of another image size). The patch
//! grid is resampled with antialiased bicubic filtering (PyTorch's `F.interpolate(mode='bicubic',
//! antialias=True)`, Pillow's filter in floating point); the class and register tokens' rows are
//! kept as they are.

use burn::prelude::*;

use crate::data::resize::Interpolation;
use crate::data::resize::filter_weights;

/// The largest grid a model is resampled to (1024 pixels at patch 16): the resampling's matrix
/// has `new² x old²` entries.
pub const MAX_GRID: usize = 64;

/// `[new², old²]`, row-major: the linear map from an `old x old` grid of rows to a `new x new`
/// one, the two separable passes as one matrix.
fn resample_matrix(old: usize, new: usize) -> Vec<f32> {
    let taps = filter_weights(old, new, Interpolation::Bicubic);
    let mut m = vec![0f32; new * new * old * old];
    for (oy, (y0, wy)) in taps.iter().enumerate() {
        for (ox, (x0, wx)) in taps.iter().enumerate() {
            let row = &mut m[(oy * new + ox) * old * old..][..old * old];
            for (ky, a) in wy.iter().enumerate() {
                for (kx, b) in wx.iter().enumerate() {
                    row[(y0 + ky) * old + x0 + kx] += (a * b) as f32;
                }
            }
        }
    }
    m
}

/// `pos_embed` `[1, prefix + old², hidden]` (the first `prefix` rows kept) → `[1, prefix + new², hidden]`.
pub fn resample(pos_embed: Tensor<3>, prefix: usize, old: usize, new: usize) -> Tensor<3> {
    let [_, tokens, hidden] = pos_embed.dims();
    let device = pos_embed.device();
    let grid = pos_embed
        .clone()
        .narrow(1, prefix, tokens - prefix)
        .reshape([old * old, hidden]);
    let map = Tensor::<2>::from_data(
        TensorData::new(resample_matrix(old, new), [new * new, old * old]),
        &device,
    );
    let resampled = map.matmul(grid).reshape([1, new * new, hidden]);
    match prefix {
        0 => resampled,
        _ => Tensor::cat(vec![pos_embed.narrow(1, 0, prefix), resampled], 1),
    }
}

#[cfg(test)]
mod tests {
    use super::resample_matrix;

    #[test]
    fn each_new_position_is_a_weighted_mean_of_old_ones() {
        for (old, new) in [(6, 8), (6, 4), (14, 24), (3, 3)] {
            let m = resample_matrix(old, new);
            for row in m.chunks(old * old) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{old} → {new}");
            }
        }
        // The same size is the identity.
        let m = resample_matrix(3, 3);
        for (i, row) in m.chunks(9).enumerate() {
            assert!(
                row.iter()
                    .enumerate()
                    .all(|(j, &w)| (w - f32::from(i == j)).abs() < 1e-6)
            );
        }
    }
}
