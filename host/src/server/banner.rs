//! What `goldylox serve` says when it starts: where it listens, each tier
//! with its size and policy, the data directory and what recovery found.

use std::fmt::Write;

use goldylox::PolicyTier;

use super::Running;
use super::config::Config;

/// A size in the largest binary unit that keeps it at least 1.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl Running {
    /// The startup banner, one line per fact.
    pub fn banner(&self) -> String {
        let shared = &self.shared;
        let config = shared.config();
        let store = &shared.store;
        let policy = |tier| {
            store
                .policy_status(tier)
                .map_or_else(|| "-".to_owned(), |s| s.name)
        };
        let mut out = String::new();
        let source = shared.config_path.as_ref().map_or_else(
            || "the embedded default".to_owned(),
            |p| p.display().to_string(),
        );
        let _ = writeln!(
            out,
            "goldylox {} listening on {} (redis-cli -p {}), configuration: {source}",
            env!("CARGO_PKG_VERSION"),
            self.addr,
            self.addr.port()
        );
        let _ = writeln!(
            out,
            "  hot   {:>10} in RAM, policy {}",
            human_bytes(config.cache.memory_bytes),
            policy(PolicyTier::Hot)
        );
        if config.cache.warm_bytes > 0 {
            let _ = writeln!(
                out,
                "  warm  {:>10} of compressed slabs, policy {}",
                human_bytes(config.cache.warm_bytes),
                policy(PolicyTier::Warm)
            );
        } else {
            let _ = writeln!(out, "  warm  off (cache.warm_bytes = 0)");
        }
        out.push_str(&cold_lines(&config, store.cold_recovery()));
        if let Some(spec) = &config.cache.prefetch {
            let _ = writeln!(out, "  prefetch {spec}");
        }
        if let Some(metrics) = self.metrics_addr {
            let _ = writeln!(out, "  metrics on http://{metrics}/metrics");
        }
        if let Some(tls) = self.tls_addr {
            let clients = config
                .server
                .tls
                .as_ref()
                .and_then(|t| t.client_ca.as_ref())
                .map_or("no client certificates", |_| "client certificates required");
            let _ = writeln!(out, "  tls on {tls} ({clients})");
        }
        out.push_str(&cluster_line(&config));
        if config.server.protects() && shared.acl.default_is_open() {
            let _ = writeln!(
                out,
                "  protected mode: listening beyond loopback without a password, so only \
                 loopback clients are accepted (set server.password, give the default user \
                 a password in server.aclfile, or protected_mode = false)"
            );
        }
        out
    }
}

/// What a configuration would run, one line per tier (for
/// `goldylox serve --check-config`).
pub fn describe(config: &super::config::Config) -> String {
    let c = &config.cache;
    let mut out = format!("  listen {}\n", config.server.listen);
    let _ = writeln!(
        out,
        "  hot   {:>10} in RAM, policy {}",
        human_bytes(c.memory_bytes),
        c.policy
    );
    if c.warm_bytes > 0 {
        let _ = writeln!(
            out,
            "  warm  {:>10} of compressed slabs, policy {}",
            human_bytes(c.warm_bytes),
            c.warm_policy
        );
    } else {
        let _ = writeln!(out, "  warm  off");
    }
    match &c.cold {
        Some(cold) => {
            let _ = writeln!(
                out,
                "  cold  {:>10} on disk in {}, sync {}, {}",
                human_bytes(cold.capacity_bytes),
                cold.dir.display(),
                cold.sync,
                cold.write_policy
            );
        }
        None => {
            let _ = writeln!(out, "  cold  off");
        }
    }
    out.push_str(&cluster_line(config));
    out
}

/// The cluster line of the banner (empty without cluster mode).
fn cluster_line(config: &super::config::Config) -> String {
    let Some(map) = config.cluster_map() else {
        return String::new();
    };
    let me = map.myself();
    format!(
        "  cluster node {} ({}) of {}, owning {} of 16384 slots\n",
        me.name,
        me.endpoint(),
        map.nodes().len(),
        me.slot_count()
    )
}

/// What recovery found, in one line.
fn recovery_line(r: &goldylox::cold::RecoveryReport) -> String {
    if r.segments == 0 {
        return "an empty directory, a new store".to_owned();
    }
    let mut line = format!(
        "{} entries in {} segments ({} from the index snapshot, {} records scanned) in {} ms",
        r.entries,
        r.segments,
        r.from_snapshot,
        r.scanned,
        r.elapsed.as_millis()
    );
    if r.torn_bytes > 0 {
        let _ = write!(line, "; cut a torn tail of {} bytes", r.torn_bytes);
    }
    if !r.quarantined.is_empty() {
        let _ = write!(
            line,
            "; quarantined segments {:?} (bad records)",
            r.quarantined
        );
    }
    if let Some(why) = &r.snapshot_rejected {
        let _ = write!(line, "; snapshot not used: {why}");
    }
    if r.foreign_files > 0 {
        let _ = write!(line, "; {} foreign files left alone", r.foreign_files);
    }
    line
}

/// The banner's lines for the cold tier.
fn cold_lines(config: &Config, recovery: Option<goldylox::cold::RecoveryReport>) -> String {
    let mut out = String::new();
    match (&config.cache.cold, recovery) {
        (Some(cold), Some(r)) => {
            let dir = std::path::absolute(&cold.dir).unwrap_or_else(|_| cold.dir.clone());
            let _ = writeln!(
                out,
                "  cold  {:>10} on disk in {}, sync {}, {}",
                human_bytes(cold.capacity_bytes),
                dir.display(),
                cold.sync,
                cold.write_policy
            );
            let _ = writeln!(out, "        recovery: {}", recovery_line(&r));
            if super::replies::durable_acks(config) {
                let _ = writeln!(
                    out,
                    "        durable acknowledgements: a write is answered once it is synced"
                );
            } else if cold.sync.trim() == "always" {
                let _ = writeln!(
                    out,
                    "        note: sync = always with write-back syncs what is evicted; a write \
                     stays in memory until then (write-through makes every reply durable)"
                );
            }
        }
        _ => {
            let _ = writeln!(out, "  cold  off ([cache.cold] enabled = false)");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(256 << 20), "256.0 MiB");
        assert_eq!(human_bytes(4 << 30), "4.0 GiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
