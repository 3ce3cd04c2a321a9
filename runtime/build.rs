//! Tells the kernels whether this build optimises for size.
//!
//! At opt-level "s" or "z" the crate is compiled with `cfg(zant_size)`, and a few hot
//! loops take the shape that LLVM's size heuristics keep fast (ARCHITECTURE.md,
//! "Opt-level z"): at "z" it hoists loads out of the Cortex-M `SMLAD` tile until its sums
//! spill, and calls `memcpy` for short copies that opt-level 3 writes inline. The results
//! are the same either way; only the instruction sequence differs. `OPT_LEVEL` is the
//! level Cargo builds this crate with, so a profile override for `zant-runtime` (opt 3
//! for the kernels of a firmware built at "z") gets the opt-level 3 loops.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(zant_size)");
    println!("cargo::rerun-if-changed=build.rs");
    if matches!(std::env::var("OPT_LEVEL").as_deref(), Ok("s" | "z")) {
        println!("cargo::rustc-cfg=zant_size");
    }
}
