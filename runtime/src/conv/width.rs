//! Depthwise 3 × 3 at stride 1 or 2 on wide planes with AVX-512: sixteen outputs of one
//! channel's row a vector, several rows at a time.
//!
//! The channel-vector kernel (`channels.rs`) puts sixteen channels of one position in a
//! vector, so the NCHW input is transposed into it and the outputs back, 16 × 16 at a
//! time: two transposes of 64 shuffles for every 144 multiply-adds at stride 1 (four
//! times the input's at stride 2), all on the port the multiply-adds share, and per-step
//! set-up besides. On MobileNet-v2's planes of 28 to 112 columns it ran at 9–22 GMAC/s
//! alone. Along a row instead, nothing is transposed or copied: each vector of sixteen
//! outputs takes its nine taps as loads of the three input rows it reads, the weights in
//! registers.
//! - At stride 1, tap `kw` of outputs `c0..c0 + 16` is the sixteen inputs from column
//!   `c0 + kw − pad_left`: three unaligned loads a row. Four output rows share the six
//!   input rows they read: eighteen loads for 36 multiply-adds.
//! - At stride 2, the taps are every other input: the even and odd lanes of two loads
//!   (a two-source permute each) and the even lanes of two more, one float on. Two
//!   output rows share the five input rows they read.
//!
//! The padding costs no branch in the loop. A padding row is a row of zeros in scratch.
//! The last vector of a row ends at the row's end, overlapping the one before when the
//! width is no multiple of sixteen. The loads of a row's first and last vectors reach
//! past the row's ends, into the rows before and after it; there the lanes whose column
//! is padding are set to zero (a bitwise and, so a non-finite neighbour is dropped too).
//!
//! A row of sixteen outputs or fewer is one vector, masked at both ends; its lanes past
//! the row are stored over the next rows (or the next channel's plane), which are written
//! after it, and only the end of the output is stored lane by lane.
//!
//! It takes the 3 × 3 at dilation 1 with at most one padding row and column either side,
//! one channel a group, on planes of at least [`min_width`] output columns; the
//! channel-vector kernel keeps the smaller planes. At stride 2 that channel-vector
//! kernel transposes four inputs for every output, so this kernel takes narrower planes
//! there (measured alone, 48 → 24 with 16 channels: 6.0 against 7.8 µs; 32 → 16 with 64:
//! 9.8 against 13.9; 28 → 14 with 192: 27.2 against 30.0), but at 3 to 12 output
//! columns, or 14 and 16 at stride 1, it ran 1.5 to 4.8 times slower. Its only scratch
//! is a zero row, far less than the channel-vector kernel's band, which the plan
//! reserves for the layer.

use super::Conv2d;
use crate::activation::Fixed;
use crate::gemm::simd::{F32x16, Vector};
use crate::unroll::unroll;
use crate::Activation;

/// Outputs in one vector.
const LANES: usize = 16;
/// The narrowest output plane this kernel takes at `stride`.
const fn min_width(stride: usize) -> usize {
    if stride == 2 {
        14
    } else {
        28
    }
}

/// Floats of the zero row in scratch: what the windows of a row's vectors read, a whole
/// vector's on a narrow row.
const fn zero_row(p: &Conv2d) -> usize {
    let width = if p.w_out > LANES { p.w_out } else { LANES };
    p.stride_w * width + 2
}

/// Whether this kernel takes `p` with `scratch` floats of scratch.
pub(super) const fn fits(p: &Conv2d, scratch: usize) -> bool {
    let stride = p.stride_h;
    p.w_out >= min_width(stride)
        && p.h_out >= 1
        && p.k_h == 3
        && p.k_w == 3
        && (stride == 1 || stride == 2)
        && p.stride_w == stride
        && p.dil_h == 1
        && p.dil_w == 1
        && p.pad_top <= 1
        && p.pad_left <= 1
        // At most one padding row below and column right: the last output's last tap.
        && (p.h_out - 1) * stride + 2 <= p.h_in + p.pad_top
        && (p.w_out - 1) * stride + 2 <= p.w_in + p.pad_left
        && p.groups == p.c_in
        && p.c_out == p.c_in
        && scratch >= zero_row(p)
}

/// One input row as the vectors of a row of outputs read it: where its first float sits
/// in `data` (the whole input, or the zero row).
#[derive(Clone, Copy)]
struct Row<'a> {
    data: &'a [f32],
    start: usize,
}

impl Row<'_> {
    /// Taps 0, 1 and 2 of the sixteen outputs from column `c0` at stride `S`: inputs
    /// from column `S · c0 − pad_left`, `pad_left` 0 or 1. The first input of all has
    /// nothing before it, nor the last after it; there the missing floats read as zero.
    #[inline(always)]
    fn taps<const S: usize, const W: usize>(self, c0: usize, pad_left: usize) -> [F32x16; 3] {
        let at = (self.start + S * c0).wrapping_sub(pad_left);
        match self.data.get(at..).and_then(<[f32]>::first_chunk::<W>) {
            Some(window) => taps_of::<S, W>(window),
            None => self.taps_at_the_ends::<S, W>(c0, pad_left),
        }
    }

    /// [`Self::taps`] where its window runs past either end of `data`.
    #[cold]
    #[inline(never)]
    fn taps_at_the_ends<const S: usize, const W: usize>(
        self,
        c0: usize,
        pad_left: usize,
    ) -> [F32x16; 3] {
        let mut window = [0.0f32; W];
        for (i, value) in window.iter_mut().enumerate() {
            if let Some(&x) = (self.start + S * c0 + i)
                .checked_sub(pad_left)
                .and_then(|at| self.data.get(at))
            {
                *value = x;
            }
        }
        taps_of::<S, W>(&window)
    }
}

/// The three taps of sixteen outputs from the `W = 16 · S + 2` inputs they read.
#[inline(always)]
fn taps_of<const S: usize, const W: usize>(window: &[f32; W]) -> [F32x16; 3] {
    const { assert!(W == S * LANES + 2 && (S == 1 || S == 2)) };
    let load = |at: usize| {
        let (_, from) = window.split_at(at);
        from.first_chunk::<LANES>()
            .map_or(F32x16::splat(0.0), F32x16::load)
    };
    if S == 1 {
        [load(0), load(1), load(2)]
    } else {
        let (lo, hi) = (load(0), load(LANES));
        let (lo2, hi2) = (load(2), load(LANES + 2));
        [
            F32x16::evens(lo, hi),
            F32x16::odds(lo, hi),
            F32x16::evens(lo2, hi2),
        ]
    }
}

/// The floats of the outputs a logistic activation runs over at once (16 KiB, in L1).
const LOGISTIC_RUN: usize = 4096;

/// The convolution, for a `p` that [`fits`] in `scratch`; `x`, `w`, `bias` and `y` cut
/// to it.
pub(super) fn depthwise(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    if p.stride_h == 2 {
        // Two output rows read five input rows.
        run::<2, { 2 * LANES + 2 }, 2, 5>(p, x, w, (bias, act), scratch, y);
    } else {
        // Four output rows read six.
        run::<1, { LANES + 2 }, 4, 6>(p, x, w, (bias, act), scratch, y);
    }
}

/// [`depthwise`] at stride `S`: `W` inputs a tap window, `R` output rows a tile, which
/// read `I` input rows.
#[inline(always)]
fn run<const S: usize, const W: usize, const R: usize, const I: usize>(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    (bias, act): (Option<&[f32]>, Activation),
    scratch: &mut [f32],
    y: &mut [f32],
) {
    const { assert!(I == S * (R - 1) + 3) };
    let (in_plane, width) = (p.h_in * p.w_in, p.w_out);
    let out_plane = p.h_out * width;
    let Some(zeros) = scratch.get_mut(..zero_row(p)) else {
        return;
    };
    zeros.fill(0.0);
    let zeros = Row {
        data: zeros,
        start: p.pad_left,
    };
    if out_plane == 0 {
        return;
    }
    // Per tap, the lanes of the first and the last vector that read inside the row:
    // all bits set, or none.
    let inside = |c0: usize| {
        [0, 1, 2].map(|kw| {
            F32x16::mask(core::array::from_fn(|lane| {
                (S * (c0 + lane) + kw)
                    .checked_sub(p.pad_left)
                    .is_some_and(|column| column < p.w_in)
            }))
        })
    };
    // A row of at most sixteen outputs is one vector, masked at both ends.
    let (first, last) = (inside(0), inside(width.saturating_sub(LANES)));
    let edges = if width <= LANES {
        let both = core::array::from_fn(|kw| first[kw].and(last[kw]));
        (both, both)
    } else {
        (first, last)
    };
    // A logistic activation (Sigmoid, Swish) runs over the outputs once they are stored,
    // while they are in L1: applied to a tile's sums in registers, its polynomial and
    // division spilled the accumulators (a 144-channel 3 × 3 layer at 56² took 404 µs
    // with Swish against 184 with Relu; 311 this way). Whole planes go in runs of at
    // least `LOGISTIC_RUN` floats (a call per two rows of 14 cost more than the rows'
    // convolution), larger planes a tile's rows at a time.
    let logistic = act.logistic_op().is_some();
    // Planes too large to wait for go a tile's rows at a time.
    let by_rows = logistic && out_plane > LOGISTIC_RUN;
    let mut pending = 0;
    let planes = y.len() / out_plane;
    for index in 0..planes {
        let channel = index % p.c_in;
        let kernel = w
            .get(channel * 9..)
            .and_then(<[f32]>::first_chunk::<9>)
            .copied()
            .unwrap_or([0.0; 9]);
        let weights: [F32x16; 9] = core::array::from_fn(|t| F32x16::splat(kernel[t]));
        let bias = F32x16::splat(bias.and_then(|b| b.get(channel)).copied().unwrap_or(0.0));
        // Padded input row `r` of this plane (input row `r − pad_top`), or the zero row.
        let row = |r: usize| match r.checked_sub(p.pad_top) {
            Some(ih) if ih < p.h_in => Row {
                data: x,
                start: index * in_plane + ih * p.w_in,
            },
            _ => zeros,
        };
        let tile = Tile {
            width,
            pad_left: p.pad_left,
            weights: &weights,
            bias,
            act: if logistic { Activation::None } else { act },
            edges: &edges,
        };
        let finish = |y: &mut [f32], at: usize, rows: usize| {
            if by_rows {
                if let Some(out) = y.get_mut(at..at + rows * width) {
                    crate::elementwise::logistic_run(act, out);
                }
            }
        };
        // Each tile writes into the rest of `y`: a vector of a row narrower than a
        // vector stores its lanes past the row over the next rows or planes, which are
        // written after it (a separate build of the tiles, which alone have a path for
        // the end of the output).
        let mut oh = 0;
        while oh + R <= p.h_out {
            let rows: [Row<'_>; I] = core::array::from_fn(|i| row(S * oh + i));
            let at = index * out_plane + oh * width;
            tile.rows_into::<S, W, R, I>(&rows, y.get_mut(at..).unwrap_or_default());
            finish(y, at, R);
            oh += R;
        }
        while oh < p.h_out {
            let rows: [Row<'_>; 3] = core::array::from_fn(|i| row(S * oh + i));
            let at = index * out_plane + oh * width;
            tile.rows_into::<S, W, 1, 3>(&rows, y.get_mut(at..).unwrap_or_default());
            finish(y, at, 1);
            oh += 1;
        }
        let end = (index + 1) * out_plane;
        if logistic && !by_rows && (end - pending >= LOGISTIC_RUN || index + 1 == planes) {
            if let Some(out) = y.get_mut(pending..end) {
                crate::elementwise::logistic_run(act, out);
            }
            pending = end;
        }
    }
}

/// Stores the first `len` lanes of `value` at the front of `out`, shorter than a vector:
/// the end of the output, reached only by a narrow row's last vector.
#[cold]
#[inline(never)]
fn store_at_the_end(value: F32x16, out: &mut [f32], len: usize) {
    for (out, lane) in out.iter_mut().zip(value.to_array()).take(len) {
        *out = lane;
    }
}

/// What every tile of one channel shares.
struct Tile<'a> {
    width: usize,
    pad_left: usize,
    weights: &'a [F32x16; 9],
    bias: F32x16,
    act: Activation,
    /// Per tap, the lanes of the first and of the last vector whose column is inside
    /// (all bits set) or padding (none).
    edges: &'a ([F32x16; 3], [F32x16; 3]),
}

impl Tile<'_> {
    /// [`Self::rows`], built with the path for the end of the output only where a row
    /// is narrower than a vector.
    #[inline(always)]
    fn rows_into<const S: usize, const W: usize, const R: usize, const I: usize>(
        &self,
        rows: &[Row<'_>; I],
        y_rows: &mut [f32],
    ) {
        // One build per activation kind (see `Fixed`); a logistic one runs after the
        // stores (`run`), so the tiles see the identity.
        const RELU: u8 = Fixed::RELU;
        const CLIP: u8 = Fixed::CLIP;
        const IDENTITY: u8 = Fixed::IDENTITY;
        match (self.width < LANES, self.act.fixed().0) {
            (true, RELU) => self.rows::<S, W, R, I, true, RELU>(rows, y_rows),
            (true, CLIP) => self.rows::<S, W, R, I, true, CLIP>(rows, y_rows),
            (true, _) => self.rows::<S, W, R, I, true, IDENTITY>(rows, y_rows),
            (false, RELU) => self.rows::<S, W, R, I, false, RELU>(rows, y_rows),
            (false, CLIP) => self.rows::<S, W, R, I, false, CLIP>(rows, y_rows),
            (false, _) => self.rows::<S, W, R, I, false, IDENTITY>(rows, y_rows),
        }
    }

    /// `R` output rows (`y_rows`, `R · width` floats, `width` at least [`LANES`]) from
    /// the `I` input rows they read at stride `S`, sixteen columns at a time. Out of
    /// line: inlined into the channel loop beside the other tiles, LLVM kept most of
    /// their accumulators and taps on the stack.
    #[inline(never)]
    fn rows<
        const S: usize,
        const W: usize,
        const R: usize,
        const I: usize,
        const NARROW: bool,
        const ACT: u8,
    >(
        &self,
        rows: &[Row<'_>; I],
        y_rows: &mut [f32],
    ) {
        self.vector::<S, W, R, I, NARROW, ACT>(rows, 0, Some(&self.edges.0), y_rows);
        // A row of at most sixteen outputs is that one vector, masked at both ends.
        let Some(last) = self.width.checked_sub(LANES).filter(|&last| last > 0) else {
            return;
        };
        if last > LANES {
            self.middle::<S, W, R, I, ACT>(rows, last, y_rows);
        }
        self.vector::<S, W, R, I, NARROW, ACT>(rows, last, Some(&self.edges.1), y_rows);
    }

    /// The vectors between a row's first and last (from column [`LANES`] to before
    /// `last`), which need no mask, out of line.
    #[inline(never)]
    fn middle<const S: usize, const W: usize, const R: usize, const I: usize, const ACT: u8>(
        &self,
        rows: &[Row<'_>; I],
        last: usize,
        y_rows: &mut [f32],
    ) {
        for c0 in (LANES..last).step_by(LANES) {
            self.vector::<S, W, R, I, false, ACT>(rows, c0, None, y_rows);
        }
    }

    /// The vectors from column `c0` of [`Self::rows`]; `edge` masks the taps of a first
    /// or last vector. A method, always inlined: as a closure LLVM kept it out of line,
    /// with most of its registers on the stack.
    #[inline(always)]
    fn vector<
        const S: usize,
        const W: usize,
        const R: usize,
        const I: usize,
        const NARROW: bool,
        const ACT: u8,
    >(
        &self,
        rows: &[Row<'_>; I],
        c0: usize,
        edge: Option<&[F32x16; 3]>,
        y_rows: &mut [f32],
    ) {
        let mut acc = [self.bias; R];
        unroll!(I, |i| {
            let mut taps = rows[i].taps::<S, W>(c0, self.pad_left);
            if let Some(edge) = edge {
                unroll!(3, |kw| taps[kw] = taps[kw].and(edge[kw]));
            }
            let [t0, t1, t2] = taps;
            unroll!(R, |r| {
                // Input row `i` is kernel row `i − S · r` of output row `r`.
                if i >= S * r && i - S * r < 3 {
                    let w = &self.weights[(i - S * r) * 3..];
                    acc[r] = t0.mul_add(w[0], acc[r]);
                    acc[r] = t1.mul_add(w[1], acc[r]);
                    acc[r] = t2.mul_add(w[2], acc[r]);
                }
            });
        });
        let acc = <F32x16 as Vector<LANES>>::activate_as::<ACT, R>(acc, self.act);
        unroll!(R, |r| {
            let value = acc[r];
            let out = y_rows.get_mut(r * self.width + c0..).unwrap_or_default();
            match out.first_chunk_mut::<LANES>() {
                Some(out) => value.store(out),
                None if NARROW => store_at_the_end(value, out, self.width - c0),
                None => {}
            }
        });
    }
}
