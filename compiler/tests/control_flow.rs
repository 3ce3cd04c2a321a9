//! Control flow: `If` on a run-time condition (nested, with branches that read outer
//! values), `If` on a bound condition (only the taken branch remains), a `Loop` that stops
//! early on a run-time condition, a reversed `Scan` along axis 1, and the errors for what
//! static shapes cannot express. The run-time cases are built and run on hand-computed data.

mod common;

use common::model::{encode, node, opset, tensor_type, value, FLOAT};
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, TensorProto, ValueInfoProto,
};
use zant_compiler::pipeline::compile_graph;
use zant_compiler::verify::{verify, VerifyOptions};
use zant_compiler::{Binding, Options};

/// `TensorProto.DataType` codes.
const BOOL: i32 = 9;
const INT64: i32 = 7;

fn typed(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        type_: Some(tensor_type(elem_type, dims)).into(),
        ..Default::default()
    }
}

fn graph_attr(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::GRAPH.into(),
        g: Some(g).into(),
        ..Default::default()
    }
}

fn ints_attr(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INTS.into(),
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INT.into(),
        i,
        ..Default::default()
    }
}

fn with_attrs(mut n: NodeProto, attrs: Vec<AttributeProto>) -> NodeProto {
    n.attribute = attrs;
    n
}

fn subgraph(
    name: &str,
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    initializers: Vec<TensorProto>,
) -> GraphProto {
    GraphProto {
        name: name.into(),
        node: nodes,
        input: inputs,
        output: outputs,
        initializer: initializers,
        ..Default::default()
    }
}

fn scalar(name: &str, v: f32) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: FLOAT,
        float_data: vec![v],
        ..Default::default()
    }
}

fn model(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    initializers: Vec<TensorProto>,
) -> ModelProto {
    let mut m = common::model::model(nodes, inputs, outputs, initializers);
    m.opset_import = vec![opset("", 13)];
    m
}

/// `if_out = c ? Relu(x + x) * 2 : (d ? Abs(x) : x - 1)`; a loop that adds 1 to `start`
/// while it is below `limit`, at most 10 times; and a scan that sums the columns of
/// `seq: f32[2,3]` from the last to the first, giving the running sums along axis 1.
fn control_model() -> ModelProto {
    let inner_if = with_attrs(
        node("inner_if", "If", &["d"], &["else_out"]),
        vec![
            graph_attr(
                "then_branch",
                subgraph(
                    "inner_then",
                    vec![node("abs", "Abs", &["x"], &["inner_then_out"])],
                    vec![],
                    vec![value("inner_then_out", &[4])],
                    vec![],
                ),
            ),
            graph_attr(
                "else_branch",
                subgraph(
                    "inner_else",
                    vec![node("sub", "Sub", &["x", "one"], &["inner_else_out"])],
                    vec![],
                    vec![value("inner_else_out", &[4])],
                    vec![],
                ),
            ),
        ],
    );
    let outer_if = with_attrs(
        node("outer_if", "If", &["c"], &["if_out"]),
        vec![
            graph_attr(
                "then_branch",
                subgraph(
                    "outer_then",
                    vec![
                        node("relu", "Relu", &["s"], &["r"]),
                        node("double", "Mul", &["r", "two"], &["then_out"]),
                    ],
                    vec![],
                    vec![value("then_out", &[4])],
                    vec![scalar("two", 2.0)],
                ),
            ),
            graph_attr(
                "else_branch",
                subgraph(
                    "outer_else",
                    vec![inner_if],
                    vec![],
                    vec![value("else_out", &[4])],
                    vec![],
                ),
            ),
        ],
    );
    let loop_body = subgraph(
        "loop_body",
        vec![
            node("step", "Add", &["y_in", "one"], &["y_out"]),
            node("below", "Less", &["y_out", "limit"], &["cond_out"]),
        ],
        vec![
            typed("i", INT64, &[]),
            typed("cond_in", BOOL, &[]),
            value("y_in", &[]),
        ],
        vec![typed("cond_out", BOOL, &[]), value("y_out", &[])],
        vec![],
    );
    let scan_body = subgraph(
        "scan_body",
        vec![
            node("sum", "Add", &["state_in", "column"], &["state_out"]),
            node("copy", "Identity", &["state_out"], &["scan_out"]),
        ],
        vec![value("state_in", &[2]), value("column", &[2])],
        vec![value("state_out", &[2]), value("scan_out", &[2])],
        vec![],
    );
    let ten = TensorProto {
        name: "ten".into(),
        data_type: INT64,
        int64_data: vec![10],
        ..Default::default()
    };
    let zeros = TensorProto {
        name: "zeros".into(),
        dims: vec![2],
        data_type: FLOAT,
        float_data: vec![0.0, 0.0],
        ..Default::default()
    };
    model(
        vec![
            node("twice", "Add", &["x", "x"], &["s"]),
            outer_if,
            node("first_below", "Less", &["start", "limit"], &["go"]),
            with_attrs(
                node("count", "Loop", &["ten", "go", "start"], &["loop_out"]),
                vec![graph_attr("body", loop_body)],
            ),
            with_attrs(
                node(
                    "sums",
                    "Scan",
                    &["zeros", "seq"],
                    &["scan_state", "scan_out"],
                ),
                vec![
                    graph_attr("body", scan_body),
                    int_attr("num_scan_inputs", 1),
                    ints_attr("scan_input_axes", &[1]),
                    ints_attr("scan_input_directions", &[1]),
                    ints_attr("scan_output_axes", &[1]),
                ],
            ),
        ],
        vec![
            value("x", &[4]),
            typed("c", BOOL, &[]),
            typed("d", BOOL, &[]),
            value("start", &[]),
            value("limit", &[]),
            value("seq", &[2, 3]),
        ],
        vec![
            value("if_out", &[4]),
            value("loop_out", &[]),
            value("scan_state", &[2]),
            value("scan_out", &[2, 3]),
        ],
        vec![scalar("one", 1.0), ten, zeros],
    )
}

fn floats(dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: FLOAT,
        float_data: v.to_vec(),
        ..Default::default()
    }
}

fn boolean(v: bool) -> TensorProto {
    TensorProto {
        data_type: BOOL,
        int32_data: vec![i32::from(v)],
        ..Default::default()
    }
}

fn write_set(dir: &std::path::Path, index: usize, inputs: &[TensorProto], outputs: &[TensorProto]) {
    let set = dir.join(format!("test_data_set_{index}"));
    std::fs::create_dir_all(&set).unwrap();
    for (prefix, list) in [("input", inputs), ("output", outputs)] {
        for (i, t) in list.iter().enumerate() {
            std::fs::write(
                set.join(format!("{prefix}_{i}.pb")),
                t.write_to_bytes().unwrap(),
            )
            .unwrap();
        }
    }
}

#[test]
fn run_time_conditions_run_the_right_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), encode(&control_model())).unwrap();
    let x = floats(&[4], &[-1.0, 2.0, -3.0, 0.5]);
    let seq = floats(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let scalar_in = |v: f32| floats(&[], &[v]);
    // Columns from the last: [3,6], then [2,5], then [1,4].
    let scan = [
        floats(&[2], &[6.0, 15.0]),
        floats(&[2, 3], &[3.0, 5.0, 6.0, 6.0, 11.0, 15.0]),
    ];
    let sets = [
        // c: Relu(2x) * 2. The loop runs 4 times (0 → 4, stopping once 4 ≥ 3.5).
        (true, false, 0.0, 3.5, [0.0, 8.0, 0.0, 2.0], 4.0),
        // not c, d: Abs(x). The loop does not run (5 ≥ 3).
        (false, true, 5.0, 3.0, [1.0, 2.0, 3.0, 0.5], 5.0),
        // neither: x - 1. The loop stops at its trip count, 10.
        (false, false, 0.0, 100.0, [-2.0, 1.0, -4.0, -0.5], 10.0),
    ];
    for (k, (c, d, start, limit, if_out, loop_out)) in sets.into_iter().enumerate() {
        write_set(
            dir.path(),
            k,
            &[
                x.clone(),
                boolean(c),
                boolean(d),
                scalar_in(start),
                scalar_in(limit),
                seq.clone(),
            ],
            &[
                floats(&[4], &if_out),
                scalar_in(loop_out),
                scan[0].clone(),
                scan[1].clone(),
            ],
        );
    }

    // Both branches of both ifs are in the graph, behind gates.
    let lowered = compile_graph(&dir.path().join("model.onnx"), &Options::default()).unwrap();
    let ir = zant_compiler::ir::text::print(&lowered.graph);
    for expected in [
        "branch=\"then\"",
        "branch=\"else\"",
        "guarded_by",
        "Abs(",
        "Sub(",
    ] {
        assert!(ir.contains(expected), "{expected}:\n{ir}");
    }

    let checks = verify(dir.path(), &Options::default(), &VerifyOptions::default()).unwrap();
    assert_eq!(checks.len(), 12);
    for c in &checks {
        assert!(c.passed(), "{c:?}");
        assert_eq!(c.max_abs, 0.0, "{c:?}");
    }
}

#[test]
fn a_bound_condition_keeps_only_the_taken_branch() {
    let bytes = encode(&control_model());
    let ir = |bindings: Vec<Binding>| {
        let opts = Options {
            bindings,
            ..Options::default()
        };
        let lowered = compile_graph(&bytes, &opts).unwrap();
        zant_compiler::ir::text::print(&lowered.graph)
    };
    let taken = ir(vec![Binding::new("c", "true")]);
    // The taken branch's Relu, fused into the Add before it, stays; the other's Abs goes.
    assert!(
        taken.contains("activation=\"Relu\"") && !taken.contains("Abs("),
        "{taken}"
    );
    assert!(
        !taken.contains("outer_if/"),
        "no gate or select of the if: {taken}"
    );
    let inner = ir(vec![Binding::new("c", "false"), Binding::new("d", "true")]);
    assert!(inner.contains("Abs(") && !inner.contains("Relu"), "{inner}");
    assert!(
        !inner.contains("Sub(") && !inner.contains("_if/"),
        "{inner}"
    );
    // Unbound, the loop is a branch per iteration; with its start and limit bound, it
    // folds to a constant: 0 → 4.
    assert!(taken.contains("count[0]/select"), "{taken}");
    let unrolled = ir(vec![
        Binding::new("start", "0"),
        Binding::new("limit", "3.5"),
    ]);
    assert!(!unrolled.contains("count[0]/select"), "{unrolled}");
    assert!(
        unrolled.contains("output 1: loop_out = %count[3]/y_out"),
        "{unrolled}"
    );
}

/// Compiles `m` and returns the error text.
fn error(m: &ModelProto) -> String {
    compile_graph(&encode(m), &Options::default())
        .expect_err("the model must be refused")
        .to_string()
}

#[test]
fn what_static_shapes_cannot_express_is_named() {
    // Branches of different shapes.
    let branch = |name: &str, n: usize| {
        let t = TensorProto {
            name: format!("{name}_value"),
            dims: vec![n as i64],
            data_type: FLOAT,
            float_data: vec![1.0; n],
            ..Default::default()
        };
        let mut c = node(
            name,
            "Identity",
            &[&format!("{name}_value")],
            &[&format!("{name}_out")],
        );
        c.name = format!("{name}_copy");
        subgraph(
            name,
            vec![c],
            vec![],
            vec![value(&format!("{name}_out"), &[n as i64])],
            vec![t],
        )
    };
    let m = model(
        vec![with_attrs(
            node("pick", "If", &["c"], &["y"]),
            vec![
                graph_attr("then_branch", branch("two", 2)),
                graph_attr("else_branch", branch("three", 3)),
            ],
        )],
        vec![typed("c", BOOL, &[])],
        vec![value("y", &[2])],
        vec![],
    );
    let err = error(&m);
    assert!(
        err.contains("node `pick`: If (domain ai.onnx, opset 13): output 0: the then branch gives f32[2] and the else branch f32[3]"),
        "{err}"
    );
    assert!(
        err.contains("both branches must give the same type"),
        "{err}"
    );

    // Branches with different output counts.
    let mut two_outputs = branch("two", 2);
    two_outputs.output.push(value("two_value", &[2]));
    let m = model(
        vec![with_attrs(
            node("pick", "If", &["c"], &["y"]),
            vec![
                graph_attr("then_branch", two_outputs),
                graph_attr("else_branch", branch("three", 3)),
            ],
        )],
        vec![typed("c", BOOL, &[])],
        vec![value("y", &[2])],
        vec![],
    );
    let err = error(&m);
    assert!(
        err.contains("the then branch gives 2 outputs and the else branch 1"),
        "{err}"
    );

    // A loop whose trip count comes at run time, or whose scan outputs depend on a run-time
    // condition.
    let body = subgraph(
        "body",
        vec![
            node("copy", "Identity", &["cond_in"], &["cond_out"]),
            node("keep", "Identity", &["i"], &["scan"]),
        ],
        vec![typed("i", INT64, &[]), typed("cond_in", BOOL, &[])],
        vec![typed("cond_out", BOOL, &[]), typed("scan", INT64, &[])],
        vec![],
    );
    let loop_model = |m_input: &str, cond_input: &str, m_value: i64| {
        let m_init = TensorProto {
            name: "m_const".into(),
            data_type: INT64,
            int64_data: vec![m_value],
            ..Default::default()
        };
        let t_init = TensorProto {
            name: "yes".into(),
            data_type: BOOL,
            int32_data: vec![1],
            ..Default::default()
        };
        model(
            vec![with_attrs(
                node("repeat", "Loop", &[m_input, cond_input], &["ys"]),
                vec![graph_attr("body", body.clone())],
            )],
            vec![typed("m", INT64, &[]), typed("c", BOOL, &[])],
            vec![typed("ys", INT64, &[3])],
            vec![m_init, t_init],
        )
    };
    let err = error(&loop_model("m", "yes", 3));
    assert!(
        err.contains("node `repeat`: Loop (domain ai.onnx, opset 13): input 0 (M) must be a compile-time constant"),
        "{err}"
    );
    let err = error(&loop_model("m_const", "c", 3));
    assert!(
        err.contains("input 1 (cond) must be a compile-time constant"),
        "{err}"
    );
    let err = error(&loop_model("m_const", "yes", 1_000_000));
    assert!(err.contains("grows past 100000 nodes"), "{err}");
    // With both known, the loop unrolls: ys = [0, 1, 2].
    let lowered = compile_graph(
        &encode(&loop_model("m_const", "yes", 3)),
        &Options::default(),
    )
    .unwrap();
    let out = lowered.graph.outputs[0].value;
    assert_eq!(
        lowered.graph.const_value(out).map(|t| t.data.to_i64_vec()),
        Some(vec![0, 1, 2])
    );
}
