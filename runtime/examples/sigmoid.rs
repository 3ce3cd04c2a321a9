//! Times the `f32` Sigmoid, Swish (SiLU), Erf, Gelu, GeluTanh, Tanh and Exp kernels over one
//! YOLOv8n-192 feature map (147,456 floats), and Softmax and LayerNormalization over the
//! same floats as a transformer's rows (attention rows of 128, embeddings of 192), for A/B
//! comparisons of the element-wise and row kernels.
//!
//! ```sh
//! RUSTFLAGS="-C target-cpu=native" cargo run --release -p zant-runtime --example sigmoid
//! ```
//!
//! Each op prints the best and the median of 40 timed batches (each of at least 2 ms) in
//! nanoseconds an element, and a checksum of its output, which two builds should
//! share to within the kernels' stated ulp bounds.

#[path = "timing/mod.rs"]
mod timing;

use timing::time;
use zant_runtime::elementwise::{softmax, unary, unary_in_place, UnaryOp};
use zant_runtime::norm::{layer_norm, Norm};

/// Elements of one YOLOv8n feature map at 192 × 192 input (64 channels of 48 × 48).
const ELEMENTS: usize = 147_456;

fn main() {
    // Inputs spread over [-12, 12), where a detector's logits lie, in a fixed order
    // that defeats no branch (the kernels have none) but is not constant.
    let x: Vec<f32> = (0..ELEMENTS)
        .map(|i| ((i * 7919) % 24_000) as f32 / 1000.0 - 12.0)
        .collect();
    let mut y = vec![0.0f32; ELEMENTS];
    for (name, op) in [
        ("Sigmoid", UnaryOp::Sigmoid),
        ("Swish (SiLU)", UnaryOp::Swish { alpha: 1.0 }),
        ("Erf", UnaryOp::Erf),
        ("Gelu", UnaryOp::Gelu),
        ("GeluTanh", UnaryOp::GeluTanh),
        ("Tanh", UnaryOp::Tanh),
        ("Exp", UnaryOp::Exp),
    ] {
        let out_of_place = time(ELEMENTS, || unary(op, &x, &mut y));
        let checksum: f64 = y.iter().map(|&v| f64::from(v)).sum();
        let mut z = x.clone();
        let in_place = time(ELEMENTS, || {
            z.copy_from_slice(&x);
            unary_in_place(op, &mut z);
        });
        println!(
            "{name:<13} out of place: best {:.3} ns/element, median {:.3}; in place (with a copy): best {:.3}, median {:.3}; checksum {checksum:.6}",
            out_of_place.0, out_of_place.1, in_place.0, in_place.1
        );
    }
    let rows = |name: &str, y: &[f32], (best, median): (f64, f64)| {
        let checksum: f64 = y.iter().map(|&v| f64::from(v)).sum();
        println!(
            "{name:<13} best {best:.3} ns/element, median {median:.3}; checksum {checksum:.6}"
        );
    };
    let t = time(ELEMENTS, || softmax(ELEMENTS / 128, 128, 1, &x, &mut y));
    rows("Softmax 128", &y, t);
    let (scale, bias): (Vec<f32>, Vec<f32>) = (0..192)
        .map(|i| (1.0 + i as f32 / 192.0, i as f32 / 96.0 - 1.0))
        .unzip();
    let norm = Norm {
        rows: ELEMENTS / 192,
        cols: 192,
        epsilon: 1e-5,
    };
    let t = time(ELEMENTS, || {
        layer_norm(&norm, &x, Some(&scale), Some(&bias), &mut y, None, None)
    });
    rows("LayerNorm 192", &y, t);
}
