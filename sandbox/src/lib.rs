//! # goldylox-sandbox
//!
//! Cache policies as WebAssembly components, for the `goldylox` engine: what
//! an application needs to run a policy from a `.wasm` file in its own
//! process, without the server.
//!
//! * [`Runtime`] is the sandbox: wasmtime (Cranelift, the component model),
//!   an epoch ticker for call deadlines, a memory cap per instance, and a
//!   cache of compiled artifacts. [`Runtime::load_file`] and
//!   [`Runtime::load`] compile and type-check a component against the worlds
//!   of `wit/policy.wit`.
//! * [`Runtime::eviction_policy`] turns a spec — a component file, a
//!   component built in (`wasm:s3fifo`), a native built-in
//!   (`builtin:wtinylfu`) — into the [`PolicyChoice`](goldylox::PolicyChoice)
//!   that [`goldylox::CacheBuilder::policy`] takes; [`Runtime::tier_policy`]
//!   adds `auto`. [`WasmFactory`], [`WasmPrefetchFactory`] and
//!   [`WasmFailover`] are the engine's policy interfaces over a component.
//! * [`builtin`] names the native built-in policies; [`EMBEDDED`] lists the
//!   components compiled into this crate from the repository's `policies/`.
//! * [`check()`] is `goldylox policy check`: a component driven through a
//!   scripted workload, measured, its answers checked.
//!
//! Nothing a policy returns is trusted: a trap, a deadline or the memory cap
//! fails the policy, and the engine falls back to its native policy in the
//! same pass and rebuilds the component with backoff.
//!
//! # Example
//!
//! ```no_run
//! use goldylox::Cache;
//! use goldylox_sandbox::Runtime;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Runtime::new()?;
//! // A policy component from a file, with its parameters …
//! let policy = sandbox.eviction_policy("policies/my_policy.wasm", &[])?;
//! let cache: Cache<String, Vec<u8>> = Cache::builder(64 << 20).policy(policy).build()?;
//! cache.insert("k".to_owned(), b"v".to_vec());
//! // … or one built into this crate, in the same sandbox.
//! let s3fifo = sandbox.eviction_policy("wasm:s3fifo", &[])?;
//! # let _ = s3fifo;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! * `wasi` (off by default): links WASI 0.2, granting nothing (no files,
//!   sockets, variables or arguments), for components made by
//!   componentize-py and componentize-js, whose interpreters import it. It
//!   brings wasmtime-wasi and its tokio; without it such a component is
//!   refused at load with an error that names the feature. Rust and C
//!   policies import nothing and need no feature.

mod bindings;
mod builtin;
mod c_flags;
mod check;
mod embedded;
mod error;
mod eviction;
mod failover;
mod instance;
mod limits;
mod prefetch;
mod runtime;
mod spec;
mod store;
#[cfg(feature = "wasi")]
mod wasi;

pub use builtin::{
    AUTO_DEFAULT, BUILTINS, Guest, GuestPrefetcher, Named, PREFETCH_BUILTINS, builtin,
    builtin_checked, describe_params, prefetch_builtin,
};
pub use check::{CheckReport, check};
pub use embedded::{EMBEDDED, Embedded, embedded};
pub use error::{Error, ErrorKind, Result};
pub use eviction::{WasmFactory, WasmPolicy};
pub use failover::{Action, Decision, HealthEvent, MAX_RETRY_AFTER, WasmFailover};
pub use limits::{EPOCH_TICK, Limits, World};
pub use prefetch::{WasmPrefetch, WasmPrefetchFactory};
pub use runtime::{Loaded, PERFMAP_ENV, Runtime, is_core_module};
pub use spec::Params;

/// clang's flags for a C policy, for wasm32 without libc (then
/// `-I DIR -o OUT SOURCE`): how this crate builds the repository's C
/// policies, and how `goldylox policy build` builds a user's.
///
/// ```
/// let flags = goldylox_sandbox::c_policy_flags();
/// assert!(flags.iter().any(|f| f.contains("wasm32")));
/// ```
pub fn c_policy_flags() -> &'static [&'static str] {
    c_flags::C_POLICY_FLAGS
}
