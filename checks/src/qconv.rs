//! Int8 convolution (QLinearConv, ConvInteger) and int8 matrix product (QLinearMatMul,
//! MatMulInteger, QGemm): every entry point the compiler emits a call to
//! (`qconv2d_im2col`, `qconv2d_depthwise` and its in-place form,
//! `conv_integer_runtime_zero`, `qmatmul`) and the tap walker they fall back to
//! (`qlinear::qconv2d`), with `u8` and `i8` activations, weights and outputs, per-tensor
//! and per-channel scales and zero points, at the scratch lengths the compiler plans and
//! at the shorter ones that select the fallbacks, with the AMX tiles allowed and forced
//! off where this build has the switch. Each is compared
//! byte for byte with a naive reference: the exact `i32` sum, requantized by the rule
//! `zant_runtime::qlinear::requantize` documents, written out here on its own.

use core::fmt;

use zant_runtime::conv::Conv2d;
use zant_runtime::conv::{
    depthwise_in_place_fits, depthwise_in_place_len, depthwise_in_place_shift,
};
use zant_runtime::qconv::{
    qconv2d_depthwise, qconv2d_depthwise_in_place, qconv2d_depthwise_scratch_len, qconv2d_im2col,
    qconv2d_im2col_scratch_len, qconv2d_im2col_scratch_max_len, qconv2d_is_depthwise,
};
use zant_runtime::qlinear::{self, QInt, QMatMul as Product, QOut, Requant};

use crate::exact::{compare_exact, Output};
use crate::geometry::{padded, pads_of, smaller, Pads};
use crate::{Buffers, Family, Mismatch, Rng, BUFFER_LEN};

/// The int8 convolution family.
pub struct QConv;

/// The int8 matrix product family.
pub struct QMatMul;

/// An 8-bit element type of activations or weights.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    U8,
    I8,
}

/// What a convolution's sums become: requantized bytes (QLinearConv, the output type
/// its `y_zero_point` has) or the raw `i32` sums (ConvInteger).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ConvOut {
    U8,
    I8,
    I32,
}

/// What a matrix product's sums become: requantized bytes (QLinearMatMul, QGemm with an
/// output scale), the raw `i32` sums (MatMulInteger) or `f32` (QGemm without one).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MatMulOut {
    U8,
    I8,
    I32,
    F32,
}

/// The weights' zero points, as the compiler passes them: none (`[0]`, what ONNX
/// Runtime's symmetric quantizer writes), one zero per channel, one nonzero value, or
/// one value per channel (drawn from the case's seed, some of them 0).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Zeros {
    Zero,
    ZeroPerChannel,
    Tensor(i32),
    PerChannel,
}

/// How the 8-bit data are drawn: uniform bytes; the type's bounds and the zero point
/// among them (where sums and products are largest); or mostly the zero point (the
/// activations after a ReLU, pruned weights), which the kernels skip.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Values {
    Uniform,
    Extremes,
    Sparse,
}

/// A convolution: its geometry, the element types, the zero points, whether it has a
/// bias, whether its scales are per output channel, and the seed of its data (which
/// also draws the scales from the range of the sums, so that the outputs span the
/// output type and saturate now and then).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub p: Conv2d,
    pub x: Elem,
    pub w: Elem,
    pub y: ConvOut,
    pub x_zero: i32,
    pub w_zero: Zeros,
    pub y_zero: i32,
    pub bias: bool,
    pub per_channel_scales: bool,
    pub values: Values,
    pub seed: u64,
}

/// How a matrix product's bias is given: none, one value for every column, or one per
/// column.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Bias {
    None,
    One,
    PerColumn,
}

/// A matrix product: its shape, the element types, the zero points (`b_zero` one per
/// column where per channel), its bias, whether its scales are per column, and the seed
/// of its data and scales.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatMulCase {
    pub p: Product,
    pub a: Elem,
    pub b: Elem,
    pub y: MatMulOut,
    pub a_zero: i32,
    pub b_zero: Zeros,
    pub y_zero: i32,
    pub bias: Bias,
    pub per_column_scales: bool,
    pub values: Values,
    pub seed: u64,
}

/// What the convolution's runs covered of the AMX switch in this process, for the host
/// test to state (`docs/testing.md`: a test names the paths it ran and says NOT RUN for
/// those the machine cannot take).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmxCoverage {
    /// Whether this build has the switch: x86-64 Linux with AVX-512 VNNI.
    pub built: bool,
    /// Whether the host has the tiles and Linux grants them to this process.
    pub available: bool,
    /// Runs of the VNNI convolution with the tiles allowed.
    pub allowed: usize,
    /// Of those, the runs with at least 16 output channels per group, a whole tile,
    /// which the tiles can take.
    pub tile_shaped: usize,
    /// The same runs with the tiles forced off: the path of a host without AMX.
    pub forced_off: usize,
}

/// The AMX coverage of the [`QConv`] runs so far in this process.
pub fn amx_coverage() -> AmxCoverage {
    switch::coverage()
}

impl fmt::Display for AmxCoverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.built {
            return f.write_str(
                "AMX tiles: NOT RUN, and the VNNI kernels: NOT RUN (this build has no \
                 AVX-512 VNNI; build with -C target-cpu=native on a host that has it)",
            );
        }
        if !self.available {
            return f.write_str(
                "AMX tiles: NOT RUN (the host has none, or Linux refused them); the VNNI \
                 kernels without them: RUN",
            );
        }
        write!(
            f,
            "AMX tiles: RUN ({} runs allowed them, {} of them with whole tiles of 16 \
             output channels); the path without AMX: RUN ({} runs with the tiles forced off)",
            self.allowed, self.tile_shaped, self.forced_off
        )
    }
}

/// The most multiply-accumulates a drawn case may take per path: every case runs the
/// reference and up to a dozen paths, and the 200 cases must take seconds in a
/// debug build.
const MAX_MACS: usize = 400_000;

/// Channel counts worth drawing: odd ones, and those around the kernels' steps (4 and 8
/// lanes, 16-channel AMX tiles, 32 and 64 columns).
const CHANNELS: [usize; 18] = [
    1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65,
];

/// Paths of `qconv2d_im2col`: by scratch (promised, the most, short, none), with the AMX
/// tiles allowed and forced off.
const IM2COL: [[&str; 2]; 4] = [
    [
        "qconv2d_im2col, the promised scratch",
        "qconv2d_im2col, the promised scratch, AMX forced off",
    ],
    [
        "qconv2d_im2col, the most scratch",
        "qconv2d_im2col, the most scratch, AMX forced off",
    ],
    [
        "qconv2d_im2col, a short scratch",
        "qconv2d_im2col, a short scratch, AMX forced off",
    ],
    [
        "qconv2d_im2col, no scratch",
        "qconv2d_im2col, no scratch, AMX forced off",
    ],
];

/// Paths of `qconv2d_depthwise`: by scratch (any target's, a frame's only, short, none).
const DEPTHWISE: [&str; 4] = [
    "qconv2d_depthwise, any target's scratch",
    "qconv2d_depthwise, a frame's scratch",
    "qconv2d_depthwise, a short scratch",
    "qconv2d_depthwise, no scratch",
];

impl Elem {
    fn bounds(self) -> (i32, i32) {
        match self {
            Elem::U8 => (0, 255),
            Elem::I8 => (-128, 127),
        }
    }

    fn draw(rng: &mut Rng) -> Elem {
        if rng.one_in(2) {
            Elem::U8
        } else {
            Elem::I8
        }
    }
}

// Each enum prints as a path, so that a shrunk case prints as a Rust literal.
impl fmt::Debug for Elem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Elem::U8 => "Elem::U8",
            Elem::I8 => "Elem::I8",
        })
    }
}

impl fmt::Debug for ConvOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConvOut::U8 => "ConvOut::U8",
            ConvOut::I8 => "ConvOut::I8",
            ConvOut::I32 => "ConvOut::I32",
        })
    }
}

impl fmt::Debug for MatMulOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatMulOut::U8 => "MatMulOut::U8",
            MatMulOut::I8 => "MatMulOut::I8",
            MatMulOut::I32 => "MatMulOut::I32",
            MatMulOut::F32 => "MatMulOut::F32",
        })
    }
}

impl fmt::Debug for Zeros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zeros::Zero => f.write_str("Zeros::Zero"),
            Zeros::ZeroPerChannel => f.write_str("Zeros::ZeroPerChannel"),
            Zeros::Tensor(z) => write!(f, "Zeros::Tensor({z})"),
            Zeros::PerChannel => f.write_str("Zeros::PerChannel"),
        }
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Values::Uniform => "Values::Uniform",
            Values::Extremes => "Values::Extremes",
            Values::Sparse => "Values::Sparse",
        })
    }
}

impl fmt::Debug for Bias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bias::None => "Bias::None",
            Bias::One => "Bias::One",
            Bias::PerColumn => "Bias::PerColumn",
        })
    }
}

impl Values {
    fn draw(rng: &mut Rng) -> Values {
        match rng.range(0, 3) {
            0 => Values::Extremes,
            1 => Values::Sparse,
            _ => Values::Uniform,
        }
    }
}

impl Zeros {
    /// Zero points for weights of type `elem`; nonzero ones only in half the cases, so
    /// that the kernels for symmetric weights (VNNI, AMX) run on the other half.
    fn draw(rng: &mut Rng, elem: Elem) -> Zeros {
        match rng.range(0, 5) {
            0 | 1 => Zeros::Zero,
            2 => Zeros::ZeroPerChannel,
            3 => Zeros::Tensor(zero_point(rng, elem.bounds())),
            _ => Zeros::PerChannel,
        }
    }

    /// Writes the zero points into `out` (one per channel) and returns how many the
    /// kernels take: 1 for a per-tensor zero, `out.len()` for per-channel ones.
    fn fill(self, rng: &mut Rng, (lo, hi): (i32, i32), out: &mut [i32]) -> usize {
        match self {
            Zeros::Zero => {
                out[0] = 0;
                1
            }
            Zeros::Tensor(z) => {
                out[0] = z;
                1
            }
            Zeros::ZeroPerChannel => {
                out.fill(0);
                out.len()
            }
            Zeros::PerChannel => {
                for z in out.iter_mut() {
                    *z = if rng.one_in(3) {
                        0
                    } else {
                        lo + rng.range(0, (hi - lo) as usize) as i32
                    };
                }
                out.len()
            }
        }
    }
}

/// A zero point in `lo..=hi`: the bounds and the middle often, where padding and
/// saturation are at their extremes.
fn zero_point(rng: &mut Rng, (lo, hi): (i32, i32)) -> i32 {
    match rng.range(0, 5) {
        0 => lo,
        1 => hi,
        2 => (lo + hi + 1) / 2,
        _ => lo + rng.range(0, (hi - lo) as usize) as i32,
    }
}

/// Fills `out` with the bytes of values in `lo..=hi` drawn as `values` says, `zero`
/// the zero point of each element (`zero(i)`).
fn fill_bytes(
    rng: &mut Rng,
    values: Values,
    (lo, hi): (i32, i32),
    zero: &dyn Fn(usize) -> i32,
    out: &mut [u8],
) {
    for (i, b) in out.iter_mut().enumerate() {
        let v = match values {
            Values::Uniform => lo + i32::from(rng.byte()),
            Values::Extremes => match rng.range(0, 3) {
                0 => lo,
                1 => hi,
                2 => zero(i),
                _ => lo + i32::from(rng.byte()),
            },
            Values::Sparse => {
                if rng.one_in(4) {
                    lo + i32::from(rng.byte())
                } else {
                    zero(i)
                }
            }
        };
        // The two's complement byte of an `i8`, the byte itself of a `u8`.
        *b = v.clamp(lo, hi) as u8;
    }
}

/// `n` biases: mostly the size of the sums, now and then large (a bias that dwarfs the
/// products, and with it the clamp in `f32` the requantization takes for large sums).
fn fill_bias(rng: &mut Rng, out: &mut [i32]) {
    let large = rng.one_in(4);
    for b in out {
        let magnitude = if large { 1 << 27 } else { 1 << 16 };
        *b = rng.range(0, 2 * magnitude) as i32 - magnitude as i32;
    }
}

/// Turns `peaks[c]`, the largest magnitude among channel `c`'s sums, into its scale in
/// place: one that maps the peak to a drawn target, mostly inside the 8-bit range, a
/// sixth of the time far beyond it (most outputs saturate), each channel jittered, and
/// a quarter of the time a power of two (whose products land on rounding ties).
fn scales_from_peaks(rng: &mut Rng, peaks: &mut [f32]) {
    let target = if rng.one_in(6) {
        300.0 + 3000.0 * rng.unit().abs()
    } else {
        40.0 + 200.0 * rng.unit().abs()
    };
    let power_of_two = rng.one_in(4);
    for s in peaks {
        let scale = target * (0.75 + 0.5 * rng.unit().abs()) / s.max(1.0);
        *s = if power_of_two {
            libm::ldexpf(1.0, libm::roundf(libm::log2f(scale)) as i32)
        } else {
            scale
        };
    }
}

/// The requantization `zant_runtime::qlinear::requantize` documents (ONNX Runtime's
/// `MlasRequantizeOutput`): the sum times the scale in `f32`, clamped in `f32` to the
/// output range around the zero point, rounded half to even, plus the zero point.
fn requantize(acc: i32, scale: f32, zero: i32, (min, max): (i32, i32)) -> i32 {
    let v = acc as f32 * scale;
    let (lo, hi) = ((min - zero) as f32, (max - zero) as f32);
    let v = if v >= lo { v } else { lo };
    let v = if v <= hi { v } else { hi };
    (round_half_even(v) + zero).clamp(min, max)
}

/// `v` (within ±2^22) rounded to the nearest integer, ties to the even one.
fn round_half_even(v: f32) -> i32 {
    let floor = libm::floorf(v);
    // Exact: both lie within 2^23, where `f32` holds every half.
    let fraction = v - floor;
    let below = floor as i32;
    if fraction > 0.5 || (fraction == 0.5 && below % 2 != 0) {
        below + 1
    } else {
        below
    }
}

/// Fills a scratch buffer with the leftovers of another layer, different for each run.
fn dirty(scratch: &mut [f32], run: u32) {
    scratch.fill(f32::from_bits(0x5a5a_5a5a ^ run.wrapping_mul(0x0101_0101)));
}

/// Whether `qconv2d_im2col` takes its VNNI kernels (`qconv/quads.rs`, the only ones
/// that read the AMX switch) for weights of type `W` with zero points `w_zero`, where
/// the build has them: signed weights, every zero point 0.
fn takes_vnni<W: QInt>(w_zero: &[i32]) -> bool {
    W::MIN == -128 && w_zero.iter().all(|&z| z == 0)
}

/// The AMX switch (`zant_runtime::dsp::amx`), where this build has it: the settings to
/// run a path under, and the count of runs under each.
#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    target_feature = "avx512vnni",
    target_feature = "avx512vl"
))]
mod switch {
    use core::sync::atomic::{AtomicUsize, Ordering};

    use zant_runtime::dsp::amx;

    use super::AmxCoverage;

    static ALLOWED: AtomicUsize = AtomicUsize::new(0);
    static TILE_SHAPED: AtomicUsize = AtomicUsize::new(0);
    static FORCED_OFF: AtomicUsize = AtomicUsize::new(0);

    /// The settings to run a path under: the tiles allowed, and forced off, where the
    /// path reads the switch and the host has the tiles; as it is otherwise.
    pub fn settings(reads: bool) -> &'static [bool] {
        if reads && amx::available() {
            &[true, false]
        } else {
            &[true]
        }
    }

    /// Sets the switch for a run, and counts the run where the setting matters.
    pub fn set(allowed: bool, reads: bool, tile_shaped: bool) {
        amx::set_enabled(allowed);
        if !(reads && amx::available()) {
            return;
        }
        if allowed {
            ALLOWED.fetch_add(1, Ordering::Relaxed);
            if tile_shaped {
                TILE_SHAPED.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            FORCED_OFF.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Back to the default: the tiles allowed.
    pub fn reset() {
        amx::set_enabled(true);
    }

    pub fn coverage() -> AmxCoverage {
        AmxCoverage {
            built: true,
            available: amx::available(),
            allowed: ALLOWED.load(Ordering::Relaxed),
            tile_shaped: TILE_SHAPED.load(Ordering::Relaxed),
            forced_off: FORCED_OFF.load(Ordering::Relaxed),
        }
    }
}

/// Without the switch: every path runs once, as it is.
#[cfg(not(all(
    target_arch = "x86_64",
    target_os = "linux",
    target_feature = "avx512vnni",
    target_feature = "avx512vl"
)))]
mod switch {
    use super::AmxCoverage;

    pub fn settings(_: bool) -> &'static [bool] {
        &[true]
    }

    pub fn set(_: bool, _: bool, _: bool) {}

    pub fn reset() {}

    pub fn coverage() -> AmxCoverage {
        AmxCoverage {
            built: false,
            available: false,
            allowed: 0,
            tile_shaped: 0,
            forced_off: 0,
        }
    }
}

/// The multiply-accumulates of one run of `p`.
fn macs(p: &Conv2d) -> usize {
    p.batch * p.c_out * p.h_out * p.w_out * (p.c_in / p.groups) * p.k_h * p.k_w
}

/// `p` with its outputs recomputed for the pads `(top, bottom, left, right)`, if it is a
/// valid geometry whose buffers and scratch fit and whose runs stay within
/// [`MAX_MACS`].
fn fitted(p: Conv2d, pads: Pads) -> Option<Conv2d> {
    let p = padded(p, pads)?;
    let depth = p.c_in / p.groups * p.k_h * p.k_w;
    let fits = p.batch * p.c_in * p.h_in * p.w_in <= BUFFER_LEN
        && p.c_out * depth <= BUFFER_LEN
        && p.batch * p.c_out * p.h_out * p.w_out <= BUFFER_LEN
        // Zero points, folded biases and tap sums, one each per channel.
        && 3 * p.c_out <= BUFFER_LEN
        && qconv2d_im2col_scratch_len(&p) <= BUFFER_LEN
        && qconv2d_depthwise_scratch_len(&p, true) <= BUFFER_LEN
        && macs(&p) <= MAX_MACS;
    fits.then_some(p)
}

/// A channel count: one of [`CHANNELS`] half the time, any small one otherwise.
fn channels(rng: &mut Rng) -> usize {
    if rng.one_in(2) {
        CHANNELS[rng.range(0, CHANNELS.len() - 1)]
    } else {
        rng.range(1, 24)
    }
}

impl Family for QConv {
    type Case = Case;
    const NAME: &'static str = "conv int8";
    /// The `i16`-pair kernel's gather (`qconv2d_im2col` for `u8` weights or nonzero
    /// weight zero points, and for all weights on SIMD targets without AVX-512 VNNI)
    /// indexes past its block where a block ends a position into an output row whose
    /// first two outputs are padding for some tap (a left pad of 2): a 5 × 5 "same"
    /// convolution 23 columns wide, whose 24-position blocks end one position into a
    /// row, and what the shrinker made of it. Fixed in `gather` (runtime/src/qconv.rs),
    /// whose inside run now starts no later than the block ends.
    const FIXTURES: &'static [Case] = &[
        Case {
            p: Conv2d {
                batch: 1,
                c_in: 3,
                h_in: 6,
                w_in: 23,
                c_out: 2,
                h_out: 6,
                w_out: 23,
                k_h: 5,
                k_w: 5,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 2,
                pad_left: 2,
                groups: 1,
            },
            x: Elem::U8,
            w: Elem::U8,
            y: ConvOut::U8,
            x_zero: 3,
            w_zero: Zeros::Zero,
            y_zero: 0,
            bias: true,
            per_channel_scales: false,
            values: Values::Uniform,
            seed: 1,
        },
        Case {
            p: Conv2d {
                batch: 1,
                c_in: 1,
                h_in: 2,
                w_in: 23,
                c_out: 1,
                h_out: 4,
                w_out: 23,
                k_h: 3,
                k_w: 5,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 2,
                pad_left: 2,
                groups: 1,
            },
            x: Elem::U8,
            w: Elem::U8,
            y: ConvOut::U8,
            x_zero: 3,
            w_zero: Zeros::Zero,
            y_zero: 0,
            bias: false,
            per_channel_scales: false,
            values: Values::Uniform,
            seed: 1,
        },
    ];

    fn draw(rng: &mut Rng) -> Case {
        loop {
            // 0 depthwise, 1 grouped (channel multipliers among them), 2 pointwise,
            // 3 stride 1 with rows as wide as the input's (the VNNI and AMX frames),
            // 4 any window; depthwise most often, for the many conditions of its kernels.
            let shape = match rng.range(0, 9) {
                0..=2 => 0,
                3 => 1,
                4 => 2,
                5 | 6 => 3,
                _ => 4,
            };
            let (groups, c_in, c_out) = match shape {
                0 => {
                    let c = channels(rng);
                    (c, c, c)
                }
                1 => {
                    if rng.one_in(3) {
                        let g = channels(rng).max(2);
                        (g, g, g * rng.range(2, 3))
                    } else {
                        let g = rng.range(2, 4);
                        (g, g * rng.range(1, 8), g * rng.range(1, 20))
                    }
                }
                _ => (1, channels(rng), channels(rng)),
            };
            let (k_h, k_w) = match shape {
                2 => (1, 1),
                0 if rng.one_in(12) => (rng.range(6, 7), rng.range(6, 7)),
                _ => {
                    let k = rng.range(1, 5);
                    (k, if rng.one_in(4) { rng.range(1, 5) } else { k })
                }
            };
            let stride = if shape >= 2 { 1 } else { rng.range(1, 2) };
            let stride_w = if shape < 2 && rng.one_in(4) {
                rng.range(1, 2)
            } else {
                stride
            };
            let (dil_h, dil_w) = if shape != 2 && rng.one_in(5) {
                (2, if rng.one_in(3) { 1 } else { 2 })
            } else {
                (1, 1)
            };
            let mut p = Conv2d {
                batch: if rng.one_in(8) { 2 } else { 1 },
                c_in,
                h_in: rng.range(1, 14),
                w_in: rng.range(1, 40),
                c_out,
                h_out: 0,
                w_out: 0,
                k_h,
                k_w,
                stride_h: stride,
                stride_w,
                dil_h,
                dil_w,
                pad_top: 0,
                pad_left: 0,
                groups,
            };
            // Planes small enough for the channels, so that wide layers stay in budget.
            let per_position = c_out * (c_in / groups) * k_h * k_w;
            while p.h_in * p.w_in * per_position > 2 * MAX_MACS && p.h_in * p.w_in > 1 {
                if p.w_in >= p.h_in {
                    p.w_in = p.w_in.div_ceil(2);
                } else {
                    p.h_in = p.h_in.div_ceil(2);
                }
            }
            let pad = |rng: &mut Rng, k: usize| {
                if rng.one_in(3) {
                    0
                } else {
                    rng.range(0, k / 2 + 1)
                }
            };
            let pads = match shape {
                2 => (0, 0, 0, 0),
                3 => {
                    // As wide as the input: the row's pads add up to the window's span.
                    let span = dil_w * (k_w - 1);
                    let left = if rng.one_in(2) {
                        span / 2
                    } else {
                        span.div_ceil(2)
                    };
                    (pad(rng, k_h), pad(rng, k_h), left, span - left)
                }
                _ => (pad(rng, k_h), pad(rng, k_h), pad(rng, k_w), pad(rng, k_w)),
            };
            let Some(p) = fitted(p, pads) else {
                continue;
            };
            let (x, w) = (Elem::draw(rng), Elem::draw(rng));
            let y = match rng.range(0, 4) {
                0 => ConvOut::I32,
                1 | 2 => ConvOut::U8,
                _ => ConvOut::I8,
            };
            let y_zero = match y {
                ConvOut::U8 => zero_point(rng, (0, 255)),
                ConvOut::I8 => zero_point(rng, (-128, 127)),
                ConvOut::I32 => 0,
            };
            return Case {
                p,
                x,
                w,
                y,
                x_zero: zero_point(rng, x.bounds()),
                w_zero: Zeros::draw(rng, w),
                y_zero,
                // ConvInteger has no bias and no scales.
                bias: y != ConvOut::I32 && !rng.one_in(4),
                per_channel_scales: y != ConvOut::I32 && rng.one_in(2),
                values: Values::draw(rng),
                seed: rng.next_u64(),
            };
        }
    }

    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let pads = pads_of(&case.p);
        let mut n = 0;
        let mut push = |c: Case, pads: Pads| {
            if n < out.len() {
                if let Some(q) = fitted(c.p, pads) {
                    let c = Case { p: q, ..c };
                    if c != *case {
                        out[n] = c;
                        n += 1;
                    }
                }
            }
        };
        // Simpler data: no bias, one scale, one zero point, uniform values.
        push(
            Case {
                bias: false,
                per_channel_scales: false,
                ..*case
            },
            pads,
        );
        let w_zero = match case.w_zero {
            Zeros::PerChannel => Zeros::Tensor(1),
            Zeros::Tensor(_) | Zeros::ZeroPerChannel => Zeros::Zero,
            Zeros::Zero => Zeros::Zero,
        };
        push(
            Case {
                w_zero,
                values: Values::Uniform,
                ..*case
            },
            pads,
        );
        for (q, pads) in smaller(&case.p) {
            push(Case { p: q, ..*case }, pads);
        }
        n
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        match (case.x, case.w) {
            (Elem::U8, Elem::U8) => check_conv::<u8, u8>(case, bufs),
            (Elem::U8, Elem::I8) => check_conv::<u8, i8>(case, bufs),
            (Elem::I8, Elem::U8) => check_conv::<i8, u8>(case, bufs),
            (Elem::I8, Elem::I8) => check_conv::<i8, i8>(case, bufs),
        }
    }
}

/// A convolution's operands, as the compiler passes them, with what the reference and
/// the tap walker need besides.
struct ConvOperands<'a, X, W> {
    p: &'a Conv2d,
    x: &'a [X],
    x_zero: i32,
    w: &'a [W],
    /// One zero point, or one per output channel.
    w_zero: &'a [i32],
    /// The model's bias (empty for none).
    bias: &'a [i32],
    /// `bias - x_zero · Σ (w - w_zero)` per channel, as the tap walker takes it.
    folded: &'a [i32],
    /// `Σ (w - w_zero)` per channel, as `conv_integer_runtime_zero` takes it.
    taps: &'a [i32],
    /// The exact sums, bias included.
    acc: &'a [i32],
}

/// Draws the case's data, sums the reference, and checks every path into the case's
/// output type.
fn check_conv<X: QInt, W: QInt>(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
    let p = &case.p;
    let depth = p.c_in / p.groups * p.k_h * p.k_w;
    let (n_x, n_w, n_y) = (
        p.batch * p.c_in * p.h_in * p.w_in,
        p.c_out * depth,
        p.batch * p.c_out * p.h_out * p.w_out,
    );
    let Buffers {
        w2,
        bias: scales,
        got,
        scratch,
        xq,
        wq,
        wantq,
        gotq,
        bias_i32,
        scratch_i32,
        ..
    } = bufs;
    let mut rng = Rng::new(case.seed);
    let (zeros, rest) = scratch_i32.split_at_mut(p.c_out);
    let (folded, rest) = rest.split_at_mut(p.c_out);
    let taps = &mut rest[..p.c_out];
    let n_zeros = case.w_zero.fill(&mut rng, case.w.bounds(), zeros);
    let w_zero = &zeros[..n_zeros];
    let zero_of = |oc: usize| w_zero[if n_zeros == 1 { 0 } else { oc }];
    fill_bytes(
        &mut rng,
        case.values,
        case.x.bounds(),
        &|_| case.x_zero,
        &mut xq[..n_x],
    );
    fill_bytes(
        &mut rng,
        case.values,
        case.w.bounds(),
        &|i| zero_of(i / depth.max(1)),
        &mut wq[..n_w],
    );
    let bias = if case.bias {
        fill_bias(&mut rng, &mut bias_i32[..p.c_out]);
        &bias_i32[..p.c_out]
    } else {
        &bias_i32[..0]
    };
    let x: &[X] = bytemuck::cast_slice(&xq[..n_x]);
    let w: &[W] = bytemuck::cast_slice(&wq[..n_w]);
    for oc in 0..p.c_out {
        let sum: i64 = w[oc * depth..][..depth]
            .iter()
            .map(|&v| i64::from(v.to_i32() - zero_of(oc)))
            .sum();
        taps[oc] = sum as i32;
        let b = bias.get(oc).map_or(0, |&b| i64::from(b));
        folded[oc] = (b - i64::from(case.x_zero) * sum) as i32;
    }
    let acc: &mut [i32] = bytemuck::cast_slice_mut(&mut w2[..n_y]);
    conv_reference(p, x, case.x_zero, w, &zero_of, bias, acc);
    let ops = ConvOperands {
        p,
        x,
        x_zero: case.x_zero,
        w,
        w_zero,
        bias,
        folded,
        taps,
        acc,
    };
    let plane = p.h_out * p.w_out;
    let channel = |i: usize| (i / plane.max(1)) % p.c_out;
    let scales = &mut scales[..p.c_out];
    match case.y {
        ConvOut::U8 => {
            let n_scales = conv_scales(&mut rng, case, &ops, &channel, scales);
            let rq = Requant {
                scale: &scales[..n_scales],
                zero: case.y_zero,
            };
            let (want, got) = (&mut wantq[..n_y], &mut gotq[..n_y]);
            requantize_all::<u8>(ops.acc, rq, &channel, bytemuck::cast_slice_mut(want));
            let (want, got) = (bytemuck::cast_slice(want), bytemuck::cast_slice_mut(got));
            conv_paths::<X, W, u8>(&ops, rq, &mut rng, scratch, want, got)?;
            in_place_paths::<X, W, u8>(&ops, rq, scratch, want, got)
        }
        ConvOut::I8 => {
            let n_scales = conv_scales(&mut rng, case, &ops, &channel, scales);
            let rq = Requant {
                scale: &scales[..n_scales],
                zero: case.y_zero,
            };
            let (want, got) = (&mut wantq[..n_y], &mut gotq[..n_y]);
            requantize_all::<i8>(ops.acc, rq, &channel, bytemuck::cast_slice_mut(want));
            let (want, got) = (bytemuck::cast_slice(want), bytemuck::cast_slice_mut(got));
            conv_paths::<X, W, i8>(&ops, rq, &mut rng, scratch, want, got)?;
            in_place_paths::<X, W, i8>(&ops, rq, scratch, want, got)
        }
        ConvOut::I32 => {
            // ConvInteger: the sums as they are, as the compiler emits it.
            let rq = Requant {
                scale: &[1.0],
                zero: 0,
            };
            let got: &mut [i32] = bytemuck::cast_slice_mut(&mut got[..n_y]);
            conv_paths::<X, W, i32>(&ops, rq, &mut rng, scratch, ops.acc, got)?;
            // ConvInteger whose input zero point comes at run time, without a bias.
            if ops.bias.is_empty() {
                let zero = [X::saturate(ops.x_zero)];
                compare_exact("conv_integer_runtime_zero", got, ops.acc, &mut |y| {
                    qlinear::conv_integer_runtime_zero(p, x, &zero, w, w_zero, ops.taps, y)
                })
            } else {
                Ok(())
            }
        }
    }
}

/// The exact convolution: `acc = bias + Σ (x - x_zero) · (w - w_zero[oc])`, padding
/// contributing nothing, in `i64` and then wrapped to `i32` as the kernels' sums wrap.
fn conv_reference<X: QInt, W: QInt>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[W],
    w_zero: &dyn Fn(usize) -> i32,
    bias: &[i32],
    acc: &mut [i32],
) {
    let (c_in_g, c_out_g) = (p.c_in / p.groups, p.c_out / p.groups);
    for b in 0..p.batch {
        for oc in 0..p.c_out {
            let (g, wz) = (oc / c_out_g, w_zero(oc));
            for oh in 0..p.h_out {
                for ow in 0..p.w_out {
                    let mut sum = bias.get(oc).map_or(0, |&b| i64::from(b));
                    for ci in 0..c_in_g {
                        let c = g * c_in_g + ci;
                        for kh in 0..p.k_h {
                            let ih = (oh * p.stride_h + kh * p.dil_h) as isize - p.pad_top as isize;
                            if ih < 0 || ih >= p.h_in as isize {
                                continue;
                            }
                            for kw in 0..p.k_w {
                                let iw =
                                    (ow * p.stride_w + kw * p.dil_w) as isize - p.pad_left as isize;
                                if iw < 0 || iw >= p.w_in as isize {
                                    continue;
                                }
                                let xv = x[((b * p.c_in + c) * p.h_in + ih as usize) * p.w_in
                                    + iw as usize]
                                    .to_i32();
                                let wv = w[((oc * c_in_g + ci) * p.k_h + kh) * p.k_w + kw].to_i32();
                                sum += i64::from((xv - x_zero) * (wv - wz));
                            }
                        }
                    }
                    acc[((b * p.c_out + oc) * p.h_out + oh) * p.w_out + ow] = sum as i32;
                }
            }
        }
    }
}

/// The convolution's scales, from the peaks of its sums (see [`scales_from_peaks`]):
/// one per output channel or one for all; returns how many.
fn conv_scales<X, W>(
    rng: &mut Rng,
    case: &Case,
    ops: &ConvOperands<'_, X, W>,
    channel: &dyn Fn(usize) -> usize,
    scales: &mut [f32],
) -> usize {
    scales.fill(0.0);
    for (i, &a) in ops.acc.iter().enumerate() {
        let c = if case.per_channel_scales {
            channel(i)
        } else {
            0
        };
        scales[c] = scales[c].max(a.unsigned_abs() as f32);
    }
    let n = if case.per_channel_scales {
        scales.len()
    } else {
        1
    };
    scales_from_peaks(rng, &mut scales[..n]);
    n
}

/// `want[i]`: sum `i` requantized to `Y` with its channel's scale (`channel(i)`).
fn requantize_all<Y: QInt>(
    acc: &[i32],
    rq: Requant<'_>,
    channel: &dyn Fn(usize) -> usize,
    want: &mut [Y],
) {
    for (i, (out, &a)) in want.iter_mut().zip(acc).enumerate() {
        let scale = rq.scale[if rq.scale.len() == 1 { 0 } else { channel(i) }];
        *out = Y::saturate(requantize(a, scale, rq.zero, (Y::MIN, Y::MAX)));
    }
}

/// Every path of the convolution into outputs of `Y`, each against `want`: the tap
/// walker with the folded bias; `qconv2d_im2col` at the promised scratch, the most it
/// takes (within [`BUFFER_LEN`]), a short one drawn from the case and none, each with the
/// AMX tiles allowed and forced off where it reads the switch; and, for depthwise
/// geometries, `qconv2d_depthwise` at any target's scratch, a frame's, a short one and
/// none. Lengths that coincide run once.
fn conv_paths<X: QInt, W: QInt, Y: QOut + Output>(
    ops: &ConvOperands<'_, X, W>,
    rq: Requant<'_>,
    rng: &mut Rng,
    scratch: &mut [f32],
    want: &[Y],
    got: &mut [Y],
) -> Result<(), Mismatch> {
    let ConvOperands {
        p,
        x,
        x_zero,
        w,
        w_zero,
        bias,
        ..
    } = *ops;
    compare_exact("qlinear::qconv2d, the bias folded", got, want, &mut |y| {
        qlinear::qconv2d(p, x, x_zero, w, w_zero, ops.folded, rq, y)
    })?;
    let depth = p.c_in / p.groups * p.k_h * p.k_w;
    let promised = qconv2d_im2col_scratch_len(p);
    let most = qconv2d_im2col_scratch_max_len(p).min(BUFFER_LEN);
    // Short: anywhere below the promise, or near the lengths where one tile of positions
    // stops fitting (a few words per reduction term).
    let short = match promised {
        0 | 1 => 0,
        _ if rng.one_in(2) => rng.range(1, promised - 1),
        _ => rng.range(1, (8 * depth).clamp(1, promised - 1)),
    };
    let reads = takes_vnni::<W>(w_zero);
    let tile_shaped = p.c_out / p.groups >= 16;
    let lens = [promised, most, short, 0];
    let mut run = 0u32;
    for (i, &len) in lens.iter().enumerate() {
        if lens[..i].contains(&len) {
            continue;
        }
        for &allowed in switch::settings(reads) {
            switch::set(allowed, reads, tile_shaped);
            let s = &mut scratch[..len];
            dirty(s, run);
            run += 1;
            let path = IM2COL[i][usize::from(!allowed)];
            let result = compare_exact(path, got, want, &mut |y| {
                qconv2d_im2col(p, x, x_zero, w, w_zero, bias, rq, s, y)
            });
            switch::reset();
            result?;
        }
    }
    if !qconv2d_is_depthwise(p) {
        return Ok(());
    }
    let any = qconv2d_depthwise_scratch_len(p, Y::REQUANTIZED.is_some());
    let frame = qconv2d_depthwise_scratch_len(p, false);
    let short = if any > 1 { rng.range(1, any - 1) } else { 0 };
    let lens = [any, frame, short, 0];
    for (i, &len) in lens.iter().enumerate() {
        if lens[..i].contains(&len) {
            continue;
        }
        let s = &mut scratch[..len];
        dirty(s, run);
        run += 1;
        compare_exact(DEPTHWISE[i], got, want, &mut |y| {
            qconv2d_depthwise(p, x, x_zero, w, w_zero, bias, rq, s, y)
        })?;
    }
    Ok(())
}

/// `qconv2d_depthwise_in_place` against `want`, where the input and output share their
/// 8-bit type `Y`: the buffer after the kernel's scratch, the input `shift` elements in
/// (the least shift and one more). Nothing for other geometries and type pairs.
fn in_place_paths<X: QInt, W: QInt, Y: QInt + QOut + Output>(
    ops: &ConvOperands<'_, X, W>,
    rq: Requant<'_>,
    scratch: &mut [f32],
    want: &[Y],
    got: &mut [Y],
) -> Result<(), Mismatch> {
    let ConvOperands {
        p,
        x,
        x_zero,
        w,
        w_zero,
        bias,
        ..
    } = *ops;
    let same_type = core::any::type_name::<X>() == core::any::type_name::<Y>();
    if !same_type || !qconv2d_is_depthwise(p) || !depthwise_in_place_fits(p) {
        return Ok(());
    }
    let any = qconv2d_depthwise_scratch_len(p, true);
    let (s, rest) = scratch.split_at_mut(any);
    let rest: &mut [Y] = bytemuck::cast_slice_mut(rest);
    let least = depthwise_in_place_shift(p);
    for shift in [least, least + 1] {
        let Some(buf) = rest.get_mut(..depthwise_in_place_len(p, shift)) else {
            continue;
        };
        compare_exact("qconv2d_depthwise_in_place", got, want, &mut |y| {
            buf[shift..].copy_from_slice(bytemuck::cast_slice(x));
            qconv2d_depthwise_in_place(p, buf, shift, x_zero, w, w_zero, bias, rq, s);
            y.copy_from_slice(&buf[..y.len()]);
        })?;
    }
    Ok(())
}

/// The most multiply-accumulates of a drawn matrix product.
const MAX_MATMUL_MACS: usize = 300_000;

/// Depths worth drawing: around the 4-byte words, the 32-byte VNNI chunks and the
/// 64-byte `VPDPBUSD` rows.
const DEPTHS: [usize; 16] = [1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 63, 64, 65, 128, 129, 300];

/// Column counts worth drawing: around the 8-row VNNI groups, the 32-column tiles and
/// the 64-column runs.
const COLUMNS: [usize; 14] = [1, 2, 3, 7, 8, 9, 15, 17, 31, 32, 33, 63, 64, 65];

/// The sizes of a matrix product's `a`, `b` and `y`.
fn matmul_sizes(p: &Product) -> (usize, usize, usize) {
    let b_count = if p.b_batched { p.batch } else { 1 };
    (
        p.batch * p.m * p.k,
        b_count * p.k * p.n,
        p.batch * p.m * p.n,
    )
}

/// Whether `p` is a valid product whose buffers fit and whose run stays within
/// [`MAX_MATMUL_MACS`].
fn matmul_fits(p: &Product) -> bool {
    let (n_a, n_b, n_y) = matmul_sizes(p);
    p.batch >= 1
        && p.m >= 1
        && p.k >= 1
        && p.n >= 1
        && (p.batch > 1 || !p.b_batched)
        && n_a <= BUFFER_LEN
        && n_b <= BUFFER_LEN
        && n_y <= BUFFER_LEN
        && 2 * p.n <= BUFFER_LEN
        && p.batch * p.m * p.n * p.k <= MAX_MATMUL_MACS
}

impl Family for QMatMul {
    type Case = MatMulCase;
    const NAME: &'static str = "matmul int8";
    const FIXTURES: &'static [MatMulCase] = &[];

    fn draw(rng: &mut Rng) -> MatMulCase {
        loop {
            let batch = if rng.one_in(4) { rng.range(2, 3) } else { 1 };
            let p = Product {
                batch,
                m: if rng.one_in(4) {
                    rng.range(9, 24)
                } else {
                    rng.range(1, 8)
                },
                k: if rng.one_in(2) {
                    DEPTHS[rng.range(0, DEPTHS.len() - 1)]
                } else {
                    rng.range(1, 200)
                },
                n: if rng.one_in(2) {
                    COLUMNS[rng.range(0, COLUMNS.len() - 1)]
                } else {
                    rng.range(1, 80)
                },
                b_transposed: rng.one_in(2),
                b_batched: batch > 1 && rng.one_in(2),
            };
            if !matmul_fits(&p) {
                continue;
            }
            let (a, b) = (Elem::draw(rng), Elem::draw(rng));
            let y = match rng.range(0, 5) {
                0 => MatMulOut::I32,
                1 => MatMulOut::F32,
                2 | 3 => MatMulOut::U8,
                _ => MatMulOut::I8,
            };
            let y_zero = match y {
                MatMulOut::U8 => zero_point(rng, (0, 255)),
                MatMulOut::I8 => zero_point(rng, (-128, 127)),
                MatMulOut::I32 | MatMulOut::F32 => 0,
            };
            let bias = match (y, rng.range(0, 2)) {
                // MatMulInteger has no bias.
                (MatMulOut::I32, _) | (_, 0) => Bias::None,
                (_, 1) => Bias::One,
                _ => Bias::PerColumn,
            };
            return MatMulCase {
                p,
                a,
                b,
                y,
                a_zero: zero_point(rng, a.bounds()),
                b_zero: Zeros::draw(rng, b),
                y_zero,
                bias,
                per_column_scales: y != MatMulOut::I32 && rng.one_in(2),
                values: Values::draw(rng),
                seed: rng.next_u64(),
            };
        }
    }

    fn shrink(case: &MatMulCase, out: &mut [MatMulCase; 16]) -> usize {
        let p = case.p;
        let dec = |v: usize| v.saturating_sub(1).max(1);
        let batch = dec(p.batch);
        let shapes = [
            Product {
                batch,
                b_batched: p.b_batched && batch > 1,
                ..p
            },
            Product { m: dec(p.m), ..p },
            Product { k: dec(p.k), ..p },
            Product { k: p.k / 2, ..p },
            Product { n: dec(p.n), ..p },
            Product { n: p.n / 2, ..p },
            Product {
                b_batched: false,
                ..p
            },
        ];
        let b_zero = match case.b_zero {
            Zeros::PerChannel => Zeros::Tensor(1),
            Zeros::Tensor(_) | Zeros::ZeroPerChannel | Zeros::Zero => Zeros::Zero,
        };
        let simpler = [
            MatMulCase {
                bias: Bias::None,
                per_column_scales: false,
                ..*case
            },
            MatMulCase { b_zero, ..*case },
            MatMulCase {
                a_zero: 0,
                values: Values::Uniform,
                ..*case
            },
        ];
        let candidates = shapes
            .iter()
            .map(|&q| MatMulCase { p: q, ..*case })
            .chain(simpler);
        let mut n = 0;
        for c in candidates {
            if n < out.len() && matmul_fits(&c.p) && c != *case {
                out[n] = c;
                n += 1;
            }
        }
        n
    }

    fn check(case: &MatMulCase, bufs: &mut Buffers) -> Result<(), Mismatch> {
        match (case.a, case.b) {
            (Elem::U8, Elem::U8) => check_matmul::<u8, u8>(case, bufs),
            (Elem::U8, Elem::I8) => check_matmul::<u8, i8>(case, bufs),
            (Elem::I8, Elem::U8) => check_matmul::<i8, u8>(case, bufs),
            (Elem::I8, Elem::I8) => check_matmul::<i8, i8>(case, bufs),
        }
    }
}

/// Draws the product's data, sums the reference, and checks `qmatmul` into the case's
/// output type: with the input zero point as drawn and, where the compiler folds it (a
/// constant, unbatched `b`), with its share folded into a per-column bias and 0 passed.
fn check_matmul<A: QInt, B: QInt>(case: &MatMulCase, bufs: &mut Buffers) -> Result<(), Mismatch> {
    let p = case.p;
    let (n_a, n_b, n_y) = matmul_sizes(&p);
    let Buffers {
        w2,
        bias: scales,
        want,
        got,
        xq,
        wq,
        wantq,
        gotq,
        bias_i32,
        scratch_i32,
        ..
    } = bufs;
    let mut rng = Rng::new(case.seed);
    let (zeros, rest) = scratch_i32.split_at_mut(p.n);
    let folded = &mut rest[..p.n];
    let n_zeros = case.b_zero.fill(&mut rng, case.b.bounds(), zeros);
    let b_zero = &zeros[..n_zeros];
    let zero_of = |j: usize| b_zero[if n_zeros == 1 { 0 } else { j }];
    // Element `i` of `b` is in column `i % n`, or `i / k` transposed.
    let column = |i: usize| {
        if p.b_transposed {
            (i / p.k) % p.n
        } else {
            i % p.n
        }
    };
    fill_bytes(
        &mut rng,
        case.values,
        case.a.bounds(),
        &|_| case.a_zero,
        &mut xq[..n_a],
    );
    fill_bytes(
        &mut rng,
        case.values,
        case.b.bounds(),
        &|i| zero_of(column(i)),
        &mut wq[..n_b],
    );
    let bias = match case.bias {
        Bias::None => &bias_i32[..0],
        Bias::One => {
            fill_bias(&mut rng, &mut bias_i32[..1]);
            &bias_i32[..1]
        }
        Bias::PerColumn => {
            fill_bias(&mut rng, &mut bias_i32[..p.n]);
            &bias_i32[..p.n]
        }
    };
    let bias_at = |j: usize| match bias.len() {
        0 => 0,
        1 => bias[0],
        _ => bias[j],
    };
    let a: &[A] = bytemuck::cast_slice(&xq[..n_a]);
    let b: &[B] = bytemuck::cast_slice(&wq[..n_b]);
    let b_at = |bi: usize, kk: usize, j: usize| {
        let at = if p.b_batched { bi * p.k * p.n } else { 0 };
        let i = if p.b_transposed {
            j * p.k + kk
        } else {
            kk * p.n + j
        };
        b[at + i].to_i32()
    };
    // The exact sums.
    let acc: &mut [i32] = bytemuck::cast_slice_mut(&mut w2[..n_y]);
    for bi in 0..p.batch {
        for i in 0..p.m {
            for j in 0..p.n {
                let mut sum = i64::from(bias_at(j));
                for kk in 0..p.k {
                    let av = a[(bi * p.m + i) * p.k + kk].to_i32() - case.a_zero;
                    sum += i64::from(av * (b_at(bi, kk, j) - zero_of(j)));
                }
                acc[(bi * p.m + i) * p.n + j] = sum as i32;
            }
        }
    }
    let acc = &*acc;
    // The compiler's fold: `bias - a_zero · Σ_k (b - b_zero)` per column.
    let fold = !p.b_batched && case.a_zero != 0;
    if fold {
        for (j, f) in folded.iter_mut().enumerate() {
            let column: i64 = (0..p.k)
                .map(|kk| i64::from(b_at(0, kk, j) - zero_of(j)))
                .sum();
            *f = (i64::from(bias_at(j)) - i64::from(case.a_zero) * column) as i32;
        }
    }
    let ops = MatMulOperands {
        a,
        b,
        b_zero,
        bias,
        folded: if fold { &folded[..] } else { &folded[..0] },
    };
    let column_of = |i: usize| i % p.n;
    let n_scales = if case.per_column_scales { p.n } else { 1 };
    let scales = &mut scales[..n_scales];
    scales.fill(0.0);
    for (i, &v) in acc.iter().enumerate() {
        let c = if case.per_column_scales {
            column_of(i)
        } else {
            0
        };
        scales[c] = scales[c].max(v.unsigned_abs() as f32);
    }
    scales_from_peaks(&mut rng, scales);
    let scales = &*scales;
    let rq = Requant {
        scale: scales,
        zero: case.y_zero,
    };
    match case.y {
        MatMulOut::U8 => {
            let (want, got) = (&mut wantq[..n_y], &mut gotq[..n_y]);
            requantize_all::<u8>(acc, rq, &column_of, bytemuck::cast_slice_mut(want));
            matmul_paths::<A, B, u8>(
                case,
                &ops,
                rq,
                bytemuck::cast_slice(want),
                bytemuck::cast_slice_mut(got),
            )
        }
        MatMulOut::I8 => {
            let (want, got) = (&mut wantq[..n_y], &mut gotq[..n_y]);
            requantize_all::<i8>(acc, rq, &column_of, bytemuck::cast_slice_mut(want));
            matmul_paths::<A, B, i8>(
                case,
                &ops,
                rq,
                bytemuck::cast_slice(want),
                bytemuck::cast_slice_mut(got),
            )
        }
        MatMulOut::I32 => {
            // MatMulInteger: the sums as they are, as the compiler emits it.
            let rq = Requant {
                scale: &[1.0],
                zero: 0,
            };
            let got: &mut [i32] = bytemuck::cast_slice_mut(&mut got[..n_y]);
            matmul_paths::<A, B, i32>(case, &ops, rq, acc, got)
        }
        MatMulOut::F32 => {
            // QGemm without an output scale: each sum times its column's scale, in `f32`.
            let (want, got) = (&mut want[..n_y], &mut got[..n_y]);
            for (i, (o, &v)) in want.iter_mut().zip(acc).enumerate() {
                *o = v as f32 * scales[if n_scales == 1 { 0 } else { column_of(i) }];
            }
            matmul_paths::<A, B, f32>(case, &ops, rq, want, got)
        }
    }
}

/// A matrix product's operands, as the compiler passes them.
struct MatMulOperands<'a, A, B> {
    a: &'a [A],
    b: &'a [B],
    /// One zero point, or one per column.
    b_zero: &'a [i32],
    /// The bias: none, one for all columns, or one per column.
    bias: &'a [i32],
    /// The bias with the input zero point's share folded in, one per column, where the
    /// compiler folds it (a nonzero `a_zero`, an unbatched `b`); empty otherwise.
    folded: &'a [i32],
}

/// `qmatmul` into outputs of `Y` against `want`: with the drawn input zero point and,
/// where the compiler folds it, with the fold.
fn matmul_paths<A: QInt, B: QInt, Y: QOut + Output>(
    case: &MatMulCase,
    ops: &MatMulOperands<'_, A, B>,
    rq: Requant<'_>,
    want: &[Y],
    got: &mut [Y],
) -> Result<(), Mismatch> {
    let p = case.p;
    let MatMulOperands {
        a,
        b,
        b_zero,
        bias,
        folded,
    } = *ops;
    compare_exact("qmatmul", got, want, &mut |y| {
        qlinear::qmatmul(&p, a, case.a_zero, b, b_zero, bias, rq, y)
    })?;
    if !folded.is_empty() {
        compare_exact(
            "qmatmul, a_zero folded into the bias",
            got,
            want,
            &mut |y| qlinear::qmatmul(&p, a, 0, b, b_zero, folded, rq, y),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference rule on the cases `zant_runtime::qlinear`'s own test states, and
    /// on ties of both signs.
    #[test]
    fn requantize_rounds_half_to_even_and_saturates() {
        assert_eq!(requantize(5, 0.5, 10, (0, 255)), 12);
        assert_eq!(requantize(7, 0.5, 10, (0, 255)), 14);
        assert_eq!(requantize(-5, 0.5, 0, (-128, 127)), -2);
        assert_eq!(requantize(-7, 0.5, 0, (-128, 127)), -4);
        assert_eq!(requantize(-1000, 1.0, 0, (-128, 127)), -128);
        assert_eq!(requantize(1000, 1.0, 100, (0, 255)), 255);
        assert_eq!(requantize(1, f32::NAN, 3, (0, 255)), 0);
    }

    /// Drawn cases fit their buffers, and shrinking only proposes fitting cases that
    /// differ from the one shrunk.
    #[test]
    fn drawn_cases_fit_and_shrink() {
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            let case = QConv::draw(&mut rng);
            assert_eq!(fitted(case.p, pads_of(&case.p)), Some(case.p));
            let mut out = [case; 16];
            let n = QConv::shrink(&case, &mut out);
            assert!(out[..n].iter().all(|c| *c != case));
            let m = QMatMul::draw(&mut rng);
            assert!(matmul_fits(&m.p));
        }
    }
}
