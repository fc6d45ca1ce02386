//! Eviction policies: the batch interface and the native policies.
//!
//! A policy never sees keys or values, only 64-bit key hashes and weights, and
//! it never sees single accesses: the maintenance actor hands it an
//! [`EventBatch`] of hits, inserts, updates and removes in the order they were
//! drained, then asks it for victims. The same shape crosses the WebAssembly
//! boundary as parallel primitive lists, so a sandboxed policy plugs in behind
//! this trait without the engine changing.
//!
//! # The contract
//!
//! * The policy tracks its own resident set and its own used weight against the
//!   capacity it was built with. An `Insert` that does not fit makes the policy
//!   choose victims *before* admitting the new hash (the textbook order: this is
//!   what makes SIEVE and LRU hit ratios equal their definitions); those victims
//!   are queued and returned by the next [`EvictionPolicy::evict`] call.
//! * `Hit` of an unknown hash is ignored. `Insert` of a known hash is an
//!   `Update`; `Update` of an unknown hash is an `Insert`; `Remove` of an unknown
//!   hash is ignored.
//! * A victim queued while applying inserts and then written again or removed
//!   before `evict` returned it is taken back (not returned): the host still
//!   holds the rewritten entry, and the removed one is already gone.
//! * A hash returned from `evict` is forgotten by the policy at that moment. The
//!   host checks every proposal against its index: unknown or duplicate hashes
//!   are ignored and counted, and if the proposals do not bring the tier under
//!   its bound the host evicts with its native fallback.
//! * Errors are not fatal to the cache: a failing policy is replaced by the
//!   fallback in the same pass.
//!
//! ```
//! use goldylox::{EventBatch, EventKind, EvictionPolicy, Lru};
//! let mut lru = Lru::new(200); // bytes
//! let mut batch = EventBatch::with_capacity(3);
//! batch.push(EventKind::Insert, 1, 100);
//! batch.push(EventKind::Insert, 2, 100);
//! batch.push(EventKind::Hit, 1, 100);
//! lru.apply(&batch)?;
//! let mut victims = Vec::new();
//! lru.evict(1, 100, &mut victims)?;
//! assert_eq!(victims, [2], "the least recently used");
//! # Ok::<(), goldylox::PolicyError>(())
//! ```

pub mod auto;
mod guard;
mod list;
mod lru;
mod prefetch;
mod sieve;
mod status;

pub(crate) use guard::guarded;
pub(crate) use list::{HashMap64, HashSet64};
pub use lru::Lru;
pub use prefetch::{PrefetchChoice, PrefetchFactory, PrefetchPolicy};
pub use sieve::Sieve;
pub use status::{PolicyState, PolicyStatus, PolicyTier, SwapReport};

use std::fmt;
use std::sync::Arc;

/// Maximum events handed to a policy in one batch.
pub(crate) const POLICY_BATCH_MAX: usize = 1024;
/// Maximum victims asked of a policy in one call.
pub(crate) const EVICT_BATCH_MAX: u32 = 256;
/// Maximum rounds of asking for victims in one pass (bounds the work a
/// misbehaving policy can cause).
pub(crate) const EVICT_ROUNDS_MAX: usize = 64;

/// What happened to a key, as the policy is told.
///
/// ```
/// use goldylox::{EventBatch, EventKind};
/// let mut batch = EventBatch::with_capacity(2);
/// batch.push(EventKind::Insert, 42, 100);
/// batch.push(EventKind::Hit, 42, 100);
/// assert_eq!(batch.kinds(), [EventKind::Insert as u8, EventKind::Hit as u8]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum EventKind {
    /// A read found the entry.
    Hit = 0,
    /// A new entry was stored; its weight is given.
    Insert = 1,
    /// An existing entry was overwritten; its new weight is given.
    Update = 2,
    /// The entry was removed by the user or expired.
    Remove = 3,
}

impl EventKind {
    /// Decodes the wire byte used across the WebAssembly boundary.
    ///
    /// ```
    /// use goldylox::EventKind;
    /// assert_eq!(EventKind::from_u8(EventKind::Remove as u8), Some(EventKind::Remove));
    /// assert_eq!(EventKind::from_u8(200), None);
    /// ```
    pub fn from_u8(b: u8) -> Option<EventKind> {
        Some(match b {
            0 => EventKind::Hit,
            1 => EventKind::Insert,
            2 => EventKind::Update,
            3 => EventKind::Remove,
            _ => return None,
        })
    }
}

/// A batch of events as three parallel lists: event `i` is
/// `(kinds[i], hashes[i], weights[i])`. Order is significant.
///
/// ```
/// use goldylox::{EventBatch, EventKind};
/// let mut batch = EventBatch::with_capacity(1024);
/// batch.push(EventKind::Insert, 7, 64);
/// for (kind, hash, weight) in batch.iter() {
///     assert_eq!((kind, hash, weight), (EventKind::Insert, 7, 64));
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct EventBatch {
    kinds: Vec<u8>,
    hashes: Vec<u64>,
    weights: Vec<u32>,
}

impl EventBatch {
    /// An empty batch with room for `n` events.
    ///
    /// ```
    /// let batch = goldylox::EventBatch::with_capacity(1024);
    /// assert!(batch.is_empty());
    /// ```
    pub fn with_capacity(n: usize) -> Self {
        EventBatch {
            kinds: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            weights: Vec::with_capacity(n),
        }
    }

    /// Appends one event. `weight` is ignored by policies for hits and removes.
    ///
    /// ```
    /// use goldylox::{EventBatch, EventKind};
    /// let mut batch = EventBatch::with_capacity(1);
    /// batch.push(EventKind::Update, 9, 10);
    /// assert_eq!((batch.hashes(), batch.weights()), (&[9u64][..], &[10u32][..]));
    /// ```
    #[inline]
    pub fn push(&mut self, kind: EventKind, hash: u64, weight: u32) {
        self.kinds.push(kind as u8);
        self.hashes.push(hash);
        self.weights.push(weight);
    }

    /// Number of events.
    ///
    /// ```
    /// use goldylox::{EventBatch, EventKind};
    /// let mut batch = EventBatch::with_capacity(1);
    /// batch.push(EventKind::Hit, 1, 1);
    /// assert_eq!(batch.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when there are no events.
    ///
    /// ```
    /// assert!(goldylox::EventBatch::with_capacity(8).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Empties the batch, keeping its allocation.
    ///
    /// ```
    /// use goldylox::{EventBatch, EventKind};
    /// let mut batch = EventBatch::with_capacity(1);
    /// batch.push(EventKind::Hit, 1, 1);
    /// batch.clear();
    /// assert!(batch.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.kinds.clear();
        self.hashes.clear();
        self.weights.clear();
    }

    /// The event kinds, as wire bytes (see [`EventKind`]).
    ///
    /// ```
    /// use goldylox::{EventBatch, EventKind};
    /// let mut batch = EventBatch::with_capacity(1);
    /// batch.push(EventKind::Remove, 1, 0);
    /// assert_eq!(batch.kinds(), [EventKind::Remove as u8]);
    /// ```
    pub fn kinds(&self) -> &[u8] {
        &self.kinds
    }

    /// The key hashes.
    ///
    /// ```
    /// use goldylox::{EventBatch, EventKind};
    /// let mut batch = EventBatch::with_capacity(1);
    /// batch.push(EventKind::Hit, 5, 1);
    /// assert_eq!(batch.hashes(), [5]);
    /// ```
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// The weights (meaningful for inserts and updates).
    ///
    /// ```
    /// use goldylox::{EventBatch, EventKind};
    /// let mut batch = EventBatch::with_capacity(1);
    /// batch.push(EventKind::Insert, 5, 300);
    /// assert_eq!(batch.weights(), [300]);
    /// ```
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// Iterates the events in order; bytes that are not a known kind are skipped.
    ///
    /// ```
    /// use goldylox::{EventBatch, EventKind};
    /// let mut batch = EventBatch::with_capacity(2);
    /// batch.push(EventKind::Insert, 1, 10);
    /// batch.push(EventKind::Insert, 2, 20);
    /// let total: u32 = batch.iter().map(|(_, _, w)| w).sum();
    /// assert_eq!(total, 30);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (EventKind, u64, u32)> + '_ {
        self.kinds
            .iter()
            .zip(&self.hashes)
            .zip(&self.weights)
            .filter_map(|((&k, &h), &w)| EventKind::from_u8(k).map(|k| (k, h, w)))
    }
}

/// Why a policy call failed. The host reacts the same way to all of them
/// (fallback, count, rebuild), but reports the kind.
///
/// ```
/// let e = goldylox::PolicyError::Init("bad parameter".into());
/// assert_eq!(e.to_string(), "policy initialisation failed: bad parameter");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy could not be built from its parameters.
    Init(String),
    /// The policy trapped, ran out of time or memory, or broke its contract.
    Failed(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Init(m) => write!(f, "policy initialisation failed: {m}"),
            PolicyError::Failed(m) => write!(f, "policy call failed: {m}"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// A batch-driven eviction policy. See the [module docs](self) for the contract.
///
/// Implementations are owned by one thread at a time (the maintenance actor),
/// so they need `Send` but not `Sync`.
///
/// ```
/// use goldylox::{EventBatch, EventKind, EvictionPolicy, PolicyError};
/// /// FIFO: evicts in insertion order (weights ignored, for brevity).
/// #[derive(Default)]
/// struct Fifo(std::collections::VecDeque<u64>);
/// impl EvictionPolicy for Fifo {
///     fn name(&self) -> &str { "fifo" }
///     fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
///         for (kind, hash, _) in batch.iter() {
///             match kind {
///                 EventKind::Insert => self.0.push_back(hash),
///                 EventKind::Remove => self.0.retain(|&h| h != hash),
///                 _ => {}
///             }
///         }
///         Ok(())
///     }
///     fn evict(&mut self, max: u32, _need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
///         out.extend(self.0.drain(..(max as usize).min(self.0.len())));
///         Ok(())
///     }
/// }
/// let mut fifo = Fifo::default();
/// let mut batch = EventBatch::with_capacity(2);
/// batch.push(EventKind::Insert, 1, 1);
/// batch.push(EventKind::Insert, 2, 1);
/// fifo.apply(&batch)?;
/// let mut victims = Vec::new();
/// fifo.evict(1, 1, &mut victims)?;
/// assert_eq!(victims, [1]);
/// # Ok::<(), PolicyError>(())
/// ```
pub trait EvictionPolicy: Send {
    /// A short name for statistics and logs.
    fn name(&self) -> &str;

    /// Applies a batch of events in order.
    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError>;

    /// Appends up to `max` victims to `out`: first those already chosen while
    /// applying inserts, then more, in the policy's order, until the victims
    /// appended weigh at least `need` bytes or the policy tracks nothing.
    fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError>;

    /// Whether `candidate` should be admitted at the cost of `victim` (used
    /// when a lower tier decides whether to take a demoted entry). The default
    /// admits everything.
    fn admit(&mut self, candidate: u64, victim: u64) -> Result<bool, PolicyError> {
        let _ = (candidate, victim);
        Ok(true)
    }
}

/// Builds a policy for a tier of a given capacity. The engine calls it once per
/// tier at start-up; the host's WebAssembly loader is one implementation.
///
/// ```
/// use std::sync::Arc;
/// use goldylox::{Cache, EvictionPolicy, Lru, PolicyChoice, PolicyError, PolicyFactory};
/// struct LruFactory;
/// impl PolicyFactory for LruFactory {
///     fn build(&self, capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
///         Ok(Box::new(Lru::new(capacity)))
///     }
/// }
/// let cache: Cache<u64, u64> = Cache::builder(1 << 20)
///     .policy(PolicyChoice::Custom(Arc::new(LruFactory)))
///     .build()?;
/// # drop(cache);
/// # Ok::<(), goldylox::Error>(())
/// ```
pub trait PolicyFactory: Send + Sync {
    /// Builds a policy whose capacity is `capacity` bytes.
    fn build(&self, capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError>;
}

/// Which eviction policy a cache tier uses.
///
/// ```
/// use goldylox::PolicyChoice;
/// assert!(matches!(PolicyChoice::default(), PolicyChoice::Sieve));
/// assert!(matches!(PolicyChoice::builtin("LRU"), Some(PolicyChoice::Lru)));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum PolicyChoice {
    /// Least recently used.
    Lru,
    /// SIEVE (the default, and the fallback when another policy fails).
    #[default]
    Sieve,
    /// A policy built by a factory, e.g. a WebAssembly component.
    Custom(Arc<dyn PolicyFactory>),
    /// The tier picks among candidates by shadow simulation and swaps to the
    /// best ([`auto`]); the first candidate runs until another is chosen.
    Auto(Arc<auto::AutoConfig>),
}

impl PolicyChoice {
    /// Builds the chosen policy at `capacity` bytes.
    ///
    /// ```
    /// let policy = goldylox::PolicyChoice::Sieve.build(1 << 20)?;
    /// assert_eq!(policy.name(), "sieve");
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn build(&self, capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        Ok(match self {
            PolicyChoice::Lru => Box::new(Lru::new(capacity)),
            PolicyChoice::Sieve => Box::new(Sieve::new(capacity)),
            PolicyChoice::Custom(factory) => factory.build(capacity)?,
            PolicyChoice::Auto(config) => config.candidates()[0].choice.build(capacity)?,
        })
    }

    /// Parses a built-in policy name (`lru`, `sieve`).
    ///
    /// ```
    /// assert!(goldylox::PolicyChoice::builtin("sieve").is_some());
    /// assert!(goldylox::PolicyChoice::builtin("arc").is_none(), "a component, not built in");
    /// ```
    pub fn builtin(name: &str) -> Option<PolicyChoice> {
        match name.to_ascii_lowercase().as_str() {
            "lru" => Some(PolicyChoice::Lru),
            "sieve" => Some(PolicyChoice::Sieve),
            _ => None,
        }
    }
}

impl fmt::Debug for PolicyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyChoice::Lru => f.write_str("Lru"),
            PolicyChoice::Sieve => f.write_str("Sieve"),
            PolicyChoice::Custom(_) => f.write_str("Custom(..)"),
            PolicyChoice::Auto(config) => {
                let names: Vec<&str> = config
                    .candidates()
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                write!(f, "Auto({})", names.join(", "))
            }
        }
    }
}
