//! Fuzz harnesses of the host: the RESP request parser and the TOML
//! configuration. `fuzz/` runs them under cargo-fuzz; the unit tests
//! replay the committed corpora (`fuzz/corpus/<target>/`) on stable. Built
//! only with the `fuzzing` feature (and for tests).

use bytes::BytesMut;

use crate::server::config::Config;
use crate::server::resp::{Limits, Parser, ProtocolError};

/// Small limits, so that inputs reach every limit's error.
const LIMITS: Limits = Limits {
    max_bulk: 1 << 12,
    max_args: 32,
    max_inline: 256,
};

type Parsed = Vec<Result<Vec<Vec<u8>>, ProtocolError>>;

/// Feeds `input` to a parser in pieces of the given sizes (cycled);
/// returns every request and the first error. Checks that the parser never
/// holds more than it was given.
fn parse(input: &[u8], sizes: &[usize]) -> Parsed {
    let mut parser = Parser::new(LIMITS);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut size = sizes.iter().cycle();
    while fed < input.len() {
        let n = (*size.next().expect("sizes is not empty")).clamp(1, input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            match parser.next(&mut buf) {
                Ok(Some(request)) => out.push(Ok(request)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
        assert!(
            buf.len() + parser.held_bytes() <= fed,
            "the parser holds more than it was given"
        );
    }
    out
}

/// The RESP parser on arbitrary bytes: the same requests (and the same
/// error) whether the bytes arrive at once or in pieces of any sizes (the
/// first input byte seeds the sizes).
pub fn resp(data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let whole = parse(input, &[input.len().max(1)]);
    let mut x = u64::from(seed) | 1;
    let sizes: Vec<usize> = (0..16)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 19) as usize + 1
        })
        .collect();
    assert_eq!(parse(input, &sizes), whole, "pieces {sizes:?}");
    assert_eq!(parse(input, &[1]), whole, "byte by byte");
}

/// The configuration on arbitrary text: an error or a configuration, never
/// a panic; and the same text parses to the same configuration.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = Config::parse(&text, "fuzz") {
        let again = Config::parse(&text, "fuzz").expect("it parsed once");
        assert_eq!(config, again);
    }
}

#[cfg(test)]
mod tests {
    //! The committed corpora, replayed on stable.

    use std::path::PathBuf;

    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{} is empty", dir.display());
        inputs.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    #[test]
    fn the_committed_corpora_replay_clean() {
        for input in corpus("resp") {
            super::resp(&input);
        }
        for input in corpus("config") {
            super::config(&input);
        }
    }
}
