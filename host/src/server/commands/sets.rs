//! Set commands: members added, removed and tested in O(1), random draws,
//! `SSCAN` by position, and the algebra (`SINTER`, `SUNION`, `SDIFF` and
//! their `…STORE` forms), which reads every key it names and writes its
//! destination as one atomic step ([`Store::atomically`]).

use bytes::BytesMut;
use goldylox::Update;

use super::collection::{self, Absent, Refused, growth_of};
use super::hashes::ScanArgs;
use super::sample::{distinct_indices, random_below};
use super::table::{F, MOVABLE, ONE, R, REPORTED_WRITE as W, Spec, spec};
use super::{Ctx, Value, lower, not_integer, parse_i64, syntax_error};
use crate::server::keyspace::events::{GENERIC, SET};
use crate::server::resp::reply;
use crate::server::value::{MEMBER_OVERHEAD, Set};

use super::table::DENY_OOM as OOM;

/// The most members `SRANDMEMBER` draws with repetition in one reply.
const RANDOM_MAX: u64 = 1 << 24;

/// The set commands.
pub(super) static SPECS: &[Spec] = &[
    spec("sadd", -3, W | OOM | F, ONE, sadd),
    spec("scard", 2, R | F, ONE, scard),
    spec("sdiff", -2, R, (1, -1, 1), algebra),
    spec("sdiffstore", -3, W | OOM, (1, -1, 1), algebra),
    spec("sinter", -2, R, (1, -1, 1), algebra),
    spec("sintercard", -3, R | MOVABLE, (0, 0, 0), sintercard),
    spec("sinterstore", -3, W | OOM, (1, -1, 1), algebra),
    spec("sismember", 3, R | F, ONE, sismember),
    spec("smembers", 2, R, ONE, algebra),
    spec("smismember", -3, R | F, ONE, sismember),
    spec("smove", 4, W | F, (1, 2, 1), smove),
    spec("spop", -2, W | F, ONE, spop),
    spec("srandmember", -2, R, ONE, srandmember),
    spec("srem", -3, W | F, ONE, srem),
    spec("sscan", -3, R, ONE, sscan),
    spec("sunion", -2, R, (1, -1, 1), algebra),
    spec("sunionstore", -3, W | OOM, (1, -1, 1), algebra),
];

/// `SADD key member…`: how many were new.
fn sadd(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (key, members) = args[1..].split_first_mut().expect("arity checked");
    let growth = growth_of(members, MEMBER_OVERHEAD);
    let added = collection::edit(c.store, key, Absent::Create, growth, |set: &mut Set| {
        let mut added = 0;
        for m in members.iter_mut() {
            added += usize::from(set.insert(std::mem::take(m)));
        }
        Ok((added > 0, added))
    });
    match added {
        Ok(Some(n)) => {
            if n > 0 {
                c.notify(SET, "sadd", key);
            }
            reply::int(c.out, n as i64);
        }
        Ok(None) => reply::int(c.out, 0),
        Err(refused) => refused.reply(c.out),
    }
}

/// `SREM key member…`: how many were there.
fn srem(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (key, members) = (&args[1], &args[2..]);
    let removed = collection::edit(c.store, key, Absent::Skip, 0, |set: &mut Set| {
        let removed = members.iter().filter(|m| set.remove(m)).count();
        Ok((removed > 0, removed))
    });
    match removed {
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                removed_events(c, key, "srem");
            }
            reply::int(c.out, n as i64);
        }
        Err(refused) => refused.reply(c.out),
    }
}

/// `event` on `key`, then `del` if the set is gone.
fn removed_events(c: &mut Ctx<'_>, key: &[u8], event: &'static str) {
    c.notify(SET, event, key);
    if !c.store.contains_key(key) {
        c.notify(GENERIC, "del", key);
    }
}

/// Runs `read` on the set at `key`, answering `WRONGTYPE` or `absent`.
fn read_set(
    c: &mut Ctx<'_>,
    key: &[u8],
    absent: impl FnOnce(&mut BytesMut),
    read: impl FnOnce(&Set, &mut BytesMut),
) {
    if let Some(None) = collection::read_or_reply(c.store, key, c.out, read) {
        absent(c.out);
    }
}

/// `SCARD key`.
fn scard(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    read_set(
        c,
        &args[1],
        |o| reply::int(o, 0),
        |s, o| reply::int(o, s.len() as i64),
    );
}

/// `SISMEMBER key member` and `SMISMEMBER key member…`.
fn sismember(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let many = lower(&args[0]) == "smismember";
    let members = &args[2..];
    let answer = |out: &mut BytesMut, is: &dyn Fn(&[u8]) -> bool| {
        if many {
            reply::array(out, members.len());
        }
        for m in members {
            reply::int(out, i64::from(is(m)));
        }
    };
    read_set(
        c,
        &args[1],
        |o| answer(o, &|_| false),
        |s, o| answer(o, &|m| s.contains(m)),
    );
}

/// `SRANDMEMBER key [count]`: a positive count draws distinct members, a
/// negative one with repetition.
fn srandmember(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    if args.len() > 3 {
        return syntax_error(c.out);
    }
    let Some(count) = args.get(2) else {
        return read_set(c, &args[1], reply::nil, |s, o| {
            let at = random_below(s.len() as u64) as usize;
            reply::bulk(o, &s[at]);
        });
    };
    let Some(count) = parse_i64(count) else {
        return not_integer(c.out);
    };
    if count == i64::MIN || (count < 0 && count.unsigned_abs() > RANDOM_MAX) {
        return reply::error(c.out, "ERR value is out of range");
    }
    read_set(
        c,
        &args[1],
        |o| reply::array(o, 0),
        |s, o| {
            let picks: Vec<usize> = if count >= 0 {
                distinct_indices(s.len(), count as usize)
            } else {
                (0..count.unsigned_abs())
                    .map(|_| random_below(s.len() as u64) as usize)
                    .collect()
            };
            reply::array(o, picks.len());
            picks.iter().for_each(|&at| reply::bulk(o, &s[at]));
        },
    );
}

/// `SPOP key [count]`.
fn spop(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    if args.len() > 3 {
        return syntax_error(c.out);
    }
    let count = match args.get(2).map(|a| parse_i64(a)) {
        None => None,
        Some(Some(n)) if n >= 0 => Some(n as usize),
        Some(_) => return reply::error(c.out, "ERR value is out of range, must be positive"),
    };
    let key = &args[1];
    let want = count.unwrap_or(1);
    let popped = collection::edit(c.store, key, Absent::Skip, 0, |set: &mut Set| {
        let mut taken = Vec::with_capacity(want.min(set.len()));
        while taken.len() < want && !set.is_empty() {
            let at = random_below(set.len() as u64) as usize;
            taken.extend(set.take_at(at));
        }
        Ok((!taken.is_empty(), taken))
    });
    let popped = match popped {
        Ok(p) => p,
        Err(refused) => return refused.reply(c.out),
    };
    if popped.as_ref().is_some_and(|p| !p.is_empty()) {
        removed_events(c, key, "spop");
    }
    match (popped, count) {
        (None, None) => reply::nil(c.out),
        (popped, None) => reply::bulk(c.out, &popped.expect("present")[0]),
        (popped, Some(_)) => {
            let popped = popped.unwrap_or_default();
            reply::set(c.out, popped.len());
            popped.iter().for_each(|m| reply::bulk(c.out, m));
        }
    }
}

/// `SMOVE source destination member`.
fn smove(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (from, to, member) = (args[1].clone(), args[2].clone(), args[3].clone());
    let moved = c.store.atomically(&[&from, &to], |batch| {
        let kind = |v: Option<&mut Value>| match v {
            None => Ok(None),
            Some(Value::Set(s)) => Ok(Some(s.contains(&member))),
            Some(_) => Err(Refused::WrongType),
        };
        let source = batch
            .update(from.clone(), |v| (Update::Unchanged, kind(v)))
            .map_err(Refused::Store)??;
        // A missing source answers 0 whatever the destination holds.
        if source.is_none() {
            return Ok(None);
        }
        let target = batch
            .update(to.clone(), |v| (Update::Unchanged, kind(v)))
            .map_err(Refused::Store)??;
        if source != Some(true) {
            return Ok(None);
        }
        if from == to {
            return Ok(Some((false, false)));
        }
        batch
            .update(from.clone(), |v| match v {
                Some(Value::Set(s)) => {
                    s.remove(&member);
                    let what = if s.is_empty() {
                        Update::Remove
                    } else {
                        Update::Changed
                    };
                    (what, ())
                }
                _ => (Update::Unchanged, ()),
            })
            .map_err(Refused::Store)?;
        let added = target != Some(true);
        batch
            .update(to.clone(), |v| match v {
                Some(Value::Set(s)) => {
                    s.insert(member.clone());
                    (Update::Changed, ())
                }
                _ => (
                    Update::Insert(Value::Set(Box::new([member.clone()].into_iter().collect()))),
                    (),
                ),
            })
            .map_err(Refused::Store)?;
        Ok::<_, Refused>(Some((true, added)))
    });
    match moved {
        Err(refused) => refused.reply(c.out),
        Ok(None) => reply::int(c.out, 0),
        Ok(Some((changed, added))) => {
            if changed {
                removed_events(c, &from, "srem");
                if added {
                    c.notify(SET, "sadd", &to);
                }
            }
            reply::int(c.out, 1);
        }
    }
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`.
fn sscan(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(scan) = ScanArgs::parse(args, c.out) else {
        return;
    };
    read_set(c, &args[1], ScanArgs::empty, |s, out| {
        let (positions, next) = scan.positions(s.len());
        let hits: Vec<&Vec<u8>> = positions
            .filter_map(|at| s.get_index(at))
            .filter(|m| scan.matches(m))
            .collect();
        scan.header(out, next);
        reply::array(out, hits.len());
        hits.iter().for_each(|m| reply::bulk(out, m));
    });
}

/// Which algebra a command computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// `SMEMBERS`, `SINTER`, `SUNION`, `SDIFF` and their `…STORE` forms
/// (destination first).
fn algebra(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let op = match &name[..2] {
        "sd" => Op::Diff,
        "su" => Op::Union,
        _ => Op::Inter,
    };
    let store = name.ends_with("store");
    let (dest, sources) = if store {
        (Some(args[1].clone()), &args[2..])
    } else {
        (None, &args[1..])
    };
    let mut locked: Vec<&Vec<u8>> = sources.iter().collect();
    locked.extend(dest.as_ref());
    let result = c.store.atomically(&locked, |batch| {
        let members = combine(batch, sources, op)?;
        if let Some(dest) = &dest {
            let n = members.len();
            let value = (n > 0).then(|| Value::Set(Box::new(members.into_iter().collect())));
            let existed = batch
                .update(dest.clone(), |v| {
                    let existed = v.is_some();
                    (value.map_or(Update::Remove, Update::Replace), existed)
                })
                .map_err(Refused::Store)?;
            return Ok(Stored::Count(n, existed));
        }
        Ok::<_, Refused>(Stored::Members(members))
    });
    match result {
        Err(refused) => refused.reply(c.out),
        Ok(Stored::Members(members)) => {
            reply::set(c.out, members.len());
            members.iter().for_each(|m| reply::bulk(c.out, m));
        }
        Ok(Stored::Count(n, existed)) => {
            let dest = dest.expect("a …STORE command");
            if n > 0 {
                c.notify(SET, store_event(&name), &dest);
            } else if existed {
                c.notify(GENERIC, "del", &dest);
            }
            reply::int(c.out, n as i64);
        }
    }
}

/// What an algebra command has to answer.
enum Stored {
    Members(Vec<Vec<u8>>),
    Count(usize, bool),
}

/// The event a `…STORE` command raises on its destination: its name.
fn store_event(name: &str) -> &'static str {
    match name {
        "sinterstore" => "sinterstore",
        "sunionstore" => "sunionstore",
        _ => "sdiffstore",
    }
}

/// The members of `op` over the sets at `keys`, read under the batch's
/// locks (a missing key is an empty set; another type refuses).
fn combine(
    batch: &mut goldylox::Batch<'_, Vec<u8>, Value>,
    keys: &[Vec<u8>],
    op: Op,
) -> Result<Vec<Vec<u8>>, Refused> {
    let mut sizes = Vec::with_capacity(keys.len());
    for key in keys {
        let size = batch
            .update(key.clone(), |v| {
                let size = match v {
                    None => Ok(0),
                    Some(Value::Set(s)) => Ok(s.len()),
                    Some(_) => Err(Refused::WrongType),
                };
                (Update::Unchanged, size)
            })
            .map_err(Refused::Store)??;
        sizes.push(size);
    }
    // Intersect from the smallest set; the others filter it.
    let first = match op {
        Op::Inter => (0..keys.len()).min_by_key(|&i| sizes[i]).unwrap_or(0),
        Op::Union | Op::Diff => 0,
    };
    let mut acc: indexmap::IndexSet<Vec<u8>> = members_of(batch, &keys[first])?;
    for (i, key) in keys.iter().enumerate() {
        if i == first || (op == Op::Inter && acc.is_empty()) {
            continue;
        }
        batch
            .update(key.clone(), |v| {
                let empty = Set::default();
                let set = match v {
                    Some(Value::Set(s)) => &*s,
                    _ => &empty,
                };
                match op {
                    Op::Inter => acc.retain(|m| set.contains(m)),
                    Op::Diff => acc.retain(|m| !set.contains(m)),
                    Op::Union => acc.extend(set.iter().cloned()),
                }
                (Update::Unchanged, ())
            })
            .map_err(Refused::Store)?;
    }
    Ok(acc.into_iter().collect())
}

/// A copy of the members of the set at `key` (none if absent).
fn members_of(
    batch: &mut goldylox::Batch<'_, Vec<u8>, Value>,
    key: &[u8],
) -> Result<indexmap::IndexSet<Vec<u8>>, Refused> {
    batch
        .update(key.to_vec(), |v| {
            let members = match v {
                Some(Value::Set(s)) => s.iter().cloned().collect(),
                _ => indexmap::IndexSet::new(),
            };
            (Update::Unchanged, members)
        })
        .map_err(Refused::Store)
}

/// `SINTERCARD numkeys key… [LIMIT limit]`: the intersection's size,
/// counting stopped at `limit` (0: no limit).
fn sintercard(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some((keys, limit)) = card_args("sintercard", &args[1..], c.out) else {
        return;
    };
    let counted = c
        .store
        .atomically(&keys.iter().collect::<Vec<_>>(), |batch| {
            combine(batch, &keys, Op::Inter).map(|m| m.len())
        });
    match counted {
        Ok(n) => reply::int(c.out, (if limit > 0 { n.min(limit) } else { n }) as i64),
        Err(refused) => refused.reply(c.out),
    }
}

/// Parses `numkeys key… [LIMIT limit]` (`SINTERCARD`, `ZINTERCARD`:
/// `name`, whose error for no keys differs).
pub(super) fn card_args(
    name: &str,
    args: &[Vec<u8>],
    out: &mut BytesMut,
) -> Option<(Vec<Vec<u8>>, usize)> {
    let numkeys = match parse_i64(&args[0]) {
        Some(n) if n > 0 => n as usize,
        Some(_) if name == "zintercard" => {
            reply::error(
                out,
                "ERR at least 1 input key is needed for 'zintercard' command",
            );
            return None;
        }
        Some(_) => {
            reply::error(out, "ERR numkeys should be greater than 0");
            return None;
        }
        None if name == "zintercard" => {
            not_integer(out);
            return None;
        }
        None => {
            reply::error(out, "ERR numkeys should be greater than 0");
            return None;
        }
    };
    if args.len() < 1 + numkeys {
        reply::error(
            out,
            "ERR Number of keys can't be greater than number of args",
        );
        return None;
    }
    let keys = args[1..=numkeys].to_vec();
    let limit = match &args[1 + numkeys..] {
        [] => 0,
        [word, n] if lower(word) == "limit" => match parse_i64(n) {
            Some(n) if n >= 0 => n as usize,
            _ => {
                reply::error(out, "ERR LIMIT can't be negative");
                return None;
            }
        },
        _ => {
            syntax_error(out);
            return None;
        }
    };
    Some((keys, limit))
}
