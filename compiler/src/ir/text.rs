//! The IR's text form, used by `zantc inspect`, pass tests and snapshots:
//! `%y = Conv(%x, %w) kernel_shape=[3,3] strides=[2,2] : f32[1,8,28,28]`. Each node
//! shows its ONNX op type and its attributes as the op describes them.

use std::collections::HashMap;
use std::fmt::Write;

use super::{Graph, GraphOutput, NodeId, Value, ValueId};
use crate::ops::{self, split_top, Attribute, NodeError, OnnxOp, Op, OpError, ParseCtx};
use crate::tensor::{SyntaxError, Tensor, TensorType};

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
        return format!("{} = Const {}", outs.join(", "), const_text(t));
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
    // A node of an `If` branch names its gate by the gate's first output.
    let guard = match node.guard.filter(|&g| graph.contains(g)) {
        Some(g) => format!(" guarded_by %{}", graph.node(g).outputs[0].name),
        None => String::new(),
    };
    format!(
        "{} = {}({}){attrs} : {}{guard}",
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

/// A constant's type and values: all of them up to eight, `splat(v)` when every element is
/// the same (both read back), and only the type for a larger tensor such as a weight.
fn const_text(t: &Tensor) -> String {
    const SHOWN: usize = 8;
    if t.dtype().narrow().is_some() {
        // Codes are equal exactly when values are; the text shows values.
        let codes = t.data.codes().unwrap_or_default();
        if codes.len() > SHOWN && codes.iter().all(|&c| c == codes[0]) {
            let format = t.dtype().narrow().expect("narrow");
            let value = zant_runtime::narrow::decode(format, codes[0]);
            return if format.is_int() {
                format!("{} splat({})", t.ty(), value as i64)
            } else {
                format!("{} splat({value:?})", t.ty())
            };
        }
        return format!("{t:?}");
    }
    crate::with_data!(&t.data, v => {
        if v.len() > SHOWN && !v.is_empty() && v.iter().all(|x| *x == v[0]) {
            format!("{} splat({:?})", t.ty(), v[0])
        } else {
            format!("{t:?}")
        }
    })
}

/// `Conv`, or `com.microsoft.QGemm` outside the default domain.
fn op_name(op: &OnnxOp) -> String {
    if op.domain.is_empty() {
        op.op_type.to_string()
    } else {
        format!("{}.{}", op.domain, op.op_type)
    }
}

/// A line of IR text that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TextError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("line {line}: {source}")]
    Node {
        line: usize,
        #[source]
        source: NodeError,
    },
}

/// The ai.onnx opset a text graph is read at unless it says `opset N` on a line of its own;
/// an op whose table line starts later or ends earlier is read at the nearest opset it has.
pub const DEFAULT_OPSET: i64 = 21;

/// Reads the text form back into a graph, the way [`print`] writes it:
///
/// ```text
/// opset 17
/// input 0: %x : f32[1,1,5,5]
/// %w = Const f32[1,1,3,3] [..9 values..]
/// %y = Conv(%x, %w) kernel_shape=[3,3] pads=[1,1,1,1] : f32[1,1,5,5]
/// %z = Relu(%y)
/// output 0: out = %z
/// ```
///
/// Nodes go through the op table like imported ones: attributes are ONNX attributes,
/// constant inputs an op needs at compile time are absorbed, and output types are
/// inferred (a `: type` after a node is checked against the inference). A `Const` takes
/// its values as a list, or `splat(v)` for a constant filled with one value.
pub fn parse(text: &str) -> Result<Graph, TextError> {
    let mut graph = Graph::new();
    let mut names: HashMap<String, ValueId> = HashMap::new();
    let mut opset = DEFAULT_OPSET;
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let syntax = |message: String| TextError::Syntax { line, message };
        let src = raw.trim();
        if src.is_empty() || src.starts_with("//") {
            continue;
        }
        if let Some(v) = src.strip_prefix("opset ") {
            opset = v
                .trim()
                .parse()
                .map_err(|_| syntax(format!("`{v}` is not an opset")))?;
        } else if let Some(rest) = src.strip_prefix("input ") {
            let (_, decl) = rest
                .split_once(':')
                .ok_or_else(|| syntax("expected `input N: %name : type`".into()))?;
            let (name, ty) = decl
                .split_once(':')
                .ok_or_else(|| syntax("expected `%name : type`".into()))?;
            let name = value_name(name).map_err(|e| syntax(e.0))?;
            let ty = TensorType::parse(ty).map_err(|e| syntax(e.0))?;
            let index = graph.inputs.len();
            let node = graph.add_node(
                name.clone(),
                Op::Input(index),
                OnnxOp::INPUT,
                vec![],
                vec![Value {
                    name: name.clone(),
                    ty,
                }],
            );
            graph.inputs.push(node);
            names.insert(name, ValueId { node, slot: 0 });
        } else if let Some(rest) = src.strip_prefix("output ") {
            let (_, decl) = rest
                .split_once(':')
                .ok_or_else(|| syntax("expected `output N: name = %value`".into()))?;
            let (name, value) = decl
                .split_once('=')
                .ok_or_else(|| syntax("expected `name = %value`".into()))?;
            let value = value_name(value).map_err(|e| syntax(e.0))?;
            let value = *names
                .get(&value)
                .ok_or_else(|| syntax(format!("`%{value}` is not defined")))?;
            graph.outputs.push(GraphOutput {
                name: name.trim().to_string(),
                value,
            });
        } else {
            parse_node(&mut graph, &mut names, src, opset, line)?;
        }
    }
    Ok(graph)
}

fn parse_node(
    graph: &mut Graph,
    names: &mut HashMap<String, ValueId>,
    src: &str,
    opset: i64,
    line: usize,
) -> Result<(), TextError> {
    let syntax = |message: String| TextError::Syntax { line, message };
    let (outs, rhs) = src
        .split_once(" = ")
        .ok_or_else(|| syntax("expected `%out = Op(%in, ..) attrs : type`".into()))?;
    let outs: Vec<String> = outs
        .split(',')
        .map(value_name)
        .collect::<Result<_, _>>()
        .map_err(|e| syntax(e.0))?;
    let rhs = rhs.trim();
    let (rhs, guard) = match rhs.rsplit_once(" guarded_by ") {
        Some((rhs, gate)) => {
            let gate = value_name(gate).map_err(|e| syntax(e.0))?;
            let gate = names
                .get(&gate)
                .ok_or_else(|| syntax(format!("`%{gate}` is not defined")))?
                .node;
            (rhs, Some(gate))
        }
        None => (rhs, None),
    };
    if let Some(value) = rhs.strip_prefix("Const ") {
        let tensor = Tensor::parse(value.trim()).map_err(|e| syntax(e.0))?;
        let name = outs[0].clone();
        let v = graph.add_const(name.clone(), tensor);
        names.insert(name, v);
        return Ok(());
    }
    let open = rhs
        .find('(')
        .ok_or_else(|| syntax("expected `Op(` after `=`".into()))?;
    let close = rhs[open..]
        .find(')')
        .map(|i| open + i)
        .ok_or_else(|| syntax("expected `)` after the operands".into()))?;
    let full_name = &rhs[..open];
    let (domain, op_type) = match full_name.rsplit_once('.') {
        Some((d, t)) => (d, t),
        None => ("", full_name),
    };
    let spec = ops::lookup(domain, op_type)
        .ok_or_else(|| syntax(format!("`{full_name}` is not in the op table")))?;
    let mut inputs = Vec::new();
    for arg in rhs[open + 1..close].split(',').map(str::trim) {
        if arg.is_empty() {
            continue;
        }
        if arg == "_" {
            inputs.push(None);
            continue;
        }
        let name = value_name(arg).map_err(|e| syntax(e.0))?;
        let v = *names
            .get(&name)
            .ok_or_else(|| syntax(format!("`%{name}` is not defined")))?;
        inputs.push(Some(v));
    }
    let (attrs_text, declared) = match rhs[close + 1..].rsplit_once(" : ") {
        Some((a, t)) => (a, Some(t)),
        None => (&rhs[close + 1..], None),
    };
    let attrs = Attribute::parse_list(attrs_text).map_err(|e| syntax(e.0))?;

    let opset = opset.clamp(spec.opsets.0, spec.opsets.1);
    let onnx = OnnxOp::new(spec, opset);
    let node_err = |source: OpError| TextError::Node {
        line,
        source: NodeError {
            node: outs[0].clone(),
            op: onnx,
            source,
        },
    };
    let types: Vec<Option<&TensorType>> = inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
    let consts = inputs
        .iter()
        .map(|v| v.and_then(|v| graph.const_value(v)))
        .collect();
    let ctx = ParseCtx::new(op_type, opset, &attrs, types, consts)
        .with_outputs(outs.len())
        .reading_text();
    let op = (spec.parse)(&ctx).map_err(node_err)?;
    let absorbed = ctx.absorbed();
    drop(ctx);
    for (i, input) in inputs.iter_mut().enumerate() {
        if absorbed & (1 << i) != 0 {
            *input = None;
        }
    }
    while inputs.last() == Some(&None) {
        inputs.pop();
    }
    let types: Vec<Option<&TensorType>> = inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
    let out_types = op.infer(&types).map_err(node_err)?;
    if let Some(declared) = declared {
        let declared: Vec<TensorType> = split_top(declared, ',')
            .iter()
            .map(|t| TensorType::parse(t))
            .collect::<Result<_, _>>()
            .map_err(|e| syntax(e.0))?;
        if declared != out_types {
            let shown: Vec<String> = out_types.iter().map(ToString::to_string).collect();
            return Err(syntax(format!(
                "the node infers to {}, not the declared type",
                shown.join(", ")
            )));
        }
    }
    if outs.len() > out_types.len() {
        return Err(syntax(format!(
            "{} names {} outputs; the op has {}",
            op_type,
            outs.len(),
            out_types.len()
        )));
    }
    let values = outs
        .iter()
        .zip(&out_types)
        .map(|(name, ty)| Value {
            name: name.clone(),
            ty: ty.clone(),
        })
        .collect();
    let node = graph.add_node(outs[0].clone(), op, onnx, inputs, values);
    graph.node_mut(node).guard = guard;
    for (slot, name) in outs.iter().enumerate() {
        names.insert(
            name.clone(),
            ValueId {
                node,
                slot: slot as u32,
            },
        );
    }
    Ok(())
}

/// `%name` → `name`.
fn value_name(text: &str) -> Result<String, SyntaxError> {
    let t = text.trim();
    t.strip_prefix('%')
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .ok_or_else(|| SyntaxError(format!("`{t}` is not a value name like `%x`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses, prints, and checks that the printed text parses to the same text again.
    fn round_trip(text: &str) -> String {
        let graph = parse(text).unwrap_or_else(|e| panic!("{e}"));
        crate::ir::verify::verify(&graph).unwrap();
        let printed = print(&graph);
        let again = print(&parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}")));
        assert_eq!(printed, again, "the printed text reads back differently");
        printed
    }

    #[test]
    fn reads_back_what_it_prints() {
        insta::assert_snapshot!(round_trip("
            input 0: %x : f32[1,1,4,4]
            %w = Const f32[2,1,3,3] splat(0.5)
            %b = Const f32[2] [0.25, -1.0]
            %c = Conv(%x, %w, %b) kernel_shape=[3,3] pads=[1,1,1,1] : f32[1,2,4,4]
            %r = Relu(%c)
            %lo = Const f32[] [0.0]
            %hi = Const f32[] [6.0]
            %k = Clip(%r, %lo, %hi)
            %p = MaxPool(%k) kernel_shape=[2,2] strides=[2,2]
            %s = Const i64[2] [1, -1]
            %f = Reshape(%p, %s)
            output 0: out = %f
        "), @"
        input 0: %x : f32[1,1,4,4]
        %w = Const f32[2,1,3,3] splat(0.5)
        %b = Const f32[2] [0.25, -1.0]
        %c = Conv(%x, %w, %b) kernel_shape=[3,3] strides=[1,1] pads=[1,1,1,1] dilations=[1,1] : f32[1,2,4,4]
        %r = Relu(%c) : f32[1,2,4,4]
        %lo = Const f32[] [0.0]
        %hi = Const f32[] [6.0]
        %k = Clip(%r) min=0.0 max=6.0 : f32[1,2,4,4]
        %p = MaxPool(%k) kernel_shape=[2,2] strides=[2,2] pads=[0,0,0,0] : f32[1,2,2,2]
        %s = Const i64[2] [1, -1]
        %f = Reshape(%p) shape=[1,8] : f32[1,8]
        output 0: out = %f
        ");
    }

    #[test]
    fn narrow_types_read_back_as_values() {
        insta::assert_snapshot!(round_trip("
            input 0: %x : f16[3]
            %w = Const f16[3] [0.1, -2.5, inf]
            %q = Const i4[10] splat(-3)
            %f8 = Const f8e4m3fn[2] [448.0, NaN]
            %u2 = Const u2[3] [0, 3, 1]
            %wide = Cast(%w) to=1 widens_weight=1
            %y = Cast(%x) to=16
            %z = Cast(%wide) to=19 saturate=0
            output 0: y = %y
            output 1: z = %z
        "), @"
        input 0: %x : f16[3]
        %w = Const f16[3] [0.0999755859375, -2.5, inf]
        %q = Const i4[10] splat(-3)
        %f8 = Const f8e4m3fn[2] [448.0, NaN]
        %u2 = Const u2[3] [0, 3, 1]
        %wide = Cast(%w) to=1 widens_weight=1 : f32[3]
        %y = Cast(%x) to=16 : bf16[3]
        %z = Cast(%wide) to=19 saturate=0 : f8e5m2[3]
        output 0: y = %y
        output 1: z = %z
        ");
    }

    #[test]
    fn guards_read_back() {
        insta::assert_snapshot!(round_trip("
            input 0: %x : f32[2]
            input 1: %c : bool[]
            %g = If(%c, %x) branch=\"then\" : f32[2]
            %r = Relu(%g) guarded_by %g
            %h = If(%c, %x) branch=\"else\" : f32[2]
            %n = Neg(%h) guarded_by %h
            %y = If(%c, %r, %n)
            output 0: out = %y
        "), @r#"
        input 0: %x : f32[2]
        input 1: %c : bool[]
        %g = If(%c, %x) branch="then" : f32[2]
        %r = Relu(%g) : f32[2] guarded_by %g
        %h = If(%c, %x) branch="else" : f32[2]
        %n = Neg(%h) : f32[2] guarded_by %h
        %y = If(%c, %r, %n) : f32[2]
        output 0: out = %y
        "#);
    }

    #[test]
    fn errors_name_the_line() {
        let err = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(
            err("input 0: %x : f32[2]\n%y = Frobnicate(%x)"),
            "line 2: `Frobnicate` is not in the op table"
        );
        assert_eq!(
            err("input 0: %x : f32[2]\n%y = Relu(%z)"),
            "line 2: `%z` is not defined"
        );
        assert_eq!(
            err("input 0: %x : f32[2]\n%y = Relu(%x) : f32[3]"),
            "line 2: the node infers to f32[2], not the declared type"
        );
        assert_eq!(
            err("input 0: %x : f32[2]\n%s = Const i64[1] [2]\n%y = Add(%x, %s)"),
            "line 3: node `y`: Add (domain ai.onnx, opset 21): operand types differ: f32[2] and i64[1]"
        );
        assert_eq!(
            err("%c = Const f32[3] [1.0]"),
            "line 1: f32[3] has 3 elements, but 1 values are given"
        );
    }
}
