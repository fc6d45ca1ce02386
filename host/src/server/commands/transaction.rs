//! Transactions, as Redis 7.0 has them: `MULTI` starts queueing, `EXEC`
//! runs the queue as one step, `DISCARD` drops it, `WATCH` makes `EXEC`
//! conditional on keys nobody changed.
//!
//! Queueing happens in [`execute`](super::execute): a command that would be
//! refused (unknown, wrong arity, no authentication, another node's slot,
//! not allowed in a transaction) is refused at once and marks the
//! transaction failed, so that `EXEC` applies nothing and answers
//! `EXECABORT`. `EXEC` is flagged exclusive in the command table: the
//! connection runs it holding the server's gate for writing, which every
//! other command takes for reading, so no other client's command
//! interleaves with the queued ones, in any tier. The watch check runs
//! under the gate too (see [`crate::server::keyspace`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Ctx, execute};
use crate::server::clients::Connection;
use crate::server::keyspace::{Dirty, Keyspace};
use crate::server::resp::reply;

/// A connection's transaction state: its queue while in `MULTI`, and its
/// watched keys.
#[derive(Debug)]
pub struct Transaction {
    /// The queued requests, while in `MULTI`.
    queued: Option<Vec<Vec<Vec<u8>>>>,
    /// Whether queueing refused a command (`EXEC` answers `EXECABORT`).
    failed: bool,
    /// Each watched key and whether it existed when watched.
    watched: Vec<(Vec<u8>, bool)>,
    /// Set when a watched key is changed.
    dirty: Dirty,
    keyspace: Arc<Keyspace>,
    /// Bytes of the queued requests' arguments (`CLIENT LIST`'s
    /// `multi-mem`).
    queued_bytes: usize,
    /// Where `CLIENT LIST` reads the queue's size.
    connection: Arc<Connection>,
}

impl Transaction {
    /// No transaction and no watches, registering watches in `keyspace`,
    /// for `connection`.
    pub fn new(keyspace: Arc<Keyspace>, connection: Arc<Connection>) -> Self {
        Transaction {
            queued: None,
            failed: false,
            watched: Vec::new(),
            dirty: Arc::new(AtomicBool::new(false)),
            keyspace,
            queued_bytes: 0,
            connection,
        }
    }

    /// Tells `CLIENT LIST` the queue's size.
    fn note(&self) {
        let queued = self.queued.as_ref().map(|q| (q.len(), self.queued_bytes));
        self.connection.note_multi(queued);
    }

    /// Whether the connection is in `MULTI`.
    pub fn queueing(&self) -> bool {
        self.queued.is_some()
    }

    /// The queued requests (none outside `MULTI`).
    pub fn queued(&self) -> &[Vec<Vec<u8>>] {
        self.queued.as_deref().unwrap_or_default()
    }

    /// Marks the transaction failed (a command was refused while queueing).
    pub fn fail(&mut self) {
        if self.queueing() {
            self.failed = true;
        }
    }

    /// Queues a request — unless the transaction is already bound to
    /// fail (a command refused, a watched key touched): then, as Redis, it
    /// is answered `QUEUED` and dropped, which also keeps it out of EXEC's
    /// cluster check.
    pub(super) fn queue(&mut self, request: Vec<Vec<u8>>) {
        if self.failed || self.touched() {
            return;
        }
        if let Some(queued) = &mut self.queued {
            self.queued_bytes += request.iter().map(Vec::len).sum::<usize>();
            queued.push(request);
        }
        self.note();
    }

    /// Leaves `MULTI` and forgets the watches.
    pub fn reset(&mut self) {
        self.queued = None;
        self.queued_bytes = 0;
        self.failed = false;
        self.unwatch();
        self.note();
    }

    fn unwatch(&mut self) {
        let watched = std::mem::take(&mut self.watched);
        self.keyspace
            .unwatch(watched.iter().map(|(k, _)| k.as_slice()), &self.dirty);
        self.dirty.store(false, Ordering::Release);
    }

    /// Whether a write touched a watched key since it was watched.
    fn touched(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Whether a watched key is gone (expired, evicted, flushed) or came
    /// into being since it was watched.
    fn existence_changed(&self, exists: impl Fn(&[u8]) -> bool) -> bool {
        self.watched
            .iter()
            .any(|(k, existed)| exists(k) != *existed)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.unwatch();
    }
}

/// `MULTI`.
pub(super) fn multi(c: &mut Ctx<'_>, _args: &mut [Vec<u8>]) {
    let tx = &mut c.client.tx;
    if tx.queueing() {
        return reply::error(c.out, "ERR MULTI calls can not be nested");
    }
    tx.queued = Some(Vec::new());
    tx.failed = false;
    tx.note();
    reply::ok(c.out);
}

/// `DISCARD`.
pub(super) fn discard(c: &mut Ctx<'_>, _args: &mut [Vec<u8>]) {
    if !c.client.tx.queueing() {
        return reply::error(c.out, "ERR DISCARD without MULTI");
    }
    c.client.tx.reset();
    reply::ok(c.out);
}

/// `WATCH key [key …]`.
pub(super) fn watch(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    if c.client.tx.queueing() {
        return reply::error(c.out, "ERR WATCH inside MULTI is not allowed");
    }
    let tx = &mut c.client.tx;
    for key in &args[1..] {
        if tx.watched.iter().any(|(k, _)| k == key) {
            continue;
        }
        tx.keyspace.watch(key, &tx.dirty);
        tx.watched.push((key.clone(), c.store.contains_key(key)));
    }
    reply::ok(c.out);
}

/// `UNWATCH`.
pub(super) fn unwatch(c: &mut Ctx<'_>, _args: &mut [Vec<u8>]) {
    c.client.tx.unwatch();
    reply::ok(c.out);
}

/// `EXEC`: the queued commands' replies, in one array; a null array if a
/// watched key changed; `EXECABORT` if queueing refused a command.
pub(super) fn exec(c: &mut Ctx<'_>, _args: &mut [Vec<u8>]) {
    let Some(queued) = c.client.tx.queued.take() else {
        return reply::error(c.out, "ERR EXEC without MULTI");
    };
    // The order of Redis's checks: the queued commands' cluster slots,
    // then a command refused while queueing, then the watches.
    if let Some(map) = &c.client.cluster {
        let keys = queued.iter().flat_map(|request| {
            super::table::lookup(&request[0])
                .into_iter()
                .flat_map(move |spec| spec.keys(request))
        });
        if let Err(redirect) = map.route(keys) {
            c.client.tx.reset();
            return reply::error(c.out, &redirect.message());
        }
    }
    let tx = &mut c.client.tx;
    if tx.failed {
        tx.reset();
        return reply::error(
            c.out,
            "EXECABORT Transaction discarded because of previous errors.",
        );
    }
    let store = c.store;
    if tx.touched() || tx.existence_changed(|k| store.contains_key(k)) {
        tx.reset();
        return reply::nil_array(c.out);
    }
    tx.reset();
    reply::array(c.out, queued.len());
    c.client.in_exec = true;
    for mut request in queued {
        execute(c.store, c.server, c.client, &mut request, c.out);
    }
    c.client.in_exec = false;
}
