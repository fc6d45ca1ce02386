//! `DUMP` and `RESTORE`: a key's value as an opaque payload and back.
//!
//! The payload is Goldylox's own, documented and versioned: the magic
//! `GLXD`, a payload version (1), the value in the server's value format
//! (postcard, as stored in every tier), then the CRC32C of everything
//! before it (4 bytes, little-endian). Redis's payloads (RDB encoding with
//! a CRC64 trailer) are not readable here, and `RESTORE` says so rather
//! than guessing; a corrupt payload is refused with the reason and changes
//! nothing.

use goldylox::{Expiration, SetIf};

use super::table::{REPORTED_WRITE as W, Spec, spec};
use super::{Ctx, Value, lower, parse_i64, syntax_error};
use crate::server::keyspace::events::GENERIC;
use crate::server::resp::reply;

use super::table::DENY_OOM as OOM;

/// The dump commands.
pub(super) static SPECS: &[Spec] = &[
    spec("dump", 2, super::table::R, (1, 1, 1), dump),
    spec("restore", -4, W | OOM, (1, 1, 1), restore),
];

/// The payload's first bytes.
const MAGIC: &[u8; 4] = b"GLXD";
/// The payload version this server writes and reads.
const VERSION: u8 = 1;
/// What every refusal starts with (Redis's text, which clients match).
const WRONG: &str = "ERR DUMP payload version or checksum are wrong";

/// `value` as a payload.
pub(super) fn encode(value: &Value) -> Vec<u8> {
    let mut payload = MAGIC.to_vec();
    payload.push(VERSION);
    let mut payload: Vec<u8> =
        postcard::to_extend(value, payload).expect("a value always serialises");
    let crc = crc32c::crc32c(&payload);
    payload.extend(crc.to_le_bytes());
    payload
}

/// The value a payload holds, or why it cannot be read.
pub(super) fn decode(payload: &[u8]) -> Result<Value, String> {
    if payload.len() < MAGIC.len() + 1 + 4 || !payload.starts_with(MAGIC) {
        return Err(format!(
            "{WRONG}: not a goldylox DUMP payload (payloads of other servers, Redis's included, cannot be restored here)"
        ));
    }
    let (body, crc) = payload.split_at(payload.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(format!(
            "{WRONG}: its checksum does not match (corrupt or truncated)"
        ));
    }
    let version = body[MAGIC.len()];
    if version != VERSION {
        return Err(format!(
            "{WRONG}: payload version {version}, this server reads version {VERSION}"
        ));
    }
    postcard::from_bytes(&body[MAGIC.len() + 1..])
        .map_err(|e| format!("{WRONG}: the value does not decode ({e})"))
}

/// `DUMP key`.
fn dump(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    match c.store.get_with(args[1].as_slice(), encode) {
        Some(payload) => reply::bulk(c.out, &payload),
        None => reply::nil(c.out),
    }
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`.
/// `IDLETIME` and `FREQ` are checked and then have no effect: the eviction
/// policies are components that keep their own per-key state.
fn restore(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let (mut replace, mut absolute) = (false, false);
    let mut i = 4;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|a| parse_i64(a));
        match lower(&args[i]).as_str() {
            "replace" => replace = true,
            "absttl" => absolute = true,
            "idletime" => match value {
                Some(n) if n >= 0 => i += 1,
                Some(_) => return reply::error(c.out, "ERR Invalid IDLETIME value, must be >= 0"),
                None => return syntax_error(c.out),
            },
            "freq" => match value {
                Some(n) if (0..=255).contains(&n) => i += 1,
                Some(_) => {
                    return reply::error(c.out, "ERR Invalid FREQ value, must be >= 0 and <= 255");
                }
                None => return syntax_error(c.out),
            },
            _ => return syntax_error(c.out),
        }
        i += 1;
    }
    let Some(ttl) = parse_i64(&args[2]) else {
        return super::not_integer(c.out);
    };
    if ttl < 0 {
        return reply::error(c.out, "ERR Invalid TTL value, must be >= 0");
    }
    let value = match decode(&args[3]) {
        Ok(v) => v,
        Err(e) => return reply::error(c.out, &e),
    };
    let key = args[1].clone();
    let expiration = if ttl == 0 {
        Expiration::Never
    } else {
        match super::ttl_ns(ttl, true, absolute) {
            Some(ns) if ns > 0 => super::after_ns(ns),
            // An absolute deadline already past: nothing is stored, and an
            // existing key (with REPLACE) is deleted, as in Redis.
            Some(_) => {
                if !replace && c.store.contains_key(&key) {
                    return reply::error(c.out, "BUSYKEY Target key name already exists.");
                }
                if c.store.remove(&key).is_some() {
                    c.notify(GENERIC, "del", &key);
                }
                return reply::ok(c.out);
            }
            None => return reply::error(c.out, "ERR Invalid TTL value, must be >= 0"),
        }
    };
    let condition = if replace {
        SetIf::Always
    } else {
        SetIf::Absent
    };
    match c.store.set(key.clone(), value, expiration, condition) {
        Ok(outcome) if outcome.stored => {
            c.notify(GENERIC, "restore", &key);
            reply::ok(c.out);
        }
        Ok(_) => reply::error(c.out, "BUSYKEY Target key name already exists."),
        Err(e) => super::store_error(c.out, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};
    use crate::server::value::{Value, ZSet};

    #[test]
    fn payloads_round_trip_and_damage_is_refused_with_a_reason() {
        let mut z = ZSet::default();
        z.insert(b"m", 1.5);
        let value = Value::ZSet(Box::new(z));
        let payload = encode(&value);
        assert!(payload.starts_with(b"GLXD\x01"));
        assert_eq!(decode(&payload).unwrap(), value);
        let mut corrupt = payload.clone();
        corrupt[6] ^= 1;
        assert!(decode(&corrupt).unwrap_err().contains("checksum"));
        assert!(
            decode(&payload[..payload.len() - 1])
                .unwrap_err()
                .contains("checksum")
        );
        // A Redis payload: RDB type byte, data, RDB version, CRC64.
        let redis = b"\x00\x03bar\x0a\x00\x12\x34\x56\x78\x9a\xbc\xde\xf0";
        assert!(decode(redis).unwrap_err().contains("not a goldylox"));
    }
}
