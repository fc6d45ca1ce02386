//! A prefetch-policy component behind the engine's [`PrefetchPolicy`].

use std::sync::Arc;

use anyhow::{Result, anyhow};
use goldylox::{PolicyError, PrefetchFactory, PrefetchPolicy};
use wasmtime::Store;

use super::bindings::prefetch::PrefetchPolicy as Bindings;
use super::{Ctx, Loaded, Pre, World, describe};

/// One instance of a prefetch-policy component, with its own store. After a
/// failed call the store is dropped and later calls fail at once.
pub struct WasmPrefetch {
    name: String,
    live: Option<(Store<Ctx>, Bindings)>,
    call_deadline: u64,
}

impl WasmPrefetch {
    /// Instantiates `loaded` (which must export `prefetch-policy`) and calls
    /// its `init`; `capacity` bounds the state it keeps, in entries.
    pub fn new(
        loaded: &Loaded,
        capacity: u64,
        params: &[(String, String)],
    ) -> Result<WasmPrefetch> {
        loaded.expect(World::Prefetch)?;
        let Pre::Prefetch(pre) = &loaded.pre else {
            unreachable!("checked by expect");
        };
        let runtime = &loaded.runtime;
        let mut store = runtime.store();
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|e| anyhow!(describe("instantiate", &e)))?;
        bindings
            .call_init(&mut store, capacity, params)
            .map_err(|e| anyhow!(describe("init", &e)))?
            .map_err(|message| anyhow!("init refused: {message}"))?;
        Ok(WasmPrefetch {
            name: loaded.name.clone(),
            live: Some((store, bindings)),
            call_deadline: runtime.limits().call_deadline_ticks,
        })
    }

    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Store<Ctx>, &Bindings) -> wasmtime::Result<T>,
    ) -> Result<T, PolicyError> {
        let Some((store, bindings)) = &mut self.live else {
            return Err(PolicyError::Failed(format!(
                "{}: the instance failed earlier and was dropped",
                self.name
            )));
        };
        store.set_epoch_deadline(self.call_deadline);
        f(store, bindings).map_err(|e| {
            let message = format!("{}: {}", self.name, describe(what, &e));
            self.live = None;
            PolicyError::Failed(message)
        })
    }
}

impl PrefetchPolicy for WasmPrefetch {
    fn name(&self) -> &str {
        &self.name
    }

    fn observe(&mut self, hashes: &[u64], hits: &[u8]) -> Result<(), PolicyError> {
        self.call("observe", |store, b| b.call_observe(store, hashes, hits))
    }

    /// Duplicates are removed and anything past `max` dropped.
    fn propose(&mut self, max: u32, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        let mut proposals = self.call("propose", |store, b| b.call_propose(store, max))?;
        proposals.truncate(max as usize);
        let mut seen = std::collections::HashSet::with_capacity(proposals.len());
        proposals.retain(|h| seen.insert(*h));
        out.extend(proposals);
        Ok(())
    }
}

/// Builds [`WasmPrefetch`] instances of one loaded component with fixed
/// parameters.
pub struct WasmPrefetchFactory {
    loaded: Loaded,
    params: Vec<(String, String)>,
}

impl WasmPrefetchFactory {
    /// A factory for `loaded`, which must export `prefetch-policy`.
    pub fn new(loaded: Loaded, params: Vec<(String, String)>) -> Result<Arc<WasmPrefetchFactory>> {
        loaded.expect(World::Prefetch)?;
        Ok(Arc::new(WasmPrefetchFactory { loaded, params }))
    }
}

impl PrefetchFactory for WasmPrefetchFactory {
    fn build(&self, capacity: u64) -> Result<Box<dyn PrefetchPolicy>, PolicyError> {
        WasmPrefetch::new(&self.loaded, capacity, &self.params)
            .map(|p| Box::new(p) as Box<dyn PrefetchPolicy>)
            .map_err(|e| PolicyError::Init(format!("{e:#}")))
    }
}
