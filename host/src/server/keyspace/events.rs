//! Keyspace notifications: Redis's event classes (`notify-keyspace-events`)
//! and the events each command raises on the keys it changed.
//!
//! The events are derived after a command succeeded, from its name, its
//! arguments, its reply and whether each key existed before and after —
//! what Redis's commands report by calling `notifyKeyspaceEvent` in their
//! bodies. Only a command that changed something raises one (`DEL` of a
//! missing key, `SET … NX` on an existing one, `EXPIRE` that set nothing
//! raise none). A key the command created also raises `new` (class `n`).

/// `K`: events on `__keyspace@0__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: events on `__keyevent@0__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (`del`, `expire`, `rename_from`, …).
pub const GENERIC: u32 = 1 << 2;
/// `$`: strings.
pub const STRING: u32 = 1 << 3;
/// `l`: lists.
pub const LIST: u32 = 1 << 4;
/// `s`: sets.
pub const SET: u32 = 1 << 5;
/// `h`: hashes.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted sets.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key's time to live ran out, in any tier.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key left the cache: dropped by the last tier holding it (a key
/// moving down a tier raises nothing).
pub const EVICTED: u32 = 1 << 9;
/// `t`: streams.
pub const STREAM: u32 = 1 << 10;
/// `m`: a read found no key.
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: modules.
pub const MODULE: u32 = 1 << 12;
/// `n`: a key was created.
pub const NEW: u32 = 1 << 13;
/// `A`: every class but `m` and `n`.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The letters and their classes, in the order Redis prints them.
const LETTERS: [(char, u32); 10] = [
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('d', MODULE),
];

/// Parses `notify-keyspace-events` (`""` turns them off); `None` on a
/// letter Redis does not know.
pub fn parse(classes: &str) -> Option<u32> {
    let mut flags = 0;
    for c in classes.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            'n' => NEW,
            other => LETTERS.iter().find(|(l, _)| *l == other)?.1,
        };
    }
    Some(flags)
}

/// The flags as `CONFIG GET` prints them (Redis's canonical spelling).
pub fn format(flags: u32) -> String {
    let mut text = String::new();
    if flags & ALL == ALL {
        text.push('A');
    } else {
        text.extend(
            LETTERS
                .iter()
                .filter(|(_, f)| flags & f != 0)
                .map(|(l, _)| *l),
        );
    }
    for (letter, flag) in [
        ('K', KEYSPACE),
        ('E', KEYEVENT),
        ('m', KEY_MISS),
        ('n', NEW),
    ] {
        if flags & flag != 0 {
            text.push(letter);
        }
    }
    text
}

/// One event: its class, its name and the index of its key among the
/// command's keys.
pub type Event = (u32, &'static str, usize);

/// What a command that succeeded did to its keys.
pub struct Outcome<'a> {
    /// The command's lower-case name.
    pub name: &'a str,
    /// Its arguments, name first, as sent.
    pub args: &'a [Vec<u8>],
    /// Its keys.
    pub keys: &'a [&'a [u8]],
    /// The first key's string length before (`SETBIT` only).
    pub first_len: Option<usize>,
    /// Its reply.
    pub reply: &'a [u8],
    /// Whether each key existed before it ran, and after.
    pub existed: &'a [bool],
    /// … and after.
    pub exists: &'a [bool],
}

impl Outcome<'_> {
    fn has_option(&self, options: &[&str]) -> bool {
        self.args
            .iter()
            .skip(2)
            .any(|a| options.iter().any(|o| a.eq_ignore_ascii_case(o.as_bytes())))
    }

    fn replied(&self, reply: &[u8]) -> bool {
        self.reply == reply
    }

    /// `del` if `key` is gone now, else `event`.
    fn or_deleted(&self, key: usize, class: u32, event: &'static str) -> Event {
        if self.exists.get(key) == Some(&false) {
            (GENERIC, "del", key)
        } else {
            (class, event, key)
        }
    }
}

/// The events `outcome` raises, `new` first, in the order Redis raises
/// them.
pub fn events(o: &Outcome<'_>) -> Vec<Event> {
    // What a transaction or a script changes raises the events of the
    // commands it runs, each when it runs.
    if matches!(
        o.name,
        "exec" | "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro"
    ) {
        return Vec::new();
    }
    let keys = o.existed.len();
    // A key named twice (ZUNIONSTORE k 2 k j) is created once.
    let mut events: Vec<Event> = (0..keys)
        .filter(|&k| !o.existed[k] && o.exists.get(k) == Some(&true))
        .filter(|&k| !o.keys[..k].contains(&o.keys[k]))
        .map(|k| (NEW, "new", k))
        .collect();
    let each = |class, event| (0..keys).map(move |k| (class, event, k));
    let expiring = o.has_option(&["ex", "px", "exat", "pxat"]);
    match o.name {
        "set" => {
            let applied = if o.has_option(&["nx"]) {
                !o.existed[0]
            } else if o.has_option(&["xx"]) {
                o.existed[0]
            } else {
                true
            };
            if applied {
                events.push((STRING, "set", 0));
                if expiring {
                    events.push(o.or_deleted(0, GENERIC, "expire"));
                }
            }
        }
        "setex" | "psetex" => events.extend([(STRING, "set", 0), (GENERIC, "expire", 0)]),
        "setnx" if o.replied(b":1\r\n") => events.push((STRING, "set", 0)),
        "getset" => events.extend(each(STRING, "set")),
        // Key by key: each one's `new`, then its `set`, as Redis's loop.
        "mset" | "msetnx" if o.name == "mset" || o.replied(b":1\r\n") => {
            // A key named twice is new only the first time.
            events = (0..keys)
                .flat_map(|k| {
                    let first = !o.keys[..k].contains(&o.keys[k]);
                    let new = (first && !o.existed[k] && o.exists.get(k) == Some(&true))
                        .then_some((NEW, "new", k));
                    new.into_iter().chain([(STRING, "set", k)])
                })
                .collect();
        }
        "append" => events.push((STRING, "append", 0)),
        // An empty value changes nothing, as in Redis.
        "setrange" if o.exists[0] && o.args.get(3).is_some_and(|v| !v.is_empty()) => {
            events.push((STRING, "setrange", 0));
        }
        "incr" | "decr" | "incrby" | "decrby" => events.push((STRING, "incrby", 0)),
        "incrbyfloat" => events.push((STRING, "incrbyfloat", 0)),
        // Only a bit that changed, a string grown or a key created, as
        // Redis.
        "setbit" => {
            let old = o.reply.get(1).map(|b| *b == b'1');
            let new = o.args.get(3).map(|b| b.as_slice() == b"1");
            let byte = o
                .args
                .get(2)
                .and_then(|a| std::str::from_utf8(a).ok()?.parse::<u64>().ok())
                .map_or(0, |bit| bit / 8);
            let grown = o.first_len.is_some_and(|len| len as u64 <= byte);
            if !o.existed[0] || grown || old != new {
                events.push((STRING, "setbit", 0));
            }
        }
        "getdel" if o.existed[0] => events.push((GENERIC, "del", 0)),
        "getex" if o.existed[0] => {
            if expiring {
                events.push(o.or_deleted(0, GENERIC, "expire"));
            } else if o.has_option(&["persist"]) {
                events.push((GENERIC, "persist", 0));
            }
        }
        // A key named twice is deleted once.
        "del" | "unlink" => events.extend(
            (0..keys)
                .filter(|&k| o.existed[k] && !o.keys[..k].contains(&o.keys[k]))
                .map(|k| (GENERIC, "del", k)),
        ),
        "expire" | "pexpire" | "expireat" | "pexpireat" if o.replied(b":1\r\n") => {
            events.push(o.or_deleted(0, GENERIC, "expire"));
        }
        "persist" if o.replied(b":1\r\n") => events.push((GENERIC, "persist", 0)),
        // Redis deletes an existing destination and adds it anew: `new`
        // either way.
        // (A key renamed to itself raises nothing.)
        "rename" | "renamenx"
            if (o.replied(b"+OK\r\n") || o.replied(b":1\r\n"))
                && o.args.get(1) != o.args.get(2) =>
        {
            if o.existed.get(1) == Some(&true) {
                events.push((NEW, "new", 1));
            }
            events.extend([(GENERIC, "rename_from", 0), (GENERIC, "rename_to", 1)]);
        }
        "copy" if o.replied(b":1\r\n") => {
            if o.existed.get(1) == Some(&true) {
                events.push((NEW, "new", 1));
            }
            events.push((GENERIC, "copy_to", 1));
        }
        "hset" | "hmset" => events.push((HASH, "hset", 0)),
        "hsetnx" if o.replied(b":1\r\n") => events.push((HASH, "hset", 0)),
        "hincrby" => events.push((HASH, "hincrby", 0)),
        "hincrbyfloat" => events.push((HASH, "hincrbyfloat", 0)),
        "hdel" if !o.replied(b":0\r\n") => {
            events.push((HASH, "hdel", 0));
            if !o.exists[0] {
                events.push((GENERIC, "del", 0));
            }
        }
        _ => {}
    }
    events
}

#[cfg(test)]
mod tests {
    use super::{ALL, EVICTED, EXPIRED, KEYEVENT, KEYSPACE, Outcome, events, format, parse};

    #[test]
    fn classes_parse_and_print_as_redis_does() {
        for (given, printed) in [
            ("gKE", "gKE"),
            ("$lshzxeKE", "$lshzxeKE"),
            ("KA", "AK"),
            ("EA", "AE"),
            ("", ""),
            ("Kx", "xK"),
        ] {
            assert_eq!(format(parse(given).unwrap()), printed, "{given}");
        }
        assert_eq!(parse("Ex"), Some(KEYEVENT | EXPIRED));
        assert!(parse("A").unwrap() & EVICTED != 0);
        assert_eq!(parse("A").unwrap(), ALL);
        assert_eq!(parse("KQ"), None, "Q is no class");
        assert_eq!(parse("K"), Some(KEYSPACE));
    }

    fn names(
        name: &str,
        args: &[&str],
        reply: &[u8],
        existed: &[bool],
        exists: &[bool],
    ) -> Vec<&'static str> {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let keys: Vec<&[u8]> = args[1..=existed.len()].iter().map(Vec::as_slice).collect();
        events(&Outcome {
            name,
            args: &args,
            keys: &keys,
            first_len: None,
            reply,
            existed,
            exists,
        })
        .into_iter()
        .map(|(_, e, _)| e)
        .collect()
    }

    #[test]
    fn only_commands_that_changed_something_raise_events() {
        assert_eq!(
            names("set", &["set", "k", "v"], b"+OK\r\n", &[false], &[true]),
            ["new", "set"]
        );
        assert_eq!(
            names(
                "set",
                &["set", "k", "v", "NX"],
                b"$-1\r\n",
                &[true],
                &[true]
            ),
            Vec::<&str>::new()
        );
        assert_eq!(
            names(
                "set",
                &["set", "k", "v", "EX", "5"],
                b"+OK\r\n",
                &[true],
                &[true]
            ),
            ["set", "expire"]
        );
        assert_eq!(
            names(
                "del",
                &["del", "a", "b"],
                b":1\r\n",
                &[false, true],
                &[false, false]
            ),
            ["del"]
        );
        assert_eq!(
            names(
                "expire",
                &["expire", "k", "5"],
                b":0\r\n",
                &[false],
                &[false]
            ),
            Vec::<&str>::new()
        );
        assert_eq!(
            names(
                "expire",
                &["expire", "k", "-1"],
                b":1\r\n",
                &[true],
                &[false]
            ),
            ["del"]
        );
        assert_eq!(
            names("hdel", &["hdel", "h", "f"], b":1\r\n", &[true], &[false]),
            ["hdel", "del"]
        );
        assert_eq!(
            names(
                "rename",
                &["rename", "a", "b"],
                b"+OK\r\n",
                &[true, false],
                &[false, true]
            ),
            ["new", "rename_from", "rename_to"]
        );
    }
}
