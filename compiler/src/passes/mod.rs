//! Graph-to-graph rewrites, run in this order by [`optimize`]:
//!
//! 0. [`qdq`]: `DequantizeLinear → op → QuantizeLinear` groups become integer ops
//!    (QLinearConv, QLinearMatMul, QGemm, QLinearAdd, views on 8-bit data). First, before
//!    anything folds a weight's DequantizeLinear into an f32 constant (import leaves those
//!    unfolded for this pass), and before fusion takes the Relu or bias Add that the group
//!    still spells out; what it leaves in float, `fold` then dequantizes.
//! 1. [`fold`]: evaluate nodes whose inputs are all constant (import already propagated
//!    constants; this catches what later rewrites expose).
//! 2. [`narrow`]: let Relu, Clip and max pooling on a narrow float read the `f32` value
//!    before its round trip through the narrow type, which they commute with. Before
//!    fusion, so the Conv → Relu pairs it brings together get fused.
//! 3. [`identity`]: drop views that do not change the shape (Identity, Dropout, no-op
//!    Reshape), so later matches see producer and consumer side by side.
//! 4. [`batchnorm`]: fold BatchNormalization into the Conv before it; lower the rest to
//!    Mul + Add. Before fusion, so the Conv → Relu pairs it exposes get fused.
//! 5. [`fuse`]: a constant scale into a Conv's or MatMul's weights, a constant bias Add,
//!    then the activations, into Conv/Gemm/MatMul (the module lists every pattern).
//! 6. [`ternary`], only with `--weights ternary`: Conv, MatMul and Gemm with constant
//!    weights become ternary ops. After BatchNormalization folding, so it makes trits of
//!    the folded weights, and after fusion, so the Relu/Clip and bias a float op took in
//!    stay fused into the ternary kernel, which applies them once per output. Before
//!    `layout`, which must not have transposed the float weights it quantizes.
//! 7. [`layout`]: a QGemm of one row by a constant matrix gets its weights transposed for
//!    the dot-product kernel; Conv weights are blocked; an RNN, GRU or LSTM over a batch
//!    of one gets its constant `R` in the recurrent kernel's column panels, and any
//!    recurrent layer its constant `W`; a float MatMul by a constant `B` gets `B` in
//!    column panels where the crate runs vector kernels only. After the QDQ pass built the QGemm and `fold` settled its
//!    weights.
//! 8. [`dead`]: remove nodes nothing reads. Last, because every rewrite above leaves
//!    orphans behind (old weights, the fused activation's inputs).
//!
//! Every pass is `fn run(&mut Graph) -> Result<Changed, PassError>`; rewrites collect
//! their matches first, then apply them, never mutating while walking.

pub mod batchnorm;
pub mod bounded;
pub mod dead;
pub mod fold;
pub mod fuse;
pub mod identity;
pub mod layout;
pub mod narrow;
pub mod qdq;
pub mod ternary;

use crate::ir::Graph;
use crate::ops::{OnnxOp, OpError};
use crate::target::Target;
use crate::tensor::ternary::KeepFloat;

/// Whether a pass changed the graph.
pub type Changed = bool;

/// A pass failed at a node.
#[derive(Debug, thiserror::Error)]
#[error("pass `{pass}`: node `{node}`: {op}: {source}")]
pub struct PassError {
    pub pass: &'static str,
    pub node: String,
    pub op: OnnxOp,
    /// Boxed: every pass returns this, and a `Result` should stay small.
    #[source]
    pub source: Box<OpError>,
}

/// A pass: name and entry point.
pub type Pass = (&'static str, fn(&mut Graph) -> Result<Changed, PassError>);

/// The passes in execution order, but [`ternary`], which takes an option and runs only
/// when asked (before `layout`, see [`optimize`]).
pub const PASSES: &[Pass] = &[
    ("qdq", qdq::run),
    ("fold", fold::run),
    ("narrow", narrow::run),
    ("identity", identity::run),
    ("batchnorm", batchnorm::run),
    ("fuse", fuse::run),
    ("layout", layout::run),
    ("dead", dead::run),
];

/// Runs every pass once, in order. With `ternary` (the layers `--keep-float` keeps),
/// [`ternary`] runs between `fuse` and `layout`, which must not have transposed the
/// float weights it quantizes; `dead` then drops the float weights.
pub fn optimize(
    graph: &mut Graph,
    ternary: Option<KeepFloat>,
    target: Option<&Target>,
) -> Result<(), PassError> {
    let kernels = crate::target::kernel_set(target);
    let pairs = target.is_some_and(Target::pairs_weights);
    for (name, pass) in PASSES {
        if *name == "layout" {
            if let Some(keep) = ternary {
                ternary::run(graph, keep)?;
            }
            // The weights' layout follows the kernels the crate is built for.
            layout::run_for(graph, kernels, pairs)?;
            continue;
        }
        pass(graph)?;
    }
    Ok(())
}
