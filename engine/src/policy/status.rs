//! What the cache reports about its policies: their state, failures and swaps.

use std::fmt;
use std::time::Duration;

/// A tier whose eviction policy can be inspected or swapped.
///
/// ```
/// use goldylox::PolicyTier;
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::new(1 << 20)?;
/// assert!(cache.policy_status(PolicyTier::Hot).is_some());
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyTier {
    /// The hot tier (decoded entries in RAM).
    Hot,
    /// The warm tier (compressed entries in slab pools).
    Warm,
}

impl fmt::Display for PolicyTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyTier::Hot => "hot",
            PolicyTier::Warm => "warm",
        })
    }
}

/// Whether a tier's configured policy is deciding.
///
/// ```
/// use goldylox::{PolicyState, PolicyTier};
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::new(1 << 20)?;
/// let status = cache.policy_status(PolicyTier::Hot).unwrap();
/// assert_eq!(status.state, PolicyState::Active);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyState {
    /// The configured policy decides.
    Active,
    /// The configured policy failed; the native fallback decides until the
    /// policy is rebuilt (after a backoff).
    Fallback,
    /// The policy failed too often in a row; the fallback decides until a new
    /// policy is swapped in.
    Tripped,
}

impl fmt::Display for PolicyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyState::Active => "active",
            PolicyState::Fallback => "fallback",
            PolicyState::Tripped => "tripped",
        })
    }
}

/// A tier's policy, as last reported by its maintenance thread.
///
/// ```
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::new(1 << 20)?;
/// let status = cache.policy_status(goldylox::PolicyTier::Hot).unwrap();
/// println!("{} ({:?}), {} failures", status.name, status.state, status.failures);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PolicyStatus {
    /// The configured policy's name.
    pub name: String,
    /// Whether it is deciding.
    pub state: PolicyState,
    /// Failures since the cache started (traps, deadlines, errors).
    pub failures: u64,
    /// Failures since the policy last ran healthily for a while.
    pub consecutive_failures: u32,
    /// Successful rebuilds after failures.
    pub rebuilds: u64,
    /// Policies swapped in since the cache started.
    pub swaps: u64,
    /// The most recent failure, if any.
    pub last_error: Option<String>,
    /// When the next rebuild is due, from the time of the report (in
    /// `Fallback` only).
    pub rebuild_in: Option<Duration>,
    /// For an `auto` tier: the race between its candidates.
    pub auto: Option<super::auto::AutoStatus>,
}

impl PolicyStatus {
    pub(crate) fn new(name: &str) -> Self {
        PolicyStatus {
            name: name.to_owned(),
            state: PolicyState::Active,
            failures: 0,
            consecutive_failures: 0,
            rebuilds: 0,
            swaps: 0,
            last_error: None,
            rebuild_in: None,
            auto: None,
        }
    }
}

/// What a hot swap did.
///
/// ```
/// use goldylox::{PolicyChoice, PolicyTier};
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::new(1 << 20)?;
/// let report = cache.swap_policy(PolicyTier::Hot, PolicyChoice::Lru)?;
/// println!("{report:?}");
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SwapReport {
    /// The tier whose policy changed.
    pub tier: PolicyTier,
    /// The policy that was replaced.
    pub previous: String,
    /// The policy now deciding.
    pub current: String,
    /// Resident entries replayed into the new policy.
    pub replayed: u64,
    /// Time from the request to the switch: building the new instance and
    /// replaying the resident set into it, off the maintenance thread.
    pub replay_time: Duration,
    /// How long the maintenance thread paused for the swap: applying the
    /// events that arrived during the replay, then switching.
    pub pause: Duration,
}
