//! The bench's outputs: a table, one CSV row per run (appended, so a
//! script collects a comparison), and the per-second series that
//! `bench chart` draws.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Run, Sample};

/// The CSV's columns.
const CSV_HEADER: &str = "label,trace,payload,connections,pipeline,requests,hit_ratio,byte_hit_ratio,requests_per_s,p50_us,p99_us,p999_us,peak_rss_bytes,peak_used_memory_bytes,wrong_values,refused_sets";

/// What a table row and a CSV row say of a run.
struct Figures {
    hit_ratio: f64,
    byte_hit_ratio: f64,
    per_second: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    peak_rss: u64,
    peak_used: u64,
}

fn figures(run: &Run) -> Figures {
    let c = &run.outcome.counts;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let us = |q: f64| c.latency.quantile(q) as f64 / 1000.0;
    let samples = &run.outcome.samples;
    Figures {
        hit_ratio: ratio(c.hits, c.requests),
        byte_hit_ratio: ratio(c.hit_bytes, c.bytes),
        per_second: c.requests as f64 / run.outcome.elapsed.as_secs_f64().max(1e-9),
        p50: us(0.5),
        p99: us(0.99),
        p999: us(0.999),
        peak_rss: samples.iter().map(|s| s.rss).max().unwrap_or(0),
        peak_used: samples.iter().map(|s| s.used_memory).max().unwrap_or(0),
    }
}

/// The runs as a table.
pub(super) fn table(runs: &[Run]) -> String {
    let mut out = format!(
        "{:<24} {:>10} {:>7} {:>9} {:>10} {:>8} {:>8} {:>8} {:>10} {:>10} {:>6} {:>8}\n",
        "server",
        "requests",
        "hit %",
        "byte-hit%",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "peak RSS",
        "used_mem",
        "wrong",
        "refused"
    );
    for run in runs {
        let f = figures(run);
        let _ = writeln!(
            out,
            "{:<24} {:>10} {:>7.2} {:>9.2} {:>10.0} {:>8.3} {:>8.3} {:>8.3} {:>10} {:>10} {:>6} {:>8}",
            run.label,
            run.outcome.counts.requests,
            f.hit_ratio * 100.0,
            f.byte_hit_ratio * 100.0,
            f.per_second,
            f.p50 / 1000.0,
            f.p99 / 1000.0,
            f.p999 / 1000.0,
            mib(f.peak_rss),
            mib(f.peak_used),
            run.outcome.counts.wrong,
            run.outcome.counts.refused
        );
        if let Some(refusal) = &run.outcome.counts.refusal {
            let _ = writeln!(out, "  (first refused SET: {refusal})");
        }
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Appends `run` to the CSV at `path`, writing the header first if the
/// file is new or empty.
pub(super) fn append_csv(path: &Path, run: &Run) -> Result<()> {
    let fresh = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let f = figures(run);
    let mut line = String::new();
    if fresh {
        line.push_str(CSV_HEADER);
        line.push('\n');
    }
    let _ = writeln!(
        line,
        "{},{},{:?},{},{},{},{:.6},{:.6},{:.1},{:.1},{:.1},{:.1},{},{},{},{}",
        run.label.replace(',', ";"),
        run.trace.replace(',', ";"),
        run.payload,
        run.connections,
        run.pipeline,
        run.outcome.counts.requests,
        f.hit_ratio,
        f.byte_hit_ratio,
        f.per_second,
        f.p50,
        f.p99,
        f.p999,
        f.peak_rss,
        f.peak_used,
        run.outcome.counts.wrong,
        run.outcome.counts.refused
    );
    file.write_all(line.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The series CSV's columns.
const SERIES_HEADER: &str = "label,seconds,requests,hit_ratio,rss_bytes,used_memory_bytes";

/// Writes `run`'s samples to `path`.
pub(super) fn write_series(path: &Path, run: &Run) -> Result<()> {
    let mut text = format!("{SERIES_HEADER}\n");
    for s in &run.outcome.samples {
        let _ = writeln!(
            text,
            "{},{:.3},{},{:.6},{},{}",
            run.label.replace(',', ";"),
            s.seconds,
            s.requests,
            s.hit_ratio,
            s.rss,
            s.used_memory
        );
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Reads a series file back: its label and samples.
pub(super) fn read_series(path: &Path) -> Result<(String, Vec<Sample>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some(SERIES_HEADER) {
        bail!("{} is not a `bench run --series` file", path.display());
    }
    let mut label = String::new();
    let mut samples = Vec::new();
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let bad = || format!("{} line {}: {line:?}", path.display(), n + 2);
        let [name, seconds, requests, hit_ratio, rss, used] = fields[..] else {
            bail!("{}", bad());
        };
        label = name.to_owned();
        samples.push(Sample {
            seconds: seconds.parse().with_context(bad)?,
            requests: requests.parse().with_context(bad)?,
            hit_ratio: hit_ratio.parse().with_context(bad)?,
            rss: rss.parse().with_context(bad)?,
            used_memory: used.parse().with_context(bad)?,
        });
    }
    Ok((label, samples))
}
