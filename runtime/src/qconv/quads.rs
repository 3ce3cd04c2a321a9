//! [`super::qconv2d_im2col`] on x86-64 with AVX-512 VNNI, for signed 8-bit weights whose
//! zero points are all 0 (what ONNX Runtime's quantizer writes: symmetric weights).
//!
//! The block is gathered as quads of consecutive reduction terms, one byte each in a
//! `u32`, instead of `i16` pairs, and a tile multiplies them with
//! [`crate::dsp::dpbusd512`]: sixteen lanes of four products and their sums in one
//! instruction (`vpmaddwd` did two products a lane and needed an add). The
//! instruction multiplies unsigned bytes by signed ones, so an activation enters as
//! `u = x − X::MIN` (`x` for `u8`, `x + 128` for `i8`), padding as `c = x_zero −
//! X::MIN`, and the weights as they are in the blob, with no widening:
//! `Σ (x − x_zero) · w = Σ u · w − c · Σ w`. The second term is folded into the bias,
//! from weight sums taken once per group. Terms past the depth have weight 0.
//!
//! Both sides of the identity are computed modulo 2³² (the instruction wraps, like
//! the pair kernel's sums), so the results are the pair kernel's on every input.

use super::{Conv2d, QInt, QOut, Requant};
use crate::qlinear::{pick, small_products};
use safe_arch::{m256i, m512i};

#[cfg(target_os = "linux")]
mod frames;
#[cfg(target_os = "linux")]
mod tiles;

/// Output channels per register tile.
const OCT: usize = 4;

/// Output positions per register tile: one 16-lane vector, the unit of the gathered
/// block.
const PT: usize = 16;

/// Tiles per pass of [`tiles_wide_sums`] on 512-bit vectors: `OCT · WIDE` independent
/// sums in flight (`VPDPBUSD` has a latency of several cycles). On an AMD Zen 5 host,
/// whose vector units are 512 bits wide, two tiles a pass took mobilenet_v2-int8 from
/// 2,660 to 2,240 µs against 256-bit tiles, three to 1,850, four 2,070 (spilled).
const WIDE: usize = 3;

/// The most output positions a gathered block holds (the `i32` sums of a block take
/// 4 KiB of stack; this kernel only runs on hosts with AVX-512).
const PB_MAX: usize = 256;

/// The most output channels per group whose weight sums [`qconv2d`] computes once per
/// group (4 KiB of stack; this kernel only runs on hosts with AVX-512).
const SUM_CACHE: usize = 1024;

/// The most kernel taps [`gather`] keeps in its table (7 × 7); larger kernels compute
/// each term's tap.
const MAX_TAPS: usize = 49;

/// Whether this kernel takes a convolution: 8-bit signed weights, every weight zero point
/// 0, and an input zero point inside the input type's range (so that padding is a byte).
pub(super) fn applies<X: QInt, W: QInt>(x_zero: i32, w_zero: &[i32]) -> bool {
    W::MIN == -128
        && core::mem::size_of::<W>() == 1
        && core::mem::size_of::<X>() == 1
        && (X::MIN..=X::MAX).contains(&x_zero)
        && w_zero.iter().all(|&z| z == 0)
}

/// The unsigned byte of activation `v`.
#[inline(always)]
fn byte<X: QInt>(v: X) -> u32 {
    (v.to_i32() - X::MIN) as u32
}

/// Four bytes, little-endian in one word.
#[inline(always)]
fn word(b: [u32; 4]) -> u32 {
    b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24
}

/// Words `t < out.len() ≤ 16` of four byte streams read every `STRIDE`-th element (1 or
/// 2): `word([u(src[0][t · STRIDE]), …, u(src[3][t · STRIDE])])`. Where every stream
/// has the 16 (or 32) elements, 16-byte loads (for stride 2, two, their even bytes packed
/// by `packuswb`), four rounds of byte and halfword interleaving (`punpck*`), the sign bit
/// flipped for `i8` (with AVX-512 VBMI, one permute instead, any length:
/// [`crate::dsp::quad_words_vbmi`]); otherwise element by element.
#[inline(always)]
fn quad_words<X: QInt, const STRIDE: usize>(src: [&[X]; 4], out: &mut [u32]) {
    #[cfg(all(target_feature = "avx512vbmi", target_feature = "avx512vl"))]
    if out.len() <= 16 {
        let bytes = src.map(|s| -> &[u8] { bytemuck::cast_slice(s) });
        crate::dsp::quad_words_vbmi::<STRIDE>(bytes, (-X::MIN) as u8, out);
        return;
    }
    use safe_arch::{
        bitand_m128i, bitxor_m128i, m128i, pack_i16_to_u8_m128i, unpack_high_i16_m128i,
        unpack_high_i8_m128i, unpack_low_i16_m128i, unpack_low_i8_m128i,
    };
    let sixteen = |bytes: &[u8]| Some(m128i::from(<[u8; 16]>::try_from(bytes).ok()?));
    let load = |s: &[X]| -> Option<m128i> {
        let bytes: &[u8] = bytemuck::cast_slice(s.get(..16 * STRIDE)?);
        if STRIDE == 1 {
            sixteen(bytes)
        } else {
            let even = m128i::from([0x00ffu16; 8]);
            let (lo, hi) = (sixteen(bytes.get(..16)?)?, sixteen(bytes.get(16..32)?)?);
            Some(pack_i16_to_u8_m128i(
                bitand_m128i(lo, even),
                bitand_m128i(hi, even),
            ))
        }
    };
    if let (Some(a), Some(b), Some(c), Some(d)) =
        (load(src[0]), load(src[1]), load(src[2]), load(src[3]))
    {
        let (ab_lo, ab_hi) = (unpack_low_i8_m128i(a, b), unpack_high_i8_m128i(a, b));
        let (cd_lo, cd_hi) = (unpack_low_i8_m128i(c, d), unpack_high_i8_m128i(c, d));
        let flip = m128i::from([(-X::MIN as u32) * 0x0101_0101; 4]);
        let quads = [
            unpack_low_i16_m128i(ab_lo, cd_lo),
            unpack_high_i16_m128i(ab_lo, cd_lo),
            unpack_low_i16_m128i(ab_hi, cd_hi),
            unpack_high_i16_m128i(ab_hi, cd_hi),
        ]
        .map(|v| <[u32; 4]>::from(bitxor_m128i(v, flip)));
        // Four words at a time, constant-sized: a copy of `out.len()` words was a call
        // to `memcpy` per tile (a fifth of mlperf-ic-int8's time).
        for (dst, four) in out.chunks_mut(4).zip(&quads) {
            match <&mut [u32; 4]>::try_from(&mut *dst) {
                Ok(whole) => *whole = *four,
                Err(_) => {
                    for (d, &w) in dst.iter_mut().zip(four) {
                        *d = w;
                    }
                }
            }
        }
    } else {
        for (t, slot) in out.iter_mut().enumerate() {
            let get = |s: &[X]| s.get(t * STRIDE).map_or(0, |&v| byte(v));
            *slot = word([get(src[0]), get(src[1]), get(src[2]), get(src[3])]);
        }
    }
}

/// The word of quad `kq` of block position `j` in a gathered block of `quads` quads:
/// tile by tile, each tile quad-major (`PT` adjacent positions per quad).
#[inline(always)]
fn slot(j: usize, kq: usize, quads: usize) -> usize {
    ((j / PT) * quads + kq) * PT + j % PT
}

/// The reduction terms `k = ci · taps + tap` of a block in order, four at a time, without
/// a division per term.
struct TermWalk {
    ci: usize,
    tap: usize,
    taps: usize,
    channels: usize,
}

impl TermWalk {
    fn new(taps: usize, channels: usize) -> Self {
        TermWalk {
            ci: 0,
            tap: 0,
            taps,
            channels,
        }
    }

    /// The next quad's four terms as `(ci, tap)`, None past the depth.
    #[inline(always)]
    fn next_quad(&mut self) -> [Option<(usize, usize)>; 4] {
        core::array::from_fn(|_| {
            let term = (self.ci < self.channels).then_some((self.ci, self.tap));
            self.tap += 1;
            if self.tap == self.taps {
                (self.tap, self.ci) = (0, self.ci + 1);
            }
            term
        })
    }
}

/// The products a call of [`qconv2d`] ran, which its tests state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(super) enum Products {
    /// AMX tiles over a frame of the input ([`frames`]).
    Frames,
    /// `vpdpbusd` on 512-bit vectors over a frame of the input ([`frames`]): the path of
    /// a host without AMX.
    VnniFrames,
    /// AMX tiles over gathered blocks for whole tiles of 16 output channels
    /// ([`tiles`]), `vpdpbusd` for the channels left.
    Tiles,
    /// `vpdpbusd` over gathered blocks: the path of a host without AMX.
    Vnni,
    /// No blocks: the scratch was too short for one tile of positions (see
    /// [`super::unblocked`]).
    Unblocked,
}

/// The convolution (see [`super::qconv2d_im2col`] for the arguments); [`applies`] holds.
/// `allow_tiles` false keeps to the path of a host without AMX (the tests run both);
/// true takes the tiles where the host has them and [`crate::dsp::amx::set_enabled`]
/// allows them.
#[allow(clippy::too_many_arguments)]
pub(super) fn qconv2d<X: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[i8],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
    allow_tiles: bool,
) -> Products {
    let p = *p;
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    let depth = c_in_group * p.k_h * p.k_w;
    let quads = depth.div_ceil(4);
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    if quads == 0 || plane_out == 0 {
        return Products::Vnni;
    }
    let pad = (x_zero - X::MIN) as u32;
    let words: &mut [u32] = bytemuck::cast_slice_mut(scratch);
    // Convolutions at stride 1 or 2 from a frame of the input, on AMX's tiles where the
    // host has them.
    #[cfg(target_os = "linux")]
    if let Some(products) = frames::qconv2d(&p, x, pad, w, bias, rq, words, y, allow_tiles, None) {
        return products;
    }
    // Room for `pb` positions and `OCT` channels of `quads` words each: whole tiles, at
    // most `PB_MAX`. [`super::qconv2d_im2col_scratch_len`] always holds one tile (it
    // counts 28 words a pair, so at least 28 a quad); a shorter scratch, which the
    // frames above may still have taken, goes without blocks.
    let pb = ((words.len() / quads).saturating_sub(OCT) / PT * PT).min(PB_MAX);
    if pb == 0 {
        super::unblocked(&p, x, x_zero, w, &[0], bias, rq, y);
        return Products::Unblocked;
    }
    let (cols, rest) = words.split_at_mut(quads * pb);
    let wt = &mut rest[..quads * OCT];
    let pointwise = crate::conv::is_pointwise(&p);
    let same = p.stride_h == 1 && p.stride_w == 1 && p.w_in == p.w_out;
    let (terms, shifts) = match (pointwise, same) {
        (true, _) => ([(0, 0, (0, 0)); MAX_TAPS], [(0, (0, 0), (0, 0)); MAX_TAPS]),
        (false, true) => ([(0, 0, (0, 0)); MAX_TAPS], shifted_terms(&p)),
        (false, false) => (tap_terms(&p), [(0, (0, 0), (0, 0)); MAX_TAPS]),
    };
    let mut acc = [[0i32; PB_MAX]; OCT];
    let mut sum_cache = [0i32; SUM_CACHE];
    // 8-bit outputs are requantized from the tiles' registers ([`block_bytes`]), with
    // [`requantize16`]'s short path where every channel takes it.
    let fused = (Y::REQUANTIZED.is_some() && core::mem::size_of::<Y>() == 1)
        .then(|| (0..p.c_out).all(|oc| small_channel(depth, bias, pick(rq.scale, oc), oc)));
    #[cfg(target_os = "linux")]
    let mut amx = allow_tiles
        .then(|| tiles::tiles_for(depth, c_out_group))
        .flatten();
    #[cfg(target_os = "linux")]
    let products = if amx.is_some() {
        Products::Tiles
    } else {
        Products::Vnni
    };
    #[cfg(not(target_os = "linux"))]
    let (products, _) = (Products::Vnni, allow_tiles);
    // Only made (and zeroed) where the tiles run.
    #[cfg(target_os = "linux")]
    let mut buffers;
    #[cfg(target_os = "linux")]
    let mut amx = match amx.as_mut() {
        Some(tiles) => {
            buffers = tiles::Buffers::new();
            Some((tiles, &mut buffers))
        }
        None => None,
    };
    for b in 0..p.batch {
        for g in 0..p.groups {
            let x_group = &x[(b * p.c_in + g * c_in_group) * plane_in..][..c_in_group * plane_in];
            // The group's weight sums once, where they fit the cache, instead of once per
            // block (a fourteenth of mobilenet_v2-int8's time, in its wide pointwise layers).
            let cached = c_out_group <= SUM_CACHE;
            if cached {
                for (o, sum) in sum_cache.iter_mut().take(c_out_group).enumerate() {
                    *sum = weight_sum(w, depth, g * c_out_group + o);
                }
            }
            let base_of = |oc: usize| {
                let sum = match sum_cache.get(oc - g * c_out_group) {
                    Some(&sum) if cached => sum,
                    _ => weight_sum(w, depth, oc),
                };
                base(bias, pad, oc, sum)
            };
            let mut p0 = 0;
            while p0 < plane_out {
                let n = pb.min(plane_out - p0);
                if pointwise {
                    gather_pointwise(x_group, plane_in, p0, n, pb, cols);
                } else if same {
                    gather_shifted(&p, &shifts, x_group, pad, p0, n, cols);
                } else {
                    gather(&p, &terms, x_group, pad, p0, n, pb, cols);
                }
                let mut oc0 = g * c_out_group;
                let group_end = oc0 + c_out_group;
                // Whole tiles of 16 channels on AMX where the host has it, the rest here.
                #[cfg(target_os = "linux")]
                if let Some((amx, buffers)) = amx.as_mut() {
                    let whole = oc0 + c_out_group / 16 * 16;
                    let y_batch = &mut y[b * p.c_out * plane_out..];
                    tiles::products(
                        amx,
                        buffers,
                        cols,
                        n,
                        w,
                        depth,
                        (oc0, whole),
                        base_of,
                        bias,
                        rq,
                        plane_out,
                        p0,
                        y_batch,
                    );
                    oc0 = whole;
                }
                while oc0 < group_end {
                    let m = OCT.min(group_end - oc0);
                    // The blob's own bytes where whole quads lie word-aligned in it, a
                    // copy padded to whole quads otherwise.
                    let tile_w = &w[oc0 * depth..(oc0 + m) * depth];
                    let direct = match bytemuck::try_cast_slice::<i8, u32>(tile_w) {
                        Ok(words) if depth.is_multiple_of(4) => Some(words),
                        _ => None,
                    };
                    let words = match direct {
                        Some(words) => words,
                        None => {
                            load_weights(w, depth, oc0, m, wt);
                            &*wt
                        }
                    };
                    // Channels past `m` repeat the first; their sums are not stored.
                    let rows: [&[u32]; OCT] = core::array::from_fn(|o| {
                        let o = if o < m { o } else { 0 };
                        &words[o * quads..][..quads]
                    });
                    // Each channel's sums start at its base, so the requantizing adds
                    // nothing.
                    let bases: [i32; OCT] = core::array::from_fn(|o| base_of(oc0 + o));
                    if let Some(small) = fused {
                        let first = (b * p.c_out + oc0) * plane_out;
                        let out: &mut [u8] = bytemuck::cast_slice_mut(&mut y[first..]);
                        let scales = core::array::from_fn(|o| pick(rq.scale, oc0 + o.min(m - 1)));
                        let requant = (scales, rq.zero, small);
                        block_bytes::<Y>(cols, rows, bases, requant, m, (plane_out, p0, n), out);
                        oc0 += m;
                        continue;
                    }
                    block(cols, rows, bases, n, &mut acc);
                    for (o, acc_row) in acc[..m].iter().enumerate() {
                        let oc = oc0 + o;
                        let out = &mut y[(b * p.c_out + oc) * plane_out + p0..][..n];
                        finish_channel(rq, depth, bias, oc, 0, &acc_row[..n], out);
                    }
                    oc0 += m;
                }
                p0 += n;
            }
        }
    }
    products
}

/// [`super::qconv2d_framed`] on `VPDPBUSD` from a frame of the input, `w` packed by
/// [`super::qconv2d_pack_framed`]; false, having done nothing, where the frame does not
/// take it (a scratch shorter than [`super::qconv2d_im2col_scratch_len`], or a blob
/// whose bytes are not word-aligned).
#[cfg(target_os = "linux")]
#[allow(clippy::too_many_arguments)]
pub(super) fn qconv2d_framed<X: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[i8],
    w_sums: &[i32],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) -> bool {
    let pad = (x_zero - X::MIN) as u32;
    let words: &mut [u32] = bytemuck::cast_slice_mut(scratch);
    frames::qconv2d(p, x, pad, w, bias, rq, words, y, false, Some(w_sums)).is_some()
}

/// What channel `oc`'s sums start from: its bias less the padding's share, `pad · sum`
/// (`sum` its weights' sum), wrapping.
#[inline(always)]
fn base(bias: &[i32], pad: u32, oc: usize, sum: i32) -> i32 {
    let bias = bias.get(oc).copied().unwrap_or(0);
    bias.wrapping_sub((pad as i32).wrapping_mul(sum))
}

/// Requantizes channel `oc`'s run of sums `acc`, each plus `base`, into `out`.
#[inline(always)]
fn finish_channel<Y: QOut>(
    rq: Requant<'_>,
    depth: usize,
    bias: &[i32],
    oc: usize,
    base: i32,
    acc: &[i32],
    out: &mut [Y],
) {
    let scale = pick(rq.scale, oc);
    // The bound is on the sums with the zero points taken out, which `base + acc` is.
    let small = small_products(depth, bias.get(oc).copied().unwrap_or(0), scale);
    Y::finish_run(acc, base, scale, rq.zero, small, out);
}

/// Sixteen sums requantized as [`crate::qlinear::requantize`] does each (the same `f32`
/// steps: the product clamped to the output range around `zero`, a NaN to its lower
/// end, rounded half to even), as the bytes of 8-bit outputs `Y`. With `small` (sums
/// that [`small_products`] bounds) the product is rounded as it is (`VCVTPS2DQ`, half to
/// even under the default rounding mode) and only the integer saturates (`VPMOVSDB` or
/// `VPMOVUSDB`), with the same results: the bounds are integers and rounding is
/// monotonic. Five vector instructions instead of eight on every output vector
/// (mlperf-ic-int8 on Zen 4: about 1 µs of 79).
#[inline(always)]
pub(super) fn requantize16<Y: QOut>(acc: m512i, scale: f32, zero: i32, small: bool) -> [u8; 16] {
    use crate::qlinear::ROUND_MAGIC;
    use safe_arch::{
        add_i32_m512i, add_m512, cast_to_m512i_from_m512, convert_to_i32_m512i_from_m512,
        convert_to_m512_from_i32_m512i, max_m512, min_m512, mul_m512, set_splat_i32_m512i,
        set_splat_m512, sub_i32_m512i,
    };
    let (min, max) = Y::REQUANTIZED.unwrap_or((0, 0));
    let v = mul_m512(convert_to_m512_from_i32_m512i(acc), set_splat_m512(scale));
    if small {
        let rounded = convert_to_i32_m512i_from_m512(v);
        let shifted = add_i32_m512i(rounded, set_splat_i32_m512i(zero));
        return crate::dsp::saturate_bytes512(shifted, min < 0);
    }
    // `VMAXPS` returns its second operand where the first is a NaN.
    let v = max_m512(v, set_splat_m512(min.wrapping_sub(zero) as f32));
    let v = min_m512(v, set_splat_m512(max.wrapping_sub(zero) as f32));
    let bits = cast_to_m512i_from_m512(add_m512(v, set_splat_m512(ROUND_MAGIC)));
    let rounded = sub_i32_m512i(bits, set_splat_i32_m512i(ROUND_MAGIC.to_bits() as i32));
    crate::dsp::low_bytes512(add_i32_m512i(rounded, set_splat_i32_m512i(zero)))
}

/// Whether [`small_products`] bounds channel `oc`'s sums (see [`requantize16`]).
#[inline(always)]
pub(super) fn small_channel(depth: usize, bias: &[i32], scale: f32, oc: usize) -> bool {
    small_products(depth, bias.get(oc).copied().unwrap_or(0), scale)
}

/// The sum of output channel `oc`'s weights (0 past the end).
#[inline(always)]
fn weight_sum(w: &[i8], depth: usize, oc: usize) -> i32 {
    let taps = w.get(oc * depth..(oc + 1) * depth).unwrap_or(&[]);
    taps.iter().map(|&v| i32::from(v)).sum()
}

/// Copies output channels `oc0..oc0 + m` into `wt`, `quads` words each, the bytes past
/// the depth 0.
fn load_weights(w: &[i8], depth: usize, oc0: usize, m: usize, wt: &mut [u32]) {
    let quads = depth.div_ceil(4);
    for (o, row) in wt.chunks_exact_mut(quads).take(m).enumerate() {
        let bytes: &mut [i8] = bytemuck::cast_slice_mut(row);
        let taps = &w[(oc0 + o) * depth..][..depth];
        let (head, tail) = bytes.split_at_mut(depth);
        head.copy_from_slice(taps);
        tail.fill(0);
    }
}

/// Gathers positions `p0..p0 + n` of a 1×1, stride-1, unpadded convolution: quad `kq` is
/// input channels `4 kq..4 kq + 4`. Positions `n..pb` and the terms past the last
/// channel are 0 (their weights are 0). Two whole tiles at a time where the rows have
/// the 32 positions ([`quad_words_32`]), one tile at a time otherwise.
fn gather_pointwise<X: QInt>(
    x: &[X],
    plane: usize,
    p0: usize,
    n: usize,
    pb: usize,
    cols: &mut [u32],
) {
    let channels = x.len() / plane.max(1);
    let quads = channels.div_ceil(4);
    let tiles = pb / PT;
    let cols = &mut cols[..quads * pb];
    // Rows run on to the plane's end, so that whole vectors load where they can.
    let rows = |kq: usize, j0: usize| -> [&[X]; 4] {
        core::array::from_fn(|i| x.get((4 * kq + i) * plane + j0..).unwrap_or(&[]))
    };
    let mut t = 0;
    while t < tiles {
        if t + 2 <= tiles && n >= (t + 2) * PT {
            let (head, rest) = cols.split_at_mut((t + 1) * quads * PT);
            let first = &mut head[t * quads * PT..];
            let second = &mut rest[..quads * PT];
            let j0 = p0 + t * PT;
            for (kq, (a, b)) in first
                .chunks_exact_mut(PT)
                .zip(second.chunks_exact_mut(PT))
                .enumerate()
            {
                let whole = 4 * kq + 3 < channels;
                if !(whole && quad_words_32(rows(kq, j0), a, b)) {
                    gather_pointwise_quad(x, plane, channels, kq, j0, PT, a);
                    gather_pointwise_quad(x, plane, channels, kq, j0 + PT, PT, b);
                }
            }
            t += 2;
            continue;
        }
        let tile = &mut cols[t * quads * PT..][..quads * PT];
        let j0 = p0 + t * PT;
        let m = n.saturating_sub(t * PT).min(PT);
        if m == 0 {
            tile.fill(0);
        } else {
            for (kq, slot) in tile.chunks_exact_mut(PT).enumerate() {
                gather_pointwise_quad(x, plane, channels, kq, j0, m, slot);
            }
        }
        t += 1;
    }
}

/// Quad `kq` of the `m` positions from `j0` on into `slot` (a tile's `PT` words; the
/// words past `m` are 0), for [`gather_pointwise`].
#[inline(always)]
fn gather_pointwise_quad<X: QInt>(
    x: &[X],
    plane: usize,
    channels: usize,
    kq: usize,
    j0: usize,
    m: usize,
    slot: &mut [u32],
) {
    let (valid, rest) = slot.split_at_mut(m.min(slot.len()));
    if 4 * kq + 3 < channels {
        let row = |i: usize| x.get((4 * kq + i) * plane + j0..).unwrap_or(&[]);
        quad_words::<X, 1>([row(0), row(1), row(2), row(3)], valid);
    } else {
        for (j, slot) in valid.iter_mut().enumerate() {
            let at = |i: usize| {
                let k = 4 * kq + i;
                if k < channels {
                    x.get(k * plane + j0 + j).map_or(0, |&v| byte(v))
                } else {
                    0
                }
            };
            *slot = word([at(0), at(1), at(2), at(3)]);
        }
    }
    rest.fill(0);
}

/// Words `t < 32` of four byte streams, as [`quad_words`] with stride 1, the first 16 in
/// `lo` and the next 16 in `hi` (two tiles' slots of one quad), from 32-byte loads: two
/// rounds of interleaving give each 128-bit lane four positions' words (lane 0 the first
/// tile's, lane 1 the second's), and lane permutes put them in order. False, with
/// nothing written, where a stream is shorter than 32.
#[inline(always)]
fn quad_words_32<X: QInt>(src: [&[X]; 4], lo: &mut [u32], hi: &mut [u32]) -> bool {
    use safe_arch::{
        bitxor_m256i, shuffle_abi_i128z_all_m256i, unpack_high_i16_m256i, unpack_high_i8_m256i,
        unpack_low_i16_m256i, unpack_low_i8_m256i,
    };
    let load = |s: &[X]| -> Option<m256i> {
        let bytes: &[u8] = bytemuck::cast_slice(s.get(..32)?);
        Some(m256i::from(<[u8; 32]>::try_from(bytes).ok()?))
    };
    let (Some(a), Some(b), Some(c), Some(d)) =
        (load(src[0]), load(src[1]), load(src[2]), load(src[3]))
    else {
        return false;
    };
    let (Ok(lo), Ok(hi)) = (
        <&mut [u32; 16]>::try_from(lo),
        <&mut [u32; 16]>::try_from(hi),
    ) else {
        return false;
    };
    let (ab_lo, ab_hi) = (unpack_low_i8_m256i(a, b), unpack_high_i8_m256i(a, b));
    let (cd_lo, cd_hi) = (unpack_low_i8_m256i(c, d), unpack_high_i8_m256i(c, d));
    let flip = m256i::from([(-X::MIN as u32) * 0x0101_0101; 8]);
    // Lane 0: positions 0–3, 4–7, 8–11, 12–15; lane 1: the same plus 16.
    let q = [
        unpack_low_i16_m256i(ab_lo, cd_lo),
        unpack_high_i16_m256i(ab_lo, cd_lo),
        unpack_low_i16_m256i(ab_hi, cd_hi),
        unpack_high_i16_m256i(ab_hi, cd_hi),
    ]
    .map(|v| bitxor_m256i(v, flip));
    let words = |v: m256i| <[u32; 8]>::from(v);
    let low = |a: m256i, b: m256i| words(shuffle_abi_i128z_all_m256i::<0x20>(a, b));
    let high = |a: m256i, b: m256i| words(shuffle_abi_i128z_all_m256i::<0x31>(a, b));
    let (lo_a, lo_b) = lo.split_at_mut(8);
    let (hi_a, hi_b) = hi.split_at_mut(8);
    lo_a.copy_from_slice(&low(q[0], q[1]));
    lo_b.copy_from_slice(&low(q[2], q[3]));
    hi_a.copy_from_slice(&high(q[0], q[1]));
    hi_b.copy_from_slice(&high(q[2], q[3]));
    true
}

/// The longest padded input row [`gather`] copies to read four taps with one load.
const LINE: usize = 128;

/// One reduction term of [`gather`]: its input plane, kernel row and column, and the
/// output columns whose tap on that kernel column lies inside the input.
type Term<'a, X> = (&'a [X], usize, usize, (usize, usize));

/// A term's input row for one output row (running on to the plane's end, so that whole
/// vectors load where they can), its kernel column and its inside columns.
type Row<'a, X> = (&'a [X], usize, (usize, usize));

/// A tap's kernel row and column, and the output columns where it is inside the input.
type TapTerm = (usize, usize, (usize, usize));

/// [`TapTerm`] of tap `t`.
fn tap_term(p: &Conv2d, t: usize) -> TapTerm {
    let (kh, kw) = (t / p.k_w, t % p.k_w);
    let columns =
        crate::conv::outputs_for_tap(kw, p.stride_w, p.dil_w, p.pad_left, p.w_in, p.w_out);
    (kh, kw, columns)
}

/// [`gather`]'s tap terms, once per convolution (the divisions they take cost more than
/// the gather when done per term, and building the table per block, with its array
/// moved through the stack, took a tenth of mobilenet_v2-int8's first layer).
fn tap_terms(p: &Conv2d) -> [TapTerm; MAX_TAPS] {
    let mut table = [(0, 0, (0, 0)); MAX_TAPS];
    for (t, term) in table.iter_mut().take(p.k_h * p.k_w).enumerate() {
        *term = tap_term(p, t);
    }
    table
}

/// The pieces of output rows that positions `p0..p0 + n` make: (row, first column, end
/// column, first block position).
fn pieces(w_out: usize, p0: usize, n: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let mut next = (p0 / w_out.max(1), p0 % w_out.max(1), 0);
    core::iter::from_fn(move || {
        let (oh, ow0, j) = next;
        (j < n).then(|| {
            let len = (w_out - ow0).min(n - j);
            next = (oh + 1, 0, j + len);
            (oh, ow0, ow0 + len, j)
        })
    })
}

/// Gathers positions `p0..p0 + n` of any convolution: term
/// `k = (ci · k_h + kh) · k_w + kw` is byte `k % 4` of quad `k / 4`, `u(x)` where the tap
/// is inside the input and `pad` where it is padding (or past the depth, whose weights
/// are 0). Positions `n..pb` are `pad` too.
///
/// Quad by quad and output row by output row: where the four terms' rows are inside,
/// the run of positions where every term's column is inside zips four input rows into
/// words; the positions around it test their taps one by one.
#[allow(clippy::too_many_arguments)]
fn gather<X: QInt>(
    p: &Conv2d,
    table: &[TapTerm; MAX_TAPS],
    x: &[X],
    pad: u32,
    p0: usize,
    n: usize,
    pb: usize,
    cols: &mut [u32],
) {
    let plane = p.h_in * p.w_in;
    let taps = p.k_h * p.k_w;
    let channels = x.len() / plane.max(1);
    let quads = (channels * taps).div_ceil(4);
    let cols = &mut cols[..quads * pb];
    cols.fill(word([pad; 4]));
    let column = |kw: usize, ow: usize| ow * p.stride_w + kw * p.dil_w - p.pad_left;
    let at = |j: usize, kq: usize| slot(j, kq, quads);
    // Whether a padded input row fits a line, on strided or short rows (see below).
    let lines = p.pad_left + p.w_in <= LINE
        && (p.w_out - 1) * p.stride_w + p.k_w <= LINE
        && (p.stride_w != 1 || p.w_out < PT);
    let mut walk = TermWalk::new(taps, channels);
    for kq in 0..quads {
        let terms: [Option<Term<'_, X>>; 4] = walk.next_quad().map(|term| {
            let (ci, tap) = term?;
            let (kh, kw, columns) = table.get(tap).copied().unwrap_or_else(|| tap_term(p, tap));
            Some((&x[ci * plane..][..plane], kh, kw, columns))
        });
        // Terms past the depth (weight 0) repeat the first, so that the last quad takes
        // the vector paths too (mobilenet_v2-int8's first layer, 27 terms deep, gathered
        // its last quad element by element).
        let terms = terms.map(|t| t.or(terms[0]));
        for (oh, ow0, ow1, first) in pieces(p.w_out, p0, n) {
            let j_of = move |ow: usize| first + (ow - ow0);
            // Each term's input row for this output row, if inside.
            let rows: [Option<Row<'_, X>>; 4] = core::array::from_fn(|i| {
                let (x_c, kh, kw, columns) = terms[i]?;
                let ih = (oh * p.stride_h + kh * p.dil_h).checked_sub(p.pad_top)?;
                (ih < p.h_in).then(|| (&x_c[ih * p.w_in..], kw, columns))
            });
            if rows.iter().all(Option::is_none) {
                continue;
            }
            let value = |i: usize, ow: usize| match rows[i] {
                Some((row, kw, (lo, hi))) if (lo..hi).contains(&ow) => byte(row[column(kw, ow)]),
                _ => pad,
            };
            if let [Some(r0), Some(r1), Some(r2), Some(r3)] = rows {
                // Four consecutive taps of one input row (a kernel row of four, say), on
                // strided or short rows, which the vector interleave does not take: the
                // row with its padding as unsigned bytes, and one load a word
                // (mlperf-kws-int8's first layer, 10 × 4 at stride 2 over rows of 10,
                // gathered element by element, 10.7 µs; this way 7.0).
                let adjacent = p.dil_w == 1
                    && [r1, r2, r3]
                        .iter()
                        .enumerate()
                        .all(|(i, r)| r.0.as_ptr() == r0.0.as_ptr() && r.1 == r0.1 + i + 1);
                if adjacent && lines {
                    let mut line = [pad as u8; LINE];
                    for (d, &v) in line[p.pad_left..][..p.w_in].iter_mut().zip(r0.0) {
                        *d = byte(v) as u8;
                    }
                    for ow in ow0..ow1 {
                        let c = ow * p.stride_w + r0.1;
                        let four = line.get(c..c + 4).and_then(|b| <[u8; 4]>::try_from(b).ok());
                        if let (Some(four), Some(slot)) = (four, cols.get_mut(at(j_of(ow), kq))) {
                            *slot = u32::from_le_bytes(four);
                        }
                    }
                    continue;
                }
                // The run where all four columns are inside.
                let a = ow0
                    .max(r0.2 .0)
                    .max(r1.2 .0)
                    .max(r2.2 .0)
                    .max(r3.2 .0)
                    .min(ow1);
                let b = ow1
                    .min(r0.2 .1)
                    .min(r1.2 .1)
                    .min(r2.2 .1)
                    .min(r3.2 .1)
                    .max(a);
                for ow in (ow0..a).chain(b..ow1) {
                    cols[at(j_of(ow), kq)] = word(core::array::from_fn(|i| value(i, ow)));
                }
                if a < b {
                    let src = [r0, r1, r2, r3].map(|(row, kw, _)| &row[column(kw, a)..]);
                    fill_run(cols, |j| at(j, kq), j_of(a), b - a, p.stride_w, src);
                }
            } else {
                for ow in ow0..ow1 {
                    cols[at(j_of(ow), kq)] = word(core::array::from_fn(|i| value(i, ow)));
                }
            }
        }
    }
}

/// Gathers positions `p0..p0 + n` of a stride-1 convolution whose input rows are as
/// long as its output rows (a "same" convolution), as [`gather`] does. There, term `k` of
/// output position `q` reads input element `q + shift(k)` of the group, one constant per
/// term, across output rows too; so each quad interleaves four runs of the input shifted
/// by its terms' constants, a tile's 16 positions at a time, and then writes `pad` over
/// the bytes of the positions whose tap falls outside the input (the ends of output rows,
/// whole rows at the top and bottom), which the shifted runs read from a neighbouring row.
/// No per-row or per-position work but those corrections. Out of line: inlined, it
/// lost 9 % of mlperf-ic-int8's time to changes elsewhere in the convolution.
#[inline(never)]
fn gather_shifted<X: QInt>(
    p: &Conv2d,
    table: &[Shifted; MAX_TAPS],
    x: &[X],
    pad: u32,
    p0: usize,
    n: usize,
    cols: &mut [u32],
) {
    let plane = p.h_in * p.w_in;
    let taps = p.k_h * p.k_w;
    let channels = x.len() / plane.max(1);
    let quads = (channels * taps).div_ceil(4);
    let width = p.w_out;
    let (row0, row_end) = (p0 / width, (p0 + n - 1) / width + 1);
    let at = |j: usize, kq: usize| slot(j, kq, quads);
    let mut walk = TermWalk::new(taps, channels);
    for kq in 0..quads {
        // The four terms' shifts (from the group's start) and inside rows and columns;
        // terms past the depth (weight 0) reuse the first term's shift.
        let terms: [Option<Shifted>; 4] = walk.next_quad().map(|term| {
            let (ci, tap) = term?;
            let (shift, rows, columns) = table.get(tap).copied().unwrap_or_else(|| shifted(p, tap));
            Some(((ci * plane) as isize + shift, rows, columns))
        });
        let first = terms[0].map_or(0, |t| t.0);
        let shifts = terms.map(|t| t.map_or(first, |t| t.0));
        let mut j0 = 0;
        while j0 < n {
            let take = PT.min(n - j0);
            let base = (p0 + j0) as isize;
            let slot = at(j0, kq);
            let Some(out) = cols.get_mut(slot..slot + take) else {
                return;
            };
            let start = shifts.map(|s| base + s);
            if start.iter().all(|&s| s >= 0 && s as usize + PT <= x.len()) {
                quad_words::<X, 1>(start.map(|s| &x[s as usize..]), out);
            } else {
                for (t, w) in out.iter_mut().enumerate() {
                    let get = |s: isize| {
                        usize::try_from(s + t as isize)
                            .ok()
                            .and_then(|i| x.get(i))
                            .map_or(pad, |&v| byte(v))
                    };
                    *w = word(start.map(get));
                }
            }
            j0 += take;
        }
        // The positions where a tap falls outside the input: whole rows outside some
        // term's inside rows, and the columns before the last term's first inside column
        // and from the first term's end on. Their outside terms' bytes become `pad`.
        let outside = |pick: fn(&Shifted) -> (usize, usize), at: usize| {
            terms.iter().enumerate().fold(0u32, |mask, (i, t)| match t {
                Some(t) if !(pick(t).0..pick(t).1).contains(&at) => mask | 0xff << (8 * i),
                _ => mask,
            })
        };
        let present = terms.iter().flatten();
        let c_lo = present.clone().map(|t| t.2 .0).max().unwrap_or(0);
        let c_hi = present.map(|t| t.2 .1).min().unwrap_or(width);
        let pads = word([pad; 4]);
        for oh in row0..row_end {
            // The block's columns of this output row.
            let row = oh * width;
            let (ow_a, ow_b) = (p0.max(row) - row, (p0 + n).min(row + width) - row);
            let row_mask = outside(|t| t.1, oh);
            let mut fix = |ow: usize| {
                let mask = row_mask | outside(|t| t.2, ow);
                if let Some(slot) = cols.get_mut(at(row + ow - p0, kq)) {
                    *slot = (*slot & !mask) | (pads & mask);
                }
            };
            if row_mask != 0 {
                (ow_a..ow_b).for_each(&mut fix);
            } else {
                (ow_a..c_lo.min(ow_b)).for_each(&mut fix);
                (c_hi.max(ow_a)..ow_b).for_each(&mut fix);
            }
        }
    }
}

/// One term of [`gather_shifted`]: its shift from the group's start, and the output rows
/// and columns where its tap is inside the input.
type Shifted = (isize, (usize, usize), (usize, usize));

/// [`Shifted`] of tap `t`.
fn shifted(p: &Conv2d, t: usize) -> Shifted {
    let (kh, kw) = (t / p.k_w, t % p.k_w);
    let width = p.w_out;
    let shift = (kh * p.dil_h) as isize * width as isize - (p.pad_top * width) as isize
        + (kw * p.dil_w) as isize
        - p.pad_left as isize;
    let rows = crate::conv::outputs_for_tap(kh, 1, p.dil_h, p.pad_top, p.h_in, p.h_out);
    let columns = crate::conv::outputs_for_tap(kw, 1, p.dil_w, p.pad_left, p.w_in, width);
    (shift, rows, columns)
}

/// [`gather_shifted`]'s terms, once per convolution (see [`tap_terms`]).
fn shifted_terms(p: &Conv2d) -> [Shifted; MAX_TAPS] {
    let mut table = [(0, (0, 0), (0, 0)); MAX_TAPS];
    for (t, term) in table.iter_mut().take(p.k_h * p.k_w).enumerate() {
        *term = shifted(p, t);
    }
    table
}

/// Stores `len` words from block position `j` on, word `t` made of `src[i][t · stride]`,
/// a tile's slice at a time (`at` gives a position's word; positions of one tile are
/// adjacent words).
#[inline(always)]
fn fill_run<X: QInt>(
    cols: &mut [u32],
    at: impl Fn(usize) -> usize,
    j: usize,
    len: usize,
    stride: usize,
    src: [&[X]; 4],
) {
    let mut done = 0;
    while done < len {
        let j = j + done;
        let take = (PT - j % PT).min(len - done);
        let first = at(j);
        let Some(slots) = cols.get_mut(first..first + take) else {
            return;
        };
        if stride == 1 {
            quad_words::<X, 1>(src.map(|r| r.get(done..).unwrap_or(&[])), slots);
        } else if stride == 2 {
            quad_words::<X, 2>(src.map(|r| r.get(2 * done..).unwrap_or(&[])), slots);
        } else {
            for (t, slot) in slots.iter_mut().enumerate() {
                let i = (done + t) * stride;
                let get = |s: &[X]| s.get(i).map_or(0, |&v| byte(v));
                *slot = word([get(src[0]), get(src[1]), get(src[2]), get(src[3])]);
            }
        }
        done += take;
    }
}

/// The sums of one gathered block against one tile of weights, for positions `0..n`
/// (rounded up to whole tiles): `acc[o][j] = bases[o] + Σ_kq quad(x[j][kq]) ·
/// quad(w[o][kq])` (wrapping), through [`wide_passes`].
#[inline(never)]
fn block(
    cols: &[u32],
    rows: [&[u32]; OCT],
    bases: [i32; OCT],
    n: usize,
    acc: &mut [[i32; PB_MAX]; OCT],
) {
    wide_passes(cols, rows, bases, n.div_ceil(PT), |t0, o, sums| {
        for (t, &v) in sums.iter().enumerate() {
            if let Some(dst) = acc[o].get_mut((t0 + t) * PT..(t0 + t + 1) * PT) {
                dst.copy_from_slice(&<[i32; PT]>::from(v));
            }
        }
    });
}

/// The sums of tiles `0..tiles` of a gathered block on 512-bit vectors: passes of
/// [`WIDE`] tiles ([`tiles_wide_sums`]), then a pass of two, or one last tile alone
/// ([`tile_split`]). `visit(t, o, sums)` takes channel `o`'s sums of tiles `t..t +
/// sums.len()`, for every channel of the tile (the caller drops those past its `m`).
#[inline(always)]
fn wide_passes(
    cols: &[u32],
    rows: [&[u32]; OCT],
    bases: [i32; OCT],
    tiles: usize,
    mut visit: impl FnMut(usize, usize, &[m512i]),
) {
    let quads = rows[0].len();
    if quads == 0 {
        return;
    }
    let mut t = 0;
    while t + WIDE <= tiles {
        let sums = tiles_wide_sums::<WIDE>(&cols[t * quads * PT..], rows, bases);
        for (o, row) in sums.iter().enumerate() {
            visit(t, o, row);
        }
        t += WIDE;
    }
    match tiles - t {
        2 => {
            let sums = tiles_wide_sums::<2>(&cols[t * quads * PT..], rows, bases);
            for (o, row) in sums.iter().enumerate() {
                visit(t, o, row);
            }
        }
        1 => {
            let sums = tile_split(&cols[t * quads * PT..], rows, bases);
            for (o, sum) in sums.iter().enumerate() {
                visit(t, o, core::slice::from_ref(sum));
            }
        }
        _ => {}
    }
}

/// `T` adjacent tiles of a gathered block, `OCT × T·PT` sums left in the registers,
/// each tile's quad one 512-bit vector of its `PT` positions: `OCT · T` independent sums.
#[inline(always)]
fn tiles_wide_sums<const T: usize>(
    run: &[u32],
    rows: [&[u32]; OCT],
    bases: [i32; OCT],
) -> [[m512i; T]; OCT] {
    use crate::dsp::dpbusd512;
    let quads = rows[0].len();
    let rows: [&[u32]; OCT] = rows.map(|r| &r[..quads]);
    let mut acc: [[m512i; T]; OCT] = bases.map(|base| [m512i::from([base; PT]); T]);
    let run = &run[..T * quads * PT];
    for kq in 0..quads {
        let xv: [m512i; T] = core::array::from_fn(|t| {
            let lanes = &run[(t * quads + kq) * PT..][..PT];
            m512i::from(<[u32; PT]>::try_from(lanes).unwrap_or([0; PT]))
        });
        for (acc_row, row) in acc.iter_mut().zip(&rows) {
            let wv = m512i::from([row[kq]; PT]);
            for (a, &x) in acc_row.iter_mut().zip(&xv) {
                *a = dpbusd512(*a, x, wv);
            }
        }
    }
    acc
}

/// One tile of [`tiles_wide_sums`], each channel's sums in two vectors (the even and the
/// odd quads) so that eight stay in flight, added at the end: a last tile alone ran one
/// chain of `VPDPBUSD`s per channel (mobilenet_v2-int8's 7 × 7 layers, 49 positions).
#[inline(always)]
fn tile_split(run: &[u32], rows: [&[u32]; OCT], bases: [i32; OCT]) -> [m512i; OCT] {
    use crate::dsp::dpbusd512;
    use safe_arch::add_i32_m512i;
    let quads = rows[0].len();
    let rows: [&[u32]; OCT] = rows.map(|r| &r[..quads]);
    let mut acc: [[m512i; 2]; OCT] = bases.map(|base| [m512i::from([base; PT]), m512i::default()]);
    let run = &run[..quads * PT];
    let x = |kq: usize| -> m512i {
        m512i::from(<[u32; PT]>::try_from(&run[kq * PT..][..PT]).unwrap_or([0; PT]))
    };
    for kq in (0..quads).step_by(2) {
        let (even, odd) = (x(kq), x((kq + 1).min(quads - 1)));
        // Past an odd depth, the last quad's weights are not added twice.
        let second = kq + 1 < quads;
        for (acc_row, row) in acc.iter_mut().zip(&rows) {
            acc_row[0] = dpbusd512(acc_row[0], even, m512i::from([row[kq]; PT]));
            if second {
                acc_row[1] = dpbusd512(acc_row[1], odd, m512i::from([row[kq + 1]; PT]));
            }
        }
    }
    acc.map(|[even, odd]| add_i32_m512i(even, odd))
}

/// The 8-bit outputs of one channel tile: where [`block`] leaves the sums for
/// [`finish_channel`], here each pass of up to [`WIDE`] tiles is requantized from its
/// registers ([`requantize16`]) and stored into the rows: `out` holds the tile's channels'
/// planes (`plane` bytes each, the first `m`), the block's positions from `p0`, `n` of
/// them. `small`: every channel takes [`requantize16`]'s short path.
/// Out of line, as [`block`] is: inlined into [`qconv2d`], its loops ran slower.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn block_bytes<Y: QOut>(
    cols: &[u32],
    rows: [&[u32]; OCT],
    bases: [i32; OCT],
    (scales, zero, small): ([f32; OCT], i32, bool),
    m: usize,
    (plane, p0, n): (usize, usize, usize),
    out: &mut [u8],
) {
    // The block's bytes per channel, copied into the rows at the end: stored into the
    // rows pass by pass, among the next pass's loads, the layer ran slower.
    let mut bytes = [[0u8; PB_MAX]; OCT];
    wide_passes(cols, rows, bases, n.div_ceil(PT), |t0, o, sums| {
        if o >= m {
            return;
        }
        for (t, &v) in sums.iter().enumerate() {
            let at = (t0 + t) * PT;
            if let Some(dst) = bytes[o].get_mut(at..at + PT) {
                dst.copy_from_slice(&requantize16::<Y>(v, scales[o], zero, small));
            }
        }
    });
    for (o, row) in bytes.iter().enumerate().take(m) {
        if let Some(dst) = out.get_mut(o * plane + p0..).and_then(|d| d.get_mut(..n)) {
            dst.copy_from_slice(&row[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qconv::tests::fold_bias;
    #[cfg(target_os = "linux")]
    extern crate std;

    /// The runs [`check`] made, by the products they took (indexed as [`Products`]):
    /// those with the tiles allowed and those with the tiles forced off.
    #[cfg(target_os = "linux")]
    #[derive(Default)]
    pub(super) struct Ran {
        allowed: [usize; 5],
        forced_off: [usize; 5],
    }

    #[cfg(target_os = "linux")]
    impl Ran {
        /// The runs with the tiles allowed that took them.
        pub(super) fn framed(&self) -> usize {
            self.allowed[Products::Frames as usize]
        }

        /// The runs with the tiles allowed that took them over gathered blocks.
        pub(super) fn gathered(&self) -> usize {
            self.allowed[Products::Tiles as usize]
        }

        /// States the paths `test` exercised: the tiles (`RUN`, or `NOT RUN` and why) and
        /// the path of a host without AMX, which the runs with the tiles forced off take.
        pub(super) fn report(&self, test: &str) {
            let runs = |counts: &[usize; 5]| counts.iter().sum::<usize>();
            let tiles = crate::dsp::amx::tests::tiles_line(&std::format!(
                "{} of {} runs framed, {} gathered",
                self.framed(),
                runs(&self.allowed),
                self.gathered(),
            ));
            let off = &self.forced_off;
            std::eprintln!(
                "{test}: {tiles}; the path without AMX: RUN ({} runs with the tiles forced \
                 off, {} of them framed, {} unblocked)",
                runs(off),
                off[Products::VnniFrames as usize],
                off[Products::Unblocked as usize],
            );
        }
    }

    /// `p` on deterministic inputs, into `u8` (per-channel scales) and `i8` (one scale,
    /// many outputs saturated), with the tiles allowed and forced off, each against the
    /// tap walker byte for byte; at every scratch length a caller may give: the one
    /// [`super::super::qconv2d_im2col_scratch_len`] promises, the most
    /// [`super::super::qconv2d_im2col_scratch_max_len`] asks for, one gathered tile of
    /// positions and a word less, none, and `odd` (bands of a few rows for the frames).
    /// Counts the products each run took in `ran`, and checks that a run with the tiles
    /// forced off, or on a host without them, took none, and that the promised scratch
    /// always holds a block.
    #[cfg(target_os = "linux")]
    pub(super) fn check(p: &Conv2d, odd: &[usize], ran: &mut Ran) {
        use std::vec::Vec;
        let depth = p.c_in / p.groups * p.k_h * p.k_w;
        let promised = super::super::qconv2d_im2col_scratch_len(p);
        let most = super::super::qconv2d_im2col_scratch_max_len(p);
        let one_tile = depth.div_ceil(4) * (PT + OCT);
        let w: Vec<i8> = (0..p.c_out * depth)
            .map(|i| (i as u32).wrapping_mul(0x9e37_79b9).to_le_bytes()[3] as i8)
            .collect();
        let x: Vec<u8> = (0..p.batch * p.c_in * p.h_in * p.w_in)
            .map(|i| (i as u8).wrapping_mul(29).wrapping_add(3))
            .collect();
        let bias: Vec<i32> = (0..p.c_out as i32).map(|i| i * 90 - 1400).collect();
        let x_zero = 5;
        let folded: Vec<i32> = (0..p.c_out)
            .map(|oc| fold_bias(&w, depth, &[], &bias, x_zero, oc))
            .collect();
        let scales: Vec<f32> = (0..p.c_out).map(|i| 0.0004 * (1 + i % 5) as f32).collect();
        let rq_u8 = Requant {
            scale: &scales,
            zero: 2,
        };
        let rq_i8 = Requant {
            scale: &[0.003],
            zero: -3,
        };
        let wide: Vec<f32> = (0..p.c_out).map(crate::qconv::tests::wide_scale).collect();
        let rq_wide = Requant {
            scale: &wide,
            zero: -7,
        };
        let n = p.batch * p.c_out * p.h_out * p.w_out;
        let (mut want_u8, mut want_i8) = (std::vec![0u8; n], std::vec![0i8; n]);
        let mut want_wide = std::vec![0i8; n];
        crate::qlinear::qconv2d(p, &x, x_zero, &w, &[0], &folded, rq_u8, &mut want_u8);
        crate::qlinear::qconv2d(p, &x, x_zero, &w, &[0], &folded, rq_i8, &mut want_i8);
        crate::qlinear::qconv2d(p, &x, x_zero, &w, &[0], &folded, rq_wide, &mut want_wide);
        let lens = [promised, most, one_tile, one_tile - 1, 0];
        for &len in lens.iter().chain(odd) {
            for allow_tiles in [true, false] {
                let what = std::format!(
                    "{p:?} in {len} words of scratch, tiles {}",
                    if allow_tiles { "allowed" } else { "forced off" }
                );
                // Scratch that a previous run left dirty.
                let mut scratch = std::vec![f32::from_bits(0x5a5a_5a5a); len];
                let (mut got_u8, mut got_i8) = (std::vec![0u8; n], std::vec![0i8; n]);
                let products = qconv2d(
                    p,
                    &x,
                    x_zero,
                    &w,
                    &bias,
                    rq_u8,
                    &mut scratch,
                    &mut got_u8,
                    allow_tiles,
                );
                assert_eq!(got_u8, want_u8, "{what}, {products:?}");
                let products_i8 = qconv2d(
                    p,
                    &x,
                    x_zero,
                    &w,
                    &bias,
                    rq_i8,
                    &mut scratch,
                    &mut got_i8,
                    allow_tiles,
                );
                assert_eq!(got_i8, want_i8, "i8 {what}, {products_i8:?}");
                assert_eq!(products, products_i8, "{what}");
                let mut got_wide = std::vec![0i8; n];
                let (b, s) = (&bias[..], &mut scratch[..]);
                qconv2d(p, &x, x_zero, &w, b, rq_wide, s, &mut got_wide, allow_tiles);
                assert_eq!(got_wide, want_wide, "wide scales {what}");
                let amx = matches!(products, Products::Frames | Products::Tiles);
                let can = allow_tiles && crate::dsp::amx::tests::why_not().is_none();
                assert!(can || !amx, "{what}: took {products:?}");
                if len >= promised {
                    assert_ne!(products, Products::Unblocked, "{what}");
                }
                let counts = if allow_tiles {
                    &mut ran.allowed
                } else {
                    &mut ran.forced_off
                };
                counts[products as usize] += 1;
            }
        }
    }

    /// The vector interleave against the word formula, for `u8` and `i8` streams, whole
    /// and short (which take the scalar path), and every output length.
    #[test]
    fn quad_words_interleave_four_streams() {
        let bytes: [u8; 4 * 20] = core::array::from_fn(|i| (i as u8).wrapping_mul(97) ^ 0x5a);
        let signed: [i8; 4 * 20] = bytes.map(|b| b as i8);
        for len in [20, 16, 15, 3] {
            for take in 1..=16 {
                let u: [&[u8]; 4] = core::array::from_fn(|i| &bytes[i * 20..][..len]);
                let s: [&[i8]; 4] = core::array::from_fn(|i| &signed[i * 20..][..len]);
                let (mut got_u, mut got_s) = ([0u32; 16], [0u32; 16]);
                quad_words::<u8, 1>(u, &mut got_u[..take]);
                quad_words::<i8, 1>(s, &mut got_s[..take]);
                for t in 0..take {
                    let want = |f: &dyn Fn(usize) -> u32| word([f(0), f(1), f(2), f(3)]);
                    let at = |i: usize| u[i].get(t).map_or(0, |&v| u32::from(v));
                    let at_s = |i: usize| s[i].get(t).map_or(0, |&v| (i32::from(v) + 128) as u32);
                    assert_eq!(got_u[t], want(&at), "u8 {len} {take} {t}");
                    assert_eq!(got_s[t], want(&at_s), "i8 {len} {take} {t}");
                }
                assert!(got_u[take..].iter().all(|&w| w == 0), "past the end");
            }
        }
        // Stride 2: 40-element streams (whole vectors) and 31 (element by element).
        let bytes: [u8; 4 * 40] = core::array::from_fn(|i| (i as u8).wrapping_mul(59) ^ 0xa5);
        let signed: [i8; 4 * 40] = bytes.map(|b| b as i8);
        for len in [40, 32, 31] {
            let u: [&[u8]; 4] = core::array::from_fn(|i| &bytes[i * 40..][..len]);
            let s: [&[i8]; 4] = core::array::from_fn(|i| &signed[i * 40..][..len]);
            let (mut got_u, mut got_s) = ([0u32; 16], [0u32; 16]);
            quad_words::<u8, 2>(u, &mut got_u);
            quad_words::<i8, 2>(s, &mut got_s);
            for t in 0..16 {
                let at = |i: usize| u[i].get(2 * t).map_or(0, |&v| u32::from(v));
                let at_s = |i: usize| s[i].get(2 * t).map_or(0, |&v| (i32::from(v) + 128) as u32);
                assert_eq!(got_u[t], word([at(0), at(1), at(2), at(3)]), "u8 {len} {t}");
                assert_eq!(
                    got_s[t],
                    word([at_s(0), at_s(1), at_s(2), at_s(3)]),
                    "i8 {len} {t}"
                );
            }
        }
    }

    /// The 32-position interleave against the word formula, for `u8` and `i8` streams,
    /// its two halves in their two tiles; a stream shorter than 32 writes nothing.
    #[test]
    fn quad_words_32_fill_two_tiles() {
        let bytes: [u8; 4 * 40] = core::array::from_fn(|i| (i as u8).wrapping_mul(83) ^ 0x3c);
        let signed: [i8; 4 * 40] = bytes.map(|b| b as i8);
        let u: [&[u8]; 4] = core::array::from_fn(|i| &bytes[i * 40..][..33]);
        let s: [&[i8]; 4] = core::array::from_fn(|i| &signed[i * 40..][..32]);
        let (mut lo, mut hi, mut lo_s, mut hi_s) = ([0u32; 16], [0u32; 16], [0u32; 16], [0u32; 16]);
        assert!(quad_words_32(u, &mut lo, &mut hi));
        assert!(quad_words_32(s, &mut lo_s, &mut hi_s));
        for t in 0..32 {
            let at = |i: usize| u32::from(u[i][t]);
            let at_s = |i: usize| (i32::from(s[i][t]) + 128) as u32;
            let (got, got_s) = if t < 16 {
                (lo[t], lo_s[t])
            } else {
                (hi[t - 16], hi_s[t - 16])
            };
            assert_eq!(got, word([at(0), at(1), at(2), at(3)]), "u8 {t}");
            assert_eq!(got_s, word([at_s(0), at_s(1), at_s(2), at_s(3)]), "i8 {t}");
        }
        let short: [&[u8]; 4] = [u[0], u[1], &u[2][..31], u[3]];
        let (mut lo, mut hi) = ([7u32; 16], [7u32; 16]);
        assert!(!quad_words_32(short, &mut lo, &mut hi));
        assert!(lo.iter().chain(&hi).all(|&w| w == 7));
    }

    /// Weights read in place from a word-aligned blob (depth a multiple of 4) and through
    /// the padded copy (an odd depth), against the tap walker, on a padded 3×3 ("same",
    /// the shifted gather), a strided one and a pointwise one, with a partial channel tile.
    #[test]
    fn weights_in_place_and_copied_match_the_tap_walker() {
        let words: [u32; 7 * 8 * 12 / 4 + 1] =
            core::array::from_fn(|i| (i as u32).wrapping_mul(0x9e37_79b9));
        let w: &[i8] = bytemuck::cast_slice(&words);
        let x: [u8; 8 * 10 * 10] = core::array::from_fn(|i| (i as u8).wrapping_mul(31));
        let base = Conv2d {
            batch: 1,
            c_in: 8,
            h_in: 10,
            w_in: 10,
            c_out: 7,
            h_out: 10,
            w_out: 10,
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
        let strided = Conv2d {
            h_out: 5,
            w_out: 5,
            stride_h: 2,
            stride_w: 2,
            ..base
        };
        // 100 positions: six whole tiles and a half one (with an odd number of quads
        // where `c_in` is 3).
        let cases = [
            base,
            Conv2d { c_in: 7, ..base },
            Conv2d { c_in: 3, ..base },
            strided,
            Conv2d {
                k_h: 1,
                k_w: 1,
                pad_top: 0,
                pad_left: 0,
                ..base
            },
            // 27 terms at stride 2, as mobilenet_v2-int8's first layer: the last quad's
            // fourth term is past the depth.
            Conv2d { c_in: 3, ..strided },
            // Kernel rows of four at stride 2 (one load a word from a padded row).
            Conv2d { k_w: 4, ..strided },
        ];
        let mut scratch = [0f32; 2048];
        for p in cases {
            let depth = p.c_in * p.k_h * p.k_w;
            let w = &w[..p.c_out * depth];
            let x = &x[..p.c_in * 100];
            let bias: [i32; 7] = core::array::from_fn(|i| i as i32 * 1000 - 3000);
            let x_zero = 7;
            let folded: [i32; 7] =
                core::array::from_fn(|oc| fold_bias(w, depth, &[], &bias, x_zero, oc));
            let rq = Requant {
                scale: &[0.002],
                zero: 3,
            };
            let n = p.c_out * p.h_out * p.w_out;
            let (mut want, mut got) = ([0u8; 7 * 100], [0u8; 7 * 100]);
            crate::qlinear::qconv2d(&p, x, x_zero, w, &[0], &folded, rq, &mut want[..n]);
            assert!(super::super::qconv2d_im2col_scratch_len(&p) <= scratch.len());
            qconv2d(
                &p,
                x,
                x_zero,
                w,
                &bias,
                rq,
                &mut scratch,
                &mut got[..n],
                true,
            );
            assert_eq!(got[..n], want[..n], "{p:?}");
            // Signed outputs, a scale that saturates many and clamps in `f32`.
            let rq = Requant {
                scale: &[0.9, 0.004, 3.0e5, 0.02, 0.3, 0.001, 0.07],
                zero: -3,
            };
            let (mut want, mut got) = ([0i8; 7 * 100], [0i8; 7 * 100]);
            crate::qlinear::qconv2d(&p, x, x_zero, w, &[0], &folded, rq, &mut want[..n]);
            qconv2d(
                &p,
                x,
                x_zero,
                w,
                &bias,
                rq,
                &mut scratch,
                &mut got[..n],
                true,
            );
            assert_eq!(got[..n], want[..n], "i8 {p:?}");
        }
    }
}
