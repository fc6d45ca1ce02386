//! Segments: the table of open segment files and their live-byte
//! accounting. (The read path through them is `reader.rs`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

use super::format::{self, Invalid};
use super::fs::{ColdFile, Mapped};
use super::index::Loc;

/// How a segment's bytes are reached.
pub(crate) enum Body {
    /// The segment being appended to: positioned reads of the file.
    Active(Arc<dyn ColdFile>),
    /// A sealed segment, memory-mapped (`ColdConfig::map_sealed`).
    Sealed(Mapped),
    /// A sealed segment of `len` bytes, read with positioned reads: a file
    /// another program truncates gives read errors (and misses), not the
    /// SIGBUS a map would.
    SealedFile(Arc<dyn ColdFile>, u64),
}

/// Figures of one segment, shared by its active and sealed forms.
#[derive(Default)]
pub(crate) struct SegStats {
    /// Bytes of records in it.
    pub(crate) len: AtomicU64,
    /// Bytes of records the index points at, plus tombstones.
    pub(crate) live: AtomicU64,
    /// A write or sync failed: never read or compacted from again.
    pub(crate) poisoned: AtomicBool,
    /// A record failed its checksum: never read again.
    pub(crate) quarantined: AtomicBool,
}

/// One segment file.
pub(crate) struct Segment {
    pub(crate) id: u32,
    pub(crate) path: PathBuf,
    pub(crate) body: Body,
    pub(crate) stats: Arc<SegStats>,
}

impl Segment {
    /// Whether reads may use it.
    pub(crate) fn trusted(&self) -> bool {
        !self.stats.poisoned.load(Ordering::Acquire)
            && !self.stats.quarantined.load(Ordering::Acquire)
    }

    pub(crate) fn is_sealed(&self) -> bool {
        matches!(self.body, Body::Sealed(_) | Body::SealedFile(..))
    }

    /// All of its bytes: borrowed from a map, or read (a sealed file whole,
    /// the active one up to what was committed).
    pub(crate) fn whole(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        let (file, len) = match &self.body {
            Body::Sealed(map) => return Ok(std::borrow::Cow::Borrowed(map.bytes())),
            Body::SealedFile(file, len) => (file, *len),
            Body::Active(file) => (file, self.stats.len.load(Ordering::Acquire)),
        };
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, 0)?;
        Ok(std::borrow::Cow::Owned(buf))
    }

    /// Calls `f` with the `len` bytes at `offset`.
    pub(crate) fn with_bytes<R>(
        &self,
        offset: u32,
        len: u32,
        f: impl FnOnce(&[u8]) -> R,
    ) -> std::io::Result<R> {
        let (start, end) = (offset as usize, offset as usize + len as usize);
        match &self.body {
            Body::Sealed(map) => {
                let bytes = map.bytes().get(start..end).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "record past the end of its segment",
                    )
                })?;
                Ok(f(bytes))
            }
            Body::Active(file) | Body::SealedFile(file, _) => {
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, u64::from(offset))?;
                Ok(f(&buf))
            }
        }
    }
}

/// Reads a segment's records front to back through a window: a pass over a
/// segment (compaction) holds at most the window, or one record when that
/// is larger, instead of the whole file (a map is borrowed as it is).
pub(crate) struct Reader<'a> {
    seg: &'a Segment,
    len: u64,
    /// The file offset of `buf[0]`.
    start: u64,
    buf: Vec<u8>,
    window: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(seg: &'a Segment, window: usize) -> Self {
        let len = match &seg.body {
            Body::Sealed(map) => map.bytes().len() as u64,
            Body::SealedFile(_, len) => *len,
            Body::Active(_) => seg.stats.len.load(Ordering::Acquire),
        };
        Reader {
            seg,
            len,
            start: 0,
            buf: Vec::new(),
            window,
        }
    }

    /// The segment's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The verified record at `offset`, or why there is none.
    pub(crate) fn record(
        &mut self,
        offset: u64,
    ) -> std::io::Result<Result<(format::Header, &[u8]), Invalid>> {
        let head = self.at(offset, format::HEADER)?;
        let len = match format::parse_header(head) {
            Ok(h) => h.record_len(),
            Err(why) => return Ok(Err(why)),
        };
        let record = self.at(offset, len)?;
        Ok(format::verify(record).map(|h| (h, record)))
    }

    /// Up to `want` bytes at `offset` (fewer at the segment's end); reads
    /// ahead a window when they are not in the one it holds.
    fn at(&mut self, offset: u64, want: usize) -> std::io::Result<&[u8]> {
        let end = offset.saturating_add(want as u64).min(self.len).max(offset);
        let file = match &self.seg.body {
            Body::Sealed(map) => return Ok(&map.bytes()[offset as usize..end as usize]),
            Body::Active(file) | Body::SealedFile(file, _) => file,
        };
        let held = self.start + self.buf.len() as u64;
        if offset < self.start || end > held {
            let fill = offset
                .saturating_add(want.max(self.window) as u64)
                .min(self.len)
                .max(end);
            self.buf.resize((fill - offset) as usize, 0);
            file.read_exact_at(&mut self.buf, offset)?;
            self.start = offset;
        }
        let from = (offset - self.start) as usize;
        Ok(&self.buf[from..from + (end - offset) as usize])
    }
}

/// The file name of segment `id`.
pub(crate) fn file_name(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.seg"))
}

/// The segment id a file name stands for, if it is one of ours.
pub(crate) fn parse_name(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let id = name.strip_suffix(".seg")?;
    (id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
}

/// The open segments by id.
#[derive(Default)]
pub(crate) struct Segments {
    table: RwLock<BTreeMap<u32, Arc<Segment>>>,
}

impl Segments {
    pub(crate) fn get(&self, id: u32) -> Option<Arc<Segment>> {
        self.table.read().get(&id).cloned()
    }

    /// Adds a segment or replaces its other form (active → sealed).
    pub(crate) fn insert(&self, seg: Arc<Segment>) {
        self.table.write().insert(seg.id, seg);
    }

    pub(crate) fn remove(&self, id: u32) -> Option<Arc<Segment>> {
        self.table.write().remove(&id)
    }

    /// All segments, oldest first.
    pub(crate) fn all(&self) -> Vec<Arc<Segment>> {
        self.table.read().values().cloned().collect()
    }

    /// Whether a segment older than `id` exists.
    pub(crate) fn has_older(&self, id: u32) -> bool {
        self.table.read().range(..id).next().is_some()
    }

    /// The record at `loc` is no longer referenced.
    pub(crate) fn dead(&self, loc: Loc) {
        if loc.is_pending() {
            return;
        }
        if let Some(seg) = self.get(loc.seg) {
            let _ = seg
                .stats
                .live
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                    Some(l.saturating_sub(u64::from(loc.len)))
                });
        }
    }

    /// (segments, bytes, live bytes).
    pub(crate) fn totals(&self) -> (u64, u64, u64) {
        let table = self.table.read();
        let mut out = (table.len() as u64, 0, 0);
        for seg in table.values() {
            out.1 += seg.stats.len.load(Ordering::Acquire);
            out.2 += seg.stats.live.load(Ordering::Acquire);
        }
        out
    }
}
