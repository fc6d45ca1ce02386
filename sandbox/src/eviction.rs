//! An eviction-policy component behind the engine's [`EvictionPolicy`].

use std::sync::Arc;

use crate::bindings::eviction::EvictionPolicy as Bindings;
use crate::error::Result;
use crate::instance::Instance;
use crate::runtime::{Loaded, Pre, World};
use crate::store::Ctx;
use goldylox::{EventBatch, EvictionPolicy, PolicyError, PolicyFactory};

/// One instance of an eviction-policy component: its own store, called by one
/// maintenance thread. After any failed call the store is dropped and every
/// later call fails at once, without entering the guest.
pub struct WasmPolicy(Instance<Bindings>);

impl WasmPolicy {
    /// Instantiates `loaded` (which must export `eviction-policy`) and calls
    /// its `init` with `capacity` and `params`.
    pub fn new(loaded: &Loaded, capacity: u64, params: &[(String, String)]) -> Result<WasmPolicy> {
        loaded.require_world(World::Eviction)?;
        let Pre::Eviction(pre) = &loaded.pre else {
            unreachable!("checked by require_world");
        };
        Instance::new(
            loaded,
            |store| pre.instantiate(store),
            |store, b| b.call_init(store, capacity, params),
        )
        .map(WasmPolicy)
    }

    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut wasmtime::Store<Ctx>, &Bindings) -> wasmtime::Result<T>,
    ) -> Result<T, PolicyError> {
        self.0.call(what, f).map_err(PolicyError::Failed)
    }

    /// Bytes of linear memory the instance holds (0 once it has failed).
    pub fn memory_bytes(&self) -> usize {
        self.0.memory_bytes()
    }

    /// Whether a call failed and the instance was dropped.
    pub fn failed(&self) -> bool {
        self.0.failed()
    }
}

impl EvictionPolicy for WasmPolicy {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        self.call("apply", |store, b| {
            b.call_apply(store, batch.kinds(), batch.hashes(), batch.weights())
        })
    }

    fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        // The list was lifted from a memory the limiter caps, so its length
        // is bounded; the engine drops (and counts) anything past `max` and
        // checks every hash against its index.
        let victims = self.call("evict", |store, b| b.call_evict(store, max, need))?;
        out.extend(victims);
        Ok(())
    }

    fn admit(&mut self, candidate: u64, victim: u64) -> Result<bool, PolicyError> {
        self.call("admit", |store, b| b.call_admit(store, candidate, victim))
    }
}

/// Builds [`WasmPolicy`] instances of one loaded component with fixed
/// parameters — what the engine holds to build, and rebuild, a tier's policy.
pub struct WasmFactory {
    loaded: Loaded,
    params: Vec<(String, String)>,
}

impl WasmFactory {
    /// A factory for `loaded`, which must export `eviction-policy`.
    pub fn new(loaded: Loaded, params: Vec<(String, String)>) -> Result<Arc<WasmFactory>> {
        loaded.require_world(World::Eviction)?;
        Ok(Arc::new(WasmFactory { loaded, params }))
    }

    /// The component this factory instantiates.
    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }
}

impl PolicyFactory for WasmFactory {
    fn build(&self, capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        WasmPolicy::new(&self.loaded, capacity, &self.params)
            .map(|p| crate::builtin::Named::wrap(Box::new(p), &self.params))
            .map_err(|e| PolicyError::Init(format!("{e:#}")))
    }
}
