//! Ternary (1.58-bit) weights: the packed format and the kernels that compute with it.
//!
//! A ternary layer holds one trit (−1, 0 or +1) per weight and one `f32` scale per
//! output channel, so a weight is `trit · scale[channel]`. The trits are stored five to
//! a byte in base 3 (243 of the 256 codes; 1.6 bits per weight): trit `i` of a byte is
//! its digit `i` in base 3, the digit being `trit + 1`, so
//! `code = Σ (tᵢ + 1)·3ⁱ` ([`encode`], [`decode`]). Each output channel is one row of
//! [`row_bytes`]`(k)` bytes holding its `k` trits in order; the last byte of a row that
//! `k` does not fill is padded with zero trits. The compiler writes the rows
//! (`zant_compiler::compress::ternary`); codes 243 to 255 never occur, and the kernels
//! read them as their five low base-3 digits rather than failing.
//!
//! The kernels' inner loops only add and subtract activations: the scale, the bias and
//! the fused activation are applied once per output, as it is stored.
//!
//! * [`matmul_lut`], for a fully connected layer with many outputs: for each group of
//!   five inputs it builds the table of all 243 signed sums of those five activations
//!   (with additions only), and a packed byte of a row then indexes its group's table
//!   directly, so an output costs one load and one addition per five weights. The
//!   tables live in arena scratch, [`LUT_GROUPS`] groups at a time.
//! * [`matmul_direct`], for few outputs, where building the tables would cost more than
//!   it saves: each byte is decoded and its five activations added or subtracted.
//! * [`conv2d`], any geometry and any group count: per output channel the trits become
//!   two lists of input offsets in scratch, one for +1 and one for −1 (zero trits cost
//!   nothing), and tiles of outputs sum the input rows those offsets point at. A padded
//!   input is first copied once into scratch with its zeros, so the tile loops never
//!   test for borders.
//!
//! [`matmul_kernel_for`] makes the fully connected choice from the shape alone, so the
//! compiler emits a call to one kernel and the generated crate links only that one.

use crate::conv::Conv2d;
use crate::Activation;

/// Trits in one packed byte.
pub const TRITS_PER_BYTE: usize = 5;

/// The codes a byte of five trits can take (3⁵).
pub const CODES: usize = 243;

/// The bytes of one packed row of `k` trits.
pub const fn row_bytes(k: usize) -> usize {
    k.div_ceil(TRITS_PER_BYTE)
}

/// Packs five trits (each −1, 0 or +1; anything else is read as its sign) into a byte.
pub const fn encode(trits: [i8; TRITS_PER_BYTE]) -> u8 {
    let mut code = 0u8;
    let mut i = TRITS_PER_BYTE;
    while i > 0 {
        i -= 1;
        code = code * 3 + (trits[i].signum() + 1) as u8;
    }
    code
}

/// The five trits of a packed byte. A code above 242, which [`encode`] never writes, gives
/// the trits of its five low base-3 digits.
pub const fn decode(code: u8) -> [i8; TRITS_PER_BYTE] {
    let mut trits = [0i8; TRITS_PER_BYTE];
    let mut rest = code;
    let mut i = 0;
    while i < TRITS_PER_BYTE {
        trits[i] = (rest % 3) as i8 - 1;
        rest /= 3;
        i += 1;
    }
    trits
}

/// Entries of one lookup table of [`matmul_lut`]: every byte value, so that a code indexes
/// its table without a bounds check. Entries 243 to 255 repeat what [`decode`] makes of
/// those codes.
const TABLE_LEN: usize = 256;

/// The groups of five inputs whose tables [`matmul_lut`] holds at once (4 KiB of
/// scratch). More groups per pass means fewer passes over the outputs, each of which
/// reads and writes every output once more.
pub const LUT_GROUPS: usize = 4;

/// The fewest outputs for which [`matmul_lut`] beats [`matmul_direct`]: a table of 243
/// sums costs about as much as decoding and summing five inputs for this many outputs.
pub const LUT_MIN_OUTPUTS: usize = 24;

/// The kernel of a fully connected ternary layer, chosen by [`matmul_kernel_for`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatMulKernel {
    /// [`matmul_lut`].
    Lut,
    /// [`matmul_direct`].
    Direct,
}

impl MatMulKernel {
    /// The floats of scratch the kernel needs for an `m × k` by `k × n` product.
    pub const fn scratch_len(self, k: usize) -> usize {
        match self {
            MatMulKernel::Lut => {
                let groups = row_bytes(k);
                let held = if groups < LUT_GROUPS {
                    groups
                } else {
                    LUT_GROUPS
                };
                held * TABLE_LEN
            }
            MatMulKernel::Direct => 0,
        }
    }
}

/// The kernel for an `m × k` by `k × n` ternary product.
pub const fn matmul_kernel_for(_m: usize, n: usize, k: usize) -> MatMulKernel {
    if n >= LUT_MIN_OUTPUTS && k > 0 {
        MatMulKernel::Lut
    } else {
        MatMulKernel::Direct
    }
}

/// `y[m × n] = act(scale · (A · Wᵀ) + bias)` for `A` row-major `m × k` and the ternary
/// `W` as `n` packed rows of `k` trits ([`row_bytes`]`(k)` bytes each), choosing the
/// kernel at run time ([`matmul_kernel_for`]). `scratch` holds at least
/// [`MatMulKernel::scratch_len`] floats of the chosen kernel.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    packed: &[u8],
    scale: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    match matmul_kernel_for(m, n, k) {
        MatMulKernel::Lut => matmul_lut(m, n, k, a, packed, scale, bias, act, scratch, y),
        MatMulKernel::Direct => matmul_direct(m, n, k, a, packed, scale, bias, act, y),
    }
}

/// [`matmul`] on lookup tables: for each row of `A` and each group of five inputs, the
/// table of the 243 signed sums of those inputs, built with additions only, then one
/// lookup per packed byte per output. `scratch` holds at least
/// [`MatMulKernel::scratch_len`]`(k)` floats of [`MatMulKernel::Lut`].
#[allow(clippy::too_many_arguments)]
pub fn matmul_lut(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    packed: &[u8],
    scale: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let groups = row_bytes(k);
    let (a, y) = (&a[..m * k], &mut y[..m * n]);
    let (packed, scale) = (&packed[..n * groups], &scale[..n]);
    if n == 0 {
        return;
    }
    if groups == 0 {
        y.fill(0.0);
        finish(y, n, scale, bias, act);
        return;
    }
    let held = MatMulKernel::Lut.scratch_len(k) / TABLE_LEN;
    let tables: &mut [[f32; TABLE_LEN]] =
        bytemuck::cast_slice_mut(&mut scratch[..held * TABLE_LEN]);
    for (a_row, y_row) in a.chunks_exact(k).zip(y.chunks_exact_mut(n)) {
        let mut first = 0;
        while first < groups {
            let count = held.min(groups - first);
            for (g, table) in tables[..count].iter_mut().enumerate() {
                let start = (first + g) * TRITS_PER_BYTE;
                build_table(&a_row[start..k.min(start + TRITS_PER_BYTE)], table);
            }
            match (count == LUT_GROUPS, first == 0) {
                (true, true) => lut_pass_full::<true>(y_row, packed, groups, first, tables),
                (true, false) => lut_pass_full::<false>(y_row, packed, groups, first, tables),
                (false, fresh) => lut_pass(y_row, packed, groups, first, fresh, &tables[..count]),
            }
            first += count;
        }
        finish(y_row, n, scale, bias, act);
    }
}

/// One pass of [`matmul_lut`] over the outputs of a row with [`LUT_GROUPS`] tables: each
/// output's sum over the codes of groups `first..`, stored (`FRESH`, the first pass) or
/// added. Out of line and with the tables as separate references, so that their
/// addresses stay in registers: per group, one byte load, one table load, one addition.
#[inline(never)]
fn lut_pass_full<const FRESH: bool>(
    y_row: &mut [f32],
    packed: &[u8],
    groups: usize,
    first: usize,
    tables: &[[f32; TABLE_LEN]],
) {
    let [t0, t1, t2, t3] = match tables.first_chunk::<LUT_GROUPS>() {
        Some([t0, t1, t2, t3]) => [t0, t1, t2, t3],
        None => return,
    };
    for (out, row) in y_row.iter_mut().zip(packed.chunks_exact(groups)) {
        let Some(&[c0, c1, c2, c3]) = row[first..].first_chunk::<LUT_GROUPS>() else {
            return;
        };
        let sum = (t0[usize::from(c0)] + t1[usize::from(c1)])
            + (t2[usize::from(c2)] + t3[usize::from(c3)]);
        *out = if FRESH { sum } else { *out + sum };
    }
}

/// [`lut_pass_full`] for the last pass of a row, with fewer tables.
fn lut_pass(
    y_row: &mut [f32],
    packed: &[u8],
    groups: usize,
    first: usize,
    fresh: bool,
    tables: &[[f32; TABLE_LEN]],
) {
    for (out, row) in y_row.iter_mut().zip(packed.chunks_exact(groups)) {
        let mut sum = 0.0;
        for (table, &code) in tables.iter().zip(&row[first..]) {
            sum += table[usize::from(code)];
        }
        *out = if fresh { sum } else { *out + sum };
    }
}

/// Fills `table[code]` with `Σ tᵢ · xs[i]` for the trits `tᵢ` of every code, with
/// additions and negations only; `xs` holds the group's inputs (fewer than five at the
/// end of a row, the missing ones counting as zero).
#[inline(always)]
fn build_table(xs: &[f32], table: &mut [f32; TABLE_LEN]) {
    let x: [f32; TRITS_PER_BYTE] = core::array::from_fn(|i| xs.get(i).copied().unwrap_or(0.0));
    // The sums of the low three trits (27 codes), then of the high two (9 codes): a code
    // is `low + 27·high`, and its sum the sum of both.
    let signed = |v: f32| [-v, 0.0, v];
    let mut low = [0.0f32; 27];
    let (s0, s1, s2) = (signed(x[0]), signed(x[1]), signed(x[2]));
    for (d2, &v2) in s2.iter().enumerate() {
        for (d1, &v1) in s1.iter().enumerate() {
            let partial = v2 + v1;
            for (d0, &v0) in s0.iter().enumerate() {
                low[d0 + 3 * d1 + 9 * d2] = partial + v0;
            }
        }
    }
    let (s3, s4) = (signed(x[3]), signed(x[4]));
    let (valid, invalid) = table.split_at_mut(CODES);
    for (high, chunk) in valid.chunks_exact_mut(27).enumerate() {
        let offset = s4[high / 3] + s3[high % 3];
        for (entry, &l) in chunk.iter_mut().zip(&low) {
            *entry = l + offset;
        }
    }
    // Codes 243.. have high digits 0 and the low digits of `code − 243`, as `decode` reads
    // them: the same sums as codes 0..13.
    for (entry, &l) in invalid.iter_mut().zip(&low) {
        *entry = l + s4[0] + s3[0];
    }
}

/// [`matmul`] by decoding: each output sums its row's activations with the signs of its
/// trits. No scratch.
#[allow(clippy::too_many_arguments)]
pub fn matmul_direct(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    packed: &[u8],
    scale: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    let groups = row_bytes(k);
    let (a, y) = (&a[..m * k], &mut y[..m * n]);
    let (packed, scale) = (&packed[..n * groups], &scale[..n]);
    if n == 0 {
        return;
    }
    let full = k / TRITS_PER_BYTE;
    for (r, y_row) in y.chunks_exact_mut(n).enumerate() {
        let a_row = &a[r * k..][..k];
        let (a_full, a_tail) = a_row.split_at(full * TRITS_PER_BYTE);
        for (o, out) in y_row.iter_mut().enumerate() {
            let row = &packed[o * groups..][..groups];
            let mut sum = 0.0;
            for (xs, &code) in a_full.chunks_exact(TRITS_PER_BYTE).zip(row) {
                sum = add_signed(sum, xs, code);
            }
            if !a_tail.is_empty() {
                sum = add_signed(sum, a_tail, row[full]);
            }
            *out = sum;
        }
        finish(y_row, n, scale, bias, act);
    }
}

/// `sum` plus each of `xs` (at most five) with the sign of its trit in `code`.
#[inline(always)]
fn add_signed(mut sum: f32, xs: &[f32], code: u8) -> f32 {
    // One load decodes the byte; a division by 3 per trit costs several instructions on
    // a Cortex-M.
    let mut digits = DIGITS[usize::from(code)];
    for &x in xs {
        sum = match digits & 3 {
            0 => sum - x,
            2 => sum + x,
            _ => sum,
        };
        digits >>= 2;
    }
    sum
}

/// The epilogue of a fully connected row: `act(scale · sum + bias)` per output.
#[inline(always)]
fn finish(y: &mut [f32], n: usize, scale: &[f32], bias: Option<&[f32]>, act: Activation) {
    for y_row in y.chunks_exact_mut(n) {
        match bias {
            Some(bias) => {
                for ((v, &s), &b) in y_row.iter_mut().zip(scale).zip(bias) {
                    *v = act.apply(*v * s + b);
                }
            }
            None => {
                for (v, &s) in y_row.iter_mut().zip(scale) {
                    *v = act.apply(*v * s);
                }
            }
        }
    }
}

/// The padded input plane [`conv2d`] reads: the rows and columns its taps reach, in
/// padded coordinates, and whether that differs from the input (so it must be copied).
#[derive(Clone, Copy)]
struct Padded {
    rows: usize,
    columns: usize,
    copied: bool,
}

impl Padded {
    const fn of(p: &Conv2d) -> Self {
        let rows = reach(p.h_out, p.stride_h, p.k_h, p.dil_h);
        let columns = reach(p.w_out, p.stride_w, p.k_w, p.dil_w);
        let copied = p.pad_top > 0 || p.pad_left > 0 || rows > p.h_in || columns > p.w_in;
        if copied {
            Padded {
                rows,
                columns,
                copied,
            }
        } else {
            Padded {
                rows: p.h_in,
                columns: p.w_in,
                copied,
            }
        }
    }
}

/// The input positions `out` outputs of stride `stride` read through a window of `k`
/// taps dilated by `dil`: one past the last one.
const fn reach(out: usize, stride: usize, k: usize, dil: usize) -> usize {
    if out == 0 || k == 0 {
        0
    } else {
        (out - 1) * stride + (k - 1) * dil + 1
    }
}

/// The floats of scratch [`conv2d`] needs: the padded input channels of one group (when
/// the convolution pads), the input offset of every tap of an output channel, and one
/// channel's taps sorted by trit ([`SortedTaps`]).
pub const fn conv2d_scratch_len(p: &Conv2d) -> usize {
    if p.groups == 0 {
        return 0;
    }
    let c_in_group = p.c_in / p.groups;
    let padded = Padded::of(p);
    let plane = if padded.copied {
        c_in_group * padded.rows * padded.columns
    } else {
        0
    };
    plane + SortedTaps::scratch_len(c_in_group * p.k_h * p.k_w)
}

/// `y = act(scale · conv(x, W) + bias)` for the ternary weights `W[c_out, c_in/groups,
/// k_h, k_w]` as `c_out` packed rows ([`row_bytes`] of `c_in/groups · k_h · k_w`), any
/// stride, dilation, padding and group count. `scratch` holds at least
/// [`conv2d_scratch_len`] floats.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn conv2d(
    p: &Conv2d,
    x: &[f32],
    packed: &[u8],
    scale: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    // A constant geometry at a generated call keeps one of the two variants.
    if p.stride_w == 1 {
        conv2d_contiguous(p, x, packed, scale, bias, act, scratch, y);
    } else {
        conv2d_strided(p, x, packed, scale, bias, act, scratch, y);
    }
}

/// The convolution's variants as plain functions, compiled with `zant-runtime` so that its
/// opt level reaches the hot loops, as the float direct kernel's are.
macro_rules! conv_variants {
    ($($name:ident = $contiguous:expr;)*) => {$(
        #[inline(never)]
        #[allow(clippy::too_many_arguments)]
        fn $name(
            p: &Conv2d,
            x: &[f32],
            packed: &[u8],
            scale: &[f32],
            bias: Option<&[f32]>,
            act: Activation,
            scratch: &mut [f32],
            y: &mut [f32],
        ) {
            conv::<{ $contiguous }, Wide, Narrow>(p, x, packed, scale, bias, act, scratch, y)
        }
    )*};
}

conv_variants! {
    conv2d_contiguous = true;
    conv2d_strided = false;
}

/// The input planes one group reads, as [`conv2d`]'s tiles index them.
struct Planes<'a> {
    x: &'a [f32],
    /// Floats from one row to the next.
    row: usize,
    /// The largest offset of a tap: no tap of an output reads past it.
    limit: usize,
}

/// [`conv2d`]; `CONTIGUOUS` when the horizontal stride is 1, `W` and `N` the wide and
/// narrow rows of a tile.
#[allow(clippy::too_many_arguments)]
fn conv<const CONTIGUOUS: bool, W: Lanes, N: Lanes>(
    p: &Conv2d,
    x: &[f32],
    packed: &[u8],
    scale: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    if p.groups == 0 || p.batch * p.c_out * p.h_out * p.w_out == 0 {
        return;
    }
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    let taps = c_in_group * p.k_h * p.k_w;
    if taps == 0 {
        return;
    }
    let row_len = row_bytes(taps);
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let padded = Padded::of(p);
    let padded_len = if padded.copied {
        c_in_group * padded.rows * padded.columns
    } else {
        0
    };
    let (padded_x, rest) =
        scratch[..padded_len + SortedTaps::scratch_len(taps)].split_at_mut(padded_len);
    let mut sorted = SortedTaps::new(bytemuck::cast_slice_mut(rest), taps);
    let (row, plane) = if padded.copied {
        (padded.columns, padded.rows * padded.columns)
    } else {
        (p.w_in, in_plane)
    };
    sorted.place_taps(p, row, plane);
    let limit = sorted.limit();
    let x = &x[..p.batch * p.c_in * in_plane];
    let y = &mut y[..p.batch * p.c_out * out_plane];
    for image in 0..p.batch {
        for group in 0..p.groups {
            let first_in = image * p.c_in + group * c_in_group;
            let x_group = &x[first_in * in_plane..][..c_in_group * in_plane];
            let planes = Planes {
                x: if padded.copied {
                    pad_into(p, padded, x_group, padded_x);
                    padded_x
                } else {
                    x_group
                },
                row,
                limit,
            };
            for channel in group * c_out_group..(group + 1) * c_out_group {
                let (plus, minus) = sorted.sort(&packed[channel * row_len..][..row_len]);
                let y_plane = &mut y[(image * p.c_out + channel) * out_plane..][..out_plane];
                let store = Store {
                    scale: scale[channel],
                    bias: bias.map_or(0.0, |b| b[channel]),
                    act,
                };
                let tiles = Tiles {
                    p,
                    planes: &planes,
                    plus,
                    minus,
                    store: &store,
                };
                tiles.channel::<CONTIGUOUS, W, N>(y_plane);
            }
        }
    }
}

/// Copies one group's input channels into `out` with their padding as zeros, as
/// `padded.rows × padded.columns` planes.
fn pad_into(p: &Conv2d, padded: Padded, x_group: &[f32], out: &mut [f32]) {
    let in_plane = p.h_in * p.w_in;
    let out_plane = padded.rows * padded.columns;
    for (x_plane, out_plane) in x_group
        .chunks_exact(in_plane.max(1))
        .zip(out.chunks_exact_mut(out_plane.max(1)))
    {
        for (r, out_row) in out_plane.chunks_exact_mut(padded.columns).enumerate() {
            out_row.fill(0.0);
            let Some(ih) = r.checked_sub(p.pad_top).filter(|&ih| ih < p.h_in) else {
                continue;
            };
            let x_row = &x_plane[ih * p.w_in..][..p.w_in];
            if p.pad_left < padded.columns {
                let copied = (padded.columns - p.pad_left).min(p.w_in);
                out_row[p.pad_left..][..copied].copy_from_slice(&x_row[..copied]);
            }
        }
    }
}

/// One output channel's taps sorted by trit, in scratch: the input offset of every tap
/// (in the order of the packed rows, input channel then kernel row and column, padded
/// with zeros to whole bytes and three more), and the offsets of the +1 taps and of the
/// −1 taps. The zero taps go nowhere, so they cost the tiles nothing.
struct SortedTaps<'a> {
    offsets: &'a mut [u32],
    plus: &'a mut [u32],
    minus: &'a mut [u32],
    taps: usize,
}

/// For every byte, the positions (0 to 4) of its +1 trits after their count, then of its −1
/// trits after theirs; unused positions are 0.
#[cfg(any(test, target_arch = "x86_64", target_arch = "aarch64"))]
const SORT: [[[u8; 6]; 2]; 256] = {
    let mut table = [[[0u8; 6]; 2]; 256];
    let mut code = 0;
    while code < 256 {
        let trits = decode(code as u8);
        let mut i = 0;
        while i < TRITS_PER_BYTE {
            let list = match trits[i] {
                1 => 0,
                -1 => 1,
                _ => 2,
            };
            if list < 2 {
                let n = table[code][list][0] as usize;
                table[code][list][1 + n] = i as u8;
                table[code][list][0] += 1;
            }
            i += 1;
        }
        code += 1;
    }
    table
};

impl<'a> SortedTaps<'a> {
    /// The `u32`s (as floats of scratch) the offsets and both lists of `taps` taps take.
    const fn scratch_len(taps: usize) -> usize {
        let whole = row_bytes(taps) * TRITS_PER_BYTE;
        (whole + 3) + 2 * whole
    }

    fn new(scratch: &'a mut [u32], taps: usize) -> Self {
        let whole = row_bytes(taps) * TRITS_PER_BYTE;
        let (offsets, lists) = scratch.split_at_mut(whole + 3);
        let (plus, minus) = lists.split_at_mut(whole);
        Self {
            offsets,
            plus,
            minus: &mut minus[..whole],
            taps,
        }
    }

    /// Writes the offset of every tap in a group's input planes, rows `row` floats apart
    /// and planes `plane`.
    fn place_taps(&mut self, p: &Conv2d, row: usize, plane: usize) {
        self.offsets.fill(0);
        let mut slots = self.offsets.iter_mut();
        for c in 0..p.c_in / p.groups {
            for i in 0..p.k_h {
                for j in 0..p.k_w {
                    if let Some(slot) = slots.next() {
                        *slot = (c * plane + i * p.dil_h * row + j * p.dil_w) as u32;
                    }
                }
            }
        }
    }

    /// The largest offset of a tap: taps come in the order of the weight, so the last one
    /// lies furthest in.
    fn limit(&self) -> usize {
        self.taps
            .checked_sub(1)
            .and_then(|last| self.offsets.get(last))
            .map_or(0, |&o| o as usize)
    }

    /// Sorts the taps of one output channel's packed row: the offsets of its +1 taps and
    /// of its −1 taps. Out of line, so that the tile loops' registers do not crowd it.
    #[inline(never)]
    fn sort(&mut self, packed_row: &[u8]) -> (&[u32], &[u32]) {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        let (n_plus, n_minus) = self.sort_without_branches(packed_row);
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let (n_plus, n_minus) = self.sort_with_branches(packed_row);
        (
            &self.plus[..n_plus.min(self.plus.len())],
            &self.minus[..n_minus.min(self.minus.len())],
        )
    }

    /// [`SortedTaps::sort`] for a core that predicts branches (the host): no branch on a
    /// trit, which it would mispredict a third of the time. Each byte copies five offsets
    /// to the end of each list, in the order [`SORT`] gives for its code, and each list
    /// grows by its count only; what lies past the count is overwritten by the next byte
    /// or ignored. Returns the two counts.
    #[cfg(any(test, target_arch = "x86_64", target_arch = "aarch64"))]
    fn sort_without_branches(&mut self, packed_row: &[u8]) -> (usize, usize) {
        let (mut n_plus, mut n_minus) = (0, 0);
        for (g, &code) in packed_row.iter().enumerate() {
            let Some(window) = self.offsets[g * TRITS_PER_BYTE..].first_chunk::<8>() else {
                break;
            };
            let [plus, minus] = &SORT[usize::from(code)];
            for (list, sort, n) in [
                (&mut *self.plus, plus, &mut n_plus),
                (&mut *self.minus, minus, &mut n_minus),
            ] {
                // `n` counts taps of earlier bytes only, so five more fit.
                if let Some(out) = list.get_mut(*n..).and_then(|l| l.first_chunk_mut::<5>()) {
                    for (o, &position) in out.iter_mut().zip(&sort[1..]) {
                        *o = window[usize::from(position & 7)];
                    }
                }
                *n += usize::from(sort[0]);
            }
        }
        (n_plus, n_minus)
    }

    /// [`SortedTaps::sort`] for a core without branch prediction to lose (Cortex-M7, whose
    /// cost is its instruction count): one test per trit, and a write per nonzero one.
    /// Returns the two counts.
    #[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
    fn sort_with_branches(&mut self, packed_row: &[u8]) -> (usize, usize) {
        let (mut n_plus, mut n_minus) = (0, 0);
        let whole = self.plus.len();
        for (offsets, &code) in self.offsets[..whole]
            .chunks_exact(TRITS_PER_BYTE)
            .zip(packed_row)
        {
            let mut digits = DIGITS[usize::from(code)];
            for &offset in offsets {
                match digits & 3 {
                    2 => {
                        if let Some(slot) = self.plus.get_mut(n_plus) {
                            *slot = offset;
                            n_plus += 1;
                        }
                    }
                    0 => {
                        if let Some(slot) = self.minus.get_mut(n_minus) {
                            *slot = offset;
                            n_minus += 1;
                        }
                    }
                    _ => {}
                }
                digits >>= 2;
            }
        }
        (n_plus, n_minus)
    }
}

/// The base-3 digits of every byte, two bits each (digit `i` at bits `2i..2i + 2`), as
/// [`decode`] reads them.
const DIGITS: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut code = 0;
    while code < 256 {
        let trits = decode(code as u8);
        let mut i = 0;
        while i < TRITS_PER_BYTE {
            table[code] |= ((trits[i] + 1) as u16) << (2 * i);
            i += 1;
        }
        code += 1;
    }
    table
};

/// What happens to a finished sum: `act(scale · sum + bias)`.
struct Store {
    scale: f32,
    bias: f32,
    act: Activation,
}

/// The rows and columns of a tile: wide tiles where the row allows, then narrower ones.
/// A tile's accumulators stay in registers (16 floats: half the Cortex-M7's single
/// precision registers, leaving the other half for the loaded rows).
const TILE_WIDE: usize = 8;
const TILE_NARROW: usize = 4;
/// Output rows per tile at each width: on Cortex-M so that a tile holds 16 sums; on SIMD
/// targets four vectors of sums (eight took 7 % more instructions on digits-cnn's layers
/// under callgrind: the rows' addresses no longer fit in registers).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ROWS_WIDE: usize = 16 / TILE_WIDE;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ROWS_NARROW: usize = 16 / TILE_NARROW;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const ROWS_WIDE: usize = 4;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const ROWS_NARROW: usize = 4;

/// One output channel's tiles: its taps sorted by trit and where its sums go.
struct Tiles<'a> {
    p: &'a Conv2d,
    planes: &'a Planes<'a>,
    plus: &'a [u32],
    minus: &'a [u32],
    store: &'a Store,
}

impl Tiles<'_> {
    /// Every output of the channel, in tiles of output rows and columns.
    #[inline(always)]
    fn channel<const CONTIGUOUS: bool, W: Lanes, N: Lanes>(&self, y_plane: &mut [f32]) {
        let p = self.p;
        let mut oh = 0;
        if p.w_out >= TILE_WIDE {
            while oh + ROWS_WIDE <= p.h_out {
                self.row_block::<ROWS_WIDE, CONTIGUOUS, W, N>(oh, y_plane);
                oh += ROWS_WIDE;
            }
        } else {
            while oh + ROWS_NARROW <= p.h_out {
                self.row_block::<ROWS_NARROW, CONTIGUOUS, W, N>(oh, y_plane);
                oh += ROWS_NARROW;
            }
        }
        // The rows left over, in pairs where they can be; not on Cortex-M, where the
        // pairs' code (12 KiB on digits-cnn) would cost more flash than they save time.
        let simd = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));
        while simd && oh + 2 <= p.h_out {
            self.row_block::<2, CONTIGUOUS, W, N>(oh, y_plane);
            oh += 2;
        }
        while oh < p.h_out {
            self.row_block::<1, CONTIGUOUS, W, N>(oh, y_plane);
            oh += 1;
        }
    }

    /// `R` output rows from `oh`, across the whole row width.
    #[inline(always)]
    fn row_block<const R: usize, const CONTIGUOUS: bool, W: Lanes, N: Lanes>(
        &self,
        oh: usize,
        y_plane: &mut [f32],
    ) {
        let w_out = self.p.w_out;
        let mut ow = 0;
        if w_out >= TILE_WIDE {
            while ow + TILE_WIDE <= w_out {
                self.tile::<W, R, CONTIGUOUS>(oh, ow, y_plane);
                ow += TILE_WIDE;
            }
            if ow < w_out {
                // A last full-width tile overlapping the previous one recomputes a few
                // columns, far cheaper than narrow tiles; its stores overwrite equal values.
                self.tile::<W, R, CONTIGUOUS>(oh, w_out - TILE_WIDE, y_plane);
            }
            return;
        }
        if w_out >= TILE_NARROW {
            while ow + TILE_NARROW <= w_out {
                self.tile::<N, R, CONTIGUOUS>(oh, ow, y_plane);
                ow += TILE_NARROW;
            }
            if ow < w_out {
                self.tile::<N, R, CONTIGUOUS>(oh, w_out - TILE_NARROW, y_plane);
            }
            return;
        }
        while ow < w_out {
            self.tile::<[f32; 1], R, CONTIGUOUS>(oh, ow, y_plane);
            ow += 1;
        }
    }

    /// The `R × V::WIDTH` outputs at rows `oh..`, columns `ow..`: every +1 tap's input rows
    /// added, every −1 tap's subtracted, then stored through the epilogue.
    #[inline(always)]
    fn tile<V: Lanes, const R: usize, const CONTIGUOUS: bool>(
        &self,
        oh: usize,
        ow: usize,
        y_plane: &mut [f32],
    ) {
        let p = self.p;
        let planes = self.planes;
        let row_step = p.stride_h * planes.row;
        let base = oh * row_step + ow * p.stride_w;
        let span = if CONTIGUOUS {
            V::WIDTH
        } else {
            (V::WIDTH - 1) * p.stride_w + 1
        };
        // What each output row of the tile reads through all the taps: the bounds are
        // checked once here, and a tap's offset, clamped to the limit no tap exceeds,
        // then needs no check of its own.
        // `checked_add` also tells the optimiser that `limit + span` does not wrap, which
        // is what lets it drop the checks below.
        let Some(reach) = planes.limit.checked_add(span) else {
            return;
        };
        let rows: [&[f32]; R] = core::array::from_fn(|r| &planes.x[base + r * row_step..][..reach]);
        let load = |row: &[f32], at: usize| {
            let values = &row[at..at + span];
            if CONTIGUOUS {
                V::load(values)
            } else {
                V::gather(values, p.stride_w)
            }
        };
        let mut acc = [V::ZERO; R];
        for &offset in self.plus {
            let at = (offset as usize).min(planes.limit);
            for (sum, row) in acc.iter_mut().zip(&rows) {
                *sum = sum.add(load(row, at));
            }
        }
        for &offset in self.minus {
            let at = (offset as usize).min(planes.limit);
            for (sum, row) in acc.iter_mut().zip(&rows) {
                *sum = sum.sub(load(row, at));
            }
        }
        for (r, sum) in acc.iter().enumerate() {
            let out = &mut y_plane[(oh + r) * p.w_out + ow..][..V::WIDTH];
            sum.store(out, self.store);
        }
    }
}

/// A row of sums in registers: a vector where the target has them, an array elsewhere.
trait Lanes: Copy {
    const WIDTH: usize;
    const ZERO: Self;
    /// `WIDTH` consecutive values from the start of `values`.
    fn load(values: &[f32]) -> Self;
    /// `WIDTH` values `stride` apart from the start of `values`.
    fn gather(values: &[f32], stride: usize) -> Self;
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    /// Stores `act(scale · self + bias)` into the first `WIDTH` values of `out`.
    fn store(self, out: &mut [f32], store: &Store);
}

impl<const W: usize> Lanes for [f32; W] {
    const WIDTH: usize = W;
    const ZERO: Self = [0.0; W];

    #[inline(always)]
    fn load(values: &[f32]) -> Self {
        *values.first_chunk::<W>().unwrap_or(&[0.0; W])
    }

    #[inline(always)]
    fn gather(values: &[f32], stride: usize) -> Self {
        core::array::from_fn(|i| values[i * stride])
    }

    #[inline(always)]
    fn add(mut self, other: Self) -> Self {
        for (a, b) in self.iter_mut().zip(other) {
            *a += b;
        }
        self
    }

    #[inline(always)]
    fn sub(mut self, other: Self) -> Self {
        for (a, b) in self.iter_mut().zip(other) {
            *a -= b;
        }
        self
    }

    #[inline(always)]
    fn store(self, out: &mut [f32], store: &Store) {
        for (o, v) in out.iter_mut().zip(self) {
            *o = store.act.apply(v * store.scale + store.bias);
        }
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod simd {
    //! The tiles' rows as `wide` vectors on targets with SIMD.

    use wide::{f32x4, f32x8};

    use super::{Lanes, Store};
    use crate::Activation;

    macro_rules! vector_lanes {
        ($($ty:ident = $width:expr;)*) => {$(
            impl Lanes for $ty {
                const WIDTH: usize = $width;
                const ZERO: Self = $ty::ZERO;

                #[inline(always)]
                fn load(values: &[f32]) -> Self {
                    values
                        .first_chunk::<$width>()
                        .map_or($ty::ZERO, |chunk| $ty::from(*chunk))
                }

                #[inline(always)]
                fn gather(values: &[f32], stride: usize) -> Self {
                    $ty::from(<[f32; $width]>::gather(values, stride))
                }

                #[inline(always)]
                fn add(self, other: Self) -> Self {
                    self + other
                }

                #[inline(always)]
                fn sub(self, other: Self) -> Self {
                    self - other
                }

                #[inline(always)]
                fn store(self, out: &mut [f32], store: &Store) {
                    let v = self * $ty::splat(store.scale) + $ty::splat(store.bias);
                    let v = match store.act {
                        Activation::None => v,
                        Activation::Relu => v.max($ty::ZERO),
                        Activation::Clip { min, max } => {
                            v.max($ty::splat(min)).min($ty::splat(max))
                        }
                        act @ (Activation::Sigmoid | Activation::Swish { .. }) => {
                            $ty::from(v.to_array().map(|x| act.apply(x)))
                        }
                    };
                    if let Some(chunk) = out.first_chunk_mut::<$width>() {
                        *chunk = v.to_array();
                    }
                }
            }
        )*};
    }

    vector_lanes! {
        f32x8 = 8;
        f32x4 = 4;
    }
}

/// The wide and narrow tile rows of this target.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type Wide = wide::f32x8;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type Narrow = wide::f32x4;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
type Wide = [f32; TILE_WIDE];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
type Narrow = [f32; TILE_NARROW];

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;

    /// Deterministic trits and activations from a linear congruential sequence.
    struct Lcg(u32);

    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            self.0 >> 8
        }

        fn trit(&mut self) -> i8 {
            (self.next() % 3) as i8 - 1
        }

        fn value(&mut self) -> f32 {
            (self.next() % 2001) as f32 / 1000.0 - 1.0
        }
    }

    /// Packs `rows` rows of `k` trits as the compiler does.
    fn pack(trits: &[i8], rows: usize, k: usize) -> Vec<u8> {
        let mut packed = Vec::new();
        for row in trits.chunks_exact(k).take(rows) {
            for chunk in row.chunks(TRITS_PER_BYTE) {
                let mut five = [0i8; TRITS_PER_BYTE];
                five[..chunk.len()].copy_from_slice(chunk);
                packed.push(encode(five));
            }
        }
        packed
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "element {i}: {g} != {w}"
            );
        }
    }

    #[test]
    fn every_code_decodes_to_what_encodes_it() {
        for code in 0..CODES as u8 {
            assert_eq!(encode(decode(code)), code);
        }
        // Codes past 242 read as their low digits: 243 = 3⁵ has five zero digits.
        assert_eq!(decode(243), [-1; 5]);
        assert_eq!(encode([1, 1, 1, 1, 1]), 242);
        assert_eq!(encode([0; 5]), 121);
    }

    /// The naive product: each weight `trit · scale`, multiplied.
    #[allow(clippy::too_many_arguments)]
    fn matmul_reference(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        trits: &[i8],
        scale: &[f32],
        bias: Option<&[f32]>,
        act: Activation,
    ) -> Vec<f32> {
        let mut y = vec![0.0; m * n];
        for r in 0..m {
            for o in 0..n {
                let dot: f32 = (0..k)
                    .map(|i| a[r * k + i] * f32::from(trits[o * k + i]) * scale[o])
                    .sum();
                y[r * n + o] = act.apply(dot + bias.map_or(0.0, |b| b[o]));
            }
        }
        y
    }

    #[test]
    fn fully_connected_kernels_match_the_reference() {
        let mut lcg = Lcg(7);
        // Row lengths that fill whole bytes, that end in a partial byte, with fewer groups
        // than one pass of tables and with several passes and a partial last one.
        for (m, n, k) in [
            (1, 30, 25),
            (1, 64, 64),
            (2, 40, 7),
            (3, 5, 13),
            (1, 24, 3),
            (1, 26, 41),
            (1, 1, 1),
        ] {
            let trits: Vec<i8> = (0..n * k).map(|_| lcg.trit()).collect();
            let a: Vec<f32> = (0..m * k).map(|_| lcg.value()).collect();
            let scale: Vec<f32> = (0..n).map(|_| lcg.value().abs() + 0.1).collect();
            let bias: Vec<f32> = (0..n).map(|_| lcg.value()).collect();
            let packed = pack(&trits, n, k);
            for act in [Activation::None, Activation::Relu] {
                let want = matmul_reference(m, n, k, &a, &trits, &scale, Some(&bias), act);
                let mut scratch = vec![0.0; MatMulKernel::Lut.scratch_len(k)];
                let mut y = vec![f32::NAN; m * n];
                matmul_lut(
                    m,
                    n,
                    k,
                    &a,
                    &packed,
                    &scale,
                    Some(&bias),
                    act,
                    &mut scratch,
                    &mut y,
                );
                assert_close(&y, &want);
                let mut y = vec![f32::NAN; m * n];
                matmul_direct(m, n, k, &a, &packed, &scale, Some(&bias), act, &mut y);
                assert_close(&y, &want);
            }
            let want = matmul_reference(m, n, k, &a, &trits, &scale, None, Activation::None);
            let mut y = vec![0.0; m * n];
            let mut scratch = vec![0.0; matmul_kernel_for(m, n, k).scratch_len(k)];
            matmul(
                m,
                n,
                k,
                &a,
                &packed,
                &scale,
                None,
                Activation::None,
                &mut scratch,
                &mut y,
            );
            assert_close(&y, &want);
        }
    }

    #[test]
    fn a_table_holds_every_signed_sum() {
        let xs = [0.5, -2.0, 8.0, 32.0, -128.0];
        let mut table = [f32::NAN; TABLE_LEN];
        build_table(&xs, &mut table);
        for code in 0..=255u8 {
            let want: f32 = decode(code)
                .iter()
                .zip(&xs)
                .map(|(&t, &x)| match t {
                    -1 => -x,
                    1 => x,
                    _ => 0.0,
                })
                .sum();
            assert_eq!(table[usize::from(code)], want, "code {code}");
        }
        // A short group counts its missing inputs as zero.
        build_table(&xs[..2], &mut table);
        assert_eq!(table[usize::from(encode([1, 1, 1, 1, 1]))], -1.5);
    }

    /// The naive convolution of `trits · scale` weights.
    fn conv_reference(
        p: &Conv2d,
        x: &[f32],
        trits: &[i8],
        scale: &[f32],
        bias: &[f32],
        act: Activation,
    ) -> Vec<f32> {
        let c_in_group = p.c_in / p.groups;
        let c_out_group = p.c_out / p.groups;
        let mut y = vec![0.0; p.batch * p.c_out * p.h_out * p.w_out];
        for b in 0..p.batch {
            for co in 0..p.c_out {
                let g = co / c_out_group;
                for oh in 0..p.h_out {
                    for ow in 0..p.w_out {
                        let mut sum = 0.0;
                        for ci in 0..c_in_group {
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
                                    let c = g * c_in_group + ci;
                                    let xv = x[((b * p.c_in + c) * p.h_in + ih as usize) * p.w_in
                                        + iw as usize];
                                    let t =
                                        trits[((co * c_in_group + ci) * p.k_h + kh) * p.k_w + kw];
                                    sum += xv * f32::from(t) * scale[co];
                                }
                            }
                        }
                        y[((b * p.c_out + co) * p.h_out + oh) * p.w_out + ow] =
                            act.apply(sum + bias[co]);
                    }
                }
            }
        }
        y
    }

    #[allow(clippy::too_many_arguments)]
    fn geometry(
        batch: usize,
        c_in: usize,
        (h_in, w_in): (usize, usize),
        c_out: usize,
        (k_h, k_w): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        (dil_h, dil_w): (usize, usize),
        (pad_top, pad_left, pad_bottom, pad_right): (usize, usize, usize, usize),
        groups: usize,
    ) -> Conv2d {
        let out = |len: usize, pad: usize, k: usize, dil: usize, stride: usize| {
            (len + pad - (k - 1) * dil - 1) / stride + 1
        };
        Conv2d {
            batch,
            c_in,
            h_in,
            w_in,
            c_out,
            h_out: out(h_in, pad_top + pad_bottom, k_h, dil_h, stride_h),
            w_out: out(w_in, pad_left + pad_right, k_w, dil_w, stride_w),
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

    #[test]
    fn convolutions_match_the_reference() {
        let mut lcg = Lcg(11);
        let cases = [
            // digits-cnn's layers: 3×3, padding 1, on 8×8 and 4×4 planes.
            geometry(1, 1, (8, 8), 16, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),
            geometry(1, 16, (8, 8), 8, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),
            geometry(1, 8, (4, 4), 6, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),
            // Rows wider than a tile with an overlapping last tile, and odd heights.
            geometry(2, 3, (7, 13), 4, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),
            // No padding: the input is read in place.
            geometry(1, 2, (6, 9), 3, (2, 3), (1, 1), (1, 1), (0, 0, 0, 0), 1),
            // Strides, dilations and asymmetric padding.
            geometry(1, 2, (9, 11), 3, (3, 3), (2, 2), (1, 1), (1, 0, 1, 2), 1),
            geometry(1, 2, (10, 10), 2, (3, 2), (1, 3), (2, 2), (2, 1, 0, 1), 1),
            // Groups and depthwise.
            geometry(1, 4, (5, 5), 6, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 2),
            geometry(1, 3, (6, 6), 3, (3, 3), (2, 1), (1, 1), (1, 1, 1, 1), 3),
            // A 1-D convolution and a 1×1.
            geometry(1, 3, (1, 20), 5, (1, 5), (1, 1), (1, 1), (0, 2, 0, 2), 1),
            geometry(1, 7, (3, 3), 2, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1),
        ];
        for p in &cases {
            let taps = p.c_in / p.groups * p.k_h * p.k_w;
            let trits: Vec<i8> = (0..p.c_out * taps).map(|_| lcg.trit()).collect();
            let x: Vec<f32> = (0..p.batch * p.c_in * p.h_in * p.w_in)
                .map(|_| lcg.value())
                .collect();
            let scale: Vec<f32> = (0..p.c_out).map(|_| lcg.value().abs() + 0.1).collect();
            let bias: Vec<f32> = (0..p.c_out).map(|_| lcg.value()).collect();
            let packed = pack(&trits, p.c_out, taps);
            for act in [
                Activation::None,
                Activation::Clip {
                    min: -0.5,
                    max: 0.5,
                },
            ] {
                let want = conv_reference(p, &x, &trits, &scale, &bias, act);
                let mut scratch = vec![f32::NAN; conv2d_scratch_len(p)];
                let mut y = vec![f32::NAN; want.len()];
                conv2d(
                    p,
                    &x,
                    &packed,
                    &scale,
                    Some(&bias),
                    act,
                    &mut scratch,
                    &mut y,
                );
                assert_close(&y, &want);
                // The tiles of targets without SIMD (Cortex-M): rows of scalars.
                let mut y = vec![f32::NAN; want.len()];
                let scalar = if p.stride_w == 1 {
                    conv::<true, [f32; TILE_WIDE], [f32; TILE_NARROW]>
                } else {
                    conv::<false, [f32; TILE_WIDE], [f32; TILE_NARROW]>
                };
                scalar(
                    p,
                    &x,
                    &packed,
                    &scale,
                    Some(&bias),
                    act,
                    &mut scratch,
                    &mut y,
                );
                assert_close(&y, &want);
            }
        }
    }

    #[test]
    fn both_ways_of_sorting_taps_agree() {
        let mut lcg = Lcg(3);
        for taps in [1, 5, 9, 144, 147] {
            let trits: Vec<i8> = (0..taps).map(|_| lcg.trit()).collect();
            let row = pack(&trits, 1, taps);
            let mut scratch = vec![0u32; SortedTaps::scratch_len(taps)];
            let mut sorted = SortedTaps::new(&mut scratch, taps);
            for (k, o) in sorted.offsets[..taps].iter_mut().enumerate() {
                *o = 10 * k as u32;
            }
            let branch_free = sorted.sort_without_branches(&row);
            let (plus, minus) = (sorted.plus.to_vec(), sorted.minus.to_vec());
            assert_eq!(sorted.sort_with_branches(&row), branch_free);
            assert_eq!(sorted.plus[..branch_free.0], plus[..branch_free.0]);
            assert_eq!(sorted.minus[..branch_free.1], minus[..branch_free.1]);
            // The lists hold the offsets of the +1 and −1 trits, in order.
            let want = |t: i8| -> Vec<u32> {
                (0..taps)
                    .filter(|&k| trits[k] == t)
                    .map(|k| 10 * k as u32)
                    .collect()
            };
            assert_eq!(plus[..branch_free.0], want(1));
            assert_eq!(minus[..branch_free.1], want(-1));
        }
    }

    #[test]
    fn small_kernels_need_small_scratch() {
        let p = geometry(1, 16, (8, 8), 32, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1);
        // The 10 × 10 padded planes of 16 channels, then the offsets of 144 taps (in 29
        // bytes of five, and three more for the last byte's window) and two lists of them.
        let sorted = (145 + 3) + 2 * 145;
        assert_eq!(conv2d_scratch_len(&p), 16 * 10 * 10 + sorted);
        let unpadded = geometry(1, 16, (8, 8), 32, (3, 3), (1, 1), (1, 1), (0, 0, 0, 0), 1);
        assert_eq!(conv2d_scratch_len(&unpadded), sorted);
        assert_eq!(MatMulKernel::Lut.scratch_len(64), LUT_GROUPS * TABLE_LEN);
        assert_eq!(MatMulKernel::Lut.scratch_len(7), 2 * TABLE_LEN);
        assert_eq!(matmul_kernel_for(1, 10, 64), MatMulKernel::Direct);
        assert_eq!(matmul_kernel_for(1, 256, 64), MatMulKernel::Lut);
    }
}
