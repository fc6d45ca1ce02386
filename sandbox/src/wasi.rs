//! The WASI a policy component may import, granting nothing.
//!
//! Components made by componentize-py (CPython inside) and componentize-js
//! (SpiderMonkey inside) import WASI 0.2 interfaces even when the policy uses
//! none of them: the interpreter reads its environment and arguments at
//! start, seeds its hash tables from `wasi:random`, asks the clocks, and
//! links stdio, the filesystem and sockets whether or not it touches them.
//! The sandbox links wasmtime-wasi's implementation of every preview-2
//! interface, synchronously, over a context that grants nothing:
//!
//! | interface | what the guest gets |
//! |---|---|
//! | `wasi:cli/environment` | no variables, no arguments, no working directory |
//! | `wasi:cli/stdin` | a closed stream |
//! | `wasi:cli/stdout`, `stderr` | discarded; `policy check` shows them on its stderr |
//! | `wasi:cli/exit` | traps the call, which fails the policy |
//! | `wasi:filesystem` | no preopened directories, so no file can be named |
//! | `wasi:sockets` | TCP, UDP and name lookup refused |
//! | `wasi:clocks` | the host's wall and monotonic clocks (interpreters need them; a policy that decides by them is not reproducible) |
//! | `wasi:random` | the host's generator, seeded per instance (CPython and SpiderMonkey seed their hashing from it) |
//!
//! Nothing here bypasses the sandbox's bounds: a WASI call runs inside the
//! guest call that made it, under the same epoch deadline, and whatever it
//! allocates in the guest counts against the same memory cap. The host-side
//! resources WASI hands out (streams, pollables) live in the store's
//! [`ResourceTable`] and die with the store.

use anyhow::{Context, Result};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiView};

/// A WASI context with nothing granted. `show_output`: the guest's stdout
/// and stderr go to this process's stderr (for `policy check`, where a
/// policy author debugs with `print`); otherwise they are discarded.
pub(crate) fn context(show_output: bool) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if show_output {
        builder
            .stdout(wasmtime_wasi::cli::stderr())
            .stderr(wasmtime_wasi::cli::stderr());
    }
    builder.build()
}

/// Adds every WASI 0.2 interface, synchronous, to `linker`.
pub(crate) fn link<T: WasiView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("linking the WASI interfaces")
}

/// The state WASI keeps in a store.
pub(crate) struct WasiState {
    pub(crate) ctx: WasiCtx,
    pub(crate) table: ResourceTable,
}
