//! Opening a cold store: load the index snapshot if it is intact and agrees
//! with the files, scan the records written after it (or everything), and
//! hand the writer a clean place to continue.
//!
//! Scan rules: newest version wins (equal versions: the later position, a
//! compaction copy); a tombstone deletes older versions and is remembered
//! so an older record found later cannot come back; the first bad record of
//! the *last* segment starts its torn tail, which is cut (a last segment
//! whose very first record is bad is quarantined instead, so a foreign file
//! is never truncated); a bad record anywhere else quarantines its segment:
//! it is never read, and its records that still verify only delete older
//! versions of their keys.
//!
//! ## Snapshot layout (`index.snap`, little-endian)
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
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::format;
use super::fs::ColdFile;
use super::index::{Loc, PassThrough};
use super::segment::{Body, SegStats, Segment, parse_name};
use super::writer::Active;
use super::{RecoveryReport, Shared, bump, io_err};
use crate::error::Error;

const SNAP_MAGIC: u32 = 0x4758_534E;
const SNAP_VERSION: u32 = 1;
const SNAP_NAME: &str = "index.snap";
const SNAP_TMP: &str = "index.snap.tmp";
const SNAP_HEAD: usize = 4 + 4 + 8 + 8 + 4 + 8 + 4 + 8;

/// Where the writer continues.
pub(crate) struct Resume {
    pub(crate) active: Option<Active>,
    pub(crate) next_id: u32,
}

/// A recovered key: its newest version and where (None: deleted).
/// Keys are already hashes: no hashing again (SipHash here cost more than
/// everything else recovery does).
type Scan = HashMap<u64, (u64, Option<Loc>), BuildHasherDefault<PassThrough>>;

/// Live bytes per segment id.
type Live = HashMap<u32, u64, BuildHasherDefault<PassThrough>>;

struct Snapshot {
    max_version: u64,
    position: (u32, u64),
    segments: HashMap<u32, (u64, u64)>,
    entries: Vec<(u64, Loc, u64)>,
}

/// The key hash's fingerprint in the snapshot: its value on a probe,
/// mixed with its declared identity (a cache's seed), so a snapshot made
/// under another hash is refused even where the probe cannot tell.
fn probe_hash(s: &Shared) -> u64 {
    s.key_hash(b"goldylox") ^ s.config.key_hash_id
}

pub(crate) fn write_snapshot(s: &Shared, position: (u32, u64)) -> Result<(), Error> {
    let segs = s.segments.all();
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
                io_err(&seg.path, "cannot read a segment for a snapshot", &e)
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
    let mut b = Vec::with_capacity(SNAP_HEAD + segs.len() * 20 + entries.len() * 28 + 4);
    b.extend_from_slice(&SNAP_MAGIC.to_le_bytes());
    b.extend_from_slice(&SNAP_VERSION.to_le_bytes());
    b.extend_from_slice(&probe_hash(s).to_le_bytes());
    b.extend_from_slice(&s.version.load(Ordering::Acquire).to_le_bytes());
    b.extend_from_slice(&position.0.to_le_bytes());
    b.extend_from_slice(&position.1.to_le_bytes());
    b.extend_from_slice(&(segs.len() as u32).to_le_bytes());
    b.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for seg in &segs {
        b.extend_from_slice(&seg.id.to_le_bytes());
        b.extend_from_slice(&seg.stats.len.load(Ordering::Acquire).to_le_bytes());
        b.extend_from_slice(&seg.stats.live.load(Ordering::Acquire).to_le_bytes());
    }
    for (h, loc, version) in &entries {
        b.extend_from_slice(&h.to_le_bytes());
        for x in [loc.seg, loc.offset, loc.len] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&version.to_le_bytes());
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let dir = &s.config.dir;
    let (tmp, fin) = (dir.join(SNAP_TMP), dir.join(SNAP_NAME));
    let fs = &s.config.fs;
    let _ = fs.remove(&tmp);
    let written = fs.create(&tmp).and_then(|f| {
        f.write_all_at(&b, 0)?;
        f.sync()
    });
    written
        .and_then(|()| fs.rename(&tmp, &fin))
        .and_then(|()| fs.sync_dir(dir))
        .map_err(|e| {
            s.io_error("writing the index snapshot", &e);
            io_err(&fin, "cannot write the index snapshot", &e)
        })
}

fn read_snapshot(s: &Shared, path: &Path) -> Result<Snapshot, String> {
    let file = s.config.fs.open(path, false).map_err(|e| e.to_string())?;
    let len = file.size().map_err(|e| e.to_string())? as usize;
    if len < SNAP_HEAD + 4 {
        return Err("too short".into());
    }
    let mut b = vec![0u8; len];
    file.read_exact_at(&mut b, 0).map_err(|e| e.to_string())?;
    let (body, crc) = b.split_at(len - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err("checksum mismatch".into());
    }
    let mut at = 0usize;
    let mut take = |n: usize| {
        let x = &body[at..at + n];
        at += n;
        x
    };
    let u32_ = |x: &[u8]| u32::from_le_bytes(x.try_into().expect("4 bytes"));
    let u64_ = |x: &[u8]| u64::from_le_bytes(x.try_into().expect("8 bytes"));
    if u32_(take(4)) != SNAP_MAGIC || u32_(take(4)) != SNAP_VERSION {
        return Err("not a snapshot of this format".into());
    }
    if u64_(take(8)) != probe_hash(s) {
        return Err("written with a different key hash".into());
    }
    let max_version = u64_(take(8));
    let position = (u32_(take(4)), u64_(take(8)));
    let nsegs = u32_(take(4)) as usize;
    let n = u64_(take(8)) as usize;
    if SNAP_HEAD + nsegs * 20 + n * 28 != body.len() {
        return Err("lengths do not add up".into());
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

/// A segment found on disk, opened.
struct Found {
    id: u32,
    path: PathBuf,
    file: Arc<dyn ColdFile>,
    len: u64,
}

pub(crate) fn recover(s: &Shared) -> Result<(RecoveryReport, Resume), Error> {
    let started = Instant::now();
    let dir = &s.config.dir;
    let fs = &s.config.fs;
    let mut report = RecoveryReport::default();
    let listing = fs
        .list(dir)
        .map_err(|e| io_err(dir, "cannot list the cold directory", &e))?;
    let mut found = Vec::new();
    let mut snapshot_path = None;
    for path in listing {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(id) = parse_name(&path) {
            let file = fs
                .open(&path, true)
                .map_err(|e| io_err(&path, "cannot open a cold segment", &e))?;
            let len = file
                .size()
                .map_err(|e| io_err(&path, "cannot size a cold segment", &e))?;
            if len == 0 {
                // Created, never written: nothing to recover.
                let _ = fs.remove(&path);
                continue;
            }
            if len > u64::from(u32::MAX) {
                return Err(Error::Corrupted {
                    reason: format!("{} is larger than any segment", path.display()),
                });
            }
            found.push(Found {
                id,
                path,
                file,
                len,
            });
        } else if name == SNAP_NAME {
            snapshot_path = Some(path);
        } else if name == SNAP_TMP {
            let _ = fs.remove(&path);
        } else if !super::seed::is_seed_file(name) && !s.config.app_files.iter().any(|f| f == name)
        {
            report.foreign_files += 1;
        }
    }
    found.sort_by_key(|f| f.id);
    report.segments = found.len();

    let mut scan = Scan::default();
    let mut live = Live::default();
    let mut max_version = 0u64;
    let mut start = (0u32, 0u64);
    // Maps of the segments the snapshot covers, kept for the table.
    let mut maps: HashMap<u32, super::fs::Mapped> = HashMap::new();
    if let Some(path) = &snapshot_path {
        match read_snapshot(s, path).and_then(|snap| check_snapshot(snap, &found)) {
            Ok(snap) => {
                let present: Vec<u32> = found.iter().map(|f| f.id).collect();
                let here = |id: &u32| present.binary_search(id).is_ok();
                for (id, (_, l)) in &snap.segments {
                    if here(id) && *id <= snap.position.0 {
                        live.insert(*id, *l);
                    }
                }
                // Straight into the index; the tail scan below corrects it.
                report.from_snapshot = s.index.load(
                    snap.entries
                        .into_iter()
                        .filter(|(_, loc, _)| here(&loc.seg))
                        .map(|(h, loc, _)| (h, loc)),
                );
                for f in found.iter().filter(|f| f.id < snap.position.0) {
                    let map = f
                        .file
                        .map(f.len)
                        .map_err(|e| io_err(&f.path, "cannot map a cold segment", &e))?;
                    maps.insert(f.id, map);
                }
                // The scan starts where the snapshot ends.
                start = snap.position;
                max_version = snap.max_version;
            }
            Err(why) => report.snapshot_rejected = Some(why),
        }
    }
    let from_snapshot = start.0 > 0 || report.from_snapshot > 0;
    // What a key had before the tail: its snapshot entry, whose version is
    // in its record's header.
    // (The position's own segment is not mapped yet, its tail may be cut:
    // its headers are read with a positioned read.)
    let base = |h: u64| -> Option<(u64, Loc)> {
        let loc = s.index.get(h)?;
        let header = match maps.get(&loc.seg) {
            Some(m) => m
                .bytes()
                .get(loc.offset as usize..)
                .and_then(|b| format::parse_header(b).ok()),
            None => found.iter().find(|f| f.id == loc.seg).and_then(|f| {
                let mut head = [0u8; format::HEADER];
                f.file
                    .read_exact_at(&mut head, u64::from(loc.offset))
                    .ok()
                    .and_then(|()| format::parse_header(&head).ok())
            }),
        };
        Some((header.map_or(0, |head| head.version), loc))
    };
    let last = found.last().map(|f| f.id);
    let mut quarantined = Vec::new();
    for f in &found {
        if f.id < start.0 {
            continue;
        }
        let map = f
            .file
            .map(f.len)
            .map_err(|e| io_err(&f.path, "cannot map a cold segment", &e))?;
        let bytes = map.bytes();
        let mut off = if f.id == start.0 { start.1 as usize } else { 0 };
        let mut bad_at = None;
        while off < bytes.len() {
            match format::verify(&bytes[off..]) {
                Ok(h) => {
                    let loc = Loc {
                        seg: f.id,
                        offset: off as u32,
                        len: h.record_len() as u32,
                        tag: h.version as u32,
                    };
                    // Records of the snapshot's last segment are scanned
                    // again from its start: the same locations, now with
                    // their versions.
                    let hash = s.key_hash(format::key_of(&bytes[off..], &h));
                    apply(&mut scan, &mut live, &base, hash, &h, loc, false);
                    max_version = max_version.max(h.version);
                    report.scanned += 1;
                    off += h.record_len();
                }
                Err(why) => {
                    bad_at = Some((off, why));
                    break;
                }
            }
        }
        let Some((bad, why)) = bad_at else { continue };
        if Some(f.id) == last && bad > 0 {
            // The torn tail of the segment that was being written.
            drop(map);
            f.file
                .set_len(bad as u64)
                .and_then(|()| f.file.sync())
                .map_err(|e| io_err(&f.path, "cannot cut the torn tail of a segment", &e))?;
            report.torn_bytes = f.len - bad as u64;
            log::warn!(
                "cold tier {}: cut {} torn bytes from segment {} ({why:?} at {bad})",
                s.config.name,
                report.torn_bytes,
                f.id
            );
            continue;
        }
        // Quarantine: the rest of it only deletes older versions.
        log::error!(
            "cold tier {}: segment {} has a bad record at {bad} ({why:?}); quarantined",
            s.config.name,
            f.id
        );
        quarantine_scan(
            s,
            &mut scan,
            &mut live,
            &base,
            bytes,
            f.id,
            &mut max_version,
        );
        quarantined.push(f.id);
    }
    // The index: the snapshot corrected by the tail, or the scan (each
    // shard sized once).
    if from_snapshot {
        for (h, (_, loc)) in scan {
            let mut shard = s.index.shard(h).write();
            match loc {
                Some(loc) => shard.insert(h, loc),
                None => shard.remove(&h),
            };
        }
    } else {
        s.index.load(
            scan.into_iter()
                .filter_map(|(h, (_, loc))| loc.map(|loc| (h, loc))),
        );
    }
    let entries = s.index.len() as u64;
    for f in &found {
        let len = if Some(f.id) == last {
            f.file.size().unwrap_or(f.len)
        } else {
            f.len
        };
        let stats = Arc::new(SegStats::default());
        stats.len.store(len, Ordering::Release);
        stats
            .live
            .store(live.get(&f.id).copied().unwrap_or(0), Ordering::Release);
        if quarantined.contains(&f.id) {
            stats.quarantined.store(true, Ordering::Release);
            bump(&s.counters.quarantined_segments, 1);
        }
        let mapped = match maps.remove(&f.id) {
            Some(map) => Ok(map),
            None => f.file.map(len),
        };
        let body = match mapped {
            Ok(map) if s.config.map_sealed => Body::Sealed(map),
            _ => Body::SealedFile(Arc::clone(&f.file), len),
        };
        s.segments.insert(Arc::new(Segment {
            id: f.id,
            path: f.path.clone(),
            body,
            stats,
        }));
    }
    s.version.store(max_version, Ordering::Release);
    report.entries = entries;
    report.quarantined = quarantined;
    report.elapsed = started.elapsed();
    let next_id = found.last().map_or(1, |f| f.id + 1);
    Ok((
        report,
        Resume {
            active: None,
            next_id,
        },
    ))
}

/// Accepts a snapshot only if every segment it describes before its
/// position is still whole, and no segment appeared before its position.
fn check_snapshot(snap: Snapshot, found: &[Found]) -> Result<Snapshot, String> {
    for f in found {
        match snap.segments.get(&f.id) {
            Some(&(len, _)) if f.id < snap.position.0 && f.len != len => {
                return Err(format!(
                    "segment {} is {} bytes, the snapshot says {len}",
                    f.id, f.len
                ));
            }
            None if f.id < snap.position.0 => {
                return Err(format!("segment {} is not in the snapshot", f.id));
            }
            _ if f.id == snap.position.0 && f.len < snap.position.1 => {
                return Err(format!(
                    "segment {} is {} bytes, shorter than the snapshot covers",
                    f.id, f.len
                ));
            }
            _ => {}
        }
    }
    Ok(snap)
}

/// Applies one verified record to the scan.
fn apply(
    scan: &mut Scan,
    live: &mut Live,
    base: &dyn Fn(u64) -> Option<(u64, Loc)>,
    hash: u64,
    h: &format::Header,
    loc: Loc,
    deletes_only: bool,
) {
    let tomb = h.is_tombstone() || deletes_only;
    if h.is_tombstone() && !deletes_only {
        *live.entry(loc.seg).or_default() += u64::from(loc.len);
    }
    let current = match scan.get(&hash) {
        Some(&(v, l)) => Some((v, l)),
        None => base(hash).map(|(v, l)| (v, Some(l))),
    };
    if let Some((v, _)) = current
        && v > h.version
    {
        return;
    }
    let new = if tomb { None } else { Some(loc) };
    scan.insert(hash, (h.version, new));
    if let Some((_, Some(old))) = current {
        let l = live.entry(old.seg).or_default();
        *l = l.saturating_sub(u64::from(old.len));
    }
    if let Some(loc) = new {
        *live.entry(loc.seg).or_default() += u64::from(loc.len);
    }
}

/// Applies what still verifies in a quarantined segment as deletions,
/// resynchronising on the record magic past each bad spot.
fn quarantine_scan(
    s: &Shared,
    scan: &mut Scan,
    live: &mut Live,
    base: &dyn Fn(u64) -> Option<(u64, Loc)>,
    bytes: &[u8],
    id: u32,
    max_version: &mut u64,
) {
    // Records before the bad one were indexed normally: turn them into
    // deletions too (the segment is never read).
    let mut off = 0usize;
    while off + format::HEADER <= bytes.len() {
        match format::verify(&bytes[off..]) {
            Ok(h) => {
                let loc = Loc {
                    seg: id,
                    offset: off as u32,
                    len: h.record_len() as u32,
                    tag: h.version as u32,
                };
                let hash = s.key_hash(format::key_of(&bytes[off..], &h));
                apply(scan, live, base, hash, &h, loc, true);
                *max_version = (*max_version).max(h.version);
                off += h.record_len();
            }
            Err(_) => off += 1,
        }
    }
    live.insert(id, 0);
}
