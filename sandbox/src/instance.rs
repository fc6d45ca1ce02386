//! One component instance in its own store: instantiated and initialised
//! under the init deadline, then called under the call deadline. The first
//! failed call drops the store (a trap poisons it) and every later call fails
//! at once without entering the guest. The three world wrappers are thin
//! layers over this.

use wasmtime::Store;

use crate::error::{Error, ErrorKind, Result};
use crate::runtime::{Loaded, describe};
use crate::store::Ctx;

pub(crate) struct Instance<B> {
    name: String,
    live: Option<(Store<Ctx>, B)>,
    call_deadline: u64,
}

impl<B> Instance<B> {
    /// Instantiates `loaded` with `instantiate` and runs `init`, whose
    /// `Err(message)` is the guest refusing its parameters.
    pub(crate) fn new(
        loaded: &Loaded,
        instantiate: impl FnOnce(&mut Store<Ctx>) -> wasmtime::Result<B>,
        init: impl FnOnce(&mut Store<Ctx>, &B) -> wasmtime::Result<Result<(), String>>,
    ) -> Result<Instance<B>> {
        let runtime = &loaded.runtime;
        let mut store = runtime.store();
        let bindings = instantiate(&mut store)
            .map_err(|e| Error::msg(ErrorKind::Init, describe("instantiate", &e)))?;
        store.set_epoch_deadline(runtime.limits().init_deadline_ticks);
        init(&mut store, &bindings)
            .map_err(|e| Error::msg(ErrorKind::Init, describe("init", &e)))?
            .map_err(|message| {
                Error::msg(ErrorKind::Init, format_args!("init refused: {message}"))
            })?;
        Ok(Instance {
            name: loaded.name.clone(),
            live: Some((store, bindings)),
            call_deadline: runtime.limits().call_deadline_ticks,
        })
    }

    /// Runs one guest call under the call deadline; a failure drops the
    /// store and is described as `name: call: what happened`.
    pub(crate) fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Store<Ctx>, &B) -> wasmtime::Result<T>,
    ) -> Result<T, String> {
        let Some((store, bindings)) = &mut self.live else {
            return Err(format!(
                "{}: the instance failed earlier and was dropped",
                self.name
            ));
        };
        store.set_epoch_deadline(self.call_deadline);
        f(store, bindings).map_err(|e| {
            self.live = None;
            format!("{}: {}", self.name, describe(what, &e))
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether a call failed and the store was dropped.
    pub(crate) fn failed(&self) -> bool {
        self.live.is_none()
    }

    /// Linear memory the instance holds (0 once it failed).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.live
            .as_ref()
            .map_or(0, |(store, _)| store.data().memory_bytes())
    }
}
