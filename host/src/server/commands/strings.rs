//! String commands: GET, SET and their family, counters, ranges.

use bytes::BytesMut;
use goldylox::{Expiration, SetIf};

use super::{
    Ctx, RMW_RETRIES, Store, Value, after_ns, contention, lower, not_integer, parse_i64,
    store_error, syntax_error, ttl_ns, wrong_type,
};
use crate::server::resp::reply;
use crate::server::value::{WrongType, string_of};

/// Replies with the string `value`, nil when absent, or `WRONGTYPE`.
fn reply_string(out: &mut BytesMut, value: Option<&Value>) {
    match string_of(value) {
        Ok(Some(bytes)) => reply::bulk(out, bytes),
        Ok(None) => reply::nil(out),
        Err(WrongType) => wrong_type(out),
    }
}

pub(super) fn get(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let out = &mut *c.out;
    if c.store
        .get_with(&args[1], |v| reply_string(out, Some(v)))
        .is_none()
    {
        reply::nil(out);
    }
}

/// `GETDEL key`: removes a string and answers it; another type is left.
pub(super) fn getdel(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let key = args[1].as_slice();
    for _ in 0..RMW_RETRIES {
        match c.store.get_with(key, |v| v.as_str().is_ok()) {
            None => return reply::nil(c.out),
            Some(false) => return wrong_type(c.out),
            Some(true) => {}
        }
        if let Some(v) = c.store.remove_if(key, |v| v.as_str().is_ok()) {
            return reply_string(c.out, Some(&v));
        }
    }
    contention(c.out)
}

pub(super) fn mget(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let out = &mut *c.out;
    reply::array(out, args.len() - 1);
    for key in &args[1..] {
        // As in Redis, a key of another type reads as nil here.
        let found = c.store.get_with(key, |v| match v.as_str() {
            Ok(bytes) => reply::bulk(out, bytes),
            Err(WrongType) => reply::nil(out),
        });
        if found.is_none() {
            reply::nil(out);
        }
    }
}

pub(super) fn mset(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    if !(args.len() - 1).is_multiple_of(2) {
        return super::arity_error(c.out, "mset");
    }
    for pair in args[1..].chunks_mut(2) {
        let (key, value) = (std::mem::take(&mut pair[0]), std::mem::take(&mut pair[1]));
        if let Err(e) = c.store.insert(key, Value::Str(value)) {
            return store_error(c.out, &e);
        }
    }
    reply::ok(c.out);
}

pub(super) fn strlen(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    match c.store.get_with(&args[1], |v| v.as_str().map(<[u8]>::len)) {
        None => reply::int(c.out, 0),
        Some(Ok(len)) => reply::int(c.out, len as i64),
        Some(Err(WrongType)) => wrong_type(c.out),
    }
}

/// `SETNX key value`: SET NX answering 1 or 0.
pub(super) fn setnx(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (key, value) = (std::mem::take(&mut args[1]), std::mem::take(&mut args[2]));
    match c
        .store
        .set(key, Value::Str(value), Expiration::Never, SetIf::Absent)
    {
        Ok(outcome) => reply::int(c.out, i64::from(outcome.stored)),
        Err(e) => store_error(c.out, &e),
    }
}

/// `SETEX key seconds value` and `PSETEX key milliseconds value`.
pub(super) fn setex(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let Some(amount) = parse_i64(&args[2]) else {
        return not_integer(c.out);
    };
    let ns = (amount > 0)
        .then(|| ttl_ns(amount, name == "psetex", false))
        .flatten();
    let Some(ns) = ns else {
        return reply::error(
            c.out,
            &format!("ERR invalid expire time in '{name}' command"),
        );
    };
    let (key, value) = (std::mem::take(&mut args[1]), std::mem::take(&mut args[3]));
    let expiration = after_ns(ns);
    match c.store.put(key, Value::Str(value), expiration) {
        Ok(()) => reply::ok(c.out),
        Err(e) => store_error(c.out, &e),
    }
}

/// `GETSET key value`: SET with GET, which also clears the time to live.
pub(super) fn getset(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (key, value) = (std::mem::take(&mut args[1]), std::mem::take(&mut args[2]));
    set_and_get(c.store, key, value, Expiration::Never, SetIf::Always, c.out);
}

/// `SET … GET`: stores `value` if `condition` holds and the key holds no
/// other type than a string, and answers the old string.
fn set_and_get(
    store: &Store,
    key: Vec<u8>,
    value: Vec<u8>,
    expiration: Expiration,
    condition: SetIf,
    out: &mut BytesMut,
) {
    let value = Value::Str(value);
    for _ in 0..RMW_RETRIES {
        let current = store.get(&key);
        let Ok(old) = string_of(current.as_ref()) else {
            return wrong_type(out);
        };
        let allowed = match condition {
            SetIf::Absent => old.is_none(),
            SetIf::Present => old.is_some(),
            _ => true,
        };
        if allowed {
            match store.compare_and_set(key.clone(), current.as_ref(), value.clone(), expiration) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return store_error(out, &e),
            }
        }
        return reply_string(out, current.as_ref());
    }
    contention(out)
}

/// The byte range `[start, end]` of a string of `len` bytes, with Redis's
/// negative indices counted from the end; `None` when empty.
fn byte_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None; // as Redis: both from the end, and crossed
    }
    let len = len as i64;
    let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (clamp(start), clamp(end).min(len - 1));
    (len > 0 && start <= end).then_some((start as usize, end as usize))
}

/// `GETRANGE key start end` (and its old name, `SUBSTR`).
pub(super) fn getrange(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (Some(start), Some(end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return not_integer(c.out);
    };
    let out = &mut *c.out;
    let found = c.store.get_with(&args[1], |v| match v.as_str() {
        Ok(v) => match byte_range(start, end, v.len()) {
            Some((a, b)) => reply::bulk(out, &v[a..=b]),
            None => reply::bulk(out, b""),
        },
        Err(WrongType) => wrong_type(out),
    });
    if found.is_none() {
        reply::bulk(out, b"");
    }
}

/// `SETRANGE key offset value`: overwrites from `offset`, padding with
/// zero bytes; answers the new length.
pub(super) fn setrange(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(offset) = parse_i64(&args[2]) else {
        return not_integer(c.out);
    };
    let Ok(offset) = usize::try_from(offset) else {
        return reply::error(c.out, "ERR offset is out of range");
    };
    let (key, patch) = (&args[1], &args[3]);
    if offset.saturating_add(patch.len()) > c.server.max_bulk_bytes() {
        return reply::error(
            c.out,
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        );
    }
    for _ in 0..RMW_RETRIES {
        let current = c.store.get(key);
        let Ok(old) = string_of(current.as_ref()) else {
            return wrong_type(c.out);
        };
        if patch.is_empty() {
            // Nothing to write: the length as it is, and no key created.
            return reply::int(c.out, old.map_or(0, |v| v.len() as i64));
        }
        let mut new = old.unwrap_or_default().to_vec();
        if new.len() < offset + patch.len() {
            new.resize(offset + patch.len(), 0);
        }
        new[offset..offset + patch.len()].copy_from_slice(patch);
        let len = new.len() as i64;
        let new = Value::Str(new);
        match c
            .store
            .compare_and_set(key.clone(), current.as_ref(), new, Expiration::Keep)
        {
            Ok(true) => return reply::int(c.out, len),
            Ok(false) => continue,
            Err(e) => return store_error(c.out, &e),
        }
    }
    contention(c.out)
}

/// A bit offset as Redis takes it: 0 ≤ offset < 2^32, and the byte it
/// lands in within `proto-max-bulk-len`.
fn bit_offset(arg: &[u8], max_bulk_bytes: usize) -> Option<usize> {
    let offset = u64::try_from(parse_i64(arg)?).ok()?;
    (offset < 1 << 32 && (offset >> 3) < max_bulk_bytes as u64).then_some(offset as usize)
}

/// `SETBIT key offset 0|1`: the bit's previous value; the string grows
/// with zero bytes to reach it.
pub(super) fn setbit(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(offset) = bit_offset(&args[2], c.server.max_bulk_bytes()) else {
        return reply::error(c.out, "ERR bit offset is not an integer or out of range");
    };
    let on = match args[3].as_slice() {
        b"0" => false,
        b"1" => true,
        _ => return reply::error(c.out, "ERR bit is not an integer or out of range"),
    };
    let (byte, mask) = (offset >> 3, 0x80u8 >> (offset & 7));
    let key = &args[1];
    for _ in 0..RMW_RETRIES {
        let current = c.store.get(key);
        let Ok(old) = string_of(current.as_ref()) else {
            return wrong_type(c.out);
        };
        let mut new = old.unwrap_or_default().to_vec();
        if new.len() <= byte {
            new.resize(byte + 1, 0);
        }
        let was = new[byte] & mask != 0;
        if on {
            new[byte] |= mask;
        } else {
            new[byte] &= !mask;
        }
        let new = Value::Str(new);
        match c
            .store
            .compare_and_set(key.clone(), current.as_ref(), new, Expiration::Keep)
        {
            Ok(true) => return reply::int(c.out, i64::from(was)),
            Ok(false) => continue,
            Err(e) => return store_error(c.out, &e),
        }
    }
    contention(c.out)
}

/// `GETBIT key offset`: 0 past the end of the string or for a missing key.
pub(super) fn getbit(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(offset) = bit_offset(&args[2], c.server.max_bulk_bytes()) else {
        return reply::error(c.out, "ERR bit offset is not an integer or out of range");
    };
    let bit = c.store.get_with(&args[1], |v| {
        v.as_str().map(|bytes| {
            bytes
                .get(offset >> 3)
                .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
        })
    });
    match bit {
        None => reply::int(c.out, 0),
        Some(Ok(set)) => reply::int(c.out, i64::from(set)),
        Some(Err(WrongType)) => wrong_type(c.out),
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ts-ms|KEEPTTL]`.
pub(super) fn set(store: &Store, args: &mut [Vec<u8>], out: &mut BytesMut) {
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
                let Some(ns) = ttl_ns(amount, unit_ms, absolute) else {
                    return reply::error(out, invalid());
                };
                expiration = after_ns(ns);
                expiry_given = true;
                i += 1;
            }
            _ => return syntax_error(out),
        }
        i += 1;
    }
    let (key, value) = (std::mem::take(&mut args[1]), std::mem::take(&mut args[2]));
    if get {
        // Redis refuses GET on a key of another type, and then sets nothing.
        return set_and_get(store, key, value, expiration, condition, out);
    }
    let value = Value::Str(value);
    if condition == SetIf::Always {
        // Plain SET: nobody needs the old value (of any type).
        return match store.put(key, value, expiration) {
            Ok(()) => reply::ok(out),
            Err(e) => store_error(out, &e),
        };
    }
    match store.set(key, value, expiration, condition) {
        Ok(outcome) if outcome.stored => reply::ok(out),
        Ok(_) => reply::nil(out),
        Err(e) => store_error(out, &e),
    }
}

/// `GETEX key [EX s|PX ms|EXAT ts|PXAT ts-ms|PERSIST]`.
pub(super) fn getex(store: &Store, args: &[Vec<u8>], out: &mut BytesMut) {
    let key = &args[1];
    // As Redis: the options' syntax, then the key (absent: nil; not a
    // string: WRONGTYPE), then the time's value.
    let timed = match args.len() {
        2 => return reply_string(out, store.get(key).as_ref()),
        3 if lower(&args[2]) == "persist" => None,
        4 if matches!(lower(&args[2]).as_str(), "ex" | "px" | "exat" | "pxat") => {
            Some((lower(&args[2]), &args[3]))
        }
        _ => return syntax_error(out),
    };
    match store.get(key) {
        None => return reply::nil(out),
        Some(v) if v.as_str().is_err() => return wrong_type(out),
        Some(_) => {}
    }
    let expiration = match timed {
        None => Expiration::Never,
        Some((opt, amount)) => {
            let Some(amount) = parse_i64(amount) else {
                return not_integer(out);
            };
            let invalid = "ERR invalid expire time in 'getex' command";
            if amount <= 0 {
                return reply::error(out, invalid);
            }
            match ttl_ns(amount, opt.starts_with('p'), opt.ends_with("at")) {
                Some(ns) => after_ns(ns),
                None => return reply::error(out, invalid),
            }
        }
    };
    for _ in 0..RMW_RETRIES {
        let Some(value) = store.get(key) else {
            return reply::nil(out);
        };
        if value.as_str().is_err() {
            return wrong_type(out);
        }
        match store.compare_and_set(key.clone(), Some(&value), value.clone(), expiration) {
            Ok(true) => return reply_string(out, Some(&value)),
            Ok(false) => continue,
            Err(e) => return store_error(out, &e),
        }
    }
    contention(out)
}

pub(super) fn incr_by(store: &Store, key: &[u8], delta: Option<i64>, out: &mut BytesMut) {
    let Some(delta) = delta else {
        return not_integer(out);
    };
    for _ in 0..RMW_RETRIES {
        let current = store.get(key);
        let base = match string_of(current.as_ref()) {
            Err(WrongType) => return wrong_type(out),
            Ok(None) => 0,
            Ok(Some(v)) => match parse_i64(v) {
                Some(n) => n,
                None => return not_integer(out),
            },
        };
        let Some(next) = base.checked_add(delta) else {
            return reply::error(out, "ERR increment or decrement would overflow");
        };
        let new = Value::Str(next.to_string().into_bytes());
        match store.compare_and_set(key.to_vec(), current.as_ref(), new, Expiration::Keep) {
            Ok(true) => return reply::int(out, next),
            Ok(false) => continue,
            Err(e) => return store_error(out, &e),
        }
    }
    contention(out)
}

pub(super) fn append(store: &Store, key: &[u8], tail: &[u8], out: &mut BytesMut) {
    for _ in 0..RMW_RETRIES {
        let current = store.get(key);
        let Ok(old) = string_of(current.as_ref()) else {
            return wrong_type(out);
        };
        let mut new = Vec::with_capacity(old.map_or(0, <[u8]>::len) + tail.len());
        new.extend_from_slice(old.unwrap_or_default());
        new.extend_from_slice(tail);
        let len = new.len() as i64;
        let new = Value::Str(new);
        match store.compare_and_set(key.to_vec(), current.as_ref(), new, Expiration::Keep) {
            Ok(true) => return reply::int(out, len),
            Ok(false) => continue,
            Err(e) => return store_error(out, &e),
        }
    }
    contention(out)
}

/// `INCRBYFLOAT key increment`: the result printed as Redis prints it
/// (shortest exact form, no exponent).
pub(super) fn incrbyfloat(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(delta) = parse_f64(&args[2]) else {
        return reply::error(c.out, "ERR value is not a valid float");
    };
    let key = &args[1];
    for _ in 0..RMW_RETRIES {
        let current = c.store.get(key);
        let base = match string_of(current.as_ref()) {
            Err(WrongType) => return wrong_type(c.out),
            Ok(None) => 0.0,
            Ok(Some(v)) => match parse_f64(v) {
                Some(x) => x,
                None => return reply::error(c.out, "ERR value is not a valid float"),
            },
        };
        let next = base + delta;
        if !next.is_finite() {
            return reply::error(c.out, "ERR increment would produce NaN or Infinity");
        }
        let new = format_f64(next).into_bytes();
        let stored = Value::Str(new.clone());
        match c
            .store
            .compare_and_set(key.clone(), current.as_ref(), stored, Expiration::Keep)
        {
            Ok(true) => return reply::bulk(c.out, &new),
            Ok(false) => continue,
            Err(e) => return store_error(c.out, &e),
        }
    }
    contention(c.out)
}

/// Parses a float as Redis's `string2ld` does: no spaces, not NaN
/// (infinities parse; INCRBYFLOAT then refuses to produce one).
pub(super) fn parse_f64(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let x: f64 = s.parse().ok()?;
    (!x.is_nan()).then_some(x)
}

/// A float as Redis prints a computed one: shortest exact decimal, no
/// exponent, `-0` as `0`.
pub(super) fn format_f64(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    format!("{x}")
}

#[cfg(test)]
mod tests {
    use super::{byte_range, format_f64, parse_f64};

    #[test]
    fn ranges_count_negative_indices_from_the_end() {
        assert_eq!(byte_range(0, 3, 10), Some((0, 3)));
        assert_eq!(byte_range(-3, -1, 10), Some((7, 9)));
        assert_eq!(byte_range(5, 100, 10), Some((5, 9)));
        assert_eq!(byte_range(-100, 2, 10), Some((0, 2)));
        assert_eq!(byte_range(4, 2, 10), None);
        assert_eq!(byte_range(0, -1, 0), None);
        assert_eq!(byte_range(20, 30, 10), None);
        assert_eq!(byte_range(-2, -3, 2), None);
    }

    #[test]
    fn floats_read_and_print_like_redis() {
        assert_eq!(parse_f64(b"10.5"), Some(10.5));
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(format_f64(10.5 + 0.1), "10.6");
        assert_eq!(format_f64(5000.0), "5000");
        assert_eq!(format_f64(-0.0), "0");
        assert_eq!(format_f64(1e21), "1000000000000000000000");
    }
}
