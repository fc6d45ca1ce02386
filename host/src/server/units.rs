//! Sizes as people write them: `268435456`, `256mb`, `1gb`, `64KiB`,
//! `512 MiB`. Redis's forms mean what they mean in `redis.conf`: `k`, `m`,
//! `g` are powers of 1000 and `kb`, `mb`, `gb` powers of 1024; the IEC
//! forms (`KiB`, `MiB`, `GiB`, `TiB`) are powers of 1024 too. Units are
//! case-insensitive; a bare number is bytes.

use serde::Deserialize;

/// The multipliers, longest suffix first so `kib` is not read as `b`.
const UNITS: &[(&str, u64)] = &[
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1 << 10),
    ("mb", 1 << 20),
    ("gb", 1 << 30),
    ("tb", 1 << 40),
    ("k", 1_000),
    ("m", 1_000_000),
    ("g", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("b", 1),
];

/// Parses a size; the error says what is accepted.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, multiplier) = UNITS
        .iter()
        .find_map(|&(suffix, m)| lower.strip_suffix(suffix).map(|d| (d.trim_end(), m)))
        .unwrap_or((lower.as_str(), 1));
    let bad = || {
        format!(
            "{text:?} is not a size: write bytes (268435456) or a number with a unit \
             (256mb, 1gb, 64KiB; k/m/g are powers of 1000, kb/mb/gb and KiB/MiB/GiB of 1024)"
        )
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// A size in a configuration file: an integer or a string with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Bytes(u64),
    Text(String),
}

/// `deserialize_with` for a `u64` size.
pub fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Written::deserialize(d)? {
        Written::Bytes(n) => Ok(n),
        Written::Text(t) => parse_size(&t).map_err(serde::de::Error::custom),
    }
}

/// `deserialize_with` for a `usize` size.
pub fn size_usize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = size(d)?;
    usize::try_from(n).map_err(|_| serde::de::Error::custom(format!("{n} is too large")))
}

/// `deserialize_with` for a `u32` size.
pub fn size_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = size(d)?;
    u32::try_from(n)
        .map_err(|_| serde::de::Error::custom(format!("{n} is too large (at most 4 GiB - 1)")))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn redis_and_iec_forms() {
        for (text, bytes) in [
            ("0", 0),
            ("268435456", 268_435_456),
            ("256mb", 256 << 20),
            ("256MB", 256 << 20),
            ("1gb", 1 << 30),
            ("1G", 1_000_000_000),
            ("64KiB", 64 << 10),
            ("64k", 64_000),
            ("512 MiB", 512 << 20),
            (" 2tib ", 2 << 40),
            ("100b", 100),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn refusals_say_why() {
        for text in ["", "mb", "1.5gb", "-1", "12 parsecs", "1kbb"] {
            let err = parse_size(text).unwrap_err();
            assert!(err.contains("is not a size"), "{text}: {err}");
        }
        assert!(
            parse_size("99999999999tb")
                .unwrap_err()
                .contains("too large")
        );
    }
}
