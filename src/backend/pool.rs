//! The CPU kernels' parallel loops: on the rayon pool of Web Workers in the threaded build, on
//! the calling thread elsewhere, through the same calls.

/// The threads the CPU kernels share their work among.
pub fn threads() -> usize {
    #[cfg(feature = "threads")]
    return rayon::current_num_threads().max(1);
    #[cfg(not(feature = "threads"))]
    1
}

/// `f(i)` for every `i < n`, on up to `threads` threads (1: in order, on the calling thread).
pub fn for_each_index(n: usize, threads: usize, f: impl Fn(usize) + Sync + Send) {
    #[cfg(feature = "threads")]
    if threads > 1 {
        use rayon::prelude::*;
        return (0..n).into_par_iter().for_each(f);
    }
    let _ = threads;
    (0..n).for_each(f);
}

/// `[f(0), …, f(n - 1)]`, computed on up to `threads` threads.
pub fn map_index<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    #[cfg(feature = "threads")]
    if threads > 1 {
        use rayon::prelude::*;
        return (0..n).into_par_iter().map(f).collect();
    }
    let _ = threads;
    (0..n).map(f).collect()
}

/// `f(i, chunk)` for each `len`-long chunk of `values` (the last may be shorter), on up to
/// `threads` threads.
pub fn for_each_chunk<T: Send>(
    values: &mut [T],
    len: usize,
    threads: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    #[cfg(feature = "threads")]
    if threads > 1 {
        use rayon::prelude::*;
        return values.par_chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
    }
    let _ = threads;
    values.chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
}

/// Runs `f` (a forward pass) on a thread of the pool where there is one (the threaded wasm
/// build), so that the kernels inside fork from a pool thread and the caller's thread is handed
/// the work once, not once per op: per op, it cost more than the second core gave.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "threads")]
    return rayon::scope(|_| f());
    #[cfg(not(feature = "threads"))]
    f()
}
