//! Patch-based execution: the copies around a stage of layers that the compiler runs one
//! spatial patch at a time (the compiler's `plan::patch`).
//!
//! A patch's tensors are `[c, h, w]` regions of the stage's tensors, each placed at an
//! origin (row, column) that can lie outside the tensor: the positions outside stand for
//! a convolution's padding and hold its pad value, so every layer of the patch runs
//! without padding. [`crop`] reads the stage input's region, [`fill_outside`] resets the
//! positions outside a tensor after a layer computed them, and [`paste`] writes the last
//! layer's region into the stage output. Every index is clipped, so no origin or extent
//! can panic; the compiler's regions always fit the buffers it passes.

/// The rows `[lo, hi)` of a region of `extent` rows at `origin` that lie inside a tensor
/// of `full` rows.
#[inline]
fn inside_of(origin: isize, extent: usize, full: usize) -> (usize, usize) {
    let lo = (-origin).clamp(0, extent as isize) as usize;
    let hi = (full as isize - origin).clamp(lo as isize, extent as isize) as usize;
    (lo, hi)
}

/// Walks the rows of `region` (`channels` planes of `extent`, placed at `origin` over a
/// tensor of `full = [h, w]`): the positions outside the tensor get `fill`, and the part
/// of each row inside goes to `inside(channel, y, x, part)`, `(y, x)` its first position
/// in the tensor.
fn walk_rows<T: Copy>(
    region: &mut [T],
    channels: usize,
    full: [usize; 2],
    origin: [isize; 2],
    extent: [usize; 2],
    fill: T,
    mut inside: impl FnMut(usize, usize, usize, &mut [T]),
) {
    let (r_lo, r_hi) = inside_of(origin[0], extent[0], full[0]);
    let (c_lo, c_hi) = inside_of(origin[1], extent[1], full[1]);
    let plane = extent[0] * extent[1];
    for c in 0..channels {
        let Some(p) = region.get_mut(c * plane..(c + 1) * plane) else {
            return;
        };
        for (r, row) in p.chunks_exact_mut(extent[1].max(1)).enumerate() {
            if r < r_lo || r >= r_hi || c_lo == c_hi {
                row.fill(fill);
                continue;
            }
            row[..c_lo].fill(fill);
            row[c_hi..].fill(fill);
            let y = (origin[0] + r as isize) as usize;
            let x = (origin[1] + c_lo as isize) as usize;
            inside(c, y, x, &mut row[c_lo..c_hi]);
        }
    }
}

/// Copies the region of `src` (`channels` planes of `full = [h, w]`) at `origin` into
/// `dst` (`channels` planes of `extent = [rows, cols]`), with `fill` where the region
/// lies outside the tensor.
pub fn crop<T: Copy>(
    src: &[T],
    channels: usize,
    full: [usize; 2],
    origin: [isize; 2],
    extent: [usize; 2],
    fill: T,
    dst: &mut [T],
) {
    let plane = full[0] * full[1];
    walk_rows(
        dst,
        channels,
        full,
        origin,
        extent,
        fill,
        |c, y, x, part| {
            let at = c * plane + y * full[1] + x;
            if let Some(from) = src.get(at..at + part.len()) {
                part.copy_from_slice(from);
            }
        },
    );
}

/// [`crop`] from a channels-last `src` (`[h, w, channels]`), the region written
/// channels-first as `crop` writes it: the Transpose that opens a converted TFLite model,
/// done patch by patch.
pub fn crop_channels_last<T: Copy>(
    src: &[T],
    channels: usize,
    full: [usize; 2],
    origin: [isize; 2],
    extent: [usize; 2],
    fill: T,
    dst: &mut [T],
) {
    walk_rows(
        dst,
        channels,
        full,
        origin,
        extent,
        fill,
        |c, y, x, part| {
            for (k, v) in part.iter_mut().enumerate() {
                *v = src
                    .get((y * full[1] + x + k) * channels + c)
                    .copied()
                    .unwrap_or(fill);
            }
        },
    );
}

/// Sets the positions of `buf` (`channels` planes of `extent`, placed at `origin`) that lie
/// outside a tensor of `full = [h, w]` to `fill`: a layer computed them from padding, and
/// the layer after reads them as its own padding.
pub fn fill_outside<T: Copy>(
    buf: &mut [T],
    channels: usize,
    full: [usize; 2],
    origin: [isize; 2],
    extent: [usize; 2],
    fill: T,
) {
    let rows = inside_of(origin[0], extent[0], full[0]);
    let cols = inside_of(origin[1], extent[1], full[1]);
    if (rows, cols) != ((0, extent[0]), (0, extent[1])) {
        walk_rows(buf, channels, full, origin, extent, fill, |_, _, _, _| {});
    }
}

/// Writes the part of `src` (`channels` planes of `extent`, placed at `origin`) that lies
/// inside `dst` (`channels` planes of `full = [h, w]`) to its place there.
pub fn paste<T: Copy>(
    src: &[T],
    channels: usize,
    extent: [usize; 2],
    origin: [isize; 2],
    full: [usize; 2],
    dst: &mut [T],
) {
    let (r_lo, r_hi) = inside_of(origin[0], extent[0], full[0]);
    let (c_lo, c_hi) = inside_of(origin[1], extent[1], full[1]);
    let (plane_in, plane_out) = (extent[0] * extent[1], full[0] * full[1]);
    for c in 0..channels {
        for r in r_lo..r_hi {
            let from = c * plane_in + r * extent[1];
            let y = (origin[0] + r as isize) as usize;
            let x = (origin[1] + c_lo as isize) as usize;
            let to = c * plane_out + y * full[1] + x;
            let n = c_hi - c_lo;
            if let (Some(s), Some(d)) = (
                src.get(from + c_lo..from + c_lo + n),
                dst.get_mut(to..to + n),
            ) {
                d.copy_from_slice(s);
            }
        }
    }
}

/// Moves a region one patch row down a tensor, keeping what the next patch shares with
/// this one: `buf` holds `channels` planes of `keep + rows` rows of `width`; in each, the
/// last `keep` rows move to the top and the `rows` rows of `new` (`channels` planes of
/// `rows × width`) follow them. A stage whose patches are whole rows thus computes each
/// row of a tensor once, instead of recomputing the rows its windows overlap.
pub fn carry<T: Copy>(
    new: &[T],
    channels: usize,
    keep: usize,
    rows: usize,
    width: usize,
    buf: &mut [T],
) {
    let (plane, kept, added) = ((keep + rows) * width, keep * width, rows * width);
    for c in 0..channels {
        let Some(p) = buf.get_mut(c * plane..(c + 1) * plane) else {
            return;
        };
        p.copy_within(added..plane, 0);
        if let Some(from) = new.get(c * added..(c + 1) * added) {
            p[kept..].copy_from_slice(from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-channel 5 × 4 tensor whose value names its position.
    fn tensor() -> [i32; 40] {
        core::array::from_fn(|i| i as i32)
    }

    #[test]
    fn crop_pads_outside_and_paste_undoes_it() {
        let src = tensor();
        // A 4 × 3 region from row -1, column 2: one row and two columns outside.
        let mut region = [0i32; 24];
        crop(&src, 2, [5, 4], [-1, 2], [4, 3], -7, &mut region);
        #[rustfmt::skip]
        let expect = [
            -7, -7, -7,
            2, 3, -7,
            6, 7, -7,
            10, 11, -7,
            -7, -7, -7,
            22, 23, -7,
            26, 27, -7,
            30, 31, -7,
        ];
        assert_eq!(region, expect);
        // Pasting it back writes only the positions inside, and those are the source's.
        let mut back = [-1i32; 40];
        paste(&region, 2, [4, 3], [-1, 2], [5, 4], &mut back);
        for (i, (&b, &s)) in back.iter().zip(&src).enumerate() {
            let (y, x) = ((i % 20) / 4, i % 4);
            let copied = y < 3 && x >= 2;
            assert_eq!(b, if copied { s } else { -1 }, "at {i}");
        }
    }

    #[test]
    fn a_channels_last_crop_is_the_transposed_crop() {
        // The tensor of `tensor()` channels-first, stored channels-last.
        let first = tensor();
        let last: [i32; 40] = core::array::from_fn(|i| {
            let (pos, c) = (i / 2, i % 2);
            first[c * 20 + pos]
        });
        for (origin, extent) in [([-1, 2], [4, 3]), ([2, -2], [3, 5]), ([0, 0], [5, 4])] {
            let n = 2 * extent[0] * extent[1];
            let (mut a, mut b) = ([0i32; 40], [0i32; 40]);
            crop(&first, 2, [5, 4], origin, extent, -7, &mut a[..n]);
            crop_channels_last(&last, 2, [5, 4], origin, extent, -7, &mut b[..n]);
            assert_eq!(a, b, "{origin:?} {extent:?}");
        }
    }

    #[test]
    fn fill_outside_keeps_the_inside() {
        let mut region: [i32; 24] = core::array::from_fn(|i| i as i32);
        // A 3 × 4 region at row 3, column -1 of a 5 × 4 tensor: rows 5.. and column -1 are out.
        fill_outside(&mut region, 2, [5, 4], [3, -1], [3, 4], 99);
        for (i, &v) in region.iter().enumerate() {
            let (r, c) = ((i % 12) / 4, i % 4);
            let out = r >= 2 || c == 0;
            assert_eq!(v, if out { 99 } else { i as i32 }, "at {i}");
        }
        // A region wholly inside is left alone.
        let mut whole: [i32; 24] = core::array::from_fn(|i| i as i32);
        fill_outside(&mut whole, 2, [5, 4], [1, 0], [3, 4], 99);
        assert!(whole.iter().enumerate().all(|(i, &v)| v == i as i32));
    }

    #[test]
    fn regions_far_outside_or_short_buffers_do_not_panic() {
        let src = tensor();
        let mut region = [5i32; 8];
        crop(&src, 2, [5, 4], [100, -100], [2, 2], 0, &mut region);
        assert_eq!(region, [0; 8]);
        // A buffer shorter than the region stops at its end.
        let mut short = [5i32; 3];
        crop(&src, 2, [5, 4], [0, 0], [2, 2], 0, &mut short);
        fill_outside(&mut short, 2, [5, 4], [-3, 0], [2, 2], 1);
        // Rows that do not fit a short destination are left out.
        let mut dst = [0i32; 6];
        paste(&src, 2, [5, 4], [0, 0], [5, 4], &mut dst);
        assert_eq!(dst, [0, 1, 2, 3, 0, 0]);
    }

    #[test]
    fn carry_keeps_the_last_rows_and_appends_the_new() {
        // Two channels of 3 kept + 2 new rows of width 2; the buffer names its positions.
        let mut buf: [i32; 20] = core::array::from_fn(|i| i as i32);
        let new = [100, 101, 102, 103, 200, 201, 202, 203];
        carry(&new, 2, 3, 2, 2, &mut buf);
        #[rustfmt::skip]
        let expect = [
            4, 5, 6, 7, 8, 9, 100, 101, 102, 103,
            14, 15, 16, 17, 18, 19, 200, 201, 202, 203,
        ];
        assert_eq!(buf, expect);
        // More rows kept than added: the rows move up by the added ones only.
        let mut buf: [i32; 4] = [1, 2, 3, 4];
        carry(&[9], 1, 3, 1, 1, &mut buf);
        assert_eq!(buf, [2, 3, 4, 9]);
        // Short buffers stop without a panic.
        let mut short = [0i32; 3];
        carry(&new, 2, 3, 2, 2, &mut short);
    }
}
