//! The SVG chart of a report (plotters' SVG backend): size against speed, per model, one
//! point per opt level joined by a line, so the fast/small trade-off reads at a glance.
//! One panel per target: stripped executable against time per inference on the host,
//! flash against instructions per inference on the Cortex-M7. Both axes are logarithmic.

use plotters::prelude::*;

use super::{BenchError, OptLevel, Outcome, Report, Target};
use crate::Error;

const PANEL: (u32, u32) = (620, 460);

/// The chart as an SVG document.
pub fn svg(report: &Report) -> Result<String, Error> {
    let targets: Vec<Target> = [Target::Host, Target::CortexM7]
        .into_iter()
        .filter(|t| report.runs.iter().any(|r| r.target == *t))
        .collect();
    let mut out = String::new();
    {
        let width = PANEL.0 * targets.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut out, (width, PANEL.1)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let panels = root.split_evenly((1, targets.len().max(1)));
        for (panel, &target) in panels.iter().zip(&targets) {
            draw_panel(panel, report, target)?;
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
            Outcome::CortexM7(m) => (m.flash_bytes as f64 / 1024.0, m.instructions as f64),
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
    let (title, x_desc, y_desc) = match target {
        Target::Host => (
            "x86_64: executable vs time per inference",
            "stripped executable (KiB, log)",
            "time per inference (µs, log)",
        ),
        Target::CortexM7 => (
            "Cortex-M7: flash vs instructions per inference",
            "flash (KiB, log)",
            "instructions per inference (log)",
        ),
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

fn plot_error<E: std::fmt::Debug>(e: E) -> Error {
    BenchError::Chart(format!("{e:?}")).into()
}
