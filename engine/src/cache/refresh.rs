//! Refresh-ahead (Caffeine's `refreshAfterWrite`): a hot entry read after
//! it is older than the configured age is still served, and one
//! background reload per key replaces it.
//!
//! The age is kept in the hot slot's padding (`Slot::written_at`, a write
//! stamp in seconds of the cache clock), so it costs no memory, and is read only when the
//! builder asked for refreshing. A copy promoted from a lower tier does not
//! know when it was written and counts as due. The reload runs on the
//! cache's refresh workers (`gx-refresh-N`), at most one per key at a
//! time; its value is stored only if the entry is still the version that
//! was reloaded — a write in the meantime wins — and keeps the entry's
//! deadline. A failed or panicking reload keeps the old value and is
//! counted ([`LoaderStats`](crate::LoaderStats)`::refresh_failures`).

use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::write::Applied;
use super::{Cache, Deadline};
use crate::hot::Slot;
use crate::policy::HashSet64;
use crate::stats::Counters;
use crate::workers::Workers;

/// Threads that run reloads for one cache.
pub(crate) const REFRESH_WORKERS: usize = 2;

/// What a reloader may fail with.
///
/// ```
/// let failed: goldylox::RefreshError = "the price service timed out".into();
/// assert_eq!(failed.to_string(), "the price service timed out");
/// ```
pub type RefreshError = Box<dyn std::error::Error + Send + Sync>;

/// Reloads the value of a key, given the value it has now.
pub(crate) type Reloader<K, V> = Arc<dyn Fn(&K, &V) -> Result<V, RefreshError> + Send + Sync>;

/// A cache's refresh-ahead: the age, the reloader, the workers and the keys
/// being reloaded.
pub(crate) struct Refresh<K, V> {
    after_secs: u32,
    reload: Reloader<K, V>,
    workers: Workers,
    pending: Mutex<HashSet64>,
}

impl<K, V> Refresh<K, V> {
    /// Refreshing entries older than `after` with `reload`.
    pub(crate) fn start(after: Duration, reload: Reloader<K, V>) -> std::io::Result<Self> {
        Ok(Refresh {
            after_secs: u32::try_from(after.as_secs().max(1)).unwrap_or(u32::MAX),
            reload,
            workers: Workers::start("refresh", REFRESH_WORKERS)?,
            pending: Mutex::new(HashSet64::default()),
        })
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// What a write stores as `Slot::written_at`: its write stamp
    /// ([`crate::expiry::write_stamp`]) when refresh-ahead or time to idle
    /// capped by a time to live needs it, else 0 (no clock read).
    #[inline]
    pub(super) fn written_now(&self) -> u32 {
        if self.inner.refresh.is_some() || self.inner.lifetime.needs_write_time() {
            crate::expiry::write_stamp(self.shared().clock.now_nanos())
        } else {
            0
        }
    }

    /// A hot hit on `slot` (read-locked): starts its reload if it is due
    /// and none runs.
    #[inline]
    pub(super) fn refresh_if_due(&self, hash: u64, slot: &Slot<K, V>) {
        let Some(r) = &self.inner.refresh else { return };
        let now = self.shared().clock.now_nanos();
        if let Some(written) = crate::expiry::stamp_nanos(slot.written_at)
            && now.saturating_sub(written) < u64::from(r.after_secs) * 1_000_000_000
        {
            return;
        }
        if !r.pending.lock().insert(hash) {
            return;
        }
        let (key, value, version) = (slot.key.clone(), slot.value.clone(), slot.version);
        let cache = self.clone();
        r.workers
            .spawn(move || cache.reload(hash, key, value, version));
    }

    /// Runs the reloader for `key` (on a refresh worker) and stores what
    /// it returns if the entry is still `version`.
    fn reload(&self, hash: u64, key: K, old: V, version: u64) {
        let Some(r) = &self.inner.refresh else { return };
        let counters = &self.shared().counters;
        let outcome = match catch_unwind(AssertUnwindSafe(|| (r.reload)(&key, &old))) {
            Ok(Ok(value)) => {
                self.store_refreshed(key, value, version);
                &counters.refreshes
            }
            Ok(Err(e)) => {
                log::debug!("refresh of an entry failed, the old value stays: {e}");
                &counters.refresh_failures
            }
            Err(_) => &counters.refresh_failures,
        };
        // The key may be reloaded again from here on; counted after, so
        // that whoever sees the count also sees the key free.
        r.pending.lock().remove(&hash);
        Counters::bump(outcome);
    }

    /// Stores a reloaded value, keeping the entry's deadline, unless the
    /// entry changed (or left the hot tier) since `version` was read.
    fn store_refreshed(&self, key: K, value: V, version: u64) {
        let Ok(p) = self.prepare(key, value, true) else {
            return; // shut down, or the value no longer fits
        };
        let s = self.shared();
        let mut table = s.index.shard(p.hash).write();
        let current = table.get(p.hash, &p.key).map(|slot| slot.version);
        let applied = if current == Some(version) {
            self.apply_write(&mut table, p, Deadline::Keep, false, |_| true)
        } else {
            Counters::bump(&s.counters.refreshes_discarded);
            Applied::Refused {
                weight: p.weight,
                current: None,
            }
        };
        drop(table);
        self.finish_write(applied, false);
    }
}
