//! Compiles `models/lenet-mnist.onnx` into `$OUT_DIR/lenet.rs` with zant's Builder, and
//! puts the memory map of the board named by `ZANT_BOARD` (default `mps2-an500`) where
//! cortex-m-rt's linker script finds it, as `memory.x`.
//!
//! The Builder sets no target: in a build script it reads Cargo's `TARGET` (and the
//! `-C target-cpu` of the rustflags, if any), so the model is compiled for the core the
//! firmware is built for.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let board = std::env::var("ZANT_BOARD").unwrap_or_else(|_| "mps2-an500".into());
    let memory = PathBuf::from("memory").join(format!("{board}.x"));
    if let Err(e) = std::fs::copy(&memory, out.join("memory.x")) {
        eprintln!("error: cannot copy {}: {e}", memory.display());
        std::process::exit(1);
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-env-changed=ZANT_BOARD");

    let result = zant_compiler::Builder::new()
        .model("../../models/lenet-mnist.onnx")
        .module_name("lenet")
        // The weights stay in flash, in a section of their own (see docs/build-rs.md).
        .weights_section(".rodata.zant_weights")
        .compile();
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
