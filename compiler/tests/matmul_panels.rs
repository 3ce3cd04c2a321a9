//! A MatMul by a constant `B` (with the bias Add and Relu the passes fuse into it)
//! through generated code: compiled for the host, where the `layout` pass stores `B` in
//! the column panels of `rt::gemm::panels`, and for any target, where it keeps ONNX's
//! `B`; built, run, and compared within `verify`'s tolerance with an `f64` product. The
//! sizes leave partial tiles everywhere: 37 rows of a batch of two (not whole tiles of
//! 8 or 6), 50 columns (three panels and two columns), a depth of 24.

mod common;

use common::model::{
    assert_verifies, floats, generated_model_rs, int, model, model_folder, node, value, values,
};
use zant_compiler::target::Target;
use zant_compiler::Options;

/// Compiles the model in `folder` for any target (`B` as ONNX has it) and for the host
/// (`B` in panels), asserts which kernel each calls and that the bias and Relu were
/// fused, and verifies both against the model's outputs.
fn compiles_both_ways(folder: &std::path::Path) {
    for (target, panels) in [(None, false), (Some(Target::core("host").unwrap()), true)] {
        let options = Options {
            target,
            ..Options::default()
        };
        let model_rs = generated_model_rs(folder, &options);
        assert_eq!(
            model_rs.contains("rt::gemm::panels::gemm_panels"),
            panels,
            "{model_rs}"
        );
        assert!(
            !model_rs.contains("rt::elementwise"),
            "bias and Relu fused: {model_rs}"
        );
        assert_verifies(folder, &options, 1);
    }
}

#[test]
fn paneled_b_matches_the_product() {
    let (batch, m, k, n) = (2usize, 37usize, 24usize, 50usize);
    let x = values(batch * m * k, 1, 1.0);
    let w = values(k * n, 2, 0.5);
    let b = values(n, 3, 0.2);
    let mut y = vec![0.0f32; batch * m * n];
    for row in 0..batch * m {
        for j in 0..n {
            let s: f64 = (0..k)
                .map(|p| f64::from(x[row * k + p]) * f64::from(w[p * n + j]))
                .sum::<f64>()
                + f64::from(b[j]);
            y[row * n + j] = s.max(0.0) as f32;
        }
    }
    let dims = |d: &[usize]| d.iter().map(|&v| v as i64).collect::<Vec<_>>();
    let m_dims = dims(&[batch, m, k]);
    let y_dims = dims(&[batch, m, n]);
    let graph = model(
        vec![
            node("mm", "MatMul", &["x", "w"], &["p"]),
            node("add", "Add", &["p", "b"], &["s"]),
            node("relu", "Relu", &["s"], &["y"]),
        ],
        vec![value("x", &m_dims)],
        vec![value("y", &y_dims)],
        vec![
            floats("w", &[k as i64, n as i64], &w),
            floats("b", &[n as i64], &b),
        ],
    );
    let dir = model_folder(
        &graph,
        &[floats("x", &m_dims, &x)],
        &[floats("y", &y_dims, &y)],
    );
    compiles_both_ways(dir.path());
}

/// A Gemm by a constant `B` with `transB` (PyTorch's `Linear` on a batch of rows) and a
/// bias per column, then Relu: on the host `B` goes into panels (the packing undoes the
/// transpose), for any target it stays; both match an `f64` product. 5 rows, 40 columns
/// (two panels and a half), a depth of 24.
#[test]
fn paneled_gemm_b_matches_the_product() {
    let (m, k, n) = (5usize, 24usize, 40usize);
    let x = values(m * k, 4, 1.0);
    let w = values(n * k, 5, 0.5); // [n, k]: transB.
    let b = values(n, 6, 0.2);
    let mut y = vec![0.0f32; m * n];
    for row in 0..m {
        for j in 0..n {
            let s: f64 = (0..k)
                .map(|p| f64::from(x[row * k + p]) * f64::from(w[j * k + p]))
                .sum::<f64>()
                + f64::from(b[j]);
            y[row * n + j] = s.max(0.0) as f32;
        }
    }
    let (mi, ki, ni) = (m as i64, k as i64, n as i64);
    let mut gemm = node("fc", "Gemm", &["x", "w", "b"], &["g"]);
    gemm.attribute = vec![int("transB", 1)];
    let graph = model(
        vec![gemm, node("relu", "Relu", &["g"], &["y"])],
        vec![value("x", &[mi, ki])],
        vec![value("y", &[mi, ni])],
        vec![floats("w", &[ni, ki], &w), floats("b", &[ni], &b)],
    );
    let dir = model_folder(
        &graph,
        &[floats("x", &[mi, ki], &x)],
        &[floats("y", &[mi, ni], &y)],
    );
    compiles_both_ways(dir.path());
}
