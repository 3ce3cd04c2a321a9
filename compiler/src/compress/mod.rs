//! Model compression: rewrites of a model's weights that make it smaller or cheaper. The
//! ONNX → ONNX tools work on an [`crate::onnx::ModelEdit`] and write back a model ONNX
//! Runtime loads, so the runtime of reference can still check the result.
//!
//! - [`calibrate`] reads calibration samples (`.npy` stacks, row ranges) and runs the
//!   imported model on them through the ops' constant folding, the same runtime kernels
//!   the generated code calls, recording per-tensor ranges and histograms;
//! - [`quantize`] rewrites a float ONNX model into a static QDQ model or ONNX Runtime's
//!   dynamic format (`zantc quantize`);
//! - [`prune`]: unstructured (magnitude) and structured (channel) pruning, `--prune`;
//! - [`ternary_model`]: the float copy of a ternary compile, for ONNX Runtime to check;
//! - [`ternary`]: one trit per weight and one scale per output channel (BitNet's absmean
//!   rule, 1.58 bits of information, stored at 1.6), pure functions on tensors that
//!   `passes::ternary` compiles with under `--weights ternary`. They live in
//!   `tensor::ternary`, below `passes`, and are re-exported here.
//!
//! What measures the methods is tooling on top of `bench`: `bench::eval` (a compiled
//! model's accuracy, or agreement with another, on rows of a data set) and `zantc
//! compress-report` (`bench::compress_report`, `bench::compression`).

pub mod calibrate;
pub mod prune;
pub mod quantize;
pub mod ternary_model;
pub use crate::tensor::ternary;
