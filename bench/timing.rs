//! Timing shared by the native benchmarks (`bench/routes.rs`,
//! `bench/engine.rs`), included by path.

use std::time::{Duration, Instant};

/// Median time per call of `f`, over `batches` batches of `per_batch` calls.
pub fn median(batches: usize, per_batch: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            start.elapsed() / per_batch as u32
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
