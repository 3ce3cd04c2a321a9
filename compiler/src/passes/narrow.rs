//! Moves the rounding to a narrow float past the ops it commutes with, so their `f32`
//! inputs need no round trip.
//!
//! Import computes every op on a narrow float type in `f32` between casts
//! (`onnx::narrow`), so `Conv → Relu` in float16 reads
//! `Conv → Cast(f16) → Cast(f32) → Relu → Cast(f16)`. Rounding to the narrow type is
//! monotone and keeps its own values, so for Relu, for Clip with bounds the narrow type
//! holds, and for MaxPool and GlobalMaxPool, rounding the input first and the output
//! after gives what rounding the output alone gives: the op can read the `f32` value
//! before the round trip. The Conv and the Relu then meet, and `fuse` joins them; the
//! casts nothing reads any more go at once, so that the Conv has the Relu as its one
//! reader.

use zant_runtime::elementwise::UnaryOp;

use super::{Changed, PassError};
use crate::ir::{DType, Graph, NodeId, ValueId};
use crate::ops::cast::cast_data;
use crate::ops::pool::PoolKind;
use crate::ops::Op;
use crate::tensor::Data;

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    let matches: Vec<(NodeId, ValueId)> = graph
        .node_ids()
        .into_iter()
        .filter_map(|id| sink(graph, id).map(|wide| (id, wide)))
        .collect();
    for &(id, wide) in &matches {
        let widened = graph.node(id).inputs[0].expect("matched");
        graph.set_input(id, 0, Some(wide));
        // The round trip's casts go as soon as nothing reads them, so that `fuse` finds
        // the `f32` producer with its one reader.
        let narrowed = graph.node(widened.node).inputs[0].expect("matched");
        for cast in [widened, narrowed] {
            if !graph.is_used(cast) && !graph.is_graph_output(cast) {
                graph.remove_node(cast.node);
            }
        }
    }
    Ok(!matches.is_empty())
}

/// The `f32` value `id` can read instead of its input, when `id` commutes with rounding
/// to the narrow type its input went through and its output goes back to that type.
fn sink(graph: &Graph, id: NodeId) -> Option<ValueId> {
    let node = graph.node(id);
    // `f32 → narrow → f32` in front of the op.
    let widened = node.inputs.first().copied().flatten()?;
    let narrowed = widening_input(graph, widened)?;
    let narrow = graph.ty(narrowed).dtype;
    let Op::Cast(narrowing) = &graph.node(narrowed.node).op else {
        return None;
    };
    let wide = graph.node(narrowed.node).inputs[0]?;
    let exact_cast = narrowing.to == Some(narrow) && narrowing.saturate;
    if !exact_cast || graph.ty(wide).dtype != DType::F32 || !narrow.is_narrow_float() {
        return None;
    }
    // The op's one output, read only by a Cast to the same narrow type.
    let out = ValueId { node: id, slot: 0 };
    if node.outputs.len() != 1 || graph.is_graph_output(out) {
        return None;
    }
    let readers = graph.consumers(out);
    let [(reader, _)] = readers.as_slice() else {
        return None;
    };
    let narrows_back = matches!(&graph.node(*reader).op, Op::Cast(c) if c.to == Some(narrow));
    (narrows_back && commutes(&node.op, narrow)).then_some(wide)
}

/// The input of `v` when `v` is a plain Cast of a narrow float to `f32`.
fn widening_input(graph: &Graph, v: ValueId) -> Option<ValueId> {
    let node = graph.node(v.node);
    match &node.op {
        Op::Cast(c) if c.to == Some(DType::F32) && !c.widens_weight => {
            let input = node.inputs[0]?;
            graph.ty(input).dtype.is_narrow_float().then_some(input)
        }
        _ => None,
    }
}

/// Whether `op` on `f32` commutes with rounding to `narrow`: it picks among its inputs or
/// clamps them to values `narrow` holds.
fn commutes(op: &Op, narrow: DType) -> bool {
    let holds = |v: f32| {
        let back = cast_data(&cast_data(&Data::F32(vec![v]), narrow), DType::F32);
        back == Data::F32(vec![v])
    };
    match op {
        Op::Unary(u) => matches!(u.op, UnaryOp::Relu),
        Op::Clip(c) => holds(c.min) && holds(c.max),
        Op::Pool(p) => matches!(p.kind, PoolKind::Max | PoolKind::GlobalMax),
        _ => false,
    }
}
