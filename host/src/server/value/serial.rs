//! How the collections serialise (postcard, through every tier and on
//! disk): a hash as a sequence of (field, value) byte-string pairs — the
//! encoding of value format 2, unchanged — a list and a set as sequences
//! of byte strings, a sorted set as (member, score) pairs in order.

/// Hashes: (field, value) pairs in insertion order.
pub(super) mod hash {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    use super::super::Hash;

    pub(in super::super) fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(h.iter().map(|(f, v)| (Bytes::new(f), Bytes::new(v))))
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Box<Hash>, D::Error> {
        let pairs = Vec::<(ByteBuf, ByteBuf)>::deserialize(d)?;
        Ok(Box::new(
            pairs
                .into_iter()
                .map(|(f, v)| (f.into_vec(), v.into_vec()))
                .collect(),
        ))
    }
}

/// Lists: elements head first.
pub(super) mod list {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    use super::super::List;

    pub(in super::super) fn serialize<S: Serializer>(l: &List, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(l.iter().map(|x| Bytes::new(x)))
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Box<List>, D::Error> {
        let items = Vec::<ByteBuf>::deserialize(d)?;
        Ok(Box::new(items.into_iter().map(ByteBuf::into_vec).collect()))
    }
}

/// Sets: members in insertion order (a duplicate is refused).
pub(super) mod set {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    use super::super::Set;

    pub(in super::super) fn serialize<S: Serializer>(set: &Set, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(set.iter().map(|x| Bytes::new(x)))
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Box<Set>, D::Error> {
        let items = Vec::<ByteBuf>::deserialize(d)?;
        let n = items.len();
        let set: Set = items.into_iter().map(ByteBuf::into_vec).collect();
        if set.len() != n {
            return Err(D::Error::custom("a set with a repeated member"));
        }
        Ok(Box::new(set))
    }
}

/// Sorted sets: (member, score) pairs in ascending order; a pair out of
/// order, a repeated member or a NaN score is refused.
pub(super) mod zset {
    use serde::de::Error;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    use super::super::ZSet;

    pub(in super::super) fn serialize<S: Serializer>(z: &ZSet, s: S) -> Result<S::Ok, S::Error> {
        // The chunks' iterator does not know its length; postcard needs it.
        let mut seq = s.serialize_seq(Some(z.len()))?;
        for e in z.order().iter() {
            seq.serialize_element(&(Bytes::new(&e.member), e.score))?;
        }
        seq.end()
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Box<ZSet>, D::Error> {
        let pairs = Vec::<(ByteBuf, f64)>::deserialize(d)?;
        let ordered = pairs.windows(2).all(|w| {
            let (a, b) = (&w[0], &w[1]);
            a.1 < b.1 || (a.1 == b.1 && a.0 < b.0)
        });
        if !ordered || pairs.iter().any(|p| p.1.is_nan()) {
            return Err(D::Error::custom("a sorted set out of order"));
        }
        let n = pairs.len();
        let z = ZSet::from_sorted(pairs.into_iter().map(|(m, s)| (m.into_vec(), s)).collect());
        if z.len() != n {
            return Err(D::Error::custom("a sorted set with a repeated member"));
        }
        Ok(Box::new(z))
    }
}
