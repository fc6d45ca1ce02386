//! Policies written against the policy SDK, linked in natively: an adapter
//! from the SDK's trait to the engine's, and the registry of built-in
//! policy names.

use std::sync::Arc;

use goldylox::{
    EventBatch, EvictionPolicy, PolicyChoice, PolicyError, PolicyFactory, PrefetchFactory,
    PrefetchPolicy,
};
use goldylox_policy_sdk::{Build, EvictionPolicy as GuestPolicy, PrefetchPolicy as GuestPrefetch};

use crate::error::{Error, ErrorKind, Result};

/// An SDK policy behind the engine's policy interface.
///
/// ```
/// use goldylox::{EventBatch, EventKind, EvictionPolicy};
/// use goldylox_policy_sdk::Build;
/// use goldylox_sandbox::Guest;
/// // A policy written with the SDK, run natively behind the engine's trait.
/// let fifo = goldylox_policy_fifo::Fifo::build(1 << 20, &[]).unwrap();
/// let mut policy = Guest(fifo);
/// let mut batch = EventBatch::with_capacity(2);
/// batch.push(EventKind::Insert, 1, 100);
/// batch.push(EventKind::Insert, 2, 100);
/// policy.apply(&batch)?;
/// let mut victims = Vec::new();
/// policy.evict(1, 100, &mut victims)?;
/// assert_eq!(victims, [1]);
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
pub struct Guest<P>(pub P);

impl<P: GuestPolicy> EvictionPolicy for Guest<P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        self.0.apply(batch.kinds(), batch.hashes(), batch.weights());
        Ok(())
    }

    fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        out.extend(self.0.evict(max, need));
        Ok(())
    }

    fn admit(&mut self, candidate: u64, victim: u64) -> Result<bool, PolicyError> {
        Ok(self.0.admit(candidate, victim))
    }
}

/// Builds an SDK policy with fixed parameters.
struct Factory<P> {
    params: Vec<(String, String)>,
    _policy: std::marker::PhantomData<fn() -> P>,
}

impl<P: Build + GuestPolicy + 'static> PolicyFactory for Factory<P> {
    fn build(&self, capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        let policy = P::build(capacity, &self.params).map_err(PolicyError::Init)?;
        Ok(Named::wrap(Box::new(Guest(policy)), &self.params))
    }
}

/// A policy that reports its parameters in its name, `clock(n-bit-counter=2)`,
/// so that INFO and `GOLDYLOX POLICY STATUS` say exactly what runs.
///
/// ```
/// use goldylox::{EvictionPolicy, Lru};
/// let params = [("n-bit-counter".to_string(), "2".to_string())];
/// let named = goldylox_sandbox::Named::wrap(Box::new(Lru::new(1 << 20)), &params);
/// assert_eq!(named.name(), "lru(n-bit-counter=2)");
/// ```
pub struct Named {
    policy: Box<dyn EvictionPolicy>,
    name: String,
}

impl Named {
    /// `policy` itself when `params` is empty, else `policy` named with them.
    ///
    /// ```
    /// use goldylox::{EvictionPolicy, Lru};
    /// let plain = goldylox_sandbox::Named::wrap(Box::new(Lru::new(1 << 20)), &[]);
    /// assert_eq!(plain.name(), "lru", "no parameters, no suffix");
    /// ```
    pub fn wrap(
        policy: Box<dyn EvictionPolicy>,
        params: &[(String, String)],
    ) -> Box<dyn EvictionPolicy> {
        if params.is_empty() {
            return policy;
        }
        let name = format!("{}({})", policy.name(), describe_params(params));
        Box::new(Named { policy, name })
    }
}

/// `k=v,k2=v2`.
///
/// ```
/// let params = [("a".to_string(), "1".to_string()), ("b".to_string(), "x".to_string())];
/// assert_eq!(goldylox_sandbox::describe_params(&params), "a=1,b=x");
/// ```
pub fn describe_params(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl EvictionPolicy for Named {
    fn name(&self) -> &str {
        &self.name
    }

    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        self.policy.apply(batch)
    }

    fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        self.policy.evict(max, need, out)
    }

    fn admit(&mut self, candidate: u64, victim: u64) -> Result<bool, PolicyError> {
        self.policy.admit(candidate, victim)
    }
}

fn factory<P: Build + GuestPolicy + 'static>(params: &[(String, String)]) -> PolicyChoice {
    PolicyChoice::Custom(Arc::new(Factory::<P> {
        params: params.to_vec(),
        _policy: std::marker::PhantomData,
    }))
}

/// Every built-in policy name.
///
/// ```
/// for name in goldylox_sandbox::BUILTINS {
///     assert!(goldylox_sandbox::builtin(name, &[]).is_some());
/// }
/// ```
pub const BUILTINS: [&str; 10] = [
    "lru", "sieve", "fifo", "clock", "s3fifo", "arc", "wtinylfu", "lecar", "lfuda", "gdsf",
];

/// The candidates of `auto` when none are named: every built-in policy,
/// S3-FIFO first (it runs until the shadows pick another).
///
/// ```
/// assert_eq!(goldylox_sandbox::AUTO_DEFAULT[0], "s3fifo", "it runs first");
/// ```
pub const AUTO_DEFAULT: [&str; 8] = [
    "s3fifo", "lru", "sieve", "fifo", "clock", "arc", "wtinylfu", "lecar",
];

/// The built-in policy called `name` (case-insensitive), with parameters:
/// LRU and SIEVE from the engine, the others from `policies/`.
///
/// ```
/// let wtinylfu = goldylox_sandbox::builtin("wtinylfu", &[]).expect("a built-in");
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
///     .policy(wtinylfu)
///     .build()?;
/// assert!(goldylox_sandbox::builtin("nope", &[]).is_none());
/// # drop(cache);
/// # Ok::<(), goldylox::Error>(())
/// ```
pub fn builtin(name: &str, params: &[(String, String)]) -> Option<PolicyChoice> {
    Some(match name.to_ascii_lowercase().as_str() {
        "fifo" => factory::<goldylox_policy_fifo::Fifo>(params),
        "clock" => factory::<goldylox_policy_clock::Clock>(params),
        "s3fifo" | "s3-fifo" => factory::<goldylox_policy_s3fifo::S3Fifo>(params),
        "arc" => factory::<goldylox_policy_arc::Arc>(params),
        "wtinylfu" | "w-tinylfu" => factory::<goldylox_policy_wtinylfu::WTinyLfu>(params),
        "lecar" => factory::<goldylox_policy_lecar::LeCaR>(params),
        "lfuda" | "lfu-da" => factory::<goldylox_policy_gdsf::Lfuda>(params),
        "gdsf" => factory::<goldylox_policy_gdsf::Gdsf>(params),
        other => PolicyChoice::builtin(other)?,
    })
}

/// The built-in policy `name` with `params`, checked: an unknown name, or
/// parameters the policy refuses (LRU and SIEVE take none), are errors.
///
/// ```
/// use goldylox_sandbox::{builtin_checked, ErrorKind};
/// assert_eq!(builtin_checked("nope", &[]).unwrap_err().kind(), ErrorKind::Unknown);
/// let params = [("x".to_string(), "1".to_string())];
/// assert!(builtin_checked("lru", &params).is_err(), "LRU takes no parameters");
/// assert!(builtin_checked("wtinylfu", &[]).is_ok());
/// ```
pub fn builtin_checked(name: &str, params: &[(String, String)]) -> Result<PolicyChoice> {
    let choice = builtin(name, params).ok_or_else(|| {
        Error::msg(
            ErrorKind::Unknown,
            format_args!(
                "unknown built-in policy {name:?}; there are {}",
                BUILTINS.join(", ")
            ),
        )
    })?;
    match &choice {
        PolicyChoice::Custom(factory) => {
            factory
                .build(1 << 20)
                .map_err(|e| Error::msg(ErrorKind::Init, format_args!("builtin:{name}: {e}")))?;
        }
        _ if !params.is_empty() => {
            return Err(Error::msg(
                ErrorKind::Init,
                format_args!("builtin:{name} takes no parameters"),
            ));
        }
        _ => {}
    }
    Ok(choice)
}

/// An SDK prefetch policy behind the engine's prefetch interface.
///
/// ```
/// use goldylox::PrefetchPolicy;
/// use goldylox_policy_sdk::Build;
/// let markov = goldylox_policy_markov::Markov::build(1024, &[]).unwrap();
/// let mut prefetcher = goldylox_sandbox::GuestPrefetcher(markov);
/// prefetcher.observe(&[1, 2, 1, 2], &[0, 0, 0, 0])?;
/// let mut proposed = Vec::new();
/// prefetcher.propose(4, &mut proposed)?;
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
pub struct GuestPrefetcher<P>(pub P);

impl<P: GuestPrefetch> PrefetchPolicy for GuestPrefetcher<P> {
    fn name(&self) -> &str {
        "prefetch"
    }

    fn observe(&mut self, hashes: &[u64], hits: &[u8]) -> Result<(), PolicyError> {
        self.0.observe(hashes, hits);
        Ok(())
    }

    fn propose(&mut self, max: u32, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        out.extend(self.0.propose(max));
        Ok(())
    }
}

struct PrefetchBuilder<P> {
    params: Vec<(String, String)>,
    _policy: std::marker::PhantomData<fn() -> P>,
}

impl<P: Build + GuestPrefetch + 'static> PrefetchFactory for PrefetchBuilder<P> {
    fn build(&self, capacity: u64) -> Result<Box<dyn PrefetchPolicy>, PolicyError> {
        P::build(capacity, &self.params)
            .map(|p| Box::new(GuestPrefetcher(p)) as Box<dyn PrefetchPolicy>)
            .map_err(PolicyError::Init)
    }
}

/// Every built-in prefetch policy name.
///
/// ```
/// assert!(goldylox_sandbox::prefetch_builtin(goldylox_sandbox::PREFETCH_BUILTINS[0], &[]).is_some());
/// ```
pub const PREFETCH_BUILTINS: [&str; 1] = ["markov"];

/// The built-in prefetch policy called `name`, with parameters.
///
/// ```
/// let markov = goldylox_sandbox::prefetch_builtin("markov", &[]).expect("built in");
/// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20)
///     .warm(4 << 20)
///     .prefetch(markov)
///     .build()?;
/// # drop(cache);
/// # Ok::<(), goldylox::Error>(())
/// ```
pub fn prefetch_builtin(
    name: &str,
    params: &[(String, String)],
) -> Option<Arc<dyn PrefetchFactory>> {
    match name.to_ascii_lowercase().as_str() {
        "markov" => Some(Arc::new(
            PrefetchBuilder::<goldylox_policy_markov::Markov> {
                params: params.to_vec(),
                _policy: std::marker::PhantomData,
            },
        )),
        _ => None,
    }
}
