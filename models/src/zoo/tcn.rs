//! A temporal convolutional network in the shape of Bai et al.'s TCN ("An Empirical
//! Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling",
//! 2018): residual blocks of two causal, dilated 1-D convolutions (kernel 3, dilations 1, 2,
//! 4, 8, twice over) with Relu, a 1×1 convolution on the shortcut where the channel count
//! changes, and a 1×1 convolution to per-frame class scores.
//!
//! Causality comes two ways, as exporters write it: the first convolution of each block is
//! preceded by a Pad of `2 · dilation` zeros on the left (`nn.ConstantPad1d`), the second
//! carries asymmetric pads `[2 · dilation, 0]` itself.
//!
//! Ops: Pad (opset 13, pads as an `int64` input), Conv (1-D, dilated, asymmetric pads,
//! 1×1), Relu, Add.

use onnx_protobuf::ModelProto;

use crate::builder::{Conv1dSpec, GraphBuilder, Init};

pub(crate) const NAME: &str = "tcn";
const SEED: u64 = 0x7c_0008;
const FEATURES: i64 = 40;
const FRAMES: i64 = 400;
const CHANNELS: i64 = 128;
const KERNEL: i64 = 3;
const DILATIONS: [i64; 8] = [1, 2, 4, 8, 1, 2, 4, 8];
const N_CLASSES: i64 = 12;

/// `features: f32[1,40,400]` → `scores: f32[1,12,400]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("tcn", SEED);
    let features = graph.input("features", &[1, FEATURES, FRAMES]);
    let g = &mut graph;

    let mut x = features;
    let mut in_channels = FEATURES;
    for (index, &dilation) in DILATIONS.iter().enumerate() {
        x = temporal_block(g, &format!("tcn.{index}"), &x, in_channels, dilation);
        in_channels = CHANNELS;
    }
    let head = Conv1dSpec {
        in_channels: CHANNELS,
        out_channels: N_CLASSES,
        kernel: 1,
        dilation: 1,
        pads: [0, 0],
    };
    g.conv1d("scores", &x, &head);

    graph.output("scores", &[1, N_CLASSES, FRAMES]);
    graph.finish(
        "Temporal convolutional network (40 features x 400 frames in; 8 residual blocks of \
         causal dilated 1-D convolutions, 128 channels; 12 scores per frame out) with random \
         weights, authored by zant-models.",
    )
}

/// Two causal dilated convolutions with Relu, the shortcut (a 1×1 convolution when the
/// channel count changes), Add, Relu.
fn temporal_block(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    in_channels: i64,
    dilation: i64,
) -> String {
    let history = (KERNEL - 1) * dilation;
    let pads = graph.shape(&format!("{name}.pad.pads"), &[0, 0, history, 0, 0, 0]);
    let x = graph.node("Pad", &format!("{name}.pad"), &[input, &pads], vec![]);
    let conv1 = Conv1dSpec {
        in_channels,
        out_channels: CHANNELS,
        kernel: KERNEL,
        dilation,
        pads: [0, 0],
    };
    let x = graph.conv1d(&format!("{name}.conv1"), &x, &conv1);
    let x = graph.node("Relu", &format!("{name}.relu1"), &[&x], vec![]);
    let conv2 = Conv1dSpec {
        in_channels: CHANNELS,
        pads: [history, 0],
        ..conv1
    };
    // Drawn small, as a residual branch's last layer (see `residual_init`).
    let init = Init::LeCun {
        fan_in: (4 * CHANNELS * KERNEL) as usize,
    };
    let x = graph.conv1d_init(&format!("{name}.conv2"), &x, &conv2, init);
    let x = graph.node("Relu", &format!("{name}.relu2"), &[&x], vec![]);
    let shortcut = if in_channels == CHANNELS {
        input.to_owned()
    } else {
        let spec = Conv1dSpec {
            in_channels,
            out_channels: CHANNELS,
            kernel: 1,
            dilation: 1,
            pads: [0, 0],
        };
        let init = Init::LeCun {
            fan_in: in_channels as usize,
        };
        graph.conv1d_init(&format!("{name}.downsample"), input, &spec, init)
    };
    let x = graph.node("Add", &format!("{name}.add"), &[&x, &shortcut], vec![]);
    graph.node("Relu", &format!("{name}.relu"), &[&x], vec![])
}
