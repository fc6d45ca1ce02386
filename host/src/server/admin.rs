//! What the server reports and how it is administered: the figures behind
//! `INFO` and the Prometheus endpoint (one list, so they always agree),
//! `CONFIG GET/SET`, and the `GOLDYLOX` admin commands.

use goldylox::PolicyTier;

use super::commands::{AdminAnswer, AdminReply};
use super::{ServerState, capture, reload};

impl super::commands::Server for ServerState {
    fn acl(&self) -> &super::acl::Acl {
        &self.acl
    }

    fn memory_stats(&self) -> Vec<(&'static str, super::figure::Value)> {
        super::memory_stats::stats(self)
    }

    fn memory_doctor(&self) -> String {
        super::memory_stats::doctor(self)
    }

    fn max_bulk_bytes(&self) -> usize {
        self.config().server.max_bulk_bytes
    }

    fn keyspace(&self) -> &super::keyspace::Keyspace {
        &self.keyspace
    }

    fn scripts(&self) -> &super::scripting::Scripts {
        &self.scripts
    }

    fn script_limits(&self) -> super::scripting::Limits {
        let s = &self.config().server;
        super::scripting::Limits {
            busy_after: std::time::Duration::from_millis(s.busy_reply_threshold_ms),
            memory_bytes: s.script_memory_bytes,
        }
    }

    fn pubsub(&self) -> &super::pubsub::PubSub {
        &self.pubsub
    }

    fn pause(&self, mode: super::pause::Mode, until: tokio::time::Instant) {
        self.pause.pause(mode, until);
    }

    fn unpause(&self) {
        self.pause.unpause();
    }

    fn info(&self, sections: &[String]) -> Vec<u8> {
        super::info::info(self, sections)
    }

    fn shutdown(&self, save: bool) {
        log::info!(
            "SHUTDOWN {}: stopping",
            if save { "SAVE" } else { "NOSAVE" }
        );
        self.persist_on_stop
            .store(save, std::sync::atomic::Ordering::Release);
        // A script stuck in a loop would keep its connection, and so the
        // server, from stopping.
        self.scripts.abort();
        let _ = self.stop.send(true);
    }

    fn clients(&self) -> Vec<std::sync::Arc<super::clients::Connection>> {
        self.connections.all()
    }

    fn command_stats(&self) -> &super::commands::CommandStats {
        &self.command_stats
    }

    fn error_stats(&self) -> &super::stats::ErrorStats {
        &self.error_stats
    }

    fn slowlog(&self) -> &super::slowlog::SlowLog {
        &self.slowlog
    }

    fn latency(&self) -> &super::latency::LatencyMonitor {
        &self.latency
    }

    fn reset_stats(&self) {
        self.command_stats.reset();
        self.latency.reset_histograms();
        self.error_stats.reset();
        self.acl.reset_denied();
        for counter in [
            &self.connections_total,
            &self.rejected_connections,
            &self.commands_total,
            &self.protocol_errors,
        ] {
            counter.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        let now = super::info::engine_counters(&self.store.stats());
        *self.baseline.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    fn config_get(&self, pattern: &str) -> Vec<(String, String)> {
        let config = self.config();
        let s = &config.server;
        let all = [
            ("maxclients", s.maxclients.to_string()),
            (
                "busy-reply-threshold",
                s.busy_reply_threshold_ms.to_string(),
            ),
            ("lua-time-limit", s.busy_reply_threshold_ms.to_string()),
            (
                "notify-keyspace-events",
                super::keyspace::events::parse(&s.notify_keyspace_events)
                    .map(super::keyspace::events::format)
                    .unwrap_or_default(),
            ),
            (
                "tracking-table-max-keys",
                s.tracking_table_max_keys.to_string(),
            ),
            (
                "client-output-buffer-limit",
                format!(
                    "normal 0 0 0 slave 268435456 67108864 60 pubsub {} {} {}",
                    s.pubsub_hard_bytes, s.pubsub_soft_bytes, s.pubsub_soft_seconds
                ),
            ),
            ("maxmemory", config.cache.memory_bytes.to_string()),
            ("proto-max-bulk-len", s.max_bulk_bytes.to_string()),
            (
                "client-query-buffer-limit",
                s.max_query_buffer_bytes.to_string(),
            ),
            ("requirepass", s.password.clone().unwrap_or_default()),
            (
                "aclfile",
                s.aclfile
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("port", s.listen.port().to_string()),
            (
                "tls-port",
                s.tls.as_ref().map_or(0, |t| t.listen.port()).to_string(),
            ),
            ("protected-mode", yes_no(s.protected_mode)),
            ("cluster-enabled", yes_no(config.cluster_map().is_some())),
            ("bind", s.listen.ip().to_string()),
            ("loglevel", config.log.level.clone()),
            ("databases", "1".to_owned()),
            ("save", String::new()),
            ("appendonly", "no".to_owned()),
            (
                "slowlog-log-slower-than",
                s.slowlog_slower_than_us.to_string(),
            ),
            ("slowlog-max-len", s.slowlog_max_len.to_string()),
            ("acllog-max-len", s.acllog_max_len.to_string()),
            (
                "latency-monitor-threshold",
                s.latency_monitor_threshold_ms.to_string(),
            ),
        ];
        let knobs = self
            .encoding_knobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let aliases = knobs
            .iter()
            .filter(|(k, _)| k.contains("listpack"))
            .map(|(k, v)| (k.replace("listpack", "ziplist"), v.clone()));
        all.into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .chain(knobs.clone())
            .chain(aliases)
            .filter(|(name, _)| super::glob::matches(pattern.as_bytes(), name.as_bytes()))
            .collect()
    }

    fn config_set(&self, pairs: &[(String, String)]) -> Result<(), String> {
        super::config_set::config_set(self, pairs)
    }

    fn admin(&self, args: &[Vec<u8>]) -> AdminReply {
        let words: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        match lower.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["reload"] => self.on_loader(|shared| {
                reload::reload_file(shared).map_err(|e| format!("ERR {e:#}"))
            }),
            ["policy", "status"] => AdminReply::Now(Ok(self.policy_status())),
            ["trace", "start", ..] => AdminReply::Now(
                capture::parse_start(&words[2..]).and_then(|config| {
                    self.store
                        .start_capture(config.clone())
                        .map(|()| capture::started(&config))
                        .map_err(|e| format!("ERR {e}"))
                }),
            ),
            ["trace", "stop"] => self.on_loader(|shared| {
                let summary = shared.store.stop_capture().map_err(|e| format!("ERR {e}"))?;
                Ok(capture::stopped(&summary))
            }),
            ["trace", "status"] => {
                AdminReply::Now(Ok(capture::status_lines(self.store.capture_status())))
            }
            ["policy", "swap", tier, _spec, ..] => {
                let tier = match *tier {
                    "hot" => PolicyTier::Hot,
                    "warm" => PolicyTier::Warm,
                    other => {
                        return AdminReply::Now(Err(format!(
                            "ERR unknown tier '{other}' (hot, warm)"
                        )));
                    }
                };
                let swap = Swap::parse(tier, &words[3..]);
                self.on_loader(move |shared| swap.run(shared))
            }
            _ => AdminReply::Now(Err("ERR unknown GOLDYLOX subcommand; try GOLDYLOX POLICY STATUS, GOLDYLOX POLICY SWAP <hot|warm> <spec> [key=value ...], GOLDYLOX TRACE START|STOP|STATUS or GOLDYLOX RELOAD".to_owned())),
        }
    }
}

impl ServerState {
    /// Runs `work` on the policy loader (see `loader.rs`).
    fn on_loader(
        &self,
        work: impl FnOnce(&ServerState) -> AdminAnswer + Send + 'static,
    ) -> AdminReply {
        let Some(me) = self.me.upgrade() else {
            return AdminReply::Now(Err("ERR the server is stopping".to_owned()));
        };
        match self.loader.submit(move || work(&me)) {
            Ok(answer) => AdminReply::Later(answer),
            Err(refused) => AdminReply::Now(Err(refused)),
        }
    }

    /// `GOLDYLOX POLICY STATUS`'s lines.
    fn policy_status(&self) -> Vec<String> {
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
        lines
    }
}

/// A `GOLDYLOX POLICY SWAP`, parsed on the connection, run on the loader.
struct Swap {
    tier: PolicyTier,
    spec: String,
    params: Vec<(String, String)>,
    /// `auto`'s candidates.
    candidates: Vec<String>,
}

impl Swap {
    /// `words`: the spec, then `key=value` parameters and (for `auto`)
    /// candidate names in any order.
    fn parse(tier: PolicyTier, words: &[String]) -> Swap {
        let (params, candidates): (Vec<&String>, Vec<&String>) =
            words[1..].iter().partition(|w| w.contains('='));
        Swap {
            tier,
            spec: words[0].clone(),
            params: params
                .into_iter()
                .filter_map(|p| p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect(),
            candidates: candidates.into_iter().cloned().collect(),
        }
    }

    fn run(self, shared: &ServerState) -> AdminAnswer {
        let choice = shared
            .runtime
            .tier_policy(&self.spec, &self.params, &self.candidates)
            .map_err(|e| format!("ERR {e:#}"))?;
        let report = shared
            .store
            .swap_policy(self.tier, choice)
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

/// A boolean as redis.conf spells it.
fn yes_no(on: bool) -> String {
    if on { "yes" } else { "no" }.to_owned()
}
