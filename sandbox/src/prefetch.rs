//! A prefetch-policy component behind the engine's [`PrefetchPolicy`].

use std::sync::Arc;

use goldylox::{PolicyError, PrefetchFactory, PrefetchPolicy};

use crate::bindings::prefetch::PrefetchPolicy as Bindings;
use crate::error::Result;
use crate::instance::Instance;
use crate::limits::World;
use crate::runtime::{Loaded, Pre};
use crate::store::Ctx;

/// One instance of a prefetch-policy component, with its own store. After a
/// failed call the store is dropped and later calls fail at once.
///
/// ```
/// use goldylox::PrefetchPolicy;
/// use goldylox_sandbox::{embedded, Runtime};
/// let sandbox = Runtime::new()?;
/// let mut markov = goldylox_sandbox::WasmPrefetch::new(&sandbox.load_spec("wasm:markov")?, 4096, &[])?;
/// markov.observe(&[1, 2, 1, 2], &[0, 0, 0, 0])?;
/// let mut out = Vec::new();
/// markov.propose(8, &mut out)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WasmPrefetch(Instance<Bindings>);

impl WasmPrefetch {
    /// Instantiates `loaded` (which must export `prefetch-policy`) and calls
    /// its `init`; `capacity` bounds the state it keeps, in entries.
    ///
    /// ```
    /// let sandbox = goldylox_sandbox::Runtime::new()?;
    /// let loaded = sandbox.load_spec("wasm:markov")?;
    /// let markov = goldylox_sandbox::WasmPrefetch::new(&loaded, 4096, &[])?;
    /// # drop(markov);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn new(
        loaded: &Loaded,
        capacity: u64,
        params: &[(String, String)],
    ) -> Result<WasmPrefetch> {
        loaded.require_world(World::Prefetch)?;
        let Pre::Prefetch(pre) = &loaded.pre else {
            unreachable!("checked by require_world");
        };
        Instance::new(
            loaded,
            |store| pre.instantiate(store),
            |store, b| b.call_init(store, capacity, params),
        )
        .map(WasmPrefetch)
    }

    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut wasmtime::Store<Ctx>, &Bindings) -> wasmtime::Result<T>,
    ) -> Result<T, PolicyError> {
        self.0.call(what, f).map_err(PolicyError::Failed)
    }
}

impl PrefetchPolicy for WasmPrefetch {
    fn name(&self) -> &str {
        self.0.name()
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
///
/// ```
/// use goldylox_sandbox::{embedded, Runtime};
/// let sandbox = Runtime::new()?;
/// let factory = goldylox_sandbox::WasmPrefetchFactory::new(sandbox.load_spec("wasm:markov")?, vec![])?;
/// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20)
///     .warm(4 << 20)
///     .prefetch(factory)
///     .build()?;
/// # drop(cache);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WasmPrefetchFactory {
    loaded: Loaded,
    params: Vec<(String, String)>,
}

impl WasmPrefetchFactory {
    /// A factory for `loaded`, which must export `prefetch-policy`.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let wrong = goldylox_sandbox::WasmPrefetchFactory::new(sandbox.load_spec("wasm:fifo")?, vec![]);
    /// assert!(wrong.is_err(), "fifo is an eviction policy, not a prefetcher");
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn new(loaded: Loaded, params: Vec<(String, String)>) -> Result<Arc<WasmPrefetchFactory>> {
        loaded.require_world(World::Prefetch)?;
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
