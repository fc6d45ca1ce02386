//! Sorted-set ranges: by rank, by score and by member (lex), ascending or
//! reversed, with `LIMIT` — `ZRANGE` in all its forms, the legacy
//! `ZRANGEBYSCORE`/`ZREVRANGE…` spellings, `ZRANGESTORE`, `ZCOUNT`,
//! `ZLEXCOUNT` and `ZREMRANGEBY…`. A range is found in O(log n) and read in
//! O(its length), on the set in place.

use bytes::BytesMut;
use goldylox::Update;

use super::collection::{self, Absent, Refused};
use super::lists::clamp_range;
use super::strings::parse_f64;
use super::{Ctx, Value, lower, parse_i64};
use crate::server::keyspace::events::{GENERIC, ZSET};
use crate::server::resp::reply;
use crate::server::value::{Scored, ZSet};

/// One end of a score range: the score, and whether it is excluded.
#[derive(Clone, Copy, Debug)]
pub(super) struct ScoreBound {
    score: f64,
    open: bool,
}

/// Parses a score bound: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
pub(super) fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (open, text) = match arg.split_first() {
        Some((b'(', rest)) => (true, rest),
        _ => (false, arg),
    };
    parse_f64(text).map(|score| ScoreBound { score, open })
}

/// One end of a lex range.
#[derive(Clone, Debug)]
pub(super) enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[m` (inclusive) or `(m` (exclusive).
    At(Vec<u8>, bool),
}

/// Parses a lex bound: `-`, `+`, `[member`, `(member`.
pub(super) fn lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg.split_first()? {
        (b'-', []) => Some(LexBound::Min),
        (b'+', []) => Some(LexBound::Max),
        (b'[', rest) => Some(LexBound::At(rest.to_vec(), false)),
        (b'(', rest) => Some(LexBound::At(rest.to_vec(), true)),
        _ => None,
    }
}

/// What a range selects.
#[derive(Clone, Debug)]
pub(super) enum By {
    /// Ranks `start..=stop` (negative from the end; of the reversed order
    /// when reversed).
    Rank(i64, i64),
    /// Scores from `min` to `max`.
    Score(ScoreBound, ScoreBound),
    /// Members from `min` to `max` (all scores equal).
    Lex(LexBound, LexBound),
}

/// A range query.
#[derive(Clone, Debug)]
pub(super) struct Range {
    pub(super) by: By,
    pub(super) rev: bool,
    /// `LIMIT offset count` (count < 0: all).
    pub(super) limit: Option<(i64, i64)>,
}

impl Range {
    /// The ascending positions the bounds select (before `LIMIT`).
    fn span(&self, z: &ZSet) -> std::ops::Range<usize> {
        let order = z.order();
        let len = order.len();
        match &self.by {
            By::Rank(start, stop) => {
                let r = clamp_range(*start, *stop, len);
                if self.rev {
                    len - r.end..len - r.start
                } else {
                    r
                }
            }
            By::Score(min, max) => {
                let lo = order.count_while(|e| below_min(e.score, *min));
                let hi = order.count_while(|e| !above_max(e.score, *max));
                lo..hi.max(lo)
            }
            By::Lex(min, max) => {
                let same_score = len == 0
                    || order.get(0).map(|e| e.score) == order.get(len - 1).map(|e| e.score);
                if same_score {
                    let lo = order.count_while(|e| lex_below_min(&e.member, min));
                    let hi = order.count_while(|e| !lex_above_max(&e.member, max));
                    return lo..hi.max(lo);
                }
                // Scores differ, so members are not in order: what Redis's
                // small-set walk answers — from the first member in range
                // (the last, reversed), while members stay in range.
                let inside_min = |e: &&Scored| !lex_below_min(&e.member, min);
                let inside_max = |e: &&Scored| !lex_above_max(&e.member, max);
                // Redis's early exits: a range empty by its bounds, or one
                // the last member is below or the first above.
                let (first, last) = (order.get(0), order.get(len - 1));
                if lex_empty(min, max)
                    || !last.is_some_and(|e| inside_min(&e))
                    || !first.is_some_and(|e| inside_max(&e))
                {
                    return 0..0;
                }
                if self.rev {
                    let Some(top) = order.iter_back_from(len - 1).position(|e| inside_max(&e))
                    else {
                        return 0..0;
                    };
                    let hi = len - top;
                    let n = order.iter_back_from(hi - 1).take_while(inside_min).count();
                    hi - n..hi
                } else {
                    let lo = order.iter().position(|e| inside_min(&e)).unwrap_or(len);
                    let n = order.iter_from(lo).take_while(inside_max).count();
                    lo..lo + n
                }
            }
        }
    }

    /// The entries selected, in reply order, after `LIMIT`.
    pub(super) fn select<'z>(&self, z: &'z ZSet) -> Vec<&'z Scored> {
        let span = self.span(z);
        let (offset, count) = match self.limit {
            Some((o, _)) if o < 0 => return Vec::new(),
            Some((o, c)) => (o as usize, if c < 0 { usize::MAX } else { c as usize }),
            None => (0, usize::MAX),
        };
        let n = span.len().saturating_sub(offset).min(count);
        if n == 0 {
            return Vec::new();
        }
        let order = z.order();
        if self.rev {
            order
                .iter_back_from(span.end - 1 - offset)
                .take(n)
                .collect()
        } else {
            order.iter_from(span.start + offset).take(n).collect()
        }
    }

    /// How many the bounds select (`ZCOUNT`, `ZLEXCOUNT`).
    pub(super) fn count(&self, z: &ZSet) -> usize {
        self.span(z).len()
    }
}

fn below_min(score: f64, min: ScoreBound) -> bool {
    if min.open {
        score <= min.score
    } else {
        score < min.score
    }
}

fn above_max(score: f64, max: ScoreBound) -> bool {
    if max.open {
        score >= max.score
    } else {
        score > max.score
    }
}

/// Whether a lex range is empty whatever the set holds (min above max, or
/// equal with either end excluded).
fn lex_empty(min: &LexBound, max: &LexBound) -> bool {
    match (min, max) {
        (LexBound::Max, _) | (_, LexBound::Min) => true,
        (LexBound::At(a, a_open), LexBound::At(b, b_open)) => {
            a > b || (a == b && (*a_open || *b_open))
        }
        _ => false,
    }
}

fn lex_below_min(member: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::At(m, open) => {
            if *open {
                member <= m.as_slice()
            } else {
                member < m.as_slice()
            }
        }
    }
}

fn lex_above_max(member: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::At(m, open) => {
            if *open {
                member >= m.as_slice()
            } else {
                member > m.as_slice()
            }
        }
    }
}

/// Parses the bounds `min max` (`max min` when `rev`) of `kind`.
pub(super) fn bounds(kind: &str, a: &[u8], b: &[u8], rev: bool) -> Result<By, &'static str> {
    let (min, max) = if rev { (b, a) } else { (a, b) };
    match kind {
        "byscore" => match (score_bound(min), score_bound(max)) {
            (Some(min), Some(max)) => Ok(By::Score(min, max)),
            _ => Err("ERR min or max is not a float"),
        },
        "bylex" => match (lex_bound(min), lex_bound(max)) {
            (Some(min), Some(max)) => Ok(By::Lex(min, max)),
            _ => Err("ERR min or max not valid string range item"),
        },
        _ => match (parse_i64(a), parse_i64(b)) {
            (Some(start), Some(stop)) => Ok(By::Rank(start, stop)),
            _ => Err("ERR value is not an integer or out of range"),
        },
    }
}

/// A parsed `ZRANGE`-family request.
struct Request {
    range: Range,
    with_scores: bool,
}

/// Parses `key a b [BYSCORE|BYLEX] [REV] [LIMIT o c] [WITHSCORES]` for
/// `ZRANGE`/`ZRANGESTORE` (`args` from the key on), or a legacy form
/// (`name` tells which).
fn parse(name: &str, args: &[Vec<u8>], store: bool) -> Result<Request, &'static str> {
    let (mut kind, mut rev) = match name {
        "zrangebyscore" => ("byscore", false),
        "zrevrangebyscore" => ("byscore", true),
        "zrangebylex" => ("bylex", false),
        "zrevrangebylex" => ("bylex", true),
        "zrevrange" => ("rank", true),
        _ => ("rank", false),
    };
    let modern = matches!(name, "zrange" | "zrangestore");
    let (mut limit, mut with_scores) = (None, false);
    let mut i = 3;
    while i < args.len() {
        match lower(&args[i]).as_str() {
            "withscores" if !store && !matches!(name, "zrangebylex" | "zrevrangebylex") => {
                with_scores = true;
            }
            "limit" if i + 2 < args.len() && (modern || kind != "rank") => {
                let (Some(o), Some(c)) = (parse_i64(&args[i + 1]), parse_i64(&args[i + 2])) else {
                    return Err("ERR value is not an integer or out of range");
                };
                limit = Some((o, c));
                i += 2;
            }
            "byscore" if modern => kind = "byscore",
            "bylex" if modern => kind = "bylex",
            "rev" if modern => rev = true,
            _ => return Err("ERR syntax error"),
        }
        i += 1;
    }
    // Redis checks only the count: `LIMIT o -1` on ranks passes, ignored.
    if kind == "rank" && limit.is_some_and(|(_, count)| count != -1) {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if kind == "rank" {
        limit = None;
    }
    if with_scores && kind == "bylex" {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let by = bounds(kind, &args[1], &args[2], rev && kind != "rank")?;
    Ok(Request {
        range: Range { by, rev, limit },
        with_scores,
    })
}

/// Writes `entries`: members, or (member, score) pairs.
pub(super) fn reply_entries<'e>(
    out: &mut BytesMut,
    entries: impl ExactSizeIterator<Item = (&'e [u8], f64)>,
    with_scores: bool,
) {
    if !with_scores {
        reply::array(out, entries.len());
        entries.for_each(|(m, _)| reply::bulk(out, m));
        return;
    }
    reply::pairs(out, entries.len());
    for (m, s) in entries {
        reply::pair_header(out);
        reply::bulk(out, m);
        reply::double(out, s);
    }
}

/// `ZRANGE` and its legacy forms.
pub(super) fn zrange(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let request = match parse(&name, &args[1..], false) {
        Ok(r) => r,
        Err(e) => return reply::error(c.out, e),
    };
    let found = collection::read_or_reply(c.store, &args[1], c.out, |z: &ZSet, out| {
        let picked = request.range.select(z);
        let entries = picked.iter().map(|e| (&*e.member, e.score));
        reply_entries(out, entries, request.with_scores);
    });
    if let Some(None) = found {
        reply::array(c.out, 0);
    }
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT o c]`.
pub(super) fn zrangestore(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let request = match parse("zrangestore", &args[2..], true) {
        Ok(r) => r,
        Err(e) => return reply::error(c.out, e),
    };
    let (dest, src) = (args[1].clone(), args[2].clone());
    let stored = c.store.atomically(&[&dest, &src], |batch| {
        let picked = batch
            .update(src.clone(), |v| {
                let picked = match v {
                    None => Ok(Vec::new()),
                    Some(Value::ZSet(z)) => Ok(request
                        .range
                        .select(z)
                        .into_iter()
                        .map(|e| (e.member.to_vec(), e.score))
                        .collect::<Vec<_>>()),
                    Some(_) => Err(Refused::WrongType),
                };
                (Update::Unchanged, picked)
            })
            .map_err(Refused::Store)??;
        store_entries(batch, &dest, picked)
    });
    finish_store(c, &dest, stored, "zrangestore");
}

/// Stores `entries` as the sorted set at `dest` (removing it if none) under
/// the batch's locks: how many, and whether `dest` existed.
pub(super) fn store_entries(
    batch: &mut goldylox::Batch<'_, Vec<u8>, Value>,
    dest: &[u8],
    entries: Vec<(Vec<u8>, f64)>,
) -> Result<(usize, bool), Refused> {
    let n = entries.len();
    let value = (n > 0).then(|| {
        let mut z = ZSet::default();
        for (m, s) in entries {
            z.insert(&m, s);
        }
        Value::ZSet(Box::new(z))
    });
    let existed = batch
        .update(dest.to_vec(), |v| {
            let existed = v.is_some();
            (value.map_or(Update::Remove, Update::Replace), existed)
        })
        .map_err(Refused::Store)?;
    Ok((n, existed))
}

/// Answers a `…STORE` command and raises its event (`del` for an empty
/// result that removed the destination).
pub(super) fn finish_store(
    c: &mut Ctx<'_>,
    dest: &[u8],
    stored: Result<(usize, bool), Refused>,
    event: &'static str,
) {
    match stored {
        Err(refused) => refused.reply(c.out),
        Ok((n, existed)) => {
            if n > 0 {
                c.notify(ZSET, event, dest);
            } else if existed {
                c.notify(GENERIC, "del", dest);
            }
            reply::int(c.out, n as i64);
        }
    }
}

/// `ZCOUNT key min max` and `ZLEXCOUNT key min max`.
pub(super) fn zcount(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let kind = if lower(&args[0]) == "zcount" {
        "byscore"
    } else {
        "bylex"
    };
    let by = match bounds(kind, &args[2], &args[3], false) {
        Ok(by) => by,
        Err(e) => return reply::error(c.out, e),
    };
    let range = Range {
        by,
        rev: false,
        limit: None,
    };
    if let Some(n) =
        collection::read_or_reply(c.store, &args[1], c.out, |z: &ZSet, _| range.count(z))
    {
        reply::int(c.out, n.unwrap_or(0) as i64);
    }
}

/// `ZREMRANGEBYRANK`, `ZREMRANGEBYSCORE`, `ZREMRANGEBYLEX key a b`: how
/// many went.
pub(super) fn zremrange(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let kind = name.trim_start_matches("zremrange");
    let by = match bounds(kind, &args[2], &args[3], false) {
        Ok(by) => by,
        Err(e) => return reply::error(c.out, e),
    };
    let range = Range {
        by,
        rev: false,
        limit: None,
    };
    let key = &args[1];
    let removed = collection::edit(c.store, key, Absent::Skip, 0, |z: &mut ZSet| {
        let span = range.span(z);
        let gone = z.drain(span.start, span.end).len();
        Ok((gone > 0, gone))
    });
    match removed {
        Err(refused) => refused.reply(c.out),
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                let event = match kind {
                    "byrank" => "zremrangebyrank",
                    "byscore" => "zremrangebyscore",
                    _ => "zremrangebylex",
                };
                c.notify(ZSET, event, key);
                if !c.store.contains_key(key) {
                    c.notify(GENERIC, "del", key);
                }
            }
            reply::int(c.out, n as i64);
        }
    }
}
