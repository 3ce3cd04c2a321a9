//! LeNet-5 for 28×28 MNIST digits, in the shape of the PyTorch tutorials' export.
//!
//! Ops: Conv (with pads), Relu, MaxPool, Flatten, Gemm (`transB = 1`), Softmax.

use onnx_protobuf::{AttributeProto, ModelProto};

use crate::builder::{int, ints, ConvSpec, GraphBuilder, Init};

pub(crate) const FILE_NAME: &str = "lenet-mnist.onnx";
const SEED: u64 = 0x1e7e_7001;

/// `image: f32[1,1,28,28]` → `probs: f32[1,10]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("lenet_mnist", SEED);
    let image = graph.input("image", &[1, 1, 28, 28]);

    // [1,1,28,28] → [1,6,28,28] → [1,6,14,14]
    let conv1 = graph.conv("conv1", &image, &conv(1, 6, [2, 2, 2, 2]));
    let relu1 = graph.node("Relu", "relu1", &[&conv1], vec![]);
    let pool1 = graph.node("MaxPool", "pool1", &[&relu1], max_pool_2x2());
    // [1,6,14,14] → [1,16,10,10] → [1,16,5,5]
    let conv2 = graph.conv("conv2", &pool1, &conv(6, 16, [0, 0, 0, 0]));
    let relu2 = graph.node("Relu", "relu2", &[&conv2], vec![]);
    let pool2 = graph.node("MaxPool", "pool2", &[&relu2], max_pool_2x2());
    // [1,16,5,5] → [1,400] → [1,120] → [1,84] → [1,10]
    let flat = graph.node("Flatten", "flatten", &[&pool2], vec![int("axis", 1)]);
    let fc1 = graph.linear("fc1", &flat, 400, 120, Init::He { fan_in: 400 }, "fc1");
    let relu3 = graph.node("Relu", "relu3", &[&fc1], vec![]);
    let fc2 = graph.linear("fc2", &relu3, 120, 84, Init::He { fan_in: 120 }, "fc2");
    let relu4 = graph.node("Relu", "relu4", &[&fc2], vec![]);
    let fc3 = graph.linear("fc3", &relu4, 84, 10, Init::LeCun { fan_in: 84 }, "fc3");
    graph.node_to("Softmax", "softmax", &[&fc3], "probs", vec![int("axis", 1)]);

    graph.output("probs", &[1, 10]);
    graph.finish("LeNet-5 for 28x28 MNIST digits with random weights, authored by zant-models.")
}

fn conv(in_channels: i64, out_channels: i64, pads: [i64; 4]) -> ConvSpec {
    ConvSpec {
        in_channels,
        out_channels,
        kernel: [5, 5],
        strides: [1, 1],
        pads,
        group: 1,
        bias: true,
    }
}

fn max_pool_2x2() -> Vec<AttributeProto> {
    vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])]
}
