//! The table of `zantc compress-report`: one row per compression method of one model
//! (accuracy or agreement, parameters, weight bytes, host latency, Cortex-M7 instructions,
//! flash and arena), rendered as Markdown, as JSON (with the bench report of every variant,
//! so `zantc compare` reads it) and as an SVG of quality against size.

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::chart::plot_error;
use super::report::fmt_count;
use super::Report;
use crate::Error;

/// How well a variant does on the evaluation rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Quality {
    /// Top-1 accuracy against the labels, in percent.
    Accuracy { percent: f64 },
    /// Without labels: top-1 agreement with the original model, in percent, and the
    /// largest absolute difference of any output element.
    Agreement { percent: f64, max_abs_error: f64 },
}

impl Quality {
    /// The percentage the table sorts by.
    pub fn percent(&self) -> f64 {
        match *self {
            Quality::Accuracy { percent } | Quality::Agreement { percent, .. } => percent,
        }
    }
}

/// One compression method applied to the model, measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The method as the table names it (`int8 static (minmax)`, `channels 50 %`).
    pub method: String,
    /// The name of the variant in the bench report.
    pub variant: String,
    /// Weight bytes of the original over this variant's.
    pub compression: f64,
    pub quality: Option<Quality>,
    /// Nonzero weight values, in millions.
    pub params_m: f64,
    /// `WEIGHT_BYTES`: the weight blob as stored.
    pub weight_bytes: u64,
    pub arena_bytes: u64,
    /// Host time per inference.
    pub host_us: Option<f64>,
    /// Cortex-M7 instructions per inference at the report's opt level.
    pub m7_instructions: Option<u64>,
    /// Cortex-M7 flash of the whole image.
    pub m7_flash_bytes: Option<u64>,
    /// Why the variant could not be built or measured.
    pub error: Option<String>,
}

/// The report of one model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompressionReport {
    pub model: String,
    /// What the quality column measures (`accuracy on rows 1400..1797 of images.npy`).
    pub evaluation: String,
    /// Rows sorted by quality, best first; failed variants last.
    pub rows: Vec<Row>,
    /// The bench report of every variant, in `zantc bench --json`'s format.
    pub bench: Report,
}

impl CompressionReport {
    /// Sorts the rows by quality, best first (stable, so equal rows keep the method order);
    /// rows without a quality go last.
    pub fn sort(&mut self) {
        self.rows.sort_by(|a, b| {
            let key = |r: &Row| r.quality.as_ref().map(Quality::percent);
            match (key(a), key(b)) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let agreement = self
            .rows
            .iter()
            .any(|r| matches!(r.quality, Some(Quality::Agreement { .. })));
        let quality_head = if agreement {
            "top-1 agreement | max abs error"
        } else {
            "accuracy"
        };
        let mut out = format!(
            "### {}\n\nQuality: {}.\n\n| method | compression | {quality_head} | params (M) | \
             weights (B) | host µs | M7 instructions | M7 flash (B) | arena (B) |\n",
            self.model, self.evaluation
        );
        let n_cols = 9 + usize::from(agreement);
        out.push_str(&format!("|{}\n", "---|".repeat(n_cols)));
        for r in &self.rows {
            let quality = match (&r.quality, agreement) {
                (Some(Quality::Accuracy { percent }), false) => format!("{percent:.2} %"),
                (
                    Some(Quality::Agreement {
                        percent,
                        max_abs_error,
                    }),
                    true,
                ) => format!("{percent:.2} % | {max_abs_error:.3}"),
                (_, true) => "— | —".into(),
                (_, false) => "—".into(),
            };
            let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
            out.push_str(&format!(
                "| {} | {:.2}× | {quality} | {:.4} | {} | {} | {} | {} | {} |\n",
                r.method,
                r.compression,
                r.params_m,
                fmt_count(r.weight_bytes as f64),
                opt(r.host_us.map(|t| format!("{t:.1}"))),
                opt(r.m7_instructions.map(|n| fmt_count(n as f64))),
                opt(r.m7_flash_bytes.map(|n| fmt_count(n as f64))),
                fmt_count(r.arena_bytes as f64),
            ));
        }
        let failed: Vec<&Row> = self.rows.iter().filter(|r| r.error.is_some()).collect();
        if !failed.is_empty() {
            out.push_str("\nNot measured:\n");
            for r in failed {
                out.push_str(&format!(
                    "- {}: {}\n",
                    r.method,
                    r.error.as_deref().unwrap_or_default()
                ));
            }
        }
        out
    }
}

const PANEL: (u32, u32) = (620, 440);

/// Quality against weight bytes, one panel per model, one labelled point per method.
pub fn svg(reports: &[CompressionReport]) -> Result<String, Error> {
    let mut out = String::new();
    {
        let n = reports.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut out, (PANEL.0 * n.min(2), PANEL.1 * n.div_ceil(2)))
            .into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let panels = root.split_evenly((n.div_ceil(2) as usize, n.min(2) as usize));
        for (panel, report) in panels.iter().zip(reports) {
            draw(panel, report)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(out)
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &CompressionReport,
) -> Result<(), Error> {
    let points: Vec<(&str, f64, f64)> = report
        .rows
        .iter()
        .filter_map(|r| {
            let q = r.quality.as_ref()?.percent();
            Some((r.method.as_str(), r.weight_bytes as f64 / 1024.0, q))
        })
        .collect();
    let x_hi = points.iter().map(|p| p.1).fold(1.0, f64::max) * 2.0;
    let x_lo = points.iter().map(|p| p.1).fold(x_hi, f64::min) / 2.0;
    let y_lo = points.iter().map(|p| p.2).fold(100.0, f64::min);
    let y_lo = (y_lo - 5.0).clamp(0.0, 95.0).floor();
    let label = match report.rows.iter().find_map(|r| r.quality.as_ref()) {
        Some(Quality::Agreement { .. }) => "top-1 agreement with the original (%)",
        _ => "accuracy (%)",
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}: quality against weight bytes", report.model),
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x_lo.max(0.01)..x_hi).log_scale(), y_lo..100.5)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("weights (KiB, log)")
        .x_label_formatter(&|v| {
            if *v < 10.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.0}")
            }
        })
        .y_desc(label)
        .light_line_style(WHITE)
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(points.iter().enumerate().map(|(i, &(method, x, y))| {
            let color = Palette99::pick(i).to_rgba();
            EmptyElement::at((x, y))
                + Circle::new((0, 0), 5, color.filled())
                + Text::new(method.to_string(), (7, -10), ("sans-serif", 11))
        }))
        .map_err(plot_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, quality: Option<f64>, bytes: u64) -> Row {
        Row {
            method: method.into(),
            variant: method.into(),
            compression: 1000.0 / bytes as f64,
            quality: quality.map(|percent| Quality::Accuracy { percent }),
            params_m: 0.001,
            weight_bytes: bytes,
            arena_bytes: 1536,
            host_us: Some(1.5),
            m7_instructions: Some(123_456),
            m7_flash_bytes: None,
            error: quality.is_none().then(|| "it failed".to_string()),
        }
    }

    fn report() -> CompressionReport {
        let mut r = CompressionReport {
            model: "digits-mlp".into(),
            evaluation: "accuracy on rows 1400..1797".into(),
            rows: vec![
                row("float", Some(92.19), 1000),
                row("broken", None, 1000),
                row("int8", Some(92.70), 260),
                row("ternary", Some(80.0), 60),
            ],
            bench: Report::default(),
        };
        r.sort();
        r
    }

    #[test]
    fn sorts_by_quality_with_failures_last() {
        let r = report();
        let order: Vec<&str> = r.rows.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(order, ["int8", "float", "ternary", "broken"]);
    }

    #[test]
    fn markdown_has_every_row_and_the_failure() {
        let md = report().markdown();
        assert!(
            md.contains("| int8 | 3.85× | 92.70 % | 0.0010 | 260 | 1.5 | 123,456 | — | 1,536 |")
        );
        assert!(md.contains("- broken: it failed"));
        assert_eq!(md.lines().filter(|l| l.starts_with("| ")).count(), 5);
    }

    #[test]
    fn svg_labels_every_measured_method() {
        let svg = svg(&[report()]).unwrap();
        for method in ["int8", "float", "ternary"] {
            assert!(svg.contains(&format!(">\n{method}\n<")), "{method} missing");
        }
        assert!(!svg.contains(">\nbroken\n<"));
    }
}
