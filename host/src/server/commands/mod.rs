//! The Redis commands on the engine, with Redis's replies, error texts and
//! edge cases. One table ([`table::TABLE`]) names every command with its
//! arity, flags, key positions and handler; [`execute`] looks the name up,
//! checks authentication and arity, and calls the handler. The handlers
//! live by family: [`strings`], [`keys`], [`connection`].
//!
//! Keys and values are bytes; every value is a string (there are no other
//! types, so `WRONGTYPE` never happens). Read-modify-write commands
//! (`INCR`, `APPEND`, `EXPIRE`, …) are optimistic: read, compute, then
//! [`Cache::compare_and_set`]; a lost race retries.

mod connection;
mod keys;
mod strings;
pub mod table;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use goldylox::Cache;

use super::resp::reply;

/// The cache as the server holds it.
pub type Store = Cache<Vec<u8>, Vec<u8>>;

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read the next command.
    Continue,
    /// Flush the replies and close (QUIT).
    Close,
}

/// Per-connection state the commands see.
#[derive(Debug, Default)]
pub struct Client {
    /// The id `CLIENT ID` reports.
    pub id: u64,
    /// The name `CLIENT SETNAME` set.
    pub name: Option<Vec<u8>>,
    /// Whether `AUTH` succeeded (or no password is configured).
    pub authenticated: bool,
}

/// Commands that need more than the store: server-wide state and admin.
pub trait Server {
    /// The password clients must `AUTH` with, if any.
    fn password(&self) -> Option<String>;
    /// `INFO [section]`: the report text.
    fn info(&self, section: Option<&str>) -> String;
    /// `CONFIG GET pattern`: matching (name, value) pairs.
    fn config_get(&self, pattern: &str) -> Vec<(String, String)>;
    /// `CONFIG SET name value`: `Err(message)` with a Redis-style error.
    fn config_set(&self, name: &str, value: &str) -> Result<(), String>;
    /// `GOLDYLOX …` admin commands: the reply lines, or an error.
    fn admin(&self, args: &[Vec<u8>]) -> Result<Vec<String>, String>;
    /// The largest string a command may build (`proto-max-bulk-len`).
    fn max_bulk_bytes(&self) -> usize;
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
    let Some(spec) = table::lookup(first) else {
        unknown_command(out, args);
        return Next::Continue;
    };
    if !client.authenticated && spec.flags & table::NO_AUTH == 0 {
        reply::error(out, "NOAUTH Authentication required.");
        return Next::Continue;
    }
    if !spec.accepts(args.len()) {
        arity_error(out, spec.name);
        return Next::Continue;
    }
    let mut ctx = Ctx {
        store,
        server,
        client,
        out,
        close: false,
    };
    (spec.handler)(&mut ctx, args);
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
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Milliseconds to live from a relative or absolute expire argument:
/// `None` if it overflows. May be zero or negative (already expired).
fn ttl_ms(amount: i64, unit_ms: bool, absolute: bool) -> Option<i64> {
    let ms = if unit_ms {
        amount
    } else {
        amount.checked_mul(1000)?
    };
    if absolute {
        ms.checked_sub(now_unix_ms())
    } else {
        // Redis also rejects relative times whose absolute deadline overflows.
        now_unix_ms().checked_add(ms)?;
        Some(ms)
    }
}

fn store_error(out: &mut BytesMut, e: &goldylox::Error) {
    match e {
        goldylox::Error::EntryTooLarge { .. } => reply::error(
            out,
            "OOM command not allowed when used memory > 'maxmemory'.",
        ),
        goldylox::Error::Closed => reply::error(out, "ERR server is shutting down"),
        other => reply::error(out, &format!("ERR {other}")),
    }
}
