//! List commands: pushes and pops at both ends in O(1), positions,
//! ranges, `LMOVE` between two lists as one atomic step, and the blocking
//! pops ([`super::blocking`]). Each edits the list in place
//! ([`collection::edit`]) and raises Redis's keyspace events.

use bytes::BytesMut;

use super::collection::{self, Absent, Refused, growth_of};
use super::table::{F, MOVABLE, ONE, R, REPORTED_WRITE as W, Spec, spec};
use super::{Ctx, lower, not_integer, parse_i64, syntax_error};
use crate::server::keyspace::events::{GENERIC, LIST};
use crate::server::resp::reply;
use crate::server::value::{ELEMENT_OVERHEAD, List};

use super::table::DENY_OOM as OOM;

/// The list commands.
pub(super) static SPECS: &[Spec] = &[
    spec("lindex", 3, R, ONE, lindex),
    spec("linsert", 5, W | OOM, ONE, linsert),
    spec("llen", 2, R | F, ONE, llen),
    spec("lmove", 5, W | OOM, (1, 2, 1), lmove),
    spec("lmpop", -4, W | MOVABLE, (0, 0, 0), lmpop),
    spec("lpop", -2, W | F, ONE, pop),
    spec("lpos", -3, R, ONE, lpos),
    spec("lpush", -3, W | OOM | F, ONE, push),
    spec("lpushx", -3, W | OOM | F, ONE, push),
    spec("lrange", 4, R, ONE, lrange),
    spec("lrem", 4, W, ONE, lrem),
    spec("lset", 4, W | OOM, ONE, lset),
    spec("ltrim", 4, W, ONE, ltrim),
    spec("rpop", -2, W | F, ONE, pop),
    spec("rpoplpush", 3, W | OOM, (1, 2, 1), lmove),
    spec("rpush", -3, W | OOM | F, ONE, push),
    spec("rpushx", -3, W | OOM | F, ONE, push),
];

/// Runs `edit` on the list at `key`; `Some(answer)` (`None` inside for an
/// absent key that `absent` skips), or `None` once an error was written.
fn edit_list<R>(
    c: &mut Ctx<'_>,
    key: &[u8],
    absent: Absent,
    growth: usize,
    edit: impl FnOnce(&mut List) -> Result<(bool, R), Refused>,
) -> Option<Option<R>> {
    match collection::edit(c.store, key, absent, growth, edit) {
        Ok(answer) => Some(answer),
        Err(refused) => {
            refused.reply(c.out);
            None
        }
    }
}

/// A list index as Redis parses one: `None` if it is not an integer.
fn index_arg(arg: &[u8]) -> Option<i64> {
    parse_i64(arg)
}

/// `index` (negative: from the tail) as a position in a list of `len`.
fn position(index: i64, len: usize) -> Option<usize> {
    let at = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&at).then_some(at as usize)
}

/// `[start, stop]` (inclusive, negative from the tail) clamped to a list
/// of `len`: the range, empty if they cross.
pub(super) fn clamp_range(start: i64, stop: i64, len: usize) -> std::ops::Range<usize> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return 0..0;
    }
    start as usize..stop as usize + 1
}

/// `LPUSH`/`RPUSH key element…` (the new length) and the `…X` forms,
/// which push only onto an existing list.
fn push(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let left = name.starts_with('l');
    let absent = if name.ends_with('x') {
        Absent::Skip
    } else {
        Absent::Create
    };
    let (key, items) = args[1..].split_first_mut().expect("arity checked");
    let growth = growth_of(items, ELEMENT_OVERHEAD);
    let pushed = edit_list(c, key, absent, growth, |list| {
        for item in items.iter_mut() {
            list.push(std::mem::take(item), left);
        }
        Ok((true, list.len()))
    });
    match pushed {
        Some(Some(len)) => {
            c.notify(LIST, if left { "lpush" } else { "rpush" }, key);
            reply::int(c.out, len as i64);
        }
        Some(None) => reply::int(c.out, 0),
        None => {}
    }
}

/// `LPOP`/`RPOP key [count]`.
fn pop(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let left = name.starts_with('l');
    if args.len() > 3 {
        return super::arity_error(c.out, &name);
    }
    let count = match args.get(2).map(|a| parse_i64(a)) {
        None => None,
        Some(Some(n)) if n >= 0 => Some(n as usize),
        Some(_) => {
            return reply::error(c.out, "ERR value is out of range, must be positive");
        }
    };
    let key = &args[1];
    let want = count.unwrap_or(1);
    let popped = edit_list(c, key, Absent::Skip, 0, |list| {
        let taken: Vec<Vec<u8>> = (0..want).map_while(|_| list.pop(left)).collect();
        Ok((!taken.is_empty(), taken))
    });
    let Some(popped) = popped else { return };
    match (popped, count) {
        (None, None) => reply::nil(c.out),
        (None, Some(_)) => reply::nil_array(c.out),
        (Some(items), count) => {
            if !items.is_empty() {
                popped_events(c, key, left);
            }
            if count.is_none() {
                reply::bulk(c.out, &items[0]);
            } else {
                reply::array(c.out, items.len());
                items.iter().for_each(|i| reply::bulk(c.out, i));
            }
        }
    }
}

/// The events of a pop from `key`: `lpop`/`rpop`, then `del` if the list
/// is gone.
pub(super) fn popped_events(c: &mut Ctx<'_>, key: &[u8], left: bool) {
    c.notify(LIST, if left { "lpop" } else { "rpop" }, key);
    if !c.store.contains_key(key) {
        c.notify(GENERIC, "del", key);
    }
}

/// Runs `read` on the list at `key`, answering `WRONGTYPE` or `absent`
/// itself.
fn read_list(
    c: &mut Ctx<'_>,
    key: &[u8],
    absent: impl FnOnce(&mut BytesMut),
    read: impl FnOnce(&List, &mut BytesMut),
) {
    if let Some(None) = collection::read_or_reply(c.store, key, c.out, read) {
        absent(c.out);
    }
}

/// `LLEN key`.
fn llen(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    read_list(
        c,
        &args[1],
        |out| reply::int(out, 0),
        |l, out| reply::int(out, l.len() as i64),
    );
}

/// `LINDEX key index`.
fn lindex(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(index) = index_arg(&args[2]) else {
        return not_integer(c.out);
    };
    read_list(c, &args[1], reply::nil, |l, out| {
        match position(index, l.len()) {
            Some(at) => reply::bulk(out, &l[at]),
            None => reply::nil(out),
        }
    });
}

/// `LRANGE key start stop`.
fn lrange(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (Some(start), Some(stop)) = (index_arg(&args[2]), index_arg(&args[3])) else {
        return not_integer(c.out);
    };
    read_list(
        c,
        &args[1],
        |out| reply::array(out, 0),
        |l, out| {
            let range = clamp_range(start, stop, l.len());
            reply::array(out, range.len());
            l.range(range).for_each(|item| reply::bulk(out, item));
        },
    );
}

/// `LSET key index element`.
fn lset(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(index) = index_arg(&args[2]) else {
        return not_integer(c.out);
    };
    let item = std::mem::take(&mut args[3]);
    let growth = item.len() + ELEMENT_OVERHEAD;
    let key = &args[1];
    let set = edit_list(c, key, Absent::Skip, growth, |list| {
        let at = position(index, list.len()).ok_or("ERR index out of range")?;
        list.set(at, item);
        Ok((true, ()))
    });
    match set {
        Some(Some(())) => {
            c.notify(LIST, "lset", key);
            reply::ok(c.out);
        }
        Some(None) => reply::error(c.out, "ERR no such key"),
        None => {}
    }
}

/// `LINSERT key BEFORE|AFTER pivot element`: the new length, -1 without
/// the pivot, 0 without the key.
fn linsert(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let after = match lower(&args[2]).as_str() {
        "after" => true,
        "before" => false,
        _ => return syntax_error(c.out),
    };
    let item = std::mem::take(&mut args[4]);
    let growth = item.len() + ELEMENT_OVERHEAD;
    let (key, pivot) = (&args[1], &args[3]);
    let inserted = edit_list(c, key, Absent::Skip, growth, |list| {
        let Some(at) = list.iter().position(|x| x == pivot) else {
            return Ok((false, -1));
        };
        list.insert(at + usize::from(after), item);
        Ok((true, list.len() as i64))
    });
    match inserted {
        Some(Some(n)) => {
            if n > 0 {
                c.notify(LIST, "linsert", key);
            }
            reply::int(c.out, n);
        }
        Some(None) => reply::int(c.out, 0),
        None => {}
    }
}

/// `LREM key count element`: removes up to |count| (0: all) occurrences,
/// from the head (count > 0) or the tail (count < 0).
fn lrem(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(count) = parse_i64(&args[2]) else {
        return not_integer(c.out);
    };
    let (key, item) = (&args[1], &args[3]);
    let removed = edit_list(c, key, Absent::Skip, 0, |list| {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut doomed: Vec<usize> = Vec::new();
        let matches = |(i, x): (usize, &Vec<u8>)| (x == item).then_some(i);
        if count >= 0 {
            doomed.extend(list.iter().enumerate().filter_map(matches).take(limit));
        } else {
            doomed.extend(
                list.iter()
                    .enumerate()
                    .rev()
                    .filter_map(matches)
                    .take(limit),
            );
        }
        doomed.sort_unstable();
        let mut next = doomed.iter().peekable();
        let mut at = 0;
        list.retain(|_| {
            let gone = next.peek() == Some(&&at);
            if gone {
                next.next();
            }
            at += 1;
            !gone
        });
        Ok((!doomed.is_empty(), doomed.len()))
    });
    match removed {
        Some(Some(n)) => {
            if n > 0 {
                c.notify(LIST, "lrem", key);
                if !c.store.contains_key(key) {
                    c.notify(GENERIC, "del", key);
                }
            }
            reply::int(c.out, n as i64);
        }
        Some(None) => reply::int(c.out, 0),
        None => {}
    }
}

/// `LTRIM key start stop`.
fn ltrim(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (Some(start), Some(stop)) = (index_arg(&args[2]), index_arg(&args[3])) else {
        return not_integer(c.out);
    };
    let key = &args[1];
    let trimmed = edit_list(c, key, Absent::Skip, 0, |list| {
        let range = clamp_range(start, stop, list.len());
        let changed = range.len() != list.len();
        list.keep(range.start, range.end);
        Ok((changed, ()))
    });
    match trimmed {
        Some(Some(())) => {
            c.notify(LIST, "ltrim", key);
            if !c.store.contains_key(key) {
                c.notify(GENERIC, "del", key);
            }
            reply::ok(c.out);
        }
        Some(None) => reply::ok(c.out),
        None => {}
    }
}

/// `LPOS key element [RANK rank] [COUNT num] [MAXLEN len]`.
fn lpos(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<usize>, 0usize);
    let mut i = 3;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return syntax_error(c.out);
        };
        let Some(n) = parse_i64(value) else {
            return not_integer(c.out);
        };
        match lower(&args[i]).as_str() {
            "rank" if n == 0 || n == i64::MIN => {
                return reply::error(
                    c.out,
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                );
            }
            "rank" => rank = n,
            "count" if n < 0 => {
                return reply::error(c.out, "ERR COUNT can't be negative");
            }
            "count" => count = Some(n as usize),
            "maxlen" if n < 0 => {
                return reply::error(c.out, "ERR MAXLEN can't be negative");
            }
            "maxlen" => maxlen = n as usize,
            _ => return syntax_error(c.out),
        }
        i += 2;
    }
    let item = &args[2];
    let absent = |out: &mut BytesMut| match count {
        Some(_) => reply::array(out, 0),
        None => reply::nil(out),
    };
    read_list(c, &args[1], absent, |l, out| {
        let scan = if maxlen == 0 {
            l.len()
        } else {
            maxlen.min(l.len())
        };
        let skip = rank.unsigned_abs() as usize - 1;
        let want = match count {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => 1,
        };
        let found: Vec<usize> = if rank > 0 {
            (0..scan)
                .filter(|&i| l[i] == *item)
                .skip(skip)
                .take(want)
                .collect()
        } else {
            (0..scan)
                .map(|k| l.len() - 1 - k)
                .filter(|&i| l[i] == *item)
                .skip(skip)
                .take(want)
                .collect()
        };
        match count {
            None => match found.first() {
                Some(&at) => reply::int(out, at as i64),
                None => reply::nil(out),
            },
            Some(_) => {
                reply::array(out, found.len());
                found.iter().for_each(|&at| reply::int(out, at as i64));
            }
        }
    });
}

/// `LEFT` or `RIGHT`: whether left.
pub(super) fn side(arg: &[u8]) -> Option<bool> {
    match lower(arg).as_str() {
        "left" => Some(true),
        "right" => Some(false),
        _ => None,
    }
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT` and `RPOPLPUSH
/// source destination`.
fn lmove(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (from_left, to_left) = if args.len() == 3 {
        (false, true)
    } else {
        match (side(&args[3]), side(&args[4])) {
            (Some(a), Some(b)) => (a, b),
            _ => return syntax_error(c.out),
        }
    };
    match move_one(c, &args[1], &args[2], from_left, to_left) {
        Ok(Some(item)) => reply::bulk(c.out, &item),
        Ok(None) => reply::nil(c.out),
        Err(refused) => refused.reply(c.out),
    }
}

/// Moves one element from the head or tail of `from` to that of `to`, as
/// one atomic step (both keys locked together), raising the events:
/// `Ok(None)` if `from` is empty. `to` holding another type refuses before
/// anything moves.
pub(super) fn move_one(
    c: &mut Ctx<'_>,
    from: &[u8],
    to: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<Option<Vec<u8>>, Refused> {
    let (from_key, to_key) = (from.to_vec(), to.to_vec());
    let capacity = usize::try_from(c.store.max_capacity()).unwrap_or(usize::MAX);
    let moved = c.store.atomically(&[&from_key, &to_key], |batch| {
        moved_in(batch, &from_key, &to_key, from_left, to_left, capacity)
    })?;
    let Some(item) = moved else {
        return Ok(None);
    };
    // The push's event first, then the pop's, as Redis raises them.
    c.notify(LIST, if to_left { "lpush" } else { "rpush" }, to);
    popped_events(c, from, from_left);
    Ok(Some(item))
}

/// [`move_one`]'s step under the keys' locks: the element moved.
fn moved_in(
    batch: &mut goldylox::Batch<'_, Vec<u8>, crate::server::value::Value>,
    from: &[u8],
    to: &[u8],
    from_left: bool,
    to_left: bool,
    capacity: usize,
) -> Result<Option<Vec<u8>>, Refused> {
    use crate::server::value::Value;
    use goldylox::Update;
    let check = |v: Option<&mut Value>| match v {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some((l.len(), l.bytes()))),
        Some(_) => Err(Refused::WrongType),
    };
    let source = batch
        .update(from.to_vec(), |v| (Update::Unchanged, check(v)))
        .map_err(Refused::Store)??;
    // The destination's type matters only once there is something to move
    // (a client blocks on an empty source whatever the destination holds).
    let Some(_) = source else { return Ok(None) };
    let target = batch
        .update(to.to_vec(), |v| (Update::Unchanged, check(v)))
        .map_err(Refused::Store)??;
    let item = batch
        .update(from.to_vec(), |v| match v {
            Some(Value::List(l)) => {
                let item = l.pop(from_left);
                let what = if l.is_empty() {
                    Update::Remove
                } else {
                    Update::Changed
                };
                (what, item)
            }
            _ => (Update::Unchanged, None),
        })
        .map_err(Refused::Store)?
        .expect("the source list is not empty");
    if target.is_some_and(|(_, bytes)| to.len() + bytes + item.len() + ELEMENT_OVERHEAD > capacity)
    {
        return Err(Refused::TooLarge);
    }
    let pushed = item.clone();
    batch
        .update(to.to_vec(), |v| match v {
            Some(Value::List(l)) => {
                l.push(pushed, to_left);
                (Update::Changed, ())
            }
            _ => (
                Update::Insert(Value::List(Box::new(std::iter::once(pushed).collect()))),
                (),
            ),
        })
        .map_err(Refused::Store)?;
    Ok(Some(item))
}

/// `LMPOP numkeys key… LEFT|RIGHT [COUNT count]`: pops from the first
/// non-empty list.
fn lmpop(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(parsed) = MultiPop::parse(&args[1..], c.out) else {
        return;
    };
    if !mpop_from(c, &parsed) {
        reply::nil_array(c.out);
    }
}

/// `…MPOP`'s arguments after the timeout: the keys, the side and the count.
pub(super) struct MultiPop {
    /// The keys, in order.
    pub(super) keys: Vec<Vec<u8>>,
    /// Pop from the head.
    pub(super) left: bool,
    /// At most this many.
    pub(super) count: usize,
}

impl MultiPop {
    /// Parses `numkeys key… LEFT|RIGHT [COUNT count]`; `None` once the
    /// error was written.
    pub(super) fn parse(args: &[Vec<u8>], out: &mut BytesMut) -> Option<Self> {
        let (keys, left, count) = collection::parse_multi_pop(args, out, ("left", "right"))?;
        Some(MultiPop { keys, left, count })
    }
}

/// A key and the elements popped from it.
pub(super) type Popped = (Vec<u8>, Vec<Vec<u8>>);

/// Pops up to `count` elements from the first non-empty list of `keys`:
/// the key and the elements, `Ok(None)` if all are empty.
pub(super) fn pop_first(
    c: &mut Ctx<'_>,
    keys: &[Vec<u8>],
    left: bool,
    count: usize,
) -> Result<Option<Popped>, Refused> {
    for key in keys {
        let popped = collection::edit(c.store, key, Absent::Skip, 0, |list: &mut List| {
            let taken: Vec<Vec<u8>> = (0..count).map_while(|_| list.pop(left)).collect();
            Ok((!taken.is_empty(), taken))
        })?;
        if let Some(items) = popped {
            popped_events(c, key, left);
            return Ok(Some((key.clone(), items)));
        }
    }
    Ok(None)
}

/// Pops from the first non-empty list of `mp.keys` and answers `[key,
/// [elements]]`; whether it answered (a pop or an error).
pub(super) fn mpop_from(c: &mut Ctx<'_>, mp: &MultiPop) -> bool {
    match pop_first(c, &mp.keys, mp.left, mp.count) {
        Err(refused) => {
            refused.reply(c.out);
            true
        }
        Ok(None) => false,
        Ok(Some((key, items))) => {
            reply::array(c.out, 2);
            reply::bulk(c.out, &key);
            reply::array(c.out, items.len());
            items.iter().for_each(|i| reply::bulk(c.out, i));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clamp_range;

    #[test]
    fn ranges_clamp_as_redis_does() {
        assert_eq!(clamp_range(0, -1, 5), 0..5);
        assert_eq!(clamp_range(-100, 100, 5), 0..5);
        assert_eq!(clamp_range(2, 1, 5), 0..0);
        assert_eq!(clamp_range(5, 10, 5), 0..0);
        assert_eq!(clamp_range(-2, -1, 5), 3..5);
        assert_eq!(clamp_range(0, -6, 5), 0..0);
        assert_eq!(clamp_range(0, 0, 0), 0..0);
    }
}
