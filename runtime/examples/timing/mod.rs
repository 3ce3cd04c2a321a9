//! The timing loop the kernel examples share: a warm-up, then timed batches of enough
//! runs to last at least [`BATCH_SECONDS`] each.

use std::time::Instant;

/// The shortest timed batch, in seconds.
pub const BATCH_SECONDS: f64 = 0.002;

/// Timed batches a kernel.
pub const BATCHES: usize = 40;

/// The best and the median time of `run`, in nanoseconds per `per` (an element, an
/// output: the unit the caller reports in).
pub fn time(per: usize, mut run: impl FnMut()) -> (f64, f64) {
    run();
    let start = Instant::now();
    let mut runs = 0usize;
    while start.elapsed().as_secs_f64() < BATCH_SECONDS {
        run();
        runs += 1;
    }
    let per_batch = runs.max(1);
    let mut samples: Vec<f64> = (0..BATCHES)
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
