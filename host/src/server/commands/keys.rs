//! Key and expiry commands: existence, deletion, time to live, types, and
//! the views over every tier (`SCAN`, `KEYS`, `RANDOMKEY`, `OBJECT`, `MEMORY
//! USAGE`).

use bytes::BytesMut;
use goldylox::Expiration;

use super::{
    Ctx, RMW_RETRIES, Store, Value, after_ns, contention, lower, not_integer, now_unix_ns,
    parse_i64, store_error, syntax_error, ttl_ns,
};
use crate::server::glob;
use crate::server::resp::reply;

pub(super) fn del(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let removed = args[1..]
        .iter()
        .filter(|k| c.store.remove(k.as_slice()).is_some())
        .count();
    reply::int(c.out, removed as i64);
}

pub(super) fn exists(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let found = args[1..]
        .iter()
        .filter(|k| c.store.contains_key(k.as_slice()))
        .count();
    reply::int(c.out, found as i64);
}

/// `TOUCH key…`: an access to each key (the policy hears of it); answers
/// how many exist.
pub(super) fn touch(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let found = args[1..]
        .iter()
        .filter(|k| c.store.get_with(k.as_slice(), |_| ()).is_some())
        .count();
    reply::int(c.out, found as i64);
}

/// `TYPE key`: `string`, `hash` or `none`.
pub(super) fn type_of(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let kind = c.store.peek_with(args[1].as_slice(), Value::kind);
    reply::simple(c.out, kind.unwrap_or("none"));
}

/// Replies -2 for a missing key, -1 for one without a deadline, else
/// `f(time left)`.
fn reply_deadline(c: &mut Ctx<'_>, key: &[u8], f: impl FnOnce(std::time::Duration) -> i64) {
    let answer = match c.store.time_to_live(key) {
        None => -2,
        Some(None) => -1,
        Some(Some(left)) => f(left),
    };
    reply::int(c.out, answer);
}

/// `TTL` and `PTTL`: the time left.
pub(super) fn ttl(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let ms = lower(&args[0]) == "pttl";
    reply_deadline(c, &args[1], |left| {
        let left_ms = left.as_millis() as i64;
        if ms { left_ms } else { (left_ms + 500) / 1000 }
    });
}

/// `EXPIRETIME` and `PEXPIRETIME`: the absolute Unix deadline.
pub(super) fn expiretime(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let ms = lower(&args[0]) == "pexpiretime";
    reply_deadline(c, &args[1], |left| {
        let at_ms = ((now_unix_ns() + left.as_nanos() as i128 + 500_000) / 1_000_000) as i64;
        if ms { at_ms } else { (at_ms + 500) / 1000 }
    });
}

pub(super) fn dbsize(c: &mut Ctx<'_>, _: &mut [Vec<u8>]) {
    reply::int(c.out, c.store.len() as i64);
}

/// `FLUSHALL` and `FLUSHDB` `[SYNC|ASYNC]`.
pub(super) fn flush(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    match args.get(1).map(|a| lower(a)).as_deref() {
        None | Some("sync" | "async") if args.len() <= 2 => {
            c.store.clear();
            reply::ok(c.out);
        }
        _ => syntax_error(c.out),
    }
}

pub(super) fn expire_command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    expire(c.store, &name, args, c.out);
}

pub(super) fn persist_command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    persist(c.store, &args[1], c.out);
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and its `P…`/`…AT` forms.
fn expire(store: &Store, name: &str, args: &[Vec<u8>], out: &mut BytesMut) {
    let key = &args[1];
    let Some(amount) = parse_i64(&args[2]) else {
        return not_integer(out);
    };
    // Redis's rules: NX stands alone; XX combines with GT or LT; GT and LT
    // exclude each other.
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        match lower(opt).as_str() {
            "nx" => nx = true,
            "xx" => xx = true,
            "gt" => gt = true,
            "lt" => lt = true,
            _ => {
                let given = String::from_utf8_lossy(opt);
                return reply::error(out, &format!("ERR Unsupported option {given}"));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return reply::error(
            out,
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        );
    }
    if gt && lt {
        return reply::error(
            out,
            "ERR GT and LT options at the same time are not compatible",
        );
    }
    let unit_ms = name.starts_with('p');
    let absolute = name.ends_with("at");
    let Some(ns) = ttl_ns(amount, unit_ms, absolute) else {
        return reply::error(out, &format!("ERR invalid expire time in '{name}' command"));
    };
    for _ in 0..RMW_RETRIES {
        let Some(value) = store.get(key) else {
            return reply::int(out, 0);
        };
        let current_ns = match store.time_to_live(key) {
            None => return reply::int(out, 0),
            Some(None) => None,
            Some(Some(left)) => Some(left.as_nanos() as i128),
        };
        // No expiry counts as an infinite TTL.
        let allowed = (!nx || current_ns.is_none())
            && (!xx || current_ns.is_some())
            && (!gt || current_ns.is_some_and(|c| ns > c))
            && (!lt || current_ns.is_none_or(|c| ns < c));
        if !allowed {
            return reply::int(out, 0);
        }
        if ns <= 0 {
            // An expire time in the past deletes the key.
            let removed = store.remove(key.as_slice()).is_some();
            return reply::int(out, i64::from(removed));
        }
        let expiration = after_ns(ns);
        match store.compare_and_set(key.clone(), Some(&value), value.clone(), expiration) {
            Ok(true) => return reply::int(out, 1),
            Ok(false) => continue,
            Err(e) => return store_error(out, &e),
        }
    }
    contention(out)
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
    contention(out)
}

/// A `SCAN`-family cursor: an unsigned 64-bit decimal, as Redis reads it.
pub(super) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: one step of a
/// full iteration over every tier ([`Store::scan`]): every key present
/// throughout an iteration is returned, once.
pub(super) fn scan(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return reply::error(c.out, "ERR invalid cursor");
    };
    let mut pattern = None;
    let mut count = 10;
    let mut kind = None;
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return syntax_error(c.out);
        };
        match lower(&args[i]).as_str() {
            "match" => pattern = Some(value.clone()),
            "count" => match parse_i64(value) {
                Some(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Some(_) => return syntax_error(c.out),
                None => return not_integer(c.out),
            },
            "type" => kind = Some(lower(value)),
            _ => return syntax_error(c.out),
        }
        i += 2;
    }
    // Steps on until COUNT keys are found or the scan ends (within a bound
    // on the steps, as Redis bounds the buckets one call visits), so a
    // small keyspace answers whole, with cursor 0, as Redis's does.
    let (mut keys, mut next) = c.store.scan(cursor, count);
    let mut steps = 1;
    while keys.len() < count && next != 0 && steps < SCAN_STEPS_MAX {
        let (more, after) = c.store.scan(next, count - keys.len());
        keys.extend(more);
        next = after;
        steps += 1;
    }
    let keys: Vec<Vec<u8>> = keys
        .into_iter()
        .filter(|k| pattern.as_deref().is_none_or(|p| glob::matches(p, k)))
        .filter(|k| {
            kind.as_deref()
                .is_none_or(|want| c.store.peek_with(k.as_slice(), Value::kind) == Some(want))
        })
        .collect();
    reply::array(c.out, 2);
    reply::bulk(c.out, next.to_string().as_bytes());
    reply::array(c.out, keys.len());
    for k in keys {
        reply::bulk(c.out, &k);
    }
}

/// `SAVE`: what Redis's snapshot is for, the cold tier gives — every hot
/// and warm entry it does not hold yet is written to disk and synced, so
/// a restart finds everything the cache holds now.
pub(super) fn save(c: &mut Ctx<'_>, _args: &mut [Vec<u8>]) {
    if c.store.cold_stats().is_none() {
        return reply::error(
            c.out,
            "ERR no cold tier to save to ([cache.cold] enabled = false)",
        );
    }
    match c.store.persist() {
        Ok(_) => reply::ok(c.out),
        Err(e) => super::store_error(c.out, &e),
    }
}

/// Most engine scan steps one SCAN takes looking for COUNT keys.
const SCAN_STEPS_MAX: usize = 64;

/// `KEYS pattern`: every key of every tier that matches (a full scan:
/// O(keys), like Redis's).
pub(super) fn keys(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let pattern = &args[1];
    let mut found = Vec::new();
    c.store.for_each_key(|k| {
        if glob::matches(pattern, &k) {
            found.push(k);
        }
    });
    reply::array(c.out, found.len());
    for k in found {
        reply::bulk(c.out, &k);
    }
}

/// `RANDOMKEY`: a key from any tier, or nil when there is none.
pub(super) fn randomkey(c: &mut Ctx<'_>, _: &mut [Vec<u8>]) {
    match c.store.random_key() {
        Some(k) => reply::bulk(c.out, &k),
        None => reply::nil(c.out),
    }
}

/// `MEMORY USAGE key [SAMPLES n]`: the bytes the key is charged (key,
/// value and per-entry overhead, as the weigher counts them); `MEMORY
/// HELP`.
pub(super) fn memory(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    match lower(&args[1]).as_str() {
        "usage" if args.len() == 3 || (args.len() == 5 && lower(&args[3]) == "samples") => {
            let key = &args[2];
            let bytes = c
                .store
                .peek_with(key.as_slice(), |v| crate::server::entry_weight(key, v));
            match bytes {
                Some(n) => reply::int(c.out, i64::from(n)),
                None => reply::nil(c.out),
            }
        }
        "usage" => syntax_error(c.out),
        "stats" if args.len() == 2 => {
            let figures = c.server.memory_stats();
            reply::map(c.out, figures.len());
            for (name, figure) in figures {
                reply::bulk(c.out, name.as_bytes());
                use crate::server::figure::Value as Figure;
                match figure {
                    Figure::Int(n) => reply::int(c.out, n as i64),
                    Figure::Float(x) => reply::double(c.out, x),
                    Figure::Text(t) => reply::bulk(c.out, t.as_bytes()),
                }
            }
        }
        "doctor" if args.len() == 2 => reply::verbatim(c.out, &c.server.memory_doctor()),
        "malloc-stats" if args.len() == 2 => {
            reply::verbatim(c.out, &crate::server::memory_stats::malloc_stats())
        }
        "help" => help(
            c.out,
            &[
                "MEMORY USAGE <key> [SAMPLES <count>]",
                "MEMORY STATS",
                "MEMORY DOCTOR",
                "MEMORY MALLOC-STATS",
            ],
        ),
        _ => unknown_subcommand(c.out, &args[1], "MEMORY"),
    }
}

/// `OBJECT ENCODING|REFCOUNT|FREQ|IDLETIME|HELP key`.
pub(super) fn object(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let sub = lower(&args[1]);
    if sub == "help" {
        return help(
            c.out,
            &[
                "OBJECT ENCODING <key>",
                "OBJECT REFCOUNT <key>",
                "OBJECT FREQ <key> (not tracked: policies keep their own state)",
                "OBJECT IDLETIME <key> (not tracked: policies keep their own state)",
            ],
        );
    }
    if args.len() != 3 {
        return unknown_subcommand(c.out, &args[1], "OBJECT");
    }
    let Some(kind) = c.store.peek_with(args[2].as_slice(), Value::kind) else {
        return reply::nil(c.out);
    };
    match sub.as_str() {
        // One encoding per type, named as Redis names its general one: bytes;
        // insertion-ordered hash tables for hashes and sets; a ring buffer
        // for lists; a hash table beside an ordered sequence for sorted sets.
        "encoding" => {
            let name: &[u8] = match kind {
                "hash" | "set" => b"hashtable",
                "list" => b"quicklist",
                "zset" => b"skiplist",
                _ => b"raw",
            };
            reply::bulk(c.out, name);
        }
        "refcount" => reply::int(c.out, 1),
        "freq" | "idletime" => reply::error(
            c.out,
            &format!(
                "ERR OBJECT {} is not available: eviction policies are components that keep their own per-key state, which the server cannot read",
                sub.to_ascii_uppercase()
            ),
        ),
        _ => unknown_subcommand(c.out, &args[1], "OBJECT"),
    }
}

/// A `HELP` subcommand's reply: its lines.
pub(super) fn help(out: &mut BytesMut, lines: &[&str]) {
    reply::array(out, lines.len());
    for line in lines {
        reply::simple(out, line);
    }
}

fn unknown_subcommand(out: &mut BytesMut, sub: &[u8], command: &str) {
    reply::error(
        out,
        &format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {command} HELP.",
            String::from_utf8_lossy(sub)
        ),
    );
}
