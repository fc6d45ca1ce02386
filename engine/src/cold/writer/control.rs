//! The writer's control side: answering barriers, seals, snapshots,
//! probes, clears and retirements; its timers (periodic sync and
//! snapshot); and the clean stop. The data path (staging, group commit,
//! sealing) is in the parent module.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{IDLE_TICK, PROBE_NAME, Writer};
use crate::cold::requests::WriterRequest;
use crate::cold::{SyncMode, bump, io_err, snapshot};
use crate::error::Error;

impl Writer {
    pub(super) fn control(&mut self, cmd: WriterRequest) {
        match cmd {
            WriterRequest::Barrier { sync, reply } => {
                let mut result = if sync { self.sync_all() } else { Ok(()) };
                if let Some(failed) = self.failed.take() {
                    result = Err(failed);
                }
                let _ = reply.send(result);
            }
            WriterRequest::Seal { reply } => {
                self.roll();
                let _ = reply.send(self.failed.take().map_or(Ok(()), Err));
            }
            WriterRequest::Snapshot { reply } => {
                let _ = reply.send(self.snapshot());
            }
            WriterRequest::Retire { id, reply } => {
                let _ = reply.send(self.retire(id));
            }
            WriterRequest::Probe { reply } => {
                let _ = reply.send(self.probe());
            }
            WriterRequest::Clear { reply } => {
                let _ = reply.send(self.clear());
            }
            WriterRequest::Append(_)
            | WriterRequest::Rewrite { .. }
            | WriterRequest::Durable { .. }
            | WriterRequest::Shutdown { .. } => {
                unreachable!("handled by run")
            }
        }
    }

    pub(super) fn snapshot(&mut self) -> Result<(), Error> {
        self.sync_all()?;
        let position = match &self.active {
            Some(a) => (a.seg.id, a.len),
            None => (self.next_id, 0),
        };
        snapshot::write(&self.s, position)?;
        bump(&self.s.counters.snapshots, 1);
        self.changed_since_snapshot = false;
        self.last_snapshot = Instant::now();
        Ok(())
    }

    pub(super) fn probe(&mut self) -> Result<(), Error> {
        let fs = &self.s.config.fs;
        let path = self.s.config.dir.join(PROBE_NAME);
        let _ = fs.remove(&path);
        fs.create(&path)
            .and_then(|f| {
                f.write_all_at(b"goldylox probe", 0)?;
                f.sync()
            })
            .and_then(|()| fs.remove(&path))
            .map_err(|e| {
                self.s.io_error("probing the cold directory", &e);
                io_err(&path, "the cold tier's probe failed", e)
            })
    }

    pub(super) fn clear(&mut self) -> Result<(), Error> {
        self.roll();
        self.unsynced.clear();
        for loc in self.s.index.drain() {
            self.s.segments.dead(loc);
        }
        self.s.inflight.clear();
        for seg in self.s.segments.all() {
            let id = seg.id;
            drop(seg);
            self.unlink(id)?;
        }
        // An empty snapshot, so the old one cannot name deleted segments.
        snapshot::write(&self.s, (self.next_id, 0))?;
        self.changed_since_snapshot = false;
        Ok(())
    }

    pub(super) fn retire(&mut self, id: u32) -> Result<(), Error> {
        if self.active.as_ref().is_some_and(|a| a.seg.id == id) {
            self.roll();
        }
        // What compaction rewrote must be durable before the original goes.
        self.sync_all()?;
        self.unlink(id)
    }

    /// Takes segment `id` out of the table, waits for its readers, unmaps
    /// and unlinks it.
    pub(super) fn unlink(&mut self, id: u32) -> Result<(), Error> {
        let Some(seg) = self.s.segments.remove(id) else {
            return Ok(());
        };
        // Unmap before unlink: wait for readers to let go of the segment.
        let mut seg = seg;
        let mut spins = 0u32;
        loop {
            match Arc::try_unwrap(seg) {
                Ok(owned) => {
                    let path = owned.path.clone();
                    drop(owned);
                    let fs = &self.s.config.fs;
                    fs.remove(&path)
                        .and_then(|()| fs.sync_dir(&self.s.config.dir))
                        .map_err(|e| {
                            self.s.io_error("removing a retired segment", &e);
                            io_err(&path, "cannot remove a retired segment", e)
                        })?;
                    self.changed_since_snapshot = true;
                    return Ok(());
                }
                Err(back) => {
                    seg = back;
                    spins += 1;
                    std::thread::sleep(Duration::from_micros(if spins < 100 { 10 } else { 1000 }));
                }
            }
        }
    }

    pub(super) fn next_timer(&self) -> Duration {
        let now = Instant::now();
        let mut wait = IDLE_TICK;
        if let (SyncMode::Every(every), Some(since)) = (self.s.config.sync, self.dirty_since) {
            wait = wait.min((since + every).saturating_duration_since(now));
        }
        if let Some(every) = self.s.config.snapshot_every
            && self.changed_since_snapshot
        {
            wait = wait.min((self.last_snapshot + every).saturating_duration_since(now));
        }
        wait
    }

    pub(super) fn timers(&mut self) {
        let now = Instant::now();
        if let (SyncMode::Every(every), Some(since)) = (self.s.config.sync, self.dirty_since)
            && now >= since + every
        {
            let _ = self.sync_all();
        }
        if let Some(every) = self.s.config.snapshot_every
            && self.changed_since_snapshot
            && now >= self.last_snapshot + every
            && let Err(e) = self.snapshot()
        {
            log::warn!("cold tier {}: snapshot failed: {e}", self.s.config.name);
            self.last_snapshot = now;
        }
    }

    /// A clean stop: append what is queued, sync, snapshot.
    pub(super) fn finish(&mut self) {
        while let Ok(cmd) = self.rx.try_recv() {
            match self.stage(cmd) {
                None => {}
                Some(
                    WriterRequest::Barrier { reply, .. }
                    | WriterRequest::Seal { reply }
                    | WriterRequest::Snapshot { reply },
                ) => {
                    let _ = reply.send(Err(Error::Closed));
                }
                Some(
                    WriterRequest::Retire { reply, .. }
                    | WriterRequest::Probe { reply }
                    | WriterRequest::Clear { reply },
                ) => {
                    let _ = reply.send(Err(Error::Closed));
                }
                Some(WriterRequest::Shutdown { reply }) => {
                    let _ = reply.send(());
                }
                Some(
                    WriterRequest::Append(_)
                    | WriterRequest::Rewrite { .. }
                    | WriterRequest::Durable { .. },
                ) => {
                    unreachable!("staged")
                }
            }
        }
        self.commit();
        self.answer_waiters();
        self.waiters.close();
        if self.changed_since_snapshot
            && self.failed.is_none()
            && let Err(e) = self.snapshot()
        {
            log::warn!(
                "cold tier {}: final snapshot failed: {e}",
                self.s.config.name
            );
        }
    }
}
