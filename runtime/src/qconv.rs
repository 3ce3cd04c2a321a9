//! Fast integer convolutions for quantized models, with `i32` accumulators and the same
//! requantization as [`crate::qlinear`] (so outputs match ONNX Runtime's to the bit).
//!
//! Two kernels, which the compiler picks per node from its geometry:
//! - [`qconv2d_depthwise`]: one input channel per group. Where the target has SIMD, a
//!   vector holds one position of eight channels (the float kernel's `conv/channels.rs`,
//!   on the input's bytes, with exact `f32` sums). Elsewhere each output channel keeps
//!   its taps (`w - w_zero`) in registers and slides them along the rows of its plane,
//!   framed in `x_zero` when the convolution pads. Both sum raw activations against a
//!   per-channel base `B - x_zero · Σ w'`.
//! - [`qconv2d_im2col`]: everything else (pointwise, dense k×k, strided, grouped). A
//!   block of output positions is gathered once into the arena scratch as `x - x_zero`
//!   in `i16` (padding is 0), and a block of output channels' weights as `w - w_zero`,
//!   both as pairs of consecutive reduction terms packed in one `u32`. A register tile of
//!   output channels × positions then multiplies pairs by pairs: one 8-lane `madd` of
//!   16 products where the target has SIMD (x86-64, AArch64), and on 32-bit Arm two
//!   16 × 16 multiply-accumulates per pair (one `SMLAD` on a Cortex-M with the DSP
//!   extension, [`crate::dsp`]), with no per-element sign extension or zero-point
//!   subtraction in the inner loop.
//!
//! The tile loops are plain functions of `u32` slices, compiled once in `zant-runtime`
//! (so its profile's opt level reaches them) and shared by every layer and element type;
//! only the gathering and the requantizing store are generic.

use crate::conv::channels;
use crate::conv::Conv2d;
use crate::qlinear::{pick, small_products, QInt, QOut, Requant};
use crate::target::KernelSet;
use crate::unroll::unroll;

#[cfg(all(target_arch = "arm", zant_mve))]
mod helium;
// The VNNI kernels also store bytes through AVX-512 BW's masks (`dsp::copy_short`,
// `dsp::store_bytes16`, `dsp::copy_xor`); every CPU with AVX-512 VNNI has BW.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512vl",
    target_feature = "avx512bw"
))]
mod quads;
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512vl",
    target_feature = "avx512bw"
))]
mod windows;

/// Output channels per register tile, on every target.
const OCT: usize = 4;

/// Output positions per register tile: one 8-lane vector, or two scalars on Cortex-M,
/// whose registers hold the 4 × 2 sums, two position words and a weight word (measured on
/// mlperf-kws/vww/ic-int8 with the tile in Rust, 4 × 2 beat 2 × 2, 3 × 2 and 2 × 3 by
/// 1–6 %; the DSP extension's tiles are an `asm!` loop, [`crate::dsp::smlad_block_4x2`],
/// since LLVM spilled two of their sums).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const PT: usize = 2;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const PT: usize = 8;

/// The most output positions a gathered block holds, where the memory plan grants the
/// scratch ([`qconv2d_im2col_scratch_max_len`]): each block widens every output channel's
/// weights once, so more positions share that (mlperf-vww-int8 on the Cortex-M7:
/// 17.41 M instructions with blocks of up to 32, 16.73 M with 64, whose `i32` sums take
/// 1 KiB of stack).
const PB_MAX: usize = 64;

/// The scratch the compiler reserves, the same on every target: room for
/// `SCRATCH_POSITIONS` gathered positions and `SCRATCH_CHANNELS` widened channels. Each
/// target splits it by its own tile ([`block_positions`]): a block widens the weights of
/// every output channel once, so more positions share that cost, but the scratch counts
/// in the arena (mlperf-kws-int8's budget is 20 KB with 16 KB of activations).
const SCRATCH_POSITIONS: usize = 24;
const SCRATCH_CHANNELS: usize = 4;

/// The `f32` words of arena scratch [`qconv2d_im2col`] needs for `p`: `⌈K / 2⌉` packed
/// pairs for each of `SCRATCH_POSITIONS + SCRATCH_CHANNELS` positions and channels,
/// `K = c_in / groups · k_h · k_w`.
pub const fn qconv2d_im2col_scratch_len(p: &Conv2d) -> usize {
    group_depth(p).div_ceil(2) * (SCRATCH_POSITIONS + SCRATCH_CHANNELS)
}

/// The most `f32` words of scratch [`qconv2d_im2col`] uses for `p`: room for
/// `SCRATCH_POSITIONS_MAX` gathered positions. More positions per block share each
/// tile's weight loads and set-up (on x86-64 with VNNI, mobilenet_v2-int8's 16 → 96
/// pointwise layer at 112 × 112 took 254 µs in blocks of 256 positions, 335 µs in blocks
/// of 48); the compiler's memory plan grants it where the arena has the room at that
/// step, and the kernel takes what it is given.
pub const fn qconv2d_im2col_scratch_max_len(p: &Conv2d) -> usize {
    group_depth(p).div_ceil(2) * (SCRATCH_POSITIONS_MAX + SCRATCH_CHANNELS)
}

/// The positions [`qconv2d_im2col_scratch_max_len`] makes room for.
const SCRATCH_POSITIONS_MAX: usize = 256;

/// The positions per gathered block that `words` of scratch allow this target, for
/// `pairs` reduction pairs, with room for [`OCT`] widened channels: whole tiles of
/// [`PT`], at most [`PB_MAX`]; 0 where not even one tile fits, which
/// [`qconv2d_im2col_scratch_len`] always does.
fn block_positions(words: usize, pairs: usize) -> usize {
    let room = (words / pairs.max(1)).saturating_sub(OCT);
    (room / PT * PT).min(PB_MAX)
}

/// Whether [`qconv2d_depthwise`] takes `p`: one input and one output channel per group
/// (more output channels per group share their gathered taps better in
/// [`qconv2d_im2col`]), and a kernel of at most [`DEPTHWISE_MAX_TAPS`] taps.
pub const fn qconv2d_is_depthwise(p: &Conv2d) -> bool {
    p.groups > 1 && p.c_in == p.groups && p.c_out == p.groups && p.k_h * p.k_w <= DEPTHWISE_MAX_TAPS
}

/// The most taps a depthwise kernel keeps on the stack (7 × 7).
pub const DEPTHWISE_MAX_TAPS: usize = 49;

/// The `f32` words of arena scratch [`qconv2d_depthwise`] needs for `p`, the same on every
/// target: for `requantized` outputs (QLinearConv), the channel-vector kernel's band of
/// bytes, which targets with SIMD take; and one input plane with its padding, in bytes,
/// when the convolution pads, which the per-channel kernel takes.
pub const fn qconv2d_depthwise_scratch_len(p: &Conv2d, requantized: bool) -> usize {
    qconv2d_depthwise_scratch_len_for(p, requantized, KernelSet::ANY)
}

/// [`qconv2d_depthwise_scratch_len`] for the targets of `kernels`: the band and the
/// window kernel's frame only where vector kernels run.
pub const fn qconv2d_depthwise_scratch_len_for(
    p: &Conv2d,
    requantized: bool,
    kernels: KernelSet,
) -> usize {
    let frame = frame_bytes(p);
    let band = if requantized && kernels.vector {
        let (band, windows) = (channels::scratch_bytes(p), windows_frame_bytes(p));
        if band > windows {
            band
        } else {
            windows
        }
    } else {
        0
    };
    let bytes = if band > frame { band } else { frame };
    bytes.div_ceil(4)
}

/// The bytes of the window kernel's frame (`qconv/windows.rs`, x86-64 with AVX-512
/// VNNI): the padded plane its outputs reach and the slack its last loads may read.
const fn windows_frame_bytes(p: &Conv2d) -> usize {
    let (rows, cols) = padded_extent(p);
    rows * cols + WINDOWS_SLACK
}

/// The bytes past a frame's last row that a step of the window kernel may read: 32
/// outputs at stride 2 load 32 bytes at byte 34 of their first window.
const WINDOWS_SLACK: usize = 68;

/// The bytes of the per-channel depthwise kernel's padded plane, or 0 when `p` does not
/// pad.
const fn frame_bytes(p: &Conv2d) -> usize {
    let (rows, cols) = padded_extent(p);
    if rows == p.h_in && cols == p.w_in && p.pad_top == 0 && p.pad_left == 0 {
        0
    } else {
        rows * cols
    }
}

/// The rows and columns of input a convolution's outputs reach, padding included.
const fn padded_extent(p: &Conv2d) -> (usize, usize) {
    if p.h_out == 0 || p.w_out == 0 {
        return (0, 0);
    }
    let rows = (p.h_out - 1) * p.stride_h + (p.k_h - 1) * p.dil_h + 1;
    let cols = (p.w_out - 1) * p.stride_w + (p.k_w - 1) * p.dil_w + 1;
    (rows, cols)
}

/// `(lo, hi)` packed into one word: the two `i16` halves of a reduction pair.
#[inline(always)]
fn pack(lo: i32, hi: i32) -> u32 {
    (lo as u16 as u32) | ((hi as u16 as u32) << 16)
}

/// Quantized convolution through gathered blocks (see the module docs):
/// `y[oc] = finish(bias[oc] + Σ (x - x_zero) · (w - w_zero[oc]))`, padding contributing
/// nothing. `bias` is the model's own `i32` bias (empty for none), not folded with the
/// zero points; `w_zero` and `rq.scale` hold one value or one per output channel.
/// `scratch` should hold [`qconv2d_im2col_scratch_len`] words, and takes up to
/// [`qconv2d_im2col_scratch_max_len`]; a shorter one is not an error, but below one
/// tile of positions each output channel goes through the tap walker
/// ([`crate::qlinear::qconv2d`]), slowly. Sums wrap on `i32` overflow rather than panic.
#[allow(clippy::too_many_arguments)]
pub fn qconv2d_im2col<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[W],
    w_zero: &[i32],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    let p = *p;
    if p.groups == 0 || p.batch == 0 {
        return;
    }
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512vnni",
        target_feature = "avx512vl",
        target_feature = "avx512bw"
    ))]
    if quads::applies::<X, W>(x_zero, w_zero) {
        let w: &[i8] = bytemuck::cast_slice(w);
        quads::qconv2d(&p, x, x_zero, w, bias, rq, scratch, y, true);
        return;
    }
    #[cfg(all(target_arch = "arm", zant_mve))]
    if helium::applies::<X, W>(w_zero)
        && helium::qconv2d(&p, x, x_zero, w, bias, rq, &mut *scratch, y)
    {
        return;
    }
    blocks(&p, x, x_zero, Onnx { w, w_zero }, bias, rq, scratch, y);
}

/// Where a convolution's weights are, for [`blocks`]: a type per layout, so that each
/// instance of [`blocks`] holds one layout's code (with an enum matched inside, the
/// Cortex-M7 took 4–11 % more instructions on mlperf-vww/ic-int8).
trait Weights<W> {
    /// [`widen_weights`] of output channels `oc0..oc0 + m`.
    fn widen(&self, p: &Conv2d, depth: usize, oc0: usize, m: usize, wt: &mut [u32]);
    /// [`unblocked`] over every output channel.
    #[allow(clippy::too_many_arguments)]
    fn unblocked<X: QInt, Y: QOut>(
        &self,
        p: &Conv2d,
        x: &[X],
        x_zero: i32,
        bias: &[i32],
        rq: Requant<'_>,
        y: &mut [Y],
    );
}

/// ONNX's `[c_out, c_in / groups, k_h, k_w]` and the weights' zero points.
struct Onnx<'a, W> {
    w: &'a [W],
    w_zero: &'a [i32],
}

impl<W: QInt> Weights<W> for Onnx<'_, W> {
    #[inline(always)]
    fn widen(&self, _p: &Conv2d, depth: usize, oc0: usize, m: usize, wt: &mut [u32]) {
        widen_weights(self.w, self.w_zero, depth, oc0, m, wt);
    }

    #[inline(always)]
    fn unblocked<X: QInt, Y: QOut>(
        &self,
        p: &Conv2d,
        x: &[X],
        x_zero: i32,
        bias: &[i32],
        rq: Requant<'_>,
        y: &mut [Y],
    ) {
        unblocked(p, x, x_zero, self.w, self.w_zero, bias, rq, y);
    }
}

/// The groups of [`qconv2d_pack_framed`] (one group, no zero points).
struct Framed<'a, W>(&'a [W]);

impl<W: QInt> Weights<W> for Framed<'_, W> {
    #[inline(always)]
    fn widen(&self, p: &Conv2d, depth: usize, oc0: usize, m: usize, wt: &mut [u32]) {
        widen_framed(p, self.0, depth, oc0, m, wt);
    }

    #[inline(always)]
    fn unblocked<X: QInt, Y: QOut>(
        &self,
        p: &Conv2d,
        x: &[X],
        x_zero: i32,
        bias: &[i32],
        rq: Requant<'_>,
        y: &mut [Y],
    ) {
        let row = |oc, taps: &mut [W]| framed_row(p, self.0, oc, taps);
        unblocked_rows(p, x, x_zero, row, bias, rq, y);
    }
}

/// The gathered blocks of [`qconv2d_im2col`] (see there), for weights where `rows` says.
/// Inlined into its callers on Cortex-M cores with the DSP extension and without Helium
/// (M4, M7, M33), unless built for size, so that each layer's call in the generated
/// `predict` compiles with its geometry as constants: left to LLVM, which clones a
/// function for constant arguments only up to a budget, the layers it did not clone took
/// up to 27 % more instructions on the Cortex-M7 (beer's first layer), and which ones it
/// cloned changed with unrelated code; forced, beer and mlperf-kws/vww/ic-int8 took
/// 0.7–4.1 % fewer there. On the M0+, M3 and RV32 (no `SMLAD` tile) forcing it took up to
/// 1.6 % more on some of those models and less on others; there, and on the M55, LLVM
/// decides.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(
    all(
        not(zant_size),
        not(zant_mve),
        target_arch = "arm",
        target_feature = "dsp"
    ),
    inline(always)
)]
fn blocks<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    rows: impl Weights<W>,
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    let p = *p;
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    let depth = c_in_group * p.k_h * p.k_w;
    let pairs = depth.div_ceil(2);
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    if pairs == 0 || plane_out == 0 {
        return;
    }
    let words: &mut [u32] = bytemuck::cast_slice_mut(scratch);
    let pb = block_positions(words.len(), pairs);
    if pb == 0 {
        return rows.unblocked(&p, x, x_zero, bias, rq, y);
    }
    let (cols, rest) = words.split_at_mut(pairs * pb);
    let wt = &mut rest[..pairs * OCT];
    let pointwise = crate::conv::is_pointwise(&p);
    let mut acc = [[0i32; PB_MAX]; OCT];
    for b in 0..p.batch {
        for g in 0..p.groups {
            let x_group = &x[(b * p.c_in + g * c_in_group) * plane_in..][..c_in_group * plane_in];
            let mut p0 = 0;
            while p0 < plane_out {
                let n = pb.min(plane_out - p0);
                if pointwise {
                    gather_pointwise(x_group, plane_in, x_zero, p0, n, pb, cols);
                } else if SIMD {
                    gather(&p, x_group, x_zero, p0, n, pb, cols);
                } else {
                    gather_positions(&p, x_group, x_zero, p0, n, pb, cols);
                }
                let mut oc0 = g * c_out_group;
                let group_end = oc0 + c_out_group;
                while oc0 < group_end {
                    let m = OCT.min(group_end - oc0);
                    rows.widen(&p, depth, oc0, m, wt);
                    // Each channel's sums start at its bias, so the store adds nothing.
                    let bases: [i32; OCT] =
                        core::array::from_fn(|o| bias.get(oc0 + o).copied().unwrap_or(0));
                    block(cols, wt, &bases, n, &mut acc);
                    for (o, acc_row) in acc[..m].iter().enumerate() {
                        let oc = oc0 + o;
                        let scale = pick(rq.scale, oc);
                        let out = &mut y[(b * p.c_out + oc) * plane_out + p0..][..n];
                        let small = small_products(depth, bases[o], scale);
                        Y::finish_run(&acc_row[..n], 0, scale, rq.zero, small, out);
                    }
                    oc0 += m;
                }
                p0 += n;
            }
        }
    }
}

/// Output channels per group of the framed weight layout ([`qconv2d_pack_framed`]).
pub const FRAMED_GROUP: usize = 8;

/// The most weights per output channel the framed layout takes (`c_in · k_h · k_w`:
/// 3 × 3 up to 112 input channels), and the most output channels.
pub const FRAMED_MAX_ROW: usize = 1024;
const FRAMED_MAX_CHANNELS: usize = 1024;

/// The positions of one vector of the frame kernel (`qconv/quads/frames.rs`): the frame's
/// slack is two of them past its last row.
const FRAME_VECTOR: usize = 16;

/// The output rows of one band of the frame kernel (`qconv/quads/frames.rs`) that
/// `words` of scratch hold for `p`, at most `h_out`: each channel quad and stride phase
/// takes a plane of the band's rows, the kernel's reach below them and the slack the
/// last vectors read; 0 where not even one row fits.
pub(crate) const fn frame_band_rows(p: &Conv2d, words: usize) -> usize {
    if p.stride_h == 0 || p.stride_w == 0 || p.k_h == 0 || p.k_w == 0 {
        return 0;
    }
    let parts = p.c_in.div_ceil(4) * frame_phases(p);
    let reach_w = (p.k_w - 1) * p.dil_w / p.stride_w;
    let fw = p.w_out + reach_w;
    let reach = (p.k_h - 1) * p.dil_h / p.stride_h;
    let slack = 2 * FRAME_VECTOR + reach_w;
    let per_plane = words / if parts == 0 { 1 } else { parts };
    if per_plane < slack || fw == 0 {
        return 0;
    }
    let fit = (per_plane - slack) / fw;
    if fit <= reach {
        return 0;
    }
    if fit - reach < p.h_out {
        fit - reach
    } else {
        p.h_out
    }
}

/// The stride phases the frame kernel keeps a plane for: `stride_h · stride_w`, or 1
/// where every tap reads phase 0 (a 1 × 1 kernel, or dilations that are multiples of
/// the strides), whose plane is then the input at the stride.
pub(crate) const fn frame_phases(p: &Conv2d) -> usize {
    let one_h = p.k_h == 1 || p.stride_h == 0 || p.dil_h.is_multiple_of(p.stride_h);
    let one_w = p.k_w == 1 || p.stride_w == 0 || p.dil_w.is_multiple_of(p.stride_w);
    if one_h && one_w {
        1
    } else {
        p.stride_h * p.stride_w
    }
}

/// The words of scratch [`qconv2d_framed`] takes for `p`: [`qconv2d_im2col_scratch_len`]'s,
/// or more, for the frame kernel's bands: the whole output's band where it takes at most
/// [`FRAME_WORDS`], else that many words, and never less than a band of one output row.
/// Bands sized by the gathered blocks' scratch alone were a row or a few (a 1 × 1 kernel
/// at stride 2, whose few weights promise little: sixteen bands of one row, each with
/// the frame's set-up and half-filled tiles; mlperf-ic-int8's shortcut onto 16 × 16 took
/// four times its products' time).
pub const fn qconv2d_framed_scratch_len(p: &Conv2d) -> usize {
    let promised = qconv2d_im2col_scratch_len(p);
    if p.stride_h == 0 || p.stride_w == 0 || p.k_h == 0 || p.k_w == 0 {
        return promised;
    }
    let parts = p.c_in.div_ceil(4).saturating_mul(frame_phases(p));
    let reach_w = (p.k_w - 1) * p.dil_w / p.stride_w;
    let fw = p.w_out.saturating_add(reach_w);
    let reach = (p.k_h - 1) * p.dil_h / p.stride_h;
    let slack = 2 * FRAME_VECTOR + reach_w;
    let one = parts.saturating_mul((reach + 1).saturating_mul(fw).saturating_add(slack));
    let rows = reach.saturating_add(p.h_out);
    let whole = parts.saturating_mul(rows.saturating_mul(fw).saturating_add(slack));
    let budget = if one > FRAME_WORDS { one } else { FRAME_WORDS };
    let band = if whole < budget { whole } else { budget };
    if band > promised {
        band
    } else {
        promised
    }
}

/// The most words [`qconv2d_framed_scratch_len`] asks for beyond the gathered blocks'
/// scratch (64 KiB), unless one output row's band needs more: a frame that big stays
/// in a host's second-level cache, and the crates that pack framed weights are for hosts.
const FRAME_WORDS: usize = 16 * 1024;

/// Whether `passes::layout` packs `p`'s weights with [`qconv2d_pack_framed`] (in crates
/// for vector targets alone) and [`qconv2d_framed`] runs it: one group, a kernel of more
/// than one tap or a stride of 2 (stride 1 or 2 each way), input channels in 4s and output channels in
/// [`FRAMED_GROUP`]s (so that the packed weights are as many bytes as ONNX's), at most
/// [`FRAMED_MAX_ROW`] weights a channel, rows of at least 8 outputs, and a band of one
/// row in the scratch [`qconv2d_framed_scratch_len`] promises. On x86-64 with AVX-512
/// VNNI these run the frame kernel with no per-inference weight reordering.
pub const fn qconv2d_framed_packs(p: &Conv2d) -> bool {
    let taps = p.k_h * p.k_w;
    p.groups == 1
        && p.batch > 0
        && (taps > 1 || p.stride_h * p.stride_w > 1)
        && p.c_in > 0
        && p.c_in.is_multiple_of(4)
        && p.c_out > 0
        && p.c_out.is_multiple_of(FRAMED_GROUP)
        && p.c_out <= FRAMED_MAX_CHANNELS
        && (p.stride_h == 1 || p.stride_h == 2)
        && (p.stride_w == 1 || p.stride_w == 2)
        && taps * p.c_in <= FRAMED_MAX_ROW
        && p.w_out >= 8
        && p.h_out > 0
        && frame_band_rows(p, qconv2d_framed_scratch_len(p)) > 0
}

/// Where weight `(oc, c, tap)` of `p` lies in the framed layout: output channels by
/// groups of [`FRAMED_GROUP`]; in a group, for each tap and quad of input channels, the
/// group's channels one word each, the word the quad's four weights of that tap.
#[inline(always)]
fn framed_index(p: &Conv2d, oc: usize, c: usize, tap: usize) -> usize {
    let taps = p.k_h * p.k_w;
    let quads = p.c_in / 4;
    let k = tap * quads + c / 4;
    let group = oc / FRAMED_GROUP * taps * quads;
    ((group + k) * FRAMED_GROUP + oc % FRAMED_GROUP) * 4 + c % 4
}

/// `p`'s weights `w` (`[c_out, c_in, k_h, k_w]`, as ONNX has them) in the framed layout,
/// into `out` of as many elements: each `VPDPBUSD` of the frame kernel broadcasts one
/// word of it. Returns false, having written nothing, unless [`qconv2d_framed_packs`]
/// holds and both slices are `c_out · c_in · k_h · k_w` long. A permutation: any
/// element type.
pub fn qconv2d_pack_framed<W: Copy>(p: &Conv2d, w: &[W], out: &mut [W]) -> bool {
    let taps = p.k_h * p.k_w;
    let len = p.c_out * p.c_in * taps;
    if !qconv2d_framed_packs(p) || w.len() != len || out.len() != len {
        return false;
    }
    for (oc, row) in w.chunks_exact(p.c_in * taps).enumerate() {
        for (c, weights) in row.chunks_exact(taps).enumerate() {
            for (tap, &v) in weights.iter().enumerate() {
                out[framed_index(p, oc, c, tap)] = v;
            }
        }
    }
    true
}

/// The inverse of [`qconv2d_pack_framed`]: `packed` back into ONNX's order in `out`, on
/// the same conditions.
pub fn qconv2d_unpack_framed<W: Copy>(p: &Conv2d, packed: &[W], out: &mut [W]) -> bool {
    let depth = p.c_in * p.k_h * p.k_w;
    if !qconv2d_framed_packs(p) || packed.len() != p.c_out * depth || out.len() != packed.len() {
        return false;
    }
    for (oc, row) in out.chunks_exact_mut(depth).enumerate() {
        framed_row(p, packed, oc, row);
    }
    true
}

/// Output channel `oc`'s weights in ONNX's order (`c_in · k_h · k_w` of them, as many as
/// `out` holds) from the framed layout.
fn framed_row<W: Copy>(p: &Conv2d, packed: &[W], oc: usize, out: &mut [W]) {
    let taps = p.k_h * p.k_w;
    for (c, weights) in out.chunks_mut(taps.max(1)).enumerate() {
        for (tap, slot) in weights.iter_mut().enumerate() {
            if let Some(&v) = packed.get(framed_index(p, oc, c, tap)) {
                *slot = v;
            }
        }
    }
}

/// The sum of each output channel's weights in the framed layout ([`qconv2d_pack_framed`]),
/// into `sums` (one per channel, as many as it holds): group by group, the group's
/// channels side by side in each stretch of [`FRAMED_GROUP`] words. The compiler passes
/// them to [`qconv2d_framed`] (summed at run time, they were 3 % of mlperf-ic-int8's
/// time on Zen 4).
pub fn qconv2d_framed_sums(p: &Conv2d, packed: &[i8], sums: &mut [i32]) {
    let group_len = FRAMED_GROUP * 4 * p.k_h * p.k_w * (p.c_in / 4);
    if group_len == 0 {
        return;
    }
    for (group, out) in packed
        .chunks_exact(group_len)
        .zip(sums.chunks_mut(FRAMED_GROUP))
    {
        let mut acc = [0i32; FRAMED_GROUP * 4];
        for stretch in group.chunks_exact(FRAMED_GROUP * 4) {
            for (a, &v) in acc.iter_mut().zip(stretch) {
                *a = a.wrapping_add(i32::from(v));
            }
        }
        for (o, sum) in out.iter_mut().enumerate() {
            *sum = acc[o * 4..][..4]
                .iter()
                .fold(0, |s: i32, &v| s.wrapping_add(v));
        }
    }
}

/// [`widen_weights`] of output channels `oc0..oc0 + m` from the framed layout (no zero
/// points), where the target has SIMD: each channel's weights straight into its row of
/// `i16` halves, in ONNX's order (tap by tap, a word of four channels' weights a step),
/// the halves past the depth and channels `m..OCT` 0.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn widen_framed<W: QInt>(
    p: &Conv2d,
    packed: &[W],
    depth: usize,
    oc0: usize,
    m: usize,
    wt: &mut [u32],
) {
    let (taps, quads) = (p.k_h * p.k_w, p.c_in / 4);
    let pairs = depth.div_ceil(2);
    let halves: &mut [i16] = bytemuck::cast_slice_mut(&mut wt[..pairs * OCT]);
    for (o, row) in halves.chunks_exact_mut(2 * pairs).enumerate() {
        row.fill(0);
        if o >= m {
            continue;
        }
        let oc = oc0 + o;
        let group = oc / FRAMED_GROUP * taps * quads;
        let lane = oc % FRAMED_GROUP;
        for tap in 0..taps {
            for q in 0..quads {
                let word = ((group + tap * quads + q) * FRAMED_GROUP + lane) * 4;
                let Some(four) = packed.get(word..word + 4) else {
                    return;
                };
                for (i, v) in four.iter().enumerate() {
                    if let Some(slot) = row.get_mut((4 * q + i) * taps + tap) {
                        *slot = v.to_i32() as i16;
                    }
                }
            }
        }
    }
}

/// [`widen_weights`] of output channels `oc0..oc0 + m` from the framed layout (no zero
/// points) on targets without SIMD (which the compiler does not pack for): unpacked into
/// ONNX's order first. Out of line, so that its buffers take stack only when it runs.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(never)]
fn widen_framed<W: QInt>(
    p: &Conv2d,
    packed: &[W],
    depth: usize,
    oc0: usize,
    m: usize,
    wt: &mut [u32],
) {
    let mut rows = [W::zeroed(); OCT * FRAMED_MAX_ROW];
    let depth = depth.min(FRAMED_MAX_ROW);
    for (o, row) in rows.chunks_exact_mut(FRAMED_MAX_ROW).take(m).enumerate() {
        framed_row(p, packed, oc0 + o, &mut row[..depth]);
    }
    // Channel `o` at `o · depth`, as `widen_weights` reads them.
    for o in 1..m.min(OCT) {
        rows.copy_within(o * FRAMED_MAX_ROW..o * FRAMED_MAX_ROW + depth, o * depth);
    }
    widen_weights(&rows[..m.min(OCT) * depth], &[0], depth, 0, m, wt);
}

/// [`unblocked`] for weights in a permuted layout ([`Framed`], [`Paired`]): each output
/// channel's weights unpacked into ONNX's order by `row` (at most [`FRAMED_MAX_ROW`] of
/// them, which both layouts hold to), then through the tap walker.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn unblocked_rows<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    row: impl Fn(usize, &mut [W]),
    bias: &[i32],
    rq: Requant<'_>,
    y: &mut [Y],
) {
    let c_in_group = p.c_in / p.groups.max(1);
    let c_out_group = (p.c_out / p.groups.max(1)).max(1);
    let depth = (c_in_group * p.k_h * p.k_w).min(FRAMED_MAX_ROW);
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let one = Conv2d {
        batch: 1,
        c_in: c_in_group,
        c_out: 1,
        groups: 1,
        ..*p
    };
    let mut taps = [W::zeroed(); FRAMED_MAX_ROW];
    for oc in 0..p.c_out {
        row(oc, &mut taps[..depth]);
        let g = oc / c_out_group;
        let scale = [pick(rq.scale, oc)];
        let rq = Requant {
            scale: &scale,
            zero: rq.zero,
        };
        let bias = [bias.get(oc).copied().unwrap_or(0)];
        for b in 0..p.batch {
            let x = &x[(b * p.c_in + g * c_in_group) * plane_in..][..c_in_group * plane_in];
            let y = &mut y[(b * p.c_out + oc) * plane_out..][..plane_out];
            unblocked(&one, x, x_zero, &taps[..depth], &[0], &bias, rq, y);
        }
    }
}

/// [`qconv2d_im2col`] for weights packed by [`qconv2d_pack_framed`] (no zero points),
/// with `w_sums` each output channel's weight sum ([`qconv2d_framed_sums`]).
/// [`qconv2d_framed_packs`] must hold and `w_sums` have one sum per output channel, else,
/// or with operands shorter than `p`, `y` is left as it was. On x86-64 with AVX-512 VNNI
/// the frame kernel reads the packed words as they are (no reordering per inference);
/// elsewhere the gathered blocks unpack each block's channels. `scratch` as for
/// [`qconv2d_im2col`].
#[allow(clippy::too_many_arguments)]
pub fn qconv2d_framed<X: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[i8],
    w_sums: &[i32],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    let p = *p;
    let taps = p.k_h * p.k_w;
    if !qconv2d_framed_packs(&p)
        || w.len() < p.c_out * p.c_in * taps
        || x.len() < p.batch * p.c_in * p.h_in * p.w_in
        || y.len() < p.batch * p.c_out * p.h_out * p.w_out
        || !(rq.scale.len() == 1 || rq.scale.len() == p.c_out)
        || w_sums.len() != p.c_out
    {
        return;
    }
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512vnni",
        target_feature = "avx512vl",
        target_feature = "avx512bw",
        target_os = "linux"
    ))]
    if quads::applies::<X, i8>(x_zero, &[0])
        && quads::qconv2d_framed(&p, x, x_zero, w, w_sums, bias, rq, &mut *scratch, y)
    {
        return;
    }
    blocks(&p, x, x_zero, Framed(w), bias, rq, scratch, y);
}

/// The most weights per output channel the paired layout takes
/// ([`qconv2d_pack_paired`]): without a tile of scratch, [`qconv2d_paired`] unpacks one
/// channel's weights onto the stack.
pub const PAIRED_MAX_ROW: usize = FRAMED_MAX_ROW;

/// Whether `passes::layout` packs `p`'s weights with [`qconv2d_pack_paired`] (in crates
/// for Cortex-M cores with the DSP extension and without Helium) and
/// [`qconv2d_paired`] runs them: not depthwise, each group's output channels in fours
/// (the gathered blocks' channel tile), an even number of weights per output channel, at
/// most [`PAIRED_MAX_ROW`]. The packed weights are as many as ONNX's.
pub const fn qconv2d_paired_packs(p: &Conv2d) -> bool {
    if p.groups == 0
        || p.batch == 0
        || p.c_out == 0
        || !p.c_in.is_multiple_of(p.groups)
        || !p.c_out.is_multiple_of(p.groups)
        || qconv2d_is_depthwise(p)
    {
        return false;
    }
    let depth = group_depth(p);
    (p.c_out / p.groups).is_multiple_of(OCT)
        && depth > 0
        && depth.is_multiple_of(2)
        && depth <= PAIRED_MAX_ROW
}

/// The weights of one output channel of `p` (`c_in / groups · k_h · k_w`; none without
/// groups).
const fn group_depth(p: &Conv2d) -> usize {
    match p.c_in.checked_div(p.groups) {
        Some(c_in_group) => c_in_group * p.k_h * p.k_w,
        None => 0,
    }
}

/// Where weight `k` of output channel `oc` (ONNX's order, `depth` weights a channel)
/// lies in the paired layout: output channels by tiles of four; in a tile, for each pair
/// of reduction terms, eight bytes `[w0 w1 w0' w1' w2 w3 w2' w3']` (`wo` term `2kp` of
/// channel `o`, `wo'` term `2kp + 1`), so that `SXTB16` and `SXTB16 … ROR #8` of each
/// word give two channels' `i16` pairs as the tile's `SMLAD`s take them.
#[inline(always)]
fn paired_index(depth: usize, oc: usize, k: usize) -> usize {
    let o = oc % OCT;
    (oc - o) * depth + k / 2 * 2 * OCT + o / 2 * 4 + k % 2 * 2 + o % 2
}

/// `p`'s weights `w` (`[c_out, c_in / groups, k_h, k_w]`, as ONNX has them) in the
/// paired layout, into `out` of as many elements. Returns false, having written nothing,
/// unless [`qconv2d_paired_packs`] holds and both slices are that long. A permutation:
/// any element type.
pub fn qconv2d_pack_paired<W: Copy>(p: &Conv2d, w: &[W], out: &mut [W]) -> bool {
    let depth = group_depth(p);
    let len = p.c_out * depth;
    if !qconv2d_paired_packs(p) || w.len() != len || out.len() != len {
        return false;
    }
    for (oc, row) in w.chunks_exact(depth).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            out[paired_index(depth, oc, k)] = v;
        }
    }
    true
}

/// The inverse of [`qconv2d_pack_paired`]: `packed` back into ONNX's order in `out`, on
/// the same conditions.
pub fn qconv2d_unpack_paired<W: Copy>(p: &Conv2d, packed: &[W], out: &mut [W]) -> bool {
    let depth = group_depth(p);
    if !qconv2d_paired_packs(p) || packed.len() != p.c_out * depth || out.len() != packed.len() {
        return false;
    }
    for (oc, row) in out.chunks_exact_mut(depth).enumerate() {
        paired_row(packed, depth, oc, row);
    }
    true
}

/// Output channel `oc`'s weights in ONNX's order (as many as `out` holds, at most
/// `depth`) from the paired layout.
fn paired_row<W: Copy>(packed: &[W], depth: usize, oc: usize, out: &mut [W]) {
    for (k, slot) in out.iter_mut().take(depth).enumerate() {
        if let Some(&v) = packed.get(paired_index(depth, oc, k)) {
            *slot = v;
        }
    }
}

/// [`widen_weights`] of the four output channels from `oc0` (a multiple of four) from
/// the paired layout, pair-major as the scalar tile reads them: each word of four
/// weights widened by two `SXTB16`s (or `UXTB16`s) into two channels' pairs, with no
/// per-weight work (channel by channel from ONNX's order, about three instructions a
/// weight on the Cortex-M7).
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
fn widen_paired_pair_major<W: QInt>(packed: &[W], depth: usize, oc0: usize, wt: &mut [u32]) {
    let wt = &mut wt[..depth / 2 * OCT];
    let Some(tile) = packed.get(oc0 * depth..(oc0 + OCT) * depth) else {
        wt.fill(0);
        return;
    };
    for (eight, slots) in tile.chunks_exact(2 * OCT).zip(wt.chunks_exact_mut(OCT)) {
        let (w0, w1) = W::widen(W::word(&eight[..4]));
        let (w2, w3) = W::widen(W::word(&eight[4..]));
        slots.copy_from_slice(&[w0, w1, w2, w3]);
    }
}

/// [`widen_paired_pair_major`] into the SIMD tile's layout, channel by channel
/// (`wt[o · pairs + kp]`; the compiler packs pairs only for scalar targets, so this
/// serves the tests and crates built for one target and run on another).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn widen_paired_channels<W: QInt>(packed: &[W], depth: usize, oc0: usize, wt: &mut [u32]) {
    let pairs = depth / 2;
    let wt = &mut wt[..pairs * OCT];
    let Some(tile) = packed.get(oc0 * depth..(oc0 + OCT) * depth) else {
        wt.fill(0);
        return;
    };
    for (kp, eight) in tile.chunks_exact(2 * OCT).enumerate() {
        for o in 0..OCT {
            let at = o / 2 * 4 + o % 2;
            wt[o * pairs + kp] = pack(eight[at].to_i32(), eight[at + 2].to_i32());
        }
    }
}

/// The weights of [`qconv2d_pack_paired`] (no zero points).
struct Paired<'a, W>(&'a [W]);

impl<W: QInt> Weights<W> for Paired<'_, W> {
    #[inline(always)]
    fn widen(&self, _p: &Conv2d, depth: usize, oc0: usize, _m: usize, wt: &mut [u32]) {
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        widen_paired_pair_major(self.0, depth, oc0, wt);
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        widen_paired_channels(self.0, depth, oc0, wt);
    }

    #[inline(always)]
    fn unblocked<X: QInt, Y: QOut>(
        &self,
        p: &Conv2d,
        x: &[X],
        x_zero: i32,
        bias: &[i32],
        rq: Requant<'_>,
        y: &mut [Y],
    ) {
        let depth = group_depth(p);
        let row = |oc, taps: &mut [W]| paired_row(self.0, depth, oc, taps);
        unblocked_rows(p, x, x_zero, row, bias, rq, y);
    }
}

/// [`qconv2d_im2col`] for weights packed by [`qconv2d_pack_paired`] (no zero points):
/// the gathered blocks widen each tile's weights from words as the blob holds them.
/// [`qconv2d_paired_packs`] must hold, else, or with operands shorter than `p`, `y` is
/// left as it was. `scratch` as for [`qconv2d_im2col`]. Never the Helium kernel, which
/// reads ONNX's order (the compiler does not pack for cores with Helium).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn qconv2d_paired<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[W],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    let depth = group_depth(p);
    if !qconv2d_paired_packs(p)
        || w.len() < p.c_out * depth
        || x.len() < p.batch * p.c_in * p.h_in * p.w_in
        || y.len() < p.batch * p.c_out * p.h_out * p.w_out
        || !(rq.scale.len() == 1 || rq.scale.len() == p.c_out)
    {
        return;
    }
    blocks(p, x, x_zero, Paired(w), bias, rq, scratch, y);
}

/// [`qconv2d_im2col`] or [`qconv2d_depthwise`] without scratch, for a scratch too short
/// for one tile of positions or the padded plane (shorter than the kernel's
/// `*_scratch_len` promises): each output channel through the tap walker,
/// [`crate::qlinear::qconv2d`], with its bias folded as that kernel takes it. The same
/// sums, so the same outputs, as the kernels that use scratch; slow, but a scratch the
/// plan did not size should cost time, never a panic.
#[allow(clippy::too_many_arguments)]
fn unblocked<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[W],
    w_zero: &[i32],
    bias: &[i32],
    rq: Requant<'_>,
    y: &mut [Y],
) {
    let c_in_group = p.c_in / p.groups;
    let c_out_group = (p.c_out / p.groups).max(1);
    let depth = c_in_group * p.k_h * p.k_w;
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let one = Conv2d {
        batch: 1,
        c_in: c_in_group,
        c_out: 1,
        groups: 1,
        ..*p
    };
    for b in 0..p.batch {
        for oc in 0..p.c_out {
            let g = oc / c_out_group;
            let w_zero = pick(w_zero, oc);
            let taps = &w[oc * depth..][..depth];
            // `B - x_zero · Σ (w - w_zero)`, wrapping as the blocked kernels' sums do.
            let sum = taps
                .iter()
                .fold(0i32, |s, &v| s.wrapping_add(v.to_i32() - w_zero));
            let folded = bias
                .get(oc)
                .copied()
                .unwrap_or(0)
                .wrapping_sub(x_zero.wrapping_mul(sum));
            let x_group = &x[(b * p.c_in + g * c_in_group) * plane_in..][..c_in_group * plane_in];
            let y_oc = &mut y[(b * p.c_out + oc) * plane_out..][..plane_out];
            let scale = [pick(rq.scale, oc)];
            let rq = Requant {
                scale: &scale,
                zero: rq.zero,
            };
            crate::qlinear::qconv2d(&one, x_group, x_zero, taps, &[w_zero], &[folded], rq, y_oc);
        }
    }
}

/// Gathers positions `p0..p0 + n` of a 1×1, stride-1, unpadded convolution: reduction
/// term `k` is input channel `k`, read along the plane. Positions `n..pb` and the odd
/// term past the last channel are 0.
///
/// Pair by pair, each pair's two channel rows are walked once, a tile at a time, with
/// zipped chunk iterators that index without bounds checks (tile by tile with a slice
/// per pair, the Cortex-M7 took about 37 instructions a pair on mlperf-vww-int8's
/// 8-channel layer).
fn gather_pointwise<X: QInt>(
    x: &[X],
    plane: usize,
    x_zero: i32,
    p0: usize,
    n: usize,
    pb: usize,
    cols: &mut [u32],
) {
    let channels = x.len() / plane.max(1);
    let pairs = channels.div_ceil(2);
    if pairs == 0 {
        return;
    }
    let cols = &mut cols[..pairs * pb];
    let whole = n / PT;
    let term = |v: X| v.to_i32() - x_zero;
    for kp in 0..pairs {
        let lo = &x[2 * kp * plane + p0..][..n];
        // The odd term past the last channel is 0 (its row is read and not used).
        let odd = 2 * kp + 1 >= channels;
        let hi = if odd {
            lo
        } else {
            &x[(2 * kp + 1) * plane + p0..][..n]
        };
        let runs = cols.chunks_exact_mut(pairs * PT);
        let tiles = runs.zip(lo.chunks_exact(PT)).zip(hi.chunks_exact(PT));
        for ((run, l), h) in tiles {
            let slot = &mut run[kp * PT..][..PT];
            unroll!(PT, |j| {
                let high = if odd { 0 } else { term(h[j]) };
                slot[j] = pack(term(l[j]), high);
            });
        }
        // The last, partial tile, and zeros past `n` up to the block's end.
        for (t, run) in cols.chunks_exact_mut(pairs * PT).enumerate().skip(whole) {
            let slot = &mut run[kp * PT..][..PT];
            for (jj, c) in slot.iter_mut().enumerate() {
                let j = t * PT + jj;
                *c = match (lo.get(j), hi.get(j)) {
                    (Some(&l), Some(&h)) => pack(term(l), if odd { 0 } else { term(h) }),
                    _ => 0,
                };
            }
        }
    }
}

/// The reduction of one group's input `x` for both gathers: the input plane's size, the
/// taps per channel, the depth (channels × taps) and the packed pairs of terms.
#[inline(always)]
fn group_terms<X>(p: &Conv2d, x: &[X]) -> (usize, usize, usize, usize) {
    let plane = p.h_in * p.w_in;
    let taps = p.k_h * p.k_w;
    let depth = x.len() / plane.max(1) * taps;
    (plane, taps, depth, depth.div_ceil(2))
}

/// Gathers positions `p0..p0 + n` of any convolution position by position, each
/// position's terms `k = (ci · k_h + kh) · k_w + kw` in order as `i16` halves of the
/// block's words (`k` even is a low half, `k` odd the high half of the same word, the
/// next pair `PT` words on). A position whose taps are all inside the input reads them
/// without a test, from one input row per kernel row; the others test each tap. The
/// positions up to the next whole tile, and the odd term past the end, are 0.
///
/// Cortex-M takes it: its 2-position tiles and 24-position blocks make [`gather`]'s runs
/// short, and measured on the MLPerf Tiny int8 models this costs fewer instructions
/// (mlperf-ic-int8 29.3 M → 27.8 M; its 32-column stride-1 layers alone gather faster by
/// runs, but choosing per layer cost more in the other layers' code than it saved).
#[allow(clippy::too_many_arguments)]
fn gather_positions<X: QInt>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    p0: usize,
    n: usize,
    pb: usize,
    cols: &mut [u32],
) {
    let (plane, _, depth, pairs) = group_terms(p, x);
    let cols = &mut cols[..pairs * pb];
    let span_h = (p.k_h - 1) * p.dil_h;
    let span_w = (p.k_w - 1) * p.dil_w;
    let three = p.k_h == 3 && p.k_w == 3 && p.dil_h == 1 && p.dil_w == 1;
    let one = p.k_h == 1 && p.k_w == 1;
    let (mut oh, mut ow) = (p0 / p.w_out.max(1), p0 % p.w_out.max(1));
    for j in 0..n.next_multiple_of(PT) {
        let first = word_at(j / PT, j % PT, 0, pairs);
        let (ih0, iw0) = (
            (oh * p.stride_h) as isize - p.pad_top as isize,
            (ow * p.stride_w) as isize - p.pad_left as isize,
        );
        ow += 1;
        if ow == p.w_out {
            (oh, ow) = (oh + 1, 0);
        }
        let inside = j < n
            && ih0 >= 0
            && iw0 >= 0
            && ih0 as usize + span_h < p.h_in
            && iw0 as usize + span_w < p.w_in;
        if inside && three {
            let at = ih0 as usize * p.w_in + iw0 as usize;
            interior_3x3(x, plane, p.w_in, at, x_zero, &mut cols[first..]);
            continue;
        }
        if inside && one {
            let at = ih0 as usize * p.w_in + iw0 as usize;
            one_tap(x, plane, at, x_zero, &mut cols[first..]);
            continue;
        }
        if j < n && three {
            let (h, w) = (p.h_in as isize, p.w_in as isize);
            border_3x3(x, plane, (h, w), (ih0, iw0), x_zero, &mut cols[first..]);
            continue;
        }
        // Term k's half: the low or high half of word `first + (k / 2) · PT`.
        let mut out = Halves {
            halves: bytemuck::cast_slice_mut(&mut *cols),
            at: 2 * first,
            step: 1,
        };
        if j >= n {
            for _ in 0..2 * pairs {
                out.put(0);
            }
            continue;
        }
        if inside {
            let (ih0, iw0) = (ih0 as usize, iw0 as usize);
            for x_c in x.chunks_exact(plane.max(1)) {
                for kh in 0..p.k_h {
                    let row = &x_c[(ih0 + kh * p.dil_h) * p.w_in + iw0..][..span_w + 1];
                    // Plain loops: `for_each` and `step_by` stay calls at "z".
                    if p.dil_w == 1 {
                        for &v in row {
                            out.put(v.to_i32() - x_zero);
                        }
                    } else {
                        let mut kw = 0;
                        while kw < row.len() {
                            out.put(row[kw].to_i32() - x_zero);
                            kw += p.dil_w;
                        }
                    }
                }
            }
        } else {
            for x_c in x.chunks_exact(plane.max(1)) {
                for kh in 0..p.k_h {
                    let ih = ih0 + (kh * p.dil_h) as isize;
                    for kw in 0..p.k_w {
                        let iw = iw0 + (kw * p.dil_w) as isize;
                        let v = if (0..p.h_in as isize).contains(&ih)
                            && (0..p.w_in as isize).contains(&iw)
                        {
                            x_c[ih as usize * p.w_in + iw as usize].to_i32() - x_zero
                        } else {
                            0
                        };
                        out.put(v);
                    }
                }
            }
        }
        if depth % 2 == 1 {
            out.put(0);
        }
    }
}

/// Where [`gather_positions`] writes a position's terms: term `k` is the low or high half
/// of word `first + (k / 2) · PT`, so the half index advances by 1, then `2 · PT − 1`.
/// A struct with an always-inlined method: a closure holding this state stayed a call per
/// term at opt-level "z".
struct Halves<'a> {
    halves: &'a mut [i16],
    at: usize,
    step: usize,
}

impl Halves<'_> {
    #[inline(always)]
    fn put(&mut self, v: i32) {
        if let Some(slot) = self.halves.get_mut(self.at) {
            *slot = v as i16;
        }
        self.at += self.step;
        self.step = 2 * PT - self.step;
    }
}

/// The index of pair `kp` of position `t · PT + jj` in a gathered block of `pairs` pairs.
#[inline(always)]
fn word_at(t: usize, jj: usize, kp: usize, pairs: usize) -> usize {
    (t * pairs + kp) * PT + jj
}

/// The words of one interior position of a 3×3, undilated convolution whose top-left tap
/// is input element `at` of each plane: two channels at a time, so that their 18 terms
/// are 9 whole pairs, stored `PT` words apart from `cols[0]` on, each term loaded once
/// and each word stored from registers. mlperf-ic-int8's 16-channel 3×3 layers gathered
/// in 3.6 M instructions each term by term and in 1.1 M this way; building the 18 terms
/// as an array first cost 1.9 M (the array went through the stack), and a variant that
/// also took the border positions measured slower over the whole model.
#[inline(always)]
fn interior_3x3<X: QInt>(
    x: &[X],
    plane: usize,
    w_in: usize,
    at: usize,
    x_zero: i32,
    cols: &mut [u32],
) {
    // Kernel row `r` of a plane, and tap `i` of a row less the zero point.
    fn row<X>(x_c: &[X], at: usize, w_in: usize, r: usize) -> Option<&[X]> {
        x_c.get(at + r * w_in..at + r * w_in + 3)
    }
    let v = |s: &[X], i: usize| s[i].to_i32() - x_zero;
    let mut planes = x.chunks_exact(plane.max(1));
    let mut next = 0;
    while let Some(a) = planes.next() {
        let (Some(a0), Some(a1), Some(a2)) = (
            row(a, at, w_in, 0),
            row(a, at, w_in, 1),
            row(a, at, w_in, 2),
        ) else {
            return;
        };
        let Some(b) = planes.next() else {
            // An odd last channel: four pairs, and its ninth term with 0.
            let Some(dst) = cols.get_mut(next * PT..(next + 4) * PT + 1) else {
                return;
            };
            dst[0] = pack(v(a0, 0), v(a0, 1));
            dst[PT] = pack(v(a0, 2), v(a1, 0));
            dst[2 * PT] = pack(v(a1, 1), v(a1, 2));
            dst[3 * PT] = pack(v(a2, 0), v(a2, 1));
            dst[4 * PT] = pack(v(a2, 2), 0);
            return;
        };
        let (Some(b0), Some(b1), Some(b2)) = (
            row(b, at, w_in, 0),
            row(b, at, w_in, 1),
            row(b, at, w_in, 2),
        ) else {
            return;
        };
        // Two channels' 18 terms, nine whole pairs `PT` words apart.
        let Some(dst) = cols.get_mut(next * PT..(next + 8) * PT + 1) else {
            return;
        };
        dst[0] = pack(v(a0, 0), v(a0, 1));
        dst[PT] = pack(v(a0, 2), v(a1, 0));
        dst[2 * PT] = pack(v(a1, 1), v(a1, 2));
        dst[3 * PT] = pack(v(a2, 0), v(a2, 1));
        dst[4 * PT] = pack(v(a2, 2), v(b0, 0));
        dst[5 * PT] = pack(v(b0, 1), v(b0, 2));
        dst[6 * PT] = pack(v(b1, 0), v(b1, 1));
        dst[7 * PT] = pack(v(b1, 2), v(b2, 0));
        dst[8 * PT] = pack(v(b2, 1), v(b2, 2));
        next += 9;
    }
}

/// The words of one position of a 1 × 1 convolution (any stride, no padding) reading
/// input element `at` of each plane: two channels a pair, `PT` words apart from
/// `cols[0]` on, the odd last channel's pair with 0 (term by term, mlperf-ic-int8's two
/// stride-2 shortcuts took 0.45 M and 0.27 M instructions on the Cortex-M7).
#[inline(always)]
fn one_tap<X: QInt>(x: &[X], plane: usize, at: usize, x_zero: i32, cols: &mut [u32]) {
    let v = |c: usize| x.get(c * plane + at).map_or(0, |v| v.to_i32() - x_zero);
    let channels = x.len() / plane.max(1);
    for (kp, slot) in cols.iter_mut().step_by(PT).take(channels / 2).enumerate() {
        *slot = pack(v(2 * kp), v(2 * kp + 1));
    }
    if channels % 2 == 1 {
        if let Some(slot) = cols.get_mut(channels / 2 * PT) {
            *slot = pack(v(channels - 1), 0);
        }
    }
}

/// The words of one 3 × 3, undilated position of [`gather_positions`] whose window,
/// top-left tap at `(ih0, iw0)` of planes `(h, w)` large, reaches into the padding: the
/// words of [`interior_3x3`], each tap read at an offset inside the plane and masked to
/// 0 where it is padding, with no test per tap (tap by tap, the borders of
/// mlperf-ic-int8's 16 × 16 and 8 × 8 layers were a quarter to half of their gathering).
#[inline(always)]
fn border_3x3<X: QInt>(
    x: &[X],
    plane: usize,
    (h, w): (isize, isize),
    (ih0, iw0): (isize, isize),
    x_zero: i32,
    cols: &mut [u32],
) {
    // Each tap's offset in a plane (0 where padding) and its mask.
    let mut at = [0usize; 9];
    let mut keep = [0i32; 9];
    for (i, (a, k)) in at.iter_mut().zip(&mut keep).enumerate() {
        let (ih, iw) = (ih0 + (i / 3) as isize, iw0 + (i % 3) as isize);
        if (0..h).contains(&ih) && (0..w).contains(&iw) {
            (*a, *k) = (ih as usize * w as usize + iw as usize, -1);
        }
    }
    let terms = |c: &[X]| -> [i32; 9] {
        core::array::from_fn(|i| c.get(at[i]).map_or(0, |v| (v.to_i32() - x_zero) & keep[i]))
    };
    let mut planes = x.chunks_exact(plane.max(1));
    let mut next = 0;
    while let Some(a) = planes.next() {
        let a = terms(a);
        let Some(b) = planes.next() else {
            // An odd last channel: four pairs, and its ninth term with 0.
            let Some(dst) = cols.get_mut(next * PT..(next + 4) * PT + 1) else {
                return;
            };
            for (i, pair) in a.chunks_exact(2).enumerate() {
                dst[i * PT] = pack(pair[0], pair[1]);
            }
            dst[4 * PT] = pack(a[8], 0);
            return;
        };
        let b = terms(b);
        let Some(dst) = cols.get_mut(next * PT..(next + 8) * PT + 1) else {
            return;
        };
        for (i, pair) in a.chunks_exact(2).enumerate() {
            dst[i * PT] = pack(pair[0], pair[1]);
        }
        dst[4 * PT] = pack(a[8], b[0]);
        for (i, pair) in b[1..].chunks_exact(2).enumerate() {
            dst[(5 + i) * PT] = pack(pair[0], pair[1]);
        }
        next += 9;
    }
}

/// One reduction term of [`gather`]: its input plane, kernel row and column, and the
/// output columns whose tap on that kernel column lies inside the input; None past the
/// last term.
type Term<'a, X> = Option<(&'a [X], usize, usize, (usize, usize))>;

/// Gathers positions `p0..p0 + n` of any convolution: reduction term
/// `k = (ci · k_h + kh) · k_w + kw`, `x - x_zero` where the tap is inside the input and
/// 0 where it is padding. Positions `n..pb` and the odd term past the end are 0.
///
/// Pair by pair and output row by output row: where both terms of a pair fall inside
/// the input for a run of positions, the run is two slices of input rows zipped into
/// packed words, a tile's worth at a time; only the positions near the borders test
/// their taps one by one.
#[allow(clippy::too_many_arguments)]
fn gather<X: QInt>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    p0: usize,
    n: usize,
    pb: usize,
    cols: &mut [u32],
) {
    let (plane, taps, depth, pairs) = group_terms(p, x);
    let cols = &mut cols[..pairs * pb];
    cols.fill(0);
    // Term k: its input plane, kernel row and the outputs whose column tap is inside.
    let term = |k: usize| {
        (k < depth).then(|| {
            let (ci, kh, kw) = (k / taps, (k % taps) / p.k_w, k % p.k_w);
            let columns =
                crate::conv::outputs_for_tap(kw, p.stride_w, p.dil_w, p.pad_left, p.w_in, p.w_out);
            (&x[ci * plane..][..plane], kh, kw, columns)
        })
    };
    // The input row term `t` reads for output row `oh`, if inside.
    fn row_of<'a, X>(p: &Conv2d, t: Term<'a, X>, oh: usize) -> Option<&'a [X]> {
        let (x_c, kh, _, _) = t?;
        let ih = (oh * p.stride_h + kh * p.dil_h).checked_sub(p.pad_top)?;
        (ih < p.h_in).then(|| &x_c[ih * p.w_in..][..p.w_in])
    }
    let column = |kw: usize, ow: usize| ow * p.stride_w + kw * p.dil_w - p.pad_left;
    for kp in 0..pairs {
        let (t0, t1) = (term(2 * kp), term(2 * kp + 1));
        let mut q = p0;
        while q < p0 + n {
            let (oh, ow0) = (q / p.w_out, q % p.w_out);
            let ow1 = p.w_out.min(ow0 + (p0 + n - q));
            let j_of = |ow: usize| q - p0 + (ow - ow0);
            let (r0, r1) = (row_of(p, t0, oh), row_of(p, t1, oh));
            // The runs where the low term (and the high one, if any) are inside.
            let (lo0, hi0) = t0.map_or((0, 0), |t| t.3);
            let (lo1, hi1) = match t1 {
                Some(t) if r1.is_some() => t.3,
                Some(_) => (0, 0),
                None => (0, p.w_out),
            };
            let (a, b) = if r0.is_some() && (t1.is_none() || r1.is_some()) {
                // Capped at the block's end: a block that ends before the inside run
                // starts (a left pad of two or more) is all border (found by the
                // differential checks, checks/: its border loop wrote past the block).
                let a = ow0.max(lo0).max(lo1).min(ow1);
                (a, ow1.min(hi0).min(hi1).max(a))
            } else {
                (ow1, ow1)
            };
            // Border positions, one by one.
            let value = |r: Option<&[X]>, t: Term<'_, X>, ow| match (r, t) {
                (Some(row), Some((_, _, kw, (lo, hi)))) if (lo..hi).contains(&ow) => {
                    row[column(kw, ow)].to_i32() - x_zero
                }
                _ => 0,
            };
            for ow in (ow0..a).chain(b..ow1) {
                let j = j_of(ow);
                let word = ((j / PT) * pairs + kp) * PT + j % PT;
                cols[word] = pack(value(r0, t0, ow), value(r1, t1, ow));
            }
            // The inside run, in one piece.
            if let (true, Some(row0), Some((_, _, kw0, _))) = (a < b, r0, t0) {
                let (len, i0) = (b - a, column(kw0, a));
                let out = Run::new(cols, pairs, kp, j_of(a));
                match (r1, t1) {
                    (Some(row1), Some((_, _, kw1, _))) => {
                        let i1 = column(kw1, a);
                        if p.stride_w == 1 {
                            out.fill_pairs(&row0[i0..i0 + len], &row1[i1..i1 + len], x_zero);
                        } else {
                            let s0 = row0[i0..].iter().step_by(p.stride_w);
                            let s1 = row1[i1..].iter().step_by(p.stride_w);
                            out.fill(
                                len,
                                s0.zip(s1)
                                    .map(|(&u, &v)| pack(u.to_i32() - x_zero, v.to_i32() - x_zero)),
                            );
                        }
                    }
                    _ => {
                        let s0 = row0[i0..].iter().step_by(p.stride_w).take(len);
                        out.fill(len, s0.map(|&u| pack(u.to_i32() - x_zero, 0)));
                    }
                }
            }
            q += ow1 - ow0;
        }
    }
}

/// The words of one reduction pair for consecutive positions of a gathered block, which
/// holds them tile by tile (`cols[(t · pairs + kp) · PT + jj]`): `PT` adjacent words, then
/// a jump to the next tile.
struct Run<'a> {
    cols: &'a mut [u32],
    at: usize,
    lane: usize,
    tile: usize,
}

impl<'a> Run<'a> {
    fn new(cols: &'a mut [u32], pairs: usize, kp: usize, j: usize) -> Self {
        Run {
            cols,
            at: word_at(j / PT, j % PT, kp, pairs),
            lane: j % PT,
            tile: pairs * PT,
        }
    }

    /// Stores the `len` words of `words` from the run's first position on, a slice of a
    /// tile at a time; words past the block are dropped. (Only SIMD targets gather by
    /// runs; Cortex-M gathers by positions, [`gather_positions`].)
    #[inline(always)]
    fn fill(self, len: usize, mut words: impl Iterator<Item = u32>) {
        let Run {
            cols,
            mut at,
            mut lane,
            tile,
        } = self;
        let mut left = len;
        while left > 0 {
            let take = (PT - lane).min(left);
            let Some(slots) = cols.get_mut(at..at + take) else {
                return;
            };
            for (slot, word) in slots.iter_mut().zip(words.by_ref()) {
                *slot = word;
            }
            left -= take;
            at = at - lane + tile;
            lane = 0;
        }
    }

    /// [`Run::fill`] with the pairs `(s0[t] - x_zero, s1[t] - x_zero)`, `t < s0.len()`,
    /// zipping slices a tile at a time, which vectorises.
    #[inline(always)]
    fn fill_pairs<X: QInt>(self, s0: &[X], s1: &[X], x_zero: i32) {
        let word = |(&u, &v): (&X, &X)| pack(u.to_i32() - x_zero, v.to_i32() - x_zero);
        let Run {
            cols,
            mut at,
            mut lane,
            tile,
        } = self;
        let mut done = 0;
        while done < s0.len() {
            let take = (PT - lane).min(s0.len() - done);
            let (Some(slots), Some(a), Some(b)) = (
                cols.get_mut(at..at + take),
                s0.get(done..done + take),
                s1.get(done..done + take),
            ) else {
                return;
            };
            for (slot, pair) in slots.iter_mut().zip(a.iter().zip(b)) {
                *slot = word(pair);
            }
            done += take;
            at = at - lane + tile;
            lane = 0;
        }
    }
}

/// Widens output channels `oc0..oc0 + m` to `w - w_zero` pairs, channel by channel
/// (`wt[o · pairs + kp]`), sixteen weights at a time, where the target has SIMD: the
/// tile broadcasts one word per channel anyway, and this layout widens as one vector
/// conversion per sixteen weights (on x86-64 it halved mlperf-kws-int8's first layer
/// against the pair-major scatter below). Channels `m..OCT` are 0.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn widen_weights<W: QInt>(
    w: &[W],
    w_zero: &[i32],
    depth: usize,
    oc0: usize,
    m: usize,
    wt: &mut [u32],
) {
    let pairs = depth.div_ceil(2);
    for (o, row) in wt.chunks_exact_mut(pairs.max(1)).take(OCT).enumerate() {
        if o >= m {
            row.fill(0);
            continue;
        }
        let taps = &w[(oc0 + o) * depth..][..depth];
        let wz = pick(w_zero, oc0 + o);
        for (sixteen, words) in taps.chunks_exact(16).zip(row.chunks_exact_mut(8)) {
            // `w - w_zero` of 8-bit values fits `i16`; element 2i is the low half of
            // word i on these little-endian targets, as `pack` puts it.
            let halves: [i16; 16] = core::array::from_fn(|i| (sixteen[i].to_i32() - wz) as i16);
            words.copy_from_slice(&bytemuck::cast::<[i16; 16], [u32; 8]>(halves));
        }
        let done = depth / 16 * 8;
        for (kp, slot) in row.iter_mut().enumerate().skip(done) {
            let at = |k: usize| taps.get(k).map_or(0, |v| v.to_i32() - wz);
            *slot = pack(at(2 * kp), at(2 * kp + 1));
        }
    }
}

/// Widens output channels `oc0..oc0 + m` to `w - w_zero` pairs, pair-major
/// (`wt[kp · OCT + o]`, so that a Cortex-M tile reads one contiguous run; mlperf-kws-int8's
/// pointwise layers take 1.34 M instructions each this way, 1.71 M channel by channel);
/// channels `m..OCT` are 0.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
use widen_pair_major as widen_weights;

/// [`widen_weights`] on targets without SIMD (compiled for the tests everywhere).
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
fn widen_pair_major<W: QInt>(
    w: &[W],
    w_zero: &[i32],
    depth: usize,
    oc0: usize,
    m: usize,
    wt: &mut [u32],
) {
    let pairs = depth.div_ceil(2);
    let wt = &mut wt[..pairs * OCT];
    for o in 0..OCT {
        // Zipped chunk iterators: no bounds checks (a `step_by` over the slots took
        // about 14 instructions a pair on the Cortex-M7).
        if o >= m {
            for slots in wt.chunks_exact_mut(OCT) {
                slots[o] = 0;
            }
            continue;
        }
        let taps = &w[(oc0 + o) * depth..][..depth];
        let wz = pick(w_zero, oc0 + o);
        let mut slots = wt.chunks_exact_mut(OCT);
        // Taps first: `zip` polls its first iterator first, and must not take a slot
        // past the last whole pair.
        for (two, slot) in taps.chunks_exact(2).zip(&mut slots) {
            slot[o] = pack(two[0].to_i32() - wz, two[1].to_i32() - wz);
        }
        if let (Some(slot), Some(&last)) = (slots.next(), taps.chunks_exact(2).remainder().first())
        {
            slot[o] = pack(last.to_i32() - wz, 0);
        }
    }
}

/// The sums of one gathered block against one tile of widened weights, for positions
/// `0..n` (rounded up to whole tiles; the gathered padding beyond `n` is 0):
/// `acc[o][j] = bases[o] + Σ_kp pair(x[j][kp]) · pair(w[o][kp])`. The block holds its
/// positions tile by tile, each tile pair-major (`cols[(t · pairs + kp) · PT + jj]`), so a
/// tile reads one contiguous run of `cols` and one of `wt`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(never)]
fn block(cols: &[u32], wt: &[u32], bases: &[i32; OCT], n: usize, acc: &mut [[i32; PB_MAX]; OCT]) {
    let pairs = wt.len() / OCT;
    if pairs == 0 {
        return;
    }
    for (t, run) in cols
        .chunks_exact(pairs * PT)
        .take(n.div_ceil(PT))
        .enumerate()
    {
        let sums = tile(run, wt, bases);
        // Constant indices into `sums`, so its values stay in registers at every opt level.
        for (row, tile_row) in acc.iter_mut().zip(&sums) {
            row[t * PT..][..PT].copy_from_slice(tile_row);
        }
    }
}

/// [`block`] in scalars, with `wt` pair-major: the DSP extension's `SMLAD` loop where the
/// target has it ([`crate::dsp::smlad_block_4x2`]).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(never)]
fn block(cols: &[u32], wt: &[u32], bases: &[i32; OCT], n: usize, acc: &mut [[i32; PB_MAX]; OCT]) {
    const { assert!(OCT == 4 && PT == 2) };
    crate::dsp::smlad_block_4x2(cols, wt, bases, n.div_ceil(PT), acc);
}

/// One `OCT × PT` tile over its run of gathered pairs, as 8-lane `madd`s: each vector holds
/// eight positions' pairs, each weight pair is broadcast.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn tile(run: &[u32], wt: &[u32], bases: &[i32; OCT]) -> [[i32; PT]; OCT] {
    use wide::{i16x16, i32x8};
    const V: usize = PT / 8;
    let pairs = wt.len() / OCT;
    let rows: [&[u32]; OCT] = core::array::from_fn(|o| &wt[o * pairs..][..pairs]);
    let mut acc: [[i32x8; V]; OCT] = core::array::from_fn(|o| [i32x8::splat(bases[o]); V]);
    let run = &run[..pairs * PT];
    for kp in 0..pairs {
        // Both lengths are `pairs` multiples, so these indexings need no checks.
        let xs = &run[kp * PT..][..PT];
        let weights: [u32; OCT] = core::array::from_fn(|o| rows[o][kp]);
        let xv: [i16x16; V] = core::array::from_fn(|v| {
            let lanes: [u32; 8] = xs[v * 8..][..8].try_into().unwrap_or([0; 8]);
            bytemuck::cast(lanes)
        });
        for (acc_row, &wv) in acc.iter_mut().zip(&weights) {
            let wv: i16x16 = bytemuck::cast(i32x8::splat(wv as i32));
            for (a, &x) in acc_row.iter_mut().zip(&xv) {
                *a += x.dot(wv);
            }
        }
    }
    core::array::from_fn(|o| {
        let mut out = [0i32; PT];
        for (chunk, v) in out.chunks_exact_mut(8).zip(&acc[o]) {
            chunk.copy_from_slice(&v.to_array());
        }
        out
    })
}

/// Quantized depthwise convolution (one input and one output channel per group):
/// `y[c] = finish(bias[c] + Σ (x - x_zero) · (w - w_zero[c]))` with the same arguments
/// as [`qconv2d_im2col`]. When the convolution pads, `scratch` should hold
/// [`qconv2d_depthwise_scratch_len`] words: each input plane is copied into it inside a
/// frame of `x_zero`, so that every output takes the same unbroken tap loop (where it is
/// too short for the frame, each channel goes through the tap walker,
/// [`crate::qlinear::qconv2d`], slowly). `p` must satisfy [`qconv2d_is_depthwise`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn qconv2d_depthwise<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[W],
    w_zero: &[i32],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512vnni",
        target_feature = "avx512vl",
        target_feature = "avx512vbmi",
        target_feature = "avx512bw"
    ))]
    if windows::tiny_applies::<X, W, Y>(p, x_zero, w_zero) {
        let w: &[i8] = bytemuck::cast_slice(w);
        return windows::tiny::<X, Y>(p, x, x_zero, w, bias, rq, y);
    }
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512vnni",
        target_feature = "avx512vl",
        target_feature = "avx512bw"
    ))]
    if windows::applies::<X, W, Y>(p, x_zero, w_zero) {
        let w: &[i8] = bytemuck::cast_slice(w);
        let (scratch, y) = (&mut *scratch, &mut *y);
        let ran = if p.stride_w == 1 {
            windows::depthwise::<X, Y, 1>(p, x, x_zero, w, bias, rq, scratch, y)
        } else {
            windows::depthwise::<X, Y, 2>(p, x, x_zero, w, bias, rq, scratch, y)
        };
        if ran {
            return;
        }
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if channels_depthwise(p, (x, x_zero, w, w_zero, bias, rq, &mut *scratch, &mut *y)) {
        return;
    }
    #[cfg(all(target_arch = "arm", zant_mve))]
    if helium::depthwise_applies::<X, W, 3>(p, w_zero, scratch.len() * 4) {
        return helium::depthwise::<X, W, Y, 3>(p, x, x_zero, w, bias, rq, scratch, y);
    }
    // The common kernels get their size and stride as constants, so the tap loops
    // unroll and the taps stay in registers.
    let args = (x, x_zero, w, w_zero, bias, rq, scratch, y);
    match (p.k_h, p.k_w, p.stride_w, p.dil_w) {
        (3, 3, 1, 1) => depthwise::<X, W, Y, 3, 1>(p, args),
        (3, 3, 2, 1) => depthwise::<X, W, Y, 3, 2>(p, args),
        (5, 5, 1, 1) => depthwise::<X, W, Y, 5, 1>(p, args),
        (5, 5, 2, 1) => depthwise::<X, W, Y, 5, 2>(p, args),
        _ => depthwise::<X, W, Y, 0, 0>(p, args),
    }
}

/// [`qconv2d_depthwise`] overwriting its input, laid out as
/// [`crate::conv::conv2d_depthwise_in_place`]'s `buf`: the output from the start, the
/// input `shift` elements after it (at least [`crate::conv::depthwise_in_place_shift`]),
/// computed in groups
/// of [`crate::conv::IN_PLACE_GROUP`] channels. The input and output types are both one
/// byte (`X` and `Y` share the buffer). `p` must
/// [`crate::conv::depthwise_in_place_fits`]; otherwise, or with `buf` short, nothing is
/// written.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn qconv2d_depthwise_in_place<T: QInt + QOut, W: QInt>(
    p: &Conv2d,
    buf: &mut [T],
    shift: usize,
    x_zero: i32,
    w: &[W],
    w_zero: &[i32],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
) {
    let taps = p.k_h * p.k_w;
    // A list of one value holds for every channel; a longer one is sliced to the group.
    fn group<V>(list: &[V], c0: usize, g: usize) -> Option<&[V]> {
        if list.len() <= 1 {
            Some(list)
        } else {
            list.get(c0..c0 + g)
        }
    }
    crate::conv::in_place::by_groups(p, buf, shift, |sub, c0, x, y| {
        let g = sub.c_in;
        let (Some(w), Some(w_zero), Some(bias), Some(scale)) = (
            w.get(c0 * taps..(c0 + g) * taps),
            group(w_zero, c0, g),
            // The kernel reads `bias[c]`, empty for none: one per channel or none.
            if bias.is_empty() {
                Some(bias)
            } else {
                bias.get(c0..c0 + g)
            },
            group(rq.scale, c0, g),
        ) else {
            return;
        };
        let rq = Requant { scale, ..rq };
        qconv2d_depthwise::<T, W, T>(sub, x, x_zero, w, w_zero, bias, rq, scratch, y);
    });
}

/// [`qconv2d_depthwise`] on vectors of eight channels (`conv/channels.rs`), where the
/// scratch holds the kernel's band: each position of the band is the input's bytes as
/// they are, padded with `x_zero`, so every tap sums `x · w'` and the zero point's share
/// `x_zero · Σ w'` comes off each channel's base, as in [`depthwise`]. Returns whether it
/// ran.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn channels_depthwise<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    (x, x_zero, w, w_zero, bias, rq, scratch, y): DepthwiseArgs<'_, X, W, Y>,
) -> bool {
    use crate::conv::channels::Lane;
    use crate::gemm::simd::F32x8;
    let taps = p.k_h * p.k_w;
    let scratch = bytemuck::cast_slice_mut::<f32, X>(scratch);
    // Requantized 8-bit outputs only (QLinearConv); ConvInteger's raw sums take the
    // kernel below.
    let Some(bounds) = Y::REQUANTIZED else {
        return false;
    };
    if core::mem::size_of::<Y>() != 1 {
        return false;
    }
    // Every sum is exact in `f32` and below 2^22 in magnitude: at most
    // `DEPTHWISE_MAX_TAPS` products of an 8-bit value and a difference of two.
    const { assert!(DEPTHWISE_MAX_TAPS * 255 * 255 < 1 << 22) };
    if taps > DEPTHWISE_MAX_TAPS {
        return false;
    }
    if scratch.len() < channels::scratch_bytes(p) {
        return false;
    }
    channels::run::<X, Requantized<Y>, F32x8, _, LANES, { channels::RUN }>(
        p,
        x,
        X::saturate(x_zero),
        scratch,
        y,
        |first, n, weights| {
            let (mut bases, mut scales) = ([0i32; LANES], [0.0f32; LANES]);
            // Minus each channel's weight zero point.
            let mut zeros = [0.0f32; LANES];
            let mut kernels: [&[W]; LANES] = [&[]; LANES];
            unroll!(LANES, |l| if l < n {
                zeros[l] = -(pick(w_zero, first + l) as f32);
                kernels[l] = w
                    .get((first + l) * taps..(first + l + 1) * taps)
                    .unwrap_or(&[]);
            });
            // The taps of eight channels eight at a time, transposed as the input is, the
            // last eight overlapping their predecessors (exact in `f32`: differences of
            // two 8-bit values).
            let zeros = F32x8::from_array(zeros);
            if weights.len() >= LANES {
                let mut t = 0;
                while t < weights.len() {
                    let from = t.min(weights.len() - LANES);
                    let positions = W::positions::<F32x8>(&kernels, from);
                    unroll!(LANES, |k| if let Some(weight) = weights.get_mut(from + k) {
                        *weight = W::vector::<F32x8>(&positions[k]).add(zeros);
                    });
                    t = from + LANES;
                }
            } else {
                // Fewer taps than a vector (a 1 × 3 kernel, say): one at a time.
                for (t, weight) in weights.iter_mut().enumerate() {
                    let mut lanes = [W::zeroed(); LANES];
                    unroll!(LANES, |l| lanes[l] =
                        kernels[l].get(t).copied().unwrap_or(W::zeroed()));
                    *weight = W::vector::<F32x8>(&lanes).add(zeros);
                }
            }
            let mut tap_sums = F32x8::splat(0.0);
            for &weight in weights.iter() {
                tap_sums = tap_sums.add(weight);
            }
            let tap_sums = tap_sums.to_array();
            unroll!(LANES, |l| if l < n {
                let c = first + l;
                let base = bias
                    .get(c)
                    .copied()
                    .unwrap_or(0)
                    .wrapping_sub(x_zero.wrapping_mul(tap_sums[l] as i32));
                bases[l] = base;
                scales[l] = pick(rq.scale, c);
            });
            let mut clamp = false;
            unroll!(LANES, |l| clamp |=
                !small_products(taps, bases[l], scales[l]));
            let magic_bits = crate::qlinear::ROUND_MAGIC.to_bits() as i32;
            let finish = Requantized {
                base: wide::i32x8::from(bases) - wide::i32x8::splat(magic_bits),
                scale: wide::f32x8::from(scales),
                zero: rq.zero,
                bounds,
                clamp,
                out: core::marker::PhantomData,
            };
            (F32x8::splat(0.0), finish)
        },
    )
}

/// Channels in one vector of [`channels_depthwise`].
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const LANES: usize = channels::LANES;

/// How [`channels_depthwise`] finishes a block's sums: eight outputs of eight channels
/// at a time, requantized with each channel's base and scale, narrowed to bytes and only
/// then transposed.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
struct Requantized<Y> {
    /// Each channel's base, less the bits of [`ROUND_MAGIC`] (see `store`).
    base: wide::i32x8,
    scale: wide::f32x8,
    zero: i32,
    /// `Y`'s bounds.
    bounds: (i32, i32),
    /// Whether some channel's sums may exceed [`small_products`]'s bound, so that the
    /// product is clamped in `f32` before rounding.
    clamp: bool,
    out: core::marker::PhantomData<Y>,
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl<Y: QOut> channels::Epilogue<crate::gemm::simd::F32x8, LANES> for Requantized<Y> {
    type Out = Y;

    #[inline(always)]
    fn store(
        &self,
        sums: [crate::gemm::simd::F32x8; LANES],
        n: usize,
        y: &mut [Y],
        out_plane: usize,
        first_out: usize,
        len: usize,
    ) {
        use crate::qlinear::{requantize_lanes, ROUND_MAGIC};
        use wide::{f32x8, i32x8};
        let magic = f32x8::splat(ROUND_MAGIC);
        let (min, max) = (i32x8::splat(self.bounds.0), i32x8::splat(self.bounds.1));
        let mut values = [i32x8::splat(0); LANES];
        unroll!(LANES, |j| {
            // A sum is an integer below 2^22 in magnitude (`channels_depthwise`), so
            // adding 1.5 · 2^23 leaves it in the low mantissa bits.
            let sum = f32x8::from(sums[j].to_array()) + magic;
            let acc = bytemuck::cast::<f32x8, i32x8>(sum) + self.base;
            values[j] = if self.clamp {
                requantize_lanes::<true>(acc, self.scale, self.zero, self.bounds)
            } else {
                requantize_lanes::<false>(acc, self.scale, self.zero, self.bounds)
                    .max(min)
                    .min(max)
            };
        });
        let planes = channel_bytes(values, self.bounds.0 < 0);
        let Ok(y) = bytemuck::try_cast_slice_mut::<Y, u8>(y) else {
            return;
        };
        unroll!(LANES, |l| if l < n {
            let out = l * out_plane + first_out;
            let plane = planes[l].to_le_bytes();
            if len == LANES {
                if let Some(out) = y.get_mut(out..).and_then(<[u8]>::first_chunk_mut::<LANES>) {
                    *out = plane;
                }
            } else if let Some(out) = y.get_mut(out..out + len) {
                for (o, &v) in out.iter_mut().zip(&plane) {
                    *o = v;
                }
            }
        });
    }
}

/// Eight positions of eight channels' requantized outputs (lane `l` of `values[j]` is
/// channel `l` at position `j`, within the bounds of a signed or an unsigned byte) as
/// each channel's eight bytes, position `j` in byte `j`.
///
/// With AVX2, in registers: two saturating packs narrow each pair and quad of positions
/// to bytes, a byte shuffle orders each 128-bit half by channel, and 32-bit unpacks join
/// the halves of each channel's run.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
#[inline(always)]
fn channel_bytes(values: [wide::i32x8; LANES], signed: bool) -> [u64; LANES] {
    use safe_arch::{
        m256i, pack_i16_to_i8_m256i, pack_i16_to_u8_m256i, pack_i32_to_i16_m256i,
        shuffle_av_i8z_half_m256i, unpack_high_i32_m256i, unpack_low_i32_m256i,
    };
    let v = |j: usize| bytemuck::cast::<wide::i32x8, m256i>(values[j]);
    // Positions j and j + 1 as `i16`: [j c0–3, j+1 c0–3 | j c4–7, j+1 c4–7].
    let (p01, p23) = (
        pack_i32_to_i16_m256i(v(0), v(1)),
        pack_i32_to_i16_m256i(v(2), v(3)),
    );
    let (p45, p67) = (
        pack_i32_to_i16_m256i(v(4), v(5)),
        pack_i32_to_i16_m256i(v(6), v(7)),
    );
    // Four positions as bytes, position-major in each half (channels 0–3, then 4–7).
    let (low, high) = if signed {
        (
            pack_i16_to_i8_m256i(p01, p23),
            pack_i16_to_i8_m256i(p45, p67),
        )
    } else {
        (
            pack_i16_to_u8_m256i(p01, p23),
            pack_i16_to_u8_m256i(p45, p67),
        )
    };
    // Channel-major in each half: channel c's four positions in one 32-bit word.
    let order: [u8; 16] = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];
    let mut both = [0u8; 32];
    both[..16].copy_from_slice(&order);
    both[16..].copy_from_slice(&order);
    let order = m256i::from(both);
    let (low, high) = (
        shuffle_av_i8z_half_m256i(low, order),
        shuffle_av_i8z_half_m256i(high, order),
    );
    // Positions 0–3 and 4–7 of a channel side by side: channels 0, 1 | 4, 5 and
    // 2, 3 | 6, 7.
    let a: [u64; 4] = unpack_low_i32_m256i(low, high).into();
    let b: [u64; 4] = unpack_high_i32_m256i(low, high).into();
    [a[0], a[1], b[0], b[1], a[2], a[3], b[2], b[3]]
}

/// [`channel_bytes`] lane by lane, through the `i32` transpose (SIMD targets without
/// AVX2).
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(all(target_arch = "x86_64", target_feature = "avx2"))
))]
#[inline(always)]
fn channel_bytes(values: [wide::i32x8; LANES], _signed: bool) -> [u64; LANES] {
    use crate::gemm::simd::{transpose, F32x8};
    let mut rows = [F32x8::splat(0.0); LANES];
    unroll!(LANES, |j| rows[j] =
        F32x8::from_array(bytemuck::cast(values[j].to_array())));
    let columns = transpose(rows);
    let mut planes = [0u64; LANES];
    unroll!(LANES, |l| {
        let lanes: [i32; LANES] = bytemuck::cast(columns[l].to_array());
        let mut bytes = [0u8; LANES];
        unroll!(LANES, |j| bytes[j] = lanes[j] as u8);
        planes[l] = u64::from_le_bytes(bytes);
    });
    planes
}

/// Whether the target has the vector registers the `wide` kernels use.
const SIMD: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Outputs per register tile of the depthwise kernel: one 8-lane vector, or four
/// scalars on Cortex-M.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const DW_TILE: usize = 4;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const DW_TILE: usize = 8;

/// Outputs per tile of the stride-1 run of virtual positions ([`OffsetRun`], SIMD targets
/// only): four 8-lane vectors share each tap's broadcast and the loop around them.
const RUN_TILE: usize = 32;

/// The operands of [`depthwise`], in [`qconv2d_depthwise`]'s order after the geometry.
type DepthwiseArgs<'a, X, W, Y> = (
    &'a [X],
    i32,
    &'a [W],
    &'a [i32],
    &'a [i32],
    Requant<'a>,
    &'a mut [f32],
    &'a mut [Y],
);

/// The depthwise kernel: `K` is the square kernel's side and `S` the horizontal stride
/// when both are compile-time constants (dilation 1), or 0 for any geometry from `p`.
#[inline(always)]
fn depthwise<X: QInt, W: QInt, Y: QOut, const K: usize, const S: usize>(
    p: &Conv2d,
    args: DepthwiseArgs<'_, X, W, Y>,
) {
    depthwise_on::<X, W, Y, K, S, ROWS3_MIN_WIDTH>(p, args);
}

/// The output width from which 3 × 3 depthwise channels take the DSP extension's rows
/// ([`Rows3`]); `usize::MAX` where they do not. With 8-bit outputs those are one `asm!`
/// block that also ends odd rows (mlperf-kws-int8's 5-wide rows: 311 k instructions a
/// layer by the tap loop, 181 k so); in Rust a narrow row's last output goes one by one,
/// a few per cent slower than the tap loop, but only for 32-bit outputs. Built for size,
/// [`Rows3`]'s zipped chunk iterators stay calls (mlperf-kws-int8 at "z": 10.2 M
/// instructions with the tap loop, 14.8 M with it).
const ROWS3_MIN_WIDTH: usize = if crate::dsp::HAS_DSP && !cfg!(zant_size) {
    3
} else {
    usize::MAX
};

/// [`depthwise`], with the DSP extension's 3 × 3 rows ([`Rows3`]) for outputs at least
/// `DSP_WIDTH` wide (the tests also set it on targets without the extension, to run the
/// portable twins).
fn depthwise_on<
    X: QInt,
    W: QInt,
    Y: QOut,
    const K: usize,
    const S: usize,
    const DSP_WIDTH: usize,
>(
    p: &Conv2d,
    (x, x_zero, w, w_zero, bias, rq, scratch, y): DepthwiseArgs<'_, X, W, Y>,
) {
    let p = *p;
    let (k_h, k_w) = if K > 0 { (K, K) } else { (p.k_h, p.k_w) };
    let (stride_w, dil_w) = if S > 0 { (S, 1) } else { (p.stride_w, p.dil_w) };
    let taps = k_h * k_w;
    if taps == 0 || taps > DEPTHWISE_MAX_TAPS {
        return;
    }
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let (rows, cols) = padded_extent(&p);
    let padded = frame_bytes(&p) > 0;
    // A scratch too short for the frame (shorter than [`qconv2d_depthwise_scratch_len`])
    // takes the tap walker, as the im2col kernel's does.
    if padded && core::mem::size_of_val(scratch) / core::mem::size_of::<X>() < rows * cols {
        return unblocked(&p, x, x_zero, w, w_zero, bias, rq, y);
    }
    let frame: &mut [X] = if padded {
        // The frame (`rows × cols`) and, where the scratch has them, four bytes past it,
        // which the DSP rows' last word at stride 2 reaches (one byte it does not use).
        let scratch = bytemuck::cast_slice_mut::<f32, X>(scratch);
        let len = scratch.len().min(rows * cols + 4);
        let frame = &mut scratch[..len];
        // The frame stays x_zero; each channel overwrites only the input's place in it.
        frame.fill(X::saturate(x_zero));
        frame
    } else {
        &mut []
    };
    // The input rows and columns that land inside the frame.
    let copy_rows = p.h_in.min(rows.saturating_sub(p.pad_top));
    let copy_cols = p.w_in.min(cols.saturating_sub(p.pad_left));
    let span = (k_w - 1) * dil_w + 1;
    // Each channel overwrites the first `taps` of it; zeroed once a layer (per channel the
    // clear cost about 45 instructions on the Cortex-M7).
    let mut kernel_taps = [0i32; DEPTHWISE_MAX_TAPS];
    for b in 0..p.batch {
        for c in 0..p.c_out {
            let wz = pick(w_zero, c);
            for (k, &v) in kernel_taps.iter_mut().zip(&w[c * taps..][..taps]) {
                *k = v.to_i32() - wz;
            }
            let kernel = &kernel_taps[..taps];
            // Every tap reads a real value or the frame's x_zero, so the zero point's
            // share is one constant: Σ (x - x_zero) · w' = Σ x · w' - x_zero · Σ w'.
            let tap_sum = kernel.iter().fold(0i32, |s, &v| s.wrapping_add(v));
            let base = bias
                .get(c)
                .copied()
                .unwrap_or(0)
                .wrapping_sub(x_zero.wrapping_mul(tap_sum));
            let scale = pick(rq.scale, c);
            // Every sum is `base` plus `taps` products of an 8-bit value and an 8-bit
            // difference.
            let small = small_products(taps, base, scale);
            let finish =
                |acc: &[i32], out: &mut [Y]| Y::finish_run(acc, 0, scale, rq.zero, small, out);
            let x_c = &x[(b * p.c_in + c) * plane_in..][..plane_in];
            // `source` is the frame itself; the DSP rows get the bytes past it too.
            let (source, width, dsp_source): (&[X], usize, &[X]) = if padded {
                for r in 0..copy_rows {
                    let at = (r + p.pad_top) * cols + p.pad_left;
                    crate::copy::copy_bytes(
                        &mut frame[at..at + copy_cols],
                        &x_c[r * p.w_in..][..copy_cols],
                    );
                }
                (&frame[..rows * cols], cols, &*frame)
            } else {
                (x_c, p.w_in, x_c)
            };
            let y_c = &mut y[(b * p.c_out + c) * plane_out..][..plane_out];
            if K == 3 && p.dil_h == 1 && p.w_out >= DSP_WIDTH {
                // A 3 × 3 kernel of dilation 1 (`S` is then 1 or 2): the DSP extension's
                // halfword products.
                let rows = Rows3 {
                    width,
                    stride_h: p.stride_h,
                    w_out: p.w_out,
                    scale,
                    zero: rq.zero,
                };
                rows.run::<X, Y, S>(dsp_source, kernel, base, small, y_c);
                continue;
            }
            if SIMD && p.stride_h == 1 && stride_w == 1 {
                // Stride 1 on SIMD targets: output (oh, ow) reads the source at
                // `oh · width + ow` plus each tap's offset, so the outputs of all rows form
                // one run along the source (with `width - w_out` columns between rows that
                // are computed and dropped), and the vectors stay full whatever the row
                // width. On Cortex-M the dropped columns and the per-output row test cost
                // more than they save (mlperf-kws-int8's 5-column depthwise layers: 335 k
                // instructions each by rows, 568 k as a run).
                let rows = OffsetRun {
                    width,
                    w_out: p.w_out,
                    h_out: p.h_out,
                    dil_h: p.dil_h,
                    dil_w,
                };
                rows.run::<X, Y>(source, kernel, k_w, base, &finish, y_c);
                continue;
            }
            for (oh, y_row) in y_c.chunks_exact_mut(p.w_out.max(1)).enumerate() {
                let row0 = oh * p.stride_h * width;
                // Tiles of DW_TILE outputs along the row share each tap's weight.
                let tiles = p.w_out / DW_TILE;
                let tile_span = (DW_TILE - 1) * stride_w + span;
                // Index loops over the taps and an unrolled tile: at "z" iterators stay
                // calls and a rolled tile goes through the stack.
                for t in 0..tiles {
                    let start = row0 + t * DW_TILE * stride_w;
                    let mut acc = [base; DW_TILE];
                    if K > 0 {
                        // A kernel size known at compile time: every tap written out.
                        unroll!(K, |kh| {
                            let at = start + kh * p.dil_h * width;
                            let window = &source[at..at + tile_span];
                            unroll!(K, |kw| {
                                add_tap(
                                    &mut acc,
                                    window,
                                    kw * dil_w,
                                    stride_w,
                                    kernel[kh * K + kw],
                                );
                            });
                        });
                    } else {
                        for kh in 0..k_h {
                            let at = start + kh * p.dil_h * width;
                            let window = &source[at..at + tile_span];
                            for kw in 0..k_w {
                                add_tap(
                                    &mut acc,
                                    window,
                                    kw * dil_w,
                                    stride_w,
                                    kernel[kh * k_w + kw],
                                );
                            }
                        }
                    }
                    let mut values = [0i32; DW_TILE];
                    unroll!(DW_TILE, |j| values[j] = acc[j]);
                    let outs = &mut y_row[t * DW_TILE..][..DW_TILE];
                    Y::finish_run(&values, 0, scale, rq.zero, small, outs);
                }
                // Index loops: enumerating and skipping iterators stay calls at "z".
                #[allow(clippy::needless_range_loop)]
                for ow in tiles * DW_TILE..p.w_out {
                    let start = row0 + ow * stride_w;
                    let mut acc = base;
                    for kh in 0..k_h {
                        let at = start + kh * p.dil_h * width;
                        let window = &source[at..at + span];
                        for kw in 0..k_w {
                            let t = kernel[kh * k_w + kw];
                            acc = acc.wrapping_add(window[kw * dil_w].to_i32() * t);
                        }
                    }
                    y_row[ow] = Y::finish(acc, scale, rq.zero);
                }
            }
        }
    }
}

/// A 3 × 3 depthwise channel of dilation 1 on the Arm DSP extension, row by row.
///
/// Each kernel row is two words: `(w0, w2)` as a pair of `i16`s and `w1` in a low half.
/// Four source bytes `s0..s3`, widened to the pairs `(s0, s2)` and `(s1, s3)` (`SXTB16`
/// or `UXTB16`), give an output's row in two instructions: `SMLAD` of `(s0, s2)` and
/// `(w0, w2)`, then `SMLABB` of `s1` and `w1`. At stride 1 the same four bytes also give
/// the next output's row, `SMLAD` of `(s1, s3)` and `SMLATB` of `s2`: seven instructions
/// for six products, where the tap loop takes a load and a multiply-accumulate for each.
/// An output whose three bytes end its row reads the word one byte earlier and takes the
/// second form.
struct Rows3 {
    width: usize,
    stride_h: usize,
    w_out: usize,
    /// The channel's requantization.
    scale: f32,
    zero: i32,
}

impl Rows3 {
    /// The channel from `source` (rows of `width`) into `y` (rows of `w_out`), every sum
    /// starting at `base`; `S` is the horizontal stride, 1 or 2, and `small` says that
    /// [`small_products`] bounds the sums.
    #[inline(always)]
    fn run<X: QInt, Y: QOut, const S: usize>(
        &self,
        source: &[X],
        kernel: &[i32],
        base: i32,
        small: bool,
        y: &mut [Y],
    ) {
        if small {
            self.run_as::<X, Y, S, true>(source, kernel, base, y);
        } else {
            self.run_as::<X, Y, S, false>(source, kernel, base, y);
        }
    }

    /// [`Rows3::run`] with `small` a constant. Not inlined: in a function of its own the
    /// loop keeps its taps and sums in registers (inlined into [`depthwise_on`], LLVM
    /// spilled them, and each step reloaded five of them).
    #[inline(never)]
    fn run_as<X: QInt, Y: QOut, const S: usize, const SMALL: bool>(
        &self,
        source: &[X],
        kernel: &[i32],
        base: i32,
        y: &mut [Y],
    ) {
        let finish = |acc: &[i32], out: &mut [Y]| {
            Y::finish_run(acc, 0, self.scale, self.zero, SMALL, out);
        };
        use crate::dsp::{smlabb, smlad, smlatb};
        let (width, w_out) = (self.width, self.w_out);
        // The bytes an output row reads: `(w_out - 1) · S + 3`.
        let span = (w_out.max(1) - 1) * S + 3;
        if kernel.len() != 9 || w_out == 0 || span > width {
            return;
        }
        let half = |v: i32| u32::from(v as i16 as u16);
        let taps: [(u32, u32); 3] = core::array::from_fn(|r| {
            (
                half(kernel[3 * r]) | half(kernel[3 * r + 2]) << 16,
                half(kernel[3 * r + 1]),
            )
        });
        // 8-bit outputs (at stride 1 rows of an even width): the whole channel in one
        // `asm!` block on the DSP extension (`dsp::depthwise3_rows`; its portable twin
        // elsewhere, which the tests reach).
        if let (true, 1, Some((y_min, _))) = (SMALL, core::mem::size_of::<Y>(), Y::REQUANTIZED) {
            let rows = crate::dsp::Depthwise3Rows {
                source: bytemuck::cast_slice(source),
                signed_x: X::MIN < 0,
                signed_y: y_min < 0,
                width,
                stride_h: self.stride_h,
                stride_w: S,
                h_out: y.len() / w_out,
                w_out,
                taps: [
                    taps[0].0,
                    taps[1].0,
                    taps[2].0,
                    taps[0].1 | taps[1].1 << 16,
                    taps[2].1,
                ],
                base,
                scale: self.scale,
                zero: self.zero,
            };
            if crate::dsp::depthwise3_rows(&rows, bytemuck::cast_slice_mut(y)) {
                return;
            }
        }
        // One output at `off`: the word there, or one byte earlier where the row ends.
        let one = |rows: &[&[X]; 3], off: usize| -> i32 {
            let mut acc = base;
            if off + 4 <= span {
                unroll!(3, |r| {
                    let (even, odd) = X::widen(X::word(&rows[r][off..]));
                    acc = smlad(even, taps[r].0, acc);
                    acc = smlabb(odd, taps[r].1, acc);
                });
            } else if off >= 1 {
                unroll!(3, |r| {
                    let (even, odd) = X::widen(X::word(&rows[r][off - 1..]));
                    acc = smlad(odd, taps[r].0, acc);
                    acc = smlatb(even, taps[r].1, acc);
                });
            } else {
                // A row of three bytes: no word fits it.
                for (r, row) in rows.iter().enumerate() {
                    for (k, v) in row[off..off + 3].iter().enumerate() {
                        acc = acc.wrapping_add(v.to_i32() * kernel[3 * r + k]);
                    }
                }
            }
            acc
        };
        for (oh, y_row) in y.chunks_exact_mut(w_out).enumerate() {
            let at = oh * self.stride_h * width;
            let Some(block) = source.get(at..at + 2 * width + span) else {
                return;
            };
            let rows = [
                &block[..span],
                &block[width..width + span],
                &block[2 * width..2 * width + span],
            ];
            // Outputs two a step while both words lie inside the span, each row sliced
            // to the words the steps read, so that the loads need no bounds checks; the
            // rest one by one.
            // Item `i` of a row's words: its bytes `2i .. 2i + 4`, as two halves from
            // zipped chunk iterators, which index without bounds checks (and whose two
            // adjacent halfword loads LLVM merges into one word load).
            fn words<X: QInt>(row: &[X], n: usize) -> impl Iterator<Item = u32> + '_ {
                let row: &[u8] = bytemuck::cast_slice(&row[..2 * n + 2]);
                row.chunks_exact(2)
                    .zip(row[2..].chunks_exact(2))
                    .map(|(lo, hi)| u32::from_le_bytes([lo[0], lo[1], hi[0], hi[1]]))
            }
            let j = if S == 1 {
                // Two outputs a word: the word at `2q` serves outputs `2q` and `2q + 1`.
                let pairs = w_out / 2;
                let outputs = y_row[..2 * pairs].chunks_exact_mut(2);
                let steps = outputs
                    .zip(words(rows[0], pairs))
                    .zip(words(rows[1], pairs))
                    .zip(words(rows[2], pairs));
                for (((out, w0), w1), w2) in steps {
                    let mut acc = [base; 2];
                    let words = [w0, w1, w2];
                    unroll!(3, |r| {
                        let (even, odd) = X::widen(words[r]);
                        acc[0] = smlad(even, taps[r].0, acc[0]);
                        acc[0] = smlabb(odd, taps[r].1, acc[0]);
                        acc[1] = smlad(odd, taps[r].0, acc[1]);
                        acc[1] = smlatb(even, taps[r].1, acc[1]);
                    });
                    finish(&acc, out);
                }
                2 * pairs
            } else {
                // One output a word, the word at `2j`; the last output's would pass the
                // span and is left to `one`.
                let n = w_out - 1;
                let steps = y_row[..n]
                    .iter_mut()
                    .zip(words(rows[0], n))
                    .zip(words(rows[1], n))
                    .zip(words(rows[2], n));
                for (((out, w0), w1), w2) in steps {
                    let mut acc = base;
                    let words = [w0, w1, w2];
                    unroll!(3, |r| {
                        let (even, odd) = X::widen(words[r]);
                        acc = smlad(even, taps[r].0, acc);
                        acc = smlabb(odd, taps[r].1, acc);
                    });
                    finish(&[acc], core::slice::from_mut(out));
                }
                n
            };
            for (k, out) in y_row.iter_mut().enumerate().skip(j) {
                finish(&[one(&rows, k * S)], core::slice::from_mut(out));
            }
        }
    }
}

/// One tap of a depthwise row tile: `acc[j] += window[offset + j · stride] · tap`, the
/// tile unrolled.
#[inline(always)]
fn add_tap<X: QInt>(
    acc: &mut [i32; DW_TILE],
    window: &[X],
    offset: usize,
    stride: usize,
    tap: i32,
) {
    unroll!(DW_TILE, |j| {
        let v = window[offset + j * stride].to_i32();
        acc[j] = acc[j].wrapping_add(v * tap);
    });
}

/// What [`OffsetRun::tiles`] reads: the source, the channel's taps (`k_w` a row), the sum
/// each output starts from, the virtual positions and how far past its own position the
/// last one's window reaches.
struct Tiles<'a, X> {
    source: &'a [X],
    kernel: &'a [i32],
    k_w: usize,
    base: i32,
    total: usize,
    reach: usize,
}

/// The stride-1 depthwise plane as one run of virtual positions `q = oh · width + ow`
/// over the source (see [`depthwise`]).
struct OffsetRun {
    width: usize,
    w_out: usize,
    h_out: usize,
    dil_h: usize,
    dil_w: usize,
}

impl OffsetRun {
    #[inline(always)]
    fn run<X: QInt, Y: QOut>(
        &self,
        source: &[X],
        kernel: &[i32],
        k_w: usize,
        base: i32,
        finish: &impl Fn(&[i32], &mut [Y]),
        y: &mut [Y],
    ) {
        if self.h_out == 0 || self.w_out == 0 {
            return;
        }
        let k_h = kernel.len() / k_w.max(1);
        // The last output's window ends at `reach` past its own position.
        let reach = (k_h - 1) * self.dil_h * self.width + (k_w - 1) * self.dil_w;
        let total = (self.h_out - 1) * self.width + self.w_out;
        // Positions arrive in order, so the row and column advance without a division;
        // a run of finished values goes out in row segments, dropping the columns past
        // `w_out`.
        let (mut oh, mut ow) = (0, 0);
        let mut store = |values: &[Y]| {
            let mut rest = values;
            while !rest.is_empty() {
                let take = rest.len().min(self.width - ow);
                if ow < self.w_out {
                    let keep = take.min(self.w_out - ow);
                    let at = oh * self.w_out + ow;
                    y[at..at + keep].copy_from_slice(&rest[..keep]);
                }
                rest = &rest[take..];
                ow += take;
                if ow == self.width {
                    (oh, ow) = (oh + 1, 0);
                }
            }
        };
        let mut q0 = 0;
        let tiles = Tiles {
            source,
            kernel,
            k_w,
            base,
            total,
            reach,
        };
        self.tiles::<X, Y, RUN_TILE>(&tiles, &mut q0, finish, &mut store);
        // A last whole 8-output tile before the outputs one by one.
        self.tiles::<X, Y, DW_TILE>(&tiles, &mut q0, finish, &mut store);
        for q in q0..total {
            let mut acc = base;
            for (kh, taps_row) in kernel.chunks_exact(k_w).enumerate() {
                let at = q + kh * self.dil_h * self.width;
                for (kw, &tap) in taps_row.iter().enumerate() {
                    acc = acc.wrapping_add(source[at + kw * self.dil_w].to_i32() * tap);
                }
            }
            let mut finished = [Y::finish(0, 0.0, 0)];
            finish(&[acc], &mut finished);
            store(&finished);
        }
    }

    /// Whole tiles of `T` virtual positions from `*q0` on, while their windows lie inside
    /// the source, each finished and stored in order; `*q0` ends past the last.
    #[inline(always)]
    fn tiles<X: QInt, Y: QOut, const T: usize>(
        &self,
        t: &Tiles<'_, X>,
        q0: &mut usize,
        finish: &impl Fn(&[i32], &mut [Y]),
        store: &mut impl FnMut(&[Y]),
    ) {
        while *q0 + T <= t.total && *q0 + T + t.reach <= t.source.len() {
            let mut acc = [t.base; T];
            for (kh, taps_row) in t.kernel.chunks_exact(t.k_w).enumerate() {
                let at = *q0 + kh * self.dil_h * self.width;
                let window = &t.source[at..at + T + (t.k_w - 1) * self.dil_w];
                for (kw, &tap) in taps_row.iter().enumerate() {
                    let run = &window[kw * self.dil_w..][..T];
                    for (a, &v) in acc.iter_mut().zip(run) {
                        *a = a.wrapping_add(v.to_i32() * tap);
                    }
                }
            }
            let mut finished = [Y::finish(0, 0.0, 0); T];
            finish(&acc, &mut finished);
            store(&finished);
            *q0 += T;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qlinear::qconv2d;

    /// Output channel `oc`'s scale among scales whose products leave the output range,
    /// and a NaN: they take the requantizers' clamping paths, where the tests' other
    /// scales take the short ones (`small_products`).
    pub(crate) fn wide_scale(oc: usize) -> f32 {
        [0.0007, 45.0, 0.002, f32::NAN][oc % 4]
    }

    /// Output channel `oc`'s bias as the tap walker ([`qconv2d`]) takes it:
    /// `bias[oc] - x_zero · Σ (w - w_zero[oc])` over the channel's `depth` weights
    /// (`w_zero` empty: no zero points). The references of the tests below.
    pub(crate) fn fold_bias(
        w: &[i8],
        depth: usize,
        w_zero: &[i32],
        bias: &[i32],
        x_zero: i32,
        oc: usize,
    ) -> i32 {
        let zero = w_zero.get(oc).copied().unwrap_or(0);
        let sum: i32 = w[oc * depth..][..depth]
            .iter()
            .map(|&v| i32::from(v) - zero)
            .sum();
        bias[oc] - x_zero * sum
    }

    /// Deterministic bytes from a linear congruential sequence.
    fn bytes<const N: usize>(seed: u32) -> [u8; N] {
        let mut s = seed;
        core::array::from_fn(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
    }

    /// Both depthwise kernels (the channel-vector one where the target has SIMD, and the
    /// per-channel one that Cortex-M runs) against the tap walker, requantized to `i8`
    /// and `u8` with per-channel scales, from `u8` and `i8` inputs, on whole and partial
    /// blocks of eight channels, strides 1 and 2, 3 × 3, 5 × 5, dilation and a batch.
    #[test]
    fn pair_major_weights_are_the_zero_pointed_pairs() {
        // Odd and even depths, a full tile and a partial one, per-channel zero points.
        for depth in [1usize, 2, 5, 8, 27] {
            let w: [i8; 6 * 27] = core::array::from_fn(|i| (i as i32 * 37 % 251 - 125) as i8);
            let w_zero = [3, -2, 0, 7, 1, -5];
            for (oc0, m) in [(0, OCT), (2, 3), (5, 1)] {
                let pairs = depth.div_ceil(2);
                let mut wt = [u32::MAX; 14 * OCT];
                widen_pair_major(&w[..6 * depth], &w_zero, depth, oc0, m, &mut wt);
                for kp in 0..pairs {
                    for o in 0..OCT {
                        let term = |k: usize| {
                            if o < m && k < depth {
                                i32::from(w[(oc0 + o) * depth + k]) - w_zero[oc0 + o]
                            } else {
                                0
                            }
                        };
                        let want = pack(term(2 * kp), term(2 * kp + 1));
                        assert_eq!(
                            wt[kp * OCT + o],
                            want,
                            "depth {depth} oc0 {oc0} kp {kp} o {o}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn depthwise_kernels_match_the_tap_walker() {
        extern crate std;
        use std::vec;
        use std::vec::Vec;
        let geometry = |batch, c, hw, k, stride, dil, pad| {
            crate::conv::depthwise_geometry(
                batch,
                c,
                hw,
                (k, k),
                stride,
                dil,
                (pad, pad),
                (pad, pad),
            )
        };
        let cases = [
            geometry(1, 16, (6, 6), 3, 1, 1, 1),
            geometry(1, 64, (25, 5), 3, 1, 1, 1),
            geometry(2, 13, (9, 11), 3, 2, 1, 1),
            geometry(1, 10, (10, 9), 5, 2, 1, 2),
            geometry(1, 9, (7, 7), 3, 1, 2, 2),
            geometry(1, 8, (3, 3), 3, 1, 1, 0),
            geometry(1, 8, (48, 48), 3, 2, 1, 1),
            geometry(1, 3, (2, 2), 3, 1, 1, 1),
            // Odd and single-output rows, and no padding, for the DSP 3 × 3 rows.
            geometry(1, 4, (7, 5), 3, 2, 1, 0),
            geometry(1, 4, (3, 4), 3, 1, 1, 0),
            geometry(1, 4, (3, 3), 3, 2, 1, 0),
            geometry(1, 2, (1, 1), 3, 2, 1, 1),
            geometry(1, 5, (6, 7), 3, 1, 1, 1),
            // Rows of whole and partial 32-output steps, for the window kernel.
            geometry(1, 3, (5, 70), 3, 1, 1, 1),
            geometry(1, 3, (6, 75), 3, 2, 1, 1),
            geometry(1, 2, (4, 33), 1, 2, 1, 0),
            // Rows of 8 to 15 outputs, which the window kernel runs as one run.
            geometry(1, 3, (9, 12), 3, 1, 1, 1),
            geometry(1, 3, (20, 20), 3, 2, 1, 1),
            // Frames 16 wide (two rows a step), an even and an odd number of rows.
            geometry(1, 3, (14, 14), 3, 1, 1, 1),
            geometry(2, 3, (13, 14), 3, 1, 1, 1),
            // Two rows a step at stride 2: mobilenet_v2-int8's 28 × 28 input, and an odd
            // number of 15-output rows over two images.
            geometry(1, 3, (28, 28), 3, 2, 1, 1),
            geometry(2, 3, (18, 29), 3, 2, 1, 1),
            // A frame too tall for the two stack frames of narrow rows.
            geometry(1, 3, (80, 12), 3, 1, 1, 1),
            // Planes of two registers for the byte-permute kernel (126 and 121 bytes, at
            // stride 2 and at dilation 2).
            geometry(1, 5, (9, 14), 3, 2, 1, 1),
            geometry(1, 4, (11, 11), 3, 1, 2, 2),
        ];
        fn check<X: QInt, Y: QOut + PartialEq + core::fmt::Debug + Default>(
            p: &Conv2d,
            x: &[X],
            x_zero: i32,
            (w, w_zero, bias, scales, y_zero): (&[i8], &[i32], &[i32], &[f32], i32),
        ) {
            let taps = p.k_h * p.k_w;
            let folded: Vec<i32> = (0..p.c_out)
                .map(|c| fold_bias(w, taps, w_zero, bias, x_zero, c))
                .collect();
            let rq = Requant {
                scale: scales,
                zero: y_zero,
            };
            let n = p.batch * p.c_out * p.h_out * p.w_out;
            let mut want = vec![Y::default(); n];
            qconv2d(p, x, x_zero, w, w_zero, &folded, rq, &mut want);
            let requantized = Y::REQUANTIZED.is_some();
            let mut scratch = vec![0f32; qconv2d_depthwise_scratch_len(p, requantized)];
            let mut got = vec![Y::default(); n];
            qconv2d_depthwise(p, x, x_zero, w, w_zero, bias, rq, &mut scratch, &mut got);
            assert_eq!(got, want, "qconv2d_depthwise {p:?}");
            // One of the per-channel kernels on these operands.
            let mut run = |kernel: fn(&Conv2d, DepthwiseArgs<'_, X, i8, Y>)| {
                let mut got = vec![Y::default(); n];
                let args = (
                    x,
                    x_zero,
                    w,
                    w_zero,
                    bias,
                    rq,
                    &mut scratch[..],
                    &mut got[..],
                );
                kernel(p, args);
                got
            };
            // The per-channel kernel, whatever this target runs.
            let got = match (p.k_h, p.stride_w, p.dil_w) {
                (3, 2, 1) => run(depthwise::<X, i8, Y, 3, 2>),
                (5, 2, 1) => run(depthwise::<X, i8, Y, 5, 2>),
                _ => run(depthwise::<X, i8, Y, 0, 0>),
            };
            assert_eq!(got, want, "per-channel depthwise {p:?}");
            // The DSP extension's 3 × 3 rows, on the portable twins here.
            if p.k_h == 3 && p.k_w == 3 && p.dil_h == 1 && p.dil_w == 1 {
                let got = match p.stride_w {
                    1 => run(depthwise_on::<X, i8, Y, 3, 1, 1>),
                    _ => run(depthwise_on::<X, i8, Y, 3, 2, 1>),
                };
                assert_eq!(got, want, "DSP 3 × 3 rows {p:?}");
            }
        }
        for p in cases {
            let (c, taps) = (p.c_out, p.k_h * p.k_w);
            let x_len = p.batch * c * p.h_in * p.w_in;
            let x: Vec<u8> = bytes::<4096>(7)
                .iter()
                .cycle()
                .take(x_len)
                .copied()
                .collect();
            let x_i8: Vec<i8> = x.iter().map(|&v| v as i8).collect();
            let w: Vec<i8> = bytes::<4096>(8)
                .iter()
                .take(c * taps)
                .map(|&v| v as i8)
                .collect();
            let w_zero: Vec<i32> = (0..c as i32).map(|c| c % 5 - 2).collect();
            let bias: Vec<i32> = (0..c as i32).map(|c| c * 977 - 5000).collect();
            // Scales that saturate some outputs and leave most in range.
            let scales: Vec<f32> = (0..c).map(|c| 0.0004 * (c % 7 + 1) as f32).collect();
            let consts = (&w[..], &w_zero[..], &bias[..], &scales[..], -3);
            check::<u8, i8>(&p, &x, 131, consts);
            check::<i8, i8>(&p, &x_i8, -7, consts);
            check::<u8, u8>(&p, &x, 0, (consts.0, consts.1, consts.2, consts.3, 100));
            check::<i8, i32>(&p, &x_i8, 5, consts);
            // Symmetric weights, which the window kernel takes on hosts with VNNI.
            let symmetric = vec![0; c];
            let consts = (consts.0, &symmetric[..], consts.2, consts.3, 9);
            check::<u8, u8>(&p, &x, 131, consts);
            check::<i8, i8>(&p, &x_i8, -7, consts);
            check::<u8, i8>(&p, &x, 255, consts);
        }
    }

    /// Both kernels against the tap walker of [`qconv2d`] (with the bias folded as it
    /// expects), on geometries that cover padding, strides, dilation, groups, odd
    /// reduction depths and partial tiles.
    #[test]
    fn fast_kernels_match_the_tap_walker() {
        let base = Conv2d {
            batch: 2,
            c_in: 3,
            h_in: 9,
            w_in: 11,
            c_out: 5,
            h_out: 9,
            w_out: 11,
            k_h: 3,
            k_w: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: 1,
            pad_left: 1,
            groups: 1,
        };
        let cases = [
            base,
            Conv2d {
                k_h: 1,
                k_w: 1,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
            // 1 × 1 at stride 2 (a ResNet's shortcut), odd and even channel counts.
            Conv2d {
                h_out: 5,
                w_out: 6,
                k_h: 1,
                k_w: 1,
                stride_h: 2,
                stride_w: 2,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
            Conv2d {
                c_in: 4,
                h_out: 5,
                w_out: 6,
                k_h: 1,
                k_w: 1,
                stride_h: 2,
                stride_w: 2,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
            Conv2d {
                h_out: 5,
                w_out: 6,
                stride_h: 2,
                stride_w: 2,
                ..base
            },
            Conv2d {
                h_out: 4,
                w_out: 4,
                k_h: 5,
                k_w: 4,
                stride_h: 2,
                stride_w: 3,
                pad_top: 2,
                pad_left: 0,
                ..base
            },
            Conv2d {
                h_out: 7,
                w_out: 9,
                dil_h: 2,
                dil_w: 2,
                pad_top: 1,
                pad_left: 1,
                ..base
            },
            Conv2d {
                c_in: 4,
                c_out: 6,
                groups: 2,
                ..base
            },
            // Depthwise: multiplier 1 and 2 (which takes the im2col kernel), stride 1
            // and 2, 3×3, 5×5 and 2×3, the last without padding.
            Conv2d {
                c_in: 3,
                c_out: 3,
                groups: 3,
                ..base
            },
            Conv2d {
                c_in: 3,
                c_out: 6,
                groups: 3,
                h_out: 5,
                w_out: 6,
                stride_h: 2,
                stride_w: 2,
                ..base
            },
            Conv2d {
                c_in: 3,
                c_out: 3,
                groups: 3,
                h_out: 5,
                w_out: 6,
                stride_h: 2,
                stride_w: 2,
                ..base
            },
            Conv2d {
                c_in: 3,
                c_out: 3,
                groups: 3,
                k_h: 5,
                k_w: 5,
                pad_top: 2,
                pad_left: 2,
                ..base
            },
            Conv2d {
                c_in: 3,
                c_out: 3,
                groups: 3,
                h_out: 8,
                w_out: 9,
                k_h: 2,
                k_w: 3,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
        ];
        let x: [u8; 2 * 4 * 99] = bytes(1);
        let w: [u8; 6 * 3 * 25] = bytes(2);
        let w: [i8; 6 * 3 * 25] = w.map(|v| v as i8);
        let bias: [i32; 6] = [100, -200, 3000, 0, -7, 55];
        let w_zero = [0, 3, -2, 1, 0, -1];
        let x_zero = 131;
        let mut scratch = [0f32; 4096];
        for p in cases {
            let per_oc = p.c_in / p.groups * p.k_h * p.k_w;
            let w = &w[..p.c_out * per_oc];
            let bias = &bias[..p.c_out];
            let w_zero = &w_zero[..p.c_out];
            let folded: [i32; 6] = core::array::from_fn(|oc| {
                if oc >= p.c_out {
                    return 0;
                }
                fold_bias(w, per_oc, w_zero, bias, x_zero, oc)
            });
            let x = &x[..p.batch * p.c_in * p.h_in * p.w_in];
            let n = p.batch * p.c_out * p.h_out * p.w_out;
            let rq = Requant {
                scale: &[1.0],
                zero: 0,
            };
            let mut expected = [0i32; 2 * 6 * 99];
            qconv2d(
                &p,
                x,
                x_zero,
                w,
                w_zero,
                &folded[..p.c_out],
                rq,
                &mut expected[..n],
            );
            let mut got = [0i32; 2 * 6 * 99];
            assert!(qconv2d_im2col_scratch_len(&p) <= scratch.len());
            qconv2d_im2col(
                &p,
                x,
                x_zero,
                w,
                w_zero,
                bias,
                rq,
                &mut scratch,
                &mut got[..n],
            );
            assert_eq!(got[..n], expected[..n], "im2col {p:?}");
            // Both gathers write the same block, whichever this target runs.
            let pairs = per_oc.div_ceil(2);
            let pb = block_positions(qconv2d_im2col_scratch_len(&p), pairs);
            let x_group = &x[..p.c_in / p.groups * p.h_in * p.w_in];
            let plane_out = p.h_out * p.w_out;
            for p0 in (0..plane_out).step_by(pb) {
                let n = pb.min(plane_out - p0);
                let (mut by_runs, mut by_positions) = ([0u32; 4096], [0u32; 4096]);
                gather(&p, x_group, x_zero, p0, n, pb, &mut by_runs);
                gather_positions(&p, x_group, x_zero, p0, n, pb, &mut by_positions);
                assert_eq!(
                    by_runs[..pairs * pb],
                    by_positions[..pairs * pb],
                    "gather {p:?} {p0}"
                );
            }
            if qconv2d_is_depthwise(&p) {
                assert!(qconv2d_depthwise_scratch_len(&p, false) <= scratch.len());
                let mut dw = [0i32; 2 * 6 * 99];
                qconv2d_depthwise(
                    &p,
                    x,
                    x_zero,
                    w,
                    w_zero,
                    bias,
                    rq,
                    &mut scratch,
                    &mut dw[..n],
                );
                assert_eq!(dw[..n], expected[..n], "depthwise {p:?}");
            }
            // Requantized to int8 with per-channel scales, as QLinearConv runs.
            let scales = [0.01f32, 0.02, 0.003, 0.05, 0.1, 0.007];
            let rq8 = Requant {
                scale: &scales[..p.c_out],
                zero: -3,
            };
            let mut want8 = [0i8; 2 * 6 * 99];
            qconv2d(
                &p,
                x,
                x_zero,
                w,
                w_zero,
                &folded[..p.c_out],
                rq8,
                &mut want8[..n],
            );
            let mut got8 = [0i8; 2 * 6 * 99];
            qconv2d_im2col(
                &p,
                x,
                x_zero,
                w,
                w_zero,
                bias,
                rq8,
                &mut scratch,
                &mut got8[..n],
            );
            assert_eq!(got8[..n], want8[..n], "im2col int8 {p:?}");
            // Symmetric weights (every zero point 0), from `u8` and from `i8` inputs: the
            // VNNI quads where the target has them.
            let no_zeros = [0; 6];
            let x_i8: [i8; 2 * 4 * 99] = bytes::<{ 2 * 4 * 99 }>(1).map(|v| v as i8);
            let x_i8 = &x_i8[..x.len()];
            for (x_zero, signed) in [
                (131, false),
                (0, false),
                (255, false),
                (-5, true),
                (-128, true),
            ] {
                let sums: [i32; 6] = core::array::from_fn(|oc| {
                    let taps = w.get(oc * per_oc..(oc + 1) * per_oc).unwrap_or(&[]);
                    taps.iter().map(|&v| i32::from(v)).sum()
                });
                let folded: [i32; 6] =
                    core::array::from_fn(|oc| bias.get(oc).map_or(0, |b| b - x_zero * sums[oc]));
                // Both kernels on one input type, into `i8`.
                fn run<X: QInt>(
                    p: &Conv2d,
                    x: &[X],
                    (x_zero, w, w_zero, folded, bias): (i32, &[i8], &[i32], &[i32], &[i32]),
                    rq: Requant<'_>,
                    scratch: &mut [f32],
                    n: usize,
                ) -> ([i8; 2 * 6 * 99], [i8; 2 * 6 * 99]) {
                    let (mut want, mut got) = ([0i8; 2 * 6 * 99], [0i8; 2 * 6 * 99]);
                    qconv2d(p, x, x_zero, w, w_zero, folded, rq, &mut want[..n]);
                    qconv2d_im2col(p, x, x_zero, w, w_zero, bias, rq, scratch, &mut got[..n]);
                    (want, got)
                }
                let args = (x_zero, w, &no_zeros[..p.c_out], &folded[..p.c_out], bias);
                let (want, got) = if signed {
                    run(&p, x_i8, args, rq8, &mut scratch, n)
                } else {
                    run(&p, x, args, rq8, &mut scratch, n)
                };
                assert_eq!(
                    got[..n],
                    want[..n],
                    "symmetric weights {p:?} x_zero {x_zero}"
                );
            }
        }
    }

    /// Whatever scratch a caller gives: the length [`qconv2d_im2col_scratch_len`]
    /// promises, the most [`qconv2d_im2col_scratch_max_len`] asks for, a word more and
    /// less, one block of the pair kernel's tile and of the VNNI quads' (16 positions) and
    /// a word less, and a few words or none, which take [`unblocked`]. With weight zero
    /// points (the pair kernel) and without (the VNNI quads where the target has them),
    /// grouped and not, into `i8` and `i32`, against the tap walker to the byte.
    #[test]
    fn im2col_takes_any_scratch() {
        extern crate std;
        use std::vec;
        let base = Conv2d {
            batch: 2,
            c_in: 5,
            h_in: 7,
            w_in: 9,
            c_out: 6,
            h_out: 7,
            w_out: 9,
            k_h: 3,
            k_w: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: 1,
            pad_left: 1,
            groups: 1,
        };
        let cases = [
            base,
            Conv2d {
                c_in: 4,
                h_out: 4,
                w_out: 5,
                stride_h: 2,
                stride_w: 2,
                groups: 2,
                ..base
            },
            Conv2d {
                k_h: 1,
                k_w: 1,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
        ];
        let x: [u8; 2 * 5 * 63] = bytes(7);
        let w: [u8; 6 * 5 * 9] = bytes(8);
        let w: [i8; 6 * 5 * 9] = w.map(|v| v as i8);
        let bias = [900, -1200, 0, 40, -7, 3000];
        let x_zero = 120;
        let scales = [0.01f32, 0.02, 0.003, 0.05, 0.1, 0.007];
        for p in cases {
            let depth = p.c_in / p.groups * p.k_h * p.k_w;
            let w = &w[..p.c_out * depth];
            let x = &x[..p.batch * p.c_in * p.h_in * p.w_in];
            let n = p.batch * p.c_out * p.h_out * p.w_out;
            let (pairs, quads) = (depth.div_ceil(2), depth.div_ceil(4));
            let promised = qconv2d_im2col_scratch_len(&p);
            let most = qconv2d_im2col_scratch_max_len(&p);
            let lens = [
                promised,
                promised + 1,
                promised - 1,
                most,
                most + 1,
                pairs * (PT + OCT),
                pairs * (PT + OCT) - 1,
                quads * (16 + OCT),
                quads * (16 + OCT) - 1,
                3,
                0,
            ];
            for w_zero in [[0, 3, -2, 1, 0, -1], [0; 6]] {
                let w_zero = &w_zero[..p.c_out];
                let folded: [i32; 6] = core::array::from_fn(|oc| {
                    if oc >= p.c_out {
                        return 0;
                    }
                    fold_bias(w, depth, w_zero, &bias, x_zero, oc)
                });
                let rq8 = Requant {
                    scale: &scales[..p.c_out],
                    zero: -3,
                };
                let rq32 = Requant {
                    scale: &[1.0],
                    zero: 0,
                };
                let (mut want8, mut want32) = (vec![0i8; n], vec![0i32; n]);
                let folded = &folded[..p.c_out];
                qconv2d(&p, x, x_zero, w, w_zero, folded, rq8, &mut want8);
                qconv2d(&p, x, x_zero, w, w_zero, folded, rq32, &mut want32);
                for len in lens {
                    // Left dirty, as a previous node would.
                    let mut scratch = vec![f32::from_bits(0x5a5a_5a5a); len];
                    let (mut got8, mut got32) = (vec![0i8; n], vec![0i32; n]);
                    let bias = &bias[..p.c_out];
                    qconv2d_im2col(&p, x, x_zero, w, w_zero, bias, rq8, &mut scratch, &mut got8);
                    assert_eq!(got8, want8, "{p:?} w_zero {w_zero:?}, {len} words");
                    qconv2d_im2col(
                        &p,
                        x,
                        x_zero,
                        w,
                        w_zero,
                        bias,
                        rq32,
                        &mut scratch,
                        &mut got32,
                    );
                    assert_eq!(got32, want32, "i32 {p:?} w_zero {w_zero:?}, {len} words");
                }
            }
        }
    }

    /// The per-channel depthwise kernel, whatever scratch a caller gives: the length
    /// [`qconv2d_depthwise_scratch_len`] promises, the padded plane and a word less, a few
    /// words or none (which take [`unblocked`]), on padded 3 × 3 kernels at strides 1 and
    /// 2, a padded 5 × 5 and an unpadded 3 × 3, into `u8` and `i32`, against the tap
    /// walker to the byte.
    #[test]
    fn depthwise_takes_any_scratch() {
        extern crate std;
        use std::vec;
        let base = Conv2d {
            batch: 2,
            c_in: 3,
            h_in: 9,
            w_in: 11,
            c_out: 3,
            h_out: 9,
            w_out: 11,
            k_h: 3,
            k_w: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: 1,
            pad_left: 1,
            groups: 3,
        };
        let cases = [
            base,
            Conv2d {
                h_out: 5,
                w_out: 6,
                stride_h: 2,
                stride_w: 2,
                ..base
            },
            Conv2d {
                k_h: 5,
                k_w: 5,
                pad_top: 2,
                pad_left: 2,
                ..base
            },
            Conv2d {
                h_out: 7,
                w_out: 9,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
        ];
        let x: [u8; 2 * 3 * 99] = bytes(11);
        let w: [u8; 3 * 25] = bytes(12);
        let w: [i8; 3 * 25] = w.map(|v| v as i8);
        let (bias, x_zero) = ([500, -800, 20], 140);
        // With weight zero points, and without (the window kernel's, where the target has
        // AVX-512 VNNI).
        for (p, w_zero) in cases
            .into_iter()
            .flat_map(|p| [(p, [1, 0, -2]), (p, [0; 3])])
        {
            let taps = p.k_h * p.k_w;
            let w = &w[..p.c_out * taps];
            let n = p.batch * p.c_out * p.h_out * p.w_out;
            let folded: [i32; 3] =
                core::array::from_fn(|c| fold_bias(w, taps, &w_zero, &bias, x_zero, c));
            let rq8 = Requant {
                scale: &[0.02, 0.01, 0.05],
                zero: 4,
            };
            let rq32 = Requant {
                scale: &[1.0],
                zero: 0,
            };
            let (mut want8, mut want32) = (vec![0u8; n], vec![0i32; n]);
            qconv2d(&p, &x, x_zero, w, &w_zero, &folded, rq8, &mut want8);
            qconv2d(&p, &x, x_zero, w, &w_zero, &folded, rq32, &mut want32);
            let promised = qconv2d_depthwise_scratch_len(&p, true);
            let plane = frame_bytes(&p).div_ceil(4);
            for len in [promised, plane, plane.saturating_sub(1), 3, 0] {
                let mut scratch = vec![f32::from_bits(0x5a5a_5a5a); len];
                let (mut got8, mut got32) = (vec![0u8; n], vec![0i32; n]);
                qconv2d_depthwise(
                    &p,
                    &x,
                    x_zero,
                    w,
                    &w_zero,
                    &bias,
                    rq8,
                    &mut scratch,
                    &mut got8,
                );
                assert_eq!(got8, want8, "{p:?} w_zero {w_zero:?}, {len} words");
                qconv2d_depthwise(
                    &p,
                    &x,
                    x_zero,
                    w,
                    &w_zero,
                    &bias,
                    rq32,
                    &mut scratch,
                    &mut got32,
                );
                assert_eq!(got32, want32, "i32 {p:?} w_zero {w_zero:?}, {len} words");
            }
        }
    }

    /// Weights packed by [`qconv2d_pack_paired`] give [`qconv2d_paired`] the outputs
    /// [`qconv2d_im2col`] gives from ONNX's order, byte for byte, for `u8` and `i8`
    /// inputs into `u8` (per-channel scales), `i8` (one scale) and scales past the output
    /// range, for pointwise, k × k, strided and grouped layers, in the scratch the
    /// compiler promises, the most it may grant, one tile and too little for a tile (the
    /// tap walker from unpacked channels). The scalar targets' pair-major widening from
    /// the packed words equals the widening from ONNX's order.
    #[test]
    fn paired_weights_match_onnx_order() {
        extern crate std;
        use std::vec;
        use std::vec::Vec;
        let base = Conv2d {
            batch: 1,
            c_in: 6,
            h_in: 7,
            w_in: 9,
            c_out: 12,
            h_out: 7,
            w_out: 9,
            k_h: 3,
            k_w: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: 1,
            pad_left: 1,
            groups: 1,
        };
        let cases = [
            base,
            Conv2d {
                k_h: 1,
                k_w: 1,
                pad_top: 0,
                pad_left: 0,
                c_in: 10,
                c_out: 8,
                batch: 2,
                ..base
            },
            Conv2d {
                h_in: 12,
                w_in: 10,
                h_out: 6,
                w_out: 5,
                stride_h: 2,
                stride_w: 2,
                c_out: 16,
                ..base
            },
            Conv2d {
                c_in: 4,
                c_out: 16,
                groups: 2,
                ..base
            },
            Conv2d {
                k_h: 10,
                k_w: 4,
                h_in: 25,
                w_in: 5,
                h_out: 13,
                w_out: 3,
                stride_h: 2,
                stride_w: 2,
                pad_top: 5,
                pad_left: 1,
                c_in: 1,
                c_out: 4,
                ..base
            },
        ];
        for p in cases {
            assert!(qconv2d_paired_packs(&p), "{p:?}");
            let depth = p.c_in / p.groups * p.k_h * p.k_w;
            let w: Vec<i8> = (0..p.c_out * depth)
                .map(|i| (i as u32).wrapping_mul(0x9e37_79b9).to_le_bytes()[3] as i8)
                .collect();
            let mut packed = vec![0i8; w.len()];
            assert!(qconv2d_pack_paired(&p, &w, &mut packed));
            assert_ne!(packed, w, "{p:?}: the layout should move weights");
            let mut back = vec![0i8; w.len()];
            assert!(qconv2d_unpack_paired(&p, &packed, &mut back));
            assert_eq!(back, w, "{p:?}: unpacking should undo packing");
            let pairs = depth / 2;
            for oc0 in (0..p.c_out).step_by(OCT) {
                let mut want = vec![0u32; pairs * OCT];
                let mut got = vec![!0u32; pairs * OCT];
                widen_pair_major(&w, &[0], depth, oc0, OCT, &mut want);
                widen_paired_pair_major(&packed, depth, oc0, &mut got);
                assert_eq!(got, want, "{p:?} channels {oc0}..");
            }
            let xs = p.batch * p.c_in * p.h_in * p.w_in;
            let x_u8: Vec<u8> = (0..xs)
                .map(|i| (i as u8).wrapping_mul(29).wrapping_add(3))
                .collect();
            let x_i8: Vec<i8> = x_u8.iter().map(|&v| v as i8).collect();
            let bias: Vec<i32> = (0..p.c_out as i32).map(|i| i * 90 - 1400).collect();
            let scales: Vec<f32> = (0..p.c_out).map(|i| 0.0004 * (1 + i % 5) as f32).collect();
            let wide: Vec<f32> = (0..p.c_out).map(wide_scale).collect();
            let rqs = [
                Requant {
                    scale: &scales,
                    zero: 2,
                },
                Requant {
                    scale: &[0.003],
                    zero: -3,
                },
                Requant {
                    scale: &wide,
                    zero: -7,
                },
            ];
            let n = p.batch * p.c_out * p.h_out * p.w_out;
            let most = qconv2d_im2col_scratch_max_len(&p);
            let one_tile = pairs * (PT + OCT);
            for (r, &rq) in rqs.iter().enumerate() {
                let mut scratch = vec![0f32; most];
                let (mut want_u8, mut want_i8) = (vec![0u8; n], vec![0i8; n]);
                qconv2d_im2col(
                    &p,
                    &x_u8,
                    5,
                    &w,
                    &[0],
                    &bias,
                    rq,
                    &mut scratch,
                    &mut want_u8,
                );
                qconv2d_im2col(
                    &p,
                    &x_i8,
                    -9,
                    &w,
                    &[0],
                    &bias,
                    rq,
                    &mut scratch,
                    &mut want_i8,
                );
                for len in [
                    qconv2d_im2col_scratch_len(&p),
                    most,
                    one_tile,
                    one_tile - 1,
                    0,
                ] {
                    let mut scratch = vec![f32::from_bits(0x5a5a_5a5a); len];
                    let (mut got_u8, mut got_i8) = (vec![0u8; n], vec![0i8; n]);
                    let s = &mut scratch[..];
                    qconv2d_paired(&p, &x_u8, 5, &packed, &bias, rq, s, &mut got_u8);
                    qconv2d_paired(&p, &x_i8, -9, &packed, &bias, rq, s, &mut got_i8);
                    assert_eq!(got_u8, want_u8, "u8 {p:?} scales {r} in {len} words");
                    assert_eq!(got_i8, want_i8, "i8 {p:?} scales {r} in {len} words");
                }
            }
            // Weights shorter than the layer: nothing written.
            let mut untouched = vec![7u8; n];
            let mut scratch = vec![0f32; most];
            let short = &packed[1..];
            qconv2d_paired(
                &p,
                &x_u8,
                5,
                short,
                &bias,
                rqs[0],
                &mut scratch,
                &mut untouched,
            );
            assert!(untouched.iter().all(|&v| v == 7), "{p:?}");
        }
        // Not packed where the geometry does not take it: an odd depth, output channels
        // not in fours, depthwise.
        for p in [
            Conv2d { c_in: 3, ..base },
            Conv2d { c_out: 10, ..base },
            Conv2d {
                c_in: 12,
                groups: 12,
                ..base
            },
        ] {
            assert!(!qconv2d_paired_packs(&p), "{p:?}");
            let w = vec![1i8; p.c_out * p.c_in / p.groups * 9];
            assert!(!qconv2d_pack_paired(&p, &w, &mut vec![0i8; w.len()]));
        }
    }

    /// Weights packed by [`qconv2d_pack_framed`] give [`qconv2d_framed`] the outputs
    /// [`qconv2d_im2col`] gives from ONNX's order, byte for byte, into `u8` (per-channel
    /// scales) and `i8` (one scale, many outputs saturated), at stride 1 and 2 and with
    /// dilation, in the scratch the compiler promises, the most it may grant, bands of
    /// a few rows, and too little for a band (the gathered blocks unpack the weights) or
    /// a tile (the tap walker). On x86-64 with AVX-512 VNNI the frame kernel reads the
    /// packed words; elsewhere the gathered blocks do.
    #[test]
    fn framed_weights_match_onnx_order() {
        extern crate std;
        use std::vec;
        use std::vec::Vec;
        let base = Conv2d {
            batch: 1,
            c_in: 16,
            h_in: 9,
            w_in: 12,
            c_out: 24,
            h_out: 9,
            w_out: 12,
            k_h: 3,
            k_w: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: 1,
            pad_left: 1,
            groups: 1,
        };
        let cases = [
            base,
            Conv2d {
                h_in: 5,
                w_in: 32,
                h_out: 5,
                w_out: 32,
                c_in: 8,
                c_out: 16,
                batch: 2,
                ..base
            },
            Conv2d {
                h_in: 16,
                w_in: 16,
                h_out: 8,
                w_out: 8,
                stride_h: 2,
                stride_w: 2,
                c_out: 40,
                ..base
            },
            Conv2d {
                h_out: 7,
                w_out: 10,
                pad_top: 0,
                pad_left: 0,
                k_h: 3,
                k_w: 3,
                dil_h: 1,
                dil_w: 1,
                ..base
            },
            Conv2d {
                dil_h: 2,
                dil_w: 2,
                pad_top: 2,
                pad_left: 2,
                c_in: 4,
                c_out: 8,
                ..base
            },
            Conv2d {
                k_h: 5,
                k_w: 5,
                pad_top: 2,
                pad_left: 2,
                c_in: 12,
                ..base
            },
            // 1 × 1 at stride 2 (a ResNet's shortcut).
            Conv2d {
                h_in: 16,
                w_in: 16,
                h_out: 8,
                w_out: 8,
                k_h: 1,
                k_w: 1,
                stride_h: 2,
                stride_w: 2,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
        ];
        // Not at stride 1 with a 1 × 1 kernel (the pointwise blocks take those).
        let pointwise = Conv2d {
            k_h: 1,
            k_w: 1,
            pad_top: 0,
            pad_left: 0,
            ..base
        };
        assert!(!qconv2d_framed_packs(&pointwise));
        for p in cases {
            assert!(qconv2d_framed_packs(&p), "{p:?}");
            let depth = p.c_in * p.k_h * p.k_w;
            let w: Vec<i8> = (0..p.c_out * depth)
                .map(|i| (i as u32).wrapping_mul(0x9e37_79b9).to_le_bytes()[3] as i8)
                .collect();
            let mut packed = vec![0i8; w.len()];
            assert!(qconv2d_pack_framed(&p, &w, &mut packed));
            assert_ne!(packed, w, "{p:?}: the layout should move weights");
            let mut back = vec![0i8; w.len()];
            assert!(qconv2d_unpack_framed(&p, &packed, &mut back));
            assert_eq!(back, w, "{p:?}: unpacking should undo packing");
            let x: Vec<u8> = (0..p.batch * p.c_in * p.h_in * p.w_in)
                .map(|i| (i as u8).wrapping_mul(29).wrapping_add(3))
                .collect();
            let bias: Vec<i32> = (0..p.c_out as i32).map(|i| i * 90 - 1400).collect();
            let scales: Vec<f32> = (0..p.c_out).map(|i| 0.0004 * (1 + i % 5) as f32).collect();
            let rq_u8 = Requant {
                scale: &scales,
                zero: 2,
            };
            let rq_i8 = Requant {
                scale: &[0.003],
                zero: -3,
            };
            let wide: Vec<f32> = (0..p.c_out).map(wide_scale).collect();
            let rq_wide = Requant {
                scale: &wide,
                zero: -7,
            };
            let n = p.batch * p.c_out * p.h_out * p.w_out;
            let promised = qconv2d_framed_scratch_len(&p);
            let gathered = qconv2d_im2col_scratch_len(&p);
            let most = qconv2d_im2col_scratch_max_len(&p);
            let mut want_u8 = vec![0u8; n];
            let mut scratch = vec![0f32; most];
            qconv2d_im2col(
                &p,
                &x,
                5,
                &w,
                &[0],
                &bias,
                rq_u8,
                &mut scratch,
                &mut want_u8,
            );
            let mut reference_i8 = |rq: Requant<'_>| {
                let mut want = vec![0i8; n];
                qconv2d_im2col(&p, &x, 5, &w, &[0], &bias, rq, &mut scratch, &mut want);
                want
            };
            let (want_i8, want_wide) = (reference_i8(rq_i8), reference_i8(rq_wide));
            let one_tile = depth.div_ceil(2) * (PT + OCT);
            // The sums from the framed layout are each channel's in ONNX's.
            let mut sums = vec![0i32; p.c_out];
            qconv2d_framed_sums(&p, &packed, &mut sums);
            for (oc, &sum) in sums.iter().enumerate() {
                let row = &w[oc * depth..][..depth];
                assert_eq!(sum, row.iter().map(|&v| i32::from(v)).sum::<i32>(), "{p:?}");
            }
            for len in [promised, gathered, most, 900, one_tile, one_tile - 1, 0] {
                let mut scratch = vec![f32::from_bits(0x5a5a_5a5a); len];
                let mut got_u8 = vec![0u8; n];
                let mut got_i8 = vec![0i8; n];
                let (s, b) = (&sums[..], &bias[..]);
                qconv2d_framed(&p, &x, 5, &packed, s, b, rq_u8, &mut scratch, &mut got_u8);
                qconv2d_framed(&p, &x, 5, &packed, s, b, rq_i8, &mut scratch, &mut got_i8);
                assert_eq!(got_u8, want_u8, "{p:?} in {len} words");
                assert_eq!(got_i8, want_i8, "i8 {p:?} in {len} words");
                let mut got_wide = vec![0i8; n];
                let scratch = &mut scratch[..];
                qconv2d_framed(&p, &x, 5, &packed, s, b, rq_wide, scratch, &mut got_wide);
                assert_eq!(got_wide, want_wide, "wide scales {p:?} in {len} words");
            }
            // Sums of the wrong length: nothing written.
            let mut untouched = vec![7u8; n];
            let mut scratch = vec![0f32; most];
            let short = &sums[1..];
            qconv2d_framed(
                &p,
                &x,
                5,
                &packed,
                short,
                &bias,
                rq_u8,
                &mut scratch,
                &mut untouched,
            );
            assert!(untouched.iter().all(|&v| v == 7), "{p:?}");
        }
        // Not packed where the geometry does not take it: nothing written.
        let odd = Conv2d { c_in: 6, ..base };
        assert!(!qconv2d_framed_packs(&odd));
        let w = vec![1i8; odd.c_out * odd.c_in * 9];
        assert!(!qconv2d_pack_framed(&odd, &w, &mut vec![0i8; w.len()]));
    }
}
