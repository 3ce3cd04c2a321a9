//! A classifier in the shape of MobileNetV3-Small (Howard et al., 2019) as torchvision
//! exports it at opset 17: a strided 3×3 stem with HardSwish, eleven inverted residual
//! blocks (1×1 expansion, depthwise 3×3 or 5×5, squeeze and excitation with ReLU and
//! HardSigmoid, 1×1 projection, a residual Add where the shape allows), a 1×1 head
//! convolution, global pooling and a two-layer classifier (Gemm, HardSwish, Gemm).
//! Small's blocks and widths, 1,000 classes: about 2.5 M parameters.
//!
//! The float model is the zoo's source for a quantized one: `scripts/qdq_zoo.py` runs
//! ONNX Runtime's `quantize_static` on it (issue 50), as a user quantizing a torchvision
//! export would.
//!
//! Ops: Conv (bias: batch norm folded; dense, depthwise 3×3 and 5×5 at stride 1 and 2, 1×1
//! on pooled maps), Relu, HardSwish, HardSigmoid, Mul (the excitation's broadcast scale),
//! GlobalAveragePool, Add, Flatten, Gemm.

use onnx_protobuf::ModelProto;

use super::square_conv;
use crate::builder::{float, int, ConvSpec, GraphBuilder, Init};

pub(crate) const NAME: &str = "mobilenetv3-style";
const SEED: u64 = 0x0b3e_5a11;
const SIZE: i64 = 224;
const STEM: i64 = 16;
const HEAD: i64 = 576;
const HIDDEN: i64 = 1024;
const N_CLASSES: i64 = 1000;

/// One inverted residual block: kernel, expanded width, output width, squeeze and
/// excitation, HardSwish (else ReLU), stride.
struct Block {
    kernel: i64,
    expanded: i64,
    out_channels: i64,
    se: bool,
    hard_swish: bool,
    stride: i64,
}

/// torchvision's `mobilenet_v3_small` configuration.
const BLOCKS: [Block; 11] = [
    block(3, 16, 16, true, false, 2),
    block(3, 72, 24, false, false, 2),
    block(3, 88, 24, false, false, 1),
    block(5, 96, 40, true, true, 2),
    block(5, 240, 40, true, true, 1),
    block(5, 240, 40, true, true, 1),
    block(5, 120, 48, true, true, 1),
    block(5, 144, 48, true, true, 1),
    block(5, 288, 96, true, true, 2),
    block(5, 576, 96, true, true, 1),
    block(5, 576, 96, true, true, 1),
];

const fn block(
    kernel: i64,
    expanded: i64,
    out_channels: i64,
    se: bool,
    hard_swish: bool,
    stride: i64,
) -> Block {
    Block {
        kernel,
        expanded,
        out_channels,
        se,
        hard_swish,
        stride,
    }
}

/// `image: f32[1,3,224,224]` → `logits: f32[1,1000]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("mobilenetv3_style", SEED).opset(17);
    let image = graph.input("image", &[1, 3, SIZE, SIZE]);
    let g = &mut graph;

    // [1,3,224,224] → [1,16,112,112] → … → [1,96,7,7]
    let mut x = conv_act(g, "features.0", &image, &square_conv(3, STEM, 3, 2), true);
    let mut in_channels = STEM;
    for (index, b) in BLOCKS.iter().enumerate() {
        x = inverted_residual(g, &format!("features.{}", index + 1), &x, in_channels, b);
        in_channels = b.out_channels;
    }
    let name = format!("features.{}", BLOCKS.len() + 1);
    let spec = square_conv(in_channels, HEAD, 1, 1);
    let x = conv_act(g, &name, &x, &spec, true);

    // [1,576,7,7] → [1,576,1,1] → [1,576] → [1,1024] → [1,1000]
    let x = g.node("GlobalAveragePool", "avgpool", &[&x], vec![]);
    let x = g.node("Flatten", "flatten", &[&x], vec![int("axis", 1)]);
    let init = Init::He {
        fan_in: HEAD as usize,
    };
    let x = g.linear("classifier.0", &x, HEAD, HIDDEN, init, "classifier.0.out");
    let x = activation(g, "classifier.1", &x, true);
    let init = Init::LeCun {
        fan_in: HIDDEN as usize,
    };
    g.linear("classifier.3", &x, HIDDEN, N_CLASSES, init, "logits");

    graph.output("logits", &[1, N_CLASSES]);
    graph.finish(
        "MobileNetV3-Small-style classifier (224x224 in; inverted residuals with HardSwish, \
         squeeze and excitation with HardSigmoid, depthwise 3x3 and 5x5; a Gemm classifier, \
         1000 logits out) with random weights, authored by zant-models.",
    )
}

/// HardSwish (`nn.Hardswish`, the ONNX op since opset 14) or ReLU.
fn activation(graph: &mut GraphBuilder, name: &str, input: &str, hard_swish: bool) -> String {
    let op = if hard_swish { "HardSwish" } else { "Relu" };
    graph.node(op, name, &[input], vec![])
}

/// torchvision's `Conv2dNormActivation`: the convolution `{name}.0` (batch norm folded
/// into its bias) and its activation `{name}.2`.
fn conv_act(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    spec: &ConvSpec,
    hard_swish: bool,
) -> String {
    let conv = graph.conv(&format!("{name}.0"), input, spec);
    activation(graph, &format!("{name}.2"), &conv, hard_swish)
}

/// torchvision's `InvertedResidual`: expansion (unless the width stays), depthwise
/// convolution, squeeze and excitation to a quarter of the expanded width (rounded to 8),
/// projection without an activation, and the residual Add when stride and width stay.
fn inverted_residual(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    in_channels: i64,
    b: &Block,
) -> String {
    let mut layer = 0;
    let mut x = input.to_owned();
    if b.expanded != in_channels {
        let spec = square_conv(in_channels, b.expanded, 1, 1);
        x = conv_act(
            graph,
            &format!("{name}.block.{layer}"),
            &x,
            &spec,
            b.hard_swish,
        );
        layer += 1;
    }
    let depthwise = ConvSpec {
        in_channels: b.expanded,
        group: b.expanded,
        ..square_conv(b.expanded, b.expanded, b.kernel, b.stride)
    };
    x = conv_act(
        graph,
        &format!("{name}.block.{layer}"),
        &x,
        &depthwise,
        b.hard_swish,
    );
    layer += 1;

    if b.se {
        // [1,C,H,W] → [1,C,1,1] scale, broadcast over H and W.
        let se = format!("{name}.block.{layer}");
        let squeezed = ((b.expanded / 4 + 4) / 8 * 8).max(8);
        let pooled = graph.node("GlobalAveragePool", &format!("{se}.avgpool"), &[&x], vec![]);
        let s = graph.conv(
            &format!("{se}.fc1"),
            &pooled,
            &square_conv(b.expanded, squeezed, 1, 1),
        );
        let s = graph.node("Relu", &format!("{se}.activation"), &[&s], vec![]);
        let s = graph.conv(
            &format!("{se}.fc2"),
            &s,
            &square_conv(squeezed, b.expanded, 1, 1),
        );
        let attrs = vec![float("alpha", 1.0 / 6.0), float("beta", 0.5)];
        let s = graph.node(
            "HardSigmoid",
            &format!("{se}.scale_activation"),
            &[&s],
            attrs,
        );
        x = graph.node("Mul", &format!("{se}.scale"), &[&x, &s], vec![]);
        layer += 1;
    }

    let residual = b.stride == 1 && in_channels == b.out_channels;
    let spec = square_conv(b.expanded, b.out_channels, 1, 1);
    let init = Init::LeCun {
        fan_in: if residual {
            4 * b.expanded as usize
        } else {
            b.expanded as usize
        },
    };
    x = graph.conv_init(&format!("{name}.block.{layer}.0"), &x, &spec, init);
    if residual {
        x = graph.node("Add", &format!("{name}.add"), &[input, &x], vec![]);
    }
    x
}
