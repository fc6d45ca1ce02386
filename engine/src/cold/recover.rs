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

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::format;
use super::fs::ColdFile;
use super::fs::Mapped;
use super::index::{Loc, PassThrough};
use super::segment::{Body, SegStats, Segment, parse_name};
use super::snapshot::{self, Rejected, Snapshot};
use super::{ColdState, RecoveryReport, bump, io_err};
use crate::error::Error;

/// A recovered key: its newest version and where (None: deleted).
/// Keys are already hashes: no hashing again (SipHash here cost more than
/// everything else recovery does).
type Scan = HashMap<u64, (u64, Option<Loc>), BuildHasherDefault<PassThrough>>;

/// Live bytes per segment id.
type Live = HashMap<u32, u64, BuildHasherDefault<PassThrough>>;

/// A segment found on disk, opened.
struct Found {
    id: u32,
    path: PathBuf,
    file: Arc<dyn ColdFile>,
    len: u64,
}

/// Opens the store's files: fills the index and the segment table, sets the
/// version counter, and returns what it found with the id the writer's
/// first new segment takes.
pub(crate) fn recover(s: &ColdState) -> Result<(RecoveryReport, u32), Error> {
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    let (found, snapshot) = list(s, &mut report)?;
    report.segments = found.len();
    let mut r = Recovery {
        s,
        found,
        report,
        scan: Scan::default(),
        live: Live::default(),
        max_version: 0,
        start: (0, 0),
        maps: HashMap::new(),
        quarantined: Vec::new(),
    };
    if let Some(path) = &snapshot {
        r.load_snapshot(path)?;
    }
    let from_snapshot = r.start.0 > 0 || r.report.from_snapshot > 0;
    for i in 0..r.found.len() {
        if r.found[i].id >= r.start.0 {
            r.scan_segment(i)?;
        }
    }
    r.build_index(from_snapshot);
    r.install_segments();
    s.version.store(r.max_version, Ordering::Release);
    let mut report = r.report;
    report.entries = s.index.len() as u64;
    report.quarantined = r.quarantined;
    report.elapsed = started.elapsed();
    let next_id = r.found.last().map_or(1, |f| f.id + 1);
    Ok((report, next_id))
}

/// The segments in the cold directory, opened and sorted by id, and the
/// snapshot's path if there is one; removes empty segments and a leftover
/// temporary snapshot, and counts files that belong to nobody.
fn list(
    s: &ColdState,
    report: &mut RecoveryReport,
) -> Result<(Vec<Found>, Option<PathBuf>), Error> {
    let dir = &s.config.dir;
    let fs = &s.config.fs;
    let listing = fs
        .list(dir)
        .map_err(|e| io_err(dir, "cannot list the cold directory", e))?;
    let mut found = Vec::new();
    let mut snapshot = None;
    for path in listing {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(id) = parse_name(&path) {
            let file = fs
                .open(&path, true)
                .map_err(|e| io_err(&path, "cannot open a cold segment", e))?;
            let len = file
                .size()
                .map_err(|e| io_err(&path, "cannot size a cold segment", e))?;
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
        } else if name == snapshot::FILE_NAME {
            snapshot = Some(path);
        } else if name == snapshot::TMP_NAME {
            let _ = fs.remove(&path);
        } else if !super::seed::is_seed_file(name) && !s.config.app_files.iter().any(|f| f == name)
        {
            report.foreign_files += 1;
        }
    }
    found.sort_by_key(|f| f.id);
    Ok((found, snapshot))
}

/// Recovery's state between its steps.
struct Recovery<'a> {
    s: &'a ColdState,
    found: Vec<Found>,
    report: RecoveryReport,
    scan: Scan,
    live: Live,
    max_version: u64,
    /// Where the scan starts: the position the snapshot covers up to.
    start: (u32, u64),
    /// Maps of the segments the snapshot covers, kept for the table.
    maps: HashMap<u32, Mapped>,
    quarantined: Vec<u32>,
}

impl Recovery<'_> {
    /// Loads the snapshot into the index if it verifies and agrees with the
    /// files; a rejected one is reported and the scan covers everything.
    fn load_snapshot(&mut self, path: &Path) -> Result<(), Error> {
        let snap =
            match snapshot::read(self.s, path).and_then(|snap| check_snapshot(snap, &self.found)) {
                Ok(snap) => snap,
                Err(why) => {
                    self.report.snapshot_rejected = Some(why.to_string());
                    return Ok(());
                }
            };
        let present: Vec<u32> = self.found.iter().map(|f| f.id).collect();
        let here = |id: &u32| present.binary_search(id).is_ok();
        for (id, (_, l)) in &snap.segments {
            if here(id) && *id <= snap.position.0 {
                self.live.insert(*id, *l);
            }
        }
        // Straight into the index; the tail scan corrects it.
        self.report.from_snapshot = self.s.index.load(
            snap.entries
                .into_iter()
                .filter(|(_, loc, _)| here(&loc.seg))
                .map(|(h, loc, _)| (h, loc)),
        );
        for f in self.found.iter().filter(|f| f.id < snap.position.0) {
            let map = f
                .file
                .map(f.len)
                .map_err(|e| io_err(&f.path, "cannot map a cold segment", e))?;
            self.maps.insert(f.id, map);
        }
        self.start = snap.position;
        self.max_version = snap.max_version;
        Ok(())
    }

    /// Applies the records of `found[i]` from where the scan starts in it;
    /// cuts a torn tail off the last segment, quarantines any other segment
    /// with a bad record.
    fn scan_segment(&mut self, i: usize) -> Result<(), Error> {
        let s = self.s;
        let f = &self.found[i];
        let map = f
            .file
            .map(f.len)
            .map_err(|e| io_err(&f.path, "cannot map a cold segment", e))?;
        let bytes = map.bytes();
        let mut off = if f.id == self.start.0 {
            self.start.1 as usize
        } else {
            0
        };
        let base = |h: u64| base_of(s, &self.maps, &self.found, h);
        let bad = loop {
            if off >= bytes.len() {
                return Ok(());
            }
            match format::verify(&bytes[off..]) {
                Ok(h) => {
                    let loc = Loc {
                        seg: f.id,
                        offset: off as u32,
                        len: h.record_len() as u32,
                        tag: h.version as u32,
                    };
                    let hash = s.key_hash(format::key_of(&bytes[off..], &h));
                    apply(&mut self.scan, &mut self.live, &base, hash, &h, loc, false);
                    self.max_version = self.max_version.max(h.version);
                    self.report.scanned += 1;
                    off += h.record_len();
                }
                Err(why) => break (off, why),
            }
        };
        let (bad, why) = bad;
        if Some(f.id) == self.found.last().map(|f| f.id) && bad > 0 {
            // The torn tail of the segment that was being written.
            drop(map);
            f.file
                .set_len(bad as u64)
                .and_then(|()| f.file.sync())
                .map_err(|e| io_err(&f.path, "cannot cut the torn tail of a segment", e))?;
            self.report.torn_bytes = f.len - bad as u64;
            log::warn!(
                "cold tier {}: cut {} torn bytes from segment {} ({why:?} at {bad})",
                s.config.name,
                self.report.torn_bytes,
                f.id
            );
            return Ok(());
        }
        log::error!(
            "cold tier {}: segment {} has a bad record at {bad} ({why:?}); quarantined",
            s.config.name,
            f.id
        );
        let id = f.id;
        quarantine_scan(
            s,
            &mut self.scan,
            &mut self.live,
            &base,
            bytes,
            id,
            &mut self.max_version,
        );
        self.quarantined.push(id);
        Ok(())
    }

    /// The index: the snapshot corrected by the scan, or the scan alone
    /// (each shard sized once).
    fn build_index(&mut self, from_snapshot: bool) {
        let scan = std::mem::take(&mut self.scan);
        if from_snapshot {
            for (h, (_, loc)) in scan {
                let mut shard = self.s.index.shard(h).write();
                match loc {
                    Some(loc) => shard.insert(h, loc),
                    None => shard.remove(&h),
                };
            }
        } else {
            self.s.index.load(
                scan.into_iter()
                    .filter_map(|(h, (_, loc))| loc.map(|loc| (h, loc))),
            );
        }
    }

    /// Puts every segment found in the table, sealed, with its live bytes.
    fn install_segments(&mut self) {
        let s = self.s;
        let last = self.found.last().map(|f| f.id);
        for f in &self.found {
            let len = if Some(f.id) == last {
                f.file.size().unwrap_or(f.len)
            } else {
                f.len
            };
            let stats = Arc::new(SegStats::default());
            stats.len.store(len, Ordering::Release);
            stats.live.store(
                self.live.get(&f.id).copied().unwrap_or(0),
                Ordering::Release,
            );
            if self.quarantined.contains(&f.id) {
                stats.quarantined.store(true, Ordering::Release);
                bump(&s.counters.quarantined_segments, 1);
            }
            let mapped = match self.maps.remove(&f.id) {
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
    }
}

/// What a key had before the scanned tail: its snapshot entry, whose
/// version is in its record's header. The position's own segment is not
/// mapped (its tail may be cut): its headers are read with a positioned read.
fn base_of(
    s: &ColdState,
    maps: &HashMap<u32, Mapped>,
    found: &[Found],
    h: u64,
) -> Option<(u64, Loc)> {
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
}

/// Accepts a snapshot only if every segment it describes before its
/// position is still whole, and no segment appeared before its position.
fn check_snapshot(snap: Snapshot, found: &[Found]) -> Result<Snapshot, Rejected> {
    for f in found {
        match snap.segments.get(&f.id) {
            Some(&(len, _)) if f.id < snap.position.0 && f.len != len => {
                return Err(Rejected::Stale(format!(
                    "segment {} is {} bytes, the snapshot says {len}",
                    f.id, f.len
                )));
            }
            None if f.id < snap.position.0 => {
                return Err(Rejected::Stale(format!(
                    "segment {} is not in the snapshot",
                    f.id
                )));
            }
            _ if f.id == snap.position.0 && f.len < snap.position.1 => {
                return Err(Rejected::Stale(format!(
                    "segment {} is {} bytes, shorter than the snapshot covers",
                    f.id, f.len
                )));
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
    s: &ColdState,
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
