//! A classifier in the shape of EfficientNet-B0 (Tan and Le, 2019) as torchvision exports
//! it: a strided 3×3 stem, MBConv blocks (1×1 expansion, depthwise 3×3 or 5×5, squeeze and
//! excitation, 1×1 projection, a residual Add where the shape allows), a 1×1 head
//! convolution, global pooling and a linear classifier. B0's seven stages and widths, with
//! fewer repeats, a narrower head and 100 classes to keep the weights near 6 MB.
//!
//! Ops: Conv (bias: batch norm folded; dense, depthwise 3×3 and 5×5 at stride 1 and 2, 1×1
//! on pooled maps), Sigmoid and Mul (SiLU, and the excitation's broadcast scale),
//! GlobalAveragePool, Add, Flatten, Gemm.

use onnx_protobuf::ModelProto;

use super::{conv_silu, silu, square_conv};
use crate::builder::{int, ConvSpec, GraphBuilder, Init};

pub(crate) const NAME: &str = "efficientnet-style";
const SEED: u64 = 0xeff1_00b0;
const SIZE: i64 = 224;
const STEM: i64 = 32;
const HEAD: i64 = 640;
const N_CLASSES: i64 = 100;

/// One stage of MBConv blocks.
struct Stage {
    expand: i64,
    kernel: i64,
    stride: i64,
    out_channels: i64,
    repeats: usize,
}

/// B0's stages (its repeats are 1, 2, 2, 3, 3, 4, 1).
const STAGES: [Stage; 7] = [
    stage(1, 3, 1, 16, 1),
    stage(6, 3, 2, 24, 2),
    stage(6, 5, 2, 40, 2),
    stage(6, 3, 2, 80, 2),
    stage(6, 5, 1, 112, 1),
    stage(6, 5, 2, 192, 1),
    stage(6, 3, 1, 320, 1),
];

/// `image: f32[1,3,224,224]` → `logits: f32[1,100]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("efficientnet_style", SEED);
    let image = graph.input("image", &[1, 3, SIZE, SIZE]);
    let g = &mut graph;

    // [1,3,224,224] → [1,32,112,112] → … → [1,320,7,7]
    let mut x = conv_silu(g, "features.0", &image, &square_conv(3, STEM, 3, 2));
    let mut in_channels = STEM;
    for (index, stage) in STAGES.iter().enumerate() {
        for block in 0..stage.repeats {
            let stride = if block == 0 { stage.stride } else { 1 };
            let name = format!("features.{}.{block}", index + 1);
            x = mb_conv(g, &name, &x, in_channels, stage, stride);
            in_channels = stage.out_channels;
        }
    }
    let spec = square_conv(in_channels, HEAD, 1, 1);
    let x = conv_silu(g, &format!("features.{}", STAGES.len() + 1), &x, &spec);

    // [1,640,7,7] → [1,640,1,1] → [1,640] → [1,100]
    let x = g.node("GlobalAveragePool", "avgpool", &[&x], vec![]);
    let x = g.node("Flatten", "flatten", &[&x], vec![int("axis", 1)]);
    let init = Init::LeCun {
        fan_in: HEAD as usize,
    };
    g.linear("classifier.1", &x, HEAD, N_CLASSES, init, "logits");

    graph.output("logits", &[1, N_CLASSES]);
    graph.finish(
        "EfficientNet-B0-style classifier (224x224 in; MBConv with SiLU, squeeze and \
         excitation, depthwise 3x3 and 5x5; 100 logits out) with random weights, authored by \
         zant-models.",
    )
}

const fn stage(expand: i64, kernel: i64, stride: i64, out_channels: i64, repeats: usize) -> Stage {
    Stage {
        expand,
        kernel,
        stride,
        out_channels,
        repeats,
    }
}

/// torchvision's MBConv: expansion (unless the ratio is 1), depthwise convolution, squeeze
/// and excitation to a quarter of the block's input channels, projection without an
/// activation, and the residual Add when stride and width stay.
fn mb_conv(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    in_channels: i64,
    stage: &Stage,
    stride: i64,
) -> String {
    let hidden = in_channels * stage.expand;
    let mut layer = 0;
    let mut x = input.to_owned();
    if stage.expand != 1 {
        let spec = square_conv(in_channels, hidden, 1, 1);
        x = conv_silu(graph, &format!("{name}.block.{layer}"), &x, &spec);
        layer += 1;
    }
    let depthwise = ConvSpec {
        in_channels: hidden,
        group: hidden,
        ..square_conv(hidden, hidden, stage.kernel, stride)
    };
    x = conv_silu(graph, &format!("{name}.block.{layer}"), &x, &depthwise);
    layer += 1;

    // Squeeze and excitation: [1,C,H,W] → [1,C,1,1] scale, broadcast over H and W.
    let se = format!("{name}.block.{layer}");
    let squeezed = (in_channels / 4).max(1);
    let pooled = graph.node("GlobalAveragePool", &format!("{se}.avgpool"), &[&x], vec![]);
    let s = graph.conv(
        &format!("{se}.fc1"),
        &pooled,
        &square_conv(hidden, squeezed, 1, 1),
    );
    let s = silu(graph, &format!("{se}.activation"), &s);
    let s = graph.conv(
        &format!("{se}.fc2"),
        &s,
        &square_conv(squeezed, hidden, 1, 1),
    );
    let s = graph.node("Sigmoid", &format!("{se}.scale_activation"), &[&s], vec![]);
    x = graph.node("Mul", &format!("{se}.scale"), &[&x, &s], vec![]);
    layer += 1;

    let residual = stride == 1 && in_channels == stage.out_channels;
    let spec = square_conv(hidden, stage.out_channels, 1, 1);
    // Untrained, the excitation's Sigmoid sits near 1/2 and quarters the signal's
    // variance; the projection, which has no activation, is drawn with four times LeCun's
    // variance to bring it back to unit scale, and a residual branch's with LeCun's, so it
    // adds a quarter of the variance it carries.
    let hidden_fan_in = hidden as usize;
    let init = if residual {
        Init::LeCun {
            fan_in: hidden_fan_in,
        }
    } else {
        Init::LeCun {
            fan_in: hidden_fan_in / 4,
        }
    };
    x = graph.conv_init(&format!("{name}.block.{layer}"), &x, &spec, init);
    if residual {
        x = graph.node("Add", &format!("{name}.add"), &[input, &x], vec![]);
    }
    x
}
