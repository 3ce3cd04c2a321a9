//! 3 × 3 convolutions at stride 1 through generated code: compiled for the host, where
//! the `layout` pass transforms the weights of the layers `conv::winograd_pays_for` and
//! the crate calls `conv2d_winograd`, and for any target, where the weights stay as ONNX
//! has them; built, run, and compared within `verify`'s tolerance with an `f64` direct
//! sum. The planes leave partial tiles and vectors: odd heights and widths, a plane
//! narrower than one vector of tiles and one wider than two, padding 0 and 1, two
//! images, 48 output channels (three runs of 16), a 16-channel layer on rows of whole
//! vectors of tiles (transformed), and a 16-channel layer on other rows and one of 16
//! tiles, which the pass leaves to the implicit GEMM.

mod common;

use common::model::{
    assert_verifies, floats, generated_model_rs, ints, model, model_folder, node, value, values,
};
use zant_compiler::target::Target;
use zant_compiler::Options;

/// One layer: input `[batch, c_in, h, w]`, `c_out` 3 × 3 filters, `pad` on every side,
/// Relu; its weights, bias and input from the shared value generator.
struct Layer {
    batch: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    pad: usize,
}

impl Layer {
    fn out(&self) -> (usize, usize) {
        (self.h + 2 * self.pad - 2, self.w + 2 * self.pad - 2)
    }

    /// `relu(conv(x, w) + b)` summed in `f64`.
    fn reference(&self, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let (h_out, w_out) = self.out();
        let mut y = Vec::with_capacity(self.batch * self.c_out * h_out * w_out);
        for n in 0..self.batch {
            for o in 0..self.c_out {
                for r in 0..h_out {
                    for c in 0..w_out {
                        let mut sum = f64::from(b[o]);
                        for i in 0..self.c_in {
                            for (kr, kc) in (0..3).flat_map(|kr| (0..3).map(move |kc| (kr, kc))) {
                                let (ir, ic) = (r + kr, c + kc);
                                if ir < self.pad || ic < self.pad {
                                    continue;
                                }
                                let (ir, ic) = (ir - self.pad, ic - self.pad);
                                if ir >= self.h || ic >= self.w {
                                    continue;
                                }
                                let xv = x[((n * self.c_in + i) * self.h + ir) * self.w + ic];
                                let wv = w[((o * self.c_in + i) * 3 + kr) * 3 + kc];
                                sum += f64::from(xv) * f64::from(wv);
                            }
                        }
                        y.push(sum.max(0.0) as f32);
                    }
                }
            }
        }
        y
    }
}

/// Builds `layers` as one model (one input and one output per layer), asserts how many
/// `conv2d_winograd` calls each build has, and verifies both builds.
fn compiles_both_ways(layers: &[Layer], on_host: usize) {
    let (mut nodes, mut inputs, mut outputs, mut consts) = (vec![], vec![], vec![], vec![]);
    let (mut input_data, mut output_data) = (vec![], vec![]);
    for (k, l) in layers.iter().enumerate() {
        let (h_out, w_out) = l.out();
        let x_dims = [l.batch, l.c_in, l.h, l.w].map(|d| d as i64);
        let y_dims = [l.batch, l.c_out, h_out, w_out].map(|d| d as i64);
        let x = values(l.batch * l.c_in * l.h * l.w, 3 * k + 1, 1.0);
        let w = values(l.c_out * l.c_in * 9, 3 * k + 2, 0.2);
        let b = values(l.c_out, 3 * k + 3, 0.1);
        let y = l.reference(&x, &w, &b);
        let (xn, wn, bn, sn, yn) = (
            format!("x{k}"),
            format!("w{k}"),
            format!("b{k}"),
            format!("s{k}"),
            format!("y{k}"),
        );
        let mut conv = node(&format!("conv{k}"), "Conv", &[&xn, &wn, &bn], &[&sn]);
        let p = l.pad as i64;
        conv.attribute = vec![ints("kernel_shape", &[3, 3]), ints("pads", &[p, p, p, p])];
        nodes.push(conv);
        nodes.push(node(&format!("relu{k}"), "Relu", &[&sn], &[&yn]));
        inputs.push(value(&xn, &x_dims));
        outputs.push(value(&yn, &y_dims));
        consts.push(floats(&wn, &[l.c_out as i64, l.c_in as i64, 3, 3], &w));
        consts.push(floats(&bn, &[l.c_out as i64], &b));
        input_data.push(floats(&xn, &x_dims, &x));
        output_data.push(floats(&yn, &y_dims, &y));
    }
    let graph = model(nodes, inputs, outputs, consts);
    let dir = model_folder(&graph, &input_data, &output_data);
    for (target, calls) in [(None, 0), (Some(Target::core("host").unwrap()), on_host)] {
        let options = Options {
            target,
            ..Options::default()
        };
        let model_rs = generated_model_rs(dir.path(), &options);
        assert_eq!(
            model_rs.matches("rt::conv::conv2d_winograd").count(),
            calls,
            "{model_rs}"
        );
        assert_verifies(dir.path(), &options, layers.len());
    }
}

#[test]
fn transformed_layers_match_the_direct_sum() {
    let layers = [
        // Narrow: 8 tiles a row, rows share vectors; odd height and width.
        Layer {
            batch: 2,
            c_in: 32,
            c_out: 48,
            h: 17,
            w: 15,
            pad: 1,
        },
        // Wide: 37 tiles a row (two whole vectors of 16 and part of a third); no padding.
        Layer {
            batch: 1,
            c_in: 40,
            c_out: 32,
            h: 7,
            w: 76,
            pad: 0,
        },
        // 16 channels on rows of whole vectors of tiles (16 a row): transformed.
        Layer {
            batch: 1,
            c_in: 16,
            c_out: 16,
            h: 13,
            w: 32,
            pad: 1,
        },
        // 16 channels on rows of 10 tiles (vectors across rows): transformed.
        Layer {
            batch: 1,
            c_in: 16,
            c_out: 16,
            h: 20,
            w: 20,
            pad: 1,
        },
        // 49 tiles (three vectors and one tile): transformed; 36 and 16 tiles: left to
        // the implicit GEMM.
        Layer {
            batch: 1,
            c_in: 16,
            c_out: 32,
            h: 14,
            w: 14,
            pad: 1,
        },
        Layer {
            batch: 1,
            c_in: 16,
            c_out: 16,
            h: 12,
            w: 12,
            pad: 1,
        },
        Layer {
            batch: 1,
            c_in: 32,
            c_out: 32,
            h: 8,
            w: 8,
            pad: 1,
        },
    ];
    compiles_both_ways(&layers, 5);
}
