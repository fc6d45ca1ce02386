//! The compactor actor: keeps the store within its capacity by evicting the
//! oldest segment, and reclaims garbage by rewriting the live records of
//! sealed segments whose garbage ratio reached the threshold, then retiring
//! them (through the writer, which makes the rewrites durable first).
//!
//! Space bound: bytes on disk ≤ `capacity` + the active segment + the
//! segment being compacted. Among sealed segments, none stays above the
//! garbage threshold `g` after a pass, so live data takes at least `1 − g`
//! of them (tombstones count as live until no older segment exists).
//!
//! What a pass keeps, so that nothing comes back after a restart:
//! * a live record (the index still points at it) is rewritten;
//! * an expired live record is dropped, replaced by a tombstone if an older
//!   segment could still hold an older version of its key;
//! * a tombstone is rewritten while an older segment exists;
//! * anything else is dead and dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded};

use super::format;
use super::index::Loc;
use super::requests::{CompactorRequest, WriterRequest};
use super::segment::{Reader, Segment};
use super::{ColdState, bump};
use crate::error::Error;

/// Bytes of a segment a compaction reads at once (one record when larger):
/// its RAM, instead of the whole segment.
const COMPACT_WINDOW: usize = 1 << 20;

pub(crate) struct Compactor {
    s: Arc<ColdState>,
    rx: Receiver<CompactorRequest>,
    writer: Sender<WriterRequest>,
}

impl Compactor {
    pub(crate) fn new(
        s: Arc<ColdState>,
        rx: Receiver<CompactorRequest>,
        writer: Sender<WriterRequest>,
    ) -> Self {
        Compactor { s, rx, writer }
    }

    pub(crate) fn run(self) {
        while let Ok(cmd) = self.rx.recv() {
            match cmd {
                CompactorRequest::Run { all, reply } => {
                    let result = self.pass(all);
                    if let Err(e) = &result
                        && !matches!(e, Error::Closed)
                    {
                        log::warn!("cold tier {}: compaction: {e}", self.s.config.name);
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                }
                CompactorRequest::Shutdown => return,
            }
        }
    }

    /// Segments that may be evicted or compacted: all but the newest (which
    /// may be the one being written).
    fn candidates(&self) -> Vec<Arc<Segment>> {
        let mut all = self.s.segments.all();
        all.pop();
        all
    }

    fn pass(&self, all: bool) -> Result<usize, Error> {
        let mut done = 0;
        loop {
            self.open()?;
            let (_, disk, _) = self.s.segments.totals();
            if disk <= self.s.config.capacity {
                break;
            }
            let Some(oldest) = self.candidates().into_iter().next() else {
                break;
            };
            self.evict(oldest)?;
            done += 1;
        }
        let threshold = match (all, self.s.config.compact_at) {
            (true, _) => f64::MIN_POSITIVE,
            (false, Some(g)) => g,
            (false, None) => return Ok(done),
        };
        // Ids, not segments: no segment may be held while waiting for the
        // writer, which waits for every holder before it unmaps one.
        let mut picked: Vec<(f64, u32)> = self
            .candidates()
            .into_iter()
            .filter(|seg| seg.is_sealed() && seg.trusted())
            .filter_map(|seg| {
                let len = seg.stats.len.load(Ordering::Acquire);
                let live = seg.stats.live.load(Ordering::Acquire).min(len);
                let garbage = if len == 0 {
                    0.0
                } else {
                    (len - live) as f64 / len as f64
                };
                (garbage >= threshold).then_some((garbage, seg.id))
            })
            .collect();
        picked.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, id) in picked {
            self.open()?;
            if let Some(seg) = self.s.segments.get(id)
                && self.compact(seg)?
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// `Err(Closed)` once the store is closing: a pass stops between
    /// segments (what it rewrote so far is as a crash would leave it).
    fn open(&self) -> Result<(), Error> {
        if self.s.closing.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Drops the oldest segment and the entries it held.
    fn evict(&self, seg: Arc<Segment>) -> Result<(), Error> {
        let id = seg.id;
        // The writer unmaps a segment once no one holds it.
        drop(seg);
        let mut gone = Vec::new();
        self.s.index.for_each(|h, loc| {
            if loc.seg == id {
                gone.push((h, loc));
            }
        });
        let mut n = 0;
        for (h, loc) in gone {
            if self.s.unindex_if(h, loc) {
                n += 1;
            }
        }
        bump(&self.s.counters.evicted_entries, n);
        bump(&self.s.counters.evicted_segments, 1);
        self.retire(id)
    }

    /// Rewrites the live records of `seg` and retires it; `false` if it
    /// turned out to hold a bad record (it is quarantined instead).
    fn compact(&self, seg: Arc<Segment>) -> Result<bool, Error> {
        if !seg.is_sealed() {
            return Ok(false);
        }
        let started = Instant::now();
        let now = (self.s.now)();
        let older = self.s.segments.has_older(seg.id);
        let mut reader = Reader::new(&seg, COMPACT_WINDOW);
        let total = reader.len();
        let mut off = 0u64;
        let mut rewritten = 0u64;
        while off < total {
            let read = reader.record(off).map_err(|e| {
                self.s
                    .io_error(&format!("reading segment {} to compact it", seg.id), &e);
                super::io_err(&seg.path, "cannot read a cold segment to compact it", e)
            })?;
            let (h, record) = match read {
                Ok(found) => found,
                Err(why) => {
                    self.quarantine(&seg, off, &why);
                    return Ok(false);
                }
            };
            let loc = Loc {
                seg: seg.id,
                offset: off as u32,
                len: h.record_len() as u32,
                tag: h.version as u32,
            };
            off += h.record_len() as u64;
            if let Some(cmd) = self.carry_over(&h, record, loc, older, now) {
                self.rewrite(cmd)?;
                rewritten += 1;
            }
        }
        let id = seg.id;
        drop(reader);
        drop(seg);
        self.retire(id)?;
        bump(&self.s.counters.compactions, 1);
        bump(&self.s.counters.compacted_records, rewritten);
        bump(&self.s.counters.compacted_bytes, total);
        bump(
            &self.s.counters.compaction_nanos,
            started.elapsed().as_nanos() as u64,
        );
        self.s.took(crate::LatencyEvent::ColdCompaction, started);
        Ok(true)
    }

    /// What of one record must survive its segment: a tombstone while an
    /// older segment may hold what it deletes; a value the index still
    /// points at, unless it expired (then its tombstone, if an older
    /// segment may hold the key). `None`: nothing.
    fn carry_over(
        &self,
        h: &format::Header,
        record: &[u8],
        loc: Loc,
        older: bool,
        now: u64,
    ) -> Option<WriterRequest> {
        let key = format::key_of(record, h);
        let hash = self.s.key_hash(key);
        let (record, tombstone) = if h.is_tombstone() {
            if !older {
                return None;
            }
            (record.to_vec(), true)
        } else if !self.s.names(hash, loc) {
            return None;
        } else if h.expires != format::NEVER && h.expires <= now {
            if !self.s.unindex_if(hash, loc) || !older {
                return None;
            }
            let mut tomb = Vec::new();
            format::encode(&mut tomb, key, None, h.version, format::NEVER);
            (tomb, true)
        } else {
            (record.to_vec(), false)
        };
        Some(WriterRequest::Rewrite {
            hash,
            from: loc,
            record,
            tombstone,
        })
    }

    /// Marks `seg` quarantined (never read or compacted again) for the bad
    /// record at `off`.
    fn quarantine(&self, seg: &Segment, off: u64, why: &impl std::fmt::Debug) {
        if !seg.stats.quarantined.swap(true, Ordering::AcqRel) {
            bump(&self.s.counters.quarantined_segments, 1);
        }
        log::error!(
            "cold tier {}: segment {} has a bad record at {off} ({why:?}); quarantined",
            self.s.config.name,
            seg.id
        );
    }

    /// Queues a rewrite for the writer within the queue's byte bound.
    fn rewrite(&self, cmd: WriterRequest) -> Result<(), Error> {
        let WriterRequest::Rewrite { record, .. } = &cmd else {
            unreachable!("only rewrites are queued here")
        };
        let bytes = record.len() as u64;
        while !self.s.queue_has_room(bytes) {
            self.open()?;
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        self.s
            .counters
            .queued_bytes
            .fetch_add(bytes, Ordering::AcqRel);
        self.writer.send(cmd).map_err(|_| {
            self.s
                .counters
                .queued_bytes
                .fetch_sub(bytes, Ordering::AcqRel);
            Error::Closed
        })
    }

    fn retire(&self, id: u32) -> Result<(), Error> {
        let (reply, done) = bounded(1);
        self.writer
            .send(WriterRequest::Retire { id, reply })
            .map_err(|_| Error::Closed)?;
        done.recv().map_err(|_| Error::Closed)?
    }
}
