//! [`super::qconv2d`]'s products on AMX tiles ([`crate::dsp::amx`]), where the host has
//! them: 16 output channels by 16 positions per sum tile, two by two.
//!
//! The gathered block is already what a tile product reads: each tile of 16 positions
//! holds its quads one after the other, 16 words each, so `d` quads of it are one
//! activation tile of `d` rows. The weights are the blob's own rows (output channel by
//! depth), one weight tile of 16 channels and `4 d` bytes per product; a depth that is
//! not whole quads (the first layer's 27) takes a copy padded with zero weights. Each
//! product covers `d` quads, the largest divisor of the depth in quads up to 16, so that
//! one configuration covers the whole depth. The sums wrap like `VPDPBUSD`'s, so the
//! outputs are the VNNI path's, byte for byte.

use super::{finish_channel, QOut, Requant, PB_MAX};
use crate::dsp::amx::{Activations, Sum, Tiles, Weights, MAX_DEPTH, ROWS};

/// The tiles for a convolution `depth` terms deep with `c_out_group` output channels per
/// group, where they apply: at least one whole tile of channels, and a depth in whole
/// quads or at most one product deep (padded by a copy). `None` also where the host has
/// no tiles.
pub(super) fn tiles_for(depth: usize, c_out_group: usize) -> Option<Tiles> {
    let quads = depth.div_ceil(4);
    if c_out_group < ROWS || quads == 0 || (!depth.is_multiple_of(4) && quads > MAX_DEPTH) {
        return None;
    }
    Tiles::new(product_depth(quads))
}

/// The quads one tile product covers for a depth of `quads`: the largest divisor at most
/// [`MAX_DEPTH`], so that one configuration covers the whole depth.
pub(super) fn product_depth(quads: usize) -> usize {
    (1..=MAX_DEPTH.min(quads))
        .rev()
        .find(|d| quads.is_multiple_of(*d))
        .unwrap_or(1)
}

/// Which sum tiles a step of two channel tiles by two position tiles uses: `C0` always,
/// `C1` for a second position tile, `C2` for a second channel tile, `C3` for both.
#[derive(Clone, Copy, Debug)]
pub(super) struct Block {
    pub(super) two_oc: bool,
    pub(super) two_t: bool,
}

impl Block {
    /// Sets the block's sum tiles to 0.
    #[inline(always)]
    pub(super) fn zero(self, tiles: &mut Tiles) {
        tiles.zero(Sum::C0);
        if self.two_t {
            tiles.zero(Sum::C1);
        }
        if self.two_oc {
            tiles.zero(Sum::C2);
            if self.two_t {
                tiles.zero(Sum::C3);
            }
        }
    }

    /// One product into every sum tile: weight rows from `a` (`a_stride` bytes apart, the
    /// second channel tile 16 rows on), activation rows from `b` (`b_stride` words apart,
    /// the second position tile `b_second` words on).
    #[inline(always)]
    pub(super) fn step(
        self,
        tiles: &mut Tiles,
        a: &[i8],
        a_stride: usize,
        b: &[u32],
        b_stride: usize,
        b_second: usize,
    ) {
        tiles.load_weights(Weights::A0, a, a_stride);
        tiles.load_activations(Activations::B0, b, b_stride);
        tiles.dot(Sum::C0, Weights::A0, Activations::B0);
        if self.two_t {
            tiles.load_activations(Activations::B1, &b[b_second..], b_stride);
            tiles.dot(Sum::C1, Weights::A0, Activations::B1);
        }
        if self.two_oc {
            tiles.load_weights(Weights::A1, &a[ROWS * a_stride..], a_stride);
            tiles.dot(Sum::C2, Weights::A1, Activations::B0);
            if self.two_t {
                tiles.dot(Sum::C3, Weights::A1, Activations::B1);
            }
        }
    }

    /// Stores the block's sums: channel `o`'s at `out[o · stride..]`, the second position
    /// tile's 16 further on.
    #[inline(always)]
    pub(super) fn store(self, tiles: &mut Tiles, out: &mut [i32], stride: usize) {
        tiles.store(Sum::C0, out, stride);
        if self.two_t {
            tiles.store(Sum::C1, &mut out[ROWS..], stride);
        }
        if self.two_oc {
            tiles.store(Sum::C2, &mut out[ROWS * stride..], stride);
            if self.two_t {
                tiles.store(Sum::C3, &mut out[ROWS * stride + ROWS..], stride);
            }
        }
    }
}

/// What [`products`] writes besides the output, made once per convolution (zeroing
/// them once per block took a tenth of mlperf-kws-int8's time).
pub(super) struct Buffers {
    /// Each channel's sums over the whole block, so that requantizing takes long runs.
    sums: [[i32; PB_MAX]; 2 * ROWS],
    /// The weights padded to whole quads, where the depth is not.
    copy: [i8; 2 * ROWS * 4 * MAX_DEPTH],
}

impl Buffers {
    pub(super) fn new() -> Self {
        Buffers {
            sums: [[0; PB_MAX]; 2 * ROWS],
            copy: [0; 2 * ROWS * 4 * MAX_DEPTH],
        }
    }
}

/// One gathered block's output channels `channels.0..channels.1` (a multiple of 16 of
/// them), requantized into `y` (the batch's output planes, each `plane` long) at
/// positions `p0..p0 + n`. `base(oc)` is channel `oc`'s bias less its padding term.
#[allow(clippy::too_many_arguments)]
pub(super) fn products<Y: QOut>(
    tiles: &mut Tiles,
    buffers: &mut Buffers,
    cols: &[u32],
    n: usize,
    w: &[i8],
    depth: usize,
    channels: (usize, usize),
    base: impl Fn(usize) -> i32,
    bias: &[i32],
    rq: Requant<'_>,
    plane: usize,
    p0: usize,
    y: &mut [Y],
) {
    let quads = depth.div_ceil(4);
    let d = tiles.depth();
    let chunks = quads / d;
    let position_tiles = n.div_ceil(ROWS);
    let padded = !depth.is_multiple_of(4);
    let Buffers { sums, copy } = buffers;
    let (mut oc, end) = channels;
    while oc + ROWS <= end {
        let two_oc = oc + 2 * ROWS <= end;
        let m = if two_oc { 2 * ROWS } else { ROWS };
        let (a, stride): (&[i8], usize) = if padded {
            let stride = 4 * quads;
            for (r, row) in copy.chunks_exact_mut(stride).take(m).enumerate() {
                let (head, tail) = row.split_at_mut(depth);
                head.copy_from_slice(&w[(oc + r) * depth..][..depth]);
                tail.fill(0);
            }
            (&copy[..], stride)
        } else {
            (&w[oc * depth..], depth)
        };
        let mut t = 0;
        while t < position_tiles {
            let two_t = t + 2 <= position_tiles;
            let block = Block { two_oc, two_t };
            block.zero(tiles);
            for c in 0..chunks {
                let b = &cols[(t * quads + c * d) * ROWS..];
                block.step(tiles, &a[4 * c * d..], stride, b, ROWS, quads * ROWS);
            }
            block.store(tiles, &mut sums.as_flattened_mut()[t * ROWS..], PB_MAX);
            t += if two_t { 2 } else { 1 };
        }
        for (r, row) in sums.iter().take(m).enumerate() {
            let channel = oc + r;
            let out = &mut y[channel * plane + p0..][..n];
            finish_channel(rq, depth, bias, channel, base(channel), &row[..n], out);
        }
        oc += m;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, Ran};
    use super::super::Conv2d;

    /// Whole pairs of 16 channels, a single 16 and a remainder of 3 for the VNNI tile;
    /// 100 positions (three pairs of position tiles and a single one); depths of one
    /// product (16 quads), of several (18 quads: two of 9), of a prime number of quads
    /// (17: seventeen of 1), and of 27 terms (padded by a copy), against the reference
    /// kernel, with the tiles and without, at the scratch lengths [`check`] takes.
    #[test]
    fn tile_products_match_the_reference() {
        let _one = crate::dsp::amx::tests::exclusive();
        let base = Conv2d {
            batch: 1,
            c_in: 64,
            h_in: 10,
            w_in: 10,
            c_out: 51,
            h_out: 10,
            w_out: 10,
            k_h: 1,
            k_w: 1,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
        };
        let three = Conv2d {
            k_h: 3,
            k_w: 3,
            pad_top: 1,
            pad_left: 1,
            ..base
        };
        let cases = [
            base,
            Conv2d { c_in: 68, ..base },
            Conv2d { c_in: 8, ..three },
            Conv2d { c_in: 3, ..three },
            Conv2d {
                c_in: 3,
                h_out: 5,
                w_out: 5,
                stride_h: 2,
                stride_w: 2,
                ..three
            },
        ];
        let mut ran = Ran::default();
        for p in cases {
            check(&p, &[], &mut ran);
        }
        ran.report("qconv::quads::tiles::tile_products_match_the_reference");
        if crate::dsp::amx::tests::why_not().is_none() {
            assert!(
                ran.gathered() > 0,
                "the host has the tiles, yet no run took them"
            );
        }
    }
}
