//! The cold writer actor: owns the active segment, appends records in group
//! commits, syncs per the [`SyncMode`], seals full segments, writes index
//! snapshots and retires compacted segments.
//!
//! An append's index entry is already *pending* when it arrives (set by the
//! sender under the index shard lock); the writer points it at the record
//! once the bytes are written (and, with `SyncMode::Always`, synced), but
//! only if it is still pending for the same version — a newer write or a
//! remove in the meantime makes the record garbage from birth. It is still
//! written: a caller waiting for durability ([`WriterRequest::Durable`]) may be
//! answered before the newer record lands, and recovery keeps the newest
//! version of a key, so the older record is what a crash in between finds.
//!
//! A failed write or sync *poisons* the segment: it is never read or
//! compacted from again, the records of the failed commit are dropped from
//! the index (the cache answers a miss, never a stale value), and the next
//! append opens a new segment.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::durable::Waiters;
use super::format::{self, HEADER};
use super::fs::ColdFile;
use super::index::Loc;
use super::requests::{Append, CompactorRequest, WriterRequest};
use super::segment::{Body, SegStats, Segment, file_name};
use super::{ColdState, SyncMode, bump, io_err};
use crate::error::Error;

mod control;

/// Bytes staged before a group commit is written even if more is queued.
const GROUP_COMMIT_BYTES: usize = 1 << 20;
/// How long the writer sleeps when it has nothing timed to do.
const IDLE_TICK: Duration = Duration::from_millis(200);

/// The probe's file name.
const PROBE_NAME: &str = "probe.tmp";

enum Staged {
    Put {
        hash: u64,
        tag: u32,
        at: usize,
        len: usize,
    },
    Tomb {
        len: usize,
    },
    Rewrite {
        hash: u64,
        from: Loc,
        at: usize,
        len: usize,
        tombstone: bool,
    },
}

/// The segment being appended to.
pub(crate) struct Active {
    pub(crate) seg: Arc<Segment>,
    pub(crate) file: Arc<dyn ColdFile>,
    pub(crate) len: u64,
    /// Whether its directory entry has been synced.
    pub(crate) named: bool,
}

pub(crate) struct Writer {
    s: Arc<ColdState>,
    rx: Receiver<WriterRequest>,
    active: Option<Active>,
    next_id: u32,
    /// Sealed but not yet synced (`SyncMode::Never`).
    unsynced: Vec<Arc<dyn ColdFile>>,
    buf: Vec<u8>,
    staged: Vec<Staged>,
    dirty_since: Option<Instant>,
    changed_since_snapshot: bool,
    last_snapshot: Instant,
    /// The first error since the last barrier, reported to it.
    failed: Option<Error>,
    /// Callers waiting for durability, and the failures they must hear of.
    waiters: Waiters,
    compactor: Sender<CompactorRequest>,
}

impl Writer {
    pub(crate) fn new(
        s: Arc<ColdState>,
        rx: Receiver<WriterRequest>,
        next_id: u32,
        compactor: Sender<CompactorRequest>,
    ) -> Self {
        let waiters = Waiters::new(Arc::clone(&s.counters.durable_failures));
        Writer {
            s,
            rx,
            active: None,
            next_id,
            unsynced: Vec::new(),
            buf: Vec::with_capacity(GROUP_COMMIT_BYTES),
            staged: Vec::new(),
            dirty_since: None,
            changed_since_snapshot: false,
            last_snapshot: Instant::now(),
            failed: None,
            waiters,
            compactor,
        }
    }

    pub(crate) fn run(mut self) {
        loop {
            let cmd = match self.rx.recv_timeout(self.next_timer()) {
                Ok(cmd) => cmd,
                Err(RecvTimeoutError::Timeout) => {
                    self.timers();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish();
                    return;
                }
            };
            let mut next = Some(cmd);
            while let Some(cmd) = next.take() {
                match self.stage(cmd) {
                    None => {}
                    Some(WriterRequest::Shutdown { reply }) => {
                        self.finish();
                        let _ = reply.send(());
                        return;
                    }
                    Some(other) => {
                        self.commit();
                        self.control(other);
                    }
                }
                if self.buf.len() < GROUP_COMMIT_BYTES {
                    next = self.rx.try_recv().ok();
                }
            }
            self.commit();
            self.answer_waiters();
            self.timers();
        }
    }

    /// Stages a command of the data path (an append, a rewrite, a waiter
    /// for durability) for the next group commit; hands any other back.
    fn stage(&mut self, cmd: WriterRequest) -> Option<WriterRequest> {
        match cmd {
            WriterRequest::Append(a) => self.stage_append(a),
            WriterRequest::Rewrite {
                hash,
                from,
                record,
                tombstone,
            } => self.stage_rewrite(hash, from, &record, tombstone),
            WriterRequest::Durable { waiter, mark } => self.waiters.push(waiter, mark),
            other => return Some(other),
        }
        None
    }

    /// Makes everything committed durable once for every waiter collected,
    /// and answers them (a commit under `SyncMode::Always` synced already).
    fn answer_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let synced = if self.s.config.sync == SyncMode::Always {
            Ok(())
        } else {
            self.sync_all()
        };
        if let Err(e) = &synced {
            self.waiters.failed(e);
        }
        self.waiters.answer(&synced);
    }

    fn active_len(&self) -> usize {
        self.active.as_ref().map_or(0, |a| a.len as usize)
    }

    /// Makes room for a record of `len` bytes: a full segment is committed
    /// and sealed first.
    fn make_room(&mut self, len: usize) {
        let used = self.active_len() + self.buf.len();
        if used > 0 && used + len > self.s.config.segment_size as usize {
            self.commit();
            self.roll();
        }
    }

    fn stage_append(&mut self, a: Append) {
        // Every append is written, even one overtaken by a newer write or a
        // remove of its key (garbage from birth, see the module docs): the
        // queue holds one key's appends in the order of its index changes,
        // so the records of a key land in version order.
        let (hash, rec) = (a.hash, a.rec);
        self.dequeued(rec.bytes());
        let len = HEADER + rec.key.len() + rec.value.as_ref().map_or(0, Vec::len);
        self.make_room(len.min(self.s.config.segment_size as usize));
        let at = self.buf.len();
        format::encode(
            &mut self.buf,
            &rec.key,
            rec.value.as_deref(),
            rec.version,
            rec.expires,
        );
        let len = self.buf.len() - at;
        self.staged.push(match rec.value {
            Some(_) => Staged::Put {
                hash,
                tag: rec.version as u32,
                at,
                len,
            },
            None => Staged::Tomb { len },
        });
    }

    /// A command holding `bytes` of records left the queue (see
    /// [`super::COLD_WRITE_QUEUE_BYTES`]).
    fn dequeued(&self, bytes: u64) {
        self.s
            .counters
            .queued_bytes
            .fetch_sub(bytes, Ordering::AcqRel);
    }

    fn stage_rewrite(&mut self, hash: u64, from: Loc, record: &[u8], tombstone: bool) {
        self.dequeued(record.len() as u64);
        // Likewise a live record that was overwritten or removed since the
        // compactor read it (a tombstone is kept unconditionally).
        if !tombstone && !self.s.names(hash, from) {
            return;
        }
        self.make_room(record.len());
        let at = self.buf.len();
        self.buf.extend_from_slice(record);
        self.staged.push(Staged::Rewrite {
            hash,
            from,
            at,
            len: record.len(),
            tombstone,
        });
    }

    /// Opens a new active segment if there is none.
    fn ensure_active(&mut self) -> Result<(), Error> {
        if self.active.is_some() {
            return Ok(());
        }
        let id = self.next_id;
        let path = file_name(&self.s.config.dir, id);
        let fs = &self.s.config.fs;
        let file = fs.create(&path).map_err(|e| {
            self.s.io_error("creating a segment", &e);
            io_err(&path, "cannot create a cold segment", e)
        })?;
        self.next_id += 1;
        let mut named = false;
        if self.s.config.sync != SyncMode::Never {
            named = fs.sync_dir(&self.s.config.dir).is_ok();
        }
        let seg = Arc::new(Segment {
            id,
            path,
            body: Body::Active(Arc::clone(&file)),
            stats: Arc::new(SegStats::default()),
        });
        self.s.segments.insert(Arc::clone(&seg));
        self.active = Some(Active {
            seg,
            file,
            len: 0,
            named,
        });
        Ok(())
    }

    /// Writes the staged records in one positioned write, syncs if the mode
    /// says so, then points the index at them.
    fn commit(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let staged = std::mem::take(&mut self.staged);
        let (id, base, stats) = match self.write_buffer() {
            Ok(written) => written,
            Err(why) => {
                self.drop_staged(staged, why);
                return;
            }
        };
        bump(&self.s.counters.appended, staged.len() as u64);
        let live: u64 = staged
            .into_iter()
            .map(|st| self.point_index(st, id, base))
            .sum();
        stats.live.fetch_add(live, Ordering::AcqRel);
        self.changed_since_snapshot = true;
        if self.s.config.sync != SyncMode::Always && self.dirty_since.is_none() {
            self.dirty_since = Some(Instant::now());
        }
    }

    /// Writes the buffer at the end of the active segment (opening one if
    /// needed) and syncs it under `SyncMode::Always`. Returns the segment,
    /// the offset the buffer starts at and the segment's figures; a failed
    /// write or sync poisons the segment and returns why.
    fn write_buffer(&mut self) -> Result<(u32, u64, Arc<SegStats>), Error> {
        self.ensure_active()?;
        let active = self.active.as_mut().expect("ensured");
        let base = active.len;
        let written =
            active
                .file
                .write_all_at(&self.buf, base)
                .and_then(|()| match self.s.config.sync {
                    SyncMode::Always => {
                        bump(&self.s.counters.syncs, 1);
                        active.file.sync()
                    }
                    _ => Ok(()),
                });
        if let Err(e) = written {
            let what = format!("appending to segment {}", active.seg.id);
            self.s.io_error(&what, &e);
            let failed = io_err(&active.seg.path, &what, e);
            self.poison_active();
            return Err(failed);
        }
        let written = self.buf.len() as u64;
        active.len += written;
        active.seg.stats.len.fetch_add(written, Ordering::AcqRel);
        bump(&self.s.counters.commits, 1);
        bump(&self.s.counters.appended_bytes, written);
        self.buf.clear();
        Ok((active.seg.id, base, Arc::clone(&active.seg.stats)))
    }

    /// Points the index at one written record, if it still wants it: a
    /// put whose entry is still pending for its version, a rewrite whose
    /// entry still points at the copied record. Returns the bytes of the
    /// record that are live.
    fn point_index(&self, st: Staged, id: u32, base: u64) -> u64 {
        let loc = |at: usize, len: usize, tag: u32| Loc {
            seg: id,
            offset: (base + at as u64) as u32,
            len: len as u32,
            tag,
        };
        match st {
            Staged::Put { hash, tag, at, len } => {
                let mut shard = self.s.index.shard(hash).write();
                let Some(e) = shard.get_mut(&hash) else {
                    return 0;
                };
                if !e.is_pending() || e.tag != tag {
                    return 0;
                }
                *e = loc(at, len, tag);
                let prev = self.s.inflight.take(hash, tag);
                drop(shard);
                if let Some(prev) = prev {
                    self.s.segments.dead(prev);
                }
                len as u64
            }
            Staged::Tomb { len } => len as u64,
            Staged::Rewrite { len, tombstone, .. } if tombstone => len as u64,
            Staged::Rewrite {
                hash,
                from,
                at,
                len,
                ..
            } => {
                let mut shard = self.s.index.shard(hash).write();
                let to = loc(at, len, from.tag);
                let moved = match shard.get_mut(&hash) {
                    Some(e) if *e == from => {
                        *e = to;
                        true
                    }
                    // The key's last record on disk while a newer append is
                    // in flight.
                    Some(e) if e.is_pending() => self.s.inflight.move_prev(hash, from, to),
                    _ => false,
                };
                drop(shard);
                if !moved {
                    return 0;
                }
                self.s.segments.dead(from);
                len as u64
            }
        }
    }

    /// A commit failed: its puts are taken out of the index (they were
    /// pending), so readers miss instead of seeing an older value.
    fn drop_staged(&mut self, staged: Vec<Staged>, why: Error) {
        self.buf.clear();
        for st in staged {
            if let Staged::Put { hash, tag, .. } = st {
                let mut shard = self.s.index.shard(hash).write();
                if shard
                    .get(&hash)
                    .is_some_and(|e| e.is_pending() && e.tag == tag)
                {
                    shard.remove(&hash);
                    self.s.inflight.take(hash, tag);
                }
            }
        }
        self.waiters.failed(&why);
        self.failed.get_or_insert(why);
    }

    fn poison_active(&mut self) {
        if let Some(active) = self.active.take()
            && !active.seg.stats.poisoned.swap(true, Ordering::AcqRel)
        {
            bump(&self.s.counters.poisoned_segments, 1);
            log::error!(
                "cold tier {}: segment {} poisoned; it is never read again",
                self.s.config.name,
                active.seg.id
            );
        }
    }

    /// Seals the active segment: sync (unless `Never`), map read-only, and
    /// let the compactor look at the store.
    fn roll(&mut self) {
        let Some(active) = self.active.take() else {
            return;
        };
        if self.s.config.sync == SyncMode::Never {
            self.unsynced.push(Arc::clone(&active.file));
        } else {
            bump(&self.s.counters.syncs, 1);
            if let Err(e) = active.file.sync() {
                let what = format!("syncing segment {} to seal it", active.seg.id);
                self.s.io_error(&what, &e);
                let failed = io_err(&active.seg.path, &what, e);
                self.waiters.failed(&failed);
                self.failed.get_or_insert(failed);
                self.active = Some(active);
                self.poison_active();
                return;
            }
            self.dirty_since = None;
        }
        let body = if self.s.config.map_sealed {
            match active.file.map(active.len) {
                Ok(map) => Some(Body::Sealed(map)),
                // Still readable with positioned reads.
                Err(e) => {
                    self.s.io_error("mapping a sealed segment", &e);
                    None
                }
            }
        } else {
            None
        };
        let body = body.unwrap_or_else(|| Body::SealedFile(Arc::clone(&active.file), active.len));
        self.s.segments.insert(Arc::new(Segment {
            id: active.seg.id,
            path: active.seg.path.clone(),
            body,
            stats: Arc::clone(&active.seg.stats),
        }));
        let _ = self.compactor.try_send(CompactorRequest::Run {
            all: false,
            reply: None,
        });
    }

    /// Makes everything appended so far durable: sealed-but-unsynced
    /// segments, the active one, and its directory entry.
    fn sync_all(&mut self) -> Result<(), Error> {
        let began = Instant::now();
        let synced = self.sync_files();
        self.s.took(crate::LatencyEvent::ColdSync, began);
        synced
    }

    fn sync_files(&mut self) -> Result<(), Error> {
        let fs = Arc::clone(&self.s.config.fs);
        for file in std::mem::take(&mut self.unsynced) {
            bump(&self.s.counters.syncs, 1);
            file.sync().map_err(|e| {
                self.s.io_error("syncing a sealed segment", &e);
                io_err(&self.s.config.dir, "cannot sync a sealed segment", e)
            })?;
        }
        if let Some(active) = &mut self.active {
            bump(&self.s.counters.syncs, 1);
            if let Err(e) = active.file.sync() {
                let what = format!("syncing segment {}", active.seg.id);
                self.s.io_error(&what, &e);
                self.poison_active();
                return Err(io_err(&self.s.config.dir, &what, e));
            }
        }
        let need_dir = self.active.as_ref().is_some_and(|a| !a.named);
        if need_dir || self.s.config.sync == SyncMode::Never {
            fs.sync_dir(&self.s.config.dir).map_err(|e| {
                self.s.io_error("syncing the cold directory", &e);
                io_err(&self.s.config.dir, "cannot sync the cold directory", e)
            })?;
            if let Some(active) = &mut self.active {
                active.named = true;
            }
        }
        self.dirty_since = None;
        Ok(())
    }
}
