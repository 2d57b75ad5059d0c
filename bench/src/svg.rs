//! A tiny SVG writer for the bench's charts (no plotting crate): horizontal bars with min–max
//! whiskers, and line charts. Each chart is a [`Panel`]; [`page`] stacks panels into one
//! self-contained SVG file that BENCHMARKS.md embeds. Colours and fonts are fixed so charts
//! from different runs look alike.
#![allow(dead_code)] // each binary uses the part it needs

use std::fmt::Write as _;

/// The page width every chart is drawn for.
pub const WIDTH: f64 = 760.0;
const LABEL_W: f64 = 190.0;
const ROW_H: f64 = 24.0;
/// The column on the right where each bar's figures are printed.
const TEXT_W: f64 = 150.0;
const FONT: &str = "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\"";

/// Tokio's colour and brigade's, in every chart.
pub const TOKIO: &str = "#8b949e";
/// brigade's colour.
pub const BRIGADE: &str = "#2f81f7";

/// One drawn block of a page: its SVG elements (drawn from y = 0) and its height.
pub struct Panel {
    body: String,
    height: f64,
}

/// A horizontal bar: a value, optionally with a low–high whisker.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub range: Option<(f64, f64)>,
    pub color: &'static str,
    /// Printed at the end of the bar.
    pub text: String,
}

/// A line of (x, y) points.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Horizontal bars on a shared scale from 0, with an optional vertical reference line (the
/// 1.0 of a ratio chart).
pub fn bars(title: &str, bars: &[Bar], reference: Option<(f64, &str)>) -> Panel {
    let top = 28.0;
    let plot_w = WIDTH - LABEL_W - TEXT_W - 10.0;
    // The scale follows the whiskers up to twice the largest bar (or reference): one wild
    // round must not squash every bar; whiskers beyond the scale end in an arrow.
    let largest = bars
        .iter()
        .map(|b| b.value)
        .chain(reference.map(|(r, _)| r))
        .fold(0.0f64, f64::max);
    let max = bars
        .iter()
        .map(|b| b.range.map_or(b.value, |(_, hi)| hi.max(b.value)))
        .chain(reference.map(|(r, _)| r * 1.1))
        .fold(0.0f64, f64::max)
        .min(largest * 2.0)
        .max(1e-9);
    let x = |v: f64| LABEL_W + v.min(max) / max * plot_w;
    let mut s = String::new();
    let _ = write!(
        s,
        "<text x=\"8\" y=\"18\" font-weight=\"bold\">{}</text>",
        esc(title)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = top + i as f64 * ROW_H;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABEL_W - 8.0,
            y + 15.0,
            esc(&bar.label)
        );
        let _ = write!(
            s,
            "<rect x=\"{LABEL_W}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" rx=\"2\"/>",
            y + 4.0,
            (x(bar.value) - LABEL_W).max(1.0),
            ROW_H - 8.0,
            bar.color
        );
        if let Some((lo, hi)) = bar.range {
            let mid = y + ROW_H / 2.0;
            // A whisker beyond the scale ends in an arrow instead of a bar.
            let end_mark = if hi > max {
                format!(
                    "M{:.1},{:.1}L{:.1},{mid:.1}L{:.1},{:.1}",
                    x(hi) - 6.0,
                    mid - 4.0,
                    x(hi),
                    x(hi) - 6.0,
                    mid + 4.0
                )
            } else {
                format!("M{:.1},{:.1}V{:.1}", x(hi), mid - 5.0, mid + 5.0)
            };
            let _ = write!(
                s,
                "<path d=\"M{:.1},{mid:.1}H{:.1}M{:.1},{:.1}V{:.1}{end_mark}\" stroke=\"#1f2328\" stroke-width=\"1.2\" fill=\"none\"/>",
                x(lo),
                x(hi),
                x(lo),
                mid - 5.0,
                mid + 5.0
            );
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            WIDTH - TEXT_W,
            y + 15.0,
            esc(&bar.text)
        );
    }
    let bottom = top + bars.len() as f64 * ROW_H;
    if let Some((value, label)) = reference {
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\" stroke=\"#cf222e\" stroke-dasharray=\"4 3\"/><text x=\"{0:.1}\" y=\"{3:.1}\" text-anchor=\"middle\" fill=\"#cf222e\">{4}</text>",
            x(value),
            top,
            bottom,
            bottom + 14.0,
            esc(label)
        );
    }
    Panel {
        body: s,
        height: bottom + 24.0,
    }
}

/// A line chart of `series` with labelled axes; `log_y` draws y on a log10 scale.
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[Series], log_y: bool) -> Panel {
    let (left, top, plot_w, plot_h) = (70.0, 30.0, WIDTH - 100.0, 200.0);
    let ys = |y: f64| if log_y { y.max(1e-3).log10() } else { y };
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(ys(y));
        y1 = y1.max(ys(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if !log_y {
        y0 = 0.0;
    } else {
        y0 = y0.floor();
        y1 = y1.ceil();
    }
    let (xw, yw) = ((x1 - x0).max(1e-9), (y1 - y0).max(1e-9));
    let px = |x: f64| left + (x - x0) / xw * plot_w;
    let py = |y: f64| top + plot_h - (ys(y) - y0) / yw * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        "<text x=\"8\" y=\"18\" font-weight=\"bold\">{}</text>",
        esc(title)
    );
    let _ = write!(
        s,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#d0d7de\"/>"
    );
    // y ticks: decades on a log scale, quarters otherwise.
    let ticks: Vec<f64> = if log_y {
        (y0 as i32..=y1 as i32).map(|e| 10f64.powi(e)).collect()
    } else {
        (0..=4).map(|i| y0 + yw * f64::from(i) / 4.0).collect()
    };
    for t in ticks {
        let y = py(t);
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eaeef2\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            short(t)
        );
    }
    for i in 0..=4 {
        let x = x0 + xw * f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            px(x),
            top + plot_h + 16.0,
            short(x)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">{}</text>",
        left + plot_w / 2.0,
        top + plot_h + 34.0,
        esc(x_label),
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        esc(y_label)
    );
    for (i, line) in series.iter().enumerate() {
        let points: Vec<String> = line
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            line.color,
            points.join(" ")
        );
        let lx = left + 10.0 + i as f64 * 140.0;
        let _ = write!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"3\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            top + 8.0,
            line.color,
            lx + 18.0,
            top + 13.0,
            esc(&line.name)
        );
    }
    Panel {
        body: s,
        height: top + plot_h + 44.0,
    }
}

/// A number short enough for an axis: 0.25, 3, 1.5k, 2M.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Stacks `panels` into one SVG document, with a footnote (how the numbers were made).
pub fn page(panels: &[Panel], footnote: &str) -> String {
    let mut body = String::new();
    let mut y = 0.0;
    for panel in panels {
        let _ = write!(
            body,
            "<g transform=\"translate(0 {y:.1})\">{}</g>",
            panel.body
        );
        y += panel.height;
    }
    let _ = write!(
        body,
        "<text x=\"8\" y=\"{:.1}\" fill=\"#57606a\" font-size=\"11\">{}</text>",
        y + 12.0,
        esc(footnote)
    );
    let height = y + 22.0;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" viewBox=\"0 0 {WIDTH} {height:.0}\" {FONT}><rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>{body}</svg>\n"
    )
}

/// Writes `svg` to `dir/name`, creating `dir`; reports where on stderr.
pub fn save(dir: &str, name: &str, svg: &str) {
    let path = std::path::Path::new(dir).join(name);
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, svg)) {
        Ok(()) => eprintln!("chart written to {}", path.display()),
        Err(e) => eprintln!("error: could not write {}: {e}", path.display()),
    }
}
