//! The cold tier: a persistent, checksummed, log-structured store of
//! key/value records in append-only segment files.
//!
//! * **Writes** go to one writer actor (`writer`, thread `gx-cold-w-NAME`)
//!   that appends them to the active segment with positioned writes, several
//!   at a time (group commit), and syncs per [`SyncMode`]. A full segment is
//!   synced and *sealed*; a new one becomes active. Senders wait while the
//!   queue holds 8 MiB of records, so its RAM is
//!   bounded in bytes, not only in commands.
//! * **Reads** run on the caller's thread: the RAM index (`index`, 16 bytes
//!   per entry) names the segment and offset; the record is read with a
//!   positioned read (or from a read-only map, with
//!   [`ColdConfig::map_sealed`]), its checksum verified and its key
//!   compared. A file another program truncates then gives misses, never
//!   a SIGBUS.
//! * **Removes and overwrites** drop the index entry at once and append a
//!   tombstone, so a restart cannot resurrect the old value.
//! * **Compaction** (`compactor`, thread `gx-cold-c-NAME`) picks sealed
//!   segments by garbage ratio, reads each through a 1 MiB window, rewrites
//!   its live records through the writer and retires it; when the store is
//!   over its capacity it evicts the oldest segment (FIFO, as log-structured
//!   caches do). Closing stops the compactor before the writer, which must
//!   answer the compactor's last requests.
//! * **Recovery** (`recover`) loads the newest index snapshot if it is
//!   intact and consistent with the files, then scans what was written after
//!   it (all segments, if there is no usable snapshot): newest version wins,
//!   tombstones delete, the torn tail of the last segment is cut, a segment
//!   with a bad record elsewhere is quarantined.
//! * Every I/O goes through [`ColdFs`], so tests inject faults (`FaultFs`,
//!   with the `fault-injection` feature).
//!
//! The byte layout is in `format`'s documentation.
//!
//! ```
//! use goldylox::cold::{ColdConfig, ColdStore};
//! # let dir = tempfile::tempdir().unwrap();
//! let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
//! store.put(b"user:1", b"{\"name\":\"Ada\"}", None)?;
//! store.close()?;
//! let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?; // recovers
//! assert!(store.get(b"user:1")?.is_some());
//! # Ok::<(), goldylox::Error>(())
//! ```

mod access;
mod compactor;
mod config;
mod control;
mod durable;
#[cfg(any(test, feature = "fault-injection"))]
mod fault;
pub(crate) mod format;
mod fs;
mod index;
mod keys;
mod mmap;
mod reader;
mod recover;
mod requests;
pub(crate) mod seed;
mod segment;
mod snapshot;
mod stats;
mod writer;

#[cfg(any(test, feature = "fault-injection"))]
pub use fault::{FaultFs, FaultOp, Tear};
pub use format::{MAX_KEY, MAX_VALUE};
pub use fs::{ColdFile, ColdFs, Mapped, StdFs};

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, bounded};
use parking_lot::Mutex;

pub use config::{ColdConfig, KeyHash, SyncMode, bytes_hash};
pub use stats::{ColdStats, RecoveryReport};

use crate::error::Error;
use index::{ColdIndex, Loc};
use requests::{CompactorRequest, WriterRequest};
use segment::Segments;
use stats::{Counters, bump};

/// Commands the writer's channel holds before senders wait.
pub(crate) const COLD_WRITE_QUEUE: usize = 4096;
/// Record bytes the writer's channel holds before senders wait (one
/// record larger than this still passes alone): a count alone let 4096
/// records of up to a megabyte each queue up in RAM, unaccounted.
pub(crate) const COLD_WRITE_QUEUE_BYTES: u64 = 8 << 20;
/// Commands the compactor's channel holds.
pub(crate) const COLD_COMPACT_QUEUE: usize = 16;
/// Index shards.
const COLD_INDEX_SHARDS: usize = 64;

/// A record read from the cold tier.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use goldylox::cold::{ColdConfig, ColdStore};
/// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
/// store.put(b"k", b"v", None)?;
/// let got = store.get(b"k")?.unwrap();
/// assert_eq!((got.value.as_slice(), got.expires), (&b"v"[..], u64::MAX));
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdValue {
    /// The value's bytes.
    pub value: Vec<u8>,
    /// The version it was written with.
    pub version: u64,
    /// Its deadline in the store clock's nanoseconds (`u64::MAX`: never).
    pub expires: u64,
}

/// State shared by the handle, the writer and the compactor.
pub(crate) struct ColdState {
    pub(crate) config: ColdConfig,
    pub(crate) index: ColdIndex,
    /// Records appended but not yet written: readable meanwhile.
    pub(crate) inflight: index::InFlight,
    pub(crate) segments: Segments,
    pub(crate) counters: Counters,
    /// The newest version written or recovered.
    pub(crate) version: AtomicU64,
    /// The clock for expiry, in the same nanoseconds as record deadlines.
    pub(crate) now: Box<dyn Fn() -> u64 + Send + Sync>,
    /// The last I/O error, for reports.
    pub(crate) last_error: Mutex<Option<String>>,
    /// Set when the store closes: the compactor stops between segments.
    pub(crate) closing: AtomicBool,
    /// Told how long each sync and each segment's compaction took (the
    /// cache's latency listener, once it is set).
    pub(crate) latency: std::sync::OnceLock<crate::latency::LatencyListener>,
}

impl ColdState {
    pub(crate) fn key_hash(&self, key: &[u8]) -> u64 {
        (self.config.key_hash)(key)
    }

    /// Whether `bytes` more may be queued for the writer: always when the
    /// queue holds none, else within [`COLD_WRITE_QUEUE_BYTES`].
    pub(crate) fn queue_has_room(&self, bytes: u64) -> bool {
        let queued = self.counters.queued_bytes.load(Ordering::Acquire);
        queued == 0 || queued.saturating_add(bytes) <= COLD_WRITE_QUEUE_BYTES
    }

    /// Tells the latency listener, if any, that `event` took the time since
    /// `began`; a panicking listener is ignored (the store has no counter
    /// for it: the cache counts its own listener's panics).
    pub(crate) fn took(&self, event: crate::LatencyEvent, began: std::time::Instant) {
        if let Some(listener) = self.latency.get() {
            let told = std::panic::AssertUnwindSafe(|| listener(event, began.elapsed()));
            let _ = std::panic::catch_unwind(told);
        }
    }

    pub(crate) fn io_error(&self, what: &str, e: &std::io::Error) {
        bump(&self.counters.io_errors, 1);
        log::warn!("cold tier {}: {what}: {e}", self.config.name);
        *self.last_error.lock() = Some(format!("{what}: {e}"));
    }

    /// Whether `loc` is the record of `hash` that must stay on disk: the
    /// index names it, or it is the last record on disk of a key whose
    /// newer append is in flight.
    pub(crate) fn names(&self, hash: u64, loc: Loc) -> bool {
        match self.index.get(hash) {
            Some(l) if l == loc => true,
            Some(l) if l.is_pending() => self.inflight.prev(hash) == Some(loc),
            _ => false,
        }
    }

    /// Drops the index entry of `hash` if it still is `loc`; accounts for
    /// the bytes it no longer keeps alive.
    pub(crate) fn unindex_if(&self, hash: u64, loc: Loc) -> bool {
        let mut shard = self.index.shard(hash).write();
        if shard.get(&hash) != Some(&loc) {
            return false;
        }
        shard.remove(&hash);
        drop(shard);
        self.segments.dead(loc);
        true
    }
}

/// A persistent key/value store of byte strings, the cold tier of a
/// [`Cache`](crate::Cache), usable on its own. Cloning is cheap; dropping
/// the last clone closes it (see [`ColdStore::close`]).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use goldylox::cold::{ColdConfig, ColdStore};
/// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
/// store.put(b"user:1", b"{...}", None)?;
/// store.sync()?;
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Clone)]
pub struct ColdStore {
    inner: Arc<Handle>,
}

struct Handle {
    shared: Arc<ColdState>,
    writer: Sender<WriterRequest>,
    compactor: Sender<CompactorRequest>,
    writer_thread: Option<JoinHandle<()>>,
    compactor_thread: Option<JoinHandle<()>>,
    report: RecoveryReport,
}

impl Drop for Handle {
    /// The compactor stops first: a pass in flight sends rewrites to the
    /// writer and waits for it to retire the segment, so the writer must
    /// outlive it (a writer gone first would leave it waiting forever).
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        let _ = self.compactor.send(CompactorRequest::Shutdown);
        if let Some(t) = self.compactor_thread.take() {
            let _ = t.join();
        }
        let (reply, done) = bounded(1);
        if self.writer.send(WriterRequest::Shutdown { reply }).is_ok() {
            let _ = done.recv();
        }
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
    }
}

impl ColdStore {
    /// Opens (or creates) the store in `config.dir`, recovering what is
    /// there, with the system clock's wall time for expiry.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// assert_eq!(store.get(b"k")?.unwrap().value, b"v");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn open(config: ColdConfig) -> Result<ColdStore, Error> {
        Self::open_with_clock(config, Box::new(crate::clock::wall_nanos))
    }

    /// [`ColdStore::open`] with a clock of one's own (nanoseconds, the unit
    /// of record deadlines).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let now = Arc::new(AtomicU64::new(0));
    /// let clock = Arc::clone(&now);
    /// let store = ColdStore::open_with_clock(
    ///     ColdConfig::new(dir.path(), 1 << 30),
    ///     Box::new(move || clock.load(Ordering::Relaxed)),
    /// )?;
    /// store.put(b"k", b"v", Some(10))?;
    /// now.store(10, Ordering::Relaxed);
    /// assert_eq!(store.get(b"k")?, None, "expired at 10 ns");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn open_with_clock(
        config: ColdConfig,
        now: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> Result<ColdStore, Error> {
        config.validate()?;
        let fs = Arc::clone(&config.fs);
        fs.create_dir_all(&config.dir)
            .map_err(|e| io_err(&config.dir, "cannot create the cold directory", e))?;
        let shared = Arc::new(ColdState {
            index: ColdIndex::new(COLD_INDEX_SHARDS),
            inflight: index::InFlight::new(COLD_INDEX_SHARDS),
            segments: Segments::default(),
            counters: Counters::default(),
            version: AtomicU64::new(0),
            now,
            last_error: Mutex::new(None),
            closing: AtomicBool::new(false),
            latency: std::sync::OnceLock::new(),
            config,
        });
        let (report, next_id) = recover::recover(&shared)?;
        let (writer_tx, writer_rx) = bounded(COLD_WRITE_QUEUE);
        let (compact_tx, compact_rx) = bounded(COLD_COMPACT_QUEUE);
        let name = shared.config.name.clone();
        let w = writer::Writer::new(Arc::clone(&shared), writer_rx, next_id, compact_tx.clone());
        let spawn = |what: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(format!("gx-cold-{what}-{name}"))
                .spawn(f)
                .map_err(|e| Error::spawn(format!("cold {what}"), e))
        };
        let wt = spawn("w", Box::new(move || w.run()))?;
        let c = compactor::Compactor::new(Arc::clone(&shared), compact_rx, writer_tx.clone());
        let ct = spawn("c", Box::new(move || c.run()))?;
        Ok(ColdStore {
            inner: Arc::new(Handle {
                shared,
                writer: writer_tx,
                compactor: compact_tx,
                writer_thread: Some(wt),
                compactor_thread: Some(ct),
                report,
            }),
        })
    }

    fn shared(&self) -> &ColdState {
        &self.inner.shared
    }

    /// Tells `listener` how long each sync and each segment's compaction
    /// takes ([`crate::LatencyEvent::ColdSync`],
    /// [`crate::LatencyEvent::ColdCompaction`]); the first listener set
    /// stays.
    pub(crate) fn set_latency_listener(&self, listener: crate::latency::LatencyListener) {
        let _ = self.shared().latency.set(listener);
    }

    /// What recovery found when the store was opened.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// assert_eq!(store.recovery().entries, 0);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.report
    }

    /// The newest version the store has seen (written or recovered).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// let version = store.put(b"k", b"v", None)?;
    /// assert_eq!(store.max_version(), version);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn max_version(&self) -> u64 {
        self.shared().version.load(Ordering::Acquire)
    }

    /// Takes a new version for a write made through this handle.
    fn next_version(&self) -> u64 {
        self.shared().version.fetch_add(1, Ordering::AcqRel) + 1
    }
}

impl crate::health::Monitored for ColdStore {
    fn errors(&self) -> u64 {
        let c = &self.shared().counters;
        c.io_errors.load(Ordering::Relaxed) + c.corrupt_reads.load(Ordering::Relaxed)
    }

    fn probe(&self) -> bool {
        ColdStore::probe(self).is_ok()
    }
}

impl std::fmt::Debug for ColdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdStore")
            .field("dir", &self.shared().config.dir)
            .field("entries", &self.shared().index.len())
            .finish_non_exhaustive()
    }
}

/// The error for a failed disk operation on `path`, keeping its cause.
pub(crate) fn io_err(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::disk(format!("{what} ({})", path.display()), e)
}
