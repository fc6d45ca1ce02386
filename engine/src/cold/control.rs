//! What a store asks of its actors and waits for: barriers and syncs,
//! durability waits, seals, snapshots, compaction passes, probes, clears
//! and the close. The data path (reads, appends) is in the parent module.

use std::path::Path;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Sender, bounded};

use super::ColdStore;
use super::requests::{CompactorRequest, WriterRequest};
use crate::error::Error;

impl ColdStore {
    /// Waits until everything queued before this call is appended and
    /// readable (not necessarily durable).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// store.flush()?; // written to the file, not necessarily synced
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn flush(&self) -> Result<(), Error> {
        self.barrier(false)
    }

    /// Waits until everything queued before this call is durable.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// store.sync()?; // durable
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn sync(&self) -> Result<(), Error> {
        self.barrier(true)
    }

    /// Where the store's commits stand: take one before writes whose
    /// durability a caller will wait for with [`ColdStore::when_durable`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// let mark = store.durability_mark();
    /// store.put(b"k", b"v", None)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// store.when_durable(mark, move |r| tx.send(r).unwrap());
    /// store.sync()?;
    /// rx.recv().unwrap()?;
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn durability_mark(&self) -> u64 {
        self.shared()
            .counters
            .durable_failures
            .load(Ordering::Acquire)
    }

    /// Calls `done`, on the writer's thread, once everything queued before
    /// this call is durable; callers waiting at once share one sync (group
    /// commit). `Err` if a commit or sync failed since `mark` (from
    /// [`ColdStore::durability_mark`], taken before the writes).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// store.when_durable(store.durability_mark(), move |r| tx.send(r).unwrap());
    /// store.sync()?;
    /// rx.recv().unwrap()?;
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn when_durable(&self, mark: u64, done: impl FnOnce(Result<(), Error>) + Send + 'static) {
        let cmd = WriterRequest::Durable {
            waiter: Box::new(done),
            mark,
        };
        if let Err(e) = self.inner.writer.send(cmd) {
            let WriterRequest::Durable { waiter, .. } = e.into_inner() else {
                unreachable!("sent a Durable")
            };
            waiter(Err(Error::Closed));
        }
    }

    /// Sends the writer a command carrying a reply channel and waits for
    /// its answer.
    fn ask(
        &self,
        cmd: impl FnOnce(Sender<Result<(), Error>>) -> WriterRequest,
    ) -> Result<(), Error> {
        let (reply, done) = bounded(1);
        self.inner
            .writer
            .send(cmd(reply))
            .map_err(|_| Error::Closed)?;
        done.recv().map_err(|_| Error::Closed)?
    }

    fn barrier(&self, sync: bool) -> Result<(), Error> {
        self.ask(|reply| WriterRequest::Barrier { sync, reply })
    }

    /// Seals the active segment now (a new one takes its place).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// store.seal()?; // the active segment becomes read-only; a new one starts
    /// assert_eq!(store.get(b"k")?.unwrap().value, b"v");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn seal(&self) -> Result<(), Error> {
        self.ask(|reply| WriterRequest::Seal { reply })
    }

    /// Writes an index snapshot now.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// store.snapshot()?; // the next open reads the index instead of the segments
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn snapshot(&self) -> Result<(), Error> {
        self.ask(|reply| WriterRequest::Snapshot { reply })
    }

    /// Compacts every sealed segment with any garbage (or only those at the
    /// configured threshold if `all` is false), evicts past the capacity,
    /// and waits. Returns the number of segments compacted or evicted.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// for i in 0..100u32 {
    ///     store.put(b"k", &i.to_le_bytes(), None)?; // 99 dead records
    /// }
    /// store.seal()?;
    /// store.compact(true)?;
    /// assert_eq!(store.get(b"k")?.unwrap().value, 99u32.to_le_bytes());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn compact(&self, all: bool) -> Result<usize, Error> {
        let (reply, done) = bounded(1);
        self.inner
            .compactor
            .send(CompactorRequest::Run {
                all,
                reply: Some(reply),
            })
            .map_err(|_| Error::Closed)?;
        done.recv().map_err(|_| Error::Closed)?
    }

    /// The last I/O error, if any.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// assert_eq!(store.last_error(), None);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn last_error(&self) -> Option<String> {
        self.shared().last_error.lock().clone()
    }

    /// A health probe: the writer creates, writes, syncs and removes a small
    /// file beside the segments, which fails if the disk does.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.probe()?; // the disk answers
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn probe(&self) -> Result<(), Error> {
        self.ask(|reply| WriterRequest::Probe { reply })
    }

    /// Removes everything: the index is emptied and every segment file
    /// deleted (so nothing comes back after a restart).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// store.clear()?;
    /// assert_eq!(store.get(b"k")?, None);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn clear(&self) -> Result<(), Error> {
        self.ask(|reply| WriterRequest::Clear { reply })
    }

    /// The directory the store lives in.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// assert_eq!(store.dir(), dir.path());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.shared().config.dir
    }

    /// Appends what is queued, syncs, writes an index snapshot and stops the
    /// threads. Later calls fail with [`Error::Closed`]. Dropping the last
    /// handle does the same.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// store.close()?;
    /// let again = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// assert_eq!(again.get(b"k")?.unwrap().value, b"v");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn close(self) -> Result<(), Error> {
        let result = self.sync().and_then(|()| self.snapshot());
        drop(self);
        result
    }
}
