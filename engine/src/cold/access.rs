//! The store's data calls: reads, writes and removals by key, and the
//! hashed forms the cache's cold tier uses.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::TrySendError;

use super::index::{Loc, Record};
use super::requests::{Append, WriterRequest};
use super::stats::bump;
use super::{ColdStore, ColdValue, MAX_KEY, MAX_VALUE, format, io_err, reader};
use crate::error::Error;

impl ColdStore {
    /// The live value of `key`, if any. A record that fails its checksum is
    /// never returned: it is counted, its segment quarantined, and the read
    /// answers [`Error::Corrupted`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// assert_eq!(store.get(b"absent")?, None);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn get(&self, key: &[u8]) -> Result<Option<ColdValue>, Error> {
        let s = self.shared();
        let hash = s.key_hash(key);
        let found = reader::read(s, hash, |k| k == key);
        match &found {
            Ok(Some(_)) => bump(&s.counters.hits, 1),
            Ok(None) => bump(&s.counters.misses, 1),
            Err(_) => {}
        }
        found
    }

    /// Whether the index has a (possibly pending) entry for `key`'s hash.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// assert!(store.contains_hash_of(b"k"));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn contains_hash_of(&self, key: &[u8]) -> bool {
        self.shared()
            .index
            .get(self.shared().key_hash(key))
            .is_some()
    }

    /// Stores `value` under `key` with deadline `expires` (store-clock
    /// nanoseconds; `None` never). It becomes readable once the writer has
    /// appended it; durable per the [`SyncMode`](super::SyncMode) or after [`ColdStore::sync`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// let v1 = store.put(b"k", b"one", None)?;
    /// let v2 = store.put(b"k", b"two", None)?;
    /// assert!(v2 > v1);
    /// assert_eq!(store.get(b"k")?.unwrap().version, v2);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn put(&self, key: &[u8], value: &[u8], expires: Option<u64>) -> Result<u64, Error> {
        let version = self.next_version();
        self.put_version(key, value, version, expires.unwrap_or(format::NEVER))?;
        Ok(version)
    }

    /// Appends a record with a caller-chosen version (the cache's). The
    /// index entry becomes pending at once, so an older record of the key is
    /// never read again.
    pub(crate) fn put_version(
        &self,
        key: &[u8],
        value: &[u8],
        version: u64,
        expires: u64,
    ) -> Result<(), Error> {
        let hash = self.shared().key_hash(key);
        self.put_hashed(hash, key, value, version, expires)
    }

    /// [`ColdStore::put_version`] with the key's hash known.
    pub(crate) fn put_hashed(
        &self,
        hash: u64,
        key: &[u8],
        value: &[u8],
        version: u64,
        expires: u64,
    ) -> Result<(), Error> {
        self.check_sizes(key, value.len())?;
        self.shared().version.fetch_max(version, Ordering::AcqRel);
        let append = Append {
            hash,
            rec: Arc::new(Record {
                key: key.to_vec(),
                value: Some(value.to_vec()),
                version,
                expires,
            }),
        };
        self.enqueue(hash, Some(Loc::pending(version)), append)
    }

    /// Removes `key`: the entry is dropped now and a tombstone appended.
    /// Returns whether the index had it.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use goldylox::cold::{ColdConfig, ColdStore};
    /// let store = ColdStore::open(ColdConfig::new(dir.path(), 1 << 30))?;
    /// store.put(b"k", b"v", None)?;
    /// assert!(store.remove(b"k")?);
    /// assert!(!store.remove(b"k")?);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn remove(&self, key: &[u8]) -> Result<bool, Error> {
        let version = self.next_version();
        self.remove_version(key, version)
    }

    /// [`ColdStore::remove`] with the cache's version.
    pub(crate) fn remove_version(&self, key: &[u8], version: u64) -> Result<bool, Error> {
        let hash = self.shared().key_hash(key);
        self.remove_hashed(hash, key, version)
    }

    /// [`ColdStore::remove_version`] with the key's hash known.
    pub(crate) fn remove_hashed(&self, hash: u64, key: &[u8], version: u64) -> Result<bool, Error> {
        self.check_sizes(key, 0)?;
        self.shared().version.fetch_max(version, Ordering::AcqRel);
        let had = self.shared().index.get(hash).is_some();
        let append = Append {
            hash,
            rec: Arc::new(Record {
                key: key.to_vec(),
                value: None,
                version,
                expires: format::NEVER,
            }),
        };
        self.enqueue(hash, None, append)?;
        Ok(had)
    }

    /// Sets the index entry of `hash` to `entry` (pending) or removes it,
    /// and queues the append, both under the shard lock so that the queue
    /// holds one key's appends in the order of its index changes.
    fn enqueue(&self, hash: u64, entry: Option<Loc>, append: Append) -> Result<(), Error> {
        let s = self.shared();
        let rec = Arc::clone(&append.rec);
        let bytes = rec.bytes();
        let mut cmd = WriterRequest::Append(append);
        loop {
            if !s.queue_has_room(bytes) {
                if self.writer_gone() {
                    return Err(Error::Closed);
                }
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            let mut shard = s.index.shard(hash).write();
            // Counted before the send: the writer may take the record and
            // uncount it before `try_send` even returns.
            s.counters.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
            match self.inner.writer.try_send(cmd) {
                Ok(()) => {
                    let dead = match entry {
                        Some(loc) => {
                            // The replaced record stays named until the new
                            // one lands (it dies then).
                            let replaced = shard.insert(hash, loc);
                            s.inflight.put(hash, Arc::clone(&rec), replaced);
                            None
                        }
                        None => {
                            let prev = s.inflight.forget(hash);
                            shard.remove(&hash).filter(|l| !l.is_pending()).or(prev)
                        }
                    };
                    drop(shard);
                    if let Some(old) = dead {
                        s.segments.dead(old);
                    }
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => {
                    s.counters.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
                    drop(shard);
                    cmd = back;
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(TrySendError::Disconnected(_)) => {
                    s.counters.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
                    return Err(Error::Closed);
                }
            }
        }
    }

    /// Whether the writer thread ended (it panicked: a clean stop needs the
    /// last handle, which the caller holds).
    fn writer_gone(&self) -> bool {
        self.inner
            .writer_thread
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
    }

    /// Refuses a record that the format or a segment cannot hold.
    fn check_sizes(&self, key: &[u8], value: usize) -> Result<(), Error> {
        let segment = self.shared().config.segment_size as usize;
        if key.len() > MAX_KEY || value > MAX_VALUE || format::HEADER + key.len() + value > segment
        {
            return Err(Error::EntryTooLarge {
                weight: (format::HEADER + key.len() + value) as u64,
                capacity: segment.min(MAX_VALUE) as u64,
            });
        }
        Ok(())
    }

    /// The newest record of the key hashing to `hash` whose stored key
    /// `matches`.
    pub(crate) fn get_hashed(
        &self,
        hash: u64,
        matches: impl FnOnce(&[u8]) -> bool,
    ) -> Result<Option<ColdValue>, Error> {
        let s = self.shared();
        let found = reader::read(s, hash, matches);
        match &found {
            Ok(Some(_)) => bump(&s.counters.hits, 1),
            Ok(None) => bump(&s.counters.misses, 1),
            Err(_) => {}
        }
        found
    }

    /// Removes the key hashing to `hash` whose *stored* key `matches` (for
    /// callers that hold only a borrowed form of the key): the tombstone
    /// carries the stored key bytes (or those of the append still on its way
    /// to disk). Returns whether there was one.
    pub(crate) fn remove_matching(
        &self,
        hash: u64,
        matches: impl FnOnce(&[u8]) -> bool,
        version: u64,
    ) -> Result<bool, Error> {
        let s = self.shared();
        let mut loc = s.index.get(hash);
        // A pending entry whose append lands meanwhile leaves the in-flight
        // table just before the index names the record: look again.
        for _ in 0..8 {
            let Some(pending) = loc.filter(|l| l.is_pending()) else {
                break;
            };
            if let Some(rec) = s.inflight.get(hash, pending.tag) {
                if !matches(&rec.key) {
                    return Ok(false);
                }
                return self.remove_hashed(hash, &rec.key, version);
            }
            std::thread::yield_now();
            loc = s.index.get(hash);
        }
        let Some(loc) = loc.filter(|l| !l.is_pending()) else {
            return Ok(false);
        };
        let Some(seg) = s.segments.get(loc.seg) else {
            return Ok(false);
        };
        let key = seg
            .with_bytes(loc.offset, loc.len, |b| {
                format::verify(b)
                    .ok()
                    .map(|h| format::key_of(b, &h).to_vec())
            })
            .map_err(|e| io_err(&seg.path, "cannot read a cold record", e))?;
        match key {
            Some(key) if matches(&key) => self.remove_hashed(hash, &key, version),
            _ => Ok(false),
        }
    }

    /// Live entries in the index.
    pub(crate) fn len(&self) -> usize {
        self.shared().index.len()
    }

    /// The version tag of the index entry of `hash`, if any (pending ones
    /// included).
    pub(crate) fn tag_of(&self, hash: u64) -> Option<u32> {
        self.shared().index.get(hash).map(|l| l.tag)
    }
}
