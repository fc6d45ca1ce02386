//! How a cold store is laid out and run: its directory, capacity, segment
//! size, sync mode, compaction threshold, file system and key hash.

use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::fs::{ColdFs, StdFs};
use crate::error::Error;

/// When the writer makes appended records durable.
///
/// ```
/// use std::time::Duration;
/// use goldylox::cold::{ColdConfig, SyncMode};
/// let mut config = ColdConfig::new("/var/cache/app", 1 << 30);
/// config.sync = SyncMode::Every(Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// After every group commit, before the records become readable; a
    /// caller that needs its write durable waits with [`ColdStore::sync`](super::ColdStore::sync)
    /// (which then returns at once).
    Always,
    /// At most this long after a record was appended.
    Every(Duration),
    /// Only when a segment is sealed or on [`ColdStore::sync`](super::ColdStore::sync); the
    /// operating system decides the rest.
    Never,
}

/// How a cold store is laid out and run.
///
/// ```
/// use goldylox::cold::ColdConfig;
/// let mut config = ColdConfig::new("/var/cache/app", 10 << 30);
/// config.map_sealed = true; // memory-map sealed segments
/// ```
#[derive(Clone)]
pub struct ColdConfig {
    /// The directory that holds the segments (created if missing).
    pub dir: PathBuf,
    /// Bytes on disk the store may hold; past it the oldest segment is
    /// evicted. The bound is `capacity + 2 × segment_size` (the active
    /// segment and one being compacted).
    pub capacity: u64,
    /// Bytes per segment file (64 KiB – 2 GiB).
    pub segment_size: u32,
    /// Durability.
    pub sync: SyncMode,
    /// A sealed segment whose garbage (dead records) reaches this share of
    /// its bytes is compacted. `None`: only on [`ColdStore::compact`](super::ColdStore::compact).
    pub compact_at: Option<f64>,
    /// How often the index is snapshotted for a fast restart (`None`: only
    /// at a clean close).
    pub snapshot_every: Option<Duration>,
    /// The file system (the real one unless a test injects faults).
    pub fs: Arc<dyn ColdFs>,
    /// Names the store's threads.
    pub name: String,
    /// Hashes a stored key for the index. The default hashes the bytes; a
    /// cache hashes the decoded key, so that lookups by a borrowed form of
    /// the key find it. Must be the same function in every process.
    pub key_hash: KeyHash,
    /// Identifies `key_hash` beyond what hashing a probe shows (a cache
    /// passes its seed): the index snapshot records it and is refused, so
    /// the index is rebuilt from the records, when it differs. 0 by default.
    pub key_hash_id: u64,
    /// Names of files the embedding application keeps in the directory (a
    /// mark of its value format, say): recovery leaves them alone and does
    /// not count them as foreign. None by default.
    pub app_files: Vec<String>,
    /// Read sealed segments through memory maps instead of positioned
    /// reads (false). Maps save a system call per cold hit, but a mapped
    /// file that another program truncates raises SIGBUS, which kills the
    /// process; with positioned reads that is an I/O error and a miss.
    pub map_sealed: bool,
}

/// A function from stored key bytes to the index's hash.
///
/// ```
/// use std::sync::Arc;
/// use goldylox::cold::{ColdConfig, KeyHash};
/// let mut config = ColdConfig::new("/var/cache/app", 1 << 30);
/// let hash: KeyHash = Arc::new(|key: &[u8]| goldylox::cold::bytes_hash(key) ^ 1);
/// config.key_hash = hash;
/// ```
pub type KeyHash = Arc<dyn Fn(&[u8]) -> u64 + Send + Sync>;

impl ColdConfig {
    /// A store in `dir` holding at most `capacity` bytes, with 64 MiB
    /// segments, a sync every second, compaction at 50 % garbage and an index
    /// snapshot every minute.
    ///
    /// ```
    /// use goldylox::cold::{ColdConfig, SyncMode};
    /// let mut config = ColdConfig::new("/var/cache/app", 10 << 30);
    /// config.sync = SyncMode::Always;
    /// config.segment_size = 16 << 20;
    /// ```
    pub fn new(dir: impl Into<PathBuf>, capacity: u64) -> Self {
        ColdConfig {
            dir: dir.into(),
            capacity,
            segment_size: 64 << 20,
            sync: SyncMode::Every(Duration::from_secs(1)),
            compact_at: Some(0.5),
            snapshot_every: Some(Duration::from_secs(60)),
            fs: Arc::new(StdFs),
            name: "cold".to_owned(),
            key_hash: Arc::new(bytes_hash),
            key_hash_id: 0,
            app_files: Vec::new(),
            map_sealed: false,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::InvalidConfig { reason });
        if !(64 << 10..=2 << 30).contains(&self.segment_size) {
            return bad(format!(
                "cold segment size {} is outside 64 KiB – 2 GiB",
                self.segment_size
            ));
        }
        if self.capacity < 4 * u64::from(self.segment_size) {
            return bad(format!(
                "cold capacity {} must hold at least 4 segments of {} bytes",
                self.capacity, self.segment_size
            ));
        }
        if let Some(g) = self.compact_at
            && !(0.05..=0.95).contains(&g)
        {
            return bad(format!("compaction threshold {g} is outside 0.05 – 0.95"));
        }
        Ok(())
    }
}

impl std::fmt::Debug for ColdConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdConfig")
            .field("dir", &self.dir)
            .field("capacity", &self.capacity)
            .field("segment_size", &self.segment_size)
            .field("sync", &self.sync)
            .field("compact_at", &self.compact_at)
            .field("snapshot_every", &self.snapshot_every)
            .finish_non_exhaustive()
    }
}

/// The default key hash: the bytes, fixed-seeded, so it is the same in
/// every process (the snapshot stores hashes; it records the configured
/// function's answer for a probe key and is refused if that differs).
///
/// ```
/// use goldylox::cold::bytes_hash;
/// assert_eq!(bytes_hash(b"k"), bytes_hash(b"k"), "the same in every process");
/// ```
pub fn bytes_hash(key: &[u8]) -> u64 {
    foldhash::quality::FixedState::with_seed(0x676f_6c64_796c_6f78).hash_one(key)
}
