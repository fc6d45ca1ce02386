//! Who is told when a key changes or is read: the connections that
//! `WATCH` it, the subscribers of keyspace notifications, and the clients
//! that cache it locally (tracking).
//!
//! [`execute`](super::commands::execute) brackets every command with
//! [`Keyspace::before`] and [`Keyspace::after`]; with nobody watching,
//! tracking or subscribed to notifications, that costs two relaxed atomic
//! loads. Otherwise `before` notes the command's keys and whether each
//! exists, and `after`, if the command succeeded, marks the watchers of the
//! keys a write changed (Redis's `signalModifiedKey`), invalidates them for
//! the clients caching them, raises their keyspace events, and remembers
//! the keys a tracking client read.
//!
//! Keys that leave the cache without a command — expired, evicted from the
//! last tier — arrive through the engine's departure listener
//! ([`Keyspace::departed`]): they raise `expired`/`evicted` and invalidate.
//! For `WATCH`, `EXEC` also compares each watched key's existence with
//! what `WATCH` saw, so a key that expired, was evicted or was flushed
//! fails the transaction, and one that merely moved between tiers does not.

pub mod blocked;
pub mod events;
pub mod tracking;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use goldylox::RemovalCause;

use super::commands::table::{READONLY, REPORTS, Spec, WRITE};
use super::pubsub::PubSub;
use super::value::Store;
use tracking::Tracking;

/// A connection's mark: set when a key it watches changes.
pub type Dirty = Arc<AtomicBool>;

/// Watches, notifications and tracking.
#[derive(Debug)]
pub struct Keyspace {
    /// How many (key, connection) watches exist: the writers' fast path.
    watches: AtomicUsize,
    /// Watched key → the marks of the connections watching it.
    watchers: Mutex<HashMap<Vec<u8>, Vec<Dirty>>>,
    /// The classes of `notify-keyspace-events` ([`events`]); 0: off.
    notify: AtomicU32,
    /// Most keys the tracking table remembers.
    tracking_max_keys: AtomicUsize,
    /// Client-side caching.
    pub tracking: Tracking,
    /// Clients blocked on keys.
    pub blocked: blocked::Blocked,
    pubsub: Arc<PubSub>,
}

/// What [`Keyspace::before`] noted of a command.
#[derive(Debug)]
pub struct Before {
    keys: Vec<Vec<u8>>,
    existed: Vec<bool>,
    /// The arguments, when notifications need them.
    args: Option<Vec<Vec<u8>>>,
    /// The first key's string length (`SETBIT` raises its event when it
    /// grows the string, even if the bit keeps its value).
    first_len: Option<usize>,
}

/// The client a command ran for, as tracking sees it.
#[derive(Debug, Clone, Copy)]
pub struct Reader {
    /// Its id.
    pub id: u64,
    /// Whether the keys it reads now are to be remembered.
    pub tracks: bool,
}

impl Keyspace {
    /// Nobody watching, tracking or notified; notifications go out through
    /// `pubsub`.
    pub fn new(pubsub: Arc<PubSub>) -> Self {
        Keyspace {
            watches: AtomicUsize::new(0),
            watchers: Mutex::default(),
            notify: AtomicU32::new(0),
            tracking_max_keys: AtomicUsize::new(1_000_000),
            tracking: Tracking::new(Arc::clone(&pubsub)),
            blocked: blocked::Blocked::default(),
            pubsub,
        }
    }

    /// Sets the notification classes (`notify-keyspace-events`) and the
    /// tracking table's bound.
    pub fn configure(&self, notify: u32, tracking_max_keys: usize) {
        self.notify.store(notify, Ordering::Relaxed);
        // 0: no bound, as in Redis.
        let max = if tracking_max_keys == 0 {
            usize::MAX
        } else {
            tracking_max_keys
        };
        self.tracking_max_keys.store(max, Ordering::Relaxed);
        self.tracking.bound(max);
    }

    /// The notification classes.
    pub fn notify_classes(&self) -> u32 {
        self.notify.load(Ordering::Relaxed)
    }

    /// Whether events of `class` are published.
    pub fn listens(&self, class: u32) -> bool {
        let classes = self.notify_classes();
        classes & class != 0 && classes & (events::KEYSPACE | events::KEYEVENT) != 0
    }

    fn notifying(&self) -> bool {
        self.notify_classes() & (events::KEYSPACE | events::KEYEVENT) != 0
    }

    /// Notes what `after` needs of a command about to run, or `None` when
    /// nobody is interested (two relaxed loads).
    pub fn before(
        &self,
        spec: &Spec,
        args: &[Vec<u8>],
        store: &Store,
        reader: Reader,
    ) -> Option<Before> {
        let watching = self.watches.load(Ordering::Relaxed) != 0;
        let writes = spec.flags & WRITE != 0;
        let interested = (writes && (watching || self.tracking.active() || self.blocked.any()))
            || (reader.tracks && spec.flags & READONLY != 0)
            || self.notifying();
        if !interested {
            return None;
        }
        let keys: Vec<Vec<u8>> = spec.keys(args).map(<[u8]>::to_vec).collect();
        let existed = if self.notifying() {
            keys.iter().map(|k| store.contains_key(k)).collect()
        } else {
            Vec::new()
        };
        let first_len = (self.notifying() && spec.name == "setbit")
            .then(|| store.peek_with(&keys[0], |v| v.as_str().map_or(0, <[u8]>::len)))
            .flatten();
        let args = self.notifying().then(|| args.to_vec());
        Some(Before {
            keys,
            existed,
            args,
            first_len,
        })
    }

    /// After a command that answered `reply`: marks, invalidates, notifies
    /// and remembers, as the module says. An error reply changed nothing.
    pub fn after(
        &self,
        spec: &Spec,
        before: Before,
        reply: &[u8],
        store: &Store,
        reader: Reader,
        raised: Vec<super::commands::KeyEvent>,
    ) {
        if reply.first() == Some(&b'-') {
            return;
        }
        let keys: Vec<&[u8]> = before.keys.iter().map(Vec::as_slice).collect();
        if matches!(spec.name, "flushall" | "flushdb") {
            self.flushed();
        }
        if spec.flags & REPORTS != 0 {
            self.changed(&raised, Some(reader.id));
        } else if spec.flags & WRITE != 0 {
            self.touched(keys.iter().copied());
            self.tracking.invalidate(&keys, Some(reader.id));
            for key in &keys {
                self.blocked.ready(key);
            }
        } else if reader.tracks && spec.flags & READONLY != 0 {
            let max = self.tracking_max_keys.load(Ordering::Relaxed);
            self.tracking.remember(reader.id, keys.iter().copied(), max);
        }
        if let Some(args) = &before.args {
            let exists: Vec<bool> = keys.iter().map(|k| store.contains_key(*k)).collect();
            let outcome = events::Outcome {
                name: spec.name,
                args,
                keys: &keys,
                first_len: before.first_len,
                reply,
                existed: &before.existed,
                exists: &exists,
            };
            if spec.flags & REPORTS != 0 {
                // `new` goes right before the first event on the key it
                // names: where Redis's body adds the key.
                let mut created: Vec<&[u8]> = keys
                    .iter()
                    .zip(before.existed.iter().zip(&exists))
                    .filter(|(_, (was, is))| !**was && **is)
                    .map(|(k, _)| *k)
                    .collect();
                created.dedup();
                created.sort_unstable();
                created.dedup();
                for (class, event, key) in raised {
                    if let Some(at) = created.iter().position(|k| *k == key.as_slice()) {
                        created.remove(at);
                        self.notify(events::NEW, "new", &key);
                    }
                    self.notify(class, event, &key);
                }
                // Made without a change of its own (BITFIELD refused by
                // OVERFLOW FAIL still creates its string).
                for key in created {
                    self.notify(events::NEW, "new", key);
                }
            } else {
                for (class, event, key) in events::events(&outcome) {
                    self.notify(class, event, keys[key]);
                }
                self.publish(raised);
            }
            if spec.flags & READONLY != 0 {
                for (key, existed) in keys.iter().zip(&before.existed) {
                    if !existed {
                        self.notify(events::KEY_MISS, "keymiss", key);
                    }
                }
            }
        }
    }

    /// Publishes the events a handler raised.
    pub fn publish(&self, raised: Vec<super::commands::KeyEvent>) {
        for (class, event, key) in raised {
            self.notify(class, event, &key);
        }
    }

    /// The keys a reporting command's events name were changed: their
    /// watchers are marked, their trackers told (but `writer`, with
    /// NOLOOP), their blocked clients served.
    pub fn changed(&self, raised: &[super::commands::KeyEvent], writer: Option<u64>) {
        let mut keys: Vec<&[u8]> = Vec::with_capacity(raised.len());
        for (_, _, key) in raised {
            if !keys.contains(&key.as_slice()) {
                keys.push(key);
            }
        }
        self.touched(keys.iter().copied());
        self.tracking.invalidate(&keys, writer);
        for key in keys {
            self.blocked.ready(key);
        }
    }

    /// Whether any connection watches a key.
    pub fn watching(&self) -> bool {
        self.watches.load(Ordering::Relaxed) != 0
    }

    /// Remembers that `reader` read `keys` (a script's declared keys, once
    /// it ran a read-only command), if it tracks.
    pub fn remember<'k>(&self, reader: Reader, keys: impl IntoIterator<Item = &'k [u8]>) {
        if reader.tracks {
            let max = self.tracking_max_keys.load(Ordering::Relaxed);
            self.tracking.remember(reader.id, keys, max);
        }
    }

    /// Every key changed (`FLUSHALL`, `FLUSHDB`): tracking clients are told
    /// to drop everything. (Watches see it at `EXEC`.)
    pub fn flushed(&self) {
        self.tracking.invalidate_all();
    }

    /// The engine dropped `key` by itself (the departure listener).
    pub fn departed(&self, key: &[u8], cause: RemovalCause) {
        let (class, event) = match cause {
            RemovalCause::Expired => (events::EXPIRED, "expired"),
            RemovalCause::Evicted => (events::EVICTED, "evicted"),
            _ => return,
        };
        self.tracking.invalidate(&[key], None);
        self.tracking.flush_broadcast();
        if self.notifying() {
            self.notify(class, event, key);
        }
    }

    /// Publishes one event, if its class is on: on `__keyspace@0__:<key>`
    /// (class `K`) and `__keyevent@0__:<event>` (class `E`).
    fn notify(&self, class: u32, event: &str, key: &[u8]) {
        let classes = self.notify_classes();
        if classes & class == 0 {
            return;
        }
        if classes & events::KEYSPACE != 0 {
            let mut channel = b"__keyspace@0__:".to_vec();
            channel.extend_from_slice(key);
            self.pubsub.publish(&channel, event.as_bytes(), false);
        }
        if classes & events::KEYEVENT != 0 {
            let channel = format!("__keyevent@0__:{event}");
            self.pubsub.publish(channel.as_bytes(), key, false);
        }
    }

    /// Registers `dirty` as watching `key` (once per key and connection:
    /// the caller keeps its own list and does not repeat a key).
    pub fn watch(&self, key: &[u8], dirty: &Dirty) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        watchers
            .entry(key.to_vec())
            .or_default()
            .push(Arc::clone(dirty));
        self.watches.fetch_add(1, Ordering::Relaxed);
    }

    /// Removes `dirty`'s watches of `keys`.
    pub fn unwatch<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>, dirty: &Dirty) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            let Some(marks) = watchers.get_mut(key) else {
                continue;
            };
            let before = marks.len();
            marks.retain(|m| !Arc::ptr_eq(m, dirty));
            self.watches
                .fetch_sub(before - marks.len(), Ordering::Relaxed);
            if marks.is_empty() {
                watchers.remove(key);
            }
        }
    }

    /// `keys` were changed: marks every connection watching one of them.
    pub fn touched<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) {
        if self.watches.load(Ordering::Relaxed) == 0 {
            return;
        }
        let watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            for mark in watchers.get(key).into_iter().flatten() {
                mark.store(true, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::Keyspace;

    #[test]
    fn a_touched_key_marks_its_watchers_only_until_they_unwatch() {
        let keyspace = Keyspace::new(Arc::default());
        let (a, b) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        keyspace.watch(b"k", &a);
        keyspace.watch(b"j", &b);
        keyspace.touched([&b"k"[..], b"other"]);
        assert!(a.load(Ordering::Acquire));
        assert!(!b.load(Ordering::Acquire), "b watches j, not k");
        keyspace.unwatch([&b"j"[..]], &b);
        keyspace.touched([&b"j"[..]]);
        assert!(!b.load(Ordering::Acquire), "b no longer watches j");
        keyspace.unwatch([&b"k"[..]], &a);
        assert_eq!(keyspace.watches.load(Ordering::Relaxed), 0);
    }
}
