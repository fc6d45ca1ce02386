//! The one way a command reads or changes a collection (hash, list, set,
//! sorted set): in place, under the key's lock, through
//! [`Store::update`](goldylox::Cache::update) — an update costs what it
//! touches, not the collection's size — and the rules every collection
//! shares: a command on a key of another type answers `WRONGTYPE`; a
//! command that empties a collection removes the key; one that would grow
//! a value past what the cache can hold is refused before it changes
//! anything.

use bytes::BytesMut;
use goldylox::Update;

use super::{Store, Value, store_error, wrong_type};
use crate::server::resp::reply;
use crate::server::value::{Hash, List, Set, WrongType, ZSet};

/// A collection type a key may hold.
pub(super) trait Collection: Default + Sized {
    /// The collection `value` holds, if it is this type.
    fn of(value: &mut Value) -> Option<&mut Self>;
    /// The collection, read-only.
    fn of_ref(value: &Value) -> Option<&Self>;
    /// A value holding it.
    fn wrap(self) -> Value;
    /// Whether it has no member (the key goes).
    fn is_empty(&self) -> bool;
    /// Its bytes as charged.
    fn bytes(&self) -> usize;
}

macro_rules! collection {
    ($t:ty, $variant:ident) => {
        impl Collection for $t {
            fn of(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn of_ref(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn wrap(self) -> Value {
                Value::$variant(Box::new(self))
            }
            fn is_empty(&self) -> bool {
                self.len() == 0
            }
            fn bytes(&self) -> usize {
                <$t>::bytes(self)
            }
        }
    };
}

collection!(Hash, Hash);
collection!(List, List);
collection!(Set, Set);
collection!(ZSet, ZSet);

/// Why an edit changed nothing.
#[derive(Debug)]
pub(super) enum Refused {
    /// The key holds another type.
    WrongType,
    /// The value would grow past what the cache holds.
    TooLarge,
    /// The command's own error, answered as is.
    Error(String),
    /// The store failed (shutting down, an entry too large to insert).
    Store(goldylox::Error),
}

impl From<&str> for Refused {
    fn from(message: &str) -> Self {
        Refused::Error(message.to_owned())
    }
}

impl From<String> for Refused {
    fn from(message: String) -> Self {
        Refused::Error(message)
    }
}

impl Refused {
    /// Writes the error reply.
    pub(super) fn reply(self, out: &mut BytesMut) {
        match self {
            Refused::WrongType => wrong_type(out),
            Refused::TooLarge => reply::error(
                out,
                "OOM command not allowed when used memory > 'maxmemory'.",
            ),
            Refused::Error(message) => reply::error(out, &message),
            Refused::Store(e) => store_error(out, &e),
        }
    }
}

/// Whether a key absent before the edit is created by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Absent {
    /// Run the edit on a new, empty collection (`LPUSH`, `SADD`, `ZADD`).
    Create,
    /// Do not run it (`LPOP`, `SREM`, `LPUSHX`): the answer is `None`.
    Skip,
}

/// Runs `edit` on the collection at `key` in place, as one atomic step;
/// `edit` answers whether it changed the collection, and must change
/// nothing when it errs. `growth` bounds the bytes it may add (checked
/// against the cache's capacity first). `Ok(None)`: the key was absent
/// and `absent` said to skip.
pub(super) fn edit<T: Collection, R>(
    store: &Store,
    key: &[u8],
    absent: Absent,
    growth: usize,
    edit: impl FnOnce(&mut T) -> Result<(bool, R), Refused>,
) -> Result<Option<R>, Refused> {
    let capacity = usize::try_from(store.max_capacity()).unwrap_or(usize::MAX);
    let fits = |bytes: usize| key.len().saturating_add(bytes).saturating_add(growth) <= capacity;
    let outcome = store.update(key.to_vec(), |current| match current {
        Some(value) => {
            let Some(c) = T::of(value) else {
                return (Update::Unchanged, Err(Refused::WrongType));
            };
            if !fits(c.bytes()) {
                return (Update::Unchanged, Err(Refused::TooLarge));
            }
            match edit(c) {
                Err(e) => (Update::Unchanged, Err(e)),
                Ok((false, r)) => (Update::Unchanged, Ok(Some(r))),
                Ok((true, r)) if c.is_empty() => (Update::Remove, Ok(Some(r))),
                Ok((true, r)) => (Update::Changed, Ok(Some(r))),
            }
        }
        None if absent == Absent::Skip => (Update::Unchanged, Ok(None)),
        None => {
            if !fits(0) {
                return (Update::Unchanged, Err(Refused::TooLarge));
            }
            let mut c = T::default();
            match edit(&mut c) {
                Err(e) => (Update::Unchanged, Err(e)),
                Ok((changed, r)) if changed && !c.is_empty() => {
                    (Update::Insert(c.wrap()), Ok(Some(r)))
                }
                Ok((_, r)) => (Update::Unchanged, Ok(Some(r))),
            }
        }
    });
    outcome.map_err(Refused::Store)?
}

/// Runs `read` on the collection at `key`: `Ok(None)` if absent.
pub(super) fn read<T: Collection, R>(
    store: &Store,
    key: &[u8],
    read: impl FnOnce(&T) -> R,
) -> Result<Option<R>, WrongType> {
    store
        .get_with(key, |v| T::of_ref(v).map(read).ok_or(WrongType))
        .transpose()
}

/// Runs `read` on the collection at `key`, lending it `out`, and answers
/// `WRONGTYPE` itself: `None` once it did, `Some(None)` for an absent key.
pub(super) fn read_or_reply<T: Collection, R>(
    store: &Store,
    key: &[u8],
    out: &mut BytesMut,
    read: impl FnOnce(&T, &mut BytesMut) -> R,
) -> Option<Option<R>> {
    let found = store.get_with(key, |v| match T::of_ref(v) {
        Some(c) => Ok(read(c, &mut *out)),
        None => Err(WrongType),
    });
    match found {
        None => Some(None),
        Some(Ok(r)) => Some(Some(r)),
        Some(Err(WrongType)) => {
            wrong_type(out);
            None
        }
    }
}

/// The bytes `args` would add as members, with `overhead` each: what
/// [`edit`]'s `growth` bound is made of.
pub(super) fn growth_of(args: &[Vec<u8>], overhead: usize) -> usize {
    args.iter().map(|a| a.len() + overhead).sum()
}

/// Parses `numkeys key… END [COUNT count]`, the tail of `LMPOP`/`BLMPOP`
/// (`ends`: `("left", "right")`) and `ZMPOP`/`BZMPOP` (`("min", "max")`):
/// the keys, whether the first end was named, the count. `None` once the
/// error was written.
pub(super) fn parse_multi_pop(
    args: &[Vec<u8>],
    out: &mut BytesMut,
    ends: (&str, &str),
) -> Option<(Vec<Vec<u8>>, bool, usize)> {
    let numkeys = match super::parse_i64(&args[0]) {
        Some(n) if n > 0 => n as usize,
        _ => {
            reply::error(out, "ERR numkeys should be greater than 0");
            return None;
        }
    };
    if args.len() < numkeys + 2 {
        super::syntax_error(out);
        return None;
    }
    let end = super::lower(&args[numkeys + 1]);
    let first = if end == ends.0 {
        true
    } else if end == ends.1 {
        false
    } else {
        super::syntax_error(out);
        return None;
    };
    let count = match &args[numkeys + 2..] {
        [] => 1,
        [word, n] if super::lower(word) == "count" => match super::parse_i64(n) {
            Some(n) if n > 0 => n as usize,
            _ => {
                reply::error(out, "ERR count should be greater than 0");
                return None;
            }
        },
        _ => {
            super::syntax_error(out);
            return None;
        }
    };
    Some((args[1..=numkeys].to_vec(), first, count))
}
