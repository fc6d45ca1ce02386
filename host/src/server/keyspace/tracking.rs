//! Client-side caching, the server's half (Redis's "tracking"): which
//! client read which key, and telling it when that key changes.
//!
//! In the default mode a client that reads a key is remembered against it;
//! the first change of the key — a write, a delete, expiry, eviction from
//! the last tier, a flush — sends that client one invalidation and forgets
//! it (it reads again to be told again). In broadcast mode (`BCAST`) a
//! client names prefixes instead and hears of every change under them. The
//! table of remembered keys is bounded (`tracking_table_max_keys`): past
//! it, keys are forgotten at random and their readers told they changed,
//! so that a client never serves a value the server no longer vouches for.
//! Invalidations go to the client itself (RESP3 push) or to the client it
//! redirects to (RESP2: a message on `__redis__:invalidate`).
//!
//! As in Redis, the default mode sends one message per key at once, while
//! broadcast mode gathers the changed keys and sends each client one
//! message per prefix when the connection that changed them finishes its
//! batch of commands ([`Tracking::flush_broadcast`]): a transaction or a
//! pipeline that changes many keys sends few messages.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::server::clients::Connection;
use crate::server::pubsub::PubSub;
use crate::server::push::Push;

/// Where a tracking client's invalidations go, and its options.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// The client that tracks.
    pub client: Arc<Connection>,
    /// The client its invalidations go to (`REDIRECT`), if not itself.
    pub target: Option<Arc<Connection>>,
    /// `NOLOOP`: not told of its own changes.
    pub noloop: bool,
    /// `BCAST`'s prefixes (`None`: not in broadcast mode).
    pub prefixes: Option<Vec<Vec<u8>>>,
}

#[derive(Debug, Default)]
struct Table {
    /// Key → the clients that read it since it last changed.
    keys: HashMap<Vec<u8>, HashSet<u64>>,
    /// Client id → its tracker.
    trackers: HashMap<u64, Tracker>,
    /// Keys changed under some broadcast prefix since the last flush, and
    /// the client that changed each (for `NOLOOP`).
    broadcast: Vec<(Bytes, Option<u64>)>,
}

/// Messages to send, and to whom.
type Sends = Vec<(Arc<Connection>, Push)>;

/// The tracking table.
#[derive(Debug)]
pub struct Tracking {
    /// Clients with tracking on: the fast path's test.
    clients: AtomicUsize,
    table: Mutex<Table>,
    pubsub: Arc<PubSub>,
}

impl Tracking {
    /// No client tracks yet; invalidations go through `pubsub`'s mailboxes.
    pub fn new(pubsub: Arc<PubSub>) -> Self {
        Tracking {
            clients: AtomicUsize::new(0),
            table: Mutex::default(),
            pubsub,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any client tracks.
    pub fn active(&self) -> bool {
        self.clients.load(Ordering::Relaxed) != 0
    }

    /// Turns tracking on (or changes it) for `tracker.client`.
    pub fn enable(&self, tracker: Tracker) {
        let mut table = self.table();
        if table.trackers.insert(tracker.client.id, tracker).is_none() {
            self.clients.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Turns tracking off for client `id`; the keys it read forget it as
    /// they are next invalidated.
    pub fn disable(&self, id: u64) {
        let mut table = self.table();
        if table.trackers.remove(&id).is_some() {
            self.clients.fetch_sub(1, Ordering::Relaxed);
        }
        if table.trackers.is_empty() {
            // Nobody left to tell: the remembered keys are dropped, not
            // kept until each changes.
            table.keys = HashMap::new();
            table.broadcast = Vec::new();
        }
    }

    /// Client `id` read `keys`; the table holds at most `max_keys` keys.
    pub fn remember<'k>(&self, id: u64, keys: impl IntoIterator<Item = &'k [u8]>, max_keys: usize) {
        let mut table = self.table();
        for key in keys {
            match table.keys.get_mut(key) {
                Some(readers) => {
                    readers.insert(id);
                }
                None => {
                    table.keys.insert(key.to_vec(), HashSet::from([id]));
                }
            }
        }
        drop(table);
        self.bound(max_keys);
    }

    /// Forgets keys past `max_keys`, telling their readers they changed
    /// (so none keeps a value the server no longer vouches for). Run as
    /// keys are remembered and when the bound is lowered.
    pub fn bound(&self, max_keys: usize) {
        let mut table = self.table();
        if table.keys.len() <= max_keys {
            return;
        }
        let excess = table.keys.len() - max_keys;
        // HashMap's order is arbitrary: Redis evicts random keys too.
        let victims: Vec<Vec<u8>> = table.keys.keys().take(excess).cloned().collect();
        let sends = Self::collect(&mut table, &victims, None);
        drop(table);
        self.send(sends);
        self.flush_broadcast();
    }

    /// `keys` changed (by client `by`, if a client changed them): tells
    /// every client that read them, and every broadcast client whose
    /// prefix they fall under.
    pub fn invalidate(&self, keys: &[&[u8]], by: Option<u64>) {
        if !self.active() {
            return;
        }
        let mut table = self.table();
        let sends = Self::collect(&mut table, keys, by);
        drop(table);
        self.send(sends);
    }

    /// Everything changed (`FLUSHALL`): every tracking client is told so
    /// and the table is emptied.
    pub fn invalidate_all(&self) {
        let mut table = self.table();
        // Cleared even with no client tracking now: the keys read before
        // tracking went off must not be told later of changes before this.
        table.keys.clear();
        table.keys.shrink_to_fit();
        let targets: Vec<Arc<Connection>> = table.trackers.values().map(target_of).collect();
        drop(table);
        for target in targets {
            self.deliver(&target, Push::Invalidate(None));
        }
    }

    /// The messages to send for `keys` in the default mode, one per key
    /// and reader, removing the keys; keys under a broadcast prefix are
    /// kept for [`Tracking::flush_broadcast`].
    fn collect<K: AsRef<[u8]>>(table: &mut Table, keys: &[K], by: Option<u64>) -> Sends {
        let mut sends = Vec::new();
        let Table {
            keys: tracked,
            trackers,
            broadcast,
        } = table;
        for key in keys {
            let key = key.as_ref();
            for id in tracked.remove(key).into_iter().flatten() {
                if let Some(tracker) = trackers.get(&id).filter(|t| t.prefixes.is_none())
                    && !(tracker.noloop && by == Some(id))
                {
                    sends.push(message(tracker, vec![Bytes::copy_from_slice(key)]));
                }
            }
            let watched = trackers.values().any(|t| {
                t.prefixes
                    .as_ref()
                    .is_some_and(|ps| ps.iter().any(|p| key.starts_with(p)))
            });
            if watched {
                broadcast.push((Bytes::copy_from_slice(key), by));
            }
        }
        sends
    }

    /// Sends the broadcast clients what changed under their prefixes since
    /// the last flush: one message per client and prefix (without the keys
    /// a `NOLOOP` client changed itself). The connections call it when
    /// they finish a batch of commands; the engine's own removals flush at
    /// once.
    pub fn flush_broadcast(&self) {
        if !self.active() {
            return;
        }
        let mut table = self.table();
        if table.broadcast.is_empty() {
            return;
        }
        let changed = std::mem::take(&mut table.broadcast);
        let mut sends: Sends = Vec::new();
        for tracker in table.trackers.values() {
            for prefix in tracker.prefixes.iter().flatten() {
                let keys: Vec<Bytes> = changed
                    .iter()
                    .filter(|(key, by)| {
                        key.starts_with(prefix)
                            && !(tracker.noloop && *by == Some(tracker.client.id))
                    })
                    .map(|(key, _)| key.clone())
                    .collect();
                if !keys.is_empty() {
                    sends.push(message(tracker, keys));
                }
            }
        }
        drop(table);
        self.send(sends);
    }

    fn send(&self, sends: Sends) {
        for (target, push) in sends {
            self.deliver(&target, push);
        }
    }

    /// Sends `push` to `target`, if it can read it: a RESP3 connection, or
    /// a RESP2 one in subscribed mode (as Redis, which drops it otherwise).
    fn deliver(&self, target: &Connection, push: Push) {
        let redir_broken = matches!(push, Push::RedirBroken(_));
        if target.is_resp3() || (target.is_subscribed() && !redir_broken) {
            self.pubsub.send(target, push, &self.pubsub.limits());
        }
    }

    /// What `INFO` reports: keys remembered, (key, client) pairs, clients
    /// tracking, broadcast prefixes.
    pub fn figures(&self) -> (usize, usize, usize, usize) {
        let table = self.table();
        let items = table.keys.values().map(HashSet::len).sum();
        let prefixes = table
            .trackers
            .values()
            .filter_map(|t| t.prefixes.as_ref().map(Vec::len))
            .sum();
        (table.keys.len(), items, table.trackers.len(), prefixes)
    }
}

/// The invalidation of `keys` for `tracker`: to its redirection, or, when
/// that client has gone, `tracking-redir-broken` to the tracker itself
/// (which only a RESP3 client hears, as in Redis).
fn message(tracker: &Tracker, keys: Vec<Bytes>) -> (Arc<Connection>, Push) {
    match &tracker.target {
        Some(target) if target.is_closed() => {
            (Arc::clone(&tracker.client), Push::RedirBroken(target.id))
        }
        _ => (target_of(tracker), Push::Invalidate(Some(keys))),
    }
}

fn target_of(tracker: &Tracker) -> Arc<Connection> {
    Arc::clone(tracker.target.as_ref().unwrap_or(&tracker.client))
}
