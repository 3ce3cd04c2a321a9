//! What `zantc inspect` shows: the text report (IR, op histogram, memory plan and totals)
//! here, the float ops left in a quantized model in [`islands`], the per-layer table in
//! [`layers`] and the picture of the memory plan in [`plan_svg`].

pub mod islands;
pub mod layers;
pub mod plan_svg;

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::ir::ValueId;
use crate::pipeline::Lowered;
use crate::plan::Location;

pub use islands::{float_islands, FloatOp};
pub use layers::{layers, Layers};
pub use plan_svg::plan_svg;

/// The one-line totals every report ends with.
pub fn totals(c: &Lowered) -> String {
    let p = &c.plan;
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    format!(
        "arena_bytes={} lower_bound={} file_order_bound={} naive_bytes={} weight_bytes={} arena/file_order={:.3} heuristic=\"{}\" order=\"{}\" in_place_leads={}",
        p.arena_bytes,
        p.lower_bound,
        c.file_order_bound,
        p.naive_bytes,
        p.weight_bytes,
        ratio(p.arena_bytes, c.file_order_bound),
        p.heuristic,
        if p.memory_ordered { "memory-aware" } else { "file" },
        p.leads.len()
    ) + &patched(c)
}

/// ` patched="…"` for each stage the plan runs patch by patch (none without a RAM
/// budget): its steps, grid, tile, buffer, the MACs it adds to the model's, and the
/// layer-by-layer bound it goes below (`lower_bound` is what the patched plan reaches).
fn patched(c: &Lowered) -> String {
    let model_macs = crate::plan::patch::model_macs(&c.graph, &c.plan.schedule);
    c.plan
        .stages
        .iter()
        .map(|s| {
            format!(
                " patched=\"steps {}-{}, {}x{} patches of {}x{} outputs{}, buffer {} B, MACs +{:.1}%, layer-by-layer bound {} B\"",
                s.steps.0,
                s.steps.1,
                s.grid[0],
                s.grid[1],
                s.tile[0],
                s.tile[1],
                if s.rolling { ", rows kept" } else { "" },
                s.bytes,
                s.overhead(model_macs) * 100.0,
                c.layer_bound
            )
        })
        .collect::<String>()
}

/// The op histogram of the optimized graph.
pub fn histogram(c: &Lowered) -> BTreeMap<&'static str, usize> {
    let mut h = BTreeMap::new();
    for &id in &c.plan.schedule {
        *h.entry(c.graph.node(id).onnx.op_type).or_insert(0) += 1;
    }
    h
}

/// The full inspection text.
pub fn inspect(c: &Lowered, show_imported: bool) -> String {
    let mut s = String::new();
    if show_imported {
        let _ = writeln!(s, "== IR as imported ==\n{}", c.imported_ir);
    }
    let _ = writeln!(
        s,
        "== IR after passes ==\n{}",
        crate::ir::text::print(&c.graph)
    );
    let _ = writeln!(s, "== op histogram ==");
    for (op, n) in histogram(c) {
        let _ = writeln!(s, "{op:>20} {n}");
    }
    if let Some(islands) = float_islands(c) {
        let _ = writeln!(s, "\n== float ops in a quantized model ==");
        if islands.is_empty() {
            let _ = writeln!(s, "none: every op computes on integers");
        }
        for f in &islands {
            let _ = writeln!(s, "{:>20} {}: {}", f.op, shorten(&f.node), f.reason);
        }
    }
    let _ = writeln!(s, "\n== memory plan (steps are schedule positions) ==");
    let _ = writeln!(
        s,
        "{:<40} {:>10} {:>10} {:>11}  type",
        "tensor", "bytes", "offset", "live"
    );
    let steps: BTreeMap<_, _> = c
        .plan
        .schedule
        .iter()
        .enumerate()
        .map(|(s, &id)| (id, s))
        .collect();
    for b in &c.plan.buffers {
        if let Some(node) = b.scratch_of {
            let _ = writeln!(
                s,
                "{:<40} {:>10} {:>10} {:>5}..{:<5}  kernel scratch",
                shorten(&format!("scratch of {}", c.graph.node(node).name)),
                b.bytes,
                b.offset,
                b.start,
                b.end,
            );
        }
        for (i, &v) in b.values.iter().enumerate() {
            let shared = if i == 0 {
                String::new()
            } else {
                " (shares the buffer above)".into()
            };
            let _ = writeln!(
                s,
                "{:<40} {:>10} {:>10} {:>5}..{:<5}  {}{shared}",
                shorten(&c.graph.value(v).name),
                c.graph.ty(v).n_bytes(),
                b.offset,
                steps.get(&v.node).copied().unwrap_or(b.start),
                b.end,
                c.graph.ty(v)
            );
        }
    }
    let outside: Vec<(ValueId, Location)> = c
        .plan
        .locations
        .iter()
        .filter(|(_, l)| matches!(l, Location::Input(_) | Location::Output(_)))
        .map(|(&v, &l)| (v, l))
        .collect();
    for (v, l) in outside {
        let _ = writeln!(
            s,
            "{:<40} {:>10} {:>10}  {}",
            shorten(&c.graph.value(v).name),
            c.graph.ty(v).n_bytes(),
            match l {
                Location::Input(i) => format!("input {i}"),
                Location::Output(i) => format!("output {i}"),
                _ => unreachable!(),
            },
            c.graph.ty(v)
        );
    }
    let _ = writeln!(s, "\n== totals ==\n{}", totals(c));
    s
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= 40 {
        name.to_string()
    } else {
        let tail: String = name
            .chars()
            .rev()
            .take(39)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}
