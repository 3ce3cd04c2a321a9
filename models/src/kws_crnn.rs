//! A convolutional recurrent keyword spotter in the shape of Arik et al.'s CRNN ("Convolutional
//! Recurrent Neural Networks for Small-Footprint Keyword Spotting", 2017): 49 frames of 10
//! MFCCs in, two convolutions over time and frequency, an LSTM over the 25 frames they leave,
//! and 12 keyword logits from its last hidden state.
//!
//! Ops: Conv, Relu, Transpose, Reshape (the shape as an `int64` initializer), LSTM (forward,
//! with a bias, only `Y_h` named), Flatten, Gemm.

use onnx_protobuf::ModelProto;

use crate::builder::{int, ints, ConvSpec, GraphBuilder, Init, SMALL};

pub(crate) const FILE_NAME: &str = "kws-crnn.onnx";
const SEED: u64 = 0xc7_4401;
const FRAMES: i64 = 49;
const MFCCS: i64 = 10;
const CHANNELS: [i64; 2] = [16, 24];
/// The frames and frequency bins the second convolution's stride leaves.
const STEPS: i64 = 25;
const BINS: i64 = 5;
const HIDDEN: i64 = 32;
const N_KEYWORDS: i64 = 12;

/// `mfcc: f32[1,1,49,10]` → `logits: f32[1,12]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("kws_crnn", SEED);
    let mfcc = graph.input("mfcc", &[1, 1, FRAMES, MFCCS]);

    // [1,1,49,10] → [1,16,49,10] → [1,24,25,5]
    let conv1 = ConvSpec {
        in_channels: 1,
        out_channels: CHANNELS[0],
        kernel: [3, 3],
        strides: [1, 1],
        pads: [1, 1, 1, 1],
        group: 1,
        bias: true,
    };
    let conv2 = ConvSpec {
        in_channels: CHANNELS[0],
        out_channels: CHANNELS[1],
        strides: [2, 2],
        ..conv1
    };
    let x = graph.conv("conv1", &mfcc, &conv1);
    let x = graph.node("Relu", "relu1", &[&x], vec![]);
    let x = graph.conv("conv2", &x, &conv2);
    let x = graph.node("Relu", "relu2", &[&x], vec![]);

    // Time-major sequence for the LSTM: [1,24,25,5] → [25,1,24,5] → [25,1,120], each step's
    // features being its channels × frequency bins.
    let x = graph.node(
        "Transpose",
        "to_time_major",
        &[&x],
        vec![ints("perm", &[2, 0, 1, 3])],
    );
    let features = CHANNELS[1] * BINS;
    let shape = graph.shape("sequence.shape", &[STEPS, 1, features]);
    let sequence = graph.node("Reshape", "sequence", &[&x, &shape], vec![]);

    // One forward LSTM, weights as PyTorch exports them (gates i, o, f, c) with `Wb` and `Rb`
    // in one tensor. Only the last hidden state is named: `Y` is an omitted output.
    let gates = 4 * HIDDEN;
    let w = graph.weight(
        "lstm.weight_ih",
        &[1, gates, features],
        Init::LeCun {
            fan_in: features as usize,
        },
    );
    let r = graph.weight(
        "lstm.weight_hh",
        &[1, gates, HIDDEN],
        Init::LeCun {
            fan_in: HIDDEN as usize,
        },
    );
    let b = graph.param("lstm.bias", &[1, 2 * gates], SMALL);
    let outputs = graph.node_outputs(
        "LSTM",
        "lstm",
        &[&sequence, &w, &r, &b],
        &["", "lstm.h"],
        vec![int("hidden_size", HIDDEN)],
    );

    // [1,1,32] → [1,32] → [1,12]
    let last = graph.node(
        "Flatten",
        "last_state",
        &[&outputs[1]],
        vec![int("axis", 1)],
    );
    let fc_init = Init::LeCun {
        fan_in: HIDDEN as usize,
    };
    graph.linear("fc", &last, HIDDEN, N_KEYWORDS, fc_init, "logits");

    graph.output("logits", &[1, N_KEYWORDS]);
    graph.finish(
        "CRNN keyword spotter (49x10 MFCC in, two convolutions, an LSTM over 25 frames, 12 \
         logits out) with random weights, authored by zant-models.",
    )
}
