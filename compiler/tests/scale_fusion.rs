//! A constant scale after a Conv or MatMul, folded into its weights (`passes::fuse`),
//! through generated code: a batch norm exported as `Mul` and `Add` after a 3 × 3
//! convolution with a bias, then Relu, and a per-column `Mul` after a MatMul. Compiled
//! for the host and for any target, built, run, and compared within `verify`'s tolerance
//! with the unfused computation: the runtime's direct convolution with the original
//! weights, then the scale, shift and Relu element by element, and a plain matrix
//! product then the scale.

mod common;

use common::model::{
    assert_verifies, floats, generated_model_rs, ints, model, model_folder, node, value, values,
};
use zant_compiler::target::Target;
use zant_compiler::Options;
use zant_runtime::conv::{conv2d_direct, Conv2d};
use zant_runtime::Activation;

#[test]
fn folded_scales_match_the_unfused_nodes() {
    // [1, 8, 12, 12] → 3 × 3, pads 1 → [1, 16, 12, 12], then · s + t, Relu.
    let p = Conv2d {
        batch: 1,
        c_in: 8,
        h_in: 12,
        w_in: 12,
        c_out: 16,
        h_out: 12,
        w_out: 12,
        k_h: 3,
        k_w: 3,
        stride_h: 1,
        stride_w: 1,
        dil_h: 1,
        dil_w: 1,
        pad_top: 1,
        pad_left: 1,
        groups: 1,
    };
    let (w, b) = (values(16 * 8 * 9, 1, 0.3), values(16, 2, 0.1));
    let (s, t) = (values(16, 3, 2.0), values(16, 4, 0.5));
    let x = values(8 * 12 * 12, 5, 1.0);
    let mut y = vec![f32::NAN; 16 * 144];
    conv2d_direct(&p, &x, &w, Some(&b), Activation::None, &mut y);
    for (c, plane) in y.chunks_mut(144).enumerate() {
        plane
            .iter_mut()
            .for_each(|v| *v = (*v * s[c] + t[c]).max(0.0));
    }
    // [4, 32] · [32, 24], then · u per column.
    let (a, m, u) = (
        values(4 * 32, 6, 1.0),
        values(32 * 24, 7, 0.3),
        values(24, 8, 3.0),
    );
    let z: Vec<f32> = (0..4 * 24)
        .map(|i| {
            let (r, j) = (i / 24, i % 24);
            let dot: f32 = (0..32).map(|p| a[r * 32 + p] * m[p * 24 + j]).sum();
            dot * u[j]
        })
        .collect();

    let mut conv = node("conv", "Conv", &["x", "w", "b"], &["c"]);
    conv.attribute = vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])];
    let m_model = model(
        vec![
            conv,
            node("bn_scale", "Mul", &["c", "s"], &["cs"]),
            node("bn_shift", "Add", &["cs", "t"], &["ct"]),
            node("relu", "Relu", &["ct"], &["y"]),
            node("mm", "MatMul", &["a", "m"], &["mz"]),
            node("col_scale", "Mul", &["u", "mz"], &["z"]),
        ],
        vec![value("x", &[1, 8, 12, 12]), value("a", &[4, 32])],
        vec![value("y", &[1, 16, 12, 12]), value("z", &[4, 24])],
        vec![
            floats("w", &[16, 8, 3, 3], &w),
            floats("b", &[16], &b),
            floats("s", &[16, 1, 1], &s),
            floats("t", &[16, 1, 1], &t),
            floats("m", &[32, 24], &m),
            floats("u", &[24], &u),
        ],
    );
    let dir = model_folder(
        &m_model,
        &[floats("x", &[1, 8, 12, 12], &x), floats("a", &[4, 32], &a)],
        &[floats("y", &[1, 16, 12, 12], &y), floats("z", &[4, 24], &z)],
    );
    for target in [None, Some(Target::core("host").unwrap())] {
        let options = Options {
            target,
            ..Options::default()
        };
        let model_rs = generated_model_rs(dir.path(), &options);
        assert!(!model_rs.contains("elementwise::"), "{model_rs}");
        assert_verifies(dir.path(), &options, 2);
    }
}
