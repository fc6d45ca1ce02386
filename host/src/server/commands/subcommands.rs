//! The subcommands of the container commands (`CLIENT LIST`, `CONFIG GET`,
//! `MEMORY USAGE`, …), as Redis 7.0 lists them: each with its own arity,
//! flags and key positions, counted from the container's name (`MEMORY
//! USAGE key`: the key is argument 2). `COMMAND LIST`, `COMMAND INFO
//! container|sub` and `COMMAND GETKEYS` read them, and the key positions;
//! dispatch reads the flags a subcommand has that its container has not
//! (`SCRIPT KILL` runs while a script is busy); the ACL check reads which
//! subcommands exist. This module names no other: the table, the ACL and
//! the latency monitor all read it.

use std::collections::HashMap;
use std::sync::LazyLock;

use foldhash::fast::FixedState;

use super::flags::{ADMIN, ALLOW_BUSY, DENY_OOM, NO_SCRIPT, READONLY, WRITE};

/// One subcommand.
pub struct Sub {
    /// Lower-case name, without its container's.
    pub name: &'static str,
    /// Arguments including the container's name; negative: at least.
    pub arity: i32,
    /// `WRITE`, `READONLY`, `ADMIN`, `NO_SCRIPT`, `ALLOW_BUSY`, …
    pub flags: u16,
    /// The first key's position, the last's (-1: the last argument), the
    /// step; (0, 0, 0): no keys.
    pub keys: (i32, i32, i32),
}

const fn sub(name: &'static str, arity: i32, flags: u16) -> Sub {
    Sub {
        name,
        arity,
        flags,
        keys: (0, 0, 0),
    }
}

/// A subcommand whose argument 2 is its key.
const fn keyed(name: &'static str, arity: i32, flags: u16) -> Sub {
    Sub {
        name,
        arity,
        flags,
        keys: (2, 2, 1),
    }
}

const A: u16 = ADMIN | NO_SCRIPT;
const N: u16 = NO_SCRIPT;
const HELP: Sub = sub("help", 2, 0);

/// Every container and its subcommands, containers sorted by name and
/// subcommands within each.
pub static CONTAINERS: &[(&str, &[Sub])] = &[
    (
        "acl",
        &[
            sub("cat", -2, N),
            sub("deluser", -3, A),
            sub("dryrun", -4, A),
            sub("genpass", -2, N),
            sub("getuser", 3, A),
            HELP,
            sub("list", 2, A),
            sub("load", 2, A),
            sub("log", -2, A),
            sub("save", 2, A),
            sub("setuser", -3, A),
            sub("users", 2, A),
            sub("whoami", 2, N),
        ],
    ),
    (
        "client",
        &[
            sub("caching", 3, N),
            sub("getname", 2, N),
            sub("getredir", 2, N),
            HELP,
            sub("id", 2, N),
            sub("info", 2, N),
            sub("kill", -3, A),
            sub("list", -2, A),
            sub("no-evict", 3, A),
            sub("pause", -3, A),
            sub("reply", 3, N),
            // Redis 7.2's, which redis-py sends on connecting.
            sub("setinfo", 4, N),
            sub("setname", 3, N),
            sub("tracking", -3, N),
            sub("trackinginfo", 2, N),
            sub("unblock", -3, A),
            sub("unpause", 2, A),
        ],
    ),
    (
        "cluster",
        &[
            sub("addslots", -3, ADMIN),
            sub("addslotsrange", -4, ADMIN),
            sub("bumpepoch", 2, ADMIN),
            sub("count-failure-reports", 3, ADMIN),
            sub("countkeysinslot", 3, 0),
            sub("delslots", -3, ADMIN),
            sub("delslotsrange", -4, ADMIN),
            sub("failover", -2, ADMIN),
            sub("flushslots", 2, ADMIN),
            sub("forget", 3, ADMIN),
            sub("getkeysinslot", 4, 0),
            HELP,
            sub("info", 2, 0),
            sub("keyslot", 3, 0),
            sub("links", 2, 0),
            sub("meet", -4, ADMIN),
            sub("myid", 2, 0),
            sub("nodes", 2, 0),
            sub("replicas", 3, ADMIN),
            sub("replicate", 3, ADMIN),
            sub("reset", -2, A),
            sub("saveconfig", 2, ADMIN),
            sub("set-config-epoch", 3, ADMIN),
            sub("setslot", -4, ADMIN),
            sub("shards", 2, 0),
            sub("slaves", 3, ADMIN),
            sub("slots", 2, 0),
        ],
    ),
    (
        "command",
        &[
            sub("count", 2, 0),
            sub("docs", -2, 0),
            sub("getkeys", -4, 0),
            sub("getkeysandflags", -4, 0),
            HELP,
            sub("info", -2, 0),
            sub("list", -2, 0),
        ],
    ),
    (
        "config",
        &[
            sub("get", -3, A),
            HELP,
            sub("resetstat", 2, A),
            sub("rewrite", 2, A),
            sub("set", -4, A),
        ],
    ),
    (
        "function",
        &[
            sub("delete", 3, WRITE | N),
            sub("dump", 2, N),
            sub("flush", -2, WRITE | N),
            HELP,
            sub("kill", 2, N | ALLOW_BUSY),
            sub("list", -2, N),
            sub("load", -3, WRITE | DENY_OOM | N),
            sub("restore", -3, WRITE | DENY_OOM | N),
            sub("stats", 2, N | ALLOW_BUSY),
        ],
    ),
    (
        "latency",
        &[
            sub("doctor", 2, A),
            sub("graph", 3, A),
            HELP,
            sub("histogram", -2, A),
            sub("history", 3, A),
            sub("latest", 2, A),
            sub("reset", -2, A),
        ],
    ),
    (
        "memory",
        &[
            sub("doctor", 2, 0),
            HELP,
            sub("malloc-stats", 2, 0),
            sub("purge", 2, 0),
            sub("stats", 2, 0),
            keyed("usage", -3, READONLY),
        ],
    ),
    (
        "object",
        &[
            keyed("encoding", 3, READONLY),
            keyed("freq", 3, READONLY),
            HELP,
            keyed("idletime", 3, READONLY),
            keyed("refcount", 3, READONLY),
        ],
    ),
    (
        "pubsub",
        &[
            sub("channels", -2, 0),
            HELP,
            sub("numpat", 2, 0),
            sub("numsub", -2, 0),
            sub("shardchannels", -2, 0),
            sub("shardnumsub", -2, 0),
        ],
    ),
    (
        "script",
        &[
            sub("debug", 3, N),
            sub("exists", -3, N),
            sub("flush", -2, N),
            HELP,
            sub("kill", 2, N | ALLOW_BUSY),
            sub("load", 3, N),
        ],
    ),
    (
        "slowlog",
        &[
            sub("get", -2, ADMIN),
            HELP,
            sub("len", 2, ADMIN),
            sub("reset", 2, ADMIN),
        ],
    ),
    (
        "xgroup",
        &[
            keyed("create", -5, WRITE | DENY_OOM),
            keyed("createconsumer", 5, WRITE | DENY_OOM),
            keyed("delconsumer", 5, WRITE),
            keyed("destroy", 4, WRITE),
            HELP,
            keyed("setid", -5, WRITE),
        ],
    ),
    (
        "xinfo",
        &[
            keyed("consumers", 4, READONLY),
            keyed("groups", 3, READONLY),
            HELP,
            keyed("stream", -3, READONLY),
        ],
    ),
];

/// The subcommands of the container named `container`, if it is one.
pub fn of(container: &str) -> Option<&'static [Sub]> {
    BY_CONTAINER.get(container).copied()
}

/// [`CONTAINERS`] by name: asked of every command a connection runs (most
/// are not containers), so a hash probe rather than a binary search.
static BY_CONTAINER: LazyLock<HashMap<&'static str, &'static [Sub], FixedState>> =
    LazyLock::new(|| CONTAINERS.iter().copied().collect());

/// Whether `name` is a container: its first argument is a subcommand (a
/// denial, a histogram, `CLIENT LIST`'s `cmd=` name both: `client|kill`).
pub fn is_container(name: &str) -> bool {
    of(name).is_some()
}

/// The subcommand `sub` (any case) of `container`.
pub fn find(container: &str, sub: &[u8]) -> Option<&'static Sub> {
    of(container)?
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_and_subcommands_are_sorted() {
        for pair in CONTAINERS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (container, subs) in CONTAINERS {
            for pair in subs.windows(2) {
                assert!(pair[0].name < pair[1].name, "{container}: {}", pair[1].name);
            }
        }
        assert!(find("script", b"KILL").is_some_and(|s| s.flags & ALLOW_BUSY != 0));
        assert!(is_container("client") && !is_container("get") && find("get", b"key").is_none());
    }
}
