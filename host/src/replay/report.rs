//! A replay's report: markdown tables (request hit ratio, and byte hit
//! ratio when the trace has sizes) with each policy's gap to OPT, or CSV.

use std::fmt::Write as _;

use super::{Capacity, Row};

/// The index of the OPT column, if OPT was replayed.
fn opt_column(labels: &[String]) -> Option<usize> {
    labels.iter().position(|l| l == "OPT")
}

/// Mean gap to OPT per contender over all rows, in percentage points
/// (`None` for OPT itself, or without OPT).
pub fn mean_gaps(labels: &[String], rows: &[Row]) -> Vec<Option<f64>> {
    let Some(opt) = opt_column(labels) else {
        return vec![None; labels.len()];
    };
    (0..labels.len())
        .map(|c| {
            (c != opt && !rows.is_empty()).then(|| {
                rows.iter()
                    .map(|r| (r.ratios[opt] - r.ratios[c]) * 100.0)
                    .sum::<f64>()
                    / rows.len() as f64
            })
        })
        .collect()
}

/// The markdown report. `ceiling` and `byte_ceiling` are the infinite
/// cache's request and byte hit ratios.
pub fn markdown(
    labels: &[String],
    rows: &[Row],
    ceiling: f64,
    byte_ceiling: Option<f64>,
) -> String {
    let mut out = String::new();
    let unit = match rows.first().map(|r| r.capacity) {
        Some(Capacity::Bytes(_)) => "sizes in bytes: objects weigh their sizes",
        _ => "every object weighs 1 (sizes in entries)",
    };
    table(&mut out, labels, rows, |r| &r.ratios, ceiling);
    let _ = writeln!(
        out,
        "\nrequest hit ratio in %; {unit}; (−x.xx) is the gap to OPT in percentage points"
    );
    if let Some(byte_ceiling) = byte_ceiling
        && rows.iter().all(|r| r.byte_ratios.is_some())
    {
        out.push('\n');
        table(
            &mut out,
            labels,
            rows,
            |r| r.byte_ratios.as_deref().unwrap_or(&[]),
            byte_ceiling,
        );
        let _ = writeln!(
            out,
            "\nbyte hit ratio in % (bytes of the requests that hit over all bytes requested)"
        );
    }
    out
}

fn table<'a>(
    out: &mut String,
    labels: &[String],
    rows: &'a [Row],
    ratios: impl Fn(&'a Row) -> &'a [f64],
    ceiling: f64,
) {
    let opt = opt_column(labels);
    let _ = writeln!(out, "| size | {} | infinite |", labels.join(" | "));
    let _ = writeln!(out, "|---:|{}---:|", "---:|".repeat(labels.len()));
    for row in rows {
        let r = ratios(row);
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| match opt {
                Some(o) if o != c => format!("{:.2} (−{:.2})", v * 100.0, (r[o] - v) * 100.0),
                _ => format!("{:.2}", v * 100.0),
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} |",
            row.capacity,
            cells.join(" | "),
            ceiling * 100.0
        );
    }
}

/// The CSV report: one line per size, request hit ratios then (with sizes)
/// byte hit ratios, in %.
pub fn csv(labels: &[String], rows: &[Row], ceiling: f64) -> String {
    let mut out = String::new();
    let bytes = rows.iter().all(|r| r.byte_ratios.is_some());
    let mut header = format!("size,{},infinite", labels.join(","));
    if bytes {
        for l in labels {
            let _ = write!(header, ",{l} bytes");
        }
    }
    let _ = writeln!(out, "{header}");
    for row in rows {
        let mut cells: Vec<String> = row
            .ratios
            .iter()
            .map(|r| format!("{:.4}", r * 100.0))
            .collect();
        cells.push(format!("{:.4}", ceiling * 100.0));
        if let Some(b) = &row.byte_ratios {
            cells.extend(b.iter().map(|r| format!("{:.4}", r * 100.0)));
        }
        let _ = writeln!(out, "{},{}", row.size, cells.join(","));
    }
    out
}
