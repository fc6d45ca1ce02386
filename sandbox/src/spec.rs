//! Policy specs: the strings a configuration, a command line or an embedder
//! names a policy with, resolved to what the engine takes.
//!
//! | spec | what it is |
//! |---|---|
//! | `builtin:NAME` | a native built-in policy ([`BUILTINS`](crate::BUILTINS)) |
//! | `wasm:NAME` | a component built into this crate ([`EMBEDDED`](crate::EMBEDDED)) |
//! | a path | a component file (binary, or text ending in `.wat`) |
//! | `auto` | a race between candidates ([`Runtime::tier_policy`]) |

use std::sync::Arc;

use goldylox::health::{FailoverFactory, FailoverPolicy, NativeBreaker};
use goldylox::{PolicyChoice, PrefetchFactory};

use crate::error::{Classify, Error, ErrorKind, Result};
use crate::{Runtime, WasmFactory, WasmFailover, WasmPrefetchFactory, World};

/// `key=value` parameters for a policy's `init`.
///
/// ```
/// let params: goldylox_sandbox::Params = vec![("capacity-ratio".into(), "0.1".into())];
/// let sandbox = goldylox_sandbox::Runtime::new()?;
/// let markov = sandbox.prefetch_policy("wasm:markov", params);
/// # drop(markov);
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
pub type Params = Vec<(String, String)>;

impl Runtime {
    /// Resolves an eviction policy spec (`builtin:NAME`, `wasm:NAME`, a
    /// component path) with its parameters. A component is loaded,
    /// type-checked and built once here, so that bad parameters fail now
    /// with the policy's own message rather than on the maintenance thread.
    /// The policy reports itself as `name(k=v,…)` when it has parameters.
    ///
    /// ```
    /// use goldylox::{Cache, PolicyTier};
    /// let sandbox = goldylox_sandbox::Runtime::new()?;
    /// let params = [("n-bit-counter".to_string(), "2".to_string())];
    /// let clock = sandbox.eviction_policy("wasm:clock", &params)?;
    /// let cache: Cache<u64, u64> = Cache::builder(1 << 20).policy(clock).build()?;
    /// let status = cache.policy_status(PolicyTier::Hot).unwrap();
    /// assert_eq!(status.name, "clock(n-bit-counter=2)");
    /// assert!(sandbox.eviction_policy("wasm:markov", &[]).is_err(), "a prefetcher");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn eviction_policy(&self, spec: &str, params: &[(String, String)]) -> Result<PolicyChoice> {
        if let Some(name) = spec.strip_prefix("builtin:") {
            return crate::builtin::builtin_checked(name, params);
        }
        let loaded = self.load_spec(spec)?;
        if loaded.world != World::Eviction {
            return Err(Error::msg(
                ErrorKind::World,
                format_args!("{spec} exports {}, not eviction-policy", loaded.world),
            ));
        }
        let factory = WasmFactory::new(loaded, params.to_vec())?;
        goldylox::PolicyFactory::build(&*factory, 1 << 20)
            .map_err(|e| Error::msg(ErrorKind::Init, format_args!("{spec}: {e}")))?;
        Ok(PolicyChoice::Custom(factory))
    }

    /// Resolves a tier's policy: `auto` (a race between `candidates`, by
    /// default [`AUTO_DEFAULT`](crate::AUTO_DEFAULT), each resolved like any
    /// spec and run with its defaults) or a single spec with `params`
    /// ([`Runtime::eviction_policy`]).
    ///
    /// ```
    /// use goldylox::{Cache, PolicyChoice};
    ///
    /// let sandbox = goldylox_sandbox::Runtime::new()?;
    /// // A race between a component and two native policies.
    /// let candidates = ["wasm:s3fifo", "builtin:lru", "builtin:wtinylfu"].map(String::from);
    /// let auto = sandbox.tier_policy("auto", &[], &candidates)?;
    /// assert!(matches!(auto, PolicyChoice::Auto(_)));
    /// let cache: Cache<u64, u64> = Cache::builder(1 << 20).policy(auto).build()?;
    /// # drop(cache);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tier_policy(
        &self,
        spec: &str,
        params: &[(String, String)],
        candidates: &[String],
    ) -> Result<PolicyChoice> {
        let refuse = |message: &str| Err(Error::msg(ErrorKind::Init, message));
        if spec != "auto" {
            if !candidates.is_empty() {
                return refuse(&format!(
                    "auto candidates are given, but the policy is {spec:?}, not \"auto\""
                ));
            }
            return self.eviction_policy(spec, params);
        }
        if !params.is_empty() {
            return refuse("auto takes no parameters (its candidates run with their defaults)");
        }
        let defaults: Vec<String> = crate::AUTO_DEFAULT
            .iter()
            .map(|n| format!("builtin:{n}"))
            .collect();
        let names = if candidates.is_empty() {
            &defaults[..]
        } else {
            candidates
        };
        let mut racers = Vec::with_capacity(names.len());
        for name in names {
            if name == "auto" {
                return refuse("auto cannot be its own candidate");
            }
            let choice = self
                .eviction_policy(name, &[])
                .map_err(|e| e.within(format!("auto candidate {name:?}")))?;
            racers.push(goldylox::Candidate::new(name.clone(), choice));
        }
        let config = goldylox::AutoConfig::new(racers).kind(ErrorKind::Init)?;
        Ok(PolicyChoice::Auto(Arc::new(config)))
    }

    /// Resolves a prefetch policy spec (`builtin:markov`, `wasm:NAME`, a
    /// component path) with its parameters.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let native = sandbox.prefetch_policy("builtin:markov", vec![])?;
    /// let component = sandbox.prefetch_policy("wasm:markov", vec![])?;
    /// # drop((native, component));
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn prefetch_policy(&self, spec: &str, params: Params) -> Result<Arc<dyn PrefetchFactory>> {
        if let Some(name) = spec.strip_prefix("builtin:") {
            return crate::prefetch_builtin(name, &params).ok_or_else(|| {
                Error::msg(
                    ErrorKind::Unknown,
                    format_args!(
                        "unknown built-in prefetch policy {spec:?} (there is builtin:markov)"
                    ),
                )
            });
        }
        Ok(WasmPrefetchFactory::new(self.load_spec(spec)?, params)?)
    }

    /// Resolves a failover policy spec: `builtin:breaker` (the engine's
    /// native breaker) or a failover component (`wasm:breaker`, a path),
    /// loaded and built once now, so that a bad one fails here and not at
    /// the first outage.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let factory = sandbox.failover_policy("wasm:breaker", vec![])?;
    /// # let dir = tempfile_dir();
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
    ///     .cold(goldylox::cold::ColdConfig::new(&dir, 1 << 30))
    ///     .failover(factory)
    ///     .build()?;
    /// # drop(cache);
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// # fn tempfile_dir() -> std::path::PathBuf {
    /// #     std::env::temp_dir().join(format!("goldylox-doc-failover-{}", std::process::id()))
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failover_policy(&self, spec: &str, params: Params) -> Result<FailoverFactory> {
        if spec == "builtin:breaker" {
            NativeBreaker::new(&params).kind(ErrorKind::Init)?;
            return Ok(Arc::new(move || {
                NativeBreaker::new(&params).map(|b| Box::new(b) as Box<dyn FailoverPolicy>)
            }));
        }
        if spec.starts_with("builtin:") {
            return Err(Error::msg(
                ErrorKind::Unknown,
                format_args!(
                    "unknown built-in failover policy {spec:?} (there is builtin:breaker)"
                ),
            ));
        }
        let loaded = Arc::new(self.load_spec(spec)?);
        WasmFailover::new(&loaded, &params)?;
        Ok(Arc::new(move || {
            WasmFailover::new(&loaded, &params)
                .map(|p| Box::new(p) as Box<dyn FailoverPolicy>)
                .map_err(|e| goldylox::PolicyError::Init(e.to_string()))
        }))
    }
}
