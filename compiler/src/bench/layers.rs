//! `zantc bench --per-layer`: the time (host) or the instructions (Cortex-M7) of every layer.
//!
//! The figures come from a second build of the harness with the model's `profile` feature,
//! whose `Model::predict_profiled` calls a probe between layers: the host harness reads a
//! monotonic clock there and reports each layer's mean over the faster half of the
//! profiled inferences within the timing budget; the
//! Cortex-M7 harness reads SysTick (one tick is 40 instructions under QEMU's `-icount`).
//! The normal harness, which gives every other figure, carries no probe. The sum of the
//! layers is compared with a whole-inference figure ([`Layers::whole`]): the report prints
//! the ratio. A sum more than [`TOLERANCE`] away from it is a problem on the Cortex-M7, where
//! the counts are exact, and a warning on the host, where both sides are wall times.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::report::{fmt_count, fmt_time};
use super::{BenchError, BenchOptions, OptLevel, Prepared, Report, Run, Target};
use crate::report::plan_svg::escape;
use crate::Error;

/// How far the sum of the layers may be from the whole-inference figure (a fraction).
pub const TOLERANCE: f64 = 0.05;

/// Layers the chart shows per run.
const CHART_TOP: usize = 12;

/// The per-layer figures of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layers {
    /// Every layer in schedule order: µs on the host, instructions on the Cortex-M7.
    pub rows: Vec<Layer>,
    /// The whole-inference figure the rows are checked against, in their unit: the run's
    /// instructions on the Cortex-M7; on the host, the mean time of the faster half of plain inferences
    /// interleaved with the profiled ones in the same process.
    pub whole: f64,
}

/// One layer: a node that runs code, or the copies of graph outputs (`Copy`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub op: String,
    pub name: String,
    pub value: f64,
    /// The node's multiply-accumulates (`Op::macs`); 0 for a layer that does none, and in
    /// reports written before the field.
    #[serde(default)]
    pub macs: u64,
}

impl Layers {
    pub fn sum(&self) -> f64 {
        self.rows.iter().map(|l| l.value).sum()
    }

    /// The sum of the layers over the whole-inference figure.
    pub fn ratio(&self) -> f64 {
        if self.whole == 0.0 {
            0.0
        } else {
            self.sum() / self.whole
        }
    }

    /// Whether the sum is within [`TOLERANCE`] of the whole.
    pub fn consistent(&self) -> bool {
        (self.ratio() - 1.0).abs() <= TOLERANCE
    }

    /// Indices of the rows, largest first (ties in schedule order).
    pub fn ranked(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        order.sort_by(|&a, &b| self.rows[b].value.total_cmp(&self.rows[a].value));
        order
    }
}

/// Measures the layers of `prepared` at `opt` on `target`. On the Cortex-M7 the layers are
/// checked against `whole`, the run's instruction count (the count is exact, and the probe
/// adds a few instructions per layer). On the host, where times drift with the machine's
/// load, against plain inferences the profiled harness interleaves with the profiled ones.
pub(super) fn measure(
    work_dir: &std::path::Path,
    prepared: &Prepared,
    opt: &OptLevel,
    opts: &BenchOptions,
    target: Target,
    whole: f64,
) -> Result<Layers, Error> {
    let (values, whole) = match target {
        Target::Host => super::host::layer_times(work_dir, prepared, opt, opts)?,
        _ => (
            super::mcu::layer_instructions(work_dir, prepared, target, opt, opts)?,
            whole,
        ),
    };
    let compiled = &prepared.compiled;
    let layers = crate::emit::profile_layers(&compiled.graph, &compiled.plan);
    if values.len() != layers.len() {
        return Err(BenchError::LayerCount {
            got: values.len(),
            want: layers.len(),
        }
        .into());
    }
    Ok(Layers {
        rows: layers
            .into_iter()
            .zip(values)
            .map(|(l, value)| Layer {
                op: l.op.to_string(),
                // A stage run patch by patch counts what its patches compute, halos
                // included.
                macs: l.node.map_or(0, |id| {
                    if let Some(stage) = compiled.plan.stage_from(id) {
                        return stage.patched_macs;
                    }
                    let node = compiled.graph.node(id);
                    let inputs: Vec<_> = node
                        .inputs
                        .iter()
                        .map(|v| v.map(|v| compiled.graph.ty(v)))
                        .collect();
                    node.op.macs(&inputs)
                }),
                name: l.name,
                value,
            })
            .collect(),
        whole,
    })
}

/// A value in the unit of `target`.
pub fn fmt_layer_value(target: Target, v: f64) -> String {
    match target {
        Target::Host => fmt_time(v),
        _ => fmt_count(v),
    }
}

/// A value with its unit where the number alone would not say it.
fn with_unit(target: Target, v: f64) -> String {
    match target {
        Target::Host => format!("{} µs", fmt_time(v)),
        _ => fmt_count(v),
    }
}

/// A layer's figure per multiply-accumulate: instructions a MAC on an emulated core,
/// G MAC/s on the host; a dash for a layer without MACs.
fn per_mac(target: Target, l: &Layer) -> String {
    if l.macs == 0 {
        return "—".into();
    }
    match target {
        Target::Host if l.value > 0.0 => format!("{:.1}", l.macs as f64 / l.value / 1e3),
        Target::Host => "—".into(),
        _ => format!("{:.2}", l.value / l.macs as f64),
    }
}

fn per_mac_name(target: Target) -> &'static str {
    match target {
        Target::Host => "G MAC/s",
        _ => "per MAC",
    }
}

fn unit_name(target: Target) -> &'static str {
    match target {
        Target::Host => "µs",
        _ => "instructions",
    }
}

/// The "Per layer" section of the Markdown report: for every run with layers, the sum
/// check and a table of every layer in schedule order with its share and rank.
pub fn markdown(report: &Report, chart: Option<&str>) -> String {
    let runs: Vec<&Run> = report.runs.iter().filter(|r| r.layers.is_some()).collect();
    let failed: Vec<&Run> = report
        .runs
        .iter()
        .filter(|r| r.layers_error.is_some())
        .collect();
    if runs.is_empty() && failed.is_empty() {
        return String::new();
    }
    let mut s = String::from("## Per layer\n\n");
    s.push_str(
        "From a second build of each harness with the model's `profile` feature, which calls \
         a probe between layers: the wall time of each layer on the host (its mean over the \
         faster half of the profiled inferences, which sums to their mean total), the \
         instructions of each layer on the Cortex-M7 (SysTick, 40 instructions per tick, \
         probe included). A layer is a node that runs code; views that alias their input \
         run none and are not listed. \"Sum\" is the layers' total against a \
         whole-inference figure: the instructions of the run on the Cortex-M7; on the \
         host, the mean of the faster half of plain inferences interleaved with the profiled ones (so \
         both are timed under the same load). *MACs* are the node's multiply-accumulates; \
         *per MAC* is the layer's instructions over them on an emulated core, *G MAC/s* its \
         rate on the host.\n\n",
    );
    if let Some(chart) = chart {
        let _ = writeln!(s, "![The largest layers of each run]({chart})\n");
    }
    for run in failed {
        let _ = writeln!(
            s,
            "- {} opt-level={} {}: per-layer run failed: {}",
            run.model,
            run.opt_level,
            run.target,
            run.layers_error.as_deref().unwrap_or_default()
        );
    }
    for run in runs {
        let Some(layers) = &run.layers else { continue };
        let _ = writeln!(
            s,
            "### {}, opt-level {}, {}\n",
            run.model, run.opt_level, run.target
        );
        let _ = writeln!(
            s,
            "Sum of {} layers: {} {} = {:.1} % of the whole inference ({}){}.\n",
            layers.rows.len(),
            fmt_layer_value(run.target, layers.sum()),
            unit_name(run.target),
            layers.ratio() * 100.0,
            fmt_layer_value(run.target, layers.whole),
            if layers.consistent() {
                ""
            } else {
                " — more than 5 % off"
            },
        );
        let rank = {
            let mut rank = vec![0; layers.rows.len()];
            for (r, i) in layers.ranked().into_iter().enumerate() {
                rank[i] = r + 1;
            }
            rank
        };
        let _ = writeln!(
            s,
            "| # | op | node | {} | MACs | {} | share | rank |\n|---:|---|---|---:|---:|---:|---:|---:|",
            unit_name(run.target),
            per_mac_name(run.target)
        );
        let sum = layers.sum();
        for (i, l) in layers.rows.iter().enumerate() {
            let share = if sum > 0.0 {
                l.value / sum * 100.0
            } else {
                0.0
            };
            let _ = writeln!(
                s,
                "| {i} | {} | {} | {} | {} | {} | {share:.1} % | {} |",
                l.op,
                l.name.replace('|', "\\|"),
                fmt_layer_value(run.target, l.value),
                if l.macs == 0 {
                    "—".into()
                } else {
                    fmt_count(l.macs as f64)
                },
                per_mac(run.target, l),
                rank[i]
            );
        }
        s.push('\n');
    }
    s
}

/// A horizontal bar chart of the largest layers of every run with layers, one panel per
/// run. `None` when no run has layers.
pub fn svg(report: &Report) -> Option<String> {
    let runs: Vec<(&Run, &Layers)> = report
        .runs
        .iter()
        .filter_map(|r| r.layers.as_ref().map(|l| (r, l)))
        .collect();
    if runs.is_empty() {
        return None;
    }
    const WIDTH: f64 = 960.0;
    const LABEL: f64 = 330.0;
    const BAR: f64 = 18.0;
    const GAP: f64 = 6.0;
    const HEAD: f64 = 34.0;
    let panel_height = |n: usize| HEAD + n as f64 * (BAR + GAP) + 16.0;
    let height: f64 = runs
        .iter()
        .map(|(_, l)| panel_height(l.rows.len().min(CHART_TOP)))
        .sum::<f64>()
        + 10.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let mut y = 10.0;
    for (run, layers) in runs {
        let top: Vec<usize> = layers.ranked().into_iter().take(CHART_TOP).collect();
        let sum = layers.sum();
        let max = top
            .first()
            .map_or(0.0, |&i| layers.rows[i].value)
            .max(f64::MIN_POSITIVE);
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{:.1}\" font-size=\"14\" font-weight=\"bold\">{} · opt-level {} · {} · top {} of {} layers ({} {} in all)</text>",
            y + 16.0,
            escape(&run.model),
            escape(&run.opt_level.to_string()),
            run.target,
            top.len(),
            layers.rows.len(),
            fmt_layer_value(run.target, sum),
            unit_name(run.target),
        );
        let mut row_y = y + HEAD;
        let color = match run.target {
            Target::Host => "#4c78a8",
            _ => "#f58518",
        };
        for i in top {
            let l = &layers.rows[i];
            let share = if sum > 0.0 {
                l.value / sum * 100.0
            } else {
                0.0
            };
            let width = (WIDTH - LABEL - 150.0) * l.value / max;
            let label = format!("{i}: {} {}", l.op, l.name);
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
                 <rect x=\"{LABEL}\" y=\"{row_y:.1}\" width=\"{width:.1}\" height=\"{BAR}\" fill=\"{color}\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\">{} ({share:.1} %)</text>",
                LABEL - 8.0,
                row_y + 13.0,
                escape(&shorten(&label, 48)),
                LABEL + width + 6.0,
                row_y + 13.0,
                with_unit(run.target, l.value),
            );
            row_y += BAR + GAP;
        }
        y += panel_height(layers.rows.len().min(CHART_TOP));
    }
    s.push_str("</svg>\n");
    Some(s)
}

/// Cuts `s` to `max` characters, keeping its start.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max - 1).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(values: &[f64], whole: f64) -> Layers {
        Layers {
            rows: values
                .iter()
                .enumerate()
                .map(|(i, &value)| Layer {
                    op: "Conv".into(),
                    name: format!("conv{i}"),
                    value,
                    macs: 0,
                })
                .collect(),
            whole,
        }
    }

    #[test]
    fn sums_and_ranks() {
        let l = layers(&[10.0, 50.0, 40.0], 100.0);
        assert_eq!(l.sum(), 100.0);
        assert!(l.consistent());
        assert_eq!(l.ranked(), vec![1, 2, 0]);
        assert!(!layers(&[10.0, 50.0, 30.0], 100.0).consistent());
        assert!(layers(&[10.0, 50.0, 36.0], 100.0).consistent());
    }

    #[test]
    fn markdown_and_chart_show_every_run_with_layers() {
        let json = r#"{"zantc_version":"0","date":"","command":"","machine":{"cpu":"","cores":1,"os":"","kernel":"","rustc_host":""},"models":[],"runs":[
            {"model":"m","opt_level":"3","target":"cortex-m7","outcome":{"status":"failed","error":"x"},
             "layers":{"rows":[{"op":"Conv","name":"a|b","value":300.0,"macs":120},{"op":"Relu","name":"r","value":100.0}],"whole":380.0}}]}"#;
        let report: Report = serde_json::from_str(json).unwrap();
        let md = markdown(&report, Some("layers.svg"));
        assert!(
            md.contains("![The largest layers of each run](layers.svg)"),
            "{md}"
        );
        assert!(
            md.contains("Sum of 2 layers: 400 instructions = 105.3 % of the whole inference (380) — more than 5 % off."),
            "{md}"
        );
        assert!(
            md.contains("| 0 | Conv | a\\|b | 300 | 120 | 2.50 | 75.0 % | 1 |"),
            "{md}"
        );
        // A layer without MACs (and a report written before the field) shows dashes.
        assert!(
            md.contains("| 1 | Relu | r | 100 | — | — | 25.0 % | 2 |"),
            "{md}"
        );
        let chart = svg(&report).unwrap();
        assert!(chart.contains("0: Conv a|b"), "{chart}");
        assert!(chart.contains("100 (25.0 %)"), "{chart}");
        assert!(report.problems().iter().any(|p| p.contains("105.3 %")));
        assert!(report.warnings().is_empty());
        // On the host, where both sides are wall times, the same sum is a warning.
        let mut host = report.clone();
        host.runs[0].target = Target::Host;
        assert!(!host.problems().iter().any(|p| p.contains("105.3 %")));
        // On the host the rate: 120 MACs in 300 µs.
        assert!(markdown(&host, None).contains("| 300 | 120 | 0.0 | 75.0 % | 1 |"));
        assert_eq!(
            host.warnings(),
            vec!["m opt-level=3 host: the layers sum to 105.3 % of the whole inference (allowed: 100 ± 5 %)"]
        );
        let mut empty = report.clone();
        empty.runs[0].layers = None;
        assert_eq!(markdown(&empty, None), "");
        assert!(svg(&empty).is_none());
    }

    #[test]
    fn escapes_names() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
