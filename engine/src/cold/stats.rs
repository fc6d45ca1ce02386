//! What a cold store reports: its counters, kept by the writer, the
//! compactor and readers, and the figures read from them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::ColdStore;

/// What recovery found when the store was opened.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use goldylox::cold::{ColdConfig, ColdStore};
/// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
/// let r = store.recovery();
/// println!("recovered {} entries", r.entries);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments found.
    pub segments: usize,
    /// Entries loaded from the index snapshot.
    pub from_snapshot: u64,
    /// Records scanned (after the snapshot, or all).
    pub scanned: u64,
    /// Live entries in the index afterwards.
    pub entries: u64,
    /// Bytes cut from the torn tail of the last segment.
    pub torn_bytes: u64,
    /// Segments quarantined for bad records (renamed `*.quarantined`).
    pub quarantined: Vec<u32>,
    /// Why the snapshot was not used, if there was one.
    pub snapshot_rejected: Option<String>,
    /// Files in the directory that are not the store's (left alone).
    pub foreign_files: usize,
    /// How long recovery took.
    pub elapsed: Duration,
}

/// Counters and sizes of a cold store.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use goldylox::cold::{ColdConfig, ColdStore};
/// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
/// let s = store.stats();
/// println!("{} entries", s.entries);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColdStats {
    /// Live entries in the index.
    pub entries: u64,
    /// Segment files, and their bytes.
    pub segments: u64,
    /// Bytes of all segments.
    pub disk_bytes: u64,
    /// Bytes of records the index points at, plus tombstones.
    pub live_bytes: u64,
    /// Bytes of the index's tables.
    pub index_bytes: u64,
    /// Record bytes queued in RAM for the writer (bounded by 8 MiB plus
    /// one record).
    pub queued_bytes: u64,
    /// Records appended (values and tombstones, rewrites included).
    pub appended: u64,
    /// Bytes appended.
    pub appended_bytes: u64,
    /// Group commits (one positioned write each) and syncs.
    pub commits: u64,
    /// Syncs.
    pub syncs: u64,
    /// Reads that found a record.
    pub hits: u64,
    /// Reads that found none (or an expired one).
    pub misses: u64,
    /// Records that failed their checksum on read (never returned).
    pub corrupt_reads: u64,
    /// I/O errors (reads, writes, syncs, files).
    pub io_errors: u64,
    /// Segments poisoned by a failed write or sync.
    pub poisoned_segments: u64,
    /// Segments quarantined (at recovery or on a bad read).
    pub quarantined_segments: u64,
    /// Compactions run, records they rewrote, bytes they reclaimed, and
    /// nanoseconds they took.
    pub compactions: u64,
    /// Records rewritten by compaction.
    pub compacted_records: u64,
    /// Bytes of segment files compaction removed.
    pub compacted_bytes: u64,
    /// Nanoseconds spent compacting.
    pub compaction_nanos: u64,
    /// Segments evicted because the store was over capacity, and the live
    /// entries they took with them.
    pub evicted_segments: u64,
    /// Live entries dropped with evicted segments.
    pub evicted_entries: u64,
    /// Index snapshots written.
    pub snapshots: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) appended: AtomicU64,
    pub(crate) appended_bytes: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) corrupt_reads: AtomicU64,
    pub(crate) io_errors: AtomicU64,
    pub(crate) poisoned_segments: AtomicU64,
    pub(crate) quarantined_segments: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) compacted_records: AtomicU64,
    pub(crate) compacted_bytes: AtomicU64,
    pub(crate) compaction_nanos: AtomicU64,
    pub(crate) evicted_segments: AtomicU64,
    pub(crate) evicted_entries: AtomicU64,
    pub(crate) snapshots: AtomicU64,
    /// Commits and syncs that failed: what durability marks count.
    pub(crate) durable_failures: Arc<AtomicU64>,
    /// Record bytes queued for the writer and not yet taken off the queue.
    pub(crate) queued_bytes: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl ColdStore {
    /// Counters and sizes.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// assert_eq!(store.stats().entries, 1);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn stats(&self) -> ColdStats {
        let s = self.shared();
        let c = &s.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (segments, disk_bytes, live_bytes) = s.segments.totals();
        ColdStats {
            entries: s.index.len() as u64,
            segments,
            disk_bytes,
            live_bytes,
            index_bytes: s.index.table_bytes() as u64,
            queued_bytes: get(&c.queued_bytes),
            appended: get(&c.appended),
            appended_bytes: get(&c.appended_bytes),
            commits: get(&c.commits),
            syncs: get(&c.syncs),
            hits: get(&c.hits),
            misses: get(&c.misses),
            corrupt_reads: get(&c.corrupt_reads),
            io_errors: get(&c.io_errors),
            poisoned_segments: get(&c.poisoned_segments),
            quarantined_segments: get(&c.quarantined_segments),
            compactions: get(&c.compactions),
            compacted_records: get(&c.compacted_records),
            compacted_bytes: get(&c.compacted_bytes),
            compaction_nanos: get(&c.compaction_nanos),
            evicted_segments: get(&c.evicted_segments),
            evicted_entries: get(&c.evicted_entries),
            snapshots: get(&c.snapshots),
        }
    }
}
