//! The latency monitor (`LATENCY`), as Redis keeps it: with
//! `latency_monitor_threshold_ms` above 0, every event that takes at least
//! that long is sampled — `command` and `fast-command` (a command, by its
//! flags), and the engine's own (`expire-cycle`, `eviction-cycle`,
//! `maintenance-pass`, `policy-swap`, `cold-fsync`, `cold-compaction`) —
//! keeping for each the latest 160
//! samples (one per second: the largest) and the largest ever. And every
//! command's latency histogram (`LATENCY HISTOGRAM`), in power-of-two
//! microsecond buckets, one atomic add per command.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Samples kept per event, as Redis keeps.
pub const SAMPLES_MAX: usize = 160;
/// Histogram buckets: bucket `i` counts latencies up to 2^i µs (the last
/// one, everything longer).
const BUCKETS: usize = 40;
/// Most subcommands (`config|get`, …) given a histogram of their own: a
/// client sending made-up subcommands cannot grow the table without end.
const SUBCOMMANDS_MAX: usize = 512;
/// One sample: when (Unix seconds) and how long (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Unix time, in seconds.
    pub at_unix_s: u64,
    /// Milliseconds.
    pub ms: u64,
}

/// An event's samples and its largest since the last reset.
#[derive(Debug, Default)]
struct Series {
    samples: VecDeque<Sample>,
    max_ms: u64,
}

/// An event's latest sample and largest, as `LATENCY LATEST` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// The event's name.
    pub event: String,
    /// Its latest sample.
    pub latest: Sample,
    /// Its largest sample since the last reset.
    pub max_ms: u64,
}

/// One command's histogram as `LATENCY HISTOGRAM` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLatency {
    /// The command's name, or `command|subcommand`.
    pub name: String,
    /// Its calls.
    pub calls: u64,
    /// `(bucket's upper bound in µs, calls up to it)`, for each bucket
    /// that adds calls.
    pub cumulative: Vec<(u64, u64)>,
}

/// A command's latency histogram.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Histogram {
    fn record(&self, micros: u64) {
        let bucket = if micros <= 1 {
            0
        } else {
            (64 - (micros - 1).leading_zeros() as usize).min(BUCKETS - 1)
        };
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls recorded.
    pub fn calls(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// `(bucket's upper bound in µs, calls up to it)` for each bucket that
    /// adds calls, as Redis reports its cumulative distribution.
    pub fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut total = 0;
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            if n > 0 {
                total += n;
                out.push((1u64 << i, total));
            }
        }
        out
    }

    fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// The events' samples and the commands' histograms.
#[derive(Debug)]
pub struct LatencyMonitor {
    threshold_ms: AtomicU64,
    events: Mutex<BTreeMap<String, Series>>,
    names: Vec<&'static str>,
    /// Whether each command is a container (histograms per subcommand).
    containers: Vec<bool>,
    commands: Box<[Histogram]>,
    subcommands: Mutex<HashMap<String, Histogram>>,
}

impl LatencyMonitor {
    /// A monitor for the commands `names`, in the command table's order
    /// (a command is named by its position in it; those `is_container`
    /// says are containers keep a histogram per subcommand), sampling
    /// nothing yet.
    pub fn new(names: Vec<&'static str>, is_container: impl Fn(&str) -> bool) -> Self {
        LatencyMonitor {
            threshold_ms: AtomicU64::new(0),
            events: Mutex::new(BTreeMap::new()),
            commands: names.iter().map(|_| Histogram::default()).collect(),
            containers: names.iter().map(|n| is_container(n)).collect(),
            names,
            subcommands: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the threshold (0: events are not sampled).
    pub fn configure(&self, threshold_ms: u64) {
        self.threshold_ms.store(threshold_ms, Ordering::Relaxed);
    }

    /// Samples `event` if it took at least the threshold.
    pub fn offer(&self, event: &str, ms: u64) {
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        if threshold == 0 || ms < threshold {
            return;
        }
        let at_unix_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut events = self.lock_events();
        let series = events.entry(event.to_owned()).or_default();
        series.max_ms = series.max_ms.max(ms);
        match series.samples.back_mut() {
            Some(last) if last.at_unix_s == at_unix_s => last.ms = last.ms.max(ms),
            _ => {
                if series.samples.len() == SAMPLES_MAX {
                    series.samples.pop_front();
                }
                series.samples.push_back(Sample { at_unix_s, ms });
            }
        }
    }

    /// Records the command at `index` of the table, which ran `micros`, in
    /// its histogram (`args`: the request, whose subcommand names a
    /// container command's histogram), and samples it as `fast-command`
    /// (a command flagged fast) or `command`.
    pub fn command(&self, index: usize, fast: bool, args: &[Vec<u8>], micros: u64) {
        if self.containers[index] && args.len() > 1 {
            let command = self.names[index];
            let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
            let name = format!("{command}|{sub}");
            let mut subs = self.subcommands.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(h) = subs.get(&name) {
                h.record(micros);
            } else if subs.len() < SUBCOMMANDS_MAX {
                let h = Histogram::default();
                h.record(micros);
                subs.insert(name, h);
            }
        } else {
            self.commands[index].record(micros);
        }
        let event = if fast { "fast-command" } else { "command" };
        self.offer(event, micros / 1000);
    }

    /// The histograms `LATENCY HISTOGRAM names…` reports, by name: every
    /// command that ran when `names` is empty; else each named command
    /// (a container: each of its subcommands) or `command|subcommand`.
    pub fn histograms(&self, names: &[String]) -> Vec<CommandLatency> {
        let subs = self.subcommands.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: BTreeMap<String, &Histogram> = BTreeMap::new();
        for (name, h) in self.names.iter().zip(self.commands.iter()) {
            all.insert((*name).to_owned(), h);
        }
        for (name, h) in subs.iter() {
            all.insert(name.clone(), h);
        }
        all.into_iter()
            .filter(|(name, _)| {
                names.is_empty()
                    || names.iter().any(|n| {
                        n == name || name.split_once('|').is_some_and(|(parent, _)| parent == n)
                    })
            })
            .map(|(name, h)| CommandLatency {
                name,
                calls: h.calls(),
                cumulative: h.cumulative(),
            })
            .filter(|l| l.calls > 0)
            .collect()
    }

    /// Forgets every command's histogram (`CONFIG RESETSTAT`).
    pub fn reset_histograms(&self) {
        self.commands.iter().for_each(Histogram::reset);
        self.subcommands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Each event's latest sample and largest, by name.
    pub fn latest(&self) -> Vec<Latest> {
        self.lock_events()
            .iter()
            .filter_map(|(event, s)| {
                s.samples.back().map(|&latest| Latest {
                    event: event.clone(),
                    latest,
                    max_ms: s.max_ms,
                })
            })
            .collect()
    }

    /// `event`'s samples, oldest first (none for an unknown event).
    pub fn history(&self, event: &str) -> Vec<Sample> {
        self.lock_events()
            .get(event)
            .map(|s| s.samples.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Forgets the named events (every one when `events` is empty): how
    /// many had samples.
    pub fn reset(&self, events: &[String]) -> usize {
        let mut all = self.lock_events();
        if events.is_empty() {
            let n = all.len();
            all.clear();
            return n;
        }
        events
            .iter()
            .filter(|e| all.remove(e.as_str()).is_some())
            .count()
    }

    fn lock_events(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Series>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_powers_of_two_and_cumulative() {
        let h = Histogram::default();
        for micros in [0, 1, 2, 3, 4, 5, 1000] {
            h.record(micros);
        }
        assert_eq!(h.calls(), 7);
        assert_eq!(
            h.cumulative(),
            vec![(1, 2), (2, 3), (4, 5), (8, 6), (1024, 7)]
        );
        h.record(u64::MAX);
        assert_eq!(h.calls(), 8);
    }

    #[test]
    fn events_are_sampled_over_the_threshold_one_per_second() {
        let monitor = LatencyMonitor::new(vec!["get"], |_| false);
        monitor.offer("command", 500);
        assert!(monitor.latest().is_empty(), "off at threshold 0");
        monitor.configure(100);
        monitor.offer("command", 99);
        assert!(monitor.latest().is_empty(), "under the threshold");
        monitor.offer("command", 150);
        monitor.offer("command", 300);
        monitor.offer("command", 200);
        let history = monitor.history("command");
        // Within one second the largest is kept (two if the second turned).
        assert!(history.len() <= 2, "{history:?}");
        assert!(history.iter().any(|s| s.ms == 300));
        let latest = monitor.latest();
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].max_ms, 300);
        assert!(monitor.history("nosuch").is_empty());
        assert_eq!(monitor.reset(&["nosuch".to_owned()]), 0);
        assert_eq!(monitor.reset(&[]), 1);
        assert!(monitor.latest().is_empty());
    }

    #[test]
    fn the_history_keeps_the_newest_samples() {
        let monitor = LatencyMonitor::new(vec!["get"], |_| false);
        monitor.configure(1);
        let mut events = monitor.lock_events();
        let series = events.entry("command".to_owned()).or_default();
        for at in 0..SAMPLES_MAX as u64 {
            series.samples.push_back(Sample {
                at_unix_s: at,
                ms: 5,
            });
        }
        drop(events);
        monitor.offer("command", 7);
        let history = monitor.history("command");
        assert_eq!(history.len(), SAMPLES_MAX);
        assert_eq!(history[0].at_unix_s, 1, "the oldest went");
        assert_eq!(history.last().unwrap().ms, 7);
    }
}
