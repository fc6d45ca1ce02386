//! How callers hand events to the maintenance thread: write events
//! through the bounded write buffer (waiting when it is full, except where
//! waiting could deadlock), wake-ups, and waiting for room without holding
//! a thread.

use std::hash::Hash;
use std::sync::atomic::Ordering;

use crossbeam_channel::TrySendError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::shared::{
    READ_WAKE_SPACING, WRITE_BUFFER_CAPACITY, WRITE_BUFFER_WAKE_AT, WriteEvent, in_maintenance,
};
use crate::stats::Counters;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Whether a write of about `weight` now would likely wait for
    /// maintenance: it would take the weighted size past the bound
    /// (capacity plus slack), or the write buffer is three-quarters full.
    /// Two atomic loads; for callers that must not block a thread (an async
    /// server) and would rather wait with [`Cache::when_room`] first.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// // A front end that would rather park a client than block a thread:
    /// if cache.write_pressure(64) {
    ///     cache.when_room(64, || { /* resume the client */ });
    /// }
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn write_pressure(&self, weight: u64) -> bool {
        let s = self.shared();
        let after = s.weighted.load(Ordering::Acquire).saturating_add(weight);
        after > s.capacity.saturating_add(self.inner.slack)
            || self.inner.events.len() >= WRITE_BUFFER_CAPACITY / 4 * 3
    }

    /// Calls `done` once maintenance has finished its next pass (which
    /// evicts until `weight` more fits under the capacity, and empties the
    /// write buffer), waking it now; at once if the cache is closed to
    /// writes or maintenance has stopped. `done` runs on the
    /// maintenance thread: it must be quick and must not use this cache
    /// (send on a channel). The waiting half of [`Cache::write_pressure`]:
    /// an async caller awaits `done` instead of blocking its thread in a
    /// write.
    ///
    /// ```
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// cache.when_room(1024, move || tx.send(()).unwrap());
    /// rx.recv().unwrap(); // answered at the end of the next maintenance pass
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn when_room(&self, weight: u64, done: impl FnOnce() + Send + 'static) {
        let s = self.shared();
        let mut waiters = s.room_waiters.lock();
        if let Some(list) = waiters.as_mut()
            && !s.closed.load(Ordering::Acquire)
        {
            // The need and the caller together: the pass that takes one
            // takes the other.
            s.room_need.fetch_add(weight, Ordering::AcqRel);
            list.push(Box::new(done));
            Counters::bump(&s.counters.room_waits);
            drop(waiters);
            self.wake();
            return;
        }
        drop(waiters);
        done();
    }

    pub(super) fn wake(&self) {
        let _ = self.inner.wake.try_send(());
    }

    /// Read rings are full: wake maintenance unless it ran very recently.
    #[cold]
    pub(super) fn wake_for_reads(&self) {
        let s = self.shared();
        let now = u64::try_from(s.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let last = s.last_pass.load(Ordering::Acquire);
        if now.saturating_sub(last) >= READ_WAKE_SPACING.as_nanos() as u64 {
            self.wake();
        }
    }

    /// Puts `event` in the write buffer if it has room (waking maintenance
    /// once it is a quarter full); gives it back if the buffer is full.
    fn offer(&self, event: WriteEvent) -> Option<WriteEvent> {
        let events = &self.inner.events;
        match events.try_send(event) {
            Ok(()) => {
                if events.len() >= WRITE_BUFFER_WAKE_AT {
                    self.wake();
                }
                None
            }
            Err(TrySendError::Full(event)) => Some(event),
            Err(TrySendError::Disconnected(_)) => None,
        }
    }

    /// Hands a write event to maintenance from under a shard lock: never
    /// waits (maintenance may be waiting for that lock), so a full buffer
    /// puts it in the overflow, which a pass drains right after the buffer.
    /// Any later event of this key is sent after the lock is released, so
    /// the pass that takes it takes this one too, before it acts on either.
    pub(super) fn send_under_lock(&self, event: WriteEvent) {
        if let Some(event) = self.offer(event) {
            self.shared().overflow.lock().push(event);
            self.wake();
        }
    }

    /// Hands a write event to maintenance; blocks while the buffer is full
    /// (backpressure), except on the maintenance thread itself. Never call
    /// it with a shard lock held ([`Cache::send_under_lock`]).
    pub(super) fn send(&self, event: WriteEvent) {
        let Some(event) = self.offer(event) else {
            return;
        };
        if in_maintenance() {
            self.shared().overflow.lock().push(event);
            return;
        }
        Counters::bump(&self.shared().counters.write_backpressure);
        self.wake();
        let _ = self.inner.events.send(event);
    }
}
