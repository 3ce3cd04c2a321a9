//! Depthwise convolution on vectors of eight channels (sixteen in the float kernel with
//! AVX-512, where they pay), for targets with SIMD.
//!
//! The row and plane kernels (`depthwise_3x3`, `plane.rs`) put eight outputs of one
//! channel's row in a vector. On the small planes of a MobileNet's late layers (6 × 6,
//! 3 × 3) that is one or two vectors a row and mostly set-up per channel, and on wide
//! planes the per-row copies and slicing still cost several times the nine multiply-adds:
//! mlperf-vww spent 45 % of its host time in depthwise layers, at 3–9 GMAC/s. Here a
//! vector holds one position of eight channels instead (the NCHWc layout ONNX Runtime
//! runs these models in), so every tap of every output is one fused multiply-add whatever
//! the plane, and stride, dilation and padding only change which positions are read.
//!
//! The model's tensors stay NCHW. For each block of eight channels and each band of
//! output rows, the input rows the band reads are copied into scratch, padded and
//! transposed (8 × 8 at a time) so that padded position `(r, q)` holds the block's eight
//! channels at `(r · pitch + q) · 8`. Eight consecutive outputs of the band (row-major,
//! across row ends) then take `k_h · k_w` vector multiply-adds each from the bias, and an
//! [`Epilogue`] finishes them and transposes them back into eight channels' runs of eight
//! outputs, which are contiguous in the NCHW output. A last block of fewer than eight
//! channels reads zeros in its idle lanes and stores only its own.
//!
//! Two kernels share this ([`run`]):
//! - the float one ([`depthwise`]): `f32` positions padded with zeros, the bias in the
//!   sums and the activation before the store;
//! - the quantized one (`qconv::qconv2d_depthwise`): the 8-bit input as it is, a quarter
//!   of the scratch, padded with the input's zero point, each position widened to `f32`
//!   as it is read. Its sums are exact: a product of an 8-bit value and a difference of
//!   two is below 2^16 in magnitude, and [`MAX_TAPS`] of them below 2^23, where every
//!   integer is an `f32`. Its epilogue adds the `i32` bias and requantizes.
//!
//! The kernel is written once for `L` lanes (`gemm::simd::Vector<L>`). With AVX-512 the
//! float kernel takes sixteen channels a vector, with 16 × 16 transposes, where cutting
//! the rows into steps of sixteen outputs and the channels into blocks of sixteen idles
//! no more lanes than eight do ([`sixteen_pays`]); the quantized kernel keeps eight.
//!
//! Scratch is one band: [`scratch_len`] floats or [`scratch_bytes`] bytes, at most about
//! [`BUDGET`] positions of eight channels, or half as many of sixteen (one band of a
//! single output row when even that is wider), the same on every target.

use super::Conv2d;

/// Channels in one vector (the lanes of `gemm::simd::F32x8`).
pub(crate) const LANES: usize = 8;

/// The positions a band may take: 32 KiB of floats, 8 KiB of bytes, so that a band stays
/// in a core's L1 cache and an 8-bit model's arena grows little.
const BUDGET: usize = 1024;

/// How a geometry is cut into bands, and where a band's inputs live in scratch.
///
/// A band's padded input rows are stored by phase, as the framed GEMM stores them: padded
/// row `r` of the band in phase `r mod stride_h`, at row `r / stride_h` of that phase. Each
/// output row then reads its kernel row `kh` from one phase at a row that advances by one
/// per output row, so consecutive output rows are `pitch` positions apart in every phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bands {
    /// Positions per scratch row: what the widest output row reads, rounded up to a
    /// multiple of `stride_w`.
    pitch: usize,
    /// Output rows per band.
    rows: usize,
    /// Scratch rows per phase: `⌈reach / stride_h⌉` for a full band.
    phase_rows: usize,
    /// Positions of scratch: the phases, then slack that the idle lanes of the last
    /// vector of outputs may read.
    positions: usize,
}

/// The positions one kernel row of `lanes` outputs reads for the written-out widths,
/// rounded up to a multiple of eight (`7 · 2 + 5 = 19` at most for eight outputs).
const fn run_len(lanes: usize) -> usize {
    (2 * lanes + 3).div_ceil(8) * 8
}

/// [`run_len`] of eight outputs (the vector kernels' run; targets without them read none).
#[cfg(any(test, target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) const RUN: usize = run_len(LANES);

/// Channels in one vector of the AVX-512 float kernel (its band is planned on every
/// target, see [`scratch_len`]).
const WIDE_LANES: usize = 2 * LANES;

/// The padded input rows `rows` output rows read.
const fn reach(p: &Conv2d, rows: usize) -> usize {
    (rows - 1) * p.stride_h + (p.k_h - 1) * p.dil_h + 1
}

/// The bands for `p` on vectors of `lanes` channels, in at most about [`BUDGET`]
/// positions of eight channels' floats (half as many positions of sixteen), or `None`
/// when there is nothing to compute.
const fn bands_of(p: &Conv2d, lanes: usize) -> Option<Bands> {
    let budget = BUDGET * LANES / lanes;
    if !super::has_window(p) {
        return None;
    }
    let needed = (p.w_out - 1) * p.stride_w + (p.k_w - 1) * p.dil_w + 1;
    let pitch = needed.div_ceil(p.stride_w) * p.stride_w;
    // The last vector's idle lanes read up to `LANES · stride_w` positions past the
    // phases, and a kernel row's run is read as `RUN` positions.
    let slack = lanes * p.stride_w + run_len(lanes);
    // Scratch rows that fit the budget; a band of `rows` takes at most
    // `reach(rows) + stride_h − 1` of them.
    let fitting = budget.saturating_sub(slack) / pitch;
    let one = reach(p, 1) + p.stride_h - 1;
    let mut rows = if fitting > one {
        (fitting - one) / p.stride_h + 1
    } else {
        1
    };
    if rows > p.h_out {
        rows = p.h_out;
    }
    let phase_rows = reach(p, rows).div_ceil(p.stride_h);
    Some(Bands {
        pitch,
        rows,
        phase_rows,
        positions: p.stride_h * phase_rows * pitch + slack,
    })
}

/// The taps a kernel may have for its offsets to live in a stack array (11 × 11).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const MAX_TAPS: usize = 121;

/// Whether [`depthwise`] computes `p` in `scratch` floats: enough of them, and at most
/// 121 taps. A constant at a generated call site, so a model links no other kernel for
/// the layer.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(super) const fn runs(p: &Conv2d, scratch: usize) -> bool {
    scratch >= scratch_len(p) && p.k_h * p.k_w <= MAX_TAPS
}

/// The scratch (floats) [`depthwise`] needs for `p`: one a channel and position, of a
/// band of eight channels or, for the AVX-512 kernel, of sixteen in half the positions
/// (the same on every target, as every plan is; a small plane's band takes more of
/// sixteen, for the slack the last vector and run may read).
pub(super) const fn scratch_len(p: &Conv2d) -> usize {
    let eight = band_lanes(p);
    let sixteen = if sixteen_pays(p) {
        band_floats(p, WIDE_LANES)
    } else {
        0
    };
    if sixteen > eight {
        sixteen
    } else {
        eight
    }
}

/// The scratch (bytes) the quantized kernel needs for `p`: one a channel and position.
pub(crate) const fn scratch_bytes(p: &Conv2d) -> usize {
    band_lanes(p)
}

/// Whether sixteen channels a vector pay on `p` (the AVX-512 float kernel takes them
/// there, and the plan makes room for their band on every target): where cutting its
/// rows into steps of sixteen outputs, and its channels into blocks of sixteen, computes
/// no more idle lanes than steps and blocks of eight. Alone on an Intel host with
/// AVX-512, 3 × 3 layers at 14 × 14, 12 × 12 and 28 × 28 ran 16–20 %, 16–20 % and 7 %
/// faster on sixteen; at 24 × 24 (a step of sixteen, then one of eight outputs in sixteen
/// lanes) 17 % slower, and on rows of 7 or fewer outputs up to 60 % slower (a 16 × 16
/// transpose for each step of a few outputs).
const fn sixteen_pays(p: &Conv2d) -> bool {
    const fn no_more_idle(n: usize) -> bool {
        n.div_ceil(WIDE_LANES) * WIDE_LANES <= n.div_ceil(LANES) * LANES
    }
    (no_more_idle(p.w_out) || narrow_rows(p)) && no_more_idle(p.c_in)
}

/// Whether the AVX-512 float kernel takes `p`'s rows whole (`Block::rows`): 3 × 3
/// kernels at stride 1 or 2 on rows of 3, 5, 6 or 7 outputs, several a step, and of 12 or
/// 14, one a step. Alone, a row of 14 a step ran mobilenet_v2's 14 × 14 layers 18 %
/// faster than steps of sixteen (whose last two lanes computed the next row's first
/// outputs again), and 12 × 12 with 64 channels 4.0 → 3.3 µs.
const fn narrow_rows(p: &Conv2d) -> bool {
    matches!(p.w_out, 3 | 5 | 6 | 7 | 12 | 14)
        && p.k_w == 3
        && p.stride_h == p.stride_w
        && (p.stride_w == 1 || p.stride_w == 2)
        && p.dil_w == 1
}

/// A band's positions times [`LANES`].
const fn band_lanes(p: &Conv2d) -> usize {
    band_floats(p, LANES)
}

/// The floats of a band of `lanes` channels: its positions times `lanes`.
const fn band_floats(p: &Conv2d, lanes: usize) -> usize {
    match bands_of(p, lanes) {
        Some(b) => b.positions * lanes,
        None => 0,
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(super) use kernel::depthwise;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) use kernel::{run, Epilogue, Lane};

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod kernel {
    use super::{bands_of, Bands, LANES, MAX_TAPS, RUN};
    use crate::activation::Fixed;
    use crate::conv::Conv2d;
    use crate::gemm::simd::{F32x8, Vector};
    use crate::qlinear::QInt;
    use crate::unroll::unroll;
    use crate::Activation;

    /// What a scratch position holds: one input position of `L` channels (eight, or
    /// sixteen in the AVX-512 float kernel).
    pub(crate) trait Lane<const L: usize>: bytemuck::Pod {
        /// The `L` channels as `f32` lanes.
        fn vector<V: Vector<L>>(position: &[Self; L]) -> V;

        /// Positions `at..at + L` of `L` planes, position-major: element `l` of
        /// position `j` is `planes[l][at + j]` (zero where a plane is too short).
        fn positions<V: Vector<L>>(planes: &[&[Self]; L], at: usize) -> [[Self; L]; L];
    }

    impl<const L: usize> Lane<L> for f32 {
        #[inline(always)]
        fn vector<V: Vector<L>>(position: &[f32; L]) -> V {
            V::from_array(*position)
        }

        #[inline(always)]
        fn positions<V: Vector<L>>(planes: &[&[f32]; L], at: usize) -> [[f32; L]; L] {
            let mut vectors = [V::splat(0.0); L];
            unroll!(L, |l| vectors[l] = V::load_at(planes[l], at));
            let vectors = V::transpose(vectors);
            let mut positions = [[0.0; L]; L];
            unroll!(L, |j| positions[j] = vectors[j].to_array());
            positions
        }
    }

    /// The 8-bit lanes: widened to `i32`, then converted (`vpmovzxbd`/`vpmovsxbd` and
    /// `vcvtdq2ps` on x86-64).
    impl<T: QInt> Lane<LANES> for T {
        #[inline(always)]
        fn vector<V: Vector<LANES>>(position: &[T; LANES]) -> V {
            let mut lanes = [0.0f32; LANES];
            unroll!(LANES, |l| lanes[l] = position[l].to_i32() as f32);
            V::from_array(lanes)
        }

        #[inline(always)]
        fn positions<V: Vector<LANES>>(planes: &[&[T]; LANES], at: usize) -> [[T; LANES]; LANES] {
            let mut rows = [0u64; LANES];
            unroll!(LANES, |l| {
                let bytes: &[u8] = bytemuck::cast_slice(planes[l]);
                if let Some(run) = bytes.get(at..).and_then(<[u8]>::first_chunk::<LANES>) {
                    rows[l] = u64::from_le_bytes(*run);
                }
            });
            let mut positions = [[T::zeroed(); LANES]; LANES];
            if let Ok(out) = bytemuck::try_cast_slice_mut::<[T; LANES], u8>(&mut positions) {
                out.copy_from_slice(&transpose_bytes(rows));
            }
            positions
        }
    }

    /// The 8 × 8 byte transpose: byte `8 · j + l` of the result is byte `j` of `rows[l]`
    /// (little-endian). With SSE2, twelve unpacks.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn transpose_bytes(rows: [u64; LANES]) -> [u8; 64] {
        use safe_arch::{
            m128i, unpack_high_i16_m128i, unpack_high_i32_m128i, unpack_low_i16_m128i,
            unpack_low_i32_m128i, unpack_low_i8_m128i,
        };
        let row = |l: usize| m128i::from([rows[l], 0]);
        // Pairs of rows interleaved by byte, then by 16 bits: four rows' bytes of
        // positions 0–3 and 4–7; then by 32 bits: whole positions, two to a register.
        let (a01, a23) = (
            unpack_low_i8_m128i(row(0), row(1)),
            unpack_low_i8_m128i(row(2), row(3)),
        );
        let (a45, a67) = (
            unpack_low_i8_m128i(row(4), row(5)),
            unpack_low_i8_m128i(row(6), row(7)),
        );
        let (b0, b1) = (
            unpack_low_i16_m128i(a01, a23),
            unpack_high_i16_m128i(a01, a23),
        );
        let (c0, c1) = (
            unpack_low_i16_m128i(a45, a67),
            unpack_high_i16_m128i(a45, a67),
        );
        let quarters = [
            unpack_low_i32_m128i(b0, c0),
            unpack_high_i32_m128i(b0, c0),
            unpack_low_i32_m128i(b1, c1),
            unpack_high_i32_m128i(b1, c1),
        ];
        let mut out = [0u8; 64];
        unroll!(4, |i| out[16 * i..16 * i + 16]
            .copy_from_slice(&<[u8; 16]>::from(quarters[i])));
        out
    }

    /// [`transpose_bytes`] byte by byte.
    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn transpose_bytes(rows: [u64; LANES]) -> [u8; 64] {
        let mut out = [0u8; 64];
        unroll!(LANES, |j| unroll!(LANES, |l| out[LANES * j + l] =
            (rows[l] >> (8 * j)) as u8));
        out
    }

    /// What becomes of `L` consecutive outputs of a block's channels.
    pub(crate) trait Epilogue<V: Vector<L>, const L: usize> {
        /// The output element.
        type Out;

        /// Finishes the outputs `first_out..first_out + len` of the block's first `n`
        /// channels from their sums (`sums[j]` holds output `first_out + j` of the `L`
        /// channels) and stores them in `y`, which holds the block's planes `out_plane`
        /// apart.
        fn store(
            &self,
            sums: [V; L],
            n: usize,
            y: &mut [Self::Out],
            out_plane: usize,
            first_out: usize,
            len: usize,
        );

        /// Finishes a run of stored outputs that [`Self::store`] left for a pass of its
        /// own (a logistic activation): nothing by default.
        #[inline(always)]
        fn finish(&self, _y: &mut [Self::Out]) {}
    }

    /// The float kernel's epilogue: the activation, of kind `K` ([`Fixed`]), then the
    /// outputs. A logistic activation (Sigmoid, Swish) goes with `K` the identity: it runs
    /// in [`Epilogue::finish`] over the stored outputs, as in `conv::width` (on the sums
    /// in registers its polynomial and division spilled the block's accumulators).
    struct Activated<const K: u8>(Activation);

    impl<V: Vector<L>, const L: usize, const K: u8> Epilogue<V, L> for Activated<K> {
        type Out = f32;

        #[inline(always)]
        fn store(
            &self,
            mut sums: [V; L],
            n: usize,
            y: &mut [f32],
            out_plane: usize,
            first_out: usize,
            len: usize,
        ) {
            sums = V::activate_as::<K, L>(sums, self.0);
            let planes = V::transpose(sums);
            unroll!(L, |l| if l < n {
                let out = l * out_plane + first_out;
                if len == L {
                    planes[l].store_at(y, out);
                } else if let Some(run) = y.get_mut(out..out + len) {
                    // Lane by lane, written out: a copy of `len` floats is a call
                    // to `memcpy`, around which every vector register in use is
                    // spilled and reloaded.
                    let lanes = planes[l].to_array();
                    unroll!(L, |j| if j < len {
                        run[j] = lanes[j];
                    });
                }
            });
        }

        #[inline(always)]
        fn finish(&self, y: &mut [f32]) {
            crate::elementwise::logistic_run(self.0, y);
        }
    }

    /// The convolution of a depthwise geometry (`groups == c_in == c_out`) with operands
    /// cut to `p`, where [`super::runs`]; elsewhere it computes nothing and returns
    /// `false`.
    pub(in crate::conv) fn depthwise(
        p: &Conv2d,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        act: Activation,
        scratch: &mut [f32],
        y: &mut [f32],
    ) -> bool {
        let args = (x, w, bias, act);
        // With AVX-512, sixteen channels a vector where they pay and their band fits the
        // scratch: half
        // the vectors of eight, each one instruction (multiply-adds, loads, stores), and
        // transposes of 16 × 16 that move a value in fewer shuffles than 8 × 8 ones.
        #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
        {
            use super::{run_len, WIDE_LANES};
            use crate::gemm::simd::F32x16;
            const WIDE_RUN: usize = run_len(WIDE_LANES);
            if super::sixteen_pays(p)
                && floats::<F32x16, WIDE_LANES, WIDE_RUN>(p, args, &mut *scratch, &mut *y)
            {
                return true;
            }
        }
        floats::<F32x8, LANES, RUN>(p, args, scratch, y)
    }

    /// [`depthwise`] on vectors of `L` channels, built for each kind of activation
    /// ([`Fixed`]; the logistic ones share one build).
    #[inline(always)]
    fn floats<V: Vector<L>, const L: usize, const R: usize>(
        p: &Conv2d,
        args: (&[f32], &[f32], Option<&[f32]>, Activation),
        scratch: &mut [f32],
        y: &mut [f32],
    ) -> bool {
        const IDENTITY: u8 = Fixed::IDENTITY;
        const RELU: u8 = Fixed::RELU;
        const CLIP: u8 = Fixed::CLIP;
        match args.3.fixed().0 {
            IDENTITY => floats_as::<V, L, R, IDENTITY>(p, args, scratch, y),
            RELU => floats_as::<V, L, R, RELU>(p, args, scratch, y),
            CLIP => floats_as::<V, L, R, CLIP>(p, args, scratch, y),
            // A logistic activation: stored as is, then `Activated::finish`.
            _ => floats_as::<V, L, R, IDENTITY>(p, args, scratch, y),
        }
    }

    /// [`floats`] for activations of kind `K`.
    #[cfg_attr(debug_assertions, inline(never))]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn floats_as<V: Vector<L>, const L: usize, const R: usize, const K: u8>(
        p: &Conv2d,
        (x, w, bias, act): (&[f32], &[f32], Option<&[f32]>, Activation),
        scratch: &mut [f32],
        y: &mut [f32],
    ) -> bool {
        let taps = p.k_h * p.k_w;
        run::<f32, Activated<K>, V, _, L, R>(p, x, 0.0, scratch, y, |first, n, weights| {
            // The block's kernels, tap-major: lane `l` of `weights[t]` is tap `t` of
            // channel `first + l` (zero in idle lanes).
            // A whole block whose last channel's kernel is followed by enough weights
            // for one more vector: each `L` taps are one transpose of `L` loads, row `l`
            // being channel `first + l`'s kernel and what follows it (lanes past
            // `taps` unused). Built lane by lane, the weights had taken about a fifth of
            // a 128-channel layer at 6 × 6 (`perf`), a masked broadcast per lane.
            let rows = w.get(first * taps..).unwrap_or(&[]);
            let chunks = taps.div_ceil(L);
            if n == L && rows.len() >= (L - 1) * taps + chunks * L {
                for q in 0..chunks {
                    let mut vectors = [V::splat(0.0); L];
                    unroll!(L, |l| vectors[l] = V::load_at(rows, l * taps + q * L));
                    let by_tap = V::transpose(vectors);
                    // Written-out loops here and below rather than closures, `map`s and
                    // iterator adapters, which stay calls when built for size.
                    #[allow(clippy::needless_range_loop)] // An index loop, for "z".
                    for j in 0..L.min(taps - q * L) {
                        if let Some(weight) = weights.get_mut(q * L + j) {
                            *weight = by_tap[j];
                        }
                    }
                }
            } else {
                let kernels = w.get(first * taps..(first + n) * taps).unwrap_or(&[]);
                #[allow(clippy::needless_range_loop)] // An index loop, for "z".
                for t in 0..taps.min(weights.len()) {
                    let mut lanes = [0.0f32; L];
                    unroll!(L, |l| lanes[l] =
                        kernels.get(l * taps + t).copied().unwrap_or(0.0));
                    weights[t] = V::from_array(lanes);
                }
            }
            let mut lanes = [0.0f32; L];
            if let Some(bias) = bias {
                unroll!(L, |l| if l < n {
                    lanes[l] = bias.get(first + l).copied().unwrap_or(0.0);
                });
            }
            (V::from_array(lanes), Activated::<K>(act))
        })
    }

    /// The channel-vector depthwise convolution of `x` (NCHW, cut to `p`) into `y`, with
    /// `pad` in the padding, on vectors of `L` channels (`R` is [`super::run_len`]`(L)`,
    /// the band's budget of positions shrinks as `L` grows). For each block of up to `L`
    /// channels (`first`, `n`),
    /// `block` writes the taps into its third argument (lane `l` of vector `t` is tap `t`
    /// of channel `first + l`, zero in idle lanes) and returns the sums' start and the
    /// epilogue. Returns `false` and computes nothing when `scratch` is shorter than the
    /// band or the kernel has more than [`MAX_TAPS`] taps.
    #[inline(always)]
    pub(crate) fn run<T, E, V, B, const L: usize, const R: usize>(
        p: &Conv2d,
        x: &[T],
        pad: T,
        scratch: &mut [T],
        y: &mut [E::Out],
        mut block: B,
    ) -> bool
    where
        T: Lane<L>,
        E: Epilogue<V, L>,
        V: Vector<L>,
        B: FnMut(usize, usize, &mut [V]) -> (V, E),
    {
        const { assert!(R == super::run_len(L)) };
        let Some(b) = bands_of(p, L) else {
            return true;
        };
        let taps = p.k_h * p.k_w;
        let Some(scratch) = scratch.get_mut(..b.positions * L) else {
            return false;
        };
        if taps > MAX_TAPS {
            return false;
        }
        // Where each tap reads, in positions from its output's corner (the output's
        // first input in phase 0).
        let mut offsets = [0usize; MAX_TAPS];
        for (t, offset) in offsets[..taps].iter_mut().enumerate() {
            let (kh, kw) = (t / p.k_w, t % p.k_w);
            *offset = row_offset(p, b, kh) + kw * p.dil_w;
        }
        let offsets = &offsets[..taps];
        let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
        let mut weights = [V::splat(0.0); MAX_TAPS];
        let mut padded = false;
        for image in 0..p.batch {
            let mut first = 0;
            while first < p.c_in {
                let n = (p.c_in - first).min(L);
                let mut planes: [&[T]; L] = [&[]; L];
                unroll!(L, |l| if l < n {
                    let c = image * p.c_in + first + l;
                    // A plane smaller than a vector runs on into the next ones' positions
                    // where `x` has them, so that `fill_band` loads it whole.
                    let end = (c * in_plane + in_plane.max(L)).min(x.len());
                    planes[l] = x.get(c * in_plane..end).unwrap_or(&[]);
                });
                let (start, epilogue) = block(first, n, &mut weights[..taps]);
                let block = Block {
                    p,
                    bands: b,
                    offsets,
                    weights: &weights[..taps],
                    start,
                    epilogue,
                };
                let y_first = (image * p.c_in + first) * out_plane;
                let Some(y_block) = y.get_mut(y_first..y_first + n * out_plane) else {
                    return true;
                };
                let mut top = 0;
                while top < p.h_out {
                    let rows = b.rows.min(p.h_out - top);
                    // One band holds the whole plane: its padding stays from the first
                    // block on.
                    let padding = !(b.rows >= p.h_out && padded);
                    fill_band::<T, V, L>(p, b, &planes, pad, top, rows, scratch, padding);
                    padded = true;
                    let Ok(positions) = bytemuck::try_cast_slice::<T, [T; L]>(scratch) else {
                        return true;
                    };
                    // The strides and kernel widths of MobileNets and DS-CNNs with their
                    // taps written out; any other geometry through the tap list.
                    let square = p.stride_h == p.stride_w && p.dil_w == 1;
                    // Rows of 5 and 7 (DS-CNN, mobilenet_v2's last stage) take steps of
                    // their width.
                    let args = (positions, top, rows, n, &mut *y_block);
                    match (square, p.stride_w, p.k_w, p.w_out) {
                        // Rows of 3 to 7 with sixteen channels a vector: as many whole
                        // rows a step as sixteen outputs hold; rows of 12 and 14 one a
                        // step, computing no lane past the row ([`narrow_rows`]).
                        (true, 1, 3, 3) if L == 16 => block.rows::<T, 1, 3, 5, R>(args),
                        (true, 1, 3, 5) if L == 16 => block.rows::<T, 1, 5, 3, R>(args),
                        (true, 1, 3, 6) if L == 16 => block.rows::<T, 1, 6, 2, R>(args),
                        (true, 1, 3, 7) if L == 16 => block.rows::<T, 1, 7, 2, R>(args),
                        (true, 2, 3, 3) if L == 16 => block.rows::<T, 2, 3, 5, R>(args),
                        (true, 2, 3, 5) if L == 16 => block.rows::<T, 2, 5, 3, R>(args),
                        (true, 2, 3, 6) if L == 16 => block.rows::<T, 2, 6, 2, R>(args),
                        (true, 2, 3, 7) if L == 16 => block.rows::<T, 2, 7, 2, R>(args),
                        (true, 1, 3, 12) if L == 16 => block.rows::<T, 1, 12, 1, R>(args),
                        (true, 1, 3, 14) if L == 16 => block.rows::<T, 1, 14, 1, R>(args),
                        (true, 2, 3, 12) if L == 16 => block.rows::<T, 2, 12, 1, R>(args),
                        (true, 2, 3, 14) if L == 16 => block.rows::<T, 2, 14, 1, R>(args),
                        (true, 1, 3, 5) => block.band::<T, 1, 3, 5, R>(args),
                        (true, 1, 3, 7) => block.band::<T, 1, 3, 7, R>(args),
                        (true, 2, 3, 5) => block.band::<T, 2, 3, 5, R>(args),
                        (true, 2, 3, 7) => block.band::<T, 2, 3, 7, R>(args),
                        (true, 1, 3, _) => block.band::<T, 1, 3, L, R>(args),
                        (true, 1, 5, _) => block.band::<T, 1, 5, L, R>(args),
                        (true, 2, 3, _) => block.band::<T, 2, 3, L, R>(args),
                        (true, 2, 5, _) => block.band::<T, 2, 5, L, R>(args),
                        _ => block.band_by_taps(positions, top, rows, n, y_block),
                    }
                    top += rows;
                }
                // The block's planes at once, in L1 or L2 (runs of a band's rows per
                // plane, as short as 28 floats, cost a 5 × 5 stride-2 layer at 28²
                // more than its convolution).
                block.epilogue.finish(y_block);
                first += L;
            }
        }
        true
    }

    /// Where kernel row `kh` of an output starts, in positions from the output's corner:
    /// its phase's first row, then as many rows as the phase has advanced.
    #[inline(always)]
    fn row_offset(p: &Conv2d, b: Bands, kh: usize) -> usize {
        scratch_row(p, b, kh * p.dil_h) * b.pitch
    }

    /// [`Block::band`]'s band: the scratch's positions, the first output row and the rows,
    /// the block's channels and their output planes.
    type BandArgs<'a, T, O, const L: usize> = (&'a [[T; L]], usize, usize, usize, &'a mut [O]);

    /// One block of channels' constants.
    struct Block<'a, E, V, const L: usize> {
        p: &'a Conv2d,
        bands: Bands,
        offsets: &'a [usize],
        weights: &'a [V],
        /// What each sum starts from.
        start: V,
        epilogue: E,
    }

    impl<E: Epilogue<V, L>, V: Vector<L>, const L: usize> Block<'_, E, V, L> {
        /// Kernel row `kh`'s `KW` weights and where its first tap reads, in positions
        /// from an output's corner.
        #[inline(always)]
        fn kernel_row<const KW: usize>(&self, kh: usize) -> Option<(&[V; KW], usize)> {
            let weights = self.weights.get(kh * KW..)?.first_chunk::<KW>()?;
            Some((weights, *self.offsets.get(kh * KW)?))
        }

        /// Output rows `top..top + rows` of the block's `n` channels (`y` holds their
        /// planes) for `stride_h == stride_w == S`, dilation 1 along rows and a kernel
        /// `KW` wide.
        ///
        /// Output `(oh, ow)` of the band has its corner at `oh · pitch + ow · S`, so `L`
        /// consecutive outputs of a row read, for each kernel row, one run of
        /// `(L − 1) · S + KW` positions (`R` read), checked once, with every tap at a constant offset in it. A row's
        /// last vector may run past `w_out`: its extra lanes read the scratch row's
        /// padding or the next row (slack at the end) and are stored over the next row's
        /// first outputs, which that row's own vectors write afterwards; only at the end
        /// of the plane are they left out.
        ///
        /// A step takes `J` consecutive outputs (`L`, or the row's width where a row is
        /// narrower, so that no multiply-add goes to an output past the row: mlperf-kws's
        /// 5-wide rows spent three eighths of them there).
        // Inlined where optimised; a debug build gives every inlined copy its own stack
        // slots, and eight widths of sixteen-lane tiles in one frame overflowed a test
        // thread's stack.
        #[cfg_attr(debug_assertions, inline(never))]
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn band<T: Lane<L>, const S: usize, const KW: usize, const J: usize, const R: usize>(
            &self,
            (positions, top, rows, n, y): BandArgs<'_, T, E::Out, L>,
        ) {
            let (p, b) = (self.p, self.bands);
            let out_plane = p.h_out * p.w_out;
            for row in 0..rows {
                let mut column = 0;
                while column < p.w_out {
                    let corner = row * b.pitch + column * S;
                    let mut sums = [self.start; L];
                    for kh in 0..p.k_h {
                        let Some((weights, offset)) = self.kernel_row::<KW>(kh) else {
                            break;
                        };
                        let start = corner + offset;
                        let Some(run) = positions
                            .get(start..)
                            .and_then(<[[T; L]]>::first_chunk::<R>)
                        else {
                            break;
                        };
                        unroll!(L, |j| if j < J {
                            unroll!(KW, |kw| sums[j] =
                                T::vector::<V>(&run[S * j + kw]).mul_add(weights[kw], sums[j]))
                        });
                    }
                    let first_out = (top + row) * p.w_out + column;
                    let count = (p.w_out - column).min(J);
                    let whole = count == L || first_out + L <= out_plane;
                    let len = if whole { L } else { count };
                    self.epilogue.store(sums, n, y, out_plane, first_out, len);
                    column += J;
                }
            }
        }

        /// [`Self::band`] for a 3 × 3 kernel on rows of `W` outputs: `RP` whole rows a
        /// step (`RP · W ≤ L` outputs, consecutive in each output plane), so that one
        /// 16 × 16 transpose serves two to five short rows, and a step of a row of 12 or
        /// 14 computes no lane past it.
        #[cfg_attr(debug_assertions, inline(never))]
        #[cfg_attr(not(debug_assertions), inline(always))]
        fn rows<T: Lane<L>, const S: usize, const W: usize, const RP: usize, const R: usize>(
            &self,
            (positions, top, rows, n, y): BandArgs<'_, T, E::Out, L>,
        ) {
            // Instantiated for eight lanes too, where the match never calls it.
            if RP * W > L || S * (W - 1) + 3 > R {
                return;
            }
            let (p, b) = (self.p, self.bands);
            let out_plane = p.h_out * p.w_out;
            let mut row = 0;
            while row < rows {
                let here = (rows - row).min(RP);
                let mut sums = [self.start; L];
                for kh in 0..p.k_h {
                    let Some((weights, offset)) = self.kernel_row::<3>(kh) else {
                        break;
                    };
                    unroll!(RP, |i| if i < here {
                        let start = (row + i) * b.pitch + offset;
                        if let Some(run) = positions
                            .get(start..)
                            .and_then(<[[T; L]]>::first_chunk::<R>)
                        {
                            // The three taps written out: a third level of
                            // `unroll!` gives a debug build 4,096 copies, each with its
                            // own stack slots.
                            unroll!(W, |j| {
                                let mut sum = sums[i * W + j];
                                sum = T::vector::<V>(&run[S * j]).mul_add(weights[0], sum);
                                sum = T::vector::<V>(&run[S * j + 1]).mul_add(weights[1], sum);
                                sum = T::vector::<V>(&run[S * j + 2]).mul_add(weights[2], sum);
                                sums[i * W + j] = sum;
                            });
                        }
                    });
                }
                // The lanes past the step's rows are stored over the plane's next rows,
                // which later steps write; only at the end of the plane are they left out.
                let first_out = (top + row) * W;
                let len = if first_out + L <= out_plane {
                    L
                } else {
                    here * W
                };
                self.epilogue.store(sums, n, y, out_plane, first_out, len);
                row += here;
            }
        }

        /// [`Self::band`] for any geometry: `L` consecutive outputs of the band
        /// (row-major, across row ends), each tap from the tap list.
        #[inline(never)]
        fn band_by_taps<T: Lane<L>>(
            &self,
            positions: &[[T; L]],
            top: usize,
            rows: usize,
            n: usize,
            y: &mut [E::Out],
        ) {
            let p = self.p;
            let out_plane = p.h_out * p.w_out;
            let (start, end) = (top * p.w_out, (top + rows) * p.w_out);
            // The next output's row within the band and column.
            let (mut row, mut column) = (0, 0);
            let mut at = start;
            while at < end {
                let count = (end - at).min(L);
                // Each output's corner; a partial vector repeats its last output in the
                // idle lanes.
                let mut corners = [0usize; L];
                for (j, corner) in corners.iter_mut().enumerate() {
                    *corner = row * self.bands.pitch + column * p.stride_w;
                    if j + 1 < count {
                        column += 1;
                        if column == p.w_out {
                            column = 0;
                            row += 1;
                        }
                    }
                }
                // Past the vector's last output.
                column += 1;
                if column == p.w_out {
                    column = 0;
                    row += 1;
                }
                let mut sums = [self.start; L];
                for (&offset, &weight) in self.offsets.iter().zip(self.weights) {
                    for (sum, &corner) in sums.iter_mut().zip(&corners) {
                        if let Some(position) = positions.get(corner + offset) {
                            *sum = T::vector::<V>(position).mul_add(weight, *sum);
                        }
                    }
                }
                self.epilogue.store(sums, n, y, out_plane, at, count);
                at += count;
            }
        }
    }

    /// The scratch row of the band's padded row `r`: its phase's rows, then its row in
    /// the phase.
    #[inline(always)]
    fn scratch_row(p: &Conv2d, b: Bands, r: usize) -> usize {
        // Without a division for the common strides: one costs more than a band row's
        // copy on a small plane.
        let (phase, row) = match p.stride_h {
            1 => (0, r),
            2 => (r & 1, r >> 1),
            s => (r % s, r / s),
        };
        phase * b.phase_rows + row
    }

    /// Stores one position's `L` channels at position `at` of `scratch`.
    #[inline(always)]
    fn put<T: bytemuck::Pod, const L: usize>(scratch: &mut [T], at: usize, position: [T; L]) {
        if let Some(slot) = scratch
            .get_mut(at * L..)
            .and_then(<[T]>::first_chunk_mut::<L>)
        {
            *slot = position;
        }
    }

    /// Copies the padded input rows that output rows `top..top + rows` read into
    /// `scratch` by phase, each position the `L` channels of `planes` (`pad` where the
    /// position is padding, zero where a plane is idle). Without `padding`, the padding
    /// positions are taken to hold `pad` already.
    // The written-out loop's last step advances a column no later step reads.
    #[allow(unused_assignments, clippy::too_many_arguments)]
    fn fill_band<T: Lane<L>, V: Vector<L>, const L: usize>(
        p: &Conv2d,
        b: Bands,
        planes: &[&[T]; L],
        pad: T,
        top: usize,
        rows: usize,
        scratch: &mut [T],
        padding: bool,
    ) {
        let row_lanes = b.pitch * L;
        let left = p.pad_left.min(b.pitch);
        // The input columns the band reads: those left of the padded row's end.
        let columns = p.w_in.min(b.pitch - left);
        let first_padded = top * p.stride_h;
        let reach = super::reach(p, rows);
        // Padding first: whole rows above and below the input, the columns either side.
        for r in 0..if padding { reach } else { 0 } {
            let start = scratch_row(p, b, r) * row_lanes;
            let Some(row) = scratch.get_mut(start..start + row_lanes) else {
                return;
            };
            let padded = first_padded + r;
            if padded < p.pad_top || padded - p.pad_top >= p.h_in {
                row.fill(pad);
            } else {
                row[..left * L].fill(pad);
                row[(left + columns) * L..].fill(pad);
            }
        }
        // The input rows the band reads.
        let first = first_padded.max(p.pad_top) - p.pad_top;
        let last = (first_padded + reach).saturating_sub(p.pad_top).min(p.h_in);
        if first >= last || columns == 0 {
            return;
        }
        // Where input row `i` starts in scratch, in positions.
        let row_start = |i: usize| scratch_row(p, b, i + p.pad_top - first_padded) * b.pitch + left;
        let (start, end) = (first * p.w_in, last * p.w_in);
        if columns == p.w_in
            && end - start < L
            && planes
                .iter()
                .all(|plane| plane.is_empty() || plane.len() >= start + L)
        {
            // The rows read, fewer positions than a vector, from one load of each plane
            // (which runs on into the next plane's positions, `depthwise`); the last
            // channels of the input, whose loads would run past it, go position by
            // position below. Position by position, a 3 × 3 plane had taken a sixth of
            // a 256-channel layer's time (`perf`).
            let positions = T::positions::<V>(planes, start);
            let (mut i, mut j) = (first, 0);
            let mut base = row_start(i);
            for position in positions.iter().take(end - start) {
                put(scratch, base + j, *position);
                j += 1;
                if j == p.w_in {
                    (i, j) = (i + 1, 0);
                    base = row_start(i);
                }
            }
            return;
        }
        if columns == p.w_in && p.w_in < L && (last - first) * p.w_in >= L {
            // Rows narrower than a vector: `L` consecutive inputs of the flattened rows at
            // a time, across row ends, the last `L` overlapping their predecessors.
            let mut at = start;
            // The row and column of `at`.
            let (mut i, mut j) = (first, 0);
            while at < end {
                let from = at.min(end - L);
                if from < at {
                    (i, j) = (from / p.w_in, from % p.w_in);
                }
                let positions = T::positions::<V>(planes, from);
                let mut base = row_start(i);
                unroll!(L, |q| {
                    put(scratch, base + j, positions[q]);
                    j += 1;
                    if j == p.w_in {
                        (i, j) = (i + 1, 0);
                        base = row_start(i);
                    }
                });
                at = from + L;
            }
            return;
        }
        for i in first..last {
            let input_row = i * p.w_in;
            let base = row_start(i);
            let mut column = 0;
            while column < columns {
                if columns < L {
                    // A row narrower than a vector, position by position.
                    let mut lanes = [T::zeroed(); L];
                    unroll!(L, |l| lanes[l] = planes[l]
                        .get(input_row + column)
                        .copied()
                        .unwrap_or(T::zeroed()));
                    put(scratch, base + column, lanes);
                    column += 1;
                    continue;
                }
                // `L` columns at a time, the last `L` overlapping their predecessors.
                let from = column.min(columns - L);
                let positions = T::positions::<V>(planes, input_row + from);
                unroll!(L, |j| put(scratch, base + from + j, positions[j]));
                column = from + L;
            }
        }
    }
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::conv::depthwise_geometry as geometry;
    use crate::Activation;

    /// The channel-vector kernel against the direct kernel on one geometry.
    fn check(p: Conv2d, act: Activation) {
        let x: Vec<f32> = (0..p.batch * p.c_in * p.h_in * p.w_in)
            .map(|i| ((i * 7919 % 113) as f32 - 56.0) / 17.0)
            .collect();
        let w: Vec<f32> = (0..p.c_out * p.k_h * p.k_w)
            .map(|i| ((i * 104_729 % 61) as f32 - 30.0) / 23.0)
            .collect();
        let bias: Vec<f32> = (0..p.c_out).map(|i| i as f32 * 0.25 - 1.0).collect();
        let out_len = p.batch * p.c_out * p.h_out * p.w_out;
        let mut expected = vec![0.0; out_len];
        crate::conv::conv2d_direct(&p, &x, &w, Some(&bias), act, &mut expected);
        // The whole scratch (sixteen channels a vector with AVX-512), and only a band of
        // eight channels' (the kernel of eight wherever sixteen would not fit).
        for scratch_floats in [scratch_len(&p), band_lanes(&p)] {
            let mut scratch = vec![f32::NAN; scratch_floats];
            let mut y = vec![f32::NAN; out_len];
            assert!(depthwise(
                &p,
                &x,
                &w,
                Some(&bias),
                act,
                &mut scratch,
                &mut y
            ));
            for (i, (&got, &want)) in y.iter().zip(&expected).enumerate() {
                // Both sum the taps from the bias in another order; atol/rtol 1e-5.
                assert!(
                    (got - want).abs() <= 1e-5 + 1e-5 * want.abs(),
                    "{p:?}, {scratch_floats} floats of scratch: output {i}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn matches_the_direct_kernel() {
        let relu6 = Activation::Clip { min: 0.0, max: 6.0 };
        let mut sixteen = 0;
        // MobileNet's shapes: stride 1 and 2, small and wide planes, whole blocks.
        for (p, act) in [
            (
                geometry(1, 16, (6, 6), (3, 3), 1, 1, (1, 1), (1, 1)),
                Activation::Relu,
            ),
            (
                geometry(1, 8, (48, 48), (3, 3), 1, 1, (1, 1), (1, 1)),
                relu6,
            ),
            (
                geometry(1, 16, (48, 48), (3, 3), 2, 1, (0, 0), (1, 1)),
                Activation::None,
            ),
            (
                geometry(1, 8, (7, 7), (3, 3), 2, 1, (1, 1), (1, 1)),
                Activation::Relu,
            ),
            // Rows 5 and 7 wide, at stride 1 and 2 (steps of the row's width), with a
            // partial block.
            (
                geometry(1, 13, (25, 5), (3, 3), 1, 1, (1, 1), (1, 1)),
                relu6,
            ),
            (
                geometry(1, 8, (7, 7), (3, 3), 1, 1, (1, 1), (1, 1)),
                Activation::None,
            ),
            (
                geometry(1, 8, (14, 14), (3, 3), 2, 1, (1, 1), (1, 1)),
                Activation::Relu,
            ),
            (
                geometry(2, 11, (9, 10), (3, 3), 2, 1, (1, 1), (1, 1)),
                Activation::None,
            ),
            // Geometries of sixteen channels a vector (with AVX-512; eight elsewhere):
            // 3 × 3 at stride 1 and 2, a partial block of 13 in a batch, 5 × 5 at stride
            // 1 and 2, dilation (the tap list).
            (
                geometry(1, 32, (12, 12), (3, 3), 1, 1, (1, 1), (1, 1)),
                Activation::Relu,
            ),
            (
                geometry(1, 16, (28, 28), (3, 3), 2, 1, (0, 0), (1, 1)),
                relu6,
            ),
            (
                geometry(2, 29, (14, 14), (3, 3), 1, 1, (1, 1), (1, 1)),
                Activation::None,
            ),
            (
                geometry(1, 16, (16, 16), (5, 5), 1, 1, (2, 2), (2, 2)),
                Activation::Relu,
            ),
            (
                geometry(1, 16, (33, 32), (5, 5), 2, 1, (2, 2), (2, 2)),
                Activation::None,
            ),
            (
                geometry(1, 16, (16, 16), (3, 3), 1, 2, (2, 2), (2, 2)),
                relu6,
            ),
            // Partial blocks, a batch, 5 × 5, dilation, uneven and one-sided padding.
            (
                geometry(2, 13, (9, 11), (3, 3), 1, 1, (1, 1), (1, 1)),
                Activation::None,
            ),
            (
                geometry(1, 5, (10, 9), (5, 5), 2, 1, (2, 2), (1, 2)),
                Activation::Relu,
            ),
            (
                geometry(1, 3, (12, 12), (3, 3), 1, 2, (2, 2), (2, 2)),
                Activation::None,
            ),
            (
                geometry(1, 9, (5, 8), (1, 3), 1, 1, (0, 1), (0, 0)),
                Activation::None,
            ),
            (
                geometry(1, 8, (3, 3), (3, 3), 1, 1, (0, 0), (0, 0)),
                Activation::None,
            ),
            // Bands: a plane wider than the budget's band and one needing several bands.
            (
                geometry(1, 8, (40, 300), (3, 3), 1, 1, (1, 1), (1, 1)),
                Activation::None,
            ),
            (
                geometry(1, 16, (112, 112), (3, 3), 1, 1, (1, 1), (1, 1)),
                relu6,
            ),
            (
                geometry(1, 4, (30, 30), (3, 3), 3, 1, (1, 0), (0, 2)),
                Activation::Relu,
            ),
            (
                geometry(1, 24, (56, 56), (3, 3), 2, 1, (0, 0), (1, 1)),
                relu6,
            ),
            (
                geometry(1, 8, (60, 60), (5, 5), 2, 2, (4, 4), (4, 4)),
                Activation::None,
            ),
            (
                geometry(1, 16, (25, 5), (3, 3), 1, 1, (1, 1), (1, 1)),
                Activation::Relu,
            ),
            (
                geometry(1, 8, (2, 2), (3, 3), 1, 1, (1, 1), (1, 1)),
                Activation::None,
            ),
            (
                geometry(1, 8, (1, 1), (3, 3), 2, 1, (1, 1), (1, 1)),
                Activation::None,
            ),
        ] {
            sixteen += usize::from(sixteen_pays(&p));
            check(p, act);
        }
        // The geometries written for sixteen channels a vector take them (with AVX-512).
        assert!(
            sixteen >= 6,
            "{sixteen} geometries of sixteen channels a vector"
        );
    }

    #[test]
    fn narrow_rows_several_a_step() {
        // Rows of 3, 5, 6 and 7 outputs, which the AVX-512 float kernel takes two to five
        // at a time, and of 12 and 14, one at a time (`Block::rows`): stride 1 and 2,
        // symmetric and one-sided padding, heights that end on a partial step, a partial
        // block of channels, a batch, and a plane tall enough for several bands.
        let relu6 = Activation::Clip { min: 0.0, max: 6.0 };
        let (mut narrow, mut runs) = (0, 0);
        for w_out in [3, 5, 6, 7, 12, 14] {
            for (stride, pads) in [(1, [1, 1, 1, 1]), (2, [1, 1, 1, 1]), (2, [0, 0, 1, 1])] {
                let [top, left, bottom, right] = pads;
                let w_in = (w_out - 1) * stride + 3 - left - right;
                for (batch, c, h_in) in [
                    (1, 16, 1),
                    (1, 16, 4),
                    (2, 29, 9),
                    (1, 32, 13),
                    (1, 16, 700),
                ] {
                    if h_in + top + bottom < 3 {
                        continue;
                    }
                    let p = geometry(
                        batch,
                        c,
                        (h_in, w_in),
                        (3, 3),
                        stride,
                        1,
                        (top, left),
                        (bottom, right),
                    );
                    assert_eq!(p.w_out, w_out);
                    narrow += usize::from(narrow_rows(&p) && sixteen_pays(&p));
                    runs += 1;
                    check(p, relu6);
                }
            }
        }
        assert_eq!(narrow, runs);
        assert!(runs >= 80, "{runs} geometries");
    }

    #[test]
    fn bands_end_on_whole_vectors_and_fit_the_budget() {
        let p = geometry(1, 8, (112, 112), (3, 3), 1, 1, (1, 1), (1, 1));
        let b = bands_of(&p, LANES).unwrap();
        assert!(b.rows < p.h_out, "{b:?}");
        assert!(scratch_len(&p) <= BUDGET * LANES, "{}", scratch_len(&p));
        // Sixteen channels a vector take half the positions: the same floats.
        let wide = bands_of(&p, WIDE_LANES).unwrap();
        assert!(wide.rows < b.rows && wide.positions * WIDE_LANES <= BUDGET * LANES);
        // A small plane in one band: 8 rows of 8 positions, a vector's slack and a run's.
        // Its rows of six outputs would idle in sixteen lanes: no room for them.
        let p = geometry(1, 8, (6, 6), (3, 3), 1, 1, (1, 1), (1, 1));
        assert_eq!(bands_of(&p, LANES).unwrap().rows, 6);
        assert!(!sixteen_pays(&p));
        assert_eq!(scratch_len(&p), (8 * 8 + 8 + RUN) * 8);
        // Rows of twelve outputs and 32 channels take sixteen: 14 rows of 14 positions,
        // and sixteen channels a vector read further past the plane.
        let p = geometry(1, 32, (12, 12), (3, 3), 1, 1, (1, 1), (1, 1));
        assert!(sixteen_pays(&p));
        assert_eq!(run_len(WIDE_LANES), 40);
        assert_eq!(scratch_len(&p), (14 * 14 + 16 + 40) * 16);
        assert!(!sixteen_pays(&geometry(
            1,
            32,
            (24, 24),
            (3, 3),
            1,
            1,
            (1, 1),
            (1, 1)
        )));
        assert!(!sixteen_pays(&geometry(
            1,
            8,
            (12, 12),
            (3, 3),
            1,
            1,
            (1, 1),
            (1, 1)
        )));
        // Stride 2: two phases of rows, positions rounded up to whole strides.
        let p = geometry(1, 8, (12, 12), (3, 3), 2, 1, (0, 0), (1, 1));
        let b = bands_of(&p, LANES).unwrap();
        assert_eq!((b.pitch, b.rows, b.phase_rows), (14, 6, 7), "{b:?}");
    }

    #[test]
    fn short_scratch_computes_nothing() {
        let p = geometry(1, 8, (6, 6), (3, 3), 1, 1, (1, 1), (1, 1));
        let (x, w) = (vec![1.0; 8 * 36], vec![1.0; 8 * 9]);
        let mut y = vec![-1.0; 8 * 36];
        let mut scratch = vec![0.0; band_lanes(&p) - 1];
        assert!(!depthwise(
            &p,
            &x,
            &w,
            None,
            Activation::None,
            &mut scratch,
            &mut y
        ));
        assert!(y.iter().all(|&v| v == -1.0));
    }
}
