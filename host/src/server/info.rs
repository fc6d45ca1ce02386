//! `INFO` and the Prometheus endpoint: the figures the server reports, in
//! one list so the two always agree, grouped in Redis's sections (and ours:
//! tiers, pools, policies, persistence).

use std::sync::atomic::Ordering;

use goldylox::{CacheStats, PolicyTier};

use super::ServerState;
use super::config::Config;

/// One reported figure.
pub(super) struct Figure {
    /// The INFO section (lower case).
    pub(super) section: &'static str,
    pub(super) name: String,
    pub(super) value: Value,
}

/// A figure's value: numbers are also exported to Prometheus.
pub(super) enum Value {
    Int(u64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x:.4}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// The INFO sections, in order, and whether `INFO` / `INFO default`
/// shows each (`all` and `everything` show every one).
pub(super) const SECTIONS: [(&str, bool); 13] = [
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("tiers", true),
    ("pools", true),
    ("policies", true),
    ("persistence", true),
    ("commandstats", false),
    ("keyspace", true),
    ("cluster", true),
];

/// Every figure the server reports, section by section.
pub(super) fn figures(shared: &ServerState) -> Vec<Figure> {
    let config = shared.config();
    let stats = shared.store.stats();
    let mut out = Vec::new();
    let mut add = |section: &'static str, name: &str, value: Value| {
        out.push(Figure {
            section,
            name: name.to_owned(),
            value,
        })
    };
    server_figures(shared, &config, &mut add);
    client_figures(shared, &config, &mut add);
    memory_figures(shared, &mut add);
    redis_sections(shared, &mut add);
    // The policy that runs now (after any swap), not the configured name.
    let running = shared
        .store
        .policy_status(PolicyTier::Hot)
        .map_or_else(|| config.cache.policy.clone(), |s| s.name);
    add("memory", "maxmemory_policy", Value::Text(running));
    stat_figures(shared, &stats, &mut add);
    tier_figures(&stats, &mut add);
    pool_figures(shared, &mut add);
    cold_figures(shared, &stats, &mut add);
    policy_figures(shared, &stats, &mut add);
    add(
        "keyspace",
        "db0",
        Value::Text(format!("keys={},expires=0,avg_ttl=0", shared.store.len())),
    );
    out
}

/// The server section.
fn server_figures(
    shared: &ServerState,
    config: &Config,
    add: &mut impl FnMut(&'static str, &str, Value),
) {
    use Value::{Int, Text};
    add(
        "server",
        "goldylox_version",
        Text(env!("CARGO_PKG_VERSION").to_owned()),
    );
    add("server", "redis_version", Text("7.0.15".to_owned()));
    let mode = if config.cluster_map().is_some() {
        "cluster"
    } else {
        "standalone"
    };
    add("server", "redis_mode", Text(mode.to_owned()));
    add(
        "server",
        "tcp_port",
        Int(u64::from(config.server.listen.port())),
    );
    add(
        "server",
        "uptime_in_seconds",
        Int(shared.started.elapsed().as_secs()),
    );
    add(
        "server",
        "config_file",
        Text(
            shared
                .config_path
                .as_ref()
                .map_or_else(|| "(embedded)".to_owned(), |p| p.display().to_string()),
        ),
    );
}

/// The clients section.
fn client_figures(
    shared: &ServerState,
    config: &Config,
    add: &mut impl FnMut(&'static str, &str, Value),
) {
    use Value::Int;
    add(
        "clients",
        "connected_clients",
        Int(shared.clients.load(Ordering::Relaxed) as u64),
    );
    add(
        "clients",
        "maxclients",
        Int(config.server.maxclients as u64),
    );
}

/// The stats section: connections, commands, hits and misses over every tier.
fn stat_figures(
    shared: &ServerState,
    stats: &CacheStats,
    add: &mut impl FnMut(&'static str, &str, Value),
) {
    use Value::Int;
    add(
        "stats",
        "total_connections_received",
        Int(shared.connections_total.load(Ordering::Relaxed)),
    );
    add(
        "stats",
        "rejected_connections",
        Int(shared.rejected_connections.load(Ordering::Relaxed)),
    );
    add(
        "stats",
        "total_commands_processed",
        Int(shared.commands_total.load(Ordering::Relaxed)),
    );
    add(
        "stats",
        "protocol_errors",
        Int(shared.protocol_errors.load(Ordering::Relaxed)),
    );
    let hits = stats.hot.hits + stats.warm.hits + stats.cold.hits;
    let misses = stats
        .hot
        .misses
        .saturating_sub(stats.warm.hits + stats.cold.hits);
    add("stats", "keyspace_hits", Int(hits));
    add("stats", "keyspace_misses", Int(misses));
    add("stats", "evicted_keys", Int(stats.removals.evicted));
    add("stats", "expired_keys", Int(stats.removals.expired));
    // Writes that stalled: on a full write buffer (maintenance behind on
    // events), or over the memory bound (maintenance behind on eviction);
    // and writes that awaited a maintenance pass first, under write
    // pressure, without blocking their worker.
    add("stats", "write_backpressure", Int(stats.write_backpressure));
    add("stats", "capacity_waits", Int(stats.capacity_waits));
    add("stats", "room_waits", Int(stats.room_waits));
}

/// The tiers section: each memory tier's entries, hits, and movement between them.
fn tier_figures(stats: &CacheStats, add: &mut impl FnMut(&'static str, &str, Value)) {
    use Value::{Float, Int};
    add("tiers", "hot_entries", Int(stats.entries));
    add("tiers", "hot_hits", Int(stats.hot.hits));
    add("tiers", "hot_misses", Int(stats.hot.misses));
    add("tiers", "hot_hit_ratio", Float(stats.hot.hit_ratio()));
    add("tiers", "warm_entries", Int(stats.warm_entries));
    add("tiers", "warm_hits", Int(stats.warm.hits));
    add("tiers", "warm_misses", Int(stats.warm.misses));
    add("tiers", "promotions", Int(stats.movement.promotions));
    add("tiers", "demotions", Int(stats.movement.demotions));
    add(
        "tiers",
        "demotions_dropped",
        Int(stats.movement.demotions_dropped),
    );
    add("tiers", "prefetch_promoted", Int(stats.prefetch.promoted));
}

/// The pools section: the warm tier's slab pools.
fn pool_figures(shared: &ServerState, add: &mut impl FnMut(&'static str, &str, Value)) {
    use Value::{Int, Text};
    if let Some(pools) = shared.store.pool_stats() {
        add("pools", "pool_bytes_max", Int(pools.max_bytes));
        add("pools", "pool_bytes_held", Int(pools.held_bytes));
        add("pools", "pool_bytes_live", Int(pools.live_bytes()));
        add("pools", "pool_defrag_runs", Int(pools.defrag_runs));
        add("pools", "pool_items_moved", Int(pools.moved));
        add("pools", "pool_bytes_reclaimed", Int(pools.bytes_reclaimed));
        add("pools", "pool_rebalances", Int(pools.rebalances));
    } else {
        add("pools", "warm_tier", Text("absent".to_owned()));
    }
}

/// The persistence section: the cold tier, its breaker, and the write policy.
fn cold_figures(
    shared: &ServerState,
    stats: &CacheStats,
    add: &mut impl FnMut(&'static str, &str, Value),
) {
    use Value::{Int, Text};
    if let Some(cold) = shared.store.cold_stats() {
        add("persistence", "cold_entries", Int(cold.entries));
        add("persistence", "cold_hits", Int(stats.cold.hits));
        add("persistence", "cold_misses", Int(stats.cold.misses));
        add(
            "persistence",
            "cold_promotions",
            Int(stats.cold_movement.promotions),
        );
        add(
            "persistence",
            "cold_demotions",
            Int(stats.cold_movement.demotions),
        );
        add(
            "persistence",
            "cold_bypassed",
            Int(stats.cold_movement.bypassed),
        );
        add("persistence", "cold_segments", Int(cold.segments));
        add("persistence", "cold_disk_bytes", Int(cold.disk_bytes));
        add("persistence", "cold_live_bytes", Int(cold.live_bytes));
        add("persistence", "cold_index_bytes", Int(cold.index_bytes));
        add("persistence", "cold_queued_bytes", Int(cold.queued_bytes));
        add("persistence", "cold_syncs", Int(cold.syncs));
        add("persistence", "cold_io_errors", Int(cold.io_errors));
        add("persistence", "cold_corrupt_reads", Int(cold.corrupt_reads));
        add(
            "persistence",
            "cold_poisoned_segments",
            Int(cold.poisoned_segments),
        );
        add(
            "persistence",
            "cold_quarantined_segments",
            Int(cold.quarantined_segments),
        );
        add("persistence", "cold_compactions", Int(cold.compactions));
        add(
            "persistence",
            "cold_compacted_bytes",
            Int(cold.compacted_bytes),
        );
        add(
            "persistence",
            "cold_evicted_segments",
            Int(cold.evicted_segments),
        );
        add("persistence", "cold_snapshots", Int(cold.snapshots));
        breaker_figures(shared, add);
    } else {
        add("persistence", "cold_tier", Text("absent".to_owned()));
    }
    add(
        "persistence",
        "write_policy",
        Text(format!("{:?}", shared.store.write_policy()).to_ascii_lowercase()),
    );
}

/// The cold tier's breaker: its state, why it last opened, its probes.
fn breaker_figures(shared: &ServerState, add: &mut impl FnMut(&'static str, &str, Value)) {
    use Value::{Int, Text};
    if let Some((breaker, health)) = shared.store.cold_health() {
        add(
            "persistence",
            "cold_breaker",
            Text(format!("{breaker:?}").to_ascii_lowercase()),
        );
        add("persistence", "cold_breaker_opened", Int(health.opened));
        // Why the tier last failed, on one line.
        let why = shared.store.cold_last_error().unwrap_or_default();
        add(
            "persistence",
            "cold_last_error",
            Text(why.replace(['\r', '\n'], " ")),
        );
        add("persistence", "cold_breaker_probes", Int(health.probes));
        add(
            "persistence",
            "cold_failover_failures",
            Int(health.policy_failures),
        );
    }
}

/// The policies section: each tier's policy, its failures and swaps, and the sandbox's instances.
fn policy_figures(
    shared: &ServerState,
    stats: &CacheStats,
    add: &mut impl FnMut(&'static str, &str, Value),
) {
    use Value::{Int, Text};
    for tier in [PolicyTier::Hot, PolicyTier::Warm] {
        let Some(status) = shared.store.policy_status(tier) else {
            continue;
        };
        let t = tier.to_string();
        add(
            "policies",
            &format!("{t}_policy"),
            Text(status.name.clone()),
        );
        add(
            "policies",
            &format!("{t}_policy_state"),
            Text(status.state.to_string()),
        );
        add(
            "policies",
            &format!("{t}_policy_failures"),
            Int(status.failures),
        );
        add(
            "policies",
            &format!("{t}_policy_rebuilds"),
            Int(status.rebuilds),
        );
        add("policies", &format!("{t}_policy_swaps"), Int(status.swaps));
        if let Some(auto) = &status.auto {
            auto_figures(add, &t, auto);
        }
    }
    add(
        "policies",
        "policy_instances_live",
        Int(shared.runtime.live_instances() as u64),
    );
    add("policies", "policy_batches", Int(stats.policy.batches));
    add("policies", "policy_events", Int(stats.policy.events));
    add(
        "policies",
        "policy_invalid_victims",
        Int(stats.policy.invalid_unknown
            + stats.policy.invalid_duplicate
            + stats.policy.invalid_excess),
    );
    add(
        "policies",
        "policy_fallback_evictions",
        Int(stats.policy.fallback_evictions),
    );
}

/// The memory section: what each tier holds in RAM and the total, the
/// process's resident set, the budgets.
fn memory_figures(shared: &ServerState, add: &mut impl FnMut(&'static str, &str, Value)) {
    use Value::{Float, Int, Text};
    let store = &shared.store;
    let hot = store.weighted_size();
    let (warm, warm_max) = store
        .pool_stats()
        .map_or((0, 0), |p| (p.held_bytes, p.max_bytes));
    // The cold tier's RAM: its index and the records queued for its writer.
    let (cold_index, cold_queue) = store
        .cold_stats()
        .map_or((0, 0), |c| (c.index_bytes, c.queued_bytes));
    let total = hot + warm + cold_index + cold_queue;
    add("memory", "used_memory", Int(total));
    add(
        "memory",
        "used_memory_human",
        Text(super::human_bytes(total)),
    );
    let rss = resident_bytes();
    if let Some(rss) = rss {
        add("memory", "used_memory_rss", Int(rss));
        add(
            "memory",
            "used_memory_rss_human",
            Text(super::human_bytes(rss)),
        );
    }
    add("memory", "used_memory_hot", Int(hot));
    add("memory", "used_memory_warm", Int(warm));
    add("memory", "used_memory_cold_index", Int(cold_index));
    add("memory", "used_memory_cold_queue", Int(cold_queue));
    add("memory", "maxmemory", Int(store.max_capacity() + warm_max));
    add("memory", "maxmemory_hot", Int(store.max_capacity()));
    add("memory", "maxmemory_warm", Int(warm_max));
    add("memory", "maxmemory_bound", Int(store.bound()));
    if let Some(rss) = rss {
        // Redis's ratio: resident memory over what the tiers account for.
        add(
            "memory",
            "mem_fragmentation_ratio",
            Float(rss as f64 / total.max(1) as f64),
        );
    }
    if let Some(a) = crate::allocator::stats() {
        add("memory", "mem_allocator", Text(a.name));
        add("memory", "allocator_allocated", Int(a.allocated));
        add("memory", "allocator_active", Int(a.active));
        add("memory", "allocator_resident", Int(a.resident));
        add(
            "memory",
            "allocator_frag_ratio",
            Float(a.active as f64 / a.allocated.max(1) as f64),
        );
    } else {
        add("memory", "mem_allocator", Text("libc".to_owned()));
    }
}

/// The process's resident set size, from `VmRSS` in `/proc/self/status`
/// (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib << 10)
}

/// `INFO [section …]` text, as Redis selects: no name or `default` for
/// the default sections, `all` or `everything` for every one, names
/// otherwise (case-insensitive, each section once).
pub(super) fn info(shared: &ServerState, wanted: &[String]) -> String {
    let figures = figures(shared);
    let default = wanted.is_empty() || wanted.iter().any(|w| w == "default");
    let every = wanted.iter().any(|w| w == "all" || w == "everything");
    let mut text = String::new();
    for (name, in_default) in SECTIONS {
        let shown = every || (default && in_default) || wanted.iter().any(|w| w == name);
        if !shown {
            continue;
        }
        let mut title = name.to_owned();
        title[..1].make_ascii_uppercase();
        text.push_str(&format!("# {title}\r\n"));
        for f in figures.iter().filter(|f| f.section == name) {
            text.push_str(&format!("{}:{}\r\n", f.name, f.value));
        }
        text.push_str("\r\n");
    }
    text
}

/// CPU time of this process and its reaped children, in seconds, from
/// `/proc/self/stat` (whose ticks are USER_HZ, 100 per second on Linux).
fn cpu_seconds() -> Option<[f64; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14–17 of the line, 12–15 here.
    let tick = |i: usize| fields.get(i)?.parse::<f64>().ok().map(|t| t / 100.0);
    Some([tick(12)?, tick(11)?, tick(14)?, tick(13)?])
}

/// The sections Redis has that describe a standalone server truthfully:
/// its CPU time, its (absent) replication and cluster, and per-command
/// counters.
fn redis_sections(shared: &ServerState, add: &mut impl FnMut(&'static str, &str, Value)) {
    use Value::{Float, Int, Text};
    if let Some([sys, user, sys_children, user_children]) = cpu_seconds() {
        add("cpu", "used_cpu_sys", Float(sys));
        add("cpu", "used_cpu_user", Float(user));
        add("cpu", "used_cpu_sys_children", Float(sys_children));
        add("cpu", "used_cpu_user_children", Float(user_children));
    }
    add("replication", "role", Text("master".to_owned()));
    add("replication", "connected_slaves", Int(0));
    add("replication", "master_repl_offset", Int(0));
    let cluster = shared.config().cluster_map().cloned();
    add(
        "cluster",
        "cluster_enabled",
        Int(u64::from(cluster.is_some())),
    );
    if let Some(map) = cluster {
        add("cluster", "cluster_node", Text(map.myself().name.clone()));
        add(
            "cluster",
            "cluster_slots_owned",
            Int(map.myself().slot_count() as u64),
        );
    }
    for (name, c) in super::commands::Server::command_stats(shared).iter() {
        let calls = c.calls.load(Ordering::Relaxed);
        let rejected = c.rejected.load(Ordering::Relaxed);
        if calls == 0 && rejected == 0 {
            continue;
        }
        let usec = c.usec.load(Ordering::Relaxed);
        add(
            "commandstats",
            &format!("cmdstat_{name}"),
            Text(format!(
                "calls={calls},usec={usec},usec_per_call={:.2},rejected_calls={rejected},failed_calls={}",
                usec as f64 / calls.max(1) as f64,
                c.failed.load(Ordering::Relaxed)
            )),
        );
    }
}

/// INFO's figures of an `auto` tier: the choice, switches, sample rate,
/// and each candidate's shadow hit ratio.
fn auto_figures(
    add: &mut impl FnMut(&'static str, &str, Value),
    t: &str,
    auto: &goldylox::AutoStatus,
) {
    add(
        "policies",
        &format!("{t}_auto_current"),
        Value::Text(auto.current.clone()),
    );
    add(
        "policies",
        &format!("{t}_auto_switches"),
        Value::Int(auto.switches),
    );
    add(
        "policies",
        &format!("{t}_auto_epochs"),
        Value::Int(auto.epochs),
    );
    add(
        "policies",
        &format!("{t}_auto_sample_rate"),
        Value::Float(auto.sample_rate),
    );
    add(
        "policies",
        &format!("{t}_auto_shadow_cpu_ms"),
        Value::Float(auto.cpu.as_secs_f64() * 1e3),
    );
    for c in &auto.candidates {
        let name: String = c
            .name
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
            .collect();
        let ratio = c.hit_ratio.filter(|_| c.failure.is_none()).unwrap_or(0.0);
        add(
            "policies",
            &format!("{t}_auto_shadow_hit_ratio_{name}"),
            Value::Float(ratio),
        );
    }
}
