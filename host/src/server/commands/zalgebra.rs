//! Sorted-set algebra: `ZUNION`, `ZINTER`, `ZDIFF`, their `…STORE` forms
//! and `ZINTERCARD`, over sorted sets and plain sets (a set's members
//! score 1), with `WEIGHTS` and `AGGREGATE`. Every key named is read, and
//! the destination written, as one atomic step.

use goldylox::{Batch, Update};
use indexmap::IndexMap;

use super::collection::Refused;
use super::sets::card_args;
use super::strings::parse_f64;
use super::zrange::{finish_store, reply_entries, store_entries};
use super::{Ctx, Value, lower, parse_i64};
use crate::server::resp::reply;

/// Which algebra.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Union,
    Inter,
    Diff,
}

/// How scores of one member in several inputs combine.
#[derive(Clone, Copy, Debug)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`: a NaN `x` (inf × 0) leaves MIN and
    /// MAX as they were and makes a SUM NaN, which (like inf + -inf)
    /// becomes 0.
    fn apply(self, acc: f64, x: f64) -> f64 {
        let r = match self {
            Aggregate::Sum => acc + x,
            Aggregate::Min => {
                if x < acc {
                    x
                } else {
                    acc
                }
            }
            Aggregate::Max => {
                if x > acc {
                    x
                } else {
                    acc
                }
            }
        };
        if r.is_nan() { 0.0 } else { r }
    }
}

/// A parsed request.
struct Request {
    op: Op,
    keys: Vec<Vec<u8>>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
}

/// Parses `numkeys key… [WEIGHTS w…] [AGGREGATE SUM|MIN|MAX]
/// [WITHSCORES]` (`args` from numkeys on).
fn parse(name: &str, args: &[Vec<u8>], store: bool) -> Result<Request, String> {
    let op = match &name[1..3] {
        "un" => Op::Union,
        "in" => Op::Inter,
        _ => Op::Diff,
    };
    let numkeys = parse_i64(&args[0]).ok_or("ERR value is not an integer or out of range")?;
    if numkeys < 1 {
        return Err(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - 1 {
        return Err("ERR syntax error".to_owned());
    }
    let mut request = Request {
        op,
        keys: args[1..=numkeys].to_vec(),
        weights: vec![1.0; numkeys],
        aggregate: Aggregate::Sum,
        with_scores: false,
    };
    let mut i = numkeys + 1;
    while i < args.len() {
        let remaining = args.len() - i - 1;
        match lower(&args[i]).as_str() {
            "weights" if op != Op::Diff && remaining >= numkeys => {
                for (w, arg) in request.weights.iter_mut().zip(&args[i + 1..]) {
                    *w = parse_f64(arg).ok_or("ERR weight value is not a float")?;
                }
                i += numkeys;
            }
            "aggregate" if op != Op::Diff && remaining >= 1 => {
                request.aggregate = match lower(&args[i + 1]).as_str() {
                    "sum" => Aggregate::Sum,
                    "min" => Aggregate::Min,
                    "max" => Aggregate::Max,
                    _ => return Err("ERR syntax error".to_owned()),
                };
                i += 1;
            }
            "withscores" if !store => request.with_scores = true,
            _ => return Err("ERR syntax error".to_owned()),
        }
        i += 1;
    }
    Ok(request)
}

/// The input key count of `numkeys key…`, when valid and the keys are
/// all there.
fn numkeys_of(args: &[Vec<u8>]) -> Option<usize> {
    let n = usize::try_from(parse_i64(&args[0])?).ok()?;
    (n >= 1 && n < args.len()).then_some(n)
}

/// `ZUNION`, `ZINTER`, `ZDIFF` and their `…STORE` forms.
pub(super) fn combine_command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let store = name.ends_with("store");
    let dest = store.then(|| args[1].clone());
    let from = if store { 2 } else { 1 };
    let request = match parse(&name, &args[from..], store) {
        Ok(r) => r,
        Err(e) => {
            // Redis reads the input keys before the options: a key of
            // another type is answered first.
            let wrong = numkeys_of(&args[from..]).is_some_and(|n| {
                args[from + 1..].iter().take(n).any(|k| {
                    c.store
                        .peek_with(k.as_slice(), |v| {
                            !matches!(v, Value::ZSet(_) | Value::Set(_))
                        })
                        .unwrap_or(false)
                })
            });
            if wrong {
                return super::wrong_type(c.out);
            }
            return reply::error(c.out, &e);
        }
    };
    let mut locked: Vec<&Vec<u8>> = request.keys.iter().collect();
    locked.extend(dest.as_ref());
    let outcome = c.store.atomically(&locked, |batch| {
        let result = compute(batch, &request)?;
        match &dest {
            Some(dest) => store_entries(batch, dest, result).map(Err),
            None => Ok(Ok(result)),
        }
    });
    match (outcome, dest) {
        (Err(refused), _) => refused.reply(c.out),
        (Ok(Ok(result)), _) => {
            let entries = result.iter().map(|(m, s)| (m.as_slice(), *s));
            reply_entries(c.out, entries, request.with_scores);
        }
        (Ok(Err(stored)), Some(dest)) => {
            let event = match request.op {
                Op::Union => "zunionstore",
                Op::Inter => "zinterstore",
                Op::Diff => "zdiffstore",
            };
            finish_store(c, &dest, Ok(stored), event);
        }
        (Ok(Err(_)), None) => unreachable!("only a …STORE command stores"),
    }
}

/// Reads `key` under the batch's locks with `f` (given the sorted set or
/// set there, or `None`): another type refuses.
fn with_input<R>(
    batch: &mut Batch<'_, Vec<u8>, Value>,
    key: &[u8],
    f: impl FnOnce(Option<&Value>) -> R,
) -> Result<R, Refused> {
    batch
        .update(key.to_vec(), |v| {
            let r = match v {
                None => Ok(f(None)),
                Some(v @ (Value::ZSet(_) | Value::Set(_))) => Ok(f(Some(v))),
                Some(_) => Err(Refused::WrongType),
            };
            (Update::Unchanged, r)
        })
        .map_err(Refused::Store)?
}

/// How many members an input has.
fn size_of(v: Option<&Value>) -> usize {
    match v {
        Some(Value::ZSet(z)) => z.len(),
        Some(Value::Set(s)) => s.len(),
        _ => 0,
    }
}

/// The score of `member` in an input (a set's members score 1).
fn score_in(v: Option<&Value>, member: &[u8]) -> Option<f64> {
    match v {
        Some(Value::ZSet(z)) => z.score(member),
        Some(Value::Set(s)) => s.contains(member).then_some(1.0),
        _ => None,
    }
}

/// Every (member, score) of an input, times `weight`.
fn entries_of(v: Option<&Value>, weight: f64) -> Vec<(Vec<u8>, f64)> {
    let weigh = |s: f64| {
        let w = s * weight;
        if w.is_nan() { 0.0 } else { w }
    };
    match v {
        Some(Value::ZSet(z)) => z
            .order()
            .iter()
            .map(|e| (e.member.to_vec(), weigh(e.score)))
            .collect(),
        Some(Value::Set(s)) => s.iter().map(|m| (m.clone(), weigh(1.0))).collect(),
        _ => Vec::new(),
    }
}

/// The result of `request`, sorted by score, then member.
fn compute(
    batch: &mut Batch<'_, Vec<u8>, Value>,
    request: &Request,
) -> Result<Vec<(Vec<u8>, f64)>, Refused> {
    let mut inputs: Vec<(usize, usize)> = Vec::with_capacity(request.keys.len());
    for (i, key) in request.keys.iter().enumerate() {
        inputs.push((i, with_input(batch, key, size_of)?));
    }
    let mut acc: IndexMap<Vec<u8>, f64> = IndexMap::new();
    match request.op {
        Op::Diff => {
            let first = &request.keys[0];
            acc.extend(with_input(batch, first, |v| entries_of(v, 1.0))?);
            for key in &request.keys[1..] {
                if acc.is_empty() {
                    break;
                }
                with_input(batch, key, |v| acc.retain(|m, _| score_in(v, m).is_none()))?;
            }
        }
        Op::Inter => {
            // From the smallest input, as Redis does (and in its order).
            inputs.sort_by_key(|&(_, size)| size);
            let (first, _) = inputs[0];
            let weight = request.weights[first];
            acc.extend(with_input(batch, &request.keys[first], |v| {
                entries_of(v, weight)
            })?);
            for &(i, _) in &inputs[1..] {
                let weight = request.weights[i];
                with_input(batch, &request.keys[i], |v| {
                    acc.retain(|m, score| match score_in(v, m) {
                        Some(s) => {
                            // Unlike the first input's, this product's NaN
                            // reaches the aggregate, as in Redis.
                            *score = request.aggregate.apply(*score, s * weight);
                            true
                        }
                        None => false,
                    })
                })?;
            }
        }
        Op::Union => {
            inputs.sort_by_key(|&(_, size)| size);
            for &(i, _) in &inputs {
                let weight = request.weights[i];
                for (m, s) in with_input(batch, &request.keys[i], |v| entries_of(v, weight))? {
                    acc.entry(m)
                        .and_modify(|score| *score = request.aggregate.apply(*score, s))
                        .or_insert(s);
                }
            }
        }
    }
    let mut result: Vec<(Vec<u8>, f64)> = acc.into_iter().collect();
    result.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    Ok(result)
}

/// `ZINTERCARD numkeys key… [LIMIT limit]`.
pub(super) fn zintercard(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some((keys, limit)) = card_args("zintercard", &args[1..], c.out) else {
        return;
    };
    let request = Request {
        op: Op::Inter,
        weights: vec![1.0; keys.len()],
        keys,
        aggregate: Aggregate::Sum,
        with_scores: false,
    };
    let locked: Vec<&Vec<u8>> = request.keys.iter().collect();
    let counted = c
        .store
        .atomically(&locked, |batch| compute(batch, &request).map(|r| r.len()));
    match counted {
        Ok(n) => reply::int(c.out, (if limit > 0 { n.min(limit) } else { n }) as i64),
        Err(refused) => refused.reply(c.out),
    }
}
