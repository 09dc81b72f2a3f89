//! Chooses the tile kernel for the machine it runs on, by timing each on one of ViT-B/16's dense
//! layers' shapes: a kernel tuned on one CPU lost on another (BENCHMARKS.md, per CPU).

use super::{Epilogue, KERNELS, Matrix, Packed, choose, dense, pack_from_outputs};

/// A kernel and how fast it ran.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Timing {
    pub kernel: &'static str,
    /// Multiply-adds per second, in billions: its best round.
    pub gmacs: f64,
}

/// The shape timed: ViT-B/16's tokens and width, against 192 output columns (a multiple of
/// every kernel's panel width), about 29 million multiply-adds.
const M: usize = 197;
const K: usize = 768;
const N: usize = 192;

/// Rounds that time every kernel once, the first ones to let the browser's optimizing compiler
/// take over from its baseline one; then the rounds that count.
const WARM_UP_ROUNDS: usize = 2;
const ROUNDS: usize = 12;

/// Times every kernel on one thread and chooses the fastest; `now` is a clock in milliseconds
/// (the browser's `performance.now()`). The page starts while its other threads are busy (the
/// download, the browser compiling the module), which slows whole rounds at a time: so within
/// each round every kernel's time is taken relative to that round's fastest, and the kernel
/// with the smallest median of those wins. Kernels take turns going first.
pub fn measure(now: impl Fn() -> f64) -> Vec<Timing> {
    let x: Vec<f32> = (0..M * K).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect();
    let weight: Vec<f32> = (0..N * K).map(|i| (i % 13) as f32 / 13.0 - 0.5).collect();
    let bias = vec![0.0; N];
    let packed: Vec<Vec<f32>> = KERNELS
        .iter()
        .map(|k| pack_from_outputs(Matrix::new(&weight, K), k.panel))
        .collect();
    let mut y = vec![0.0; M * N];
    let n = KERNELS.len();
    let mut best = vec![f64::INFINITY; n];
    let mut relative: Vec<Vec<f64>> = vec![Vec::new(); n];
    for round in 0..WARM_UP_ROUNDS + ROUNDS {
        let mut ms = vec![0.0; n];
        for i in (0..n).map(|i| (i + round) % n) {
            let w = Packed {
                kernel: &KERNELS[i],
                values: &packed[i],
                d_in: K,
                bias: &bias,
            };
            let start = now();
            dense(Matrix::new(&x, K), &w, Epilogue::None, &mut y, N, 1);
            ms[i] = (now() - start).max(1e-3);
        }
        if round < WARM_UP_ROUNDS {
            continue;
        }
        let fastest = ms.iter().copied().fold(f64::INFINITY, f64::min);
        for i in 0..n {
            best[i] = best[i].min(ms[i]);
            relative[i].push(ms[i] / fastest);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut ranked: Vec<(f64, Timing)> = (0..n)
        .map(|i| {
            let timing = Timing {
                kernel: KERNELS[i].name,
                gmacs: (M * K * N) as f64 / best[i] / 1e6,
            };
            (median(&mut relative[i]), timing)
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    choose(ranked[0].1.kernel);
    ranked.into_iter().map(|(_, t)| t).collect()
}
