//! The blocking pops: `BLPOP`, `BRPOP`, `BLMOVE`, `BRPOPLPUSH`, `BLMPOP`,
//! `BZPOPMIN`, `BZPOPMAX`, `BZMPOP`. Each first tries at once; finding
//! nothing, it registers a waiter ([`Blocked`]) and its connection awaits
//! the answer (`server::blocking`). Inside `MULTI` or a script it never
//! blocks: it answers as if its timeout had passed, as Redis does.
//!
//! [`serve_ready`] runs after the outermost command of a request: the
//! waiters of every key a write made ready get their command run again,
//! oldest first, in the writer's context.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::oneshot;

use super::table::{F, MOVABLE, NO_SCRIPT, REPORTED_WRITE as W, Spec, spec};
use super::{Client, Ctx, Server, Store, Value, lists, lower, table, zsets};
use crate::server::keyspace::blocked::{Answer, Blocked, Served, Waiter};
use crate::server::resp::reply;

/// The blocking commands: refused from scripts (as in Redis 7.0), run
/// without blocking inside `MULTI`.
pub(super) static SPECS: &[Spec] = &[
    spec("blmove", 6, B, (1, 2, 1), block),
    spec("blmpop", -5, B | MOVABLE, (0, 0, 0), block),
    spec("blpop", -3, B, (1, -2, 1), block),
    spec("brpop", -3, B, (1, -2, 1), block),
    spec("brpoplpush", 4, B, (1, 2, 1), block),
    spec("bzmpop", -5, B | MOVABLE, (0, 0, 0), block),
    spec("bzpopmax", -3, B | F, (1, -2, 1), block),
    spec("bzpopmin", -3, B | F, (1, -2, 1), block),
];

/// A blocking command's flags.
const B: u16 = W | NO_SCRIPT;

thread_local! {
    /// How deep in `execute` this thread is: 1 for a client's command, more
    /// for those `EXEC` and scripts run.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Marks one level of `execute`; dropping it leaves the level.
pub(super) struct Level(u32);

impl Level {
    /// Enters a level of `execute`.
    pub(super) fn enter() -> Self {
        Level(DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        }))
    }

    /// Whether this is a client's own command (not one `EXEC` or a script
    /// runs).
    pub(super) fn outermost(&self) -> bool {
        self.0 == 1
    }
}

impl Drop for Level {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// A command that blocked: what its connection awaits.
#[derive(Debug)]
pub struct Blocking {
    /// The registered waiter.
    pub waiter: Arc<Waiter>,
    /// Its answer, once served or given up.
    pub answer: oneshot::Receiver<Answer>,
    /// How long it may wait (`None`: for ever).
    pub timeout: Option<Duration>,
    /// The reply when the timeout passes, in the client's protocol.
    pub timed_out: BytesMut,
}

/// Where the timeout is among a blocking command's arguments.
fn timeout_at(name: &str, args: &[Vec<u8>]) -> usize {
    match name {
        "blmpop" | "bzmpop" => 1,
        _ => args.len() - 1,
    }
}

/// Parses a timeout in seconds (a float): Redis's errors.
fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, &'static str> {
    let text =
        std::str::from_utf8(arg).map_err(|_| "ERR timeout is not a float or out of range")?;
    let secs: f64 = text
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && text == text.trim())
        .ok_or("ERR timeout is not a float or out of range")?;
    if secs < 0.0 {
        return Err("ERR timeout is negative");
    }
    if secs > (i64::MAX / 1000) as f64 / 1000.0 {
        return Err("ERR timeout is out of range");
    }
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// Every blocking command: try now; else block (or, nested, time out now).
///
/// The waiter is registered before the attempt, and the attempt runs under
/// its lock, so a push that lands between "found nothing" and "blocked"
/// cannot be missed: either the attempt sees it, or the writer finds the
/// waiter and serves it once the lock is free.
fn block(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let timeout = match parse_timeout(&args[timeout_at(&name, args)]) {
        Ok(t) => t,
        Err(e) => return reply::error(c.out, e),
    };
    let mut timed_out = BytesMut::new();
    timeout_reply(&name, &mut timed_out);
    if DEPTH.with(Cell::get) > 1 {
        if !attempt(c, args, None) {
            c.out.extend_from_slice(&timed_out);
        }
        return;
    }
    let spec = table::lookup(name.as_bytes()).expect("a blocking command");
    let keys = spec.keys(args).map(<[u8]>::to_vec).collect();
    let (waiter, answer) = Waiter::new(&c.client.connection, keys, args.to_vec(), c.client.resp3);
    let blocked = &c.server.keyspace().blocked;
    blocked.block(&waiter);
    let mut slot = waiter.lock();
    if slot.is_some() && attempt(c, args, None) {
        slot.take();
        drop(slot);
        c.server.keyspace().blocked.unblock(&waiter);
        return;
    }
    drop(slot);
    c.client.blocked = Some(Blocking {
        waiter,
        answer,
        timeout,
        timed_out,
    });
}

/// What a blocking command answers when its time is up.
fn timeout_reply(name: &str, out: &mut BytesMut) {
    if matches!(name, "blmove" | "brpoplpush") {
        reply::nil(out);
    } else {
        reply::nil_array(out);
    }
}

/// Runs the blocking command `args` without blocking: whether it answered
/// (served, or an error) into `c.out`. `only`: serve from that key alone
/// (a key that became ready), and only if it holds what the command pops —
/// a waiter whose key now holds another type stays blocked, as in Redis.
pub(super) fn attempt(c: &mut Ctx<'_>, args: &[Vec<u8>], only: Option<&[u8]>) -> bool {
    let name = lower(&args[0]);
    if let Some(key) = only {
        let zset = name.starts_with("bz");
        let poppable = c
            .store
            .peek_with(key, |v| match v {
                Value::List(l) => !zset && !l.is_empty(),
                Value::ZSet(z) => zset && !z.is_empty(),
                _ => false,
            })
            .unwrap_or(false);
        if !poppable {
            return false;
        }
    }
    let restrict = |keys: Vec<Vec<u8>>| match only {
        Some(key) => keys.into_iter().filter(|k| k == key).take(1).collect(),
        None => keys,
    };
    match name.as_str() {
        "blpop" | "brpop" => {
            let keys = &restrict(args[1..args.len() - 1].to_vec())[..];
            match lists::pop_first(c, keys, name == "blpop", 1) {
                Err(refused) => {
                    refused.reply(c.out);
                    true
                }
                Ok(None) => false,
                Ok(Some((key, items))) => {
                    reply::array(c.out, 2);
                    reply::bulk(c.out, &key);
                    reply::bulk(c.out, &items[0]);
                    true
                }
            }
        }
        "blmove" | "brpoplpush" => {
            let (from_left, to_left) = if name == "brpoplpush" {
                (false, true)
            } else {
                match (lists::side(&args[3]), lists::side(&args[4])) {
                    (Some(a), Some(b)) => (a, b),
                    _ => {
                        super::syntax_error(c.out);
                        return true;
                    }
                }
            };
            match lists::move_one(c, &args[1], &args[2], from_left, to_left) {
                Ok(Some(item)) => {
                    reply::bulk(c.out, &item);
                    true
                }
                Ok(None) => false,
                Err(refused) => {
                    refused.reply(c.out);
                    true
                }
            }
        }
        "blmpop" => match lists::MultiPop::parse(&args[2..], c.out) {
            Some(mut mp) => {
                mp.keys = restrict(mp.keys);
                lists::mpop_from(c, &mp)
            }
            None => true,
        },
        "bzmpop" => match zsets::MultiPop::parse(&args[2..], c.out) {
            Some(mut mp) => {
                mp.keys = restrict(mp.keys);
                zsets::mpop_from(c, &mp)
            }
            None => true,
        },
        _ => {
            let keys = restrict(args[1..args.len() - 1].to_vec());
            bzpop(c, &keys, name == "bzpopmin")
        }
    }
}

/// `BZPOPMIN`/`BZPOPMAX key… timeout`: `[key, member, score]` from the
/// first non-empty sorted set of `keys`.
fn bzpop(c: &mut Ctx<'_>, keys: &[Vec<u8>], min: bool) -> bool {
    for key in keys {
        match zsets::pop_from(c, key, min, 1) {
            Err(refused) => {
                refused.reply(c.out);
                return true;
            }
            Ok(Some(popped)) if !popped.is_empty() => {
                let (member, score) = &popped[0];
                reply::array(c.out, 3);
                reply::bulk(c.out, key);
                reply::bulk(c.out, member);
                reply::double(c.out, *score);
                return true;
            }
            Ok(_) => {}
        }
    }
    false
}

/// Serves the clients blocked on the keys this thread's command made
/// ready, oldest first per key; a served command's own writes (`BLMOVE`'s
/// destination) make their keys ready in turn.
pub(super) fn serve_ready(store: &Store, server: &dyn Server, client: &mut Client) {
    let keyspace = server.keyspace();
    while let Some(key) = Blocked::next_ready() {
        for waiter in keyspace.blocked.waiters(&key) {
            let mut slot = waiter.lock();
            if slot.is_none() {
                continue;
            }
            let mut out = BytesMut::new();
            let mut ctx = Ctx {
                store,
                server,
                client: &mut *client,
                out: &mut out,
                close: false,
                events: Vec::new(),
                noting: true,
            };
            let started = std::time::Instant::now();
            let served = reply::with_protocol(waiter.resp3, || {
                attempt(&mut ctx, &waiter.request, Some(&key))
            });
            let events = std::mem::take(&mut ctx.events);
            if !served {
                continue;
            }
            account_served(server, &waiter, &out, started.elapsed());
            let tx = slot.take().expect("checked under the lock");
            drop(slot);
            let pushes_before = waiter.connection.mailbox.queued();
            let _ = tx.send(Ok(Served {
                reply: out,
                pushes_before,
            }));
            keyspace.blocked.unblock(&waiter);
            keyspace.changed(&events, None);
            keyspace.publish(events);
        }
    }
}

/// What serving a blocked command adds to the statistics, as Redis adds
/// it on unblocking: its time and failure to its command's counters (its
/// call was counted when it blocked), its error to the error statistics,
/// and the command to the slow log, as the client sent it.
fn account_served(server: &dyn Server, waiter: &Waiter, reply: &[u8], took: std::time::Duration) {
    let micros = took.as_micros() as u64;
    if let Some(index) = waiter.request.first().and_then(|n| table::lookup_index(n)) {
        let counters = server.command_stats().slot(index);
        counters.usec.fetch_add(micros, Ordering::Relaxed);
        if server.error_stats().count(reply) {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    let slowlog = server.slowlog();
    if slowlog.threshold().is_some() {
        let mut args = crate::server::slowlog::Captured::default();
        args.capture(&waiter.request);
        slowlog.offer(micros, &args, &waiter.connection);
    }
}
