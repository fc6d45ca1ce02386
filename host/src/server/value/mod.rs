//! What a key holds: a string, a hash, a list, a set or a sorted set.
//! Values go through every tier, so they serialise compactly with
//! postcard: a variant tag, then byte strings (not sequences of numbers)
//! for strings, fields, elements and members. Each collection keeps its
//! size in bytes as it changes, so weighing one is O(1).

mod collections;
mod serial;
pub mod sorted;
mod zset;

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub use collections::{
    ELEMENT_OVERHEAD, FIELD_OVERHEAD, Fields, Hash, List, MEMBER_OVERHEAD, Members, Set,
    scan_positions,
};
pub use zset::{Scored, ZMEMBER_OVERHEAD, ZSet};

/// The cache as the server holds it.
pub type Store = goldylox::Cache<Vec<u8>, Value>;

/// A stored value. The variants' order is the on-disk tag: append only.
/// The collections are boxed: every hot slot holds a `Value` inline, so a
/// string (the common case) costs its 24-byte header (the tag fits in its
/// unused capacity bits), not the largest collection's header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// A string: any bytes.
    Str(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A hash: field → value; never empty (the last field's removal
    /// removes the key, as in Redis, and likewise for every collection).
    Hash(#[serde(with = "serial::hash")] Box<Hash>),
    /// A list.
    List(#[serde(with = "serial::list")] Box<List>),
    /// A set.
    Set(#[serde(with = "serial::set")] Box<Set>),
    /// A sorted set.
    ZSet(#[serde(with = "serial::zset")] Box<ZSet>),
}

/// Redis's error for a command on a key of another type.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// A command met a key holding another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

impl Value {
    /// The name `TYPE` answers.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The bytes this value costs in memory, roughly as held: O(1).
    pub fn footprint(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.len(),
            Value::Hash(h) => h.bytes(),
            Value::List(l) => l.bytes(),
            Value::Set(s) => s.bytes(),
            Value::ZSet(z) => z.bytes(),
        }
    }

    /// How many members a collection has (1 for a string).
    pub fn members(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::Hash(h) => h.len(),
            Value::List(l) => l.len(),
            Value::Set(s) => s.len(),
            Value::ZSet(z) => z.len(),
        }
    }

    /// The string, or [`WrongType`].
    pub fn as_str(&self) -> Result<&[u8], WrongType> {
        match self {
            Value::Str(bytes) => Ok(bytes),
            _ => Err(WrongType),
        }
    }

    /// The hash, or [`WrongType`].
    pub fn as_hash(&self) -> Result<&Hash, WrongType> {
        match self {
            Value::Hash(h) => Ok(h),
            _ => Err(WrongType),
        }
    }

    /// The list, or [`WrongType`].
    pub fn as_list(&self) -> Result<&List, WrongType> {
        match self {
            Value::List(l) => Ok(l),
            _ => Err(WrongType),
        }
    }

    /// The set, or [`WrongType`].
    pub fn as_set(&self) -> Result<&Set, WrongType> {
        match self {
            Value::Set(s) => Ok(s),
            _ => Err(WrongType),
        }
    }

    /// The sorted set, or [`WrongType`].
    pub fn as_zset(&self) -> Result<&ZSet, WrongType> {
        match self {
            Value::ZSet(z) => Ok(z),
            _ => Err(WrongType),
        }
    }
}

/// The string an optional value holds (`None`: the key is absent).
pub fn string_of(value: Option<&Value>) -> Result<Option<&[u8]>, WrongType> {
    value.map(Value::as_str).transpose()
}

/// The file that says which value format a data directory holds.
pub const FORMAT_FILE: &str = "value-format";
/// Its contents for this format.
const FORMAT: &str = "goldylox-serve values 3: string | hash | list | set | zset\n";
/// The previous format's mark. Format 3 only added variants after the
/// first two, whose encoding is unchanged, so a format-2 directory is read
/// as it is: upgrading it is rewriting the mark.
const FORMAT_2: &str = "goldylox-serve values 2: string | hash\n";

/// Checks that the cold data directory `dir` holds values in this format,
/// upgrading one of format 2, and marks a new one. A directory with
/// segments but no mark was written before values had types; one marked
/// with another format belongs to another version: starting on either is
/// refused with the reason, and nothing in it is touched.
pub fn check_data_format(dir: &Path) -> Result<()> {
    let mark = dir.join(FORMAT_FILE);
    match std::fs::read_to_string(&mark) {
        Ok(found) if found == FORMAT => return Ok(()),
        Ok(found) if found == FORMAT_2 => {
            log::info!(
                "{}: value format 2 read as format 3 (upgraded)",
                dir.display()
            );
            return write_mark(&mark);
        }
        Ok(found) => bail!(
            "{} says {:?}, not {:?}: this data directory belongs to another version of goldylox",
            mark.display(),
            found.trim(),
            FORMAT.trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", mark.display())),
    }
    let has_segments = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "seg"))
    });
    if has_segments {
        bail!(
            "{} holds data written before values had types (strings only), which this \
             version cannot read; move it away or delete it, or point [cache.cold] dir \
             (or --dir) elsewhere",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_mark(&mark)
}

/// Writes this format's mark, atomically (a crash leaves the old mark or
/// the new one).
fn write_mark(mark: &Path) -> Result<()> {
    let fresh = mark.with_extension("new");
    std::fs::write(&fresh, FORMAT).with_context(|| format!("writing {}", fresh.display()))?;
    std::fs::rename(&fresh, mark).with_context(|| format!("renaming to {}", mark.display()))
}

#[cfg(test)]
mod tests {
    use super::{Hash, List, Set, Value, ZSet, check_data_format};

    /// Every hot slot holds a `Value` inline, and most hold a string: the
    /// collections are boxed so that a string's slot does not pay for the
    /// largest collection's header (136 bytes before they were), and the
    /// variant tag fits in the string header's unused capacity bits.
    #[test]
    fn a_value_is_no_larger_than_a_string_header() {
        assert_eq!(size_of::<Value>(), size_of::<Vec<u8>>());
    }

    #[test]
    fn values_round_trip_through_postcard_compactly() {
        let s = Value::Str(b"hello".to_vec());
        let bytes = postcard::to_allocvec(&s).unwrap();
        assert_eq!(bytes, b"\x00\x05hello", "tag, length, bytes");
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), s);
        let mut fields = Hash::default();
        fields.insert(b"f1".to_vec(), b"v1".to_vec());
        fields.insert(b"".to_vec(), vec![0, 255]);
        let h = Value::Hash(Box::new(fields));
        let bytes = postcard::to_allocvec(&h).unwrap();
        assert_eq!(bytes, b"\x01\x02\x02f1\x02v1\x00\x02\x00\xff", "format 2's");
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), h);
        let l = Value::List(Box::new(
            [b"a".to_vec(), b"".to_vec()].into_iter().collect::<List>(),
        ));
        let bytes = postcard::to_allocvec(&l).unwrap();
        assert_eq!(bytes, b"\x02\x02\x01a\x00");
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), l);
        let s = Value::Set(Box::new([b"x".to_vec()].into_iter().collect::<Set>()));
        let bytes = postcard::to_allocvec(&s).unwrap();
        assert_eq!(bytes, b"\x03\x01\x01x");
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), s);
        assert!(
            postcard::from_bytes::<Value>(b"\x03\x02\x01x\x01x").is_err(),
            "repeated"
        );
        let mut z = ZSet::default();
        z.insert(b"b", 1.5);
        z.insert(b"a", 1.5);
        let z = Value::ZSet(Box::new(z));
        let bytes = postcard::to_allocvec(&z).unwrap();
        let mut want = b"\x04\x02\x01a".to_vec();
        want.extend(1.5f64.to_le_bytes());
        want.extend(b"\x01b");
        want.extend(1.5f64.to_le_bytes());
        assert_eq!(bytes, want, "in order");
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), z);
        let mut swapped = b"\x04\x02\x01b".to_vec();
        swapped.extend(1.5f64.to_le_bytes());
        swapped.extend(b"\x01a");
        swapped.extend(1.5f64.to_le_bytes());
        assert!(
            postcard::from_bytes::<Value>(&swapped).is_err(),
            "out of order"
        );
        assert!(
            postcard::from_bytes::<Value>(b"\x05\x00").is_err(),
            "no sixth type"
        );
    }

    #[test]
    fn a_data_directory_is_marked_and_an_untyped_one_refused_untouched() {
        let parent = tempfile::tempdir().unwrap();
        let fresh = parent.path().join("data");
        check_data_format(&fresh).unwrap();
        check_data_format(&fresh).unwrap();
        let old = parent.path().join("old");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("0000000001.seg"), b"records").unwrap();
        let err = check_data_format(&old).unwrap_err().to_string();
        assert!(err.contains("before values had types"), "{err}");
        assert_eq!(
            std::fs::read(old.join("0000000001.seg")).unwrap(),
            b"records"
        );
        assert!(!old.join("value-format").exists());
        // Format 2 is upgraded in place; another format is refused.
        std::fs::write(fresh.join("value-format"), super::FORMAT_2).unwrap();
        check_data_format(&fresh).unwrap();
        assert_eq!(
            std::fs::read_to_string(fresh.join("value-format")).unwrap(),
            super::FORMAT
        );
        std::fs::write(fresh.join("value-format"), "something else").unwrap();
        assert!(check_data_format(&fresh).is_err());
        assert_eq!(
            std::fs::read_to_string(fresh.join("value-format")).unwrap(),
            "something else",
            "untouched"
        );
    }
}
