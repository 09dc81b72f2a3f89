//! Chooses the tile kernel for the machine it runs on, by timing each on one of ViT-B/16's dense
//! layers' shapes: a kernel tuned on one CPU lost on another (BENCHMARKS.md, per CPU).

use web_time::Instant;

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

/// A kernel must beat the build's default (the first of [`KERNELS`]) by this much in the timing
/// to be chosen over it: two tiles closer than that in the timing can be far apart on the whole
/// model (BENCHMARKS.md: 2x16 timed 2% behind 5x8 interleaved, and ran the model 12% slower when
/// noise put it ahead).
const MARGIN: f64 = 0.03;

/// The kernel in use, and every kernel's timing when it was chosen by timing them here.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Choice {
    pub kernel: &'static str,
    /// The chosen one first.
    pub measured: Option<Vec<Timing>>,
}

/// Chooses the kernel named `name` if this build has it (one chosen on an earlier visit), else
/// by timing them all ([`measure`], about a tenth of a second). Called before a model loads:
/// weights are laid out for the kernel in use when they load.
pub fn choose_or_measure(name: Option<&str>) -> Choice {
    match name.and_then(choose) {
        Some(kernel) => Choice {
            kernel: kernel.name,
            measured: None,
        },
        None => {
            let measured = measure();
            Choice {
                kernel: super::kernel().name,
                measured: Some(measured),
            }
        }
    }
}

/// Times every kernel on one thread and chooses, returning the timings, the chosen kernel's
/// first. The page starts while its other threads are busy (the
/// download, the browser compiling the module), which slows whole rounds at a time: so within
/// each round every kernel's time is taken relative to that round's fastest, and kernels are
/// ranked by the median of those. Kernels take turns going first.
pub fn measure() -> Vec<Timing> {
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
            let start = Instant::now();
            dense(Matrix::new(&x, K), &w, Epilogue::None, &mut y, N, 1);
            ms[i] = (start.elapsed().as_secs_f64() * 1000.0).max(1e-3);
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
    let chosen = pick(&ranked.iter().map(|(median, _)| *median).collect::<Vec<_>>());
    choose(KERNELS[chosen].name);
    // The chosen one first, then the rest from the fastest.
    let first = ranked.remove(chosen);
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    std::iter::once(first).chain(ranked).map(|(_, t)| t).collect()
}

/// The kernel to use, given each one's median relative time (in [`KERNELS`] order): the fastest,
/// unless the default is within [`MARGIN`] of it.
fn pick(medians: &[f64]) -> usize {
    let fastest = (0..medians.len())
        .min_by(|&a, &b| medians[a].total_cmp(&medians[b]))
        .expect("every build has kernels");
    if medians[0] <= medians[fastest] * (1.0 + MARGIN) {
        0
    } else {
        fastest
    }
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn the_default_kernel_keeps_ties_and_a_clear_winner_takes_over() {
        assert_eq!(pick(&[1.02, 1.0, 1.1]), 0);
        assert_eq!(pick(&[1.05, 1.0, 1.1]), 1);
        assert_eq!(pick(&[1.0, 1.04, 1.2]), 0);
        assert_eq!(pick(&[1.3, 1.2, 1.0]), 2);
    }
}
