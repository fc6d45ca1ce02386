//! What a key holds: a string or a hash. Values go through every tier, so
//! they serialise compactly with postcard: a variant tag, then byte strings
//! (not sequences of numbers) for strings, fields and field values.

use std::path::Path;

use anyhow::{Context, Result, bail};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The cache as the server holds it.
pub type Store = goldylox::Cache<Vec<u8>, Value>;

/// A hash's fields, in insertion order (as Redis keeps a small hash).
pub type Fields = IndexMap<Vec<u8>, Vec<u8>>;

/// Bytes charged per hash field beyond its name and value (the map's
/// entry, index slot and two allocations).
const FIELD_OVERHEAD: usize = 48;

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// A string: any bytes.
    Str(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A hash: field → value; never empty (the last field's removal
    /// removes the key, as in Redis).
    Hash(#[serde(with = "fields")] Fields),
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
        }
    }

    /// The bytes this value costs in memory, roughly as held.
    pub fn footprint(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.len(),
            Value::Hash(fields) => fields
                .iter()
                .map(|(f, v)| f.len() + v.len() + FIELD_OVERHEAD)
                .sum(),
        }
    }

    /// The string, or [`WrongType`].
    pub fn as_str(&self) -> Result<&[u8], WrongType> {
        match self {
            Value::Str(bytes) => Ok(bytes),
            Value::Hash(_) => Err(WrongType),
        }
    }

    /// The hash, or [`WrongType`].
    pub fn as_hash(&self) -> Result<&Fields, WrongType> {
        match self {
            Value::Hash(fields) => Ok(fields),
            Value::Str(_) => Err(WrongType),
        }
    }
}

/// The string an optional value holds (`None`: the key is absent).
pub fn string_of(value: Option<&Value>) -> Result<Option<&[u8]>, WrongType> {
    value.map(Value::as_str).transpose()
}

/// The file that says which value format a data directory holds.
pub const FORMAT_FILE: &str = "value-format";
/// Its contents for this format (strings and hashes, tagged).
const FORMAT: &str = "goldylox-serve values 2: string | hash\n";

/// Checks that the cold data directory `dir` holds values in this format,
/// and marks a new one. A directory with segments but no mark was written
/// before values had types: its values would not decode, so starting on it
/// is refused with the reason, and nothing in it is touched.
pub fn check_data_format(dir: &Path) -> Result<()> {
    let mark = dir.join(FORMAT_FILE);
    match std::fs::read_to_string(&mark) {
        Ok(found) if found == FORMAT => return Ok(()),
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
    std::fs::write(&mark, FORMAT).with_context(|| format!("writing {}", mark.display()))
}

/// Fields serialise as a sequence of (name, value) byte-string pairs.
mod fields {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    use super::Fields;

    pub(super) fn serialize<S: Serializer>(fields: &Fields, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(fields.iter().map(|(f, v)| (Bytes::new(f), Bytes::new(v))))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        let pairs = Vec::<(ByteBuf, ByteBuf)>::deserialize(d)?;
        Ok(pairs
            .into_iter()
            .map(|(f, v)| (f.into_vec(), v.into_vec()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{Fields, Value, check_data_format};

    #[test]
    fn values_round_trip_through_postcard_compactly() {
        let s = Value::Str(b"hello".to_vec());
        let bytes = postcard::to_allocvec(&s).unwrap();
        assert_eq!(bytes, b"\x00\x05hello", "tag, length, bytes");
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), s);
        let mut fields = Fields::new();
        fields.insert(b"f1".to_vec(), b"v1".to_vec());
        fields.insert(b"".to_vec(), vec![0, 255]);
        let h = Value::Hash(fields);
        let bytes = postcard::to_allocvec(&h).unwrap();
        assert_eq!(bytes, b"\x01\x02\x02f1\x02v1\x00\x02\x00\xff");
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), h);
        assert!(
            postcard::from_bytes::<Value>(b"\x02\x00").is_err(),
            "no third type"
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
        std::fs::write(fresh.join("value-format"), "something else").unwrap();
        assert!(check_data_format(&fresh).is_err());
    }
}
