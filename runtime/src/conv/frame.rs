//! The framed implicit GEMM for targets with SIMD: a k×k convolution as `W · im2col(X)`
//! where the im2col matrix is read in place from the input, zero-padded once into a frame.
//!
//! Each input plane of a group is copied into arena scratch with its padding, and for a
//! stride `s` split into its `s_h · s_w` phases (the rows and columns with the same
//! remainder), each a plane of `pitch` columns. Output `(oh, ow)` then reads tap
//! `(c, kh, kw)` at `offset(c, kh, kw) + oh · pitch + ow` of the frame, one offset per
//! tap, whatever the padding, stride or dilation: row `p` of the im2col matrix is the
//! frame from `offset(p)` on, over "virtual" columns `oh · pitch + ow`, and a sliver of
//! 16 of them is 16 contiguous floats. The GEMM ([`crate::gemm::gemm_frame`]) therefore
//! reads `B` where it lies instead of packing it tap by tap, as [`super::implicit`] does;
//! the `pitch − w_out` virtual columns past each output row are computed and dropped.
//!
//! The frame lives in the scratch [`super::ConvKernel::Gemm`] reserves (the packed block
//! of `A` first, then the frame), which [`wanted`] makes room for: a band of
//! [`BAND`] output rows (fewer, down to [`MIN_BAND`], where [`BAND`] rows would take more
//! than [`MAX_FRAME`] floats), the whole plane when the packing kernel's scratch or the
//! windowed kernel's padded copy already holds it. The input is framed in bands of
//! output rows, each with the input rows its taps reach. A layer whose band of
//! [`MIN_BAND`] rows would take more than [`MAX_FRAME`] floats keeps the packing kernel,
//! which runs at a third to a quarter of the framed kernel's rate on the layers that
//! used to (YOLO-style 3 × 3 layers of 64 channels on 32 × 32, or 16 on 128 × 128).
//! Scratch sizes are the same on every target (a plan does not depend on how its runtime
//! was built), so these sizes are compiled everywhere and the kernel on SIMD targets only.
#![cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use super::for_each_group;
use super::Conv2d;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::gemm::simd::{copy_vectors, zero_vectors};
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::gemm::{gemm_frame, Frame, Packed};
use crate::gemm::{packed_a_len, MAX_SLIVER_COLUMNS};
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::Activation;

/// The fewest output rows per band worth framing (or the whole plane, when smaller):
/// a narrower band copies its input rows' halo again for few outputs, and its last
/// sliver of virtual columns is mostly idle.
const MIN_BAND: usize = 4;
/// The output rows per band the plan makes room for (or the whole plane, when smaller).
const BAND: usize = 8;
/// The most floats of frame the plan reserves for a layer (256 KiB).
const MAX_FRAME: usize = 64 * 1024;

/// How a convolution is framed: `band` output rows at a time, phases of `rows × pitch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Framing {
    /// Output rows per band (the last band may have fewer).
    pub(super) band: usize,
    /// Columns of a phase plane, and of the virtual output rows.
    pub(super) pitch: usize,
}

/// The input channels of one group.
const fn channels(p: &Conv2d) -> usize {
    p.c_in / p.groups
}

/// Rows of each phase plane for `band` output rows.
const fn phase_rows(p: &Conv2d, band: usize) -> usize {
    band - 1 + ((p.k_h - 1) * p.dil_h).div_ceil(p.stride_h) + 1
}

/// Zeros after the last phase plane: the last sliver of virtual columns reads up to
/// `NR − 1` floats and one tap's column offset past it.
const fn slack(pitch: usize) -> usize {
    pitch + MAX_SLIVER_COLUMNS
}

/// Floats of the frame of `band` output rows.
const fn frame_len(p: &Conv2d, framing_pitch: usize, band: usize) -> usize {
    channels(p) * p.stride_h * p.stride_w * phase_rows(p, band) * framing_pitch
        + slack(framing_pitch)
}

/// Floats of the packed block of `A` at the front of the scratch.
const fn a_len(p: &Conv2d) -> usize {
    packed_a_len(p.c_out / p.groups, channels(p) * p.k_h * p.k_w)
}

/// Columns of a phase plane: the padded input columns the outputs read, per phase.
pub(super) const fn pitch(p: &Conv2d) -> usize {
    let span = (p.w_out - 1) * p.stride_w + (p.k_w - 1) * p.dil_w + 1;
    span.div_ceil(p.stride_w)
}

/// The scratch a framing of `p` in bands of `band` rows takes (tests plan bands with it).
#[cfg(test)]
pub(super) const fn scratch_len(p: &Conv2d, band: usize) -> usize {
    a_len(p) + frame_len(p, pitch(p), band)
}

/// The scratch the framed kernel wants for `p`: packed `A` and a frame of [`BAND`] rows,
/// or of as many rows down to [`MIN_BAND`] as fit in [`MAX_FRAME`] floats; 0 when not even
/// those fit or the geometry is degenerate.
pub(super) const fn wanted(p: &Conv2d) -> usize {
    if !framable(p) {
        return 0;
    }
    let pitch = pitch(p);
    let mut band = if p.h_out < BAND { p.h_out } else { BAND };
    let least = if p.h_out < MIN_BAND {
        p.h_out
    } else {
        MIN_BAND
    };
    while band > least && frame_len(p, pitch, band) > MAX_FRAME {
        band -= 1;
    }
    let frame = frame_len(p, pitch, band);
    if frame > MAX_FRAME {
        0
    } else {
        a_len(p) + frame
    }
}

/// Whether the geometry has anything to frame.
const fn framable(p: &Conv2d) -> bool {
    !(p.groups == 0
        || p.batch == 0
        || !super::has_window(p)
        || channels(p) == 0
        || p.c_out / p.groups == 0)
}

/// The framing of `p` in `scratch_len` floats of scratch, or `None` when fewer than
/// [`MIN_BAND`] output rows (or the whole plane) fit, or the geometry is degenerate.
pub(super) const fn framing(p: &Conv2d, scratch_len: usize) -> Option<Framing> {
    if !framable(p) {
        return None;
    }
    let a_len = a_len(p);
    let pitch = pitch(p);
    if a_len + frame_len(p, pitch, 1) > scratch_len {
        return None;
    }
    // frame_len grows by `channels · s_h · s_w · pitch` per output row.
    let per_row = channels(p) * p.stride_h * p.stride_w * pitch;
    let extra_rows = (scratch_len - a_len - frame_len(p, pitch, 1)) / per_row;
    let band = if extra_rows + 1 < p.h_out {
        extra_rows + 1
    } else {
        p.h_out
    };
    let least = if p.h_out < MIN_BAND {
        p.h_out
    } else {
        MIN_BAND
    };
    if band < least {
        return None;
    }
    Some(Framing { band, pitch })
}

/// `y = act(conv(x, w) + bias)` through frames in `scratch`, as [`framing`] planned for
/// it. The caller has cut the slices to `p`'s lengths; `scratch` holds at least the
/// length the framing was planned in. With `blocked`, `w` holds the group's weights as
/// the compiler blocks them ([`super::conv2d_gemm_blocked`]): each block of output
/// channels is one product whose `A` is transposed.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d_frame(
    p: &Conv2d,
    framing: Framing,
    x: &[f32],
    (w, blocked): (&[f32], bool),
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let out_plane = p.h_out * p.w_out;
    let c_out_group = p.c_out / p.groups;
    let depth = channels(p) * p.k_h * p.k_w;
    let (packed_a, frame) = scratch.split_at_mut(a_len(p));
    let Framing { band, pitch } = framing;
    let blocks = if blocked {
        super::pointwise_blocks(c_out_group)
    } else {
        1
    };
    let block_rows = |b: usize| {
        if blocked {
            super::pointwise_block(c_out_group, b)
        } else {
            (0, c_out_group)
        }
    };
    // A stride-2 layer whose every block takes the narrow tiles is framed as a stride-1
    // one over the input rows and columns its outputs read, which the tiles read two
    // columns apart: no split into phases.
    let whole_rows = Conv2d {
        stride_h: 1,
        stride_w: 1,
        h_out: (2 * p.h_out).saturating_sub(1),
        w_out: (2 * p.w_out).saturating_sub(1),
        ..*p
    };
    let whole_pitch = self::pitch(&whole_rows);
    let unsplit = unsplit_pays(p, depth, (0..blocks).map(block_rows))
        && frame_len(&whole_rows, whole_pitch, 2 * band - 1) <= frame.len();
    let (framed, pitch, step) = if unsplit {
        (&whole_rows, whole_pitch, 2)
    } else {
        (p, pitch, 1)
    };
    // Taps along a kernel row are consecutive offsets where the frame's columns are.
    let run = if framed.stride_w == 1 && p.dil_w == 1 {
        p.k_w
    } else {
        1
    };
    let kernel_taps = KernelTaps::new(framed, pitch);
    for_each_group(p, x, w, bias, y, |mut group| {
        // The group's weights are packed by its first band and, when they are one block,
        // kept for the others.
        let mut packed = Packed::Nothing;
        for oh0 in (0..p.h_out).step_by(band) {
            let rows = band.min(p.h_out - oh0);
            let (first_row, framed_rows) = if unsplit {
                (2 * oh0, 2 * rows - 1)
            } else {
                (oh0, rows)
            };
            let plane = phase_rows(framed, framed_rows) * pitch;
            let frame = &mut frame[..frame_len(framed, pitch, framed_rows)];
            fill(framed, group.x, first_row, framed_rows, pitch, frame);
            let taps = |k0: usize, out: &mut [usize]| kernel_taps.fill(k0, plane, out);
            let view = Frame {
                data: frame,
                rows,
                pitch,
                width: p.w_out,
                column0: oh0 * p.w_out,
                run,
                step,
            };
            for b in 0..blocks {
                let (row0, block_rows) = block_rows(b);
                // Blocks take turns in the scratch: none keeps another's packing.
                if blocks > 1 {
                    packed = Packed::Nothing;
                }
                let Some((a, bias, y)) = group.rows((row0, block_rows), depth, out_plane) else {
                    return;
                };
                gemm_frame(
                    block_rows,
                    out_plane,
                    depth,
                    (a, blocked),
                    bias,
                    act,
                    &view,
                    taps,
                    &mut packed,
                    packed_a,
                    y,
                );
            }
        }
    });
}

/// Whether a stride-2 layer is framed without splitting its phases ([`conv2d_frame`]):
/// a 3-wide kernel row at dilation 1 (the narrow tiles read its taps in runs of three,
/// two columns apart), rows of more than four outputs (which the tiles do not pair),
/// and every block of output channels on the narrow tiles, two vectors of them at a
/// time (see `gemm::packed::narrow_tile_wide`). Split into phases, the framing had
/// taken a fifth of mlperf-ic's stride-2 layers.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(super) fn unsplit_pays(
    p: &Conv2d,
    depth: usize,
    mut blocks: impl Iterator<Item = (usize, usize)>,
) -> bool {
    p.stride_h == 2
        && p.stride_w == 2
        && p.k_w == 3
        && p.dil_w == 1
        && p.w_out > 4
        && blocks.all(|(_, rows)| {
            crate::gemm::frame_takes_narrow(rows, depth)
                && crate::gemm::narrow_block_vectors(rows) <= 2
        })
}

/// Where each depth of the im2col matrix starts in a frame, without a division per
/// depth: depth `k` is channel `k / (k_h · k_w)`'s tap `t = k mod (k_h · k_w)`, whose row
/// starts at `(channel · phases + phase(t)) · plane + within(t)` for a frame of phase
/// planes `plane` floats long. The two tables of the kernel's taps are computed once a
/// convolution (four divisions a tap); the fill walks channel and tap as counters.
/// Computed per depth with those divisions, the offsets had cost more than the GEMM on
/// digits-cnn's 4 × 4 layer (288 depths, a 16 × 64 output).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
struct KernelTaps {
    /// Taps per channel, `k_h · k_w`.
    per_channel: usize,
    /// Phase planes per channel, `stride_h · stride_w`.
    phases: usize,
    /// Tap `t`'s phase plane, and its row and column offset in it (`pitch` a row), for
    /// the first [`MAX_KERNEL_TAPS`] taps.
    phase: [usize; MAX_KERNEL_TAPS],
    within: [usize; MAX_KERNEL_TAPS],
    /// The geometry and pitch, for kernels with more taps than the tables hold.
    p: Conv2d,
    pitch: usize,
}

/// The most taps per channel [`KernelTaps`] tabulates (an 8 × 8 kernel); larger kernels
/// compute each depth's offset with divisions.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const MAX_KERNEL_TAPS: usize = 64;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl KernelTaps {
    fn new(p: &Conv2d, pitch: usize) -> Self {
        let mut taps = KernelTaps {
            per_channel: p.k_h * p.k_w,
            phases: p.stride_h * p.stride_w,
            phase: [0; MAX_KERNEL_TAPS],
            within: [0; MAX_KERNEL_TAPS],
            p: *p,
            pitch,
        };
        for t in 0..taps.per_channel.min(MAX_KERNEL_TAPS) {
            (taps.phase[t], taps.within[t]) = taps.tap(t);
        }
        taps
    }

    /// Tap `t`'s phase plane and its offset in it.
    fn tap(&self, t: usize) -> (usize, usize) {
        let p = &self.p;
        let (down, across) = (t / p.k_w * p.dil_h, t % p.k_w * p.dil_w);
        let phase = down % p.stride_h * p.stride_w + across % p.stride_w;
        (phase, down / p.stride_h * self.pitch + across / p.stride_w)
    }

    /// Writes the offsets of depths `k0..k0 + out.len()` into `out`, for phase planes of
    /// `plane` floats.
    fn fill(&self, k0: usize, plane: usize, out: &mut [usize]) {
        let per_channel = self.per_channel.max(1);
        let (mut channel, mut t) = (k0 / per_channel, k0 % per_channel);
        if per_channel <= MAX_KERNEL_TAPS {
            // Each tap's offset within its channel's planes once, then a channel's run of
            // offsets is that table plus the channel's start: the tap by tap walk, a
            // multiplication and a branch per depth, had taken 4 % of mlperf-ic's 3 × 3
            // layers (`perf`), its tables being filled per band, block and `k` block.
            let mut within = [0usize; MAX_KERNEL_TAPS];
            for (offset, (&phase, &at)) in within
                .iter_mut()
                .zip(self.phase.iter().zip(&self.within))
                .take(per_channel)
            {
                *offset = phase * plane + at;
            }
            let channel_len = self.phases * plane;
            let mut rest = out;
            while !rest.is_empty() {
                let taps = within.get(t..per_channel).unwrap_or_default();
                let (run, tail) = rest.split_at_mut(taps.len().min(rest.len()));
                let base = channel * channel_len;
                for (offset, &tap) in run.iter_mut().zip(taps) {
                    *offset = base + tap;
                }
                (rest, channel, t) = (tail, channel + 1, 0);
            }
            return;
        }
        for offset in out {
            let (phase, within) = if t < MAX_KERNEL_TAPS {
                (self.phase[t], self.within[t])
            } else {
                self.tap(t)
            };
            *offset = (channel * self.phases + phase) * plane + within;
            t += 1;
            if t == per_channel {
                (channel, t) = (channel + 1, 0);
            }
        }
    }
}

/// Copies the input rows that output rows `oh0..oh0 + rows` read into `frame`: per
/// channel, per phase `(ph, pw)`, a plane whose row `r`, column `c` holds the padded
/// input at `((oh0 + r)·s_h + ph, c·s_w + pw)`, zero in the padding, then zero slack.
/// Phases that no tap reads are skipped.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn fill(p: &Conv2d, x_group: &[f32], oh0: usize, rows: usize, pitch: usize, frame: &mut [f32]) {
    let in_plane = p.h_in * p.w_in;
    let plane = phase_rows(p, rows) * pitch;
    let phases = p.stride_h * p.stride_w;
    let (planes, tail) = frame.split_at_mut(channels(p) * phases * plane);
    tail.fill(0.0);
    // Phase by phase, then channel by channel: what a phase reads (whether a tap reads it
    // at all, a row's columns) is worked out once, not once per plane or row (with a
    // division each, that had taken a third of a strided 1 × 1 layer).
    let read = |taps: usize, dil: usize, stride: usize, phase: usize| {
        (0..taps).any(|t| t * dil % stride == phase)
    };
    for ph in 0..p.stride_h {
        // A phase no tap reads (a strided 1×1 reads one of four) stays unwritten.
        if !read(p.k_h, p.dil_h, p.stride_h, ph) {
            continue;
        }
        if p.stride_w == 2 && read(p.k_w, p.dil_w, 2, 0) && read(p.k_w, p.dil_w, 2, 1) {
            fill_column_pairs(p, x_group, (oh0, ph), (pitch, plane), planes);
            continue;
        }
        for pw in 0..p.stride_w {
            if !read(p.k_w, p.dil_w, p.stride_w, pw) {
                continue;
            }
            let s = p.stride_w;
            // Column c holds input column c·s + pw − pad_left: `left` zeros, the inside
            // columns every s-th input from `start`, then zeros.
            let left = p.pad_left.saturating_sub(pw).div_ceil(s).min(pitch);
            let right = (p.w_in + p.pad_left)
                .saturating_sub(pw)
                .div_ceil(s)
                .clamp(left, pitch);
            let start = (left * s + pw).saturating_sub(p.pad_left);
            let phase = ph * p.stride_w + pw;
            let phase_planes = planes.chunks_exact_mut(plane).skip(phase).step_by(phases);
            for (channel, phase_plane) in phase_planes.enumerate() {
                let x_plane = &x_group[channel * in_plane..][..in_plane];
                for (r, out) in phase_plane.chunks_exact_mut(pitch).enumerate() {
                    let ih = (oh0 + r) * p.stride_h + ph;
                    if ih < p.pad_top || ih - p.pad_top >= p.h_in {
                        zero_vectors(out);
                        continue;
                    }
                    let input = &x_plane[(ih - p.pad_top) * p.w_in..][..p.w_in];
                    if s == 1 {
                        // The padding zeroed and the inside copied in vectors (a row is a
                        // few dozen floats, for which the calls to `memset` and `memcpy`
                        // took most of the framing).
                        let len = right - left;
                        zero_ends(out, (left, right, 0));
                        copy_vectors(&input[..len], &mut out[left..right]);
                        continue;
                    }
                    let (before, rest) = out.split_at_mut(left);
                    let (inside, after) = rest.split_at_mut(right - left);
                    before.fill(0.0);
                    after.fill(0.0);
                    let from = input.get(start..).unwrap_or_default();
                    if s == 2 {
                        deinterleave(inside, from);
                    } else {
                        crate::copy::strided_run(inside, from, s);
                    }
                }
            }
        }
    }
}

/// [`fill`]'s row phase `ph` at a column stride of 2 when both column phases are read:
/// each input row is split into its even and odd columns in one pass, both phase rows
/// zeroed in vectors first. Phase by phase, the rows had been two copies of a few
/// dozen floats each, with `memset` calls for their one or two padding columns: 31 %
/// of mlperf-ic's stride-2 3 × 3 layers.
// Out of line: a call per band and row phase, and the framing of stride-1 layers keeps
// its inlining (digits-cnn ran 4 % slower with this inlined into it).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(never)]
fn fill_column_pairs(
    p: &Conv2d,
    x_group: &[f32],
    (oh0, ph): (usize, usize),
    (pitch, plane): (usize, usize),
    planes: &mut [f32],
) {
    let in_plane = p.h_in * p.w_in;
    // Column c of phase pw holds input column 2c + pw − pad_left: `left` zeros, then
    // the inside columns from input column `start`, every other one.
    let span = |pw: usize| {
        let left = p.pad_left.saturating_sub(pw).div_ceil(2).min(pitch);
        let right = (p.w_in + p.pad_left)
            .saturating_sub(pw)
            .div_ceil(2)
            .clamp(left, pitch);
        (left, right, (left * 2 + pw).saturating_sub(p.pad_left))
    };
    let spans = [span(0), span(1)];
    // The phase whose first inside column is even in the input comes first in a pair.
    let (first, second) = if spans[0].2 <= spans[1].2 {
        (0, 1)
    } else {
        (1, 0)
    };
    let (first_span, second_span) = (spans[first], spans[second]);
    let pairs_start = first_span.2;
    let odd_follows = second_span.2 == pairs_start + 1;
    let per_channel = p.stride_h * 2 * plane;
    for (channel, phase_planes) in planes.chunks_exact_mut(per_channel).enumerate() {
        let x_plane = &x_group[channel * in_plane..][..in_plane];
        // Phase (ph, pw) is plane 2 ph + pw of the channel.
        let (plane_0, plane_1) = phase_planes[2 * ph * plane..][..2 * plane].split_at_mut(plane);
        for (r, (row_0, row_1)) in plane_0
            .chunks_exact_mut(pitch)
            .zip(plane_1.chunks_exact_mut(pitch))
            .enumerate()
        {
            let ih = (oh0 + r) * p.stride_h + ph;
            if ih < p.pad_top || ih - p.pad_top >= p.h_in {
                zero_vectors(row_0);
                zero_vectors(row_1);
                continue;
            }
            zero_ends(row_0, spans[0]);
            zero_ends(row_1, spans[1]);
            let input = &x_plane[(ih - p.pad_top) * p.w_in..][..p.w_in];
            let (to_first, to_second) = if first == 0 {
                (row_0, row_1)
            } else {
                (row_1, row_0)
            };
            let first_inside = &mut to_first[first_span.0..first_span.1];
            let second_inside = &mut to_second[second_span.0..second_span.1];
            if odd_follows {
                split_pairs(
                    first_inside,
                    second_inside,
                    &input[pairs_start.min(p.w_in)..],
                );
            } else {
                deinterleave(first_inside, input.get(first_span.2..).unwrap_or_default());
                deinterleave(
                    second_inside,
                    input.get(second_span.2..).unwrap_or_default(),
                );
            }
        }
    }
}

/// Zeros the columns of a phase row outside its inside columns `left..right`, before
/// they are written: one vector at each end where the padding fits in it (a few columns
/// either side), the whole row otherwise. Zeroing whole rows, LLVM called `memset` twice
/// a row (4 % of mlperf-ic's stride-2 layers).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn zero_ends(row: &mut [f32], (left, right, _): (usize, usize, usize)) {
    use crate::gemm::simd::{store_at, F32x8, LANES};
    let len = row.len();
    if len >= LANES && left <= LANES && len - right.min(len) <= LANES {
        store_at(F32x8::splat(0.0), row, 0);
        store_at(F32x8::splat(0.0), row, len - LANES);
    } else {
        zero_vectors(row);
    }
}

/// `evens[i] = from[2 i]` and `odds[i] = from[2 i + 1]` for as many values as each
/// holds: eight pairs at a time in vectors ([`crate::gemm::simd::split_pairs`]), then
/// the lone last values. Pair by pair, LLVM kept it scalar: a quarter of mlperf-ic's
/// stride-2 3 × 3 layers.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn split_pairs(evens: &mut [f32], odds: &mut [f32], from: &[f32]) {
    use crate::gemm::simd::{self, store_at, LANES};
    let pairs = evens.len().min(odds.len()).min(from.len() / 2);
    let octets = pairs / LANES * LANES;
    for (at, sixteen) in (0..octets).step_by(LANES).zip(from.chunks_exact(2 * LANES)) {
        let Some(sixteen) = sixteen.first_chunk::<{ 2 * LANES }>() else {
            continue;
        };
        let (even, odd) = simd::split_pairs(sixteen);
        store_at(even, evens, at);
        store_at(odd, odds, at);
    }
    let (evens_rest, odds_rest) = (&mut evens[octets..], &mut odds[octets..]);
    let from_rest = from.get(2 * octets..).unwrap_or_default();
    for (value, &x) in evens_rest.iter_mut().zip(from_rest.iter().step_by(2)) {
        *value = x;
    }
    for (value, &x) in odds_rest
        .iter_mut()
        .zip(from_rest.iter().skip(1).step_by(2))
    {
        *value = x;
    }
}

/// `inside[i] = from[2 i]` for as many values as both hold: eight at a time from sixteen
/// (one shuffle of two vectors), then the rest one by one. Value by value with a range
/// check, this took 8 % of mlperf-ic.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn deinterleave(inside: &mut [f32], from: &[f32]) {
    let pairs = inside.len().min(from.len().div_ceil(2));
    let inside = &mut inside[..pairs];
    // Whole octets only where sixteen inputs remain (an odd input width ends on a
    // lone column).
    let done = (pairs / 8).min(from.len() / 16) * 8;
    for (values, sixteen) in inside[..done]
        .chunks_exact_mut(8)
        .zip(from.chunks_exact(16))
    {
        for (i, value) in values.iter_mut().enumerate() {
            *value = sixteen[2 * i];
        }
    }
    let rest = from.get(2 * done..).unwrap_or_default();
    for (value, &x) in inside[done..].iter_mut().zip(rest.iter().step_by(2)) {
        *value = x;
    }
}
