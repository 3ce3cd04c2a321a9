//! A small image classifier in float16, as `onnxconverter-common` converts a model with
//! `keep_io_types=False`: inputs, outputs, weights and every value between ops are float16.
//!
//! Ops: Conv, Relu, MaxPool, Conv, Clip (float16 bounds), Transpose, GlobalAveragePool,
//! Flatten, Gemm (`transB = 1`), Softmax.

use onnx_protobuf::{AttributeProto, ModelProto};

use crate::builder::{int, ints, ConvSpec, GraphBuilder, Init};

pub(crate) const FILE_NAME: &str = "half-cnn.onnx";
const SEED: u64 = 0x0f16_c001;

/// `image: f16[1,1,16,16]` → `probs: f16[1,10]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("half_cnn", SEED).half();
    let image = graph.input("image", &[1, 1, 16, 16]);

    // [1,1,16,16] → [1,8,16,16] → [1,8,8,8]
    let conv1 = graph.conv("conv1", &image, &conv(1, 8));
    let relu = graph.node("Relu", "relu1", &[&conv1], vec![]);
    let pool = graph.node("MaxPool", "pool1", &[&relu], max_pool_2x2());
    // [1,8,8,8] → [1,16,8,8], clipped to [0, 6] by float16 bounds.
    let conv2 = graph.conv("conv2", &pool, &conv(8, 16));
    let low = graph.constant("clip.min", &[], vec![0.0]);
    let high = graph.constant("clip.max", &[], vec![6.0]);
    let clip = graph.node("Clip", "clip2", &[&conv2, &low, &high], vec![]);
    // A transpose that moves float16 elements as they are: [1,16,8,8] → [1,16,8,8] with
    // the spatial axes swapped, which the average below does not mind.
    let swapped = graph.node(
        "Transpose",
        "swap_hw",
        &[&clip],
        vec![ints("perm", &[0, 1, 3, 2])],
    );
    // [1,16,8,8] → [1,16,1,1] → [1,16] → [1,10]
    let gap = graph.node("GlobalAveragePool", "gap", &[&swapped], vec![]);
    let flat = graph.node("Flatten", "flatten", &[&gap], vec![int("axis", 1)]);
    let fc = graph.linear("fc", &flat, 16, 10, Init::LeCun { fan_in: 16 }, "fc");
    graph.node_to("Softmax", "softmax", &[&fc], "probs", vec![int("axis", 1)]);

    graph.output("probs", &[1, 10]);
    graph.finish("A float16 image classifier with random weights, authored by zant-models.")
}

fn conv(in_channels: i64, out_channels: i64) -> ConvSpec {
    ConvSpec {
        in_channels,
        out_channels,
        kernel: [3, 3],
        strides: [1, 1],
        pads: [1, 1, 1, 1],
        group: 1,
        bias: true,
    }
}

fn max_pool_2x2() -> Vec<AttributeProto> {
    vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])]
}
