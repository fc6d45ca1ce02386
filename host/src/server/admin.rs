//! What the server reports and how it is administered: the figures behind
//! `INFO` and the Prometheus endpoint (one list, so they always agree),
//! `CONFIG GET/SET`, and the `GOLDYLOX` admin commands.

use std::sync::atomic::Ordering;

use goldylox::PolicyTier;

use super::{Shared, reload};

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

/// The INFO sections, in order.
pub(super) const SECTIONS: [&str; 9] = [
    "server",
    "clients",
    "memory",
    "stats",
    "tiers",
    "pools",
    "policies",
    "persistence",
    "keyspace",
];

/// Every figure the server reports.
pub(super) fn figures(shared: &Shared) -> Vec<Figure> {
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
    use Value::{Float, Int, Text};
    add(
        "server",
        "goldylox_version",
        Text(env!("CARGO_PKG_VERSION").to_owned()),
    );
    add("server", "redis_version", Text("7.0.15".to_owned()));
    add("server", "redis_mode", Text("standalone".to_owned()));
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
    memory_figures(shared, &mut add);
    // The policy that runs now (after any swap), not the configured name.
    let running = shared
        .store
        .policy_status(PolicyTier::Hot)
        .map_or_else(|| config.cache.policy.clone(), |s| s.name);
    add("memory", "maxmemory_policy", Text(running));
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
        if let Some((breaker, health)) = shared.store.cold_health() {
            add(
                "persistence",
                "cold_breaker",
                Text(format!("{breaker:?}").to_ascii_lowercase()),
            );
            add("persistence", "cold_breaker_opened", Int(health.opened));
            add("persistence", "cold_breaker_probes", Int(health.probes));
            add(
                "persistence",
                "cold_failover_failures",
                Int(health.policy_failures),
            );
        }
    } else {
        add("persistence", "cold_tier", Text("absent".to_owned()));
    }
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
            auto_figures(&mut add, &t, auto);
        }
    }
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
    add(
        "persistence",
        "write_policy",
        Text(format!("{:?}", shared.store.write_policy()).to_ascii_lowercase()),
    );
    let keys = shared.store.len();
    add(
        "keyspace",
        "db0",
        Text(format!("keys={},expires=0,avg_ttl=0", keys)),
    );
    out
}

/// The memory section: what each tier holds in RAM and the total, the
/// process's resident set, the budgets.
fn memory_figures(shared: &Shared, add: &mut impl FnMut(&'static str, &str, Value)) {
    use Value::{Int, Text};
    let store = &shared.store;
    let hot = store.weighted_size();
    let (warm, warm_max) = store
        .pool_stats()
        .map_or((0, 0), |p| (p.held_bytes, p.max_bytes));
    let cold_index = store.cold_stats().map_or(0, |c| c.index_bytes);
    let total = hot + warm + cold_index;
    add("memory", "used_memory", Int(total));
    add(
        "memory",
        "used_memory_human",
        Text(super::human_bytes(total)),
    );
    if let Some(rss) = resident_bytes() {
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
    add("memory", "maxmemory", Int(store.max_capacity() + warm_max));
    add("memory", "maxmemory_hot", Int(store.max_capacity()));
    add("memory", "maxmemory_warm", Int(warm_max));
    add("memory", "maxmemory_bound", Int(store.bound()));
}

/// The process's resident set size, from `VmRSS` in `/proc/self/status`
/// (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib << 10)
}

/// `INFO [section]` text.
pub(super) fn info(shared: &Shared, section: Option<&str>) -> String {
    let figures = figures(shared);
    let mut text = String::new();
    for name in SECTIONS {
        let wanted =
            section.is_none_or(|w| matches!(w, "all" | "everything" | "default") || w == name);
        if !wanted {
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

/// Redis-style glob for `CONFIG GET` (`*`, `?`).
pub(super) fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

impl super::commands::Server for Shared {
    fn password(&self) -> Option<String> {
        self.config().server.password.clone()
    }

    fn max_bulk_bytes(&self) -> usize {
        self.config().server.max_bulk_bytes
    }

    fn info(&self, section: Option<&str>) -> String {
        info(self, section)
    }

    fn config_get(&self, pattern: &str) -> Vec<(String, String)> {
        let config = self.config();
        let s = &config.server;
        let all = [
            ("maxclients", s.maxclients.to_string()),
            ("maxmemory", config.cache.memory_bytes.to_string()),
            ("proto-max-bulk-len", s.max_bulk_bytes.to_string()),
            (
                "client-query-buffer-limit",
                s.max_query_buffer_bytes.to_string(),
            ),
            ("requirepass", s.password.clone().unwrap_or_default()),
            ("port", s.listen.port().to_string()),
            ("bind", s.listen.ip().to_string()),
            ("loglevel", config.log.level.clone()),
            ("databases", "1".to_owned()),
            ("save", String::new()),
            ("appendonly", "no".to_owned()),
        ];
        all.into_iter()
            .filter(|(name, _)| glob(pattern, name))
            .map(|(n, v)| (n.to_owned(), v))
            .collect()
    }

    fn config_set(&self, name: &str, value: &str) -> Result<(), String> {
        reload::config_set(self, name, value)
    }

    fn admin(&self, args: &[Vec<u8>]) -> Result<Vec<String>, String> {
        let words: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        match lower.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["reload"] => reload::reload_file(self).map_err(|e| format!("ERR reload refused, running configuration kept: {e:#}")),
            ["policy", "status"] => {
                let mut lines = Vec::new();
                for tier in [PolicyTier::Hot, PolicyTier::Warm] {
                    if let Some(st) = self.store.policy_status(tier) {
                        lines.push(format!(
                            "{tier}: {} {} failures={} consecutive={} rebuilds={} swaps={} last_error={}",
                            st.name,
                            st.state,
                            st.failures,
                            st.consecutive_failures,
                            st.rebuilds,
                            st.swaps,
                            st.last_error.as_deref().unwrap_or("-")
                        ));
                        if let Some(auto) = &st.auto {
                            lines.extend(auto_lines(tier, auto));
                        }
                    }
                }
                Ok(lines)
            }
            ["policy", "swap", tier, _spec, ..] => {
                let tier = match *tier {
                    "hot" => PolicyTier::Hot,
                    "warm" => PolicyTier::Warm,
                    other => return Err(format!("ERR unknown tier '{other}' (hot, warm)")),
                };
                let spec = &words[3];
                // `key=value` words after the spec are parameters; `auto`
                // may name its candidates after it.
                let (params, rest): (Vec<&String>, Vec<&String>) =
                    words[4..].iter().partition(|w| w.contains('='));
                let params: Vec<(String, String)> = params
                    .into_iter()
                    .filter_map(|p| p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                    .collect();
                let rest: Vec<String> = rest.into_iter().cloned().collect();
                let choice = super::tier_policy(spec, &params, &rest, &self.runtime)
                    .map_err(|e| format!("ERR {e:#}"))?;
                let report = self
                    .store
                    .swap_policy(tier, choice)
                    .map_err(|e| format!("ERR {e}"))?;
                Ok(vec![format!(
                    "{}: {} -> {}, {} entries replayed in {:.2} ms, maintenance paused {:.2} ms (until the next reload of the file)",
                    report.tier,
                    report.previous,
                    report.current,
                    report.replayed,
                    report.replay_time.as_secs_f64() * 1e3,
                    report.pause.as_secs_f64() * 1e3
                )])
            }
            _ => Err("ERR unknown GOLDYLOX subcommand; try GOLDYLOX POLICY STATUS, GOLDYLOX POLICY SWAP <hot|warm> <spec> [key=value ...] or GOLDYLOX RELOAD".to_owned()),
        }
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

/// `GOLDYLOX POLICY STATUS`'s lines for an `auto` tier.
fn auto_lines(tier: PolicyTier, auto: &goldylox::AutoStatus) -> Vec<String> {
    let mut lines = vec![format!(
        "{tier} auto: current={} switches={} epochs={} sample_rate={:.6} shadow_capacity={} shadow_cpu_ms={:.1}",
        auto.current,
        auto.switches,
        auto.epochs,
        auto.sample_rate,
        auto.shadow_capacity,
        auto.cpu.as_secs_f64() * 1e3
    )];
    for c in &auto.candidates {
        let standing = match (&c.failure, c.hit_ratio) {
            (Some(why), _) => format!("dropped: {why}"),
            (None, Some(r)) => format!("shadow_hit_ratio={:.4}", r),
            (None, None) => "shadow_hit_ratio=-".to_owned(),
        };
        lines.push(format!(
            "{tier} auto candidate {}: {standing} entries={}",
            c.name, c.entries
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_matches_like_redis() {
        assert!(super::glob("max*", "maxclients"));
        assert!(super::glob("*", "port"));
        assert!(super::glob("p?rt", "port"));
        assert!(!super::glob("max", "maxclients"));
    }
}
