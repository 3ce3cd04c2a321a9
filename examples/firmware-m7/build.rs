//! Compiles `models/lenet-mnist.onnx` into `$OUT_DIR/lenet.rs` with zant's Builder, and
//! puts `memory.x` where cortex-m-rt's linker script finds it.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    if let Err(e) = std::fs::copy("memory.x", out.join("memory.x")) {
        eprintln!("error: cannot copy memory.x: {e}");
        std::process::exit(1);
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

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
