//! Puts the memory map of the board named by `ZANT_BOARD` where the runtime crate's
//! linker script (cortex-m-rt, riscv-rt) finds it, as `memory.x`.

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
}
