//! Times the `f32` transposed convolutions of a DBNet-style text detector's head (640-wide
//! input) on the N-D reference kernel and on the fast kernel a generated model calls for
//! them, for A/B comparisons of the ConvTranspose kernels.
//!
//! ```sh
//! RUSTFLAGS="-C target-cpu=native" cargo run --release -p zant-runtime --example conv_transpose
//! ```
//!
//! Each layer prints, for both kernels, the best and the median of 10 timed batches (each
//! of at least 20 ms) in microseconds a call and nanoseconds an output element, the
//! speed-up of the medians, and a checksum of each output (the two agree to float
//! rounding: the kernels add the same products in different orders).

#[path = "timing/mod.rs"]
mod timing;

use timing::time_in;
use zant_runtime::conv::{
    conv_transpose, conv_transpose2d_gemm, conv_transpose2d_rows, transpose_band_for,
    transpose_kernel_for, transpose_scratch_len_for, ConvTranspose, ConvTranspose2d,
    TransposeKernel,
};
use zant_runtime::target::{KernelSet, Kernels};

/// Timed batches a kernel, and the shortest batch in seconds.
const BATCHES: (usize, f64) = (10, 0.02);

/// One layer: a name, channels, the input's side, kernel, stride, pad and output padding
/// (square), and groups.
struct Layer {
    name: &'static str,
    c_in: usize,
    c_out: usize,
    side: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    output_padding: usize,
    groups: usize,
}

const LAYERS: [Layer; 4] = [
    Layer {
        name: "64->64 2x2/s2 80->160",
        c_in: 64,
        c_out: 64,
        side: 80,
        kernel: 2,
        stride: 2,
        pad: 0,
        output_padding: 0,
        groups: 1,
    },
    Layer {
        name: "64->1 2x2/s2 160->320",
        c_in: 64,
        c_out: 1,
        side: 160,
        kernel: 2,
        stride: 2,
        pad: 0,
        output_padding: 0,
        groups: 1,
    },
    Layer {
        name: "64->64 3x3/s2 p1 op1 80->160",
        c_in: 64,
        c_out: 64,
        side: 80,
        kernel: 3,
        stride: 2,
        pad: 1,
        output_padding: 1,
        groups: 1,
    },
    Layer {
        name: "dw 64 3x3/s2 p1 op1 80->160",
        c_in: 64,
        c_out: 64,
        side: 80,
        kernel: 3,
        stride: 2,
        pad: 1,
        output_padding: 1,
        groups: 64,
    },
];

fn main() {
    for layer in &LAYERS {
        let out =
            layer.stride * (layer.side - 1) + layer.kernel + layer.output_padding - 2 * layer.pad;
        let mut p = ConvTranspose2d {
            batch: 1,
            c_in: layer.c_in,
            h_in: layer.side,
            w_in: layer.side,
            c_out: layer.c_out,
            h_out: out,
            w_out: out,
            k_h: layer.kernel,
            k_w: layer.kernel,
            stride_h: layer.stride,
            stride_w: layer.stride,
            dil_h: 1,
            dil_w: 1,
            pad_top: layer.pad as i64,
            pad_left: layer.pad as i64,
            groups: layer.groups,
            band: 0,
        };
        let native = KernelSet::only(Kernels::NATIVE);
        p.band = transpose_band_for(&p, native);
        let kernel = transpose_kernel_for(&p);
        let sides = [layer.side; 2];
        let outs = [out; 2];
        let kernels = [layer.kernel; 2];
        let strides = [layer.stride; 2];
        let pads = [layer.pad as i64; 2];
        let reference = ConvTranspose {
            batch: 1,
            c_in: layer.c_in,
            c_out: layer.c_out,
            groups: layer.groups,
            in_dims: &sides,
            out_dims: &outs,
            kernel: &kernels,
            strides: &strides,
            dilations: &[1, 1],
            pads_begin: &pads,
        };
        let x: Vec<f32> = (0..layer.c_in * layer.side * layer.side)
            .map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0)
            .collect();
        let w: Vec<f32> = (0..layer.c_in * layer.c_out / layer.groups * layer.kernel.pow(2))
            .map(|i| ((i * 104_729) % 2000) as f32 / 20_000.0 - 0.05)
            .collect();
        let bias: Vec<f32> = (0..layer.c_out).map(|i| i as f32 * 0.01).collect();
        let elements = layer.c_out * out * out;
        let mut y = vec![0.0f32; elements];
        let naive = time_in(elements, BATCHES, || {
            conv_transpose(&reference, &x, &w, Some(&bias), &mut y)
        });
        let naive_sum: f64 = y.iter().map(|&v| f64::from(v)).sum();
        let mut scratch = vec![0.0f32; transpose_scratch_len_for(kernel, &p, native)];
        let fast = time_in(elements, BATCHES, || match kernel {
            TransposeKernel::Gemm => {
                conv_transpose2d_gemm(&p, &x, &w, Some(&bias), &mut scratch, &mut y)
            }
            TransposeKernel::Rows => conv_transpose2d_rows(&p, &x, &w, Some(&bias), &mut y),
        });
        let fast_sum: f64 = y.iter().map(|&v| f64::from(v)).sum();
        println!(
            "{:<30} reference: best {:>9.1} us ({:.3} ns/output), median {:>9.1} us; \
             {kernel:?} (band {}, scratch {} KiB): best {:>8.1} us ({:.3} ns/output), \
             median {:>8.1} us; {:.1}x; checksums {naive_sum:.4} {fast_sum:.4}",
            layer.name,
            naive.0 * elements as f64 / 1e3,
            naive.0,
            naive.1 * elements as f64 / 1e3,
            p.band,
            scratch.len() * 4 / 1024,
            fast.0 * elements as f64 / 1e3,
            fast.0,
            fast.1 * elements as f64 / 1e3,
            naive.1 / fast.1,
        );
    }
}
