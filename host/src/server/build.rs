//! What a configuration builds: the cache (each tier's policy resolved
//! from its spec — `builtin:NAME`, `wasm:NAME`, a component file, `auto` —
//! the entry weigher, and the builder calls), used at startup and by
//! reload; the listeners it asks for; and the settings of the keyspace
//! and of pub/sub it applies.

use std::sync::Arc;

use anyhow::{Context, Result};
use goldylox::{Cache, PolicyChoice};
use tokio::net::TcpListener;

use super::commands::Store;
use super::config::{self, Config};
use super::value;
use goldylox_sandbox::Runtime;

/// Bytes charged per entry beyond its key and value (index, slot, policy).
pub(crate) const ENTRY_OVERHEAD: u32 = 64;

/// Every policy a configuration names, loaded and checked.
pub struct Policies {
    hot: PolicyChoice,
    warm: Option<PolicyChoice>,
    prefetch: Option<Arc<dyn goldylox::PrefetchFactory>>,
    failover: Option<goldylox::health::FailoverFactory>,
}

/// Resolves every policy `config` names (loading and type-checking each
/// component), so a bad one fails here with the key that names it.
pub fn resolve_policies(config: &Config, runtime: &Runtime) -> Result<Policies> {
    let c = &config.cache;
    let hot = runtime
        .tier_policy(&c.policy, &c.params(), &c.auto_candidates)
        .context("cache.policy")?;
    let warm = (c.warm_bytes > 0)
        .then(|| {
            runtime
                .tier_policy(&c.warm_policy, &c.warm_params(), &c.warm_auto_candidates)
                .context("cache.warm_policy")
        })
        .transpose()?;
    let prefetch = c
        .prefetch
        .as_ref()
        .map(|spec| {
            runtime
                .prefetch_policy(spec, config::params(&c.prefetch_params))
                .context("cache.prefetch")
        })
        .transpose()?;
    let failover = c
        .cold
        .as_ref()
        .map(|cold| {
            runtime
                .failover_policy(&cold.failover, config::params(&cold.failover_params))
                .context("cache.cold.failover")
        })
        .transpose()?;
    Ok(Policies {
        hot,
        warm,
        prefetch,
        failover,
    })
}

/// What an entry is charged against the memory budget: its key, its value
/// and `ENTRY_OVERHEAD` (64 bytes: index, slot, policy).
pub fn entry_weight(key: &[u8], value: &value::Value) -> u32 {
    u32::try_from(key.len() + value.footprint())
        .unwrap_or(u32::MAX)
        .saturating_add(ENTRY_OVERHEAD)
}

/// Builds the cache a configuration describes.
pub fn build_cache(config: &Config, runtime: &Runtime) -> Result<Store> {
    build_cache_told(config, runtime, None)
}

/// Who the server's cache tells what it does by itself.
pub(super) struct Told {
    /// Every key the cache drops by itself (expired, evicted from the last
    /// tier): what keyspace notifications and client-side caching need.
    pub keyspace: std::sync::Arc<super::keyspace::Keyspace>,
    /// How long its maintenance steps take (`LATENCY`'s engine events).
    pub latency: std::sync::Arc<super::latency::LatencyMonitor>,
}

impl Told {
    /// Telling `keyspace` and `latency`.
    pub(super) fn new(
        keyspace: &std::sync::Arc<super::keyspace::Keyspace>,
        latency: &std::sync::Arc<super::latency::LatencyMonitor>,
    ) -> Self {
        Told {
            keyspace: std::sync::Arc::clone(keyspace),
            latency: std::sync::Arc::clone(latency),
        }
    }
}

/// [`build_cache`], telling `told` what the cache does by itself.
pub(super) fn build_cache_told(
    config: &Config,
    runtime: &Runtime,
    told: Option<Told>,
) -> Result<Store> {
    let c = &config.cache;
    let policies = resolve_policies(config, runtime)?;
    let mut b = Cache::builder(c.memory_bytes)
        .name("serve")
        .weigher(|k: &Vec<u8>, v: &value::Value| entry_weight(k, v))
        .policy(policies.hot);
    if let Some(warm) = policies.warm {
        b = b.warm(c.warm_bytes).warm_policy(warm);
    }
    if let Some(prefetch) = policies.prefetch {
        b = b.prefetch(prefetch);
    }
    if let Some(Told { keyspace, latency }) = told {
        b = b
            .departure_listener(move |key, cause| keyspace.departed(key, cause))
            .latency_listener(move |event, took| {
                latency.offer(event.name(), took.as_millis() as u64);
            });
    }
    if let (Some(cold), Some(failover)) = (&c.cold, policies.failover) {
        value::check_data_format(&cold.dir)?;
        b = b
            .cold(cold.engine()?)
            .write_policy(cold.write_policy()?)
            .failover(failover);
    }
    b.build()
        .map_err(|e| anyhow::anyhow!("starting the cache: {e}"))
}

/// The listeners a configuration asks for: Redis, the metrics endpoint
/// (if enabled), TLS (if on) with its acceptor.
pub(super) async fn bind(
    config: &Config,
) -> Result<(
    TcpListener,
    Option<TcpListener>,
    Option<TcpListener>,
    Option<tokio_rustls::TlsAcceptor>,
)> {
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let metrics = match &config.metrics {
        Some(m) => Some(
            TcpListener::bind(m.listen)
                .await
                .with_context(|| format!("metrics endpoint on {}", m.listen))?,
        ),
        None => None,
    };
    let (tls_listener, tls) = match &config.server.tls {
        Some(t) => (
            Some(
                TcpListener::bind(t.listen)
                    .await
                    .with_context(|| format!("TLS listener on {}", t.listen))?,
            ),
            Some(super::tls::acceptor(t)?),
        ),
        None => (None, None),
    };
    Ok((listener, metrics, tls_listener, tls))
}

/// Applies the configuration's notification classes, tracking bound and
/// subscriber limits.
pub(super) fn configure_keyspace(
    config: &Config,
    pubsub: &super::pubsub::PubSub,
    keyspace: &super::keyspace::Keyspace,
) -> Result<()> {
    let s = &config.server;
    let classes = super::keyspace::events::parse(&s.notify_keyspace_events).with_context(|| {
        format!(
            "server.notify_keyspace_events = {:?}: not Redis's event classes",
            s.notify_keyspace_events
        )
    })?;
    keyspace.configure(classes, s.tracking_table_max_keys);
    pubsub.set_limits(s.pubsub_output_limits());
    Ok(())
}
