//! Bit operations on strings: `BITCOUNT` and `BITPOS` (by byte or by bit),
//! `BITOP` across keys as one atomic step, and `BITFIELD`/`BITFIELD_RO`
//! (signed and unsigned fields of 1 to 64 bits, with Redis's overflow
//! rules), edited in place. Bit 0 is the most significant bit of byte 0,
//! as in Redis.

use goldylox::Update;

use super::collection::Refused;
use super::table::{F, R, REPORTED_WRITE as W, Spec, spec};
use super::{Ctx, Store, Value, lower, not_integer, parse_i64, syntax_error};
use crate::server::keyspace::events::{GENERIC, STRING};
use crate::server::resp::reply;

use super::table::DENY_OOM as OOM;

/// The bit commands.
pub(super) static SPECS: &[Spec] = &[
    spec("bitcount", -2, R, (1, 1, 1), bitcount),
    spec("bitfield", -2, W | OOM, (1, 1, 1), bitfield),
    spec("bitfield_ro", -2, R | F, (1, 1, 1), bitfield),
    spec("bitop", -4, W | OOM, (2, -1, 1), bitop),
    spec("bitpos", -3, R, (1, 1, 1), bitpos),
];

/// A range argument's unit.
fn unit_is_bit(arg: Option<&Vec<u8>>) -> Result<bool, ()> {
    match arg.map(|a| lower(a)) {
        None => Ok(false),
        Some(u) if u == "byte" => Ok(false),
        Some(u) if u == "bit" => Ok(true),
        Some(_) => Err(()),
    }
}

/// `[start, end]` (inclusive, negative from the end) over `total` units,
/// clamped as Redis clamps: `None` when empty.
fn clamp(start: i64, end: i64, total: i64) -> Option<(i64, i64)> {
    let start = if start < 0 {
        (total + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { (total + end).max(0) } else { end };
    let end = end.min(total - 1);
    (start <= end && total > 0).then_some((start, end))
}

/// Whether bit `i` of `bytes` is set.
fn bit(bytes: &[u8], i: i64) -> bool {
    bytes[(i >> 3) as usize] & (0x80 >> (i & 7)) != 0
}

/// Runs `read` on the string at `key` (`None`: absent), answering
/// `WRONGTYPE` itself; `None` once it did.
fn read_string<R>(c: &mut Ctx<'_>, key: &[u8], read: impl FnOnce(Option<&[u8]>) -> R) -> Option<R> {
    let mut read = Some(read);
    let found = c.store.get_with(key, |v| {
        v.as_str().map(|s| (read.take().expect("once"))(Some(s)))
    });
    match found {
        None => Some((read.take().expect("not run"))(None)),
        Some(Ok(r)) => Some(r),
        Some(Err(_)) => {
            super::wrong_type(c.out);
            None
        }
    }
}

/// `BITCOUNT key [start end [BYTE|BIT]]`.
fn bitcount(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let range = match args.len() {
        2 => None,
        4 | 5 => {
            let (Some(s), Some(e)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
                return not_integer(c.out);
            };
            let Ok(in_bits) = unit_is_bit(args.get(4)) else {
                return syntax_error(c.out);
            };
            Some((s, e, in_bits))
        }
        _ => return syntax_error(c.out),
    };
    let counted = read_string(c, &args[1], |s| {
        let s = s.unwrap_or_default();
        // Both from the end and crossed: nothing, as Redis answers.
        if let Some((a, b, _)) = range
            && a < 0
            && b < 0
            && a > b
        {
            return 0;
        }
        let (start, end, in_bits) = match range {
            None => (0, s.len() as i64 * 8 - 1, true),
            Some((a, b, true)) => match clamp(a, b, s.len() as i64 * 8) {
                Some((a, b)) => (a, b, true),
                None => return 0,
            },
            Some((a, b, false)) => match clamp(a, b, s.len() as i64) {
                Some((a, b)) => (a * 8, b * 8 + 7, true),
                None => return 0,
            },
        };
        debug_assert!(in_bits);
        count_ones(s, start, end)
    });
    if let Some(n) = counted {
        reply::int(c.out, n);
    }
}

/// Set bits from bit `start` to bit `end`, inclusive.
fn count_ones(s: &[u8], start: i64, end: i64) -> i64 {
    if start > end {
        return 0;
    }
    let (first, last) = ((start >> 3) as usize, (end >> 3) as usize);
    let mut n: i64 = s[first..=last]
        .iter()
        .map(|b| i64::from(b.count_ones()))
        .sum();
    // Take off the bits of the first and last bytes outside the range.
    let head = s[first] & !(0xFFu8 >> (start & 7));
    let tail = s[last] & (0xFFu16 >> ((end & 7) + 1)) as u8;
    n -= i64::from(head.count_ones()) + i64::from(tail.count_ones());
    n
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`.
fn bitpos(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let target = match args[2].as_slice() {
        b"0" => false,
        b"1" => true,
        _ => return reply::error(c.out, "ERR The bit argument must be 1 or 0."),
    };
    if args.len() > 6 {
        return syntax_error(c.out);
    }
    let start = match args.get(3).map(|a| parse_i64(a)) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return not_integer(c.out),
    };
    let end = match args.get(4).map(|a| parse_i64(a)) {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => return not_integer(c.out),
    };
    let Ok(in_bits) = unit_is_bit(args.get(5)) else {
        return syntax_error(c.out);
    };
    let found = read_string(c, &args[1], |s| {
        let Some(s) = s else {
            return if target { -1 } else { 0 };
        };
        let total = s.len() as i64 * if in_bits { 8 } else { 1 };
        let Some((a, b)) = clamp(start, end.unwrap_or(-1), total) else {
            return -1;
        };
        let (first, last) = if in_bits { (a, b) } else { (a * 8, b * 8 + 7) };
        match (first..=last).find(|&i| bit(s, i) == target) {
            Some(i) => i,
            // Looking for a clear bit past a run of set ones: the string
            // goes on with zeros, unless the range's end was given.
            None if !target && end.is_none() => (last / 8 + 1) * 8,
            None => -1,
        }
    });
    if let Some(n) = found {
        reply::int(c.out, n);
    }
}

/// `BITOP AND|OR|XOR|NOT destkey key…`: the result's length.
fn bitop(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let op = lower(&args[1]);
    if !matches!(op.as_str(), "and" | "or" | "xor" | "not") {
        return syntax_error(c.out);
    }
    let (dest, sources) = (args[2].clone(), &args[3..]);
    if op == "not" && sources.len() != 1 {
        return reply::error(
            c.out,
            "ERR BITOP NOT must be called with a single source key.",
        );
    }
    let mut locked: Vec<&Vec<u8>> = sources.iter().collect();
    locked.push(&dest);
    let outcome = c.store.atomically(&locked, |batch| {
        let mut inputs: Vec<Vec<u8>> = Vec::with_capacity(sources.len());
        for key in sources {
            let got = batch
                .update(key.clone(), |v| {
                    let r = match v {
                        None => Ok(Vec::new()),
                        Some(Value::Str(s)) => Ok(s.clone()),
                        Some(_) => Err(Refused::WrongType),
                    };
                    (Update::Unchanged, r)
                })
                .map_err(Refused::Store)??;
            inputs.push(got);
        }
        let result = combine(&op, &inputs);
        let n = result.len();
        let value = (n > 0).then_some(Value::Str(result));
        let existed = batch
            .update(dest.clone(), |v| {
                (value.map_or(Update::Remove, Update::Replace), v.is_some())
            })
            .map_err(Refused::Store)?;
        Ok::<_, Refused>((n, existed))
    });
    match outcome {
        Err(refused) => refused.reply(c.out),
        Ok((n, existed)) => {
            if n > 0 {
                c.notify(STRING, "set", &dest);
            } else if existed {
                c.notify(GENERIC, "del", &dest);
            }
            reply::int(c.out, n as i64);
        }
    }
}

/// The bytes of `op` over `inputs`, as long as the longest (shorter ones
/// read as zero-padded).
fn combine(op: &str, inputs: &[Vec<u8>]) -> Vec<u8> {
    let len = inputs.iter().map(Vec::len).max().unwrap_or(0);
    let byte = |v: &Vec<u8>, i: usize| v.get(i).copied().unwrap_or(0);
    (0..len)
        .map(|i| match op {
            "not" => !byte(&inputs[0], i),
            "and" => inputs.iter().fold(0xFF, |acc, v| acc & byte(v, i)),
            "or" => inputs.iter().fold(0, |acc, v| acc | byte(v, i)),
            _ => inputs.iter().fold(0, |acc, v| acc ^ byte(v, i)),
        })
        .collect()
}

/// One `BITFIELD` operation.
#[derive(Clone, Copy, Debug)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// What `OVERFLOW` says for the operations after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// A field: signed or not, its width and its bit offset.
#[derive(Clone, Copy, Debug)]
struct Field {
    signed: bool,
    bits: u32,
    offset: u64,
}

/// `BITFIELD key …` and `BITFIELD_RO key GET …`.
fn bitfield(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let read_only = lower(&args[0]) == "bitfield_ro";
    let ops = match parse_ops(args, read_only, c.server.max_bulk_bytes()) {
        Ok(ops) => ops,
        Err(e) => return reply::error(c.out, &e),
    };
    let writes = ops.iter().any(|(op, _, _)| !matches!(op, FieldOp::Get));
    let key = args[1].clone();
    let results = if writes {
        // The string grows to the highest field written first, as Redis's
        // does (even if OVERFLOW FAIL then refuses that write).
        let highest = ops
            .iter()
            .filter(|(op, _, _)| !matches!(op, FieldOp::Get))
            .map(|(_, f, _)| ((f.offset + u64::from(f.bits) - 1) >> 3) as usize + 1)
            .max()
            .unwrap_or(0);
        let edited = edit_string(c.store, &key, |s| {
            let grown = s.len() < highest;
            if grown {
                s.resize(highest, 0);
            }
            let (results, rewrote) = run_ops(s, &ops);
            // A change is a write OVERFLOW FAIL did not refuse, on a string
            // made or grown, or with a new value (as Redis counts one).
            let applied = ops
                .iter()
                .zip(&results)
                .any(|((op, _, _), r)| !matches!(op, FieldOp::Get) && r.is_some());
            (results, applied && (grown || rewrote))
        });
        match edited {
            Ok((results, changed)) => {
                if changed {
                    c.notify(STRING, "setbit", &key);
                }
                results
            }
            Err(refused) => return refused.reply(c.out),
        }
    } else {
        let read = |s: Option<&[u8]>| {
            let s = s.unwrap_or_default();
            ops.iter()
                .map(|&(_, f, _)| Some(read_field(s, f)))
                .collect::<Vec<_>>()
        };
        match read_string(c, &key, read) {
            Some(results) => results,
            None => return,
        }
    };
    reply::array(c.out, results.len());
    for r in results {
        match r {
            Some(n) => reply::int(c.out, n),
            None => reply::nil(c.out),
        }
    }
}

/// Parses the operations of a `BITFIELD`.
fn parse_ops(
    args: &[Vec<u8>],
    read_only: bool,
    max_bulk: usize,
) -> Result<Vec<(FieldOp, Field, Overflow)>, String> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    while i < args.len() {
        let word = lower(&args[i]);
        let left = args.len() - i - 1;
        let needs = match word.as_str() {
            "get" => 2,
            "set" | "incrby" => 3,
            "overflow" => 1,
            _ => return Err("ERR syntax error".into()),
        };
        if left < needs {
            return Err("ERR syntax error".into());
        }
        if read_only && word != "get" {
            return Err("ERR BITFIELD_RO only supports the GET subcommand".into());
        }
        if word == "overflow" {
            overflow = match lower(&args[i + 1]).as_str() {
                "wrap" => Overflow::Wrap,
                "sat" => Overflow::Sat,
                "fail" => Overflow::Fail,
                _ => return Err("ERR Invalid OVERFLOW type specified".into()),
            };
            i += 2;
            continue;
        }
        let field = parse_field(&args[i + 1], &args[i + 2], max_bulk)?;
        let op = match word.as_str() {
            "get" => FieldOp::Get,
            _ => {
                let n =
                    parse_i64(&args[i + 3]).ok_or("ERR value is not an integer or out of range")?;
                if word == "set" {
                    FieldOp::Set(n)
                } else {
                    FieldOp::IncrBy(n)
                }
            }
        };
        ops.push((op, field, overflow));
        i += needs + 1;
    }
    Ok(ops)
}

/// Parses `i8`/`u16`… and an offset (`#n`: n times the width).
fn parse_field(kind: &[u8], offset: &[u8], max_bulk: usize) -> Result<Field, String> {
    let bad_type = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let (signed, width) = match kind.split_first() {
        Some((b'i' | b'I', w)) => (true, w),
        Some((b'u' | b'U', w)) => (false, w),
        _ => return Err(bad_type.into()),
    };
    let bits = parse_i64(width).ok_or(bad_type)?;
    if bits < 1 || bits > if signed { 64 } else { 63 } {
        return Err(bad_type.into());
    }
    let bad_offset = "ERR bit offset is not an integer or out of range";
    let (scaled, digits) = match offset.split_first() {
        Some((b'#', rest)) => (true, rest),
        _ => (false, offset),
    };
    let n = parse_i64(digits).ok_or(bad_offset)?;
    let n = if scaled {
        n.checked_mul(bits).ok_or(bad_offset)?
    } else {
        n
    };
    if n < 0 || (n as u64 >> 3) >= max_bulk as u64 {
        return Err(bad_offset.into());
    }
    Ok(Field {
        signed,
        bits: bits as u32,
        offset: n as u64,
    })
}

/// Runs `ops` on `s` (grown with zeros to reach a field written): each
/// one's reply (`None`: `OVERFLOW FAIL` stopped it), and whether a write
/// gave a field a new value.
fn run_ops(s: &mut Vec<u8>, ops: &[(FieldOp, Field, Overflow)]) -> (Vec<Option<i64>>, bool) {
    let mut rewrote = false;
    let mut results = Vec::with_capacity(ops.len());
    for &(op, f, overflow) in ops {
        let old = read_field(s, f);
        let (new, reply) = match op {
            FieldOp::Get => {
                results.push(Some(old));
                continue;
            }
            FieldOp::Set(v) => (limit(f, v, 0, overflow), Some(old)),
            FieldOp::IncrBy(d) => {
                let new = limit(f, old, d, overflow);
                (new, new)
            }
        };
        match new {
            Some(new) => {
                write_field(s, f, new);
                rewrote |= read_field(s, f) != old;
                results.push(reply);
            }
            None => results.push(None),
        }
    }
    (results, rewrote)
}

/// Field `f` of `s` (bits past the end read as zero), sign-extended.
fn read_field(s: &[u8], f: Field) -> i64 {
    let mut v: u64 = 0;
    for i in 0..u64::from(f.bits) {
        let at = f.offset + i;
        let set = s
            .get((at >> 3) as usize)
            .is_some_and(|b| b & (0x80 >> (at & 7)) != 0);
        v = (v << 1) | u64::from(set);
    }
    if f.signed && f.bits < 64 && v & (1 << (f.bits - 1)) != 0 {
        v |= u64::MAX << f.bits;
    }
    v as i64
}

/// Writes the low `f.bits` of `v` as field `f`, growing `s` as needed.
fn write_field(s: &mut Vec<u8>, f: Field, v: i64) {
    let end = ((f.offset + u64::from(f.bits) - 1) >> 3) as usize;
    if s.len() <= end {
        s.resize(end + 1, 0);
    }
    let v = v as u64;
    for i in 0..u64::from(f.bits) {
        let at = f.offset + i;
        let on = v >> (u64::from(f.bits) - 1 - i) & 1 == 1;
        let (byte, mask) = ((at >> 3) as usize, 0x80u8 >> (at & 7));
        if on {
            s[byte] |= mask;
        } else {
            s[byte] &= !mask;
        }
    }
}

/// `value + incr` in field `f` under `overflow`, as Redis's
/// `check(Un)signedBitfieldOverflow`: `None` when `FAIL` refuses it.
fn limit(f: Field, value: i64, incr: i64, overflow: Overflow) -> Option<i64> {
    let bits = f.bits;
    let wrapped = || {
        let c = (value as u64).wrapping_add(incr as u64);
        let c = if bits < 64 {
            let mask = u64::MAX << bits;
            if f.signed && c & (1 << (bits - 1)) != 0 {
                c | mask
            } else {
                c & !mask
            }
        } else {
            c
        };
        c as i64
    };
    let verdict = if f.signed {
        let max: i64 = if bits == 64 {
            i64::MAX
        } else {
            (1 << (bits - 1)) - 1
        };
        let min = -max - 1;
        let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
        let minincr = min.wrapping_sub(value);
        if value > max
            || (bits != 64 && incr > maxincr)
            || (value >= 0 && incr > 0 && incr > maxincr)
        {
            Some(max)
        } else if value < min
            || (bits != 64 && incr < minincr)
            || (value < 0 && incr < 0 && incr < minincr)
        {
            Some(min)
        } else {
            None
        }
    } else {
        let value_u = value as u64;
        let max: u64 = (1u64 << bits) - 1;
        let maxincr = max.wrapping_sub(value_u) as i64;
        let minincr = (value_u as i64).wrapping_neg();
        if value_u > max || (incr > 0 && incr > maxincr) {
            Some(max as i64)
        } else if incr < 0 && incr < minincr {
            Some(0)
        } else {
            None
        }
    };
    match (verdict, overflow) {
        (None, _) => Some(if bits < 64 {
            wrapped()
        } else {
            value.wrapping_add(incr)
        }),
        (Some(_), Overflow::Fail) => None,
        (Some(_), Overflow::Wrap) => Some(wrapped()),
        (Some(sat), Overflow::Sat) => Some(sat),
    }
}

/// Edits the string at `key` in place (an empty one if absent, stored
/// once the edit made it non-empty).
fn edit_string<R>(
    store: &Store,
    key: &[u8],
    edit: impl FnOnce(&mut Vec<u8>) -> R,
) -> Result<R, Refused> {
    store
        .update(key.to_vec(), |v| match v {
            Some(Value::Str(s)) => (Update::Changed, Ok(edit(s))),
            Some(_) => (Update::Unchanged, Err(Refused::WrongType)),
            None => {
                let mut s = Vec::new();
                let r = edit(&mut s);
                (Update::Insert(Value::Str(s)), Ok(r))
            }
        })
        .map_err(Refused::Store)?
}

#[cfg(test)]
mod tests {
    use super::{Field, Overflow, count_ones, limit, read_field, write_field};

    #[test]
    fn fields_read_and_write_msb_first() {
        let mut s = Vec::new();
        let f = Field {
            signed: false,
            bits: 8,
            offset: 4,
        };
        write_field(&mut s, f, 0xAB);
        assert_eq!(s, [0x0A, 0xB0]);
        assert_eq!(read_field(&s, f), 0xAB);
        let i = Field {
            signed: true,
            bits: 4,
            offset: 4,
        };
        assert_eq!(read_field(&s, i), -6, "0b1010 as i4");
        assert_eq!(count_ones(&s, 0, 15), 5);
        assert_eq!(count_ones(&s, 5, 9), 2);
    }

    #[test]
    fn overflow_wraps_saturates_or_fails_as_redis() {
        let u2 = Field {
            signed: false,
            bits: 2,
            offset: 0,
        };
        assert_eq!(limit(u2, 3, 1, Overflow::Wrap), Some(0));
        assert_eq!(limit(u2, 3, 1, Overflow::Sat), Some(3));
        assert_eq!(limit(u2, 3, 1, Overflow::Fail), None);
        assert_eq!(limit(u2, 0, -1, Overflow::Sat), Some(0));
        let i8f = Field {
            signed: true,
            bits: 8,
            offset: 0,
        };
        assert_eq!(limit(i8f, 127, 1, Overflow::Wrap), Some(-128));
        assert_eq!(limit(i8f, -128, -1, Overflow::Sat), Some(-128));
        assert_eq!(limit(i8f, 100, 1, Overflow::Fail), Some(101));
        let i64f = Field {
            signed: true,
            bits: 64,
            offset: 0,
        };
        assert_eq!(limit(i64f, i64::MAX, 1, Overflow::Wrap), Some(i64::MIN));
        assert_eq!(limit(i64f, i64::MAX, 1, Overflow::Sat), Some(i64::MAX));
    }
}
