//! The index snapshot: the cold index in one file, so that opening a store
//! loads it and scans only the records written after it.
//!
//! The writer writes one when enough has changed, and when it seals or
//! closes; recovery reads it and trusts it only if it agrees with the
//! segment files (`recover::check_snapshot`).
//!
//! ## Layout (`index.snap`, little-endian)
//!
//! | size | field |
//! |---|---|
//! | 4 | magic `0x4758_534E` |
//! | 4 | format version (1) |
//! | 8 | the configured key hash of `b"goldylox"`, xor the configuration's `key_hash_id`: a different hash function or seed refuses the snapshot |
//! | 8 | newest version |
//! | 4 + 8 | position: segment id and offset the snapshot covers up to |
//! | 4 | number of segments *S* |
//! | 8 | number of entries *N* |
//! | S × 20 | segment id (4), length (8), live bytes (8) |
//! | N × 28 | key hash (8), segment (4), offset (4), length (4), version (8) |
//! | 4 | CRC32C of everything before |

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::format;
use super::index::Loc;
use super::segment::Segment;
use super::{ColdState, io_err};
use crate::error::Error;

const MAGIC: u32 = 0x4758_534E;
const VERSION: u32 = 1;
/// The snapshot's file name in the cold directory.
pub(super) const FILE_NAME: &str = "index.snap";
/// The name it is written under before the rename that publishes it.
pub(super) const TMP_NAME: &str = "index.snap.tmp";
const HEAD: usize = 4 + 4 + 8 + 8 + 4 + 8 + 4 + 8;

/// A snapshot as read, before recovery checks it against the files.
pub(super) struct Snapshot {
    pub(super) max_version: u64,
    /// The segment and offset it covers up to.
    pub(super) position: (u32, u64),
    /// Segment id -> (length, live bytes).
    pub(super) segments: HashMap<u32, (u64, u64)>,
    /// Key hash, location, whole version.
    pub(super) entries: Vec<(u64, Loc, u64)>,
}

/// Why a snapshot was not used (recovery then scans every segment).
#[derive(Debug)]
pub(super) enum Rejected {
    Unreadable(std::io::Error),
    TooShort,
    Checksum,
    Format,
    OtherKeyHash,
    Lengths,
    /// It disagrees with the segment files found.
    Stale(String),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Unreadable(e) => write!(f, "cannot read it: {e}"),
            Rejected::TooShort => f.write_str("too short"),
            Rejected::Checksum => f.write_str("checksum mismatch"),
            Rejected::Format => f.write_str("not a snapshot of this format"),
            Rejected::OtherKeyHash => f.write_str("written with a different key hash"),
            Rejected::Lengths => f.write_str("lengths do not add up"),
            Rejected::Stale(why) => f.write_str(why),
        }
    }
}

/// The key hash's fingerprint in the snapshot: its value on a probe,
/// mixed with its declared identity (a cache's seed), so a snapshot made
/// under another hash is refused even where the probe cannot tell.
fn probe_hash(s: &ColdState) -> u64 {
    s.key_hash(b"goldylox") ^ s.config.key_hash_id
}

/// Writes the snapshot of the index as it is now, covering the records
/// before `position`, through a temporary file and a rename.
pub(crate) fn write(s: &ColdState, position: (u32, u64)) -> Result<(), Error> {
    let segs = s.segments.all();
    let entries = entries(s, &segs)?;
    publish(s, &encode(s, position, &segs, &entries))
}

/// The index's entries with their whole versions.
fn entries(s: &ColdState, segs: &[Arc<Segment>]) -> Result<Vec<(u64, Loc, u64)>, Error> {
    let mut locs = Vec::with_capacity(s.index.len());
    // A key with a newer append in flight is named by its last record on
    // disk: the new one lands after the snapshot's position.
    s.index.for_each(|h, loc| {
        if !loc.is_pending() {
            locs.push((h, loc));
        } else if let Some(prev) = s.inflight.prev(h) {
            locs.push((h, prev));
        }
    });
    // The index keeps only a version tag; the snapshot needs whole versions
    // (recovery compares them with compaction's copies of old tombstones),
    // so they are read from the record headers: maps for sealed segments,
    // one read of the active one.
    locs.sort_unstable_by_key(|(_, l)| (l.seg, l.offset));
    let mut entries = Vec::with_capacity(locs.len());
    let mut i = 0;
    while i < locs.len() {
        let id = locs[i].1.seg;
        let end = i + locs[i..].iter().take_while(|(_, l)| l.seg == id).count();
        if let Some(seg) = segs.iter().find(|seg| seg.id == id) {
            let whole = seg.whole().map_err(|e| {
                s.io_error("reading a segment for a snapshot", &e);
                io_err(&seg.path, "cannot read a segment for a snapshot", e)
            })?;
            let bytes: &[u8] = &whole;
            for &(h, loc) in &locs[i..end] {
                let at = loc.offset as usize;
                if let Some(Ok(head)) = bytes.get(at..).map(format::parse_header)
                    && head.version as u32 == loc.tag
                {
                    entries.push((h, loc, head.version));
                }
            }
        }
        i = end;
    }
    Ok(entries)
}

/// The snapshot's bytes.
fn encode(
    s: &ColdState,
    position: (u32, u64),
    segs: &[Arc<Segment>],
    entries: &[(u64, Loc, u64)],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEAD + segs.len() * 20 + entries.len() * 28 + 4);
    b.extend_from_slice(&MAGIC.to_le_bytes());
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&probe_hash(s).to_le_bytes());
    b.extend_from_slice(&s.version.load(Ordering::Acquire).to_le_bytes());
    b.extend_from_slice(&position.0.to_le_bytes());
    b.extend_from_slice(&position.1.to_le_bytes());
    b.extend_from_slice(&(segs.len() as u32).to_le_bytes());
    b.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for seg in segs {
        b.extend_from_slice(&seg.id.to_le_bytes());
        b.extend_from_slice(&seg.stats.len.load(Ordering::Acquire).to_le_bytes());
        b.extend_from_slice(&seg.stats.live.load(Ordering::Acquire).to_le_bytes());
    }
    for (h, loc, version) in entries {
        b.extend_from_slice(&h.to_le_bytes());
        for x in [loc.seg, loc.offset, loc.len] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&version.to_le_bytes());
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// Writes `b` under the temporary name, syncs it, and renames it over the
/// snapshot.
fn publish(s: &ColdState, b: &[u8]) -> Result<(), Error> {
    let dir = &s.config.dir;
    let (tmp, fin) = (dir.join(TMP_NAME), dir.join(FILE_NAME));
    let fs = &s.config.fs;
    let _ = fs.remove(&tmp);
    let written = fs.create(&tmp).and_then(|f| {
        f.write_all_at(b, 0)?;
        f.sync()
    });
    written
        .and_then(|()| fs.rename(&tmp, &fin))
        .and_then(|()| fs.sync_dir(dir))
        .map_err(|e| {
            s.io_error("writing the index snapshot", &e);
            io_err(&fin, "cannot write the index snapshot", e)
        })
}

/// Reads and verifies the snapshot at `path`.
pub(super) fn read(s: &ColdState, path: &Path) -> Result<Snapshot, Rejected> {
    let file = s
        .config
        .fs
        .open(path, false)
        .map_err(Rejected::Unreadable)?;
    let len = file.size().map_err(Rejected::Unreadable)? as usize;
    if len < HEAD + 4 {
        return Err(Rejected::TooShort);
    }
    let mut b = vec![0u8; len];
    file.read_exact_at(&mut b, 0)
        .map_err(Rejected::Unreadable)?;
    let (body, crc) = b.split_at(len - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(Rejected::Checksum);
    }
    let mut at = 0usize;
    let mut take = |n: usize| {
        let x = &body[at..at + n];
        at += n;
        x
    };
    let u32_ = |x: &[u8]| u32::from_le_bytes(x.try_into().expect("4 bytes"));
    let u64_ = |x: &[u8]| u64::from_le_bytes(x.try_into().expect("8 bytes"));
    if u32_(take(4)) != MAGIC || u32_(take(4)) != VERSION {
        return Err(Rejected::Format);
    }
    if u64_(take(8)) != probe_hash(s) {
        return Err(Rejected::OtherKeyHash);
    }
    let max_version = u64_(take(8));
    let position = (u32_(take(4)), u64_(take(8)));
    let nsegs = u32_(take(4)) as usize;
    let n = u64_(take(8)) as usize;
    if HEAD + nsegs * 20 + n * 28 != body.len() {
        return Err(Rejected::Lengths);
    }
    let mut segments = HashMap::with_capacity(nsegs);
    for _ in 0..nsegs {
        let id = u32_(take(4));
        segments.insert(id, (u64_(take(8)), u64_(take(8))));
    }
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let h = u64_(take(8));
        let (seg, offset, len) = (u32_(take(4)), u32_(take(4)), u32_(take(4)));
        let version = u64_(take(8));
        let loc = Loc {
            seg,
            offset,
            len,
            tag: version as u32,
        };
        entries.push((h, loc, version));
    }
    Ok(Snapshot {
        max_version,
        position,
        segments,
        entries,
    })
}
