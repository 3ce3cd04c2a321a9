//! ConvTranspose through generated code on the fast kernels' GEMM path, which the ONNX
//! node tests (one or two input channels, the rows kernel) do not reach: a 2 × 2
//! stride-2 upsampling (the exact tiling), a 3 × 3 stride-2 layer with pads and
//! `output_padding` after it, and a 1-D 4-tap stride-2 layer, compiled (for any target:
//! the SIMD band, scratch for both families), built, run, and compared with the
//! runtime's N-D reference kernel (which the ONNX node tests check) within `verify`'s
//! tolerance.

mod common;

use common::model::{
    assert_verifies, floats, generated_model_rs, ints, model, model_folder, node, value, values,
};
use onnx_protobuf::NodeProto;
use zant_compiler::Options;
use zant_runtime::conv::{conv_transpose, ConvTranspose};

/// One layer: its node's attributes, weight shape and the reference geometry.
struct Layer {
    name: &'static str,
    input: &'static str,
    output: &'static str,
    in_dims: Vec<usize>,
    out_dims: Vec<usize>,
    c_in: usize,
    c_out: usize,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    pads: Vec<usize>,
    output_padding: Vec<usize>,
}

impl Layer {
    fn node(&self) -> NodeProto {
        let (w, b) = (format!("{}.w", self.name), format!("{}.b", self.name));
        let mut n = node(
            self.name,
            "ConvTranspose",
            &[self.input, &w, &b],
            &[self.output],
        );
        let as_i64 = |v: &[usize]| v.iter().map(|&d| d as i64).collect::<Vec<_>>();
        let pads: Vec<i64> = as_i64(&self.pads).repeat(2);
        n.attribute = vec![
            ints("kernel_shape", &as_i64(&self.kernel)),
            ints("strides", &as_i64(&self.strides)),
            ints("pads", &pads),
            ints("output_padding", &as_i64(&self.output_padding)),
        ];
        n
    }

    fn weight_dims(&self) -> Vec<i64> {
        let mut dims = vec![self.c_in as i64, self.c_out as i64];
        dims.extend(self.kernel.iter().map(|&k| k as i64));
        dims
    }

    fn weights(&self, seed: usize) -> (Vec<f32>, Vec<f32>) {
        let n: usize = self.c_in * self.c_out * self.kernel.iter().product::<usize>();
        (values(n, seed, 0.3), values(self.c_out, seed + 1, 0.1))
    }

    /// The reference output for `x`.
    fn reference(&self, x: &[f32], seed: usize) -> Vec<f32> {
        let (w, b) = self.weights(seed);
        let pads: Vec<i64> = self.pads.iter().map(|&p| p as i64).collect();
        let p = ConvTranspose {
            batch: 1,
            c_in: self.c_in,
            c_out: self.c_out,
            groups: 1,
            in_dims: &self.in_dims,
            out_dims: &self.out_dims,
            kernel: &self.kernel,
            strides: &self.strides,
            dilations: &vec![1; self.kernel.len()],
            pads_begin: &pads,
        };
        let mut y = vec![0.0; self.c_out * self.out_dims.iter().product::<usize>()];
        conv_transpose(&p, x, &w, Some(&b), &mut y);
        y
    }
}

#[test]
fn gemm_kernels_match_the_reference() {
    let layers = [
        Layer {
            name: "up",
            input: "x",
            output: "h",
            in_dims: vec![12, 12],
            out_dims: vec![24, 24],
            c_in: 8,
            c_out: 6,
            kernel: vec![2, 2],
            strides: vec![2, 2],
            pads: vec![0, 0],
            output_padding: vec![0, 0],
        },
        Layer {
            name: "overlap",
            input: "h",
            output: "y",
            in_dims: vec![24, 24],
            out_dims: vec![48, 48],
            c_in: 6,
            c_out: 5,
            kernel: vec![3, 3],
            strides: vec![2, 2],
            pads: vec![1, 1],
            output_padding: vec![1, 1],
        },
        Layer {
            name: "line",
            input: "s",
            output: "t",
            in_dims: vec![10],
            out_dims: vec![20],
            c_in: 4,
            c_out: 3,
            kernel: vec![4],
            strides: vec![2],
            pads: vec![1],
            output_padding: vec![0],
        },
    ];
    let mut initializers = Vec::new();
    for (seed, layer) in layers.iter().enumerate() {
        let (w, b) = layer.weights(seed);
        initializers.push(floats(
            &format!("{}.w", layer.name),
            &layer.weight_dims(),
            &w,
        ));
        initializers.push(floats(
            &format!("{}.b", layer.name),
            &[layer.c_out as i64],
            &b,
        ));
    }
    let m = model(
        layers.iter().map(Layer::node).collect(),
        vec![value("x", &[1, 8, 12, 12]), value("s", &[1, 4, 10])],
        vec![value("y", &[1, 5, 48, 48]), value("t", &[1, 3, 20])],
        initializers,
    );
    let x = values(8 * 12 * 12, 7, 1.0);
    let s = values(4 * 10, 8, 1.0);
    let h = layers[0].reference(&x, 0);
    let y = layers[1].reference(&h, 1);
    let t = layers[2].reference(&s, 2);

    let dir = model_folder(
        &m,
        &[
            floats("x", &[1, 8, 12, 12], &x),
            floats("s", &[1, 4, 10], &s),
        ],
        &[
            floats("y", &[1, 5, 48, 48], &y),
            floats("t", &[1, 3, 20], &t),
        ],
    );
    let options = Options::default();
    // All three layers take the GEMM kernel.
    let model_rs = generated_model_rs(dir.path(), &options);
    assert_eq!(
        model_rs.matches("conv_transpose2d_gemm(").count(),
        3,
        "{model_rs}"
    );
    assert_verifies(dir.path(), &options, 2);
}
