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

pub(super) use super::figure::Value;

/// The INFO sections, in order, and whether `INFO` / `INFO default`
/// shows each (`all` and `everything` show every one).
pub(super) const SECTIONS: [(&str, bool); 14] = [
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
    ("errorstats", true),
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
    super::memory::memory_figures(shared, &mut add);
    redis_sections(shared, &mut add);
    error_figures(shared, &mut add);
    // The policy that runs now (after any swap), not the configured name.
    let running = shared
        .store
        .policy_status(PolicyTier::Hot)
        .map_or_else(|| config.cache.policy.clone(), |s| s.name);
    add("memory", "maxmemory_policy", Value::Text(running));
    stat_figures(shared, &stats, &mut add);
    super::capture::figures(&shared.store, &mut add);
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
    add(
        "server",
        "redis_version",
        Text(crate::server::REDIS_VERSION.to_owned()),
    );
    let mode = if config.cluster_map().is_some() {
        "cluster"
    } else {
        "standalone"
    };
    add("server", "redis_mode", Text(mode.to_owned()));
    add(
        "server",
        "os",
        Text(format!(
            "{} {}",
            std::env::consts::OS,
            std::env::consts::ARCH
        )),
    );
    add("server", "arch_bits", Int(u64::from(usize::BITS)));
    add("server", "multiplexing_api", Text("epoll".to_owned()));
    add("server", "process_id", Int(u64::from(std::process::id())));
    add("server", "run_id", Text(shared.run_id.clone()));
    add(
        "server",
        "executable",
        Text(
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    );
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
    add(
        "clients",
        "blocked_clients",
        Int((shared.keyspace.blocked.clients() + shared.pause.held()) as u64),
    );
}

/// The stats section: connections, commands, hits and misses over every tier.
fn stat_figures(
    shared: &ServerState,
    stats: &CacheStats,
    add: &mut impl FnMut(&'static str, &str, Value),
) {
    use Value::Int;
    for (name, counter) in [
        ("total_connections_received", &shared.connections_total),
        ("rejected_connections", &shared.rejected_connections),
        ("total_commands_processed", &shared.commands_total),
        ("protocol_errors", &shared.protocol_errors),
    ] {
        add("stats", name, Int(counter.load(Ordering::Relaxed)));
    }
    add(
        "stats",
        "total_error_replies",
        Int(shared.error_stats.total()),
    );
    for (name, n) in shared.acl.denied() {
        add("stats", name, Int(n));
    }
    let counted = shared.baseline().since(engine_counters(stats));
    add("stats", "keyspace_hits", Int(counted.hits));
    add("stats", "keyspace_misses", Int(counted.misses));
    add("stats", "evicted_keys", Int(counted.evicted));
    add("stats", "expired_keys", Int(counted.expired));
    // Writes that stalled: on a full write buffer (maintenance behind on
    // events), or over the memory bound (maintenance behind on eviction);
    // and writes that awaited a maintenance pass first, under write
    // pressure, without blocking their worker.
    add("stats", "write_backpressure", Int(stats.write_backpressure));
    add("stats", "capacity_waits", Int(stats.capacity_waits));
    add("stats", "room_waits", Int(stats.room_waits));
    let pubsub = &shared.pubsub;
    use crate::server::pubsub::Kind;
    add(
        "stats",
        "pubsub_channels",
        Int(pubsub.count(Kind::Channel) as u64),
    );
    add(
        "stats",
        "pubsub_patterns",
        Int(pubsub.count(Kind::Pattern) as u64),
    );
    add(
        "stats",
        "pubsubshard_channels",
        Int(pubsub.count(Kind::Shard) as u64),
    );
    let (keys, items, clients, prefixes) = shared.keyspace.tracking.figures();
    add("stats", "tracking_total_keys", Int(keys as u64));
    add("stats", "tracking_total_items", Int(items as u64));
    add("stats", "tracking_total_prefixes", Int(prefixes as u64));
    add("stats", "tracking_clients", Int(clients as u64));
    // Subscribers disconnected for letting too many messages wait.
    add(
        "stats",
        "client_output_buffer_limit_disconnections",
        Int(pubsub.disconnections()),
    );
}

/// The engine's counters that `INFO`'s stats section reports: hits and
/// misses over every tier, evictions and expiries.
pub(super) fn engine_counters(stats: &CacheStats) -> super::stats::Baseline {
    super::stats::Baseline {
        hits: stats.hot.hits + stats.warm.hits + stats.cold.hits,
        misses: stats
            .hot
            .misses
            .saturating_sub(stats.warm.hits + stats.cold.hits),
        evicted: stats.removals.evicted,
        expired: stats.removals.expired,
    }
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

/// `INFO [section …]` text, as Redis selects: no name or `default` for
/// the default sections, `all` or `everything` for every one, names
/// otherwise (case-insensitive, each section once). Bytes, not text: an
/// error code is shown as the reply had it, even if it is not UTF-8 (a
/// script's `redis.error_reply` may make any), as Redis shows it.
pub(super) fn info(shared: &ServerState, wanted: &[String]) -> Vec<u8> {
    let figures = figures(shared);
    let default = wanted.is_empty() || wanted.iter().any(|w| w == "default");
    let every = wanted.iter().any(|w| w == "all" || w == "everything");
    let mut text = Vec::new();
    for (name, in_default) in SECTIONS {
        let shown = every || (default && in_default) || wanted.iter().any(|w| w == name);
        if !shown {
            continue;
        }
        let mut title = name.to_owned();
        title[..1].make_ascii_uppercase();
        text.extend_from_slice(format!("# {title}\r\n").as_bytes());
        if name == "errorstats" {
            for (code, count) in shared.error_stats.by_code() {
                text.extend_from_slice(b"errorstat_");
                text.extend_from_slice(&code);
                text.extend_from_slice(format!(":count={count}\r\n").as_bytes());
            }
        }
        for f in figures
            .iter()
            .filter(|f| f.section == name && name != "errorstats")
        {
            text.extend_from_slice(format!("{}:{}\r\n", f.name, f.value).as_bytes());
        }
        text.extend_from_slice(b"\r\n");
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

/// The errorstats section: error replies by code, as Redis names them.
fn error_figures(shared: &ServerState, add: &mut impl FnMut(&'static str, &str, Value)) {
    for (code, count) in shared.error_stats.by_code() {
        add(
            "errorstats",
            &format!("errorstat_{}", String::from_utf8_lossy(&code)),
            Value::Text(format!("count={count}")),
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

/// A run id as Redis makes one: 40 random hex digits (here the SHA1 of the
/// process id and the start time, unique enough to tell runs apart).
pub(super) fn run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!("{}:{}", std::process::id(), now.as_nanos());
    super::scripting::sha1hex(seed.as_bytes())
}
