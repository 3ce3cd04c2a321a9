//! Times the quantized matrix product with one input row (a batch-1 fully connected
//! layer, QGemm with a constant `B` stored `[n, k]`) on the shapes of an autoencoder
//! and a classifier, in nanoseconds a call and G multiply-adds a second.
//!
//! ```sh
//! RUSTFLAGS="-C target-cpu=native" cargo run --release -p zant-runtime --example qmatmul
//! ```

#[path = "timing/mod.rs"]
mod timing;

use timing::time;
use zant_runtime::qlinear::{
    pack_qmatmul_b, qmatmul, qmatmul_packed, qpacked_bias, qpacked_len, QMatMul, Requant,
};

fn bytes(n: usize, seed: usize) -> Vec<i8> {
    (0..n)
        .map(|i| ((i * 7919 + seed * 104_729) % 251) as i8)
        .collect()
}

fn main() {
    for (k, n) in [
        (640, 128),
        (128, 128),
        (128, 8),
        (8, 128),
        (128, 640),
        (1280, 1000),
    ] {
        let a = bytes(k, 1);
        let b = bytes(k * n, 2);
        let bias: Vec<i32> = (0..n as i32).map(|j| j * 37 - 900).collect();
        let scale = [0.0013f32];
        let mut y = vec![0i8; n];
        let p = QMatMul {
            batch: 1,
            m: 1,
            k,
            n,
            b_transposed: true,
            b_batched: false,
        };
        let t = time(1, || {
            qmatmul::<i8, i8, i8>(
                &p,
                std::hint::black_box(&a),
                0,
                &b,
                &[0],
                &bias,
                Requant {
                    scale: &scale,
                    zero: -3,
                },
                &mut y,
            )
        });
        let reference = y.clone();
        let mut packed = vec![0i8; qpacked_len(k, n)];
        assert!(pack_qmatmul_b(
            k,
            n,
            |kk, j| i32::from(b[j * k + kk]),
            |_| 0,
            &mut packed
        ));
        let mut base = vec![0i32; n];
        qpacked_bias(k, &packed, |j| bias[j], 128, &mut base);
        y.fill(0);
        let packed_t = time(1, || {
            qmatmul_packed::<i8, i8>(
                &p,
                std::hint::black_box(&a),
                &packed,
                &base,
                Requant {
                    scale: &scale,
                    zero: -3,
                },
                &mut y,
            )
        });
        let differ = y.iter().zip(&reference).filter(|(x, r)| x != r).count();
        println!(
            "{k:>5} → {n:<5} packed: best {:>7.0} ns, median {:>7.0} ns, {:>5.1} GMAC/s{}",
            packed_t.0,
            packed_t.1,
            (k * n) as f64 / packed_t.0,
            if differ > 0 {
                format!(", {differ} outputs DIFFER")
            } else {
                String::new()
            }
        );
        y.copy_from_slice(&reference);
        // The outputs against a plain sum, so that a faster kernel cannot be a wrong one.
        let wrong = (0..n)
            .filter(|&j| {
                let sum: i32 = (0..k)
                    .map(|i| i32::from(a[i]) * i32::from(b[j * k + i]))
                    .sum::<i32>()
                    + bias[j];
                let want = ((sum as f32 * scale[0]).round_ties_even() as i32 - 3).clamp(-128, 127);
                i32::from(y[j]) != want
            })
            .count();
        println!(
            "{k:>5} → {n:<5} best {:>7.0} ns, median {:>7.0} ns, {:>5.1} GMAC/s{}",
            t.0,
            t.1,
            (k * n) as f64 / t.0,
            if wrong > 0 {
                format!(", {wrong} outputs WRONG")
            } else {
                String::new()
            }
        );
    }
}
