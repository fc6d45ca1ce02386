//! # goldylox
//!
//! A concurrent cache whose eviction decisions are made by pluggable,
//! batch-driven policies — native ones here, sandboxed WebAssembly components
//! through the `goldylox-host` crate.
//!
//! ```
//! use goldylox::Cache;
//!
//! let cache: Cache<String, String> = Cache::builder(1 << 20).build().unwrap();
//! cache.insert("greeting".to_owned(), "hello".to_owned()).unwrap();
//! assert_eq!(cache.get("greeting").as_deref(), Some("hello"));
//! ```
//!
//! ## Data path
//!
//! Every operation runs on the caller's thread against a sharded index
//! (`hot`): a hit takes one shard read lock, clones the value and records the
//! key's hash in a striped, lossy read buffer (`stripe`). Writes record an
//! event in a bounded write buffer; a full buffer makes the writer wait for
//! the maintenance thread (backpressure), so memory stays bounded. No
//! operation waits for an answer from another thread, except a writer that
//! finds the cache more than `slack` over its capacity (below).
//!
//! ## Maintenance and policies
//!
//! One named thread per cache (`gx-maint-NAME`, module `maintenance`) owns the
//! [`EvictionPolicy`]. It drains both buffers into [`EventBatch`]es — parallel
//! lists of event kinds, key hashes and weights — applies them, asks for
//! victims, validates every proposal against the index, evicts, and reaps
//! expired entries. If the policy fails or under-delivers, the native
//! [`Sieve`] fallback evicts instead. Native policies: [`Lru`] and [`Sieve`],
//! both textbook-exact with unit weights.
//!
//! ## Tiers
//!
//! With [`CacheBuilder::warm`], entries evicted from the hot tier are not
//! dropped but *demoted*: encoded with postcard, compressed when that pays
//! (zstd against a dictionary trained from the first values stored; LZ4
//! before there is one),
//! and kept in slab memory pools (`pool`) whose size the warm capacity bounds.
//! A warm hit decodes on the caller's thread and *promotes* the entry back.
//! The warm tier has its own policy instance and asks it before admitting a
//! demoted entry. A pool manager thread (`gx-pool-NAME`) defragments sparse
//! slabs and rebalances memory between size classes ([`Cache::pool_stats`],
//! [`Cache::defragment`]). Tiers never change what a read returns: every
//! move between tiers is versioned and serialised per key under the key's
//! hot-shard lock, so reads stay linearizable against writes and removes.
//!
//! With [`CacheBuilder::cold`], entries the warm tier evicts (or refuses;
//! without a warm tier, the hot tier's victims) go to a persistent cold tier
//! ([`cold`]): checksummed records in append-only segment files, sealed
//! segments memory-mapped, a RAM index of 16 bytes per entry, compaction and
//! crash recovery. A cold hit promotes the entry and leaves its record, so an
//! unchanged entry is never written twice; writes and removes append
//! tombstones, so a restart never brings back a stale or removed value.
//! [`Cache::shutdown`] persists the memory tiers; a cache built on the same
//! directory serves it all again. A circuit breaker run by a failover policy
//! ([`health`]) bypasses the tier while its disk fails.
//!
//! ## Capacity
//!
//! Capacity is in bytes, as judged by the weigher (default: the length of the
//! postcard encoding of key and value). The weighted size — resident entries
//! plus writes in flight — never exceeds `max_capacity + slack` (the default
//! slack is 1/16 of the capacity; [`Cache::bound`] reports it): a writer that
//! would cross it asks maintenance to evict and waits. There are two
//! exceptions, both so that no writer can hang: a write that has waited 1024
//! times while other writers took the room each eviction made, and a write
//! made from the maintenance thread itself (a removal listener writing back).
//! Memory use is the weighted size plus per-entry overhead (measured by the
//! `peers` benchmark).
//!
//! ## Expiry
//!
//! Entries may carry a time to live ([`Cache::put`] with an [`Expiration`], or a default
//! via [`CacheBuilder::time_to_live`]), a time to idle that every hit renews
//! ([`CacheBuilder::time_to_idle`]), or lifetimes an [`Expiry`] of the
//! application's chooses per entry on create, update and read
//! ([`CacheBuilder::expire_after`]). An explicit expiration on a write is
//! kept as given; the rules decide for the rest. An expired entry is never
//! returned; a hierarchical timer wheel finds expired entries for reaping
//! without scanning the cache (a renewed entry's timer, firing early, is
//! filed again). The [`Clock`] can be a [`ManualClock`] for tests.
//!
//! ## Thread safety and failure
//!
//! `Cache` is `Send + Sync`; clones share one cache. A panicking weigher,
//! loader or removal listener never leaves a lock held or the cache poisoned:
//! the weigher's panic becomes [`Error::WeigherPanicked`], a loader's panic
//! propagates to its caller (waiters retry), a listener's panic is counted.

mod builder;
mod cache;
pub mod capture;
mod clock;
pub mod cold;
mod cold_tier;
mod error;
mod expiry;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod health;
mod hot;
mod latency;
mod loader;
mod maintenance;
pub mod policy;
mod pool;
mod shared;
mod stats;
mod stripe;
mod sync;
mod timer_wheel;
mod warm;
mod workers;

pub use builder::{CacheBuilder, WritePolicy};
pub use cache::{
    AsyncCache, AsyncEntry, Batch, Cache, Compute, Computed, DurabilityMark, Entry, Expiration,
    RefreshError, SetIf, SetOutcome, Update,
};
pub use capture::{
    CAPTURE_BUFFER, CaptureConfig, CaptureOp, CaptureStatus, CaptureSummary, DEFAULT_CAPTURE_BYTES,
};
pub use clock::{Clock, ManualClock};
pub use error::{Error, IoCause};
pub use expiry::Expiry;
pub use latency::LatencyEvent;
pub use policy::auto::{AutoConfig, AutoStatus, Candidate, CandidateStatus};
pub use policy::{
    EventBatch, EventKind, EvictionPolicy, Lru, PolicyChoice, PolicyError, PolicyFactory,
    PolicyState, PolicyStatus, PolicyTier, PrefetchFactory, PrefetchPolicy, Sieve, SwapReport,
};
pub use pool::alloc::{ClassStats, DefragReport};
pub use pool::manager::PoolStats;
pub use pool::{Band, MAX_ITEM};
pub use stats::{
    CacheStats, ColdMovementStats, LoaderStats, MovementStats, PolicyStats, PrefetchStats,
    RemovalCause, RemovalStats, TierStats,
};
pub use workers::DEFAULT_BLOCKING_WORKERS;
