//! The IR's text form, used by `zantc inspect`, pass tests and snapshots:
//! `%y = Conv(%x, %w) kernel_shape=[3,3] strides=[2,2] : f32[1,8,28,28]`. Each node
//! shows its ONNX op type and its attributes as the op describes them.

use std::fmt::Write;

use super::{Graph, NodeId};
use crate::ops::{OnnxOp, Op};

/// Prints the graph in schedule order (file order for a graph with a cycle).
pub fn print(graph: &Graph) -> String {
    let order = graph.schedule().unwrap_or_else(|_| graph.node_ids());
    let mut out = String::new();
    for (i, input) in graph.inputs.iter().enumerate() {
        let v = &graph.node(*input).outputs[0];
        let _ = writeln!(out, "input {i}: %{} : {}", v.name, v.ty);
    }
    for id in order {
        if matches!(graph.node(id).op, Op::Input(_)) {
            continue;
        }
        let _ = writeln!(out, "{}", node_line(graph, id));
    }
    for (i, o) in graph.outputs.iter().enumerate() {
        let _ = writeln!(
            out,
            "output {i}: {} = %{}",
            o.name,
            graph.value(o.value).name
        );
    }
    out
}

/// One node as a line of text.
pub fn node_line(graph: &Graph, id: NodeId) -> String {
    let node = graph.node(id);
    let outs: Vec<String> = node
        .outputs
        .iter()
        .map(|v| format!("%{}", v.name))
        .collect();
    let types: Vec<String> = node.outputs.iter().map(|v| v.ty.to_string()).collect();
    if let Op::Const(t) = &node.op {
        return format!("{} = Const {t:?}", outs.join(", "));
    }
    let ins: Vec<String> = node
        .inputs
        .iter()
        .map(|i| match i {
            Some(v) => format!("%{}", graph.value(*v).name),
            None => "_".to_string(),
        })
        .collect();
    let attrs = node.op.attrs();
    let attrs = if attrs.is_empty() {
        String::new()
    } else {
        format!(" {attrs}")
    };
    format!(
        "{} = {}({}){attrs} : {}",
        outs.join(", "),
        op_name(&node.onnx),
        ins.join(", "),
        types.join(", ")
    )
}

/// A node without its attributes: `name: Op(%a, %b) -> %y : f32[..]`, for comments in
/// generated code.
pub fn node_signature(graph: &Graph, id: NodeId) -> String {
    let node = graph.node(id);
    let ins: Vec<String> = node
        .inputs
        .iter()
        .map(|i| i.map_or("_".to_string(), |v| format!("%{}", graph.value(v).name)))
        .collect();
    let outs: Vec<String> = node
        .outputs
        .iter()
        .map(|v| format!("%{} : {}", v.name, v.ty))
        .collect();
    format!(
        "{}: {}({}) -> {}",
        node.name,
        op_name(&node.onnx),
        ins.join(", "),
        outs.join(", ")
    )
}

/// `Conv`, or `com.microsoft.QGemm` outside the default domain.
fn op_name(op: &OnnxOp) -> String {
    if op.domain.is_empty() {
        op.op_type.to_string()
    } else {
        format!("{}.{}", op.domain, op.op_type)
    }
}
