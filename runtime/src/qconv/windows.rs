//! [`super::qconv2d_depthwise`] on x86-64 with AVX-512 VNNI, for signed 8-bit weights
//! whose zero points are all 0, kernels at most four taps wide at horizontal stride 1
//! or 2: each lane of a vector holds one output's window.
//!
//! The channel-vector kernel ([`super::channels_depthwise`]) transposes each band of
//! input into positions of eight channels and the outputs back; on mobilenet_v2-int8
//! those copies took more time than the multiply-adds (two thirds of a stride-2 layer).
//! Here each channel's plane stays as it is: it is copied once into a frame of its
//! padding value (the unsigned byte of `x_zero`, with slack after the last row), and
//! four bytes of a frame row starting at an output's first column are that output's
//! kernel row, which [`dpbusd`] multiplies by the kernel row's weights (a fourth weight
//! of 0 past a narrower kernel) and adds to the output's lane: one instruction for a
//! kernel row of eight outputs. A 32-byte load at byte `k` of a stride-1 row holds the
//! windows of outputs `k, k + 4, …, k + 28`, so four loads cover 32 outputs; at stride 2
//! a load at byte `2k` holds those of outputs `k, k + 2, …, k + 14`. The 32 sums are
//! requantized, narrowed and put back in column order in registers, and stored straight
//! into the output row (NCHW). Rows narrower than 16 outputs run as one run of virtual
//! columns over the frame (the outputs of all rows, with the columns between rows
//! computed and dropped) or, at stride 2, two rows a step, with each channel's frame
//! filled while the previous channel's is read; below 8 the channel-vector kernel keeps
//! them. As
//! [`super::quads`] does for the other convolutions, the activation enters as
//! `u = x − X::MIN`, so `Σ (x − x_zero) · w = Σ u · w − (x_zero − X::MIN) · Σ w`, the
//! second term folded into each channel's base.

use super::{padded_extent, windows_frame_bytes, Conv2d, QInt, QOut, Requant, DEPTHWISE_MAX_TAPS};
use crate::dsp::dpbusd;
use crate::qlinear::{pick, requantize_lanes, small_products};
use safe_arch::m256i;
use wide::{f32x8, i32x8};

/// Outputs per step: four vectors of eight lanes.
const STEP: usize = 32;

/// The bytes of a kernel row one step reads from its first output's window on: up to
/// byte 66 at stride 2 (loads at 0, 2, 32 and 34), 35 at stride 1.
const SPAN: usize = super::WINDOWS_SLACK;

/// Whether this kernel takes the depthwise convolution `p` (see the module docs).
pub(super) fn applies<X: QInt, W: QInt, Y: QOut>(p: &Conv2d, x_zero: i32, w_zero: &[i32]) -> bool {
    operands_fit::<X, W, Y>(x_zero, w_zero)
        && (1..=4).contains(&p.k_w)
        && p.k_h * p.k_w <= DEPTHWISE_MAX_TAPS
        && p.dil_w == 1
        && matches!(p.stride_w, 1 | 2)
        && (p.w_out >= MIN_WIDTH || (p.stride_h == p.stride_w && p.w_out >= MIN_RUN_WIDTH))
}

/// What both kernels here ask of the operands: bytes in and out, requantized outputs,
/// signed weights with zero points of 0 (`VPDPBUSD` multiplies unsigned bytes by signed
/// ones), and an input zero point of the input's type.
fn operands_fit<X: QInt, W: QInt, Y: QOut>(x_zero: i32, w_zero: &[i32]) -> bool {
    core::mem::size_of::<X>() == 1
        && core::mem::size_of::<W>() == 1
        && core::mem::size_of::<Y>() == 1
        && W::MIN == -128
        && Y::REQUANTIZED.is_some()
        && (X::MIN..=X::MAX).contains(&x_zero)
        && w_zero.iter().all(|&z| z == 0)
}

/// The narrowest output rows this kernel takes one at a time: a step is 32 outputs of
/// one row, and on mobilenet_v2-int8's 14 × 14 layers that took 61 µs where the
/// channel-vector kernel took 52 µs.
const MIN_WIDTH: usize = 16;

/// The narrowest output rows this kernel takes as one run of virtual columns (see
/// [`depthwise`]): 44 µs on mobilenet_v2-int8's 14 × 14 layers, but 69 µs on its 7 × 7
/// ones, where the channel-vector kernel, which shares each step's set-up among eight
/// channels, took 42 µs.
const MIN_RUN_WIDTH: usize = 8;

/// The convolution (see [`super::qconv2d_depthwise`] for the arguments) at horizontal
/// stride `S` (1 or 2), where [`applies`] holds; returns whether it ran (false when
/// `scratch` is shorter than the frame, `qconv2d_depthwise_scratch_len`).
#[allow(clippy::too_many_arguments)]
pub(super) fn depthwise<X: QInt, Y: QOut, const S: usize>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[i8],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) -> bool {
    let p = *p;
    let Some(bounds) = Y::REQUANTIZED else {
        return false;
    };
    let (Some(frame), Ok(y)) = (
        bytemuck::cast_slice_mut::<f32, u8>(scratch).get_mut(..windows_frame_bytes(&p)),
        bytemuck::try_cast_slice_mut::<Y, u8>(y),
    ) else {
        return false;
    };
    let taps = p.k_h * p.k_w;
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    if taps == 0 || plane_out == 0 {
        return true;
    }
    let (rows, cols) = padded_extent(&p);
    // The unsigned bytes: `x − X::MIN` is `x` for `u8` and `x` with its top bit flipped
    // for `i8`.
    let flip = X::MIN as u8;
    let pad = (x_zero - X::MIN) as u8;
    // The frame stays `pad` outside the input's place, which each channel overwrites.
    frame.fill(pad);
    // The input rows and columns that land inside the frame.
    let copy_rows = p.h_in.min(rows.saturating_sub(p.pad_top));
    let copy_cols = p.w_in.min(cols.saturating_sub(p.pad_left));
    if p.w_out < MIN_WIDTH {
        let frame_at = (copy_rows, copy_cols, cols);
        narrow_planes::<X, S>(&p, x, w, bias, rq, (pad, bounds), frame, frame_at, y);
        return true;
    }
    for b in 0..p.batch {
        for c in 0..p.c_out {
            let mut words = [0u32; DEPTHWISE_MAX_TAPS];
            let channel = Channel::new(&p, w, bias, rq, c, (pad, bounds), &mut words);
            let x_c = &x[(b * p.c_in + c) * plane_in..][..plane_in];
            let x_c: &[u8] = bytemuck::cast_slice(x_c);
            // By masked runs of 64 bytes (a byte at a time, the copy took a fifth of
            // mlperf-vww-int8's 24 × 24 layer).
            for r in 0..copy_rows {
                let at = (r + p.pad_top) * cols + p.pad_left;
                let src = &x_c[r * p.w_in..][..copy_cols];
                crate::dsp::copy_xor(&mut frame[at..at + copy_cols], src, flip);
            }
            let y_c = &mut y[(b * p.c_out + c) * plane_out..][..plane_out];
            for (oh, y_row) in y_c.chunks_exact_mut(p.w_out).enumerate() {
                let top = oh * p.stride_h * cols;
                let mut col0 = 0;
                while col0 < p.w_out {
                    let first = top + col0 * S;
                    let Some(bytes) = channel.step::<S>(frame, cols * p.dil_h, first) else {
                        return true;
                    };
                    crate::dsp::store_bytes32(&mut y_row[col0..], bytes);
                    col0 += STEP;
                }
            }
        }
    }
    true
}

/// The most output rows a kernel of [`tiny`] may have: its index table is
/// `TINY_ROWS · TINY_GROUPS` vectors on the stack (4 KiB).
#[cfg(all(target_feature = "avx512vbmi", target_feature = "avx512bw"))]
const TINY_ROWS: usize = 4;

/// The most groups of sixteen outputs a plane of [`tiny`] may have (256 outputs).
#[cfg(all(target_feature = "avx512vbmi", target_feature = "avx512bw"))]
const TINY_GROUPS: usize = 16;

/// The index that reads the padding: past any plane [`tiny`] takes.
#[cfg(all(target_feature = "avx512vbmi", target_feature = "avx512bw"))]
const TINY_PAD: u8 = 255;

/// Whether [`tiny`] takes `p`: what [`applies`] asks of the operands, a plane of
/// at most 255 input bytes and 256 outputs, and kernel rows of at most four taps (one
/// word each), at most [`TINY_ROWS`] of them; any stride, dilation and padding.
#[cfg(all(target_feature = "avx512vbmi", target_feature = "avx512bw"))]
pub(super) fn tiny_applies<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    x_zero: i32,
    w_zero: &[i32],
) -> bool {
    operands_fit::<X, W, Y>(x_zero, w_zero)
        && (1..=4).contains(&p.k_w)
        && (1..=TINY_ROWS).contains(&p.k_h)
        && p.h_in * p.w_in <= TINY_PAD as usize
        && (1..=16 * TINY_GROUPS).contains(&(p.h_out * p.w_out))
        && p.stride_h > 0
        && p.stride_w > 0
}

/// [`super::qconv2d_depthwise`] on planes small enough for four registers
/// ([`tiny_applies`]): MobileNet's last 14 × 14 to 3 × 3 layers, a keyword spotter's
/// 25 × 5. Each channel's plane is loaded once, its padding read from a constant
/// (`dsp::depthwise_plane_vbmi`), and every output's window of each kernel row gathered
/// by one byte permute for sixteen outputs, from index tables built once for the layer:
/// no frame, no transposes. The channel-vector kernel and the window kernel's runs,
/// which these planes took before, spent most of their time in those: on a Zen 4 host,
/// mlperf-vww-int8's 6 × 6 layers of 128 channels took 4.7 µs there and 2.5 here, its
/// 12 × 12 layer of 64 channels 6.9 and 4.3, mlperf-kws-int8's 25 × 5 layers 6.2 and 1.9
/// (docs/performance.md). Each channel's constants are [`channel_constants`], as for
/// [`Channel::finish`], and the requantization in `dsp` follows `requantize_lanes` step
/// for step.
#[cfg(all(target_feature = "avx512vbmi", target_feature = "avx512bw"))]
#[allow(clippy::too_many_arguments)]
pub(super) fn tiny<X: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[i8],
    bias: &[i32],
    rq: Requant<'_>,
    y: &mut [Y],
) {
    let Some(bounds) = Y::REQUANTIZED else {
        return;
    };
    let Ok(y) = bytemuck::try_cast_slice_mut::<Y, u8>(y) else {
        return;
    };
    let x: &[u8] = bytemuck::cast_slice(x);
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let groups = plane_out.div_ceil(16);
    // Byte `4 i + kw` of table `g · k_h + kh`: the plane byte under tap `(kh, kw)` of
    // output `16 g + i`, or 255 (the padding) off the plane, past the kernel's width (a
    // weight of 0) or past the last output. Built once a layer, the outputs walked in
    // order (a division per output cost more than a small layer's products).
    let mut index = [[TINY_PAD; 64]; TINY_ROWS * TINY_GROUPS];
    let (mut oh, mut ow) = (0, 0);
    for o in 0..plane_out {
        let (g, i) = (o / 16, o % 16);
        for kh in 0..p.k_h {
            let table = &mut index[g * p.k_h + kh];
            let ih = (oh * p.stride_h + kh * p.dil_h).checked_sub(p.pad_top);
            for kw in 0..p.k_w {
                let iw = (ow * p.stride_w + kw * p.dil_w).checked_sub(p.pad_left);
                if let (Some(ih), Some(iw)) = (ih, iw) {
                    if ih < p.h_in && iw < p.w_in {
                        table[4 * i + kw] = (ih * p.w_in + iw) as u8;
                    }
                }
            }
        }
        ow += 1;
        if ow == p.w_out {
            (oh, ow) = (oh + 1, 0);
        }
    }
    let index = &index[..groups * p.k_h];
    let flip = X::MIN as u8;
    let pad = (x_zero - X::MIN) as u8;
    let mut words = [0u32; DEPTHWISE_MAX_TAPS];
    for k in 0..p.batch * p.c_out {
        let c = k % p.c_out;
        let (Some(plane), Some(out)) = (
            x.get(k * plane_in..(k + 1) * plane_in),
            y.get_mut(k * plane_out..(k + 1) * plane_out),
        ) else {
            return;
        };
        let (base, scale, clamp) = channel_constants(p, w, bias, rq, c, pad, &mut words);
        let requant = crate::dsp::PlaneRequant {
            base,
            scale,
            zero: rq.zero,
            bounds,
            clamp,
        };
        let rows = &words[..p.k_h];
        if !crate::dsp::depthwise_plane_vbmi(plane, (flip, pad), index, rows, requant, out) {
            return;
        }
    }
}

/// [`depthwise`] where output rows are narrower than half a step (`stride_h == S`
/// here), each channel's outputs from one run of steps (see [`run`]). Out of line, with
/// its own channel loop: inside [`depthwise`], changes here moved the wide rows' loop by
/// up to 7 µs a layer on mobilenet_v2-int8. `frame_at` is the input rows and columns
/// copied into the frame and its row length.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn narrow_planes<X: QInt, const S: usize>(
    p: &Conv2d,
    x: &[X],
    w: &[i8],
    bias: &[i32],
    rq: Requant<'_>,
    (pad, bounds): (u8, (i32, i32)),
    frame: &mut [u8],
    (copy_rows, copy_cols, cols): (usize, usize, usize),
    y: &mut [u8],
) {
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let x: &[u8] = bytemuck::cast_slice(x);
    let flip = X::MIN as u8;
    // Channel `k`'s rows into `frame`, each as at most two fixed-size copies (a copy of
    // run-time length is a call to `memcpy`).
    let fill = |k: usize, frame: &mut [u8]| {
        let Some(x_c) = x.get(k * plane_in..(k + 1) * plane_in) else {
            return;
        };
        for r in 0..copy_rows {
            let at = (r + p.pad_top) * cols + p.pad_left;
            if let Some(dst) = frame.get_mut(at..at + copy_cols) {
                copy_flipped(dst, &x_c[r * p.w_in..], flip);
            }
        }
    };
    // Two frames on the stack where they fit, the next channel copied into one while the
    // other is read: the steps' 32-byte loads of rows just stored cannot be forwarded
    // from the stores, and waited for them to retire.
    let mut pair = [[pad; NARROW_FRAME]; 2];
    let double = frame.len() <= NARROW_FRAME;
    let channels = p.batch * p.c_out;
    let mut words = [0u32; DEPTHWISE_MAX_TAPS];
    if double {
        fill(0, &mut pair[0][..frame.len()]);
    }
    for k in 0..channels {
        let c = k % p.c_out;
        let frame: &[u8] = if double {
            let [a, b] = &mut pair;
            let (this, next) = if k % 2 == 0 { (a, b) } else { (b, a) };
            if k + 1 < channels {
                fill(k + 1, &mut next[..frame.len()]);
            }
            &this[..frame.len()]
        } else {
            fill(k, frame);
            frame
        };
        let channel = Channel::new(p, w, bias, rq, c, (pad, bounds), &mut words);
        if !run::<S>(p, &channel, frame, cols, k * plane_out, y) {
            return;
        }
    }
}

/// Each kernel row's weights (`k_w` of them, at most 4) as the four signed bytes of a
/// word, 0 past `k_w`, into the first `k_h` of `words`. Shifted in: copied into a
/// word's bytes, each row was a call to `memcpy` of run-time length, as costly per
/// channel as a 14 × 14 plane's steps.
#[inline(always)]
fn kernel_words(kernel: &[i8], k_w: usize, words: &mut [u32; DEPTHWISE_MAX_TAPS]) {
    for (word, row) in words.iter_mut().zip(kernel.chunks_exact(k_w.max(1))) {
        *word = row
            .iter()
            .take(4)
            .enumerate()
            .fold(0, |word, (i, &v)| word | u32::from(v as u8) << (8 * i));
    }
}

/// The largest frame [`narrow_planes`] doubles on the stack: a 28-wide input's at
/// stride 2 (29 × 29 bytes and the slack).
const NARROW_FRAME: usize = 1024;

/// `src[..dst.len()]` into `dst`, each byte XORed with `flip`, as two overlapping
/// fixed-size runs (of 16, 8 or 4 bytes, XORed as one integer) or one byte at a time
/// below 4.
#[inline(always)]
fn copy_flipped(dst: &mut [u8], src: &[u8], flip: u8) {
    macro_rules! runs {
        ($int:ty) => {{
            const N: usize = core::mem::size_of::<$int>();
            let mask = <$int>::from_ne_bytes([flip; N]);
            let len = dst.len();
            let chunk = |at: usize| {
                let bytes = src.get(at..).and_then(<[u8]>::first_chunk::<N>)?;
                Some((<$int>::from_ne_bytes(*bytes) ^ mask).to_ne_bytes())
            };
            if let (Some(head), Some(tail)) = (chunk(0), chunk(len - N)) {
                if let Some(d) = dst.first_chunk_mut::<N>() {
                    *d = head;
                }
                if let Some(d) = dst.last_chunk_mut::<N>() {
                    *d = tail;
                }
            }
        }};
    }
    match dst.len() {
        16..=32 => runs!(u128),
        8..=15 => runs!(u64),
        4..=7 => runs!(u32),
        _ => {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = v ^ flip;
            }
        }
    }
}

/// The outputs of one channel whose rows are narrower than half a step (`stride_h == S`
/// here; see [`depthwise`]), into `y` from `first_out` on. At stride 2 with rows of at
/// most 16, each step's halves are two output rows ([`Channel::two_rows`]). Otherwise
/// output `(oh, ow)`'s window starts at byte `S · (oh · cols + ow)`, so the outputs of all
/// rows form one run of virtual columns `oh · cols + ow` along the frame, with
/// `cols - w_out` columns between rows that are computed and dropped. Rows are stored in
/// order as whole 8- or 16-byte runs where the tensor goes on: the bytes past a row
/// belong to the next row (of this channel or the next), stored after it. False when a
/// window would pass the frame.
fn run<const S: usize>(
    p: &Conv2d,
    channel: &Channel<'_>,
    frame: &[u8],
    cols: usize,
    first_out: usize,
    y: &mut [u8],
) -> bool {
    let pitch = cols * p.dil_h;
    // Two output rows a step, each a 16-byte half: at stride 2 with rows of at most 16,
    // from two rows `S · cols` bytes apart (a 28-wide input's 14 × 14 outputs took 13
    // steps as one run, 7 this way); where the frame is 16 wide (a 14 × 14 plane), from
    // one run of 32 virtual columns. Cut to the row at other offsets, the step was a
    // vector store reloaded at an offset, which store forwarding does not serve
    // (mobilenet_v2-int8's 14 × 14 layers: 4–6 µs each).
    let split = S == 2 && p.w_out <= STEP / 2;
    if split || cols == STEP / 2 {
        for oh in (0..p.h_out).step_by(2) {
            let first = oh * cols * S;
            let step = if split {
                channel.two_rows(frame, pitch, first, cols * S)
            } else {
                channel.step::<S>(frame, pitch, first)
            };
            let Some(bytes) = step else {
                return false;
            };
            for (r, half) in bytes.chunks_exact(STEP / 2).enumerate().take(p.h_out - oh) {
                spill_row(y, first_out + (oh + r) * p.w_out, p.w_out, half);
            }
        }
        return true;
    }
    let total = (p.h_out - 1) * cols + p.w_out;
    let (mut oh, mut ow) = (0, 0);
    let mut q0 = 0;
    while q0 < total {
        let Some(bytes) = channel.step::<S>(frame, pitch, q0 * S) else {
            return false;
        };
        let mut at = 0;
        let end = (total - q0).min(STEP);
        while at < end {
            let take = (end - at).min(cols - ow);
            if ow < p.w_out {
                let keep = take.min(p.w_out - ow);
                spill_row(y, first_out + oh * p.w_out + ow, keep, &bytes[at..]);
            }
            at += take;
            ow += take;
            if ow == cols {
                (oh, ow) = (oh + 1, 0);
            }
        }
        q0 += STEP;
    }
    true
}

/// `src[..len]` into `y` at `out`: as a whole 8- or 16-byte run where `src` and `y` hold
/// it (the bytes past `len` are overwritten later, see [`run`]), exactly otherwise.
#[inline(always)]
fn spill_row(y: &mut [u8], out: usize, len: usize, src: &[u8]) {
    fn whole<const N: usize>(y: &mut [u8], out: usize, src: &[u8]) -> bool {
        match (
            y.get_mut(out..).and_then(<[u8]>::first_chunk_mut::<N>),
            src.first_chunk::<N>(),
        ) {
            (Some(dst), Some(src)) => {
                *dst = *src;
                true
            }
            _ => false,
        }
    }
    let done = match len {
        0 => true,
        1..=8 => whole::<8>(y, out, src),
        9..=16 => whole::<16>(y, out, src),
        _ => false,
    };
    if !done {
        if let Some(dst) = y.get_mut(out..out + len) {
            store(dst, src);
        }
    }
}

/// The first `out.len()` (at most 32) bytes of `src` into `out`: whole, or as two
/// overlapping runs of 16 or 8 bytes, or one at a time below 8 (a slice copy of run-time
/// length is a `memcpy` call, which cost more than the step on mobilenet_v2-int8's
/// 28-column rows).
#[inline(always)]
fn store(out: &mut [u8], src: &[u8]) {
    let len = out.len().min(STEP);
    if let (Some(out), Some(src)) = (out.first_chunk_mut::<STEP>(), src.first_chunk::<STEP>()) {
        *out = *src;
    } else if len >= 16 {
        overlapping::<16>(&mut out[..len], src);
    } else if len >= 8 {
        overlapping::<8>(&mut out[..len], src);
    } else {
        for (o, &b) in out.iter_mut().zip(src) {
            *o = b;
        }
    }
}

/// `src[..out.len()]` into `out`, `N ≤ out.len() ≤ 2N`, as its first and last `N`.
#[inline(always)]
fn overlapping<const N: usize>(out: &mut [u8], src: &[u8]) {
    let len = out.len();
    if let (Some(head), Some(src)) = (out.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
        *head = *src;
    }
    if let (Some(tail), Some(src)) = (
        out.last_chunk_mut::<N>(),
        src.get(len - N..).and_then(<[u8]>::first_chunk::<N>),
    ) {
        *tail = *src;
    }
}

/// One channel's constants.
struct Channel<'a> {
    /// Each kernel row's weights as a word of four signed bytes.
    rows: &'a [u32],
    base: i32x8,
    scale: f32x8,
    zero: i32,
    bounds: (i32, i32),
    /// Whether the product is clamped in `f32` before rounding (see
    /// [`requantize_lanes`]).
    clamp: bool,
    /// Whether the outputs are `i8`.
    signed: bool,
}

/// Channel `c`'s base (its bias less the padding byte times its weights' sum), scale
/// and whether its products are clamped before rounding (see [`requantize_lanes`]), its
/// kernel rows' weight words written into `words`.
#[inline(always)]
fn channel_constants(
    p: &Conv2d,
    w: &[i8],
    bias: &[i32],
    rq: Requant<'_>,
    c: usize,
    pad: u8,
    words: &mut [u32; DEPTHWISE_MAX_TAPS],
) -> (i32, f32, bool) {
    let taps = p.k_h * p.k_w;
    let kernel = &w[c * taps..][..taps];
    kernel_words(kernel, p.k_w, words);
    let tap_sum: i32 = kernel.iter().map(|&v| i32::from(v)).sum();
    let model_bias = bias.get(c).copied().unwrap_or(0);
    let base = model_bias.wrapping_sub(i32::from(pad).wrapping_mul(tap_sum));
    let scale = pick(rq.scale, c);
    // The bound is on the sums with the zero points taken out, which `base + acc` is.
    (base, scale, !small_products(taps, model_bias, scale))
}

impl<'a> Channel<'a> {
    /// Channel `c`'s constants, its kernel rows' weight words in `words`.
    #[inline(always)]
    fn new(
        p: &Conv2d,
        w: &[i8],
        bias: &[i32],
        rq: Requant<'_>,
        c: usize,
        (pad, bounds): (u8, (i32, i32)),
        words: &'a mut [u32; DEPTHWISE_MAX_TAPS],
    ) -> Self {
        let (base, scale, clamp) = channel_constants(p, w, bias, rq, c, pad, words);
        Channel {
            rows: &words[..p.k_h],
            base: i32x8::splat(base),
            scale: f32x8::splat(scale),
            zero: rq.zero,
            bounds,
            clamp,
            signed: bounds.0 < 0,
        }
    }

    /// The 32 outputs of a row from the one whose first kernel row's window starts at
    /// byte `first` of `frame`, each kernel row `pitch` bytes below the previous one;
    /// `None` when a window would pass the frame.
    #[inline(always)]
    fn step<const S: usize>(&self, frame: &[u8], pitch: usize, first: usize) -> Option<[u8; 32]> {
        // Byte `b` of the loads for vector `k`: `k`, or at stride 2 the windows of the
        // odd outputs two bytes on and those of the second sixteen 32 bytes on.
        let offsets: [usize; 4] = if S == 1 { [0, 1, 2, 3] } else { [0, 2, 32, 34] };
        let mut acc = [m256i::default(); 4];
        for (r, &row) in self.rows.iter().enumerate() {
            let span = frame.get(first + r * pitch..)?.first_chunk::<SPAN>()?;
            let weights = m256i::from([row; 8]);
            for (a, &at) in acc.iter_mut().zip(&offsets) {
                let bytes = span[at..].first_chunk::<32>()?;
                *a = dpbusd(*a, m256i::from(*bytes), weights);
            }
        }
        Some(self.finish::<S>(acc))
    }

    /// A stride-2 step whose second half starts `second` bytes after its first: the
    /// outputs of two rows, 16 each (those past `w_out` dropped by the caller).
    #[inline(always)]
    fn two_rows(
        &self,
        frame: &[u8],
        pitch: usize,
        first: usize,
        second: usize,
    ) -> Option<[u8; 32]> {
        let offsets = [0, 2, second, second + 2];
        let mut acc = [m256i::default(); 4];
        for (r, &row) in self.rows.iter().enumerate() {
            let weights = m256i::from([row; 8]);
            for (a, &at) in acc.iter_mut().zip(&offsets) {
                let bytes = frame.get(first + r * pitch + at..)?.first_chunk::<32>()?;
                *a = dpbusd(*a, m256i::from(*bytes), weights);
            }
        }
        Some(self.finish::<2>(acc))
    }

    /// A step's sums requantized and narrowed, in column order (see [`narrow`]).
    #[inline(always)]
    fn finish<const S: usize>(&self, acc: [m256i; 4]) -> [u8; 32] {
        let values: [m256i; 4] = core::array::from_fn(|k| {
            let sums = bytemuck::cast::<m256i, i32x8>(acc[k]) + self.base;
            let v = if self.clamp {
                requantize_lanes::<true>(sums, self.scale, self.zero, self.bounds)
            } else {
                // The packs below saturate to the output type's range, which is `bounds`.
                requantize_lanes::<false>(sums, self.scale, self.zero, self.bounds)
            };
            bytemuck::cast(v)
        });
        narrow::<S>(values, self.signed)
    }
}

/// The 32 requantized outputs of a step, in column order: vector `k` holds, at stride 1,
/// outputs `4i + k` in lane `i`, at stride 2 outputs `2i + k` (`k < 2`) and
/// `16 + 2i + k − 2` (`k ≥ 2`). Two saturating packs narrow them to bytes, whose 128-bit
/// halves then hold outputs 0–15 and 16–31 at stride 1 and (after a 64-bit permute)
/// at stride 2, in an order that one byte shuffle per half undoes.
#[inline(always)]
fn narrow<const S: usize>(v: [m256i; 4], signed: bool) -> [u8; 32] {
    use safe_arch::{
        pack_i16_to_i8_m256i, pack_i16_to_u8_m256i, pack_i32_to_i16_m256i,
        shuffle_ai_i64_all_m256i, shuffle_av_i8z_half_m256i,
    };
    let (low, high) = (
        pack_i32_to_i16_m256i(v[0], v[1]),
        pack_i32_to_i16_m256i(v[2], v[3]),
    );
    let bytes = if signed {
        pack_i16_to_i8_m256i(low, high)
    } else {
        pack_i16_to_u8_m256i(low, high)
    };
    // Where output `m` of a half sits: at stride 1 byte `4 (m % 4) + m / 4`; at stride 2,
    // in each eight, the even outputs' bytes, then the odd ones'.
    let (bytes, order): (m256i, [u8; 16]) = if S == 1 {
        (
            bytes,
            [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15],
        )
    } else {
        // Quarters 0–7, 16–23, 8–15, 24–31 to 0–7, 8–15, 16–23, 24–31.
        (
            shuffle_ai_i64_all_m256i::<0b11_01_10_00>(bytes),
            [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15],
        )
    };
    let mut both = [0u8; 32];
    both[..16].copy_from_slice(&order);
    both[16..].copy_from_slice(&order);
    shuffle_av_i8z_half_m256i(bytes, m256i::from(both)).into()
}
