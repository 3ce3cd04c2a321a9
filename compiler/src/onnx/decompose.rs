//! Ops taken apart at import into ops of the default domain, like control flow
//! (`onnx::control`): `FlexAttention` of `ai.onnx.preview`, whose modifier subgraphs are
//! imported in place between the ops of its definition.
//!
//! FlexAttention becomes the nodes of its ONNX function body: K and V heads repeated for
//! grouped queries (Reshape, Expand, Reshape), Q and K each times `√scale` in the input
//! type, `Q · Kᵀ`, a Cast to the softmax precision (f32, or f64 for f64 inputs), the
//! `score_mod` subgraph, a Softmax over the last axis, the `prob_mod` subgraph, and
//! `P · V` in that precision, cast back. Every shape is static, so each node folds or
//! types as it is read.

use super::control::{import_body, int_attr, ints_attr, Cx};
use super::import::Importer;
use super::proto;
use super::ImportError;
use crate::ir::{DType, Tensor, ValueId};
use crate::ops::{OnnxOp, OpError};

/// Imports `n`, a FlexAttention node named `name`.
pub(super) fn import_flex_attention<'m>(
    imp: &mut Importer<'m>,
    n: &'m proto::NodeProto,
    name: &str,
    onnx: OnnxOp,
) -> Result<(), ImportError> {
    let cx = Cx { n, name, onnx };
    let (q, k, v) = (cx.value(imp, 0)?, cx.value(imp, 1)?, cx.value(imp, 2)?);
    let (qt, kt, vt) = (
        imp.graph.ty(q).clone(),
        imp.graph.ty(k).clone(),
        imp.graph.ty(v).clone(),
    );
    let shapes_agree = matches!(
        (&qt.shape[..], &kt.shape[..], &vt.shape[..]),
        ([b, hq, _, e], [b2, hk, s, e2], [b3, hk2, s2, _])
            if b == b2 && b == b3 && e == e2 && hk == hk2 && s == s2 && *hk > 0 && hq % hk == 0
    );
    if !shapes_agree || qt.dtype != kt.dtype || qt.dtype != vt.dtype {
        return Err(cx.err(OpError::shape(format!(
            "Q {qt}, K {kt} and V {vt} must be rank-4 tensors of one type, as \
             (batch, heads, length, head size), with K and V of one length and kv heads \
             that divide Q's heads"
        ))));
    }
    if !matches!(qt.dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64) {
        return Err(cx.err(OpError::unsupported(format!(
            "FlexAttention is implemented for f32, f16, bf16 and f64, not {}",
            qt.dtype
        ))));
    }
    // The softmax's type: f64 for f64 inputs and f32 for the others, unless the node
    // names one of the two.
    let precision = match cx.int("softmax_precision") {
        None if qt.dtype == DType::F64 => DType::F64,
        None => DType::F32,
        Some(code) => match i32::try_from(code).ok().and_then(DType::from_onnx) {
            Some(t @ (DType::F32 | DType::F64)) => t,
            _ => {
                return Err(cx.err(OpError::attr(
                    "softmax_precision",
                    format!("{code} is not supported; zant's softmax runs in f32 (1) or f64 (11)"),
                )))
            }
        },
    };
    let (score_mod, prob_mod) = (
        cx.optional_graph("score_mod")?,
        cx.optional_graph("prob_mod")?,
    );
    let (b, hq, s, e) = (qt.shape[0], qt.shape[1], kt.shape[2], qt.shape[3]);
    let hk = kt.shape[1];
    let scale = match cx.attr("scale") {
        Some(a) => a.f,
        None => 1.0 / (e as f32).sqrt(),
    };

    let at = |part: &str| format!("{name}/{part}");
    let shape_const = |imp: &mut Importer<'m>, part: &str, dims: &[usize]| {
        let dims = dims.iter().map(|&d| d as i64).collect();
        let name = imp.prefixed(&at(part));
        imp.graph.add_const(name, Tensor::from_i64s(dims))
    };
    let to = |dtype: DType| int_attr("to", i64::from(dtype.onnx_code()));
    // Each K/V head repeated for its group of query heads, in head order.
    let align = |imp: &mut Importer<'m>, x: ValueId, part: &str| -> Result<ValueId, ImportError> {
        if hq == hk {
            return Ok(x);
        }
        let d = imp.graph.ty(x).shape[3];
        let split = shape_const(imp, &format!("{part}/split"), &[b, hk, 1, s, d]);
        let x = imp.synthesize(
            "Reshape",
            &[x, split],
            vec![],
            &at(&format!("{part}/split")),
        )?;
        let wide = shape_const(imp, &format!("{part}/wide"), &[b, hk, hq / hk, s, d]);
        let x = imp.synthesize(
            "Expand",
            &[x, wide],
            vec![],
            &at(&format!("{part}/expanded")),
        )?;
        let heads = shape_const(imp, &format!("{part}/heads"), &[b, hq, s, d]);
        imp.synthesize(
            "Reshape",
            &[x, heads],
            vec![],
            &at(&format!("{part}/aligned")),
        )
    };
    let k = align(imp, k, "k")?;
    let v = align(imp, v, "v")?;
    // √scale on each side, as the definition scales, in the inputs' type.
    let root = {
        let name = imp.prefixed(&at("scale_sqrt_f32"));
        let c = imp.graph.add_const(name, Tensor::scalar_f32(scale.sqrt()));
        imp.synthesize("Cast", &[c], vec![to(qt.dtype)], &at("scale_sqrt"))?
    };
    let q = imp.synthesize("Mul", &[q, root], vec![], &at("q_scaled"))?;
    let k = imp.synthesize("Mul", &[k, root], vec![], &at("k_scaled"))?;
    let k = imp.synthesize(
        "Transpose",
        &[k],
        vec![ints_attr("perm", &[0, 1, 3, 2])],
        &at("k_transposed"),
    )?;
    let mut scores = imp.synthesize("MatMul", &[q, k], vec![], &at("scores"))?;
    let cast = qt.dtype != precision;
    if cast {
        scores = imp.synthesize("Cast", &[scores], vec![to(precision)], &at("scores_cast"))?;
    }
    let modify =
        |imp: &mut Importer<'m>, g: Option<&'m proto::GraphProto>, x: ValueId, part: &str| {
            let Some(g) = g else { return Ok(x) };
            let out = import_body(imp, &cx, g, &[x], None, &format!("{name}/{part}/"))?;
            let ty = imp.graph.ty(x).clone();
            match out[..] {
                [y] if *imp.graph.ty(y) == ty => Ok(y),
                _ => Err(cx.err(OpError::shape(format!(
                    "the {part} subgraph must give one {ty}, as it takes"
                )))),
            }
        };
    let scores = modify(imp, score_mod, scores, "score_mod")?;
    let probs = imp.synthesize(
        "Softmax",
        &[scores],
        vec![int_attr("axis", 3)],
        &at("probs"),
    )?;
    let probs = modify(imp, prob_mod, probs, "prob_mod")?;
    let y = if cast {
        let v = imp.synthesize("Cast", &[v], vec![to(precision)], &at("v_cast"))?;
        let y = imp.synthesize("MatMul", &[probs, v], vec![], &at("y_cast"))?;
        imp.synthesize("Cast", &[y], vec![to(qt.dtype)], &at("y"))?
    } else {
        imp.synthesize("MatMul", &[probs, v], vec![], &at("y"))?
    };
    cx.define_outputs(imp, &[y])
}

#[cfg(test)]
mod tests {
    use onnx_protobuf::{
        attribute_proto, AttributeProto, GraphProto, Message, ModelProto, NodeProto,
        OperatorSetIdProto,
    };

    use crate::onnx::tests::value;
    use crate::onnx::{load, Source};

    const FLOAT: i32 = 1;
    const DOUBLE: i32 = 11;
    const INT64: i32 = 7;

    fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            domain: if op == "FlexAttention" {
                "ai.onnx.preview".into()
            } else {
                String::new()
            },
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute,
            ..Default::default()
        }
    }

    /// A `score_mod` that adds `scores` to themselves and gives `[B, H, L, S]` back, or,
    /// with `sum`, reduces the last axis away.
    fn score_mod(sum: bool) -> AttributeProto {
        let body = if sum {
            node("ReduceSum", &["scores"], "out", vec![])
        } else {
            node("Add", &["scores", "scores"], "out", vec![])
        };
        AttributeProto {
            name: "score_mod".into(),
            type_: attribute_proto::AttributeType::GRAPH.into(),
            g: Some(GraphProto {
                name: "double".into(),
                node: vec![body],
                input: vec![value("scores", FLOAT, &[1, 4, 3, 5])],
                output: vec![value("out", FLOAT, &[1, 4, 3, 5])],
                ..Default::default()
            })
            .into(),
            ..Default::default()
        }
    }

    fn int(name: &str, i: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            type_: attribute_proto::AttributeType::INT.into(),
            i,
            ..Default::default()
        }
    }

    /// FlexAttention of Q `[1, 4, 3, 8]`, K `[1, kv_heads, 5, 8]` and V `[1, kv_heads, 5, 6]`.
    fn model(elem: i32, kv_heads: i64, attribute: Vec<AttributeProto>) -> Vec<u8> {
        let opset = |domain: &str, version| OperatorSetIdProto {
            domain: domain.into(),
            version,
            ..Default::default()
        };
        ModelProto {
            ir_version: 10,
            opset_import: vec![opset("", 23), opset("ai.onnx.preview", 1)],
            graph: Some(GraphProto {
                node: vec![node("FlexAttention", &["q", "k", "v"], "y", attribute)],
                input: vec![
                    value("q", elem, &[1, 4, 3, 8]),
                    value("k", elem, &[1, kv_heads, 5, 8]),
                    value("v", elem, &[1, kv_heads, 5, 6]),
                ],
                output: vec![value("y", elem, &[1, 4, 3, 6])],
                ..Default::default()
            })
            .into(),
            ..Default::default()
        }
        .write_to_bytes()
        .unwrap()
    }

    fn ops(bytes: &[u8]) -> Result<Vec<String>, String> {
        let loaded = load(Source::Bytes(bytes), &[], &[]).map_err(|e| e.to_string())?;
        let g = &loaded.graph;
        Ok(g.node_ids()
            .into_iter()
            .map(|id| g.node(id).onnx.op_type.to_string())
            .collect())
    }

    #[test]
    fn grouped_heads_and_a_score_mod_become_ordinary_ops() {
        let ops = ops(&model(FLOAT, 2, vec![score_mod(false)])).unwrap();
        assert!(!ops.iter().any(|o| o.contains("FlexAttention")), "{ops:?}");
        for op in ["Expand", "MatMul", "Softmax", "Add"] {
            assert!(ops.iter().any(|o| o == op), "no {op} in {ops:?}");
        }
    }

    /// Double inputs keep their softmax in f64 unless the node asks for f32, which casts
    /// around it.
    #[test]
    fn the_softmax_runs_in_the_precision_asked() {
        let casts = |bytes: Vec<u8>| ops(&bytes).unwrap().iter().filter(|o| *o == "Cast").count();
        assert_eq!(casts(model(DOUBLE, 2, vec![])), 0);
        assert_eq!(
            casts(model(DOUBLE, 2, vec![int("softmax_precision", 1)])),
            3
        );
        assert_eq!(
            casts(model(FLOAT, 4, vec![int("softmax_precision", 11)])),
            3
        );
    }

    #[test]
    fn refusals_name_the_reason() {
        let err = |bytes: Vec<u8>| ops(&bytes).expect_err("must be refused");
        insta::assert_snapshot!(err(model(FLOAT, 3, vec![])), @"node `FlexAttention_0`: FlexAttention (domain ai.onnx.preview, opset 1): Q f32[1,4,3,8], K f32[1,3,5,8] and V f32[1,3,5,6] must be rank-4 tensors of one type, as (batch, heads, length, head size), with K and V of one length and kv heads that divide Q's heads");
        insta::assert_snapshot!(err(model(INT64, 2, vec![])), @"node `FlexAttention_0`: FlexAttention (domain ai.onnx.preview, opset 1): FlexAttention is implemented for f32, f16, bf16 and f64, not i64");
        insta::assert_snapshot!(err(model(FLOAT, 2, vec![int("softmax_precision", 10)])), @"node `FlexAttention_0`: FlexAttention (domain ai.onnx.preview, opset 1): attribute `softmax_precision`: 10 is not supported; zant's softmax runs in f32 (1) or f64 (11)");
        insta::assert_snapshot!(err(model(FLOAT, 2, vec![score_mod(true)])), @"node `FlexAttention_0`: FlexAttention (domain ai.onnx.preview, opset 1): the score_mod subgraph must give one f32[1,4,3,5], as it takes");
    }
}
