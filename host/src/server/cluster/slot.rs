//! Redis Cluster's key slots: CRC16 (XMODEM: polynomial 0x1021, initial 0)
//! of the key, or of its hash tag, modulo 16,384. A hash tag is the part
//! between the first `{` and the next `}` when that part is not empty, so
//! `{user1000}.following` and `{user1000}.followers` share a slot.

/// Slots in a cluster.
pub const SLOTS: u16 = 16_384;

/// CRC16-XMODEM, one table lookup per byte.
static CRC16_TABLE: [u16; 256] = crc16_table();

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC16-XMODEM of `bytes` (the checksum Redis Cluster hashes keys with).
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The part of `key` that is hashed: its hash tag when it has a non-empty
/// one, else the whole key.
pub fn hashed_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    match key[open + 1..].iter().position(|&b| b == b'}') {
        Some(len) if len > 0 => &key[open + 1..open + 1 + len],
        _ => key,
    }
}

/// The slot of `key`.
pub fn of(key: &[u8]) -> u16 {
    crc16(hashed_part(key)) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_is_xmodem() {
        // The check value of CRC-16/XMODEM, which Redis's crc16.c cites.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn slots_agree_with_redis() {
        // `CLUSTER KEYSLOT` on redis-server 7.0.
        assert_eq!(of(b"foo"), 12182);
        assert_eq!(of(b"bar"), 5061);
        assert_eq!(of(b"somekey"), 11058);
        assert_eq!(of(b"foo{hash_tag}"), 2515);
        assert_eq!(of(b"{user1000}.following"), of(b"user1000"));
        assert_eq!(of(b"{user1000}.following"), of(b"{user1000}.followers"));
    }

    #[test]
    fn hash_tags_follow_redis_rules() {
        assert_eq!(hashed_part(b"{user1000}.following"), b"user1000");
        assert_eq!(hashed_part(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hashed_part(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hashed_part(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hashed_part(b"{"), b"{");
        assert_eq!(hashed_part(b"no tag}"), b"no tag}");
    }
}
