//! A failover-policy component: observes tier health, decides what to do.

use std::time::Duration;

use anyhow::Result;

use super::bindings::failover::{self as wit, FailoverPolicy as Bindings};
use super::instance::Instance;
use super::{Loaded, Pre, World};

/// The longest a failover policy may defer its next decision: whatever it
/// asks for is clamped to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What the host should do with a tier: the SDK's type, shared by guest and
/// host.
pub use goldylox_policy_sdk::Action;

/// A bounded decision: the action, and when to ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to do now.
    pub action: Action,
    /// When to ask again, clamped to [`MAX_RETRY_AFTER`].
    pub retry_after: Duration,
}

/// A health event, as the failover world numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthEvent {
    /// 0 hot, 1 warm, 2 cold.
    pub tier: u8,
    /// 0 success, 1 error, 2 timeout, 3 probe succeeded, 4 probe failed.
    pub kind: u8,
    /// Milliseconds of the host's clock.
    pub at_ms: u64,
}

/// One instance of a failover-policy component, with its own store. After a
/// failed call the store is dropped and later calls fail at once.
pub struct WasmFailover(Instance<Bindings>);

impl WasmFailover {
    /// Instantiates `loaded` (which must export `failover-policy`) and calls
    /// its `init`.
    pub fn new(loaded: &Loaded, params: &[(String, String)]) -> Result<WasmFailover> {
        loaded.expect(World::Failover)?;
        let Pre::Failover(pre) = &loaded.pre else {
            unreachable!("checked by expect");
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
        f: impl FnOnce(&mut wasmtime::Store<super::Ctx>, &Bindings) -> wasmtime::Result<T>,
    ) -> Result<T> {
        self.0.call(what, f).map_err(anyhow::Error::msg)
    }

    /// Observes health events in order.
    pub fn observe(&mut self, events: &[HealthEvent]) -> Result<()> {
        let tiers: Vec<u8> = events.iter().map(|e| e.tier).collect();
        let kinds: Vec<u8> = events.iter().map(|e| e.kind).collect();
        let at: Vec<u64> = events.iter().map(|e| e.at_ms).collect();
        self.call("observe", |store, b| {
            b.call_observe(store, &tiers, &kinds, &at)
        })
    }

    /// The decision for `tier` at `now_ms`, bounded.
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
