//! Key and expiry commands: existence, deletion, time to live, types.

use bytes::BytesMut;
use goldylox::Expiration;

use super::{
    Ctx, RMW_RETRIES, Store, Value, after_ns, contention, lower, not_integer, now_unix_ns,
    parse_i64, store_error, syntax_error, ttl_ns,
};
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
    let kind = c.store.get_with(args[1].as_slice(), Value::kind);
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
        let allowed = match flag.as_deref() {
            Some("nx") => current_ns.is_none(),
            Some("xx") => current_ns.is_some(),
            // No expiry counts as an infinite TTL.
            Some("gt") => current_ns.is_some_and(|c| ns > c),
            Some("lt") => current_ns.is_none_or(|c| ns < c),
            _ => true,
        };
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
