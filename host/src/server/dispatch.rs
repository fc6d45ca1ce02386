//! Running one request on a connection: through the gate (shared for the
//! batch, alone for an exclusive command, `BUSY` while a script is stuck),
//! after awaiting room for a write under memory pressure, and awaiting
//! what the policy loader or a command's delay (`WAIT`) asks for — off the
//! runtime worker and out of the gate.

use std::sync::atomic::Ordering;

use bytes::BytesMut;

use super::commands::{self, Client, Next, Store, table};
use super::gate::{self, Held};
use super::pubsub::Kind;
use super::resp::reply;
use super::{ServerState, build};

/// How many maintenance passes a write awaits while the cache reports
/// write pressure; then it runs, and the engine's own bounded wait applies.
const ROOM_WAITS_MAX: u32 = 8;

/// Runs one request, appending its reply to `out`: through the gate
/// (`gate` holds this batch's share of it, taken here if not yet), or
/// holding it alone for an exclusive command (and for the rest of the
/// batch); a `GOLDYLOX` command the
/// policy loader runs, and a command's delay (`WAIT`), are awaited here,
/// off this task's worker and out of the gate.
pub(super) async fn run<'s>(
    shared: &'s ServerState,
    client: &mut Client,
    request: &mut [Vec<u8>],
    out: &mut BytesMut,
    gate: &mut Option<Held<'s>>,
) -> Next {
    shared.commands_total.fetch_add(1, Ordering::Relaxed);
    if shared.pause.active() && commands::well_formed(request) {
        let writes = commands::writes(&shared.scripts, client, request);
        if shared.pause.holds(writes) {
            *gate = None;
            shared.pause.wait(writes).await;
        }
    }
    let flags = commands::flags_of(request);
    let ordered =
        publishes(shared, request) || (flags & table::WRITE != 0 && shared.keyspace.watching());
    if ordered && gate.is_none() {
        // Connections made ready by the same poll as this one run first: a
        // client that sent UNSUBSCRIBE on one connection and then PUBLISH
        // on another, or EXEC and then another client's write to a watched
        // key, is served in that order, as by Redis's single event loop,
        // much more often than not. Only these commands pay for it, only
        // while someone subscribes or watches, and only the first of a
        // batch (a yield per pipelined PUBLISH cut fan-out 5.6 times).
        *gate = None;
        tokio::task::yield_now().await;
    }
    if flags & table::WRITE != 0 && !client.tx.queueing() {
        room_for_write(&shared.store, request, gate).await;
    }
    let exclusive =
        flags & table::EXCLUSIVE != 0 && (flags & table::NO_QUEUE != 0 || !client.tx.queueing());
    let next = if flags & table::ALLOW_BUSY != 0 {
        commands::execute(&shared.store, shared, client, request, out)
    } else if exclusive {
        if !matches!(gate, Some(Held::Alone(_))) {
            *gate = None;
            match shared.gate.exclusive().await {
                Ok(guard) => *gate = Some(Held::Alone(guard)),
                Err(busy) => return refuse_busy(client, request, out, busy),
            }
        }
        // It runs on this worker; a script that runs long hands the
        // worker's other connections to another thread from its hook
        // (`scripting::run::HandOff`).
        commands::execute(&shared.store, shared, client, request, out)
    } else {
        if gate.is_none() {
            match shared.gate.shared().await {
                Ok(guard) => *gate = Some(Held::Shared(guard)),
                Err(busy) => return refuse_busy(client, request, out, busy),
            }
        }
        commands::execute(&shared.store, shared, client, request, out)
    };
    if let Some(pending) = client.pending.take() {
        *gate = None;
        let answer = pending
            .await
            .unwrap_or_else(|_| Err("ERR the policy loader failed this request".into()));
        commands::admin_reply(out, answer);
    }
    if let Some(delay) = client.delay.take() {
        *gate = None;
        tokio::time::sleep(delay).await;
    }
    next
}

/// Whether `request` publishes while someone subscribes (then it lets the
/// connections ready with it run first).
fn publishes(shared: &ServerState, request: &[Vec<u8>]) -> bool {
    let Some(name) = request.first() else {
        return false;
    };
    (name.eq_ignore_ascii_case(b"publish") || name.eq_ignore_ascii_case(b"spublish"))
        && [Kind::Channel, Kind::Pattern, Kind::Shard]
            .into_iter()
            .any(|kind| shared.pubsub.count(kind) > 0)
}

/// Answers a command refused because a script is busy: `BUSY`, which
/// inside `MULTI` also fails the transaction (`EXEC` itself then answers
/// `EXECABORT` and ends it), as in Redis.
fn refuse_busy(
    client: &mut Client,
    request: &[Vec<u8>],
    out: &mut BytesMut,
    busy: gate::Busy,
) -> Next {
    let is_exec = request
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"exec"));
    if is_exec && client.tx.queueing() {
        client.tx.reset();
        reply::error(
            out,
            &format!(
                "EXECABORT Transaction discarded because of: {}",
                busy.message()
            ),
        );
    } else {
        client.tx.fail();
        reply::error(out, busy.message());
    }
    Next::Continue
}

/// While the cache reports write pressure for a write the size of
/// `request` (its arguments and an entry's overhead) and `request` is a
/// write, awaits the maintenance pass that makes room (at most
/// [`ROOM_WAITS_MAX`]), so that the write does not block this runtime
/// worker and every other connection on it. Costs two atomic loads when
/// there is no pressure.
async fn room_for_write(store: &Store, request: &[Vec<u8>], gate: &mut Option<Held<'_>>) {
    let weight = request.iter().skip(1).map(|a| a.len() as u64).sum::<u64>()
        + u64::from(build::ENTRY_OVERHEAD);
    if !store.write_pressure(weight) {
        return;
    }
    *gate = None;
    for _ in 0..ROOM_WAITS_MAX {
        let (room, made) = tokio::sync::oneshot::channel();
        store.when_room(weight, move || {
            let _ = room.send(());
        });
        let _ = made.await;
        if !store.write_pressure(weight) {
            return;
        }
    }
}
