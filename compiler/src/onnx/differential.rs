//! Our prost decoder against an independent one (`onnx-protobuf`, rust-protobuf based):
//! every model in `../shared/models` and `models/` must decode to the same structure. It
//! lives inside `onnx/` because the prost structs it compares are private to this module.

use std::path::{Path, PathBuf};

use onnx_protobuf::Message;

use super::proto;

fn check(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let ours = proto::decode_model(&bytes).unwrap();
    let theirs = onnx_protobuf::ModelProto::parse_from_bytes(&bytes).unwrap();
    let name = path.display();

    assert_eq!(ours.ir_version, theirs.ir_version, "{name}: ir_version");
    let opsets = |o: &[(String, i64)]| o.to_vec();
    assert_eq!(
        opsets(
            &ours
                .opset_import
                .iter()
                .map(|o| (o.domain.clone(), o.version))
                .collect::<Vec<_>>()
        ),
        theirs
            .opset_import
            .iter()
            .map(|o| (o.domain.clone(), o.version))
            .collect::<Vec<_>>(),
        "{name}: opsets"
    );
    let (g, h) = (ours.graph.as_ref().unwrap(), theirs.graph.as_ref().unwrap());
    assert_eq!(g.node.len(), h.node.len(), "{name}: node count");
    for (a, b) in g.node.iter().zip(&h.node) {
        assert_eq!(
            (&a.name, &a.op_type, &a.domain),
            (&b.name, &b.op_type, &b.domain),
            "{name}: node"
        );
        assert_eq!(
            (&a.input, &a.output),
            (&b.input, &b.output),
            "{name}: node `{}` edges",
            a.name
        );
        assert_eq!(
            a.attribute.len(),
            b.attribute.len(),
            "{name}: node `{}` attributes",
            a.name
        );
        for (x, y) in a.attribute.iter().zip(&b.attribute) {
            assert_eq!(x.name, y.name);
            assert_eq!(
                (x.i, x.f.to_bits(), &x.ints, &x.s),
                (y.i, y.f.to_bits(), &y.ints, &y.s),
                "{name}: attribute {}",
                x.name
            );
            assert_eq!(
                x.floats.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
                y.floats.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(
                x.t.as_ref().map(|t| t.raw_data.clone()),
                y.t.as_ref().map(|t| t.raw_data.clone())
            );
        }
    }
    assert_eq!(
        g.initializer.len(),
        h.initializer.len(),
        "{name}: initializer count"
    );
    for (a, b) in g.initializer.iter().zip(&h.initializer) {
        assert_eq!(
            (&a.name, &a.dims, a.data_type),
            (&b.name, &b.dims, b.data_type),
            "{name}: initializer"
        );
        assert_eq!(a.raw_data, b.raw_data, "{name}: `{}` raw_data", a.name);
        assert_eq!(
            a.float_data.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
            b.float_data.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
            "{name}: `{}` float_data",
            a.name
        );
        assert_eq!(
            (&a.int64_data, &a.int32_data),
            (&b.int64_data, &b.int32_data),
            "{name}: `{}` ints",
            a.name
        );
    }
    let io = |v: &[proto::ValueInfoProto]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        io(&g.input),
        h.input.iter().map(|i| i.name.clone()).collect::<Vec<_>>(),
        "{name}: inputs"
    );
    assert_eq!(
        io(&g.output),
        h.output.iter().map(|i| i.name.clone()).collect::<Vec<_>>(),
        "{name}: outputs"
    );
    for (a, b) in g.input.iter().zip(&h.input) {
        let ours = match a.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(proto::type_proto::Value::TensorType(t)) => {
                (t.elem_type, t.shape.as_ref().map(|s| s.dim.len()))
            }
            _ => (0, None),
        };
        let theirs = match b.type_.as_ref().and_then(|t| t.value.as_ref()) {
            Some(onnx_protobuf::type_proto::Value::TensorType(t)) => {
                (t.elem_type, t.shape.as_ref().map(|s| s.dim.len()))
            }
            _ => (0, None),
        };
        assert_eq!(ours, theirs, "{name}: input `{}` type", a.name);
    }
}

/// `../shared/models` beside the checkout. A missing folder fails the test unless
/// `ZANT_ALLOW_MISSING_SHARED=1`, as in the integration tests.
fn shared_models() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("ZANT_ALLOW_MISSING_SHARED").is_some() {
        eprintln!(
            "NOT RUN: {} is missing (ZANT_ALLOW_MISSING_SHARED is set)",
            dir.display()
        );
        return None;
    }
    panic!(
        "{} is missing: this test needs the shared reference models (set ZANT_ALLOW_MISSING_SHARED=1 to report it as not run)",
        dir.display()
    );
}

#[test]
fn shared_models_decode_identically() {
    let Some(dir) = shared_models() else {
        return;
    };
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let model = entry.unwrap().path().join("model.onnx");
        if model.is_file() {
            check(&model);
            n += 1;
        }
    }
    assert!(n >= 7, "expected the shared models, found {n}");
}

#[test]
fn project_models_decode_identically() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "onnx") {
            check(&path);
            n += 1;
        }
    }
    assert!(n >= 3, "expected the project's models, found {n}");
}
