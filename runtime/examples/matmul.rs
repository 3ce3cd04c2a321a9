//! Times MatMul by a constant `B` on a transformer's shapes: the blocked GEMM
//! (`gemm::matmul_with_scratch`, `B` row-major) against `B` in column panels
//! (`gemm::panels`), in G multiply-adds a second.
//!
//! ```sh
//! RUSTFLAGS="-C target-cpu=native" cargo run --release -p zant-runtime --example matmul
//! ```

#[path = "timing/mod.rs"]
mod timing;

use timing::time;
use zant_runtime::gemm::panels::{gemm_panels, gemm_row_major, pack_b, packed_len};
use zant_runtime::gemm::{gemm_with_scratch, scratch_len, Bias};
use zant_runtime::Activation;

fn data(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 + seed * 104_729) % 2000) as f32 / 1000.0 - 1.0)
        .collect()
}

fn main() {
    for (m, k, n) in [
        (128, 192, 192),
        (128, 192, 768),
        (128, 768, 192),
        (100, 64, 512),
        (1024, 1024, 1024),
        (3136, 64, 256),
        (64, 4096, 1000),
        (8, 512, 512),
        (2, 256, 256),
        (128, 48, 128),
        (128, 128, 48),
    ] {
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let bias = data(n, 3);
        let mut y = vec![0.0f32; m * n];
        let macs = m * n * k;
        let gmacs = |ns: f64| macs as f64 / ns;
        // The blocked GEMM, as MatMul called it before `B` went in panels.
        let mut scratch = vec![0.0f32; scratch_len(m, n, k)];
        let t = time(1, || {
            gemm_with_scratch(
                m,
                n,
                k,
                &a,
                false,
                &b,
                false,
                1.0,
                1.0,
                Bias::Row(&bias),
                Activation::None,
                &mut scratch,
                &mut y,
            )
        });
        let reference = y.clone();
        println!(
            "{m}×{k}×{n} blocked: best {:.1} GMAC/s, median {:.1}",
            gmacs(t.0),
            gmacs(t.1)
        );
        let mut panels = vec![0.0f32; packed_len(k, n)];
        pack_b(k, n, &b, false, &mut panels);
        y.fill(0.0);
        let t = time(1, || {
            gemm_panels(
                (m, n, k),
                &a,
                &panels,
                Some(&bias),
                Activation::None,
                &mut y,
            )
        });
        let err = y
            .iter()
            .zip(&reference)
            .map(|(x, r)| (x - r).abs())
            .fold(0.0f32, f32::max);
        println!(
            "{m}×{k}×{n} panels:  best {:.1} GMAC/s, median {:.1} (largest difference {err:.1e})",
            gmacs(t.0),
            gmacs(t.1)
        );
        if n % 16 == 0 {
            y.fill(0.0);
            let t = time(1, || {
                gemm_row_major((m, n, k), &a, &b, Some(&bias), Activation::None, &mut y)
            });
            let err = y
                .iter()
                .zip(&reference)
                .map(|(x, r)| (x - r).abs())
                .fold(0.0f32, f32::max);
            println!(
                "{m}×{k}×{n} row-major B in place: best {:.1} GMAC/s, median {:.1} (largest difference {err:.1e})",
                gmacs(t.0),
                gmacs(t.1)
            );
        }
    }
}
