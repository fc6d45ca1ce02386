//! Clients blocked on keys (`BLPOP`, `BLMOVE`, `BZPOPMIN`, …): who waits
//! for which key, in the order they blocked, and which keys became ready.
//!
//! A blocking command that finds nothing registers a [`Waiter`] on its keys
//! and its connection awaits the answer. A write to a key someone waits on
//! marks the key ready (for the thread running the command); once the
//! outermost command of that request is done, the waiters of each ready
//! key are served in the order they blocked, in the writer's context — so
//! the writer's next command already sees what they took, as in Redis.
//! Serving and giving up (timeout, `CLIENT UNBLOCK`, a closed connection)
//! both take the waiter's lock, so an element is either served to a
//! client still waiting or left in place: never lost.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use tokio::sync::oneshot;

use crate::server::clients::Connection;

/// How a wait ended without being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// Its timeout, or `CLIENT UNBLOCK … TIMEOUT`: the timeout reply.
    Timeout,
    /// `CLIENT UNBLOCK … ERROR`: the `UNBLOCKED` error.
    Error,
}

/// A blocked client's answer when served.
#[derive(Debug)]
pub struct Served {
    /// The reply.
    pub reply: BytesMut,
    /// Its mailbox's mark when it was served ([`Mailbox::queued`]): the
    /// pushes before it go out before the reply, those after (raised by
    /// the served command itself) after it, as in Redis.
    ///
    /// [`Mailbox::queued`]: crate::server::push::Mailbox::queued
    pub pushes_before: u64,
}

/// What a waiter receives.
pub type Answer = Result<Served, GaveUp>;

/// One blocked client.
#[derive(Debug)]
pub struct Waiter {
    /// Its connection's id.
    pub client: u64,
    /// The keys it waits on, in its command's order.
    pub keys: Vec<Vec<u8>>,
    /// The blocking command, as sent.
    pub request: Vec<Vec<u8>>,
    /// Whether its connection speaks RESP3.
    pub resp3: bool,
    /// Its connection.
    pub connection: Arc<Connection>,
    /// Where its answer goes; `None` once served or given up.
    answer: Mutex<Option<oneshot::Sender<Answer>>>,
}

impl Waiter {
    /// A waiter and the receiver its connection awaits.
    pub fn new(
        connection: &Arc<Connection>,
        keys: Vec<Vec<u8>>,
        request: Vec<Vec<u8>>,
        resp3: bool,
    ) -> (Arc<Self>, oneshot::Receiver<Answer>) {
        let (tx, rx) = oneshot::channel();
        let waiter = Waiter {
            client: connection.id,
            keys,
            request,
            resp3,
            connection: Arc::clone(connection),
            answer: Mutex::new(Some(tx)),
        };
        (Arc::new(waiter), rx)
    }

    /// Locks the waiter: `Some` while it still waits. Serve or give up
    /// under this lock.
    pub fn lock(&self) -> MutexGuard<'_, Option<oneshot::Sender<Answer>>> {
        self.answer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The blocked clients.
#[derive(Debug, Default)]
pub struct Blocked {
    /// How many waiters are registered: the writers' fast path.
    count: AtomicUsize,
    /// Key → its waiters, oldest first.
    by_key: Mutex<HashMap<Vec<u8>, VecDeque<Arc<Waiter>>>>,
    /// Client id → its waiter (`CLIENT UNBLOCK`).
    by_client: Mutex<HashMap<u64, Arc<Waiter>>>,
}

thread_local! {
    /// Keys made ready by the command this thread runs, in order.
    static READY: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

impl Blocked {
    /// Whether anyone is blocked (one relaxed load).
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    /// How many clients are blocked (`INFO clients`).
    pub fn clients(&self) -> usize {
        self.lock_clients().len()
    }

    fn lock_keys(&self) -> MutexGuard<'_, HashMap<Vec<u8>, VecDeque<Arc<Waiter>>>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_clients(&self) -> MutexGuard<'_, HashMap<u64, Arc<Waiter>>> {
        self.by_client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `waiter` behind those already waiting on its keys.
    pub fn block(&self, waiter: &Arc<Waiter>) {
        let mut by_key = self.lock_keys();
        for key in &waiter.keys {
            let queue = by_key.entry(key.clone()).or_default();
            if !queue.iter().any(|w| Arc::ptr_eq(w, waiter)) {
                queue.push_back(Arc::clone(waiter));
            }
        }
        self.lock_clients()
            .insert(waiter.client, Arc::clone(waiter));
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets `waiter` (served, timed out, unblocked or disconnected).
    pub fn unblock(&self, waiter: &Arc<Waiter>) {
        let mut by_key = self.lock_keys();
        for key in &waiter.keys {
            if let Some(queue) = by_key.get_mut(key) {
                queue.retain(|w| !Arc::ptr_eq(w, waiter));
                if queue.is_empty() {
                    by_key.remove(key);
                }
            }
        }
        let mut clients = self.lock_clients();
        if clients
            .get(&waiter.client)
            .is_some_and(|w| Arc::ptr_eq(w, waiter))
        {
            clients.remove(&waiter.client);
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A write changed `key`: if someone waits on it, it is served once
    /// this thread's command is done.
    pub fn ready(&self, key: &[u8]) {
        if !self.any() || !self.lock_keys().contains_key(key) {
            return;
        }
        READY.with(|r| {
            let mut r = r.borrow_mut();
            if !r.iter().any(|k| k == key) {
                r.push(key.to_vec());
            }
        });
    }

    /// The next key made ready on this thread, if any.
    pub fn next_ready() -> Option<Vec<u8>> {
        READY.with(|r| {
            let mut r = r.borrow_mut();
            (!r.is_empty()).then(|| r.remove(0))
        })
    }

    /// The waiters of `key`, oldest first.
    pub fn waiters(&self, key: &[u8]) -> Vec<Arc<Waiter>> {
        self.lock_keys()
            .get(key)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: whether `client` was blocked.
    pub fn unblock_client(&self, client: u64, how: GaveUp) -> bool {
        let Some(waiter) = self.lock_clients().get(&client).cloned() else {
            return false;
        };
        let given_up = waiter.lock().take();
        let Some(tx) = given_up else { return false };
        let _ = tx.send(Err(how));
        self.unblock(&waiter);
        true
    }
}
