//! Narrow element types at import: ops that compute (every op but the ones that move
//! elements or convert types) run in `f32` between casts.
//!
//! The kernels never do arithmetic in float16, bfloat16, float8 or float4: an op whose
//! [`NarrowSupport`] says it computes gets a Cast to `f32` in front of each narrow float
//! input and a Cast back to the narrow type behind each `f32` output, so storage stays
//! narrow (graph inputs, outputs, weights and the values between ops) while every kernel
//! sees `f32`. Rounding each result back to the narrow type is what running the op in
//! that type means, so a chain of such ops matches a reference that computes each op in
//! `f32` and stores its result narrow, as ONNX Runtime does on CPU. A narrow constant
//! stays narrow in the weight blob: its Cast is marked `widens_weight`, which folding
//! leaves alone, and it runs with the node. When every input is constant the op folds
//! anyway, so there the constants are widened at once.

use std::collections::HashMap;

use crate::ir::{DType, Graph, Tensor, TensorType, Value, ValueId};
use crate::ops::cast::{cast_data, Cast};
use crate::ops::{NarrowSupport, OnnxOp, Op, OpError};

/// The widened copy of each narrow value, so several ops share one cast.
pub(super) type Widened = HashMap<ValueId, ValueId>;

/// The narrow float inputs `op` computes on, which it gets as `f32`: all of them for an
/// op that computes (or whose parser refused the narrow types, `op` being `None`), the
/// ones its mask names for [`NarrowSupport::ComputeInputs`].
pub(super) fn computing_inputs(op: Option<&Op>, types: &[Option<&TensorType>]) -> Vec<usize> {
    let support = op.map_or(NarrowSupport::Compute, Op::narrow);
    (0..types.len())
        .filter(|&i| types[i].is_some_and(|t| t.dtype.is_narrow_float()))
        .filter(|&i| match support {
            NarrowSupport::Compute => true,
            NarrowSupport::ComputeInputs(mask) => i < 64 && mask & (1 << i) != 0,
            NarrowSupport::Moves | NarrowSupport::Native => false,
        })
        .collect()
}

/// The input types and constants an op's parser sees when the `computing` inputs are
/// widened to `f32`.
pub(super) fn widened_view(
    types: &[Option<&TensorType>],
    consts: &[Option<&Tensor>],
    computing: &[usize],
) -> (Vec<Option<TensorType>>, Vec<Option<Tensor>>) {
    let wide_types = types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.map(|t| match computing.contains(&i) {
                true => TensorType::new(DType::F32, t.shape.clone()),
                false => t.clone(),
            })
        })
        .collect();
    let wide_consts = consts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.map(|c| match computing.contains(&i) {
                true => Tensor::new(c.shape.clone(), cast_data(&c.data, DType::F32)),
                false => c.clone(),
            })
        })
        .collect();
    (wide_types, wide_consts)
}

/// Refuses narrow inputs the op cannot take: a packed integer type where it computes or
/// moves elements (only Cast, CastLike, QuantizeLinear, DequantizeLinear and reshapes take
/// those).
pub(super) fn check_inputs(
    graph: &Graph,
    op: &Op,
    computing: &[usize],
    inputs: &[Option<ValueId>],
) -> Result<(), OpError> {
    let support = op.narrow();
    for (i, v) in inputs.iter().enumerate() {
        let Some(v) = *v else { continue };
        let dtype = graph.ty(v).dtype;
        if dtype.narrow().is_none() || computing.contains(&i) {
            continue;
        }
        let takes = match support {
            NarrowSupport::Native => true,
            NarrowSupport::Moves => !dtype.is_packed(),
            NarrowSupport::ComputeInputs(mask) => i >= 64 || mask & (1 << i) == 0,
            NarrowSupport::Compute => false,
        };
        if !takes {
            let per_byte = if dtype.bits_per_element() == 4 {
                "two"
            } else {
                "four"
            };
            return Err(OpError::unsupported(format!(
                "input {i} is {dtype}, packed {per_byte} a byte: only Cast, CastLike, QuantizeLinear, DequantizeLinear and reshapes take it"
            )));
        }
    }
    Ok(())
}

/// Replaces the `computing` inputs still in `inputs` (an absorbed one is `None`) by `f32`
/// values, adding the casts.
pub(super) fn widen_inputs(
    graph: &mut Graph,
    widened: &mut Widened,
    onnx: OnnxOp,
    computing: &[usize],
    inputs: &mut [Option<ValueId>],
) {
    if computing.is_empty() {
        return;
    }
    // When every input is constant the op folds: widen its constants now, once each.
    let all_const = inputs
        .iter()
        .flatten()
        .all(|&v| graph.const_value(v).is_some());
    let mut folded = Widened::new();
    for &i in computing {
        let Some(v) = inputs.get(i).copied().flatten() else {
            continue;
        };
        let cache = if all_const {
            &mut folded
        } else {
            &mut *widened
        };
        if let Some(&w) = cache.get(&v) {
            inputs[i] = Some(w);
            continue;
        }
        let name = format!("{}.to_f32", graph.value(v).name);
        let w = match graph.const_value(v) {
            Some(t) if all_const => {
                let wide = Tensor::new(t.shape.clone(), cast_data(&t.data, DType::F32));
                graph.add_const(name, wide)
            }
            constant => {
                let ty = TensorType::new(DType::F32, graph.ty(v).shape.clone());
                let cast = Cast {
                    widens_weight: constant.is_some(),
                    ..Cast::to(DType::F32)
                };
                let node = graph.add_node(
                    name.clone(),
                    Op::Cast(cast),
                    onnx.with_type("Cast"),
                    vec![Some(v)],
                    vec![Value { name, ty }],
                );
                ValueId { node, slot: 0 }
            }
        };
        // A constant widened for folding is not shared with ops that run: they keep the
        // narrow weight.
        if all_const {
            folded.insert(v, w);
        } else {
            widened.insert(v, w);
        }
        inputs[i] = Some(w);
    }
}

/// Narrows the `f32` outputs of a widened op back to `to`: each keeps its ONNX name on
/// the narrow value, and the `f32` one is renamed `<name>.f32`. A constant output is
/// converted at once.
pub(super) fn narrow_outputs(
    graph: &mut Graph,
    onnx: OnnxOp,
    values: Vec<ValueId>,
    to: DType,
) -> Vec<ValueId> {
    values
        .into_iter()
        .map(|v| {
            if graph.ty(v).dtype != DType::F32 {
                return v;
            }
            let name = graph.value(v).name.clone();
            graph.node_mut(v.node).outputs[v.slot as usize].name = format!("{name}.f32");
            if let Some(t) = graph.const_value(v) {
                let narrow = Tensor::new(t.shape.clone(), cast_data(&t.data, to));
                return graph.add_const(name, narrow);
            }
            let ty = TensorType::new(to, graph.ty(v).shape.clone());
            let node = graph.add_node(
                name.clone(),
                Op::Cast(Cast::to(to)),
                onnx.with_type("Cast"),
                vec![Some(v)],
                vec![Value { name, ty }],
            );
            ValueId { node, slot: 0 }
        })
        .collect()
}

/// Refuses an op that computes but would write a narrow type it was not widened for (an
/// EyeLike asked for float16): its kernel would write `f32` arithmetic into narrow bits.
pub(super) fn check_outputs(op: &Op, outputs: &[TensorType]) -> Result<(), OpError> {
    if matches!(op.narrow(), NarrowSupport::Moves | NarrowSupport::Native) {
        return Ok(());
    }
    match outputs.iter().find(|t| t.dtype.narrow().is_some()) {
        Some(t) if matches!(op.narrow(), NarrowSupport::Compute) => Err(OpError::unsupported(
            format!("the op computes in f32 and cannot produce {t}; produce f32 and Cast"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use onnx_protobuf::{
        GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    };

    use super::super::tests::value;
    use super::super::{load, Source};

    const FLOAT16: i32 = 10;
    const INT4: i32 = 22;

    /// A model at opset 19 whose graph is `nodes`, with `inputs`, `outputs` and
    /// `initializers`.
    fn model(
        nodes: &[(&str, &[&str])],
        inputs: Vec<onnx_protobuf::ValueInfoProto>,
        outputs: Vec<onnx_protobuf::ValueInfoProto>,
        initializers: Vec<TensorProto>,
    ) -> Vec<u8> {
        let node = |(i, (op, ins)): (usize, &(&str, &[&str]))| NodeProto {
            name: format!("n{i}"),
            op_type: (*op).into(),
            input: ins.iter().map(|s| s.to_string()).collect(),
            output: vec![format!("v{i}")],
            ..Default::default()
        };
        ModelProto {
            ir_version: 9,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 19,
                ..Default::default()
            }],
            graph: Some(GraphProto {
                node: nodes.iter().enumerate().map(node).collect(),
                input: inputs,
                output: outputs,
                initializer: initializers,
                ..Default::default()
            })
            .into(),
            ..Default::default()
        }
        .write_to_bytes()
        .expect("encodes")
    }

    fn check(bytes: &[u8]) -> String {
        match load(Source::Bytes(bytes), &[], &[]) {
            Ok(loaded) => crate::ir::text::print(&loaded.graph),
            Err(e) => format!("error: {e}"),
        }
    }

    /// `w: f16[3]` = [0.5, -1.0, 2.0] as raw float16 bits.
    fn half_weight() -> TensorProto {
        TensorProto {
            name: "w".into(),
            dims: vec![3],
            data_type: FLOAT16,
            raw_data: [0x3800u16, 0xbc00, 0x4000]
                .iter()
                .flat_map(|h| h.to_le_bytes())
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ops_that_compute_run_in_f32_between_casts() {
        // Add and Relu compute; Transpose moves elements and stays in float16. The weight
        // stays float16 in the blob and is widened when the node runs.
        let bytes = model(
            &[
                ("Add", &["x", "w"]),
                ("Relu", &["v0"]),
                ("Transpose", &["v1"]),
            ],
            vec![value("x", FLOAT16, &[2, 3])],
            vec![value("v2", FLOAT16, &[3, 2])],
            vec![half_weight()],
        );
        insta::assert_snapshot!(check(&bytes), @"
        input 0: %x : f16[2,3]
        %w = Const f16[3] [0.5, -1.0, 2.0]
        %x.to_f32 = Cast(%x) to=1 : f32[2,3]
        %w.to_f32 = Cast(%w) to=1 widens_weight=1 : f32[3]
        %v0.f32 = Add(%x.to_f32, %w.to_f32) : f32[2,3]
        %v0 = Cast(%v0.f32) to=10 : f16[2,3]
        %v0.to_f32 = Cast(%v0) to=1 : f32[2,3]
        %v1.f32 = Relu(%v0.to_f32) : f32[2,3]
        %v1 = Cast(%v1.f32) to=10 : f16[2,3]
        %v2 = Transpose(%v1) perm=[1,0] : f16[3,2]
        output 0: v2 = %v2
        ");
    }

    #[test]
    fn constant_inputs_fold_through_f32() {
        let bytes = model(
            &[("Mul", &["w", "w"]), ("Add", &["x", "v0"])],
            vec![value("x", FLOAT16, &[3])],
            vec![value("v1", FLOAT16, &[3])],
            vec![half_weight()],
        );
        insta::assert_snapshot!(check(&bytes), @"
        input 0: %x : f16[3]
        %w = Const f16[3] [0.5, -1.0, 2.0]
        %w.to_f32 = Const f32[3] [0.5, -1.0, 2.0]
        %v0.f32 = Const f32[3] [0.25, 1.0, 4.0]
        %v0 = Const f16[3] [0.25, 1.0, 4.0]
        %x.to_f32 = Cast(%x) to=1 : f32[3]
        %v0.to_f32 = Cast(%v0) to=1 widens_weight=1 : f32[3]
        %v1.f32 = Add(%x.to_f32, %v0.to_f32) : f32[3]
        %v1 = Cast(%v1.f32) to=10 : f16[3]
        output 0: v1 = %v1
        ");
    }

    #[test]
    fn outputs_take_the_type_of_the_first_float_input() {
        // Pow's output is its base's type: an f32 base with a float16 exponent stays f32.
        let exponent = TensorProto {
            name: "e".into(),
            dims: vec![],
            data_type: FLOAT16,
            raw_data: 0x4000u16.to_le_bytes().to_vec(),
            ..Default::default()
        };
        let bytes = model(
            &[("Pow", &["x", "e"]), ("Pow", &["h", "x"])],
            vec![value("x", 1, &[2]), value("h", FLOAT16, &[2])],
            vec![value("v0", 1, &[2]), value("v1", FLOAT16, &[2])],
            vec![exponent],
        );
        insta::assert_snapshot!(check(&bytes), @"
        input 0: %x : f32[2]
        input 1: %h : f16[2]
        %e = Const f16[] [2.0]
        %e.to_f32 = Cast(%e) to=1 widens_weight=1 : f32[]
        %v0 = Pow(%x, %e.to_f32) : f32[2]
        %h.to_f32 = Cast(%h) to=1 : f32[2]
        %v1.f32 = Pow(%h.to_f32, %x) : f32[2]
        %v1 = Cast(%v1.f32) to=10 : f16[2]
        output 0: v0 = %v0
        output 1: v1 = %v1
        ");
    }

    #[test]
    fn packed_integers_only_go_where_they_are_understood() {
        let bytes = model(
            &[("Add", &["q", "q"])],
            vec![value("q", INT4, &[4])],
            vec![value("v0", INT4, &[4])],
            vec![],
        );
        insta::assert_snapshot!(check(&bytes), @"error: node `n0`: Add (domain ai.onnx, opset 19): input 0 is i4, packed two a byte: only Cast, CastLike, QuantizeLinear, DequantizeLinear and reshapes take it");
        let bytes = model(
            &[("Transpose", &["q"])],
            vec![value("q", INT4, &[2, 2])],
            vec![value("v0", INT4, &[2, 2])],
            vec![],
        );
        insta::assert_snapshot!(check(&bytes), @"error: node `n0`: Transpose (domain ai.onnx, opset 19): input 0 is i4, packed two a byte: only Cast, CastLike, QuantizeLinear, DequantizeLinear and reshapes take it");
        let bytes = model(
            &[("Reshape", &["q", "s"])],
            vec![value("q", INT4, &[2, 2])],
            vec![value("v0", INT4, &[4])],
            vec![TensorProto {
                name: "s".into(),
                dims: vec![1],
                data_type: 7,
                int64_data: vec![4],
                ..Default::default()
            }],
        );
        insta::assert_snapshot!(check(&bytes), @"
        input 0: %q : i4[2,2]
        %s = Const i64[1] [4]
        %v0 = Reshape(%q) shape=[4] : i4[4]
        output 0: v0 = %v0
        ");
    }

    #[test]
    fn an_op_that_computes_cannot_write_a_narrow_type() {
        // EyeLike asked for float16 from a float input.
        let mut bytes = model(
            &[("EyeLike", &["x"])],
            vec![value("x", 1, &[2, 2])],
            vec![value("v0", FLOAT16, &[2, 2])],
            vec![],
        );
        let mut m = ModelProto::parse_from_bytes(&bytes).expect("decodes");
        m.graph.as_mut().expect("graph").node[0]
            .attribute
            .push(onnx_protobuf::AttributeProto {
                name: "dtype".into(),
                i: i64::from(FLOAT16),
                type_: onnx_protobuf::attribute_proto::AttributeType::INT.into(),
                ..Default::default()
            });
        bytes = m.write_to_bytes().expect("encodes");
        insta::assert_snapshot!(check(&bytes), @"error: node `n0`: EyeLike (domain ai.onnx, opset 19): the op computes in f32 and cannot produce f16[2,2]; produce f32 and Cast");
    }
}
