//! The command table: every command's name, arity, flags, key positions and
//! handler, in one place. `COMMAND` reports from it, dispatch looks names up in it.

use std::collections::HashMap;
use std::sync::LazyLock;

use foldhash::fast::FixedState;

use super::subcommands;
use super::{
    Ctx, acl, bits, blocking, cluster, connection, diagnostics, dump, hashes, introspect, keys,
    lists, multikey, pubsub, scripts, sets, sort, strings, transaction, unsupported, zsets,
};

/// A command's handler: reads `args` (which it may move out of) and
/// writes its reply to `ctx.out`.
pub type Handler = fn(&mut Ctx<'_>, &mut [Vec<u8>]);

pub use super::flags::{
    ADMIN, ALLOW_BUSY, DENY_OOM, EXCLUSIVE, FAST, MAY_REPLICATE, MOVABLE, NO_AUTH, NO_MULTI,
    NO_QUEUE, NO_SCRIPT, READONLY, REPORTS, SUBSCRIBED, WRITE,
};
/// A write whose handler reports what it changed.
pub(super) const REPORTED_WRITE: u16 = WRITE | REPORTS;

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
        self.key_positions(args)
            .into_iter()
            .map(move |i| args[i].as_slice())
    }

    /// The positions of the keys among `args`.
    pub(crate) fn key_positions(&self, args: &[Vec<u8>]) -> Vec<usize> {
        let n = args.len();
        // Keys after a count: `EVAL body 2 k1 k2 arg`, `ZUNION 2 a b`.
        let counted = |at: usize| -> Vec<usize> {
            let count = args.get(at).and_then(|c| super::parse_i64(c)).unwrap_or(0);
            let count = count.clamp(0, n.saturating_sub(at + 1) as i64) as usize;
            (at + 1..at + 1 + count).collect()
        };
        // A container's keys are its subcommand's (`MEMORY USAGE key`).
        if let Some(sub) = args.get(1).and_then(|a| subcommands::find(self.name, a)) {
            return positions(sub.keys, n);
        }
        if let Some(at) = self.numkeys_at().filter(|&at| n > at) {
            // `ZUNIONSTORE dest 2 a b`: the destination, then the counted.
            let first = (self.name.ends_with("store")).then_some(1);
            return first.into_iter().chain(counted(at)).collect();
        }
        if matches!(self.name, "sort" | "sort_ro") && n >= 2 {
            // The last STORE wins, as in the command itself.
            let store = (2..n.saturating_sub(1))
                .rev()
                .find(|&i| args[i].eq_ignore_ascii_case(b"store"))
                .map(|i| i + 1);
            return std::iter::once(1).chain(store).collect();
        }
        positions((self.first_key, self.last_key, self.key_step), n)
    }

    /// Where the count of keys stands, for the commands whose keys follow
    /// one (`EVAL body 2 k1 k2`: 2; `ZUNIONSTORE dest 2 a b`: 2).
    pub(crate) fn numkeys_at(&self) -> Option<usize> {
        match self.name {
            "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
                Some(1)
            }
            "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
            | "bzmpop" | "zunionstore" | "zinterstore" | "zdiffstore" => Some(2),
            _ => None,
        }
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

/// The positions (first, last, step) name among `n` arguments.
fn positions((first, last, step): (i32, i32, i32), n: usize) -> Vec<usize> {
    let n = n as i32;
    let last = if last < 0 { n + last } else { last.min(n - 1) };
    if first <= 0 || step <= 0 || last < first {
        return Vec::new();
    }
    (first..=last)
        .step_by(step as usize)
        .map(|i| i as usize)
        .collect()
}

pub(super) const fn spec(
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

pub(super) const NONE: (i32, i32, i32) = (0, 0, 0);
pub(super) const ONE: (i32, i32, i32) = (1, 1, 1);
pub(super) const ALL: (i32, i32, i32) = (1, -1, 1);
pub(super) const PAIRS: (i32, i32, i32) = (1, -1, 2);
pub(super) const R: u16 = READONLY;
pub(super) const W: u16 = WRITE;
pub(super) const F: u16 = FAST;
/// The (un)subscribe commands: not from scripts, allowed once subscribed.
const SUB: u16 = NO_SCRIPT | SUBSCRIBED;

/// Every command, sorted by name: the commands of this file and each
/// collection family's own list.
pub static TABLE: LazyLock<Vec<&'static Spec>> = LazyLock::new(|| {
    let mut all: Vec<&'static Spec> = BASE
        .iter()
        .chain(lists::SPECS)
        .chain(sets::SPECS)
        .chain(zsets::SPECS)
        .chain(blocking::SPECS)
        .chain(sort::SPECS)
        .chain(bits::SPECS)
        .chain(dump::SPECS)
        .chain(diagnostics::SPECS)
        .chain(unsupported::SPECS)
        .chain(acl::SPECS)
        .collect();
    all.sort_by_key(|s| s.name);
    all
});

/// Every command's name, in the table's order (the order the statistics
/// keep them in).
pub fn names() -> Vec<&'static str> {
    TABLE.iter().map(|s| s.name).collect()
}

/// The commands of the families without a list of their own, sorted.
static BASE: &[Spec] = &[
    spec("append", 3, W | DENY_OOM | F, ONE, |c, a| {
        strings::append(c.store, &a[1], &a[2], c.out)
    }),
    spec("asking", 1, F, NONE, cluster::accepted_in_cluster),
    spec(
        "auth",
        -2,
        NO_AUTH | F | NO_SCRIPT | ALLOW_BUSY,
        NONE,
        connection::auth_command,
    ),
    spec(
        "client",
        -2,
        ADMIN | NO_SCRIPT,
        NONE,
        connection::client_command,
    ),
    spec("cluster", -2, 0, NONE, cluster::cluster),
    spec("command", -1, 0, NONE, introspect::command),
    spec(
        "config",
        -2,
        ADMIN | NO_SCRIPT,
        NONE,
        connection::config_command,
    ),
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
    spec(
        "discard",
        1,
        NO_SCRIPT | F | ALLOW_BUSY | NO_QUEUE,
        NONE,
        transaction::discard,
    ),
    spec("echo", 2, F, NONE, connection::echo),
    spec(
        "eval",
        -3,
        NO_SCRIPT | EXCLUSIVE | MAY_REPLICATE | MOVABLE,
        NONE,
        scripts::eval,
    ),
    spec(
        "eval_ro",
        -3,
        NO_SCRIPT | EXCLUSIVE | MOVABLE,
        NONE,
        scripts::eval,
    ),
    spec(
        "evalsha",
        -3,
        NO_SCRIPT | EXCLUSIVE | MAY_REPLICATE | MOVABLE,
        NONE,
        scripts::eval,
    ),
    spec(
        "evalsha_ro",
        -3,
        NO_SCRIPT | EXCLUSIVE | MOVABLE,
        NONE,
        scripts::eval,
    ),
    spec(
        "exec",
        1,
        NO_SCRIPT | EXCLUSIVE | NO_QUEUE,
        NONE,
        transaction::exec,
    ),
    spec("exists", -2, R | F, ALL, keys::exists),
    spec("expire", -3, W | F, ONE, keys::expire_command),
    spec("expireat", -3, W | F, ONE, keys::expire_command),
    spec("expiretime", 2, R | F, ONE, keys::expiretime),
    spec(
        "fcall",
        -3,
        NO_SCRIPT | EXCLUSIVE | MAY_REPLICATE | MOVABLE,
        NONE,
        scripts::fcall,
    ),
    spec(
        "fcall_ro",
        -3,
        NO_SCRIPT | EXCLUSIVE | MOVABLE,
        NONE,
        scripts::fcall,
    ),
    spec("flushall", -1, W, NONE, keys::flush),
    spec("flushdb", -1, W, NONE, keys::flush),
    spec(
        "function",
        -2,
        NO_SCRIPT | EXCLUSIVE,
        NONE,
        scripts::function,
    ),
    spec("get", 2, R | F, ONE, strings::get),
    spec("getbit", 3, R | F, ONE, strings::getbit),
    spec("getdel", 2, W | F, ONE, strings::getdel),
    spec("getex", -2, W | F, ONE, |c, a| {
        strings::getex(c.store, a, c.out)
    }),
    spec("getrange", 4, R, ONE, strings::getrange),
    spec("getset", 3, W | DENY_OOM | F, ONE, strings::getset),
    spec(
        "goldylox",
        -2,
        ADMIN | NO_MULTI | NO_SCRIPT,
        NONE,
        connection::goldylox,
    ),
    spec("hdel", -3, W | F, ONE, hashes::hdel),
    spec(
        "hello",
        -1,
        NO_AUTH | F | NO_SCRIPT | ALLOW_BUSY,
        NONE,
        connection::hello_command,
    ),
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
    spec(
        "monitor",
        1,
        ADMIN | NO_SCRIPT | NO_MULTI,
        NONE,
        pubsub::monitor,
    ),
    spec("mset", -3, W | DENY_OOM, PAIRS, strings::mset),
    spec("msetnx", -3, W | DENY_OOM, PAIRS, multikey::msetnx),
    spec(
        "multi",
        1,
        NO_SCRIPT | F | ALLOW_BUSY | NO_QUEUE,
        NONE,
        transaction::multi,
    ),
    spec("object", -2, R, NONE, keys::object),
    spec("persist", 2, W | F, ONE, keys::persist_command),
    spec("pexpire", -3, W | F, ONE, keys::expire_command),
    spec("pexpireat", -3, W | F, ONE, keys::expire_command),
    spec("pexpiretime", 2, R | F, ONE, keys::expiretime),
    spec("ping", -1, F | SUBSCRIBED, NONE, connection::ping),
    spec("psetex", 4, W | DENY_OOM, ONE, strings::setex),
    spec("psubscribe", -2, SUB, NONE, pubsub::subscribe),
    spec("pttl", 2, R | F, ONE, keys::ttl),
    spec("publish", 3, F | MAY_REPLICATE, NONE, pubsub::publish),
    spec("pubsub", -2, 0, NONE, pubsub::pubsub),
    spec("punsubscribe", -1, SUB, NONE, pubsub::unsubscribe),
    spec(
        "quit",
        -1,
        NO_AUTH | F | NO_SCRIPT | ALLOW_BUSY | NO_QUEUE | SUBSCRIBED,
        NONE,
        connection::quit,
    ),
    spec("randomkey", 1, R, NONE, keys::randomkey),
    spec("readonly", 1, F, NONE, cluster::accepted_in_cluster),
    spec("readwrite", 1, F, NONE, cluster::accepted_in_cluster),
    spec("rename", 3, W, (1, 2, 1), multikey::rename),
    spec("renamenx", 3, W | F, (1, 2, 1), multikey::rename),
    spec(
        "reset",
        1,
        NO_AUTH | F | NO_SCRIPT | ALLOW_BUSY | NO_QUEUE | SUBSCRIBED,
        NONE,
        connection::reset,
    ),
    spec("scan", -2, R, NONE, keys::scan),
    spec("script", -2, NO_SCRIPT | EXCLUSIVE, NONE, scripts::script),
    spec("select", 2, F, NONE, connection::select),
    spec("set", -3, W | DENY_OOM, ONE, |c, a| {
        strings::set(c.store, a, c.out)
    }),
    spec("setbit", 4, W | DENY_OOM, ONE, strings::setbit),
    spec("setex", 4, W | DENY_OOM, ONE, strings::setex),
    spec("setnx", 3, W | DENY_OOM | F, ONE, strings::setnx),
    spec("setrange", 4, W | DENY_OOM, ONE, strings::setrange),
    spec("save", 1, ADMIN | NO_SCRIPT | NO_MULTI, NONE, keys::save),
    spec(
        "shutdown",
        -1,
        ADMIN | NO_SCRIPT | ALLOW_BUSY | NO_MULTI,
        NONE,
        connection::shutdown,
    ),
    spec("spublish", 3, F | MAY_REPLICATE, ONE, pubsub::publish),
    spec("ssubscribe", -2, SUB, ALL, pubsub::subscribe),
    spec("strlen", 2, R | F, ONE, strings::strlen),
    spec("subscribe", -2, SUB, NONE, pubsub::subscribe),
    spec("substr", 4, R, ONE, strings::getrange),
    spec("sunsubscribe", -1, SUB, ALL, pubsub::unsubscribe),
    spec("time", 1, F, NONE, connection::time),
    spec("touch", -2, R | F, ALL, keys::touch),
    spec("ttl", 2, R | F, ONE, keys::ttl),
    spec("type", 2, R | F, ONE, keys::type_of),
    spec("unlink", -2, W | F, ALL, keys::del),
    spec("unsubscribe", -1, SUB, NONE, pubsub::unsubscribe),
    spec(
        "unwatch",
        1,
        NO_SCRIPT | F | ALLOW_BUSY,
        NONE,
        transaction::unwatch,
    ),
    spec("wait", 3, NO_SCRIPT, NONE, connection::wait),
    spec(
        "watch",
        -2,
        NO_SCRIPT | F | NO_QUEUE,
        ALL,
        transaction::watch,
    ),
];

/// `CLUSTER`'s subcommands that change the cluster, which Redis refuses
/// from scripts (the others only read).
const CLUSTER_NO_SCRIPT: &[&str] = &[
    "addslots",
    "addslotsrange",
    "bumpepoch",
    "delslots",
    "delslotsrange",
    "failover",
    "flushslots",
    "forget",
    "meet",
    "replicate",
    "reset",
    "saveconfig",
    "set-config-epoch",
    "setslot",
];

/// `spec`'s flags for its subcommand `sub`: those the subcommand table
/// gives `ALLOW_BUSY` (`SCRIPT KILL`, `FUNCTION KILL|STATS`) run while a
/// script is busy (and take no part of the gate); `CLUSTER`'s subcommands
/// that change the cluster are refused from scripts.
pub fn subcommand_flags(spec: &Spec, sub: Option<&[u8]>) -> u16 {
    let busy =
        |s: &[u8]| subcommands::find(spec.name, s).is_some_and(|s| s.flags & ALLOW_BUSY != 0);
    match (spec.name, sub) {
        (_, Some(s)) if busy(s) => (spec.flags & !EXCLUSIVE) | ALLOW_BUSY,
        ("cluster", Some(s))
            if CLUSTER_NO_SCRIPT
                .iter()
                .any(|c| c.as_bytes().eq_ignore_ascii_case(s)) =>
        {
            spec.flags | NO_SCRIPT
        }
        _ => spec.flags,
    }
}

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    lookup_index(name).map(|i| TABLE[i])
}

/// The longest command name.
const NAME_MAX: usize = 24;

/// A name as [`BY_NAME`] keys it: its bytes lower-cased and zero-padded
/// in the first three words, its length in the fourth (which keeps `get\0`
/// apart from `get`). Words, so that comparing two is four integer
/// compares, not a call to `memcmp`.
type NameKey = [u64; 4];

/// [`TABLE`]'s positions by name: every request looks its command up, some
/// several times, so this is a hash probe and one fixed-size compare, not a
/// binary search of byte-string compares.
static BY_NAME: LazyLock<HashMap<NameKey, u16, FixedState>> = LazyLock::new(|| {
    let mut map = HashMap::with_capacity_and_hasher(TABLE.len(), FixedState::default());
    for (i, spec) in TABLE.iter().enumerate() {
        let key = name_key(spec.name.as_bytes()).expect("command names fit NAME_MAX");
        map.insert(key, u16::try_from(i).expect("fewer than 65,536 commands"));
    }
    map
});

/// `name`, lower-cased, as [`BY_NAME`] keys it; `None` if too long to be
/// a command's.
#[inline]
fn name_key(name: &[u8]) -> Option<NameKey> {
    let mut bytes = [0u8; NAME_MAX];
    let lowered = bytes.get_mut(..name.len())?;
    for (dst, src) in lowered.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    Some([word(0), word(1), word(2), name.len() as u64])
}

/// The position in [`TABLE`] of the command named `name` (any case).
#[inline]
pub fn lookup_index(name: &[u8]) -> Option<usize> {
    BY_NAME.get(&name_key(name)?).map(|&i| usize::from(i))
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
        assert_eq!(
            keys_of(&["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"]),
            ["d", "a", "b"]
        );
        assert_eq!(keys_of(&["LMPOP", "2", "a", "b", "LEFT"]), ["a", "b"]);
        assert_eq!(keys_of(&["BLMPOP", "0", "1", "a", "LEFT"]), ["a"]);
        assert_eq!(keys_of(&["BLPOP", "a", "b", "0"]), ["a", "b"]);
        assert_eq!(keys_of(&["SMOVE", "a", "b", "m"]), ["a", "b"]);
        assert_eq!(
            keys_of(&["SORT", "a", "LIMIT", "0", "1", "STORE", "d"]),
            ["a", "d"]
        );
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
        for s in TABLE.iter() {
            assert_eq!(lookup(s.name.as_bytes()).map(|f| f.name), Some(s.name));
            let upper = s.name.to_ascii_uppercase();
            assert_eq!(lookup(upper.as_bytes()).map(|f| f.name), Some(s.name));
            assert!(
                s.name.len() <= 24,
                "{} is longer than lookup's buffer",
                s.name
            );
        }
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(b"a-name-longer-than-sixteen-bytes").is_none());
        assert!(lookup(b"").is_none());
    }
}
