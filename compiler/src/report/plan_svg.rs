//! The memory plan as a picture (`zantc inspect --svg`), written as plain SVG text.
//!
//! The top panel is the arena: schedule steps run along x, arena offsets up y, and each
//! buffer is a rectangle from the step that writes it to the last step that reads it,
//! labelled with its tensor's name where the name fits (and always in its tooltip). Kernel
//! scratch is hatched. A dashed line marks the plan's lower bound (the most bytes live at
//! once, which no placement beats) and a band marks the step where that peak happens. The
//! bottom panel shows the bytes live at each step against `ARENA_BYTES`.
//!
//! The output is deterministic (fixed decimals, buffers in plan order) and self-contained:
//! a `viewBox`, generic font families, no scripts and no external references, so GitHub
//! and browsers show it as it is.

use std::fmt::Write;

use super::layers::live_per_step;
use crate::pipeline::Lowered;
use crate::plan::Buffer;

/// The picture's size in user units; it scales to whatever width shows it.
const WIDTH: f64 = 1200.0;
const HEIGHT: f64 = TOP + PLAN_HEIGHT + GAP + LIVE_HEIGHT + BOTTOM;
/// Room left of the panels for the byte labels, and right of them for nothing but air.
const LEFT: f64 = 96.0;
const RIGHT: f64 = 24.0;
/// Room above the arena panel for the title, the summary line and the legend.
const TOP: f64 = 108.0;
const PLAN_HEIGHT: f64 = 440.0;
/// Room between the panels for the step labels and the second panel's title.
const GAP: f64 = 64.0;
const LIVE_HEIGHT: f64 = 170.0;
const BOTTOM: f64 = 48.0;
const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
/// The font size of buffer labels, and the width of one of its characters as estimated
/// for fitting a label in its rectangle (a little more than an average sans-serif glyph).
const LABEL_SIZE: f64 = 10.0;
const CHAR_WIDTH: f64 = 5.8;

/// Fills of tensor buffers, light enough for dark labels, taken in turn by buffer index.
const TENSOR_FILLS: [&str; 10] = [
    "#a6cee3", "#b2df8a", "#cab2d6", "#8dd3c7", "#bebada", "#ffffb3", "#80b1d3", "#ccebc5",
    "#d9d9d9", "#fccde5",
];
/// The buffer of a stage run patch by patch (`plan::patch`).
const PATCHES: &str = "#fdae6b";
/// The peak step and the lower bound.
const PEAK: &str = "#d62728";
const BACKGROUND: &str = "#ffffff";
const PANEL: &str = "#f7f7f7";

/// The SVG of `c`'s memory plan, titled with `model` (its file or folder name).
pub fn plan_svg(c: &Lowered, model: &str) -> String {
    let plan = &c.plan;
    let n_steps = plan.schedule.len();
    let live = live_per_step(c);
    let peak_step = live.iter().position(|&b| b == plan.lower_bound && b > 0);
    let step_width = PLOT_WIDTH / n_steps.max(1) as f64;
    let x = |step: usize| LEFT + step as f64 * step_width;
    // Both panels share the byte scale's top: ARENA_BYTES, or the live peak should a
    // plan ever report less (it cannot: the peak is the lower bound).
    let top_bytes = plan.arena_bytes.max(plan.lower_bound).max(1) as f64;
    let plan_y = |bytes: usize| TOP + PLAN_HEIGHT - bytes as f64 / top_bytes * PLAN_HEIGHT;
    let live_top = TOP + PLAN_HEIGHT + GAP;
    let live_y = |bytes: usize| live_top + LIVE_HEIGHT - bytes as f64 / top_bytes * LIVE_HEIGHT;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11" fill="#222222">"##
    );
    let _ = writeln!(s, "<title>Memory plan of {}</title>", escape(model));
    let _ = writeln!(
        s,
        r##"<defs><pattern id="scratch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fee0d2"/><rect width="2" height="6" fill="#fb6a4a"/></pattern></defs>"##
    );
    let _ = writeln!(
        s,
        r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="{BACKGROUND}"/>"##
    );

    // Title, summary and legend.
    let n_scratch = plan
        .buffers
        .iter()
        .filter(|b| b.scratch_of.is_some())
        .count();
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="28" font-size="18" font-weight="bold">Memory plan of {}</text>"##,
        escape(model)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="50" fill="#444444">{n_steps} steps, {} buffers ({n_scratch} kernel scratch). ARENA_BYTES {} ({}), lower bound {} ({}), placement: {}.</text>"##,
        plan.buffers.len(),
        plan.arena_bytes,
        bytes_label(plan.arena_bytes as f64),
        plan.lower_bound,
        bytes_label(plan.lower_bound as f64),
        escape(plan.heuristic),
    );
    legend(&mut s, 74.0, !plan.stages.is_empty());

    // The arena panel.
    panel(&mut s, TOP, PLAN_HEIGHT, top_bytes, "arena offset");
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{:.2}" font-weight="bold">Arena: one rectangle per buffer, from the step that writes it to the last step that reads it</text>"##,
        TOP - 8.0
    );
    let _ = writeln!(s, r##"<g stroke="{BACKGROUND}" stroke-width="0.5">"##);
    for (i, b) in plan.buffers.iter().enumerate() {
        let (x0, x1) = (x(b.start), x(b.end + 1));
        let (y0, y1) = (plan_y(b.offset + b.bytes), plan_y(b.offset));
        let (class, fill) = match b.scratch_of {
            Some(id) if c.plan.stage_from(id).is_some() => ("patches", PATCHES),
            Some(_) => ("scratch", "url(#scratch)"),
            None => ("tensor", TENSOR_FILLS[i % TENSOR_FILLS.len()]),
        };
        let _ = writeln!(
            s,
            r##"<rect class="{class}" x="{x0:.2}" y="{y0:.2}" width="{:.2}" height="{:.2}" fill="{fill}"><title>{}</title></rect>"##,
            x1 - x0,
            y1 - y0,
            escape(&tooltip(c, b)),
        );
    }
    let _ = writeln!(s, "</g>");
    let _ = writeln!(s, r##"<g font-size="{LABEL_SIZE}" fill="#111111">"##);
    for b in &plan.buffers {
        let (x0, x1) = (x(b.start), x(b.end + 1));
        let (y0, y1) = (plan_y(b.offset + b.bytes), plan_y(b.offset));
        match fit_label(&labels(c, b), x1 - x0, y1 - y0) {
            Some((label, false)) => {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.2}" y="{:.2}">{}</text>"##,
                    x0 + 3.0,
                    (y0 + y1) / 2.0 + LABEL_SIZE * 0.35,
                    escape(&label)
                );
            }
            // Across a tall, narrow rectangle, reading upwards from its bottom.
            Some((label, true)) => {
                let _ = writeln!(
                    s,
                    r##"<text transform="translate({:.2} {:.2}) rotate(-90)">{}</text>"##,
                    (x0 + x1) / 2.0 + LABEL_SIZE * 0.35,
                    y1 - 3.0,
                    escape(&label)
                );
            }
            None => {}
        }
    }
    let _ = writeln!(s, "</g>");
    // Above the line, which is the top of the panel when the plan meets its bound: the
    // peak step's label takes the panel's top corner.
    bound_line(
        &mut s,
        plan_y(plan.lower_bound),
        plan.lower_bound,
        "lower bound",
        true,
    );
    if let Some(step) = peak_step {
        let _ = writeln!(
            s,
            r##"<rect class="peak" x="{:.2}" y="{TOP}" width="{:.2}" height="{PLAN_HEIGHT}" fill="{PEAK}" fill-opacity="0.12" stroke="{PEAK}" stroke-width="1"/>"##,
            x(step),
            step_width
        );
        // The label sits on a white box, over whatever buffer labels are there, on the
        // side of the band that has more room.
        let text = format!("peak: step {step}");
        let box_width = text.len() as f64 * CHAR_WIDTH * 1.2 + 8.0;
        let centre = x(step) + step_width / 2.0;
        let box_x = if centre > LEFT + PLOT_WIDTH / 2.0 {
            centre - box_width
        } else {
            centre
        };
        let _ = writeln!(
            s,
            r##"<rect x="{box_x:.2}" y="{:.2}" width="{box_width:.2}" height="16" fill="{BACKGROUND}" fill-opacity="0.9" stroke="{PEAK}" stroke-width="0.5"/><text x="{:.2}" y="{:.2}" fill="{PEAK}" font-weight="bold">{text}</text>"##,
            TOP + 4.0,
            box_x + 4.0,
            TOP + 16.0,
        );
    }
    step_axis(&mut s, TOP + PLAN_HEIGHT, n_steps, step_width);

    // The live-bytes panel.
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{:.2}" font-weight="bold">Bytes live at each step, against ARENA_BYTES</text>"##,
        live_top - 8.0
    );
    panel(&mut s, live_top, LIVE_HEIGHT, top_bytes, "live bytes");
    let gap = if step_width > 3.0 { 0.5 } else { 0.0 };
    let _ = writeln!(s, r##"<g fill="#80b1d3">"##);
    for (step, &bytes) in live.iter().enumerate() {
        let peak = if Some(step) == peak_step {
            format!(r##" class="peak" fill="{PEAK}""##)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            r##"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}"{peak}><title>step {step}: {bytes} bytes live</title></rect>"##,
            x(step) + gap,
            live_y(bytes),
            (step_width - 2.0 * gap).max(0.0),
            live_top + LIVE_HEIGHT - live_y(bytes),
        );
    }
    let _ = writeln!(s, "</g>");
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" stroke="#222222" stroke-width="1.5"/>"##,
        LEFT + PLOT_WIDTH,
        y = live_y(plan.arena_bytes),
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.2}" y="{:.2}" text-anchor="end">ARENA_BYTES {}</text>"##,
        LEFT + PLOT_WIDTH - 4.0,
        live_y(plan.arena_bytes) - 4.0,
        plan.arena_bytes
    );
    bound_line(
        &mut s,
        live_y(plan.lower_bound),
        plan.lower_bound,
        "lower bound",
        false,
    );
    step_axis(&mut s, live_top + LIVE_HEIGHT, n_steps, step_width);
    let _ = writeln!(
        s,
        r##"<text x="{:.2}" y="{:.2}" text-anchor="middle">schedule step</text>"##,
        LEFT + PLOT_WIDTH / 2.0,
        HEIGHT - 10.0
    );
    let _ = writeln!(s, "</svg>");
    s
}

/// The key to the colours, one row at `y`.
fn legend(s: &mut String, y: f64, patched: bool) {
    let mut x = LEFT;
    let mut swatch = |s: &mut String, fill: &str, extra: &str, text: &str| {
        let _ = writeln!(
            s,
            r##"<rect x="{x:.2}" y="{:.2}" width="14" height="10" fill="{fill}"{extra}/><text x="{:.2}" y="{y:.2}">{text}</text>"##,
            y - 9.0,
            x + 19.0,
        );
        x += 19.0 + CHAR_WIDTH * 1.1 * text.len() as f64 + 18.0;
    };
    swatch(
        s,
        TENSOR_FILLS[0],
        "",
        "tensor: its name, else #step and op of its --layers row",
    );
    swatch(s, "url(#scratch)", "", "kernel scratch");
    if patched {
        swatch(s, PATCHES, "", "patches");
    }
    swatch(
        s,
        PEAK,
        r##" fill-opacity="0.12" stroke="#d62728""##,
        "peak step (most bytes live)",
    );
    let _ = writeln!(
        s,
        r##"<line x1="{x:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="{PEAK}" stroke-width="1.5" stroke-dasharray="6 3"/><text x="{:.2}" y="{y:.2}">lower bound: no placement needs fewer bytes</text>"##,
        y - 4.0,
        x + 24.0,
        y - 4.0,
        x + 30.0,
    );
}

/// A panel's frame, its byte grid and labels on the left, and the axis title.
fn panel(s: &mut String, top: f64, height: f64, top_bytes: f64, what: &str) {
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{top:.2}" width="{PLOT_WIDTH}" height="{height:.2}" fill="{PANEL}" stroke="#999999"/>"##
    );
    let tick = byte_tick(top_bytes, height);
    let mut bytes = 0.0;
    while bytes <= top_bytes {
        let y = top + height - bytes / top_bytes * height;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" stroke="#dddddd"/><text x="{:.2}" y="{:.2}" text-anchor="end">{}</text>"##,
            LEFT + PLOT_WIDTH,
            LEFT - 6.0,
            y + 4.0,
            bytes_label(bytes)
        );
        bytes += tick;
    }
    let _ = writeln!(
        s,
        r##"<text transform="translate(16 {:.2}) rotate(-90)" text-anchor="middle">{what}</text>"##,
        top + height / 2.0
    );
}

/// The dashed line of a bound at height `y`, labelled at the right end, above the line
/// or below it.
fn bound_line(s: &mut String, y: f64, bytes: usize, what: &str, above: bool) {
    let _ = writeln!(
        s,
        r##"<line class="bound" x1="{LEFT}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" stroke="{PEAK}" stroke-width="1.5" stroke-dasharray="6 3"/>"##,
        LEFT + PLOT_WIDTH
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.2}" y="{:.2}" fill="{PEAK}" text-anchor="end">{what} {bytes}</text>"##,
        LEFT + PLOT_WIDTH - 4.0,
        if above { y - 4.0 } else { y + 13.0 }
    );
}

/// Step numbers under a panel whose bottom is at `y`, centred on their columns, every
/// 1, 2 or 5 × 10ⁿ steps so that about a dozen show.
fn step_axis(s: &mut String, y: f64, n_steps: usize, step_width: f64) {
    let every = nice_step(n_steps.max(1) as f64 / 12.0).max(1.0) as usize;
    let mut step = 0;
    while step < n_steps {
        let x = LEFT + (step as f64 + 0.5) * step_width;
        let _ = writeln!(
            s,
            r##"<line x1="{x:.2}" y1="{y:.2}" x2="{x:.2}" y2="{:.2}" stroke="#999999"/><text x="{x:.2}" y="{:.2}" text-anchor="middle">{step}</text>"##,
            y + 4.0,
            y + 16.0
        );
        step += every;
    }
}

/// The labels a buffer may show, longest first: its first tensor's name (or what its
/// scratch serves), then `#STEP OP`, the row of `--layers` that writes it, then `#STEP`.
fn labels(c: &Lowered, b: &Buffer) -> [String; 3] {
    if let Some(stage) = b.scratch_of.and_then(|id| c.plan.stage_from(id)) {
        let grid = format!("{}x{} patches", stage.grid[0], stage.grid[1]);
        return [
            format!(
                "steps {}-{} in {grid} of {}x{}{}",
                stage.steps.0,
                stage.steps.1,
                stage.tile[0],
                stage.tile[1],
                if stage.rolling { ", rows kept" } else { "" }
            ),
            grid,
            "patches".into(),
        ];
    }
    let name = match (b.scratch_of, b.values.first()) {
        (Some(node), _) => format!("scratch of {}", c.graph.node(node).name),
        (None, Some(&v)) => c.graph.value(v).name.clone(),
        (None, None) => String::new(),
    };
    let op = match (b.scratch_of, c.plan.schedule.get(b.start)) {
        (Some(_), _) => "scratch",
        (None, Some(&node)) => c.graph.node(node).onnx.op_type,
        (None, None) => "",
    };
    [
        name,
        format!("#{} {op}", b.start).trim_end().to_string(),
        format!("#{}", b.start),
    ]
}

/// Everything about a buffer, for its tooltip.
fn tooltip(c: &Lowered, b: &Buffer) -> String {
    let steps = if b.start == b.end {
        format!("step {}", b.start)
    } else {
        format!("steps {}..={}", b.start, b.end)
    };
    let whose = match b.scratch_of {
        Some(id) if c.plan.stage_from(id).is_some() => {
            let stage = c.plan.stage_from(id).expect("checked");
            let macs = crate::plan::patch::model_macs(&c.graph, &c.plan.schedule);
            format!(
                "{}: one patch's tensors, {:.1} % more MACs than layer by layer",
                stage.summary(&c.graph),
                stage.overhead(macs) * 100.0
            )
        }
        Some(node) => {
            let node = c.graph.node(node);
            format!("kernel scratch of {} ({})", node.name, node.onnx.op_type)
        }
        None => b
            .values
            .iter()
            .map(|&v| format!("{}: {}", c.graph.value(v).name, c.graph.ty(v)))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    format!(
        "{whose}\n{} bytes at offset {}, live at {steps}",
        b.bytes, b.offset
    )
}

/// The first of `labels` that fits a `width` × `height` rectangle, and whether it runs
/// across it (rotated, in a tall and narrow one) rather than along it; `None` when none
/// fits either way.
fn fit_label(labels: &[String], width: f64, height: f64) -> Option<(String, bool)> {
    // Characters that fit in `length` units, with a margin of three at each end.
    let room = |length: f64| ((length - 6.0) / CHAR_WIDTH).max(0.0).floor() as usize;
    let thick_enough = |thickness: f64| thickness >= LABEL_SIZE + 2.0;
    let along = if thick_enough(height) { room(width) } else { 0 };
    let across = if thick_enough(width) { room(height) } else { 0 };
    labels.iter().find_map(|label| {
        let n = label.chars().count();
        if n == 0 {
            None
        } else if n <= along {
            Some((label.clone(), false))
        } else if n <= across {
            Some((label.clone(), true))
        } else {
            None
        }
    })
}

/// A byte tick: the smallest power of two that leaves at least 28 units between grid
/// lines and at most about eight of them.
fn byte_tick(top_bytes: f64, height: f64) -> f64 {
    let mut tick = 1.0;
    while top_bytes / tick > 8.0 || tick / top_bytes * height < 28.0 && tick < top_bytes {
        tick *= 2.0;
    }
    tick
}

/// The smallest of 1, 2 or 5 × 10ⁿ that is at least `x`.
fn nice_step(x: f64) -> f64 {
    let mut unit = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * unit >= x {
                return m * unit;
            }
        }
        unit *= 10.0;
    }
}

/// `bytes` in B, KiB or MiB, with no more decimals than it needs.
fn bytes_label(bytes: f64) -> String {
    let (value, unit) = if bytes >= 1024.0 * 1024.0 {
        (bytes / (1024.0 * 1024.0), "MiB")
    } else if bytes >= 1024.0 {
        (bytes / 1024.0, "KiB")
    } else {
        (bytes, "B")
    };
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

/// `text` with the characters XML gives a meaning escaped, for element text and
/// attribute values alike.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters than tab and newlines.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_names() {
        assert_eq!(
            escape(r##"a<b>&"c"'d'"##),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
        assert_eq!(escape("bell\u{7}"), "bell\u{fffd}");
    }

    #[test]
    fn labels_fit_along_across_or_not_at_all() {
        let labels = ["features.3.conv".to_string(), "#3 Conv".into(), "#3".into()];
        // 15 characters need 6 + 15 × 5.8 = 93 units.
        assert_eq!(
            fit_label(&labels, 93.0, 20.0),
            Some(("features.3.conv".into(), false))
        );
        assert_eq!(
            fit_label(&labels, 92.0, 20.0),
            Some(("#3 Conv".into(), false))
        );
        // Tall and narrow: the name runs across.
        assert_eq!(
            fit_label(&labels, 20.0, 200.0),
            Some(("features.3.conv".into(), true))
        );
        assert_eq!(fit_label(&labels, 20.0, 20.0), Some(("#3".into(), false)));
        assert_eq!(fit_label(&labels, 8.0, 8.0), None);
        assert_eq!(fit_label(&labels, 100.0, 8.0), None);
    }

    #[test]
    fn axes_use_round_numbers() {
        assert_eq!(nice_step(7.5), 10.0);
        assert_eq!(nice_step(1.2), 2.0);
        assert_eq!(nice_step(0.3), 1.0);
        assert_eq!(byte_tick(31504.0, 440.0), 4096.0);
        assert_eq!(bytes_label(1536.0), "1.5 KiB");
        assert_eq!(bytes_label(3.0 * 1024.0 * 1024.0), "3 MiB");
        assert_eq!(bytes_label(0.0), "0 B");
    }
}
