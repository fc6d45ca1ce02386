//! What a configuration builds: the cache (each tier's policy resolved
//! from its spec — `builtin:NAME`, `wasm:NAME`, a component file, `auto` —
//! the entry weigher, and the builder calls), used at startup and by
//! reload; the listeners it asks for; and the settings of the keyspace
//! and of pub/sub it applies.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use goldylox::{Cache, PolicyChoice};
use tokio::net::TcpListener;

use super::commands::Store;
use super::config::{self, Config};
use super::value;
use crate::wasm::{Runtime, WasmFactory, WasmPrefetchFactory, World};

/// Bytes charged per entry beyond its key and value (index, slot, policy).
pub(crate) const ENTRY_OVERHEAD: u32 = 64;

/// `key=value` parameters for a policy's `init`.
pub type Params = Vec<(String, String)>;

/// Resolves an eviction policy spec (`builtin:NAME`, `wasm:NAME`, a
/// component path) with its parameters; a component is loaded and
/// type-checked here. The policy reports itself as `name(k=v,…)` when it has
/// parameters, so INFO and STATUS show what runs.
pub fn eviction_policy(
    spec: &str,
    params: &[(String, String)],
    runtime: &Runtime,
) -> Result<PolicyChoice> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        return crate::native::builtin_checked(name, params);
    }
    let loaded = runtime.load_spec(spec)?;
    if loaded.world != World::Eviction {
        bail!("{spec} exports {}, not eviction-policy", loaded.world);
    }
    let factory = WasmFactory::new(loaded, params.to_vec())?;
    // Refuse bad parameters now, with the policy's own message, rather than
    // at the first build on the maintenance thread.
    goldylox::PolicyFactory::build(&*factory, 1 << 20)
        .map_err(|e| anyhow::anyhow!("{spec}: {e}"))?;
    Ok(PolicyChoice::Custom(factory))
}

/// Resolves a tier's policy: `auto` (a race between `candidates`, by
/// default every built-in policy, each resolved like any spec) or a single
/// policy spec with `params` ([`eviction_policy`]).
pub fn tier_policy(
    spec: &str,
    params: &[(String, String)],
    candidates: &[String],
    runtime: &Runtime,
) -> Result<PolicyChoice> {
    if spec != "auto" {
        if !candidates.is_empty() {
            bail!("auto candidates are given, but the policy is {spec:?}, not \"auto\"");
        }
        return eviction_policy(spec, params, runtime);
    }
    if !params.is_empty() {
        bail!("auto takes no parameters (its candidates run with their defaults)");
    }
    let defaults: Vec<String>;
    let names = if candidates.is_empty() {
        defaults = crate::native::AUTO_DEFAULT
            .iter()
            .map(|n| format!("builtin:{n}"))
            .collect();
        &defaults[..]
    } else {
        candidates
    };
    let candidates = names
        .iter()
        .map(|name| {
            if name == "auto" {
                bail!("auto cannot be its own candidate");
            }
            let choice = eviction_policy(name, &[], runtime)
                .with_context(|| format!("auto candidate {name:?}"))?;
            Ok(goldylox::Candidate::new(name.clone(), choice))
        })
        .collect::<Result<Vec<_>>>()?;
    let config = goldylox::AutoConfig::new(candidates).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(PolicyChoice::Auto(Arc::new(config)))
}

fn prefetch_policy(
    spec: &str,
    params: Params,
    runtime: &Runtime,
) -> Result<Arc<dyn goldylox::PrefetchFactory>> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        return crate::native::prefetch_builtin(name, &params)
            .with_context(|| format!("unknown built-in prefetch policy {spec:?}"));
    }
    Ok(WasmPrefetchFactory::new(runtime.load_spec(spec)?, params)?)
}

/// The cold tier's failover policy: `builtin:breaker` (the native breaker)
/// or a failover component (`wasm:breaker`, a path), loaded and checked now
/// so a bad one fails the configuration, not the first outage.
fn failover_policy(
    spec: &str,
    params: Vec<(String, String)>,
    runtime: &Runtime,
) -> Result<goldylox::health::FailoverFactory> {
    use goldylox::health::{FailoverPolicy, NativeBreaker};
    if spec == "builtin:breaker" {
        NativeBreaker::new(&params).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(Arc::new(move || {
            NativeBreaker::new(&params).map(|b| Box::new(b) as Box<dyn FailoverPolicy>)
        }));
    }
    if spec.starts_with("builtin:") {
        anyhow::bail!("unknown built-in failover policy {spec:?} (there is builtin:breaker)");
    }
    let loaded = Arc::new(runtime.load_spec(spec)?);
    crate::wasm::WasmFailover::new(&loaded, &params)?;
    Ok(Arc::new(move || {
        crate::wasm::WasmFailover::new(&loaded, &params)
            .map(|p| Box::new(p) as Box<dyn FailoverPolicy>)
            .map_err(|e| goldylox::PolicyError::Init(format!("{e:#}")))
    }))
}

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
    let hot =
        tier_policy(&c.policy, &c.params(), &c.auto_candidates, runtime).context("cache.policy")?;
    let warm = (c.warm_bytes > 0)
        .then(|| {
            tier_policy(
                &c.warm_policy,
                &c.warm_params(),
                &c.warm_auto_candidates,
                runtime,
            )
            .context("cache.warm_policy")
        })
        .transpose()?;
    let prefetch = c
        .prefetch
        .as_ref()
        .map(|spec| {
            prefetch_policy(spec, config::params(&c.prefetch_params), runtime)
                .context("cache.prefetch")
        })
        .transpose()?;
    let failover = c
        .cold
        .as_ref()
        .map(|cold| {
            failover_policy(
                &cold.failover,
                config::params(&cold.failover_params),
                runtime,
            )
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
