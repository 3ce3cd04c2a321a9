//! A text detector in the shape of DBNet (Liao et al., "Real-time Scene Text Detection with
//! Differentiable Binarization", 2020): a ResNet-18 backbone at a quarter of its widths, an
//! FPN that adds nearest-upsampled coarser levels, each level brought to 1/4 resolution and
//! concatenated, and the probability head: Conv 3×3, BN, Relu, ConvTranspose 2×2 stride 2,
//! BN, Relu, ConvTranspose 2×2 stride 2, Sigmoid.
//!
//! Ops: Conv (7×7 stem, 3×3 and strided 1×1 projections; bias where a batch norm is folded,
//! none in the FPN), Relu, MaxPool, Add, Resize (nearest ×2, ×4, ×8, opset 13 form), Concat,
//! ConvTranspose, BatchNormalization (after each ConvTranspose, which exporters do not fold),
//! Sigmoid.

use onnx_protobuf::ModelProto;

use super::{residual_init, square_conv, upsample};
use crate::builder::{int, ints, ConvSpec, GraphBuilder, Init};

pub(crate) const NAME: &str = "dbnet-style";
const SEED: u64 = 0xdb_0320;
const SIZE: i64 = 320;
/// ResNet-18's stage widths (64/128/256/512) divided by four.
const WIDTHS: [i64; 4] = [16, 32, 64, 128];
/// The FPN's width; each level contributes a quarter of it to the fused map.
const INNER: i64 = 96;

/// `image: f32[1,3,320,320]` → `probability: f32[1,1,320,320]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("dbnet_style", SEED);
    let image = graph.input("image", &[1, 3, SIZE, SIZE]);
    let g = &mut graph;

    // Stem: [1,3,320,320] → [1,16,160,160] → [1,16,80,80].
    let x = g.conv("backbone.conv1", &image, &square_conv(3, WIDTHS[0], 7, 2));
    let x = g.node("Relu", "backbone.relu", &[&x], vec![]);
    let mut x = g.node(
        "MaxPool",
        "backbone.maxpool",
        &[&x],
        vec![
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[2, 2]),
            ints("pads", &[1, 1, 1, 1]),
        ],
    );

    // Four stages of two basic blocks: C2..C5 at strides 4, 8, 16, 32.
    let mut levels = Vec::new();
    let mut in_channels = WIDTHS[0];
    for (stage, &width) in WIDTHS.iter().enumerate() {
        for block in 0..2 {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let name = format!("backbone.layer{}.{block}", stage + 1);
            x = basic_block(g, &name, &x, in_channels, width, stride);
            in_channels = width;
        }
        levels.push(x.clone());
    }

    // FPN: 1×1 lateral convolutions, top-down nearest ×2 and Add, then a 3×3 convolution per
    // level to INNER / 4 channels, upsampled to 1/4 resolution.
    let laterals: Vec<String> = levels
        .iter()
        .zip(WIDTHS)
        .enumerate()
        .map(|(level, (input, width))| {
            let spec = no_bias(square_conv(width, INNER, 1, 1));
            let init = lecun(&spec);
            g.conv_init(&format!("neck.in{}", level + 2), input, &spec, init)
        })
        .collect();
    let mut merged = vec![laterals[3].clone()];
    for level in (0..3).rev() {
        let coarser = merged.last().expect("starts with C5's lateral").clone();
        let up = upsample(g, &format!("neck.up{}", level + 3), &coarser, 2);
        let sum = g.node(
            "Add",
            &format!("neck.add{}", level + 2),
            &[&laterals[level], &up],
            vec![],
        );
        merged.push(sum);
    }
    merged.reverse();
    let mut parts = Vec::new();
    for (level, input) in merged.iter().enumerate().rev() {
        let spec = no_bias(square_conv(INNER, INNER / 4, 3, 1));
        let x = g.conv_init(
            &format!("neck.out{}", level + 2),
            input,
            &spec,
            lecun(&spec),
        );
        let x = if level == 0 {
            x
        } else {
            upsample(g, &format!("neck.out{}.up", level + 2), &x, 1 << level)
        };
        parts.push(x);
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let fused = g.node("Concat", "neck.fuse", &parts, vec![int("axis", 1)]);

    // Head: [1,96,80,80] → [1,24,80,80] → [1,24,160,160] → [1,1,320,320].
    let hidden = INNER / 4;
    let x = g.conv("head.binarize.0", &fused, &square_conv(INNER, hidden, 3, 1));
    let x = g.node("Relu", "head.binarize.2", &[&x], vec![]);
    let fan_in = hidden as usize;
    let x = g.conv_transpose(
        "head.binarize.3",
        &x,
        hidden,
        hidden,
        2,
        Init::He { fan_in },
    );
    let x = g.batch_norm("head.binarize.4", &x, hidden);
    let x = g.node("Relu", "head.binarize.5", &[&x], vec![]);
    // Without batch norm's normalization the logits reach a spread of about 8, which would
    // saturate the Sigmoid and hide errors upstream; the last layer is drawn to bring them
    // to about 2.
    let small = Init::LeCun {
        fan_in: 16 * fan_in,
    };
    let x = g.conv_transpose("head.binarize.6", &x, hidden, 1, 2, small);
    g.node_to("Sigmoid", "head.binarize.7", &[&x], "probability", vec![]);

    graph.output("probability", &[1, 1, SIZE, SIZE]);
    graph.finish(
        "DBNet-style text detector (320x320 in; ResNet-18 backbone at quarter width, FPN, \
         probability map head with two transposed convolutions; 320x320 probabilities out) \
         with random weights, authored by zant-models.",
    )
}

/// ResNet's basic block: two 3×3 convolutions (the first strided), Relu between, and a
/// residual Add through a strided 1×1 projection where the shape changes, then Relu.
fn basic_block(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    in_channels: i64,
    out_channels: i64,
    stride: i64,
) -> String {
    let spec = square_conv(in_channels, out_channels, 3, stride);
    let x = graph.conv(&format!("{name}.conv1"), input, &spec);
    let x = graph.node("Relu", &format!("{name}.relu1"), &[&x], vec![]);
    let spec = square_conv(out_channels, out_channels, 3, 1);
    let x = graph.conv_init(&format!("{name}.conv2"), &x, &spec, residual_init(&spec));
    let shortcut = if stride == 1 && in_channels == out_channels {
        input.to_owned()
    } else {
        let spec = square_conv(in_channels, out_channels, 1, stride);
        graph.conv(&format!("{name}.downsample"), input, &spec)
    };
    let x = graph.node("Add", &format!("{name}.add"), &[&x, &shortcut], vec![]);
    graph.node("Relu", &format!("{name}.relu2"), &[&x], vec![])
}

/// LeCun's draw for a convolution no Relu follows (the FPN's), which keeps unit scale.
fn lecun(spec: &ConvSpec) -> Init {
    let fan_in = spec.in_channels * spec.kernel[0] * spec.kernel[1];
    Init::LeCun {
        fan_in: fan_in as usize,
    }
}

fn no_bias(spec: ConvSpec) -> ConvSpec {
    ConvSpec {
        bias: false,
        ..spec
    }
}
