//! Times max pooling, global average pooling and nearest 2× upsampling on the shapes of
//! the model zoo's detectors, ResNets and classifiers, for A/B comparisons of those
//! kernels.
//!
//! ```sh
//! RUSTFLAGS="-C target-cpu=native" cargo run --release -p zant-runtime --example pool_resize
//! ```
//!
//! Each layer prints the best and the median of 40 timed batches (each of at least 2 ms)
//! in nanoseconds an output, and a checksum of its output, which two builds must share.

#[path = "timing/mod.rs"]
mod timing;

use timing::time;
use zant_runtime::pool::{global_avg_pool, max_pool2d, Pool2d};
use zant_runtime::resize::resize_nearest;

fn main() {
    // (name, channels, input side, kernel, stride, padding): a ResNet's stem pool, a
    // DBNet's, a YOLO SPPF's.
    let pools = [
        ("MaxPool 3x3/2 16x112²", 16, 112, 3, 2, 1),
        ("MaxPool 3x3/2 16x160²", 16, 160, 3, 2, 1),
        ("MaxPool 5x5/1 128x8²", 128, 8, 5, 1, 2),
    ];
    for (name, channels, side, k, s, pad) in pools {
        let out = (side + 2 * pad - k) / s + 1;
        let p = Pool2d {
            batch: 1,
            channels,
            h_in: side,
            w_in: side,
            h_out: out,
            w_out: out,
            k_h: k,
            k_w: k,
            stride_h: s,
            stride_w: s,
            dil_h: 1,
            dil_w: 1,
            pad_top: pad,
            pad_left: pad,
            pad_bottom: pad,
            pad_right: pad,
        };
        let x = values(channels * side * side);
        let mut y = vec![0.0f32; channels * out * out];
        let t = time(y.len(), || max_pool2d(&p, &x, &mut y));
        report(name, &y, t);
    }
    // (name, channels, input side): the classifier heads of mobilenet_v2 and a
    // ResNet-50, a squeeze-and-excitation block's.
    for (name, channels, side) in [
        ("GlobalAvgPool 1280x7²", 1280, 7),
        ("GlobalAvgPool 512x7²", 512, 7),
        ("GlobalAvgPool 96x56²", 96, 56),
    ] {
        let x = values(channels * side * side);
        let mut y = vec![0.0f32; channels];
        let t = time(x.len(), || {
            global_avg_pool(channels, side * side, &x, &mut y)
        });
        report(name, &y, t);
    }
    // (name, channels, input side): a YOLO neck's and a DBNet's 2× upsamplings.
    for (name, channels, side) in [
        ("Resize 2x 128x8²", 128, 8),
        ("Resize 2x 96x16²", 96, 16),
        ("Resize 2x 96x40²", 96, 40),
    ] {
        let x = values(channels * side * side);
        let mut y = vec![0.0f32; channels * 4 * side * side];
        let channel: Vec<usize> = (0..channels).collect();
        let doubled: Vec<usize> = (0..2 * side).map(|i| i / 2).collect();
        let index: [&[usize]; 4] = [&[0], &channel, &doubled, &doubled];
        let (x_shape, y_shape) = ([1, channels, side, side], [1, channels, 2 * side, 2 * side]);
        let t = time(y.len(), || {
            resize_nearest(&x, &x_shape, &index, &mut y, &y_shape)
        });
        report(name, &y, t);
    }
}

/// Inputs in a fixed order over [-12, 12).
fn values(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919) % 24_000) as f32 / 1000.0 - 12.0)
        .collect()
}

fn report(name: &str, y: &[f32], (best, median): (f64, f64)) {
    let checksum: f64 = y.iter().map(|&v| f64::from(v)).sum();
    println!("{name:<24} best {best:.3} ns/output, median {median:.3}; checksum {checksum:.6}");
}
