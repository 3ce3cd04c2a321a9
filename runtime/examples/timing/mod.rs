//! The timing loop the kernel examples share: a warm-up, then timed batches of enough
//! runs to last at least [`BATCH_SECONDS`] each.

use std::time::Instant;

/// The shortest timed batch, in seconds.
pub const BATCH_SECONDS: f64 = 0.002;

/// Timed batches a kernel.
pub const BATCHES: usize = 40;

/// The best and the median time of `run`, in nanoseconds per `per` (an element, an
/// output: the unit the caller reports in), over [`BATCHES`] batches of at least
/// [`BATCH_SECONDS`].
#[allow(dead_code)] // Not every example that shares this module takes the defaults.
pub fn time(per: usize, run: impl FnMut()) -> (f64, f64) {
    time_in(per, (BATCHES, BATCH_SECONDS), run)
}

/// [`time`] over `batches` batches of at least `seconds` each.
pub fn time_in(per: usize, (batches, seconds): (usize, f64), mut run: impl FnMut()) -> (f64, f64) {
    run();
    let start = Instant::now();
    let mut runs = 0usize;
    while start.elapsed().as_secs_f64() < seconds {
        run();
        runs += 1;
    }
    let per_batch = runs.max(1);
    let mut samples: Vec<f64> = (0..batches.max(1))
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                run();
            }
            start.elapsed().as_secs_f64() * 1e9 / (per_batch * per.max(1)) as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    (samples[0], samples[samples.len() / 2])
}
