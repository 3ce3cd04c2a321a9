//! Pruning (`compress::prune`) on small models built here: the shapes of every weight
//! after channel pruning a residual network (an identity shortcut, a 1×1 projection, a
//! depthwise convolution, BatchNormalization and a Gemm after a flatten), that the pruned
//! model compiles and computes what the original computes with the pruned channels cut
//! off, magnitude pruning's exact counts, groups left unpruned and why, and `zantc prune`.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::model::{encode, model, node, value, FLOAT};
use onnx_protobuf::{AttributeProto, NodeProto, TensorProto};
use zant_compiler::compress::prune::{prune, PruneSummary};
use zant_compiler::ir::{Data, Tensor};
use zant_compiler::onnx::{self, ModelEdit, Source};
use zant_compiler::pipeline::compile_graph;
use zant_compiler::{BindValue, Binding, Options, PruneSpec};

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: onnx_protobuf::attribute_proto::AttributeType::INTS.into(),
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: onnx_protobuf::attribute_proto::AttributeType::INT.into(),
        i: value,
        ..Default::default()
    }
}

fn with(mut n: NodeProto, attrs: Vec<AttributeProto>) -> NodeProto {
    n.attribute = attrs;
    n
}

/// A `k×k` convolution with `k / 2` padding (and `group`), reading `w` and `b`.
fn conv(name: &str, x: &str, k: i64, group: i64) -> NodeProto {
    let p = k / 2;
    with(
        node(
            name,
            "Conv",
            &[x, &format!("{name}.w"), &format!("{name}.b")],
            &[name],
        ),
        vec![
            ints("kernel_shape", &[k, k]),
            ints("pads", &[p, p, p, p]),
            int("group", group),
        ],
    )
}

/// Deterministic weights in [-1, 1) from a linear congruential sequence of `seed`.
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn float_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: FLOAT,
        dims: dims.to_vec(),
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn random(name: &str, dims: &[i64], seed: u32) -> TensorProto {
    let n = dims.iter().product::<i64>() as usize;
    float_tensor(name, dims, &values(n, seed))
}

/// The residual network, on `x: f32[1,3,6,6]`:
///
/// ```text
/// stem = Conv3x3(x) 3→8            r0 = Relu(stem)
/// a = Conv3x3(r0) 8→6  a1 = Relu(a)  b = Conv1x1(a1) 6→8
/// s1 = Add(b, r0)                    r1 = Relu(s1)        (identity shortcut)
/// c = Conv3x3(r1) 8→10  bn = BatchNormalization(c)  c1 = Relu(bn)
/// d = Conv1x1(c1) 10→12  p = Conv1x1(r1) 8→12
/// s2 = Add(d, p)                     r2 = Relu(s2)        (projection shortcut)
/// e = depthwise Conv3x3(r2) 12       g = GlobalAveragePool(e)
/// f = Flatten(g)                     y = Gemm(f, fc.w^T, fc.b) 12→5
/// ```
fn residual_model() -> Vec<u8> {
    let mut inits = Vec::new();
    let mut seed = 1;
    let mut weights = |name: &str, out: i64, inp: i64, k: i64, inits: &mut Vec<TensorProto>| {
        inits.push(random(&format!("{name}.w"), &[out, inp, k, k], seed));
        inits.push(random(&format!("{name}.b"), &[out], seed + 100));
        seed += 1;
    };
    weights("stem", 8, 3, 3, &mut inits);
    weights("a", 6, 8, 3, &mut inits);
    weights("b", 8, 6, 1, &mut inits);
    weights("c", 10, 8, 3, &mut inits);
    weights("d", 12, 10, 1, &mut inits);
    weights("p", 12, 8, 1, &mut inits);
    weights("e", 12, 1, 3, &mut inits);
    let positive: Vec<f32> = values(10, 77).iter().map(|v| v.abs() + 0.5).collect();
    inits.push(random("bn.scale", &[10], 71));
    inits.push(random("bn.bias", &[10], 72));
    inits.push(random("bn.mean", &[10], 73));
    inits.push(float_tensor("bn.var", &[10], &positive));
    inits.push(random("fc.w", &[5, 12], 80));
    inits.push(random("fc.b", &[5], 81));
    let nodes = vec![
        conv("stem", "x", 3, 1),
        node("r0", "Relu", &["stem"], &["r0"]),
        conv("a", "r0", 3, 1),
        node("a1", "Relu", &["a"], &["a1"]),
        conv("b", "a1", 1, 1),
        node("s1", "Add", &["b", "r0"], &["s1"]),
        node("r1", "Relu", &["s1"], &["r1"]),
        conv("c", "r1", 3, 1),
        node(
            "bn",
            "BatchNormalization",
            &["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"],
            &["bn"],
        ),
        node("c1", "Relu", &["bn"], &["c1"]),
        conv("d", "c1", 1, 1),
        conv("p", "r1", 1, 1),
        node("s2", "Add", &["d", "p"], &["s2"]),
        node("r2", "Relu", &["s2"], &["r2"]),
        conv("e", "r2", 3, 12),
        node("g", "GlobalAveragePool", &["e"], &["g"]),
        node("f", "Flatten", &["g"], &["f"]),
        with(
            node("fc", "Gemm", &["f", "fc.w", "fc.b"], &["y"]),
            vec![int("transB", 1)],
        ),
    ];
    encode(&model(
        nodes,
        vec![value("x", &[1, 3, 6, 6])],
        vec![value("y", &[1, 5])],
        inits,
    ))
}

fn open(bytes: &[u8]) -> ModelEdit {
    ModelEdit::from_bytes(bytes, Path::new("test.onnx")).expect("the test model decodes")
}

fn weight(edit: &ModelEdit, name: &str) -> Tensor {
    edit.initializer(name)
        .unwrap()
        .unwrap_or_else(|| panic!("no initializer `{name}`"))
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.as_f32().expect("a float tensor").to_vec()
}

/// The model's output on `x`, computed by zant's own constant folding: with the input
/// bound to a value, import folds every node.
fn run(bytes: &[u8], x: &Tensor) -> Vec<f32> {
    let binding = Binding::new("x", BindValue::Tensor(x.clone()));
    let loaded = onnx::load(Source::Bytes(bytes), &[], &[binding]).expect("the model imports");
    let graph = &loaded.graph;
    let out = graph
        .const_value(graph.outputs[0].value)
        .expect("a bound input folds the whole model");
    floats(out)
}

/// The L1 norm of each output channel's filter (axis 0) of a weight.
fn filter_norms(t: &Tensor) -> Vec<f32> {
    let per = t.n_elems() / t.shape[0];
    floats(t)
        .chunks(per)
        .map(|f| f.iter().map(|v| v.abs()).sum())
        .collect()
}

/// The `count` channels of smallest summed norm, ascending.
fn weakest(norms: &[Vec<f32>], count: usize) -> Vec<usize> {
    let summed: Vec<f32> = (0..norms[0].len())
        .map(|c| norms.iter().map(|n| n[c]).sum())
        .collect();
    let mut order: Vec<usize> = (0..summed.len()).collect();
    order.sort_by(|&a, &b| summed[a].total_cmp(&summed[b]));
    let mut chosen = order[..count].to_vec();
    chosen.sort_unstable();
    chosen
}

/// `t` with the indices `drop` of `axis` removed.
fn without(t: &Tensor, axis: usize, drop: &[usize]) -> Tensor {
    let outer: usize = t.shape[..axis].iter().product();
    let len = t.shape[axis];
    let inner: usize = t.shape[axis + 1..].iter().product();
    let v = floats(t);
    let mut out = Vec::new();
    for o in 0..outer {
        for i in (0..len).filter(|i| !drop.contains(i)) {
            out.extend_from_slice(&v[(o * len + i) * inner..][..inner]);
        }
    }
    let mut shape = t.shape.clone();
    shape[axis] = len - drop.len();
    Tensor::new(shape, Data::F32(out))
}

/// `t` with the indices `drop` of `axis` set to zero.
fn zeroed(t: &Tensor, axis: usize, drop: &[usize]) -> Tensor {
    let len = t.shape[axis];
    let inner: usize = t.shape[axis + 1..].iter().product();
    let mut v = floats(t);
    for (i, x) in v.iter_mut().enumerate() {
        if drop.contains(&((i / inner) % len)) {
            *x = 0.0;
        }
    }
    Tensor::new(t.shape.clone(), Data::F32(v))
}

fn input() -> Tensor {
    Tensor::new(vec![1, 3, 6, 6], Data::F32(values(108, 999)))
}

#[test]
fn channel_pruning_shrinks_a_residual_network() {
    let bytes = residual_model();
    let original = open(&bytes);
    let w = |name: &str| weight(&original, name);
    let mut edit = open(&bytes);
    let spec: PruneSpec = "channels:75%".parse().unwrap();
    let summary = prune(&mut edit, &spec, &[], &[]).expect("the residual network prunes");

    // The groups: the stem and `b` share the identity shortcut's channels, `d` and the
    // projection `p` share the second sum's, and the Gemm's outputs are the model's.
    let line = |first: &str| {
        summary
            .lines
            .iter()
            .find(|l| l.nodes[0] == format!("Conv `{first}`"))
            .unwrap_or_else(|| panic!("no line for `{first}`:\n{summary}"))
    };
    assert_eq!(line("stem").nodes, ["Conv `stem`", "Conv `b`"], "{summary}");
    assert_eq!((line("stem").before, line("stem").after), (8, 4));
    assert_eq!((line("a").before, line("a").after), (6, 3));
    assert_eq!((line("c").before, line("c").after), (10, 5));
    assert_eq!(line("d").nodes, ["Conv `d`", "Conv `p`"], "{summary}");
    assert_eq!((line("d").before, line("d").after), (12, 6));
    let gemm = summary
        .lines
        .iter()
        .find(|l| l.nodes[0] == "Gemm `fc`")
        .unwrap();
    assert_eq!(
        gemm.unpruned.as_deref(),
        Some("it reaches graph output `y`"),
        "{summary}"
    );
    assert_eq!(summary.lines.len(), 5, "{summary}");

    // The channels pruned: those of smallest filter L1 norm, summed over a group.
    let g1 = weakest(&[filter_norms(&w("stem.w")), filter_norms(&w("b.w"))], 4);
    let g2 = weakest(&[filter_norms(&w("a.w"))], 3);
    let g3 = weakest(&[filter_norms(&w("c.w"))], 5);
    let g4 = weakest(&[filter_norms(&w("d.w")), filter_norms(&w("p.w"))], 6);

    // Every weight: its shape, and exactly the original values that remain.
    let expect = |name: &str, shape: &[usize], value: Tensor| {
        let got = weight(&edit, name);
        assert_eq!(got.shape, shape, "`{name}`");
        assert_eq!(got, value, "`{name}`");
    };
    expect("stem.w", &[4, 3, 3, 3], without(&w("stem.w"), 0, &g1));
    expect("stem.b", &[4], without(&w("stem.b"), 0, &g1));
    expect(
        "a.w",
        &[3, 4, 3, 3],
        without(&without(&w("a.w"), 0, &g2), 1, &g1),
    );
    expect("a.b", &[3], without(&w("a.b"), 0, &g2));
    expect(
        "b.w",
        &[4, 3, 1, 1],
        without(&without(&w("b.w"), 0, &g1), 1, &g2),
    );
    expect("b.b", &[4], without(&w("b.b"), 0, &g1));
    expect(
        "c.w",
        &[5, 4, 3, 3],
        without(&without(&w("c.w"), 0, &g3), 1, &g1),
    );
    for param in ["bn.scale", "bn.bias", "bn.mean", "bn.var"] {
        expect(param, &[5], without(&w(param), 0, &g3));
    }
    expect(
        "d.w",
        &[6, 5, 1, 1],
        without(&without(&w("d.w"), 0, &g4), 1, &g3),
    );
    expect(
        "p.w",
        &[6, 4, 1, 1],
        without(&without(&w("p.w"), 0, &g4), 1, &g1),
    );
    expect("e.w", &[6, 1, 3, 3], without(&w("e.w"), 0, &g4));
    expect("e.b", &[6], without(&w("e.b"), 0, &g4));
    expect("fc.w", &[5, 6], without(&w("fc.w"), 1, &g4));
    expect("fc.b", &[5], w("fc.b"));
    let depthwise = edit.nodes().into_iter().find(|n| n.name == "e").unwrap();
    assert_eq!(depthwise.int("group"), Some(6));
    assert_eq!(summary.params_after, edit_params(&edit));
    assert!(
        summary.params_after < summary.params_before / 2,
        "{summary}"
    );

    // zant compiles the pruned model, directly and through `Options::prune`.
    let pruned = edit.to_bytes();
    let lowered = compile_graph(&pruned, &Options::default()).expect("the pruned model compiles");
    let via_options = compile_graph(
        &bytes,
        &Options {
            prune: Some(spec),
            ..Options::default()
        },
    )
    .expect("the model compiles with --prune");
    assert_eq!(lowered.plan.weight_bytes, via_options.plan.weight_bytes);
    assert_eq!(via_options.pruning.as_ref(), Some(&summary));

    // The pruned model computes what the original does once the pruned channels are cut
    // off where they are read: zero the readers' slices of those channels, and what the
    // pruned producers compute no longer matters.
    let mut cut = open(&bytes);
    let cuts: &[(&str, usize, &[usize])] = &[
        ("a.w", 1, &g1),
        ("c.w", 1, &g1),
        ("p.w", 1, &g1),
        ("b.w", 1, &g2),
        ("d.w", 1, &g3),
        ("fc.w", 1, &g4),
    ];
    for &(name, axis, channels) in cuts {
        cut.set_initializer(name, &zeroed(&w(name), axis, channels));
    }
    let x = input();
    let (want, got) = (run(&cut.to_bytes(), &x), run(&pruned, &x));
    let unpruned = run(&bytes, &x);
    assert_eq!(got.len(), 5);
    // Dropping terms that are exactly zero changes only the order of the remaining sums.
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "{got:?} vs {want:?}"
        );
    }
    assert!(
        got.iter().zip(&unpruned).any(|(g, u)| (g - u).abs() > 1e-3),
        "pruning half the channels left the output as it was: {got:?}"
    );
}

/// Elements of the float initializers.
fn edit_params(edit: &ModelEdit) -> usize {
    edit.initializer_names()
        .iter()
        .map(|n| weight(edit, n).n_elems())
        .sum()
}

#[test]
fn magnitude_pruning_zeroes_weights_but_not_biases() {
    let bytes = residual_model();
    let original = open(&bytes);
    let mut edit = open(&bytes);
    let spec: PruneSpec = "magnitude:70%".parse().unwrap();
    let summary = prune(&mut edit, &spec, &[], &[]).unwrap();
    let zeros = |t: &Tensor| floats(t).iter().filter(|&&v| v == 0.0).count();
    for name in ["stem.w", "a.w", "b.w", "c.w", "d.w", "p.w", "e.w", "fc.w"] {
        let (before, after) = (weight(&original, name), weight(&edit, name));
        assert_eq!(after.shape, before.shape, "`{name}`");
        let n = before.n_elems();
        assert_eq!(zeros(&after), (n as f64 * 0.7).round() as usize, "`{name}`");
        // What is left is the largest magnitudes, untouched.
        let threshold = floats(&before)
            .iter()
            .zip(floats(&after))
            .filter(|(_, a)| *a == 0.0)
            .map(|(b, _)| b.abs())
            .fold(0.0f32, f32::max);
        for (b, a) in floats(&before).iter().zip(floats(&after)) {
            assert!(a == 0.0 || (a == *b && b.abs() >= threshold), "`{name}`");
        }
    }
    for name in ["stem.b", "e.b", "fc.b", "bn.scale", "bn.var"] {
        assert_eq!(weight(&edit, name), weight(&original, name), "`{name}`");
    }
    assert_eq!(summary.lines.len(), 8, "{summary}");
    assert_eq!(summary.params_before, summary.params_after);
    let total: usize = summary.lines.iter().map(|l| l.before).sum();
    assert_eq!(summary.weight_elems, total);
    assert!(
        (summary.weight_zeros as f64 / total as f64 - 0.7).abs() < 0.01,
        "{summary}"
    );
    compile_graph(&edit.to_bytes(), &Options::default()).expect("the pruned model compiles");
}

/// Two layers concatenated along the channels: the reader of the Concat loses each layer's
/// pruned channels at that layer's offset.
#[test]
fn channels_through_a_concat_keep_their_offsets() {
    let bytes = encode(&model(
        vec![
            conv("a", "x", 3, 1),
            conv("b", "x", 1, 1),
            with(
                node("cat", "Concat", &["a", "b"], &["cat"]),
                vec![int("axis", 1)],
            ),
            node("r", "Relu", &["cat"], &["r"]),
            conv("c", "r", 3, 1),
        ],
        vec![value("x", &[1, 2, 5, 5])],
        vec![value("c", &[1, 3, 5, 5])],
        vec![
            random("a.w", &[4, 2, 3, 3], 11),
            random("a.b", &[4], 12),
            random("b.w", &[6, 2, 1, 1], 13),
            random("b.b", &[6], 14),
            random("c.w", &[3, 10, 3, 3], 15),
            random("c.b", &[3], 16),
        ],
    ));
    let original = open(&bytes);
    let w = |name: &str| weight(&original, name);
    let mut edit = open(&bytes);
    let summary = prune(&mut edit, &"channels:75%".parse().unwrap(), &[], &[]).unwrap();
    let ga = weakest(&[filter_norms(&w("a.w"))], 2);
    let gb = weakest(&[filter_norms(&w("b.w"))], 3);
    let mut cut: Vec<usize> = ga.clone();
    cut.extend(gb.iter().map(|c| 4 + c));
    assert_eq!(
        weight(&edit, "a.w"),
        without(&w("a.w"), 0, &ga),
        "{summary}"
    );
    assert_eq!(
        weight(&edit, "b.w"),
        without(&w("b.w"), 0, &gb),
        "{summary}"
    );
    assert_eq!(
        weight(&edit, "c.w"),
        without(&w("c.w"), 1, &cut),
        "{summary}"
    );
    assert_eq!(weight(&edit, "c.w").shape, [3, 5, 3, 3]);
    let x = Tensor::new(vec![1, 2, 5, 5], Data::F32(values(50, 5)));
    let mut reference = open(&bytes);
    reference.set_initializer("c.w", &zeroed(&w("c.w"), 1, &cut));
    let (want, got) = (run(&reference.to_bytes(), &x), run(&edit.to_bytes(), &x));
    assert_eq!(got.len(), 75);
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "{got:?} vs {want:?}"
        );
    }
}

/// `y = Relu(Conv(x) + x)`: the sum reads the graph input, whose channels cannot go.
#[test]
fn channels_a_graph_input_reads_are_left_unpruned() {
    let bytes = encode(&model(
        vec![
            conv("k", "x", 3, 1),
            node("s", "Add", &["k", "x"], &["s"]),
            node("r", "Relu", &["s"], &["r"]),
            conv("m", "r", 1, 1),
        ],
        vec![value("x", &[1, 4, 5, 5])],
        vec![value("m", &[1, 2, 5, 5])],
        vec![
            random("k.w", &[4, 4, 3, 3], 1),
            random("k.b", &[4], 2),
            random("m.w", &[2, 4, 1, 1], 3),
            random("m.b", &[2], 4),
        ],
    ));
    let mut edit = open(&bytes);
    let summary: PruneSummary =
        prune(&mut edit, &"channels:75%".parse().unwrap(), &[], &[]).unwrap();
    let reasons: HashMap<&str, Option<&str>> = summary
        .lines
        .iter()
        .map(|l| (l.nodes[0].as_str(), l.unpruned.as_deref()))
        .collect();
    assert_eq!(
        reasons["Conv `k`"],
        Some("Add `s` adds an operand it cannot slice along the channels"),
        "{summary}"
    );
    assert_eq!(
        reasons["Conv `m`"],
        Some("it reaches graph output `m`"),
        "{summary}"
    );
    assert_eq!(weight(&edit, "k.w").shape, [4, 4, 3, 3]);
    assert_eq!(weight(&edit, "m.w").shape, [2, 4, 1, 1]);
    assert!(summary.to_string().contains("left unpruned"), "{summary}");
}

/// mnist-8 keeps its last weight in a `Reshape` of an initializer and its flatten in a
/// `Reshape` with a constant shape: normalization makes the first an initializer, and the
/// second's target shape shrinks with the channels.
#[test]
fn channels_mnist_8_shrinks_its_flatten() {
    let Some(dir) = common::shared_models() else {
        return;
    };
    let path = dir.join("mnist-8/model.onnx");
    let mut edit = ModelEdit::open(&path).unwrap();
    let summary = prune(&mut edit, &"channels:75%".parse().unwrap(), &[], &[]).unwrap();
    assert_eq!(weight(&edit, "Parameter5").shape, [4, 1, 5, 5]);
    assert_eq!(weight(&edit, "Parameter87").shape, [8, 4, 5, 5]);
    assert_eq!(weight(&edit, "Parameter88").shape, [8, 1, 1]);
    // 8 channels of 4×4 after the second pooling: 128 rows.
    assert_eq!(weight(&edit, "Parameter193_reshape1").shape, [128, 10]);
    assert_eq!(
        weight(&edit, "Pooling160_Output_0_reshape0_shape").to_i64s(),
        [1, 128]
    );
    let lowered = compile_graph(&edit.to_bytes(), &Options::default()).unwrap();
    let macs = zant_compiler::report::layers(&lowered).totals.macs;
    assert_eq!(macs, 236_480, "{summary}");
}

#[test]
fn the_builder_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("res.onnx");
    std::fs::write(&path, residual_model()).unwrap();
    let mut builder = zant_compiler::Builder::new();
    builder.model(&path).out_dir(dir.path());
    let dense = builder.generate().unwrap();
    let pruned = builder
        .prune("channels:75%".parse().unwrap())
        .generate()
        .unwrap();
    assert!(
        pruned.weights.len() * 3 < dense.weights.len(),
        "{} against {} bytes of weights",
        pruned.weights.len(),
        dense.weights.len()
    );
    // The build reruns when the model file changes, pruned or not.
    assert_eq!(pruned.inputs, [path]);
}

fn zantc(args: &[&str], dir: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zantc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("zantc runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn zantc_prune_writes_the_pruned_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("res.onnx"), residual_model()).unwrap();
    let (ok, stdout, stderr) = zantc(
        &[
            "prune",
            "res.onnx",
            "--prune",
            "channels:75%",
            "-o",
            "small.onnx",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("Conv `stem` + Conv `b`: 8 -> 4 channels"),
        "{stdout}"
    );
    assert!(stdout.contains("wrote small.onnx"), "{stdout}");
    let written = ModelEdit::open(&dir.path().join("small.onnx")).unwrap();
    assert_eq!(weight(&written, "stem.w").shape, [4, 3, 3, 3]);

    // The input itself is refused as the output, however it is spelled.
    let (ok, _, stderr) = zantc(
        &[
            "prune",
            "res.onnx",
            "--prune",
            "magnitude:50%",
            "-o",
            "./res.onnx",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("is the input model"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("res.onnx")).unwrap(),
        residual_model()
    );

    let (ok, _, stderr) = zantc(
        &[
            "prune",
            "res.onnx",
            "--prune",
            "magnitude:120%",
            "-o",
            "x.onnx",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("120% is out of range"), "{stderr}");

    // The compiling commands take --prune too, and print what it did.
    let (ok, stdout, stderr) = zantc(
        &["inspect", "res.onnx", "--prune", "channels:75%", "--totals"],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("weight_bytes="), "{stdout}");
    assert!(
        stderr.contains("pruned channels:75%: 4 of 5 channel groups"),
        "{stderr}"
    );
}
