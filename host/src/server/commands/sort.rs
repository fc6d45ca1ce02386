//! `SORT` and `SORT_RO`: the elements of a list, set or sorted set,
//! sorted by their value (numeric, or bytes with `ALPHA`) or by other keys
//! (`BY weight_*`, `BY h_*->field`), with `LIMIT`, `GET` patterns and
//! `STORE` into a list. The keys `BY` and `GET` name are looked up one by
//! one, as the sort runs (they are not known beforehand, so they are not
//! locked with the sorted key).

use std::cmp::Ordering;

use goldylox::Update;

use super::collection::Refused;
use super::table::{MOVABLE, R, REPORTED_WRITE as W, Spec, spec};
use super::{Ctx, Value, lower, parse_i64};
use crate::server::keyspace::events::{GENERIC, LIST};
use crate::server::resp::reply;

use super::table::DENY_OOM as OOM;

/// The sort commands.
pub(super) static SPECS: &[Spec] = &[
    spec("sort", -2, W | OOM | MOVABLE, (1, 1, 1), sort),
    spec("sort_ro", -2, R | MOVABLE, (1, 1, 1), sort),
];

/// A parsed `SORT`.
#[derive(Default)]
struct Request {
    by: Option<Vec<u8>>,
    /// `BY` a pattern without `*`: keep the elements' order.
    no_sort: bool,
    limit: Option<(i64, i64)>,
    gets: Vec<Vec<u8>>,
    desc: bool,
    alpha: bool,
    store: Option<Vec<u8>>,
}

fn parse(args: &[Vec<u8>], read_only: bool, cluster: bool) -> Result<Request, &'static str> {
    let mut r = Request::default();
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        match lower(&args[i]).as_str() {
            "asc" => r.desc = false,
            "desc" => r.desc = true,
            "alpha" => r.alpha = true,
            "limit" if left >= 2 => {
                let (Some(o), Some(c)) = (parse_i64(&args[i + 1]), parse_i64(&args[i + 2])) else {
                    return Err("ERR value is not an integer or out of range");
                };
                r.limit = Some((o, c));
                i += 2;
            }
            "store" if left >= 1 && !read_only => {
                r.store = Some(args[i + 1].clone());
                i += 1;
            }
            "by" if left >= 1 => {
                let pattern = args[i + 1].clone();
                if !pattern.contains(&b'*') {
                    r.no_sort = true;
                } else if cluster {
                    return Err("ERR BY option of SORT denied in Cluster mode.");
                }
                r.by = Some(pattern);
                i += 1;
            }
            "get" if left >= 1 => {
                if cluster {
                    return Err("ERR GET option of SORT denied in Cluster mode.");
                }
                r.gets.push(args[i + 1].clone());
                i += 1;
            }
            _ => return Err("ERR syntax error"),
        }
        i += 1;
    }
    Ok(r)
}

/// `SORT key …` and `SORT_RO key …`.
fn sort(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let read_only = lower(&args[0]) == "sort_ro";
    let request = match parse(args, read_only, c.client.cluster.is_some()) {
        Ok(r) => r,
        Err(e) => return reply::error(c.out, e),
    };
    let elements = c.store.get_with(args[1].as_slice(), |v| match v {
        Value::List(l) => Ok(l.iter().cloned().collect()),
        Value::Set(s) => Ok(s.iter().cloned().collect()),
        Value::ZSet(z) => Ok(z.order().iter().map(|e| e.member.to_vec()).collect()),
        _ => Err(Refused::WrongType),
    });
    let mut elements: Vec<Vec<u8>> = match elements {
        None => Vec::new(),
        Some(Ok(e)) => e,
        Some(Err(refused)) => return refused.reply(c.out),
    };
    // A set has no order of its own: stored (or seen by a script), its
    // elements are sorted anyway, by bytes, so the result is the same
    // every time (as Redis does).
    let mut request = request;
    let is_set = c
        .store
        .peek_with(args[1].as_slice(), |v| matches!(v, Value::Set(_)))
        == Some(true);
    if request.no_sort && is_set && (request.store.is_some() || c.client.in_script) {
        request.no_sort = false;
        request.alpha = true;
        request.by = None;
    }
    if !request.no_sort {
        if let Err(e) = sort_elements(c, &mut elements, &request) {
            return reply::error(c.out, e);
        }
    } else if request.desc
        && c.store
            .peek_with(args[1].as_slice(), |v| matches!(v, Value::ZSet(_)))
            == Some(true)
    {
        // Unsorted, a sorted set still comes in its order, reversed by DESC.
        elements.reverse();
    }
    let (start, end) = window(request.limit, elements.len());
    let picked = &elements[start..end];
    let rows: Vec<Option<Vec<u8>>> = if request.gets.is_empty() {
        picked.iter().cloned().map(Some).collect()
    } else {
        picked
            .iter()
            .flat_map(|e| request.gets.iter().map(move |g| (e, g)))
            .map(|(e, g)| lookup(c, g, e))
            .collect()
    };
    match request.store {
        None => {
            reply::array(c.out, rows.len());
            for row in &rows {
                match row {
                    Some(v) => reply::bulk(c.out, v),
                    None => reply::nil(c.out),
                }
            }
        }
        Some(dest) => store_rows(c, &dest, rows),
    }
}

/// `LIMIT offset count` over `len` elements: the window.
fn window(limit: Option<(i64, i64)>, len: usize) -> (usize, usize) {
    let Some((offset, count)) = limit else {
        return (0, len);
    };
    let start = (offset.max(0) as usize).min(len);
    let end = if count < 0 {
        len
    } else {
        start.saturating_add(count as usize).min(len)
    };
    (start, end)
}

/// Sorts `elements` by their value or their `BY` keys.
fn sort_elements(
    c: &mut Ctx<'_>,
    elements: &mut Vec<Vec<u8>>,
    r: &Request,
) -> Result<(), &'static str> {
    let keyed: Vec<(Vec<u8>, Option<Vec<u8>>)> = std::mem::take(elements)
        .into_iter()
        .map(|e| {
            let weight = match &r.by {
                Some(pattern) => lookup(c, pattern, &e),
                None => Some(e.clone()),
            };
            (e, weight)
        })
        .collect();
    let mut scored: Vec<(Vec<u8>, Option<Vec<u8>>, f64)> = Vec::with_capacity(keyed.len());
    for (e, w) in keyed {
        let score = if r.alpha {
            0.0
        } else {
            match &w {
                None => 0.0,
                Some(w) => {
                    parse_score(w).ok_or("ERR One or more scores can't be converted into double")?
                }
            }
        };
        scored.push((e, w, score));
    }
    scored.sort_by(|a, b| {
        let order = if r.alpha {
            match (&a.1, &b.1) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => x.cmp(y),
            }
        } else {
            a.2.partial_cmp(&b.2)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.0.cmp(&b.0))
        };
        if r.desc { order.reverse() } else { order }
    });
    *elements = scored.into_iter().map(|(e, _, _)| e).collect();
    Ok(())
}

/// A weight as Redis reads one for a numeric sort (`strtod`, the whole
/// string, not NaN).
fn parse_score(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let x: f64 = text.trim_start().parse().ok()?;
    (!x.is_nan()).then_some(x)
}

/// The value a `BY`/`GET` pattern names for `element`: `#` is the element;
/// the first `*` is replaced by it; `key->field` reads a hash field. A
/// pattern without `*` names nothing.
fn lookup(c: &mut Ctx<'_>, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let arrow = pattern
        .windows(2)
        .rposition(|w| w == b"->")
        .filter(|&at| at > star && at + 2 < pattern.len());
    let key_end = arrow.unwrap_or(pattern.len());
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    match arrow {
        Some(at) => {
            let field = &pattern[at + 2..];
            c.store
                .get_with(key.as_slice(), |v| {
                    v.as_hash().ok().and_then(|h| h.get(field).cloned())
                })
                .flatten()
        }
        None => c
            .store
            .get_with(key.as_slice(), |v| v.as_str().ok().map(<[u8]>::to_vec))
            .flatten(),
    }
}

/// `STORE`: the rows as a list at `dest` (a missing value stored as an
/// empty string); none removes it.
fn store_rows(c: &mut Ctx<'_>, dest: &[u8], rows: Vec<Option<Vec<u8>>>) {
    let n = rows.len();
    let value = (n > 0).then(|| {
        Value::List(Box::new(
            rows.into_iter().map(Option::unwrap_or_default).collect(),
        ))
    });
    let stored = c.store.update(dest.to_vec(), |v| {
        let existed = v.is_some();
        (value.map_or(Update::Remove, Update::Replace), existed)
    });
    match stored {
        Err(e) => super::store_error(c.out, &e),
        Ok(existed) => {
            if n > 0 {
                c.notify(LIST, "sortstore", dest);
            } else if existed {
                c.notify(GENERIC, "del", dest);
            }
            reply::int(c.out, n as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn limit_windows_clamp() {
        assert_eq!(window(None, 5), (0, 5));
        assert_eq!(window(Some((1, 2)), 5), (1, 3));
        assert_eq!(window(Some((-1, 2)), 5), (0, 2));
        assert_eq!(window(Some((3, -1)), 5), (3, 5));
        assert_eq!(window(Some((9, 2)), 5), (5, 5));
    }
}
