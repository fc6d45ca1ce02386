//! Hash commands: a key holding field → value pairs (`HSET`, `HGET`,
//! `HINCRBY`, `HRANDFIELD`, `HSCAN`, …), stored through every tier like a
//! string. A write copies the hash, changes the copy and stores it with
//! [`Store::compare_and_set`] (retrying a lost race); a change that leaves
//! the hash empty removes the key with [`Store::remove_if`], as Redis does.

use bytes::BytesMut;
use goldylox::Expiration;

use super::strings::{format_f64, parse_f64};
use super::{
    Ctx, RMW_RETRIES, Store, Value, arity_error, contention, lower, not_integer, parse_i64,
    store_error, syntax_error, wrong_type,
};
use crate::server::glob;
use crate::server::resp::reply;
use crate::server::value::{Fields, WrongType};

/// The most elements `HRANDFIELD` returns in one reply (a bound on the
/// memory one command can make the server allocate).
const RANDFIELD_MAX: u64 = 1 << 24;

/// What an edit did to the copy of a hash it was given.
enum Edit<R> {
    /// Nothing changed: store nothing, answer `R`.
    Unchanged(R),
    /// The copy changed: store it (or remove the key if it is empty).
    Changed(R),
}

/// Runs `edit` on a copy of the hash at `key` (empty if absent) and stores
/// the result atomically; `Some(answer)` once stored. On `WRONGTYPE`, an
/// error from `edit` (written as is) or a store error, the reply is
/// written and `None` returned.
fn edit_hash<R>(
    store: &Store,
    key: &[u8],
    out: &mut BytesMut,
    mut edit: impl FnMut(&mut Fields) -> Result<Edit<R>, &'static str>,
) -> Option<R> {
    for _ in 0..RMW_RETRIES {
        let current = store.get(key);
        let mut fields = match &current {
            None => Fields::new(),
            Some(Value::Hash(fields)) => fields.clone(),
            Some(Value::Str(_)) => {
                wrong_type(out);
                return None;
            }
        };
        let answer = match edit(&mut fields) {
            Err(message) => {
                reply::error(out, message);
                return None;
            }
            Ok(Edit::Unchanged(answer)) => return Some(answer),
            Ok(Edit::Changed(answer)) => answer,
        };
        if fields.is_empty() {
            let Some(current) = current else {
                return Some(answer);
            };
            if store.remove_if(key, |v| *v == current).is_some() {
                return Some(answer);
            }
            continue;
        }
        let new = Value::Hash(fields);
        match store.compare_and_set(key.to_vec(), current.as_ref(), new, Expiration::Keep) {
            Ok(true) => return Some(answer),
            Ok(false) => continue,
            Err(e) => {
                store_error(out, &e);
                return None;
            }
        }
    }
    contention(out);
    None
}

/// Runs `read` on the hash at `key`: `Ok(None)` if absent.
fn read_hash<R>(
    store: &Store,
    key: &[u8],
    read: impl FnOnce(&Fields) -> R,
) -> Result<Option<R>, WrongType> {
    store.get_with(key, |v| v.as_hash().map(read)).transpose()
}

/// `HSET key field value [field value …]` (the number of new fields) and
/// `HMSET` (`OK`).
pub(super) fn hset(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    if !(args.len() - 2).is_multiple_of(2) {
        return arity_error(c.out, &name);
    }
    let (key, pairs) = args[1..].split_first_mut().expect("arity checked");
    let added = edit_hash(c.store, key, c.out, |fields| {
        let mut added = 0;
        for pair in pairs.chunks(2) {
            if fields.insert(pair[0].clone(), pair[1].clone()).is_none() {
                added += 1;
            }
        }
        Ok(Edit::Changed(added))
    });
    match added {
        Some(_) if name == "hmset" => reply::ok(c.out),
        Some(n) => reply::int(c.out, n),
        None => {}
    }
}

/// `HSETNX key field value`: sets the field only if it is absent.
pub(super) fn hsetnx(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (field, value) = (&args[2], &args[3]);
    let set = edit_hash(c.store, &args[1], c.out, |fields| {
        if fields.contains_key(field) {
            return Ok(Edit::Unchanged(0));
        }
        fields.insert(field.clone(), value.clone());
        Ok(Edit::Changed(1))
    });
    if let Some(n) = set {
        reply::int(c.out, n);
    }
}

/// `HDEL key field…`: the number removed; the last field takes the key.
pub(super) fn hdel(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let doomed = &args[2..];
    let removed = edit_hash(c.store, &args[1], c.out, |fields| {
        let removed = doomed
            .iter()
            .filter(|f| fields.shift_remove(f.as_slice()).is_some())
            .count();
        Ok(if removed == 0 {
            Edit::Unchanged(0)
        } else {
            Edit::Changed(removed as i64)
        })
    });
    if let Some(n) = removed {
        reply::int(c.out, n);
    }
}

/// `HINCRBY key field increment`.
pub(super) fn hincrby(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(delta) = parse_i64(&args[3]) else {
        return not_integer(c.out);
    };
    let field = &args[2];
    let next = edit_hash(c.store, &args[1], c.out, |fields| {
        let base = match fields.get(field) {
            None => 0,
            Some(v) => parse_i64(v).ok_or("ERR hash value is not an integer")?,
        };
        let next = base
            .checked_add(delta)
            .ok_or("ERR increment or decrement would overflow")?;
        fields.insert(field.clone(), next.to_string().into_bytes());
        Ok(Edit::Changed(next))
    });
    if let Some(n) = next {
        reply::int(c.out, n);
    }
}

/// `HINCRBYFLOAT key field increment`: the new value, as Redis prints it.
pub(super) fn hincrbyfloat(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(delta) = parse_f64(&args[3]) else {
        return reply::error(c.out, "ERR value is not a valid float");
    };
    if delta.is_infinite() {
        // Refused before the key is touched, as Redis does.
        return reply::error(c.out, "ERR value is NaN or Infinity");
    }
    let field = &args[2];
    let next = edit_hash(c.store, &args[1], c.out, |fields| {
        let base = match fields.get(field) {
            None => 0.0,
            Some(v) => parse_f64(v).ok_or("ERR hash value is not a float")?,
        };
        let next = base + delta;
        if !next.is_finite() {
            return Err("ERR increment would produce NaN or Infinity");
        }
        let text = format_f64(next).into_bytes();
        fields.insert(field.clone(), text.clone());
        Ok(Edit::Changed(text))
    });
    if let Some(text) = next {
        reply::bulk(c.out, &text);
    }
}

/// Writes `answer`, or `WRONGTYPE`, or `absent` for a missing key.
fn reply_read<R>(
    out: &mut BytesMut,
    found: Result<Option<R>, WrongType>,
    absent: impl FnOnce(&mut BytesMut),
    answer: impl FnOnce(&mut BytesMut, R),
) {
    match found {
        Err(WrongType) => wrong_type(out),
        Ok(None) => absent(out),
        Ok(Some(r)) => answer(out, r),
    }
}

/// `HGET key field`.
pub(super) fn hget(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let out = &mut *c.out;
    let found = read_hash(c.store, &args[1], |fields| match fields.get(&args[2]) {
        Some(v) => reply::bulk(out, v),
        None => reply::nil(out),
    });
    reply_read(out, found, reply::nil, |_, ()| {});
}

/// `HMGET key field…`.
pub(super) fn hmget(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let wanted = &args[2..];
    let out = &mut *c.out;
    let found = read_hash(c.store, &args[1], |fields| {
        reply::array(out, wanted.len());
        for f in wanted {
            match fields.get(f) {
                Some(v) => reply::bulk(out, v),
                None => reply::nil(out),
            }
        }
    });
    reply_read(
        out,
        found,
        |out| {
            reply::array(out, wanted.len());
            wanted.iter().for_each(|_| reply::nil(out));
        },
        |_, ()| {},
    );
}

/// `HLEN`, `HEXISTS`, `HSTRLEN`: one integer from the hash (0 if absent).
pub(super) fn hcount(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let field = args.get(2);
    let found = read_hash(c.store, &args[1], |fields| match name.as_str() {
        "hlen" => fields.len(),
        "hexists" => usize::from(field.is_some_and(|f| fields.contains_key(f))),
        _ => field.and_then(|f| fields.get(f)).map_or(0, Vec::len),
    });
    reply_read(
        c.out,
        found,
        |out| reply::int(out, 0),
        |out, n| reply::int(out, n as i64),
    );
}

/// `HGETALL`, `HKEYS`, `HVALS`.
pub(super) fn hgetall(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let out = &mut *c.out;
    let found = read_hash(c.store, &args[1], |fields| {
        match name.as_str() {
            "hgetall" => {
                reply::map(out, fields.len());
                for (f, v) in fields {
                    reply::bulk(out, f);
                    reply::bulk(out, v);
                }
            }
            "hkeys" => {
                reply::array(out, fields.len());
                fields.keys().for_each(|f| reply::bulk(out, f));
            }
            _ => {
                reply::array(out, fields.len());
                fields.values().for_each(|v| reply::bulk(out, v));
            }
        };
    });
    let empty = |out: &mut BytesMut| {
        if name == "hgetall" {
            reply::map(out, 0)
        } else {
            reply::array(out, 0)
        }
    };
    reply_read(out, found, empty, |_, ()| {});
}

/// `HRANDFIELD key [count [WITHVALUES]]`: a positive count draws distinct
/// fields, a negative one draws with repetition.
pub(super) fn hrandfield(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    if args.len() > 4 {
        return syntax_error(c.out);
    }
    let with_values = match args.get(3) {
        None => false,
        Some(a) if lower(a) == "withvalues" => true,
        Some(_) => return syntax_error(c.out),
    };
    let count = match args.get(2).map(|a| parse_i64(a)) {
        None => None,
        Some(None) => return not_integer(c.out),
        Some(Some(n)) => Some(n),
    };
    let out = &mut *c.out;
    let Some(count) = count else {
        let found = read_hash(c.store, &args[1], |fields| {
            let i = random_below(fields.len() as u64) as usize;
            // The server never stores an empty hash; one read from a
            // damaged record answers like a missing key, never a panic.
            match fields.get_index(i) {
                Some((f, _)) => reply::bulk(out, f),
                None => reply::nil(out),
            }
        });
        return reply_read(out, found, reply::nil, |_, ()| {});
    };
    let magnitude = count.unsigned_abs();
    if count == i64::MIN
        || (with_values && magnitude > i64::MAX as u64 / 2)
        || magnitude > RANDFIELD_MAX
    {
        return reply::error(out, "ERR value is out of range");
    }
    let found = read_hash(c.store, &args[1], |fields| {
        if fields.is_empty() {
            return reply::array(out, 0);
        }
        let picks = if count >= 0 {
            distinct_indices(fields.len(), magnitude as usize)
        } else {
            (0..magnitude)
                .map(|_| random_below(fields.len() as u64) as usize)
                .collect()
        };
        if with_values {
            // RESP3 answers pairs; RESP2 a flat list.
            reply::pairs(out, picks.len());
        } else {
            reply::array(out, picks.len());
        }
        for i in picks {
            let (f, v) = fields.get_index(i).expect("index below len");
            if with_values {
                reply::pair_header(out);
            }
            reply::bulk(out, f);
            if with_values {
                reply::bulk(out, v);
            }
        }
    });
    reply_read(out, found, |out| reply::array(out, 0), |_, ()| {});
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`: the whole hash in one
/// reply with cursor 0, as Redis answers for a small hash; COUNT is a hint
/// Redis may exceed too. Every field present throughout is returned.
pub(super) fn hscan(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    if super::keys::parse_cursor(&args[2]).is_none() {
        return reply::error(c.out, "ERR invalid cursor");
    }
    let mut pattern = None;
    let mut i = 3;
    while i < args.len() {
        match (lower(&args[i]).as_str(), args.get(i + 1)) {
            ("match", Some(p)) => pattern = Some(p.clone()),
            ("count", Some(n)) => match parse_i64(n) {
                Some(n) if n >= 1 => {}
                Some(_) => return syntax_error(c.out),
                None => return not_integer(c.out),
            },
            _ => return syntax_error(c.out),
        }
        i += 2;
    }
    let matches = |f: &[u8]| pattern.as_deref().is_none_or(|p| glob::matches(p, f));
    let out = &mut *c.out;
    let found = read_hash(c.store, &args[1], |fields| {
        let hits: Vec<(&Vec<u8>, &Vec<u8>)> = fields.iter().filter(|(f, _)| matches(f)).collect();
        reply::array(out, 2);
        reply::bulk(out, b"0");
        reply::array(out, hits.len() * 2);
        for (f, v) in hits {
            reply::bulk(out, f);
            reply::bulk(out, v);
        }
    });
    reply_read(
        out,
        found,
        |out| {
            reply::array(out, 2);
            reply::bulk(out, b"0");
            reply::array(out, 0);
        },
        |_, ()| {},
    );
}

/// `min(want, len)` distinct indices below `len`, in random order (a
/// partial Fisher–Yates shuffle).
fn distinct_indices(len: usize, want: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..len).collect();
    let want = want.min(len);
    for i in 0..want {
        let j = i + random_below((len - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(want);
    all
}

/// A uniformly random number below `n` (> 0), from a per-thread
/// xorshift generator seeded by the standard library's random keys.
pub(super) fn random_below(n: u64) -> u64 {
    use std::cell::Cell;
    use std::hash::BuildHasher;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64) | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        // Lemire's multiply-shift: unbiased enough for sampling keys.
        ((u128::from(x) * u128::from(n)) >> 64) as u64
    })
}

#[cfg(test)]
mod tests {
    use super::{distinct_indices, random_below};

    #[test]
    fn distinct_indices_are_distinct_and_in_range() {
        for (len, want) in [(10, 3), (10, 10), (10, 20), (0, 5), (1, 1)] {
            let mut got = distinct_indices(len, want);
            assert_eq!(got.len(), want.min(len));
            got.sort_unstable();
            got.dedup();
            assert_eq!(got.len(), want.min(len));
            assert!(got.iter().all(|&i| i < len));
        }
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[random_below(10) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }
}
