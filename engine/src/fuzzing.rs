//! Fuzz harnesses: what `fuzz/` runs under cargo-fuzz, and what the unit
//! tests replay from the committed corpora (`fuzz/corpus/<target>/`) on
//! stable, so CI keeps every input that ever mattered. Built only with the
//! `fuzzing` feature (and for tests), so the public API does not carry it.
//!
//! Each harness turns arbitrary bytes into something the engine must
//! survive, and checks an oracle, not only the absence of a panic.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::cold::{ColdConfig, ColdStore, FaultFs, SyncMode, format};
use crate::policy::{EventBatch, EventKind, EvictionPolicy, PolicyError, PolicyFactory};
use crate::{Cache, PolicyChoice};

/// The records `bytes` holds where a header parses, in order: key and
/// value (`None`: a tombstone or a value that does not decode).
fn records(bytes: &[u8]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match format::verify(&bytes[at..]) {
            Ok(h) => {
                let record = &bytes[at..at + h.record_len()];
                let value = (!h.is_tombstone())
                    .then(|| format::value_of(record, &h))
                    .flatten();
                out.push((format::key_of(record, &h).to_vec(), value));
                at += h.record_len();
            }
            Err(_) => at += 1,
        }
    }
    out
}

/// Rewrites the checksum of every record whose header parses and fits,
/// so that the decoders behind the checksum see arbitrary bytes too.
fn fix_checksums(bytes: &mut [u8]) {
    let mut at = 0;
    while at < bytes.len() {
        match format::parse_header(&bytes[at..]) {
            Ok(h) if at + h.record_len() <= bytes.len() => {
                format::seal_checksum(&mut bytes[at..at + h.record_len()]);
                at += h.record_len();
            }
            _ => at += 1,
        }
    }
}

fn store_on(fs: &FaultFs) -> Result<ColdStore, crate::Error> {
    let mut config = ColdConfig::new(Path::new("/fuzz"), 64 << 20);
    config.segment_size = 1 << 20;
    config.sync = SyncMode::Never;
    config.compact_at = None;
    config.fs = Arc::new(fs.clone());
    ColdStore::open(config)
}

/// What `store` answers for each key the records name.
fn answers(store: &ColdStore, keys: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    keys.iter()
        .map(|k| store.get(k).ok().flatten().map(|v| v.value))
        .collect()
}

/// Segment files of arbitrary bytes (checksums fixed when `fix`), then
/// recovery, reads, a full compaction and a restart. Every value read must
/// be one that some record of the key holds; compaction and the restart
/// must not change any answer.
pub fn cold_segments(data: &[u8], fix: bool) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if fix {
        fix_checksums(&mut bytes);
    }
    let cut = usize::from(split) * bytes.len() / 256;
    let fs = FaultFs::new();
    fs.write(Path::new("/fuzz/0000000001.seg"), bytes[..cut].to_vec());
    fs.write(Path::new("/fuzz/0000000002.seg"), bytes[cut..].to_vec());
    let written = records(&bytes);
    let mut keys: Vec<Vec<u8>> = written.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    keys.dedup();
    let Ok(store) = store_on(&fs) else {
        return;
    };
    let first = answers(&store, &keys);
    for (key, found) in keys.iter().zip(&first) {
        if let Some(v) = found {
            assert!(
                written
                    .iter()
                    .any(|(k, w)| k == key && w.as_ref() == Some(v)),
                "a value no record of {key:?} holds"
            );
        }
    }
    if store.compact(true).is_ok() {
        assert_eq!(
            answers(&store, &keys),
            first,
            "compaction changed an answer"
        );
    }
    if store.close().is_ok()
        && let Ok(again) = store_on(&fs)
    {
        assert_eq!(answers(&again, &keys), first, "a restart changed an answer");
    }
}

/// A valid segment of a few records and an index snapshot of arbitrary
/// bytes: recovery either uses the snapshot or rejects it, and every key
/// reads its newest value or nothing, never another value.
pub fn snapshot(data: &[u8]) {
    let mut segment = Vec::new();
    let mut newest = HashMap::new();
    for i in 0..8u64 {
        let key = format!("key{}", i % 5).into_bytes();
        let value = format!("value{i}").into_bytes();
        format::encode(&mut segment, &key, Some(&value), i + 1, format::NEVER);
        newest.insert(key, value);
    }
    let fs = FaultFs::new();
    fs.write(Path::new("/fuzz/0000000001.seg"), segment);
    fs.write(Path::new("/fuzz/index.snap"), data.to_vec());
    let Ok(store) = store_on(&fs) else {
        return;
    };
    for (key, value) in &newest {
        if let Ok(Some(found)) = store.get(key) {
            assert_eq!(&found.value, value, "{key:?}: not its newest value");
        }
    }
}

/// The warm tier's codec on arbitrary input: decoding never panics, and
/// whatever is compressed decompresses to itself.
pub fn warm_codec(data: &[u8]) {
    use crate::warm::codec::{self, Codec};
    let (dict, body) = data.split_at(data.len().min(64));
    let dict = codec::Trained::new(dict);
    for c in [Codec::Raw, Codec::Lz4, Codec::ZstdDict] {
        let _ = codec::decode::<Vec<u8>>(body, c, Some(&dict));
        let _ = codec::decode::<(String, u64)>(body, c, None);
    }
    for d in [None, Some(&dict)] {
        let (packed, c) = codec::compress(body.to_vec(), d);
        let back = codec::decompress(&packed, c, d).expect("its own output decompresses");
        assert_eq!(&*back, body);
    }
}

/// A policy whose every answer comes from the fuzz input: victims known
/// and unknown, duplicates, too many, errors, refusals.
struct Liar {
    script: Arc<Vec<u8>>,
    at: usize,
    seen: Vec<u64>,
}

impl Liar {
    fn byte(&mut self) -> u8 {
        let b = self.script.get(self.at).copied().unwrap_or(0);
        self.at = (self.at + 1) % self.script.len().max(1);
        b
    }
}

impl EvictionPolicy for Liar {
    fn name(&self) -> &str {
        "liar"
    }

    fn apply(&mut self, batch: &EventBatch) -> Result<(), PolicyError> {
        for (kind, hash, _) in batch.iter() {
            if kind == EventKind::Insert && self.seen.len() < 4096 {
                self.seen.push(hash);
            }
        }
        match self.byte() {
            0 => Err(PolicyError::Failed("scripted".into())),
            _ => Ok(()),
        }
    }

    fn evict(&mut self, max: u32, _need: u64, out: &mut Vec<u64>) -> Result<(), PolicyError> {
        let n = usize::from(self.byte() % 8) + (max as usize).min(4);
        for _ in 0..n {
            let b = self.byte();
            let hash = match b % 4 {
                0 => u64::from(b) << 40,
                _ if self.seen.is_empty() => u64::from(b),
                _ => self.seen[usize::from(b) % self.seen.len()],
            };
            out.push(hash);
        }
        match self.byte() {
            1 => Err(PolicyError::Failed("scripted".into())),
            _ => Ok(()),
        }
    }

    fn admit(&mut self, _candidate: u64, _victim: u64) -> Result<bool, PolicyError> {
        match self.byte() % 3 {
            0 => Err(PolicyError::Failed("scripted".into())),
            1 => Ok(false),
            _ => Ok(true),
        }
    }
}

struct Liars(Arc<Vec<u8>>);

impl PolicyFactory for Liars {
    fn build(&self, _capacity: u64) -> Result<Box<dyn EvictionPolicy>, PolicyError> {
        Ok(Box::new(Liar {
            script: Arc::clone(&self.0),
            at: 0,
            seen: Vec::new(),
        }))
    }
}

/// A cache driven by a policy that lies as the input says, under
/// operations the input chooses: the cache stays within its capacity and
/// never returns a value that was not the key's last one.
pub fn policy_answers(data: &[u8]) {
    let Some((ops, script)) = data.split_at_checked(data.len() / 2) else {
        return;
    };
    let cache: Cache<u8, Vec<u8>> = Cache::builder(4 << 10)
        .policy(PolicyChoice::Custom(Arc::new(Liars(Arc::new(
            script.to_vec(),
        )))))
        .build()
        .expect("a valid cache");
    let mut model: HashMap<u8, Vec<u8>> = HashMap::new();
    for pair in ops.chunks(2) {
        let (op, key) = (pair[0], pair.get(1).copied().unwrap_or(0) % 64);
        match op % 4 {
            0 | 1 => {
                let value = vec![op; usize::from(op) * 2];
                if cache.insert(key, value.clone()).is_ok() {
                    model.insert(key, value);
                }
            }
            2 => {
                if let Some(v) = cache.get(&key) {
                    assert_eq!(Some(&v), model.get(&key), "key {key}: not its last value");
                }
            }
            _ => {
                cache.remove(&key);
                model.remove(&key);
            }
        }
    }
    cache.run_pending_tasks();
    let stats = cache.stats();
    assert!(
        stats.weighted_size <= 4 << 10,
        "over capacity: {}",
        stats.weighted_size
    );
}

#[cfg(test)]
mod tests {
    //! The committed corpora, replayed on stable.

    use std::path::PathBuf;

    fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{} is empty", dir.display());
        inputs
    }

    #[test]
    fn the_segment_seed_is_a_valid_segment() {
        let seed = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../fuzz/corpus/cold_segments/seed-segment"),
        )
        .unwrap();
        let records = super::records(&seed[1..]);
        assert_eq!(records.len(), 6, "five values and a tombstone");
        assert_eq!(records[5], (b"k1".to_vec(), None));
    }

    #[test]
    fn the_committed_corpora_replay_clean() {
        for dir in ["cold_segments", "cold_segments_unchecked"] {
            for (path, input) in corpus(dir) {
                eprintln!("{}", path.display());
                super::cold_segments(&input, false);
                super::cold_segments(&input, true);
            }
        }
        for (_, input) in corpus("snapshot") {
            super::snapshot(&input);
        }
        for (_, input) in corpus("warm_codec") {
            super::warm_codec(&input);
        }
        for (_, input) in corpus("policy_answers") {
            super::policy_answers(&input);
        }
    }
}
