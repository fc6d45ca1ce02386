//! Conditional writes with explicit expiration: what a Redis-style front end
//! needs (`SET … NX|XX|GET|KEEPTTL|EX`, `EXPIRE`, `PERSIST`, `INCR`), as
//! single atomic steps under the key's shard lock.

use std::hash::Hash;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Cache, Deadline, Written};
use crate::error::Error;
use crate::expiry::fixed;
use crate::hot::NEVER;

/// The deadline a conditional write gives the entry.
///
/// ```
/// use std::time::Duration;
/// use goldylox::Expiration;
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// cache.put("a".into(), "1".into(), Expiration::After(Duration::from_secs(10)))?;
/// cache.put("a".into(), "2".into(), Expiration::Keep)?; // still 10 s
/// cache.put("b".into(), "1".into(), Expiration::Never)?;
/// cache.put("c".into(), "1".into(), Expiration::Default)?; // as `insert`
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expiration {
    /// The cache's lifetime rules: its default time to live, time to
    /// idle or [`Expiry`](crate::Expiry) (or none).
    Default,
    /// Keep the current entry's deadline (a new entry gets the default).
    Keep,
    /// Expire this long from now; zero stores an entry that is already
    /// expired (it is never returned). Reads do not renew it.
    After(Duration),
    /// Never expire (reads do not give it a time to idle).
    Never,
}

/// When a conditional write stores.
///
/// ```
/// use goldylox::{Expiration, SetIf};
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// let r = cache.set("k".into(), "v".into(), Expiration::Default, SetIf::Present)?;
/// assert!(!r.stored, "XX: only if present");
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetIf {
    /// Always.
    Always,
    /// Only if the key is absent (or expired).
    Absent,
    /// Only if the key is present.
    Present,
}

/// What a conditional write did.
///
/// ```
/// use goldylox::{Expiration, SetIf};
/// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
/// cache.insert("k".into(), "old".into())?;
/// let r = cache.set("k".into(), "new".into(), Expiration::Default, SetIf::Always)?;
/// assert!(r.stored);
/// assert_eq!(r.previous.as_deref(), Some("old"), "SET … GET");
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetOutcome<V> {
    /// Whether the value was stored.
    pub stored: bool,
    /// The value the key had before (stored) or still has (not stored).
    pub previous: Option<V>,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// How a write with `expiration` treats the entry's deadline.
    pub(super) fn deadline_rule(&self, expiration: Expiration) -> Deadline {
        match expiration {
            Expiration::Default => Deadline::Default,
            Expiration::Keep => Deadline::Keep,
            Expiration::After(ttl) => Deadline::At(fixed(self.shared().clock.deadline_after(ttl))),
            Expiration::Never => Deadline::At(NEVER),
        }
    }

    /// Stores `value` under `key` if `condition` holds, with `expiration`,
    /// and reports the value the key had: one atomic step.
    ///
    /// ```
    /// use goldylox::{Expiration, SetIf};
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let first = cache.set("k".into(), "1".into(), Expiration::Default, SetIf::Absent)?;
    /// assert!(first.stored);
    /// let second = cache.set("k".into(), "2".into(), Expiration::Default, SetIf::Absent)?;
    /// assert!(!second.stored);
    /// assert_eq!(second.previous.as_deref(), Some("1"), "what it still has");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn set(
        &self,
        key: K,
        value: V,
        expiration: Expiration,
        condition: SetIf,
    ) -> Result<SetOutcome<V>, Error> {
        let cond = |cur: Option<&V>| match condition {
            SetIf::Always => true,
            SetIf::Absent => cur.is_none(),
            SetIf::Present => cur.is_some(),
        };
        Ok(
            match self.write(key, value, self.deadline_rule(expiration), true, cond)? {
                Written::Stored { previous } => SetOutcome {
                    stored: true,
                    previous,
                },
                Written::Refused { current } => SetOutcome {
                    stored: false,
                    previous: current,
                },
            },
        )
    }

    /// Stores `value` under `key` with `expiration`, replacing any previous
    /// value without reading it (cheaper than [`Cache::set`] when nobody
    /// needs the old value; with [`Expiration::Keep`] the current entry is
    /// still consulted for its deadline).
    ///
    /// ```
    /// use std::time::Duration;
    /// use goldylox::Expiration;
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.put("session".into(), "data".into(), Expiration::After(Duration::from_secs(30)))?;
    /// cache.put("config".into(), "data".into(), Expiration::Never)?;
    /// assert!(cache.time_to_live("session").flatten().is_some());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn put(&self, key: K, value: V, expiration: Expiration) -> Result<(), Error> {
        let look = expiration == Expiration::Keep;
        self.write(key, value, self.deadline_rule(expiration), look, |_| true)
            .map(|_| ())
    }

    /// Stores `new` with `expiration` only if the current value equals
    /// `expected` (`None`: only if absent). Returns whether it stored. The
    /// building block of optimistic read-modify-write (`INCR`, `APPEND`,
    /// `EXPIRE`): read, compute, `compare_and_set`, retry on `false`.
    ///
    /// ```
    /// use goldylox::Expiration;
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("k".into(), "1".into())?;
    /// let one = "1".to_string();
    /// assert!(cache.compare_and_set("k".into(), Some(&one), "2".into(), Expiration::Keep)?);
    /// assert!(!cache.compare_and_set("k".into(), Some(&one), "3".into(), Expiration::Keep)?);
    /// assert_eq!(cache.get("k").as_deref(), Some("2"));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn compare_and_set(
        &self,
        key: K,
        expected: Option<&V>,
        new: V,
        expiration: Expiration,
    ) -> Result<bool, Error>
    where
        V: PartialEq,
    {
        let cond = |cur: Option<&V>| cur == expected;
        Ok(matches!(
            self.write(key, new, self.deadline_rule(expiration), true, cond)?,
            Written::Stored { .. }
        ))
    }
}
