//! ACL categories: Redis 7.0's twenty-one, in its order, and Goldylox's
//! own for its `GOLDYLOX` admin commands. A command's categories come from
//! its table flags, as Redis derives `@read`, `@write`, `@fast`, `@slow`,
//! `@admin` and `@dangerous`, and from the family lists below for the
//! rest. A subcommand (`client|list`) has its own, from its flags and its
//! container's families (`COMMAND LIST FILTERBY ACLCAT` lists them); the
//! ACL check itself is per command: a container such as `CLIENT` or
//! `CONFIG` is in the union of its subcommands' categories, and
//! `-cmd|sub` refines it.

use crate::server::commands::table::{ADMIN, FAST, READONLY, Spec, WRITE};

/// Every category, in `ACL CAT`'s order; a category's bit is `1 << index`.
pub const NAMES: [&str; 22] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    "goldylox",
];

/// The bit of the category named `name` (any case), if there is one.
pub fn bit(name: &str) -> Option<u32> {
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

fn named(name: &str) -> u32 {
    bit(name).expect("a category of NAMES")
}

/// The family lists: which commands are in the categories their flags do
/// not give.
static FAMILIES: &[(&str, &[&str])] = &[
    (
        "keyspace",
        &[
            "copy",
            "dbsize",
            "del",
            "dump",
            "exists",
            "expire",
            "expireat",
            "expiretime",
            "flushall",
            "flushdb",
            "keys",
            "migrate",
            "object",
            "persist",
            "pexpire",
            "pexpireat",
            "pexpiretime",
            "pttl",
            "randomkey",
            "rename",
            "renamenx",
            "restore",
            "scan",
            "touch",
            "ttl",
            "type",
            "unlink",
        ],
    ),
    (
        "set",
        &[
            "sadd",
            "scard",
            "sdiff",
            "sdiffstore",
            "sinter",
            "sintercard",
            "sinterstore",
            "sismember",
            "smembers",
            "smismember",
            "smove",
            "sort",
            "sort_ro",
            "spop",
            "srandmember",
            "srem",
            "sscan",
            "sunion",
            "sunionstore",
        ],
    ),
    (
        "sortedset",
        &[
            "bzmpop",
            "bzpopmax",
            "bzpopmin",
            "sort",
            "sort_ro",
            "zadd",
            "zcard",
            "zcount",
            "zdiff",
            "zdiffstore",
            "zincrby",
            "zinter",
            "zintercard",
            "zinterstore",
            "zlexcount",
            "zmpop",
            "zmscore",
            "zpopmax",
            "zpopmin",
            "zrandmember",
            "zrange",
            "zrangebylex",
            "zrangebyscore",
            "zrangestore",
            "zrank",
            "zrem",
            "zremrangebylex",
            "zremrangebyrank",
            "zremrangebyscore",
            "zrevrange",
            "zrevrangebylex",
            "zrevrangebyscore",
            "zrevrank",
            "zscan",
            "zscore",
            "zunion",
            "zunionstore",
        ],
    ),
    (
        "list",
        &[
            "blmove",
            "blmpop",
            "blpop",
            "brpop",
            "brpoplpush",
            "lindex",
            "linsert",
            "llen",
            "lmove",
            "lmpop",
            "lpop",
            "lpos",
            "lpush",
            "lpushx",
            "lrange",
            "lrem",
            "lset",
            "ltrim",
            "rpop",
            "rpoplpush",
            "rpush",
            "rpushx",
            "sort",
            "sort_ro",
        ],
    ),
    (
        "hash",
        &[
            "hdel",
            "hexists",
            "hget",
            "hgetall",
            "hincrby",
            "hincrbyfloat",
            "hkeys",
            "hlen",
            "hmget",
            "hmset",
            "hrandfield",
            "hscan",
            "hset",
            "hsetnx",
            "hstrlen",
            "hvals",
        ],
    ),
    (
        "string",
        &[
            "append",
            "decr",
            "decrby",
            "get",
            "getdel",
            "getex",
            "getrange",
            "getset",
            "incr",
            "incrby",
            "incrbyfloat",
            "lcs",
            "mget",
            "mset",
            "msetnx",
            "psetex",
            "set",
            "setex",
            "setnx",
            "setrange",
            "strlen",
            "substr",
        ],
    ),
    (
        "bitmap",
        &[
            "bitcount",
            "bitfield",
            "bitfield_ro",
            "bitop",
            "bitpos",
            "getbit",
            "setbit",
        ],
    ),
    (
        "hyperloglog",
        &["pfadd", "pfcount", "pfdebug", "pfmerge", "pfselftest"],
    ),
    (
        "geo",
        &[
            "geoadd",
            "geodist",
            "geohash",
            "geopos",
            "georadius",
            "georadius_ro",
            "georadiusbymember",
            "georadiusbymember_ro",
            "geosearch",
            "geosearchstore",
        ],
    ),
    (
        "stream",
        &[
            "xack",
            "xadd",
            "xautoclaim",
            "xclaim",
            "xdel",
            "xgroup",
            "xinfo",
            "xlen",
            "xpending",
            "xrange",
            "xread",
            "xreadgroup",
            "xrevrange",
            "xsetid",
            "xtrim",
        ],
    ),
    (
        "pubsub",
        &[
            "psubscribe",
            "publish",
            "pubsub",
            "punsubscribe",
            "spublish",
            "ssubscribe",
            "subscribe",
            "sunsubscribe",
            "unsubscribe",
        ],
    ),
    (
        "blocking",
        &[
            "blmove",
            "blmpop",
            "blpop",
            "brpop",
            "brpoplpush",
            "bzmpop",
            "bzpopmax",
            "bzpopmin",
            "xread",
            "xreadgroup",
        ],
    ),
    (
        "connection",
        &[
            "asking",
            "auth",
            "client",
            "command",
            "echo",
            "hello",
            "ping",
            "quit",
            "readonly",
            "readwrite",
            "reset",
            "select",
            "wait",
        ],
    ),
    (
        "transaction",
        &["discard", "exec", "multi", "unwatch", "watch"],
    ),
    (
        "scripting",
        &[
            "eval",
            "eval_ro",
            "evalsha",
            "evalsha_ro",
            "fcall",
            "fcall_ro",
            "function",
            "script",
        ],
    ),
    (
        "dangerous",
        &[
            "client",
            "cluster",
            "config",
            "flushall",
            "flushdb",
            "info",
            "keys",
            "latency",
            "migrate",
            "monitor",
            "pfdebug",
            "pfselftest",
            "restore",
            "save",
            "shutdown",
            "slowlog",
            "sort",
            "sort_ro",
        ],
    ),
    ("goldylox", &["goldylox"]),
];

/// The categories of `spec`, as a bit set.
pub fn of(spec: &Spec) -> u32 {
    let mut bits = 0;
    if spec.flags & READONLY != 0 {
        bits |= named("read");
    }
    if spec.flags & WRITE != 0 {
        bits |= named("write");
    }
    bits |= if spec.flags & FAST != 0 {
        named("fast")
    } else {
        named("slow")
    };
    if spec.flags & ADMIN != 0 {
        bits |= named("admin") | named("dangerous");
    }
    // A subcommand (`client|list`) is in its container's families, but
    // dangerous only if its own flags say admin (`client|kill`, not
    // `client|id`), as Redis lists them.
    // `PUBSUB HELP` is not `@pubsub`: Redis derives that category from a
    // flag its other subcommands have.
    let (name, sub) = spec.name.split_once('|').unwrap_or((spec.name, ""));
    let from_flags =
        |category: &str| category == "dangerous" || (category == "pubsub" && sub == "help");
    for (category, names) in FAMILIES {
        if names.contains(&name) && (sub.is_empty() || !from_flags(category)) {
            bits |= named(category);
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::commands::table::TABLE;

    #[test]
    fn every_family_names_known_commands_and_categories() {
        for (category, names) in FAMILIES {
            assert!(bit(category).is_some(), "{category}");
            for name in *names {
                assert!(TABLE.iter().any(|s| s.name == *name), "{category}: {name}");
            }
        }
    }

    #[test]
    fn commands_are_where_redis_puts_them() {
        let spec = |name: &str| *TABLE.iter().find(|s| s.name == name).unwrap();
        let has = |name: &str, category: &str| of(spec(name)) & named(category) != 0;
        assert!(has("get", "read") && has("get", "string") && has("get", "fast"));
        assert!(has("hset", "write") && has("hset", "hash") && !has("hset", "read"));
        assert!(has("multi", "transaction") && has("eval", "scripting"));
        assert!(has("flushall", "dangerous") && has("keys", "keyspace"));
        assert!(has("goldylox", "goldylox") && !has("get", "goldylox"));
    }
}
