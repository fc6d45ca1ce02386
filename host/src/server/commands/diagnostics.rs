//! The operator's diagnostics, with Redis's replies: `SLOWLOG
//! GET|LEN|RESET|HELP` (an entry is `[id, unix time, microseconds,
//! [args…], peer, name]`, newest first) and `LATENCY
//! LATEST|HISTORY|RESET|HISTOGRAM|GRAPH|DOCTOR|HELP`.

use super::keys::help;
use std::time::{SystemTime, UNIX_EPOCH};

use super::table::{ADMIN, FAST, NONE, READONLY, Spec, spec};
use super::{Ctx, lower, parse_i64};
use crate::server::latency::{LatencyMonitor, Sample};
use crate::server::resp::reply;

/// Entries `SLOWLOG GET` answers without a count, as Redis.
const GET_DEFAULT: usize = 10;

/// The diagnostics' commands.
pub(super) static SPECS: &[Spec] = &[
    spec("latency", -2, ADMIN, NONE, latency),
    spec("lolwut", -1, READONLY | FAST, NONE, lolwut),
    spec("slowlog", -2, ADMIN, NONE, slowlog),
];

/// `LOLWUT [VERSION v] [columns] [squares per row] [rows]`: Goldylox's
/// own drawing (`server/lolwut.rs`) for any version, then the version, as
/// verbatim text.
fn lolwut(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let mut rest = &args[1..];
    if rest
        .first()
        .is_some_and(|a| a.eq_ignore_ascii_case(b"version"))
    {
        match rest.get(1).map(|v| parse_i64(v)) {
            Some(Some(_)) => rest = &rest[2..],
            Some(None) => {
                return reply::error(c.out, "ERR value is not an integer or out of range");
            }
            None => return super::syntax_error(c.out),
        }
    }
    let mut numbers = Vec::with_capacity(rest.len());
    for arg in rest {
        match parse_i64(arg) {
            Some(n) => numbers.push(n),
            None => return reply::error(c.out, "ERR value is not an integer or out of range"),
        }
    }
    let art = crate::server::lolwut::Art::with(&numbers);
    reply::verbatim(c.out, &art.render(crate::server::REDIS_VERSION));
}

/// `SLOWLOG HELP`.
const SLOWLOG_HELP: [&str; 10] = [
    "SLOWLOG <subcommand> [<arg> ...]. Subcommands are:",
    "GET [<count>]",
    "    The newest <count> entries (10 by default, -1 for all): id, unix time,",
    "    microseconds, arguments, client address, client name.",
    "LEN",
    "    How many entries the log holds.",
    "RESET",
    "    Empty the log.",
    "HELP",
    "    This text.",
];

/// `SLOWLOG GET [count]`, `LEN`, `RESET`, `HELP`.
fn slowlog(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let log = c.server.slowlog();
    match (lower(&args[1]).as_str(), args.len()) {
        ("get", 2 | 3) => {
            let count = match args.get(2).map(|a| parse_i64(a)) {
                None => Some(GET_DEFAULT),
                Some(Some(-1)) => None,
                Some(Some(n)) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                Some(Some(_)) => {
                    return reply::error(c.out, "ERR count should be greater than or equal to -1");
                }
                Some(None) => return super::not_integer(c.out),
            };
            let entries = log.newest(count);
            reply::array(c.out, entries.len());
            for e in entries {
                reply::array(c.out, 6);
                reply::int(c.out, e.id as i64);
                reply::int(c.out, e.at_unix_s as i64);
                reply::int(c.out, e.micros as i64);
                reply::array(c.out, e.args.len());
                for arg in &e.args {
                    reply::bulk(c.out, arg);
                }
                reply::bulk(c.out, e.peer.as_bytes());
                reply::bulk(c.out, &e.name);
            }
        }
        ("len", 2) => reply::int(c.out, log.len() as i64),
        ("reset", 2) => {
            log.reset();
            reply::ok(c.out);
        }
        ("help", 2) => help(c.out, &SLOWLOG_HELP),
        _ => reply::error(
            c.out,
            &format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

/// Columns of `LATENCY GRAPH`: the newest samples, one each.
const GRAPH_COLUMNS: usize = 80;
/// Rows of `LATENCY GRAPH`.
const GRAPH_ROWS: usize = 8;

/// `LATENCY HELP`.
const LATENCY_HELP: [&str; 15] = [
    "LATENCY <subcommand> [<arg> ...]. Subcommands are:",
    "LATEST",
    "    Each event's latest sample and its largest: event, unix time, ms, max ms.",
    "HISTORY <event>",
    "    The event's samples (unix time, ms), oldest first: 160 at most.",
    "RESET [<event> ...]",
    "    Forget the samples of the events named, or of every event.",
    "GRAPH <event>",
    "    The event's samples as an ASCII graph.",
    "DOCTOR",
    "    A report in words: each event's samples, and what usually causes it.",
    "HISTOGRAM [<command> ...]",
    "    Each command's calls and their latency in power-of-two microsecond buckets.",
    "HELP",
    "    This text.",
];

/// `LATENCY LATEST|HISTORY|RESET|HISTOGRAM|GRAPH|DOCTOR|HELP`.
fn latency(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let monitor = c.server.latency();
    let names = || -> Vec<String> {
        args[2..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .collect()
    };
    match (lower(&args[1]).as_str(), args.len()) {
        ("latest", 2) => {
            let latest = monitor.latest();
            reply::array(c.out, latest.len());
            for l in latest {
                reply::array(c.out, 4);
                reply::bulk(c.out, l.event.as_bytes());
                reply::int(c.out, l.latest.at_unix_s as i64);
                reply::int(c.out, l.latest.ms as i64);
                reply::int(c.out, l.max_ms as i64);
            }
        }
        ("history", 3) => {
            let history = monitor.history(&lower(&args[2]));
            reply::array(c.out, history.len());
            for s in history {
                reply::array(c.out, 2);
                reply::int(c.out, s.at_unix_s as i64);
                reply::int(c.out, s.ms as i64);
            }
        }
        ("reset", _) => reply::int(c.out, monitor.reset(&names()) as i64),
        ("histogram", _) => histogram(c, monitor, &names()),
        ("graph", 3) => {
            let event = lower(&args[2]);
            let history = monitor.history(&event);
            if history.is_empty() {
                return reply::error(
                    c.out,
                    &format!("ERR No samples available for event '{event}'"),
                );
            }
            let max = monitor
                .latest()
                .into_iter()
                .find(|l| l.event == event)
                .map_or(0, |l| l.max_ms);
            reply::bulk(c.out, graph(&event, &history, max).as_bytes());
        }
        ("doctor", 2) => reply::bulk(c.out, doctor(monitor).as_bytes()),
        ("help", 2) => help(c.out, &LATENCY_HELP),
        ("help" | "latest" | "doctor", _) => {
            super::arity_error(c.out, &format!("latency|{}", lower(&args[1])))
        }
        _ => reply::error(
            c.out,
            &format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try LATENCY HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

/// `LATENCY HISTOGRAM [command …]`: for each command (or subcommand) that
/// ran, `{calls, histogram_usec: {bucket: calls up to it}}`.
fn histogram(c: &mut Ctx<'_>, monitor: &LatencyMonitor, names: &[String]) {
    let histograms = monitor.histograms(names);
    reply::map(c.out, histograms.len());
    for h in histograms {
        reply::bulk(c.out, h.name.as_bytes());
        reply::map(c.out, 2);
        reply::bulk(c.out, b"calls");
        reply::int(c.out, h.calls as i64);
        reply::bulk(c.out, b"histogram_usec");
        reply::map(c.out, h.cumulative.len());
        for (bucket, count) in h.cumulative {
            reply::int(c.out, bucket as i64);
            reply::int(c.out, count as i64);
        }
    }
}

/// An ASCII graph of `history`, newest on the right: one column per
/// sample, `#` up to its share of the largest shown.
fn graph(event: &str, history: &[Sample], all_time_max: u64) -> String {
    let shown = &history[history.len().saturating_sub(GRAPH_COLUMNS)..];
    let high = shown.iter().map(|s| s.ms).max().unwrap_or(0).max(1);
    let low = shown.iter().map(|s| s.ms).min().unwrap_or(0);
    let mut text =
        format!("{event} - high {high} ms, low {low} ms (all time high {all_time_max} ms)\n");
    text.push_str(&"-".repeat(shown.len()));
    text.push('\n');
    for row in (1..=GRAPH_ROWS as u64).rev() {
        let line: String = shown
            .iter()
            .map(|s| {
                if s.ms * GRAPH_ROWS as u64 >= row * high {
                    '#'
                } else {
                    ' '
                }
            })
            .collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let age = |s: &Sample| now.saturating_sub(s.at_unix_s);
    text.push_str(&format!(
        "oldest sample {} s ago, newest {} s ago\n",
        age(&shown[0]),
        age(&shown[shown.len() - 1])
    ));
    text
}

/// `LATENCY DOCTOR`: each event's samples in words, with what usually
/// causes it and what to try.
fn doctor(monitor: &LatencyMonitor) -> String {
    let latest = monitor.latest();
    if latest.is_empty() {
        return "No latency event has been sampled: either nothing took as long as \
                latency-monitor-threshold, or the monitor is off (threshold 0). \
                CONFIG SET latency-monitor-threshold <ms> turns it on.\n"
            .to_owned();
    }
    let mut text = String::from("Latency events sampled since the last reset:\n\n");
    for (i, l) in latest.iter().enumerate() {
        let history = monitor.history(&l.event);
        let sum: u64 = history.iter().map(|s| s.ms).sum();
        text.push_str(&format!(
            "{}. {}: {} samples, average {} ms, latest {} ms, largest {} ms.\n   {}\n",
            i + 1,
            l.event,
            history.len(),
            sum / history.len().max(1) as u64,
            l.latest.ms,
            l.max_ms,
            advice(&l.event)
        ));
    }
    text
}

/// What an event usually means, and what to try.
fn advice(event: &str) -> &'static str {
    match event {
        "command" => {
            "Slow commands: SLOWLOG GET names them. Commands over large collections \
             (SMEMBERS, LRANGE 0 -1, KEYS, SORT) and long scripts are the usual cause."
        }
        "fast-command" => {
            "Commands that should be quick were slow: the machine may be short of CPU \
             (another process, a busy neighbour), or the server of memory."
        }
        "expire-cycle" => {
            "Expiring keys took long: large collections expiring at once are freed in \
             one pass. Spread their deadlines, or empty big collections in steps \
             (SSCAN and SREM, HSCAN and HDEL, …) before they expire."
        }
        "eviction-cycle" => {
            "Eviction took long: the cache was well over its budget, usually after a \
             burst of writes; a larger memory_bytes or a warm tier absorbs bursts."
        }
        "maintenance-pass" => {
            "A whole maintenance pass took long: see the expire and eviction events; \
             a policy component that is slow per event shows here too (GOLDYLOX POLICY STATUS)."
        }
        "policy-swap" => {
            "Switching to a swapped-in policy paused maintenance while it caught up; \
             swaps under heavy writes catch up more."
        }
        "cold-fsync" => {
            "The cold tier's fsync was slow: the disk is slow or busy. With sync = \"always\" \
             every durable write waits for it; sync = \"every <ms>\" batches more writes \
             per fsync, and a faster disk (or another one than the system's) helps most."
        }
        "cold-compaction" => {
            "Rewriting a cold segment's live records took long: large segments with much \
             live data are the usual cause. A smaller segment_bytes makes each compaction \
             shorter; a higher compact_at makes them rarer."
        }
        _ => "No advice for this event.",
    }
}
