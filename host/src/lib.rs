//! # goldylox-host
//!
//! The host side of goldylox: what the `goldylox` binary does, as a library.
//!
//! * [`trace`] reads real cache traces (LIRS, ARC, plain, libCacheSim
//!   oracleGeneral and CSV; gzip or zstd compressed) into key sequences.
//! * [`author`] is `goldylox policy new` and `policy build`: policy
//!   projects in Rust, C, Python and JavaScript, outside this repository.
//! * [`replay`] runs a trace through eviction policies — the engine's, through
//!   the same batch interface its maintenance thread drives — at several cache
//!   sizes, next to Belady's OPT and the infinite-cache ceiling.
//! * [`server`] is `goldylox serve`: the cache over the Redis protocol.
//! * [`bench`](mod@bench) is `goldylox bench`: a cache trace driven against any
//!   Redis-protocol server, cache-aside, for hit ratio, throughput,
//!   latency and the server's memory.
//! * [`cluster_info`] is `goldylox cluster info`: one table over the nodes
//!   of a cluster (or behind a proxy) for operators.
//!
//! The policy sandbox — components of `wit/policy.wit` compiled and run by
//! wasmtime under deadlines and memory caps, the built-in policies, policy
//! specs and `goldylox policy check` — is its own crate, `goldylox-sandbox`,
//! so that an application can run component policies without the server.

pub mod allocator;
pub mod author;
pub mod bench;
pub mod cluster_info;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod plot;
pub mod replay;
pub mod server;
pub mod trace;
