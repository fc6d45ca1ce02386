//! The server's configuration: one TOML file, every key known, every value
//! checked. `goldylox serve` with no file runs on the embedded default
//! (`examples/goldylox.toml`).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The configuration built into the binary.
pub const DEFAULT_TOML: &str = include_str!("../../../examples/goldylox.toml");

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Network and client limits.
    pub server: ServerConfig,
    /// The cache's tiers and policies.
    pub cache: CacheConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The Prometheus endpoint (off when absent).
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
}

/// `[metrics]`: a Prometheus text endpoint exposing the figures of `INFO`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where to serve `GET /metrics`.
    pub listen: SocketAddr,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen (default 127.0.0.1:6380).
    pub listen: SocketAddr,
    /// The password `AUTH` must give (none: no authentication).
    #[serde(default)]
    pub password: Option<String>,
    /// Most clients connected at once (Redis: `maxclients`).
    pub maxclients: usize,
    /// Largest bulk argument (Redis: `proto-max-bulk-len`).
    pub max_bulk_bytes: usize,
    /// Most arguments in one request.
    pub max_args: usize,
    /// Longest inline request.
    pub max_inline_bytes: usize,
    /// Most unparsed request bytes a client may hold (Redis:
    /// `client-query-buffer-limit`).
    pub max_query_buffer_bytes: usize,
    /// Replies buffered for a client before the server waits for it to read
    /// (Redis: `client-output-buffer-limit`, soft).
    pub output_buffer_bytes: usize,
    /// A client that reads nothing of its replies for this long is
    /// disconnected, in milliseconds.
    pub output_stall_ms: u64,
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Hot tier capacity in bytes (keys + values + per-entry overhead).
    pub memory_bytes: u64,
    /// Warm tier capacity in bytes (0: no warm tier).
    #[serde(default)]
    pub warm_bytes: u64,
    /// The hot tier's eviction policy: `builtin:NAME`, `wasm:NAME`, the
    /// path of a component, or `auto` (the tier picks among
    /// `auto_candidates` by shadow simulation).
    pub policy: String,
    /// `key=value` parameters for the hot policy's `init`.
    #[serde(default)]
    pub policy_params: std::collections::BTreeMap<String, String>,
    /// The candidates of `policy = "auto"`, in the forms above; the first
    /// runs until another is chosen (default: every built-in policy).
    #[serde(default)]
    pub auto_candidates: Vec<String>,
    /// The warm tier's eviction policy, same forms.
    #[serde(default = "default_warm_policy")]
    pub warm_policy: String,
    /// `key=value` parameters for the warm policy's `init`.
    #[serde(default)]
    pub warm_policy_params: std::collections::BTreeMap<String, String>,
    /// The candidates of `warm_policy = "auto"`.
    #[serde(default)]
    pub warm_auto_candidates: Vec<String>,
    /// A prefetch policy (`builtin:markov`, `wasm:markov`, a path), if any.
    #[serde(default)]
    pub prefetch: Option<String>,
    /// `key=value` parameters for the prefetch policy's `init`.
    #[serde(default)]
    pub prefetch_params: std::collections::BTreeMap<String, String>,
    /// Content digests of the component files the policies name, taken when
    /// the configuration was read: a rebuilt component at the same path is a
    /// change for reload.
    #[serde(skip)]
    pub component_digests: std::collections::BTreeMap<String, u64>,
    /// The persistent tier (off when absent).
    #[serde(default)]
    pub cold: Option<ColdTierConfig>,
}

impl CacheConfig {
    /// The hot policy's parameters, in order.
    pub fn params(&self) -> Vec<(String, String)> {
        params(&self.policy_params)
    }

    /// The warm policy's parameters, in order.
    pub fn warm_params(&self) -> Vec<(String, String)> {
        params(&self.warm_policy_params)
    }

    /// Records the content digest of every component file a policy names
    /// (unreadable files get none; loading them reports why).
    pub fn take_component_digests(&mut self) {
        let specs = [&self.policy, &self.warm_policy]
            .into_iter()
            .chain(&self.auto_candidates)
            .chain(&self.warm_auto_candidates)
            .chain(self.prefetch.as_ref())
            .chain(self.cold.as_ref().map(|c| &c.failover));
        self.component_digests = specs
            .filter(|spec| is_component_path(spec))
            .filter_map(|spec| Some((spec.clone(), file_digest(std::path::Path::new(spec))?)))
            .collect();
    }
}

/// A TOML table of parameters as `init` takes them.
pub fn params(table: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    table.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Whether a policy spec names a component file (not `builtin:`, `wasm:`
/// or `auto`).
pub fn is_component_path(spec: &str) -> bool {
    !(spec == "auto" || spec.starts_with("builtin:") || spec.starts_with("wasm:"))
}

/// A 64-bit FNV-1a digest of a file's bytes.
fn file_digest(path: &std::path::Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    Some(bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }))
}

/// `[cache.cold]`: segment files on local disk below the memory tiers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColdTierConfig {
    /// The directory (created if missing; relative paths from the working
    /// directory).
    pub dir: std::path::PathBuf,
    /// Bytes on disk it may hold.
    pub capacity_bytes: u64,
    /// Bytes per segment file.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u32,
    /// `always`, `every <ms>` or `never`.
    #[serde(default = "default_sync")]
    pub sync: String,
    /// `write-back` (entries go down when evicted) or `write-through`
    /// (every write is appended).
    #[serde(default = "default_write_policy")]
    pub write_policy: String,
    /// Garbage share at which a segment is compacted (0.05–0.95).
    #[serde(default = "default_compact_at")]
    pub compact_at: f64,
    /// The failover policy running the tier's circuit breaker:
    /// `builtin:breaker`, `wasm:breaker` or a component path.
    #[serde(default = "default_failover")]
    pub failover: String,
    /// Its `key=value` parameters.
    #[serde(default)]
    pub failover_params: std::collections::BTreeMap<String, String>,
}

fn default_segment_bytes() -> u32 {
    64 << 20
}

fn default_sync() -> String {
    "every 1000".to_owned()
}

fn default_write_policy() -> String {
    "write-back".to_owned()
}

fn default_compact_at() -> f64 {
    0.5
}

fn default_failover() -> String {
    "builtin:breaker".to_owned()
}

impl ColdTierConfig {
    /// The sync mode `sync` names.
    pub fn sync_mode(&self) -> Result<goldylox::cold::SyncMode> {
        use goldylox::cold::SyncMode;
        let s = self.sync.trim();
        Ok(match s {
            "always" => SyncMode::Always,
            "never" => SyncMode::Never,
            _ => match s.strip_prefix("every ").map(|ms| ms.trim().parse::<u64>()) {
                Some(Ok(ms)) if ms > 0 => SyncMode::Every(std::time::Duration::from_millis(ms)),
                _ => bail!(
                    "cache.cold.sync must be `always`, `every <ms>` (ms > 0) or `never`, not {s:?}"
                ),
            },
        })
    }

    /// The write policy `write_policy` names.
    pub fn write_policy(&self) -> Result<goldylox::WritePolicy> {
        match self.write_policy.as_str() {
            "write-back" => Ok(goldylox::WritePolicy::WriteBack),
            "write-through" => Ok(goldylox::WritePolicy::WriteThrough),
            other => bail!(
                "cache.cold.write_policy must be `write-back` or `write-through`, not {other:?}"
            ),
        }
    }

    /// The engine's configuration.
    pub fn engine(&self) -> Result<goldylox::cold::ColdConfig> {
        let mut c = goldylox::cold::ColdConfig::new(&self.dir, self.capacity_bytes);
        c.segment_size = self.segment_bytes;
        c.sync = self.sync_mode()?;
        c.compact_at = Some(self.compact_at);
        Ok(c)
    }
}

fn default_warm_policy() -> String {
    "builtin:sieve".to_owned()
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The log filter (`error`, `warn`, `info`, `debug`, `trace`, or
    /// `module=level,…`); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
        }
    }
}

impl Config {
    /// Parses and checks `text`; `origin` names it in errors (a file path).
    /// Errors carry the line and column.
    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    let col = span.start - text[..span.start].rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("{origin}:{line}:{col}: ")
                })
                .unwrap_or_else(|| format!("{origin}: "));
            anyhow::anyhow!("{at}{}", e.message())
        })?;
        config
            .check()
            .with_context(|| format!("{origin}: invalid configuration"))?;
        config.cache.take_component_digests();
        Ok(config)
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// The embedded default configuration.
    pub fn embedded() -> Config {
        Config::parse(DEFAULT_TOML, "embedded default").expect("the embedded default is valid")
    }

    fn check(&self) -> Result<()> {
        let s = &self.server;
        if s.maxclients == 0 {
            bail!("server.maxclients must be at least 1");
        }
        if s.max_bulk_bytes == 0 || s.max_args == 0 || s.max_inline_bytes < 16 {
            bail!("server limits must be positive (max_inline_bytes at least 16)");
        }
        if s.max_query_buffer_bytes < s.max_inline_bytes {
            bail!("server.max_query_buffer_bytes must be at least server.max_inline_bytes");
        }
        if s.output_buffer_bytes == 0 || s.output_stall_ms == 0 {
            bail!("server.output_buffer_bytes and server.output_stall_ms must be positive");
        }
        if self.cache.memory_bytes < 1 << 20 {
            bail!("cache.memory_bytes must be at least 1 MiB");
        }
        if self.cache.warm_bytes != 0 && self.cache.warm_bytes < 1 << 20 {
            bail!("cache.warm_bytes must be 0 (no warm tier) or at least 1 MiB");
        }
        if let Some(cold) = &self.cache.cold {
            cold.sync_mode()?;
            cold.write_policy()?;
            if !(0.05..=0.95).contains(&cold.compact_at) {
                bail!("cache.cold.compact_at must be within 0.05 – 0.95");
            }
            if !(64 << 10..=2 << 30).contains(&cold.segment_bytes) {
                bail!("cache.cold.segment_bytes must be within 64 KiB – 2 GiB");
            }
            if cold.capacity_bytes < 4 * u64::from(cold.segment_bytes) {
                bail!("cache.cold.capacity_bytes must hold at least 4 segments");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_parses() {
        let c = Config::embedded();
        assert!(c.server.listen.ip().is_loopback());
    }

    #[test]
    fn errors_name_the_line_and_the_reason() {
        let text = DEFAULT_TOML.replace("maxclients", "max_clients");
        let err = Config::parse(&text, "my.toml").unwrap_err().to_string();
        assert!(err.starts_with("my.toml:"), "{err}");
        assert!(err.contains("unknown field `max_clients`"), "{err}");
        let line: usize = err.split(':').nth(1).unwrap().parse().unwrap();
        assert!(
            DEFAULT_TOML
                .lines()
                .nth(line - 1)
                .unwrap()
                .contains("maxclients")
        );

        let text = DEFAULT_TOML.replace("memory_bytes = ", "memory_bytes = -");
        assert!(Config::parse(&text, "x").is_err());
        let err = Config::parse("[server]\nlisten = 'nowhere'\n", "y")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("y:2:"), "{err}");
    }
}
