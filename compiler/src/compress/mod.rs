//! Compression of float models: post-training int8 quantization (`zantc quantize`) and the
//! accuracy evaluation the compression tools share.
//!
//! - [`calibrate`] reads calibration samples (`.npy` stacks, row ranges) and runs the
//!   imported model on them through the ops' constant folding, the same runtime kernels
//!   the generated code calls, recording per-tensor ranges and histograms;
//! - [`quantize`] rewrites a float ONNX model into a static QDQ model or ONNX Runtime's
//!   dynamic format, through [`crate::onnx::ModelEdit`];
//! - `eval` (feature `verify`) compiles a model, builds its runner once and measures top-1
//!   accuracy, or agreement with another model, on rows of a data set.
//!
//! The outputs are ONNX files, so ONNX Runtime stays the oracle for what they compute.

pub mod calibrate;
#[cfg(feature = "verify")]
pub mod eval;
pub mod quantize;
