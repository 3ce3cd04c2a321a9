//! `predict` of a generated crate allocates nothing: a counting global allocator sees zero
//! allocations, zero bytes and zero frees across a call. A plain `main` (no test harness)
//! so no other thread allocates while we count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static FREES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        BYTES.fetch_add(layout.size(), Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREES.fetch_add(1, Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> [usize; 3] {
    [
        ALLOCATIONS.load(Ordering::SeqCst),
        BYTES.load(Ordering::SeqCst),
        FREES.load(Ordering::SeqCst),
    ]
}

/// Runs `f` and returns (allocations, bytes, frees) it caused.
fn count(f: impl FnOnce()) -> [usize; 3] {
    let before = snapshot();
    f();
    let after = snapshot();
    [
        after[0] - before[0],
        after[1] - before[1],
        after[2] - before[2],
    ]
}

fn main() {
    let mut failures = 0;
    let mut passed = 0;
    let mut report = |name: &str, counts: [usize; 3], sane: bool| {
        if counts == [0, 0, 0] && sane {
            println!("test {name} ... ok (0 allocations, 0 bytes, 0 frees)");
            passed += 1;
        } else {
            println!("test {name} ... FAILED: allocations/bytes/frees = {counts:?}, outputs finite = {sane}");
            failures += 1;
        }
    };

    // Self-check: the counter does see an allocation, so a zero below means something.
    let seen = count(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(seen[0], 1, "the counting allocator must count");

    {
        let mut model = Box::new(lenet_mnist::Model::new());
        let input = Box::new([0.5f32; lenet_mnist::IMAGE_LEN]);
        let mut output = Box::new([0f32; lenet_mnist::PROBS_LEN]);
        let mut result = Ok(());
        let counts = count(|| result = model.predict(&input, &mut output));
        report(
            "lenet_mnist_predict",
            counts,
            result.is_ok() && output.iter().all(|v| v.is_finite()),
        );
    }
    {
        let mut model = Box::new(kws_dscnn::Model::new());
        let input = Box::new([0.25f32; kws_dscnn::MFCC_LEN]);
        let mut output = Box::new([0f32; kws_dscnn::LOGITS_LEN]);
        let mut result = Ok(());
        let counts = count(|| result = model.predict(&input, &mut output));
        report(
            "kws_dscnn_predict",
            counts,
            result.is_ok() && output.iter().all(|v| v.is_finite()),
        );
    }
    {
        let mut model = Box::new(kws_crnn::Model::new());
        let input = Box::new([0.25f32; kws_crnn::MFCC_LEN]);
        let mut output = Box::new([0f32; kws_crnn::LOGITS_LEN]);
        let mut result = Ok(());
        let counts = count(|| result = model.predict(&input, &mut output));
        report(
            "kws_crnn_predict",
            counts,
            result.is_ok() && output.iter().all(|v| v.is_finite()),
        );
    }
    {
        let mut model = Box::new(two_heads::Model::new());
        let mut inputs = Box::new(two_heads::Inputs::new());
        inputs.features = [1.0; two_heads::FEATURES_LEN];
        inputs.context = [-1.0; two_heads::CONTEXT_LEN];
        let mut outputs = Box::new(two_heads::Outputs::new());
        let mut result = Ok(());
        let counts = count(|| result = model.predict(&inputs, &mut outputs));
        let sane = outputs
            .scores
            .iter()
            .chain(&outputs.gate)
            .all(|v| v.is_finite());
        report("two_heads_predict", counts, result.is_ok() && sane);
    }
    {
        // float16 in and out: the API takes IEEE binary16 bits.
        let mut model = Box::new(half_cnn::Model::new());
        let half = zant_runtime::narrow::f16_from_f32(0.5);
        let input = Box::new([half; half_cnn::IMAGE_LEN]);
        let mut output = Box::new([0u16; half_cnn::PROBS_LEN]);
        let mut result = Ok(());
        let counts = count(|| result = model.predict(&input, &mut output));
        let sum: f32 = output
            .iter()
            .map(|&h| zant_runtime::narrow::f16_to_f32(h))
            .sum();
        // Softmax probabilities, each rounded to float16, still sum to one.
        report(
            "half_cnn_predict",
            counts,
            result.is_ok() && (sum - 1.0).abs() < 1e-2,
        );
    }

    // Both modes of the `If`: the branch that does not run must not allocate either.
    for high_accuracy in [1u8, 0] {
        let mut model = Box::new(mode_switch::Model::new());
        let mut inputs = Box::new(mode_switch::Inputs::new());
        inputs.features = [0.5; mode_switch::FEATURES_LEN];
        inputs.high_accuracy = [high_accuracy];
        let mut output = Box::new([0f32; mode_switch::SCORES_LEN]);
        let mut result = Ok(());
        let counts = count(|| result = model.predict(&inputs, &mut output));
        report(
            &format!("mode_switch_predict_high_accuracy_{high_accuracy}"),
            counts,
            result.is_ok() && output.iter().all(|v| v.is_finite()),
        );
    }

    println!(
        "\ntest result: {}. {passed} passed; {failures} failed",
        if failures == 0 { "ok" } else { "FAILED" }
    );
    if failures > 0 {
        std::process::exit(1);
    }
}
