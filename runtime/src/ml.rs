//! Kernels of the `ai.onnx.ml` domain, the classic machine learning that scikit-learn
//! models export to: tree ensembles, linear models, support vector regression and the
//! small preprocessing ops (scaling, normalisation, thresholds, label lookup, column
//! selection).
//!
//! The numerics follow ONNX Runtime, the reference the compiler is tested against: the
//! post-transforms are its formulas (its logistic, its `erfinv` approximation for probit,
//! its softmax with the zero rule of `SOFTMAX_ZERO`), and a classifier's label is the
//! first class of highest score among the classes some leaf scored.
//!
//! A tree ensemble runs from tables the compiler builds: every tree flattened into one
//! node array in depth-first order, the true branch of a node right after it, so a node
//! stores only where its false branch starts. See [`tree_ensemble`] for the encoding.

use crate::scalar::{at_least, Scalar};
use crate::tokens::tokens;
use crate::KernelError;

tokens! {
    rt::ml;
    /// What a classifier or regressor applies to its raw scores (`post_transform`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum PostTransform {
        /// The scores as they are.
        None,
        /// `softmax` over a row's scores.
        Softmax,
        /// The logistic function of each score.
        Logistic,
        /// `softmax` that leaves (near) zero scores at zero.
        SoftmaxZero,
        /// The probit (inverse normal CDF) of each score.
        Probit,
    }
}

tokens! {
    rt::ml;
    /// How the leaves a row reaches in the trees of an ensemble combine into one score per
    /// target (`aggregate_function`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Aggregate {
        Sum,
        /// The sum divided by the number of trees.
        Average,
        Min,
        Max,
    }
}

tokens! {
    rt::ml;
    /// The sizes and rules of one compiled tree ensemble.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Trees {
        /// Rows of the input.
        pub batch: usize,
        /// Features per row.
        pub features: usize,
        /// Scores per row: the targets of a regressor, the classes of a classifier.
        pub targets: usize,
        pub n_trees: usize,
        pub aggregate: Aggregate,
        /// Whether every leaf of every tree scores every target. Then a score that no
        /// leaf reached cannot happen, and zero leaf weights need no entry.
        pub dense: bool,
        pub post_transform: PostTransform,
    }
}

/// The bits of a node's first word that hold its feature (or, for a leaf, its count of
/// weights); the mode sits above them.
pub const NODE_FEATURE_MASK: u32 = (1 << MODE_SHIFT) - 1;
/// Where a node's mode starts in its first word.
pub const MODE_SHIFT: u32 = 24;
/// The bit of a node's first word that sends a missing (NaN) feature down the true branch.
pub const MISSING_TRUE: u32 = 1 << 28;
/// The modes of a node, as stored at [`MODE_SHIFT`]: true when `x <= threshold`, …
pub const BRANCH_LEQ: u32 = 0;
pub const BRANCH_LT: u32 = 1;
pub const BRANCH_GTE: u32 = 2;
pub const BRANCH_GT: u32 = 3;
pub const BRANCH_EQ: u32 = 4;
pub const BRANCH_NEQ: u32 = 5;
/// True when `x` is in a set of `members`; the node's threshold holds where the set
/// starts there, and a NaN ends it.
pub const BRANCH_MEMBER: u32 = 6;
pub const LEAF: u32 = 7;

/// Runs a tree ensemble on `x` (`[batch, features]`) and writes the aggregated scores of
/// each row to `scores` (`[batch, targets]`), `base` added (when not empty) and the
/// post-transform applied. A target no leaf scored gets its base value, or 0.
///
/// The tables, built by the compiler:
/// - `nodes`: two words per node. The first holds the feature (bits 0..24), the mode (bits
///   24..27, [`BRANCH_LEQ`]…[`LEAF`]) and [`MISSING_TRUE`]; the second the index of the
///   false branch. A branch's true branch is the next node. For a leaf, the first word's
///   low bits count its weights and the second is the index of the first.
/// - `thresholds`: one per node.
/// - `members`: the sets of [`BRANCH_MEMBER`] nodes, each ended by a NaN.
/// - `roots`: the first node of each tree.
/// - `leaf_targets`, `leaf_weights`: the (target, weight) pairs of the leaves.
///
/// `no_score` receives, per row and target, whether no leaf scored it (for a
/// classifier's label, which skips such classes); `[]` when the caller does not ask.
#[allow(clippy::too_many_arguments)]
pub fn tree_ensemble(
    p: Trees,
    x: &[f32],
    nodes: &[u32],
    thresholds: &[f32],
    members: &[f32],
    roots: &[u32],
    leaf_targets: &[u32],
    leaf_weights: &[f32],
    base: &[f32],
    scores: &mut [f32],
) {
    let rows = x
        .chunks_exact(p.features.max(1))
        .zip(scores.chunks_exact_mut(p.targets.max(1)))
        .take(p.batch);
    for (row, out) in rows {
        // NaN marks a target no leaf has scored yet, so that `Min` and `Max` start from
        // the first leaf and the label can skip it; a dense ensemble scores every target.
        let start = if p.dense && matches!(p.aggregate, Aggregate::Sum | Aggregate::Average) {
            0.0
        } else {
            f32::NAN
        };
        out.fill(start);
        for &root in roots {
            let leaf = find_leaf(row, nodes, thresholds, members, root as usize);
            let info = nodes[2 * leaf];
            let first = nodes[2 * leaf + 1] as usize;
            let count = (info & NODE_FEATURE_MASK) as usize;
            let pairs = leaf_targets[first..first + count]
                .iter()
                .zip(&leaf_weights[first..first + count]);
            for (&target, &w) in pairs {
                let s = &mut out[target as usize];
                *s = if s.is_nan() {
                    w
                } else {
                    match p.aggregate {
                        Aggregate::Sum | Aggregate::Average => *s + w,
                        Aggregate::Min => s.min(w),
                        Aggregate::Max => s.max(w),
                    }
                };
            }
        }
        for (k, s) in out.iter_mut().enumerate() {
            let scored = if s.is_nan() { 0.0 } else { *s };
            let scored = match p.aggregate {
                Aggregate::Average => scored / p.n_trees as f32,
                _ => scored,
            };
            *s = scored + base.get(k).copied().unwrap_or(0.0);
        }
        post_transform(p.post_transform, out);
    }
}

/// The leaf that `row` reaches from node `root`.
#[inline]
fn find_leaf(
    row: &[f32],
    nodes: &[u32],
    thresholds: &[f32],
    members: &[f32],
    root: usize,
) -> usize {
    let mut i = root;
    loop {
        let info = nodes[2 * i];
        let mode = (info >> MODE_SHIFT) & 7;
        if mode == LEAF {
            return i;
        }
        let v = row[(info & NODE_FEATURE_MASK) as usize];
        let t = thresholds[i];
        let goes_true = match mode {
            BRANCH_LEQ => v <= t,
            BRANCH_LT => v < t,
            BRANCH_GTE => v >= t,
            BRANCH_GT => v > t,
            BRANCH_EQ => v == t,
            BRANCH_NEQ => v != t,
            _ => members[t as usize..]
                .iter()
                .take_while(|m| !m.is_nan())
                .any(|&m| m == v),
        } || (info & MISSING_TRUE != 0 && v.is_nan());
        i = if goes_true {
            i + 1
        } else {
            nodes[2 * i + 1] as usize
        };
    }
}

/// A tree ensemble classifier: [`tree_ensemble`]'s scores of the classes, and each row's
/// label, `labels[c]` of the first class of highest score among the classes a leaf
/// scored (or that have a base value), as ONNX Runtime picks it.
#[allow(clippy::too_many_arguments)]
pub fn tree_classifier(
    p: Trees,
    x: &[f32],
    nodes: &[u32],
    thresholds: &[f32],
    members: &[f32],
    roots: &[u32],
    leaf_targets: &[u32],
    leaf_weights: &[f32],
    base: &[f32],
    labels: &[i64],
    label: &mut [i64],
    scores: &mut [f32],
) {
    let raw = Trees {
        post_transform: PostTransform::None,
        ..p
    };
    let classes = p.targets.max(1);
    for (b, (row, out)) in x
        .chunks_exact(p.features.max(1))
        .zip(scores.chunks_exact_mut(classes))
        .take(p.batch)
        .enumerate()
    {
        let one = Trees { batch: 1, ..raw };
        // The label needs to know which classes were scored: run the trees without a
        // base first, where an unscored class is still NaN.
        let mut best: Option<(usize, f32)> = None;
        if p.dense || base.len() == classes {
            tree_ensemble(
                one,
                row,
                nodes,
                thresholds,
                members,
                roots,
                leaf_targets,
                leaf_weights,
                base,
                out,
            );
            for (c, &s) in out.iter().enumerate() {
                if best.is_none_or(|(_, m)| s > m) {
                    best = Some((c, s));
                }
            }
        } else {
            unscored_scores(
                row,
                nodes,
                thresholds,
                members,
                roots,
                leaf_targets,
                leaf_weights,
                out,
            );
            for (c, s) in out.iter_mut().enumerate() {
                let has_base = c < base.len();
                if s.is_nan() && !has_base {
                    *s = 0.0;
                    continue;
                }
                let v = if s.is_nan() { 0.0 } else { *s } + base.get(c).copied().unwrap_or(0.0);
                *s = v;
                if best.is_none_or(|(_, m)| v > m) {
                    best = Some((c, v));
                }
            }
        }
        // No class scored at all: ONNX Runtime's label is then undefined; the first class
        // is as good as any and keeps the output deterministic.
        let c = best.map_or(0, |(c, _)| c);
        label[b] = labels.get(c).copied().unwrap_or(0);
        post_transform(p.post_transform, out);
    }
}

/// The aggregated scores of one row with NaN left where no leaf scored.
#[allow(clippy::too_many_arguments)]
fn unscored_scores(
    row: &[f32],
    nodes: &[u32],
    thresholds: &[f32],
    members: &[f32],
    roots: &[u32],
    leaf_targets: &[u32],
    leaf_weights: &[f32],
    out: &mut [f32],
) {
    out.fill(f32::NAN);
    for &root in roots {
        let leaf = find_leaf(row, nodes, thresholds, members, root as usize);
        let first = nodes[2 * leaf + 1] as usize;
        let count = (nodes[2 * leaf] & NODE_FEATURE_MASK) as usize;
        for (&target, &w) in leaf_targets[first..first + count]
            .iter()
            .zip(&leaf_weights[first..first + count])
        {
            let s = &mut out[target as usize];
            *s = if s.is_nan() { w } else { *s + w };
        }
    }
}

/// Applies a post-transform to one row of scores in place, with ONNX Runtime's formulas.
pub fn post_transform(t: PostTransform, row: &mut [f32]) {
    match t {
        PostTransform::None => {}
        PostTransform::Logistic => row.iter_mut().for_each(|v| *v = logistic(*v)),
        PostTransform::Probit => row.iter_mut().for_each(|v| *v = probit(*v)),
        PostTransform::Softmax | PostTransform::SoftmaxZero => {
            let zero_rule = t == PostTransform::SoftmaxZero;
            let max = row.iter().fold(-f32::MAX, |m, &v| at_least(v, m));
            let mut sum = 0.0f32;
            for v in row.iter_mut() {
                // SOFTMAX_ZERO keeps a zero score at zero probability.
                if zero_rule && *v <= 1e-7 && *v >= -1e-7 {
                    *v = 0.0;
                } else {
                    *v = libm::expf(*v - max);
                    sum += *v;
                }
            }
            row.iter_mut().for_each(|v| *v /= sum);
        }
    }
}

/// `1 / (1 + e^-v)`, computed from `|v|` so it never overflows.
pub fn logistic(v: f32) -> f32 {
    let s = 1.0 / (1.0 + libm::expf(-v.abs()));
    if v < 0.0 {
        1.0 - s
    } else {
        s
    }
}

/// `√2 · erfinv(2v − 1)`, with the closed-form `erfinv` approximation (Winitzki's, a =
/// 0.147) that ONNX Runtime uses.
pub fn probit(v: f32) -> f32 {
    let x = 2.0 * v - 1.0;
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let ln = libm::logf((1.0 - x) * (1.0 + x));
    let a = 2.0 / (core::f32::consts::PI * 0.147) + 0.5 * ln;
    let b = ln / 0.147;
    let erfinv = sign * libm::sqrtf(libm::sqrtf(a * a - b) - a);
    core::f32::consts::SQRT_2 * erfinv
}

/// `y = x · wᵀ + b` for `x` `[batch, features]`, `w` `[targets, features]` and `b`
/// `[targets]` (or empty), then the post-transform of each row.
pub fn linear(
    batch: usize,
    features: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    post: PostTransform,
    y: &mut [f32],
) {
    let targets = w.len().checked_div(features).unwrap_or(0);
    for (row, out) in x
        .chunks_exact(features.max(1))
        .zip(y.chunks_exact_mut(targets.max(1)))
        .take(batch)
    {
        for (t, o) in out.iter_mut().enumerate() {
            let coefficients = &w[t * features..(t + 1) * features];
            let dot = row
                .iter()
                .zip(coefficients)
                .fold(0.0f32, |acc, (&a, &c)| acc + a * c);
            *o = dot + b.get(t).copied().unwrap_or(0.0);
        }
        post_transform(post, out);
    }
}

/// A linear classifier: each row's scores ([`linear`] before the post-transform) and its
/// label, `labels[c]` of the first class of highest score.
#[allow(clippy::too_many_arguments)]
pub fn linear_classifier(
    batch: usize,
    features: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    post: PostTransform,
    labels: &[i64],
    label: &mut [i64],
    scores: &mut [f32],
) {
    linear(batch, features, x, w, b, PostTransform::None, scores);
    let classes = labels.len().max(1);
    for (out, l) in scores
        .chunks_exact_mut(classes)
        .zip(label.iter_mut())
        .take(batch)
    {
        let mut best = 0;
        for (c, &s) in out.iter().enumerate() {
            if s > out[best] {
                best = c;
            }
        }
        *l = labels[best];
        post_transform(post, out);
    }
}

tokens! {
    rt::ml;
    /// The norm a `Normalizer` divides each row by.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Norm {
        /// The row's largest value.
        Max,
        /// The sum of absolute values.
        L1,
        /// The Euclidean norm.
        L2,
    }
}

/// Divides each row of `x` (`[rows, len]`) by its norm; a row whose norm is 0 is copied.
pub fn normalize(norm: Norm, len: usize, x: &[f32], y: &mut [f32]) {
    for (row, out) in x
        .chunks_exact(len.max(1))
        .zip(y.chunks_exact_mut(len.max(1)))
    {
        let n = match norm {
            Norm::Max => row.iter().fold(f32::MIN, |m, &v| at_least(v, m)),
            Norm::L1 => row.iter().map(|v| v.abs()).sum(),
            Norm::L2 => libm::sqrtf(row.iter().map(|v| v * v).sum()),
        };
        for (o, &v) in out.iter_mut().zip(row) {
            *o = if n == 0.0 { v } else { v / n };
        }
    }
}

/// `y = (x − offset) · scale`, with `offset` and `scale` of one value or one per element
/// of the last axis.
pub fn scale(x: &[f32], offset: &[f32], scale: &[f32], y: &mut [f32]) {
    let at = |v: &[f32], i: usize| match v.len() {
        0 => None,
        1 => Some(v[0]),
        n => Some(v[i % n]),
    };
    for (i, (o, &v)) in y.iter_mut().zip(x).enumerate() {
        let shifted = v - at(offset, i).unwrap_or(0.0);
        *o = shifted * at(scale, i).unwrap_or(1.0);
    }
}

/// `y = 1` where `x > threshold`, else 0 (NaN gives 0).
pub fn binarize<T: Scalar>(x: &[T], threshold: T, y: &mut [T]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = if v > threshold { T::ONE } else { T::ZERO };
    }
}

/// Looks each element of `x` up in `keys` (sorted, without NaN) and writes its value, or
/// `default` when it is not there; a NaN (for float keys) maps to `nan`.
pub fn label_encode<K: Scalar, V: Scalar>(
    x: &[K],
    keys: &[K],
    values: &[V],
    default: V,
    nan: V,
    y: &mut [V],
) {
    for (o, &v) in y.iter_mut().zip(x) {
        // `v != v` only for a float NaN, which no sorted search can find.
        #[allow(clippy::eq_op)]
        let is_nan = v != v;
        *o = if is_nan {
            nan
        } else {
            match keys.binary_search_by(|k| k.partial_cmp(&v).unwrap_or(core::cmp::Ordering::Less))
            {
                Ok(i) => values[i],
                Err(_) => default,
            }
        };
    }
}

/// `ArrayFeatureExtractor`: for each of the `outer` rows of `x` (`len` elements each), the
/// elements at `indices`, in order. An index outside `0..len` fails.
pub fn array_feature_extractor<T: Scalar>(
    x: &[T],
    outer: usize,
    len: usize,
    indices: &[i64],
    y: &mut [T],
) -> Result<(), KernelError> {
    if let Some(&bad) = indices.iter().find(|&&i| i < 0 || i as u64 >= len as u64) {
        return Err(KernelError::IndexOutOfRange { index: bad, len });
    }
    let n = indices.len();
    if n == 0 {
        return Ok(());
    }
    for (row, out) in x
        .chunks_exact(len.max(1))
        .zip(y.chunks_exact_mut(n))
        .take(outer)
    {
        for (o, &i) in out.iter_mut().zip(indices) {
            *o = row[i as usize];
        }
    }
    Ok(())
}

tokens! {
    rt::ml;
    /// The kernel of a support vector machine, with its parameters.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum SvmKernel {
        /// `x · s`.
        Linear,
        /// `(gamma · x · s + coef0)^degree`.
        Poly { gamma: f32, coef0: f32, degree: f32 },
        /// `e^(−gamma · |x − s|²)`.
        Rbf { gamma: f32 },
        /// `tanh(gamma · x · s + coef0)`.
        Sigmoid { gamma: f32, coef0: f32 },
    }
}

/// The kernel of two vectors of equal length.
pub fn svm_kernel(kernel: SvmKernel, a: &[f32], b: &[f32]) -> f32 {
    let dot = || a.iter().zip(b).fold(0.0f32, |acc, (&u, &v)| acc + u * v);
    match kernel {
        SvmKernel::Linear => dot(),
        SvmKernel::Poly {
            gamma,
            coef0,
            degree,
        } => libm::powf(gamma * dot() + coef0, degree),
        SvmKernel::Rbf { gamma } => {
            let d2 = a
                .iter()
                .zip(b)
                .fold(0.0f32, |acc, (&u, &v)| acc + (u - v) * (u - v));
            libm::expf(-gamma * d2)
        }
        SvmKernel::Sigmoid { gamma, coef0 } => libm::tanhf(gamma * dot() + coef0),
    }
}

/// Support vector regression: for each row of `x` (`[batch, features]`),
/// `Σ coefficients[j] · K(x, vectors[j]) + rho`; with no support vectors, the linear
/// model `K(x, coefficients) + rho`. A one-class model outputs 1 for a positive sum and
/// −1 otherwise.
#[allow(clippy::too_many_arguments)]
pub fn svm_regressor(
    batch: usize,
    features: usize,
    kernel: SvmKernel,
    x: &[f32],
    vectors: &[f32],
    coefficients: &[f32],
    rho: f32,
    one_class: bool,
    y: &mut [f32],
) {
    for (row, out) in x
        .chunks_exact(features.max(1))
        .zip(y.iter_mut())
        .take(batch)
    {
        let sum = if vectors.is_empty() {
            svm_kernel(kernel, row, coefficients)
        } else {
            vectors
                .chunks_exact(features.max(1))
                .zip(coefficients)
                .fold(0.0f32, |acc, (v, &c)| acc + c * svm_kernel(kernel, row, v))
        } + rho;
        *out = match (one_class, sum > 0.0) {
            (false, _) => sum,
            (true, true) => 1.0,
            (true, false) => -1.0,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node table from `(mode, feature or count, link)` triples.
    macro_rules! nodes {
        ($(($mode:expr, $feature:expr, $link:expr)),* $(,)?) => {
            [$($mode << MODE_SHIFT | $feature, $link),*]
        };
    }

    #[test]
    fn a_tree_reaches_the_leaf_of_each_row() {
        // `x0 <= 0.5 ? (x1 < 2 ? A : B) : C`, in depth-first order: A adds 1 to target 0,
        // B 2 to target 1, C 3 and 4 to targets 0 and 1.
        let nodes = nodes![
            (BRANCH_LEQ, 0, 4),
            (BRANCH_LT, 1, 3),
            (LEAF, 1, 0),
            (LEAF, 1, 1),
            (LEAF, 2, 2),
        ];
        let thresholds = [0.5, 2.0, 0.0, 0.0, 0.0];
        let p = Trees {
            batch: 3,
            features: 2,
            targets: 2,
            n_trees: 1,
            aggregate: Aggregate::Sum,
            dense: false,
            post_transform: PostTransform::None,
        };
        let x = [0.0, 1.0, 0.5, 3.0, 0.7, 0.0];
        let mut y = [0.0; 6];
        let targets = [0, 1, 0, 1];
        let weights = [1.0, 2.0, 3.0, 4.0];
        tree_ensemble(
            p,
            &x,
            &nodes,
            &thresholds,
            &[],
            &[0],
            &targets,
            &weights,
            &[10.0, 20.0],
            &mut y,
        );
        assert_eq!(y, [11.0, 20.0, 10.0, 22.0, 13.0, 24.0]);
    }

    #[test]
    fn missing_values_follow_their_track() {
        let mut nodes = nodes![(BRANCH_LEQ, 0, 2), (LEAF, 1, 0), (LEAF, 1, 1)];
        let p = Trees {
            batch: 1,
            features: 1,
            targets: 1,
            n_trees: 1,
            aggregate: Aggregate::Sum,
            dense: true,
            post_transform: PostTransform::None,
        };
        let run = |nodes: &[u32]| {
            let mut y = [0.0];
            tree_ensemble(
                p,
                &[f32::NAN],
                nodes,
                &[0.0; 3],
                &[],
                &[0],
                &[0, 0],
                &[1.0, 2.0],
                &[],
                &mut y,
            );
            y[0]
        };
        assert_eq!(run(&nodes), 2.0, "NaN <= t is false");
        nodes[0] |= MISSING_TRUE;
        assert_eq!(
            run(&nodes),
            1.0,
            "the missing track sends NaN to the true branch"
        );
    }

    #[test]
    fn set_membership_reads_the_set_up_to_nan() {
        let nodes = nodes![(BRANCH_MEMBER, 0, 2), (LEAF, 1, 0), (LEAF, 1, 1)];
        let members = [7.0, 1.0, 3.0, f32::NAN, 5.0, f32::NAN];
        let p = Trees {
            batch: 4,
            features: 1,
            targets: 1,
            n_trees: 1,
            aggregate: Aggregate::Sum,
            dense: true,
            post_transform: PostTransform::None,
        };
        let mut y = [0.0; 4];
        // The node's set starts at index 1: {1, 3}.
        tree_ensemble(
            p,
            &[1.0, 3.0, 5.0, 7.0],
            &nodes,
            &[1.0, 0.0, 0.0],
            &members,
            &[0],
            &[0, 0],
            &[1.0, 2.0],
            &[],
            &mut y,
        );
        assert_eq!(y, [1.0, 1.0, 2.0, 2.0]);
    }

    #[test]
    fn aggregates_combine_trees() {
        // Two one-leaf trees scoring 1 and 3.
        let nodes = nodes![(LEAF, 1, 0), (LEAF, 1, 1)];
        let run = |aggregate| {
            let p = Trees {
                batch: 1,
                features: 1,
                targets: 1,
                n_trees: 2,
                aggregate,
                dense: true,
                post_transform: PostTransform::None,
            };
            let mut y = [0.0];
            tree_ensemble(
                p,
                &[0.0],
                &nodes,
                &[0.0; 2],
                &[],
                &[0, 1],
                &[0, 0],
                &[1.0, 3.0],
                &[0.5],
                &mut y,
            );
            y[0]
        };
        assert_eq!(run(Aggregate::Sum), 4.5);
        assert_eq!(run(Aggregate::Average), 2.5);
        assert_eq!(run(Aggregate::Min), 1.5);
        assert_eq!(run(Aggregate::Max), 3.5);
    }

    #[test]
    fn the_label_skips_classes_no_leaf_scored() {
        // One leaf scoring class 1 with -1 and class 2 with -2: class 0 scores nothing, and
        // its 0 must not win.
        let nodes = nodes![(LEAF, 2, 0)];
        let p = Trees {
            batch: 1,
            features: 1,
            targets: 3,
            n_trees: 1,
            aggregate: Aggregate::Sum,
            dense: false,
            post_transform: PostTransform::None,
        };
        let (mut label, mut scores) = ([0i64], [9.0f32; 3]);
        tree_classifier(
            p,
            &[0.0],
            &nodes,
            &[0.0],
            &[],
            &[0],
            &[1, 2],
            &[-1.0, -2.0],
            &[],
            &[10, 20, 30],
            &mut label,
            &mut scores,
        );
        assert_eq!(label, [20]);
        assert_eq!(scores, [0.0, -1.0, -2.0]);
    }

    #[test]
    fn post_transforms_match_their_formulas() {
        let mut row = [1.0f32, 2.0, 3.0];
        post_transform(PostTransform::Softmax, &mut row);
        let e: [f32; 3] = [(-2.0f32).exp(), (-1.0f32).exp(), 1.0];
        let sum: f32 = e.iter().sum();
        for (got, want) in row.iter().zip(e.iter().map(|v| v / sum)) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        let mut row = [0.0f32, 1.0];
        post_transform(PostTransform::SoftmaxZero, &mut row);
        assert_eq!(row, [0.0, 1.0]);
        assert!((logistic(-2.0) - 1.0 / (1.0 + 2.0f32.exp())).abs() < 1e-7);
        // The approximation is within 2e-3 of the true probit.
        assert!(
            (probit(0.975) - 1.959_964).abs() < 2e-3,
            "{}",
            probit(0.975)
        );
        assert_eq!(probit(0.5), 0.0);
    }

    #[test]
    fn a_linear_classifier_labels_the_first_best_class() {
        let (mut label, mut scores) = ([0i64; 2], [0.0f32; 6]);
        // Scores: row 0 [1, 3, 3] (a tie goes to the first), row 1 [2, 0, 1].
        let w = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        let x = [1.0, 3.0, 2.0, 0.0];
        linear_classifier(
            2,
            2,
            &x,
            &w,
            &[],
            PostTransform::None,
            &[5, 6, 7],
            &mut label,
            &mut scores,
        );
        assert_eq!(label, [6, 5]);
        assert_eq!(scores, [1.0, 3.0, 3.0, 2.0, 0.0, 0.0]);
    }

    #[test]
    fn normalizers_divide_by_their_norm() {
        let x = [3.0, -4.0, 0.0, 0.0];
        let mut y = [0.0; 4];
        normalize(Norm::L2, 2, &x, &mut y);
        assert_eq!(y, [0.6, -0.8, 0.0, 0.0]);
        normalize(Norm::L1, 2, &x, &mut y);
        assert_eq!(y, [3.0 / 7.0, -4.0 / 7.0, 0.0, 0.0]);
        normalize(Norm::Max, 2, &x, &mut y);
        assert_eq!(y, [1.0, -4.0 / 3.0, 0.0, 0.0]);
    }

    #[test]
    fn label_encoding_finds_keys_and_falls_back() {
        let mut y = [0i64; 4];
        label_encode(
            &[2.5f32, f32::NAN, 1.0, 7.0],
            &[1.0, 2.5],
            &[10, 20],
            -1,
            99,
            &mut y,
        );
        assert_eq!(y, [20, 99, 10, -1]);
    }

    #[test]
    fn feature_extraction_checks_indices() {
        let mut y = [0.0f32; 4];
        array_feature_extractor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3, &[2, 0], &mut y).unwrap();
        assert_eq!(y, [3.0, 1.0, 6.0, 4.0]);
        assert_eq!(
            array_feature_extractor(&[1.0f32; 6], 2, 3, &[3], &mut y),
            Err(KernelError::IndexOutOfRange { index: 3, len: 3 })
        );
    }

    #[test]
    fn svm_regression_sums_kernels() {
        let mut y = [0.0f32; 2];
        let kernel = SvmKernel::Rbf { gamma: 0.5 };
        svm_regressor(
            2,
            1,
            kernel,
            &[0.0, 1.0],
            &[0.0, 2.0],
            &[1.0, -1.0],
            0.25,
            false,
            &mut y,
        );
        let want0 = 1.0 - (-2.0f32).exp() + 0.25;
        let want1 = (-0.5f32).exp() - (-0.5f32).exp() + 0.25;
        assert!(
            (y[0] - want0).abs() < 1e-6 && (y[1] - want1).abs() < 1e-6,
            "{y:?}"
        );
        svm_regressor(
            2,
            1,
            SvmKernel::Linear,
            &[2.0, -2.0],
            &[],
            &[1.5],
            0.5,
            true,
            &mut y,
        );
        assert_eq!(y, [1.0, -1.0]);
    }
}
