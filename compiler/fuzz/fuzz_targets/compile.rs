//! Any bytes as a model file: decode → import → passes → plan → emit must each return
//! a value or an error, never panic, abort, overflow the stack or run out of memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zant_compiler::emit::{emit, EmitOptions};
use zant_compiler::{pipeline, CrateOptions, Options};

fuzz_target!(|bytes: &[u8]| {
    let Ok(lowered) = pipeline::compile_graph(bytes, &Options::default()) else {
        return;
    };
    let opts = EmitOptions {
        crate_name: "fuzzed".into(),
        source_name: "fuzzed.onnx".into(),
        runtime: CrateOptions::default().runtime,
        standalone: true,
    };
    let _ = emit(&lowered.graph, &lowered.plan, &opts);
});
