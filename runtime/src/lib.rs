//! Kernels for the code that `zantc` generates: `#![no_std]`, no `alloc`, and no `unsafe`
//! outside [`dsp`] (the Arm DSP instructions, one `asm!` each, x86-64's VNNI dot product and
//! its AMX tile products) and `qconv/helium.rs` (the Cortex-M55's MVE loops).
//!
//! Every kernel takes plain slices and a small parameter struct. Shapes are passed in,
//! never discovered, so a generated call with constant parameters lets the optimiser see
//! every loop bound once the kernel is inlined. The compiler calls the same kernels on the
//! host to fold constants, so generated code and constant folding cannot disagree.
//!
//! Data-dependent failures (an index out of range, an integer division by zero) come back
//! as [`KernelError`]; no panic is reachable from input data.
#![no_std]
#![deny(unsafe_code)]

// The `tokens` feature serves the compiler, on the host: its field lists and summaries are
// `String`s. Generated crates never enable it, so they stay free of `alloc`.
#[cfg(feature = "tokens")]
extern crate alloc;

pub mod activation;
pub mod arena;
pub mod attention;
pub mod conv;
mod copy;
pub mod dsp;
pub mod elementwise;
pub mod gemm;
pub mod grid_sample;
pub mod index;
pub mod linalg;
pub mod logic;
pub mod loss;
pub mod ml;
pub mod narrow;
pub mod ngram;
pub mod norm;
pub mod optim;
pub mod patch;
pub mod pool;
pub mod qconv;
pub mod qlinear;
pub mod quant;
pub mod recurrent;
pub mod reduce;
pub mod resize;
pub mod roi;
pub mod scalar;
pub mod select;
pub mod shape;
pub mod spectral;
pub mod target;
pub mod ternary;
pub mod tokens;
mod unroll;

mod error;

pub use activation::Activation;
pub use error::{Error, KernelError};

/// The largest tensor rank the kernels accept; the compiler refuses larger ranks.
pub const MAX_RANK: usize = 8;
