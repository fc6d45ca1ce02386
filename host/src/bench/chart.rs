//! `goldylox bench chart`: runs of the bench on one SVG chart — the hit
//! ratio so far and the server's resident memory, against requests done.

use std::fmt::Write;

use super::Sample;
use crate::plot::{BOTTOM, COLOURS, LEFT, RIGHT, TOP, W, escape, open};

/// What a panel of [`series_svg`] draws of a sample.
type Measure = fn(&Sample) -> f64;

/// Runs of `goldylox bench` on one chart, one line each: the hit ratio so
/// far (top) and the server's resident memory (bottom), against requests
/// done, so servers of different speeds line up.
pub(super) fn series_svg(title: &str, runs: &[(String, Vec<Sample>)]) -> String {
    const PANEL: f64 = 220.0;
    const GAP: f64 = 50.0;
    let height = TOP + 2.0 * PANEL + GAP + BOTTOM;
    let plot_w = W - LEFT - RIGHT;
    let requests = runs
        .iter()
        .flat_map(|(_, s)| s.iter().map(|x| x.requests))
        .max()
        .unwrap_or(1)
        .max(1);
    let rss_max = runs
        .iter()
        .flat_map(|(_, s)| s.iter().map(|x| x.rss))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mib = 1024.0 * 1024.0;
    let x = |r: u64| LEFT + plot_w * r as f64 / requests as f64;
    let mut s = String::new();
    open(&mut s, height, title);
    let percent: Measure = |x| x.hit_ratio * 100.0;
    let mebibytes: Measure = |x| x.rss as f64 / (1024.0 * 1024.0);
    let panels = [
        ("hit ratio so far (%)", TOP, 100.0, percent),
        (
            "server RSS (MiB)",
            TOP + PANEL + GAP,
            rss_max / mib,
            mebibytes,
        ),
    ];
    for (label, top, max, value) in &panels {
        let y = |v: f64| top + PANEL * (1.0 - (v / max.max(1e-9)).clamp(0.0, 1.0));
        for k in 0..=4 {
            let v = max * f64::from(k) / 4.0;
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                y(v) + 4.0,
                y = y(v)
            );
        }
        let _ = writeln!(s, r#"<text x="{LEFT}" y="{}">{label}</text>"#, top - 8.0);
        for (i, (_, samples)) in runs.iter().enumerate() {
            let points: Vec<String> = samples
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(p.requests), y(value(p))))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                COLOURS[i % COLOURS.len()],
                points.join(" ")
            );
        }
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">requests done (0 … {requests})</text>"#,
        LEFT + plot_w / 2.0,
        height - 12.0
    );
    legend(&mut s, runs.iter().map(|(name, _)| name.as_str()));
    s.push_str("</svg>\n");
    s
}

/// The runs' names beside the chart, each in its line's colour.
fn legend<'a>(s: &mut String, names: impl Iterator<Item = &'a str>) {
    for (i, name) in names.enumerate() {
        let ly = TOP + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="24" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            W - RIGHT + 16.0,
            ly - 5.0,
            COLOURS[i % COLOURS.len()],
            W - RIGHT + 46.0,
            ly + 4.0,
            escape(name)
        );
    }
}
