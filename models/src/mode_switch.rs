//! A keyword spotter with a run-time mode switch, as exporters write one: `high_accuracy`
//! picks a deep branch (two more 3×3 convolutions, whose weights live inside the branch)
//! or a fast one (pooling the stem's features at once) in an `If`. Compiled as it is, the
//! model keeps both branches behind the flag; `zantc --bind high_accuracy=false` compiles
//! the fast model alone, and `=true` the deep one.
//!
//! Ops: Conv, Relu, If (a branch with its own initializers, branches that read an outer
//! value), GlobalAveragePool, Flatten, Gemm.

use onnx_protobuf::ModelProto;

use crate::builder::{graph, ConvSpec, GraphBuilder, Init};

pub(crate) const FILE_NAME: &str = "mode-switch.onnx";
const SEED: u64 = 0x30de_5e1f;
const CHANNELS: i64 = 8;
const N_KEYWORDS: i64 = 4;

/// A 3×3 convolution over `CHANNELS` channels with padding 1.
fn conv3x3(in_channels: i64, strides: [i64; 2]) -> ConvSpec {
    ConvSpec {
        in_channels,
        out_channels: CHANNELS,
        kernel: [3, 3],
        strides,
        pads: [1, 1, 1, 1],
        group: 1,
        bias: true,
    }
}

/// `features: f32[1,1,20,16]`, `high_accuracy: bool[]` → `scores: f32[1,4]`.
pub(crate) fn model() -> ModelProto {
    let mut main = GraphBuilder::new("mode_switch", SEED);
    let features = main.input("features", &[1, 1, 20, 16]);
    let high_accuracy = main.bool_input("high_accuracy");
    let stem = main.conv("stem", &features, &conv3x3(1, [1, 1]));
    let stem = main.node("Relu", "stem_relu", &[&stem], vec![]);

    // The deep branch: [1,8,20,16] → [1,8,10,8] → [1,8,1,1].
    let mut deep = main.subgraph("deep");
    let x = deep.conv("deep1", &stem, &conv3x3(CHANNELS, [1, 1]));
    let x = deep.node("Relu", "deep1_relu", &[&x], vec![]);
    let x = deep.conv("deep2", &x, &conv3x3(CHANNELS, [2, 2]));
    let x = deep.node("Relu", "deep2_relu", &[&x], vec![]);
    deep.node_to(
        "GlobalAveragePool",
        "deep_pool",
        &[&x],
        "deep_summary",
        vec![],
    );
    deep.output("deep_summary", &[1, CHANNELS, 1, 1]);

    // The fast branch: the stem's features pooled as they are.
    let mut fast = main.subgraph("fast");
    fast.node_to(
        "GlobalAveragePool",
        "fast_pool",
        &[&stem],
        "fast_summary",
        vec![],
    );
    fast.output("fast_summary", &[1, CHANNELS, 1, 1]);

    let summary = main.node_to(
        "If",
        "mode",
        &[&high_accuracy],
        "summary",
        vec![
            graph("then_branch", deep.into_graph()),
            graph("else_branch", fast.into_graph()),
        ],
    );
    let flat = main.node("Flatten", "flatten", &[&summary], vec![]);
    main.linear(
        "classifier",
        &flat,
        CHANNELS,
        N_KEYWORDS,
        Init::LeCun {
            fan_in: CHANNELS as usize,
        },
        "scores",
    );
    main.output("scores", &[1, N_KEYWORDS]);
    main.finish("Keyword spotter with an If on a run-time mode flag, authored by zant-models.")
}
