//! The server's configuration: one TOML file, every key known, every value
//! checked, every key with a default — a file names only what it changes
//! and an empty file is valid. `goldylox serve` with no file runs on the
//! embedded default (`examples/goldylox.toml`, which writes every key out
//! at its default and documents it). Sizes take units ([`super::units`]).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::units;

mod server;
pub use server::ServerConfig;

/// The configuration built into the binary.
pub const DEFAULT_TOML: &str = include_str!("../../../../examples/goldylox.toml");

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Network and client limits.
    pub server: ServerConfig,
    /// The cache's tiers and policies.
    pub cache: CacheConfig,
    /// Logging.
    pub log: LogConfig,
    /// The Prometheus endpoint (off when absent).
    pub metrics: Option<MetricsConfig>,
    /// Cluster mode: this node's share of the key slots (off when absent).
    pub cluster: Option<super::cluster::ClusterConfig>,
    /// A live workload capture started with the server (off when absent).
    pub capture: Option<super::capture::CaptureSection>,
    /// Command-line settings that win over the file, kept so a reload of
    /// the file applies them again.
    #[serde(skip)]
    pub overrides: Overrides,
}

/// `[metrics]`: a Prometheus text endpoint exposing the figures of `INFO`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where to serve `GET /metrics`.
    pub listen: SocketAddr,
}

/// Settings given on `goldylox serve`'s command line, like redis-server's
/// `--port`: they win over the file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Overrides {
    /// `--port`: the port of `server.listen`.
    pub port: Option<u16>,
    /// `--bind`: the address of `server.listen`.
    pub bind: Option<IpAddr>,
    /// `--dir`: the cold tier's data directory.
    pub dir: Option<PathBuf>,
    /// `--node`: this node's name in `[cluster]` (`cluster.myself`).
    pub node: Option<String>,
}

impl Overrides {
    /// Applies these settings to `config` (and keeps them there for reloads).
    pub fn apply(&self, config: &mut Config) {
        if let Some(port) = self.port {
            config.server.listen.set_port(port);
        }
        if let Some(ip) = self.bind {
            config.server.listen.set_ip(ip);
        }
        if let (Some(dir), Some(cold)) = (&self.dir, &mut config.cache.cold) {
            cold.dir.clone_from(dir);
        }
        if let (Some(node), Some(cluster)) = (&self.node, &mut config.cluster) {
            cluster.myself = Some(node.clone());
        }
        config.overrides = self.clone();
    }
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Hot tier capacity in bytes (keys + values + per-entry overhead;
    /// 256 MiB).
    #[serde(deserialize_with = "units::size")]
    pub memory_bytes: u64,
    /// Warm tier capacity in bytes (0: no warm tier; 256 MiB).
    #[serde(deserialize_with = "units::size")]
    pub warm_bytes: u64,
    /// The hot tier's eviction policy: `builtin:NAME`, `wasm:NAME`, the
    /// path of a component, or `auto` (the tier picks among
    /// `auto_candidates` by shadow simulation; `wasm:s3fifo`).
    pub policy: String,
    /// `key=value` parameters for the hot policy's `init`.
    pub policy_params: std::collections::BTreeMap<String, String>,
    /// The candidates of `policy = "auto"`, in the forms above; the first
    /// runs until another is chosen (default: every built-in policy).
    pub auto_candidates: Vec<String>,
    /// The warm tier's eviction policy, same forms (`builtin:sieve`).
    pub warm_policy: String,
    /// `key=value` parameters for the warm policy's `init`.
    pub warm_policy_params: std::collections::BTreeMap<String, String>,
    /// The candidates of `warm_policy = "auto"`.
    pub warm_auto_candidates: Vec<String>,
    /// A prefetch policy (`builtin:markov`, `wasm:markov`, a path), if any.
    pub prefetch: Option<String>,
    /// `key=value` parameters for the prefetch policy's `init`.
    pub prefetch_params: std::collections::BTreeMap<String, String>,
    /// Content digests of the component files the policies name, taken when
    /// the configuration was read: a rebuilt component at the same path is a
    /// change for reload.
    #[serde(skip)]
    pub component_digests: std::collections::BTreeMap<String, u64>,
    /// The persistent tier (on by default; `enabled = false` in
    /// `[cache.cold]` turns it off).
    #[serde(deserialize_with = "cold_section")]
    pub cold: Option<ColdTierConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            memory_bytes: 256 << 20,
            warm_bytes: 256 << 20,
            policy: "wasm:s3fifo".to_owned(),
            policy_params: Default::default(),
            auto_candidates: Vec::new(),
            warm_policy: "builtin:sieve".to_owned(),
            warm_policy_params: Default::default(),
            warm_auto_candidates: Vec::new(),
            prefetch: None,
            prefetch_params: Default::default(),
            component_digests: Default::default(),
            cold: Some(ColdTierConfig::default()),
        }
    }
}

/// Reads `[cache.cold]`: `None` when it says `enabled = false`.
fn cold_section<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<ColdTierConfig>, D::Error> {
    let cold = ColdTierConfig::deserialize(d)?;
    Ok(cold.enabled.then_some(cold))
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
#[serde(deny_unknown_fields, default)]
pub struct ColdTierConfig {
    /// Whether the tier runs (true).
    pub enabled: bool,
    /// The directory (created if missing; relative paths from the working
    /// directory, like Redis's dump file; `goldylox-data`).
    pub dir: PathBuf,
    /// Bytes on disk it may hold (4 GiB).
    #[serde(deserialize_with = "units::size")]
    pub capacity_bytes: u64,
    /// Bytes per segment file (64 MiB).
    #[serde(deserialize_with = "units::size_u32")]
    pub segment_bytes: u32,
    /// `always`, `every <ms>` or `never` (`every 1000`).
    pub sync: String,
    /// `write-back` (entries go down when evicted) or `write-through`
    /// (every write is appended; `write-back`).
    pub write_policy: String,
    /// Garbage share at which a segment is compacted (0.05–0.95; 0.5).
    pub compact_at: f64,
    /// The failover policy running the tier's circuit breaker:
    /// `builtin:breaker`, `wasm:breaker` or a component path
    /// (`builtin:breaker`).
    pub failover: String,
    /// Its `key=value` parameters.
    pub failover_params: std::collections::BTreeMap<String, String>,
}

impl Default for ColdTierConfig {
    fn default() -> Self {
        ColdTierConfig {
            enabled: true,
            dir: PathBuf::from("goldylox-data"),
            capacity_bytes: 4 << 30,
            segment_bytes: 64 << 20,
            sync: "every 1000".to_owned(),
            write_policy: "write-back".to_owned(),
            compact_at: 0.5,
            failover: "builtin:breaker".to_owned(),
            failover_params: Default::default(),
        }
    }
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
        c.app_files = vec![super::value::FORMAT_FILE.to_owned()];
        c.segment_size = self.segment_bytes;
        c.sync = self.sync_mode()?;
        c.compact_at = Some(self.compact_at);
        Ok(c)
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// The log filter (`error`, `warn`, `info`, `debug`, `trace`, or
    /// `module=level,…`; `info`); `RUST_LOG` overrides it.
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
        Config::parse_with(text, origin, &Overrides::default())
    }

    /// Parses `text`, applies the command line's `overrides`, and checks
    /// the result (so `--node` can complete a `[cluster]` section).
    pub fn parse_with(text: &str, origin: &str, overrides: &Overrides) -> Result<Config> {
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
        overrides.apply(&mut config);
        config
            .check()
            .with_context(|| format!("{origin}: invalid configuration"))?;
        config.cache.take_component_digests();
        Ok(config)
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        Config::load_with(Some(path), &Overrides::default())
    }

    /// Reads the file at `path` (or the embedded default), applies the
    /// command line's `overrides`, and checks the result.
    pub fn load_with(path: Option<&Path>, overrides: &Overrides) -> Result<Config> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Config::parse_with(&text, &path.display().to_string(), overrides)
            }
            None => Config::parse_with(DEFAULT_TOML, "embedded default", overrides),
        }
    }

    /// The embedded default configuration.
    pub fn embedded() -> Config {
        Config::parse(DEFAULT_TOML, "embedded default").expect("the embedded default is valid")
    }

    /// The checked slot map when cluster mode is on.
    pub fn cluster_map(&self) -> Option<&std::sync::Arc<super::cluster::ClusterMap>> {
        self.cluster.as_ref().and_then(|c| c.map.as_ref())
    }

    /// Checks every setting (and builds the cluster's slot map).
    fn check(&mut self) -> Result<()> {
        if let Some(cluster) = &mut self.cluster {
            cluster.check()?;
        } else if self.overrides.node.is_some() {
            bail!("--node names a cluster node, but the configuration has no [cluster]");
        }
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
        if super::keyspace::events::parse(&s.notify_keyspace_events).is_none() {
            bail!(
                "server.notify_keyspace_events = {:?}: Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                s.notify_keyspace_events
            );
        }
        if s.busy_reply_threshold_ms == 0 || s.script_memory_bytes < 1 << 20 {
            bail!(
                "server.busy_reply_threshold_ms must be positive and server.script_memory_bytes \
                 at least 1 MiB"
            );
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
            if cold.dir.as_os_str().is_empty() {
                bail!("cache.cold.dir must name a directory");
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
        let err = Config::parse("[cache]\nwarm_bytes = \"12 parsecs\"\n", "z")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("z:2:14:") && err.contains("not a size"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_file_is_the_embedded_default() {
        let empty = Config::parse("", "empty").unwrap();
        assert_eq!(empty, Config::embedded());
        assert_eq!(empty, Config::default());
        assert!(empty.cache.cold.is_some() && empty.cache.warm_bytes > 0);
    }

    #[test]
    fn a_file_names_only_what_it_changes_in_any_unit() {
        let c = Config::parse(
            "[server]\nmaxclients = 7\n[cache]\nmemory_bytes = \"1gb\"\nwarm_bytes = 0\n\
             [cache.cold]\nsegment_bytes = \"1MiB\"\ncapacity_bytes = \"64mb\"\n",
            "mine",
        )
        .unwrap();
        assert_eq!(c.server.maxclients, 7);
        assert_eq!(c.server.listen, ServerConfig::default().listen);
        assert_eq!(c.cache.memory_bytes, 1 << 30);
        assert_eq!(c.cache.warm_bytes, 0);
        let cold = c.cache.cold.unwrap();
        assert_eq!(
            (cold.segment_bytes, cold.capacity_bytes),
            (1 << 20, 64 << 20)
        );
        assert_eq!(cold.sync, "every 1000");
        let off = Config::parse("[cache.cold]\nenabled = false\n", "off").unwrap();
        assert!(off.cache.cold.is_none());
        let err = Config::parse("[cache.cold]\ncapacity_bytes = \"1mb\"\n", "small").unwrap_err();
        assert!(
            format!("{err:#}").contains("at least 4 segments"),
            "{err:#}"
        );
    }

    #[test]
    fn command_line_overrides_win_and_are_kept_for_reloads() {
        let overrides = Overrides {
            port: Some(7001),
            bind: Some("0.0.0.0".parse().unwrap()),
            dir: Some(PathBuf::from("/tmp/elsewhere")),
            node: None,
        };
        let c = Config::load_with(None, &overrides).unwrap();
        assert_eq!(c.server.listen, "0.0.0.0:7001".parse().unwrap());
        assert_eq!(
            c.cache.cold.as_ref().unwrap().dir,
            PathBuf::from("/tmp/elsewhere")
        );
        assert_eq!(c.overrides, overrides);
    }
}
