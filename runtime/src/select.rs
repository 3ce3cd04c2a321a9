//! Selections whose result length depends on the data: NonZero, Compress, Unique and
//! NonMaxSuppression.
//!
//! Each writes into output buffers whose capacity the compiler fixed (the most the op can
//! produce for its input shapes, or less under `zantc compile --max-len`) and returns how
//! many entries it produced along its data-dependent axis. The valid entries are packed at
//! the front of each buffer in C order, as a tensor whose data-dependent axis has that
//! length. A result that would not fit is [`KernelError::CapacityExceeded`], detected
//! before anything past the capacity is written.

use core::cmp::Ordering;

use crate::error::KernelError;

/// A total order for sorting that agrees with `<` and `==` on numbers: every NaN sorts
/// after every number and equal to every other NaN (numpy's `unique` does the same), so
/// `-0.0` and `0.0` are one value.
fn order<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    a.partial_cmp(b).unwrap_or_else(|| {
        #[allow(clippy::eq_op)]
        let (a_nan, b_nan) = (a != a, b != b);
        match (a_nan, b_nan) {
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => Ordering::Equal,
        }
    })
}

/// NonZero: the indices of the elements of `x` (shape `dims`) that are not zero, in
/// row-major order, written as `i64[rank, count]` at the front of `y`, which holds
/// `rank × capacity`. Returns `count`. A NaN is not zero.
pub fn nonzero<T: Copy + PartialEq + Default>(
    x: &[T],
    dims: &[usize],
    y: &mut [i64],
) -> Result<usize, KernelError> {
    let zero = T::default();
    let count = x.iter().filter(|&&v| v != zero).count();
    let rank = dims.len();
    if rank == 0 {
        // A scalar: `[0, count]` has no elements to write.
        return Ok(count);
    }
    let capacity = y.len() / rank;
    if count > capacity {
        return Err(KernelError::CapacityExceeded { capacity });
    }
    let nonzero = x.iter().enumerate().filter(|(_, &v)| v != zero);
    for (j, (flat, _)) in nonzero.enumerate() {
        let mut rest = flat;
        for axis in (0..rank).rev() {
            let d = dims[axis].max(1);
            y[axis * count + j] = (rest % d) as i64;
            rest /= d;
        }
    }
    Ok(count)
}

/// Compress along the middle axis of `[outer, len, inner]`: the slices whose entry of
/// `condition` (one byte per boolean) is true, in order, written as
/// `[outer, count, inner]` at the front of `y`, which holds `outer × capacity × inner`.
/// A condition shorter than `len` drops the slices past it; a true entry past `len` is
/// [`KernelError::IndexOutOfRange`]. Returns `count`.
pub fn compress<T: Copy>(
    x: &[T],
    outer: usize,
    len: usize,
    inner: usize,
    condition: &[u8],
    y: &mut [T],
) -> Result<usize, KernelError> {
    if let Some(index) = condition.iter().skip(len).position(|&c| c != 0) {
        return Err(KernelError::IndexOutOfRange {
            index: (len + index) as i64,
            len,
        });
    }
    let count = condition.iter().filter(|&&c| c != 0).count();
    let per = outer * inner;
    if per == 0 {
        return Ok(count);
    }
    let capacity = y.len() / per;
    if count > capacity {
        return Err(KernelError::CapacityExceeded { capacity });
    }
    for o in 0..outer {
        let kept = condition.iter().enumerate().filter(|(_, &c)| c != 0);
        for (j, (i, _)) in kept.enumerate() {
            let from = (o * len + i) * inner;
            let to = (o * count + j) * inner;
            y[to..to + inner].copy_from_slice(&x[from..from + inner]);
        }
    }
    Ok(count)
}

/// The outputs of [`unique`], each with room for the capacity: `values` as
/// `[outer, capacity, inner]`, `indices` and `counts` as `[capacity]`; `inverse` has one
/// entry per slice of the input.
pub struct UniqueOut<'a, T> {
    pub values: &'a mut [T],
    pub indices: &'a mut [i64],
    pub inverse: &'a mut [i64],
    pub counts: &'a mut [i64],
}

/// The u32s of scratch [`unique`] needs for `len` slices.
pub const fn unique_scratch_len(len: usize) -> usize {
    3 * len
}

/// Unique along the middle axis of `[outer, len, inner]`: the distinct slices `x[:, i, :]`
/// (compared element by element in C order), sorted ascending when `sorted`, else in order
/// of first occurrence; with `inner = outer = 1` the distinct elements. Writes the
/// `count` distinct slices, the index of each one's first occurrence, how often each
/// occurs, and for every input slice the position of its value among the results.
/// Returns `count`. `scratch` holds [`unique_scratch_len`]`(len)` u32s.
pub fn unique<T: Copy + PartialOrd>(
    x: &[T],
    outer: usize,
    len: usize,
    inner: usize,
    sorted: bool,
    out: UniqueOut<'_, T>,
    scratch: &mut [u32],
) -> Result<usize, KernelError> {
    unique_by(x, outer, len, inner, sorted, out, scratch, |v| v)
}

/// [`unique`] comparing elements by `key`: float16 and bfloat16 bits by their values
/// (`narrow::f16_to_f32`, `narrow::bf16_to_f32`), which their bit patterns do not order.
#[allow(clippy::too_many_arguments)]
pub fn unique_by<T: Copy, K: PartialOrd>(
    x: &[T],
    outer: usize,
    len: usize,
    inner: usize,
    sorted: bool,
    out: UniqueOut<'_, T>,
    scratch: &mut [u32],
    key: impl Fn(T) -> K,
) -> Result<usize, KernelError> {
    let UniqueOut {
        values,
        indices,
        inverse,
        counts,
    } = out;
    let capacity = indices.len().min(counts.len());
    let (perm, rest) = scratch.split_at_mut(len);
    let (first, sizes) = rest.split_at_mut(len);
    let slice_order = |a: usize, b: usize| -> Ordering {
        for o in 0..outer {
            for r in 0..inner {
                let p = key(x[(o * len + a) * inner + r]);
                let q = key(x[(o * len + b) * inner + r]);
                match order(&p, &q) {
                    Ordering::Equal => {}
                    other => return other,
                }
            }
        }
        Ordering::Equal
    };
    for (i, p) in perm.iter_mut().enumerate() {
        *p = i as u32;
    }
    // Equal slices stay in index order, so each group starts at its first occurrence.
    perm.sort_unstable_by(|&a, &b| slice_order(a as usize, b as usize).then(a.cmp(&b)));
    // Groups in sorted order: the first occurrence and size of each, and the group of
    // every slice in `inverse`.
    let mut count = 0;
    for k in 0..len {
        let i = perm[k] as usize;
        let new = k == 0 || slice_order(perm[k - 1] as usize, i) != Ordering::Equal;
        if new {
            if count == capacity {
                return Err(KernelError::CapacityExceeded { capacity });
            }
            first[count] = i as u32;
            sizes[count] = 0;
            count += 1;
        }
        sizes[count - 1] += 1;
        inverse[i] = (count - 1) as i64;
    }
    // The position of each group in the result: its sorted rank, or its rank by first
    // occurrence (the order in which a walk over the slices meets the groups).
    let position = perm;
    if sorted {
        for (g, p) in position.iter_mut().take(count).enumerate() {
            *p = g as u32;
        }
    } else {
        let mut next = 0;
        for (i, &g) in inverse.iter().enumerate().take(len) {
            let g = g as usize;
            if first[g] as usize == i {
                position[g] = next;
                next += 1;
            }
        }
    }
    for g in 0..count {
        let (p, f) = (position[g] as usize, first[g] as usize);
        indices[p] = f as i64;
        counts[p] = i64::from(sizes[g]);
        for o in 0..outer {
            let from = (o * len + f) * inner;
            let to = (o * count + p) * inner;
            values[to..to + inner].copy_from_slice(&x[from..from + inner]);
        }
    }
    for v in inverse.iter_mut().take(len) {
        *v = i64::from(position[*v as usize]);
    }
    Ok(count)
}

/// The boxes and scores of [`non_max_suppression`]: `boxes` is `[batches, spatial, 4]`,
/// `scores` `[batches, classes, spatial]`.
pub struct Detections<'a> {
    pub boxes: &'a [f32],
    pub scores: &'a [f32],
    pub batches: usize,
    pub classes: usize,
    pub spatial: usize,
}

/// The settings of [`non_max_suppression`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NmsParams {
    /// Boxes as `[x_center, y_center, width, height]` rather than two corners
    /// `[y1, x1, y2, x2]` (in either order).
    pub center_point_box: bool,
    /// The most boxes kept per batch and class.
    pub max_per_class: usize,
    /// A box is suppressed when its intersection over union with a kept box is above this.
    pub iou_threshold: f32,
    /// Only boxes scoring above this are candidates, when given.
    pub score_threshold: Option<f32>,
}

/// The corners `(y_min, x_min, y_max, x_max)` of box `b`.
fn corners(b: &[f32], center_point_box: bool) -> (f32, f32, f32, f32) {
    if center_point_box {
        let (w, h) = (b[2] / 2.0, b[3] / 2.0);
        (b[1] - h, b[0] - w, b[1] + h, b[0] + w)
    } else {
        (
            b[0].min(b[2]),
            b[1].min(b[3]),
            b[0].max(b[2]),
            b[1].max(b[3]),
        )
    }
}

/// Whether two boxes overlap by more than `threshold` (intersection over union); boxes
/// without area never suppress.
fn suppresses(a: &[f32], b: &[f32], center_point_box: bool, threshold: f32) -> bool {
    let (ay0, ax0, ay1, ax1) = corners(a, center_point_box);
    let (by0, bx0, by1, bx1) = corners(b, center_point_box);
    let (ix0, ix1) = (ax0.max(bx0), ax1.min(bx1));
    let (iy0, iy1) = (ay0.max(by0), ay1.min(by1));
    if ix1 <= ix0 || iy1 <= iy0 {
        return false;
    }
    let inter = (ix1 - ix0) * (iy1 - iy0);
    let area_a = (ax1 - ax0) * (ay1 - ay0);
    let area_b = (bx1 - bx0) * (by1 - by0);
    let union = area_a + area_b - inter;
    if inter <= 0.0 || area_a <= 0.0 || area_b <= 0.0 || union <= 0.0 {
        return false;
    }
    inter / union > threshold
}

/// NonMaxSuppression: for each batch and class, greedily keeps the highest-scoring boxes
/// (ties to the lower index) that overlap no kept box by more than the IoU threshold, up
/// to `max_per_class`, and writes `[batch, class, box]` rows at the front of `y`
/// (`[capacity, 3]`), batch by batch, class by class, in order of selection. Returns the
/// number of rows. `scratch` holds `spatial` u32s.
pub fn non_max_suppression(
    d: &Detections<'_>,
    p: &NmsParams,
    y: &mut [i64],
    scratch: &mut [u32],
) -> Result<usize, KernelError> {
    let capacity = y.len() / 3;
    let mut count = 0;
    // `+ 0.0` makes -0.0 equal to 0.0 under `total_cmp`.
    let key = |s: f32| s + 0.0;
    for b in 0..d.batches {
        let boxes = &d.boxes[b * d.spatial * 4..(b + 1) * d.spatial * 4];
        for c in 0..d.classes {
            let at = (b * d.classes + c) * d.spatial;
            let scores = &d.scores[at..at + d.spatial];
            let mut n = 0;
            for (i, &s) in scores.iter().enumerate() {
                if p.score_threshold.is_none_or(|t| s > t) {
                    scratch[n] = i as u32;
                    n += 1;
                }
            }
            let candidates = &mut scratch[..n];
            candidates.sort_unstable_by(|&i, &j| {
                key(scores[j as usize])
                    .total_cmp(&key(scores[i as usize]))
                    .then(i.cmp(&j))
            });
            let start = count;
            for &i in candidates.iter() {
                if count - start == p.max_per_class {
                    break;
                }
                let cand = &boxes[i as usize * 4..i as usize * 4 + 4];
                let kept = y[start * 3..count * 3].chunks_exact(3).any(|row| {
                    let k = row[2] as usize;
                    suppresses(
                        cand,
                        &boxes[k * 4..k * 4 + 4],
                        p.center_point_box,
                        p.iou_threshold,
                    )
                });
                if kept {
                    continue;
                }
                if count == capacity {
                    return Err(KernelError::CapacityExceeded { capacity });
                }
                y[count * 3..count * 3 + 3].copy_from_slice(&[b as i64, c as i64, i64::from(i)]);
                count += 1;
            }
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn nonzero_lists_indices_by_axis() {
        let x = [1u8, 0, 0, 1, 1, 0];
        let mut y = [-1i64; 12];
        let n = nonzero(&x, &[2, 3], &mut y).unwrap();
        assert_eq!(n, 3);
        assert_eq!(&y[..6], &[0, 1, 1, 0, 0, 1]);
        assert_eq!(
            nonzero(&x, &[2, 3], &mut y[..4]),
            Err(KernelError::CapacityExceeded { capacity: 2 })
        );
        assert_eq!(nonzero(&[f32::NAN, -0.0], &[2], &mut [0; 2]), Ok(1));
    }

    #[test]
    fn compress_keeps_true_slices_and_refuses_a_true_past_the_axis() {
        let x = [1, 2, 3, 4, 5, 6];
        let mut y = [0; 6];
        assert_eq!(compress(&x, 1, 3, 2, &[0, 1, 1], &mut y), Ok(2));
        assert_eq!(&y[..4], &[3, 4, 5, 6]);
        assert_eq!(compress(&x, 2, 3, 1, &[1, 0], &mut y), Ok(1));
        assert_eq!(&y[..2], &[1, 4]);
        assert_eq!(
            compress(&x, 1, 3, 2, &[0, 0, 0, 1], &mut y),
            Err(KernelError::IndexOutOfRange { index: 3, len: 3 })
        );
        assert_eq!(
            compress(&x, 1, 6, 1, &[1, 1, 1], &mut y[..2]),
            Err(KernelError::CapacityExceeded { capacity: 2 })
        );
    }

    fn run_unique(x: &[f32], sorted: bool, capacity: usize) -> Result<[Vec<i64>; 4], KernelError> {
        let len = x.len();
        let (mut v, mut i, mut inv, mut c) = (
            vec![0.0; capacity],
            vec![0; capacity],
            vec![0; len],
            vec![0; capacity],
        );
        let mut scratch = vec![0; unique_scratch_len(len)];
        let out = UniqueOut {
            values: &mut v,
            indices: &mut i,
            inverse: &mut inv,
            counts: &mut c,
        };
        let n = unique(x, 1, len, 1, sorted, out, &mut scratch)?;
        Ok([
            v[..n].iter().map(|&f| f as i64).collect(),
            i[..n].to_vec(),
            inv,
            c[..n].to_vec(),
        ])
    }

    #[test]
    fn unique_sorted_and_in_first_occurrence_order() {
        // numpy: unique([2, 1, 1, 3, 4, 3]) = [1, 2, 3, 4], indices [1, 0, 3, 4],
        // inverse [1, 0, 0, 2, 3, 2], counts [2, 1, 2, 1].
        let x = [2.0, 1.0, 1.0, 3.0, 4.0, 3.0];
        let [v, i, inv, c] = run_unique(&x, true, 6).unwrap();
        assert_eq!(
            (v, i, inv, c),
            (
                vec![1, 2, 3, 4],
                vec![1, 0, 3, 4],
                vec![1, 0, 0, 2, 3, 2],
                vec![2, 1, 2, 1]
            )
        );
        let [v, i, inv, c] = run_unique(&x, false, 6).unwrap();
        assert_eq!(
            (v, i, inv, c),
            (
                vec![2, 1, 3, 4],
                vec![0, 1, 3, 4],
                vec![0, 1, 1, 2, 3, 2],
                vec![1, 2, 2, 1]
            )
        );
        assert_eq!(
            run_unique(&x, true, 3).unwrap_err(),
            KernelError::CapacityExceeded { capacity: 3 }
        );
    }

    #[test]
    fn unique_slices_along_an_axis() {
        // [[1, 0, 0], [1, 0, 0], [2, 3, 4]] along axis 0: rows [1, 0, 0] and [2, 3, 4].
        let x = [1, 0, 0, 1, 0, 0, 2, 3, 4];
        let (mut v, mut i, mut inv, mut c) = ([0; 9], [0; 3], [0; 3], [0; 3]);
        let mut scratch = [0; 9];
        let out = UniqueOut {
            values: &mut v,
            indices: &mut i,
            inverse: &mut inv,
            counts: &mut c,
        };
        assert_eq!(unique(&x, 1, 3, 3, true, out, &mut scratch), Ok(2));
        assert_eq!(
            (&v[..6], &i[..2], inv, &c[..2]),
            (&[1, 0, 0, 2, 3, 4][..], &[0, 2][..], [0, 0, 1], &[2, 1][..])
        );
    }

    /// A small deterministic generator for the randomized tests.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// Unique by definition, quadratic: the distinct slices in order of first occurrence,
    /// then sorted if asked, with first indices, counts and each slice's position.
    fn naive_unique(
        x: &[i32],
        outer: usize,
        len: usize,
        inner: usize,
        sorted: bool,
    ) -> (Vec<Vec<i32>>, Vec<i64>, Vec<i64>, Vec<i64>) {
        let slice = |i: usize| -> Vec<i32> {
            (0..outer)
                .flat_map(|o| x[(o * len + i) * inner..(o * len + i + 1) * inner].to_vec())
                .collect()
        };
        let mut groups: Vec<(Vec<i32>, i64, i64)> = Vec::new();
        for i in 0..len {
            let s = slice(i);
            match groups.iter_mut().find(|g| g.0 == s) {
                Some(g) => g.2 += 1,
                None => groups.push((s, i as i64, 1)),
            }
        }
        if sorted {
            groups.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let inverse = (0..len)
            .map(|i| groups.iter().position(|g| g.0 == slice(i)).unwrap() as i64)
            .collect();
        (
            groups.iter().map(|g| g.0.clone()).collect(),
            groups.iter().map(|g| g.1).collect(),
            inverse,
            groups.iter().map(|g| g.2).collect(),
        )
    }

    #[test]
    fn unique_matches_its_definition_on_random_shapes() {
        let mut rng = Lcg(0x5e1ec7);
        for case in 0..300 {
            let (outer, len, inner) = (
                rng.below(3) as usize + 1,
                rng.below(12) as usize,
                rng.below(3) as usize + 1,
            );
            // Few distinct values, so slices repeat.
            let x: Vec<i32> = (0..outer * len * inner)
                .map(|_| rng.below(3) as i32 - 1)
                .collect();
            let sorted = case % 2 == 0;
            let (values, indices, inverse, counts) = naive_unique(&x, outer, len, inner, sorted);
            let mut got = (
                vec![0; outer * len * inner],
                vec![0; len],
                vec![0; len],
                vec![0; len],
            );
            let mut scratch = vec![0; unique_scratch_len(len)];
            let out = UniqueOut {
                values: &mut got.0,
                indices: &mut got.1,
                inverse: &mut got.2,
                counts: &mut got.3,
            };
            let n = unique(&x, outer, len, inner, sorted, out, &mut scratch).unwrap();
            assert_eq!(n, values.len(), "case {case}");
            // Y is [outer, n, inner]: slice p of the result, read back in the naive order.
            for (p, want) in values.iter().enumerate() {
                let got_slice: Vec<i32> = (0..outer)
                    .flat_map(|o| got.0[(o * n + p) * inner..(o * n + p + 1) * inner].to_vec())
                    .collect();
                assert_eq!(&got_slice, want, "case {case}: value {p}");
            }
            assert_eq!(&got.1[..n], &indices[..], "case {case}: indices");
            assert_eq!(got.2, inverse, "case {case}: inverse");
            assert_eq!(&got.3[..n], &counts[..], "case {case}: counts");
        }
    }

    #[test]
    fn nonzero_and_compress_match_their_definitions_on_random_shapes() {
        let mut rng = Lcg(0xc0_4e55);
        for case in 0..300 {
            let dims: Vec<usize> = (0..rng.below(4))
                .map(|_| rng.below(4) as usize + 1)
                .collect();
            let n: usize = dims.iter().product();
            let x: Vec<i8> = (0..n).map(|_| rng.below(3) as i8 - 1).collect();
            let mut y = vec![-1; dims.len() * n];
            let count = nonzero(&x, &dims, &mut y).unwrap();
            let want: Vec<usize> = (0..n).filter(|&f| x[f] != 0).collect();
            assert_eq!(count, want.len(), "case {case}");
            for (j, &flat) in want.iter().enumerate() {
                // Row-major strides, the last axis fastest.
                let mut rest = flat;
                for axis in (0..dims.len()).rev() {
                    assert_eq!(
                        y[axis * count + j],
                        (rest % dims[axis]) as i64,
                        "case {case}"
                    );
                    rest /= dims[axis];
                }
            }

            let (outer, len, inner) = (
                rng.below(3) as usize + 1,
                rng.below(6) as usize,
                rng.below(3) as usize + 1,
            );
            let x: Vec<u16> = (0..outer * len * inner).map(|v| v as u16).collect();
            let cond: Vec<u8> = (0..rng.below(len as u64 + 1))
                .map(|_| rng.below(2) as u8)
                .collect();
            let mut y = vec![0; outer * len * inner];
            let count = compress(&x, outer, len, inner, &cond, &mut y).unwrap();
            let kept: Vec<usize> = (0..cond.len()).filter(|&i| cond[i] != 0).collect();
            assert_eq!(count, kept.len(), "case {case}");
            let want: Vec<u16> = (0..outer)
                .flat_map(|o| {
                    kept.iter().flat_map(move |&i| {
                        (0..inner).map(move |r| ((o * len + i) * inner + r) as u16)
                    })
                })
                .collect();
            assert_eq!(&y[..want.len()], &want[..], "case {case}");
        }
    }

    #[test]
    fn nms_keeps_the_best_boxes_that_do_not_overlap() {
        // The ONNX spec's suppress_by_IOU case: six boxes, one class.
        let boxes = [
            0.0, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 0.0, -0.1, 1.0, 0.9, 0.0, 10.0, 1.0, 11.0, 0.0,
            10.1, 1.0, 11.1, 0.0, 100.0, 1.0, 101.0,
        ];
        let scores = [0.9, 0.75, 0.6, 0.95, 0.5, 0.3];
        let d = Detections {
            boxes: &boxes,
            scores: &scores,
            batches: 1,
            classes: 1,
            spatial: 6,
        };
        let p = NmsParams {
            center_point_box: false,
            max_per_class: 3,
            iou_threshold: 0.5,
            score_threshold: Some(0.0),
        };
        let (mut y, mut scratch) = ([0i64; 9], [0u32; 6]);
        assert_eq!(non_max_suppression(&d, &p, &mut y, &mut scratch), Ok(3));
        assert_eq!(y, [0, 0, 3, 0, 0, 0, 0, 0, 5]);
        assert_eq!(
            non_max_suppression(&d, &p, &mut y[..6], &mut scratch),
            Err(KernelError::CapacityExceeded { capacity: 2 })
        );
        let high = NmsParams {
            score_threshold: Some(0.4),
            ..p
        };
        assert_eq!(non_max_suppression(&d, &high, &mut y, &mut scratch), Ok(2));
        assert_eq!(&y[..6], &[0, 0, 3, 0, 0, 0]);
    }
}
