//! Times single float convolution layers through the kernel a generated model calls for
//! them, for A/B comparisons of runtime changes one layer at a time.
//!
//! ```sh
//! RUSTFLAGS="-C target-cpu=native" cargo run --release -p zant-runtime \
//!     --example conv_layers -- [--batches N] [--cold MIB] [--act none|relu|swish] [--winograd] [SET | SPEC]...
//! ```
//!
//! `--winograd` times the 3 × 3 layers at stride 1 on `conv2d_winograd` (the weights
//! transformed as the compiler's `layout` pass does) instead of the kernel they take
//! otherwise; their checksums then differ from the other kernels' in the last digits.
//!
//! A `SET` names the layers of a model: `mlperf-ic` (its five 3 × 3 convolutions),
//! `mlperf-vww` (a 6 × 6 depthwise and pointwise pair, its stem) or `mobilenet_v2`
//! (a few 1 × 1 and depthwise layers). A `SPEC` is one layer,
//! `C_IN:C_OUT:SIZE:KERNEL:STRIDE[:GROUPS]`: a square `SIZE × SIZE` input, "same"
//! padding (ONNX `SAME_UPPER`, as TensorFlow exports). Each layer prints the best and
//! the median of `N` timed batches (default 40, each of at least 2 ms), its rate in
//! multiply-adds a second, and a checksum of its output, which two builds of the same
//! layer must share. `--cold MIB` times each run alone after rewriting a buffer of that
//! many MiB, which moves the layer's data out of L2 (8) or out of this VM's share of L3
//! too (64, where mobilenet_v2's weights, 14 MB, behave as in the model), as the
//! model's other layers do; warm, a layer's weights stay in L2 from run to run.
//!
//! Whole-model figures come from `zantc bench`; a layer timed alone is only a guide
//! (docs/performance.md: on a shared VM the same code linked twice has measured up to
//! 5 % apart, so compare two builds in alternating runs, several times).

use std::process::ExitCode;
use std::time::Instant;

use zant_runtime::conv::{
    conv2d_depthwise, conv2d_direct, conv2d_gemm, conv2d_gemm_blocked, conv2d_pointwise_blocked,
    conv2d_winograd, gemm_blocks_pay_for, kernel_for, pointwise_block, pointwise_blocks,
    winograd_fits, winograd_scratch_len, winograd_weights, winograd_weights_len, Conv2d,
    ConvKernel,
};
use zant_runtime::target::{KernelSet, Kernels};
use zant_runtime::Activation;

/// The shortest timed batch, in seconds.
const BATCH_SECONDS: f64 = 0.002;

/// The most floats of input, output or weights a layer may take (1 GiB).
const MAX_FLOATS: usize = 1 << 28;

/// One layer: its name and geometry.
struct Layer {
    name: String,
    p: Conv2d,
}

fn main() -> ExitCode {
    let mut batches = 40;
    let mut cold_mib = 0usize;
    let mut act = Activation::Relu;
    let mut winograd = false;
    let mut layers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let parsed = match arg.as_str() {
            "--batches" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => {
                    batches = n;
                    Ok(Vec::new())
                }
                _ => Err("--batches takes a positive number".to_string()),
            },
            "--cold" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if (1..=4096).contains(&n) => {
                    cold_mib = n;
                    Ok(Vec::new())
                }
                _ => Err("--cold takes the MiB to rewrite between runs (1 to 4096)".to_string()),
            },
            "--winograd" => {
                winograd = true;
                Ok(Vec::new())
            }
            "--act" => match args.next().as_deref() {
                Some("none") => {
                    act = Activation::None;
                    Ok(Vec::new())
                }
                Some("relu") => {
                    act = Activation::Relu;
                    Ok(Vec::new())
                }
                Some("swish") => {
                    act = Activation::Swish { alpha: 1.0 };
                    Ok(Vec::new())
                }
                _ => Err("--act takes none, relu or swish".to_string()),
            },
            "-h" | "--help" => {
                println!("usage: conv_layers [--batches N] [--cold MIB] [--act none|relu|swish] [--winograd] [mlperf-ic | mlperf-vww | mobilenet_v2 | C_IN:C_OUT:SIZE:KERNEL:STRIDE[:GROUPS]]...");
                return ExitCode::SUCCESS;
            }
            set_or_spec => set(set_or_spec).map_or_else(|| spec(set_or_spec).map(|l| vec![l]), Ok),
        };
        match parsed {
            Ok(more) => layers.extend(more),
            Err(message) => {
                eprintln!("conv_layers: {message}");
                return ExitCode::from(2);
            }
        }
    }
    if layers.is_empty() {
        layers = set("mlperf-ic").unwrap_or_default();
    }
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>9}  checksum",
        "layer", "best µs", "median µs", "GMAC/s", "kernel"
    );
    // Rewriting a buffer larger than L2 moves the layer's weights, input and output out
    // to L3 (or, larger than L3, to memory), as a model's other layers do.
    let mut evict = vec![0u8; cold_mib << 20];
    for layer in &layers {
        time(layer, act, winograd, batches, &mut evict);
    }
    ExitCode::SUCCESS
}

/// The layers of a named set, or `None` when `name` names none.
fn set(name: &str) -> Option<Vec<Layer>> {
    let specs: &[&str] = match name {
        "mlperf-ic" => &[
            "16:16:32:3:1",
            "16:32:32:3:2",
            "32:32:16:3:1",
            "32:64:16:3:2",
            "64:64:8:3:1",
        ],
        "mlperf-vww" => &["3:8:96:3:2", "128:128:6:3:1:128", "128:128:6:1:1"],
        "mobilenet_v2" => &[
            "16:96:112:1:1",
            "96:96:112:3:2:96",
            "144:24:56:1:1",
            "96:576:14:1:1",
            "576:576:14:3:1:576",
            "320:1280:7:1:1",
        ],
        _ => return None,
    };
    specs.iter().map(|s| spec(s).ok()).collect()
}

/// Parses `C_IN:C_OUT:SIZE:KERNEL:STRIDE[:GROUPS]`.
fn spec(text: &str) -> Result<Layer, String> {
    let fields: Vec<usize> = text
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!("`{text}` is neither a set nor C_IN:C_OUT:SIZE:KERNEL:STRIDE[:GROUPS]")
        })?;
    if fields.len() > 6 || fields.get(2).is_some_and(|&size| size > 1 << 14) {
        return Err(format!("`{text}` is not a convolution this tool times"));
    }
    let (&[c_in, c_out, size, k, stride], groups) = (
        fields
            .get(..5)
            .and_then(|f| <&[usize; 5]>::try_from(f).ok())
            .ok_or_else(|| {
                format!("`{text}` needs five or six fields: C_IN:C_OUT:SIZE:KERNEL:STRIDE[:GROUPS]")
            })?,
        fields.get(5).copied().unwrap_or(1),
    );
    if [c_in, c_out, size, k, stride, groups].contains(&0)
        || c_in % groups != 0
        || c_out % groups != 0
        || k > size
        || [c_in, c_out]
            .iter()
            .any(|&c| c.saturating_mul(size * size) > MAX_FLOATS)
        || c_out.saturating_mul(c_in / groups * k * k) > MAX_FLOATS
    {
        return Err(format!("`{text}` is not a convolution this tool times"));
    }
    // SAME_UPPER: the output is ⌈size / stride⌉, the odd pad at the end.
    let out = size.div_ceil(stride);
    let total_pad = ((out - 1) * stride + k).saturating_sub(size);
    let pad = total_pad / 2;
    let p = Conv2d {
        batch: 1,
        c_in,
        h_in: size,
        w_in: size,
        c_out,
        h_out: out,
        w_out: out,
        k_h: k,
        k_w: k,
        stride_h: stride,
        stride_w: stride,
        dil_h: 1,
        dil_w: 1,
        pad_top: pad,
        pad_left: pad,
        groups,
    };
    let group_suffix = if groups > 1 {
        format!(" g{groups}")
    } else {
        String::new()
    };
    let name = format!("{c_in}>{c_out} {size}² {k}x{k} s{stride}{group_suffix}");
    Ok(Layer { name, p })
}

/// Times `layer` over `batches` batches and prints its line. With a non-empty `evict`
/// buffer each run is timed alone, after the buffer is rewritten, so that the layer
/// starts from cold caches as it does in a model whose weights exceed them.
fn time(layer: &Layer, act: Activation, winograd: bool, batches: usize, evict: &mut [u8]) {
    let p = &layer.p;
    let kernel = kernel_for(p);
    let winograd = winograd && winograd_fits(p);
    let k_len = p.c_in / p.groups * p.k_h * p.k_w;
    let x: Vec<f32> = (0..p.c_in * p.h_in * p.w_in)
        .map(|i| ((i * 7919 % 113) as f32 - 56.0) / 17.0)
        .collect();
    let w: Vec<f32> = (0..p.c_out * k_len)
        .map(|i| ((i * 31 % 97) as f32 - 48.0) / 97.0)
        .collect();
    // A 1 × 1 convolution's weights as the compiler lays them out (its `layout` pass),
    // and a k × k one's where it blocks them.
    let blocked =
        kernel == ConvKernel::Pointwise || gemm_blocks_pay_for(p, KernelSet::only(Kernels::NATIVE));
    let w = if winograd {
        let mut u = vec![0.0; winograd_weights_len(p.c_out, p.c_in)];
        winograd_weights(&w, p.c_out, p.c_in, &mut u);
        u
    } else if blocked {
        let mut blocks = Vec::with_capacity(w.len());
        for b in 0..pointwise_blocks(p.c_out) {
            let (row0, rows) = pointwise_block(p.c_out, b);
            for i in 0..k_len {
                blocks.extend((row0..row0 + rows).map(|o| w[o * k_len + i]));
            }
        }
        blocks
    } else {
        w
    };
    let bias: Vec<f32> = (0..p.c_out).map(|i| i as f32 * 0.01).collect();
    let mut y = vec![0.0f32; p.c_out * p.h_out * p.w_out];
    let scratch_len = if winograd {
        winograd_scratch_len(p)
    } else {
        kernel.scratch_len(p)
    };
    let mut scratch = vec![0.0f32; scratch_len];
    let mut run = |y: &mut [f32]| {
        let bias = Some(&bias[..]);
        if winograd {
            conv2d_winograd(p, &x, &w, bias, act, &mut scratch, y);
            return;
        }
        match kernel {
            ConvKernel::Pointwise => {
                conv2d_pointwise_blocked(p, &x, &w, bias, act, &mut scratch, y)
            }
            ConvKernel::Depthwise => conv2d_depthwise(p, &x, &w, bias, act, &mut scratch, y),
            ConvKernel::Gemm if blocked => {
                conv2d_gemm_blocked(p, &x, &w, bias, act, &mut scratch, y)
            }
            ConvKernel::Gemm => conv2d_gemm(p, &x, &w, bias, act, &mut scratch, y),
            ConvKernel::Direct => conv2d_direct(p, &x, &w, bias, act, y),
        }
    };
    // Warm-up, and the runs a batch takes.
    let start = Instant::now();
    let mut warm = 0usize;
    while warm < 5 || start.elapsed().as_secs_f64() < BATCH_SECONDS {
        run(&mut y);
        warm += 1;
    }
    let per_batch = warm.max(1);
    let mut micros: Vec<f64> = (0..batches)
        .map(|round| {
            if !evict.is_empty() {
                evict
                    .iter_mut()
                    .step_by(64)
                    .for_each(|b| *b = b.wrapping_add(round as u8));
                std::hint::black_box(&mut *evict);
                let start = Instant::now();
                run(&mut y);
                return start.elapsed().as_secs_f64() * 1e6;
            }
            let start = Instant::now();
            for _ in 0..per_batch {
                run(&mut y);
            }
            start.elapsed().as_secs_f64() * 1e6 / per_batch as f64
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    let (best, median) = (micros[0], micros[micros.len() / 2]);
    let macs = (p.c_out * k_len * p.h_out * p.w_out) as f64;
    let checksum: f64 = y.iter().map(|&v| f64::from(v)).sum();
    println!(
        "{:<24} {best:>10.2} {median:>10.2} {:>10.1} {:>9}  {checksum:.4}",
        layer.name,
        macs / best / 1e3,
        if winograd {
            "Winograd".to_string()
        } else {
            format!("{kernel:?}")
        },
    );
}
