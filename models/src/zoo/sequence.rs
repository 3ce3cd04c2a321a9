//! Recurrent sequence classifiers in the shape of PyTorch's `nn.LSTM` and `nn.GRU` with
//! two layers, as exported at opset 13 (time major, `batch_first=False`): 100 frames of 40
//! features in, the last layer's final hidden state through a linear classifier.
//!
//! `lstm-seq` — Ops: LSTM (forward, with a bias), Squeeze (axes as an `int64` input, the
//! layer's direction axis), Reshape, Gemm.
//! `gru-seq` — Ops: GRU (`linear_before_reset` 1 as PyTorch writes it; the first layer
//! bidirectional), Transpose and Reshape (joining the two directions, as PyTorch exports
//! it), Reshape, Gemm.

use onnx_protobuf::ModelProto;

use crate::builder::{int, ints, string, GraphBuilder, Init, SMALL};

pub(crate) const LSTM_NAME: &str = "lstm-seq";
pub(crate) const GRU_NAME: &str = "gru-seq";
const STEPS: i64 = 100;
const FEATURES: i64 = 40;
const HIDDEN: i64 = 128;
const N_CLASSES: i64 = 12;

/// `features: f32[100,1,40]` → `logits: f32[1,12]`.
pub(crate) fn lstm() -> ModelProto {
    let mut graph = GraphBuilder::new("lstm_seq", 0x157_0100);
    let features = graph.input("features", &[STEPS, 1, FEATURES]);
    let g = &mut graph;
    let axes = g.shape("direction_axis", &[1]);
    // [100,1,40] → Y [100,1,1,128] → [100,1,128] → Y_h [1,1,128]
    let [y, _] = recurrent(g, "LSTM", "lstm.l0", &features, FEATURES, 4, false);
    let y = g.node("Squeeze", "lstm.l0.squeeze", &[&y, &axes], vec![]);
    let [_, last] = recurrent(g, "LSTM", "lstm.l1", &y, HIDDEN, 4, false);
    classify(g, &last);
    graph.output("logits", &[1, N_CLASSES]);
    graph.finish(
        "Two-layer LSTM sequence classifier (100 frames of 40 in, hidden 128, 12 logits out) \
         with random weights, authored by zant-models.",
    )
}

/// `features: f32[100,1,40]` → `logits: f32[1,12]`.
pub(crate) fn gru() -> ModelProto {
    let mut graph = GraphBuilder::new("gru_seq", 0x64_0100);
    let features = graph.input("features", &[STEPS, 1, FEATURES]);
    let g = &mut graph;
    // [100,1,40] → Y [100,2,1,128] → [100,1,2,128] → [100,1,256] → Y_h [1,1,128]
    let [y, _] = recurrent(g, "GRU", "gru.l0", &features, FEATURES, 3, true);
    let y = g.node(
        "Transpose",
        "gru.l0.transpose",
        &[&y],
        vec![ints("perm", &[0, 2, 1, 3])],
    );
    let shape = g.shape("gru.l0.shape", &[STEPS, 1, 2 * HIDDEN]);
    let y = g.node("Reshape", "gru.l0.join", &[&y, &shape], vec![]);
    let [_, last] = recurrent(g, "GRU", "gru.l1", &y, 2 * HIDDEN, 3, false);
    classify(g, &last);
    graph.output("logits", &[1, N_CLASSES]);
    graph.finish(
        "Two-layer GRU sequence classifier (100 frames of 40 in, hidden 128, the first layer \
         bidirectional, 12 logits out) with random weights, authored by zant-models.",
    )
}

/// One recurrent layer of `op_type` (`n_gates` 4 for LSTM, 3 for GRU) with weights `W`,
/// `R` and `B` as PyTorch exports them; returns its outputs `Y` and `Y_h`.
fn recurrent(
    graph: &mut GraphBuilder,
    op_type: &str,
    name: &str,
    input: &str,
    in_features: i64,
    n_gates: i64,
    bidirectional: bool,
) -> [String; 2] {
    let directions = if bidirectional { 2 } else { 1 };
    let gates = n_gates * HIDDEN;
    let w = graph.weight(
        &format!("{name}.weight_ih"),
        &[directions, gates, in_features],
        Init::LeCun {
            fan_in: in_features as usize,
        },
    );
    let r = graph.weight(
        &format!("{name}.weight_hh"),
        &[directions, gates, HIDDEN],
        Init::LeCun {
            fan_in: HIDDEN as usize,
        },
    );
    let b = graph.param(&format!("{name}.bias"), &[directions, 2 * gates], SMALL);
    let mut attributes = vec![int("hidden_size", HIDDEN)];
    if bidirectional {
        attributes.push(string("direction", "bidirectional"));
    }
    if op_type == "GRU" {
        attributes.push(int("linear_before_reset", 1));
    }
    let outputs = [format!("{name}.y"), format!("{name}.y_h")];
    let outputs = graph.node_outputs(
        op_type,
        name,
        &[input, &w, &r, &b],
        &[&outputs[0], &outputs[1]],
        attributes,
    );
    [outputs[0].clone(), outputs[1].clone()]
}

/// `[1,1,128]` → `[1,128]` → `logits: [1,12]`.
fn classify(graph: &mut GraphBuilder, last: &str) {
    let shape = graph.shape("last_state.shape", &[1, HIDDEN]);
    let x = graph.node("Reshape", "last_state", &[last, &shape], vec![]);
    let init = Init::LeCun {
        fan_in: HIDDEN as usize,
    };
    graph.linear("fc", &x, HIDDEN, N_CLASSES, init, "logits");
}
