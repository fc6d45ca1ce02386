//! Which access each key of a command gets, as Redis 7.0's key
//! specifications say (`COMMAND GETKEYSANDFLAGS`): `RO` read only, `RW`
//! read and written, `OW` overwritten, `RM` removed; and what is done to
//! the data: `access` (read back to the client), `update`, `insert`,
//! `delete`. A command's first key takes its first specification and every
//! later key its last (a destination before its sources, `SDIFFSTORE`; a
//! source before its destination, `LMOVE`; `SORT`'s `STORE` key). `SET`
//! and `BITFIELD` decide by their arguments, as Redis does. The table
//! holds what redis-server 7.0.15 reports; `serve_commands` compares it.

/// Each command with keys, sorted by name, and its specifications' flags.
static SPECS: &[(&str, &[&str])] = &[
    ("append", &["RW insert"]),
    ("bitcount", &["RO access"]),
    ("bitfield", &["RW access update"]),
    ("bitfield_ro", &["RO access"]),
    ("bitop", &["OW update", "RO access"]),
    ("bitpos", &["RO access"]),
    ("blmove", &["RW access delete", "RW insert"]),
    ("blmpop", &["RW access delete"]),
    ("blpop", &["RW access delete"]),
    ("brpop", &["RW access delete"]),
    ("brpoplpush", &["RW access delete", "RW insert"]),
    ("bzmpop", &["RW access delete"]),
    ("bzpopmax", &["RW access delete"]),
    ("bzpopmin", &["RW access delete"]),
    ("copy", &["RO access", "OW update"]),
    ("decr", &["RW access update"]),
    ("decrby", &["RW access update"]),
    ("del", &["RM delete"]),
    ("dump", &["RO access"]),
    ("eval", &["RW access update"]),
    ("eval_ro", &["RO access"]),
    ("evalsha", &["RW access update"]),
    ("evalsha_ro", &["RO access"]),
    ("exists", &["RO"]),
    ("expire", &["RW update"]),
    ("expireat", &["RW update"]),
    ("expiretime", &["RO access"]),
    ("fcall", &["RW access update"]),
    ("fcall_ro", &["RO access"]),
    ("geoadd", &["RW update"]),
    ("geodist", &["RO access"]),
    ("geohash", &["RO access"]),
    ("geopos", &["RO access"]),
    ("georadius", &["RO access", "OW update", "OW update"]),
    ("georadius_ro", &["RO access"]),
    (
        "georadiusbymember",
        &["RO access", "OW update", "OW update"],
    ),
    ("georadiusbymember_ro", &["RO access"]),
    ("geosearch", &["RO access"]),
    ("geosearchstore", &["OW update", "RO access"]),
    ("get", &["RO access"]),
    ("getbit", &["RO access"]),
    ("getdel", &["RW access delete"]),
    ("getex", &["RW access update"]),
    ("getrange", &["RO access"]),
    ("getset", &["RW access update"]),
    ("hdel", &["RW delete"]),
    ("hexists", &["RO"]),
    ("hget", &["RO access"]),
    ("hgetall", &["RO access"]),
    ("hincrby", &["RW access update"]),
    ("hincrbyfloat", &["RW access update"]),
    ("hkeys", &["RO access"]),
    ("hlen", &["RO"]),
    ("hmget", &["RO access"]),
    ("hmset", &["RW update"]),
    ("hrandfield", &["RO access"]),
    ("hscan", &["RO access"]),
    ("hset", &["RW update"]),
    ("hsetnx", &["RW insert"]),
    ("hstrlen", &["RO"]),
    ("hvals", &["RO access"]),
    ("incr", &["RW access update"]),
    ("incrby", &["RW access update"]),
    ("incrbyfloat", &["RW access update"]),
    ("lcs", &["RO access"]),
    ("lindex", &["RO access"]),
    ("linsert", &["RW insert"]),
    ("llen", &["RO"]),
    ("lmove", &["RW access delete", "RW insert"]),
    ("lmpop", &["RW access delete"]),
    ("lpop", &["RW access delete"]),
    ("lpos", &["RO access"]),
    ("lpush", &["RW insert"]),
    ("lpushx", &["RW insert"]),
    ("lrange", &["RO access"]),
    ("lrem", &["RW delete"]),
    ("lset", &["RW update"]),
    ("ltrim", &["RW delete"]),
    ("memory|usage", &["RO"]),
    ("mget", &["RO access"]),
    ("migrate", &["RW access delete", "RW access delete"]),
    ("move", &["RW access update"]),
    ("mset", &["OW update"]),
    ("msetnx", &["OW insert"]),
    ("object|encoding", &["RO"]),
    ("object|freq", &["RO"]),
    ("object|idletime", &["RO"]),
    ("object|refcount", &["RO"]),
    ("persist", &["RW update"]),
    ("pexpire", &["RW update"]),
    ("pexpireat", &["RW update"]),
    ("pexpiretime", &["RO access"]),
    ("pfadd", &["RW insert"]),
    ("pfcount", &["RW access"]),
    ("pfdebug", &["RW access"]),
    ("pfmerge", &["RW access insert", "RO access"]),
    ("psetex", &["OW update"]),
    ("pttl", &["RO access"]),
    ("rename", &["RW access delete", "OW update"]),
    ("renamenx", &["RW access delete", "OW insert"]),
    ("restore", &["OW update"]),
    ("restore-asking", &["OW update"]),
    ("rpop", &["RW access delete"]),
    ("rpoplpush", &["RW access delete", "RW insert"]),
    ("rpush", &["RW insert"]),
    ("rpushx", &["RW insert"]),
    ("sadd", &["RW insert"]),
    ("scard", &["RO"]),
    ("sdiff", &["RO access"]),
    ("sdiffstore", &["OW update", "RO access"]),
    ("set", &["RW access update"]),
    ("setbit", &["RW access update"]),
    ("setex", &["OW update"]),
    ("setnx", &["OW insert"]),
    ("setrange", &["RW update"]),
    ("sinter", &["RO access"]),
    ("sintercard", &["RO access"]),
    ("sinterstore", &["RW update", "RO access"]),
    ("sismember", &["RO"]),
    ("smembers", &["RO access"]),
    ("smismember", &["RO access"]),
    ("smove", &["RW access delete", "RW insert"]),
    ("sort", &["RO access", "RO access", "OW update"]),
    ("sort_ro", &["RO access", "RO access"]),
    ("spop", &["RW access delete"]),
    ("spublish", &["not_key"]),
    ("srandmember", &["RO access"]),
    ("srem", &["RW delete"]),
    ("sscan", &["RO access"]),
    ("ssubscribe", &["not_key"]),
    ("strlen", &["RO"]),
    ("substr", &["RO access"]),
    ("sunion", &["RO access"]),
    ("sunionstore", &["OW update", "RO access"]),
    ("sunsubscribe", &["not_key"]),
    ("touch", &["RO"]),
    ("ttl", &["RO access"]),
    ("type", &["RO"]),
    ("unlink", &["RM delete"]),
    ("watch", &["RO"]),
    ("xack", &["RW update"]),
    ("xadd", &["RW update"]),
    ("xautoclaim", &["RW delete"]),
    ("xclaim", &["RW update"]),
    ("xdel", &["RW delete"]),
    ("xgroup|create", &["RW insert"]),
    ("xgroup|createconsumer", &["RW insert"]),
    ("xgroup|delconsumer", &["RW delete"]),
    ("xgroup|destroy", &["RW delete"]),
    ("xgroup|setid", &["RW update"]),
    ("xinfo|consumers", &["RO access"]),
    ("xinfo|groups", &["RO access"]),
    ("xinfo|stream", &["RO access"]),
    ("xlen", &["RO"]),
    ("xpending", &["RO access"]),
    ("xrange", &["RO access"]),
    ("xread", &["RO access"]),
    ("xreadgroup", &["RO access"]),
    ("xrevrange", &["RO access"]),
    ("xsetid", &["RW update"]),
    ("xtrim", &["RW delete"]),
    ("zadd", &["RW update"]),
    ("zcard", &["RO"]),
    ("zcount", &["RO access"]),
    ("zdiff", &["RO access"]),
    ("zdiffstore", &["OW update", "RO access"]),
    ("zincrby", &["RW access update"]),
    ("zinter", &["RO access"]),
    ("zintercard", &["RO access"]),
    ("zinterstore", &["OW update", "RO access"]),
    ("zlexcount", &["RO access"]),
    ("zmpop", &["RW access delete"]),
    ("zmscore", &["RO access"]),
    ("zpopmax", &["RW access delete"]),
    ("zpopmin", &["RW access delete"]),
    ("zrandmember", &["RO access"]),
    ("zrange", &["RO access"]),
    ("zrangebylex", &["RO access"]),
    ("zrangebyscore", &["RO access"]),
    ("zrangestore", &["OW update", "RO access"]),
    ("zrank", &["RO access"]),
    ("zrem", &["RW delete"]),
    ("zremrangebylex", &["RW delete"]),
    ("zremrangebyrank", &["RW delete"]),
    ("zremrangebyscore", &["RW delete"]),
    ("zrevrange", &["RO access"]),
    ("zrevrangebylex", &["RO access"]),
    ("zrevrangebyscore", &["RO access"]),
    ("zrevrank", &["RO access"]),
    ("zscan", &["RO access"]),
    ("zscore", &["RO access"]),
    ("zunion", &["RO access"]),
    ("zunionstore", &["OW update", "RO access"]),
];

/// The flags of each of the `keys` keys of `command` (its lower-case
/// table name, or `container|sub`) in the request `args`; `None` for a
/// command the table does not know.
pub(super) fn of(command: &str, args: &[Vec<u8>], keys: usize) -> Option<Vec<&'static str>> {
    let specs = flags_of(command)?;
    Some(
        (0..keys)
            .map(|i| match command {
                "set" => set_flags(args),
                "bitfield" => bitfield_flags(args),
                _ if i == 0 => specs[0],
                _ => specs[specs.len() - 1],
            })
            .collect(),
    )
}

/// How many key specifications `command` has (0: none known).
pub(super) fn count(command: &str) -> usize {
    flags_of(command).map_or(0, <[_]>::len)
}

fn flags_of(command: &str) -> Option<&'static [&'static str]> {
    SPECS
        .binary_search_by(|(name, _)| name.cmp(&command))
        .ok()
        .map(|i| SPECS[i].1)
}

/// Where a specification's keys start and how they run, as `COMMAND
/// INFO` describes it.
#[derive(Debug, PartialEq)]
pub(super) enum Search {
    /// From argument `begin`: keys up to `last` (relative to `begin`,
    /// negative from the end), `step` apart.
    Range { begin: i32, last: i32, step: i32 },
    /// From argument `begin`, which counts the keys after it.
    Counted { begin: i32 },
    /// Where no position says (`SORT`'s `BY`, `GET` and `STORE` keys).
    Unknown,
}

/// `command`'s key specifications, each its flags and where its keys
/// are: the first key by the first, the others by the last, from the
/// table's positions (`first`, `last`, `step`) and the count's position
/// (`numkeys`) of commands whose keys follow a count.
pub(super) fn layout(
    command: &str,
    (first, last, step): (i32, i32, i32),
    numkeys: Option<usize>,
) -> Vec<(Vec<&'static str>, Search)> {
    let Some(specs) = flags_of(command) else {
        return Vec::new();
    };
    let variable = matches!(command, "set" | "bitfield");
    let positioned = !matches!(
        command,
        "sort" | "sort_ro" | "migrate" | "georadius" | "georadiusbymember"
    );
    let relative = |begin: i32| if last < 0 { last } else { last - begin };
    specs
        .iter()
        .enumerate()
        .map(|(i, flags)| {
            let mut words: Vec<&'static str> = flags.split(' ').collect();
            if variable {
                words.push("variable_flags");
            }
            let only = specs.len() == 1;
            let search = match (i, numkeys) {
                _ if first <= 0 && numkeys.is_none() => Search::Unknown,
                (0, Some(at)) if only => Search::Counted { begin: at as i32 },
                (0, _) if only => Search::Range {
                    begin: first,
                    last: relative(first),
                    step,
                },
                (0, _) => Search::Range {
                    begin: first,
                    last: 0,
                    step: 1,
                },
                (_, Some(at)) if i == specs.len() - 1 => Search::Counted { begin: at as i32 },
                _ if i == specs.len() - 1 && positioned => Search::Range {
                    begin: first + step,
                    last: relative(first + step),
                    step,
                },
                _ => Search::Unknown,
            };
            (words, search)
        })
        .collect()
}

/// `SET key value`: the value is overwritten, unless `GET` reads it first.
fn set_flags(args: &[Vec<u8>]) -> &'static str {
    if args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")) {
        "RW access update"
    } else {
        "OW update"
    }
}

/// `BITFIELD key op…`: read only when every operation is `GET`.
fn bitfield_flags(args: &[Vec<u8>]) -> &'static str {
    let writes: [&[u8]; 3] = [b"set", b"incrby", b"overflow"];
    if args
        .iter()
        .skip(2)
        .any(|a| writes.iter().any(|w| a.eq_ignore_ascii_case(w)))
    {
        "RW access update"
    } else {
        "RO access"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_table_is_sorted_and_keys_take_the_first_then_the_last_spec() {
        for pair in SPECS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        let lmove = request(&["lmove", "a", "b", "left", "right"]);
        assert_eq!(
            of("lmove", &lmove, 2).unwrap(),
            ["RW access delete", "RW insert"]
        );
        let store = request(&["sdiffstore", "d", "a", "b"]);
        assert_eq!(
            of("sdiffstore", &store, 3).unwrap(),
            ["OW update", "RO access", "RO access"]
        );
        assert_eq!(
            of("set", &request(&["set", "k", "v"]), 1).unwrap(),
            ["OW update"]
        );
        let get = request(&["set", "k", "v", "GET"]);
        assert_eq!(of("set", &get, 1).unwrap(), ["RW access update"]);
        let read = request(&["bitfield", "k", "GET", "u8", "0"]);
        assert_eq!(of("bitfield", &read, 1).unwrap(), ["RO access"]);
        assert!(of("ping", &request(&["ping"]), 0).is_none());
    }
}
