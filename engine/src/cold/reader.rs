//! The cold read path: index -> in-flight table or segment -> verified
//! record.
//!
//! A record is found through the index: still pending (on its way to disk)
//! it is served from the in-flight table; otherwise it is read from its
//! segment and verified. A compaction may move the record between the
//! index lookup and the segment lookup; the read then looks again. A record
//! that fails its checksum, or a segment cut short by another program,
//! quarantines the segment: its other reads miss instead of failing alike.

use std::io::ErrorKind;
use std::sync::atomic::Ordering;

use super::format::{self, Invalid};
use super::index::Loc;
use super::segment::Segment;
use super::{ColdState, ColdValue, bump};
use crate::error::Error;

/// Lookups a read makes before it gives up on a record that keeps moving.
pub(crate) const READ_ATTEMPTS: usize = 4;

/// The newest live record of the key with `hash` whose stored key
/// `matches`.
pub(crate) fn read(
    s: &ColdState,
    hash: u64,
    matches: impl FnOnce(&[u8]) -> bool,
) -> Result<Option<ColdValue>, Error> {
    let mut matches = Some(matches);
    for _ in 0..READ_ATTEMPTS {
        let Some(loc) = s.index.get(hash) else {
            return Ok(None);
        };
        if loc.is_pending() {
            match in_flight(s, hash, loc, &mut matches) {
                Some(found) => return Ok(found),
                None => continue, // landed meanwhile: look again
            }
        }
        let Some(seg) = s.segments.get(loc.seg) else {
            continue; // compacted away meanwhile: look again
        };
        if !seg.trusted() {
            return Ok(None);
        }
        let parsed = seg.with_bytes(loc.offset, loc.len, |b| match format::verify(b) {
            Ok(h) if !matches.take().is_some_and(|m| m(format::key_of(b, &h))) => Ok(None),
            Ok(h) if h.is_tombstone() => Ok(None),
            Ok(h) if h.expires != format::NEVER && h.expires <= (s.now)() => Ok(None),
            Ok(h) => match format::value_of(b, &h) {
                Some(value) => Ok(Some(ColdValue {
                    value,
                    version: h.version,
                    expires: h.expires,
                })),
                None => Err(Invalid::Checksum),
            },
            Err(e) => Err(e),
        });
        return match parsed {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(why)) => {
                bump(&s.counters.corrupt_reads, 1);
                Err(quarantine(
                    s,
                    &seg,
                    format!("offset {}: {why:?}", loc.offset),
                ))
            }
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                // Shorter than its records: cut by another program.
                s.io_error(&format!("reading segment {}", seg.id), &e);
                let what = format!("ends before its record at {}: truncated", loc.offset);
                Err(quarantine(s, &seg, what))
            }
            Err(e) => {
                s.io_error(&format!("reading segment {}", seg.id), &e);
                Err(super::io_err(&seg.path, "cannot read a cold record", e))
            }
        };
    }
    Ok(None)
}

/// A record still on its way to disk, from the in-flight table: `None` if
/// it is not there any more (it landed between the index lookup and this
/// one: look again), else the answer.
fn in_flight(
    s: &ColdState,
    hash: u64,
    loc: Loc,
    matches: &mut Option<impl FnOnce(&[u8]) -> bool>,
) -> Option<Option<ColdValue>> {
    let rec = s.inflight.get(hash, loc.tag)?;
    let live = rec.expires == format::NEVER || rec.expires > (s.now)();
    Some(match &rec.value {
        Some(value) if live && matches.take().is_some_and(|m| m(&rec.key)) => Some(ColdValue {
            value: value.clone(),
            version: rec.version,
            expires: rec.expires,
        }),
        _ => None,
    })
}

/// Quarantines `seg` for a bad read; the error says where and why.
fn quarantine(s: &ColdState, seg: &Segment, what: String) -> Error {
    if !seg.stats.quarantined.swap(true, Ordering::AcqRel) {
        bump(&s.counters.quarantined_segments, 1);
    }
    let reason = format!("segment {} {what}; segment quarantined", seg.id);
    log::error!("cold tier {}: {reason}", s.config.name);
    Error::Corrupted { reason }
}
