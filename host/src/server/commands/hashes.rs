//! Hash commands: a key holding field → value pairs (`HSET`, `HGET`,
//! `HINCRBY`, `HRANDFIELD`, `HSCAN`, …), stored through every tier like a
//! string and changed in place ([`collection::edit`]).

use bytes::BytesMut;

use super::collection::{self, Absent, Refused, growth_of};
use super::sample::{distinct_indices, random_below};
use super::strings::{format_f64, parse_f64};
use super::{Ctx, Store, arity_error, lower, not_integer, parse_i64, syntax_error, wrong_type};
use crate::server::glob;
use crate::server::resp::reply;
use crate::server::value::{Hash, WrongType, scan_positions};

/// The most elements `HRANDFIELD` returns in one reply (a bound on the
/// memory one command can make the server allocate).
const RANDFIELD_MAX: u64 = 1 << 24;

/// Bytes charged per field ([`growth_of`]'s overhead).
const FIELD: usize = crate::server::value::FIELD_OVERHEAD;

/// Runs `edit` on the hash at `key` in place (a new one if absent and
/// `absent` says so): `Some(answer)`, or `None` once an error was written
/// (for a skipped absent key, `Some(missing)`).
fn edit_hash<R>(
    store: &Store,
    key: &[u8],
    out: &mut BytesMut,
    (absent, missing): (Absent, R),
    growth: usize,
    edit: impl FnOnce(&mut Hash) -> Result<(bool, R), Refused>,
) -> Option<R> {
    match collection::edit(store, key, absent, growth, edit) {
        Ok(Some(answer)) => Some(answer),
        Ok(None) => Some(missing),
        Err(refused) => {
            refused.reply(out);
            None
        }
    }
}

/// Runs `read` on the hash at `key`: `Ok(None)` if absent.
fn read_hash<R>(
    store: &Store,
    key: &[u8],
    read: impl FnOnce(&Hash) -> R,
) -> Result<Option<R>, WrongType> {
    collection::read(store, key, read)
}

/// `HSET key field value [field value …]` (the number of new fields) and
/// `HMSET` (`OK`).
pub(super) fn hset(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    if !(args.len() - 2).is_multiple_of(2) {
        return arity_error(c.out, &name);
    }
    let (key, pairs) = args[1..].split_first_mut().expect("arity checked");
    let growth = growth_of(pairs, FIELD);
    let added = edit_hash(c.store, key, c.out, (Absent::Create, 0), growth, |fields| {
        let mut added = 0;
        for pair in pairs.chunks_mut(2) {
            let (f, v) = (std::mem::take(&mut pair[0]), std::mem::take(&mut pair[1]));
            if fields.insert(f, v).is_none() {
                added += 1;
            }
        }
        Ok((true, added))
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
    let growth = growth_of(&args[2..], FIELD);
    let set = edit_hash(
        c.store,
        &args[1],
        c.out,
        (Absent::Create, 0),
        growth,
        |fields| {
            if fields.contains_key(field) {
                return Ok((false, 0));
            }
            fields.insert(field.clone(), value.clone());
            Ok((true, 1))
        },
    );
    if let Some(n) = set {
        reply::int(c.out, n);
    }
}

/// `HDEL key field…`: the number removed; the last field takes the key.
pub(super) fn hdel(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let doomed = &args[2..];
    let removed = edit_hash(c.store, &args[1], c.out, (Absent::Skip, 0), 0, |fields| {
        let removed = doomed
            .iter()
            .filter(|f| fields.remove(f.as_slice()).is_some())
            .count();
        Ok((removed > 0, removed as i64))
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
    let growth = growth_of(&args[2..3], FIELD + 20);
    let next = edit_hash(
        c.store,
        &args[1],
        c.out,
        (Absent::Create, 0),
        growth,
        |fields| {
            let base = match fields.get(field) {
                None => 0,
                Some(v) => parse_i64(v).ok_or("ERR hash value is not an integer")?,
            };
            let next = base
                .checked_add(delta)
                .ok_or("ERR increment or decrement would overflow")?;
            fields.insert(field.clone(), next.to_string().into_bytes());
            Ok((true, next))
        },
    );
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
    let growth = growth_of(&args[2..3], FIELD + 40);
    let next = edit_hash(
        c.store,
        &args[1],
        c.out,
        (Absent::Create, Vec::new()),
        growth,
        |fields| {
            let base = match fields.get(field) {
                None => 0.0,
                Some(v) => parse_f64(v).ok_or("ERR hash value is not a float")?,
            };
            let next = base + delta;
            if !next.is_finite() {
                return Err("ERR increment would produce NaN or Infinity".into());
            }
            let text = format_f64(next).into_bytes();
            fields.insert(field.clone(), text.clone());
            Ok((true, text))
        },
    );
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
                for (f, v) in fields.iter() {
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

/// `HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]`: a small
/// hash whole, with cursor 0, as Redis answers for a listpack; a large one
/// `COUNT` positions at a time ([`scan_positions`]: every field present
/// throughout the scan is returned).
pub(super) fn hscan(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(scan) = ScanArgs::parse(args, c.out) else {
        return;
    };
    let out = &mut *c.out;
    let found = read_hash(c.store, &args[1], |fields| {
        let (positions, next) = scan.positions(fields.len());
        let hits: Vec<(&Vec<u8>, &Vec<u8>)> = positions
            .filter_map(|at| fields.get_index(at))
            .filter(|(f, _)| scan.matches(f))
            .collect();
        scan.header(out, next);
        reply::array(out, hits.len() * if scan.no_values { 1 } else { 2 });
        for (f, v) in hits {
            reply::bulk(out, f);
            if !scan.no_values {
                reply::bulk(out, v);
            }
        }
    });
    reply_read(out, found, ScanArgs::empty, |_, ()| {});
}

/// The arguments every `*SCAN` of a collection takes after its cursor.
pub(super) struct ScanArgs {
    cursor: u64,
    count: usize,
    pattern: Option<Vec<u8>>,
    /// `NOVALUES` (HSCAN, Redis 7.4): fields only.
    no_values: bool,
}

/// Members up to which a collection is scanned in one reply (Redis's
/// listpack and intset encodings answer so).
const SCAN_WHOLE_UP_TO: usize = 128;

impl ScanArgs {
    /// Parses `key cursor [MATCH p] [COUNT n]` (from `args[2]` on); `None`
    /// once the error was written.
    pub(super) fn parse(args: &[Vec<u8>], out: &mut BytesMut) -> Option<Self> {
        let Some(cursor) = super::keys::parse_cursor(&args[2]) else {
            reply::error(out, "ERR invalid cursor");
            return None;
        };
        let mut scan = ScanArgs {
            cursor,
            count: 10,
            pattern: None,
            no_values: false,
        };
        let hscan = lower(&args[0]) == "hscan";
        let mut i = 3;
        while i < args.len() {
            if hscan && lower(&args[i]) == "novalues" {
                scan.no_values = true;
                i += 1;
                continue;
            }
            match (lower(&args[i]).as_str(), args.get(i + 1)) {
                ("match", Some(p)) => scan.pattern = Some(p.clone()),
                ("count", Some(n)) => match parse_i64(n) {
                    Some(n) if n >= 1 => scan.count = usize::try_from(n).unwrap_or(usize::MAX),
                    Some(_) => {
                        syntax_error(out);
                        return None;
                    }
                    None => {
                        not_integer(out);
                        return None;
                    }
                },
                _ => {
                    syntax_error(out);
                    return None;
                }
            }
            i += 2;
        }
        Some(scan)
    }

    /// The positions to visit in a collection of `len`, and the next
    /// cursor.
    pub(super) fn positions(&self, len: usize) -> (std::ops::Range<usize>, u64) {
        if len <= SCAN_WHOLE_UP_TO {
            return (0..len, 0);
        }
        scan_positions(len, self.cursor, self.count)
    }

    /// Whether `member` passes `MATCH`.
    pub(super) fn matches(&self, member: &[u8]) -> bool {
        self.pattern
            .as_deref()
            .is_none_or(|p| glob::matches(p, member))
    }

    /// Writes the reply's head: the next cursor (the members follow).
    pub(super) fn header(&self, out: &mut BytesMut, next: u64) {
        reply::array(out, 2);
        reply::bulk(out, next.to_string().as_bytes());
    }

    /// The reply for a missing key.
    pub(super) fn empty(out: &mut BytesMut) {
        reply::array(out, 2);
        reply::bulk(out, b"0");
        reply::array(out, 0);
    }
}
