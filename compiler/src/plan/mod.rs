//! The memory plan: one byte arena for every intermediate tensor, offsets from liveness.
//!
//! The planner is pure: `plan(&Graph, &[NodeId]) -> MemoryPlan`. It groups values into
//! buffers (a view shares its input's buffer; an element-wise op may overwrite an input
//! that dies at that node), computes each buffer's live range over the schedule, then
//! tries several placement heuristics and keeps the smallest arena. It reports its own
//! lower bound (the most bytes live at any one step), so every plan states how far it is
//! from optimal. A kernel that needs scratch ([`crate::ops::OpKind::scratch_bytes`]) gets
//! a buffer live only at its node's step, placed like any other, so scratch counts in the
//! arena, the lower bound and the reports, and reuses space between tensors.

use std::collections::BTreeMap;

mod budget;
mod order;
pub mod patch;
pub use budget::{check as check_budget, OverBudget, RamBudget};
pub use order::memory_order;

use zant_runtime::target::KernelSet;

use crate::ir::{Graph, NodeId, ValueId};
use crate::ops::Op;

/// Every offset in the arena and the weight blob is a multiple of this.
pub const ALIGN: usize = 16;
/// The offset in the weight blob of a constant that a kernel reads in place as rows of
/// whole vectors ([`Op::line_aligned_inputs`]) is a multiple of this, a cache line: a
/// 1 × 1 convolution's blocked weights at 16 bytes had every 64-byte row of 16 output
/// channels straddle two lines, and the AVX2 narrow tiles read them in place 7–18 %
/// slower than from packed panels (mobilenet_v2's 160 → 960 and 960 → 160 at 7 × 7,
/// 384 → 64 at 14 × 14, timed alone), where at 64 bytes they were as fast or faster.
pub const LINE: usize = 64;

/// Where a value lives at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// Graph input `.0`, in the caller's input array.
    Input(usize),
    /// Graph output `.0`, written straight into the caller's output array.
    Output(usize),
    /// A constant in the weight blob.
    Weight { offset: usize },
    /// An intermediate tensor in the arena.
    Arena { offset: usize, buffer: usize },
}

/// A run of arena bytes shared by values whose lifetimes chain (views, in-place ops), or
/// the scratch of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// The values stored in the buffer; empty for scratch.
    pub values: Vec<ValueId>,
    /// The node whose kernel uses the buffer as scratch during its step.
    pub scratch_of: Option<NodeId>,
    pub bytes: usize,
    /// The step that writes the buffer first.
    pub start: usize,
    /// The last step that reads it.
    pub end: usize,
    pub offset: usize,
    /// `(b, s)`: this buffer starts `s` bytes before buffer `b`, whose value the node
    /// writing this one overwrites as it reads it ([`crate::ops::OpKind::in_place_shift`]:
    /// a depthwise convolution). The two overlap at that node's step only, and are placed
    /// together.
    pub leads: Option<(usize, usize)>,
}

/// The result of planning.
#[derive(Clone, Debug)]
pub struct MemoryPlan {
    /// The op nodes in execution order (no inputs, no constants).
    pub schedule: Vec<NodeId>,
    pub locations: BTreeMap<ValueId, Location>,
    pub buffers: Vec<Buffer>,
    /// Nodes that overwrite an input: node → input index.
    pub in_place: BTreeMap<NodeId, usize>,
    /// Of those, the ones whose output leads the input it overwrites: node → bytes
    /// ([`Buffer::leads`]). The kernel's output span runs from the output's offset to the
    /// end of the input.
    pub leads: BTreeMap<NodeId, usize>,
    /// View nodes whose output shares the input's storage: they emit nothing.
    pub aliased_views: Vec<NodeId>,
    /// Nodes whose kernel needs scratch: node → (arena offset, bytes).
    pub scratch: BTreeMap<NodeId, (usize, usize)>,
    /// Constants in the weight blob, in blob order.
    pub weights: Vec<ValueId>,
    pub weight_bytes: usize,
    pub arena_bytes: usize,
    /// The most buffer bytes live at any step: no placement of these buffers does better.
    pub lower_bound: usize,
    /// One buffer per intermediate tensor, no reuse at all.
    pub naive_bytes: usize,
    /// The placement heuristic that won.
    pub heuristic: &'static str,
    /// Whether the schedule is [`memory_order`]'s rather than the file's ([`plan_best`]).
    pub memory_ordered: bool,
    /// The kernel families the scratch was sized for.
    pub kernels: KernelSet,
    /// The stages run patch by patch ([`patch`]; only under a RAM budget).
    pub stages: Vec<patch::Stage>,
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

impl MemoryPlan {
    /// The stage run patch by patch whose first node is `id`, if any: the generated code
    /// runs the whole stage there ([`patch`]).
    pub fn stage_from(&self, id: NodeId) -> Option<&patch::Stage> {
        self.stages.iter().find(|s| s.nodes.first() == Some(&id))
    }

    /// Checks the placement: every buffer aligned and inside the arena; no two buffers
    /// live at one step share a byte, except a buffer that leads another
    /// ([`Buffer::leads`]), which sits exactly its lead before the other and meets it
    /// only at the step that writes it; the lower bound at most the arena. The planner's
    /// invariant, which the tests check on every plan they make.
    pub fn check(&self) -> Result<(), String> {
        let bufs = &self.buffers;
        for (i, b) in bufs.iter().enumerate() {
            if b.offset % ALIGN != 0 || b.offset + b.bytes > self.arena_bytes {
                return Err(format!(
                    "buffer {i} at {}..{} is misaligned or outside the arena of {}",
                    b.offset,
                    b.offset + b.bytes,
                    self.arena_bytes
                ));
            }
            if let Some((led, lead)) = b.leads {
                let Some(x) = bufs.get(led) else {
                    return Err(format!("buffer {i} leads buffer {led}, which is not there"));
                };
                if b.offset + lead != x.offset || b.start != x.end {
                    return Err(format!(
                        "buffer {i} should start {lead} bytes before buffer {led} at the \
                         step that ends it"
                    ));
                }
            }
        }
        for (i, a) in bufs.iter().enumerate() {
            for (j, b) in bufs.iter().enumerate().skip(i + 1) {
                let together = a.start <= b.end && b.start <= a.end;
                let shared = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
                let leading = |x: &Buffer, y: &Buffer, y_index: usize| {
                    x.leads.is_some_and(|(led, _)| led == y_index) && x.start == y.end
                };
                if together && shared && !leading(a, b, j) && !leading(b, a, i) {
                    return Err(format!(
                        "buffers {i} ({}..{}, steps {}..={}) and {j} ({}..{}, steps {}..={}) \
                         overlap",
                        a.offset,
                        a.offset + a.bytes,
                        a.start,
                        a.end,
                        b.offset,
                        b.offset + b.bytes,
                        b.start,
                        b.end
                    ));
                }
            }
        }
        if self.lower_bound > self.arena_bytes {
            return Err(format!(
                "the lower bound {} exceeds the arena {}",
                self.lower_bound, self.arena_bytes
            ));
        }
        Ok(())
    }
}

/// Plans memory for `graph` in the better of two orders: the file's (`Graph::schedule`)
/// and the memory-aware one ([`memory_order`]), which is kept only if its arena is
/// smaller, so no arena grows and a graph it does not help keeps the file's order. `Err`
/// holds the nodes on or behind a cycle.
pub fn plan_best(graph: &Graph, kernels: KernelSet) -> Result<MemoryPlan, Vec<NodeId>> {
    let schedule = graph.schedule()?;
    let file = plan_for(graph, &schedule, kernels);
    let Some(order) = memory_order(graph, kernels).filter(|o| *o != file.schedule) else {
        return Ok(file);
    };
    let ordered = plan_floored(graph, &order, kernels, &granted(&file));
    Ok(if ordered.arena_bytes < file.arena_bytes {
        MemoryPlan {
            memory_ordered: true,
            ..ordered
        }
    } else {
        file
    })
}

/// Plans memory for `graph` executed in `schedule` order, for a crate that builds on
/// any target.
pub fn plan(graph: &Graph, schedule: &[NodeId]) -> MemoryPlan {
    plan_for(graph, schedule, KernelSet::ANY)
}

/// Plans memory for `graph` executed in `schedule` order, each kernel's scratch sized
/// for the targets of `kernels`. Where nodes can write their output over the input they
/// read ([`crate::ops::OpKind::in_place_shift`]), only those at the most crowded steps
/// do: the plan leads the nodes whose step has at least `t` bytes live without them, for
/// each such `t` from the highest down, and keeps the smallest arena, the fewest nodes on
/// a tie. A depthwise layer run in groups costs time on a small plane (7 × 7 and 14 × 14
/// layers of mobilenet_v2: 5–40 % each, measured alone), none measurable on the large
/// planes where the peaks are; so no arena grows and no layer pays where the arena does
/// not shrink.
pub fn plan_for(graph: &Graph, schedule: &[NodeId], kernels: KernelSet) -> MemoryPlan {
    plan_floored(graph, schedule, kernels, &BTreeMap::new())
}

/// The scratch each node's kernel was given in `plan` (its own ask, or more where the
/// arena had room): the floor a smaller plan keeps, so that no layer gets less scratch,
/// and runs slower, because another plan's arena is smaller (the 1 × 1 expansion at the
/// peak of mobilenet_v2-int8 took 5.9 M more instructions with its bare 896 bytes than
/// with the 8,320 it had).
fn granted(plan: &MemoryPlan) -> BTreeMap<NodeId, usize> {
    plan.scratch
        .iter()
        .map(|(&id, &(_, bytes))| (id, bytes))
        .collect()
}

/// [`plan_for`], each node's scratch at least its `floor` entry.
fn plan_floored(
    graph: &Graph,
    schedule: &[NodeId],
    kernels: KernelSet,
    floor: &BTreeMap<NodeId, usize>,
) -> MemoryPlan {
    plan_staged(graph, schedule, kernels, floor, &[], false)
}

/// [`plan_for`] for a patch graph ([`patch`]): its inputs are buffers of its arena too,
/// live from the first step to their last reader, since the stage copies each patch's
/// input region there.
pub(crate) fn plan_patch_graph(
    graph: &Graph,
    schedule: &[NodeId],
    kernels: KernelSet,
) -> MemoryPlan {
    plan_staged(graph, schedule, kernels, &BTreeMap::new(), &[], true)
}

/// [`plan_for`] with `stages` run patch by patch: each stage's inner tensors live in the
/// stage's own buffer, live over its steps ([`patch`]).
pub(crate) fn plan_spans(
    graph: &Graph,
    schedule: &[NodeId],
    kernels: KernelSet,
    stages: Vec<patch::Stage>,
) -> MemoryPlan {
    let plan = plan_staged(graph, schedule, kernels, &BTreeMap::new(), &stages, false);
    MemoryPlan { stages, ..plan }
}

/// [`plan_floored`] with `stages`.
fn plan_staged(
    graph: &Graph,
    schedule: &[NodeId],
    kernels: KernelSet,
    floor: &BTreeMap<NodeId, usize>,
    stages: &[patch::Stage],
    inputs_in_arena: bool,
) -> MemoryPlan {
    let staged: std::collections::BTreeSet<NodeId> = stages
        .iter()
        .flat_map(|s| s.nodes.iter().copied())
        .collect();
    let apart = plan_with(
        graph,
        schedule,
        kernels,
        &BTreeMap::new(),
        floor,
        stages,
        inputs_in_arena,
    );
    // Nodes that can lead their input, with the least lead.
    let leadable: Vec<(usize, NodeId, usize)> = apart
        .schedule
        .iter()
        .enumerate()
        .filter(|(_, id)| !staged.contains(id))
        .filter_map(|(step, &id)| {
            let lead = graph.node(id).op.in_place_shift(&input_types(graph, id))?;
            Some((step, id, lead))
        })
        .collect();
    if leadable.is_empty() {
        return apart;
    }
    // Bytes live at each step, each scratch at what its kernel asked for (not grown).
    let mut asked = apart.buffers.clone();
    for b in &mut asked {
        if let Some(id) = b.scratch_of {
            b.bytes = align(
                graph
                    .node(id)
                    .op
                    .scratch_bytes(&input_types(graph, id), kernels),
            );
        }
    }
    let live = live_per_step(&asked, apart.schedule.len());
    let mut levels: Vec<usize> = leadable.iter().map(|&(step, _, _)| live[step]).collect();
    levels.sort_unstable_by(|a, b| b.cmp(a));
    levels.dedup();
    // Under a RAM budget (a plan with stages) the scratch a kernel was granted in a
    // roomier plan is no floor: the arena is what counts.
    let floor = if stages.is_empty() {
        granted(&apart)
    } else {
        floor.clone()
    };
    let mut best = (apart, BTreeMap::new());
    for t in levels {
        let led: BTreeMap<NodeId, usize> = leadable
            .iter()
            .filter(|&&(step, _, _)| live[step] >= t)
            .map(|&(_, id, lead)| (id, lead))
            .collect();
        let plan = plan_with(
            graph,
            schedule,
            kernels,
            &led,
            &floor,
            stages,
            inputs_in_arena,
        );
        if plan.arena_bytes < best.0.arena_bytes {
            best = (plan, led);
        }
    }
    // Each lead doubled while the arena holds: more channels a call, fewer calls (a
    // depthwise layer's groups cost a little time each).
    let (mut plan, mut led) = best;
    let ids: Vec<NodeId> = led.keys().copied().collect();
    for id in ids {
        let out = align(graph.ty(ValueId { node: id, slot: 0 }).n_bytes());
        while led[&id] * 2 <= out {
            let mut longer = led.clone();
            longer.insert(id, led[&id] * 2);
            let tried = plan_with(
                graph,
                schedule,
                kernels,
                &longer,
                &floor,
                stages,
                inputs_in_arena,
            );
            if tried.arena_bytes > plan.arena_bytes {
                break;
            }
            (plan, led) = (tried, longer);
        }
    }
    plan
}

/// [`plan_for`], with the nodes of `led` leading their input in place, by the bytes
/// `led` gives, where it dies, and each node's scratch at least its `floor` entry.
fn plan_with(
    graph: &Graph,
    schedule: &[NodeId],
    kernels: KernelSet,
    led: &BTreeMap<NodeId, usize>,
    floor: &BTreeMap<NodeId, usize>,
    stages: &[patch::Stage],
    inputs_in_arena: bool,
) -> MemoryPlan {
    let ops: Vec<NodeId> = schedule
        .iter()
        .copied()
        .filter(|&id| !matches!(graph.node(id).op, Op::Input(_) | Op::Const(_)))
        .collect();
    let mut locations = BTreeMap::new();

    if !inputs_in_arena {
        for (i, &input) in graph.inputs.iter().enumerate() {
            locations.insert(
                ValueId {
                    node: input,
                    slot: 0,
                },
                Location::Input(i),
            );
        }
    }

    // Constants go into the blob in order of first use; constants nothing reads stay out.
    let mut weights = Vec::new();
    let mut weight_bytes = 0usize;
    let mut add_weight = |v: ValueId, line: bool, locations: &mut BTreeMap<ValueId, Location>| {
        if let Op::Const(t) = &graph.node(v.node).op {
            if let std::collections::btree_map::Entry::Vacant(slot) = locations.entry(v) {
                if line {
                    weight_bytes = weight_bytes.div_ceil(LINE) * LINE;
                }
                slot.insert(Location::Weight {
                    offset: weight_bytes,
                });
                weights.push(v);
                weight_bytes += align(t.ty().n_bytes());
            }
        }
    };
    for &id in &ops {
        let node = graph.node(id);
        let lined = node.op.line_aligned_inputs();
        for (slot, v) in node.inputs.iter().enumerate() {
            if let Some(v) = v {
                add_weight(*v, lined.contains(&slot), &mut locations);
            }
        }
    }
    for o in &graph.outputs {
        add_weight(o.value, false, &mut locations);
    }

    // The last step that reads each value. A stage reads its input in every patch, up
    // to its last step.
    let mut last_use: BTreeMap<ValueId, usize> = BTreeMap::new();
    for (step, &id) in ops.iter().enumerate() {
        for v in graph.node(id).inputs.iter().flatten() {
            last_use.insert(*v, step);
        }
    }
    // Stage by stage: its node → the stage; the values only its patches hold.
    let mut stage_of: BTreeMap<NodeId, &patch::Stage> = BTreeMap::new();
    let mut inner: std::collections::BTreeSet<ValueId> = std::collections::BTreeSet::new();
    for stage in stages {
        let u = last_use.entry(stage.input).or_insert(stage.steps.1);
        *u = (*u).max(stage.steps.1);
        for &id in &stage.nodes {
            stage_of.insert(id, stage);
            for slot in 0..graph.node(id).outputs.len() {
                let v = ValueId {
                    node: id,
                    slot: slot as u32,
                };
                if v != stage.output {
                    inner.insert(v);
                }
            }
        }
    }

    let mut buffers: Vec<Buffer> = Vec::new();
    let mut buffer_of: BTreeMap<ValueId, usize> = BTreeMap::new();
    if inputs_in_arena {
        for &input in &graph.inputs {
            let v = ValueId {
                node: input,
                slot: 0,
            };
            buffer_of.insert(v, buffers.len());
            buffers.push(Buffer {
                values: vec![v],
                scratch_of: None,
                bytes: align(graph.ty(v).n_bytes()),
                start: 0,
                end: last_use.get(&v).copied().unwrap_or(0),
                offset: 0,
                leads: None,
            });
        }
    }
    let carried = |v: &ValueId| matches!(graph.node(v.node).op, Op::RowCarry(_));
    let mut in_place = BTreeMap::new();
    let mut leads = BTreeMap::new();
    let mut aliased_views = Vec::new();
    let mut naive_bytes = 0;
    // Scratch buffers whose kernels use more than they need: buffer → bytes.
    let mut wanted = BTreeMap::new();
    for (step, &id) in ops.iter().enumerate() {
        let node = graph.node(id);
        for slot in 0..node.outputs.len() {
            let v = ValueId {
                node: id,
                slot: slot as u32,
            };
            if let Some(k) = graph.outputs.iter().position(|o| o.value == v) {
                locations.insert(v, Location::Output(k));
                continue;
            }
            if inner.contains(&v) {
                continue;
            }
            naive_bytes += align(graph.ty(v).n_bytes());
            let end = last_use.get(&v).copied().unwrap_or(step);
            // A stage's output is written from the stage's first step, patch by patch.
            if let Some(stage) = stage_of.get(&id) {
                buffer_of.insert(v, buffers.len());
                buffers.push(Buffer {
                    values: vec![v],
                    scratch_of: None,
                    bytes: align(graph.ty(v).n_bytes()),
                    start: stage.steps.0,
                    end,
                    offset: 0,
                    leads: None,
                });
                continue;
            }
            // A view shares whatever storage its input has.
            if let Some(Some(x)) = node
                .op
                .view_of(slot)
                .map(|i| node.inputs.get(i).copied().flatten())
            {
                if let Some(&b) = buffer_of.get(&x) {
                    buffers[b].values.push(v);
                    buffers[b].end = buffers[b].end.max(end);
                    buffer_of.insert(v, b);
                } else {
                    // Inputs, outputs and weights: the view reads them where they are.
                    locations.insert(v, locations[&x]);
                }
                if aliased_views.last() != Some(&id) {
                    aliased_views.push(id);
                }
                continue;
            }
            // The buffer of input `x` dies at this step: nothing reads `x` again, nor
            // any other value stored with it.
            let dies_here = |x: &ValueId, buffers: &[Buffer]| {
                let read_once = node.inputs.iter().filter(|o| o.as_ref() == Some(x)).count() == 1;
                read_once
                    && !carried(x)
                    && buffer_of.get(x).is_some_and(|&b| {
                        buffers[b].end == step
                            && buffers[b]
                                .values
                                .iter()
                                .all(|m| last_use.get(m).is_none_or(|&u| u <= step))
                    })
            };
            // An op that overwrites its input as it reads it, the output leading: a
            // buffer of its own, placed with the input's.
            let lead = led
                .get(&id)
                .copied()
                .filter(|&lead| slot == 0 && lead % ALIGN == 0)
                .and_then(|lead| {
                    let x = node.inputs.first().copied().flatten()?;
                    dies_here(&x, &buffers).then(|| (buffer_of[&x], lead))
                });
            if let Some((_, bytes)) = lead {
                in_place.insert(id, 0);
                leads.insert(id, bytes);
            }
            // An element-wise op may take over the buffer of an input that dies here.
            let reuse = node.op.in_place_inputs().iter().copied().find(|&i| {
                let Some(Some(x)) = node.inputs.get(i) else {
                    return false;
                };
                let same_type = graph.ty(*x).dtype == graph.ty(v).dtype
                    && graph.ty(*x).shape == graph.ty(v).shape;
                // A buffer another one leads is never taken here: it died at the step of
                // the node whose output leads it, and `dies_here` asks for this step.
                lead.is_none() && slot == 0 && same_type && dies_here(x, &buffers)
            });
            if let Some(i) = reuse {
                let b = buffer_of[&node.inputs[i].expect("checked")];
                buffers[b].values.push(v);
                buffers[b].end = end;
                buffer_of.insert(v, b);
                in_place.insert(id, i);
                continue;
            }
            // A patch graph's carried rows survive from one patch to the next: their
            // buffer is theirs over the whole graph.
            let (start, end) = if carried(&v) {
                (0, ops.len().saturating_sub(1))
            } else {
                (step, end)
            };
            buffer_of.insert(v, buffers.len());
            buffers.push(Buffer {
                values: vec![v],
                scratch_of: None,
                bytes: align(graph.ty(v).n_bytes()),
                start,
                end,
                offset: 0,
                leads: lead,
            });
        }
        // A stage's buffer (its input region and its patch graph's arena) is the scratch
        // of its first node, live over all its steps; its nodes ask for none of their own.
        if let Some(stage) = stage_of.get(&id) {
            if stage.nodes.first() == Some(&id) {
                naive_bytes += stage.bytes;
                buffers.push(Buffer {
                    values: vec![],
                    scratch_of: Some(id),
                    bytes: align(stage.bytes),
                    start: stage.steps.0,
                    end: stage.steps.1,
                    offset: 0,
                    leads: None,
                });
            }
            continue;
        }
        if let Some(mut scratch) = scratch_buffer(graph, id, step, kernels) {
            scratch.bytes = scratch.bytes.max(floor.get(&id).copied().unwrap_or(0));
            naive_bytes += scratch.bytes;
            let max = align_down(
                graph
                    .node(id)
                    .op
                    .scratch_bytes_max(&input_types(graph, id), kernels),
            );
            if max > scratch.bytes {
                wanted.insert(buffers.len(), max);
            }
            buffers.push(scratch);
        }
    }

    let lower_bound = live_peak(&buffers, ops.len());
    let (heuristic, offsets, arena_bytes) = place_best(&buffers);
    for (b, offset) in buffers.iter_mut().zip(offsets) {
        b.offset = offset;
    }
    grow_scratch(&mut buffers, &wanted, arena_bytes);
    let scratch = buffers
        .iter()
        .filter_map(|b| Some((b.scratch_of?, (b.offset, b.bytes))))
        .collect();
    for (i, b) in buffers.iter().enumerate() {
        for &v in &b.values {
            locations.insert(
                v,
                Location::Arena {
                    offset: b.offset,
                    buffer: i,
                },
            );
        }
    }
    MemoryPlan {
        schedule: ops,
        locations,
        buffers,
        in_place,
        leads,
        aliased_views,
        scratch,
        weights,
        weight_bytes,
        arena_bytes,
        lower_bound,
        naive_bytes,
        heuristic,
        memory_ordered: false,
        kernels,
        stages: Vec::new(),
    }
}

/// The types of node `id`'s inputs, as the ops' scratch queries take them.
fn input_types(graph: &Graph, id: NodeId) -> Vec<Option<&crate::ir::TensorType>> {
    let node = graph.node(id);
    node.inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect()
}

/// Grows each scratch buffer in `wanted` (buffer → the most bytes its kernel uses) into
/// the largest run of the arena free at its step, up to that many bytes: the arena keeps
/// its size, and the kernel takes larger blocks where the tensors live at its step leave
/// room (on mobilenet_v2-int8, whose arena is set by its 112 × 112 layers, every later
/// 1 × 1 convolution gets blocks of 256 positions instead of 48; 4.22 → 3.83 ms on the
/// host). Buffer by buffer in order, so the plan stays deterministic; scratch buffers live
/// at one step each, one per node, so growing one never touches another.
fn grow_scratch(buffers: &mut [Buffer], wanted: &BTreeMap<usize, usize>, arena_bytes: usize) {
    for (&b, &max) in wanted {
        let step = buffers[b].start;
        let mut taken: Vec<(usize, usize)> = buffers
            .iter()
            .enumerate()
            .filter(|&(i, o)| i != b && o.start <= step && step <= o.end)
            .map(|(_, o)| (o.offset, o.offset + o.bytes))
            .collect();
        taken.sort_unstable();
        // The free runs between the live buffers; the buffer's own place lies in one.
        let (mut best, mut at) = ((buffers[b].offset, buffers[b].bytes), 0);
        for (start, end) in taken.into_iter().chain([(arena_bytes, arena_bytes)]) {
            if start > at && start - at > best.1 {
                best = (at, start - at);
            }
            at = at.max(end);
        }
        buffers[b].offset = best.0;
        buffers[b].bytes = align_down(best.1.min(max)).max(buffers[b].bytes);
    }
}

/// `n` rounded down to a multiple of [`ALIGN`].
fn align_down(n: usize) -> usize {
    n / ALIGN * ALIGN
}

/// The scratch buffer of node `id` at `step`, if its kernel needs one.
fn scratch_buffer(graph: &Graph, id: NodeId, step: usize, kernels: KernelSet) -> Option<Buffer> {
    let node = graph.node(id);
    let bytes = node.op.scratch_bytes(&input_types(graph, id), kernels);
    (bytes > 0).then(|| Buffer {
        values: Vec::new(),
        scratch_of: Some(id),
        bytes: align(bytes),
        start: step,
        end: step,
        offset: 0,
        leads: None,
    })
}

/// Buffers placed together: each member with its offset from the group's start. A
/// buffer that leads another ([`Buffer::leads`]) joins that one's group; every other
/// buffer is a group of one. Groups in order of their first member.
fn groups(buffers: &[Buffer]) -> Vec<Vec<(usize, usize)>> {
    let mut group_of = vec![0usize; buffers.len()];
    let mut rel = vec![0isize; buffers.len()];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, b) in buffers.iter().enumerate() {
        match b.leads {
            Some((led, lead)) if led < i => {
                group_of[i] = group_of[led];
                rel[i] = rel[led] - lead as isize;
                groups[group_of[i]].push(i);
            }
            _ => {
                group_of[i] = groups.len();
                groups.push(vec![i]);
            }
        }
    }
    groups
        .into_iter()
        .map(|members| {
            let base = members.iter().map(|&m| rel[m]).min().unwrap_or(0);
            members
                .into_iter()
                .map(|m| (m, (rel[m] - base) as usize))
                .collect()
        })
        .collect()
}

/// Arena bytes live at each step: every buffer whose lifetime covers it, a group of
/// buffers placed together ([`Buffer::leads`]) counting the span its live members cover.
pub fn live_per_step(buffers: &[Buffer], n_steps: usize) -> Vec<usize> {
    let mut live = vec![0usize; n_steps];
    for group in groups(buffers) {
        if let [(b, _)] = group[..] {
            let b = &buffers[b];
            for bytes in live.iter_mut().take(b.end + 1).skip(b.start) {
                *bytes += b.bytes;
            }
            continue;
        }
        for (step, bytes) in live.iter_mut().enumerate() {
            let (lo, hi) = group
                .iter()
                .filter(|&&(m, _)| buffers[m].start <= step && step <= buffers[m].end)
                .fold((usize::MAX, 0), |(lo, hi), &(m, rel)| {
                    (lo.min(rel), hi.max(rel + buffers[m].bytes))
                });
            *bytes += hi.saturating_sub(lo);
        }
    }
    live
}

/// The most bytes live at one step.
fn live_peak(buffers: &[Buffer], n_steps: usize) -> usize {
    live_per_step(buffers, n_steps)
        .into_iter()
        .max()
        .unwrap_or(0)
}

/// The file-order liveness bound of a graph as imported: every intermediate tensor in its
/// own buffer, nodes in file order, no views and no in-place reuse (each node's scratch
/// counted at its step). The arena of the optimized graph must never exceed it.
pub fn file_order_bound(graph: &Graph, kernels: KernelSet) -> usize {
    let ops: Vec<NodeId> = graph
        .node_ids()
        .into_iter()
        .filter(|&id| !matches!(graph.node(id).op, Op::Input(_) | Op::Const(_)))
        .collect();
    let mut last_use: BTreeMap<ValueId, usize> = BTreeMap::new();
    for (step, &id) in ops.iter().enumerate() {
        for v in graph.node(id).inputs.iter().flatten() {
            last_use.insert(*v, step);
        }
    }
    let mut buffers = Vec::new();
    for (step, &id) in ops.iter().enumerate() {
        for slot in 0..graph.node(id).outputs.len() {
            let v = ValueId {
                node: id,
                slot: slot as u32,
            };
            if graph.is_graph_output(v) {
                continue;
            }
            buffers.push(Buffer {
                values: vec![v],
                scratch_of: None,
                bytes: align(graph.ty(v).n_bytes()),
                start: step,
                end: last_use.get(&v).copied().unwrap_or(step),
                offset: 0,
                leads: None,
            });
        }
        buffers.extend(scratch_buffer(graph, id, step, kernels));
    }
    live_peak(&buffers, ops.len())
}

type Order = fn(&Buffer) -> (isize, isize, isize);

/// Placement orders: which buffer gets an address first.
const ORDERS: &[(&str, Order)] = &[
    ("largest first", |b| {
        (-(b.bytes as isize), b.start as isize, b.end as isize)
    }),
    ("earliest first", |b| {
        (b.start as isize, -(b.bytes as isize), b.end as isize)
    }),
    ("longest-lived first", |b| {
        (
            -((b.end - b.start + 1) as isize * b.bytes as isize),
            b.start as isize,
            0,
        )
    }),
    ("latest end first", |b| {
        (-(b.end as isize), -(b.bytes as isize), b.start as isize)
    }),
];

/// Tries every order with first-fit and best-fit gap choice; keeps the smallest arena.
/// With buffers placed in groups ([`Buffer::leads`]) each is also tried top down, from
/// the arena's end: a depthwise layer's output leads its input, and the span below the
/// input, free until that layer runs, is better left above the tensors placed after it.
fn place_best(buffers: &[Buffer]) -> (&'static str, Vec<usize>, usize) {
    const LABELS: [[&str; 4]; 4] = [
        [
            "largest first, first fit",
            "largest first, best fit",
            "largest first, first fit, top down",
            "largest first, best fit, top down",
        ],
        [
            "earliest first, first fit",
            "earliest first, best fit",
            "earliest first, first fit, top down",
            "earliest first, best fit, top down",
        ],
        [
            "longest-lived first, first fit",
            "longest-lived first, best fit",
            "longest-lived first, first fit, top down",
            "longest-lived first, best fit, top down",
        ],
        [
            "latest end first, first fit",
            "latest end first, best fit",
            "latest end first, first fit, top down",
            "latest end first, best fit, top down",
        ],
    ];
    let grouped = buffers.iter().any(|b| b.leads.is_some());
    let mut best: Option<(&'static str, Vec<usize>, usize)> = None;
    for (&(_, key), labels) in ORDERS.iter().zip(LABELS) {
        for (variant, label) in labels.into_iter().enumerate() {
            let (best_fit, top_down) = (variant % 2 == 1, variant >= 2);
            if top_down && !grouped {
                continue;
            }
            let (offsets, size) = place(buffers, key, best_fit, top_down);
            if best.as_ref().is_none_or(|(_, _, s)| size < *s) {
                best = Some((label, offsets, size));
            }
        }
    }
    best.unwrap_or(("none", vec![], 0))
}

/// Greedy placement: each buffer in `key` order goes at the lowest (first fit) or the
/// tightest (best fit) gap left by already-placed buffers whose lifetimes overlap it. A
/// group of buffers placed together ([`groups`]) goes, in its envelope's order, at the
/// lowest offset where every member fits. `top_down` places the mirror image (each group
/// flipped, offsets counted from the arena's end), then turns it back.
fn place(buffers: &[Buffer], key: Order, best_fit: bool, top_down: bool) -> (Vec<usize>, usize) {
    let mut groups = groups(buffers);
    if top_down {
        for group in &mut groups {
            let extent = group
                .iter()
                .map(|&(m, rel)| rel + buffers[m].bytes)
                .max()
                .unwrap_or(0);
            for (m, rel) in group.iter_mut() {
                *rel = extent - *rel - buffers[*m].bytes;
            }
        }
    }
    let envelope = |group: &[(usize, usize)]| {
        let (first, _) = group[0];
        let mut e = buffers[first].clone();
        for &(m, rel) in group {
            let b = &buffers[m];
            e.start = e.start.min(b.start);
            e.end = e.end.max(b.end);
            e.bytes = e.bytes.max(rel + b.bytes);
        }
        e
    };
    let mut order: Vec<(Buffer, usize)> = groups
        .iter()
        .enumerate()
        .map(|(g, group)| (envelope(group), g))
        .collect();
    order.sort_by_key(|(e, g)| (key(e), groups[*g][0].0));
    let mut offsets = vec![usize::MAX; buffers.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut total = 0;
    // The address ranges of placed buffers live at some step of `b`'s.
    let busy_for = |b: &Buffer, placed: &[usize], offsets: &[usize]| {
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[j].start <= b.end && b.start <= buffers[j].end)
            .map(|&j| (offsets[j], offsets[j] + buffers[j].bytes))
            .collect();
        busy.sort_unstable();
        busy
    };
    for (_, g) in order {
        let group = &groups[g];
        if let [(i, _)] = group[..] {
            let b = &buffers[i];
            let busy = busy_for(b, &placed, &offsets);
            let mut cursor = 0;
            let mut choice: Option<(usize, usize)> = None; // (offset, gap size)
            for &(lo, hi) in &busy {
                if lo >= cursor + b.bytes {
                    let gap = lo - cursor;
                    if !best_fit {
                        choice.get_or_insert((cursor, gap));
                        break;
                    }
                    if choice.is_none_or(|(_, g)| gap < g) {
                        choice = Some((cursor, gap));
                    }
                }
                cursor = cursor.max(hi);
            }
            let offset = choice.map_or(cursor, |(o, _)| o);
            offsets[i] = offset;
            total = total.max(offset + b.bytes);
            placed.push(i);
            continue;
        }
        // Candidate offsets: 0 and each place where a member would start right after a
        // busy range; the lowest at which no member meets a busy range wins.
        let busy: Vec<Vec<(usize, usize)>> = group
            .iter()
            .map(|&(m, _)| busy_for(&buffers[m], &placed, &offsets))
            .collect();
        let mut candidates: Vec<usize> = group
            .iter()
            .zip(&busy)
            .flat_map(|(&(_, rel), busy)| {
                busy.iter().filter_map(move |&(_, hi)| hi.checked_sub(rel))
            })
            .chain([0])
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let fits = |o: usize| {
            group.iter().zip(&busy).all(|(&(m, rel), busy)| {
                let (lo, hi) = (o + rel, o + rel + buffers[m].bytes);
                busy.iter().all(|&(b0, b1)| b1 <= lo || hi <= b0)
            })
        };
        // Past every busy range all members fit, so a candidate always does.
        let offset = candidates.into_iter().find(|&o| fits(o)).unwrap_or(total);
        for &(m, rel) in group {
            offsets[m] = offset + rel;
            total = total.max(offset + rel + buffers[m].bytes);
            placed.push(m);
        }
    }
    if top_down {
        for (offset, b) in offsets.iter_mut().zip(buffers) {
            *offset = total - *offset - b.bytes;
        }
    }
    (offsets, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::text;

    /// Plans the IR text `graph` in its schedule order.
    fn planned(graph: &str) -> (Graph, MemoryPlan) {
        let graph = text::parse(graph).unwrap();
        let schedule = graph.schedule().unwrap();
        let plan = plan(&graph, &schedule);
        (graph, plan)
    }

    /// A 1 × 1 layer, a depthwise layer of `stride` over its output, and a 1 × 1 layer
    /// reading that: the depthwise input and output both live in the arena.
    fn depthwise_chain(stride: usize) -> String {
        let out = 16 / stride;
        format!(
            "input 0: %x : f32[1,32,16,16]\n\
             %w1 = Const f32[32,32,1,1] splat(0.1)\n\
             %a = Conv(%x, %w1) kernel_shape=[1,1] : f32[1,32,16,16]\n\
             %w2 = Const f32[32,1,3,3] splat(0.1)\n\
             %d = Conv(%a, %w2) kernel_shape=[3,3] strides=[{stride},{stride}] pads=[1,1,1,1] group=32 : f32[1,32,{out},{out}]\n\
             %w3 = Const f32[8,32,1,1] splat(0.1)\n\
             %y = Conv(%d, %w3) kernel_shape=[1,1] : f32[1,8,{out},{out}]\n\
             output 0: out = %y\n"
        )
    }

    #[test]
    fn a_depthwise_layer_writes_over_its_input_when_the_arena_shrinks() {
        for stride in [1, 2] {
            let (graph, plan) = planned(&depthwise_chain(stride));
            plan.check().unwrap();
            let schedule = graph.schedule().unwrap();
            let apart = plan_with(
                &graph,
                &schedule,
                KernelSet::ANY,
                &BTreeMap::new(),
                &BTreeMap::new(),
                &[],
                false,
            );
            apart.check().unwrap();
            let dw = plan.schedule[1];
            let value = |node| ValueId { node, slot: 0 };
            let offset = |p: &MemoryPlan, node| match p.locations[&value(node)] {
                Location::Arena { offset, .. } => offset,
                other => panic!("{other:?}"),
            };
            let (a_bytes, d_bytes) = (32 * 16 * 16 * 4, 32 * (16 / stride).pow(2) * 4);
            // The output leads the input by one group of 16 output planes.
            let lead = 16 * (16 / stride).pow(2) * 4;
            assert_eq!(plan.leads.get(&dw), Some(&lead), "stride {stride}");
            assert_eq!(plan.in_place.get(&dw), Some(&0));
            assert_eq!(offset(&plan, dw) + lead, offset(&plan, plan.schedule[0]));
            // Apart, the input and output are live together at the depthwise step; in
            // place, they share all but the lead.
            let scratch = |p: &MemoryPlan| p.scratch.get(&dw).map_or(0, |&(_, b)| b);
            assert!(apart.leads.is_empty());
            assert!(apart.lower_bound >= a_bytes + d_bytes + scratch(&apart));
            assert!(plan.arena_bytes < apart.arena_bytes, "stride {stride}");
            assert!(plan.lower_bound <= lead + a_bytes + scratch(&plan) + 32 * 4 * 8 * 8 * 4);
        }
    }

    #[test]
    fn the_check_finds_overlapping_buffers() {
        let (_, mut plan) = planned(&depthwise_chain(2));
        plan.check().unwrap();
        // Move the depthwise output one alignment step off its lead.
        let led = plan.buffers.iter().position(|b| b.leads.is_some()).unwrap();
        plan.buffers[led].offset += ALIGN;
        assert!(plan.check().unwrap_err().contains("bytes before buffer"));
        plan.buffers[led].offset -= ALIGN;
        // Two buffers live together at the same place.
        let (i, j) = (0..plan.buffers.len())
            .flat_map(|i| (i + 1..plan.buffers.len()).map(move |j| (i, j)))
            .find(|&(i, j)| {
                let (a, b) = (&plan.buffers[i], &plan.buffers[j]);
                a.start <= b.end && b.start <= a.end && a.leads.is_none() && b.leads.is_none()
            })
            .unwrap();
        plan.buffers[j].offset = plan.buffers[i].offset;
        assert!(plan.check().unwrap_err().contains("overlap"));
    }

    #[test]
    fn scratch_grows_into_the_largest_free_run_at_its_step() {
        let buffer = |start, end, offset, bytes| Buffer {
            values: Vec::new(),
            scratch_of: None,
            bytes,
            start,
            end,
            offset,
            leads: None,
        };
        // An arena of 1 KiB: at step 1 a tensor holds 0..256 and another 512..640, the
        // scratch 256..320; a tensor at step 0 only (0..1024) does not count.
        let mut buffers = vec![
            buffer(0, 1, 0, 256),
            buffer(1, 2, 512, 128),
            buffer(0, 0, 0, 1024),
            buffer(1, 1, 256, 64),
        ];
        // It wants 2 KiB: it gets the largest free run at its step, 640..1024.
        grow_scratch(&mut buffers, &BTreeMap::from([(3, 2048)]), 1024);
        assert_eq!((buffers[3].offset, buffers[3].bytes), (640, 384));
        // Wanting less than the run, it takes what it wants; the others do not move.
        buffers[3] = buffer(1, 1, 256, 64);
        grow_scratch(&mut buffers, &BTreeMap::from([(3, 200)]), 1024);
        assert_eq!((buffers[3].offset, buffers[3].bytes), (640, 192));
        assert_eq!((buffers[1].offset, buffers[1].bytes), (512, 128));
        // With no run larger than its own place, it stays.
        buffers[3] = buffer(1, 1, 256, 64);
        buffers[1] = buffer(1, 2, 320, 704);
        grow_scratch(&mut buffers, &BTreeMap::from([(3, 2048)]), 1024);
        assert_eq!((buffers[3].offset, buffers[3].bytes), (256, 64));
    }

    #[test]
    fn kernel_scratch_is_a_buffer_live_at_its_node_only() {
        // A 3×3 convolution with eight output channels runs the implicit GEMM, which packs
        // twelve rows of weights (two tiles of six) and one 16-column sliver, 9 depths each.
        let (graph, plan) = planned(
            "input 0: %x : f32[1,1,8,8]\n\
             %w = Const f32[8,1,3,3] splat(0.5)\n\
             %y = Conv(%x, %w) kernel_shape=[3,3] pads=[1,1,1,1] : f32[1,8,8,8]\n\
             %z = Relu(%y)\n\
             %s = Sigmoid(%z)\n\
             output 0: out = %s\n",
        );
        let conv = plan.schedule[0];
        assert_eq!(graph.node(conv).op.family(), "Conv");
        let scratch_bytes = (12 + 16) * 9 * 4;
        let scratch: Vec<&Buffer> = plan
            .buffers
            .iter()
            .filter(|b| b.scratch_of.is_some())
            .collect();
        assert_eq!(scratch.len(), 1);
        assert_eq!(scratch[0].scratch_of, Some(conv));
        assert_eq!(
            (scratch[0].start, scratch[0].end, scratch[0].bytes),
            (0, 0, scratch_bytes)
        );
        assert!(scratch[0].values.is_empty());
        assert_eq!(plan.scratch[&conv], (scratch[0].offset, scratch_bytes));
        // At step 0 the scratch and the convolution's 2 KiB output are live together; it
        // must not overlap the output, and it counts in the bound and the arena.
        let output = 8 * 8 * 8 * 4;
        assert_eq!(plan.lower_bound, output + scratch_bytes);
        assert_eq!(plan.arena_bytes, output + scratch_bytes);
        let y = plan.locations[&ValueId {
            node: conv,
            slot: 0,
        }];
        let Location::Arena { offset, .. } = y else {
            panic!("the convolution's output is not in the arena: {y:?}");
        };
        let (s0, s1) = (scratch[0].offset, scratch[0].offset + scratch_bytes);
        assert!(
            s1 <= offset || offset + output <= s0,
            "scratch overlaps the output"
        );
        assert!(plan.naive_bytes >= plan.arena_bytes);
    }

    #[test]
    fn blocked_pointwise_weights_start_on_a_cache_line() {
        // `%b` (12 bytes, 16 aligned) comes first in the blob; the blocked weights would follow at 16
        // and start on the next line instead, while the bias after them needs only 16.
        let (graph, plan) = planned(
            "input 0: %x : f32[1,2,3,3]\n\
             %b = Const f32[3] splat(0.5)\n\
             %w = Const f32[2,3,1,1] splat(0.25)\n\
             %c = Const f32[3] splat(1.0)\n\
             %s = Add(%x, %b) : f32[1,2,3,3]\n\
             %y = Conv(%s, %w, %c) kernel_shape=[1,1] weights_blocked=1 : f32[1,3,3,3]\n\
             output 0: out = %y\n",
        );
        let offset = |name: &str| {
            let v = plan
                .weights
                .iter()
                .find(|v| graph.value(**v).name == name)
                .unwrap();
            match plan.locations[v] {
                Location::Weight { offset } => offset,
                other => panic!("{name} at {other:?}"),
            }
        };
        assert_eq!(
            (offset("b"), offset("w"), offset("c")),
            (0, LINE, LINE + 32)
        );
        assert_eq!(plan.weight_bytes, LINE + 32 + ALIGN);
    }

    #[test]
    fn matrix_vector_products_get_no_scratch() {
        let (_, plan) = planned(
            "input 0: %x : f32[1,4]\n\
             %w = Const f32[4,3] splat(0.25)\n\
             %y = Gemm(%x, %w) : f32[1,3]\n\
             %z = Relu(%y)\n\
             output 0: out = %z\n",
        );
        assert!(plan.scratch.is_empty());
        assert!(plan.buffers.iter().all(|b| b.scratch_of.is_none()));
    }

    #[test]
    fn a_gate_aliases_the_values_its_branch_reads() {
        // `s` is computed before the `If` and read by both branches through their gates:
        // the gates' outputs share its buffer, which stays live until the last branch node
        // that reads it, and the gates themselves run no code.
        let (graph, plan) = planned(
            "input 0: %x : f32[4]\n\
             input 1: %c : bool[]\n\
             %s = Add(%x, %x)\n\
             %t = If(%c, %s) branch=\"then\" : f32[4]\n\
             %r = Relu(%t) : f32[4] guarded_by %t\n\
             %e = If(%c, %s) branch=\"else\" : f32[4]\n\
             %n = Neg(%e) : f32[4] guarded_by %e\n\
             %y = If(%c, %r, %n) : f32[4]\n\
             output 0: out = %y\n",
        );
        let id = |name: &str| {
            plan.schedule
                .iter()
                .copied()
                .find(|&n| graph.node(n).name == name)
                .unwrap()
        };
        let at = |name: &str| {
            plan.locations[&ValueId {
                node: id(name),
                slot: 0,
            }]
        };
        assert_eq!(at("t"), at("s"));
        assert_eq!(at("e"), at("s"));
        assert!(plan.aliased_views.contains(&id("t")) && plan.aliased_views.contains(&id("e")));
        // Relu may not overwrite `s` in place: the else branch reads it after.
        assert!(!plan.in_place.contains_key(&id("r")));
        // Neg may: nothing reads `s` after it.
        assert_eq!(plan.in_place.get(&id("n")), Some(&0));
        assert_eq!(graph.node(id("r")).guard, Some(id("t")));
    }
}
