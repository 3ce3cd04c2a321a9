//! The zoo: models in the shape of architectures users bring (detectors, text detectors,
//! classifiers, encoders, recurrent and temporal nets), at realistic sizes.
//!
//! They are too large to commit (a few MB each), so `make-models --zoo DIR` writes them as
//! `DIR/<name>/model.onnx`, the layout `zantc verify` and `zantc bench` read, and
//! `scripts/zoo.sh` adds ONNX Runtime's outputs beside them and verifies zant against them.
//! Weights are random and deterministic, as for the committed models; convolutions carry a
//! bias and no BatchNormalization behind them wherever PyTorch's exporter folds one. Without
//! trained batch norms to rescale them, a few layers are drawn smaller than He's rule
//! (residual branches' last convolutions, layers before a Sigmoid) so activations stay near
//! unit scale and outputs do not saturate: a saturated output would hide errors upstream.
//! Every zoo model imports opset 13 but `transformer-encoder`, `kws-audio` and
//! `mobilenetv3-style`, which import 17 for LayerNormalization, for the signal ops (STFT,
//! HannWindow, MelWeightMatrix) and for HardSwish.
//! `detector-nms` ends in NonMaxSuppression, whose row count depends on the data.

use crate::builder::{string, ConvSpec, GraphBuilder, Init};

pub(crate) mod audio;
pub(crate) mod dbnet;
pub(crate) mod detector;
pub(crate) mod efficientnet;
pub(crate) mod mobilenetv3;
pub(crate) mod resnet50;
pub(crate) mod sequence;
pub(crate) mod tcn;
pub(crate) mod transformer;
pub(crate) mod yolo;

/// A `k`×`k` convolution with a bias and `k / 2` padding on every side, `group` 1.
pub(crate) fn square_conv(
    in_channels: i64,
    out_channels: i64,
    kernel: i64,
    stride: i64,
) -> ConvSpec {
    let pad = kernel / 2;
    ConvSpec {
        in_channels,
        out_channels,
        kernel: [kernel, kernel],
        strides: [stride, stride],
        pads: [pad; 4],
        group: 1,
        bias: true,
    }
}

/// SiLU as PyTorch exports it at opset 13: `Mul(x, Sigmoid(x))`, the Mul named `name`.
pub(crate) fn silu(graph: &mut GraphBuilder, name: &str, input: &str) -> String {
    let sigmoid = graph.node("Sigmoid", &format!("{name}.sigmoid"), &[input], vec![]);
    graph.node("Mul", name, &[input, &sigmoid], vec![])
}

/// A convolution (`{name}.conv`, batch norm folded into its bias) and its SiLU
/// (`{name}.act`), Ultralytics' `Conv` and EfficientNet's `Conv2dNormActivation`.
pub(crate) fn conv_silu(
    graph: &mut GraphBuilder,
    name: &str,
    input: &str,
    spec: &ConvSpec,
) -> String {
    let conv = graph.conv(&format!("{name}.conv"), input, spec);
    silu(graph, &format!("{name}.act"), &conv)
}

/// `nn.Upsample(scale_factor=factor, mode="nearest")` as exported at opset 13: Resize with
/// an empty `roi` and the `scales` input.
pub(crate) fn upsample(graph: &mut GraphBuilder, name: &str, input: &str, factor: i64) -> String {
    let roi = graph.constant(&format!("{name}.roi"), &[0], vec![]);
    let factor = factor as f32;
    let scales = graph.constant(
        &format!("{name}.scales"),
        &[4],
        vec![1.0, 1.0, factor, factor],
    );
    graph.node(
        "Resize",
        name,
        &[input, &roi, &scales],
        vec![
            string("coordinate_transformation_mode", "asymmetric"),
            string("mode", "nearest"),
            string("nearest_mode", "floor"),
        ],
    )
}

/// The weights of a residual branch's last convolution: an eighth of He's variance, so
/// each block adds a little to the signal it carries instead of doubling it, as the learned
/// scale of the batch norm folded into that convolution would make it in a trained network.
pub(crate) fn residual_init(spec: &ConvSpec) -> Init {
    let fan_in = spec.in_channels / spec.group * spec.kernel[0] * spec.kernel[1];
    Init::LeCun {
        fan_in: 4 * fan_in as usize,
    }
}
