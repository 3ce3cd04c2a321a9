//! Tells the kernels whether this build optimises for size, and whether an Arm build has
//! Helium.
//!
//! At opt-level "s" or "z" the crate is compiled with `cfg(zant_size)`, and a few hot
//! loops take the shape that LLVM's size heuristics keep fast (ARCHITECTURE.md,
//! "Opt-level z"): at "z" it hoists loads out of the Cortex-M `SMLAD` tile until its sums
//! spill, and calls `memcpy` for short copies that opt-level 3 writes inline. The results
//! are the same either way; only the instruction sequence differs. `OPT_LEVEL` is the
//! level Cargo builds this crate with, so a profile override for `zant-runtime` (opt 3
//! for the kernels of a firmware built at "z") gets the opt-level 3 loops.
//!
//! An Arm build whose rustflags enable the M-profile vector extension (`-C
//! target-feature=+mve` or `+mve.fp`, as the Cortex-M55's row of the compiler's target
//! table does) is compiled with `cfg(zant_mve)`: rustc has no `target_feature = "mve"`
//! (its list of Arm features lacks it, so no `cfg` names it), and this is the one place
//! that reads the flag.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(zant_size)");
    println!("cargo::rustc-check-cfg=cfg(zant_mve)");
    println!("cargo::rerun-if-changed=build.rs");
    if matches!(std::env::var("OPT_LEVEL").as_deref(), Ok("s" | "z")) {
        println!("cargo::rustc-cfg=zant_size");
    }
    let arm = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("arm");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if arm && enables_mve(flags.split('\x1f')) {
        println!("cargo::rustc-cfg=zant_mve");
    }
}

/// Whether the last mention of MVE among the `-C target-feature` lists of these rustc
/// flags enables it (`+mve` or `+mve.fp`; `-mve` turns it off again).
fn enables_mve<'a>(flags: impl Iterator<Item = &'a str>) -> bool {
    let mut mve = false;
    let mut after_c = false;
    for flag in flags {
        let value = if after_c {
            Some(flag)
        } else {
            flag.strip_prefix("-C")
        };
        after_c = flag == "-C";
        let Some(features) = value.and_then(|v| v.strip_prefix("target-feature=")) else {
            continue;
        };
        for feature in features.split(',') {
            match feature {
                "+mve" | "+mve.fp" => mve = true,
                "-mve" => mve = false,
                _ => {}
            }
        }
    }
    mve
}
