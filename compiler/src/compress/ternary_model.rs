//! The float model of a ternary compile, ONNX → ONNX (`zantc quantize --weights ternary`):
//! the weight of each Conv, MatMul and Gemm replaced by its dequantized ternary form
//! (`trit · scale`, [`crate::tensor::ternary::dequantize`]), so ONNX Runtime computes what
//! `zantc compile --weights ternary` computes, up to f32 rounding, and checks it.
//!
//! The layers are those `passes::ternary` converts: a Conv (any group), a MatMul or a Gemm
//! whose weight is a constant, except the first and last such layer in file order when
//! `--keep-float` names them (exporters list nodes in the order they run, which is the
//! compiler's schedule). The compiler converts weights after it folded BatchNormalization
//! into the convolution before it; a model with such a pair gets a float copy whose
//! convolution weights were made ternary before the fold, which differs, and the command
//! refuses it rather than write a model that checks something else.

use crate::compress::prune::{normalize, PruneError};
use crate::onnx::{ImportError, ModelEdit};
use crate::tensor::ternary::{dequantize, KeepFloat, OutputAxis};

/// Why a ternary float copy could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TernaryModelError {
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("ternary weights: {0}")]
    Normalize(#[from] PruneError),
    #[error("ternary weights: node `{node}` ({op}): {message}")]
    Node {
        node: String,
        op: String,
        message: String,
    },
}

/// Replaces the weights of the layers `--weights ternary` converts by their dequantized
/// ternary form. Returns the names of the layers converted, in file order.
pub fn dequantize_ternary(
    edit: &mut ModelEdit,
    keep: KeepFloat,
) -> Result<Vec<String>, TernaryModelError> {
    normalize(edit, &[], &[])?;
    let nodes = edit.nodes();
    if let Some(bn) = nodes.iter().find(|n| n.op_type == "BatchNormalization") {
        return Err(TernaryModelError::Node {
            node: bn.name.clone(),
            op: bn.op_type.clone(),
            message: "zant folds BatchNormalization into the weights before making them \
                      ternary; fold it in the model first"
                .into(),
        });
    }
    let mut layers = Vec::new();
    for node in &nodes {
        let axis = match (node.op_type.as_str(), node.domain.as_str()) {
            ("Conv", "") => OutputAxis::First,
            ("Gemm", "") if node.int("transB") == Some(1) => OutputAxis::First,
            ("MatMul" | "Gemm", "") => OutputAxis::Last,
            _ => continue,
        };
        let Some(weight) = node.inputs.get(1).filter(|w| !w.is_empty()) else {
            continue;
        };
        if let Some(tensor) = edit.initializer(weight)? {
            layers.push((node.clone(), weight.clone(), tensor, axis));
        }
    }
    let n = layers.len();
    let mut converted = Vec::new();
    for (i, (node, weight, tensor, axis)) in layers.into_iter().enumerate() {
        if (keep.first && i == 0) || (keep.last && i + 1 == n) {
            continue;
        }
        let float = dequantize(&tensor, axis).map_err(|e| TernaryModelError::Node {
            node: node.name.clone(),
            op: node.op_type.clone(),
            message: e.to_string(),
        })?;
        edit.set_initializer(&weight, &float);
        converted.push(node.name);
    }
    Ok(converted)
}
