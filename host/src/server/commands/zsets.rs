//! Sorted-set commands on one key: `ZADD` with its options, `ZINCRBY`,
//! `ZREM`, scores and ranks, pops, random draws and `ZSCAN`. Ranges are in
//! [`super::zrange`], the algebra across keys in [`super::zalgebra`].

use bytes::BytesMut;

use super::collection::{self, Absent, Refused, growth_of};
use super::hashes::ScanArgs;
use super::sample::{distinct_indices, random_below};
use super::strings::parse_f64;
use super::table::{F, MOVABLE, ONE, R, REPORTED_WRITE as W, Spec, spec};
use super::{Ctx, lower, not_integer, parse_i64, syntax_error, zalgebra, zrange};
use crate::server::keyspace::events::{GENERIC, ZSET};
use crate::server::resp::reply;
use crate::server::value::{ZMEMBER_OVERHEAD, ZSet};

use super::table::DENY_OOM as OOM;

/// The most members `ZRANDMEMBER` draws with repetition in one reply.
const RANDOM_MAX: u64 = 1 << 24;

const NONE: (i32, i32, i32) = (0, 0, 0);

/// The sorted-set commands.
pub(super) static SPECS: &[Spec] = &[
    spec("zadd", -4, W | OOM | F, ONE, zadd),
    spec("zcard", 2, R | F, ONE, zcard),
    spec("zcount", 4, R | F, ONE, zrange::zcount),
    spec("zdiff", -3, R | MOVABLE, NONE, zalgebra::combine_command),
    spec(
        "zdiffstore",
        -4,
        W | OOM | MOVABLE,
        ONE,
        zalgebra::combine_command,
    ),
    spec("zincrby", 4, W | OOM | F, ONE, zincrby),
    spec("zinter", -3, R | MOVABLE, NONE, zalgebra::combine_command),
    spec("zintercard", -3, R | MOVABLE, NONE, zalgebra::zintercard),
    spec(
        "zinterstore",
        -4,
        W | OOM | MOVABLE,
        ONE,
        zalgebra::combine_command,
    ),
    spec("zlexcount", 4, R | F, ONE, zrange::zcount),
    spec("zmpop", -4, W | MOVABLE, NONE, zmpop),
    spec("zmscore", -3, R | F, ONE, zscore),
    spec("zpopmax", -2, W | F, ONE, zpop),
    spec("zpopmin", -2, W | F, ONE, zpop),
    spec("zrandmember", -2, R, ONE, zrandmember),
    spec("zrange", -4, R, ONE, zrange::zrange),
    spec("zrangebylex", -4, R, ONE, zrange::zrange),
    spec("zrangebyscore", -4, R, ONE, zrange::zrange),
    spec("zrangestore", -5, W | OOM, (1, 2, 1), zrange::zrangestore),
    spec("zrank", -3, R | F, ONE, zrank),
    spec("zrem", -3, W | F, ONE, zrem),
    spec("zremrangebylex", 4, W, ONE, zrange::zremrange),
    spec("zremrangebyrank", 4, W, ONE, zrange::zremrange),
    spec("zremrangebyscore", 4, W, ONE, zrange::zremrange),
    spec("zrevrange", -4, R, ONE, zrange::zrange),
    spec("zrevrangebylex", -4, R, ONE, zrange::zrange),
    spec("zrevrangebyscore", -4, R, ONE, zrange::zrange),
    spec("zrevrank", -3, R | F, ONE, zrank),
    spec("zscan", -3, R, ONE, zscan),
    spec("zscore", 3, R | F, ONE, zscore),
    spec("zunion", -3, R | MOVABLE, NONE, zalgebra::combine_command),
    spec(
        "zunionstore",
        -4,
        W | OOM | MOVABLE,
        ONE,
        zalgebra::combine_command,
    ),
];

/// `ZADD`'s options.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member …`.
fn zadd(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < args.len() {
        match lower(&args[i]).as_str() {
            "nx" => f.nx = true,
            "xx" => f.xx = true,
            "gt" => f.gt = true,
            "lt" => f.lt = true,
            "ch" => f.ch = true,
            "incr" => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return syntax_error(c.out);
    }
    if f.nx && f.xx {
        return reply::error(
            c.out,
            "ERR XX and NX options at the same time are not compatible",
        );
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return reply::error(
            c.out,
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        );
    }
    if f.incr && pairs.len() > 2 {
        return reply::error(
            c.out,
            "ERR INCR option supports a single increment-element pair",
        );
    }
    let mut scored = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        let Some(score) = parse_f64(&pair[0]) else {
            return reply::error(c.out, "ERR value is not a valid float");
        };
        scored.push((score, pair[1].as_slice()));
    }
    let growth = growth_of(pairs, ZMEMBER_OVERHEAD);
    let key = args[1].clone();
    let absent = if f.xx { Absent::Skip } else { Absent::Create };
    let outcome = collection::edit(c.store, &key, absent, growth, |z: &mut ZSet| {
        add_all(z, &scored, f)
    });
    match outcome {
        Err(refused) => refused.reply(c.out),
        Ok(None) if f.incr => reply::nil(c.out),
        Ok(None) => reply::int(c.out, 0),
        Ok(Some(added)) => {
            if added.added + added.updated > 0 {
                c.notify(ZSET, if f.incr { "zincr" } else { "zadd" }, &key);
            }
            if f.incr {
                match added.score {
                    Some(s) => reply::double(c.out, s),
                    None => reply::nil(c.out),
                }
            } else {
                let n = added.added + if f.ch { added.updated } else { 0 };
                reply::int(c.out, n as i64);
            }
        }
    }
}

/// What [`add_all`] did.
struct Added {
    added: usize,
    updated: usize,
    /// `INCR`'s resulting score (`None`: a condition stopped it).
    score: Option<f64>,
}

/// Applies `ZADD`'s pairs to `z` under `f`; nothing changes if an
/// increment would make a NaN.
fn add_all(z: &mut ZSet, pairs: &[(f64, &[u8])], f: AddFlags) -> Result<(bool, Added), Refused> {
    let mut done = Added {
        added: 0,
        updated: 0,
        score: None,
    };
    for &(score, member) in pairs {
        let current = z.score(member);
        let new = match (current, f.incr) {
            (Some(old), true) => {
                let sum = old + score;
                if sum.is_nan() {
                    return Err("ERR resulting score is not a number (NaN)".into());
                }
                sum
            }
            _ => score,
        };
        match current {
            None if f.xx => continue,
            None => {
                z.insert(member, new);
                done.added += 1;
            }
            Some(_) if f.nx => continue,
            Some(old) => {
                if (f.gt && new <= old) || (f.lt && new >= old) {
                    continue;
                }
                if new != old {
                    z.insert(member, new);
                    done.updated += 1;
                }
            }
        }
        done.score = Some(new);
    }
    Ok((done.added + done.updated > 0, done))
}

/// `ZINCRBY key increment member`.
fn zincrby(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(delta) = parse_f64(&args[2]) else {
        return reply::error(c.out, "ERR value is not a valid float");
    };
    let key = args[1].clone();
    let member = &args[3];
    let growth = member.len() + ZMEMBER_OVERHEAD;
    let outcome = collection::edit(c.store, &key, Absent::Create, growth, |z: &mut ZSet| {
        let flags = AddFlags {
            incr: true,
            ..AddFlags::default()
        };
        add_all(z, &[(delta, member)], flags)
    });
    match outcome {
        Err(refused) => refused.reply(c.out),
        Ok(added) => {
            // An increment that leaves the score as it was changes nothing.
            if added.as_ref().is_some_and(|a| a.added + a.updated > 0) {
                c.notify(ZSET, "zincr", &key);
            }
            let score = added.and_then(|a| a.score).unwrap_or(delta);
            reply::double(c.out, score);
        }
    }
}

/// `ZREM key member…`.
fn zrem(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (key, members) = (&args[1], &args[2..]);
    let removed = collection::edit(c.store, key, Absent::Skip, 0, |z: &mut ZSet| {
        let n = members.iter().filter(|m| z.remove(m).is_some()).count();
        Ok((n > 0, n))
    });
    match removed {
        Err(refused) => refused.reply(c.out),
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                removed_events(c, key, "zrem");
            }
            reply::int(c.out, n as i64);
        }
    }
}

/// `event` on `key`, then `del` if the sorted set is gone.
pub(super) fn removed_events(c: &mut Ctx<'_>, key: &[u8], event: &'static str) {
    c.notify(ZSET, event, key);
    if !c.store.contains_key(key) {
        c.notify(GENERIC, "del", key);
    }
}

/// Runs `read` on the sorted set at `key`, answering `WRONGTYPE` or
/// `absent`.
fn read_zset(
    c: &mut Ctx<'_>,
    key: &[u8],
    absent: impl FnOnce(&mut BytesMut),
    read: impl FnOnce(&ZSet, &mut BytesMut),
) {
    if let Some(None) = collection::read_or_reply(c.store, key, c.out, read) {
        absent(c.out);
    }
}

/// `ZCARD key`.
fn zcard(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    read_zset(
        c,
        &args[1],
        |o| reply::int(o, 0),
        |z, o| reply::int(o, z.len() as i64),
    );
}

/// `ZSCORE key member` and `ZMSCORE key member…`.
fn zscore(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let many = lower(&args[0]) == "zmscore";
    let members = &args[2..];
    let answer = |out: &mut BytesMut, score: &dyn Fn(&[u8]) -> Option<f64>| {
        if many {
            reply::array(out, members.len());
        }
        for m in members {
            match score(m) {
                Some(s) => reply::double(out, s),
                None => reply::nil(out),
            }
        }
    };
    read_zset(
        c,
        &args[1],
        |o| answer(o, &|_| None),
        |z, o| answer(o, &|m| z.score(m)),
    );
}

/// `ZRANK` and `ZREVRANK key member [WITHSCORE]` (WITHSCORE: Redis 7.2).
fn zrank(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let rev = lower(&args[0]) == "zrevrank";
    let with_score = match args.get(3) {
        None => false,
        Some(a) if args.len() == 4 && lower(a) == "withscore" => true,
        Some(_) => return syntax_error(c.out),
    };
    let member = &args[2];
    let absent = |o: &mut BytesMut| {
        if with_score {
            reply::nil_array(o)
        } else {
            reply::nil(o)
        }
    };
    read_zset(c, &args[1], absent, |z, o| {
        match (z.rank(member), z.score(member)) {
            (Some(r), Some(score)) => {
                let rank = (if rev { z.len() - 1 - r } else { r }) as i64;
                if with_score {
                    reply::array(o, 2);
                    reply::int(o, rank);
                    reply::double(o, score);
                } else {
                    reply::int(o, rank);
                }
            }
            _ => absent(o),
        }
    });
}

/// A member and its score, owned.
pub(super) type Entry = (Vec<u8>, f64);

/// Pops up to `count` members from the low (`min`) or high end of the
/// sorted set at `key`, raising the events: `Ok(None)` if absent.
pub(super) fn pop_from(
    c: &mut Ctx<'_>,
    key: &[u8],
    min: bool,
    count: usize,
) -> Result<Option<Vec<Entry>>, Refused> {
    let popped = collection::edit(c.store, key, Absent::Skip, 0, |z: &mut ZSet| {
        let n = count.min(z.len());
        let (start, end) = if min { (0, n) } else { (z.len() - n, z.len()) };
        let mut gone: Vec<(Vec<u8>, f64)> = z
            .drain(start, end)
            .into_iter()
            .map(|e| (e.member.to_vec(), e.score))
            .collect();
        if !min {
            gone.reverse();
        }
        Ok((!gone.is_empty(), gone))
    })?;
    if popped.as_ref().is_some_and(|p| !p.is_empty()) {
        removed_events(c, key, if min { "zpopmin" } else { "zpopmax" });
    }
    Ok(popped)
}

/// `ZPOPMIN`/`ZPOPMAX key [count]`.
fn zpop(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let min = lower(&args[0]) == "zpopmin";
    if args.len() > 3 {
        return syntax_error(c.out);
    }
    let count = match args.get(2).map(|a| parse_i64(a)) {
        None => None,
        Some(Some(n)) if n >= 0 => Some(n as usize),
        Some(Some(_)) => return reply::error(c.out, "ERR value is out of range, must be positive"),
        Some(None) => return not_integer(c.out),
    };
    match pop_from(c, &args[1], min, count.unwrap_or(1)) {
        Err(refused) => refused.reply(c.out),
        Ok(popped) => {
            let popped = popped.unwrap_or_default();
            let entries = popped.iter().map(|(m, s)| (m.as_slice(), *s));
            if count.is_none() {
                // One member: a flat [member, score], in RESP3 too.
                reply::array(c.out, popped.len() * 2);
                for (m, s) in entries {
                    reply::bulk(c.out, m);
                    reply::double(c.out, s);
                }
            } else {
                zrange::reply_entries(c.out, entries, true);
            }
        }
    }
}

/// `ZMPOP numkeys key… MIN|MAX [COUNT count]`.
fn zmpop(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(mp) = MultiPop::parse(&args[1..], c.out) else {
        return;
    };
    if !mpop_from(c, &mp) {
        reply::nil_array(c.out);
    }
}

/// `…ZMPOP`'s keys, end and count.
pub(super) struct MultiPop {
    pub(super) keys: Vec<Vec<u8>>,
    pub(super) min: bool,
    pub(super) count: usize,
}

impl MultiPop {
    /// Parses `numkeys key… MIN|MAX [COUNT count]`; `None` once the error
    /// was written.
    pub(super) fn parse(args: &[Vec<u8>], out: &mut BytesMut) -> Option<Self> {
        let (keys, min, count) = collection::parse_multi_pop(args, out, ("min", "max"))?;
        Some(MultiPop { keys, min, count })
    }
}

/// Pops from the first non-empty sorted set and answers `[key, [[member,
/// score]…]]`; whether it answered (a pop or an error).
pub(super) fn mpop_from(c: &mut Ctx<'_>, mp: &MultiPop) -> bool {
    for key in &mp.keys {
        match pop_from(c, key, mp.min, mp.count) {
            Err(refused) => {
                refused.reply(c.out);
                return true;
            }
            Ok(None) => continue,
            Ok(Some(popped)) => {
                reply::array(c.out, 2);
                reply::bulk(c.out, key);
                reply::array(c.out, popped.len());
                for (m, s) in &popped {
                    reply::array(c.out, 2);
                    reply::bulk(c.out, m);
                    reply::double(c.out, *s);
                }
                return true;
            }
        }
    }
    false
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`.
fn zrandmember(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    if args.len() > 4 {
        return syntax_error(c.out);
    }
    let with_scores = match args.get(3) {
        None => false,
        Some(a) if lower(a) == "withscores" => true,
        Some(_) => return syntax_error(c.out),
    };
    let Some(count) = args.get(2) else {
        return read_zset(c, &args[1], reply::nil, |z, o| {
            let (m, _) = z
                .at(random_below(z.len() as u64) as usize)
                .expect("below len");
            reply::bulk(o, m);
        });
    };
    let Some(count) = parse_i64(count) else {
        return not_integer(c.out);
    };
    let magnitude = count.unsigned_abs();
    if count == i64::MIN || (count < 0 && magnitude > RANDOM_MAX) {
        return reply::error(c.out, "ERR value is out of range");
    }
    read_zset(
        c,
        &args[1],
        |o| reply::array(o, 0),
        |z, o| {
            let picks: Vec<usize> = if count >= 0 {
                distinct_indices(z.len(), magnitude as usize)
            } else {
                (0..magnitude)
                    .map(|_| random_below(z.len() as u64) as usize)
                    .collect()
            };
            let entries = picks.iter().map(|&at| z.at(at).expect("below len"));
            zrange::reply_entries(o, entries, with_scores);
        },
    );
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`.
fn zscan(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(scan) = ScanArgs::parse(args, c.out) else {
        return;
    };
    read_zset(c, &args[1], ScanArgs::empty, |z, out| {
        let (positions, next) = scan.positions(z.len());
        // A small set whole, in order, as Redis's listpack answers.
        let hits: Vec<(&[u8], f64)> = if next == 0 && positions.len() == z.len() {
            z.order()
                .iter()
                .map(|e| (&*e.member, e.score))
                .filter(|(m, _)| scan.matches(m))
                .collect()
        } else {
            positions
                .filter_map(|at| z.at(at))
                .filter(|(m, _)| scan.matches(m))
                .collect()
        };
        scan.header(out, next);
        reply::array(out, hits.len() * 2);
        for (m, s) in hits {
            reply::bulk(out, m);
            reply::bulk(out, reply::g17(s).as_bytes());
        }
    });
}
