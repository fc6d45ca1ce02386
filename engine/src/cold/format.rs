//! The on-disk record format of the cold tier.
//!
//! A segment file is a sequence of records and nothing else (no file header:
//! a segment's identity is its file name, `NNNNNNNNNN.seg`, and every record
//! checks itself). A record is a fixed 40-byte little-endian header, then the
//! key, then the stored value:
//!
//! | offset | size | field | meaning |
//! |---|---|---|---|
//! | 0 | 4 | magic | `0x52 0x43 0x58 0x47` (`"RCXG"` in the file, `u32` `0x4758_4352`) |
//! | 4 | 1 | format | format version, currently [`FORMAT_VERSION`] |
//! | 5 | 1 | flags | bit 0: tombstone, bit 1: value is LZ4 block-compressed; other bits must be 0 |
//! | 6 | 2 | reserved | must be 0 |
//! | 8 | 8 | version | the cache's version of this write (newest wins on recovery) |
//! | 16 | 8 | expires | deadline in the clock's wall nanoseconds; `u64::MAX` = never |
//! | 24 | 4 | key length | at most [`MAX_KEY`] |
//! | 28 | 4 | stored length | bytes of value that follow the key, at most [`MAX_VALUE`] |
//! | 32 | 4 | raw length | the value's length after decompression (equals stored length if not compressed) |
//! | 36 | 4 | crc | CRC32C (Castagnoli) over bytes 0..36, the key and the stored value |
//!
//! A tombstone has a key and no value. Nothing in a header is trusted before
//! its checksum is verified, and no length is used to allocate before it is
//! bounded by the segment's size and the maxima here.
//!
//! The index snapshot (`index.snap`) has its own layout, in `recover`.
//!
//! ## Version log
//!
//! * **1** (goldylox 0.1): the layout above.

/// Bytes of a record header.
pub(crate) const HEADER: usize = 40;
/// The magic number at the start of every record.
pub(crate) const MAGIC: u32 = 0x4758_4352;
/// The format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u8 = 1;
/// Flag: the record deletes its key.
pub(crate) const FLAG_TOMBSTONE: u8 = 1;
/// Flag: the value is LZ4 block-compressed.
pub(crate) const FLAG_LZ4: u8 = 2;
/// The longest key the format accepts.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use goldylox::cold::{ColdConfig, ColdStore};
/// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
/// assert!(store.put(&vec![0; goldylox::cold::MAX_KEY + 1], b"v", None).is_err());
/// # Ok::<(), goldylox::Error>(())
/// ```
pub const MAX_KEY: usize = 64 * 1024;
/// The longest value (stored or raw) the format accepts.
///
/// ```
/// assert_eq!(goldylox::cold::MAX_VALUE, 512 << 20);
/// ```
pub const MAX_VALUE: usize = 512 * 1024 * 1024;
/// Values shorter than this are stored as they are: LZ4 cannot win much.
const COMPRESS_FROM: usize = 128;
/// "Never expires".
pub(crate) const NEVER: u64 = u64::MAX;

/// A decoded, verified record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) flags: u8,
    pub(crate) version: u64,
    pub(crate) expires: u64,
    pub(crate) key_len: u32,
    pub(crate) stored_len: u32,
    pub(crate) raw_len: u32,
    pub(crate) crc: u32,
}

impl Header {
    /// Bytes of the whole record.
    pub(crate) fn record_len(&self) -> usize {
        HEADER + self.key_len as usize + self.stored_len as usize
    }

    pub(crate) fn is_tombstone(&self) -> bool {
        self.flags & FLAG_TOMBSTONE != 0
    }
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Fewer bytes than a header, or than the lengths the header names.
    Short,
    /// All zeros where a header should be: preallocated or zero-filled space.
    Zero,
    /// Not our magic, an unknown format version, unknown flags, or a length
    /// past the maxima.
    Malformed,
    /// The checksum does not match.
    Checksum,
}

/// Encodes one record into `out`: compresses the value when that saves at
/// least an eighth of it.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    key: &[u8],
    value: Option<&[u8]>,
    version: u64,
    expires: u64,
) {
    debug_assert!(key.len() <= MAX_KEY);
    let mut flags = 0u8;
    let start = out.len();
    out.resize(start + HEADER, 0);
    out.extend_from_slice(key);
    let (stored, raw) = match value {
        None => {
            flags |= FLAG_TOMBSTONE;
            (0, 0)
        }
        Some(v) => {
            let body = out.len();
            if v.len() >= COMPRESS_FROM {
                let bound = lz4_flex::block::get_maximum_output_size(v.len());
                out.resize(body + bound, 0);
                match lz4_flex::block::compress_into(v, &mut out[body..]) {
                    Ok(n) if n <= v.len() - v.len() / 8 => {
                        out.truncate(body + n);
                        flags |= FLAG_LZ4;
                    }
                    _ => {
                        out.truncate(body);
                        out.extend_from_slice(v);
                    }
                }
            } else {
                out.extend_from_slice(v);
            }
            (out.len() - body, v.len())
        }
    };
    let h = &mut out[start..start + HEADER];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4] = FORMAT_VERSION;
    h[5] = flags;
    h[8..16].copy_from_slice(&version.to_le_bytes());
    h[16..24].copy_from_slice(&expires.to_le_bytes());
    h[24..28].copy_from_slice(&(key.len() as u32).to_le_bytes());
    h[28..32].copy_from_slice(&(stored as u32).to_le_bytes());
    h[32..36].copy_from_slice(&(raw as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&out[start..start + 36]),
        &out[start + HEADER..],
    );
    out[start + 36..start + HEADER].copy_from_slice(&crc.to_le_bytes());
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Parses a header's fields and bounds its lengths; the checksum is not
/// verified yet (see [`verify`]).
pub(crate) fn parse_header(b: &[u8]) -> Result<Header, Invalid> {
    if b.len() < HEADER {
        return Err(Invalid::Short);
    }
    let b = &b[..HEADER];
    if u32_at(b, 0) != MAGIC {
        return Err(if b.iter().all(|&x| x == 0) {
            Invalid::Zero
        } else {
            Invalid::Malformed
        });
    }
    let h = Header {
        flags: b[5],
        version: u64_at(b, 8),
        expires: u64_at(b, 16),
        key_len: u32_at(b, 24),
        stored_len: u32_at(b, 28),
        raw_len: u32_at(b, 32),
        crc: u32_at(b, 36),
    };
    let tomb = h.is_tombstone();
    if b[4] != FORMAT_VERSION
        || h.flags & !(FLAG_TOMBSTONE | FLAG_LZ4) != 0
        || b[6] != 0
        || b[7] != 0
        || h.key_len as usize > MAX_KEY
        || h.stored_len as usize > MAX_VALUE
        || h.raw_len as usize > MAX_VALUE
        || (tomb && (h.stored_len != 0 || h.flags & FLAG_LZ4 != 0))
        || (h.flags & FLAG_LZ4 == 0 && h.raw_len != h.stored_len)
    {
        return Err(Invalid::Malformed);
    }
    Ok(h)
}

/// Parses and verifies the record at the start of `b` (which may extend past
/// it): the header, the lengths against `b`, and the checksum.
pub(crate) fn verify(b: &[u8]) -> Result<Header, Invalid> {
    let h = parse_header(b)?;
    let len = h.record_len();
    if b.len() < len {
        return Err(Invalid::Short);
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..36]), &b[HEADER..len]);
    if crc != h.crc {
        return Err(Invalid::Checksum);
    }
    Ok(h)
}

/// Rewrites the checksum of a whole `record` (header and body) to match
/// its bytes (fuzzing reaches the decoders behind the checksum this way).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn seal_checksum(record: &mut [u8]) {
    let crc = crc32c::crc32c_append(crc32c::crc32c(&record[..36]), &record[HEADER..]);
    record[36..HEADER].copy_from_slice(&crc.to_le_bytes());
}

/// The key of a verified record.
pub(crate) fn key_of<'a>(record: &'a [u8], h: &Header) -> &'a [u8] {
    &record[HEADER..HEADER + h.key_len as usize]
}

/// The value of a verified record, decompressed; `None` if the compressed
/// bytes do not decode to exactly `raw_len` bytes.
pub(crate) fn value_of(record: &[u8], h: &Header) -> Option<Vec<u8>> {
    let body = &record[HEADER + h.key_len as usize..h.record_len()];
    if h.flags & FLAG_LZ4 == 0 {
        return Some(body.to_vec());
    }
    let mut out = vec![0u8; h.raw_len as usize];
    match lz4_flex::block::decompress_into(body, &mut out) {
        Ok(n) if n == out.len() => Some(out),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &[u8], value: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, key, value, 7, NEVER);
        out
    }

    #[test]
    fn round_trips_plain_compressed_and_tombstones() {
        let plain = record(b"k", Some(b"short value"));
        let h = verify(&plain).unwrap();
        assert_eq!((h.version, h.flags, h.record_len()), (7, 0, plain.len()));
        assert_eq!(key_of(&plain, &h), b"k");
        assert_eq!(value_of(&plain, &h).unwrap(), b"short value");

        let long = vec![b'x'; 10_000];
        let packed = record(b"key", Some(&long));
        let h = verify(&packed).unwrap();
        assert_eq!(h.flags, FLAG_LZ4);
        assert!(packed.len() < 200, "10 000 equal bytes compress");
        assert_eq!(value_of(&packed, &h).unwrap(), long);

        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let h = verify(&record(b"n", Some(&noise))).unwrap();
        assert_eq!(h.flags, 0, "incompressible bytes are stored as they are");

        let tomb = record(b"gone", None);
        let h = verify(&tomb).unwrap();
        assert!(h.is_tombstone());
        assert_eq!(tomb.len(), HEADER + 4);
    }

    #[test]
    fn every_truncation_and_zero_header_is_refused() {
        let r = record(b"key", Some(&[5u8; 300]));
        for cut in 0..r.len() {
            assert!(verify(&r[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(verify(&[0u8; 64]), Err(Invalid::Zero));
    }

    #[test]
    fn hostile_lengths_are_bounded_before_use() {
        let mut r = record(b"key", Some(b"value"));
        r[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(verify(&r), Err(Invalid::Malformed));
        let mut r = record(b"key", Some(b"value"));
        r[28..32].copy_from_slice(&1000u32.to_le_bytes());
        r[32..36].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(verify(&r), Err(Invalid::Short));
    }
}
