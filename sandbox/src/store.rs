//! What each store (one component instance) carries: the sandbox's
//! resource accounting, and WASI's state when the `wasi` feature links it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::ResourceLimiter;

use crate::Limits;

/// Most table elements an instance may hold.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// What a store carries: the sandbox's resource accounting. It is the
/// store's `ResourceLimiter`: growing memory past the cap traps (rather than
/// failing `memory.grow`, which a guest could ignore and retry forever).
pub(crate) struct Ctx {
    memory_cap: usize,
    memory_bytes: usize,
    #[cfg(feature = "wasi")]
    pub(crate) wasi: crate::wasi::WasiState,
    _live: LiveStore,
}

/// Counts a store in its runtime's live count while it exists: a store is
/// one component instance, dropped when its policy is replaced or fails.
struct LiveStore(Arc<AtomicUsize>);

impl LiveStore {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        LiveStore(Arc::clone(count))
    }
}

impl Drop for LiveStore {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Ctx {
    /// A store's context under `limits`, counted in `live` while it exists.
    pub(crate) fn new(limits: &Limits, live: &Arc<AtomicUsize>) -> Ctx {
        Ctx {
            memory_cap: limits.max_memory_bytes,
            memory_bytes: 0,
            #[cfg(feature = "wasi")]
            wasi: crate::wasi::WasiState {
                ctx: crate::wasi::context(limits.show_guest_output),
                table: wasmtime::component::ResourceTable::new(),
            },
            _live: LiveStore::new(live),
        }
    }

    /// Linear memory the instance holds, in bytes.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }
}

impl ResourceLimiter for Ctx {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_bytes - current.min(self.memory_bytes) + desired;
        if total > self.memory_cap {
            return Err(wasmtime::Error::msg(format!(
                "memory limit exceeded: growing to {desired} bytes would hold {total} of {} bytes",
                self.memory_cap
            )));
        }
        self.memory_bytes = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(wasmtime::Error::msg(format!(
                "table limit exceeded: {desired} of {MAX_TABLE_ELEMENTS} elements"
            )));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        8
    }

    fn memories(&self) -> usize {
        4
    }
}

#[cfg(feature = "wasi")]
impl wasmtime_wasi::WasiView for Ctx {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.wasi.ctx,
            table: &mut self.wasi.table,
        }
    }
}
