//! Convolutions of more than one tap at stride 1 or 2 without a gathered block, on AMX
//! tiles (stride 1) or `VPDPBUSD`: the input is copied once per band of output rows into
//! a frame of words, four channels to a word (`u = x − X::MIN`, the padding's byte around
//! the plane), one padded plane per quad of channels (at stride 2, one per phase, see
//! [`Frame`]). Output `(oh, ow)` is virtual position `v = oh · fw + ow` of the frame
//! (`fw` the padded width), and tap `(kh, kw)` of it reads frame position `v + kh · dil_h ·
//! fw + kw · dil_w`: 16 consecutive virtual positions of one tap and `d` channel quads are
//! one activation tile, `d` rows a plane apart. The weights are reordered tap-major
//! (`[oc][tap][channel]`, channels padded to whole quads with zero weights), so that a
//! weight tile is 16 channels × `4 d` bytes of one tap. The columns past `w_out` in each
//! row are computed and dropped (two of 34 on mlperf-ic-int8's 32-wide rows).
//!
//! Where [`super::gather_shifted`] wrote every term of every position (mlperf-ic-int8's
//! 3 × 3 layers: 144 bytes a position, the shifted gather about half of its time), the
//! frame is the input once.

use super::tiles::{product_depth, Block};
use super::{
    base, finish_channel, requantize16, small_channel, weight_sum, Conv2d, Products, QInt, QOut,
    Requant, SUM_CACHE,
};
use crate::dsp::amx::{Tiles, ROWS};
use crate::qlinear::pick;
use safe_arch::m512i;

/// The most bytes of weights per output channel this kernel reorders (`taps · 4 ·
/// channel quads`: 3 × 3 up to 112 channels).
const MAX_ROW: usize = 1024;

/// Output channels per `VPDPBUSD` tile: eight channels by two vectors of sixteen
/// positions keep sixteen sums in registers, with two activation vectors and a broadcast
/// weight beside them (of 32 `zmm`).
const VNNI_CHANNELS: usize = 8;

/// What computes the products: AMX's tiles, or `VPDPBUSD` on 512-bit vectors (a host
/// without AMX, or the tiles forced off), with the weights again by groups of
/// [`VNNI_CHANNELS`] channels, the group's words of one tap and quad side by side
/// ([`interleave`]).
enum Engine {
    Tiles(Tiles),
    Vnni,
}

/// The frame's geometry for `p` in `words` of scratch. A stride of 2 splits the input
/// into phases, one plane per (row parity, column parity) and channel quad: phase
/// `(ph, pw)`'s row `r` and column `c` is input row `2 r + ph` and column `2 c + pw` (less
/// the padding), so that tap `(kh, kw)` of output `(oh, ow)` reads row `oh + kh / 2` and
/// column `ow + kw / 2` of phase `(kh % 2, kw % 2)` (dilations folded into the taps).
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// Channel quads.
    quads: usize,
    /// Padded width: the virtual positions of an output row.
    fw: usize,
    /// Output rows per band.
    rows: usize,
    /// Rows a band's planes hold past its output rows: the kernel's reach in phase rows.
    reach: usize,
    /// Words per plane: the band's padded rows and the slack the last tile's taps read
    /// past them.
    plane: usize,
    /// Planes per channel quad: the stride phases some tap reads
    /// ([`crate::qconv::frame_phases`]).
    phases: usize,
}

impl Frame {
    fn new(p: &Conv2d, words: usize) -> Option<Frame> {
        let quads = p.c_in.div_ceil(4);
        let phases = crate::qconv::frame_phases(p);
        let reach_w = (p.k_w - 1) * p.dil_w / p.stride_w;
        let fw = p.w_out + reach_w;
        let reach = (p.k_h - 1) * p.dil_h / p.stride_h;
        let slack = 2 * ROWS + reach_w;
        let rows = crate::qconv::frame_band_rows(p, words);
        if rows == 0 {
            return None;
        }
        let plane = (rows + reach) * fw + slack;
        Some(Frame {
            quads,
            fw,
            rows,
            reach,
            plane,
            phases,
        })
    }

    /// Words from one channel quad's planes to the next's.
    fn quad_stride(&self) -> usize {
        self.phases * self.plane
    }

    /// Where tap `t` of output `(0, 0)` reads in its quad's planes.
    fn shift(&self, p: &Conv2d, t: usize) -> usize {
        let (dh, dw) = ((t / p.k_w) * p.dil_h, (t % p.k_w) * p.dil_w);
        let phase = (dh % p.stride_h) * p.stride_w + dw % p.stride_w;
        phase * self.plane + dh / p.stride_h * self.fw + dw / p.stride_w
    }
}

/// The convolution (see [`super::qconv2d`]), where this kernel takes it: a kernel of more
/// than one tap at stride 1 or 2 each way, one group, the reordered weights within
/// [`MAX_ROW`] bytes a channel, and scratch for them and a band of at least one row. The
/// products run on AMX's tiles where `allow_tiles`, the host has them, the stride is 1
/// and the output channels are whole tiles of 16; otherwise on `VPDPBUSD`, for rows of at
/// least 8 outputs. `packed_sums`, each output channel's weight sum, says that `w` is in
/// [`crate::qconv::qconv2d_pack_framed`]'s layout (`None`: ONNX's). Returns the products
/// it ran, or `None`, having done nothing, where it does not take the convolution.
#[allow(clippy::too_many_arguments)]
pub(super) fn qconv2d<X: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    pad: u32,
    w: &[i8],
    bias: &[i32],
    rq: Requant<'_>,
    words: &mut [u32],
    y: &mut [Y],
    allow_tiles: bool,
    packed_sums: Option<&[i32]>,
) -> Option<Products> {
    let packed = packed_sums.is_some();
    let taps = p.k_h * p.k_w;
    // Not 1 × 1 at stride 1: the pointwise gather's blocks of up to 256 positions by 4
    // channels beat the frame's tiles of 32 by 8 (mlperf-vww-int8's 1 × 1 layers took
    // 1.5 to 3 times as long as frames, most where the plane is small and deep). At
    // stride 2 the gather picks every other position one by one, where the frame (one
    // plane a quad, the input at the stride: `frame_phases`) is filled by vectors.
    let applies = (taps > 1 || p.stride_h * p.stride_w > 1)
        && p.c_in > 0
        && (1..=2).contains(&p.stride_h)
        && (1..=2).contains(&p.stride_w)
        && p.groups == 1
        && (1..=SUM_CACHE).contains(&p.c_out)
        && taps * 4 * p.c_in.div_ceil(4) <= MAX_ROW;
    if !applies {
        return None;
    }
    let quads = p.c_in.div_ceil(4);
    let d = product_depth(quads);
    // The tiles only at stride 1 (the hosts with them have not run the phases).
    let strided = p.stride_h * p.stride_w > 1;
    // Weights packed at compile time are in `VPDPBUSD`'s groups, which the tiles do not
    // read: they take `VPDPBUSD` on every host.
    let tiles = if allow_tiles && !packed && !strided && p.c_out.is_multiple_of(ROWS) {
        Tiles::new(d)
    } else {
        None
    };
    // Where the tiles could run, output channels that are not whole tiles stay with the
    // gathered blocks, whose whole tiles of channels take AMX. `VPDPBUSD` not on narrow
    // rows, whose frame computes `k_w − 1` dropped columns for every few kept ones.
    let tiles_on = allow_tiles && crate::dsp::amx::enabled() && crate::dsp::amx::available();
    let (mut engine, products) = match tiles {
        Some(tiles) => (Engine::Tiles(tiles), Products::Frames),
        None if (p.w_out >= 8 || p.k_w == 1) && (!tiles_on || packed) => {
            (Engine::Vnni, Products::VnniFrames)
        }
        None => return None,
    };
    // Words of reordered weights per output channel.
    let row = taps * quads;
    // The reordered weights of two channel tiles (words, four channels' bytes of one tap
    // each: the bytes AMX's weight tiles read, and a broadcast operand of `VPDPBUSD`) and,
    // for `VPDPBUSD`, the same by groups of `VNNI_CHANNELS`, from the scratch: stack
    // arrays sized for the largest layer were cleared and moved on every call, 64 KiB
    // each time (a third of mlperf-ic-int8's time).
    let channels = match engine {
        _ if packed => 0,
        Engine::Tiles(_) => (2 * ROWS).min(p.c_out),
        Engine::Vnni => (2 * ROWS).min(p.c_out.next_multiple_of(VNNI_CHANNELS)),
    };
    // The packed weights as words (a blob whose bytes are not word-aligned: not taken).
    let packed_words: &[u32] = match packed {
        true => bytemuck::try_cast_slice(w).ok()?,
        false => &[],
    };
    let (reordered, words) = words.split_at_mut_checked(channels * row)?;
    let frame = Frame::new(p, words.len())?;
    let mut sums = [[0i32; 2 * ROWS]; 2 * ROWS];
    // Requantized bytes, where `VPDPBUSD`'s tiles requantize their own sums (8-bit
    // outputs): no round trip of the sums through memory, sixteen outputs a vector.
    let fused = Y::REQUANTIZED.is_some() && core::mem::size_of::<Y>() == 1;
    let mut bytes = [[0u8; 2 * ROWS]; 2 * ROWS];
    // Vectors of sixteen outputs of one row where rounding each row up to whole vectors
    // computes no more dropped columns than the frame's padded width does (32-wide rows:
    // none instead of two of 34), each vector stored straight into its channel's row.
    let row_aligned = p.w_out.next_multiple_of(ROWS) <= frame.fw;
    // Rows of at most eight outputs in frames wider than eight: a vector holds eight
    // positions of two rows (an 8-wide plane: every lane kept, where sixteen of its
    // 10-wide padded rows kept 80 %).
    let split = p.w_out <= HALF && frame.fw > HALF;
    let depth = p.c_in * taps;
    let mut bases = [0i32; SUM_CACHE];
    for (oc, slot) in bases.iter_mut().take(p.c_out).enumerate() {
        let sum = match packed_sums {
            Some(sums) => sums.get(oc).copied().unwrap_or(0),
            None => weight_sum(w, depth, oc),
        };
        *slot = base(bias, pad, oc, sum);
    }
    // Whether every channel takes [`requantize16`]'s short path; chosen per channel, the
    // branch cost more than the path saved.
    let small = (0..p.c_out).all(|oc| small_channel(depth, bias, pick(rq.scale, oc), oc));
    let out = Out {
        rq,
        depth,
        bias,
        bases: &bases,
        fused,
    };
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let mut shifts = [0usize; MAX_ROW / 4];
    for (t, shift) in shifts.iter_mut().take(taps).enumerate() {
        *shift = frame.shift(p, t);
    }
    let shifts = &shifts[..taps];
    let words = &mut words[..frame.quads * frame.quad_stride()];
    for b in 0..p.batch {
        let x = &x[b * p.c_in * plane_in..][..p.c_in * plane_in];
        let y = &mut y[b * p.c_out * plane_out..][..p.c_out * plane_out];
        // Channel tiles outside bands: reordering a pair's weights costs more than
        // filling a band (and a plane in one band is filled once).
        let mut filled = None;
        let mut oc = 0;
        while oc < p.c_out {
            let m = match engine {
                Engine::Tiles(_) if oc + 2 * ROWS <= p.c_out => 2 * ROWS,
                Engine::Tiles(_) => ROWS,
                Engine::Vnni => (2 * ROWS).min(p.c_out - oc),
            };
            let reordered: &[u32] = match engine {
                _ if packed => {
                    let group = &packed_words[oc * row..];
                    group.get(..m.next_multiple_of(VNNI_CHANNELS) * row)?
                }
                Engine::Tiles(_) => {
                    reorder(w, depth, taps, frame.quads, oc, m, &mut *reordered);
                    &*reordered
                }
                Engine::Vnni => {
                    interleave(w, depth, taps, frame.quads, oc, m, &mut *reordered);
                    &*reordered
                }
            };
            let mut top = 0;
            while top < p.h_out {
                let rows = frame.rows.min(p.h_out - top);
                if filled != Some(top) {
                    fill(p, &frame, x, pad, top, rows, words);
                    filled = Some(top);
                }
                if (row_aligned || split || frame.fw == p.w_out) && matches!(engine, Engine::Vnni) {
                    let band = Band { top, rows, oc, m };
                    let weights = &reordered[..m.next_multiple_of(VNNI_CHANNELS) * row];
                    let run = match (split, small) {
                        (true, true) => vnni_rows::<Y, true, true>,
                        (true, false) => vnni_rows::<Y, true, false>,
                        (false, true) => vnni_rows::<Y, false, true>,
                        (false, false) => vnni_rows::<Y, false, false>,
                    };
                    run(p, &frame, words, shifts, weights, band, out, y);
                    top += rows;
                    continue;
                }
                let virtual_positions = rows * frame.fw;
                let position_tiles = virtual_positions.div_ceil(ROWS);
                let mut t = 0;
                while t < position_tiles {
                    let two_t = t + 2 <= position_tiles;
                    match &mut engine {
                        Engine::Tiles(tiles) => {
                            let a: &[i8] = bytemuck::cast_slice(reordered);
                            let block = Block {
                                two_oc: m > ROWS,
                                two_t,
                            };
                            block.zero(tiles);
                            for (tap, &shift) in shifts.iter().enumerate() {
                                let shift = t * ROWS + shift;
                                for c in 0..frame.quads / d {
                                    let k = 4 * (tap * frame.quads + c * d);
                                    let stride = frame.quad_stride();
                                    let b = &words[c * d * stride + shift..];
                                    block.step(tiles, &a[k..], 4 * row, b, stride, ROWS);
                                }
                            }
                            block.store(tiles, sums.as_flattened_mut(), 2 * ROWS);
                        }
                        Engine::Vnni => {
                            for o in (0..m).step_by(VNNI_CHANNELS) {
                                let group = VNNI_CHANNELS * row;
                                let weights = &reordered[o * row..][..group];
                                let start = |v: usize| (t + v) * ROWS;
                                // The sums start at their channels' bases where the tile
                                // requantizes them, at 0 where `finish_channel` adds them.
                                let init: [i32; VNNI_CHANNELS] = core::array::from_fn(|r| {
                                    let channel = oc + o + r;
                                    match fused {
                                        true => bases.get(channel).copied().unwrap_or(0),
                                        false => 0,
                                    }
                                });
                                let (sums, bytes) = (&mut sums[o..m], &mut bytes[o..m]);
                                if two_t {
                                    let starts = [start(0), start(1)];
                                    let acc = vnni_tile::<2, false>(
                                        words, &frame, shifts, starts, weights, init,
                                    );
                                    spill::<Y, 2>(&acc, out, oc + o, sums, bytes);
                                } else {
                                    let acc = vnni_tile::<1, false>(
                                        words,
                                        &frame,
                                        shifts,
                                        [start(0)],
                                        weights,
                                        init,
                                    );
                                    spill::<Y, 1>(&acc, out, oc + o, sums, bytes);
                                }
                            }
                        }
                    }
                    let fused = fused && matches!(engine, Engine::Vnni);
                    // The tiles' virtual positions, cut at row ends, the columns past
                    // `w_out` dropped; one run where no column is (a kernel one tap
                    // wide).
                    let first = t * ROWS;
                    let last = (first + if two_t { 2 * ROWS } else { ROWS }).min(virtual_positions);
                    let mut v = first;
                    while v < last {
                        let (oh, ow) = (v / frame.fw, v % frame.fw);
                        let (row_end, valid_end) = if frame.fw == p.w_out {
                            (last, last)
                        } else {
                            ((v - ow + frame.fw).min(last), (v - ow + p.w_out).min(last))
                        };
                        if ow < p.w_out {
                            let len = valid_end - v;
                            let at = (top + oh) * p.w_out + ow;
                            for (r, (sums, bytes)) in sums.iter().zip(&bytes).take(m).enumerate() {
                                let channel = oc + r;
                                let out = &mut y[channel * plane_out + at..][..len];
                                if fused {
                                    let out: &mut [u8] = bytemuck::cast_slice_mut(out);
                                    crate::dsp::copy_short(out, &bytes[v - first..][..len]);
                                } else {
                                    let run = &sums[v - first..][..len];
                                    finish_channel(
                                        rq,
                                        depth,
                                        bias,
                                        channel,
                                        bases[channel],
                                        run,
                                        out,
                                    );
                                }
                            }
                        }
                        v = row_end;
                    }
                    t += if two_t { 2 } else { 1 };
                }
                top += rows;
            }
            oc += m;
        }
    }
    Some(products)
}

/// The sums of up to [`VNNI_CHANNELS`] output channels (a group of `weights` from
/// [`interleave`]: word `k · 8 + o` is channel `o`'s `k`-th, tap-major channel quads) at
/// `V` runs of sixteen virtual positions from `starts`, each channel's starting at its `init`: for each
/// tap and channel quad, `V` vectors of sixteen positions' words from the frame and one
/// broadcast weight word per channel, one `VPDPBUSD` per channel and vector.
#[inline(always)]
fn vnni_tile<const V: usize, const SPLIT: bool>(
    words: &[u32],
    frame: &Frame,
    shifts: &[usize],
    starts: [usize; V],
    weights: &[u32],
    init: [i32; VNNI_CHANNELS],
) -> [[m512i; V]; VNNI_CHANNELS] {
    use crate::dsp::dpbusd512;
    let zero = [0u32; ROWS];
    let mut acc = init.map(|base| [m512i::from([base; ROWS]); V]);
    for q in 0..frame.quads {
        let plane = words.get(q * frame.quad_stride()..).unwrap_or(&[]);
        for (tap, &shift) in shifts.iter().enumerate() {
            let k = tap * frame.quads + q;
            let Some(w) = weights
                .get(k * VNNI_CHANNELS..)
                .and_then(|w| w.first_chunk::<VNNI_CHANNELS>())
            else {
                continue;
            };
            let xs: [m512i; V] = core::array::from_fn(|v| {
                let at = starts[v] + shift;
                if SPLIT {
                    // Eight positions of a row and eight of the next.
                    let half = |at: usize| {
                        let lanes = plane.get(at..).and_then(|s| s.first_chunk::<HALF>());
                        *lanes.unwrap_or(&[0; HALF])
                    };
                    let (lo, hi) = (half(at), half(at + frame.fw));
                    m512i::from(core::array::from_fn::<u32, ROWS, _>(|i| match i < HALF {
                        true => lo[i],
                        false => hi[i - HALF],
                    }))
                } else {
                    let lanes = plane.get(at..).and_then(|s| s.first_chunk::<ROWS>());
                    m512i::from(*lanes.unwrap_or(&zero))
                }
            });
            for (acc_row, &w) in acc.iter_mut().zip(w) {
                let wv = m512i::from([w; ROWS]);
                for (a, &x) in acc_row.iter_mut().zip(&xs) {
                    *a = dpbusd512(*a, x, wv);
                }
            }
        }
    }
    acc
}

/// Output rows and channels of one pass of [`vnni_rows`].
#[derive(Clone, Copy)]
struct Band {
    /// The first output row and the band's rows.
    top: usize,
    rows: usize,
    /// The first output channel and the channels.
    oc: usize,
    m: usize,
}

/// How [`vnni_rows`] finishes its sums.
#[derive(Clone, Copy)]
struct Out<'a> {
    rq: Requant<'a>,
    depth: usize,
    bias: &'a [i32],
    /// Each output channel's starting sum ([`base`]).
    bases: &'a [i32],
    /// 8-bit outputs, requantized in registers.
    fused: bool,
}

/// The outputs of `band` from its frame (filled for its rows), by vectors of sixteen
/// outputs of one row (`⌈w_out / 16⌉` a row, the lanes past `w_out` dropped), of sixteen
/// consecutive outputs where the frame is as wide as the output, or, `SPLIT`, of eight
/// outputs of each of two rows (rows of at most eight); two vectors a tile. `weights` are
/// the band's channels as [`interleave`] puts them. 8-bit outputs are requantized in
/// registers (`SMALL`: by [`requantize16`]'s short path) and each vector stored into its
/// channel's row; other outputs go through [`finish_channel`].
#[allow(clippy::too_many_arguments)]
fn vnni_rows<Y: QOut, const SPLIT: bool, const SMALL: bool>(
    p: &Conv2d,
    frame: &Frame,
    words: &[u32],
    shifts: &[usize],
    weights: &[u32],
    band: Band,
    out: Out<'_>,
    y: &mut [Y],
) {
    let per_row = p.w_out.div_ceil(ROWS);
    // A frame as wide as the output rows (a kernel one tap wide) is the band's outputs
    // in order: vectors of sixteen run across rows (mlperf-ic-int8's 1 × 1 shortcut onto
    // 8 × 8 went through `spill` and took twice its products' time).
    let flat = frame.fw == p.w_out;
    let outputs = band.rows * p.w_out;
    let pieces = match SPLIT {
        true => band.rows.div_ceil(2),
        false if flat => outputs.div_ceil(ROWS),
        false => band.rows * per_row,
    };
    let plane_out = p.h_out * p.w_out;
    let row = shifts.len() * frame.quads;
    // Piece `i`: its first virtual position, its first output, its length and, split,
    // where the outputs of its second half go (none past the band).
    let piece = |i: usize| -> Piece {
        if SPLIT {
            let r = 2 * i;
            let at = (band.top + r) * p.w_out;
            let next = (r + 1 < band.rows).then_some(at + p.w_out);
            (r * frame.fw, at, p.w_out.min(HALF), next)
        } else if flat {
            let at = i * ROWS;
            (at, band.top * p.w_out + at, ROWS.min(outputs - at), None)
        } else {
            let (r, c) = (i / per_row, i % per_row * ROWS);
            let at = (band.top + r) * p.w_out + c;
            (r * frame.fw + c, at, ROWS.min(p.w_out - c), None)
        }
    };
    let mut i = 0;
    while i < pieces {
        let two = i + 2 <= pieces;
        for o in (0..band.m).step_by(VNNI_CHANNELS) {
            let group = &weights[o * row..][..VNNI_CHANNELS * row];
            let first = band.oc + o;
            let init: [i32; VNNI_CHANNELS] = core::array::from_fn(|r| match out.fused {
                true => out.bases.get(first + r).copied().unwrap_or(0),
                false => 0,
            });
            let count = VNNI_CHANNELS.min(band.m - o);
            if two {
                let (a, b) = (piece(i), piece(i + 1));
                let acc = vnni_tile::<2, SPLIT>(words, frame, shifts, [a.0, b.0], group, init);
                match SPLIT {
                    true => {
                        store_split::<Y, 2, SMALL>(&acc[..count], [a, b], first, plane_out, out, y)
                    }
                    false => {
                        store_pieces::<Y, 2, SMALL>(&acc[..count], [a, b], first, plane_out, out, y)
                    }
                }
            } else {
                let a = piece(i);
                let acc = vnni_tile::<1, SPLIT>(words, frame, shifts, [a.0], group, init);
                match SPLIT {
                    true => {
                        store_split::<Y, 1, SMALL>(&acc[..count], [a], first, plane_out, out, y)
                    }
                    false => {
                        store_pieces::<Y, 1, SMALL>(&acc[..count], [a], first, plane_out, out, y)
                    }
                }
            }
        }
        i += if two { 2 } else { 1 };
    }
}

/// A vector of [`vnni_rows`]: its first virtual position, the output its first lane
/// goes to, the lanes stored there and, for a vector split over two rows, the output of
/// lane [`HALF`], where as many lanes go.
type Piece = (usize, usize, usize, Option<usize>);

/// Half a vector's lanes: the positions of one row in a vector split over two.
const HALF: usize = ROWS / 2;

/// Stores a tile's vectors, channel `first + r`'s vector `v` at output `pieces[v].1` of
/// its plane, `pieces[v].2` lanes of it.
#[inline(always)]
fn store_pieces<Y: QOut, const V: usize, const SMALL: bool>(
    acc: &[[m512i; V]],
    pieces: [Piece; V],
    first: usize,
    plane_out: usize,
    out: Out<'_>,
    y: &mut [Y],
) {
    for (r, acc_row) in acc.iter().enumerate() {
        let channel = first + r;
        let Some(plane) = y.get_mut(channel * plane_out..(channel + 1) * plane_out) else {
            return;
        };
        let scale = pick(out.rq.scale, channel);
        for (&v, &(_, at, len, _)) in acc_row.iter().zip(&pieces) {
            let Some(dst) = plane.get_mut(at..at + len) else {
                continue;
            };
            if out.fused {
                let bytes = requantize16::<Y>(v, scale, out.rq.zero, SMALL);
                let dst: &mut [u8] = bytemuck::cast_slice_mut(dst);
                match <&mut [u8; ROWS]>::try_from(&mut *dst) {
                    Ok(whole) => *whole = bytes,
                    Err(_) => crate::dsp::store_bytes16::<0>(dst, bytes),
                }
            } else {
                let lanes = <[i32; ROWS]>::from(v);
                let base = out.bases.get(channel).copied().unwrap_or(0);
                finish_channel(
                    out.rq,
                    out.depth,
                    out.bias,
                    channel,
                    base,
                    &lanes[..len],
                    dst,
                );
            }
        }
    }
}

/// [`store_pieces`] for vectors split over two rows: lanes `0..len` at output
/// `pieces[v].1`, lanes `HALF..HALF + len` at `pieces[v].3` where there is such a row.
#[inline(always)]
fn store_split<Y: QOut, const V: usize, const SMALL: bool>(
    acc: &[[m512i; V]],
    pieces: [Piece; V],
    first: usize,
    plane_out: usize,
    out: Out<'_>,
    y: &mut [Y],
) {
    for (r, acc_row) in acc.iter().enumerate() {
        let channel = first + r;
        let Some(plane) = y.get_mut(channel * plane_out..(channel + 1) * plane_out) else {
            return;
        };
        let scale = pick(out.rq.scale, channel);
        let base = out.bases.get(channel).copied().unwrap_or(0);
        for (&v, &(_, at, len, second)) in acc_row.iter().zip(&pieces) {
            let halves = [Some(at), second];
            if out.fused {
                let bytes = requantize16::<Y>(v, scale, out.rq.zero, SMALL);
                let plane: &mut [u8] = bytemuck::cast_slice_mut(&mut *plane);
                if let Some(dst) = plane.get_mut(at..at + len) {
                    crate::dsp::store_bytes16::<0>(dst, bytes);
                }
                if let Some(dst) = second.and_then(|at| plane.get_mut(at..at + len)) {
                    crate::dsp::store_bytes16::<{ HALF as i32 }>(dst, bytes);
                }
            } else {
                let lanes = <[i32; ROWS]>::from(v);
                let (rq, depth, bias) = (out.rq, out.depth, out.bias);
                for (h, at) in halves.iter().enumerate() {
                    if let Some(dst) = at.and_then(|at| plane.get_mut(at..at + len)) {
                        let run = &lanes[h * HALF..][..len];
                        finish_channel(rq, depth, bias, channel, base, run, dst);
                    }
                }
            }
        }
    }
}

/// A [`vnni_tile`]'s sums, channels `oc..` of its rows: requantized into `bytes` where
/// `fused` (8-bit outputs, the sums started at their bases), into `sums` otherwise.
#[inline(always)]
fn spill<Y: QOut, const V: usize>(
    acc: &[[m512i; V]; VNNI_CHANNELS],
    out: Out<'_>,
    oc: usize,
    sums: &mut [[i32; 2 * ROWS]],
    bytes: &mut [[u8; 2 * ROWS]],
) {
    if out.fused {
        for (r, (dst, acc_row)) in bytes.iter_mut().zip(acc).enumerate() {
            let scale = pick(out.rq.scale, oc + r);
            let small = small_channel(out.depth, out.bias, scale, oc + r);
            for (chunk, &v) in dst.chunks_exact_mut(ROWS).zip(acc_row) {
                chunk.copy_from_slice(&requantize16::<Y>(v, scale, out.rq.zero, small));
            }
        }
    } else {
        for (out, acc_row) in sums.iter_mut().zip(acc) {
            for (chunk, &v) in out.chunks_exact_mut(ROWS).zip(acc_row) {
                chunk.copy_from_slice(&<[i32; ROWS]>::from(v));
            }
        }
    }
}

/// Output channels `oc..oc + m`'s weights as [`reorder`] puts them, by groups of
/// [`VNNI_CHANNELS`]: word `k · 8 + o` of group `g` is word `k` of channel `8 g + o`; a
/// last group's missing channels weigh 0 (their sums are not stored). Each group is
/// reordered into a stack buffer first and read row by row: reordering a channel at a
/// time and storing its words eight apart became scatter instructions, a ninth of
/// mlperf-ic-int8's time.
fn interleave(
    w: &[i8],
    depth: usize,
    taps: usize,
    quads: usize,
    oc: usize,
    m: usize,
    out: &mut [u32],
) {
    let row = taps * quads;
    let mut eight = [0u32; VNNI_CHANNELS * MAX_ROW / 4];
    let eight = &mut eight[..VNNI_CHANNELS * row];
    for (g, group) in out
        .chunks_exact_mut(VNNI_CHANNELS * row)
        .take(m.div_ceil(VNNI_CHANNELS))
        .enumerate()
    {
        let first = g * VNNI_CHANNELS;
        let count = VNNI_CHANNELS.min(m - first);
        reorder(w, depth, taps, quads, oc + first, count, eight);
        eight[count * row..].fill(0);
        let rows: [&[u32]; VNNI_CHANNELS] = core::array::from_fn(|o| &eight[o * row..][..row]);
        for (k, slots) in group.chunks_exact_mut(VNNI_CHANNELS).enumerate() {
            for (slot, r) in slots.iter_mut().zip(&rows) {
                *slot = r.get(k).copied().unwrap_or(0);
            }
        }
    }
}

/// Copies output rows `top..top + rows`' input band into the frame: quad `q`'s plane of
/// phase `(ph, pw)` holds, at row `r` and column `c`, the word of channels `4 q..4 q + 4`
/// at input row `s_h (top + r) + ph − pad_top` and column `s_w c + pw − pad_left`, or
/// `pad` bytes outside the input; channels past `c_in` repeat the last (their weights are
/// 0). The slack after the rows is `pad`.
///
/// Every word is set to `pad` first, in one pass of whole vectors, and the input's words
/// then overwrite theirs row by row: filling each row's padded columns and each padded
/// row apart cost more than the input's words where planes are small (mlperf-ic-int8's
/// 8-wide phases of a 16 × 16 input: 3.3 µs for 8 KiB on Zen 4).
fn fill<X: QInt>(
    p: &Conv2d,
    frame: &Frame,
    x: &[X],
    pad: u32,
    top: usize,
    rows: usize,
    words: &mut [u32],
) {
    let plane_in = p.h_in * p.w_in;
    words.fill(pad * 0x0101_0101);
    let (sh, sw) = (p.stride_h, p.stride_w);
    for (i, plane) in words.chunks_exact_mut(frame.plane).enumerate() {
        let (q, phase) = (i / frame.phases, i % frame.phases);
        let (ph, pw) = (phase / sw, phase % sw);
        // The columns whose input column lies left of the input, and those inside it.
        let left = p.pad_left.saturating_sub(pw).div_ceil(sw).min(frame.fw);
        let inside = (p.w_in + p.pad_left)
            .saturating_sub(pw)
            .div_ceil(sw)
            .clamp(left, frame.fw)
            - left;
        if inside == 0 {
            continue;
        }
        let first_col = (sw * left + pw).saturating_sub(p.pad_left);
        // The band's rows whose input row lies inside the input: `r0..r1`.
        let band_rows = rows + frame.reach;
        let r0 = p
            .pad_top
            .saturating_sub(ph)
            .div_ceil(sh)
            .saturating_sub(top);
        let r1 = match (p.h_in + p.pad_top).checked_sub(ph + 1) {
            Some(last) => (last / sh + 1).saturating_sub(top),
            None => 0,
        };
        let (r0, r1) = (r0.min(band_rows), r1.min(band_rows));
        if r1 <= r0 {
            continue;
        }
        let ih0 = sh * (top + r0) + ph - p.pad_top;
        // Channels past `c_in` in the last quad repeat the last channel: their weights
        // are 0, so any byte serves, and the quad takes the vector path.
        let start =
            |i: usize, ih: usize| (4 * q + i).min(p.c_in - 1) * plane_in + ih * p.w_in + first_col;
        let out = &mut plane[r0 * frame.fw + left..];
        #[cfg(all(target_feature = "avx512vbmi", target_feature = "avx512vl"))]
        {
            let bytes: &[u8] = bytemuck::cast_slice(x);
            let starts = [start(0, ih0), start(1, ih0), start(2, ih0), start(3, ih0)];
            let flip = (-X::MIN) as u8;
            let (stride, n) = (sh * p.w_in, inside);
            let fw = frame.fw;
            match sw {
                1 => crate::dsp::quad_plane_vbmi::<1>(
                    bytes,
                    starts,
                    stride,
                    r1 - r0,
                    flip,
                    out,
                    fw,
                    n,
                ),
                _ => crate::dsp::quad_plane_vbmi::<2>(
                    bytes,
                    starts,
                    stride,
                    r1 - r0,
                    flip,
                    out,
                    fw,
                    n,
                ),
            }
            continue;
        }
        #[allow(unreachable_code)]
        for (r, row) in out.chunks_mut(frame.fw).take(r1 - r0).enumerate() {
            let ih = ih0 + sh * r;
            let src = [0, 1, 2, 3].map(|i| x.get(start(i, ih)..).unwrap_or(&[]));
            let Some(row) = row.get_mut(..inside) else {
                continue;
            };
            for (j, chunk) in row.chunks_mut(16).enumerate() {
                let at = |i: usize| src[i].get(16 * sw * j..).unwrap_or(&[]);
                let src = [at(0), at(1), at(2), at(3)];
                if sw == 1 {
                    super::quad_words::<X, 1>(src, chunk);
                } else {
                    super::quad_words::<X, 2>(src, chunk);
                }
            }
        }
    }
}

/// Output channels `oc..oc + m`'s weights, tap-major: byte `tap · 4 quads + c` of row `o`
/// (word `tap · quads + c / 4`) is channel `c`'s weight at `tap` (0 past `c_in`).
fn reorder(
    w: &[i8],
    depth: usize,
    taps: usize,
    quads: usize,
    oc: usize,
    m: usize,
    out: &mut [u32],
) {
    let row = taps * 4 * quads;
    let stride = 4 * quads;
    let c_in = depth / taps.max(1);
    let out: &mut [u8] = bytemuck::cast_slice_mut(out);
    for (o, dst) in out.chunks_exact_mut(row).take(m).enumerate() {
        let Some(src) = w.get((oc + o) * depth..(oc + o + 1) * depth) else {
            return;
        };
        let src: &[u8] = bytemuck::cast_slice(src);
        // Channels past `c_in` in the last quad weigh 0.
        dst.fill(0);
        // Strided stores a byte at a time took 8 instructions a byte, a sixth of
        // mlperf-ic-int8's time on the VNNI path.
        #[cfg(target_feature = "avx512vbmi")]
        if crate::dsp::transpose_taps(src, taps, c_in, dst, stride) {
            continue;
        }
        for (c, from) in src.chunks_exact(taps).enumerate().take(c_in) {
            for (tap, &v) in from.iter().enumerate() {
                if let Some(slot) = dst.get_mut(tap * stride + c) {
                    *slot = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, Ran};
    use super::Conv2d;

    /// Same-size 3 × 3 convolutions against the reference kernel, with the tiles and
    /// without: channel quads whole and partial (3 channels), one, two and three channel
    /// tiles, a batch, a dilation, a 1 × 3 kernel; besides the scratch lengths every
    /// [`check`] takes, 400 and 700 words, bands of a few rows (and, without the tiles,
    /// too short for a gathered tile of 16 positions where the depth is 144).
    #[test]
    fn framed_products_match_the_reference() {
        let _one = crate::dsp::amx::tests::exclusive();
        let base = Conv2d {
            batch: 1,
            c_in: 16,
            h_in: 10,
            w_in: 13,
            c_out: 16,
            h_out: 10,
            w_out: 13,
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
                c_in: 3,
                c_out: 32,
                ..base
            },
            Conv2d {
                c_in: 8,
                c_out: 48,
                batch: 2,
                ..base
            },
            Conv2d {
                dil_h: 2,
                dil_w: 2,
                pad_top: 2,
                pad_left: 2,
                ..base
            },
            Conv2d {
                k_h: 1,
                pad_top: 0,
                c_out: 32,
                ..base
            },
            // Stride 2 (phases): even and odd input sizes, padded and not, 3 channels,
            // a 5 × 5 kernel, a dilation, stride 2 one way only.
            Conv2d {
                h_out: 5,
                w_out: 7,
                stride_h: 2,
                stride_w: 2,
                ..base
            },
            Conv2d {
                c_in: 3,
                c_out: 8,
                h_in: 16,
                w_in: 20,
                h_out: 7,
                w_out: 9,
                stride_h: 2,
                stride_w: 2,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
            Conv2d {
                c_in: 20,
                c_out: 24,
                h_in: 19,
                w_in: 23,
                h_out: 10,
                w_out: 12,
                k_h: 5,
                k_w: 5,
                stride_h: 2,
                stride_w: 2,
                pad_top: 2,
                pad_left: 2,
                ..base
            },
            Conv2d {
                h_out: 4,
                w_out: 9,
                stride_h: 2,
                stride_w: 2,
                dil_h: 2,
                dil_w: 2,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
            Conv2d {
                h_out: 10,
                w_out: 7,
                stride_h: 1,
                stride_w: 2,
                ..base
            },
            // A kernel one tap wide on rows of 5: runs across rows, partial quads.
            Conv2d {
                c_in: 7,
                h_in: 25,
                w_in: 5,
                h_out: 25,
                w_out: 5,
                k_w: 1,
                pad_left: 0,
                c_out: 9,
                ..base
            },
            // Valid padding at stride 1: rows wider than the outputs.
            Conv2d {
                h_out: 8,
                w_out: 11,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
            // Rows of whole vectors (`vnni_rows`): 32 wide, a last group of 4 channels;
            // 30 wide in a frame of 32, the last vector of a row cut; 16 wide at stride 2.
            Conv2d {
                h_in: 6,
                w_in: 32,
                h_out: 6,
                w_out: 32,
                c_out: 36,
                ..base
            },
            Conv2d {
                c_in: 5,
                h_in: 5,
                w_in: 30,
                h_out: 5,
                w_out: 30,
                ..base
            },
            Conv2d {
                h_in: 12,
                w_in: 32,
                h_out: 6,
                w_out: 16,
                stride_h: 2,
                stride_w: 2,
                c_out: 24,
                ..base
            },
            // Vectors split over two rows of at most eight: an odd number of rows, a
            // last group of 4 channels; stride 2; rows of 7.
            Conv2d {
                h_in: 7,
                w_in: 8,
                h_out: 7,
                w_out: 8,
                c_out: 20,
                ..base
            },
            Conv2d {
                c_in: 12,
                h_in: 16,
                w_in: 16,
                h_out: 8,
                w_out: 8,
                stride_h: 2,
                stride_w: 2,
                ..base
            },
            Conv2d {
                h_in: 5,
                w_in: 7,
                h_out: 5,
                w_out: 7,
                ..base
            },
            // 1 × 1 at stride 2 (one phase read of four): a ResNet's shortcut, 16 wide
            // (whole vectors), 8 wide, and an odd input with 3 channels.
            Conv2d {
                h_in: 32,
                w_in: 32,
                h_out: 16,
                w_out: 16,
                k_h: 1,
                k_w: 1,
                stride_h: 2,
                stride_w: 2,
                pad_top: 0,
                pad_left: 0,
                c_out: 32,
                ..base
            },
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
                c_in: 32,
                c_out: 24,
                ..base
            },
            Conv2d {
                c_in: 3,
                h_in: 19,
                w_in: 21,
                h_out: 10,
                w_out: 11,
                k_h: 1,
                k_w: 1,
                stride_h: 2,
                stride_w: 2,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
        ];
        let mut ran = Ran::default();
        for p in cases {
            check(&p, &[400, 700], &mut ran);
        }
        ran.report("qconv::quads::frames::framed_products_match_the_reference");
        if crate::dsp::amx::tests::why_not().is_none() {
            assert!(
                ran.framed() > 0,
                "the host has the tiles, yet no run took the frames"
            );
        }
    }
}
