//! No input makes the compiler panic: thousands of corrupted variants of real models
//! (flipped bytes, truncations, spliced garbage) must each compile or return an error.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use zant_compiler::{pipeline, CrateOptions, InputShape, Options};

/// A small deterministic generator (xorshift64*), so every run tries the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A position to corrupt: half the time in the first or last 4 KiB, where the graph's
/// structure (nodes, inputs, outputs) usually sits, rather than deep in the weights.
fn position(rng: &mut Rng, len: usize) -> usize {
    const EDGE: usize = 4096;
    match rng.below(4) {
        0 => rng.below(len.min(EDGE)),
        1 => len - 1 - rng.below(len.min(EDGE)),
        _ => rng.below(len),
    }
}

fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = position(rng, b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        1 => b.truncate(rng.below(b.len())),
        2 => {
            let i = position(rng, b.len());
            let n = rng.below(16);
            for k in 0..n.min(b.len() - i) {
                b[i + k] = rng.next() as u8;
            }
        }
        _ => {
            let i = position(rng, b.len());
            b[i] = [0x00, 0x7f, 0x80, 0xff][rng.below(4)];
        }
    }
    b
}

/// Compiles `bytes` and emits the crate, when it compiles; errors are fine, panics not.
fn compile_and_emit(bytes: &[u8], opts: &Options) {
    let Ok(lowered) = pipeline::compile_graph(bytes, opts) else {
        return;
    };
    let emit_opts = zant_compiler::emit::EmitOptions {
        crate_name: "m".into(),
        source_name: "m.onnx".into(),
        runtime: CrateOptions::default().runtime,
        standalone: true,
    };
    let _ = zant_compiler::emit::emit(&lowered.graph, &lowered.plan, &emit_opts);
}

fn survive(name: &str, bytes: &[u8], pins: &[InputShape], n: usize, seed: u64) {
    let mut rng = Rng(seed);
    let opts = Options {
        input_shapes: pins.to_vec(),
        ..Options::default()
    };
    for i in 0..n {
        let m = mutate(&mut rng, bytes);
        let outcome = catch_unwind(AssertUnwindSafe(|| compile_and_emit(&m, &opts)));
        if outcome.is_err() {
            let dump = std::env::temp_dir().join(format!("zant-panic-{name}-{i}.onnx"));
            std::fs::write(&dump, &m).unwrap();
            panic!(
                "{name}: mutation {i} panicked; input saved to {}",
                dump.display()
            );
        }
    }
}

#[test]
fn corrupted_project_models_never_panic() {
    let dir = common::repo_root().join("models");
    for (seed, model) in [
        (1, "lenet-mnist.onnx"),
        (2, "kws-dscnn.onnx"),
        (3, "two-heads.onnx"),
        // float16 throughout: corrupted narrow tensors and the casts import adds.
        (4, "half-cnn.onnx"),
    ] {
        let bytes = std::fs::read(dir.join(model)).unwrap();
        survive(model, &bytes, &[], 400, seed);
    }
}

#[test]
fn corrupted_shared_models_never_panic() {
    let Some(dir) = common::shared_models() else {
        return;
    };
    let models = [
        (4, "mnist-8", None),
        (5, "wakeword", Some("mfcc=1,1,40,32")),
        (6, "tiny-lm", Some("input=1,25")),
        (7, "debug-mlp", None),
        (8, "sentiment", Some("input=1,15")),
        (9, "fomo-96", None),
    ];
    for (seed, model, pin) in models {
        let bytes = std::fs::read(dir.join(model).join("model.onnx")).unwrap();
        let pins: Vec<InputShape> = pin.iter().map(|p| p.parse().unwrap()).collect();
        survive(model, &bytes, &pins, 400, seed);
    }
}

/// Every input the fuzzer kept (`compiler/fuzz/corpus/compile`, docs/fuzzing.md) and every
/// crash it found (`compiler/tests/fuzz-crashes`, fixed since) compiles or fails with an
/// error, without a panic, on the stable toolchain and without libFuzzer.
#[test]
fn fuzz_corpus_and_crashes_never_panic() {
    let root = common::repo_root();
    let mut n = 0;
    for dir in [
        "compiler/fuzz/corpus/compile",
        "compiler/tests/fuzz-crashes",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                compile_and_emit(&bytes, &Options::default())
            }));
            assert!(outcome.is_ok(), "{} panicked", path.display());
            n += 1;
        }
    }
    println!("{n} fuzz inputs compiled or refused cleanly");
    assert!(n > 0, "the fuzz corpus is missing");
}
