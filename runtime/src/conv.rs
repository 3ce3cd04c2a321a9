//! 2-D convolution (ONNX `Conv` on NCHW tensors) with a fused bias and activation.
//!
//! [`kernel_for`] picks one of four kernels from the geometry alone, so the compiler makes
//! the choice at compile time and the generated code calls the kernel directly (and links
//! only the kernels it runs); [`conv2d`] makes the same choice at run time for the
//! runtime's own callers and constant folding:
//!
//! * a 1×1, stride-1, unpadded, ungrouped convolution is a GEMM per image
//!   (`W[c_out × c_in] · X[c_in × HW]`), so it runs on the blocked GEMM
//!   ([`conv2d_pointwise`]);
//! * a depthwise convolution runs on vectors of eight channels where the target has SIMD
//!   (`channels.rs`: one multiply-add per tap of eight outputs, whatever the plane,
//!   stride or padding); elsewhere a 3×3 with dilation 1 runs per-channel rows with a
//!   sliding window in registers (`rows.rs`) and other sizes the direct kernel
//!   ([`conv2d_depthwise`]);
//! * other convolutions with enough output channels per group run as an implicit GEMM on
//!   targets with SIMD ([`conv2d_gemm`]), and as the direct kernel elsewhere;
//! * everything else (few channels per group, any kernel size, stride, dilation and
//!   padding) runs a direct convolution over register tiles of [`MR`] output channels ×
//!   [`NR`] output columns (its own tile width, not the GEMM's) ([`conv2d_direct`]).
//!   Each input row segment loaded serves all the tile's channels.
//!
//! The two GEMM kernels pack into scratch the caller provides
//! ([`ConvKernel::scratch_len`] floats): generated code passes a slice of its arena.
//!
//! Padding is never materialised: every kernel splits each output row into a left
//! border, an interior where every tap lands inside the input, and a right border. Only
//! the borders compute which taps are valid; the interior loops have no padding checks.

use crate::gemm::{gemm_with_scratch, Bias, MR};
use crate::target::KernelSet;
use crate::tokens::tokens;
use crate::unroll::{array, unroll};
use crate::Activation;

mod causal;
pub(crate) mod channels;
mod deform;
mod frame;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod implicit;
pub(crate) mod in_place;
mod plane;
mod rows;
mod transpose;
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod width;
mod window;
mod winograd;

pub use causal::causal_conv_with_state;
pub use deform::{deform_conv2d, DeformConv};
pub use in_place::{
    depthwise_in_place_fits, depthwise_in_place_len, depthwise_in_place_shift, IN_PLACE_GROUP,
};
pub use transpose::{
    conv_transpose2d, conv_transpose2d_gemm, conv_transpose2d_rows, transpose_band_for,
    transpose_kernel_for, transpose_scratch_len_for, ConvTranspose2d, TransposeKernel,
};
pub use winograd::{
    conv2d_winograd, winograd_fits, winograd_min_scratch_len, winograd_pays_for,
    winograd_scratch_len, winograd_weights, winograd_weights_len, WINOGRAD_CHANNELS,
    WINOGRAD_POINTS,
};

tokens! {
    rt::conv;
    /// The geometry of one 2-D convolution, as the compiler resolved it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Conv2d {
        pub batch: usize,
        pub c_in: usize,
        pub h_in: usize,
        pub w_in: usize,
        pub c_out: usize,
        pub h_out: usize,
        pub w_out: usize,
        pub k_h: usize,
        pub k_w: usize,
        pub stride_h: usize,
        pub stride_w: usize,
        pub dil_h: usize,
        pub dil_w: usize,
        pub pad_top: usize,
        pub pad_left: usize,
        pub groups: usize,
    }
}

/// Whether `p` has output positions and a kernel window to compute them from: every
/// output extent, kernel extent, stride and dilation is nonzero (the kernels that frame
/// or band the input divide by them and step with them).
const fn has_window(p: &Conv2d) -> bool {
    p.h_out > 0
        && p.w_out > 0
        && p.k_h > 0
        && p.k_w > 0
        && p.stride_h > 0
        && p.stride_w > 0
        && p.dil_h > 0
        && p.dil_w > 0
}

/// Whether `p` is a 1×1 convolution without stride or padding: output position `q` of a
/// plane reads input position `q` of each channel, so a kernel can read every input plane
/// as one long row.
pub(crate) const fn is_pointwise(p: &Conv2d) -> bool {
    p.k_h == 1
        && p.k_w == 1
        && p.stride_h == 1
        && p.stride_w == 1
        && p.pad_top == 0
        && p.pad_left == 0
        && p.h_out == p.h_in
        && p.w_out == p.w_in
}

/// The kernel a convolution runs on, chosen from its geometry by [`kernel_for`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernel {
    /// [`conv2d_pointwise`]: a GEMM per image.
    Pointwise,
    /// [`conv2d_depthwise`]: `groups == c_in == c_out`.
    Depthwise,
    /// [`conv2d_gemm`]: the implicit GEMM where the target has SIMD, direct elsewhere.
    Gemm,
    /// [`conv2d_direct`].
    Direct,
}

impl ConvKernel {
    /// The floats of scratch the kernel needs for `p` on any target: the larger of the
    /// vector and the scalar kernels' needs ([`ConvKernel::scratch_len_for`]).
    pub const fn scratch_len(self, p: &Conv2d) -> usize {
        self.scratch_len_for(p, KernelSet::ANY)
    }

    /// The floats of scratch the kernel needs for `p` on the targets of `kernels`.
    pub const fn scratch_len_for(self, p: &Conv2d, kernels: KernelSet) -> usize {
        let out_plane = p.h_out * p.w_out;
        match self {
            ConvKernel::Pointwise => crate::gemm::scratch_len(p.c_out, out_plane, p.c_in),
            ConvKernel::Depthwise => {
                // With vectors the channel-vector kernel's band and, should it fall back,
                // the plane kernel's padded plane; without, the row kernel's row of zeros.
                let bands = channels::scratch_len(p);
                let plane = if is_3x3(p) { plane::scratch_len(p) } else { 0 };
                let vector = if bands > plane { bands } else { plane };
                let scalar = if is_3x3(p) { rows::scratch_len(p) } else { 0 };
                kernels.most(vector, scalar)
            }
            ConvKernel::Gemm if out_plane > 0 && p.batch > 0 && p.groups > 0 => {
                let depth = p.c_in / p.groups * p.k_h * p.k_w;
                let blocked = if depth == 0 {
                    0
                } else {
                    crate::gemm::blocked_scratch_len(p.c_out / p.groups, depth)
                };
                // Vector targets frame the input when it fits (`frame::wanted`), gather a
                // strided 1 × 1 layer's positions, or pack; without vectors the windowed
                // direct kernel runs instead, on the input padded into the scratch (and,
                // with blocked weights, sixteen channels' weights put back into rows).
                let framed = frame::wanted(p);
                let unframed = Self::unframed_scratch_len(p);
                let vector = if framed > unframed { framed } else { unframed };
                let padded = window::scratch_len(p);
                // Only a set with vector kernels blocks its weights (`gemm_blocks_pay`);
                // for it the scalar kernels' need counts the same scratch as before.
                let scalar = if kernels.vector && padded < blocked {
                    blocked
                } else {
                    padded
                };
                kernels.most(vector, scalar)
            }
            _ => 0,
        }
    }

    /// The floats of scratch a [`ConvKernel::Gemm`] layer takes on a vector target where
    /// its input is too large to frame (`frame::wanted` gives 0: the fewest rows of a
    /// wide plane of many channels exceed 256 KiB): the packing path's
    /// (`conv/implicit.rs`), or a strided 1 × 1 layer's gathered positions. With it,
    /// [`conv2d_gemm`] runs that path on any geometry, as the kernel checks do on layers
    /// small enough to frame.
    pub const fn unframed_scratch_len(p: &Conv2d) -> usize {
        let depth = match p.groups {
            0 => 0,
            groups => p.c_in / groups * p.k_h * p.k_w,
        };
        let blocked = match depth {
            0 => 0,
            _ => crate::gemm::blocked_scratch_len(p.c_out / p.groups, depth),
        };
        let picked = strided_pointwise_scratch(p);
        if picked > blocked {
            picked
        } else {
            blocked
        }
    }
}

/// The kernel for a convolution of geometry `p`.
pub const fn kernel_for(p: &Conv2d) -> ConvKernel {
    let is_pointwise = is_pointwise(p) && p.groups == 1;
    let is_depthwise = p.groups == p.c_in && p.c_out == p.c_in;
    if is_pointwise {
        ConvKernel::Pointwise
    } else if is_depthwise {
        ConvKernel::Depthwise
    } else if p.groups > 0 && p.c_out / p.groups >= IMPLICIT_MIN_CHANNELS {
        ConvKernel::Gemm
    } else {
        ConvKernel::Direct
    }
}

/// y[batch, c_out, h_out, w_out] = act(conv(x[batch, c_in, h_in, w_in], w[c_out, c_in/groups, k_h, k_w]) + bias[c_out]).
/// Padding is zero; pad_bottom/right are implied by h_out/w_out. Chooses the kernel at
/// run time ([`kernel_for`]) and packs into a stack buffer; generated code calls the
/// kernel itself with arena scratch.
pub fn conv2d(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    match kernel_for(p) {
        // As `gemm` does: a stack buffer only when the product is blocked.
        ConvKernel::Pointwise if ConvKernel::Pointwise.scratch_len(p) == 0 => {
            conv2d_pointwise(p, x, w, bias, act, &mut [], y)
        }
        ConvKernel::Pointwise => {
            let mut scratch = [0.0f32; crate::gemm::STACK_SCRATCH];
            conv2d_pointwise(p, x, w, bias, act, &mut scratch, y);
        }
        ConvKernel::Depthwise => {
            let mut scratch = [0.0f32; plane::MAX_SCRATCH];
            conv2d_depthwise(p, x, w, bias, act, &mut scratch, y);
        }
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        ConvKernel::Gemm => {
            let mut scratch = [0.0f32; crate::gemm::MAX_BLOCKED_SCRATCH];
            conv2d_gemm(p, x, w, bias, act, &mut scratch, y);
        }
        // Without SIMD the general kernel, which needs no scratch.
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        ConvKernel::Gemm => conv2d_direct(p, x, w, bias, act, y),
        ConvKernel::Direct => conv2d_direct(p, x, w, bias, act, y),
    }
}

/// The operands cut to the lengths `p` implies, or `None` when the output is empty.
#[allow(clippy::type_complexity)]
fn operands<'a>(
    p: &Conv2d,
    x: &'a [f32],
    w: &'a [f32],
    bias: Option<&'a [f32]>,
    y: &'a mut [f32],
) -> Option<(&'a [f32], &'a [f32], Option<&'a [f32]>, &'a mut [f32])> {
    let x = &x[..p.batch * p.c_in * p.h_in * p.w_in];
    let y = &mut y[..p.batch * p.c_out * p.h_out * p.w_out];
    let w = &w[..p.c_out * (p.c_in / p.groups) * p.k_h * p.k_w];
    let bias = bias.map(|b| &b[..p.c_out]);
    if y.is_empty() {
        return None;
    }
    Some((x, w, bias, y))
}

/// [`conv2d`] for a pointwise geometry ([`ConvKernel::Pointwise`]): one GEMM per image,
/// packing into `scratch` (at least [`ConvKernel::scratch_len`] floats).
#[inline(always)]
pub fn conv2d_pointwise(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    pointwise(p, x, w, bias, act, scratch, y);
}

/// How many row blocks [`conv2d_pointwise_blocked`] cuts `c_out` output channels into:
/// panels of 16 rows shared out evenly between the fewest blocks of at most three (48
/// rows), as the AVX-512 narrow tiles of the GEMM block their rows.
pub const fn pointwise_blocks(c_out: usize) -> usize {
    c_out.div_ceil(16).div_ceil(3)
}

/// Block `b` of [`pointwise_blocks`]`(c_out)`: its first output channel and its channels
/// (every block but the last a multiple of 16).
pub const fn pointwise_block(c_out: usize, b: usize) -> (usize, usize) {
    let (panels, blocks) = (c_out.div_ceil(16), pointwise_blocks(c_out));
    if blocks == 0 {
        return (0, 0);
    }
    let start = b * panels / blocks * 16;
    let end = (b + 1) * panels / blocks * 16;
    let end = if end < c_out { end } else { c_out };
    let start = if start < end { start } else { end };
    (start, end - start)
}

/// [`conv2d_pointwise`] with the weights transposed and cut into the row blocks of
/// [`pointwise_block`], one after the other, each `[c_in, rows]` (with at most 48 output
/// channels, one block: the transpose `[c_in, c_out]`), as the compiler lays out a 1×1
/// convolution's constant weights. Each input channel's weights for a block's outputs
/// are contiguous, so on AVX-512 the GEMM reads them in place rather than packing them
/// on every inference (the GEMM's `Aᵀ`), and a block's weights are one run that it
/// streams in order. Transposed but not blocked, a wide layer's were read `c_out` floats
/// apart, a page apart or more (48 rows over 320 depths spanned 1.6 MB at 1,280 output
/// channels), and mobilenet_v2's 7 × 7 layers ran 10–15 % slower. One GEMM per block and
/// image; same scratch as [`conv2d_pointwise`].
#[inline(always)]
pub fn conv2d_pointwise_blocked(
    p: &Conv2d,
    x: &[f32],
    w_blocks: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let Some((x, w, bias, y)) = operands(p, x, w_blocks, bias, y) else {
        return;
    };
    let plane = p.h_out * p.w_out;
    let (in_len, out_len) = (p.c_in * p.h_in * p.w_in, p.c_out * plane);
    for (x_image, y_image) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        for b in 0..pointwise_blocks(p.c_out) {
            let (row0, rows) = pointwise_block(p.c_out, b);
            let (Some(w), Some(y)) = (
                w.get(row0 * p.c_in..(row0 + rows) * p.c_in),
                y_image.get_mut(row0 * plane..(row0 + rows) * plane),
            ) else {
                return;
            };
            let bias = bias
                .and_then(|bias| bias.get(row0..row0 + rows))
                .map_or(Bias::None, Bias::Col);
            gemm_with_scratch(
                rows, plane, p.c_in, w, true, x_image, false, 1.0, 1.0, bias, act, scratch, y,
            );
        }
    }
}

/// One GEMM per image, with the weights `[c_out, c_in]`.
#[inline(always)]
fn pointwise(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let Some((x, w, bias, y)) = operands(p, x, w, bias, y) else {
        return;
    };
    let gemm_bias = bias.map_or(Bias::None, Bias::Col);
    let (in_len, out_len) = (p.c_in * p.h_in * p.w_in, p.c_out * p.h_out * p.w_out);
    for (x_image, y_image) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        gemm_with_scratch(
            p.c_out,
            p.h_out * p.w_out,
            p.c_in,
            w,
            false,
            x_image,
            false,
            1.0,
            1.0,
            gemm_bias,
            act,
            scratch,
            y_image,
        );
    }
}

/// [`conv2d`] for a depthwise geometry ([`ConvKernel::Depthwise`]), with `scratch` of at
/// least [`ConvKernel::scratch_len`] floats: on vectors of eight channels where the
/// target has SIMD (should the scratch be short, a 3×3 with dilation 1 runs the plane
/// kernel on a small plane and the row kernel on a wide one); without SIMD a 3×3 with
/// dilation 1 runs the row kernel of `rows.rs`. Other geometries take the direct kernel.
#[inline(always)]
pub fn conv2d_depthwise(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let Some((x, w, bias, y)) = operands(p, x, w, bias, y) else {
        return;
    };
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    if width::fits(p, scratch.len()) {
        width::depthwise(p, x, w, bias, act, scratch, y);
        return;
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if channels::runs(p, scratch.len()) {
        channels::depthwise(p, x, w, bias, act, scratch, y);
        return;
    }
    if !is_3x3(p) {
        direct_variant(p, x, w, bias, act, y);
        return;
    }
    // Without SIMD the row kernel, which takes every 3×3 and any scratch: a choice on the
    // scratch's length, which is not a constant at the call site at opt-level "z", had
    // linked a second kernel into every firmware.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    rows::depthwise_3x3(p, x, w, bias, act, scratch, y);
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if plane::fits(p) {
        plane::depthwise_3x3(p, x, w, bias, act, scratch, y);
    } else {
        depthwise_3x3(p, x, w, bias, act, y);
    }
}

/// [`conv2d_depthwise`] overwriting its input: `buf` holds the output from its start and
/// the input `shift` elements after it, `shift` at least [`depthwise_in_place_shift`]
/// ([`depthwise_in_place_len`] elements in all), and the layer runs in groups of
/// [`IN_PLACE_GROUP`] channels, each output group written over input groups already read
/// (`conv/in_place.rs`). `p` must [`depthwise_in_place_fits`]; otherwise, or with `buf`
/// or `shift` short, nothing is written.
#[inline(always)]
pub fn conv2d_depthwise_in_place(
    p: &Conv2d,
    buf: &mut [f32],
    shift: usize,
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
) {
    let taps = p.k_h * p.k_w;
    in_place::by_groups(p, buf, shift, |sub, c0, x, y| {
        let g = sub.c_in;
        let Some(w) = w.get(c0 * taps..(c0 + g) * taps) else {
            return;
        };
        let bias = match bias.map(|b| b.get(c0..c0 + g)) {
            Some(None) => return,
            Some(b) => b,
            None => None,
        };
        conv2d_depthwise(sub, x, w, bias, act, scratch, y);
    });
}

/// Whether `p` has the 3×3 kernel with dilation 1 that the row and plane kernels take.
const fn is_3x3(p: &Conv2d) -> bool {
    p.k_h == 3 && p.k_w == 3 && p.dil_h == 1 && p.dil_w == 1
}

/// [`conv2d`] for [`ConvKernel::Gemm`]: the implicit GEMM on targets with SIMD, packing
/// into `scratch` (at least [`ConvKernel::scratch_len`] floats), and the direct kernel,
/// which needs no scratch, elsewhere.
#[inline(always)]
pub fn conv2d_gemm(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let Some((x, w, bias, y)) = operands(p, x, w, bias, y) else {
        return;
    };
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    framed_or_packing(p, x, (w, false), bias, act, scratch, y);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    windowed_or_direct(p, x, w, bias, act, scratch, y);
}

/// Whether `p` is a 1 × 1 convolution of one group at a stride above 1 without padding
/// (a ResNet's downsampling shortcut): each output reads one input position, so the
/// strided positions, gathered into scratch, are a pointwise convolution's input.
const fn is_strided_pointwise(p: &Conv2d) -> bool {
    p.k_h == 1
        && p.k_w == 1
        && p.groups == 1
        && p.pad_top == 0
        && p.pad_left == 0
        && (p.stride_h > 1 || p.stride_w > 1)
        && has_window(p)
        && (p.h_out - 1) * p.stride_h < p.h_in
        && (p.w_out - 1) * p.stride_w < p.w_in
}

/// The scratch [`strided_pointwise`] takes for `p` (0 where `p` is not
/// [`is_strided_pointwise`]): the gathered input, then the pointwise product's.
const fn strided_pointwise_scratch(p: &Conv2d) -> usize {
    if !is_strided_pointwise(p) {
        return 0;
    }
    let plane = p.h_out * p.w_out;
    p.c_in * plane + crate::gemm::scratch_len(p.c_out, plane, p.c_in)
}

/// With SIMD, a 1 × 1 strided convolution ([`is_strided_pointwise`]) with blocked
/// weights: per image, the positions it reads gathered into scratch (`[c_in, h_out ·
/// w_out]`), then [`conv2d_pointwise_blocked`] on them. The framed GEMM spent about 40 %
/// of mlperf-ic's shortcuts framing one phase of four, and its tiles walked depths of 16
/// or 32.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn strided_pointwise(
    p: &Conv2d,
    x: &[f32],
    w_blocks: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let plane = p.h_out * p.w_out;
    let (in_len, out_len) = (p.c_in * p.h_in * p.w_in, p.c_out * plane);
    let sub = Conv2d {
        batch: 1,
        h_in: p.h_out,
        w_in: p.w_out,
        stride_h: 1,
        stride_w: 1,
        ..*p
    };
    for (x, y) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        gather_strided(p, x, scratch);
        let (picked, rest) = scratch.split_at_mut(p.c_in * plane);
        conv2d_pointwise_blocked(&sub, picked, w_blocks, bias, act, rest, y);
    }
}

/// The input positions a 1 × 1 convolution at `p`'s strides reads, channel by channel,
/// into the front of `scratch` (`[c_in, h_out, w_out]`). With AVX-512 at stride 2 a row
/// takes sixteen outputs from two vectors and one two-source permute (LLVM's own loop
/// took four at a time, and a row of eight one at a time), its lanes past the row
/// stored over the rows written after it, or into the rest of `scratch`, which the
/// product then overwrites. Out of line: one copy serves every layer.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(never)]
fn gather_strided(p: &Conv2d, x: &[f32], scratch: &mut [f32]) {
    let (in_plane, w_out, stride_w) = (p.h_in * p.w_in, p.w_out, p.stride_w);
    let span = (w_out - 1) * stride_w + 1;
    for c in 0..p.c_in {
        for oh in 0..p.h_out {
            let at = c * in_plane + oh * p.stride_h * p.w_in;
            let first = (c * p.h_out + oh) * w_out;
            #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
            let done = {
                use crate::gemm::simd::F32x16;
                let mut done = 0;
                while stride_w == 2 && done < w_out {
                    let (Some(lo), Some(hi), Some(out)) = (
                        x.get(at + 2 * done..).and_then(<[f32]>::first_chunk::<16>),
                        x.get(at + 2 * done + 16..)
                            .and_then(<[f32]>::first_chunk::<16>),
                        scratch.get_mut(first + done..first + done + 16),
                    ) else {
                        break;
                    };
                    F32x16::evens(F32x16::load(lo), F32x16::load(hi)).store(out);
                    done += 16;
                }
                done
            };
            #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
            let done = 0;
            if done >= w_out {
                continue;
            }
            let (Some(row), Some(out)) = (
                x.get(at + done * stride_w..at + span),
                scratch.get_mut(first + done..first + w_out),
            ) else {
                return;
            };
            for (o, v) in out.iter_mut().zip(row.iter().step_by(stride_w)) {
                *o = *v;
            }
        }
    }
}

/// With SIMD, a [`ConvKernel::Gemm`] convolution (its weights in rows, or blocked) on
/// the framed GEMM where the scratch reserved for the layer holds its frame (at least a
/// band of rows), on the packing one elsewhere.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn framed_or_packing(
    p: &Conv2d,
    x: &[f32],
    w: (&[f32], bool),
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    match frame::framing(p, framing_budget(p, scratch.len())) {
        Some(framing) => frame::conv2d_frame(p, framing, x, w, bias, act, scratch, y),
        None => implicit::conv2d_implicit(p, x, w, bias, act, scratch, y),
    }
}

/// Without SIMD, a [`ConvKernel::Gemm`] convolution on the windowed tiles where they
/// cover the geometry (window.rs), on the direct kernel elsewhere; the test folds at a
/// generated call site, so a model links only the kernel it runs.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
fn windowed_or_direct(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    if window::geometry(p).is_some() {
        window::conv2d(p, x, w, bias, act, scratch, y);
        return;
    }
    let _ = scratch;
    direct_variant(p, x, w, bias, act, y);
}

/// Output channels whose blocked weights [`conv2d_gemm_blocked`] puts back into rows at
/// a time, without SIMD.
const UNBLOCKED_CHANNELS: usize = 16;

/// Whether the compiler lays out the constant weights of a convolution `p` in blocks
/// for [`conv2d_gemm_blocked`] in a crate that may also be built for targets without
/// SIMD: a layer the vector kernels read blocked ([`vector_blocks_pay`]) that those
/// targets run on the windowed kernel, and whose scratch holds, after that kernel's
/// padded input, [`UNBLOCKED_CHANNELS`] channels' weights in rows (what those targets
/// need). A layer the windowed kernel does not cover keeps its rows: the direct kernel,
/// out of line, is specialised for a layer's constant geometry but not for a chunk's
/// (mlperf-kws's first layer, 10 × 4, ran 76 % more instructions on the Cortex-M7 in
/// chunks).
pub const fn gemm_blocks_pay(p: &Conv2d) -> bool {
    if !vector_blocks_pay(p) || window::geometry(p).is_none() {
        return false;
    }
    let depth = p.c_in * p.k_h * p.k_w;
    depth > 0 && ConvKernel::Gemm.scratch_len(p) >= unblocked_at(p) + UNBLOCKED_CHANNELS * depth
}

/// Whether the vector kernels gain from blocked weights: a [`ConvKernel::Gemm`] layer of
/// one group whose output channels are whole vectors of 16, at least two of them (their
/// `A` is read in place instead of packed on every inference). A layer of 16 channels
/// keeps its rows: it takes the 8-row panels, which pack `A` in any case, and its weights
/// are few.
const fn vector_blocks_pay(p: &Conv2d) -> bool {
    matches!(kernel_for(p), ConvKernel::Gemm)
        && p.groups == 1
        && p.c_out >= 32
        && p.c_out.is_multiple_of(16)
}

/// [`gemm_blocks_pay`] for a crate built for the targets of `kernels`: only the vector
/// kernels read blocked weights in place, so a crate for scalar targets alone keeps its
/// weights in rows (the windowed kernel reads them so, and puts nothing back), and a
/// crate for vector targets alone blocks every layer they gain on, whatever the scalar
/// kernels would need (a ResNet's 3 × 3 layers on 7 × 7 planes, which the windowed
/// kernel does not cover, had packed their weights on every inference: a fifth of their
/// time).
pub const fn gemm_blocks_pay_for(p: &Conv2d, kernels: KernelSet) -> bool {
    match (kernels.vector, kernels.scalar) {
        (true, true) => gemm_blocks_pay(p),
        (true, false) => vector_blocks_pay(p),
        (false, _) => false,
    }
}

/// Where [`conv2d_gemm_blocked`] puts weights back into rows in its scratch, without
/// SIMD: after the windowed kernel's padded input.
const fn unblocked_at(p: &Conv2d) -> usize {
    window::scratch_len(p)
}

/// [`conv2d_gemm`] with the weights cut into the row blocks of [`pointwise_block`] (per
/// group), one after the other, each transposed (`[c_in / groups · k_h · k_w, rows]`),
/// as the compiler lays out the constant weights of a layer where [`gemm_blocks_pay`].
/// With SIMD each block is one product whose `A` is read in place where its rows are
/// whole vectors, instead of packed on every inference (13 % of mlperf-ic's 64 → 64
/// layer at 8 × 8 had been packing); the 8- and 6-row panels pack it by plain copies.
/// Without SIMD, [`UNBLOCKED_CHANNELS`] output channels at a time are put back into rows
/// in the scratch after the windowed kernel's (see [`gemm_blocks_pay`]), and run on the
/// kernel [`conv2d_gemm`] runs; a group of fewer channels, or a scratch too short for
/// them, gets NaN.
#[inline(always)]
pub fn conv2d_gemm_blocked(
    p: &Conv2d,
    x: &[f32],
    w_blocks: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let Some((x, w, bias, y)) = operands(p, x, w_blocks, bias, y) else {
        return;
    };
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if is_strided_pointwise(p) && scratch.len() >= strided_pointwise_scratch(p) {
        strided_pointwise(p, x, w, bias, act, scratch, y);
        return;
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    framed_or_packing(p, x, (w, true), bias, act, scratch, y);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    unblocked(p, x, w, bias, act, scratch, y);
}

/// Puts the weights of output channels `start..` of a group (`c_out` channels in the
/// blocks of [`pointwise_block`], `w_group`) back into rows, one channel's `depth` per
/// row of `rows`. Out of line: one copy serves every blocked layer of a model.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(never)]
fn unblock(w_group: &[f32], c_out: usize, start: usize, rows: &mut [f32]) {
    let depth = w_group.len() / c_out.max(1);
    if depth == 0 {
        return;
    }
    for (o, row) in rows.chunks_exact_mut(depth).enumerate() {
        let channel = start + o;
        let (mut row0, mut width) = (0, 0);
        for b in 0..pointwise_blocks(c_out) {
            (row0, width) = pointwise_block(c_out, b);
            if channel < row0 + width {
                break;
            }
        }
        // The block is `[depth, width]` from its first channel's row: the channel's
        // weights are `width` apart (a plain index walk; `step_by` took twice the
        // instructions on the Cortex-M7).
        let Some(column) = w_group.get(row0 * depth + channel - row0..) else {
            continue;
        };
        if width == 0 || column.len() < (depth - 1) * width + 1 {
            continue;
        }
        let mut at = 0;
        for weight in row.iter_mut() {
            *weight = column[at];
            at += width;
        }
    }
}

/// [`conv2d_gemm_blocked`] without SIMD: per image and group, runs of
/// [`UNBLOCKED_CHANNELS`] output channels (the last one ending at the group's last
/// channel, recomputing a few when the group is not a multiple), each put back into
/// rows (`[channels, depth]`) in `scratch` after the windowed kernel's padded input and
/// run as a convolution of its own on one image, from one call site with a geometry of
/// constant channels, on the kernel the layer takes (the windowed one, inlined, where
/// the compiler blocks). A group of fewer than [`UNBLOCKED_CHANNELS`] channels, which
/// the compiler never blocks, or a scratch too short for one run gets NaN.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
fn unblocked(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (c_in_group, c_out_group) = (p.c_in / p.groups, p.c_out / p.groups);
    let depth = c_in_group * p.k_h * p.k_w;
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let (padded, rows_scratch) = scratch.split_at_mut(unblocked_at(p).min(scratch.len()));
    let Some(weights) = rows_scratch.get_mut(..UNBLOCKED_CHANNELS * depth) else {
        y.fill(f32::NAN);
        return;
    };
    if c_out_group < UNBLOCKED_CHANNELS {
        y.fill(f32::NAN);
        return;
    }
    let sub = Conv2d {
        batch: 1,
        c_in: c_in_group,
        c_out: UNBLOCKED_CHANNELS,
        groups: 1,
        ..*p
    };
    for image in 0..p.batch {
        for group in 0..p.groups {
            let first_in = (image * p.c_in + group * c_in_group) * in_plane;
            let (Some(x_group), Some(w_group)) = (
                x.get(first_in..first_in + c_in_group * in_plane),
                w.get(group * c_out_group * depth..(group + 1) * c_out_group * depth),
            ) else {
                return;
            };
            let mut c0 = 0;
            while c0 < c_out_group {
                let start = c0.min(c_out_group - UNBLOCKED_CHANNELS);
                unblock(w_group, c_out_group, start, weights);
                let first = group * c_out_group + start;
                let at = (image * p.c_out + first) * out_plane;
                let Some(y_run) = y.get_mut(at..at + UNBLOCKED_CHANNELS * out_plane) else {
                    return;
                };
                let bias = bias.and_then(|b| b.get(first..first + UNBLOCKED_CHANNELS));
                // The kernel is the layer's (`p` is constant at a generated call site, so
                // the test folds); the direct one fits any chunk.
                if window::geometry(p).is_some() {
                    window::conv2d(&sub, x_group, weights, bias, act, padded, y_run);
                } else {
                    direct_variant(&sub, x_group, weights, bias, act, y_run);
                }
                c0 = start + UNBLOCKED_CHANNELS;
            }
        }
    }
}

/// One image and group of a convolution as the operands of a GEMM: the group's input
/// planes, its output channels' weights (`c_out / groups` rows of `depth`), their bias
/// and their output planes.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
struct GroupOperands<'a> {
    x: &'a [f32],
    w: &'a [f32],
    bias: Bias<'a>,
    y: &'a mut [f32],
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl GroupOperands<'_> {
    /// The operands of output rows `row0..row0 + rows` of the group's product, whose
    /// weights are `depth` a row (a block of the compiler's, `[depth, rows]`, or rows of
    /// `A`): their weights, bias and output planes of `out_plane` floats.
    fn rows(
        &mut self,
        (row0, rows): (usize, usize),
        depth: usize,
        out_plane: usize,
    ) -> Option<(&[f32], Bias<'_>, &mut [f32])> {
        let w = self.w.get(row0 * depth..(row0 + rows) * depth)?;
        let y = self
            .y
            .get_mut(row0 * out_plane..(row0 + rows) * out_plane)?;
        let bias = match self.bias {
            Bias::Col(b) => b.get(row0..row0 + rows).map_or(Bias::None, Bias::Col),
            other => other,
        };
        Some((w, bias, y))
    }
}

/// Runs `product` on every image and group of `p` (the GEMM kernels' outer loops).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn for_each_group(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    mut product: impl FnMut(GroupOperands<'_>),
) {
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let (c_in_group, c_out_group) = (p.c_in / p.groups, p.c_out / p.groups);
    let depth = c_in_group * p.k_h * p.k_w;
    for image in 0..p.batch {
        for group in 0..p.groups {
            let first_in = image * p.c_in + group * c_in_group;
            let first_out = group * c_out_group;
            product(GroupOperands {
                x: &x[first_in * in_plane..][..c_in_group * in_plane],
                w: &w[first_out * depth..][..c_out_group * depth],
                bias: bias.map_or(Bias::None, |b| Bias::Col(&b[first_out..][..c_out_group])),
                y: &mut y[(image * p.c_out + first_out) * out_plane..][..c_out_group * out_plane],
            });
        }
    }
}

/// The scratch the framed GEMM plans in: what the plan reserves for `p`
/// ([`ConvKernel::scratch_len`], a constant at a generated call site), or less when the
/// caller passed less.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn framing_budget(p: &Conv2d, passed: usize) -> usize {
    ConvKernel::Gemm.scratch_len(p).min(passed)
}

/// [`conv2d`] on the direct kernel, which fits any geometry ([`ConvKernel::Direct`]).
/// Always inlined, so that a constant geometry picks one direct variant at the call site.
#[inline(always)]
pub fn conv2d_direct(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    if let Some((x, w, bias, y)) = operands(p, x, w, bias, y) {
        direct_variant(p, x, w, bias, act, y);
    }
}

/// The direct kernel, the one every convolution can take. The horizontal stride and
/// whether the channels end in a partial block of `MR` are compile-time parameters of the
/// kernel, chosen here so that a constant geometry instantiates one variant only.
#[inline(always)]
fn direct_variant(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    let tail = !(p.c_out / p.groups.max(1)).is_multiple_of(MR);
    match (p.stride_w, tail) {
        (1, false) => direct_stride_1(p, x, w, bias, act, y),
        (1, true) => direct_stride_1_tail(p, x, w, bias, act, y),
        (2, false) => direct_stride_2(p, x, w, bias, act, y),
        (2, true) => direct_stride_2_tail(p, x, w, bias, act, y),
        (_, false) => direct_any_stride(p, x, w, bias, act, y),
        (_, true) => direct_any_stride_tail(p, x, w, bias, act, y),
    }
}

/// The direct kernel's variants as plain functions. A generic that a generated call
/// instantiates is compiled in the model's crate, at the model's opt level; these are
/// compiled with `zant-runtime`, so a `[profile.*.package.zant-runtime]` opt-level
/// override reaches the hot loops (the "small but fast" knob of docs/build-rs.md).
macro_rules! direct_variants {
    ($($name:ident = $stride:expr, $tail:expr;)*) => {$(
        #[inline(never)]
        fn $name(
            p: &Conv2d,
            x: &[f32],
            w: &[f32],
            bias: Option<&[f32]>,
            act: Activation,
            y: &mut [f32],
        ) {
            direct::<{ $stride }, $tail>(p, x, w, bias, act, y)
        }
    )*};
}

direct_variants! {
    direct_stride_1 = 1, false;
    direct_stride_1_tail = 1, true;
    direct_stride_2 = 2, false;
    direct_stride_2_tail = 2, true;
    direct_any_stride = ANY_STRIDE, false;
    direct_any_stride_tail = ANY_STRIDE, true;
}

/// The fewest output channels per group for which the implicit GEMM beats the direct
/// kernel: its tiles hold six channels, so fewer leave most of each tile idle.
const IMPLICIT_MIN_CHANNELS: usize = 4;

/// The direct kernel's tile width: four scalars on 32-bit Arm (Cortex-M, whose 32
/// single-precision registers hold a 4 × 4 tile and its operands), eight elsewhere.
/// It is the direct kernel's own, not the GEMM's `NR`: with AVX that is 16, and on the
/// 24-column interior rows of mnist-8's 5×5 layers a 16-wide tile leaves an overlapping
/// second tile that recomputes 8 columns.
const NR: usize = if cfg!(target_arch = "arm") { 4 } else { 8 };

/// The tile width for rows narrower than [`NR`]: one 4-lane vector.
const NARROW: usize = 4;

/// The `STRIDE` parameter of the direct kernel for a stride known only at run time.
const ANY_STRIDE: usize = 0;

/// The taps `t` in `0..k` whose input position `o·stride + t·dil − pad` lies in
/// `0..len`, for output position `o`; empty when the whole window is padding.
#[inline]
pub(crate) fn tap_range(
    o: usize,
    stride: usize,
    dil: usize,
    k: usize,
    pad: usize,
    len: usize,
) -> (usize, usize) {
    let start = o * stride;
    // start + t·dil ≥ pad  ⇔  t ≥ ⌈(pad − start) / dil⌉
    let lo = if pad > start {
        (pad - start).div_ceil(dil)
    } else {
        0
    };
    // start + t·dil < pad + len  ⇔  t < ⌈(pad + len − start) / dil⌉
    let hi = if pad + len > start {
        (pad + len - start).div_ceil(dil)
    } else {
        0
    };
    let lo = lo.min(k);
    (lo, hi.clamp(lo, k))
}

/// The output positions `lo..hi` (within `0..out_len`) whose whole window of `k` taps
/// lies inside `0..len`; the rest are borders.
#[inline]
pub(crate) fn interior_range(
    out_len: usize,
    stride: usize,
    dil: usize,
    k: usize,
    pad: usize,
    len: usize,
) -> (usize, usize) {
    let span = k.saturating_sub(1) * dil;
    let lo = pad.div_ceil(stride).min(out_len);
    // o·stride − pad + span ≤ len − 1  ⇔  o ≤ (len − 1 + pad − span) / stride
    let hi = if len + pad > span {
        (len - 1 + pad - span) / stride + 1
    } else {
        0
    };
    (lo, hi.clamp(lo, out_len))
}

/// The output positions `o` (within `0..out_len`) for which tap `t` lands inside
/// `0..len`, i.e. `0 ≤ o·stride + t·dil − pad < len`.
#[inline]
pub(crate) fn outputs_for_tap(
    t: usize,
    stride: usize,
    dil: usize,
    pad: usize,
    len: usize,
    out_len: usize,
) -> (usize, usize) {
    let offset = t * dil;
    let lo = if pad > offset {
        (pad - offset).div_ceil(stride)
    } else {
        0
    };
    let hi = if len + pad > offset {
        (len + pad - offset).div_ceil(stride)
    } else {
        0
    };
    let lo = lo.min(out_len);
    (lo, hi.clamp(lo, out_len))
}

/// The direct convolution: for each image, group, block of output channels and output
/// row, register tiles along the row. `STRIDE` is the horizontal stride (1, 2, or
/// [`ANY_STRIDE`]); `TAIL` whether the channels of a group end in a block smaller than `MR`.
fn direct<const STRIDE: usize, const TAIL: bool>(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    let weights_per_channel = c_in_group * p.k_h * p.k_w;
    let columns = interior_range(p.w_out, p.stride_w, p.dil_w, p.k_w, p.pad_left, p.w_in);
    for image in 0..p.batch {
        for group in 0..p.groups {
            let first_in = image * p.c_in + group * c_in_group;
            let x_group = &x[first_in * in_plane..][..c_in_group * in_plane];
            let mut channel = group * c_out_group;
            let group_end = channel + c_out_group;
            let task = |channel0: usize| ChannelBlock {
                geometry: p,
                x_group,
                y_offset: (image * p.c_out + channel0) * out_plane,
                columns,
            };
            // The common horizontal strides are compile-time parameters, so a tile's
            // loads become a plain slice (stride 1) or a fixed de-interleave (stride 2).
            while channel + MR <= group_end {
                let weights = core::array::from_fn(|o| {
                    &w[(channel + o) * weights_per_channel..][..weights_per_channel]
                });
                let biases = core::array::from_fn(|o| bias.map_or(0.0, |b| b[channel + o]));
                task(channel).run::<MR, STRIDE>(&weights, &biases, act, y);
                channel += MR;
            }
            while TAIL && channel < group_end {
                let weights = [&w[channel * weights_per_channel..][..weights_per_channel]];
                let biases = [bias.map_or(0.0, |b| b[channel])];
                task(channel).run::<1, STRIDE>(&weights, &biases, act, y);
                channel += 1;
            }
        }
    }
}

/// `OC` consecutive output channels of one image, all reading the same input group.
struct ChannelBlock<'a> {
    geometry: &'a Conv2d,
    /// The input channels of the group, `c_in / groups` planes.
    x_group: &'a [f32],
    /// Where the first channel's output plane starts in `y`.
    y_offset: usize,
    /// The interior output columns (see [`interior_range`]).
    columns: (usize, usize),
}

impl ChannelBlock<'_> {
    /// Computes every output row of the block's channels.
    #[inline(always)]
    fn run<const OC: usize, const STRIDE: usize>(
        &self,
        weights: &[&[f32]; OC],
        biases: &[f32; OC],
        act: Activation,
        y: &mut [f32],
    ) {
        let p = self.geometry;
        let out_plane = p.h_out * p.w_out;
        let (interior_lo, interior_hi) = self.columns;
        for oh in 0..p.h_out {
            let rows = tap_range(oh, p.stride_h, p.dil_h, p.k_h, p.pad_top, p.h_in);
            let row_offset = self.y_offset + oh * p.w_out;
            let mut store = |ow: usize, tile: &[f32], o: usize| {
                let start = row_offset + o * out_plane + ow;
                for (out, &value) in y[start..start + tile.len()].iter_mut().zip(tile) {
                    *out = value + biases[o];
                }
            };
            let border = |ow: usize| tap_range(ow, p.stride_w, p.dil_w, p.k_w, p.pad_left, p.w_in);
            // Full-width tiles cover the interior; the last one overlaps its predecessor
            // when the width is not a multiple of `NR`, which recomputes a few columns but
            // is far cheaper than narrow tiles (stores overwrite, so the overlap is
            // harmless). One call site per tile shape keeps one inlined copy of each.
            let mut singles_from = interior_lo;
            if interior_hi - interior_lo >= NR {
                let mut ow = interior_lo;
                while ow < interior_hi {
                    let start = ow.min(interior_hi - NR);
                    let tile = self.tile::<OC, NR, STRIDE>(weights, oh, start, rows, (0, p.k_w));
                    for (o, tile_row) in tile.iter().enumerate() {
                        store(start, tile_row, o);
                    }
                    ow += NR;
                }
                singles_from = interior_hi;
            } else if NARROW < NR {
                while singles_from + NARROW <= interior_hi {
                    let ow = singles_from;
                    let tile = self.tile::<OC, NARROW, STRIDE>(weights, oh, ow, rows, (0, p.k_w));
                    for (o, tile_row) in tile.iter().enumerate() {
                        store(ow, tile_row, o);
                    }
                    singles_from += NARROW;
                }
            }
            // The borders and any interior columns left: one column at a time, with the
            // taps restricted to the input (all of them inside the interior).
            for ow in (0..interior_lo).chain(singles_from..p.w_out) {
                let tile = self.tile::<OC, 1, STRIDE>(weights, oh, ow, rows, border(ow));
                for (o, tile_row) in tile.iter().enumerate() {
                    store(ow, tile_row, o);
                }
            }
            // The activation runs once over each finished row, still in L1, as a
            // separate loop so the tile loops above stay free of its branch.
            for o in 0..OC {
                let start = row_offset + o * out_plane;
                act.apply_slice(&mut y[start..start + p.w_out]);
            }
        }
    }

    /// The `OC × TW` sums (without bias) for output row `oh`, columns `ow0..ow0 + TW`,
    /// over the kernel rows `rows` and kernel columns `columns`, which the caller has
    /// restricted to taps inside the input for every output in the tile.
    #[inline(always)]
    fn tile<const OC: usize, const TW: usize, const STRIDE: usize>(
        &self,
        weights: &[&[f32]; OC],
        oh: usize,
        ow0: usize,
        rows: (usize, usize),
        columns: (usize, usize),
    ) -> [[f32; TW]; OC] {
        let p = self.geometry;
        let in_plane = p.h_in * p.w_in;
        let kernel_plane = p.k_h * p.k_w;
        let mut acc = [[0.0f32; TW]; OC];
        // The input span one tap reads for the whole tile.
        let span = (TW - 1) * p.stride_w + 1;
        for (channel, plane) in self.x_group.chunks_exact(in_plane.max(1)).enumerate() {
            for kh in rows.0..rows.1 {
                let ih = oh * p.stride_h + kh * p.dil_h - p.pad_top;
                let input_row = &plane[ih * p.w_in..][..p.w_in];
                let kernel_row = channel * kernel_plane + kh * p.k_w;
                let mut weight_rows: [&[f32]; OC] = [&[]; OC];
                unroll!(OC, |o| weight_rows[o] = &weights[o][kernel_row..][..p.k_w]);
                // An index loop: an iterator over the taps would stay a call at "z".
                #[allow(clippy::needless_range_loop)]
                for kw in columns.0..columns.1 {
                    let start = ow0 * p.stride_w + kw * p.dil_w - p.pad_left;
                    let inputs: [f32; TW] = match STRIDE {
                        1 => array(&input_row[start..start + TW]),
                        ANY_STRIDE => {
                            let mut gathered = [0.0; TW];
                            let source = input_row[start..start + span].iter().step_by(p.stride_w);
                            for (g, &value) in gathered.iter_mut().zip(source) {
                                *g = value;
                            }
                            gathered
                        }
                        _ => {
                            let segment = &input_row[start..start + (TW - 1) * STRIDE + 1];
                            let mut inputs = [0.0; TW];
                            unroll!(TW, |j| inputs[j] = segment[j * STRIDE]);
                            inputs
                        }
                    };
                    unroll!(OC, |o| {
                        let weight = weight_rows[o][kw];
                        unroll!(TW, |j| acc[o][j] += weight * inputs[j]);
                    });
                }
            }
        }
        acc
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// Depthwise 3×3 convolution with dilation 1 and any stride and padding.
fn depthwise_3x3(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    // The inputs one output row reads, in padded coordinates.
    let padded_len = (p.w_out - 1) * p.stride_w + 3;
    if padded_len <= PADDED_ROW && p.stride_w <= 2 {
        depthwise_3x3_padded(p, x, w, bias, act, y, padded_len);
        return;
    }
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    let (row_lo, row_hi) = interior_range(p.h_out, p.stride_h, 1, 3, p.pad_top, p.h_in);
    let (column_lo, column_hi) = interior_range(p.w_out, p.stride_w, 1, 3, p.pad_left, p.w_in);
    for (plane_idx, y_plane) in y.chunks_exact_mut(out_plane).enumerate() {
        let channel = plane_idx % p.c_in;
        let x_plane = &x[plane_idx * in_plane..][..in_plane];
        let kernel: &[f32; 9] = w[channel * 9..channel * 9 + 9]
            .try_into()
            .unwrap_or(&[0.0; 9]);
        let bias = bias.map_or(0.0, |b| b[channel]);
        // The generic tile computes border outputs, restricted to their valid taps.
        let block = ChannelBlock {
            geometry: p,
            x_group: x_plane,
            y_offset: 0,
            columns: (column_lo, column_hi),
        };
        let weights = [&kernel[..]];
        let border_point = |oh: usize, ow: usize| {
            let rows = tap_range(oh, p.stride_h, 1, 3, p.pad_top, p.h_in);
            let columns = tap_range(ow, p.stride_w, 1, 3, p.pad_left, p.w_in);
            let [[sum]] = block.tile::<1, 1, ANY_STRIDE>(&weights, oh, ow, rows, columns);
            sum + bias
        };
        for (oh, y_row) in y_plane.chunks_exact_mut(p.w_out).enumerate() {
            if oh < row_lo || oh >= row_hi {
                for (ow, out) in y_row.iter_mut().enumerate() {
                    *out = border_point(oh, ow);
                }
                act.apply_slice(y_row);
                continue;
            }
            for ow in (0..column_lo).chain(column_hi..p.w_out) {
                y_row[ow] = border_point(oh, ow);
            }
            let top = oh * p.stride_h - p.pad_top;
            let input_rows: [&[f32]; 3] =
                core::array::from_fn(|r| &x_plane[(top + r) * p.w_in..][..p.w_in]);
            let interior = &mut y_row[column_lo..column_hi];
            let left = column_lo * p.stride_w - p.pad_left;
            if p.stride_w == 1 {
                let len = interior.len();
                let taps = core::array::from_fn(|t| &input_rows[t / 3][left + t % 3..][..len]);
                depthwise_3x3_taps(&taps, kernel, bias, interior);
            } else if p.stride_w == 2 {
                let done =
                    depthwise_3x3_vectors_stride_2(&input_rows, left, kernel, bias, interior);
                let (left, interior) = (left + 2 * done, &mut interior[done..]);
                depthwise_3x3_row_stride_2(&input_rows, left, kernel, bias, interior);
            } else {
                depthwise_3x3_row_strided(&input_rows, left, p.stride_w, kernel, bias, interior);
            }
            // Once per finished row, so the loops above stay free of the activation's
            // branch and vectorise.
            act.apply_slice(y_row);
        }
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// The longest input row, padding included, that [`depthwise_3x3_padded`] copies into its
/// stack buffer (three rows, 3 KiB): MobileNet-v2's 112-wide layers fit.
const PADDED_ROW: usize = 256;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// Depthwise 3×3 with dilation 1, stride 1 or 2 horizontally (any vertically), on rows
/// of at most [`PADDED_ROW`] padded inputs: each input row is copied once per channel
/// into a zero-padded row of a three-row ring, so every output, borders included, runs
/// the interior row kernels. The copy costs about a vector move per eight inputs; the
/// border outputs it replaces each cost a generic tile with tap-range arithmetic, which
/// dominates on the small planes of the late MobileNet layers.
fn depthwise_3x3_padded(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
    padded_len: usize,
) {
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    let mut ring = [[0.0f32; PADDED_ROW]; 3];
    for (plane_idx, y_plane) in y.chunks_exact_mut(out_plane).enumerate() {
        let channel = plane_idx % p.c_in;
        let x_plane = &x[plane_idx * in_plane..][..in_plane];
        let kernel: &[f32; 9] = w[channel * 9..channel * 9 + 9]
            .try_into()
            .unwrap_or(&[0.0; 9]);
        let bias = bias.map_or(0.0, |b| b[channel]);
        // Which padded row each slot of the ring holds: padded row `j` lives in slot
        // `j % 3`, so the three rows of one output are always in distinct slots.
        let mut held = [usize::MAX; 3];
        for (oh, y_row) in y_plane.chunks_exact_mut(p.w_out).enumerate() {
            for r in 0..3 {
                let j = oh * p.stride_h + r;
                if held[j % 3] != j {
                    held[j % 3] = j;
                    fill_padded_row(p, x_plane, j, &mut ring[j % 3][..padded_len]);
                }
            }
            let input_rows: [&[f32]; 3] =
                core::array::from_fn(|r| &ring[(oh * p.stride_h + r) % 3][..padded_len]);
            if p.stride_w == 1 {
                let len = y_row.len();
                let taps = core::array::from_fn(|t| &input_rows[t / 3][t % 3..][..len]);
                depthwise_3x3_taps(&taps, kernel, bias, y_row);
            } else {
                let done = depthwise_3x3_vectors_stride_2(&input_rows, 0, kernel, bias, y_row);
                depthwise_3x3_row_stride_2(&input_rows, 2 * done, kernel, bias, &mut y_row[done..]);
            }
            act.apply_slice(y_row);
        }
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// Writes padded input row `j` (input row `j − pad_top`, or zeros when that is padding)
/// into `row`: `pad_left` zeros, the input, then zeros to the end.
fn fill_padded_row(p: &Conv2d, x_plane: &[f32], j: usize, row: &mut [f32]) {
    if j < p.pad_top || j - p.pad_top >= p.h_in {
        row.fill(0.0);
        return;
    }
    let input = &x_plane[(j - p.pad_top) * p.w_in..][..p.w_in];
    let left = p.pad_left.min(row.len());
    let copied = (row.len() - left).min(p.w_in);
    let (zeros, rest) = row.split_at_mut(left);
    zeros.fill(0.0);
    let (values, right) = rest.split_at_mut(copied);
    values.copy_from_slice(&input[..copied]);
    right.fill(0.0);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// `y[i] = bias + Σ_t kernel[t] · taps[t][i]`, each tap an input slice at least as long as
/// `y`: an interior stride-1 row (the nine taps shifted inputs of three rows) or a
/// flattened plane (`plane.rs`). Eight outputs per vector step where the target has SIMD
/// (nine unaligned loads and fused multiply-adds from the bias), scalar for the rest.
#[inline]
fn depthwise_3x3_taps(taps: &[&[f32]; 9], kernel: &[f32; 9], bias: f32, y: &mut [f32]) {
    let done = depthwise_3x3_taps_vectors(taps, kernel, bias, y);
    let [k0, k1, k2, k3, k4, k5, k6, k7, k8] = *kernel;
    let y = &mut y[done..];
    // Each tap cut to the outputs' length, so the loop's indices need no checks.
    let len = y.len();
    let tail = |t: usize| &taps[t][done..][..len];
    let (t0, t1, t2, t3, t4, t5, t6, t7, t8) = (
        tail(0),
        tail(1),
        tail(2),
        tail(3),
        tail(4),
        tail(5),
        tail(6),
        tail(7),
        tail(8),
    );
    for (j, out) in y.iter_mut().enumerate() {
        let top = k0 * t0[j] + k1 * t1[j] + k2 * t2[j];
        let middle = k3 * t3[j] + k4 * t4[j] + k5 * t5[j];
        let bottom = k6 * t6[j] + k7 * t7[j] + k8 * t8[j];
        *out = bias + top + middle + bottom;
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline]
fn depthwise_3x3_taps_vectors(
    taps: &[&[f32]; 9],
    kernel: &[f32; 9],
    bias: f32,
    y: &mut [f32],
) -> usize {
    use crate::gemm::simd::{load_at, store_at, F32x8, LANES};
    let full = y.len() - y.len() % LANES;
    let mut weights = [F32x8::splat(0.0); 9];
    unroll!(9, |t| weights[t] = F32x8::splat(kernel[t]));
    let bias = F32x8::splat(bias);
    // Index loops and unrolled taps: iterators stay calls at opt-level "z".
    let mut start = 0;
    while start < full {
        let mut sum = bias;
        unroll!(9, |t| sum =
            load_at(taps[t], start).mul_add(weights[t], sum));
        store_at(sum, y, start);
        start += LANES;
    }
    full
}

/// The leading outputs of an interior stride-2 depthwise 3×3 row, eight per step: each
/// input row's 17-element window is de-interleaved into its three taps' even lanes.
/// Returns how many outputs it wrote; the caller finishes the row.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline]
fn depthwise_3x3_vectors_stride_2(
    input_rows: &[&[f32]; 3],
    left: usize,
    kernel: &[f32; 9],
    bias: f32,
    y: &mut [f32],
) -> usize {
    use crate::gemm::simd::{store_at, F32x8, LANES};
    /// The inputs eight stride-2 outputs of a 3-wide kernel read: 2 · 7 + 3.
    const WINDOW: usize = 2 * (LANES - 1) + 3;
    let full = y.len() - y.len() % LANES;
    let mut weights = [F32x8::splat(0.0); 9];
    unroll!(9, |t| weights[t] = F32x8::splat(kernel[t]));
    let bias = F32x8::splat(bias);
    // Index loops and unrolled taps: iterators stay calls at opt-level "z".
    let mut done = 0;
    while done < full {
        let start = left + 2 * done;
        let mut sum = bias;
        unroll!(3, |r| {
            // Interior outputs never read past the row; stop (and let the scalar loop
            // finish) rather than panic should that ever not hold.
            let Some(window) = input_rows[r]
                .get(start..)
                .and_then(|s| s.first_chunk::<WINDOW>())
            else {
                return done;
            };
            unroll!(3, |c| {
                let mut lanes = [0.0f32; LANES];
                unroll!(LANES, |l| lanes[l] = window[c + 2 * l]);
                sum = F32x8::from_array(lanes).mul_add(weights[3 * r + c], sum);
            });
        });
        store_at(sum, y, done);
        done += LANES;
    }
    full
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// One interior output row (without activation) of a stride-2 depthwise 3×3. Each tap
/// reads pairs of inputs and keeps the first, a pattern LLVM vectorises as a
/// de-interleave; the last output, whose pair may run off the row, is done alone.
#[inline]
fn depthwise_3x3_row_stride_2(
    input_rows: &[&[f32]; 3],
    left: usize,
    kernel: &[f32; 9],
    bias: f32,
    y: &mut [f32],
) {
    let Some((last, head)) = y.split_last_mut() else {
        return;
    };
    let len = head.len();
    let tap = |r: usize, c: usize| {
        input_rows[r][left + c..left + c + 2 * len]
            .chunks_exact(2)
            .map(|pair| pair[0])
    };
    let [k00, k01, k02, k10, k11, k12, k20, k21, k22] = *kernel;
    let top = tap(0, 0).zip(tap(0, 1)).zip(tap(0, 2));
    let middle = tap(1, 0).zip(tap(1, 1)).zip(tap(1, 2));
    let bottom = tap(2, 0).zip(tap(2, 1)).zip(tap(2, 2));
    for (out, ((((t0, t1), t2), ((m0, m1), m2)), ((b0, b1), b2))) in
        head.iter_mut().zip(top.zip(middle).zip(bottom))
    {
        *out = bias
            + (k00 * t0 + k01 * t1 + k02 * t2)
            + (k10 * m0 + k11 * m1 + k12 * m2)
            + (k20 * b0 + k21 * b1 + k22 * b2);
    }
    let at = |r: usize, c: usize| input_rows[r][left + 2 * len + c];
    *last = bias
        + (k00 * at(0, 0) + k01 * at(0, 1) + k02 * at(0, 2))
        + (k10 * at(1, 0) + k11 * at(1, 1) + k12 * at(1, 2))
        + (k20 * at(2, 0) + k21 * at(2, 1) + k22 * at(2, 2));
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// One interior output row (without activation) of a strided depthwise 3×3.
#[inline]
fn depthwise_3x3_row_strided(
    input_rows: &[&[f32]; 3],
    left: usize,
    stride: usize,
    kernel: &[f32; 9],
    bias: f32,
    y: &mut [f32],
) {
    if y.is_empty() {
        return;
    }
    let span = (y.len() - 1) * stride + 3;
    let windows = |r: usize| input_rows[r][left..left + span].windows(3).step_by(stride);
    let [k00, k01, k02, k10, k11, k12, k20, k21, k22] = *kernel;
    for (((out, w0), w1), w2) in y.iter_mut().zip(windows(0)).zip(windows(1)).zip(windows(2)) {
        let top = k00 * w0[0] + k01 * w0[1] + k02 * w0[2];
        let middle = k10 * w1[0] + k11 * w1[1] + k12 * w1[2];
        let bottom = k20 * w2[0] + k21 * w2[1] + k22 * w2[2];
        *out = bias + top + middle + bottom;
    }
}

/// A depthwise geometry (`groups == c_in == c_out`) from its input, kernel, stride,
/// dilation and padding (top and left, then bottom and right), for the depthwise tests.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_geometry(
    batch: usize,
    c: usize,
    (h_in, w_in): (usize, usize),
    k: (usize, usize),
    stride: usize,
    dil: usize,
    (pad_top, pad_left): (usize, usize),
    (pad_bottom, pad_right): (usize, usize),
) -> Conv2d {
    let out = |size: usize, k: usize, pad: usize| (size + pad - dil * (k - 1) - 1) / stride + 1;
    Conv2d {
        batch,
        c_in: c,
        h_in,
        w_in,
        c_out: c,
        h_out: out(h_in, k.0, pad_top + pad_bottom),
        w_out: out(w_in, k.1, pad_left + pad_right),
        k_h: k.0,
        k_w: k.1,
        stride_h: stride,
        stride_w: stride,
        dil_h: dil,
        dil_w: dil,
        pad_top,
        pad_left,
        groups: c,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5) - 1.0)
            .collect()
    }

    /// The output size ONNX gives for explicit padding (floor mode).
    fn out_len(
        len: usize,
        k: usize,
        stride: usize,
        dil: usize,
        pad_begin: usize,
        pad_end: usize,
    ) -> usize {
        (len + pad_begin + pad_end - dil * (k - 1) - 1) / stride + 1
    }

    fn naive(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: Activation) -> Vec<f32> {
        let c_in_group = p.c_in / p.groups;
        let c_out_group = p.c_out / p.groups;
        let mut y = std::vec![0.0; p.batch * p.c_out * p.h_out * p.w_out];
        for n in 0..p.batch {
            for oc in 0..p.c_out {
                let group = oc / c_out_group;
                for oh in 0..p.h_out {
                    for ow in 0..p.w_out {
                        let mut sum = bias.map_or(0.0, |b| b[oc] as f64);
                        for icl in 0..c_in_group {
                            let ic = group * c_in_group + icl;
                            for kh in 0..p.k_h {
                                for kw in 0..p.k_w {
                                    let ih = (oh * p.stride_h + kh * p.dil_h) as isize
                                        - p.pad_top as isize;
                                    let iw = (ow * p.stride_w + kw * p.dil_w) as isize
                                        - p.pad_left as isize;
                                    if ih < 0
                                        || iw < 0
                                        || ih >= p.h_in as isize
                                        || iw >= p.w_in as isize
                                    {
                                        continue;
                                    }
                                    let xv = x[((n * p.c_in + ic) * p.h_in + ih as usize) * p.w_in
                                        + iw as usize];
                                    let wv = w[((oc * c_in_group + icl) * p.k_h + kh) * p.k_w + kw];
                                    sum += xv as f64 * wv as f64;
                                }
                            }
                        }
                        y[((n * p.c_out + oc) * p.h_out + oh) * p.w_out + ow] =
                            act.apply(sum as f32);
                    }
                }
            }
        }
        y
    }

    /// The geometry of `[batch, c_in, h, w, c_out, k_h, k_w, stride_h, stride_w, dil_h,
    /// dil_w, pads(t, l, b, r), groups]`.
    fn geometry(spec: [usize; 16]) -> Conv2d {
        let [batch, c_in, h_in, w_in, c_out, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, pad_bottom, pad_right, groups] =
            spec;
        Conv2d {
            batch,
            c_in,
            h_in,
            w_in,
            c_out,
            h_out: out_len(h_in, k_h, stride_h, dil_h, pad_top, pad_bottom),
            w_out: out_len(w_in, k_w, stride_w, dil_w, pad_left, pad_right),
            k_h,
            k_w,
            stride_h,
            stride_w,
            dil_h,
            dil_w,
            pad_top,
            pad_left,
            groups,
        }
    }

    /// Every kernel that takes the geometry of `spec` (see [`geometry`]) against a naive
    /// convolution.
    fn check(spec: [usize; 16]) {
        let p = geometry(spec);
        let Conv2d {
            batch,
            c_in,
            h_in,
            w_in,
            c_out,
            k_h,
            k_w,
            groups,
            ..
        } = p;
        let x = values(batch * c_in * h_in * w_in, 1);
        let w = values(c_out * (c_in / groups) * k_h * k_w, 2);
        let bias = values(c_out, 3);
        for (bias, act) in [
            (None, Activation::None),
            (Some(&bias[..]), Activation::Relu),
            (
                Some(&bias[..]),
                Activation::Clip {
                    min: -0.3,
                    max: 0.4,
                },
            ),
            (Some(&bias[..]), Activation::Swish { alpha: 1.0 }),
            (None, Activation::Sigmoid),
        ] {
            let expected = naive(&p, &x, &w, bias, act);
            // `conv2d` picks its kernel; the direct kernel, which Cortex-M runs for
            // every shape `conv2d` does not send elsewhere, is checked on its own too.
            let mut y = std::vec![f32::NAN; batch * c_out * p.h_out * p.w_out];
            conv2d(&p, &x, &w, bias, act, &mut y);
            let mut y_direct = std::vec![f32::NAN; batch * c_out * p.h_out * p.w_out];
            direct_variant(&p, &x, &w, bias, act, &mut y_direct);
            // The entry point the compiler emits for this geometry, with NaN scratch of
            // exactly the size it reserves: scratch read before it is written, or too
            // short, would show.
            let kernel = kernel_for(&p);
            let mut scratch = std::vec![f32::NAN; kernel.scratch_len(&p)];
            let mut y_chosen = std::vec![f32::NAN; batch * c_out * p.h_out * p.w_out];
            match kernel {
                ConvKernel::Pointwise => {
                    conv2d_pointwise(&p, &x, &w, bias, act, &mut scratch, &mut y_chosen)
                }
                ConvKernel::Depthwise => {
                    conv2d_depthwise(&p, &x, &w, bias, act, &mut scratch, &mut y_chosen)
                }
                ConvKernel::Gemm => conv2d_gemm(&p, &x, &w, bias, act, &mut scratch, &mut y_chosen),
                ConvKernel::Direct => conv2d_direct(&p, &x, &w, bias, act, &mut y_chosen),
            }
            // A depthwise 3×3 on SIMD targets takes the channel-vector kernel; its
            // fallbacks, the row kernels and (on a small plane) the flattened kernel, are
            // checked on it too.
            let mut y_rows = y_chosen.clone();
            let mut y_flat = y_chosen.clone();
            if kernel == ConvKernel::Depthwise && is_3x3(&p) {
                y_rows.fill(f32::NAN);
                if let Some((x, w, bias, y)) = operands(&p, &x, &w, bias, &mut y_rows) {
                    depthwise_3x3(&p, x, w, bias, act, y);
                }
            }
            // The row kernel that targets without SIMD run for every 3×3, in NaN scratch
            // of the size the layer reserves, and with none.
            let mut y_scalar_rows = y_chosen.clone();
            let mut y_scalar_rows_no_scratch = y_chosen.clone();
            if kernel == ConvKernel::Depthwise && is_3x3(&p) {
                scratch.fill(f32::NAN);
                for (y, scratch) in [
                    (&mut y_scalar_rows, &mut scratch[..]),
                    (&mut y_scalar_rows_no_scratch, &mut []),
                ] {
                    y.fill(f32::NAN);
                    if let Some((x, w, bias, y)) = operands(&p, &x, &w, bias, y) {
                        rows::depthwise_3x3(&p, x, w, bias, act, scratch, y);
                    }
                }
            }
            if kernel == ConvKernel::Depthwise && is_3x3(&p) && plane::fits(&p) {
                scratch.fill(f32::NAN);
                y_flat.fill(f32::NAN);
                plane::depthwise_3x3(&p, &x, &w, bias, act, &mut scratch, &mut y_flat);
            }
            // The windowed direct kernel, which targets without SIMD run for the implicit
            // GEMM's geometries it covers when built for speed.
            // On the padded copy, in NaN scratch of the size reserved for it.
            // With no scratch where it needs some: the general kernel, or NaN when built
            // for size.
            let mut y_window = y_direct.clone();
            let mut y_short = y_direct.clone();
            if kernel == ConvKernel::Gemm && window::geometry(&p).is_some() {
                assert!(window::scratch_len(&p) <= scratch.len());
                scratch.fill(f32::NAN);
                y_window.fill(f32::NAN);
                window::conv2d(&p, &x, &w, bias, act, &mut scratch, &mut y_window);
                if window::scratch_len(&p) > 0 {
                    y_short.fill(0.0);
                    window::conv2d(&p, &x, &w, bias, act, &mut [], &mut y_short);
                    if cfg!(zant_size) {
                        assert!(y_short.iter().all(|v| v.is_nan()), "{p:?}");
                        y_short.clone_from(&y_direct);
                    }
                }
            }
            // On SIMD targets, both GEMM kernels whichever the layer takes: the packing
            // one, and the framed one in bands of one, two and three rows and whole, each
            // in NaN scratch of exactly its size.
            let mut y_gemms = std::vec![y_direct.clone(); 5];
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            if kernel == ConvKernel::Gemm {
                let (packing, framed) = y_gemms.split_first_mut().expect("five outputs");
                scratch.fill(f32::NAN);
                packing.fill(f32::NAN);
                implicit::conv2d_implicit(&p, &x, (&w, false), bias, act, &mut scratch, packing);
                for (band, y) in [1, 2, 3, p.h_out].into_iter().zip(framed) {
                    let band = band.min(p.h_out);
                    let framing = frame::Framing {
                        band,
                        pitch: frame::pitch(&p),
                    };
                    let mut scratch = std::vec![f32::NAN; frame::scratch_len(&p, band)];
                    y.fill(f32::NAN);
                    frame::conv2d_frame(&p, framing, &x, (&w, false), bias, act, &mut scratch, y);
                }
            }
            for (kernel, y) in [
                ("packing GEMM", &y_gemms[0]),
                ("framed GEMM, bands of 1", &y_gemms[1]),
                ("framed GEMM, bands of 2", &y_gemms[2]),
                ("framed GEMM, bands of 3", &y_gemms[3]),
                ("framed GEMM, one band", &y_gemms[4]),
                ("conv2d", &y),
                ("direct", &y_direct),
                ("chosen", &y_chosen),
                ("window", &y_window),
                ("window, short scratch", &y_short),
                ("rows", &y_rows),
                ("rows.rs", &y_scalar_rows),
                ("rows.rs, no scratch", &y_scalar_rows_no_scratch),
                ("flat", &y_flat),
            ] {
                for (i, (&a, &e)) in y.iter().zip(&expected).enumerate() {
                    assert!(
                        (a - e).abs() <= 1e-5 * e.abs().max(1.0),
                        "{kernel}: {p:?}: element {i}: {a} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn pointwise_convolutions_use_the_gemm() {
        check([1, 3, 4, 5, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1]);
        check([2, 16, 3, 7, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1]);
        check([1, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1]);
    }

    /// `w` (`c_out` rows of `depth`) as the compiler's `layout` pass blocks it: block by
    /// block of `pointwise_block`, each block's rows depth by depth.
    /// Every value of `y` within 1e-4 of `expected`, relative to `1 + |expected|`; a
    /// failure names `what` (the geometry, and what else the test varies) and the index.
    fn assert_near(y: &[f32], expected: &[f32], what: impl core::fmt::Debug) {
        assert_eq!(y.len(), expected.len(), "{what:?}");
        for (i, (&got, &want)) in y.iter().zip(expected).enumerate() {
            assert!(
                (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                "{what:?} [{i}]: {got} against {want}"
            );
        }
    }

    fn blocked(w: &[f32], c_out: usize, depth: usize) -> Vec<f32> {
        let mut blocked = Vec::with_capacity(w.len());
        for b in 0..pointwise_blocks(c_out) {
            let (row0, rows) = pointwise_block(c_out, b);
            for i in 0..depth {
                blocked.extend((row0..row0 + rows).map(|o| w[o * depth + i]));
            }
        }
        blocked
    }

    /// 1 × 1 strided layers with blocked weights (a ResNet's shortcut) gathered into
    /// scratch and multiplied as a pointwise layer, against the naive convolution, in
    /// NaN scratch of the planned size: mlperf-ic's two shortcuts, two images of odd
    /// sizes, rows of 35 outputs (two vectors and three more) and a vertical stride of
    /// 3. Each takes the gathering path (asserted).
    #[test]
    fn strided_pointwise_layers_gather_their_positions() {
        for spec in [
            [1, 16, 32, 32, 32, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1],
            [1, 32, 16, 16, 64, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1],
            [2, 16, 18, 21, 32, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1],
            [1, 8, 7, 70, 48, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1],
            [1, 8, 13, 40, 32, 1, 1, 3, 2, 1, 1, 0, 0, 0, 0, 1],
        ] {
            let p = geometry(spec);
            let scratch_len = ConvKernel::Gemm.scratch_len(&p);
            assert!(gemm_blocks_pay(&p), "{p:?}");
            assert!(is_strided_pointwise(&p), "{p:?}");
            assert!(scratch_len >= strided_pointwise_scratch(&p), "{p:?}");
            let x = values(p.batch * p.c_in * p.h_in * p.w_in, 1);
            let w = values(p.c_out * p.c_in, 2);
            let blocked = blocked(&w, p.c_out, p.c_in);
            let bias = values(p.c_out, 3);
            let expected = naive(&p, &x, &w, Some(&bias), Activation::None);
            let mut scratch = std::vec![f32::NAN; scratch_len];
            let mut y = std::vec![f32::NAN; expected.len()];
            conv2d_gemm_blocked(
                &p,
                &x,
                &blocked,
                Some(&bias),
                Activation::None,
                &mut scratch,
                &mut y,
            );
            assert_near(&y, &expected, p);
        }
        // Padded or unstrided 1 × 1 layers are not gathered.
        for spec in [
            [1, 16, 32, 32, 32, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 1],
            [1, 16, 32, 32, 32, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1],
            [1, 16, 32, 32, 32, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1],
        ] {
            let p = geometry(spec);
            assert!(!is_strided_pointwise(&p), "{p:?}");
            assert_eq!(strided_pointwise_scratch(&p), 0, "{p:?}");
        }
    }

    /// k×k layers whose weights the compiler blocks (`gemm_blocks_pay`, asserted) give
    /// the naive convolution through `conv2d_gemm_blocked`: mlperf-ic's 64 → 64 at 8 × 8
    /// (two blocks of 32, 576 depths read in place from a frame in one `k` block; 72
    /// input channels, 648 depths, take two) and 32 → 64
    /// at stride 2, 32 outputs in one block at stride 2, 96 in two of 48, two images, a
    /// 5 × 5 layer and rows of 9 (odd width); with SIMD also with only the packing
    /// kernel's scratch where no frame fits then (three at least, asserted). Layers of 16
    /// or 40 outputs, grouped or 1 × 1 ones, and those the windowed kernel does not cover
    /// (dilated, rows of 7, a 10 × 4 kernel, a padded input over its 64 KiB) keep their
    /// rows (asserted).
    #[test]
    fn blocked_gemm_weights_give_the_same_convolution() {
        let mut packed = 0;
        for spec in [
            [1, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [1, 32, 16, 16, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1],
            [1, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1],
            [2, 8, 9, 11, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [1, 4, 12, 12, 32, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1],
            [1, 24, 9, 9, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            // 648 depths: more than one `k` block of the narrow tiles on a frame.
            [1, 72, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        ] {
            let p = geometry(spec);
            assert!(gemm_blocks_pay(&p), "{p:?}");
            let depth = p.c_in * p.k_h * p.k_w;
            let x = values(p.batch * p.c_in * p.h_in * p.w_in, 1);
            let w = values(p.c_out * depth, 2);
            let blocked = blocked(&w, p.c_out, depth);
            let bias = values(p.c_out, 3);
            let act = Activation::Relu;
            let expected = naive(&p, &x, &w, Some(&bias), act);
            // The planned scratch, then (with SIMD) only the packing kernel's.
            let mut lengths = std::vec![ConvKernel::Gemm.scratch_len(&p)];
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            {
                let rows = (0..pointwise_blocks(p.c_out))
                    .map(|b| pointwise_block(p.c_out, b).1)
                    .max()
                    .unwrap_or(0);
                let packing = crate::gemm::blocked_scratch_len(rows, depth);
                if frame::framing(&p, packing).is_none() {
                    lengths.push(packing);
                    packed += 1;
                }
            }
            for scratch_len in lengths {
                let mut scratch = std::vec![f32::NAN; scratch_len];
                let mut y = std::vec![f32::NAN; expected.len()];
                conv2d_gemm_blocked(&p, &x, &blocked, Some(&bias), act, &mut scratch, &mut y);
                assert_near(&y, &expected, (&p, scratch_len));
            }
        }
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        assert!(packed >= 3, "{packed} layers took the packing kernel");
        let _ = packed;
        for spec in [
            [1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [1, 16, 8, 8, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [1, 32, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2],
            [1, 32, 8, 8, 64, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1],
            [1, 4, 12, 12, 32, 5, 5, 1, 1, 2, 2, 2, 2, 2, 2, 1],
            [1, 24, 7, 7, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [1, 1, 49, 10, 64, 10, 4, 2, 2, 1, 1, 4, 1, 5, 1, 1],
            [1, 64, 64, 64, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        ] {
            assert!(!gemm_blocks_pay(&geometry(spec)), "{spec:?}");
        }
    }

    #[test]
    fn blocked_pointwise_weights_give_the_same_convolution() {
        // 32 and 48 outputs (one block) read their weights in place on AVX-512, 20 packs
        // them; 64 outputs are two blocks of 32, 100 three of 32, 32 and 36, 160 four
        // (32, 48, 32, 48); two images, 40 and 300 input channels (one and two `k`
        // blocks).
        for spec in [
            [2, 40, 5, 6, 32, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1],
            [1, 300, 3, 3, 48, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1],
            [1, 40, 4, 9, 20, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1],
            [2, 40, 5, 6, 64, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1],
            [1, 300, 3, 5, 100, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1],
            [1, 96, 7, 7, 160, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1],
        ] {
            let p = geometry(spec);
            assert_eq!(kernel_for(&p), ConvKernel::Pointwise, "{p:?}");
            let x = values(p.batch * p.c_in * p.h_in * p.w_in, 1);
            let w = values(p.c_out * p.c_in, 2);
            let mut next = 0;
            for b in 0..pointwise_blocks(p.c_out) {
                let (row0, rows) = pointwise_block(p.c_out, b);
                assert_eq!(row0, next, "{p:?}: block {b} starts where the last ended");
                assert!(rows <= 48 && rows > 0, "{p:?}: block {b} of {rows} rows");
                next = row0 + rows;
            }
            assert_eq!(
                next, p.c_out,
                "{p:?}: the blocks cover every output channel"
            );
            let blocked = blocked(&w, p.c_out, p.c_in);
            let bias = values(p.c_out, 3);
            let act = Activation::Clip {
                min: -0.3,
                max: 0.4,
            };
            let expected = naive(&p, &x, &w, Some(&bias), act);
            let mut scratch = std::vec![f32::NAN; ConvKernel::Pointwise.scratch_len(&p)];
            let mut y = std::vec![f32::NAN; expected.len()];
            conv2d_pointwise_blocked(&p, &x, &blocked, Some(&bias), act, &mut scratch, &mut y);
            assert_near(&y, &expected, p);
        }
        assert_eq!(pointwise_blocks(0), 0);
        assert_eq!(pointwise_blocks(48), 1);
        assert_eq!(
            (0..pointwise_blocks(320))
                .map(|b| pointwise_block(320, b).1)
                .collect::<std::vec::Vec<_>>(),
            [32, 48, 48, 48, 48, 48, 48]
        );
    }

    #[test]
    fn windowed_tiles_match_naive() {
        // The geometries the windowed direct kernel covers (each asserts that it does):
        // mnist-8's padded 5×5 layers, LeNet's unpadded one (no copy), a stride-2 3×3 stem
        // with asymmetric padding, 7 channels (blocks of 4, 2 and 1), two groups, a 7×7
        // stride-2 stem, a strided 1×1, a row whose last tile overlaps.
        for spec in [
            [1, 8, 14, 14, 16, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1],
            [1, 1, 12, 12, 8, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1],
            [1, 6, 14, 14, 16, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1],
            [2, 3, 20, 21, 7, 3, 3, 2, 2, 1, 1, 1, 0, 0, 1, 1],
            [1, 4, 9, 11, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2],
            [1, 3, 21, 22, 5, 7, 7, 2, 2, 1, 1, 3, 3, 3, 2, 1],
            [1, 8, 17, 17, 6, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1],
            [1, 2, 5, 13, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        ] {
            let p = geometry(spec);
            assert_eq!(kernel_for(&p), ConvKernel::Gemm, "{p:?}");
            assert!(window::geometry(&p).is_some(), "{p:?}");
            check(spec);
        }
    }

    #[test]
    fn dense_convolutions_match_naive() {
        // Plain 3×3, same padding.
        check([1, 3, 8, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // Wide rows so interior tiles of NR columns are used, with odd channel counts.
        check([2, 2, 5, 37, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // Stride 2, asymmetric padding.
        check([1, 3, 11, 13, 4, 3, 3, 2, 2, 1, 1, 1, 0, 0, 1, 1]);
        // Planes of at most four columns on many channels (digits-cnn's 4 × 4 layer, and
        // five rows of three): with AVX-512 the narrow tiles take two rows at a time, the
        // last odd row alone.
        check([1, 32, 4, 4, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        check([1, 16, 5, 3, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // Stride 2 on an odd width of 31: the odd phase's rows are two octets of
        // de-interleaved columns from 31 inputs, the second ending on a lone column.
        check([1, 2, 5, 31, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1]);
        // 8, 16 and 56 output channels (with AVX-512 the 8-row panels; 56 rows are two
        // blocks of 48 and 8), on planes of several bands, rows of three and two whole
        // slivers (the 8 × 48 and 8 × 32 tiles) and slivers across row ends.
        check([1, 16, 20, 52, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        check([1, 4, 6, 36, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        check([1, 5, 9, 21, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        check([1, 3, 7, 40, 8, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1]);
        // Rows of 8, 7 and 13 outputs on 64, 32 and 48 output channels, 576, 360 and
        // 288 depths (two or three `k` blocks): the narrow tiles share a row out
        // evenly (4 + 4, 3 + 4, 4 + 4 + 5 columns without AVX-512).
        check([1, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        check([1, 40, 7, 7, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        check([1, 32, 13, 13, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // The same rows on 40 channels, which take the slivers: a row's last sliver
        // reaches past the dropped columns into the next row, whose outputs it must
        // leave to that row's slivers (in two `k` blocks, else added twice).
        check([1, 32, 13, 13, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // 32 and 48 output channels on a 16 × 16 plane: with AVX-512 the narrow tiles,
        // eight outputs of a row at a time.
        check([1, 4, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        check([1, 3, 13, 18, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // Stride 2 with each column phase first: no padding before (mlperf-ic's
        // downsampling, the padding after), two columns of it, and stride 1 × 2; the
        // frame splits each input row into both column phases at once. Odd and even
        // widths, so a phase row ends on a lone column or on a pair.
        check([1, 3, 12, 16, 8, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1]);
        check([1, 2, 9, 19, 6, 3, 3, 2, 2, 1, 1, 2, 2, 0, 1, 1]);
        check([1, 2, 6, 21, 5, 3, 4, 1, 2, 1, 1, 1, 1, 1, 2, 1]);
        check([1, 4, 8, 8, 16, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1]);
        // A 9 × 3 kernel at stride 2 × 1 and a 9 × 9 one: the frame's tap offsets from
        // the tables of 64 taps and past them (more than one channel, so the counters
        // wrap).
        check([1, 3, 14, 10, 8, 9, 3, 2, 1, 1, 1, 4, 1, 4, 1, 1]);
        check([1, 2, 12, 12, 8, 9, 9, 1, 1, 1, 1, 4, 4, 4, 4, 1]);
        // 5×5 with dilation and stride 3 horizontally.
        check([1, 2, 13, 29, 6, 5, 3, 1, 3, 2, 2, 2, 3, 2, 1, 1]);
        // A strided 1×1 (ResNet downsampling) and a padded 1×1.
        check([1, 8, 9, 9, 6, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1]);
        check([1, 4, 3, 3, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // Padding larger than the kernel reach leaves whole rows and columns of bias.
        check([1, 2, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3, 3, 3, 3, 1]);
        // A kernel wider than the input.
        check([1, 1, 4, 3, 2, 3, 7, 1, 1, 1, 1, 1, 3, 1, 3, 1]);
        // Rectangular kernels.
        check([1, 3, 6, 20, 5, 1, 7, 1, 1, 1, 1, 0, 3, 0, 3, 1]);
    }

    /// With AVX-512, stride-2 3 × 3 layers whose output channels the narrow tiles take
    /// two vectors at a time, on rows of more than four outputs, are framed in their
    /// columns' order, the tiles reading every other column (asserted): mlperf-ic's two
    /// (padding after), odd widths and padding on both sides, 64 channels (two blocks of
    /// two vectors), several bands. 48, 96 and 128 channels (blocks of three vectors),
    /// rows of four outputs, 16 channels and 5 × 5 kernels keep the phases.
    #[test]
    fn stride_two_frames_in_column_order() {
        for (spec, unsplit) in [
            ([1, 16, 32, 32, 32, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1], true),
            ([1, 32, 16, 16, 64, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1], true),
            ([1, 5, 19, 23, 48, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1], false),
            ([1, 5, 19, 23, 96, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1], false),
            ([1, 5, 19, 23, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1], true),
            ([1, 5, 19, 23, 128, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1], false),
            ([2, 8, 13, 11, 64, 3, 3, 2, 2, 1, 1, 1, 0, 1, 2, 1], true),
            ([1, 8, 40, 12, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1], true),
            ([1, 8, 8, 8, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1], false),
            ([1, 8, 16, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1], false),
            ([1, 8, 16, 16, 32, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, 1], false),
            ([1, 8, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1], false),
        ] {
            #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
            {
                let p = geometry(spec);
                let depth = p.c_in * p.k_h * p.k_w;
                let blocks = core::iter::once((0, p.c_out));
                assert_eq!(frame::unsplit_pays(&p, depth, blocks), unsplit, "{p:?}");
            }
            let _ = unsplit;
            check(spec);
        }
    }

    #[test]
    fn implicit_gemm_tiles_cross_rows_and_blocks() {
        // On SIMD targets these take the implicit GEMM. Output rows of 5, 13 and 17
        // columns make 16-wide slivers span two or three rows; 30 input channels × 3 × 3
        // is 270 depths, two `k` blocks; 50 output channels are two blocks of rows, the
        // last with a partial 6-row panel. Tolerance as in `check`: 1e-5 relative to
        // max(|expected|, 1).
        check([1, 30, 5, 5, 50, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        check([2, 5, 13, 13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        check([1, 3, 9, 35, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1]);
        // Dilation, a 5×5 kernel with asymmetric padding, and stride 3.
        check([1, 4, 17, 19, 6, 5, 5, 1, 1, 2, 2, 3, 1, 2, 4, 1]);
        check([1, 2, 20, 23, 9, 3, 5, 3, 3, 1, 1, 1, 2, 0, 2, 1]);
        // A grouped convolution with eight output channels per group, and a strided 1×1.
        check([1, 8, 7, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
        check([1, 16, 8, 8, 12, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1]);
        // A kernel wider than `CACHED_TAPS` (the range is computed per packed row).
        check([1, 2, 3, 40, 5, 1, 19, 1, 1, 1, 1, 0, 9, 0, 9, 1]);
    }

    #[test]
    fn grouped_convolutions_match_naive() {
        check([1, 4, 6, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
        check([2, 6, 7, 19, 12, 3, 3, 2, 1, 1, 1, 0, 1, 1, 1, 3]);
        // Depthwise with a channel multiplier of 2.
        check([1, 3, 5, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3]);
    }

    #[test]
    fn depthwise_convolutions_match_naive() {
        // The 3×3 fast path: stride 1 and 2, with and without padding, wide rows.
        check([1, 4, 7, 33, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4]);
        check([2, 3, 9, 10, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3]);
        check([1, 2, 6, 6, 2, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 2]);
        check([1, 2, 8, 21, 2, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, 2]);
        check([1, 2, 2, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
        check([1, 2, 9, 9, 2, 3, 3, 3, 1, 1, 1, 2, 2, 2, 2, 2]);
        // Padding wider than the sliding loops take: the general row path without SIMD.
        check([1, 2, 9, 11, 2, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 2]);
        check([1, 2, 9, 11, 2, 3, 3, 2, 2, 1, 1, 2, 2, 2, 2, 2]);
        // Other depthwise shapes take the direct kernel.
        check([1, 3, 9, 11, 3, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 3]);
        check([1, 2, 9, 11, 2, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2]);
    }

    #[test]
    fn depthwise_along_rows_on_wide_planes() {
        // The 3 × 3 at stride 1 and 2 on planes of 28 output columns or more, 14 at
        // stride 2 (the AVX-512 kernel along rows where it is built, `conv/width.rs`):
        // widths with and without a last vector overlapping the one before, heights that
        // leave rows past the tiles of four (two at stride 2), fewer rows than a tile,
        // and two images, whose first and last inputs are the ends the edge loads must
        // not read past.
        #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
        for (spec, takes) in [
            ([1, 2, 1, 28, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2], true),
            ([1, 2, 3, 56, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2], true),
            ([1, 2, 3, 56, 2, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 2], true),
            ([1, 2, 3, 54, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2], true),
            ([1, 2, 3, 27, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2], true),
            ([1, 2, 3, 25, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2], false),
            ([1, 2, 3, 27, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2], false),
            ([1, 2, 3, 40, 2, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 2], false),
        ] {
            assert_eq!(width::fits(&geometry(spec), 1 << 12), takes, "{spec:?}");
        }
        // Stride 1 and 2; padding on every side, on the top and left only (as PyTorch
        // exports), and on the bottom and right only (TensorFlow's SAME_UPPER at an
        // even size).
        // At stride 2 from 14 output columns: one vector a row up to 16, its lanes past
        // the row stored over the next row.
        for w_in in [27, 28, 29, 31, 32, 33, 36, 47, 48, 56, 57, 63, 64, 112] {
            for h_in in [1, 2, 3, 4, 5, 6, 7, 9] {
                for (stride, pads) in [
                    (1, [1, 1, 1, 1]),
                    (2, [1, 1, 1, 1]),
                    (2, [1, 1, 0, 0]),
                    (2, [0, 0, 1, 1]),
                ] {
                    let [top, left, bottom, right] = pads;
                    if h_in + top + bottom < 3 {
                        continue;
                    }
                    check([
                        2, 3, h_in, w_in, 3, 3, 3, stride, stride, 1, 1, top, left, bottom, right,
                        3,
                    ]);
                }
            }
        }
        // Output planes past `width::LOGISTIC_RUN` floats, whose logistic activations run
        // a tile's rows at a time (smaller planes wait for whole planes), at both
        // strides, with a height that leaves rows past the last tile.
        check([1, 2, 43, 112, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
        check([1, 2, 83, 224, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2]);
    }

    #[test]
    fn depthwise_rows_wider_than_the_padded_ring() {
        // Rows longer than `PADDED_ROW` take the kernel with explicit borders (on SIMD
        // targets; Cortex-M always does), stride 1 and 2, and stride 3 horizontally.
        // Tolerance as in `check`.
        check([1, 2, 4, 300, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
        check([1, 2, 5, 601, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2]);
        check([1, 2, 5, 40, 2, 3, 3, 1, 3, 1, 1, 1, 1, 1, 1, 2]);
    }

    #[test]
    fn depthwise_rows_split_between_vector_and_scalar_code() {
        // Interior rows of every length around the 8-lane vector steps, so each row ends
        // in the scalar loop after 0, 1, 2 or more vector steps; stride 1 and 2, with and
        // without padding. Tolerance as in `check`: 1e-5 relative to max(|expected|, 1).
        for w_in in [7, 8, 9, 10, 16, 17, 18, 19, 23, 26, 40, 41, 53] {
            for (stride, pad) in [(1, 1), (1, 0), (2, 1), (2, 0)] {
                check([
                    1, 3, 5, w_in, 3, 3, 3, stride, stride, 1, 1, pad, pad, pad, pad, 3,
                ]);
            }
        }
    }

    #[test]
    fn depthwise_planes_flattened() {
        // Planes up to 32 output columns take the flattened kernel: stride 1 and 2,
        // symmetric, asymmetric and no padding, odd and even sizes, a single output, and
        // MobileNet's 7×7 and 14×14 planes. Tolerance as in `check`.
        for (h, w) in [
            (1, 1),
            (3, 3),
            (7, 7),
            (14, 14),
            (5, 12),
            (13, 31),
            (28, 28),
        ] {
            for (stride, pads) in [
                (1, [1, 1, 1, 1]),
                (1, [0, 0, 0, 0]),
                (1, [1, 0, 0, 1]),
                (2, [1, 1, 1, 1]),
                (2, [0, 1, 1, 0]),
                (2, [0, 0, 1, 1]),
            ] {
                let [t, l, b, r] = pads;
                if h + t + b < 3 || w + l + r < 3 {
                    continue;
                }
                check([1, 3, h, w, 3, 3, 3, stride, stride, 1, 1, t, l, b, r, 3]);
            }
        }
        let small = Conv2d {
            batch: 1,
            c_in: 960,
            h_in: 7,
            w_in: 7,
            c_out: 960,
            h_out: 7,
            w_out: 7,
            k_h: 3,
            k_w: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: 1,
            pad_left: 1,
            groups: 960,
        };
        assert_eq!(kernel_for(&small), ConvKernel::Depthwise);
        assert!(plane::fits(&small));
        // 56 columns keep the row kernels.
        let wide = Conv2d {
            h_in: 56,
            w_in: 56,
            h_out: 56,
            w_out: 56,
            ..small
        };
        assert_eq!(kernel_for(&wide), ConvKernel::Depthwise);
        assert!(!plane::fits(&wide));
    }

    #[test]
    fn tap_and_interior_ranges() {
        // 3 taps, pad 1, input 5: output 0 misses tap 0, output 4 misses tap 2.
        assert_eq!(tap_range(0, 1, 1, 3, 1, 5), (1, 3));
        assert_eq!(tap_range(2, 1, 1, 3, 1, 5), (0, 3));
        assert_eq!(tap_range(4, 1, 1, 3, 1, 5), (0, 2));
        assert_eq!(interior_range(5, 1, 1, 3, 1, 5), (1, 4));
        // All padding: the range is empty.
        assert_eq!(tap_range(0, 1, 1, 2, 5, 3), (2, 2));
        assert_eq!(interior_range(2, 1, 1, 4, 0, 3), (0, 0));
        assert_eq!(outputs_for_tap(0, 2, 1, 1, 5, 3), (1, 3));
        assert_eq!(outputs_for_tap(2, 2, 1, 1, 5, 3), (0, 2));
    }
}

tokens! {
    rt::conv;
    /// The geometry of a transposed convolution ([`conv_transpose`]), any number of spatial
    /// dims.
    #[derive(Clone, Copy, Debug)]
    pub struct ConvTranspose<'a> {
        pub batch: usize,
        pub c_in: usize,
        pub c_out: usize,
        pub groups: usize,
        pub in_dims: &'a [usize],
        pub out_dims: &'a [usize],
        pub kernel: &'a [usize],
        pub strides: &'a [usize],
        pub dilations: &'a [usize],
        /// Output positions cut from the start of each dim (negative: zeros added).
        pub pads_begin: &'a [i64],
    }
}

/// ONNX `ConvTranspose`: each input element scatters `x · w` over the output, input
/// position `i` and kernel position `k` landing at `i·stride + k·dilation - pad`. `w` is
/// `[c_in, c_out / groups, k…]`.
pub fn conv_transpose(
    p: &ConvTranspose<'_>,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let r = p.in_dims.len();
    let in_plane: usize = p.in_dims.iter().product();
    let out_plane: usize = p.out_dims.iter().product();
    let k_plane: usize = p.kernel.iter().product();
    let (c_in_g, c_out_g) = (p.c_in / p.groups, p.c_out / p.groups);
    for n in 0..p.batch {
        for oc in 0..p.c_out {
            let b = bias.map_or(0.0, |b| b[oc]);
            y[(n * p.c_out + oc) * out_plane..][..out_plane].fill(b);
        }
        for ic in 0..p.c_in {
            let g = ic / c_in_g;
            let x_plane = &x[(n * p.c_in + ic) * in_plane..][..in_plane];
            for ocg in 0..c_out_g {
                let oc = g * c_out_g + ocg;
                let w_plane = &w[(ic * c_out_g + ocg) * k_plane..][..k_plane];
                let y_plane = &mut y[(n * p.c_out + oc) * out_plane..][..out_plane];
                for (i_flat, &xv) in x_plane.iter().enumerate() {
                    for (k_flat, &wv) in w_plane.iter().enumerate() {
                        let (mut i_rest, mut k_rest) = (i_flat, k_flat);
                        let mut offset = 0usize;
                        let mut stride = 1usize;
                        let mut inside = true;
                        for d in (0..r).rev() {
                            let i = i_rest % p.in_dims[d];
                            let k = k_rest % p.kernel[d];
                            i_rest /= p.in_dims[d];
                            k_rest /= p.kernel[d];
                            let o =
                                (i * p.strides[d] + k * p.dilations[d]) as i64 - p.pads_begin[d];
                            if o < 0 || o >= p.out_dims[d] as i64 {
                                inside = false;
                                break;
                            }
                            offset += o as usize * stride;
                            stride *= p.out_dims[d];
                        }
                        if inside {
                            y_plane[offset] += xv * wv;
                        }
                    }
                }
            }
        }
    }
}
