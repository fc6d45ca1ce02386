//! In-place edits: a value changed where it lies, under its key's lock,
//! without a copy — what a collection needs (a push onto a list of a
//! million elements must cost what one element costs).
//!
//! [`Cache::update`] write-locks the key's hot shard and lends the edit
//! the live value. A hot value is lent as it is; a warm or cold one is
//! decoded once, and if the edit changes it, it is stored hot (promoted)
//! and its lower copy dropped, as any write does. A changed value is
//! weighed again — the weigher of a large value should be O(1), e.g. a size
//! the value keeps up to date — and its weight's change is charged to the
//! cache, so the policies see one entry whose weight grows and shrinks.

use std::hash::Hash;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::write::{Applied, Removed};
use super::{Cache, Deadline};
use crate::error::Error;
use crate::hot::Table;
use crate::policy::EventKind;
use crate::shared::WriteEvent;
use crate::stripe::Op;

/// What an edit passed to [`Cache::update`] did.
///
/// ```
/// use goldylox::Update;
/// let cache: goldylox::Cache<String, u64> = goldylox::Cache::new(1 << 20)?;
/// // INCR: a missing counter starts at 0.
/// let n = cache.update("hits".into(), |v| match v {
///     Some(n) => { *n += 1; (Update::Changed, *n) }
///     None => (Update::Insert(1), 1),
/// })?;
/// assert_eq!(n, 1);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Update<V> {
    /// Nothing changed.
    Unchanged,
    /// The value lent was changed in place: weigh it again, record a write.
    Changed,
    /// Store this value (the key was absent, or the edit replaces the
    /// whole value); the entry keeps its deadline, a new one gets the
    /// default.
    Insert(V),
    /// Store this value as a new entry: the default deadline, whatever the
    /// key had (Redis's `…STORE` commands).
    Replace(V),
    /// Remove the key (a collection's last member went).
    Remove,
}

/// What [`Cache::update`] leaves to do once the lock is released.
pub(super) enum Finish<K, V> {
    Nothing,
    /// A hot entry changed in place.
    Changed {
        event: WriteEvent,
        grew: i64,
    },
    Write(Applied<K, V>),
    Remove(Removed<K, V>),
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Runs `edit` on the live value of `key` (`None`: absent or expired)
    /// under the key's lock, in whichever tier it lies, and applies what it
    /// answers: one atomic step. A hot value is changed where it lies, so
    /// an edit costs what it touches, not the value's size.
    ///
    /// `edit` must be quick and must not use this cache. It may grow a
    /// value past the cache's capacity; the caller bounds what it lets a
    /// value grow to (the engine then evicts it like any other entry).
    ///
    /// ```
    /// use goldylox::Update;
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// cache.insert("log".into(), "a".into())?;
    /// let len = cache.update("log".into(), |v| match v {
    ///     Some(s) => { s.push_str("bc"); (Update::Changed, s.len()) }
    ///     None => (Update::Insert("bc".into()), 2),
    /// })?;
    /// assert_eq!(len, 3);
    /// assert_eq!(cache.get("log").as_deref(), Some("abc"));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn update<R>(
        &self,
        key: K,
        edit: impl FnOnce(Option<&mut V>) -> (Update<V>, R),
    ) -> Result<R, Error> {
        let s = self.shared();
        if s.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        // Writers over the bound wait for room before taking the lock (an
        // edit's growth is charged under it, without waiting).
        if s.weighted.load(Ordering::Acquire) > s.capacity.saturating_add(self.inner.slack) {
            self.reserve(0)?;
        }
        let hash = s.index.hasher.hash(&key);
        let mut table = s.index.shard(hash).write();
        let (finish, answer) = self.update_locked(&mut table, hash, key, edit)?;
        drop(table);
        self.finish_update(finish);
        Ok(answer)
    }

    /// [`Cache::update`]'s work under the key's hot-shard write lock
    /// (`table`); what it returns is finished once every lock is released.
    pub(super) fn update_locked<R>(
        &self,
        table: &mut Table<K, V>,
        hash: u64,
        key: K,
        edit: impl FnOnce(Option<&mut V>) -> (Update<V>, R),
    ) -> Result<(Finish<K, V>, R), Error> {
        let s = self.shared();
        let now = || s.clock.now_nanos();
        if let Some((position, slot)) = table.get_mut_at(hash, &key)
            && !slot.expired(now)
        {
            let (what, answer) = edit(Some(&mut slot.value));
            let finish = match what {
                Update::Unchanged => Finish::Nothing,
                Update::Changed => {
                    let weight = self.weigh(&slot.key, &slot.value).unwrap_or(u32::MAX);
                    let grew = i64::from(weight) - i64::from(slot.weight);
                    slot.weight = weight;
                    slot.version = s.version.fetch_add(1, Ordering::AcqRel) + 1;
                    slot.written_at = self.written_now();
                    self.cold_on_write(&slot.key, &slot.value, slot.version, slot.expires_at.get());
                    let event =
                        WriteEvent::hot(EventKind::Update, hash, weight, slot.expires_at.get())
                            .at(position, slot.version);
                    Finish::Changed { event, grew }
                }
                Update::Insert(value) => self.replace_locked(table, key, value, Deadline::Keep)?,
                Update::Replace(value) => {
                    let deadline = Deadline::Default;
                    self.replace_locked(table, key, value, deadline)?
                }
                Update::Remove => Finish::Remove(self.apply_remove(table, hash, &key)),
            };
            return Ok((finish, answer));
        }
        // Absent, expired, or in a lower tier: decoded once.
        let lower = self
            .warm_current(hash, &key)
            .or_else(|| self.cold_current(&key));
        let Some((mut value, deadline)) = lower else {
            let (what, answer) = edit(None);
            let finish = match what {
                Update::Insert(value) | Update::Replace(value) => {
                    let deadline = Deadline::Default;
                    self.replace_locked(table, key, value, deadline)?
                }
                // Nothing to change or remove (an expired hot slot is left
                // to expiry).
                Update::Unchanged | Update::Changed | Update::Remove => Finish::Nothing,
            };
            return Ok((finish, answer));
        };
        let (what, answer) = edit(Some(&mut value));
        let finish = match what {
            Update::Unchanged => Finish::Nothing,
            Update::Changed => self.replace_locked(table, key, value, Deadline::At(deadline))?,
            Update::Insert(value) => {
                self.replace_locked(table, key, value, Deadline::At(deadline))?
            }
            Update::Replace(value) => {
                let deadline = Deadline::Default;
                self.replace_locked(table, key, value, deadline)?
            }
            Update::Remove => Finish::Remove(self.apply_remove(table, hash, &key)),
        };
        Ok((finish, answer))
    }

    /// What an update leaves to do once every lock is released.
    pub(super) fn finish_update(&self, finish: Finish<K, V>) {
        let s = self.shared();
        match finish {
            Finish::Nothing => {}
            Finish::Changed { event, grew } => {
                if grew >= 0 {
                    s.weighted.fetch_add(grew.unsigned_abs(), Ordering::AcqRel);
                } else {
                    self.release(grew.unsigned_abs());
                }
                self.send(event);
                s.stripes.count(Op::Update);
            }
            Finish::Write(applied) => {
                self.finish_write(applied, false);
            }
            Finish::Remove(removed) => {
                self.finish_remove(removed);
            }
        }
    }

    /// Stores `value` under `key` through the one write path, under the
    /// key's lock (`table`), reserving without waiting.
    fn replace_locked(
        &self,
        table: &mut Table<K, V>,
        key: K,
        value: V,
        deadline: Deadline,
    ) -> Result<Finish<K, V>, Error> {
        let prepared = self.prepare(key, value, false)?;
        Ok(Finish::Write(self.apply_write(
            table,
            prepared,
            deadline,
            false,
            |_| true,
        )))
    }
}
