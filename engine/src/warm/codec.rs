//! How warm entries are stored: the value encoded with postcard, then
//! compressed with LZ4 when that pays (the choice is recorded per entry).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Values shorter than this are never compressed (the gain cannot pay for
/// the work).
const COMPRESS_MIN: usize = 128;

/// Encodes `value`; returns the bytes and whether they are compressed.
/// Compression is kept only if it saves at least an eighth.
pub(crate) fn encode<V: Serialize>(value: &V) -> Result<(Vec<u8>, bool), postcard::Error> {
    let raw = postcard::to_allocvec(value)?;
    if raw.len() < COMPRESS_MIN {
        return Ok((raw, false));
    }
    let packed = lz4_flex::compress_prepend_size(&raw);
    if packed.len() <= raw.len() - raw.len() / 8 {
        Ok((packed, true))
    } else {
        Ok((raw, false))
    }
}

/// Decodes bytes written by [`encode`]; `None` if they are not a valid
/// encoding (never a panic).
pub(crate) fn decode<V: DeserializeOwned>(bytes: &[u8], compressed: bool) -> Option<V> {
    if compressed {
        let raw = lz4_flex::decompress_size_prepended(bytes).ok()?;
        postcard::from_bytes(&raw).ok()
    } else {
        postcard::from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_when_it_pays_and_round_trips() {
        let json = r#"{"user":"ada","roles":["admin","dev"],"bio":"likes caches"}"#.repeat(20);
        let (bytes, compressed) = encode(&json).unwrap();
        assert!(compressed && bytes.len() < json.len() / 2);
        assert_eq!(decode::<String>(&bytes, true).unwrap(), json);

        let tiny = 42u64;
        let (bytes, compressed) = encode(&tiny).unwrap();
        assert!(!compressed);
        assert_eq!(decode::<u64>(&bytes, false), Some(42));

        // Incompressible bytes stay raw.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let (_, compressed) = encode(&noise).unwrap();
        assert!(!compressed);
    }

    #[test]
    fn garbage_is_rejected_not_trusted() {
        assert_eq!(
            decode::<String>(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3], true),
            None
        );
        assert_eq!(decode::<String>(&[200, 1], false), None);
    }
}
