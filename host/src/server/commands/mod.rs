//! The Redis commands on the engine, with Redis's replies, error texts and
//! edge cases. One table ([`table::TABLE`]) names every command with its
//! arity, flags, key positions and handler; [`execute`] looks the name up,
//! checks authentication and arity, and calls the handler. The handlers
//! live by family: `strings`, `hashes`, `keys`, `multikey` (several keys as
//! one atomic step, through [`Cache::atomically`](goldylox::Cache::atomically)), `connection`.
//!
//! Keys are bytes; a value is a string or a hash ([`Value`]), and a command
//! on the other type answers `WRONGTYPE`. Read-modify-write commands
//! (`INCR`, `APPEND`, `HSET`, `EXPIRE`, …) are optimistic: read, compute,
//! then [`Cache::compare_and_set`](goldylox::Cache::compare_and_set) (or [`Cache::remove_if`](goldylox::Cache::remove_if) when the result
//! is empty); a lost race retries.

mod account;
mod acl;
mod bits;
mod blocking;
mod client;
mod cluster;
mod collection;
mod connection;
mod diagnostics;
mod docs;
mod dump;
mod flags;
mod hashes;
mod introspect;
mod keys;
mod keyspecs;

mod lists;
mod multikey;
mod pubsub;
mod sample;
mod scripts;
mod sets;
mod sort;
mod strings;
pub mod subcommands;
pub mod table;
mod tips;
mod tracking;
mod transaction;
mod unsupported;
mod zalgebra;
mod zrange;
mod zsets;

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tokio::sync::oneshot;

use super::resp::reply;

pub use super::stats::{CommandCounters, CommandStats};
pub use super::value::{Store, Value};
pub use acl::users_changed;
pub use blocking::Blocking;
pub use client::{Client, ReplyMode};
pub use pubsub::Subscriptions;
pub use tracking::TrackingState;
pub use transaction::Transaction;

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read the next command.
    Continue,
    /// Flush the replies and close (QUIT).
    Close,
}

/// A `GOLDYLOX` command's reply lines, or its Redis-style error.
pub type AdminAnswer = Result<Vec<String>, String>;

/// What [`Server::admin`] gives back.
#[derive(Debug)]
pub enum AdminReply {
    /// The answer, at once.
    Now(AdminAnswer),
    /// The answer to come from the policy loader.
    Later(oneshot::Receiver<AdminAnswer>),
}

/// Writes a `GOLDYLOX` command's answer: an array of lines, or the error.
pub fn admin_reply(out: &mut BytesMut, answer: AdminAnswer) {
    match answer {
        Ok(lines) => {
            reply::array(out, lines.len());
            for line in lines {
                reply::bulk(out, line.as_bytes());
            }
        }
        Err(message) => reply::error(out, &message),
    }
}

/// Commands that need more than the store: server-wide state and admin.
pub trait Server {
    /// The users and their permissions.
    fn acl(&self) -> &super::acl::Acl;
    /// `MEMORY STATS`: (name, figure), in Redis's order, then the tiers'.
    fn memory_stats(&self) -> Vec<(&'static str, super::figure::Value)>;
    /// `MEMORY DOCTOR`: what the memory figures say is wrong, if anything.
    fn memory_doctor(&self) -> String;
    /// `INFO [section …]` (lower-case names; none: the default sections):
    /// the report text.
    fn info(&self, sections: &[String]) -> Vec<u8>;
    /// `SHUTDOWN`: stop the server, persisting the memory tiers unless
    /// `save` is `false` (NOSAVE).
    fn shutdown(&self, save: bool);
    /// Every live connection (`CLIENT LIST`, `CLIENT KILL`).
    fn clients(&self) -> Vec<std::sync::Arc<super::clients::Connection>>;
    /// The per-command counters `execute` keeps.
    fn command_stats(&self) -> &CommandStats;
    /// The error replies by code `execute` counts.
    fn error_stats(&self) -> &super::stats::ErrorStats;
    /// The slow log `execute` feeds.
    fn slowlog(&self) -> &super::slowlog::SlowLog;
    /// The latency monitor `execute` feeds.
    fn latency(&self) -> &super::latency::LatencyMonitor;
    /// `CONFIG RESETSTAT`: zeroes the statistics `INFO` and `LATENCY
    /// HISTOGRAM` report.
    fn reset_stats(&self);
    /// `CONFIG GET pattern`: matching (name, value) pairs.
    fn config_get(&self, pattern: &str) -> Vec<(String, String)>;
    /// `CONFIG SET name value [name value …]`, all or nothing:
    /// `Err(message)` with a Redis-style error.
    fn config_set(&self, pairs: &[(String, String)]) -> Result<(), String>;
    /// `GOLDYLOX …` admin commands: the reply lines, or an error, now or
    /// from the policy loader.
    fn admin(&self, args: &[Vec<u8>]) -> AdminReply;
    /// The largest string a command may build (`proto-max-bulk-len`).
    fn max_bulk_bytes(&self) -> usize;
    /// The watched keys, told of every write.
    fn keyspace(&self) -> &super::keyspace::Keyspace;
    /// The Lua scripts (`EVAL`, `SCRIPT`).
    fn scripts(&self) -> &super::scripting::Scripts;
    /// What bounds a script's run (`busy-reply-threshold`, its memory).
    fn script_limits(&self) -> super::scripting::Limits;
    /// Who subscribes to what.
    fn pubsub(&self) -> &super::pubsub::PubSub;
    /// `CLIENT PAUSE`: holds `mode`'s commands until `until`.
    fn pause(&self, mode: super::pause::Mode, until: tokio::time::Instant);
    /// `CLIENT UNPAUSE`.
    fn unpause(&self);
}

/// The table's flags of the command `args` (the whole request) names; 0
/// for an unknown one.
pub fn flags_of(args: &[Vec<u8>]) -> u16 {
    let Some(spec) = args.first().and_then(|name| table::lookup(name)) else {
        return 0;
    };
    table::subcommand_flags(spec, args.get(1).map(Vec::as_slice))
}

/// Whether `request` writes or may replicate, as `CLIENT PAUSE WRITE`
/// judges it: by its flags, a script's by what it declares, and `EXEC` by
/// what it would run.
pub fn writes(scripts: &super::scripting::Scripts, client: &Client, request: &[Vec<u8>]) -> bool {
    let one = |request: &[Vec<u8>]| {
        scripts
            .declares_writes(request)
            .unwrap_or_else(|| flags_of(request) & (table::WRITE | table::MAY_REPLICATE) != 0)
    };
    match request.first() {
        Some(name) if name.eq_ignore_ascii_case(b"exec") => {
            client.tx.queued().iter().any(|queued| one(queued))
        }
        _ => one(request),
    }
}

/// Whether `request` names a known command with a fitting number of
/// arguments (one that fails those checks is answered at once, even while
/// clients are paused).
pub fn well_formed(request: &[Vec<u8>]) -> bool {
    request
        .first()
        .and_then(|name| table::lookup(name))
        .is_some_and(|spec| spec.accepts(request.len()))
}

/// The name of the command at `index` of the table.
pub fn name_of(index: usize) -> Option<&'static str> {
    table::TABLE.get(index).map(|s| s.name)
}

/// What a command's handler works with.
pub struct Ctx<'a> {
    /// The cache.
    pub store: &'a Store,
    /// Server-wide state and admin.
    pub server: &'a dyn Server,
    /// This connection's state.
    pub client: &'a mut Client,
    /// Where the reply goes.
    pub out: &'a mut BytesMut,
    /// Set by a handler to close the connection after its reply (QUIT).
    pub close: bool,
    /// Keyspace events the handler raised ([`Ctx::notify`]), published
    /// once it is done, after the `new` events of the keys it created.
    pub events: Vec<KeyEvent>,
    /// Whether anyone needs to know what the command changed (watches,
    /// tracking, blocked clients, notifications): then every event is
    /// noted, published or not.
    pub noting: bool,
}

/// A keyspace event a handler raised: its class, its name, its key.
pub type KeyEvent = (u32, &'static str, Vec<u8>);

impl Ctx<'_> {
    /// Raises the keyspace event `event` of `class` on `key`, if anyone
    /// listens for that class (one relaxed load otherwise). Commands of the
    /// collection families raise their events where Redis's do, in their
    /// bodies; the older families' are derived from their outcome
    /// ([`super::keyspace::events`]).
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.noting {
            self.events.push((class, event, key.to_vec()));
        }
    }
}

/// Runs one command, appending its reply to `out`. Arguments may be moved
/// out of `args` (a stored key or value is not copied). After a client's
/// own command (not one `EXEC` or a script runs), the clients blocked on
/// keys it made ready are served.
pub fn execute(
    store: &Store,
    server: &dyn Server,
    client: &mut Client,
    args: &mut [Vec<u8>],
    out: &mut BytesMut,
) -> Next {
    let level = blocking::Level::enter();
    let next = run_command(store, server, client, args, out);
    if level.outermost() && server.keyspace().blocked.any() {
        blocking::serve_ready(store, server, client);
    }
    next
}

/// [`execute`]'s one command.
fn run_command(
    store: &Store,
    server: &dyn Server,
    client: &mut Client,
    args: &mut [Vec<u8>],
    out: &mut BytesMut,
) -> Next {
    let Some(first) = args.first() else {
        return Next::Continue;
    };
    // As in Redis 7: an unknown name is refused before authentication.
    let at = out.len();
    let Some(index) = table::lookup_index(first) else {
        client.tx.fail();
        unknown_command(out, args);
        server.error_stats().count(&out[at..]);
        return Next::Continue;
    };
    let spec = &table::TABLE[index];
    if let Some(refused) = refuse(server, client, index, args, out) {
        return refused;
    }
    if client.tx.queueing() && spec.flags & table::NO_QUEUE == 0 {
        client
            .tx
            .queue(args.iter_mut().map(std::mem::take).collect());
        reply::simple(out, "QUEUED");
        return Next::Continue;
    }
    // EXEC is shown after the commands it runs, as in Redis.
    let exec = spec.name == "exec";
    if !exec {
        monitor(server, client, args);
    }
    // What watchers, notifications and tracking need of the command,
    // noted before the handler (which may move its arguments away).
    let mut reader = client.tracking.reader(client.connection.id);
    if client.in_script && reader.tracks {
        client.script_read |= spec.flags & table::READONLY != 0;
        reader.tracks = false;
    }
    let before = server.keyspace().before(spec, args, store, reader);
    let reply_at = out.len();
    let started = account::before(server, client, index, args);
    let mut ctx = Ctx {
        store,
        server,
        client,
        out,
        close: false,
        events: Vec::new(),
        noting: before.is_some(),
    };
    let resp3 = ctx.client.resp3;
    reply::with_protocol(resp3, || (spec.handler)(&mut ctx, args));
    ctx.client.wrote |= spec.flags & table::WRITE != 0;
    account::after(server, started, ctx.client, args, &ctx.out[reply_at..]);
    if let Some(before) = before {
        server.keyspace().after(
            spec,
            before,
            &ctx.out[reply_at..],
            store,
            reader,
            ctx.events,
        );
    }
    ctx.client.tracking.command_done(spec.name);
    // (Un)subscribe confirmations are pushes, in RESP2 too: CLIENT REPLY
    // leaves them be, as Redis does.
    if !spec.name.ends_with("subscribe") {
        silence(ctx.client, ctx.out, reply_at);
    }
    if exec {
        monitor(server, ctx.client, args);
    }
    if ctx.close {
        Next::Close
    } else {
        Next::Continue
    }
}

/// Answers a command `client` may not run now (see [`admit`],
/// [`acl::permit`], [`admit_route`]) and marks its transaction failed; a
/// connection whose user was deleted is closed.
fn refuse(
    server: &dyn Server,
    client: &mut Client,
    index: usize,
    args: &[Vec<u8>],
    out: &mut BytesMut,
) -> Option<Next> {
    if !server.acl().refresh(&mut client.user) {
        reply::error(out, "NOPERM the user of this connection no longer exists");
        return Some(Next::Close);
    }
    let spec = table::TABLE[index];
    let message = admit(spec, client, args)
        .and_then(|()| acl::permit(server, client, index, spec, args))
        .and_then(|()| admit_route(spec, client, args))
        .err()?;
    let at = out.len();
    let counters = server.command_stats().slot(index);
    counters.rejected.fetch_add(1, Ordering::Relaxed);
    client.tx.fail();
    reply::error(out, &message);
    server.error_stats().count(&out[at..]);
    Some(Next::Continue)
}

/// Shows `args` to the connections in `MONITOR` mode, if any.
fn monitor(server: &dyn Server, client: &Client, args: &[Vec<u8>]) {
    if server.pubsub().monitored() {
        let pubsub = server.pubsub();
        pubsub.feed_monitors(&client.connection, client.in_script, args);
    }
}

/// Drops the reply just written from `reply_at` on, if `CLIENT REPLY`
/// says so.
fn silence(client: &mut Client, out: &mut BytesMut, reply_at: usize) {
    match client.replies {
        ReplyMode::On => {}
        ReplyMode::Off => out.truncate(reply_at),
        ReplyMode::Skip => {
            out.truncate(reply_at);
            client.replies = ReplyMode::SkipThis;
        }
        ReplyMode::SkipThis => {
            out.truncate(reply_at);
            client.replies = ReplyMode::On;
        }
    }
}

/// Whether `client` may run `spec` now: authenticated and the arity; else
/// the error to answer.
fn admit(spec: &table::Spec, client: &Client, args: &[Vec<u8>]) -> Result<(), String> {
    if !client.authenticated && spec.flags & table::NO_AUTH == 0 {
        return Err("NOAUTH Authentication required.".to_owned());
    }
    if !spec.accepts(args.len()) {
        return Err(format!(
            "ERR wrong number of arguments for '{}' command",
            spec.name
        ));
    }
    Ok(())
}

/// After the permission check, as in Redis: another node's slot, the
/// subscribed context, and what a transaction refuses.
fn admit_route(spec: &table::Spec, client: &Client, args: &[Vec<u8>]) -> Result<(), String> {
    if let Some(map) = &client.cluster
        && let Err(redirect) = map.route(spec.keys(args))
    {
        return Err(redirect.message());
    }
    if client.subs.active() && !client.resp3 && spec.flags & table::SUBSCRIBED == 0 {
        return Err(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
             are allowed in this context",
            spec.name
        ));
    }
    if client.tx.queueing() && spec.flags & table::NO_MULTI != 0 {
        return Err("ERR Command not allowed inside a transaction".to_owned());
    }
    Ok(())
}

/// Redis's reply to a name it does not know, quoting the first arguments.
fn unknown_command(out: &mut BytesMut, args: &[Vec<u8>]) {
    let mut beginning = String::new();
    for a in &args[1..] {
        let text = String::from_utf8_lossy(a);
        if beginning.len() + text.len() > 128 {
            break;
        }
        beginning.push_str(&format!("'{text}' "));
    }
    reply::error(
        out,
        &format!(
            "ERR unknown command '{}', with args beginning with: {beginning}",
            String::from_utf8_lossy(&args[0])
        ),
    );
}

/// Most retries of an optimistic read-modify-write before giving up (only
/// reachable under a storm of writers on one key).
const RMW_RETRIES: usize = 1_000;

fn lower(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_lowercase()
}

fn arity_error(out: &mut BytesMut, name: &str) {
    reply::error(
        out,
        &format!("ERR wrong number of arguments for '{name}' command"),
    );
}

fn syntax_error(out: &mut BytesMut) {
    reply::error(out, "ERR syntax error");
}

fn wrong_type(out: &mut BytesMut) {
    reply::error(out, super::value::WRONGTYPE);
}

fn contention(out: &mut BytesMut) {
    reply::error(out, "ERR too much contention on the key, try again");
}

fn not_integer(out: &mut BytesMut) {
    reply::error(out, "ERR value is not an integer or out of range");
}

/// Parses an integer as Redis's `string2ll` does: optional `-`, digits, no
/// leading zeros (except `0`), no spaces, within i64.
pub fn parse_i64(arg: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || s.len() > 20 || s.starts_with('+') {
        return None;
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || (digits.len() > 1 && digits.starts_with('0'))
        || digits == "0" && s.starts_with('-')
    {
        return None;
    }
    s.parse().ok()
}

fn now_unix_ms() -> i64 {
    (now_unix_ns() / 1_000_000) as i64
}

fn now_unix_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Nanoseconds to live from a relative or absolute expire argument (an
/// absolute one converted at nanosecond precision, so that `PEXPIRETIME`
/// gives back the millisecond `PXAT` set): `None` if it overflows, as in
/// Redis. May be zero or negative (already expired).
fn ttl_ns(amount: i64, unit_ms: bool, absolute: bool) -> Option<i128> {
    let ms = if unit_ms {
        amount
    } else {
        amount.checked_mul(1000)?
    };
    if absolute {
        Some(i128::from(ms) * 1_000_000 - now_unix_ns())
    } else {
        // Redis also rejects relative times whose absolute deadline overflows.
        now_unix_ms().checked_add(ms)?;
        Some(i128::from(ms) * 1_000_000)
    }
}

/// An expiration `ns` nanoseconds from now (now, if not positive).
fn after_ns(ns: i128) -> goldylox::Expiration {
    let ns = u64::try_from(ns.max(0)).unwrap_or(u64::MAX);
    goldylox::Expiration::After(std::time::Duration::from_nanos(ns))
}

fn store_error(out: &mut BytesMut, e: &goldylox::Error) {
    match e {
        goldylox::Error::EntryTooLarge { .. } => reply::error(
            out,
            "OOM command not allowed when used memory > 'maxmemory'.",
        ),
        goldylox::Error::Closed => reply::error(out, "ERR server is shutting down"),
        other => {
            // With its causes (an I/O error's operating-system message).
            let mut text = format!("ERR {other}");
            let mut cause = std::error::Error::source(other);
            while let Some(e) = cause {
                text.push_str(&format!(": {e}"));
                cause = e.source();
            }
            reply::error(out, &text)
        }
    }
}
