//! State shared by the cache handles (callers) and the maintenance actor,
//! with the capacities of the channels between them and the limits of a
//! maintenance pass. (The limits of a policy's batches are in `policy`; the
//! cold tier's queues in `cold`; the health actor's in `health`; the pool
//! manager's in `pool`.)

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::clock::Clock;
use crate::hot::{HotIndex, Resident};
use crate::policy::{EventKind, PolicyStatus};
use crate::stats::{Counters, RemovalCause};
use crate::stripe::Stripes;

/// Capacity of the write buffer (events between callers and maintenance).
pub(crate) const WRITE_BUFFER_CAPACITY: usize = 16 * 1024;
/// Callers wake maintenance once the write buffer holds this many events.
pub(crate) const WRITE_BUFFER_WAKE_AT: usize = WRITE_BUFFER_CAPACITY / 4;
/// Capacity of the command channel (sync requests, shutdown).
pub(crate) const COMMAND_CHANNEL_CAPACITY: usize = 64;
/// Capacity of the channel on which swap builder threads report (one swap
/// per tier can be in progress; a superseded one may still report).
pub(crate) const SWAP_CHANNEL_CAPACITY: usize = 4;
/// Capacity of the wake-up channel: one pending wake is enough.
pub(crate) const WAKE_CHANNEL_CAPACITY: usize = 1;
/// Maximum write events drained in one maintenance pass (so that a flood of
/// writers cannot starve eviction and expiry).
pub(crate) const WRITE_DRAIN_MAX: usize = 4 * WRITE_BUFFER_CAPACITY;
/// How often maintenance runs when nobody wakes it.
pub(crate) const MAINTENANCE_INTERVAL: Duration = Duration::from_millis(50);
/// A full read ring wakes maintenance only if its last pass is older than
/// this, which bounds the CPU spent on recency bookkeeping under heavy reads
/// (hints beyond that are dropped and counted).
pub(crate) const READ_WAKE_SPACING: Duration = Duration::from_millis(10);
/// First wait before a failed policy is rebuilt; it doubles with each
/// consecutive failure.
pub(crate) const POLICY_REBUILD_BACKOFF: Duration = Duration::from_secs(1);
/// Consecutive failures after which a policy stays on the fallback until a
/// new one is swapped in.
pub(crate) const POLICY_FAILURES_MAX: u32 = 3;
/// How long a policy swap may take (building the new instance and
/// replaying the resident set into it) before it is abandoned and the
/// running policy stays: the default of
/// [`CacheBuilder::swap_deadline`](crate::CacheBuilder::swap_deadline).
pub(crate) const SWAP_DEADLINE: Duration = Duration::from_secs(60);
/// A policy that decides this long without failing starts a new count of
/// consecutive failures.
pub(crate) const POLICY_HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// Most proposals taken from a prefetch policy per maintenance pass.
pub(crate) const PREFETCH_MAX: u32 = 64;
/// The state a prefetch policy may keep, in entries.
pub(crate) const PREFETCH_STATE_ENTRIES: u64 = 1 << 16;
/// How many times a writer waits for eviction before writing past the bound
/// (a valve against starvation under extreme contention; see the crate docs).
pub(crate) const MAX_CAPACITY_WAITS: u32 = 1024;

/// Which tier an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tier {
    Hot,
    Warm,
    /// Only a deadline to file a timer for (a read moved it earlier).
    Timer,
}

/// A write as the maintenance actor learns of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriteEvent {
    pub(crate) tier: Tier,
    pub(crate) kind: EventKind,
    pub(crate) hash: u64,
    pub(crate) weight: u32,
    /// Deadline of the written entry (`hot::NEVER` if none).
    pub(crate) expires_at: u64,
    /// Where a hot insert or update left its entry, so that maintenance
    /// can tell it is still there without probing the index.
    pub(crate) at: Option<Resident>,
}

impl WriteEvent {
    /// An event for the hot tier's policy.
    pub(crate) fn hot(kind: EventKind, hash: u64, weight: u32, expires_at: u64) -> Self {
        WriteEvent {
            tier: Tier::Hot,
            kind,
            hash,
            weight,
            expires_at,
            at: None,
        }
    }

    /// The same event, with where its entry was left.
    pub(crate) fn at(self, position: u32, version: u64) -> Self {
        WriteEvent {
            at: Some(Resident { position, version }),
            ..self
        }
    }

    /// A read moved the deadline of `hash` earlier, to `expires_at`.
    pub(crate) fn timer(hash: u64, expires_at: u64) -> Self {
        WriteEvent {
            tier: Tier::Timer,
            kind: EventKind::Update,
            hash,
            weight: 0,
            expires_at,
            at: None,
        }
    }

    /// The warm copy of `hash` left the warm tier (promoted or superseded).
    pub(crate) fn warm_removed(hash: u64) -> Self {
        WriteEvent {
            tier: Tier::Warm,
            kind: EventKind::Remove,
            hash,
            weight: 0,
            expires_at: 0,
            at: None,
        }
    }
}

/// Called with every entry that leaves the cache.
pub(crate) type Listener<K, V> = Arc<dyn Fn(K, V, RemovalCause) + Send + Sync>;

/// Told the key of every entry the cache drops by itself (evicted from the
/// last tier, or expired); no value is decoded for it.
pub(crate) type DepartureListener<K> = Arc<dyn Fn(&K, RemovalCause) + Send + Sync>;

thread_local! {
    static IN_MAINTENANCE: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as a maintenance thread (which must never block
/// waiting for maintenance).
pub(crate) fn enter_maintenance() {
    IN_MAINTENANCE.with(|m| m.set(true));
}

/// Whether the current thread is a maintenance thread, e.g. a removal
/// listener writing back into the cache.
pub(crate) fn in_maintenance() -> bool {
    IN_MAINTENANCE.with(|m| m.get())
}

/// The state of one cache that its handles (the callers) and its maintenance
/// actor share: the hot index, the warm and cold tiers, the counters, the
/// clock and the policies' published status.
pub(crate) struct CacheState<K, V> {
    pub(crate) index: HotIndex<K, V>,
    /// The warm tier, if configured.
    pub(crate) warm: Option<crate::warm::WarmTier<K>>,
    /// The cold tier, when there is one.
    pub(crate) cold: Option<crate::cold_tier::ColdTier>,
    pub(crate) stripes: Stripes,
    pub(crate) counters: Counters,
    /// Bytes reserved by writers and held by resident entries.
    pub(crate) weighted: CachePadded<AtomicU64>,
    /// The per-cache version counter every mutation draws from.
    pub(crate) version: CachePadded<AtomicU64>,
    pub(crate) capacity: u64,
    /// How far writers may go past `capacity` before they wait for eviction.
    pub(crate) slack: u64,
    pub(crate) clock: Clock,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) departures: Option<DepartureListener<K>>,
    /// Told how long each timed step of maintenance took.
    pub(crate) latency: Option<crate::latency::LatencyListener>,
    /// How long a swap may take before it is abandoned.
    pub(crate) swap_deadline: Duration,
    /// Events sent while the buffer was full by a thread that must not wait
    /// for maintenance: the maintenance thread itself, or a writer holding a
    /// shard lock that maintenance may be waiting for. At most one per such
    /// thread at a time, so it stays small; drained right after the buffer,
    /// in the same pass.
    pub(crate) overflow: Mutex<Vec<WriteEvent>>,
    /// Callers waiting for room ([`crate::Cache::when_room`]), called at the
    /// end of the next pass; `None` once maintenance has stopped.
    pub(crate) room_waiters: Mutex<Option<Vec<RoomWaiter>>>,
    /// The room they asked for, together: the next pass evicts until that
    /// much more fits under the capacity (all of it, at most).
    pub(crate) room_need: AtomicU64,
    pub(crate) closed: AtomicBool,
    /// Origin of `last_pass`.
    pub(crate) started: Instant,
    /// When maintenance last finished a pass, in nanoseconds since `started`.
    pub(crate) last_pass: AtomicU64,
    /// The hot tier's policy status, published by maintenance.
    pub(crate) hot_policy: Arc<Mutex<PolicyStatus>>,
    /// The warm tier's policy status, when there is a warm tier.
    pub(crate) warm_policy: Option<Arc<Mutex<PolicyStatus>>>,
    /// Whether readers record misses in the read buffer (for a prefetch
    /// policy).
    pub(crate) observe_misses: bool,
    /// Whether reads may move deadlines (time to idle, an `Expiry`): a
    /// timer that fires early is then filed again, not dropped.
    pub(crate) renews_on_read: bool,
    /// The live workload capture, when one runs.
    pub(crate) capture: crate::capture::Tap,
}

/// A caller waiting for maintenance to make room.
pub(crate) type RoomWaiter = Box<dyn FnOnce() + Send>;

impl<K, V> CacheState<K, V> {
    /// The room asked for and the callers waiting for it, taken together
    /// at the start of a pass: that pass makes the room and then answers
    /// exactly these. A caller that asks while a pass runs waits for the
    /// next one, which its need is counted in ([`Cache::when_room`] adds
    /// the need and the caller under the same lock).
    ///
    /// [`Cache::when_room`]: crate::Cache::when_room
    pub(crate) fn take_room_waiters(&self) -> (u64, Vec<RoomWaiter>) {
        let mut slot = self.room_waiters.lock();
        let need = self.room_need.swap(0, Ordering::AcqRel);
        (need, slot.as_mut().map(std::mem::take).unwrap_or_default())
    }

    /// Maintenance has stopped: calls every caller still waiting for room
    /// and turns later ones away (they are called at once).
    pub(crate) fn release_room_waiters(&self) {
        let waiters = self.room_waiters.lock().take();
        for done in waiters.into_iter().flatten() {
            done();
        }
    }

    /// Tells the departure listener, if any, that `key` was dropped by the
    /// cache itself (`cause` is `Evicted` or `Expired`; other causes are
    /// not its business). Counted and ignored if it panics.
    pub(crate) fn departed(&self, key: &K, cause: RemovalCause) {
        if let Some(listener) = &self.departures
            && matches!(cause, RemovalCause::Evicted | RemovalCause::Expired)
            && catch_unwind(AssertUnwindSafe(|| listener(key, cause))).is_err()
        {
            Counters::bump(&self.counters.listener_panics);
        }
    }

    /// Tells the latency listener, if any, that `event` took the time since
    /// `began`. Counted and ignored if it panics.
    pub(crate) fn took(&self, event: crate::LatencyEvent, began: Instant) {
        if let Some(listener) = &self.latency
            && catch_unwind(AssertUnwindSafe(|| listener(event, began.elapsed()))).is_err()
        {
            Counters::bump(&self.counters.listener_panics);
        }
    }

    /// Tells the listener, if any; a panicking listener is counted and
    /// otherwise ignored.
    pub(crate) fn notify(&self, key: K, value: V, cause: RemovalCause) {
        self.departed(&key, cause);
        Counters::bump(self.counters.removal(cause));
        if let Some(listener) = &self.listener
            && catch_unwind(AssertUnwindSafe(|| listener(key, value, cause))).is_err()
        {
            Counters::bump(&self.counters.listener_panics);
        }
    }
}
