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

mod cluster;
mod connection;
mod hashes;
mod keys;
mod multikey;
mod strings;
pub mod table;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tokio::sync::oneshot;

use super::resp::reply;

pub use super::value::{Store, Value};

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read the next command.
    Continue,
    /// Flush the replies and close (QUIT).
    Close,
}

/// Per-connection state the commands see.
#[derive(Debug)]
pub struct Client {
    /// The connection as `CLIENT LIST` shows it (id, addresses, name).
    pub connection: std::sync::Arc<super::clients::Connection>,
    /// Whether `AUTH` succeeded (or no password is configured).
    pub authenticated: bool,
    /// Whether the client chose RESP3 (`HELLO 3`).
    pub resp3: bool,
    /// The slot map when cluster mode is on (refreshed when the
    /// configuration changes).
    pub cluster: Option<std::sync::Arc<super::cluster::ClusterMap>>,
    /// Whether a write command ran since the replies were last sent (what
    /// a durable acknowledgement waits for).
    pub wrote: bool,
    /// The answer of a `GOLDYLOX` command the policy loader is running: the
    /// connection awaits it, and writes it with [`admin_reply`], before it
    /// runs the next command.
    pub pending: Option<oneshot::Receiver<AdminAnswer>>,
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
    /// The password clients must `AUTH` with, if any.
    fn password(&self) -> Option<String>;
    /// `INFO [section …]` (lower-case names; none: the default sections):
    /// the report text.
    fn info(&self, sections: &[String]) -> String;
    /// `SHUTDOWN`: stop the server, persisting the memory tiers unless
    /// `save` is `false` (NOSAVE).
    fn shutdown(&self, save: bool);
    /// Every live connection (`CLIENT LIST`, `CLIENT KILL`).
    fn clients(&self) -> Vec<std::sync::Arc<super::clients::Connection>>;
    /// The per-command counters `execute` keeps.
    fn command_stats(&self) -> &CommandStats;
    /// `CONFIG GET pattern`: matching (name, value) pairs.
    fn config_get(&self, pattern: &str) -> Vec<(String, String)>;
    /// `CONFIG SET name value`: `Err(message)` with a Redis-style error.
    fn config_set(&self, name: &str, value: &str) -> Result<(), String>;
    /// `GOLDYLOX …` admin commands: the reply lines, or an error, now or
    /// from the policy loader.
    fn admin(&self, args: &[Vec<u8>]) -> AdminReply;
    /// The largest string a command may build (`proto-max-bulk-len`).
    fn max_bulk_bytes(&self) -> usize;
}

/// One command's counters (`INFO commandstats`).
#[derive(Debug, Default)]
pub struct CommandCounters {
    /// Times it ran.
    pub calls: AtomicU64,
    /// Microseconds it ran, in all.
    pub usec: AtomicU64,
    /// Times it was refused before running (arity, authentication).
    pub rejected: AtomicU64,
    /// Times it ran and answered an error.
    pub failed: AtomicU64,
}

/// Whether `args` (the whole request) is a command the table flags as a
/// write.
pub fn is_write(args: &[Vec<u8>]) -> bool {
    args.first()
        .and_then(|name| table::lookup_index(name))
        .is_some_and(|i| table::TABLE[i].flags & table::WRITE != 0)
}

/// The name of the command at `index` of the table.
pub fn name_of(index: usize) -> Option<&'static str> {
    table::TABLE.get(index).map(|s| s.name)
}

/// Counters for every command of the table, in its order.
#[derive(Debug)]
pub struct CommandStats {
    slots: Box<[CommandCounters]>,
}

impl Default for CommandStats {
    fn default() -> Self {
        CommandStats {
            slots: table::TABLE
                .iter()
                .map(|_| CommandCounters::default())
                .collect(),
        }
    }
}

impl CommandStats {
    /// Each command's name with its counters, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &CommandCounters)> {
        table::TABLE.iter().map(|s| s.name).zip(self.slots.iter())
    }
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
}

/// Runs one command, appending its reply to `out`. Arguments may be moved
/// out of `args` (a stored key or value is not copied).
pub fn execute(
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
    let Some(index) = table::lookup_index(first) else {
        unknown_command(out, args);
        return Next::Continue;
    };
    let spec = &table::TABLE[index];
    let counters = &server.command_stats().slots[index];
    if !client.authenticated && spec.flags & table::NO_AUTH == 0 {
        counters.rejected.fetch_add(1, Ordering::Relaxed);
        reply::error(out, "NOAUTH Authentication required.");
        return Next::Continue;
    }
    if !spec.accepts(args.len()) {
        counters.rejected.fetch_add(1, Ordering::Relaxed);
        arity_error(out, spec.name);
        return Next::Continue;
    }
    if let Some(map) = &client.cluster
        && let Err(redirect) = map.route(spec.keys(args))
    {
        counters.rejected.fetch_add(1, Ordering::Relaxed);
        reply::error(out, &redirect.message());
        return Next::Continue;
    }
    let reply_at = out.len();
    let started = Instant::now();
    client.connection.touch(index, started);
    let mut ctx = Ctx {
        store,
        server,
        client,
        out,
        close: false,
    };
    let resp3 = ctx.client.resp3;
    reply::with_protocol(resp3, || (spec.handler)(&mut ctx, args));
    ctx.client.wrote |= spec.flags & table::WRITE != 0;
    let usec = started.elapsed().as_micros() as u64;
    counters.calls.fetch_add(1, Ordering::Relaxed);
    counters.usec.fetch_add(usec, Ordering::Relaxed);
    if ctx.out.get(reply_at) == Some(&b'-') {
        counters.failed.fetch_add(1, Ordering::Relaxed);
    }
    if ctx.close {
        Next::Close
    } else {
        Next::Continue
    }
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
