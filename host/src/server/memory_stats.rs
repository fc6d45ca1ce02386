//! `MEMORY STATS`, `MEMORY DOCTOR` and `MEMORY MALLOC-STATS`: Redis's
//! figures where Goldylox has the same thing (the allocator's view, the
//! resident set, clients' buffers, scripts, keys), its tiers' own beside
//! them, and a doctor that reads them. The peak is sampled every second
//! and at every report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::ServerState;
use super::figure::Value;

/// How often the peak is sampled between reports.
const PEAK_SAMPLE: Duration = Duration::from_secs(1);

/// The allocated bytes at start and the highest seen since.
#[derive(Debug, Default)]
pub(super) struct Peak {
    startup: AtomicU64,
    highest: AtomicU64,
}

impl Peak {
    /// Records `allocated` as the start's figure.
    pub(super) fn start(&self, allocated: u64) {
        self.startup.store(allocated, Ordering::Relaxed);
        self.highest.fetch_max(allocated, Ordering::Relaxed);
    }

    /// Takes `allocated` into the peak; the peak.
    fn sample(&self, allocated: u64) -> u64 {
        self.highest
            .fetch_max(allocated, Ordering::Relaxed)
            .max(allocated)
    }
}

/// Bytes the program holds: the allocator's count, or, without jemalloc,
/// what the tiers account for.
pub(super) fn allocated(shared: &ServerState) -> u64 {
    crate::allocator::stats().map_or_else(|| tier_bytes(shared).iter().sum(), |a| a.allocated)
}

/// Hot, warm, cold index and cold queue bytes in RAM.
fn tier_bytes(shared: &ServerState) -> [u64; 4] {
    let store = &shared.store;
    let warm = store.pool_stats().map_or(0, |p| p.held_bytes);
    let (index, queue) = store
        .cold_stats()
        .map_or((0, 0), |c| (c.index_bytes, c.queued_bytes));
    [store.weighted_size(), warm, index, queue]
}

/// Samples the peak every [`PEAK_SAMPLE`] until the server stops.
pub(super) async fn track_peak(
    shared: std::sync::Arc<ServerState>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(PEAK_SAMPLE);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                shared.peak.sample(allocated(&shared));
            }
            _ = stopped.changed() => return,
        }
    }
}

/// `MEMORY STATS`: (name, figure) in Redis's order, then Goldylox's tiers.
pub(super) fn stats(shared: &ServerState) -> Vec<(&'static str, Value)> {
    use Value::{Float, Int};
    let total = allocated(shared);
    let peak = shared.peak.sample(total);
    let startup = shared.peak.startup.load(Ordering::Relaxed).min(total);
    let [hot, warm, cold_index, cold_queue] = tier_bytes(shared);
    let dataset = hot + warm;
    let clients: u64 = shared
        .connections
        .all()
        .iter()
        .map(|c| c.mailbox.waiting_bytes() as u64)
        .sum();
    let scripts = shared.scripts.memory();
    let keys = shared.store.len() as u64;
    let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    let mut figures = vec![
        ("peak.allocated", Int(peak)),
        ("total.allocated", Int(total)),
        ("startup.allocated", Int(startup)),
        ("replication.backlog", Int(0)),
        ("clients.slaves", Int(0)),
        ("clients.normal", Int(clients)),
        ("cluster.links", Int(0)),
        ("aof.buffer", Int(0)),
        ("lua.caches", Int(scripts.eval_scripts_bytes as u64)),
        ("functions.caches", Int(scripts.functions_bytes as u64)),
        ("overhead.total", Int(total.saturating_sub(dataset))),
        ("keys.count", Int(keys)),
        (
            "keys.bytes-per-key",
            Int(total.saturating_sub(startup) / keys.max(1)),
        ),
        ("dataset.bytes", Int(dataset)),
        (
            "dataset.percentage",
            Float(100.0 * ratio(dataset, total.saturating_sub(startup))),
        ),
        ("peak.percentage", Float(100.0 * ratio(total, peak))),
    ];
    let rss = super::memory::resident_bytes();
    if let Some(a) = crate::allocator::stats() {
        figures.extend([
            ("allocator.allocated", Int(a.allocated)),
            ("allocator.active", Int(a.active)),
            ("allocator.resident", Int(a.resident)),
            (
                "allocator-fragmentation.ratio",
                Float(ratio(a.active, a.allocated)),
            ),
            (
                "allocator-fragmentation.bytes",
                Int(a.active.saturating_sub(a.allocated)),
            ),
            ("allocator-rss.ratio", Float(ratio(a.resident, a.active))),
            (
                "allocator-rss.bytes",
                Int(a.resident.saturating_sub(a.active)),
            ),
        ]);
        if let Some(rss) = rss {
            figures.push(("rss-overhead.ratio", Float(ratio(rss, a.resident))));
            figures.push(("rss-overhead.bytes", Int(rss.saturating_sub(a.resident))));
        }
    }
    if let Some(rss) = rss {
        figures.push(("fragmentation", Float(ratio(rss, total))));
        figures.push(("fragmentation.bytes", Int(rss.saturating_sub(total))));
    }
    figures.extend([
        ("hot.bytes", Int(hot)),
        ("warm.bytes", Int(warm)),
        ("cold.index.bytes", Int(cold_index)),
        ("cold.queue.bytes", Int(cold_queue)),
    ]);
    figures
}

/// `MEMORY DOCTOR`: what the figures say is wrong, one finding a line, or
/// that nothing is.
pub(super) fn doctor(shared: &ServerState) -> String {
    const MIB: u64 = 1 << 20;
    let figures = stats(shared);
    let int = |name: &str| match figures.iter().find(|(n, _)| *n == name) {
        Some((_, Value::Int(n))) => *n,
        _ => 0,
    };
    let float = |name: &str| match figures.iter().find(|(n, _)| *n == name) {
        Some((_, Value::Float(x))) => *x,
        _ => 0.0,
    };
    let mut findings = Vec::new();
    let (total, peak) = (int("total.allocated"), int("peak.allocated"));
    if peak > total + total / 2 && peak - total > 32 * MIB {
        findings.push(format!(
            "The peak ({}) is over 1.5 times what is allocated now ({}): a burst came and went; \
             the allocator may hold on to the pages it left (see rss-overhead).",
            super::human_bytes(peak),
            super::human_bytes(total)
        ));
    }
    if float("allocator-fragmentation.ratio") > 1.25
        && int("allocator-fragmentation.bytes") > 16 * MIB
    {
        findings.push(format!(
            "The allocator's pages are {:.2} times what they hold ({} in partly used pages): \
             many values of mixed sizes came and went.",
            float("allocator-fragmentation.ratio"),
            super::human_bytes(int("allocator-fragmentation.bytes"))
        ));
    }
    if float("rss-overhead.ratio") > 1.25 && int("rss-overhead.bytes") > 32 * MIB {
        findings.push(format!(
            "The process's resident set is {} above what the allocator holds: memory outside the \
             allocator (thread stacks, mapped cold segments, the WebAssembly runtime).",
            super::human_bytes(int("rss-overhead.bytes"))
        ));
    }
    if int("clients.normal") > 64 * MIB {
        findings.push(format!(
            "Clients hold {} of replies and messages they have not read: slow readers or \
             subscribers (see CLIENT LIST's omem).",
            super::human_bytes(int("clients.normal"))
        ));
    }
    if let Some(pool) = shared.store.pool_stats()
        && pool.held_bytes * 100 >= pool.max_bytes * 95
        && pool.max_bytes > 0
    {
        findings.push(
            "The warm tier is full: entries leaving the hot tier push others to the cold tier \
             (or out); a larger warm_bytes keeps more of them in RAM."
                .to_owned(),
        );
    }
    if int("cold.queue.bytes") > 64 * MIB {
        findings.push(format!(
            "{} wait for the cold tier's writer: the disk is slower than the demotions.",
            super::human_bytes(int("cold.queue.bytes"))
        ));
    }
    if findings.is_empty() {
        return format!(
            "No memory problem found: {} allocated (peak {}), {} of it the tiers' data.",
            super::human_bytes(total),
            super::human_bytes(peak),
            super::human_bytes(int("dataset.bytes"))
        );
    }
    findings.join("\n")
}

/// `MEMORY MALLOC-STATS`: the allocator's own figures.
pub(super) fn malloc_stats() -> String {
    match crate::allocator::stats() {
        Some(a) => format!(
            "{}: allocated {} active {} resident {}",
            a.name, a.allocated, a.active, a.resident
        ),
        None => "Stats not supported for the current allocator".to_owned(),
    }
}
