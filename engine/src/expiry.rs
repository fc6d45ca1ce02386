//! How long entries live: the cache's lifetime rules — a time to live, a
//! time to idle, or an [`Expiry`] of the user's — and the deadlines they
//! give.
//!
//! A deadline is in clock nanoseconds ([`NEVER`]: none). A deadline the
//! rules gave is *managed*: bit 0 set. One a write chose explicitly
//! ([`Expiration::After`](crate::Expiration::After), `Never`, an
//! `EXPIRE`) is *fixed*: bit 0 clear (or `NEVER`). Reads renew managed
//! deadlines only, so an explicit expiration means what it says. The mark
//! travels with the deadline through every tier — the warm tier keeps the
//! number as it is and the cold tier adds the clock's Unix offset, which
//! is even — and costs a nanosecond of precision (a deadline is at most
//! that early).
//!
//! A read that renews a deadline moves it in the hot slot under the shard
//! read lock ([`crate::hot::ExpiresAt`]); no event is sent when it moves
//! later (the old timer fires, finds the entry alive and files a new one),
//! and a timer event is sent when an [`Expiry`] moves it earlier.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::hot::NEVER;
use crate::stats::Counters;

/// Per-entry lifetimes chosen by the application, like moka's and
/// Caffeine's `Expiry`: asked when an entry is created, written over and
/// read, each time for how long it lives from now.
///
/// Installed with [`CacheBuilder::expire_after`](crate::CacheBuilder::expire_after).
/// It decides for entries written without an explicit expiration
/// (`insert`, loads, `put` with [`Expiration::Default`](crate::Expiration::Default));
/// an entry written with `Expiration::After` or `Never` keeps that
/// deadline on reads. Calls run on the caller's thread under the key's
/// shard lock: keep them quick, and do not use the cache from them. A
/// panic is caught and counted ([`CacheStats::expiry_panics`](crate::CacheStats::expiry_panics)):
/// a create or update then gives no expiry, a read leaves the deadline as
/// it was.
///
/// ```
/// # fn main() -> Result<(), goldylox::Error> {
/// use std::time::Duration;
/// use goldylox::{Cache, Expiry};
///
/// /// Sessions live 30 minutes from their last use; a guest session 1.
/// struct Sessions;
///
/// impl Expiry<String, String> for Sessions {
///     fn expire_after_create(&self, key: &String, _: &String) -> Option<Duration> {
///         let minutes = if key.starts_with("guest:") { 1 } else { 30 };
///         Some(Duration::from_secs(60 * minutes))
///     }
///
///     fn expire_after_read(&self, key: &String, v: &String, _left: Duration) -> Option<Duration> {
///         self.expire_after_create(key, v)
///     }
/// }
///
/// let sessions: Cache<String, String> =
///     Cache::builder(1 << 20).expire_after(Sessions).build()?;
/// sessions.insert("guest:7".into(), "cart".into())?;
/// assert!(sessions.time_to_live("guest:7").flatten() <= Some(Duration::from_secs(60)));
/// # Ok(())
/// # }
/// ```
pub trait Expiry<K, V>: Send + Sync + 'static {
    /// How long a new entry lives; `None`: until it is evicted or removed.
    fn expire_after_create(&self, key: &K, value: &V) -> Option<Duration>;

    /// How long an entry lives after a write over its live value;
    /// `remaining` is what it had left (`None`: no expiry). By default, as
    /// long as a new entry.
    fn expire_after_update(
        &self,
        key: &K,
        value: &V,
        remaining: Option<Duration>,
    ) -> Option<Duration> {
        let _ = remaining;
        self.expire_after_create(key, value)
    }

    /// How long an entry lives after a read hit; `remaining` is what it
    /// has left. By default, unchanged. Asked only of entries that have an
    /// expiry: one given none is not asked again until it is written.
    fn expire_after_read(&self, key: &K, value: &V, remaining: Duration) -> Option<Duration> {
        let _ = (key, value);
        Some(remaining)
    }
}

/// A deadline the lifetime rules gave (reads may renew it): odd, at
/// most a nanosecond early.
#[inline]
pub(crate) fn managed(deadline: u64) -> u64 {
    if deadline == NEVER {
        NEVER
    } else {
        deadline.saturating_sub(1) | 1
    }
}

/// The deadline as it was asked for (exactly, when that was a whole even
/// number of nanoseconds — any whole microsecond), without the mark.
#[inline]
pub(crate) fn as_given(deadline: u64) -> u64 {
    if is_managed(deadline) {
        deadline + 1
    } else {
        deadline
    }
}

/// A deadline a write chose explicitly (reads leave it): even, at most a
/// nanosecond early.
#[inline]
pub(crate) fn fixed(deadline: u64) -> u64 {
    if deadline == NEVER {
        NEVER
    } else {
        deadline & !1
    }
}

/// Whether reads may renew `deadline`.
#[inline]
pub(crate) fn is_managed(deadline: u64) -> bool {
    deadline != NEVER && deadline & 1 == 1
}

/// A write time as a hot slot keeps it (`Slot::written_at`): whole
/// seconds of the clock, plus one, so that 0 means "not known" (a copy
/// promoted from a lower tier).
#[inline]
pub(crate) fn write_stamp(now: u64) -> u32 {
    u32::try_from(now / 1_000_000_000)
        .unwrap_or(u32::MAX - 1)
        .saturating_add(1)
}

/// The clock nanoseconds a write stamp stands for (rounded down to the
/// second), or `None` for a copy whose write time is not known.
#[inline]
pub(crate) fn stamp_nanos(stamp: u32) -> Option<u64> {
    (stamp != 0).then(|| u64::from(stamp - 1) * 1_000_000_000)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The shortest renewal a read stores under time to idle: 1/64 of the
/// idle time, and at least a timer tick; a key read constantly writes its
/// deadline at most this often.
const RENEW_STEP_MIN: u64 = 1 << 20;

/// A cache's lifetime rules.
pub(crate) enum Lifetime<K, V> {
    /// Deadlines on write only: `ttl` from the write, or none.
    Write { ttl: Option<Duration> },
    /// Time to idle: `tti` from the last read or write, and never more than
    /// `ttl` (if any) from the write.
    Idle {
        tti: Duration,
        ttl: Option<Duration>,
    },
    /// The application's [`Expiry`].
    Custom(Arc<dyn Expiry<K, V>>),
}

impl<K: 'static, V: 'static> Lifetime<K, V> {
    /// The rules a builder's settings ask for (it refused an `Expiry`
    /// together with either duration).
    pub(crate) fn new(
        ttl: Option<Duration>,
        tti: Option<Duration>,
        expiry: Option<Arc<dyn Expiry<K, V>>>,
    ) -> Self {
        match (expiry, tti) {
            (Some(expiry), _) => Lifetime::Custom(expiry),
            (None, Some(tti)) => Lifetime::Idle { tti, ttl },
            (None, None) => Lifetime::Write { ttl },
        }
    }

    /// Whether no rule gives deadlines (entries live until evicted).
    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Lifetime::Write { ttl: None })
    }

    /// Whether reads may move deadlines.
    pub(crate) fn renews_on_read(&self) -> bool {
        !matches!(self, Lifetime::Write { .. })
    }

    /// Whether hot slots must keep their write time (time to idle capped
    /// by a time to live).
    pub(crate) fn needs_write_time(&self) -> bool {
        matches!(self, Lifetime::Idle { ttl: Some(_), .. })
    }

    /// The deadline of an entry created at `now`.
    pub(crate) fn created(&self, now: u64, key: &K, value: &V, counters: &Counters) -> u64 {
        let after = match self {
            Lifetime::Write { ttl } => *ttl,
            Lifetime::Idle { tti, ttl } => Some(ttl.map_or(*tti, |ttl| ttl.min(*tti))),
            Lifetime::Custom(expiry) => ask(&counters.expiry_panics, || {
                expiry.expire_after_create(key, value)
            })
            .unwrap_or(None),
        };
        after.map_or(NEVER, |d| managed(now.saturating_add(nanos(d))))
    }

    /// The deadline of an entry written over at `now`, whose live value
    /// had deadline `current`.
    pub(crate) fn updated(
        &self,
        now: u64,
        key: &K,
        value: &V,
        current: u64,
        counters: &Counters,
    ) -> u64 {
        let Lifetime::Custom(expiry) = self else {
            return self.created(now, key, value, counters);
        };
        let remaining =
            (current != NEVER).then(|| Duration::from_nanos(current.saturating_sub(now)));
        ask(&counters.expiry_panics, || {
            expiry.expire_after_update(key, value, remaining)
        })
        .unwrap_or(None)
        .map_or(NEVER, |d| managed(now.saturating_add(nanos(d))))
    }

    /// The deadline a read at `now` renews `current` to, if it moves; the
    /// entry was written at `stamp` ([`write_stamp`]).
    pub(crate) fn read(
        &self,
        now: u64,
        key: &K,
        value: &V,
        current: u64,
        stamp: u32,
        counters: &Counters,
    ) -> Option<u64> {
        if !is_managed(current) {
            return None;
        }
        match self {
            Lifetime::Write { .. } => None,
            Lifetime::Idle { tti, ttl } => {
                // Without the write time (a promoted copy), the cap is the
                // deadline it came with: never later than the rules allow.
                let cap = match ttl {
                    Some(ttl) => {
                        stamp_nanos(stamp).map_or(current, |w| w.saturating_add(nanos(*ttl)))
                    }
                    None => NEVER,
                };
                let renewed = managed(now.saturating_add(nanos(*tti)).min(cap));
                let step = (nanos(*tti) >> 6).max(RENEW_STEP_MIN);
                (renewed > current.saturating_add(step)).then_some(renewed)
            }
            Lifetime::Custom(expiry) => {
                let remaining = Duration::from_nanos(current.saturating_sub(now));
                let after = ask(&counters.expiry_panics, || {
                    expiry.expire_after_read(key, value, remaining)
                })?;
                let renewed = after.map_or(NEVER, |d| managed(now.saturating_add(nanos(d))));
                (renewed != current).then_some(renewed)
            }
        }
    }
}

/// Calls the application's code, counting a panic in `panics`.
fn ask<R>(panics: &AtomicU64, f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(_) => {
            Counters::bump(panics);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn counters() -> Counters {
        Counters::default()
    }

    #[test]
    fn the_mark_survives_an_even_offset_and_costs_a_nanosecond() {
        for d in [1, 2, 12_345_678_901, NEVER - 1] {
            let m = managed(d);
            assert!(is_managed(m) || m == NEVER);
            assert!(m <= d && d - m <= 1);
            assert!(as_given(m) == d || m == NEVER || d % 2 == 1);
            assert!(is_managed(m.wrapping_add(2 * 1_700_000_000 * SEC)) || m == NEVER);
            let f = fixed(d);
            assert!(!is_managed(f) && f <= d && d - f <= 1);
        }
        assert_eq!(managed(NEVER), NEVER);
        assert_eq!(fixed(NEVER), NEVER);
        assert!(!is_managed(NEVER));
    }

    #[test]
    fn write_stamps_round_down_and_zero_is_unknown() {
        assert_eq!(stamp_nanos(0), None);
        assert_eq!(stamp_nanos(write_stamp(0)), Some(0));
        assert_eq!(stamp_nanos(write_stamp(5 * SEC + 7)), Some(5 * SEC));
    }

    #[test]
    fn idle_renews_in_steps_and_never_past_the_time_to_live() {
        let c = counters();
        let idle: Lifetime<u8, u8> = Lifetime::Idle {
            tti: Duration::from_secs(10),
            ttl: Some(Duration::from_secs(25)),
        };
        let d = idle.created(0, &1, &1, &c);
        assert_eq!(as_given(d), 10 * SEC);
        // A read a moment later does not store a new deadline.
        assert_eq!(idle.read(SEC / 100, &1, &1, d, write_stamp(0), &c), None);
        let r = idle.read(5 * SEC, &1, &1, d, write_stamp(0), &c);
        assert_eq!(r, Some(managed(15 * SEC)));
        // Capped at 25 s after the write.
        let r = idle.read(20 * SEC, &1, &1, managed(15 * SEC), write_stamp(0), &c);
        assert_eq!(r, Some(managed(25 * SEC)));
        // Unknown write time: never past the deadline it has.
        assert_eq!(idle.read(20 * SEC, &1, &1, managed(22 * SEC), 0, &c), None);
        // An explicit deadline is not renewed.
        assert_eq!(
            idle.read(5 * SEC, &1, &1, fixed(10 * SEC), write_stamp(0), &c),
            None
        );
    }

    struct Panics;
    impl Expiry<u8, u8> for Panics {
        fn expire_after_create(&self, _: &u8, _: &u8) -> Option<Duration> {
            panic!("the application's bug")
        }
        fn expire_after_read(&self, _: &u8, _: &u8, _: Duration) -> Option<Duration> {
            panic!("the application's bug")
        }
    }

    #[test]
    fn a_panicking_expiry_is_counted_and_changes_nothing_on_read() {
        let c = counters();
        let custom: Lifetime<u8, u8> = Lifetime::Custom(Arc::new(Panics));
        assert_eq!(custom.created(0, &1, &1, &c), NEVER);
        assert_eq!(custom.read(1, &1, &1, managed(SEC), 0, &c), None);
        assert_eq!(
            c.expiry_panics.load(std::sync::atomic::Ordering::Relaxed),
            2
        );
    }
}
