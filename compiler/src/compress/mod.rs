//! Model compression: rewrites of a model's weights that make it smaller or cheaper, and
//! the report that measures what each method costs. The ONNX → ONNX tools work on an
//! [`crate::onnx::ModelEdit`] and write back a model ONNX Runtime loads, so the runtime of
//! reference can still check the result.
//!
//! - [`prune`]: unstructured (magnitude) and structured (channel) pruning, `--prune`.
//! - [`ternary_model`]: the float copy of a ternary compile, for ONNX Runtime to check.
//! - [`ternary`]: one trit per weight and one scale per output channel (BitNet's absmean
//!   rule, 1.58 bits of information, stored at 1.6), pure functions on tensors that
//!   `passes::ternary` compiles with under `--weights ternary`. They live in
//!   `tensor::ternary`, below `passes`, and are re-exported here.
//!
//! The report that measures every method, `zantc compress-report`, is tooling on top of
//! `bench` (`bench::compression`).

pub mod prune;
pub mod ternary_model;
pub use crate::tensor::ternary;
