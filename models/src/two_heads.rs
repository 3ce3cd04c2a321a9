//! A small two-input, two-output MLP: the model that proves the compiler handles several graph
//! inputs and outputs, and a value (`merge`) read by two consumers.
//!
//! Ops: Gemm (with and without `transB`), MatMul + Add, Relu, Tanh, Add, Sigmoid.

use onnx_protobuf::ModelProto;

use crate::builder::{float, int, GraphBuilder, Init, SMALL};

pub(crate) const FILE_NAME: &str = "two-heads.onnx";
const SEED: u64 = 0x2_4ead_0001;

/// `features: f32[1,16]`, `context: f32[1,8]` → `scores: f32[1,4]`, `gate: f32[1,1]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("two_heads", SEED);
    let features = graph.input("features", &[1, 16]);
    let context = graph.input("context", &[1, 8]);

    // The features branch: [1,16] → [1,32], a `torch.nn.Linear` export.
    let fc_features = graph.linear(
        "fc_features",
        &features,
        16,
        32,
        Init::He { fan_in: 16 },
        "fc_features",
    );
    let relu = graph.node("Relu", "features_relu", &[&fc_features], vec![]);

    // The context branch: [1,8] → [1,32] as MatMul then Add, with the weight stored [in, out],
    // as TensorFlow converters emit dense layers.
    let weight = graph.weight("context_proj.weight", &[8, 32], Init::LeCun { fan_in: 8 });
    let bias = graph.param("context_proj.bias", &[32], SMALL);
    let matmul = graph.node("MatMul", "context_proj", &[&context, &weight], vec![]);
    let biased = graph.node("Add", "context_proj_bias", &[&matmul, &bias], vec![]);
    let tanh = graph.node("Tanh", "context_tanh", &[&biased], vec![]);

    let merge = graph.node("Add", "merge", &[&relu, &tanh], vec![]);

    // The scores head: [1,32] → [1,4], a Gemm with its weight stored [in, out] (`transB = 0`)
    // and the `alpha` and `beta` attributes spelled out.
    let weight = graph.weight("scores.weight", &[32, 4], Init::LeCun { fan_in: 32 });
    let bias = graph.param("scores.bias", &[4], SMALL);
    let attributes = vec![float("alpha", 1.0), float("beta", 1.0), int("transB", 0)];
    graph.node_to(
        "Gemm",
        "scores",
        &[&merge, &weight, &bias],
        "scores",
        attributes,
    );

    // The gate head: [1,32] → [1,1] → sigmoid.
    let gate_logit = graph.linear(
        "gate_fc",
        &merge,
        32,
        1,
        Init::LeCun { fan_in: 32 },
        "gate_fc",
    );
    graph.node_to("Sigmoid", "gate", &[&gate_logit], "gate", vec![]);

    graph.output("scores", &[1, 4]);
    graph.output("gate", &[1, 1]);
    graph.finish("Two-input, two-output MLP with random weights, authored by zant-models.")
}
