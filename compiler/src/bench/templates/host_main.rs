//! The host harness of `zantc bench`: runs the model of `model.rs` on the inputs embedded by
//! `io.rs` and prints what it measured, one `key=value` per line.
//!
//! - `harness measure BUDGET_MS`: the heap use of the inferences (a counting global
//!   allocator), the median wall time per inference over at least `MIN_RUNS` batches or
//!   `BUDGET_MS` (a batch runs inferences for at least `BATCH_NS`), the peak resident set,
//!   and the outputs as `output K HEX` lines.
//! - `harness count N`: `N` inferences and nothing else. The bench runs it under callgrind
//!   with `N = 0` and `N = 1`; the difference is the instructions of one inference.
//! - `harness check`: one inference, nothing timed: its heap use and the outputs. The
//!   bench runs it for cores under QEMU's user mode (AArch64), whose clock says nothing
//!   of the core's speed.
//! - `harness layers BUDGET_MS` (built with the `profile` feature): the wall time of each
//!   layer over at least `MIN_RUNS` inferences or `BUDGET_MS`, as `layer_ns K NS` lines,
//!   timed by a probe the model calls between layers; and `time_ns`, the figure of plain
//!   inferences interleaved with the profiled ones (see `layers` for the statistics).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

include!("model.rs");
mod io;

const MIN_RUNS: usize = 5;
const MAX_RUNS: usize = 100_000;
/// The shortest timed batch of inferences in `measure`, in nanoseconds.
const BATCH_NS: u128 = 20_000;
const MAX_BATCH: usize = 10_000;
/// Untimed inferences that size `measure`'s batches.
const CALIBRATION_RUNS: usize = 8;

/// The model and its buffers live in statics: an arena can be larger than a stack.
static MODEL: Mutex<model::Model> = Mutex::new(model::Model::new());
static IO: Mutex<io::Io> = Mutex::new(io::Io::new());

/// Counts every allocation of the process: calls, bytes, bytes live and their peak.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn record(grown: usize, shrunk: usize) {
    ALLOCS.fetch_add(1, SeqCst);
    BYTES.fetch_add(grown, SeqCst);
    let live = LIVE.fetch_add(grown, SeqCst) + grown;
    LIVE.fetch_sub(shrunk, SeqCst);
    PEAK.fetch_max(live, SeqCst);
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), 0);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), 0);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size, layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `zantc bench --no-amx`: the int8 convolutions take the path of a host without AMX.
    #[cfg(all(
        target_arch = "x86_64",
        target_os = "linux",
        target_feature = "avx512vnni",
        target_feature = "avx512vl"
    ))]
    if std::env::var_os("ZANT_BENCH_AMX").is_some_and(|v| v == "off") {
        zant_runtime::dsp::amx::set_enabled(false);
    }
    let mut model = MODEL.lock().expect("the model's lock");
    let mut io = IO.lock().expect("the buffers' lock");
    io.load();
    let number = |i: usize| -> u64 {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| usage())
    };
    match args.get(1).map(String::as_str) {
        Some("count") => {
            for _ in 0..number(2) {
                infer(&mut io, &mut model);
            }
        }
        Some("measure") => measure(&mut io, &mut model, Duration::from_millis(number(2))),
        Some("check") => check(&mut io, &mut model),
        #[cfg(feature = "profile")]
        Some("layers") => layers(&mut io, &mut model, Duration::from_millis(number(2))),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: harness measure BUDGET_MS | harness count N | harness check | \
         harness layers BUDGET_MS"
    );
    std::process::exit(2)
}

fn infer(io: &mut io::Io, model: &mut model::Model) {
    if let Err(e) = io.predict(model) {
        eprintln!("inference failed: {e}");
        std::process::exit(1);
    }
}

/// The allocation counters when counting started, so that the heap figures cover only
/// what came after.
struct HeapStart {
    allocs: usize,
    bytes: usize,
    live: usize,
}

impl HeapStart {
    fn now() -> HeapStart {
        let live = LIVE.load(SeqCst);
        PEAK.store(live, SeqCst);
        HeapStart {
            allocs: ALLOCS.load(SeqCst),
            bytes: BYTES.load(SeqCst),
            live,
        }
    }

    /// Prints the heap figures since `self`. Every counter is read before the first line
    /// is printed, since printing may allocate (stdout's buffer).
    fn print_since(&self) {
        let allocs = ALLOCS.load(SeqCst) - self.allocs;
        let bytes = BYTES.load(SeqCst) - self.bytes;
        let peak = PEAK.load(SeqCst) - self.live;
        let leaked = LIVE.load(SeqCst).saturating_sub(self.live);
        println!("heap_allocs={allocs}");
        println!("heap_bytes={bytes}");
        println!("heap_peak_bytes={peak}");
        println!("heap_leaked_bytes={leaked}");
    }
}

/// One inference, untimed: its heap use and its outputs.
fn check(io: &mut io::Io, model: &mut model::Model) {
    let heap = HeapStart::now();
    infer(io, model);
    heap.print_since();
    print_outputs(io);
}

fn measure(io: &mut io::Io, model: &mut model::Model, budget: Duration) {
    // Reserved before counting, so that recording the times allocates nothing.
    let mut times: Vec<u64> = Vec::with_capacity(MAX_RUNS);
    let heap = HeapStart::now();

    // The first inference warms the caches and faults the arena in; it is not timed.
    infer(io, model);
    // Inferences are timed in batches of at least `BATCH_NS`, so that reading the clock
    // (tens of ns) does not weigh on models that run in under a microsecond. The batch
    // size comes from a few more untimed inferences.
    let calibration = Instant::now();
    for _ in 0..CALIBRATION_RUNS {
        infer(io, model);
    }
    let per_run = (calibration.elapsed().as_nanos() / CALIBRATION_RUNS as u128).max(1);
    let batch = (BATCH_NS / per_run).clamp(1, MAX_BATCH as u128) as usize;
    let start = Instant::now();
    while times.len() < MAX_RUNS && (times.len() < MIN_RUNS || start.elapsed() < budget) {
        let t = Instant::now();
        for _ in 0..batch {
            infer(io, model);
        }
        times.push(t.elapsed().as_nanos() as u64);
    }

    heap.print_since();
    times.sort_unstable();
    let median = median(&times) / batch as f64;
    println!("time_runs={}", times.len() * batch);
    println!("time_ns={median}");
    println!("peak_rss_kib={}", peak_rss_kib());
    print_outputs(io);
}

/// Prints every output as an `output K HEX` line.
fn print_outputs(io: &io::Io) {
    let mut hex: Vec<String> = Vec::new();
    io.output_bytes(|k, bytes| {
        if hex.len() <= k {
            hex.resize(k + 1, String::new());
        }
        for b in bytes {
            hex[k].push_str(&format!("{b:02x}"));
        }
    });
    for (k, h) in hex.iter().enumerate() {
        println!("output {k} {h}");
    }
}

/// The time of every layer, over at least `MIN_RUNS` inferences or `budget`.
///
/// Medians per layer would not add up: an inference that the OS interrupts is slow in one
/// layer, which no layer's median sees, while the median of whole inferences does. So each
/// layer's figure is its mean over the faster half of the profiled inferences (by their
/// total), which sums exactly to the mean total of those inferences; and the whole-inference
/// figure it is checked against is the mean of the faster half of plain inferences,
/// interleaved with the profiled ones so that both see the same load.
#[cfg(feature = "profile")]
fn layers(io: &mut io::Io, model: &mut model::Model, budget: Duration) {
    const LAYERS: usize = model::LAYERS.len();
    let mut profiled: Vec<[u64; LAYERS]> = Vec::new();
    let mut stamps = [0u64; LAYERS + 1];
    let origin = Instant::now();
    let run = |io: &mut io::Io, model: &mut model::Model, stamps: &mut [u64; LAYERS + 1]| {
        let result =
            io.predict_profiled(model, &mut |k| stamps[k] = origin.elapsed().as_nanos() as u64);
        if let Err(e) = result {
            eprintln!("inference failed: {e}");
            std::process::exit(1);
        }
    };
    // The first inference warms the caches and is not timed, as in `measure`.
    run(io, model, &mut stamps);
    let mut wholes: Vec<u64> = Vec::new();
    let start = Instant::now();
    while profiled.len() < MAX_RUNS && (profiled.len() < MIN_RUNS || start.elapsed() < budget) {
        let t = Instant::now();
        infer(io, model);
        wholes.push(t.elapsed().as_nanos() as u64);
        run(io, model, &mut stamps);
        profiled.push(core::array::from_fn(|k| stamps[k + 1] - stamps[k]));
    }
    wholes.sort_unstable();
    profiled.sort_by_key(|layers| layers.iter().sum::<u64>());
    let faster = |n: usize| n.div_ceil(2);
    let kept = &profiled[..faster(profiled.len())];
    println!("layer_runs={}", profiled.len());
    println!("time_ns={}", mean(&wholes[..faster(wholes.len())]));
    for k in 0..LAYERS {
        let sum: u64 = kept.iter().map(|layers| layers[k]).sum();
        println!("layer_ns {k} {}", sum as f64 / kept.len() as f64);
    }
}

/// The mean of non-empty `times`.
#[cfg(feature = "profile")]
fn mean(times: &[u64]) -> f64 {
    times.iter().sum::<u64>() as f64 / times.len() as f64
}

/// The median of sorted, non-empty `times`.
fn median(times: &[u64]) -> f64 {
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2] as f64
    } else {
        (times[n / 2 - 1] + times[n / 2]) as f64 / 2.0
    }
}

/// `VmHWM` of `/proc/self/status`: the peak resident set size.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
