//! Time as the cache sees it: a monotonic nanosecond count, real or injected.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The source of time for expiry.
///
/// [`Clock::system`] is the monotonic wall clock. [`ManualClock`] is a clock that
/// only moves when told to, for tests that exercise TTL without sleeping.
///
/// ```
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
///     .clock(goldylox::Clock::system())
///     .build()?;
/// # drop(cache);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    /// The origin, and the Unix time of it in nanoseconds.
    System(Instant, u64),
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The monotonic system clock, starting at zero now.
    ///
    /// ```
    /// let clock = goldylox::Clock::system();
    /// assert!(clock.now_nanos() < 1_000_000_000, "it starts at zero");
    /// ```
    pub fn system() -> Self {
        Clock {
            // Even, so that adding it keeps a deadline's mark bit
            // (`crate::expiry`).
            source: Source::System(Instant::now(), wall_nanos() & !1),
        }
    }

    /// Nanoseconds since this clock's origin.
    ///
    /// ```
    /// let clock = goldylox::Clock::from(goldylox::ManualClock::new());
    /// assert_eq!(clock.now_nanos(), 0);
    /// ```
    #[inline]
    pub fn now_nanos(&self) -> u64 {
        match &self.source {
            Source::System(origin, _) => saturating_nanos(origin.elapsed()),
            Source::Manual(now) => now.load(Ordering::Acquire),
        }
    }

    /// What to add to this clock's nanoseconds to get wall-clock (Unix)
    /// nanoseconds, the unit deadlines are persisted in. A manual clock
    /// counts from the Unix epoch.
    pub(crate) fn unix_offset(&self) -> u64 {
        match &self.source {
            Source::System(_, unix) => *unix,
            Source::Manual(_) => 0,
        }
    }

    /// The instant `ttl` from now, in this clock's nanoseconds; saturates at
    /// "never".
    pub(crate) fn deadline_after(&self, ttl: Duration) -> u64 {
        self.now_nanos().saturating_add(saturating_nanos(ttl))
    }
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn wall_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

/// A clock that stands still until [`ManualClock::advance`] is called.
///
/// Clone it, hand one copy to the builder through `Clock::from`, keep the other
/// to move time.
///
/// ```
/// use std::time::Duration;
/// use goldylox::{Expiration, ManualClock};
/// let clock = ManualClock::new();
/// let cache: goldylox::Cache<u64, u64> =
///     goldylox::Cache::builder(1 << 20).clock(clock.clone()).build()?;
/// cache.put(1, 1, Expiration::After(Duration::from_secs(60)))?;
/// clock.advance(Duration::from_secs(59));
/// assert_eq!(cache.get(&1), Some(1));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(cache.get(&1), None);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    ///
    /// ```
    /// let clock = goldylox::ManualClock::new();
    /// assert_eq!(clock.now_nanos(), 0);
    /// ```
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Moves time forward by `by`.
    ///
    /// ```
    /// let clock = goldylox::ManualClock::new();
    /// clock.advance(std::time::Duration::from_millis(5));
    /// assert_eq!(clock.now_nanos(), 5_000_000);
    /// ```
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(saturating_nanos(by), Ordering::AcqRel);
    }

    /// The current reading in nanoseconds.
    ///
    /// ```
    /// let clock = goldylox::ManualClock::new();
    /// clock.advance(std::time::Duration::from_secs(1));
    /// assert_eq!(clock.now_nanos(), 1_000_000_000);
    /// ```
    pub fn now_nanos(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Clock {
            source: Source::Manual(manual.now),
        }
    }
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
