//! A keyword spotter that takes raw audio, in the shape of the front ends exporters put in
//! the graph (torchaudio's `MelSpectrogram` exported at opset 17, TensorFlow's
//! `tf.signal.stft` → `linear_to_mel_weight_matrix` converted by tf2onnx): one second of
//! 16 kHz samples, a short-time Fourier transform (30 ms Hann frames every 20 ms), the power
//! spectrum, 40 mel bands, the log, per-feature normalisation, then a small CNN (three 3×3
//! convolutions with Relu, the last two strided, global average pooling) and a softmax over
//! 12 classes, the label set of the Speech Commands task.
//!
//! The window and the mel filter bank are ops of the graph (HannWindow, MelWeightMatrix),
//! not initializers, as the exporters write them; their inputs are constants, so a compiler
//! folds them.
//!
//! Ops: Reshape, HannWindow, STFT, Mul, ReduceSum (axes as an input), MelWeightMatrix,
//! MatMul, Add, Log, Sub, Conv, Relu, GlobalAveragePool, Flatten, Gemm, Softmax.

use onnx_protobuf::ModelProto;

use super::square_conv;
use crate::builder::{int, GraphBuilder, Init};

pub(crate) const NAME: &str = "kws-audio";
const SEED: u64 = 0x7c_0009;
const SAMPLES: i64 = 16_000;
const SAMPLE_RATE: i64 = 16_000;
/// 30 ms frames every 20 ms.
const FRAME: i64 = 480;
const STEP: i64 = 320;
const FRAMES: i64 = (SAMPLES - FRAME) / STEP + 1;
const MEL_BANDS: i64 = 40;
const N_CLASSES: i64 = 12;

/// `audio: f32[1,16000]` → `probs: f32[1,12]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new(NAME, SEED).opset(17);
    let audio = graph.input("audio", &[1, SAMPLES]);
    let g = &mut graph;

    // The front end: [1, 16000] → [1, 49, 40] log-mel features.
    let shape = g.shape("signal.shape", &[1, SAMPLES, 1]);
    let signal = g.node("Reshape", "signal", &[&audio, &shape], vec![]);
    let frame = g.int_scalar("window.size", FRAME);
    let window = g.node("HannWindow", "window", &[&frame], vec![]);
    let step = g.int_scalar("stft.step", STEP);
    let stft = g.node(
        "STFT",
        "stft",
        &[&signal, &step, &window, &frame],
        vec![int("onesided", 1)],
    );
    // |X|² = re² + im²: [1, 49, 241, 2] → [1, 49, 241].
    let squares = g.node("Mul", "power.square", &[&stft, &stft], vec![]);
    let last = g.shape("power.axes", &[3]);
    let power = g.node(
        "ReduceSum",
        "power",
        &[&squares, &last],
        vec![int("keepdims", 0)],
    );
    let bands = g.int_scalar("mel.bands", MEL_BANDS);
    let dft_length = g.int_scalar("mel.dft_length", FRAME);
    let rate = g.int_scalar("mel.sample_rate", SAMPLE_RATE);
    let low = g.constant("mel.low_hz", &[], vec![60.0]);
    let high = g.constant("mel.high_hz", &[], vec![4000.0]);
    let filters = g.node(
        "MelWeightMatrix",
        "mel.filters",
        &[&bands, &dft_length, &rate, &low, &high],
        vec![],
    );
    let mel = g.node("MatMul", "mel", &[&power, &filters], vec![]);
    let floor = g.constant("log.floor", &[], vec![1e-6]);
    let mel = g.node("Add", "log.add", &[&mel, &floor], vec![]);
    let log_mel = g.node("Log", "log", &[&mel], vec![]);
    // Per-feature normalisation, as a trained front end's statistics would make it (the
    // log power of white noise through a Hann window sits near 7 here).
    let mean = g.constant("norm.mean", &[], vec![7.0]);
    let features = g.node("Sub", "norm", &[&log_mel, &mean], vec![]);
    let image = g.shape("features.shape", &[1, 1, FRAMES, MEL_BANDS]);
    let x = g.node("Reshape", "features", &[&features, &image], vec![]);

    // The classifier: [1, 1, 49, 40] → [1, 12].
    let mut x = x;
    let mut in_channels = 1;
    for (index, (channels, stride)) in [(16, 1), (32, 2), (32, 2)].into_iter().enumerate() {
        let conv = g.conv(
            &format!("conv{index}"),
            &x,
            &square_conv(in_channels, channels, 3, stride),
        );
        x = g.node("Relu", &format!("relu{index}"), &[&conv], vec![]);
        in_channels = channels;
    }
    let pooled = g.node("GlobalAveragePool", "pool", &[&x], vec![]);
    let flat = g.node("Flatten", "flatten", &[&pooled], vec![int("axis", 1)]);
    let init = Init::LeCun {
        fan_in: in_channels as usize,
    };
    let logits = g.linear("fc", &flat, in_channels, N_CLASSES, init, "logits");
    g.node_to(
        "Softmax",
        "softmax",
        &[&logits],
        "probs",
        vec![int("axis", 1)],
    );

    graph.output("probs", &[1, N_CLASSES]);
    graph.finish(
        "Keyword spotter on raw audio (16,000 samples at 16 kHz in; STFT with 30 ms Hann \
         frames every 20 ms, power, 40 mel bands, log; three 3x3 convolutions, global average \
         pooling, 12 class probabilities out) with random weights, authored by zant-models.",
    )
}
