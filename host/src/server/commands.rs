//! The command table: each Redis command on the engine, with Redis's replies,
//! error texts and edge cases.
//!
//! Keys and values are bytes; every value is a string (there are no other
//! types, so `WRONGTYPE` never happens). Read-modify-write commands
//! (`INCR`, `APPEND`, `EXPIRE`, …) are optimistic: read, compute, then
//! [`Cache::compare_and_set`]; a lost race retries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use goldylox::{Cache, Expiration, SetIf};

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
    let name = lower(first);
    if !client.authenticated && !matches!(name.as_str(), "auth" | "quit" | "hello") {
        reply::error(out, "NOAUTH Authentication required.");
        return Next::Continue;
    }
    let n = args.len();
    // (min args including the name; negative: at least |n|)
    let arity: i32 = match name.as_str() {
        "ping" => -1,
        "echo" | "get" | "getdel" | "strlen" | "incr" | "decr" | "ttl" | "pttl" | "persist"
        | "select" => 2,
        "getex" | "mget" | "del" | "unlink" | "exists" => -2,
        "set" => -3,
        "mset" => -3,
        "incrby" | "decrby" | "append" => 3,
        "expire" | "pexpire" | "expireat" | "pexpireat" => -3,
        "quit" | "dbsize" => 1,
        "flushall" | "flushdb" => -1,
        "auth" => -2,
        "info" => -1,
        "config" | "client" | "goldylox" => -2,
        "command" => -1,
        "hello" => -1,
        _ => {
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
                    String::from_utf8_lossy(first)
                ),
            );
            return Next::Continue;
        }
    };
    if (arity > 0 && n != arity as usize) || (arity < 0 && n < (-arity) as usize) {
        arity_error(out, &name);
        return Next::Continue;
    }
    match name.as_str() {
        "ping" => match n {
            1 => reply::simple(out, "PONG"),
            2 => reply::bulk(out, &args[1]),
            _ => arity_error(out, "ping"),
        },
        "echo" => reply::bulk(out, &args[1]),
        "quit" => {
            reply::ok(out);
            return Next::Close;
        }
        "select" => match parse_i64(&args[1]) {
            Some(0) => reply::ok(out),
            Some(_) => reply::error(out, "ERR DB index is out of range"),
            None => not_integer(out),
        },
        "auth" => auth(server, client, args, out),
        "hello" => hello(server, client, args, out),
        "get" => {
            if store.get_with(&args[1], |v| reply::bulk(out, v)).is_none() {
                reply::nil(out);
            }
        }
        "getdel" => match store.remove(&args[1]) {
            Some(v) => reply::bulk(out, &v),
            None => reply::nil(out),
        },
        "getex" => getex(store, args, out),
        "set" => set(store, args, out),
        "mget" => {
            reply::array(out, n - 1);
            for key in &args[1..] {
                if store.get_with(key, |v| reply::bulk(out, v)).is_none() {
                    reply::nil(out);
                }
            }
        }
        "mset" => {
            if !(n - 1).is_multiple_of(2) {
                arity_error(out, "mset");
            } else {
                let mut failed = None;
                for pair in args[1..].chunks_mut(2) {
                    let (key, value) = (std::mem::take(&mut pair[0]), std::mem::take(&mut pair[1]));
                    if let Err(e) = store.insert(key, value) {
                        failed = Some(e);
                        break;
                    }
                }
                match failed {
                    None => reply::ok(out),
                    Some(e) => store_error(out, &e),
                }
            }
        }
        "del" | "unlink" => {
            let removed = args[1..]
                .iter()
                .filter(|k| store.remove(k.as_slice()).is_some())
                .count();
            reply::int(out, removed as i64);
        }
        "exists" => {
            let found = args[1..]
                .iter()
                .filter(|k| store.contains_key(k.as_slice()))
                .count();
            reply::int(out, found as i64);
        }
        "strlen" => reply::int(out, store.get(&args[1]).map_or(0, |v| v.len() as i64)),
        "incr" => incr_by(store, &args[1], Some(1), out),
        "decr" => incr_by(store, &args[1], Some(-1), out),
        "incrby" => incr_by(store, &args[1], parse_i64(&args[2]), out),
        "decrby" => incr_by(
            store,
            &args[1],
            parse_i64(&args[2]).and_then(i64::checked_neg),
            out,
        ),
        "append" => append(store, &args[1], &args[2], out),
        "ttl" | "pttl" => {
            let ms = name == "pttl";
            match store.time_to_live(&args[1]) {
                None => reply::int(out, -2),
                Some(None) => reply::int(out, -1),
                Some(Some(left)) => {
                    let left_ms = left.as_millis() as i64;
                    reply::int(out, if ms { left_ms } else { (left_ms + 500) / 1000 });
                }
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => expire(store, &name, args, out),
        "persist" => persist(store, &args[1], out),
        "dbsize" => reply::int(out, store.len() as i64),
        "flushall" | "flushdb" => {
            match args.get(1).map(|a| lower(a)) {
                None => {}
                Some(mode) if mode == "sync" || mode == "async" => {}
                Some(_) => {
                    syntax_error(out);
                    return Next::Continue;
                }
            }
            store.clear();
            reply::ok(out);
        }
        "info" => {
            let section = args.get(1).map(|a| lower(a));
            let text = server.info(section.as_deref());
            reply::bulk(out, text.as_bytes());
        }
        "config" => config(server, args, out),
        "client" => client_command(client, args, out),
        "command" => command(args, out),
        "goldylox" => match server.admin(&args[1..]) {
            Ok(lines) => {
                reply::array(out, lines.len());
                for line in lines {
                    reply::bulk(out, line.as_bytes());
                }
            }
            Err(message) => reply::error(out, &message),
        },
        _ => unreachable!("every name with an arity has an arm"),
    }
    Next::Continue
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

fn auth(server: &dyn Server, client: &mut Client, args: &[Vec<u8>], out: &mut BytesMut) {
    let Some(password) = server.password() else {
        reply::error(
            out,
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
        return;
    };
    let (user, given) = match args.len() {
        2 => (None, &args[1]),
        3 => (Some(&args[1]), &args[2]),
        _ => return syntax_error(out),
    };
    let user_ok = user.is_none_or(|u| u.as_slice() == b"default");
    if user_ok && given.as_slice() == password.as_bytes() {
        client.authenticated = true;
        reply::ok(out);
    } else {
        reply::error(
            out,
            "WRONGPASS invalid username-password pair or user is disabled.",
        );
    }
}

fn hello(server: &dyn Server, client: &mut Client, args: &[Vec<u8>], out: &mut BytesMut) {
    if let Some(version) = args.get(1) {
        match parse_i64(version) {
            Some(2) => {}
            Some(3) => {
                return reply::error(out, "NOPROTO sorry, this protocol version is not supported");
            }
            _ => return reply::error(out, "NOPROTO sorry, this protocol version is not supported"),
        }
    }
    let mut i = 2;
    while i < args.len() {
        match lower(&args[i]).as_str() {
            "auth" if i + 2 < args.len() => {
                let creds = [args[i].clone(), args[i + 1].clone(), args[i + 2].clone()];
                let mut scratch = BytesMut::new();
                auth(server, client, &creds, &mut scratch);
                if !client.authenticated {
                    out.extend_from_slice(&scratch);
                    return;
                }
                i += 3;
            }
            "setname" if i + 1 < args.len() => {
                client.name = Some(args[i + 1].clone());
                i += 2;
            }
            _ => return syntax_error(out),
        }
    }
    if !client.authenticated {
        return reply::error(
            out,
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    let fields: [(&str, String); 7] = [
        ("server", "goldylox".into()),
        ("version", env!("CARGO_PKG_VERSION").into()),
        ("proto", "2".into()),
        ("id", client.id.to_string()),
        ("mode", "standalone".into()),
        ("role", "master".into()),
        ("modules", String::new()),
    ];
    reply::array(out, fields.len() * 2);
    for (k, v) in fields {
        reply::bulk(out, k.as_bytes());
        if k == "proto" || k == "id" {
            reply::int(out, v.parse().unwrap_or(0));
        } else if k == "modules" {
            reply::array(out, 0);
        } else {
            reply::bulk(out, v.as_bytes());
        }
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ts-ms|KEEPTTL]`.
fn set(store: &Store, args: &mut [Vec<u8>], out: &mut BytesMut) {
    let mut condition = SetIf::Always;
    let mut get = false;
    let mut expiration = Expiration::Never;
    let mut expiry_given = false;
    let mut i = 3;
    while i < args.len() {
        let opt = lower(&args[i]);
        let has_next = i + 1 < args.len();
        match opt.as_str() {
            "nx" if condition == SetIf::Always => condition = SetIf::Absent,
            "xx" if condition == SetIf::Always => condition = SetIf::Present,
            "get" => get = true,
            "keepttl" if !expiry_given => {
                expiration = Expiration::Keep;
                expiry_given = true;
            }
            "ex" | "px" | "exat" | "pxat" if !expiry_given && has_next => {
                let Some(amount) = parse_i64(&args[i + 1]) else {
                    return not_integer(out);
                };
                let invalid = || "ERR invalid expire time in 'set' command";
                if amount <= 0 {
                    return reply::error(out, invalid());
                }
                let unit_ms = opt.starts_with('p');
                let absolute = opt.ends_with("at");
                let Some(ms) = ttl_ms(amount, unit_ms, absolute) else {
                    return reply::error(out, invalid());
                };
                expiration = Expiration::After(Duration::from_millis(ms.max(0) as u64));
                expiry_given = true;
                i += 1;
            }
            _ => return syntax_error(out),
        }
        i += 1;
    }
    let (key, value) = (std::mem::take(&mut args[1]), std::mem::take(&mut args[2]));
    if condition == SetIf::Always && !get {
        // Plain SET: nobody needs the old value.
        return match store.put(key, value, expiration) {
            Ok(()) => reply::ok(out),
            Err(e) => store_error(out, &e),
        };
    }
    match store.set(key, value, expiration, condition) {
        Ok(outcome) => {
            if get {
                match outcome.previous {
                    Some(v) => reply::bulk(out, &v),
                    None => reply::nil(out),
                }
            } else if outcome.stored {
                reply::ok(out);
            } else {
                reply::nil(out);
            }
        }
        Err(e) => store_error(out, &e),
    }
}

/// `GETEX key [EX s|PX ms|EXAT ts|PXAT ts-ms|PERSIST]`.
fn getex(store: &Store, args: &[Vec<u8>], out: &mut BytesMut) {
    let key = &args[1];
    let expiration = match args.len() {
        2 => None,
        3 if lower(&args[2]) == "persist" => Some(Expiration::Never),
        4 => {
            let opt = lower(&args[2]);
            if !matches!(opt.as_str(), "ex" | "px" | "exat" | "pxat") {
                return syntax_error(out);
            }
            let Some(amount) = parse_i64(&args[3]) else {
                return not_integer(out);
            };
            let invalid = "ERR invalid expire time in 'getex' command";
            if amount <= 0 {
                return reply::error(out, invalid);
            }
            match ttl_ms(amount, opt.starts_with('p'), opt.ends_with("at")) {
                Some(ms) => Some(Expiration::After(Duration::from_millis(ms.max(0) as u64))),
                None => return reply::error(out, invalid),
            }
        }
        _ => return syntax_error(out),
    };
    let Some(expiration) = expiration else {
        return match store.get(key) {
            Some(v) => reply::bulk(out, &v),
            None => reply::nil(out),
        };
    };
    for _ in 0..RMW_RETRIES {
        let Some(value) = store.get(key) else {
            return reply::nil(out);
        };
        match store.compare_and_set(key.clone(), Some(&value), value.clone(), expiration) {
            Ok(true) => return reply::bulk(out, &value),
            Ok(false) => continue,
            Err(e) => return store_error(out, &e),
        }
    }
    reply::error(out, "ERR too much contention on the key, try again");
}

fn incr_by(store: &Store, key: &[u8], delta: Option<i64>, out: &mut BytesMut) {
    let Some(delta) = delta else {
        return not_integer(out);
    };
    for _ in 0..RMW_RETRIES {
        let current = store.get(key);
        let base = match &current {
            None => 0,
            Some(v) => match parse_i64(v) {
                Some(n) => n,
                None => return not_integer(out),
            },
        };
        let Some(next) = base.checked_add(delta) else {
            return reply::error(out, "ERR increment or decrement would overflow");
        };
        let new = next.to_string().into_bytes();
        match store.compare_and_set(key.to_vec(), current.as_ref(), new, Expiration::Keep) {
            Ok(true) => return reply::int(out, next),
            Ok(false) => continue,
            Err(e) => return store_error(out, &e),
        }
    }
    reply::error(out, "ERR too much contention on the key, try again");
}

fn append(store: &Store, key: &[u8], tail: &[u8], out: &mut BytesMut) {
    for _ in 0..RMW_RETRIES {
        let current = store.get(key);
        let mut new = current.clone().unwrap_or_default();
        new.extend_from_slice(tail);
        let len = new.len() as i64;
        match store.compare_and_set(key.to_vec(), current.as_ref(), new, Expiration::Keep) {
            Ok(true) => return reply::int(out, len),
            Ok(false) => continue,
            Err(e) => return store_error(out, &e),
        }
    }
    reply::error(out, "ERR too much contention on the key, try again");
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and its `P…`/`…AT` forms.
fn expire(store: &Store, name: &str, args: &[Vec<u8>], out: &mut BytesMut) {
    let key = &args[1];
    let Some(amount) = parse_i64(&args[2]) else {
        return not_integer(out);
    };
    let mut flag = None;
    for opt in &args[3..] {
        let opt = lower(opt);
        match (opt.as_str(), flag) {
            ("nx" | "xx" | "gt" | "lt", None) => flag = Some(opt),
            ("nx" | "xx" | "gt" | "lt", Some(_)) => {
                return reply::error(
                    out,
                    "ERR NX and XX, GT or LT options at the same time are not compatible",
                );
            }
            _ => return reply::error(out, &format!("ERR Unsupported option {opt}")),
        }
    }
    let unit_ms = name.starts_with('p');
    let absolute = name.ends_with("at");
    let Some(ms) = ttl_ms(amount, unit_ms, absolute) else {
        return reply::error(out, &format!("ERR invalid expire time in '{name}' command"));
    };
    for _ in 0..RMW_RETRIES {
        let Some(value) = store.get(key) else {
            return reply::int(out, 0);
        };
        let current_ms = match store.time_to_live(key) {
            None => return reply::int(out, 0),
            Some(None) => None,
            Some(Some(left)) => Some(left.as_millis() as i64),
        };
        let allowed = match flag.as_deref() {
            Some("nx") => current_ms.is_none(),
            Some("xx") => current_ms.is_some(),
            // No expiry counts as an infinite TTL.
            Some("gt") => current_ms.is_some_and(|c| ms > c),
            Some("lt") => current_ms.is_none_or(|c| ms < c),
            _ => true,
        };
        if !allowed {
            return reply::int(out, 0);
        }
        if ms <= 0 {
            // An expire time in the past deletes the key.
            let removed = store.remove(key.as_slice()).is_some();
            return reply::int(out, i64::from(removed));
        }
        let expiration = Expiration::After(Duration::from_millis(ms as u64));
        match store.compare_and_set(key.clone(), Some(&value), value.clone(), expiration) {
            Ok(true) => return reply::int(out, 1),
            Ok(false) => continue,
            Err(e) => return store_error(out, &e),
        }
    }
    reply::error(out, "ERR too much contention on the key, try again");
}

fn persist(store: &Store, key: &Vec<u8>, out: &mut BytesMut) {
    for _ in 0..RMW_RETRIES {
        let Some(value) = store.get(key) else {
            return reply::int(out, 0);
        };
        if !matches!(store.time_to_live(key), Some(Some(_))) {
            return reply::int(out, 0);
        }
        match store.compare_and_set(key.clone(), Some(&value), value.clone(), Expiration::Never) {
            Ok(true) => return reply::int(out, 1),
            Ok(false) => continue,
            Err(e) => return store_error(out, &e),
        }
    }
    reply::error(out, "ERR too much contention on the key, try again");
}

fn config(server: &dyn Server, args: &[Vec<u8>], out: &mut BytesMut) {
    let sub = lower(&args[1]);
    match (sub.as_str(), args.len()) {
        ("get", n) if n >= 3 => {
            let mut pairs = Vec::new();
            for pattern in &args[2..] {
                pairs.extend(server.config_get(&lower(pattern)));
            }
            pairs.sort();
            pairs.dedup();
            reply::array(out, pairs.len() * 2);
            for (k, v) in pairs {
                reply::bulk(out, k.as_bytes());
                reply::bulk(out, v.as_bytes());
            }
        }
        ("set", n) if n >= 4 && n.is_multiple_of(2) => {
            for pair in args[2..].chunks(2) {
                let (name, value) = (
                    lower(&pair[0]),
                    String::from_utf8_lossy(&pair[1]).into_owned(),
                );
                if let Err(message) = server.config_set(&name, &value) {
                    return reply::error(out, &message);
                }
            }
            reply::ok(out);
        }
        ("resetstat" | "rewrite", 2) => reply::ok(out),
        ("get" | "set", _) => arity_error(out, &format!("config|{sub}")),
        _ => reply::error(
            out,
            &format!(
                "ERR unknown subcommand '{}'. Try CONFIG HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

fn client_command(client: &mut Client, args: &[Vec<u8>], out: &mut BytesMut) {
    let sub = lower(&args[1]);
    match (sub.as_str(), args.len()) {
        ("id", 2) => reply::int(out, client.id as i64),
        ("getname", 2) => match &client.name {
            Some(name) => reply::bulk(out, name),
            None => reply::nil(out),
        },
        ("setname", 3) => {
            if args[2].iter().any(|&b| b <= b' ' || b > b'~') {
                return reply::error(
                    out,
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            client.name = (!args[2].is_empty()).then(|| args[2].clone());
            reply::ok(out);
        }
        // Client libraries announce themselves (Redis 7.2); accept it.
        ("setinfo", 4) => reply::ok(out),
        ("id" | "getname" | "setname" | "setinfo", _) => arity_error(out, &format!("client|{sub}")),
        _ => reply::error(
            out,
            &format!(
                "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND DOCS`: enough for redis-cli.
fn command(args: &[Vec<u8>], out: &mut BytesMut) {
    const NAMES: &[&str] = &[
        "ping",
        "echo",
        "quit",
        "select",
        "auth",
        "hello",
        "get",
        "getdel",
        "getex",
        "set",
        "mget",
        "mset",
        "del",
        "unlink",
        "exists",
        "strlen",
        "incr",
        "decr",
        "incrby",
        "decrby",
        "append",
        "ttl",
        "pttl",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "persist",
        "dbsize",
        "flushall",
        "flushdb",
        "info",
        "config",
        "client",
        "command",
        "goldylox",
    ];
    match args.get(1).map(|a| lower(a)).as_deref() {
        Some("count") => reply::int(out, NAMES.len() as i64),
        // redis-cli asks for docs to drive its hints; none is a valid answer.
        Some("docs") => reply::array(out, 0),
        None => {
            reply::array(out, NAMES.len());
            for name in NAMES {
                reply::array(out, 1);
                reply::bulk(out, name.as_bytes());
            }
        }
        Some(other) => reply::error(
            out,
            &format!("ERR unknown subcommand '{other}'. Try COMMAND HELP."),
        ),
    }
}
