//! The command table: every command's name, arity, flags, key positions and
//! handler, in one place. `COMMAND` reports from it, dispatch looks names up
//! in it, and a test keeps it sorted.

use bytes::BytesMut;

use super::{Ctx, cluster, connection, hashes, keys, lower, multikey, strings};
use crate::server::resp::reply;

/// A command's handler: reads `args` (which it may move out of) and
/// writes its reply to `ctx.out`.
pub type Handler = fn(&mut Ctx<'_>, &mut [Vec<u8>]);

/// Changes data.
pub const WRITE: u16 = 1;
/// Reads data only.
pub const READONLY: u16 = 1 << 1;
/// Constant or logarithmic time.
pub const FAST: u16 = 1 << 2;
/// Allowed before `AUTH`.
pub const NO_AUTH: u16 = 1 << 3;
/// Administrative.
pub const ADMIN: u16 = 1 << 4;
/// May refuse to grow memory (Redis's `denyoom`).
pub const DENY_OOM: u16 = 1 << 5;

/// The flag names `COMMAND` reports, as Redis spells them.
const FLAG_NAMES: [(u16, &str); 6] = [
    (WRITE, "write"),
    (READONLY, "readonly"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (ADMIN, "admin"),
    (DENY_OOM, "denyoom"),
];

/// One command.
pub struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Arguments including the name; negative: at least `-arity`.
    pub arity: i32,
    /// `WRITE`, `READONLY`, …
    pub flags: u16,
    /// The first key's position (0: no keys).
    pub first_key: i32,
    /// The last key's position (-1: the last argument).
    pub last_key: i32,
    /// The step between keys.
    pub key_step: i32,
    /// What runs it.
    pub handler: Handler,
}

impl Spec {
    /// The keys among `args` (the whole request, name first), by the
    /// table's positions. `OBJECT` and `MEMORY` name their key after the
    /// subcommand (`OBJECT ENCODING key`, `MEMORY USAGE key`), as the key
    /// specs of Redis's subcommands do.
    pub fn keys<'a>(&self, args: &'a [Vec<u8>]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let n = args.len() as i32;
        let (first, last, step) = match self.name {
            "object" | "memory" if n >= 3 => (2, 2, 1),
            _ => (self.first_key, self.last_key, self.key_step),
        };
        let last = if last < 0 { n + last } else { last.min(n - 1) };
        let positions =
            (first > 0 && step > 0 && last >= first).then(|| (first..=last).step_by(step as usize));
        positions
            .into_iter()
            .flatten()
            .map(move |i| args[i as usize].as_slice())
    }

    /// Whether `n` arguments (the name included) fit the arity.
    pub fn accepts(&self, n: usize) -> bool {
        let arity = self.arity.unsigned_abs() as usize;
        if self.arity >= 0 {
            n == arity
        } else {
            n >= arity
        }
    }
}

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u16,
    keys: (i32, i32, i32),
    handler: Handler,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        key_step: keys.2,
        handler,
    }
}

const NONE: (i32, i32, i32) = (0, 0, 0);
const ONE: (i32, i32, i32) = (1, 1, 1);
const ALL: (i32, i32, i32) = (1, -1, 1);
const PAIRS: (i32, i32, i32) = (1, -1, 2);
const R: u16 = READONLY;
const W: u16 = WRITE;
const F: u16 = FAST;

/// Every command, sorted by name.
pub static TABLE: &[Spec] = &[
    spec("append", 3, W | DENY_OOM, ONE, |c, a| {
        strings::append(c.store, &a[1], &a[2], c.out)
    }),
    spec("asking", 1, F, NONE, cluster::accepted_in_cluster),
    spec("auth", -2, NO_AUTH | F, NONE, connection::auth_command),
    spec("client", -2, ADMIN, NONE, connection::client_command),
    spec("cluster", -2, 0, NONE, cluster::cluster),
    spec("command", -1, 0, NONE, command),
    spec("config", -2, ADMIN, NONE, connection::config_command),
    spec("copy", -3, W | DENY_OOM, (1, 2, 1), multikey::copy),
    spec("dbsize", 1, R | F, NONE, keys::dbsize),
    spec("decr", 2, W | DENY_OOM | F, ONE, |c, a| {
        strings::incr_by(c.store, &a[1], Some(-1), c.out)
    }),
    spec("decrby", 3, W | DENY_OOM | F, ONE, |c, a| {
        let delta = super::parse_i64(&a[2]).and_then(i64::checked_neg);
        strings::incr_by(c.store, &a[1], delta, c.out)
    }),
    spec("del", -2, W, ALL, keys::del),
    spec("echo", 2, F, NONE, connection::echo),
    spec("exists", -2, R | F, ALL, keys::exists),
    spec("expire", -3, W | F, ONE, keys::expire_command),
    spec("expireat", -3, W | F, ONE, keys::expire_command),
    spec("expiretime", 2, R | F, ONE, keys::expiretime),
    spec("flushall", -1, W, NONE, keys::flush),
    spec("flushdb", -1, W, NONE, keys::flush),
    spec("function", -2, 0, NONE, connection::function),
    spec("get", 2, R | F, ONE, strings::get),
    spec("getbit", 3, R | F, ONE, strings::getbit),
    spec("getdel", 2, W | F, ONE, strings::getdel),
    spec("getex", -2, W | F, ONE, |c, a| {
        strings::getex(c.store, a, c.out)
    }),
    spec("getrange", 4, R, ONE, strings::getrange),
    spec("getset", 3, W | DENY_OOM | F, ONE, strings::getset),
    spec("goldylox", -2, ADMIN, NONE, connection::goldylox),
    spec("hdel", -3, W | F, ONE, hashes::hdel),
    spec("hello", -1, NO_AUTH | F, NONE, connection::hello_command),
    spec("hexists", 3, R | F, ONE, hashes::hcount),
    spec("hget", 3, R | F, ONE, hashes::hget),
    spec("hgetall", 2, R, ONE, hashes::hgetall),
    spec("hincrby", 4, W | DENY_OOM | F, ONE, hashes::hincrby),
    spec(
        "hincrbyfloat",
        4,
        W | DENY_OOM | F,
        ONE,
        hashes::hincrbyfloat,
    ),
    spec("hkeys", 2, R, ONE, hashes::hgetall),
    spec("hlen", 2, R | F, ONE, hashes::hcount),
    spec("hmget", -3, R | F, ONE, hashes::hmget),
    spec("hmset", -4, W | DENY_OOM | F, ONE, hashes::hset),
    spec("hrandfield", -2, R, ONE, hashes::hrandfield),
    spec("hscan", -3, R, ONE, hashes::hscan),
    spec("hset", -4, W | DENY_OOM | F, ONE, hashes::hset),
    spec("hsetnx", 4, W | DENY_OOM | F, ONE, hashes::hsetnx),
    spec("hstrlen", 3, R | F, ONE, hashes::hcount),
    spec("hvals", 2, R, ONE, hashes::hgetall),
    spec("incr", 2, W | DENY_OOM | F, ONE, |c, a| {
        strings::incr_by(c.store, &a[1], Some(1), c.out)
    }),
    spec("incrby", 3, W | DENY_OOM | F, ONE, |c, a| {
        strings::incr_by(c.store, &a[1], super::parse_i64(&a[2]), c.out)
    }),
    spec(
        "incrbyfloat",
        3,
        W | DENY_OOM | F,
        ONE,
        strings::incrbyfloat,
    ),
    spec("info", -1, 0, NONE, connection::info),
    spec("keys", 2, R, NONE, keys::keys),
    spec("lcs", -3, R, (1, 2, 1), multikey::lcs),
    spec("memory", -2, R, NONE, keys::memory),
    spec("mget", -2, R | F, ALL, strings::mget),
    spec("mset", -3, W | DENY_OOM, PAIRS, strings::mset),
    spec("msetnx", -3, W | DENY_OOM, PAIRS, multikey::msetnx),
    spec("object", -2, R, NONE, keys::object),
    spec("persist", 2, W | F, ONE, keys::persist_command),
    spec("pexpire", -3, W | F, ONE, keys::expire_command),
    spec("pexpireat", -3, W | F, ONE, keys::expire_command),
    spec("pexpiretime", 2, R | F, ONE, keys::expiretime),
    spec("ping", -1, F, NONE, connection::ping),
    spec("psetex", 4, W | DENY_OOM, ONE, strings::setex),
    spec("pttl", 2, R | F, ONE, keys::ttl),
    spec("quit", -1, NO_AUTH | F, NONE, connection::quit),
    spec("randomkey", 1, R, NONE, keys::randomkey),
    spec("readonly", 1, F, NONE, cluster::accepted_in_cluster),
    spec("readwrite", 1, F, NONE, cluster::accepted_in_cluster),
    spec("rename", 3, W, (1, 2, 1), multikey::rename),
    spec("renamenx", 3, W | F, (1, 2, 1), multikey::rename),
    spec("scan", -2, R, NONE, keys::scan),
    spec("select", 2, F, NONE, connection::select),
    spec("set", -3, W | DENY_OOM, ONE, |c, a| {
        strings::set(c.store, a, c.out)
    }),
    spec("setbit", 4, W | DENY_OOM, ONE, strings::setbit),
    spec("setex", 4, W | DENY_OOM, ONE, strings::setex),
    spec("setnx", 3, W | DENY_OOM | F, ONE, strings::setnx),
    spec("setrange", 4, W | DENY_OOM, ONE, strings::setrange),
    spec("shutdown", -1, ADMIN, NONE, connection::shutdown),
    spec("strlen", 2, R | F, ONE, strings::strlen),
    spec("substr", 4, R, ONE, strings::getrange),
    spec("time", 1, F, NONE, connection::time),
    spec("touch", -2, R | F, ALL, keys::touch),
    spec("ttl", 2, R | F, ONE, keys::ttl),
    spec("type", 2, R | F, ONE, keys::type_of),
    spec("unlink", -2, W | F, ALL, keys::del),
];

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    lookup_index(name).map(|i| &TABLE[i])
}

/// The position in [`TABLE`] of the command named `name` (any case).
pub fn lookup_index(name: &[u8]) -> Option<usize> {
    // Lower-cased on the stack: no command name is longer than this.
    let mut buf = [0u8; 16];
    let lowered = buf.get_mut(..name.len())?;
    for (dst, src) in lowered.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    let lowered = &*lowered;
    TABLE
        .binary_search_by(|s| s.name.as_bytes().cmp(lowered))
        .ok()
}

/// `COMMAND`, `COMMAND COUNT|INFO|DOCS|LIST`, from the table.
fn command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let out = &mut *c.out;
    match args.get(1).map(|a| lower(a)).as_deref() {
        None => {
            reply::array(out, TABLE.len());
            TABLE.iter().for_each(|s| describe(out, s));
        }
        Some("count") => reply::int(out, TABLE.len() as i64),
        Some("list") => {
            reply::array(out, TABLE.len());
            for s in TABLE {
                reply::bulk(out, s.name.as_bytes());
            }
        }
        Some("info") => {
            reply::array(out, args.len() - 2);
            for name in &args[2..] {
                match lookup(name) {
                    Some(s) => describe(out, s),
                    None => reply::nil(out),
                }
            }
        }
        // redis-cli asks for docs to drive its hints; none is a valid answer.
        Some("docs") => reply::array(out, 0),
        Some(other) => reply::error(
            out,
            &format!("ERR unknown subcommand '{other}'. Try COMMAND HELP."),
        ),
    }
}

/// One command as `COMMAND INFO` describes it: name, arity, flags, first
/// key, last key, step.
fn describe(out: &mut BytesMut, s: &Spec) {
    reply::array(out, 6);
    reply::bulk(out, s.name.as_bytes());
    reply::int(out, i64::from(s.arity));
    let flags: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(bit, _)| s.flags & bit != 0)
        .map(|&(_, name)| name)
        .collect();
    reply::set(out, flags.len());
    for flag in flags {
        reply::simple(out, flag);
    }
    reply::int(out, i64::from(s.first_key));
    reply::int(out, i64::from(s.last_key));
    reply::int(out, i64::from(s.key_step));
}

#[cfg(test)]
mod tests {
    use super::{TABLE, lookup};

    fn keys_of(request: &[&str]) -> Vec<String> {
        let args: Vec<Vec<u8>> = request.iter().map(|a| a.as_bytes().to_vec()).collect();
        let spec = lookup(&args[0]).unwrap();
        spec.keys(&args)
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    #[test]
    fn keys_are_found_where_the_table_says() {
        assert_eq!(keys_of(&["GET", "a"]), ["a"]);
        assert_eq!(keys_of(&["DEL", "a", "b", "c"]), ["a", "b", "c"]);
        assert_eq!(keys_of(&["MSET", "a", "1", "b", "2"]), ["a", "b"]);
        assert_eq!(keys_of(&["COPY", "a", "b", "REPLACE"]), ["a", "b"]);
        assert_eq!(keys_of(&["OBJECT", "ENCODING", "k"]), ["k"]);
        assert_eq!(keys_of(&["MEMORY", "USAGE", "k", "SAMPLES", "5"]), ["k"]);
        assert!(keys_of(&["OBJECT", "HELP"]).is_empty());
        assert!(keys_of(&["PING"]).is_empty());
        assert!(keys_of(&["SCAN", "0"]).is_empty());
    }

    #[test]
    fn the_table_is_sorted_and_every_name_is_found_in_any_case() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for s in TABLE {
            assert_eq!(lookup(s.name.as_bytes()).map(|f| f.name), Some(s.name));
            let upper = s.name.to_ascii_uppercase();
            assert_eq!(lookup(upper.as_bytes()).map(|f| f.name), Some(s.name));
            assert!(
                s.name.len() <= 16,
                "{} is longer than lookup's buffer",
                s.name
            );
        }
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(b"a-name-longer-than-sixteen-bytes").is_none());
        assert!(lookup(b"").is_none());
    }
}
