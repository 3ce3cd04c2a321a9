//! Model compression, ONNX → ONNX: rewrites of a model's weights that make it smaller or
//! cheaper, written back as a model ONNX Runtime loads, so the runtime of reference can
//! still check the result. Each tool works on an [`crate::onnx::ModelEdit`].
//!
//! - [`prune`]: unstructured (magnitude) and structured (channel) pruning, `--prune`.

pub mod prune;
