//! Hostile models are refused at once, with an error naming the limit they pass
//! (`zant_compiler::limits`): a 2^40-element tensor, a 10,000-deep nesting of `If`s,
//! a 2 GiB initializer, a 2 GiB constant folded at compile time, a TfIdfVectorizer
//! whose column index asks for a 3.5 GiB table.

mod common;

use std::time::{Duration, Instant};

use common::model::{encode, model, node, value};
use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::{StringStringEntryProto, TensorProto};
use zant_compiler::{compile, CrateOptions, Options};

/// Writes `bytes` as `model.onnx` in a fresh folder (after `setup` adds files beside
/// it), compiles it, and checks that it is refused with an error naming each of
/// `expect`, well inside a second: nothing of the hostile size may be read or built.
fn refused(what: &str, bytes: &[u8], setup: impl FnOnce(&std::path::Path), expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, bytes).unwrap();
    setup(dir.path());
    let start = Instant::now();
    let err = compile(&path, &Options::default(), &CrateOptions::default())
        .expect_err("the model must be refused")
        .to_string();
    let took = start.elapsed();
    println!("{what}: refused in {took:?}: {err}");
    for e in expect {
        assert!(err.contains(e), "{what}: error {err:?} should name {e:?}");
    }
    assert!(
        took < Duration::from_secs(1),
        "{what}: refused only after {took:?}"
    );
}

#[test]
fn a_tensor_of_2_to_the_40_elements() {
    let m = model(
        vec![node("r", "Relu", &["x"], &["y"])],
        vec![value("x", &[1 << 20, 1 << 20])],
        vec![value("y", &[1 << 20, 1 << 20])],
        vec![],
    );
    refused(
        "2^40-element input",
        &encode(&m),
        |_| {},
        &["graph input `x`", "limits::MAX_ELEMS"],
    );
    // The same count as an initializer's declared shape, with no data behind it.
    let w = TensorProto {
        name: "w".into(),
        dims: vec![1 << 20, 1 << 20],
        data_type: 1,
        ..Default::default()
    };
    let m = model(
        vec![node("a", "Add", &["x", "w"], &["y"])],
        vec![value("x", &[1])],
        vec![value("y", &[1])],
        vec![w],
    );
    refused(
        "2^40-element initializer",
        &encode(&m),
        |_| {},
        &["initializer `w`", "limits::MAX_ELEMS"],
    );
}

/// An `INT64` tensor of `values`, for shapes.
fn int64s(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: 7,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

#[test]
fn a_2_gib_constant_folded_at_compile_time() {
    // ConstantOfShape of 2^29 floats, then an Add of two constants: folding would build
    // 2 GiB twice over.
    let m = model(
        vec![
            node("fill", "ConstantOfShape", &["shape"], &["k"]),
            node("a", "Add", &["x", "k"], &["y"]),
        ],
        vec![value("x", &[1])],
        vec![value("y", &[1 << 29])],
        vec![int64s("shape", &[1 << 29])],
    );
    refused(
        "2 GiB ConstantOfShape",
        &encode(&m),
        |_| {},
        &["node `fill`", "2 GiB", "limits::MAX_CONSTANT_BYTES"],
    );
}

#[test]
fn a_2_gib_initializer_in_external_data() {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![1 << 29],
        data_type: 1,
        data_location: DataLocation::EXTERNAL.into(),
        external_data: vec![StringStringEntryProto {
            key: "location".into(),
            value: "w.bin".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let m = model(
        vec![node("a", "Add", &["x", "w"], &["y"])],
        vec![value("x", &[1])],
        vec![value("y", &[1 << 29])],
        vec![w],
    );
    // A sparse file: 2 GiB long, no disk behind it.
    let sparse = |dir: &std::path::Path| {
        let f = std::fs::File::create(dir.join("w.bin")).unwrap();
        f.set_len(2 << 30).unwrap();
    };
    refused(
        "2 GiB external initializer",
        &encode(&m),
        sparse,
        &["initializer `w`", "2 GiB", "limits::MAX_CONSTANT_BYTES"],
    );
}

#[test]
fn constants_past_the_limit_together() {
    // Three initializers of 384 MiB (sparse external data): each under the limit for one
    // constant, 1.1 GiB together.
    let n = 96 << 20;
    let inits: Vec<TensorProto> = (0..3)
        .map(|i| TensorProto {
            name: format!("w{i}"),
            dims: vec![n],
            data_type: 1,
            data_location: DataLocation::EXTERNAL.into(),
            external_data: vec![StringStringEntryProto {
                key: "location".into(),
                value: format!("w{i}.bin"),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    let m = model(
        vec![
            node("a", "Add", &["w0", "w1"], &["s"]),
            node("b", "Add", &["s", "w2"], &["y"]),
        ],
        vec![],
        vec![value("y", &[n])],
        inits,
    );
    let sparse = |dir: &std::path::Path| {
        for i in 0..3 {
            let f = std::fs::File::create(dir.join(format!("w{i}.bin"))).unwrap();
            f.set_len(4 * n as u64).unwrap();
        }
    };
    refused(
        "three 384 MiB initializers",
        &encode(&m),
        sparse,
        &["1.1 GiB", "limits::MAX_WEIGHT_BYTES"],
    );
}

/// Hand-written protobuf, so that a deep nesting encodes without recursion.
mod wire {
    pub fn varint(mut n: u64, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push(n as u8 | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    /// A length-delimited field.
    pub fn bytes(field: u32, body: &[u8], out: &mut Vec<u8>) {
        varint(u64::from(field << 3 | 2), out);
        varint(body.len() as u64, out);
        out.extend_from_slice(body);
    }

    pub fn int(field: u32, v: u64, out: &mut Vec<u8>) {
        varint(u64::from(field << 3), out);
        varint(v, out);
    }

    /// A `ValueInfoProto` with only a name.
    pub fn value_info(name: &str) -> Vec<u8> {
        let mut v = Vec::new();
        bytes(1, name.as_bytes(), &mut v);
        v
    }

    /// A graph of one node (`NodeProto` bytes) whose output `out` is the graph's.
    pub fn graph(node: &[u8], out: &str) -> Vec<u8> {
        let mut g = Vec::new();
        bytes(1, node, &mut g);
        bytes(2, b"g", &mut g);
        bytes(12, &value_info(out), &mut g);
        g
    }

    /// A node `op` from `inputs` to `out` with graph attributes `(name, GraphProto bytes)`.
    pub fn node(op: &str, inputs: &[&str], out: &str, graphs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            bytes(1, i.as_bytes(), &mut n);
        }
        bytes(2, out.as_bytes(), &mut n);
        bytes(4, op.as_bytes(), &mut n);
        for (name, g) in graphs {
            let mut a = Vec::new();
            bytes(1, name.as_bytes(), &mut a);
            bytes(6, g, &mut a);
            int(20, 5, &mut a); // AttributeType::GRAPH
            bytes(5, &a, &mut n);
        }
        n
    }
}

/// A model whose output comes through `depth` nested `If`s on the bool input `c`.
fn nested_ifs(depth: usize) -> Vec<u8> {
    let leaf = |out: &str| wire::graph(&wire::node("Identity", &["x"], out, &[]), out);
    let mut then_branch = leaf(&format!("y{depth}"));
    for level in (1..depth).rev() {
        let out = format!("y{level}");
        let inner = format!("y{}", level + 1);
        let node = wire::node(
            "If",
            &["c"],
            &out,
            &[
                ("then_branch", &then_branch),
                ("else_branch", &leaf(&inner)),
            ],
        );
        then_branch = wire::graph(&node, &out);
    }
    let top = wire::node(
        "If",
        &["c"],
        "y",
        &[("then_branch", &then_branch), ("else_branch", &leaf("y1"))],
    );
    let mut graph = Vec::new();
    wire::bytes(1, &top, &mut graph);
    wire::bytes(2, b"nested", &mut graph);
    let bool_input = encode_value("c", 9);
    let x = encode_value("x", 1);
    wire::bytes(11, &bool_input, &mut graph);
    wire::bytes(11, &x, &mut graph);
    wire::bytes(12, &encode_value("y", 1), &mut graph);
    let mut opset = Vec::new();
    wire::int(2, 13, &mut opset);
    let mut m = Vec::new();
    wire::int(1, 8, &mut m);
    wire::bytes(7, &graph, &mut m);
    wire::bytes(8, &opset, &mut m);
    m
}

/// A graph input or output `name` of element type `elem_type` and shape `[1]`.
fn encode_value(name: &str, elem_type: i32) -> Vec<u8> {
    use onnx_protobuf::Message;
    let mut v = value(name, &[1]);
    if let Some(onnx_protobuf::type_proto::Value::TensorType(t)) =
        v.type_.as_mut().unwrap().value.as_mut()
    {
        t.elem_type = elem_type;
    }
    v.write_to_bytes().unwrap()
}

#[test]
fn ten_thousand_nested_ifs() {
    refused(
        "10,000 nested If",
        &nested_ifs(10_000),
        |_| {},
        &["limits::MAX_MESSAGE_DEPTH"],
    );
}

#[test]
fn subgraphs_nested_past_the_limit() {
    // Deep enough for zant's own limit, shallow enough for the decoder's.
    refused(
        "20 nested If",
        &nested_ifs(20),
        |_| {},
        &["node", "If", "limits::MAX_SUBGRAPH_DEPTH"],
    );
}

#[test]
fn subgraphs_nested_within_the_limit_compile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, nested_ifs(4)).unwrap();
    compile(&path, &Options::default(), &CrateOptions::default()).expect("four nested Ifs compile");
}

#[test]
fn a_node_of_seventy_inputs_compiles() {
    // More inputs than the 64-bit mask of the inputs an op absorbs (a fuzzer's find:
    // the mask's shift overflowed).
    let names: Vec<String> = (0..70).map(|i| format!("x{i}")).collect();
    let inputs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut concat = node("cat", "Concat", &inputs, &["y"]);
    concat.attribute.push(common::model::int("axis", 0));
    let m = model(
        vec![concat],
        names.iter().map(|n| value(n, &[1])).collect(),
        vec![value("y", &[70])],
        vec![],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, encode(&m)).unwrap();
    let compiled = compile(&path, &Options::default(), &CrateOptions::default())
        .expect("a Concat of 70 inputs compiles");
    let model_rs = compiled
        .files
        .iter()
        .find(|f| f.path.ends_with("model.rs"))
        .expect("model.rs");
    let text = String::from_utf8_lossy(&model_rs.contents);
    assert!(text.contains("x69"), "the 70th input is read");
}

#[test]
fn a_constant_read_into_attributes_past_the_limit() {
    // A Reshape whose `shape` has 70,000 entries (the fuzzer's version had 16 M, made by
    // a ConstantOfShape, and spent 15 GB printing them into the IR text).
    let m = model(
        vec![node("r", "Reshape", &["x", "shape"], &["y"])],
        vec![value("x", &[1])],
        vec![value("y", &[1])],
        vec![int64s("shape", &vec![1; 70_000])],
    );
    refused(
        "a 70,000-entry shape",
        &encode(&m),
        |_| {},
        &["node `r`", "shape", "limits::MAX_ABSORBED_ELEMS"],
    );
}

#[test]
fn a_tfidf_column_index_past_the_constant_limit() {
    // Found by the fuzzer (`fuzz-crashes/tfidf-ngram-index-of-927m-columns.onnx`): the
    // largest `ngram_indexes` value sets the output's columns, and the op's table of
    // weights has one a column. 926,900,223 had asked for 3.7 GB.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fuzz-crashes/tfidf-ngram-index-of-927m-columns.onnx"
    ))
    .unwrap();
    refused(
        "TfIdfVectorizer of 926,900,224 columns",
        &bytes,
        |_| {},
        &[
            "TfIdfVectorizer",
            "ngram_indexes",
            "limits::MAX_CONSTANT_BYTES",
        ],
    );
}
