//! # goldylox-host
//!
//! The host side of goldylox: what the `goldylox` binary does, as a library.
//!
//! * [`trace`] reads real cache traces (LIRS, ARC, plain, libCacheSim
//!   oracleGeneral and CSV; gzip or zstd compressed) into key sequences.
//! * [`author`] is `goldylox policy new` and `policy build`: policy
//!   projects in Rust, C, Python and JavaScript, outside this repository.
//! * [`native`] links the policies written against the policy SDK
//!   (`policies/`) into the engine natively, behind the same interface a
//!   sandboxed component will use.
//! * [`replay`] runs a trace through eviction policies — the engine's, through
//!   the same batch interface its maintenance thread drives — at several cache
//!   sizes, next to Belady's OPT and the infinite-cache ceiling.
//! * [`server`] is `goldylox serve`: the cache over the Redis protocol.
//! * [`bench`](mod@bench) is `goldylox bench`: a cache trace driven against any
//!   Redis-protocol server, cache-aside, for hit ratio, throughput,
//!   latency and the server's memory.
//! * [`cluster_info`] is `goldylox cluster info`: one table over the nodes
//!   of a cluster (or behind a proxy) for operators.
//! * [`wasm`] is the policy sandbox: components of `wit/policy.wit` compiled
//!   and run by wasmtime under deadlines and memory caps, the components built
//!   into this binary, and `goldylox policy check`.

pub mod allocator;
pub mod author;
pub mod bench;
pub mod cluster_info;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod native;
pub mod plot;
pub mod replay;
pub mod server;
pub mod trace;
pub mod wasm;
