//! A small SVG line chart: hit ratio against cache size, one line per
//! policy. No dependencies; the output opens in any browser.

use std::fmt::Write;

use crate::replay::Row;

pub(crate) const W: f64 = 760.0;
pub(crate) const H: f64 = 440.0;
pub(crate) const LEFT: f64 = 64.0;
pub(crate) const RIGHT: f64 = 170.0;
pub(crate) const TOP: f64 = 40.0;
pub(crate) const BOTTOM: f64 = 56.0;
pub(crate) const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Starts an SVG of the chart width and `height` on white, with `title`.
pub(crate) fn open(s: &mut String, height: f64, title: &str) {
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{height}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        W / 2.0,
        escape(title)
    );
}

/// Renders `rows` (one per size) for the policies `labels` as an SVG; sizes
/// are spaced evenly, the y axis runs from 0 to 100 %.
pub fn hit_ratio_svg(title: &str, labels: &[String], rows: &[Row], ceiling: f64) -> String {
    let mut s = String::new();
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| {
        LEFT + if rows.len() > 1 {
            plot_w * i as f64 / (rows.len() - 1) as f64
        } else {
            plot_w / 2.0
        }
    };
    let y = |r: f64| TOP + plot_h * (1.0 - r.clamp(0.0, 1.0));
    open(&mut s, H, title);
    percent_grid(&mut s, plot_w, y);
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x(i),
            TOP + plot_h + 18.0,
            row.size
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">cache size (entries)</text>"#,
        LEFT + plot_w / 2.0,
        H - 12.0
    );
    let ceiling_y = y(ceiling);
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{ceiling_y}" x2="{}" y2="{ceiling_y}" stroke="#444" stroke-dasharray="5,4"/>"##,
        LEFT + plot_w
    );
    for (p, label) in labels.iter().enumerate() {
        let colour = COLOURS[p % COLOURS.len()];
        let points: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| format!("{:.1},{:.1}", x(i), y(row.ratios[p])))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        legend(&mut s, p, colour, label, false);
    }
    legend(&mut s, labels.len(), "#444", "infinite cache", true);
    s.push_str("</svg>\n");
    s
}

/// The horizontal lines and labels of a 0-100 % axis, every 10 %.
fn percent_grid(s: &mut String, plot_w: f64, y: impl Fn(f64) -> f64) {
    for tick in 0..=10 {
        let r = f64::from(tick) / 10.0;
        let (x0, x1, yy) = (LEFT, LEFT + plot_w, y(r));
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{yy}" x2="{x1}" y2="{yy}" stroke="#e5e5e5"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}%</text>"#,
            LEFT - 6.0,
            yy + 4.0,
            tick * 10
        );
    }
}

/// Legend entry `k` in the right margin: a line of `colour` (dashed or
/// not) and its label.
fn legend(s: &mut String, k: usize, colour: &str, label: &str, dashed: bool) {
    let ly = TOP + 18.0 * k as f64;
    let dash = if dashed {
        r#" stroke-dasharray="5,4""#
    } else {
        ""
    };
    let _ = writeln!(
        s,
        r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>"#,
        W - RIGHT + 16.0,
        W - RIGHT + 40.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}">{}</text>"#,
        W - RIGHT + 46.0,
        ly + 4.0,
        escape(label)
    );
}

/// Which policy an `auto` replay ran when: one bar per cache size across
/// the trace (`requests` long), coloured by the candidate running, from
/// the switches in `rows[i].switches[contender]`. Candidates are named by
/// `rows[i].shadows[contender]`.
pub fn timeline_svg(title: &str, contender: usize, rows: &[Row], requests: u64) -> String {
    const BAR: f64 = 22.0;
    let names: Vec<String> = rows
        .first()
        .map(|r| {
            r.shadows[contender]
                .iter()
                .map(|(n, _)| n.clone())
                .collect()
        })
        .unwrap_or_default();
    let colour = |name: &str| {
        let i = names.iter().position(|n| n == name).unwrap_or(0);
        COLOURS[i % COLOURS.len()]
    };
    let plot_w = W - LEFT - RIGHT;
    let height = TOP + BAR * 1.5 * rows.len() as f64 + BOTTOM;
    let x = |at: u64| LEFT + plot_w * at as f64 / requests.max(1) as f64;
    let mut s = String::new();
    open(&mut s, height, title);
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + BAR * 1.5 * i as f64;
        let switches = &row.switches[contender];
        let first = switches.first().map_or_else(
            || names.first().cloned().unwrap_or_default(),
            |s| s.from.clone(),
        );
        let mut start = (0u64, first);
        for sw in switches
            .iter()
            .map(|s| (s.at, s.to.clone()))
            .chain([(requests, String::new())])
        {
            let (x0, x1) = (x(start.0), x(sw.0));
            let _ = writeln!(
                s,
                r#"<rect x="{x0:.1}" y="{y}" width="{:.1}" height="{BAR}" fill="{}"/>"#,
                (x1 - x0).max(0.5),
                colour(&start.1)
            );
            start = sw;
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + BAR / 2.0 + 4.0,
            row.size
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">requests (0 … {requests}); rows: cache size (entries)</text>"#,
        LEFT + plot_w / 2.0,
        height - 12.0
    );
    for (k, name) in names.iter().enumerate() {
        let ly = TOP + 18.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="24" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            W - RIGHT + 16.0,
            ly - 5.0,
            colour(name),
            W - RIGHT + 46.0,
            ly + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}
