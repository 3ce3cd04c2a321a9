//! A detector in the shape of Ultralytics' YOLOv8n: a CSP backbone of strided convolutions
//! and C2f blocks, SPPF, a PAN neck that upsamples twice and downsamples twice, and a
//! decoupled head at strides 8, 16 and 32 whose box and class maps are flattened and
//! concatenated, as the exported model's raw output before its box decoding.
//!
//! Ops: Conv (bias: batch norm folded), Sigmoid and Mul (SiLU as exported at opset 13),
//! Split (sizes as an `int64` input), Add, Concat, MaxPool (5×5, stride 1, pad 2), Resize
//! (nearest, `asymmetric`, `floor`, an empty `roi` and `scales` 2 as PyTorch writes it),
//! Reshape.

use onnx_protobuf::ModelProto;

use super::{conv_silu, square_conv, upsample};
use crate::builder::{int, ints, GraphBuilder};

pub(crate) const NAME: &str = "yolo-style";
const SEED: u64 = 0x7010_0008;
const SIZE: i64 = 256;
/// The widths of the stem and of strides 4, 8, 16 and 32. YOLOv8n's are 16/32/64/128/256
/// (3.2 M parameters); the last two are narrowed to keep the weights near 6 MB.
const WIDTHS: [i64; 5] = [16, 32, 64, 96, 128];
const N_CLASSES: i64 = 20;
/// The box branch predicts a distribution over 16 bins for each side (DFL).
const BOX_CHANNELS: i64 = 4 * 16;

/// `images: f32[1,3,256,256]` → `output: f32[1,84,1344]` (64 box and 20 class channels at
/// 32×32 + 16×16 + 8×8 anchor points).
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("yolo_style", SEED);
    let images = graph.input("images", &[1, 3, SIZE, SIZE]);
    let [w1, w2, w3, w4, w5] = WIDTHS;
    let g = &mut graph;

    // Backbone: [1,3,256,256] → P3 [1,64,32,32], P4 [1,96,16,16], P5 [1,128,8,8].
    let x = conv_silu(g, "model.0", &images, &square_conv(3, w1, 3, 2));
    let x = conv_silu(g, "model.1", &x, &square_conv(w1, w2, 3, 2));
    let x = c2f(g, "model.2", &x, w2, w2, 1, true);
    let x = conv_silu(g, "model.3", &x, &square_conv(w2, w3, 3, 2));
    let p3 = c2f(g, "model.4", &x, w3, w3, 2, true);
    let x = conv_silu(g, "model.5", &p3, &square_conv(w3, w4, 3, 2));
    let p4 = c2f(g, "model.6", &x, w4, w4, 2, true);
    let x = conv_silu(g, "model.7", &p4, &square_conv(w4, w5, 3, 2));
    let x = c2f(g, "model.8", &x, w5, w5, 1, true);
    let p5 = sppf(g, "model.9", &x, w5, w5);

    // Neck, top-down then bottom-up; its C2f blocks have no residual.
    let up = upsample(g, "model.10", &p5, 2);
    let x = g.node("Concat", "model.11", &[&up, &p4], vec![int("axis", 1)]);
    let n4 = c2f(g, "model.12", &x, w5 + w4, w4, 1, false);
    let up = upsample(g, "model.13", &n4, 2);
    let x = g.node("Concat", "model.14", &[&up, &p3], vec![int("axis", 1)]);
    let out3 = c2f(g, "model.15", &x, w4 + w3, w3, 1, false);
    let x = conv_silu(g, "model.16", &out3, &square_conv(w3, w3, 3, 2));
    let x = g.node("Concat", "model.17", &[&x, &n4], vec![int("axis", 1)]);
    let out4 = c2f(g, "model.18", &x, w3 + w4, w4, 1, false);
    let x = conv_silu(g, "model.19", &out4, &square_conv(w4, w4, 3, 2));
    let x = g.node("Concat", "model.20", &[&x, &p5], vec![int("axis", 1)]);
    let out5 = c2f(g, "model.21", &x, w4 + w5, w5, 1, false);

    // Detect: per level, two branches of two 3×3 convolutions and a 1×1 one.
    let box_hidden = BOX_CHANNELS.max(w3 / 4).max(16);
    let class_hidden = w3.max(N_CLASSES.min(100));
    let channels = BOX_CHANNELS + N_CLASSES;
    let mut flat = Vec::new();
    for (level, (input, width)) in [(&out3, w3), (&out4, w4), (&out5, w5)]
        .into_iter()
        .enumerate()
    {
        let name = format!("model.22.{level}");
        let boxes = branch(
            g,
            &format!("{name}.cv2"),
            input,
            width,
            box_hidden,
            BOX_CHANNELS,
        );
        let classes = branch(
            g,
            &format!("{name}.cv3"),
            input,
            width,
            class_hidden,
            N_CLASSES,
        );
        let both = g.node(
            "Concat",
            &format!("{name}.concat"),
            &[&boxes, &classes],
            vec![int("axis", 1)],
        );
        let side = SIZE >> (level + 3);
        let shape = g.shape(&format!("{name}.shape"), &[1, channels, side * side]);
        flat.push(g.node(
            "Reshape",
            &format!("{name}.flatten"),
            &[&both, &shape],
            vec![],
        ));
    }
    let flat: Vec<&str> = flat.iter().map(String::as_str).collect();
    g.node_to(
        "Concat",
        "model.22.concat",
        &flat,
        "output",
        vec![int("axis", 2)],
    );

    let points = (SIZE / 8).pow(2) + (SIZE / 16).pow(2) + (SIZE / 32).pow(2);
    graph.output("output", &[1, channels, points]);
    graph.finish(
        "YOLOv8n-style detector (256x256 in; C2f, SPPF, PAN neck, three decoupled heads; 64 \
         DFL box and 20 class channels at 1344 points out) with random weights, authored by \
         zant-models.",
    )
}

/// Ultralytics' C2f: a 1×1 convolution to `2c` channels (`c` = `out / 2`), Split in two
/// halves, `n` bottlenecks (two 3×3 convolutions, with a residual Add if `shortcut`) each
/// fed by the previous part, a Concat of all `2 + n` parts, and a 1×1 convolution to `out`.
fn c2f(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    in_channels: i64,
    out_channels: i64,
    n: usize,
    shortcut: bool,
) -> String {
    let c = out_channels / 2;
    let x = conv_silu(
        graph,
        &format!("{name}.cv1"),
        input,
        &square_conv(in_channels, 2 * c, 1, 1),
    );
    let sizes = graph.shape(&format!("{name}.split.sizes"), &[c, c]);
    let halves = [format!("{name}.split.0"), format!("{name}.split.1")];
    let mut parts = graph.node_outputs(
        "Split",
        &format!("{name}.split"),
        &[&x, &sizes],
        &[&halves[0], &halves[1]],
        vec![int("axis", 1)],
    );
    for index in 0..n {
        let bottleneck = format!("{name}.m.{index}");
        let last = parts.last().expect("C2f has its two halves").clone();
        let y = conv_silu(
            graph,
            &format!("{bottleneck}.cv1"),
            &last,
            &square_conv(c, c, 3, 1),
        );
        let y = conv_silu(
            graph,
            &format!("{bottleneck}.cv2"),
            &y,
            &square_conv(c, c, 3, 1),
        );
        let y = if shortcut {
            graph.node("Add", &format!("{bottleneck}.add"), &[&last, &y], vec![])
        } else {
            y
        };
        parts.push(y);
    }
    let parts_ref: Vec<&str> = parts.iter().map(String::as_str).collect();
    let x = graph.node(
        "Concat",
        &format!("{name}.concat"),
        &parts_ref,
        vec![int("axis", 1)],
    );
    let width = (2 + n as i64) * c;
    conv_silu(
        graph,
        &format!("{name}.cv2"),
        &x,
        &square_conv(width, out_channels, 1, 1),
    )
}

/// Spatial pyramid pooling, fast: a 1×1 convolution to half the channels, three chained 5×5
/// max pools, a Concat of the four, and a 1×1 convolution.
fn sppf(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    in_channels: i64,
    out_channels: i64,
) -> String {
    let hidden = in_channels / 2;
    let x = conv_silu(
        graph,
        &format!("{name}.cv1"),
        input,
        &square_conv(in_channels, hidden, 1, 1),
    );
    let mut parts = vec![x];
    for index in 0..3 {
        let pool = graph.node(
            "MaxPool",
            &format!("{name}.m.{index}"),
            &[parts.last().expect("SPPF starts with its convolution")],
            vec![
                ints("kernel_shape", &[5, 5]),
                ints("strides", &[1, 1]),
                ints("pads", &[2, 2, 2, 2]),
            ],
        );
        parts.push(pool);
    }
    let parts_ref: Vec<&str> = parts.iter().map(String::as_str).collect();
    let x = graph.node(
        "Concat",
        &format!("{name}.concat"),
        &parts_ref,
        vec![int("axis", 1)],
    );
    conv_silu(
        graph,
        &format!("{name}.cv2"),
        &x,
        &square_conv(4 * hidden, out_channels, 1, 1),
    )
}

/// One branch of the detect head: two 3×3 convolutions with SiLU to `hidden` channels, then
/// a plain 1×1 convolution to `out` channels.
fn branch(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    in_channels: i64,
    hidden: i64,
    out_channels: i64,
) -> String {
    let x = conv_silu(
        graph,
        &format!("{name}.0"),
        input,
        &square_conv(in_channels, hidden, 3, 1),
    );
    let x = conv_silu(
        graph,
        &format!("{name}.1"),
        &x,
        &square_conv(hidden, hidden, 3, 1),
    );
    graph.conv(
        &format!("{name}.2"),
        &x,
        &square_conv(hidden, out_channels, 1, 1),
    )
}
