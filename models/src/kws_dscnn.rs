//! A depthwise-separable keyword-spotting CNN in the shape of ARM's DS-CNN (Hello Edge,
//! Zhang et al. 2017): 49 frames of 10 MFCCs in, 12 keyword logits out.
//!
//! Ops: Conv (strided, asymmetric pads, depthwise with `group`, pointwise), BatchNormalization,
//! Relu, Clip (opset 11+ form, bounds as initializer inputs), GlobalAveragePool, Flatten, Gemm.

use onnx_protobuf::ModelProto;

use crate::builder::{int, ConvSpec, GraphBuilder, Init};

pub(crate) const FILE_NAME: &str = "kws-dscnn.onnx";
const SEED: u64 = 0xd5c0_4401;
const CHANNELS: i64 = 64;
const N_BLOCKS: usize = 4;
const N_KEYWORDS: i64 = 12;

/// `mfcc: f32[1,1,49,10]` → `logits: f32[1,12]`.
pub(crate) fn model() -> ModelProto {
    let mut graph = GraphBuilder::new("kws_dscnn", SEED);
    let mfcc = graph.input("mfcc", &[1, 1, 49, 10]);
    // Clip's bounds have been inputs since opset 11; all blocks share one pair.
    let relu6_min = graph.constant("relu6.min", &[], vec![0.0]);
    let relu6_max = graph.constant("relu6.max", &[], vec![6.0]);

    // [1,1,49,10] → [1,64,25,5], the padding ARM's TensorFlow `SAME` produces.
    let stem = ConvSpec {
        in_channels: 1,
        out_channels: CHANNELS,
        kernel: [10, 4],
        strides: [2, 2],
        pads: [4, 1, 5, 1],
        group: 1,
        bias: true,
    };
    let conv1 = graph.conv("conv1", &mfcc, &stem);
    let bn1 = graph.batch_norm("bn1", &conv1, CHANNELS);
    let mut x = graph.node("Relu", "relu1", &[&bn1], vec![]);

    // Each block keeps [1,64,25,5]. Its convolutions have no bias: the batch norm after them
    // supplies the shift, as in PyTorch's `bias=False` idiom.
    for block in 1..=N_BLOCKS {
        let depthwise = ConvSpec {
            in_channels: CHANNELS,
            out_channels: CHANNELS,
            kernel: [3, 3],
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            group: CHANNELS,
            bias: false,
        };
        let pointwise = ConvSpec {
            kernel: [1, 1],
            pads: [0, 0, 0, 0],
            group: 1,
            ..depthwise
        };
        let dw = graph.conv(&format!("dw{block}"), &x, &depthwise);
        let dw_bn = graph.batch_norm(&format!("dw{block}_bn"), &dw, CHANNELS);
        let dw_relu = graph.node("Relu", &format!("dw{block}_relu"), &[&dw_bn], vec![]);
        let pw = graph.conv(&format!("pw{block}"), &dw_relu, &pointwise);
        let pw_bn = graph.batch_norm(&format!("pw{block}_bn"), &pw, CHANNELS);
        let clip_inputs = [pw_bn.as_str(), &relu6_min, &relu6_max];
        x = graph.node("Clip", &format!("pw{block}_relu6"), &clip_inputs, vec![]);
    }

    // [1,64,25,5] → [1,64,1,1] → [1,64] → [1,12]
    let pool = graph.node("GlobalAveragePool", "pool", &[&x], vec![]);
    let flat = graph.node("Flatten", "flatten", &[&pool], vec![int("axis", 1)]);
    let fc_init = Init::LeCun {
        fan_in: CHANNELS as usize,
    };
    graph.linear("fc", &flat, CHANNELS, N_KEYWORDS, fc_init, "logits");

    graph.output("logits", &[1, N_KEYWORDS]);
    graph.finish(
        "DS-CNN keyword spotter (49x10 MFCC in, 12 logits out) with random weights, \
         authored by zant-models.",
    )
}
