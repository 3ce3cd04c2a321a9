//! A classifier in the shape of ResNet-50 (He et al., 2016) as torchvision exports it: a
//! 7×7 stem and max pooling, four stages of bottleneck blocks (1×1, 3×3, 1×1 to four times
//! the width; the first block of each stage with a strided 1×1 projection shortcut), global
//! pooling and a linear classifier. ResNet-50's depth (3, 4, 6, 3 blocks) at a quarter of
//! its widths, 100 classes.
//!
//! Ops: Conv (bias: batch norm folded; 7×7 stride 2, 3×3 stride 1 and 2, 1×1 stride 1 and
//! 2), Relu, MaxPool, Add, GlobalAveragePool, Flatten, Gemm.

use onnx_protobuf::ModelProto;

use super::{residual_init, square_conv};
use crate::builder::{int, ints, GraphBuilder, Init};

pub(crate) const NAME: &str = "resnet50-style";
const SEED: u64 = 0x2e5_0050;
const SIZE: i64 = 224;
const STEM: i64 = 16;
/// The bottleneck widths of the four stages (ResNet-50's 64/128/256/512 divided by four);
/// each block's output is four times as wide.
const WIDTHS: [i64; 4] = [16, 32, 64, 128];
const BLOCKS: [usize; 4] = [3, 4, 6, 3];
const EXPANSION: i64 = 4;
const N_CLASSES: i64 = 100;

/// `image: f32[1,3,224,224]` → `logits: f32[1,100]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("resnet50_style", SEED);
    let image = graph.input("image", &[1, 3, SIZE, SIZE]);
    let g = &mut graph;

    // [1,3,224,224] → [1,16,112,112] → [1,16,56,56]
    let x = g.conv("conv1", &image, &square_conv(3, STEM, 7, 2));
    let x = g.node("Relu", "relu", &[&x], vec![]);
    let mut x = g.node(
        "MaxPool",
        "maxpool",
        &[&x],
        vec![
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[2, 2]),
            ints("pads", &[1, 1, 1, 1]),
        ],
    );

    // → [1,64,56,56] → [1,128,28,28] → [1,256,14,14] → [1,512,7,7]
    let mut in_channels = STEM;
    for (stage, (&width, &n_blocks)) in WIDTHS.iter().zip(&BLOCKS).enumerate() {
        for block in 0..n_blocks {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let name = format!("layer{}.{block}", stage + 1);
            x = bottleneck(g, &name, &x, in_channels, width, stride);
            in_channels = width * EXPANSION;
        }
    }

    // [1,512,7,7] → [1,512,1,1] → [1,512] → [1,100]
    let x = g.node("GlobalAveragePool", "avgpool", &[&x], vec![]);
    let x = g.node("Flatten", "flatten", &[&x], vec![int("axis", 1)]);
    let init = Init::LeCun {
        fan_in: in_channels as usize,
    };
    g.linear("fc", &x, in_channels, N_CLASSES, init, "logits");

    graph.output("logits", &[1, N_CLASSES]);
    graph.finish(
        "ResNet-50-style classifier (224x224 in; bottleneck blocks 3/4/6/3 at quarter width, \
         projection shortcuts; 100 logits out) with random weights, authored by zant-models.",
    )
}

/// torchvision's `Bottleneck` (the stride on the 3×3, as in ResNet v1.5): 1×1 to `width`,
/// 3×3, 1×1 to `4 · width`, plus the input or its strided 1×1 projection, then Relu.
fn bottleneck(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    in_channels: i64,
    width: i64,
    stride: i64,
) -> String {
    let out_channels = width * EXPANSION;
    let x = graph.conv(
        &format!("{name}.conv1"),
        input,
        &square_conv(in_channels, width, 1, 1),
    );
    let x = graph.node("Relu", &format!("{name}.relu1"), &[&x], vec![]);
    let x = graph.conv(
        &format!("{name}.conv2"),
        &x,
        &square_conv(width, width, 3, stride),
    );
    let x = graph.node("Relu", &format!("{name}.relu2"), &[&x], vec![]);
    let spec = square_conv(width, out_channels, 1, 1);
    let x = graph.conv_init(&format!("{name}.conv3"), &x, &spec, residual_init(&spec));
    let shortcut = if stride == 1 && in_channels == out_channels {
        input.to_owned()
    } else {
        let spec = square_conv(in_channels, out_channels, 1, stride);
        let init = Init::LeCun {
            fan_in: in_channels as usize,
        };
        graph.conv_init(&format!("{name}.downsample"), input, &spec, init)
    };
    let x = graph.node("Add", &format!("{name}.add"), &[&x, &shortcut], vec![]);
    graph.node("Relu", &format!("{name}.relu3"), &[&x], vec![])
}
