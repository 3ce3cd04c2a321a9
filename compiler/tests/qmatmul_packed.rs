//! Integer matrix products by a constant `B` through generated code: compiled for the
//! host, where the `layout` pass packs `B` into the 16-column blocks of
//! `rt::qlinear::pack_qmatmul_b` (its zero points taken out), and for any target, where
//! `B` stays as ONNX has it; built, run, and compared with products computed here. A
//! QLinearMatMul of three `u8` rows by `u8` weights of zero point 128 (powers of two for
//! scales, so that the reference rounds exactly), and a MatMulInteger of one `i8` row
//! with a zero point by `i8` weights, 150 columns wide (more than one pass of eight
//! blocks) and a depth of 37 (not whole groups of four). And a QLinearConv 1 × 1 on a
//! 3 × 3 plane (`rt::qlinear::qconv2d_pointwise_packed`: positions as rows), 8 → 32
//! channels with a bias, on the host with its weights packed the same way. And a
//! QLinearConv 3 × 3, 8 → 16 channels on an 8 × 12 plane, on the host with its weights
//! in the frame kernel's groups (`rt::qconv::qconv2d_pack_framed`), and for a Cortex-M7
//! with both convolutions' weights in the paired layout (`rt::qconv::qconv2d_pack_paired`;
//! not for the Helium M55, whose kernel reads ONNX's order).

mod common;

use common::model::{assert_verifies, generated_model_rs, model, model_folder, node, tensor_type};
use onnx_protobuf::{TensorProto, ValueInfoProto};
use zant_compiler::target::Target;
use zant_compiler::Options;
use zant_runtime::target::Kernels;

const UINT8: i32 = 2;
const INT8: i32 = 3;
const INT32: i32 = 6;

fn tensor(name: &str, elem: i32, dims: &[usize], v: &[i32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: elem,
        int32_data: v.to_vec(),
        ..Default::default()
    }
}

fn typed(name: &str, elem: i32, dims: &[usize]) -> ValueInfoProto {
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    ValueInfoProto {
        name: name.into(),
        type_: Some(tensor_type(elem, &dims)).into(),
        ..Default::default()
    }
}

/// Deterministic integers in `lo..lo + span`.
fn ints(n: usize, seed: usize, lo: i32, span: i32) -> Vec<i32> {
    (0..n)
        .map(|i| lo + ((i * 7919 + seed * 104_729) % span as usize) as i32)
        .collect()
}

#[test]
fn packed_weights_match_the_products() {
    // QLinearMatMul: [3, 40] u8 (zero 7, scale 0.5) × [40, 20] u8 (zero 128, scale 0.25)
    // → u8 (zero 3, scale 4): y = round_half_even(Σ / 32) + 3, saturated.
    let (m, k, n) = (3usize, 40usize, 20usize);
    let x = ints(m * k, 1, 0, 256);
    let w = ints(k * n, 2, 0, 256);
    let y: Vec<i32> = (0..m * n)
        .map(|i| {
            let (r, j) = (i / n, i % n);
            let s: i32 = (0..k)
                .map(|p| (x[r * k + p] - 7) * (w[p * n + j] - 128))
                .sum();
            ((f64::from(s) / 32.0).round_ties_even() as i32 + 3).clamp(0, 255)
        })
        .collect();
    // MatMulInteger: [1, 37] i8 (zero -5) × [37, 150] i8 → i32, the values small enough
    // that every sum is below 1,000 in magnitude, where `verify`'s tolerance (1e-4 +
    // 1e-3 · |want|) is below one.
    let (k2, n2) = (37usize, 150usize);
    let x2 = ints(k2, 3, -8, 16);
    let w2 = ints(k2 * n2, 4, -2, 5);
    let z: Vec<i32> = (0..n2)
        .map(|j| (0..k2).map(|p| (x2[p] + 5) * w2[p * n2 + j]).sum())
        .collect();
    // QLinearConv 1 × 1: [1, 8, 3, 3] i8 (zero -3, scale 0.5) × [32, 8, 1, 1] i8 (scale
    // 0.25) + bias → i8 (zero 1, scale 4): round_half_even((Σ + bias) / 32) + 1.
    let (ci, co, plane) = (8usize, 32usize, 9usize);
    let xc = ints(ci * plane, 5, -128, 256);
    let wc = ints(co * ci, 6, -128, 256);
    let bc = ints(co, 7, -3000, 6000);
    let yc: Vec<i32> = (0..co * plane)
        .map(|i| {
            let (o, q) = (i / plane, i % plane);
            let s: i32 = (0..ci)
                .map(|c| (xc[c * plane + q] + 3) * wc[o * ci + c])
                .sum();
            ((f64::from(s + bc[o]) / 32.0).round_ties_even() as i32 + 1).clamp(-128, 127)
        })
        .collect();
    // QLinearConv 3 × 3, no padding: [1, 8, 8, 12] i8 (zero -3, scale 0.5) × [16, 8, 3, 3]
    // i8 + bias → [1, 16, 6, 10] i8 (zero 1, scale 4), weights framed on the host.
    let (fi, fo, (fh, fw)) = (8usize, 16usize, (8usize, 12usize));
    let (oh, ow) = (fh - 2, fw - 2);
    let xf = ints(fi * fh * fw, 8, -128, 256);
    let wf = ints(fo * fi * 9, 9, -128, 256);
    let bf = ints(fo, 10, -3000, 6000);
    let yf: Vec<i32> = (0..fo * oh * ow)
        .map(|i| {
            let (o, r, c) = (i / (oh * ow), i / ow % oh, i % ow);
            let s: i32 = (0..fi * 9)
                .map(|k| {
                    let (ci, t) = (k / 9, k % 9);
                    let at = (ci * fh + r + t / 3) * fw + c + t % 3;
                    (xf[at] + 3) * wf[o * fi * 9 + k]
                })
                .sum();
            ((f64::from(s + bf[o]) / 32.0).round_ties_even() as i32 + 1).clamp(-128, 127)
        })
        .collect();
    let scalar = |name: &str, elem: i32, v: i32| tensor(name, elem, &[], &[v]);
    let float = |name: &str, v: f32| TensorProto {
        name: name.into(),
        data_type: 1,
        float_data: vec![v],
        ..Default::default()
    };
    let graph = model(
        vec![
            node(
                "q",
                "QLinearMatMul",
                &["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
                &["y"],
            ),
            node("i", "MatMulInteger", &["x2", "w2", "x2z"], &["z"]),
            node(
                "c",
                "QLinearConv",
                &["xc", "xs", "xcz", "wc", "ws", "wcz", "ys", "ycz", "bc"],
                &["yc"],
            ),
            node(
                "f",
                "QLinearConv",
                &["xf", "xs", "xcz", "wf", "ws", "wcz", "ys", "ycz", "bf"],
                &["yf"],
            ),
        ],
        vec![
            typed("x", UINT8, &[m, k]),
            typed("x2", INT8, &[1, k2]),
            typed("xc", INT8, &[1, ci, 3, 3]),
            typed("xf", INT8, &[1, fi, fh, fw]),
        ],
        vec![
            typed("y", UINT8, &[m, n]),
            typed("z", INT32, &[1, n2]),
            typed("yc", INT8, &[1, co, 3, 3]),
            typed("yf", INT8, &[1, fo, oh, ow]),
        ],
        vec![
            float("xs", 0.5),
            scalar("xz", UINT8, 7),
            tensor("w", UINT8, &[k, n], &w),
            float("ws", 0.25),
            scalar("wz", UINT8, 128),
            float("ys", 4.0),
            scalar("yz", UINT8, 3),
            tensor("w2", INT8, &[k2, n2], &w2),
            scalar("x2z", INT8, -5),
            scalar("xcz", INT8, -3),
            tensor("wc", INT8, &[co, ci, 1, 1], &wc),
            scalar("wcz", INT8, 0),
            scalar("ycz", INT8, 1),
            tensor("bc", INT32, &[co], &bc),
            tensor("wf", INT8, &[fo, fi, 3, 3], &wf),
            tensor("bf", INT32, &[fo], &bf),
        ],
    );
    let dir = model_folder(
        &graph,
        &[
            tensor("x", UINT8, &[m, k], &x),
            tensor("x2", INT8, &[1, k2], &x2),
            tensor("xc", INT8, &[1, ci, 3, 3], &xc),
            tensor("xf", INT8, &[1, fi, fh, fw], &xf),
        ],
        &[
            tensor("y", UINT8, &[m, n], &y),
            tensor("z", INT32, &[1, n2], &z),
            tensor("yc", INT8, &[1, co, 3, 3], &yc),
            tensor("yf", INT8, &[1, fo, oh, ow], &yf),
        ],
    );
    let cases = [
        (None, 0, 0),
        (Some(Target::core("host").unwrap()), 2, 0),
        (Some(Target::core("cortex-m7").unwrap()), 0, 2),
        (Some(Target::core("cortex-m55").unwrap()), 0, 0),
    ];
    for (target, packed, paired) in cases {
        let options = Options {
            target,
            ..Options::default()
        };
        let model_rs = generated_model_rs(dir.path(), &options);
        assert_eq!(
            model_rs.matches("rt::qlinear::qmatmul_packed").count(),
            packed,
            "{model_rs}"
        );
        assert_eq!(
            model_rs
                .matches("rt::qlinear::qconv2d_pointwise_packed")
                .count(),
            packed / 2,
            "{model_rs}"
        );
        assert_eq!(
            model_rs.matches("rt::qconv::qconv2d_framed").count(),
            packed / 2,
            "{model_rs}"
        );
        // Scalar cores without Helium: both convolutions' weights in the paired layout
        // (the crate built here runs them on this host's SIMD widening).
        assert_eq!(
            model_rs.matches("rt::qconv::qconv2d_paired").count(),
            paired,
            "{model_rs}"
        );
        // `verify` runs on the host alone; the cores' benches run their crates in QEMU.
        if options
            .target
            .as_ref()
            .is_none_or(|t| t.kernels() == Kernels::Vector)
        {
            assert_verifies(dir.path(), &options, 4);
        }
    }
}
