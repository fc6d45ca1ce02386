//! Commands over several keys at once, each one atomic step through
//! [`Store::atomically`]: `MSETNX`, `RENAME`, `RENAMENX`, `COPY`, `LCS`.
//! The keys are locked together in every tier, so no other command sees
//! half of a rename or a copy, and `LCS` compares two values that existed
//! at the same moment.

use std::time::Duration;

use bytes::BytesMut;
use goldylox::Expiration;

use super::{Ctx, Value, lower, not_integer, parse_i64, store_error, syntax_error};
use crate::server::resp::reply;
use crate::server::value::{WrongType, string_of};

/// The expiration that carries a time to live over to another key.
fn carried(ttl: Option<Duration>) -> Expiration {
    ttl.map_or(Expiration::Never, Expiration::After)
}

/// `MSETNX key value [key value …]`: sets every key only if none exists.
pub(super) fn msetnx(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    if !(args.len() - 1).is_multiple_of(2) {
        return super::arity_error(c.out, "msetnx");
    }
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = args[1..]
        .chunks_mut(2)
        .map(|p| (std::mem::take(&mut p[0]), std::mem::take(&mut p[1])))
        .collect();
    let keys: Vec<&Vec<u8>> = pairs.iter().map(|(k, _)| k).collect();
    let outcome = c.store.atomically(&keys, |b| {
        if keys.iter().any(|k| b.contains_key(k)) {
            return Ok(false);
        }
        for (k, v) in &pairs {
            b.put(k.clone(), Value::Str(v.clone()), Expiration::Never)?;
        }
        Ok(true)
    });
    match outcome {
        Ok(set) => reply::int(c.out, i64::from(set)),
        Err(e) => store_error(c.out, &e),
    }
}

/// `RENAME key newkey` and `RENAMENX key newkey`: the value and its time
/// to live move to `newkey`, replacing it (unless NX and it exists).
pub(super) fn rename(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let only_new = lower(&args[0]) == "renamenx";
    let (from, to) = (&args[1], &args[2]);
    let outcome = c.store.atomically(&[from, to], |b| {
        let Some((value, ttl)) = b.get_with_ttl(from) else {
            return Err("ERR no such key".to_owned());
        };
        if from == to {
            return Ok(!only_new);
        }
        if only_new && b.contains_key(to) {
            return Ok(false);
        }
        b.remove(from);
        b.put(to.clone(), value, carried(ttl))
            .map_err(|e| format!("ERR {e}"))?;
        Ok(true)
    });
    match outcome {
        Err(message) => reply::error(c.out, &message),
        Ok(true) if !only_new => reply::ok(c.out),
        Ok(done) => reply::int(c.out, i64::from(done)),
    }
}

/// `COPY source destination [DB 0] [REPLACE]`: 1 if copied (with the time
/// to live), 0 if the source is missing or the destination exists.
pub(super) fn copy(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        match lower(&args[i]).as_str() {
            "replace" => replace = true,
            "db" if i + 1 < args.len() => {
                match parse_i64(&args[i + 1]) {
                    None => return not_integer(c.out),
                    // One database: 0.
                    Some(0) => {}
                    Some(_) => return reply::error(c.out, "ERR DB index is out of range"),
                }
                i += 1;
            }
            _ => return syntax_error(c.out),
        }
        i += 1;
    }
    let (from, to) = (&args[1], &args[2]);
    if from == to {
        return reply::error(c.out, "ERR source and destination objects are the same");
    }
    let outcome = c.store.atomically(&[from, to], |b| {
        let Some((value, ttl)) = b.get_with_ttl(from) else {
            return Ok(false);
        };
        if !replace && b.contains_key(to) {
            return Ok(false);
        }
        b.put(to.clone(), value, carried(ttl))?;
        Ok(true)
    });
    match outcome {
        Ok(copied) => reply::int(c.out, i64::from(copied)),
        Err(e) => store_error(c.out, &e),
    }
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`: the longest
/// common subsequence of two strings, its length, or its matching ranges,
/// computed and reported as Redis does.
pub(super) fn lcs(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let mut opts = LcsOptions::default();
    let mut i = 3;
    while i < args.len() {
        match lower(&args[i]).as_str() {
            "len" => opts.len = true,
            "idx" => opts.idx = true,
            "withmatchlen" => opts.with_match_len = true,
            "minmatchlen" if i + 1 < args.len() => {
                let Some(n) = parse_i64(&args[i + 1]) else {
                    return not_integer(c.out);
                };
                opts.min_match_len = n.max(0) as u64;
                i += 1;
            }
            _ => return syntax_error(c.out),
        }
        i += 1;
    }
    if opts.len && opts.idx {
        return reply::error(
            c.out,
            "ERR If you want both the length and indexes, please just use IDX.",
        );
    }
    let (k1, k2) = (&args[1], &args[2]);
    let values = c.store.atomically(&[k1, k2], |b| (b.get(k1), b.get(k2)));
    let (a, b) = match (string_of(values.0.as_ref()), string_of(values.1.as_ref())) {
        (Ok(a), Ok(b)) => (a.unwrap_or_default(), b.unwrap_or_default()),
        (Err(WrongType), _) | (_, Err(WrongType)) => {
            // Redis's own text here, not the WRONGTYPE of other commands.
            return reply::error(c.out, "ERR The specified keys must contain string values");
        }
    };
    let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
    if cells.saturating_mul(4) > c.server.max_bulk_bytes() as u64 {
        return reply::error(
            c.out,
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    lcs_reply(c.out, a, b, &opts);
}

#[derive(Default)]
struct LcsOptions {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

/// One matching stretch: ranges in `a` and in `b` (inclusive).
struct Match {
    a: (usize, usize),
    b: (usize, usize),
}

/// The dynamic-programming table: `table[i * width + j]` is the LCS length
/// of `a[..i]` and `b[..j]`, with `width = b.len() + 1`.
fn lcs_table(a: &[u8], b: &[u8]) -> (Vec<u32>, usize) {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    (table, width)
}

fn lcs_reply(out: &mut BytesMut, a: &[u8], b: &[u8], opts: &LcsOptions) {
    let (table, width) = lcs_table(a, b);
    let length = table[a.len() * width + b.len()];
    if opts.len {
        return reply::int(out, i64::from(length));
    }
    let (common, matches) = backtrack(a, b, &table, width, length as usize);
    if !opts.idx {
        return reply::bulk(out, &common);
    }
    let shown: Vec<&Match> = matches
        .iter()
        .filter(|m| {
            let len = (m.a.1 - m.a.0 + 1) as u64;
            opts.min_match_len == 0 || len >= opts.min_match_len
        })
        .collect();
    reply::map(out, 2);
    reply::bulk(out, b"matches");
    reply::array(out, shown.len());
    for m in shown {
        reply::array(out, 2 + usize::from(opts.with_match_len));
        for (start, end) in [m.a, m.b] {
            reply::array(out, 2);
            reply::int(out, start as i64);
            reply::int(out, end as i64);
        }
        if opts.with_match_len {
            reply::int(out, (m.a.1 - m.a.0 + 1) as i64);
        }
    }
    reply::bulk(out, b"len");
    reply::int(out, i64::from(length));
}

/// Walks the table back from the end, as Redis does: the common
/// subsequence, and its matching stretches from last to first.
fn backtrack(
    a: &[u8],
    b: &[u8],
    table: &[u32],
    width: usize,
    length: usize,
) -> (Vec<u8>, Vec<Match>) {
    let mut common = vec![0u8; length];
    let mut matches = Vec::new();
    let (mut i, mut j, mut k) = (a.len(), b.len(), length);
    // The stretch being grown backwards, if any.
    let mut open: Option<Match> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            common[k - 1] = a[i - 1];
            match &mut open {
                None => {
                    open = Some(Match {
                        a: (i - 1, i - 1),
                        b: (j - 1, j - 1),
                    })
                }
                Some(m) if m.a.0 == i && m.b.0 == j => {
                    m.a.0 -= 1;
                    m.b.0 -= 1;
                }
                Some(_) => emit = true,
            }
            if open.as_ref().is_some_and(|m| m.a.0 == 0 || m.b.0 == 0) {
                emit = true;
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = open.is_some();
        }
        if emit && let Some(m) = open.take() {
            matches.push(m);
        }
    }
    (common, matches)
}

#[cfg(test)]
mod tests {
    use super::{backtrack, lcs_table};

    /// A stretch: its range in each string.
    type Stretch = ((usize, usize), (usize, usize));

    fn lcs(a: &str, b: &str) -> (String, Vec<Stretch>) {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let (table, width) = lcs_table(a, b);
        let len = table[a.len() * width + b.len()] as usize;
        let (common, matches) = backtrack(a, b, &table, width, len);
        (
            String::from_utf8(common).unwrap(),
            matches.iter().map(|m| (m.a, m.b)).collect(),
        )
    }

    #[test]
    fn the_common_subsequence_and_its_ranges_match_redis() {
        // Redis's documentation example: LCS key1 key2 IDX with
        // key1 = ohmytext, key2 = mynewtext.
        let (common, matches) = lcs("ohmytext", "mynewtext");
        assert_eq!(common, "mytext");
        assert_eq!(matches, vec![((4, 7), (5, 8)), ((2, 3), (0, 1))]);
        assert_eq!(lcs("", "abc").0, "");
        assert_eq!(lcs("abc", "abc").1, vec![((0, 2), (0, 2))]);
    }
}
