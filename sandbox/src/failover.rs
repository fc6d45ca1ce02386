//! A failover-policy component: observes tier health, decides what to do.

use std::time::Duration;

use crate::bindings::failover::{self as wit, FailoverPolicy as Bindings};
use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::limits::World;
use crate::runtime::{Loaded, Pre};
use crate::store::Ctx;

/// The longest a failover policy may defer its next decision: whatever it
/// asks for is clamped to this (the engine's bound).
///
/// ```
/// assert_eq!(goldylox_sandbox::MAX_RETRY_AFTER, goldylox::health::RETRY_MAX);
/// ```
pub const MAX_RETRY_AFTER: Duration = goldylox::health::RETRY_MAX;

/// The engine's types: what to do with a tier, a bounded decision, a
/// health event as the failover world numbers them.
pub use goldylox::health::{Action, Decision, HealthEvent};

/// One instance of a failover-policy component, with its own store. After a
/// failed call the store is dropped and later calls fail at once.
///
/// ```
/// use goldylox_sandbox::{Action, WasmFailover};
/// use goldylox_sandbox::{embedded, Runtime};
/// let sandbox = Runtime::new()?;
/// let mut breaker = WasmFailover::new(&sandbox.load_spec("wasm:breaker")?, &[])?;
/// assert_eq!(breaker.decide(goldylox::health::COLD_TIER, 0)?.action, Action::Keep);
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
pub struct WasmFailover(Instance<Bindings>);

impl WasmFailover {
    /// Instantiates `loaded` (which must export `failover-policy`) and calls
    /// its `init`.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let params = [("error-threshold".to_string(), "3".to_string())];
    /// let breaker = goldylox_sandbox::WasmFailover::new(&sandbox.load_spec("wasm:breaker")?, &params)?;
    /// # drop(breaker);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn new(loaded: &Loaded, params: &[(String, String)]) -> Result<WasmFailover> {
        loaded.require_world(World::Failover)?;
        let Pre::Failover(pre) = &loaded.pre else {
            unreachable!("checked by require_world");
        };
        Instance::new(
            loaded,
            |store| pre.instantiate(store),
            |store, b| b.call_init(store, params),
        )
        .map(WasmFailover)
    }

    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut wasmtime::Store<Ctx>, &Bindings) -> wasmtime::Result<T>,
    ) -> Result<T> {
        self.0
            .call(what, f)
            .map_err(|m| Error::msg(ErrorKind::Call, m))
    }

    /// Observes health events in order.
    ///
    /// ```
    /// use goldylox::health::{kind, COLD_TIER};
    /// use goldylox_sandbox::{HealthEvent, WasmFailover};
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let mut breaker = WasmFailover::new(&sandbox.load_spec("wasm:breaker")?, &[])?;
    /// breaker.observe(&[HealthEvent { tier: COLD_TIER, kind: kind::ERROR, at_ms: 1 }])?;
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn observe(&mut self, events: &[HealthEvent]) -> Result<()> {
        let tiers: Vec<u8> = events.iter().map(|e| e.tier).collect();
        let kinds: Vec<u8> = events.iter().map(|e| e.kind).collect();
        let at: Vec<u64> = events.iter().map(|e| e.at_ms).collect();
        self.call("observe", |store, b| {
            b.call_observe(store, &tiers, &kinds, &at)
        })
    }

    /// The decision for `tier` at `now_ms`, bounded.
    ///
    /// ```
    /// use goldylox::health::{kind, COLD_TIER};
    /// use goldylox_sandbox::{Action, HealthEvent, WasmFailover};
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let params = [("error-threshold".to_string(), "1".to_string())];
    /// let mut breaker = WasmFailover::new(&sandbox.load_spec("wasm:breaker")?, &params)?;
    /// breaker.observe(&[HealthEvent { tier: COLD_TIER, kind: kind::ERROR, at_ms: 1 }])?;
    /// assert_eq!(breaker.decide(COLD_TIER, 2)?.action, Action::Bypass);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn decide(&mut self, tier: u8, now_ms: u64) -> Result<Decision> {
        let d = self.call("decide", |store, b| b.call_decide(store, tier, now_ms))?;
        let action = match d.action {
            wit::Action::Keep => Action::Keep,
            wit::Action::Bypass => Action::Bypass,
            wit::Action::Probe => Action::Probe,
            wit::Action::Restore => Action::Restore,
        };
        let retry_after = Duration::from_millis(u64::from(d.retry_after_ms)).min(MAX_RETRY_AFTER);
        Ok(Decision {
            action,
            retry_after,
        })
    }
}

/// A failover component drives the cold tier's circuit breaker.
impl goldylox::health::FailoverPolicy for WasmFailover {
    fn observe(&mut self, events: &[HealthEvent]) -> Result<(), goldylox::PolicyError> {
        WasmFailover::observe(self, events)
            .map_err(|e| goldylox::PolicyError::Failed(format!("{e:#}")))
    }

    fn decide(&mut self, tier: u8, now_ms: u64) -> Result<Decision, goldylox::PolicyError> {
        WasmFailover::decide(self, tier, now_ms)
            .map_err(|e| goldylox::PolicyError::Failed(format!("{e:#}")))
    }
}
