//! Patch-based execution (MCUNetV2's idea): a run of layers at the start of a network,
//! where the feature maps are largest, computed one spatial patch of its output at a
//! time, so that only one patch's activations are live instead of whole tensors.
//!
//! A *stage* is a run of the schedule that reads one activation tensor (its input) and
//! leaves one (its output); the output is cut into a grid of equal tiles. Going back from
//! a tile through the stage's layers gives each tensor's *region*: the rows and columns a
//! patch needs of it, an origin that moves by a fixed step from patch to patch, and an
//! extent that does not. Neighbouring patches' regions overlap by the layers' halos,
//! which each patch recomputes; that is the price in MACs, and the planner weighs it.
//!
//! Each patch runs a small graph of its own, [`Stage::graph`]: the stage's layers on
//! region-shaped tensors, with no padding. A region may reach past its tensor's edge;
//! the positions outside stand for a convolution's padding, so after each layer they are
//! reset to the pad value (`rt::patch::fill_outside`), and the input region is read with
//! that value around it (`rt::patch::crop`). The patch graph is planned like any graph,
//! its arena is one buffer of the whole model's arena live over the stage's steps, and
//! the last layer's region is pasted into the stage output (`rt::patch::paste`).
//!
//! A *rolling* stage instead moves its patches down by whole rows, top to bottom within
//! each column of patches: each tensor keeps the rows its region shares with the patch
//! above (`RowCarry`, a buffer the planner keeps to itself over the patch graph), and each
//! layer computes only the rows its region adds, so no row is recomputed; only the
//! columns' halos are.
//!
//! Without a RAM budget nothing is patched: recomputation costs time, so [`fit`] is only
//! called for a model whose layer-by-layer arena is over its budget.

use std::collections::{BTreeMap, BTreeSet};

use zant_runtime::target::KernelSet;

use super::{plan_spans, MemoryPlan, RamBudget};
use crate::ir::{Graph, NodeId, Value, ValueId};
use crate::ops::{row_carry::RowCarry, slice::Slice, OnnxOp, Op};
use crate::tensor::{DType, TensorType};

/// One axis (rows or columns) of a tensor's region in a stage: in patch `p` it covers
/// `[offset + p · step, offset + p · step + extent)` of the tensor's `full` positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub extent: usize,
    pub step: isize,
    pub offset: isize,
    pub full: usize,
}

impl Axis {
    /// Whether some patch of `patches` (the first and one past the last) reaches outside
    /// the tensor.
    fn spills(&self, (first, end): (isize, isize)) -> bool {
        let start = self.offset + first * self.step;
        let last = self.offset + (end - 1) * self.step + self.extent as isize;
        start < 0 || last > self.full as isize
    }

    /// The last rows of the axis that one patch adds to the one before (the whole axis
    /// when it is not longer than a step).
    fn added(self) -> Axis {
        let extent = self.extent.min(self.step.max(1) as usize);
        Axis {
            extent,
            offset: self.offset + (self.extent - extent) as isize,
            ..self
        }
    }

    /// The patches, from `first` to one past `last`, in which the axis reaches inside
    /// the tensor (every one when none is given).
    fn inside(&self, (first, end): (isize, isize)) -> (isize, isize) {
        let s = self.step.max(1);
        let lo = (-self.offset - self.extent as isize).div_euclid(s) + 1;
        let hi = (self.full as isize - self.offset + s - 1).div_euclid(s);
        (lo.max(first), hi.min(end).max(lo.max(first)))
    }

    /// The smallest axis covering both (the same step).
    fn union(self, other: Axis) -> Option<Axis> {
        if self.step != other.step || self.full != other.full {
            return None;
        }
        let offset = self.offset.min(other.offset);
        let end = (self.offset + self.extent as isize).max(other.offset + other.extent as isize);
        Some(Axis {
            extent: (end - offset) as usize,
            offset,
            ..self
        })
    }
}

/// A tensor's region in a stage: all of its channels, `[rows, cols]` of its plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub channels: usize,
    pub axes: [Axis; 2],
}

impl Region {
    fn union(self, other: Region) -> Option<Region> {
        Some(Region {
            channels: self.channels,
            axes: [
                self.axes[0].union(other.axes[0])?,
                self.axes[1].union(other.axes[1])?,
            ],
        })
    }

    /// The region's elements.
    pub fn elems(&self) -> usize {
        self.channels * self.axes[0].extent * self.axes[1].extent
    }
}

/// A value of the patch graph whose positions outside its tensor are reset to `fill`
/// after the node that writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub value: ValueId,
    pub region: Region,
    pub fill: i32,
}

/// A stage of layers run patch by patch.
#[derive(Clone, Debug)]
pub struct Stage {
    /// The whole graph's nodes the stage runs, in schedule order.
    pub nodes: Vec<NodeId>,
    /// The schedule steps of its first and last node.
    pub steps: (usize, usize),
    /// The stage's input and output in the whole graph.
    pub input: ValueId,
    pub output: ValueId,
    /// Whether the input is channels-last (`[1, h, w, c]`) and the stage's first node the
    /// Transpose to channels-first that a converted TFLite model starts with: the crop
    /// reads it transposed, and the patch graph has no Transpose.
    pub input_nhwc: bool,
    /// Patches along rows and columns, and each patch's output tile.
    pub grid: [usize; 2],
    pub tile: [usize; 2],
    /// Whether the patches keep the rows they share with the patch above instead of
    /// recomputing them: the stage then runs its patch rows top to bottom within each
    /// column, and each tensor's rows carry over (`RowCarry`).
    pub rolling: bool,
    /// The patch rows run, the first and one past the last: `(0, grid[0])`, or for a
    /// rolling stage from before row 0, so that the first rows of every tensor are made
    /// before the rows below need them.
    pub rows: (isize, isize),
    /// The patch graph's nodes that compute in some patch rows only, and those rows (a
    /// rolling stage's layer whose rows lie outside its tensor in the others).
    pub active: BTreeMap<NodeId, (isize, isize)>,
    /// What one patch runs: the stage's layers on regions, without padding. Its one input
    /// is the input's region, and its last node writes the output's region.
    pub graph: Graph,
    /// The patch graph's plan, offsets from the start of its arena, which holds the input
    /// region too ([`super::plan_patch_graph`]).
    pub plan: MemoryPlan,
    /// The patch graph's output value.
    pub result: ValueId,
    /// The input's region (channels-first) and the value it is read with outside the
    /// input.
    pub input_region: Region,
    pub input_fill: i32,
    /// The output's region (a tile).
    pub output_region: Region,
    /// The values reset outside their tensor after the node that writes them.
    pub masks: Vec<Mask>,
    /// Each constant of the patch graph: the whole graph's constant it copies.
    pub consts: BTreeMap<ValueId, ValueId>,
    /// Bytes of the stage's buffer in the whole arena: the patch graph's arena.
    pub bytes: usize,
    /// MACs of the stage's layers run whole, and run patch by patch (halos recomputed).
    pub macs: u64,
    pub patched_macs: u64,
}

impl Stage {
    /// What the stage runs, for the per-layer profile and the generated code's comment:
    /// `N layers in R × C patches of H × W outputs[, rows kept], `first` to `last``.
    pub fn summary(&self, graph: &Graph) -> String {
        let name = |id: Option<&NodeId>| id.map_or("", |&id| graph.node(id).name.as_str());
        format!(
            "{} layers in {} × {} patches of {} × {} outputs{}, `{}` to `{}`",
            self.nodes.len(),
            self.grid[0],
            self.grid[1],
            self.tile[0],
            self.tile[1],
            if self.rolling { ", rows kept" } else { "" },
            name(self.nodes.first()),
            name(self.nodes.last()),
        )
    }

    /// The MACs that recomputing the halos adds, as a fraction of `model_macs`.
    pub fn overhead(&self, model_macs: u64) -> f64 {
        self.patched_macs.saturating_sub(self.macs) as f64 / model_macs.max(1) as f64
    }
}

/// How a node maps its output region to its input's: a window (a convolution), the same
/// positions (element-wise), or the same positions read channels-last (the Transpose
/// that opens a converted TFLite model).
#[derive(Clone, Copy)]
enum Rule {
    Window {
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        pad: [usize; 2],
    },
    Same,
    ToChannelsFirst,
}

/// The rule of a node a stage can hold, or `None`.
fn rule(graph: &Graph, id: NodeId) -> Option<Rule> {
    let node = graph.node(id);
    let out = graph.ty(ValueId { node: id, slot: 0 });
    let planar = [DType::F32, DType::U8, DType::I8].contains(&out.dtype);
    if node.outputs.len() != 1
        || out.rank() != 4
        || out.shape[0] != 1
        || !planar
        || node.guard.is_some()
    {
        return None;
    }
    let window = |p: &zant_runtime::conv::Conv2d| Rule::Window {
        kernel: [p.k_h, p.k_w],
        stride: [p.stride_h, p.stride_w],
        dilation: [p.dil_h, p.dil_w],
        pad: [p.pad_top, p.pad_left],
    };
    match &node.op {
        Op::Conv(c) if c.rank == 4 => Some(window(&c.params)),
        Op::QConv(q) if q.rank == 4 && !q.runtime_zero && !q.w_packed => Some(window(&q.params)),
        Op::Transpose(t) if t.perm == [0, 3, 1, 2] => Some(Rule::ToChannelsFirst),
        // An integer Binary could divide by zero in the positions a region computes
        // outside its tensor, and fail where the whole layer would not: float only.
        Op::Binary(_) if out.dtype != DType::F32 => None,
        Op::Unary(_) | Op::Clip(_) | Op::Quant(_) | Op::Binary(_) | Op::QLinearBinary(_) => {
            // Every input that is not a constant is the output's shape; a constant has no
            // plane to cut (one value, or one per channel).
            let fits = node.inputs.iter().flatten().all(|&v| {
                let ty = graph.ty(v);
                if graph.const_value(v).is_some() {
                    ty.rank() < 2 || ty.shape[ty.rank() - 2..].iter().all(|&d| d == 1)
                } else {
                    ty.shape == out.shape
                }
            });
            fits.then_some(Rule::Same)
        }
        _ => None,
    }
}

/// The region of a node's input that a node with `rule` needs for its `out` region;
/// `input` is the input's type (for [`Rule::ToChannelsFirst`], the region stays in the
/// output's channels-first terms).
fn need(rule: Rule, out: Region, input: &TensorType) -> Region {
    match rule {
        Rule::Same => Region {
            channels: input.shape[1],
            ..out
        },
        Rule::ToChannelsFirst => out,
        Rule::Window {
            kernel,
            stride,
            dilation,
            pad,
        } => {
            let axis = |i: usize| {
                let o = out.axes[i];
                Axis {
                    extent: (o.extent - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1,
                    step: o.step * stride[i] as isize,
                    offset: o.offset * stride[i] as isize - pad[i] as isize,
                    full: input.shape[2 + i],
                }
            };
            Region {
                channels: input.shape[1],
                axes: [axis(0), axis(1)],
            }
        }
    }
}

/// The value a node pads input slot `slot` with, when it pads it.
fn pad_value(graph: &Graph, id: NodeId, slot: usize) -> Option<i32> {
    let node = graph.node(id);
    let x = graph.ty(node.inputs.first().copied().flatten()?);
    let pads = |p: &zant_runtime::conv::Conv2d| p.pad_top + p.pad_left > 0 || pads_end(p);
    match (&node.op, slot) {
        (Op::Conv(c), 0) if pads(&c.params) => Some(0),
        // A zero point that comes at run time is refused by `rule`.
        (Op::QConv(q), 0) if pads(&q.params) => q.pad_value(x.dtype),
        _ => None,
    }
}

/// Whether a convolution reads past the end of its input (padding at the bottom or right).
fn pads_end(p: &zant_runtime::conv::Conv2d) -> bool {
    let past = |out: usize, s: usize, k: usize, d: usize, len: usize, pad: usize| {
        out.saturating_sub(1) * s + k.saturating_sub(1) * d + 1 > len + pad
    };
    past(p.h_out, p.stride_h, p.k_h, p.dil_h, p.h_in, p.pad_top)
        || past(p.w_out, p.stride_w, p.k_w, p.dil_w, p.w_in, p.pad_left)
}

/// A run of the schedule `[a, b]` that can be a stage: its nodes all have a rule (a
/// Transpose to channels-first only as the first), it reads one activation from outside
/// and leaves one, not a graph output. Returns (input, output).
fn boundary(graph: &Graph, schedule: &[NodeId], a: usize, b: usize) -> Option<(ValueId, ValueId)> {
    let inside: BTreeSet<NodeId> = schedule[a..=b].iter().copied().collect();
    let mut inputs = BTreeSet::new();
    for (k, &id) in schedule[a..=b].iter().enumerate() {
        if matches!(rule(graph, id)?, Rule::ToChannelsFirst) && k > 0 {
            return None;
        }
        for &v in graph.node(id).inputs.iter().flatten() {
            if !inside.contains(&v.node) && graph.const_value(v).is_none() {
                inputs.insert(v);
            }
        }
    }
    let mut outputs = BTreeSet::new();
    for &id in &inside {
        let v = ValueId { node: id, slot: 0 };
        let outside =
            graph.is_graph_output(v) || graph.consumers(v).iter().any(|(c, _)| !inside.contains(c));
        if outside {
            outputs.insert(v);
        }
    }
    let (input, output) = match (inputs.len(), outputs.len()) {
        (1, 1) => (*inputs.first()?, *outputs.first()?),
        _ => return None,
    };
    let (x, y) = (graph.ty(input), graph.ty(output));
    let planar = |t: &TensorType| t.rank() == 4 && t.shape[0] == 1 && !t.dtype.is_packed();
    (planar(x) && planar(y) && !graph.is_graph_output(output)).then_some((input, output))
}

/// The regions of a stage's values and the region each node reads of each input, for
/// `grid` patches of its output, `rolling` or not: `None` where two consumers of one
/// tensor move at different steps, or where the grid's last patches would start past
/// the end (that grid is a smaller one).
struct Regions {
    tile: [usize; 2],
    /// What a patch holds of each value.
    values: BTreeMap<ValueId, Region>,
    /// What each node computes in a patch: its value's region, or in a rolling stage
    /// the rows that region adds to the patch above's.
    writes: BTreeMap<NodeId, Region>,
    needs: BTreeMap<(NodeId, usize), Region>,
    /// The patch rows run ([`Stage::rows`]) and the rows in which each node computes.
    rows: (isize, isize),
    active: BTreeMap<NodeId, (isize, isize)>,
    /// The stage's MACs run whole, and patch by patch.
    macs: u64,
    patched_macs: u64,
}

fn regions(
    graph: &Graph,
    nodes: &[NodeId],
    output: ValueId,
    grid: [usize; 2],
    rolling: bool,
) -> Option<Regions> {
    let out_ty = graph.ty(output);
    let full = [out_ty.shape[2], out_ty.shape[3]];
    let tile = [full[0].div_ceil(grid[0]), full[1].div_ceil(grid[1])];
    if (0..2).any(|i| (grid[i] - 1) * tile[i] >= full[i]) {
        return None;
    }
    let mut values: BTreeMap<ValueId, Region> = BTreeMap::new();
    values.insert(
        output,
        Region {
            channels: out_ty.shape[1],
            axes: [0, 1].map(|i| Axis {
                extent: tile[i],
                step: tile[i] as isize,
                offset: 0,
                full: full[i],
            }),
        },
    );
    let mut writes = BTreeMap::new();
    let mut needs = BTreeMap::new();
    for &id in nodes.iter().rev() {
        let node = graph.node(id);
        let v = ValueId { node: id, slot: 0 };
        let held = *values.get(&v)?;
        let r = rule(graph, id)?;
        // A rolling stage's layer computes the rows its region adds to the patch above's;
        // the Transpose a stage opens with is the crop, which reads the whole region.
        let out = match r {
            Rule::ToChannelsFirst => held,
            _ if rolling => Region {
                axes: [held.axes[0].added(), held.axes[1]],
                ..held
            },
            _ => held,
        };
        writes.insert(id, out);
        for (slot, x) in node.inputs.iter().enumerate() {
            let Some(x) = *x else { continue };
            if graph.const_value(x).is_some() {
                continue;
            }
            let n = need(r, out, graph.ty(x));
            needs.insert((id, slot), n);
            let merged = match values.get(&x) {
                Some(have) => have.union(n)?,
                None => n,
            };
            values.insert(x, merged);
        }
    }
    // A rolling stage starts where every row a patch keeps lies above its tensor: those
    // rows were never computed, and stand for padding or are not read.
    let mut rows = (0, grid[0] as isize);
    if rolling {
        for (&id, w) in &writes {
            let held = values[&ValueId { node: id, slot: 0 }];
            if held != *w {
                let a = w.axes[0];
                rows.0 = rows.0.min((-a.offset).div_euclid(a.step.max(1)));
            }
        }
    }
    // A node's MACs grow with the positions it computes.
    let (mut macs, mut patched_macs) = (0u64, 0u64);
    let mut active = BTreeMap::new();
    for (&id, w) in &writes {
        let whole = node_macs(graph, id);
        let y = graph.ty(ValueId { node: id, slot: 0 });
        let positions = (y.shape[2] * y.shape[3]).max(1) as u64;
        let region = (w.axes[0].extent * w.axes[1].extent) as u64;
        let (lo, hi) = if rolling {
            w.axes[0].inside(rows)
        } else {
            rows
        };
        if (lo, hi) != rows {
            active.insert(id, (lo, hi));
        }
        let runs = (hi - lo) as u64 * grid[1] as u64;
        macs += whole;
        patched_macs += (whole as u128 * (region * runs) as u128 / positions as u128) as u64;
    }
    Some(Regions {
        tile,
        values,
        writes,
        needs,
        rows,
        active,
        macs,
        patched_macs,
    })
}

/// Builds the stage `[a, b]` of `schedule` (steps of the plan) with `grid` patches of its
/// output: its patch graph and that graph's plan. `None` where [`regions`] is, where two
/// convolutions pad one tensor with different values, or where a layer does not take its
/// region's shape.
fn build(
    graph: &Graph,
    schedule: &[NodeId],
    (a, b): (usize, usize),
    grid: [usize; 2],
    rolling: bool,
    kernels: KernelSet,
) -> Option<Stage> {
    let (input, output) = boundary(graph, schedule, a, b)?;
    let nodes: Vec<NodeId> = schedule[a..=b].to_vec();
    let Regions {
        tile,
        values: regions,
        writes,
        needs,
        rows,
        active: active_rows,
        macs,
        patched_macs,
    } = regions(graph, &nodes, output, grid, rolling)?;
    // The pad value each tensor is read with, where a convolution pads it.
    let mut fills: BTreeMap<ValueId, i32> = BTreeMap::new();
    for &id in &nodes {
        for (slot, x) in graph.node(id).inputs.iter().enumerate() {
            let (Some(x), Some(fill)) = (*x, pad_value(graph, id, slot)) else {
                continue;
            };
            if *fills.entry(x).or_insert(fill) != fill {
                return None;
            }
        }
    }
    // A stage that opens with the Transpose to channels-first crops its input from the
    // channels-last tensor; the patch graph starts after it.
    let input_nhwc = matches!(rule(graph, nodes[0])?, Rule::ToChannelsFirst);
    let first_value = input_nhwc.then_some(ValueId {
        node: nodes[0],
        slot: 0,
    });
    let region_value = first_value.unwrap_or(input);
    let input_region = regions[&region_value];
    let region_ty = |ty: &TensorType, r: &Region| {
        TensorType::new(
            ty.dtype,
            vec![1, r.channels, r.axes[0].extent, r.axes[1].extent],
        )
    };
    let mut sub = Graph::new();
    let x_ty = region_ty(graph.ty(input), &input_region);
    let name = graph.value(region_value).name.clone();
    let sub_input = sub.add_node(
        name.clone(),
        Op::Input(0),
        OnnxOp::INPUT,
        vec![],
        vec![Value { name, ty: x_ty }],
    );
    sub.inputs.push(sub_input);
    let mut sub_of: BTreeMap<ValueId, ValueId> = BTreeMap::new();
    sub_of.insert(
        region_value,
        ValueId {
            node: sub_input,
            slot: 0,
        },
    );
    let mut consts: BTreeMap<ValueId, ValueId> = BTreeMap::new();
    let mut const_of: BTreeMap<ValueId, ValueId> = BTreeMap::new();
    let mut masks = Vec::new();
    let mut active = BTreeMap::new();
    let mask_of = |v: ValueId, r: Region, fills: &BTreeMap<ValueId, i32>| {
        let spill = r.axes[0].spills(rows) || r.axes[1].spills((0, grid[1] as isize));
        fills.get(&v).filter(|_| spill).map(|&fill| (r, fill))
    };
    for &id in &nodes[usize::from(input_nhwc)..] {
        let node = graph.node(id);
        let mut inputs = Vec::new();
        for (slot, x) in node.inputs.iter().enumerate() {
            let Some(x) = *x else {
                inputs.push(None);
                continue;
            };
            if let Some(t) = graph.const_value(x) {
                let c = *const_of
                    .entry(x)
                    .or_insert_with(|| sub.add_const(graph.value(x).name.clone(), t.clone()));
                consts.insert(c, x);
                inputs.push(Some(c));
                continue;
            }
            let (have, want) = (regions[&x], needs[&(id, slot)]);
            let sv = sub_of[&x];
            if have == want {
                inputs.push(Some(sv));
                continue;
            }
            // A consumer that needs less of the tensor than its region: a Slice.
            let starts = vec![
                0,
                0,
                (want.axes[0].offset - have.axes[0].offset) as i64,
                (want.axes[1].offset - have.axes[1].offset) as i64,
            ];
            let ty = region_ty(graph.ty(x), &want);
            let slice = Slice {
                starts,
                steps: vec![1; 4],
                out_shape: ty.shape.clone(),
            };
            let name = format!("{}.patch_slice", node.name);
            let s = sub.add_node(
                name.clone(),
                Op::Slice(slice),
                OnnxOp {
                    op_type: "Slice",
                    domain: "",
                    opset: 13,
                },
                vec![Some(sv)],
                vec![Value { name, ty }],
            );
            inputs.push(Some(ValueId { node: s, slot: 0 }));
        }
        let v = ValueId { node: id, slot: 0 };
        let (out_region, write) = (regions[&v], writes[&id]);
        let mut op = node.op.clone();
        let in_region = needs.get(&(id, 0)).copied();
        match (&mut op, in_region) {
            (Op::Conv(c), Some(r)) => unpad(&mut c.params, &r, &write),
            (Op::QConv(q), Some(r)) => unpad(&mut q.params, &r, &write),
            _ => {}
        }
        let types: Vec<Option<&TensorType>> = inputs.iter().map(|v| v.map(|v| sub.ty(v))).collect();
        let out_ty = op.infer(&types).ok()?.into_iter().next()?;
        if out_ty != region_ty(graph.ty(v), &write) {
            return None;
        }
        let name = graph.value(v).name.clone();
        let n = sub.add_node(
            node.name.clone(),
            op,
            node.onnx,
            inputs,
            vec![Value {
                name: name.clone(),
                ty: out_ty,
            }],
        );
        if let Some(&range) = active_rows.get(&id) {
            active.insert(n, range);
        }
        let mut sv = ValueId { node: n, slot: 0 };
        // Rows the patch shares with the one above: carried over, below them the new.
        if write != out_region {
            let keep = out_region.axes[0].extent - write.axes[0].extent;
            let carry = sub.add_node(
                format!("{}.carry", node.name),
                Op::RowCarry(RowCarry { keep }),
                OnnxOp {
                    op_type: "RowCarry",
                    domain: "ai.zant",
                    opset: 1,
                },
                vec![Some(sv)],
                vec![Value {
                    name,
                    ty: region_ty(graph.ty(v), &out_region),
                }],
            );
            sv = ValueId {
                node: carry,
                slot: 0,
            };
        }
        sub_of.insert(v, sv);
        if let Some((region, fill)) = mask_of(v, out_region, &fills) {
            masks.push(Mask {
                value: sv,
                region,
                fill,
            });
        }
    }
    let result = sub_of[&output];
    let sub_schedule = sub.schedule().ok()?;
    let plan = super::plan_patch_graph(&sub, &sub_schedule, kernels);
    Some(Stage {
        nodes,
        steps: (a, b),
        input,
        output,
        input_nhwc,
        grid,
        tile,
        rolling,
        rows,
        active,
        result,
        input_region,
        input_fill: fills.get(&region_value).copied().unwrap_or(0),
        output_region: regions[&output],
        masks,
        consts,
        bytes: plan.arena_bytes,
        graph: sub,
        plan,
        macs,
        patched_macs,
    })
}

/// A convolution's geometry on regions: `input` in, `output` out, no padding (the
/// regions hold it).
fn unpad(p: &mut zant_runtime::conv::Conv2d, input: &Region, output: &Region) {
    p.h_in = input.axes[0].extent;
    p.w_in = input.axes[1].extent;
    p.h_out = output.axes[0].extent;
    p.w_out = output.axes[1].extent;
    p.pad_top = 0;
    p.pad_left = 0;
}

/// The MACs of the nodes of `schedule`, each run whole.
pub fn model_macs(graph: &Graph, schedule: &[NodeId]) -> u64 {
    schedule.iter().map(|&id| node_macs(graph, id)).sum()
}

/// The MACs of node `id` run whole.
fn node_macs(graph: &Graph, id: NodeId) -> u64 {
    graph.node(id).op.macs(&super::input_types(graph, id))
}

/// What [`fit`] reached when no stage fits the budget: the smallest arena and the extra
/// MACs of the stage that gave it (0 when patching does not lower the arena at all).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reached {
    pub arena: usize,
    pub overhead: f64,
}

/// Nodes of a stage [`fit`] tries, at most (a graph of thousands of nodes would
/// otherwise have millions of runs around its peak to try).
const MAX_STAGE: usize = 64;
/// Patches along one axis that [`fit`] tries, at most.
const MAX_PATCHES: usize = 16;
/// Grids [`fit`] tries at most, cheapest first: each costs a whole-graph plan.
const MAX_PLANS: usize = 2000;

/// The plan with the fewest extra MACs whose arena fits `budget`, patching one stage of
/// `base`'s schedule; `Err` with the smallest arena any stage reaches. The stages tried
/// span the step of `base`'s peak, up to [`MAX_STAGE`] nodes; grids run from 1 × 2 to
/// 16 × 16 patches (a grid of one row or column recomputes no halo along the other
/// axis).
pub fn fit(
    graph: &Graph,
    base: &MemoryPlan,
    kernels: KernelSet,
    budget: RamBudget,
) -> Result<MemoryPlan, Reached> {
    let reached = match search(graph, base, kernels, budget) {
        Ok(plan) => return Ok(plan),
        Err(reached) => reached,
    };
    // The smallest arena comes from a stage's finest grid; a coarser grid may reach it
    // too, with fewer extra MACs: the error reports the cheapest.
    if reached.arena >= base.arena_bytes {
        return Err(reached);
    }
    let cheapest = search(graph, base, kernels, RamBudget(reached.arena)).ok();
    let model_macs = model_macs(graph, &base.schedule);
    let overhead = cheapest
        .and_then(|p| Some(p.stages.first()?.overhead(model_macs)))
        .map_or(reached.overhead, |o| o.min(reached.overhead));
    Err(Reached {
        overhead,
        ..reached
    })
}

/// [`fit`]'s search: the first plan of the cheapest candidates that fits, or the smallest
/// arena of the finest grids.
fn search(
    graph: &Graph,
    base: &MemoryPlan,
    kernels: KernelSet,
    budget: RamBudget,
) -> Result<MemoryPlan, Reached> {
    let schedule = &base.schedule;
    let n = schedule.len();
    let live = super::live_per_step(&base.buffers, n);
    let peak = (0..n)
        .max_by_key(|&s| (live[s], std::cmp::Reverse(s)))
        .unwrap_or(0);
    let model_macs = model_macs(graph, schedule);
    // A stage's finest grid gives its smallest buffer, and the layers outside it do not
    // change with the grid: a stage whose finest grid does not fit never does. The
    // smallest arena of those is what the error reports.
    let mut best = Reached {
        arena: base.arena_bytes,
        overhead: 0.0,
    };
    let mut candidates = Vec::new();
    for a in peak.saturating_sub(MAX_STAGE - 1)..=peak {
        for b in peak..n.min(a + MAX_STAGE) {
            let Some((_, output)) = boundary(graph, schedule, a, b) else {
                continue;
            };
            let shape = &graph.ty(output).shape;
            let finest = [shape[2], shape[3]].map(|len| len.div_ceil(len.div_ceil(MAX_PATCHES)));
            for rolling in [false, true] {
                let Some(stage) = build(graph, schedule, (a, b), finest, rolling, kernels) else {
                    continue;
                };
                let overhead = stage.overhead(model_macs);
                let plan = plan_spans(graph, schedule, kernels, vec![stage]);
                if plan.arena_bytes > budget.0 {
                    if plan.arena_bytes < best.arena {
                        best = Reached {
                            arena: plan.arena_bytes,
                            overhead,
                        };
                    }
                    continue;
                }
                // Every grid of the stage whose regions line up, one per tile size (a
                // rolling one needs two patch rows at least).
                let mut tiles = BTreeSet::new();
                for gy in 1 + usize::from(rolling)..=finest[0] {
                    for gx in 1..=finest[1] {
                        if gy * gx == 1 {
                            continue;
                        }
                        let nodes = &schedule[a..=b];
                        let Some(r) = regions(graph, nodes, output, [gy, gx], rolling) else {
                            continue;
                        };
                        if tiles.insert(r.tile) {
                            let extra = r.patched_macs.saturating_sub(r.macs);
                            candidates.push((extra, gy * gx, (a, b), [gy, gx], rolling));
                        }
                    }
                }
            }
        }
    }
    // Cheapest in MACs first, until one fits.
    candidates.sort();
    for (_, _, steps, grid, rolling) in candidates.into_iter().take(MAX_PLANS) {
        let Some(stage) = build(graph, schedule, steps, grid, rolling, kernels) else {
            continue;
        };
        if stage.bytes + graph.ty(stage.output).n_bytes() > budget.0 {
            continue;
        }
        let plan = plan_spans(graph, schedule, kernels, vec![stage]);
        if plan.arena_bytes <= budget.0 {
            return Ok(plan);
        }
    }
    Err(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::text;
    use crate::ops::FoldCtx;
    use crate::tensor::{Data, Tensor};

    /// A deterministic generator for the random geometries (xorshift).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn values(&mut self, n: usize) -> Vec<f32> {
            (0..n)
                .map(|_| (self.below(2001) as f32 - 1000.0) / 1000.0)
                .collect()
        }
    }

    fn list(v: &[f32]) -> String {
        let items: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
        format!("[{}]", items.join(", "))
    }

    /// A random chain of convolutions (kernels 1 to 5, strides 1 and 2, any padding up to
    /// the kernel, dilation 1 or 2, depthwise or not, a Relu or an Add of the layer
    /// before), ended by a Relu outside the stage; the input and its shape.
    fn random_chain(rng: &mut Rng) -> (String, Tensor) {
        let (mut c, mut h, mut w) = (1 + rng.below(4), 9 + rng.below(20), 9 + rng.below(20));
        let x = rng.values(c * h * w);
        let input = Tensor::new(vec![1, c, h, w], Data::F32(x));
        let mut text = format!("input 0: %x : f32[1,{c},{h},{w}]\n");
        let mut last = "x".to_string();
        let layers = 2 + rng.below(3);
        for i in 0..layers {
            let k = [1, 3, 3, 5][rng.below(4)];
            let d = if k > 1 && rng.below(3) == 0 { 2 } else { 1 };
            let s = 1 + rng.below(2);
            let span = (k - 1) * d + 1;
            let pads: Vec<usize> = (0..4).map(|_| rng.below(span)).collect();
            let out_len = |len: usize, p0: usize, p1: usize| {
                (len + p0 + p1).checked_sub(span).map(|r| r / s + 1)
            };
            let (Some(oh), Some(ow)) = (out_len(h, pads[0], pads[2]), out_len(w, pads[1], pads[3]))
            else {
                continue;
            };
            let depthwise = c > 1 && rng.below(3) == 0;
            let (co, group) = if depthwise {
                (c, c)
            } else {
                (1 + rng.below(6), 1)
            };
            let wv = rng.values(co * (c / group) * k * k);
            let bv = rng.values(co);
            text += &format!(
                "%w{i} = Const f32[{co},{},{k},{k}] {}\n%b{i} = Const f32[{co}] {}\n\
                 %c{i} = Conv(%{last}, %w{i}, %b{i}) kernel_shape=[{k},{k}] strides=[{s},{s}] \
                 dilations=[{d},{d}] pads=[{},{},{},{}] group={group} : f32[1,{co},{oh},{ow}]\n",
                c / group,
                list(&wv),
                list(&bv),
                pads[0],
                pads[1],
                pads[2],
                pads[3],
            );
            let conv = format!("c{i}");
            last = match rng.below(3) {
                0 => {
                    text += &format!("%r{i} = Relu(%{conv})\n");
                    format!("r{i}")
                }
                // A residual Add, where the shapes allow: its shortcut's region is wider
                // than the Add's, so the patch graph slices it.
                1 if (co, oh, ow) == (c, h, w) => {
                    text += &format!("%a{i} = Add(%{conv}, %{last})\n");
                    format!("a{i}")
                }
                _ => conv,
            };
            (c, h, w) = (co, oh, ow);
        }
        text += &format!("%out = Relu(%{last})\noutput 0: out = %out\n");
        (text, input)
    }

    /// Runs `stage` on `x` patch by patch, as the generated loop does (the runtime's crop,
    /// masks, carries and paste around each patch graph node's constant folding). What a
    /// patch never computes (the carried rows before the first patch, a layer's output in
    /// the patches it skips) is NaN, so that any of it reaching the output shows.
    fn run_patched(stage: &Stage, whole: &Graph, x: &[f32]) -> Vec<f32> {
        let y_ty = whole.ty(stage.output);
        let mut y = vec![f32::NAN; y_ty.n_elems()];
        let sub = &stage.graph;
        let origin = |r: &Region, py: isize, px: usize| {
            [py, px as isize]
                .iter()
                .zip(r.axes)
                .map(|(&p, a)| p * a.step + a.offset)
                .collect::<Vec<_>>()
        };
        let plane = |r: &Region| [r.axes[0].extent, r.axes[1].extent];
        let full = |r: &Region| [r.axes[0].full, r.axes[1].full];
        for px in 0..stage.grid[1] {
            let mut carried: BTreeMap<ValueId, Vec<f32>> = BTreeMap::new();
            for py in stage.rows.0..stage.rows.1 {
                let mut values: BTreeMap<ValueId, Tensor> = BTreeMap::new();
                let r = &stage.input_region;
                let mut region = vec![0.0f32; r.elems()];
                let o = origin(r, py, px);
                zant_runtime::patch::crop(
                    x,
                    r.channels,
                    full(r),
                    [o[0], o[1]],
                    plane(r),
                    stage.input_fill as f32,
                    &mut region,
                );
                let input = ValueId {
                    node: sub.inputs[0],
                    slot: 0,
                };
                values.insert(
                    input,
                    Tensor::new(sub.ty(input).shape.clone(), Data::F32(region)),
                );
                for id in sub.schedule().unwrap() {
                    let node = sub.node(id);
                    if matches!(node.op, Op::Input(_) | Op::Const(_)) {
                        continue;
                    }
                    let consts: Vec<Option<&Tensor>> = node
                        .inputs
                        .iter()
                        .map(|v| v.and_then(|v| sub.const_value(v).or(values.get(&v))))
                        .collect();
                    let v = ValueId { node: id, slot: 0 };
                    let ty = sub.ty(v);
                    let skipped = stage
                        .active
                        .get(&id)
                        .is_some_and(|(lo, hi)| !(lo..hi).contains(&&py));
                    let mut out = if skipped {
                        Tensor::new(ty.shape.clone(), Data::F32(vec![f32::NAN; ty.n_elems()]))
                    } else if let Op::RowCarry(c) = &node.op {
                        let new = consts[0].unwrap().as_f32().unwrap();
                        let buf = carried
                            .entry(v)
                            .or_insert_with(|| vec![f32::NAN; ty.n_elems()]);
                        let [_, ch, rows, width] = ty.shape[..] else {
                            panic!("a plane")
                        };
                        zant_runtime::patch::carry(new, ch, c.keep, rows - c.keep, width, buf);
                        Tensor::new(ty.shape.clone(), Data::F32(buf.clone()))
                    } else {
                        let outputs = [ty.clone()];
                        let ctx = FoldCtx {
                            inputs: node.inputs.iter().map(|v| v.map(|v| sub.ty(v))).collect(),
                            consts,
                            outputs: &outputs,
                        };
                        node.op.fold(&ctx).unwrap().unwrap().remove(0)
                    };
                    for m in stage.masks.iter().filter(|m| m.value == v) {
                        let Data::F32(data) = &mut out.data else {
                            panic!("f32 values")
                        };
                        let o = origin(&m.region, py, px);
                        zant_runtime::patch::fill_outside(
                            data,
                            m.region.channels,
                            full(&m.region),
                            [o[0], o[1]],
                            plane(&m.region),
                            m.fill as f32,
                        );
                    }
                    values.insert(v, out);
                }
                let r = &stage.output_region;
                let o = origin(r, py, px);
                let result = values[&stage.result].as_f32().unwrap().to_vec();
                zant_runtime::patch::paste(
                    &result,
                    r.channels,
                    plane(r),
                    [o[0], o[1]],
                    full(r),
                    &mut y,
                );
            }
        }
        y
    }

    /// Patched and whole runs of random chains agree on every grid that lines up, and the
    /// whole graph's plan with the stage keeps the placement invariant.
    #[test]
    fn patched_and_whole_runs_agree_on_random_shapes() {
        let mut rng = Rng(0x05ee_d0f9_a7c4);
        let mut checked = 0;
        for case in 0..40 {
            let (text, x) = random_chain(&mut rng);
            let graph = text::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let schedule = crate::plan::plan(&graph, &graph.schedule().unwrap()).schedule;
            let last = schedule.len() - 2;
            let (_, output) = boundary(&graph, &schedule, 0, last).expect("a stage");
            // The stage output, whole.
            let mut probe = graph.clone();
            probe.outputs[0].value = output;
            let whole = crate::passes::fold::evaluate(&probe, std::slice::from_ref(&x))
                .unwrap()
                .unwrap()
                .remove(0);
            let whole = whole.as_f32().unwrap();
            let shape = &graph.ty(output).shape;
            let grids = [[2, 2], [3, 2], [1, 4], [5, 5], [shape[2], shape[3]]];
            for (grid, rolling) in grids.into_iter().flat_map(|g| [(g, false), (g, true)]) {
                let Some(stage) =
                    build(&graph, &schedule, (0, last), grid, rolling, KernelSet::ANY)
                else {
                    continue;
                };
                let patched = run_patched(&stage, &graph, x.as_f32().unwrap());
                for (i, (&p, &w)) in patched.iter().zip(whole).enumerate() {
                    assert!(
                        (p - w).abs() <= 1e-5 + 1e-5 * w.abs(),
                        "case {case}, grid {grid:?}, element {i}: {p} patched, {w} whole\n{text}"
                    );
                }
                let plan = plan_spans(&graph, &schedule, KernelSet::ANY, vec![stage]);
                plan.check().unwrap();
                checked += 1;
            }
        }
        assert!(checked >= 120, "only {checked} stages checked");
    }
}
