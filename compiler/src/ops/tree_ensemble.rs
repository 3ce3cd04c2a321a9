//! TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml opset 1; opset 3 adds the
//! `*_as_tensor` double attributes) and TreeEnsemble (ai.onnx.ml opset 5: node arrays
//! indexed directly, leaves apart from nodes, set-membership splits, integer enums).
//!
//! Whatever the spelling, the trees are compiled into one flat node array in depth-first
//! order (a node's true branch right after it, so a node stores only its false branch),
//! with the leaves' (target, weight) pairs beside it: tables that import adds to the node
//! as constant inputs ([`ParseCtx::tables`]), so they live in the weight blob, and that
//! `zant_runtime::ml::tree_ensemble` walks. A threshold given as a double is rounded
//! towards the side that keeps each comparison exact for every `f32` input.
//!
//! The semantics are ONNX Runtime's: a classifier's label is the first class of highest
//! score among the classes some leaf (or a base value) scored, and a regressor with one
//! target applies only the PROBIT post-transform, as ONNX Runtime does.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::ml::{
    self as rt_ml, Aggregate, PostTransform, Trees, BRANCH_EQ, BRANCH_GT, BRANCH_GTE, BRANCH_LEQ,
    BRANCH_LT, BRANCH_MEMBER, BRANCH_NEQ, LEAF, MISSING_TRUE, MODE_SHIFT,
};

use super::ml_attrs::{
    aggregate, aggregate_name, features_input, indices, ints_or_empty, numbers, post_transform,
    post_transform_name, tensor_numbers,
};
use super::{f32_tokens, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

/// The tables of a compiled ensemble, in input order after X.
const TABLES: [&str; 6] = [
    "nodes",
    "thresholds",
    "members",
    "roots",
    "leaf_targets",
    "leaf_weights",
];

/// The largest feature index or leaf size a node word can hold.
const MAX_FIELD: usize = rt_ml::NODE_FEATURE_MASK as usize;

#[derive(Clone, Debug, PartialEq)]
pub struct TreeEnsemble {
    /// A classifier's class labels; `None` for a regressor.
    pub labels: Option<Vec<i64>>,
    pub n_targets: usize,
    pub n_trees: usize,
    pub aggregate: Aggregate,
    pub post_transform: PostTransform,
    /// Every leaf scores every target (see `zant_runtime::ml::Trees::dense`).
    pub dense: bool,
    pub base_values: Vec<f32>,
}

/// A child of a branch: another branch or a leaf, by index.
#[derive(Clone, Copy, Debug)]
enum Child {
    Branch(usize),
    Leaf(usize),
}

/// A decision node as the attributes describe it.
#[derive(Clone, Debug)]
struct Branch {
    feature: usize,
    mode: u32,
    threshold: f64,
    /// The values of a [`BRANCH_MEMBER`] node.
    set: Vec<f64>,
    missing_true: bool,
    yes: Child,
    no: Child,
}

/// An ensemble before flattening.
#[derive(Debug, Default)]
struct Forest {
    branches: Vec<Branch>,
    /// The (target, weight) pairs of each leaf.
    leaves: Vec<Vec<(usize, f64)>>,
    roots: Vec<Child>,
}

impl Parse for TreeEnsemble {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (_, n_features) = features_input(ctx.input(0)?)?;
        let classifier = ctx.op_type == "TreeEnsembleClassifier";
        if ctx.n_inputs() > 1 {
            // The IR text: the tables are inputs already and the attributes are ours.
            ctx.tables(1, &TABLES, || Err(OpError::shape("the tables are missing")))?;
            return Ok(Self {
                labels: classifier
                    .then(|| ints_or_empty(ctx, "classlabels_int64s"))
                    .transpose()?,
                n_targets: ctx.count("n_targets", 1)?,
                n_trees: ctx.count("n_trees", 0)?,
                aggregate: aggregate(ctx)?,
                post_transform: post_transform(ctx)?,
                dense: ctx.int("dense", 0)? != 0,
                base_values: floats_or_empty(ctx, "base_values")?,
            });
        }
        let (forest, labels, n_targets) = if ctx.op_type == "TreeEnsemble" {
            let n_targets = ctx.count("n_targets", 1)?;
            (opset5_forest(ctx)?, None, n_targets)
        } else {
            legacy_forest(ctx, classifier)?
        };
        let aggregate = if classifier {
            Aggregate::Sum
        } else {
            aggregate(ctx)?
        };
        let mut post = post_transform(ctx)?;
        if labels.is_none() && n_targets == 1 && post != PostTransform::Probit {
            // ONNX Runtime transforms a single target with PROBIT only and passes the
            // score through for every other post-transform; zant computes what it does.
            post = PostTransform::None;
        }
        if let Some(labels) = &labels {
            if labels.len() < 3 {
                return Err(OpError::unsupported(format!(
                    "a classifier of {} classes: ONNX Runtime's rules for binary tree \
                     classifiers are not implemented",
                    labels.len()
                )));
            }
        }
        let base_values: Vec<f32> = numbers(ctx, "base_values")?
            .unwrap_or_default()
            .into_iter()
            .map(|v| v as f32)
            .collect();
        if base_values.len() > n_targets {
            return Err(OpError::attr(
                "base_values",
                format!("has {} values for {n_targets} targets", base_values.len()),
            ));
        }
        let dense = forest.leaves.iter().all(|leaf| {
            let mut seen = vec![false; n_targets];
            leaf.iter().for_each(|&(t, _)| seen[t] = true);
            seen.iter().all(|&s| s)
        });
        let n_trees = forest.roots.len();
        let drop_zeros = dense && matches!(aggregate, Aggregate::Sum | Aggregate::Average);
        let tables = flatten(&forest, n_features, drop_zeros)?;
        ctx.tables(1, &TABLES, || Ok(tables))?;
        Ok(Self {
            labels,
            n_targets,
            n_trees,
            aggregate,
            post_transform: post,
            dense,
            base_values,
        })
    }
}

fn floats_or_empty(ctx: &ParseCtx<'_>, name: &str) -> Result<Vec<f32>, OpError> {
    Ok(match ctx.attr(name) {
        Some(a) => a.as_floats(name)?,
        None => Vec::new(),
    })
}

/// The forest of TreeEnsembleClassifier or TreeEnsembleRegressor (opsets 1–4): nodes named
/// by (tree id, node id), leaves marked `LEAF`, weights attached by those ids. Also returns
/// the class labels of a classifier and the number of targets.
fn legacy_forest(
    ctx: &ParseCtx<'_>,
    classifier: bool,
) -> Result<(Forest, Option<Vec<i64>>, usize), OpError> {
    let tree_ids = ints_or_empty(ctx, "nodes_treeids")?;
    let node_ids = ints_or_empty(ctx, "nodes_nodeids")?;
    let features = indices(ctx, "nodes_featureids")?;
    let modes = ctx.strings("nodes_modes")?.unwrap_or_default();
    let trues = ints_or_empty(ctx, "nodes_truenodeids")?;
    let falses = ints_or_empty(ctx, "nodes_falsenodeids")?;
    let n = node_ids.len();
    let values = numbers(ctx, "nodes_values")?.unwrap_or_else(|| vec![0.0; n]);
    let missing = ctx
        .ints("nodes_missing_value_tracks_true")?
        .unwrap_or_else(|| vec![0; n]);
    for (name, len) in [
        ("nodes_treeids", tree_ids.len()),
        ("nodes_featureids", features.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", values.len()),
        ("nodes_truenodeids", trues.len()),
        ("nodes_falsenodeids", falses.len()),
        ("nodes_missing_value_tracks_true", missing.len()),
    ] {
        if len != n {
            return Err(OpError::attr(
                name,
                format!("has {len} values for {n} nodes (nodes_nodeids)"),
            ));
        }
    }
    if n == 0 {
        return Err(OpError::attr(
            "nodes_nodeids",
            "is empty: the ensemble has no node",
        ));
    }
    let mut index: HashMap<(i64, i64), usize> = HashMap::new();
    for (i, key) in tree_ids
        .iter()
        .copied()
        .zip(node_ids.iter().copied())
        .enumerate()
    {
        if index.insert(key, i).is_some() {
            return Err(OpError::attr(
                "nodes_nodeids",
                format!("node {} of tree {} is given twice", key.1, key.0),
            ));
        }
    }
    // Each node's place among the branches or the leaves.
    let mut place = Vec::with_capacity(n);
    let (mut n_branches, mut n_leaves) = (0, 0);
    for mode in &modes {
        if mode == "LEAF" {
            place.push(Child::Leaf(n_leaves));
            n_leaves += 1;
        } else {
            place.push(Child::Branch(n_branches));
            n_branches += 1;
        }
    }
    let mut forest = Forest {
        leaves: vec![Vec::new(); n_leaves],
        ..Forest::default()
    };
    let mut has_parent = vec![false; n];
    for i in 0..n {
        if let Child::Leaf(_) = place[i] {
            continue;
        }
        let mut child = |id: i64| -> Result<Child, OpError> {
            let c = *index.get(&(tree_ids[i], id)).ok_or_else(|| {
                OpError::attr(
                    "nodes_truenodeids",
                    format!(
                        "node {} of tree {} points to the missing node {id}",
                        node_ids[i], tree_ids[i]
                    ),
                )
            })?;
            has_parent[c] = true;
            Ok(place[c])
        };
        let (yes, no) = (child(trues[i])?, child(falses[i])?);
        forest.branches.push(Branch {
            feature: features[i],
            mode: legacy_mode(&modes[i])?,
            threshold: values[i],
            set: Vec::new(),
            missing_true: missing[i] != 0,
            yes,
            no,
        });
    }
    // A tree's root is its node that no branch points to; trees in order of appearance.
    let mut roots: Vec<(i64, usize)> = Vec::new();
    for i in 0..n {
        if has_parent[i] {
            continue;
        }
        if let Some(&(tree, _)) = roots.iter().find(|(t, _)| *t == tree_ids[i]) {
            return Err(OpError::attr(
                "nodes_nodeids",
                format!(
                    "tree {tree} has more than one root (node {} has no parent)",
                    node_ids[i]
                ),
            ));
        }
        roots.push((tree_ids[i], i));
    }
    if let Some(&tree) = tree_ids
        .iter()
        .find(|t| !roots.iter().any(|(r, _)| r == *t))
    {
        return Err(OpError::attr(
            "nodes_truenodeids",
            format!("tree {tree} has no root: its nodes form a cycle"),
        ));
    }
    forest.roots = roots.iter().map(|&(_, i)| place[i]).collect();

    let prefix = if classifier { "class" } else { "target" };
    let w_trees = ints_or_empty(ctx, &format!("{prefix}_treeids"))?;
    let w_nodes = ints_or_empty(ctx, &format!("{prefix}_nodeids"))?;
    let w_ids = indices(ctx, &format!("{prefix}_ids"))?;
    let weights_name = format!("{prefix}_weights");
    let weights = numbers(ctx, &weights_name)?.unwrap_or_default();
    let m = weights.len();
    if w_trees.len() != m || w_nodes.len() != m || w_ids.len() != m {
        return Err(OpError::attr(
            &weights_name,
            format!("{m} weights do not match the lengths of {prefix}_treeids, {prefix}_nodeids and {prefix}_ids"),
        ));
    }
    let (labels, n_targets) = if classifier {
        if ctx.attr("classlabels_strings").is_some() {
            return Err(OpError::unsupported(
                "string class labels (classlabels_strings): zant compiles int64 labels only",
            ));
        }
        let labels = ints_or_empty(ctx, "classlabels_int64s")?;
        let n = labels.len();
        (Some(labels), n)
    } else {
        (None, ctx.count("n_targets", 1)?)
    };
    for k in 0..m {
        let i = *index.get(&(w_trees[k], w_nodes[k])).ok_or_else(|| {
            OpError::attr(
                &format!("{prefix}_nodeids"),
                format!(
                    "weight {k} is for the missing node {} of tree {}",
                    w_nodes[k], w_trees[k]
                ),
            )
        })?;
        let Child::Leaf(leaf) = place[i] else {
            return Err(OpError::attr(
                &format!("{prefix}_nodeids"),
                format!(
                    "weight {k} is for node {} of tree {}, which is not a LEAF",
                    w_nodes[k], w_trees[k]
                ),
            ));
        };
        if w_ids[k] >= n_targets {
            return Err(OpError::attr(
                &format!("{prefix}_ids"),
                format!("{} is not below the {n_targets} targets", w_ids[k]),
            ));
        }
        forest.leaves[leaf].push((w_ids[k], weights[k]));
    }
    Ok((forest, labels, n_targets))
}

fn legacy_mode(mode: &str) -> Result<u32, OpError> {
    Ok(match mode {
        "BRANCH_LEQ" => BRANCH_LEQ,
        "BRANCH_LT" => BRANCH_LT,
        "BRANCH_GTE" => BRANCH_GTE,
        "BRANCH_GT" => BRANCH_GT,
        "BRANCH_EQ" => BRANCH_EQ,
        "BRANCH_NEQ" => BRANCH_NEQ,
        other => {
            return Err(OpError::attr(
                "nodes_modes",
                format!("`{other}` is not a node mode"),
            ))
        }
    })
}

/// The forest of TreeEnsemble (opset 5): nodes and leaves by position, children flagged
/// as leaves by `nodes_trueleafs` / `nodes_falseleafs`.
fn opset5_forest(ctx: &ParseCtx<'_>) -> Result<Forest, OpError> {
    let features = indices(ctx, "nodes_featureids")?;
    let n = features.len();
    let splits = match ctx.attr("nodes_splits") {
        Some(a) => tensor_numbers(a, "nodes_splits")?,
        None => return Err(OpError::attr("nodes_splits", "is required")),
    };
    let modes: Vec<i64> = match ctx.attr("nodes_modes") {
        Some(a) => a.as_tensor("nodes_modes")?.to_i64s(),
        None => vec![0; n],
    };
    let trues = indices(ctx, "nodes_truenodeids")?;
    let true_leafs = ints_or_empty(ctx, "nodes_trueleafs")?;
    let falses = indices(ctx, "nodes_falsenodeids")?;
    let false_leafs = ints_or_empty(ctx, "nodes_falseleafs")?;
    let missing = ctx
        .ints("nodes_missing_value_tracks_true")?
        .unwrap_or_else(|| vec![0; n]);
    for (name, len) in [
        ("nodes_splits", splits.len()),
        ("nodes_modes", modes.len()),
        ("nodes_truenodeids", trues.len()),
        ("nodes_trueleafs", true_leafs.len()),
        ("nodes_falsenodeids", falses.len()),
        ("nodes_falseleafs", false_leafs.len()),
        ("nodes_missing_value_tracks_true", missing.len()),
    ] {
        if len != n {
            return Err(OpError::attr(
                name,
                format!("has {len} values for {n} nodes (nodes_featureids)"),
            ));
        }
    }
    let targets = indices(ctx, "leaf_targetids")?;
    let weights = match ctx.attr("leaf_weights") {
        Some(a) => tensor_numbers(a, "leaf_weights")?,
        None => return Err(OpError::attr("leaf_weights", "is required")),
    };
    if weights.len() != targets.len() {
        return Err(OpError::attr(
            "leaf_weights",
            format!(
                "has {} values for {} leaves (leaf_targetids)",
                weights.len(),
                targets.len()
            ),
        ));
    }
    let n_targets = ctx.count("n_targets", 1)?;
    if let Some(&t) = targets.iter().find(|&&t| t >= n_targets) {
        return Err(OpError::attr(
            "leaf_targetids",
            format!("{t} is not below n_targets {n_targets}"),
        ));
    }
    let mut sets = match ctx.attr("membership_values") {
        Some(a) => tensor_numbers(a, "membership_values")?,
        None => Vec::new(),
    }
    .into_iter();
    let child = |id: usize, leaf: i64, what: &str| -> Result<Child, OpError> {
        let (bound, child) = if leaf != 0 {
            (targets.len(), Child::Leaf(id))
        } else {
            (n, Child::Branch(id))
        };
        if id >= bound {
            return Err(OpError::attr(
                what,
                format!(
                    "{id} is past the {bound} {}",
                    if leaf != 0 { "leaves" } else { "nodes" }
                ),
            ));
        }
        Ok(child)
    };
    let mut forest = Forest {
        leaves: targets
            .iter()
            .zip(&weights)
            .map(|(&t, &w)| vec![(t, w)])
            .collect(),
        ..Forest::default()
    };
    for i in 0..n {
        let mode = match modes[i] {
            m @ 0..=6 => m as u32,
            m => {
                return Err(OpError::attr(
                    "nodes_modes",
                    format!("{m} is not a mode (0..=6)"),
                ))
            }
        };
        // The sets of membership nodes follow each other in node order, each ended by a NaN.
        let set = if mode == BRANCH_MEMBER {
            sets.by_ref().take_while(|v| !v.is_nan()).collect()
        } else {
            Vec::new()
        };
        forest.branches.push(Branch {
            feature: features[i],
            mode,
            threshold: splits[i],
            set,
            missing_true: missing[i] != 0,
            yes: child(trues[i], true_leafs[i], "nodes_truenodeids")?,
            no: child(falses[i], false_leafs[i], "nodes_falsenodeids")?,
        });
    }
    forest.roots = indices(ctx, "tree_roots")?
        .into_iter()
        .map(|r| child(r, 0, "tree_roots"))
        .collect::<Result<_, _>>()?;
    if forest.roots.is_empty() {
        return Err(OpError::attr(
            "tree_roots",
            "is empty: the ensemble has no tree",
        ));
    }
    Ok(forest)
}

/// Flattens the trees depth first into the tables of [`TABLES`]. A subtree two branches
/// share is written once per reference; a cycle, or sharing that would blow the tables up,
/// is refused.
fn flatten(forest: &Forest, n_features: usize, drop_zeros: bool) -> Result<Vec<Tensor>, OpError> {
    let distinct = forest.branches.len() + forest.leaves.len();
    let limit = 4 * distinct + 1024;
    let (mut nodes, mut thresholds, mut members) = (Vec::new(), Vec::new(), Vec::new());
    let (mut leaf_targets, mut leaf_weights) = (Vec::new(), Vec::new());
    let mut leaf_at: Vec<Option<(u32, u32)>> = vec![None; forest.leaves.len()];
    let mut roots = Vec::with_capacity(forest.roots.len());
    for &root in &forest.roots {
        roots.push(word(nodes.len() / 2)?);
        // (child, depth, the branch whose false link it is)
        let mut stack = vec![(root, 0usize, None::<usize>)];
        while let Some((child, depth, false_of)) = stack.pop() {
            let at = nodes.len() / 2;
            if depth > distinct || at >= limit {
                return Err(OpError::shape(
                    "the trees have a cycle, or share subtrees so much that flattening them would not end",
                ));
            }
            if let Some(parent) = false_of {
                nodes[2 * parent + 1] = word(at)?;
            }
            match child {
                Child::Leaf(l) => {
                    let (start, count) = match leaf_at[l] {
                        Some(range) => range,
                        None => {
                            let start = word(leaf_targets.len())?;
                            for &(t, w) in &forest.leaves[l] {
                                if drop_zeros && w == 0.0 {
                                    continue;
                                }
                                leaf_targets.push(word(t)?);
                                leaf_weights.push(w as f32);
                            }
                            let count = leaf_targets.len() - start as usize;
                            if count > MAX_FIELD {
                                return Err(OpError::shape(format!("a leaf has {count} weights")));
                            }
                            leaf_at[l] = Some((start, count as u32));
                            (start, count as u32)
                        }
                    };
                    nodes.extend([LEAF << MODE_SHIFT | count, start]);
                    thresholds.push(0.0);
                }
                Child::Branch(b) => {
                    let branch = &forest.branches[b];
                    if branch.feature >= n_features {
                        return Err(OpError::attr(
                            "nodes_featureids",
                            format!(
                                "feature {} is past the {n_features} features of X",
                                branch.feature
                            ),
                        ));
                    }
                    let mut info = branch.mode << MODE_SHIFT | branch.feature as u32;
                    if branch.missing_true {
                        info |= MISSING_TRUE;
                    }
                    let threshold = if branch.mode == BRANCH_MEMBER {
                        // The threshold slot of a membership node says where its set starts.
                        let start = members.len() as f32;
                        members.extend(
                            branch
                                .set
                                .iter()
                                .filter(|&&v| f64::from(v as f32) == v)
                                .map(|&v| v as f32),
                        );
                        members.push(f32::NAN);
                        start
                    } else {
                        exact_threshold(branch.mode, branch.threshold)
                    };
                    nodes.extend([info, 0]);
                    thresholds.push(threshold);
                    // The true branch is written next, then the false one, whose index
                    // goes into this node's link.
                    stack.push((branch.no, depth + 1, Some(at)));
                    stack.push((branch.yes, depth + 1, None));
                }
            }
        }
    }
    if members.is_empty() {
        members.push(f32::NAN);
    }
    let u32s = |v: Vec<u32>| Tensor::new(vec![v.len()], Data::U32(v));
    let f32s = |v: Vec<f32>| Tensor::new(vec![v.len()], Data::F32(v));
    Ok(vec![
        u32s(nodes),
        f32s(thresholds),
        f32s(members),
        u32s(roots),
        u32s(leaf_targets),
        f32s(leaf_weights),
    ])
}

/// An index as a table word.
fn word(i: usize) -> Result<u32, OpError> {
    u32::try_from(i)
        .map_err(|_| OpError::shape(format!("the ensemble's tables exceed {} entries", u32::MAX)))
}

/// The `f32` threshold that makes `x <mode> threshold` hold for exactly the `f32` inputs
/// for which it holds against the double `t`: rounded down for `<=` and `>`, up for `<`
/// and `>=`, and NaN (never equal) for an equality with a value no `f32` has.
fn exact_threshold(mode: u32, t: f64) -> f32 {
    let nearest = t as f32;
    if f64::from(nearest) == t || t.is_nan() {
        return nearest;
    }
    let below = if f64::from(nearest) < t {
        nearest
    } else {
        step(nearest, false)
    };
    let above = if f64::from(nearest) > t {
        nearest
    } else {
        step(nearest, true)
    };
    match mode {
        BRANCH_LEQ | BRANCH_GT => below,
        BRANCH_LT | BRANCH_GTE => above,
        _ => f32::NAN,
    }
}

/// The next `f32` up or down from a value that rounds a double (finite or ±infinity).
fn step(v: f32, up: bool) -> f32 {
    match (v, up) {
        (f32::INFINITY, false) => f32::MAX,
        (f32::NEG_INFINITY, true) => f32::MIN,
        (v, _) if v.is_infinite() => v,
        (0.0, true) => f32::from_bits(1),
        (0.0, false) => -f32::from_bits(1),
        (v, up) => {
            let bits = v.to_bits();
            f32::from_bits(if (v > 0.0) == up { bits + 1 } else { bits - 1 })
        }
    }
}

impl OpKind for TreeEnsemble {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("n_targets", self.n_targets as i64)
            .int("n_trees", self.n_trees as i64)
            .string("aggregate_function", aggregate_name(self.aggregate))
            .string("post_transform", post_transform_name(self.post_transform))
            .int("dense", i64::from(self.dense));
        if !self.base_values.is_empty() {
            attrs.floats("base_values", &self.base_values);
        }
        if let Some(labels) = &self.labels {
            attrs.ints("classlabels_int64s", labels);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (batch, _) = features_input(required(inputs, 0)?)?;
        for (k, (name, dtype)) in TABLES
            .iter()
            .zip([
                DType::U32,
                DType::F32,
                DType::F32,
                DType::U32,
                DType::U32,
                DType::F32,
            ])
            .enumerate()
        {
            let t = required(inputs, 1 + k)?;
            if t.dtype != dtype || t.rank() != 1 {
                return Err(OpError::shape(format!(
                    "table {name} is {t}, not {dtype}[n]"
                )));
            }
        }
        let scores = TensorType::new(DType::F32, vec![batch, self.n_targets]);
        Ok(match self.labels {
            Some(_) => vec![TensorType::new(DType::I64, vec![batch]), scores],
            None => vec![scores],
        })
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (batch, features) = features_input(required(&ctx.inputs, 0)?)?;
        let p = self.params(batch, features);
        let u32s = |i: usize| match &ctx.get(i)?.data {
            Data::U32(v) => Ok(v.as_slice()),
            _ => Err(OpError::shape(format!(
                "table {} is not u32",
                TABLES[i - 1]
            ))),
        };
        let (x, thresholds, members, weights) =
            (ctx.f32(0)?, ctx.f32(2)?, ctx.f32(3)?, ctx.f32(6)?);
        let (nodes, roots, targets) = (u32s(1)?, u32s(4)?, u32s(5)?);
        let mut scores = vec![0.0f32; batch * self.n_targets];
        let scores_shape = vec![batch, self.n_targets];
        Ok(Some(match &self.labels {
            Some(labels) => {
                let mut label = vec![0i64; batch];
                rt_ml::tree_classifier(
                    p,
                    x,
                    nodes,
                    thresholds,
                    members,
                    roots,
                    targets,
                    weights,
                    &self.base_values,
                    labels,
                    &mut label,
                    &mut scores,
                );
                vec![
                    Tensor::new(vec![batch], Data::I64(label)),
                    Tensor::new(scores_shape, Data::F32(scores)),
                ]
            }
            None => {
                rt_ml::tree_ensemble(
                    p,
                    x,
                    nodes,
                    thresholds,
                    members,
                    roots,
                    targets,
                    weights,
                    &self.base_values,
                    &mut scores,
                );
                vec![Tensor::new(scores_shape, Data::F32(scores))]
            }
        }))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (batch, features) = features_input(ctx.input(0)?.ty)?;
        let p = self.params(batch, features);
        let tables = (0..=TABLES.len())
            .map(|i| ctx.expr(i))
            .collect::<Result<Vec<_>, _>>()?;
        let base = self.base_values.iter().map(|&v| f32_tokens(v));
        Ok(match &self.labels {
            Some(labels) => quote! {
                rt::ml::tree_classifier(#p, #(#tables,)* &[#(#base),*], &[#(#labels),*], y, y1);
            },
            None => quote! {
                rt::ml::tree_ensemble(#p, #(#tables,)* &[#(#base),*], y);
            },
        })
    }
}

impl TreeEnsemble {
    /// The runtime's description of the ensemble for an input of `[batch, features]`.
    fn params(&self, batch: usize, features: usize) -> Trees {
        Trees {
            batch,
            features,
            targets: self.n_targets,
            n_trees: self.n_trees,
            aggregate: self.aggregate,
            dense: self.dense,
            post_transform: self.post_transform,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::NodeBuilder;
    use crate::ops::Attribute;

    fn strings(v: &[&str]) -> Attribute {
        Attribute::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    /// A regressor of one tree: `x1 <= 0.5 ? 1.0 : (x0 < 2 ? 2.0 : 3.0)`.
    fn regressor() -> NodeBuilder {
        regressor_without_input().input("f32[4,2]")
    }

    fn regressor_without_input() -> NodeBuilder {
        NodeBuilder::in_domain("ai.onnx.ml", "TreeEnsembleRegressor")
            .ints("nodes_treeids", &[0, 0, 0, 0, 0])
            .ints("nodes_nodeids", &[0, 1, 2, 3, 4])
            .ints("nodes_featureids", &[1, 0, 0, 0, 0])
            .attr(
                "nodes_modes",
                strings(&["BRANCH_LEQ", "LEAF", "BRANCH_LT", "LEAF", "LEAF"]),
            )
            .floats("nodes_values", &[0.5, 0.0, 2.0, 0.0, 0.0])
            .ints("nodes_truenodeids", &[1, 0, 3, 0, 0])
            .ints("nodes_falsenodeids", &[2, 0, 4, 0, 0])
            .ints("target_treeids", &[0, 0, 0])
            .ints("target_nodeids", &[1, 3, 4])
            .ints("target_ids", &[0, 0, 0])
            .floats("target_weights", &[1.0, 2.0, 3.0])
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(regressor().emit(), @r#"
        TreeEnsembleRegressor(f32[4,2], u32[10], f32[5], f32[1], u32[1], u32[3], f32[3]) n_targets=1 n_trees=1 aggregate_function="SUM" post_transform="NONE" dense=1 -> f32[4,1]
        rt::ml::tree_ensemble(
            rt::ml::Trees {
                batch: 4,
                features: 2,
                targets: 1,
                n_trees: 1,
                aggregate: rt::ml::Aggregate::Sum,
                dense: true,
                post_transform: rt::ml::PostTransform::None,
            },
            x0,
            x1,
            x2,
            x3,
            x4,
            x5,
            x6,
            &[],
            y,
        );
        "#);
        insta::assert_snapshot!(regressor()
            .floats("base_values", &[0.5])
            .string("post_transform", "PROBIT")
            .string("aggregate_function", "AVERAGE")
            .emit(), @r#"
        TreeEnsembleRegressor(f32[4,2], u32[10], f32[5], f32[1], u32[1], u32[3], f32[3]) n_targets=1 n_trees=1 aggregate_function="AVERAGE" post_transform="PROBIT" dense=1 base_values=[0.5] -> f32[4,1]
        rt::ml::tree_ensemble(
            rt::ml::Trees {
                batch: 4,
                features: 2,
                targets: 1,
                n_trees: 1,
                aggregate: rt::ml::Aggregate::Average,
                dense: true,
                post_transform: rt::ml::PostTransform::Probit,
            },
            x0,
            x1,
            x2,
            x3,
            x4,
            x5,
            x6,
            &[0.5f32],
            y,
        );
        "#);
    }

    #[test]
    fn folds() {
        let x = Tensor::new(vec![3, 2], Data::F32(vec![0.0, 0.5, 1.0, 1.0, 3.0, 1.0]));
        insta::assert_snapshot!(regressor_without_input().constant(x).emit(), @r#"
        TreeEnsembleRegressor(f32[3,2], u32[10], f32[5], f32[1], u32[1], u32[3], f32[3]) n_targets=1 n_trees=1 aggregate_function="SUM" post_transform="NONE" dense=1 -> f32[3,1]
        folds to f32[3,1] [1.0, 2.0, 3.0]
        "#);
    }

    #[test]
    fn compiles_opset_5_with_set_membership() {
        // The conformance case `tree_ensemble_set_membership`.
        let node = NodeBuilder::in_domain("ai.onnx.ml", "TreeEnsemble")
            .int("aggregate_function", 1)
            .ints("leaf_targetids", &[0, 1, 2, 3])
            .attr(
                "leaf_weights",
                Attribute::Tensor(Tensor::new(
                    vec![4],
                    Data::F32(vec![1.0, 10.0, 1000.0, 100.0]),
                )),
            )
            .attr(
                "membership_values",
                Attribute::Tensor(Tensor::new(
                    vec![8],
                    Data::F32(vec![1.2, 3.7, 8.0, 9.0, f32::NAN, 12.0, 7.0, f32::NAN]),
                )),
            )
            .int("n_targets", 4)
            .ints("nodes_falseleafs", &[1, 0, 1])
            .ints("nodes_falsenodeids", &[2, 2, 3])
            .ints("nodes_featureids", &[0, 0, 0])
            .attr(
                "nodes_modes",
                Attribute::Tensor(Tensor::new(vec![3], Data::U8(vec![0, 6, 6]))),
            )
            .attr(
                "nodes_splits",
                Attribute::Tensor(Tensor::new(
                    vec![3],
                    Data::F32(vec![11.0, 232344.0, f32::NAN]),
                )),
            )
            .ints("nodes_trueleafs", &[0, 1, 1])
            .ints("nodes_truenodeids", &[1, 0, 1])
            .int("post_transform", 0)
            .ints("tree_roots", &[0])
            .input("f32[6,1]");
        insta::assert_snapshot!(node.emit(), @r#"
        TreeEnsemble(f32[6,1], u32[14], f32[7], f32[8], u32[1], u32[4], f32[4]) n_targets=4 n_trees=1 aggregate_function="SUM" post_transform="NONE" dense=0 -> f32[6,4]
        rt::ml::tree_ensemble(
            rt::ml::Trees {
                batch: 6,
                features: 1,
                targets: 4,
                n_trees: 1,
                aggregate: rt::ml::Aggregate::Sum,
                dense: false,
                post_transform: rt::ml::PostTransform::None,
            },
            x0,
            x1,
            x2,
            x3,
            x4,
            x5,
            x6,
            &[],
            y,
        );
        "#);
    }

    #[test]
    fn classifies() {
        let node = NodeBuilder::in_domain("ai.onnx.ml", "TreeEnsembleClassifier")
            .ints("nodes_treeids", &[0, 0, 0, 1])
            .ints("nodes_nodeids", &[0, 1, 2, 0])
            .ints("nodes_featureids", &[0, 0, 0, 0])
            .attr(
                "nodes_modes",
                strings(&["BRANCH_GT", "LEAF", "LEAF", "LEAF"]),
            )
            .floats("nodes_values", &[0.0, 0.0, 0.0, 0.0])
            .ints("nodes_truenodeids", &[1, 0, 0, 0])
            .ints("nodes_falsenodeids", &[2, 0, 0, 0])
            .ints("class_treeids", &[0, 0, 1])
            .ints("class_nodeids", &[1, 2, 0])
            .ints("class_ids", &[0, 1, 2])
            .floats("class_weights", &[0.5, 0.25, 0.125])
            .ints("classlabels_int64s", &[7, 8, 9])
            .string("post_transform", "SOFTMAX")
            .input("f32[2,1]")
            .outputs(2);
        insta::assert_snapshot!(node.emit(), @r#"
        TreeEnsembleClassifier(f32[2,1], u32[8], f32[4], f32[1], u32[2], u32[3], f32[3]) n_targets=3 n_trees=2 aggregate_function="SUM" post_transform="SOFTMAX" dense=0 classlabels_int64s=[7,8,9] -> i64[2], f32[2,3]
        rt::ml::tree_classifier(
            rt::ml::Trees {
                batch: 2,
                features: 1,
                targets: 3,
                n_trees: 2,
                aggregate: rt::ml::Aggregate::Sum,
                dense: false,
                post_transform: rt::ml::PostTransform::Softmax,
            },
            x0,
            x1,
            x2,
            x3,
            x4,
            x5,
            x6,
            &[],
            &[7i64, 8i64, 9i64],
            y,
            y1,
        );
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(regressor().ints("nodes_featureids", &[2, 0, 0, 0, 0]).emit(), @"parse: attribute `nodes_featureids`: feature 2 is past the 2 features of X");
        insta::assert_snapshot!(regressor().ints("nodes_falsenodeids", &[2, 0, 9, 0, 0]).emit(), @"parse: attribute `nodes_truenodeids`: node 2 of tree 0 points to the missing node 9");
        let cycle = NodeBuilder::in_domain("ai.onnx.ml", "TreeEnsembleRegressor")
            .ints("nodes_treeids", &[0, 0])
            .ints("nodes_nodeids", &[0, 1])
            .ints("nodes_featureids", &[0, 0])
            .attr("nodes_modes", strings(&["BRANCH_LEQ", "BRANCH_LEQ"]))
            .ints("nodes_truenodeids", &[1, 0])
            .ints("nodes_falsenodeids", &[1, 0])
            .input("f32[1,1]");
        insta::assert_snapshot!(cycle.emit(), @"parse: attribute `nodes_truenodeids`: tree 0 has no root: its nodes form a cycle");
        insta::assert_snapshot!(regressor().ints("target_nodeids", &[1, 3, 2]).emit(), @"parse: attribute `target_nodeids`: weight 2 is for node 2 of tree 0, which is not a LEAF");
        insta::assert_snapshot!(NodeBuilder::in_domain("ai.onnx.ml", "TreeEnsembleRegressor").input("f64[2,2]").emit(), @"parse: input X is f64[2,2]; zant compiles this op for f32 inputs only");
    }

    #[test]
    fn double_thresholds_keep_comparisons_exact() {
        let t = 0.1f64;
        let below = exact_threshold(BRANCH_LEQ, t);
        let above = exact_threshold(BRANCH_LT, t);
        assert!(f64::from(below) < t && f64::from(above) > t);
        assert_eq!(step(below, true), above);
        assert!(exact_threshold(BRANCH_EQ, t).is_nan());
        assert_eq!(exact_threshold(BRANCH_LEQ, 0.5), 0.5);
        assert_eq!(exact_threshold(BRANCH_GT, 1e300), f32::MAX);
    }
}
