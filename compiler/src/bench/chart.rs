//! The SVG chart of a report (plotters' SVG backend): size against speed, per model, one
//! point per opt level joined by a line, so the fast/small trade-off reads at a glance.
//! One panel per target: stripped executable against time per inference on the host,
//! flash against instructions per inference on the Cortex-M7. Both axes are logarithmic.
//! When the Cortex-M7 runs carry a code attribution, a last panel stacks each run's flash
//! by owner: weights, model code, runtime code, formatting and panics, harness.

use plotters::prelude::*;

use super::{BenchError, OptLevel, Outcome, Report, Target};
use crate::Error;

const PANEL: (u32, u32) = (620, 460);

/// The chart as an SVG document.
pub fn svg(report: &Report) -> Result<String, Error> {
    // A core under QEMU's user mode has no time or count to plot.
    let targets: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| t.user_mode().is_none())
        .filter(|t| report.runs.iter().any(|r| r.target == *t))
        .collect();
    let mut out = String::new();
    {
        let split = flash_split(report);
        let n_panels = targets.len().max(1) + usize::from(!split.is_empty());
        let width = PANEL.0 * n_panels as u32;
        let root = SVGBackend::with_string(&mut out, (width, PANEL.1)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let panels = root.split_evenly((1, n_panels));
        for (panel, &target) in panels.iter().zip(&targets) {
            draw_panel(panel, report, target)?;
        }
        if let Some(panel) = panels.get(targets.len()).filter(|_| !split.is_empty()) {
            draw_split(panel, &split)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(out)
}

/// `(model, [(opt level, size in KiB, cost)])` for the points of a target.
type Series = Vec<(String, Vec<(OptLevel, f64, f64)>)>;

fn series(report: &Report, target: Target) -> Series {
    let mut series: Series = Vec::new();
    for run in report.runs.iter().filter(|r| r.target == target) {
        let point = match &run.outcome {
            Outcome::Host(h) => (h.exe_bytes as f64 / 1024.0, h.time_us),
            Outcome::Mcu(m) => (m.flash_bytes as f64 / 1024.0, m.instructions as f64),
            _ => continue,
        };
        let entry = match series.iter_mut().position(|(m, _)| *m == run.model) {
            Some(i) => &mut series[i].1,
            None => {
                series.push((run.model.clone(), Vec::new()));
                &mut series.last_mut().expect("just pushed").1
            }
        };
        entry.push((run.opt_level.clone(), point.0, point.1));
    }
    series
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
    target: Target,
) -> Result<(), Error> {
    let series = series(report, target);
    let mcu_title;
    let (title, x_desc, y_desc) = match target {
        Target::Host => (
            "x86_64: executable vs time per inference",
            "stripped executable (KiB, log)",
            "time per inference (µs, log)",
        ),
        _ => {
            mcu_title = format!("{}: flash vs instructions per inference", target.label());
            (
                mcu_title.as_str(),
                "flash (KiB, log)",
                "instructions per inference (log)",
            )
        }
    };
    let levels: Vec<String> = series
        .first()
        .map(|(_, p)| p.iter().map(|(opt, _, _)| opt.to_string()).collect())
        .unwrap_or_default();
    let caption = match levels.split_first() {
        Some((first, rest)) if !rest.is_empty() => {
            format!("{title} (● opt {first}, ○ opt {})", rest.join("/"))
        }
        _ => title.to_string(),
    };
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (xs, ys): (Vec<f64>, Vec<f64>) = points.map(|(_, x, y)| (*x, *y)).unzip();
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        if v.is_empty() || lo <= 0.0 {
            (1.0, 10.0)
        } else {
            (lo / 2.0, hi * 2.0)
        }
    };
    let ((x0, x1), (y0, y1)) = (range(&xs), range(&ys));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(8)
        .light_line_style(WHITE)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .draw()
        .map_err(plot_error)?;
    for (model, points) in &series {
        // A model keeps its colour across panels, even when it is missing from one.
        let index = report.models.iter().position(|m| m.name == *model);
        let color = Palette99::pick(index.unwrap_or(0)).to_rgba();
        let line: Vec<(f64, f64)> = points.iter().map(|(_, x, y)| (*x, *y)).collect();
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(plot_error)?
            .label(model.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        // The first opt level (the fast one) filled, the others hollow; each labelled.
        chart
            .draw_series(points.iter().enumerate().map(|(j, (opt, x, y))| {
                let style = if j == 0 {
                    color.filled()
                } else {
                    color.stroke_width(2)
                };
                EmptyElement::at((*x, *y))
                    + Circle::new((0, 0), 5, style)
                    + Text::new(format!("{model} {opt}"), (7, -12), ("sans-serif", 11))
            }))
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// The owners of a flash image, in stacking order, with their colours.
const OWNERS: [(&str, RGBColor); 5] = [
    ("weights", RGBColor(158, 158, 158)),
    ("model code", RGBColor(31, 119, 180)),
    ("runtime code", RGBColor(44, 160, 44)),
    ("fmt/panic", RGBColor(214, 39, 40)),
    ("harness", RGBColor(255, 187, 120)),
];

/// `("model opt", [KiB per owner of OWNERS])` for every Cortex-M7 run with an attribution.
fn flash_split(report: &Report) -> Vec<(String, [f64; 5])> {
    report
        .runs
        .iter()
        .filter(|r| r.target.is_mcu())
        .filter_map(|r| match &r.outcome {
            Outcome::Mcu(m) => m.attribution.as_ref().map(|a| {
                let kib = |n: u64| n as f64 / 1024.0;
                (
                    format!("{} {}", r.model, r.opt_level),
                    [
                        kib(a.weights_bytes),
                        kib(a.model_bytes),
                        kib(a.runtime_bytes),
                        kib(a.fmt_panic_bytes),
                        kib(a.harness_bytes),
                    ],
                )
            }),
            _ => None,
        })
        .collect()
}

/// Horizontal bars, one per run, each stacked by owner.
fn draw_split<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    split: &[(String, [f64; 5])],
) -> Result<(), Error> {
    let longest = split
        .iter()
        .map(|(_, parts)| parts.iter().sum::<f64>())
        .fold(1.0, f64::max);
    let rows = split.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption("Cortex-M7: where the flash goes", ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(150)
        // Room on the right for the legend, past the longest bar.
        .build_cartesian_2d(0.0..longest * 1.4, 0.0..rows)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_labels(6)
        .y_labels(split.len() * 2 + 1)
        .light_line_style(WHITE)
        .x_desc("flash (KiB)")
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| {
            // Each bar sits in a unit row; its label is at the row's middle.
            let row = v - 0.5;
            let index = row.round();
            if (row - index).abs() < 1e-6 && index >= 0.0 {
                split
                    .get(split.len() - 1 - index as usize)
                    .map(|(label, _)| label.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(plot_error)?;
    for (k, (owner, color)) in OWNERS.iter().enumerate() {
        let color = *color;
        let bars = split.iter().enumerate().map(move |(i, (_, parts))| {
            let row = (split.len() - 1 - i) as f64;
            let start: f64 = parts[..k].iter().sum();
            Rectangle::new(
                [(start, row + 0.15), (start + parts[k], row + 0.85)],
                color.filled(),
            )
        });
        chart
            .draw_series(bars)
            .map_err(plot_error)?
            .label(*owner)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// Axis labels: `12`, `3.4k`, `5.6M`, `7.8G`.
fn short(v: f64) -> String {
    let (scaled, suffix) = if v >= 1e9 {
        (v / 1e9, "G")
    } else if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if scaled >= 10.0 || scaled.fract() == 0.0 {
        format!("{scaled:.0}{suffix}")
    } else {
        format!("{scaled:.1}{suffix}")
    }
}

pub(super) fn plot_error<E: std::fmt::Debug>(e: E) -> Error {
    BenchError::Chart(format!("{e:?}")).into()
}
