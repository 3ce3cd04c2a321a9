//! The integer convolutions on Helium (Armv8.1-M's M-profile vector extension, the
//! Cortex-M55 and M85). [`qconv2d`] takes [`super::qconv2d_im2col`]'s layers: each sum is
//! a run of 16-byte dot products, one `VMLAVA.S8` (16 products of raw 8-bit values, added
//! to a general register) per 16 terms. [`depthwise`] takes 3 × 3 depthwise layers at
//! stride 1, four outputs of a channel per vector.
//!
//! mlperf-kws-int8 on QEMU's Cortex-M55 (AN547), opt-level 3: 4,077,969 instructions with
//! the DSP extension's kernels (the M7's), 1,871,031 with these (the M7 takes 4,184,480);
//! its pointwise layers 592 k → 224 k each, its depthwise layers 319 k → 191 k.
//!
//! Where the weights are `i8` with a zero point of 0 (the usual int8 model's), the terms
//! need no widening and no zero-point subtraction: `Σ (x - x_zero) · w = Σ x · w - x_zero ·
//! Σ w`, and the second part is folded into each output channel's base once. A `u8`
//! input is shifted to `i8` (`x - 128`, with `x_zero - 128`), since MVE multiplies two
//! signed or two unsigned vectors, never one of each. Padding gathers `x_zero`, so that
//! it adds nothing once the base is folded.
//!
//! A block of output positions is gathered into the arena scratch once, two positions a
//! tile with their 16-term chunks interleaved (`[x0 c0][x1 c0][x0 c1][x1 c1]…`), and each
//! group of four output channels' weights is copied beside it the same way, so that one
//! `asm!` loop reads both with post-incremented loads: per 16 terms two position loads,
//! four weight loads and eight `VMLAVA`s for 128 products. The sums live in eight even
//! general registers (the instruction takes no other), which is every even register
//! (`r6`, which LLVM keeps for itself, is saved and restored inside the loop's block).
//!
//! The two loops are `asm!`: LLVM's vectoriser turns one dot product into a
//! tail-predicated `VMLAVA` loop, but a tile of eight sums into spills, and left the
//! depthwise taps scalar. This module is compiled only with `cfg(zant_mve)` (the build
//! script's reading of the rustflags), so the core that runs it has MVE; with
//! `crate::dsp` it is the crate's only `unsafe`. The Cortex-M55 bench checks it end to
//! end: its outputs must equal the host's byte for byte (`scripts/test.sh`).
#![allow(unsafe_code)]

use crate::conv::Conv2d;
use crate::qlinear::{pick, small_products, QInt, QOut, Requant};

/// Terms per vector: one 128-bit register of bytes.
const CHUNK: usize = 16;
/// Output channels and positions per tile.
const OCT: usize = 4;
const PT: usize = 2;
/// The most positions a block holds (its sums take `OCT · PB_MAX` words of stack).
const PB_MAX: usize = super::PB_MAX;

/// Whether the Helium path computes this convolution: 8-bit input and `i8` weights whose
/// zero points are all 0.
pub(super) fn applies<X: QInt, W: QInt>(w_zero: &[i32]) -> bool {
    core::mem::size_of::<X>() == 1
        && core::mem::size_of::<W>() == 1
        && W::MIN < 0
        && w_zero.iter().all(|&z| z == 0)
}

/// The positions a block of `bytes` of scratch holds for a reduction of `depth` terms:
/// whole tiles, with one tile of weights beside them; 0 if not even one tile fits.
fn block_positions(bytes: usize, depth: usize) -> usize {
    let padded = depth.div_ceil(CHUNK) * CHUNK;
    if padded == 0 {
        return 0;
    }
    let positions = (bytes / padded).saturating_sub(OCT).min(PB_MAX);
    positions / PT * PT
}

/// [`super::qconv2d_im2col`] for a convolution [`applies`] accepts; `false` (having
/// written nothing) when the scratch holds less than one tile, so that the caller takes
/// another path.
#[allow(clippy::too_many_arguments)]
pub(super) fn qconv2d<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[W],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) -> bool {
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    let depth = c_in_group * p.k_h * p.k_w;
    let padded = depth.div_ceil(CHUNK) * CHUNK;
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(scratch);
    let pb = block_positions(bytes.len(), depth);
    if pb == 0 || depth == 0 || plane_out == 0 {
        return pb != 0;
    }
    let w: &[i8] = bytemuck::cast_slice(w);
    let shift = shift_of::<X>();
    let x_zero = x_zero - shift;
    let (cols, rest) = bytes.split_at_mut(pb * padded);
    let wt = &mut rest[..OCT * padded];
    let pointwise = crate::conv::is_pointwise(p);
    let mut acc = [[0i32; PB_MAX]; OCT];
    for b in 0..p.batch {
        for g in 0..p.groups {
            let x_group = &x[(b * p.c_in + g * c_in_group) * plane_in..][..c_in_group * plane_in];
            let mut p0 = 0;
            while p0 < plane_out {
                let n = pb.min(plane_out - p0);
                if pointwise {
                    gather_pointwise(x_group, plane_in, shift, p0, n, padded, cols);
                } else {
                    gather(p, x_group, x_zero, shift, p0, n, padded, cols);
                }
                let mut oc0 = g * c_out_group;
                let group_end = oc0 + c_out_group;
                while oc0 < group_end {
                    let m = OCT.min(group_end - oc0);
                    let sums = copy_weights(&w[oc0 * depth..][..m * depth], depth, wt);
                    // Each channel's sums start at its bias less the input zero point's
                    // share, so the store adds nothing.
                    let bases: [i32; OCT] = core::array::from_fn(|o| {
                        let bias = bias.get(oc0 + o).copied().unwrap_or(0);
                        bias.wrapping_sub(x_zero.wrapping_mul(sums[o]))
                    });
                    block(cols, wt, padded, &bases, n, &mut acc);
                    for (o, acc_row) in acc[..m].iter().enumerate() {
                        let oc = oc0 + o;
                        let scale = pick(rq.scale, oc);
                        let out = &mut y[(b * p.c_out + oc) * plane_out + p0..][..n];
                        // The sums are those of `x - x_zero` against `w` plus the bias,
                        // whatever the base folded, so the bias bounds them.
                        let bias = bias.get(oc).copied().unwrap_or(0);
                        let small = small_products(depth, bias, scale);
                        Y::finish_run(&acc_row[..n], 0, scale, rq.zero, small, out);
                    }
                    oc0 += m;
                }
                p0 += n;
            }
        }
    }
    true
}

/// What an input of type `X` is shifted by to become `i8` (its zero point with it): 128
/// for an unsigned input, 0 for a signed one.
fn shift_of<X: QInt>() -> i32 {
    if X::MIN < 0 {
        0
    } else {
        128
    }
}

/// The input byte as `i8`: unsigned inputs are shifted by [`shift_of`].
#[inline(always)]
fn term<X: QInt>(v: X, shift: i32) -> u8 {
    (v.to_i32() - shift) as u8
}

/// Gathers positions `p0..p0 + n` of a pointwise convolution: term `k` of a position is
/// input channel `k`, read along the plane. The rest of the block's last tile, and the
/// terms past `depth`, are 0 (their weights are 0 too).
fn gather_pointwise<X: QInt>(
    x: &[X],
    plane: usize,
    shift: i32,
    p0: usize,
    n: usize,
    padded: usize,
    cols: &mut [u8],
) {
    let tiles = n.div_ceil(PT);
    let cols = &mut cols[..tiles * PT * padded];
    let channels = x.len() / plane.max(1);
    // Only a partial tile or a partial chunk leaves bytes no channel writes.
    if n % PT != 0 || channels % CHUNK != 0 {
        cols.fill(0);
    }
    for k in 0..channels.min(padded) {
        let row = &x[k * plane + p0..][..n];
        let at = (k / CHUNK) * PT * CHUNK + k % CHUNK;
        // Each tile's two positions are `CHUNK` apart, both inside the tile's run
        // (`at + CHUNK < PT · padded`), which the bound below tells the compiler.
        let runs = cols.chunks_exact_mut(PT * padded);
        for (run, two) in runs.zip(row.chunks_exact(PT)) {
            let run = &mut run[at..][..=CHUNK];
            run[0] = term(two[0], shift);
            run[CHUNK] = term(two[1], shift);
        }
        if let (Some(run), Some(&last)) = (
            cols.chunks_exact_mut(PT * padded).nth(n / PT),
            row.chunks_exact(PT).remainder().first(),
        ) {
            run[at] = term(last, shift);
        }
    }
}

/// Gathers positions `p0..p0 + n` of any convolution, term `k = (ci · k_h + kh) · k_w +
/// kw`; taps outside the input take `x_zero` (already shifted), so they add nothing.
/// A position's terms are written in order through a cursor that steps to the position's
/// next chunk every 16 terms, and each kernel row's taps are read from one input row.
#[allow(clippy::too_many_arguments)]
fn gather<X: QInt>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    shift: i32,
    p0: usize,
    n: usize,
    padded: usize,
    cols: &mut [u8],
) {
    let tiles = n.div_ceil(PT);
    let cols = &mut cols[..tiles * PT * padded];
    let plane = p.h_in * p.w_in;
    let channels = x.len() / plane.max(1);
    if n % PT != 0 || (channels * p.k_h * p.k_w) % CHUNK != 0 {
        cols.fill(0);
    }
    let outside = x_zero as u8;
    for j in 0..n {
        let (oh, ow) = ((p0 + j) / p.w_out, (p0 + j) % p.w_out);
        // The position's chunks, each `PT · CHUNK` bytes after the last.
        let mut chunks = cols[(j / PT) * PT * padded + (j % PT) * CHUNK..]
            .chunks_mut(PT * CHUNK)
            .map(|c| &mut c[..CHUNK]);
        let mut chunk: &mut [u8] = &mut [];
        let mut put = |v: u8| {
            if chunk.is_empty() {
                chunk = chunks.next().unwrap_or_default();
            }
            if let Some((first, rest)) = core::mem::take(&mut chunk).split_first_mut() {
                *first = v;
                chunk = rest;
            }
        };
        for ci in 0..channels {
            let x_c = &x[ci * plane..][..plane];
            for kh in 0..p.k_h {
                let ih = (oh * p.stride_h + kh * p.dil_h).checked_sub(p.pad_top);
                let row = ih
                    .filter(|&ih| ih < p.h_in)
                    .map(|ih| &x_c[ih * p.w_in..][..p.w_in]);
                let Some(row) = row else {
                    (0..p.k_w).for_each(|_| put(outside));
                    continue;
                };
                let left = ow * p.stride_w;
                let span = (p.k_w - 1) * p.dil_w;
                if p.dil_w == 1 && left >= p.pad_left && left + span - p.pad_left < p.w_in {
                    // The whole kernel row inside the input: one run.
                    for &v in &row[left - p.pad_left..][..p.k_w] {
                        put(term(v, shift));
                    }
                    continue;
                }
                for kw in 0..p.k_w {
                    let iw = (left + kw * p.dil_w).checked_sub(p.pad_left);
                    put(iw
                        .and_then(|iw| row.get(iw))
                        .map_or(outside, |&v| term(v, shift)));
                }
            }
        }
    }
}

/// Copies up to four output channels' weights (`w`, `depth` each) into `wt` chunk by
/// chunk (`[w0 c0][w1 c0][w2 c0][w3 c0][w0 c1]…`), the rest 0, and returns each
/// channel's sum of weights.
fn copy_weights(w: &[i8], depth: usize, wt: &mut [u8]) -> [i32; OCT] {
    wt.fill(0);
    let mut sums = [0i32; OCT];
    for (o, (row, sum)) in w.chunks_exact(depth).zip(&mut sums).enumerate() {
        *sum = sum_i8(row);
        let row: &[u8] = bytemuck::cast_slice(row);
        for (c, chunk) in row.chunks(CHUNK).enumerate() {
            wt[(c * OCT + o) * CHUNK..][..chunk.len()].copy_from_slice(chunk);
        }
    }
    sums
}

/// The sum of a row of weights. Not inlined, so that its loop keeps a length unknown to
/// LLVM and becomes a tail-predicated `VADDVA` loop (inlined into a layer with a constant
/// depth it was unrolled into one scalar add a byte).
#[inline(never)]
fn sum_i8(row: &[i8]) -> i32 {
    row.iter().map(|&v| i32::from(v)).sum()
}

/// The sums of positions `0..n` of a gathered block against one tile of copied weights:
/// `acc[o][j] = bases[o] + Σ_k x[j][k] · w[o][k]`, for whole tiles (the gathered padding
/// past `n` is 0).
fn block(
    cols: &[u8],
    wt: &[u8],
    padded: usize,
    bases: &[i32; OCT],
    n: usize,
    acc: &mut [[i32; PB_MAX]; OCT],
) {
    // The loop stores a tile's sums at these offsets from its position's word.
    const { assert!(PB_MAX == 64 && OCT == 4 && PT == 2) };
    let chunks = padded / CHUNK;
    let tiles = n.div_ceil(PT);
    // Both runs hold whole chunks for every position of every tile and every channel,
    // which the loop reads, and nothing past them.
    let (Some(cols), Some(wt)) = (
        cols.get(..tiles * chunks * PT * CHUNK),
        wt.get(..chunks * OCT * CHUNK),
    ) else {
        return;
    };
    if chunks == 0 || tiles == 0 || tiles * PT > PB_MAX {
        return;
    }
    let starts: [i32; OCT * PT] = core::array::from_fn(|i| bases[i / PT]);
    let out = acc.as_mut_ptr().cast::<i32>();
    // SAFETY: the loop reads `tiles · chunks · 32` bytes from `cols`, `chunks · 64` from
    // `wt` once per tile and the eight words of `starts`, all in bounds (checked above),
    // and writes words `2t` and `2t + 1` of each of the four rows of `acc` for each tile
    // `t < tiles ≤ PB_MAX / 2` (rows `PB_MAX` words apart: the offsets 256, 512, 768). It
    // keeps its counts, pointers and `r6` (which Rust reserves, restored at the end) in
    // 24 bytes of stack it pushes and pops, and names every other register it changes:
    // the general ones as operands and clobbers, `q0`–`q3` as `d0`–`d7`.
    unsafe {
        core::arch::asm!(
            // [sp]: starts, [sp+4]: tiles left, [sp+8]: weights, [sp+12]: sums out,
            // [sp+16]: chunks, [sp+20]: the caller's r6.
            "push {{r0, r2, r3, r4, r5, r6}}",
            "3:",
            "ldr r3, [sp]",
            "ldm r3, {{r0, r2, r4, r6, r8, r10, r12, lr}}",
            "ldr r3, [sp, #8]",
            "ldr r5, [sp, #16]",
            "2:",
            "vldrb.u8 q0, [r1], #16",
            "vldrb.u8 q1, [r1], #16",
            "vldrb.u8 q2, [r3], #16",
            "vmlava.s8 r0, q2, q0",
            "vmlava.s8 r2, q2, q1",
            "vldrb.u8 q3, [r3], #16",
            "vmlava.s8 r4, q3, q0",
            "vmlava.s8 r6, q3, q1",
            "vldrb.u8 q2, [r3], #16",
            "vmlava.s8 r8, q2, q0",
            "vmlava.s8 r10, q2, q1",
            "vldrb.u8 q3, [r3], #16",
            "vmlava.s8 r12, q3, q0",
            "vmlava.s8 lr, q3, q1",
            "subs r5, #1",
            "bne 2b",
            "ldr r5, [sp, #12]",
            "strd r0, r2, [r5]",
            "strd r4, r6, [r5, #256]",
            "strd r8, r10, [r5, #512]",
            "strd r12, lr, [r5, #768]",
            "adds r5, #8",
            "str r5, [sp, #12]",
            "ldr r5, [sp, #4]",
            "subs r5, #1",
            "str r5, [sp, #4]",
            "bne 3b",
            "ldr r6, [sp, #20]",
            "add sp, #24",
            inout("r0") starts.as_ptr() => _,
            inout("r1") cols.as_ptr() => _,
            inout("r2") tiles => _,
            inout("r3") wt.as_ptr() => _,
            inout("r4") out => _,
            inout("r5") chunks => _,
            out("r8") _, out("r10") _, out("r12") _, out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
        );
    }
}

/// The most sums a band of depthwise rows keeps (on the stack, 1 KiB).
const BAND: usize = 256;

/// Whether [`depthwise`] computes this depthwise convolution: 8-bit input, `i8` weights
/// with zero points 0, a `K × K` kernel at stride 1 without dilation, framed rows that fit
/// a band, and scratch for the framed plane where the input must be copied (it pads, or
/// it is unsigned and must be shifted).
pub(super) fn depthwise_applies<X: QInt, W: QInt, const K: usize>(
    p: &Conv2d,
    w_zero: &[i32],
    scratch_bytes: usize,
) -> bool {
    let (rows, cols) = super::padded_extent(p);
    let frame = rows * cols;
    let copied = super::frame_bytes(p) > 0 || X::MIN >= 0;
    applies::<X, W>(w_zero)
        && p.k_h == K
        && p.k_w == K
        && p.stride_h == 1
        && p.stride_w == 1
        && p.dil_h == 1
        && p.dil_w == 1
        && cols <= BAND
        && cols == p.w_out + K - 1
        && rows == p.h_out + K - 1
        && (!copied || scratch_bytes >= frame)
}

/// The depthwise convolution [`depthwise_applies`] accepts, channel by channel: the
/// channel's plane, framed in `x_zero` where the convolution pads (and shifted to `i8`),
/// is read as one flat row of `cols`-byte rows, so that output `q = h · cols + w` sums
/// the bytes at `q + kh · cols + kw` for every tap. A band of rows is computed as one run
/// of such outputs, four `i32` lanes a step (`VLDRB.S32` and `VMLA` by the tap's weight,
/// in [`taps_run`]'s `asm!` loop), including the `K - 1` columns past each row's end,
/// which are computed and not stored.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn depthwise<X: QInt, W: QInt, Y: QOut, const K: usize>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[W],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    let (rows, cols) = super::padded_extent(p);
    let plane_in = p.h_in * p.w_in;
    let plane_out = p.h_out * p.w_out;
    let shift = shift_of::<X>();
    let x_zero = x_zero - shift;
    let copied = super::frame_bytes(p) > 0 || shift != 0;
    let frame: &mut [u8] = bytemuck::cast_slice_mut(scratch);
    let w: &[i8] = bytemuck::cast_slice(w);
    let band_rows = (BAND / cols).max(1).min(p.h_out);
    let mut acc = [0i32; BAND];
    for b in 0..p.batch {
        for c in 0..p.c_out {
            let x_c = &x[(b * p.c_in + c) * plane_in..][..plane_in];
            let input: &[i8] = if copied {
                let frame = &mut frame[..rows * cols];
                frame.fill(x_zero as u8);
                // Input row `ih` is frame row `ih + pad_top`; rows and columns past the
                // frame are never read by an output, so they are not copied.
                let frame_rows = frame.chunks_exact_mut(cols).skip(p.pad_top);
                for (row, frame_row) in x_c.chunks_exact(p.w_in.max(1)).zip(frame_rows) {
                    let dst = frame_row.get_mut(p.pad_left..).unwrap_or_default();
                    for (d, &v) in dst.iter_mut().zip(row) {
                        *d = term(v, shift);
                    }
                }
                bytemuck::cast_slice(&frame[..])
            } else {
                bytemuck::cast_slice(x_c)
            };
            let taps: [i32; 25] = core::array::from_fn(|t| {
                if t < K * K {
                    i32::from(w[c * K * K + t])
                } else {
                    0
                }
            });
            let sum: i32 = taps.iter().sum();
            let bias = bias.get(c).copied().unwrap_or(0);
            let base = bias.wrapping_sub(x_zero.wrapping_mul(sum));
            let scale = pick(rq.scale, c);
            let small = small_products(K * K, bias, scale);
            let y_c = &mut y[(b * p.c_out + c) * plane_out..][..plane_out];
            let mut h0 = 0;
            while h0 < p.h_out {
                let band = band_rows.min(p.h_out - h0);
                // The last row's columns past the output end are left out, so that no
                // tap reads past the frame.
                let len = (band - 1) * cols + p.w_out;
                let from = &input[h0 * cols..];
                taps_run::<K>(from, cols, &taps, base, &mut acc[..len]);
                for (r, out) in y_c[h0 * p.w_out..][..band * p.w_out]
                    .chunks_exact_mut(p.w_out)
                    .enumerate()
                {
                    Y::finish_run(&acc[r * cols..][..p.w_out], 0, scale, rq.zero, small, out);
                }
                h0 += band;
            }
        }
    }
}

/// `acc[q] = base + Σ_{kh, kw} taps[kh · 3 + kw] · input[q + kh · cols + kw]` for a 3 × 3
/// kernel: a tail-predicated loop of four outputs a step, each tap one `VLDRB.S32` of its
/// row's bytes and one `VMLA` by its weight, read from `taps` (the loop has no registers
/// to keep nine weights in).
fn taps_run<const K: usize>(
    input: &[i8],
    cols: usize,
    taps: &[i32; 25],
    base: i32,
    acc: &mut [i32],
) {
    const { assert!(K == 3) };
    let len = acc.len();
    let Some(input) = input.get(..len + 2 * cols + 2) else {
        return;
    };
    if len == 0 {
        return;
    }
    let rows = [0, cols, 2 * cols].map(|at| input[at..].as_ptr());
    // SAFETY: the loop runs `len` outputs, four a step, the last step's lanes past `len`
    // predicated off (`DLSTP.32`/`LETP`), so it loads bytes `q .. q + 2` of each of the
    // three rows for `q < len` (the last row's at most `len + 2 · cols + 1`, inside
    // `input`, checked above), stores `len` words into `acc` and reads the nine words of
    // `taps`. It names every register it changes.
    unsafe {
        core::arch::asm!(
            "dlstp.32 lr, {len}",
            "2:",
            "vdup.32 q0, {base}",
            "vldrb.s32 q1, [r0, #1]",
            "ldr r5, [r3, #4]",
            "vmla.s32 q0, q1, r5",
            "vldrb.s32 q1, [r0, #2]",
            "ldr r5, [r3, #8]",
            "vmla.s32 q0, q1, r5",
            "vldrb.s32 q1, [r0], #4",
            "ldr r5, [r3]",
            "vmla.s32 q0, q1, r5",
            "vldrb.s32 q1, [r1, #1]",
            "ldr r5, [r3, #16]",
            "vmla.s32 q0, q1, r5",
            "vldrb.s32 q1, [r1, #2]",
            "ldr r5, [r3, #20]",
            "vmla.s32 q0, q1, r5",
            "vldrb.s32 q1, [r1], #4",
            "ldr r5, [r3, #12]",
            "vmla.s32 q0, q1, r5",
            "vldrb.s32 q1, [r2, #1]",
            "ldr r5, [r3, #28]",
            "vmla.s32 q0, q1, r5",
            "vldrb.s32 q1, [r2, #2]",
            "ldr r5, [r3, #32]",
            "vmla.s32 q0, q1, r5",
            "vldrb.s32 q1, [r2], #4",
            "ldr r5, [r3, #24]",
            "vmla.s32 q0, q1, r5",
            "vstrw.32 q0, [r4], #16",
            "letp lr, 2b",
            // The widening loads take only `r0`–`r7` as their base: the rows are
            // pinned there.
            len = in(reg) len,
            base = in(reg) base,
            inout("r0") rows[0] => _,
            inout("r1") rows[1] => _,
            inout("r2") rows[2] => _,
            in("r3") taps.as_ptr(),
            inout("r4") acc.as_mut_ptr() => _,
            out("r5") _,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            options(nostack),
        );
    }
}
