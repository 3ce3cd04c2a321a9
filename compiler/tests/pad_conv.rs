//! A zero Pad in front of a Conv, fused into the Conv's own pads (`passes::fuse`),
//! through generated code: TensorFlow's explicit pad before a stride-2 3 × 3 layer
//! (one row and column after only) and a TCN's causal left pad of a dilated 1-D layer,
//! compiled for the host and for any target, built, run, and compared within `verify`'s
//! tolerance with the runtime's direct convolution of the input padded by its `pad`
//! kernel (what the two nodes compute unfused).

mod common;

use common::model::{
    assert_verifies, floats, generated_model_rs, ints, model, model_folder, node, value, values,
};
use onnx_protobuf::TensorProto;
use zant_compiler::target::Target;
use zant_compiler::Options;
use zant_runtime::conv::{conv2d_direct, Conv2d};
use zant_runtime::index::{pad, PadMode};
use zant_runtime::Activation;

const INT64: i32 = 7;

/// The unfused reference: `x` padded by `pads` (begin, end per axis), then the
/// unpadded convolution `p` (whose `h_in`, `w_in` are the padded sizes).
fn reference(
    x: &[f32],
    x_shape: &[usize],
    pads: &[i64],
    p: &Conv2d,
    w: &[f32],
    b: &[f32],
) -> Vec<f32> {
    let rank = x_shape.len();
    let padded: Vec<usize> = (0..rank)
        .map(|a| x_shape[a] + (pads[a] + pads[a + rank]) as usize)
        .collect();
    let mut xp = vec![f32::NAN; padded.iter().product()];
    pad(
        x,
        x_shape,
        &pads[..rank],
        PadMode::Constant,
        0.0,
        &mut xp,
        &padded,
    );
    let mut y = vec![f32::NAN; p.c_out * p.h_out * p.w_out];
    conv2d_direct(p, &xp, w, Some(b), Activation::None, &mut y);
    y
}

#[test]
fn fused_pads_match_the_padded_input() {
    // 2-D: [1, 8, 15, 15] padded by one row and column after, 3 × 3 stride 2 → 7 × 7.
    let (x_dims, x_pads) = ([1usize, 8, 15, 15], [0i64, 0, 0, 0, 0, 0, 1, 1]);
    let p2 = Conv2d {
        batch: 1,
        c_in: 8,
        h_in: 16,
        w_in: 16,
        c_out: 32,
        h_out: 7,
        w_out: 7,
        k_h: 3,
        k_w: 3,
        stride_h: 2,
        stride_w: 2,
        dil_h: 1,
        dil_w: 1,
        pad_top: 0,
        pad_left: 0,
        groups: 1,
    };
    // 1-D: [1, 16, 40] padded by 4 before, 3 taps at dilation 2 → 40.
    let (s_dims, s_pads) = ([1usize, 16, 40], [0i64, 0, 4, 0, 0, 0]);
    let p1 = Conv2d {
        c_in: 16,
        h_in: 1,
        w_in: 44,
        c_out: 16,
        h_out: 1,
        w_out: 40,
        k_h: 1,
        stride_h: 1,
        stride_w: 1,
        dil_w: 2,
        ..p2
    };
    let (w2, b2) = (values(32 * 8 * 9, 1, 0.3), values(32, 2, 0.1));
    let (w1, b1) = (values(16 * 16 * 3, 3, 0.3), values(16, 4, 0.1));
    let x = values(8 * 15 * 15, 5, 1.0);
    let s = values(16 * 40, 6, 1.0);
    let y = reference(&x, &x_dims, &x_pads, &p2, &w2, &b2);
    let t = reference(&s, &s_dims, &s_pads, &p1, &w1, &b1);

    let pads = |name: &str, v: &[i64]| TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: INT64,
        int64_data: v.to_vec(),
        ..Default::default()
    };
    let mut conv2 = node("conv2", "Conv", &["xp", "w2", "b2"], &["y"]);
    conv2.attribute = vec![ints("kernel_shape", &[3, 3]), ints("strides", &[2, 2])];
    let mut conv1 = node("conv1", "Conv", &["sp", "w1", "b1"], &["t"]);
    conv1.attribute = vec![ints("kernel_shape", &[3]), ints("dilations", &[2])];
    let m = model(
        vec![
            node("pad2", "Pad", &["x", "x_pads"], &["xp"]),
            conv2,
            node("pad1", "Pad", &["s", "s_pads"], &["sp"]),
            conv1,
        ],
        vec![value("x", &[1, 8, 15, 15]), value("s", &[1, 16, 40])],
        vec![value("y", &[1, 32, 7, 7]), value("t", &[1, 16, 40])],
        vec![
            pads("x_pads", &x_pads),
            pads("s_pads", &s_pads),
            floats("w2", &[32, 8, 3, 3], &w2),
            floats("b2", &[32], &b2),
            floats("w1", &[16, 16, 3], &w1),
            floats("b1", &[16], &b1),
        ],
    );
    let dir = model_folder(
        &m,
        &[
            floats("x", &[1, 8, 15, 15], &x),
            floats("s", &[1, 16, 40], &s),
        ],
        &[
            floats("y", &[1, 32, 7, 7], &y),
            floats("t", &[1, 16, 40], &t),
        ],
    );
    for target in [None, Some(Target::core("host").unwrap())] {
        let options = Options {
            target,
            ..Options::default()
        };
        let model_rs = generated_model_rs(dir.path(), &options);
        assert!(!model_rs.contains("rt::index::pad"), "{model_rs}");
        assert_verifies(dir.path(), &options, 2);
    }
}
