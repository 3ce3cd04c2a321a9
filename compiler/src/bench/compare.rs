//! `zantc compare OLD.json NEW.json`: a run-to-run regression report, like a profiler's
//! comparison. Every figure of every (model, target, opt level) present in both reports is
//! compared; all figures are better lower, and a change beyond the threshold (in percent)
//! is an improvement or a regression. A run that stopped working is a regression too.
//! Reports made with `--per-layer` are also compared layer by layer (layers matched by op
//! and node name): a section of its own with the top per-layer movers, which informs but
//! does not decide the exit status.

use std::fmt::Write;

use super::report::{fmt_value, Unit};
use super::{Layers, OptLevel, Outcome, Report, Run, Target};

/// How one figure moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Improved,
    Regressed,
    Unchanged,
}

/// The overall verdict: regressed if anything regressed, else improved if anything
/// improved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Improved,
    Regressed,
    Unchanged,
}

/// One figure of one run, before and after.
#[derive(Clone, Debug)]
pub struct Change {
    pub model: String,
    pub target: Target,
    pub opt_level: OptLevel,
    pub figure: String,
    pub unit: Unit,
    /// `None` for a run that did not produce the figure (it failed or did not fit).
    pub previous: Option<f64>,
    pub current: Option<f64>,
    pub status: Status,
}

impl Change {
    /// The relative change in percent; infinite from zero, `None` without both values.
    pub fn percent(&self) -> Option<f64> {
        let (a, b) = (self.previous?, self.current?);
        Some(if a == b {
            0.0
        } else if a == 0.0 {
            f64::INFINITY * (b - a).signum()
        } else {
            (b - a) / a.abs() * 100.0
        })
    }
}

/// The comparison of two reports.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub threshold: f64,
    pub changes: Vec<Change>,
    /// Per-layer changes of the runs that have layers in both reports (`--per-layer`).
    /// They do not decide [`Comparison::verdict`]: see [`Comparison::layer_verdict`].
    pub layer_changes: Vec<Change>,
    /// Runs only in the old report, and only in the new one.
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

/// Compares every figure of `new` with `old`; `threshold` is in percent.
pub fn compare(old: &Report, new: &Report, threshold: f64) -> Comparison {
    let key = |r: &Run| format!("{} {} opt-level={}", r.model, r.target, r.opt_level);
    let mut changes = Vec::new();
    let mut removed = Vec::new();
    for before in &old.runs {
        let Some(after) = new.runs.iter().find(|r| {
            r.model == before.model && r.target == before.target && r.opt_level == before.opt_level
        }) else {
            removed.push(key(before));
            continue;
        };
        let (fa, fb) = (before.figures(), after.figures());
        let change = |figure: String, unit, previous, current, status| Change {
            model: before.model.clone(),
            target: before.target,
            opt_level: before.opt_level.clone(),
            figure,
            unit,
            previous,
            current,
            status,
        };
        // A run that stopped (or started) producing figures.
        if fa.is_empty() != fb.is_empty() {
            let status = if fb.is_empty() {
                Status::Regressed
            } else {
                Status::Improved
            };
            let what = format!("runs ({})", outcome_name(&after.outcome));
            changes.push(change(what, Unit::Flag, None, None, status));
            continue;
        }
        for a in &fa {
            let Some(b) = fb.iter().find(|b| b.name == a.name) else {
                continue;
            };
            let mut c = change(
                a.name.to_string(),
                a.unit,
                Some(a.value),
                Some(b.value),
                Status::Unchanged,
            );
            c.status = classify(c.percent().unwrap_or(0.0), threshold);
            changes.push(c);
        }
    }
    let added = new
        .runs
        .iter()
        .filter(|r| {
            !old.runs
                .iter()
                .any(|o| o.model == r.model && o.target == r.target && o.opt_level == r.opt_level)
        })
        .map(key)
        .collect();
    let layer_changes = old
        .runs
        .iter()
        .flat_map(|before| {
            let after = new.runs.iter().find(|r| {
                r.model == before.model
                    && r.target == before.target
                    && r.opt_level == before.opt_level
            });
            match (&before.layers, after.and_then(|a| a.layers.as_ref())) {
                (Some(a), Some(b)) => layer_changes(before, a, b, threshold),
                _ => Vec::new(),
            }
        })
        .collect();
    Comparison {
        threshold,
        changes,
        layer_changes,
        removed,
        added,
    }
}

/// How a change of `percent` counts against the threshold (both in percent).
fn classify(percent: f64, threshold: f64) -> Status {
    if percent > threshold {
        Status::Regressed
    } else if percent < -threshold {
        Status::Improved
    } else {
        Status::Unchanged
    }
}

/// A layer moved when it changed by more than the threshold and by at least this share of
/// the whole inference: a layer of a few nanoseconds that doubles is noise, not news.
pub const LAYER_SIGNIFICANCE: f64 = 0.01;

/// The per-layer changes of one run, layers matched by op and node name. A layer in one
/// report only (a fusion removed or added it) is listed with one side empty and counts as
/// unchanged.
fn layer_changes(run: &Run, a: &Layers, b: &Layers, threshold: f64) -> Vec<Change> {
    let unit = match run.target {
        Target::Host => Unit::Micros,
        _ => Unit::Count,
    };
    let floor = LAYER_SIGNIFICANCE * a.whole.max(b.whole);
    let label = |l: &super::Layer| format!("{} {}", l.op, l.name);
    let find = |layers: &Layers, l: &super::Layer| {
        layers
            .rows
            .iter()
            .find(|m| m.op == l.op && m.name == l.name)
            .map(|m| m.value)
    };
    let change = |figure, previous: Option<f64>, current: Option<f64>| {
        let mut c = Change {
            model: run.model.clone(),
            target: run.target,
            opt_level: run.opt_level.clone(),
            figure,
            unit,
            previous,
            current,
            status: Status::Unchanged,
        };
        if let (Some(p), Some(now)) = (previous, current) {
            if (now - p).abs() >= floor {
                c.status = classify(c.percent().unwrap_or(0.0), threshold);
            }
        }
        c
    };
    let mut changes: Vec<Change> = a
        .rows
        .iter()
        .map(|l| change(label(l), Some(l.value), find(b, l)))
        .collect();
    changes.extend(
        b.rows
            .iter()
            .filter(|l| find(a, l).is_none())
            .map(|l| change(label(l), None, Some(l.value))),
    );
    changes
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Host(_) | Outcome::Mcu(_) | Outcome::UserMode(_) => "ok",
        Outcome::DoesNotFit { .. } => "does not fit",
        Outcome::Failed { .. } => "failed",
    }
}

/// Regressed if anything regressed, else improved if anything improved.
fn verdict_of(changes: &[Change]) -> Verdict {
    let any = |s| changes.iter().any(|c| c.status == s);
    if any(Status::Regressed) {
        Verdict::Regressed
    } else if any(Status::Improved) {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "IMPROVED",
        Verdict::Regressed => "REGRESSED",
        Verdict::Unchanged => "UNCHANGED",
    }
}

fn count(changes: &[Change], status: Status) -> usize {
    changes.iter().filter(|c| c.status == status).count()
}

impl Comparison {
    /// The verdict on the whole-run figures: the exit status of `zantc compare`.
    pub fn verdict(&self) -> Verdict {
        verdict_of(&self.changes)
    }

    /// The verdict on the layers alone (informational: layer times are finer and noisier
    /// than whole-run figures).
    pub fn layer_verdict(&self) -> Verdict {
        verdict_of(&self.layer_changes)
    }

    fn count(&self, status: Status) -> usize {
        count(&self.changes, status)
    }

    /// The report as Markdown: the verdict, the top regressions and improvements, and a
    /// table per run.
    pub fn render(&self, top: usize) -> String {
        let mut s = String::new();
        let verdict = verdict_name(self.verdict());
        let _ = writeln!(
            s,
            "# Verdict: {verdict}\n\n{} regressed, {} improved, {} unchanged (threshold ±{}%).\n",
            self.count(Status::Regressed),
            self.count(Status::Improved),
            self.count(Status::Unchanged),
            self.threshold
        );
        for (title, status) in [
            ("Top regressions", Status::Regressed),
            ("Top improvements", Status::Improved),
        ] {
            let mut picked: Vec<&Change> =
                self.changes.iter().filter(|c| c.status == status).collect();
            if picked.is_empty() {
                continue;
            }
            // Largest relative change first (a run that stopped working comes first).
            picked.sort_by(|a, b| {
                let key = |c: &Change| c.percent().map_or(f64::INFINITY, f64::abs);
                key(b).total_cmp(&key(a))
            });
            let _ = writeln!(s, "## {title}\n");
            let _ = writeln!(
                s,
                "| model | target | opt | figure | previous | current | Δ% |\n|---|---|---|---|---:|---:|---:|"
            );
            for c in picked.iter().take(top) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    c.model,
                    c.target,
                    c.opt_level,
                    c.figure,
                    value(c, c.previous),
                    value(c, c.current),
                    percent(c)
                );
            }
            s.push('\n');
        }
        let mut runs: Vec<(String, Target, OptLevel)> = Vec::new();
        for c in &self.changes {
            let k = (c.model.clone(), c.target, c.opt_level.clone());
            if !runs.contains(&k) {
                runs.push(k);
            }
        }
        let _ = writeln!(s, "## Per model\n");
        for (model, target, opt) in runs {
            let _ = writeln!(s, "### {model}, {target}, opt-level {opt}\n");
            let _ = writeln!(
                s,
                "| figure | previous | current | Δ | Δ% | |\n|---|---:|---:|---:|---:|---|"
            );
            for c in self
                .changes
                .iter()
                .filter(|c| c.model == model && c.target == target && c.opt_level == opt)
            {
                let delta = signed(c);
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    c.figure,
                    value(c, c.previous),
                    value(c, c.current),
                    delta,
                    percent(c),
                    mark(c.status)
                );
            }
            s.push('\n');
        }
        self.render_layers(&mut s, top);
        for (title, list) in [
            ("Only in the old report", &self.removed),
            ("Only in the new report", &self.added),
        ] {
            if !list.is_empty() {
                let _ = writeln!(s, "## {title}\n");
                for k in list {
                    let _ = writeln!(s, "- {k}");
                }
                s.push('\n');
            }
        }
        s
    }
}

impl Comparison {
    /// The per-layer section: its verdict, the top movers each way (largest absolute change
    /// first) and every layer of every run with its mark.
    fn render_layers(&self, s: &mut String, top: usize) {
        let changes = &self.layer_changes;
        if changes.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Per layer: {}

{} regressed, {} improved, {} unchanged (threshold ±{}%, and at \
             least {:.0} % of the whole inference). Informational: the verdict above decides \
             the exit status.
",
            verdict_name(self.layer_verdict()),
            count(changes, Status::Regressed),
            count(changes, Status::Improved),
            count(changes, Status::Unchanged),
            self.threshold,
            LAYER_SIGNIFICANCE * 100.0
        );
        let delta = |c: &Change| match (c.previous, c.current) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        };
        for (title, status) in [
            ("Top per-layer regressions", Status::Regressed),
            ("Top per-layer improvements", Status::Improved),
        ] {
            let mut picked: Vec<&Change> = changes.iter().filter(|c| c.status == status).collect();
            if picked.is_empty() {
                continue;
            }
            picked.sort_by(|a, b| delta(b).abs().total_cmp(&delta(a).abs()));
            let _ = writeln!(
                s,
                "### {title}
"
            );
            let _ = writeln!(
                s,
                "| model | target | opt | layer | previous | current | Δ | Δ% |\n|---|---|---|---|---:|---:|---:|---:|"
            );
            for c in picked.iter().take(top) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    c.model,
                    c.target,
                    c.opt_level,
                    c.figure,
                    value(c, c.previous),
                    value(c, c.current),
                    signed(c),
                    percent(c)
                );
            }
            s.push('\n');
        }
        let mut runs: Vec<(String, Target, OptLevel)> = Vec::new();
        for c in changes {
            let k = (c.model.clone(), c.target, c.opt_level.clone());
            if !runs.contains(&k) {
                runs.push(k);
            }
        }
        for (model, target, opt) in runs {
            let _ = writeln!(s, "### Layers of {model}, {target}, opt-level {opt}\n");
            let _ = writeln!(
                s,
                "| layer | previous | current | Δ | Δ% | |\n|---|---:|---:|---:|---:|---|"
            );
            for c in changes
                .iter()
                .filter(|c| c.model == model && c.target == target && c.opt_level == opt)
            {
                let status = match (c.previous, c.current) {
                    (Some(_), None) => "only in the old report",
                    (None, Some(_)) => "only in the new report",
                    _ => mark(c.status),
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {status} |",
                    c.figure.replace('|', "\\|"),
                    value(c, c.previous),
                    value(c, c.current),
                    signed(c),
                    percent(c),
                );
            }
            s.push('\n');
        }
    }
}

/// The signed absolute change, empty without both values.
fn signed(c: &Change) -> String {
    match (c.previous, c.current) {
        (Some(a), Some(b)) if a != b => {
            let sign = if b > a { "+" } else { "-" };
            format!("{sign}{}", fmt_value(c.unit, (b - a).abs()))
        }
        (Some(_), Some(_)) => "0".into(),
        _ => String::new(),
    }
}

fn value(c: &Change, v: Option<f64>) -> String {
    v.map_or("—".into(), |v| fmt_value(c.unit, v))
}

fn percent(c: &Change) -> String {
    match c.percent() {
        Some(p) if p.is_infinite() => "new".into(),
        Some(p) => format!("{p:+.1}%"),
        None => String::new(),
    }
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Improved => "✅ improved",
        Status::Regressed => "❌ regressed",
        Status::Unchanged => "·",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{HostFigures, Machine};

    fn report(time_us: f64, heap_allocs: u64) -> Report {
        let figures = HostFigures {
            exe_bytes: 400_000,
            text_bytes: 300_000,
            rodata_bytes: 50_000,
            data_bytes: 1_000,
            bss_bytes: 40_000,
            arena_bytes: 31_360,
            weight_bytes: 23_984,
            instructions: Some(1_000_000),
            time_us,
            time_runs: 100,
            heap_allocs,
            heap_bytes: 0,
            heap_peak_bytes: 0,
            heap_leaked_bytes: 0,
            peak_rss_bytes: 2_000_000,
            matches_reference: Some(true),
            ort_time_us: None,
            tract_time_us: None,
            litert_time_us: None,
            attribution: None,
        };
        Report {
            zantc_version: "0.1.0".into(),
            date: String::new(),
            command: String::new(),
            machine: Machine::default(),
            models: Vec::new(),
            runs: vec![Run {
                model: "mnist-8".into(),
                opt_level: "3".parse().unwrap(),
                target: Target::Host,
                outcome: Outcome::Host(figures),
                layers: None,
                layers_error: None,
            }],
        }
    }

    fn check(old: &Report, new: &Report, verdict: Verdict, expect: &[(&str, Status)]) {
        let c = compare(old, new, 5.0);
        assert_eq!(c.verdict(), verdict);
        for (figure, status) in expect {
            let change = c.changes.iter().find(|c| c.figure == *figure).unwrap();
            assert_eq!(change.status, *status, "{figure}");
        }
    }

    #[test]
    fn verdicts() {
        let base = report(100.0, 0);
        check(
            &base,
            &report(103.0, 0),
            Verdict::Unchanged,
            &[("time", Status::Unchanged)],
        );
        check(
            &base,
            &report(80.0, 0),
            Verdict::Improved,
            &[("time", Status::Improved)],
        );
        check(
            &base,
            &report(120.0, 0),
            Verdict::Regressed,
            &[("time", Status::Regressed)],
        );
        check(
            &base,
            &report(100.0, 3),
            Verdict::Regressed,
            &[
                ("heap allocs", Status::Regressed),
                ("time", Status::Unchanged),
            ],
        );
        let mut failed = report(100.0, 0);
        failed.runs[0].outcome = Outcome::Failed {
            error: "boom".into(),
        };
        check(
            &base,
            &failed,
            Verdict::Regressed,
            &[("runs (failed)", Status::Regressed)],
        );
    }

    /// A report whose run has layers `conv1`, `conv2`, `fc` (and `extra` if given).
    fn with_layers(values: &[f64]) -> Report {
        let mut r = report(100.0, 0);
        let names = ["conv1", "conv2", "fc", "extra"];
        r.runs[0].layers = Some(Layers {
            rows: values
                .iter()
                .zip(names)
                .map(|(&value, name)| crate::bench::Layer {
                    op: if name == "fc" { "Gemm" } else { "Conv" }.into(),
                    name: name.into(),
                    value,
                    macs: 0,
                })
                .collect(),
            whole: values.iter().sum(),
        });
        r
    }

    #[test]
    fn layers_move_beyond_the_threshold_and_the_floor() {
        // conv1 +50 % (regressed), conv2 -20 % (improved), fc +100 % but only 0.5 µs of a
        // 100 µs inference (under the 1 % floor: unchanged), and a layer only in the new run.
        let old = with_layers(&[20.0, 79.5, 0.5]);
        let new = with_layers(&[30.0, 63.6, 1.0, 4.0]);
        let c = compare(&old, &new, 5.0);
        let status = |name: &str| {
            c.layer_changes
                .iter()
                .find(|l| l.figure.ends_with(name))
                .map(|l| l.status)
        };
        assert_eq!(status("conv1"), Some(Status::Regressed));
        assert_eq!(status("conv2"), Some(Status::Improved));
        assert_eq!(status("fc"), Some(Status::Unchanged));
        assert_eq!(status("extra"), Some(Status::Unchanged));
        assert_eq!(c.layer_verdict(), Verdict::Regressed);
        // The whole-run verdict does not follow the layers.
        assert_eq!(c.verdict(), Verdict::Unchanged);
        let text = c.render(10);
        assert!(text.contains("## Per layer: REGRESSED"), "{text}");
        assert!(
            text.contains(
                "### Top per-layer regressions\n\n| model | target | opt | layer | previous | current | Δ | Δ% |\n|---|---|---|---|---:|---:|---:|---:|\n| mnist-8 | host | 3 | Conv conv1 | 20.0 µs | 30.0 µs | +10.0 µs | +50.0% |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| Conv conv2 | 79.5 µs | 63.6 µs |"),
            "{text}"
        );
        assert!(
            text.contains("| Conv extra | — | 4.0 µs |  |  | only in the new report |"),
            "{text}"
        );
        // Reports without layers compare as before, with no per-layer section.
        let plain = compare(&report(100.0, 0), &report(100.0, 0), 5.0).render(10);
        assert!(!plain.contains("Per layer"), "{plain}");
    }

    #[test]
    fn render_names_the_regression() {
        let text = compare(&report(100.0, 0), &report(120.0, 0), 5.0).render(10);
        assert!(text.starts_with("# Verdict: REGRESSED"), "{text}");
        assert!(
            text.contains("| mnist-8 | host | 3 | time | 100 µs | 120 µs | +20.0% |"),
            "{text}"
        );
    }
}
