//! An eviction-policy component behind the engine's [`EvictionPolicy`].

use std::sync::Arc;

use crate::bindings::eviction::EvictionPolicy as Bindings;
use crate::error::Result;
use crate::instance::Instance;
use crate::limits::World;
use crate::runtime::{Loaded, Pre};
use crate::store::Ctx;
use goldylox::{EventBatch, EvictionPolicy, PolicyError, PolicyFactory};

/// One instance of an eviction-policy component: its own store, called by one
/// maintenance thread. After any failed call the store is dropped and every
/// later call fails at once, without entering the guest.
///
/// ```
/// use goldylox::{EventBatch, EventKind, EvictionPolicy};
/// use goldylox_sandbox::{embedded, Runtime};
/// let sandbox = Runtime::new()?;
/// let loaded = sandbox.load_spec("wasm:s3fifo")?;
/// let mut policy = goldylox_sandbox::WasmPolicy::new(&loaded, 1 << 20, &[])?;
/// let mut batch = EventBatch::with_capacity(1);
/// batch.push(EventKind::Insert, 7, 100);
/// policy.apply(&batch)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WasmPolicy(Instance<Bindings>);

impl WasmPolicy {
    /// Instantiates `loaded` (which must export `eviction-policy`) and calls
    /// its `init` with `capacity` and `params`.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let loaded = sandbox.load_spec("wasm:clock")?;
    /// let params = [("n-bit-counter".to_string(), "2".to_string())];
    /// let policy = goldylox_sandbox::WasmPolicy::new(&loaded, 1 << 20, &params)?;
    /// # drop(policy);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
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
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let policy = goldylox_sandbox::WasmPolicy::new(&sandbox.load_spec("wasm:fifo")?, 1 << 20, &[])?;
    /// assert!(policy.memory_bytes() > 0, "its linear memory");
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn memory_bytes(&self) -> usize {
        self.0.memory_bytes()
    }

    /// Whether a call failed and the instance was dropped.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let policy = goldylox_sandbox::WasmPolicy::new(&sandbox.load_spec("wasm:fifo")?, 1 << 20, &[])?;
    /// assert!(!policy.failed());
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
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
///
/// ```
/// use goldylox::{Cache, PolicyChoice};
/// use goldylox_sandbox::{embedded, Runtime};
/// let sandbox = Runtime::new()?;
/// let factory = goldylox_sandbox::WasmFactory::new(sandbox.load_spec("wasm:arc")?, vec![])?;
/// let cache: Cache<u64, u64> = Cache::builder(1 << 20).policy(PolicyChoice::Custom(factory)).build()?;
/// # drop(cache);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WasmFactory {
    loaded: Loaded,
    params: Vec<(String, String)>,
}

impl WasmFactory {
    /// A factory for `loaded`, which must export `eviction-policy`.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let loaded = sandbox.load_spec("wasm:lecar")?;
    /// let factory = goldylox_sandbox::WasmFactory::new(loaded, vec![])?;
    /// # drop(factory);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn new(loaded: Loaded, params: Vec<(String, String)>) -> Result<Arc<WasmFactory>> {
        loaded.require_world(World::Eviction)?;
        Ok(Arc::new(WasmFactory { loaded, params }))
    }

    /// The component this factory instantiates.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let factory = goldylox_sandbox::WasmFactory::new(sandbox.load_spec("wasm:fifo")?, vec![])?;
    /// assert_eq!(factory.loaded().name, "fifo");
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
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
