//! The per-layer view of `zantc inspect --layers`: one row per node of the optimized graph,
//! in schedule order, with its MACs, its weight and activation traffic, where its output
//! lives and how many arena bytes are live at its step.
//!
//! Rows are computed from the plan the emitted code uses ([`crate::plan::MemoryPlan`]), so
//! the table shows what the generated crate does: the step whose live bytes peak is the
//! plan's lower bound, and no step exceeds `ARENA_BYTES`. Under the `cli` feature the rows
//! serialize to JSON (`--json`) as they are.

use std::fmt::Write;

use crate::ir::ValueId;
use crate::ops::Attribute;
use crate::pipeline::Lowered;
use crate::plan::Location;

/// Every row, and the totals under them.
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct Layers {
    pub rows: Vec<Layer>,
    pub totals: Totals,
}

/// One node of the optimized graph at its step of the schedule.
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// The node's position in the schedule, which is the step of the memory plan.
    pub step: usize,
    /// The ONNX op type the node came from (`Conv` still, when a Relu was fused into it).
    pub op: &'static str,
    /// The activation the passes fused into the node (`Relu`, `Clip`), whose own node is
    /// gone from the graph.
    pub activation: Option<String>,
    /// The node's name in the model.
    pub name: String,
    pub outputs: Vec<LayerOutput>,
    /// Multiply-accumulates ([`crate::ops::OpKind::macs`]).
    pub macs: u64,
    /// Bytes of the node's inputs that live in the weight blob, each value counted once.
    pub weight_bytes: usize,
    /// Bytes of every input the node reads, weights included, once per input slot.
    pub read_bytes: usize,
    /// Bytes of every output the node writes.
    pub written_bytes: usize,
    /// The kernel scratch the plan reserves for this step.
    pub scratch: Option<Span>,
    /// Arena bytes live at this step: every buffer whose lifetime covers it, scratch
    /// included.
    pub live_bytes: usize,
}

/// A run of arena bytes.
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub offset: usize,
    pub bytes: usize,
}

/// One output of a node and where it lives.
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct LayerOutput {
    /// The value's name in the model.
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub place: Place,
    pub reuse: Reuse,
}

/// Where an output's bytes are at run time.
#[cfg_attr(
    feature = "cli",
    derive(serde::Serialize),
    serde(tag = "kind", rename_all = "snake_case")
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// In the arena, in a buffer of `bytes` (aligned) at `offset`.
    Arena { offset: usize, bytes: usize },
    /// In the caller's input array `index` (a view of a graph input).
    Input { index: usize },
    /// In the caller's output array `index`.
    Output { index: usize },
    /// In the weight blob at `offset` (a view of a constant).
    Weights { offset: usize },
    /// Inside a stage run patch by patch (`plan::patch`, only under a RAM budget): one
    /// patch's region of it at a time, in the stage's buffer, for a grid of `grid`
    /// patches of `tile` outputs of the stage; `rows_kept` when each patch keeps the
    /// rows it shares with the patch above instead of recomputing them.
    Patch {
        grid: [usize; 2],
        tile: [usize; 2],
        rows_kept: bool,
    },
}

/// How a node came to write where it does.
#[cfg_attr(
    feature = "cli",
    derive(serde::Serialize),
    serde(tag = "kind", rename_all = "snake_case")
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Storage of its own.
    Fresh,
    /// The buffer of input `input`, which dies at this node and is overwritten.
    InPlace { input: usize },
    /// Over input `input`, which dies at this node: the output starts `bytes` before it
    /// and overwrites it as it is read (a depthwise layer).
    Leads { input: usize, bytes: usize },
    /// The storage of input 0, reinterpreted without a copy: the node emits no code.
    View,
}

/// The sums of the rows and the plan's own figures.
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct Totals {
    pub layers: usize,
    pub macs: u64,
    /// The rows' weight bytes: a weight read by two nodes counts twice.
    pub weight_bytes: usize,
    /// The size of the weight blob (each constant once, 16-byte aligned).
    pub weight_blob_bytes: usize,
    pub read_bytes: usize,
    pub written_bytes: usize,
    /// The most arena bytes live at one step: the plan's lower bound.
    pub peak_live_bytes: usize,
    /// The first step at which `peak_live_bytes` are live; `None` for a graph with no step.
    pub peak_step: Option<usize>,
    /// `ARENA_BYTES` of the generated crate.
    pub arena_bytes: usize,
    /// The plan's lower bound: no placement of its buffers needs fewer bytes.
    pub lower_bound: usize,
}

/// The rows and totals of a lowered model.
pub fn layers(c: &Lowered) -> Layers {
    let (graph, plan) = (&c.graph, &c.plan);
    let live = live_per_step(c);
    let rows: Vec<Layer> = plan
        .schedule
        .iter()
        .enumerate()
        .map(|(step, &id)| {
            let node = graph.node(id);
            let inputs: Vec<_> = node.inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
            // A view reinterprets its input where it is: no code, no traffic.
            let moves = !plan.aliased_views.contains(&id);
            let mut weights: Vec<ValueId> = node
                .inputs
                .iter()
                .flatten()
                .copied()
                .filter(|v| matches!(plan.locations.get(v), Some(Location::Weight { .. })))
                .collect();
            weights.sort_unstable();
            weights.dedup();
            let outputs: Vec<LayerOutput> = (0..node.outputs.len())
                .map(|slot| {
                    let v = ValueId {
                        node: id,
                        slot: slot as u32,
                    };
                    let ty = graph.ty(v);
                    let reuse = if !moves && slot == 0 {
                        Reuse::View
                    } else if let (0, Some(&input)) = (slot, plan.in_place.get(&id)) {
                        match plan.leads.get(&id) {
                            Some(&bytes) => Reuse::Leads { input, bytes },
                            None => Reuse::InPlace { input },
                        }
                    } else {
                        Reuse::Fresh
                    };
                    LayerOutput {
                        name: graph.value(v).name.clone(),
                        dtype: ty.dtype.name(),
                        shape: ty.shape.clone(),
                        place: place(c, v),
                        reuse,
                    }
                })
                .collect();
            let (macs, weight_bytes, read_bytes, written_bytes) = if moves {
                (
                    node.op.macs(&inputs),
                    weights.iter().map(|&v| graph.ty(v).n_bytes()).sum(),
                    inputs.iter().flatten().map(|t| t.n_bytes()).sum(),
                    node.outputs.iter().map(|o| o.ty.n_bytes()).sum(),
                )
            } else {
                (0, 0, 0, 0)
            };
            let activation = match node
                .op
                .attrs()
                .to_map()
                .ok()
                .and_then(|mut attrs| attrs.remove("activation"))
            {
                Some(Attribute::String(act)) => Some(act),
                _ => None,
            };
            Layer {
                step,
                op: node.onnx.op_type,
                activation,
                name: node.name.clone(),
                macs,
                weight_bytes,
                read_bytes,
                written_bytes,
                scratch: plan
                    .scratch
                    .get(&id)
                    .map(|&(offset, bytes)| Span { offset, bytes }),
                outputs,
                live_bytes: live[step],
            }
        })
        .collect();
    let peak_live_bytes = live.iter().copied().max().unwrap_or(0);
    let totals = Totals {
        layers: rows.len(),
        macs: rows.iter().fold(0u64, |n, r| n.saturating_add(r.macs)),
        weight_bytes: rows.iter().map(|r| r.weight_bytes).sum(),
        weight_blob_bytes: plan.weight_bytes,
        read_bytes: rows.iter().map(|r| r.read_bytes).sum(),
        written_bytes: rows.iter().map(|r| r.written_bytes).sum(),
        peak_live_bytes,
        peak_step: live.iter().position(|&b| b == peak_live_bytes),
        arena_bytes: plan.arena_bytes,
        lower_bound: plan.lower_bound,
    };
    Layers { rows, totals }
}

/// Arena bytes live at each step of the schedule: the bytes of every buffer (tensors and
/// scratch) whose lifetime covers the step, a depthwise layer's output and the input it
/// overwrites counting the span they share (`plan::live_per_step`). The planner's lower
/// bound is their maximum.
pub fn live_per_step(c: &Lowered) -> Vec<usize> {
    crate::plan::live_per_step(&c.plan.buffers, c.plan.schedule.len())
}

/// Where value `v` lives, from the plan.
fn place(c: &Lowered, v: ValueId) -> Place {
    match c.plan.locations.get(&v) {
        Some(&Location::Arena { offset, buffer }) => Place::Arena {
            offset,
            bytes: c.plan.buffers[buffer].bytes,
        },
        Some(&Location::Input(index)) => Place::Input { index },
        Some(&Location::Output(index)) => Place::Output { index },
        Some(&Location::Weight { offset }) => Place::Weights { offset },
        None => match c.plan.stages.iter().find(|s| s.nodes.contains(&v.node)) {
            Some(stage) => Place::Patch {
                grid: stage.grid,
                tile: stage.tile,
                rows_kept: stage.rolling,
            },
            // The planner places every output of every scheduled node, used or not.
            // Should it ever miss one, the row shows an empty buffer rather than failing
            // the report.
            None => Place::Arena {
                offset: 0,
                bytes: 0,
            },
        },
    }
}

impl Layers {
    /// The table `zantc inspect --layers` prints: a header, one line per node (one more
    /// per extra output, and one per activation fused into it, so that every ONNX node of
    /// the model has a line), the peak step marked, and the totals.
    pub fn table(&self) -> String {
        let peak = self.totals.peak_live_bytes;
        let header = [
            "step", "op", "node", "output", "MACs", "weights", "read", "written", "scratch",
            "offset", "bytes", "storage", "live",
        ];
        let mut lines: Vec<[String; 13]> = Vec::new();
        for r in &self.rows {
            for (i, o) in r.outputs.iter().enumerate() {
                let (offset, bytes) = match o.place {
                    Place::Arena { offset, bytes } => (offset.to_string(), bytes.to_string()),
                    _ => ("-".into(), "-".into()),
                };
                let output = format!("{}[{}]", o.dtype, join(&o.shape));
                let storage = storage(o);
                lines.push(if i == 0 {
                    [
                        r.step.to_string(),
                        r.op.to_string(),
                        shorten(&r.name, 36),
                        output,
                        r.macs.to_string(),
                        r.weight_bytes.to_string(),
                        r.read_bytes.to_string(),
                        r.written_bytes.to_string(),
                        r.scratch.map_or(String::new(), |s| s.bytes.to_string()),
                        offset,
                        bytes,
                        storage,
                        r.live_bytes.to_string(),
                    ]
                } else {
                    // An extra output: its own type and place, under the node's line.
                    let mut line: [String; 13] = Default::default();
                    (line[3], line[9], line[10], line[11]) = (output, offset, bytes, storage);
                    line
                });
            }
            // An activation the passes fused into the node: its ONNX node has no step of
            // its own, but it keeps a line, so every node of the model shows up.
            if let Some(act) = &r.activation {
                let mut line: [String; 13] = Default::default();
                line[1] = format!("└ {act}");
                line[2] = "(fused into the node above)".into();
                lines.push(line);
            }
        }
        let mut widths = header.map(str::len);
        for line in &lines {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        // Text columns align left, figures right.
        let left = [
            false, true, true, true, false, false, false, false, false, false, false, true, false,
        ];
        let render = |cells: &[String; 13]| -> String {
            let mut s = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i > 0 {
                    s.push_str("  ");
                }
                if left[i] {
                    s.push_str(cell);
                    s.extend(std::iter::repeat_n(' ', pad));
                } else {
                    s.extend(std::iter::repeat_n(' ', pad));
                    s.push_str(cell);
                }
            }
            s
        };
        let mut s = String::new();
        let _ = writeln!(s, "{}", render(&header.map(String::from)).trim_end());
        let mut row = self.rows.iter();
        let mut current = None;
        for line in &lines {
            if !line[0].is_empty() {
                current = row.next();
            }
            let mark = match current {
                Some(r) if !line[0].is_empty() && r.live_bytes == peak && peak > 0 => "  <- peak",
                _ => "",
            };
            let _ = writeln!(s, "{}{mark}", render(line).trim_end());
        }
        let t = &self.totals;
        let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        let _ = writeln!(s, "\n== totals ==");
        let _ = writeln!(s, "layers         {}", t.layers);
        let _ = match si(t.macs as f64) {
            Some(short) => writeln!(s, "MACs           {} ({short})", t.macs),
            None => writeln!(s, "MACs           {}", t.macs),
        };
        let _ = writeln!(
            s,
            "weight bytes   {} read by the layers; weight blob {}",
            t.weight_bytes, t.weight_blob_bytes
        );
        let _ = writeln!(s, "bytes read     {}", t.read_bytes);
        let _ = writeln!(s, "bytes written  {}", t.written_bytes);
        let at = t
            .peak_step
            .map_or(String::new(), |step| format!(" at step {step}"));
        let _ = writeln!(
            s,
            "peak live      {}{at}; the plan's lower bound is {}",
            t.peak_live_bytes, t.lower_bound
        );
        let _ = writeln!(
            s,
            "ARENA_BYTES    {} ({:.3}× the lower bound)",
            t.arena_bytes,
            ratio(t.arena_bytes, t.lower_bound)
        );
        s
    }
}

/// The storage column: where an output lives when that is not plainly its own buffer.
fn storage(o: &LayerOutput) -> String {
    let outside = match o.place {
        Place::Arena { .. } => None,
        Place::Input { index } => Some(format!("input {index}")),
        Place::Output { index } => Some(format!("output {index}")),
        Place::Weights { .. } => Some("weights".to_string()),
        Place::Patch {
            grid,
            tile,
            rows_kept,
        } => Some(format!(
            "patches: {}x{} of {}x{} outputs{}",
            grid[0],
            grid[1],
            tile[0],
            tile[1],
            if rows_kept { ", rows kept" } else { "" }
        )),
    };
    match (o.reuse, outside) {
        (Reuse::Fresh, None) => "arena".into(),
        (Reuse::Fresh, Some(place)) => place,
        (Reuse::InPlace { input }, _) => format!("in place of input {input}"),
        (Reuse::Leads { input, bytes }, _) => format!("over input {input}, {bytes} B ahead"),
        (Reuse::View, None) => "view".into(),
        (Reuse::View, Some(place)) => format!("view of {place}"),
    }
}

fn join(dims: &[usize]) -> String {
    dims.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `name`, or its last `max - 1` characters after an ellipsis: the end of an exporter's
/// name is the part that tells layers apart.
fn shorten(name: &str, max: usize) -> String {
    let n = name.chars().count();
    if n <= max {
        name.to_string()
    } else {
        let tail: String = name.chars().skip(n - (max - 1)).collect();
        format!("…{tail}")
    }
}

/// A count with an SI prefix (`300.8 M`), or `None` below a thousand, where the count
/// says it as well.
fn si(n: f64) -> Option<String> {
    match n {
        n if n >= 1e9 => Some(format!("{:.2} G", n / 1e9)),
        n if n >= 1e6 => Some(format!("{:.1} M", n / 1e6)),
        n if n >= 1e3 => Some(format!("{:.1} k", n / 1e3)),
        _ => None,
    }
}
