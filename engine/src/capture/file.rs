//! The capture file and the thread that writes it.
//!
//! The layout is libCacheSim's `oracleSysTwrNS` (its trace type
//! `ORACLE_SYS_TWRNS_TRACE`): 34-byte little-endian records, no header.
//!
//! | offset | field | here |
//! |---:|---|---|
//! | 0 | `u32` time | seconds since the capture started |
//! | 4 | `u64` object id | the key hash, mixed with the capture's seed |
//! | 12 | `u16` key size | 0: the value size is the entry's whole weight |
//! | 14 | `u32` value size | the entry's weight (bytes, as the cache counts them) |
//! | 18 | `u16` op | 1 get, 3 set, 9 delete ([`OP_GET`], [`OP_SET`], [`OP_DELETE`]) |
//! | 20 | `u16` namespace | 0; [`NS_EXPIRY`] on a delete the cache made because the time to live ran out |
//! | 22 | `i32` ttl | a set's time to live in seconds; 0 none |
//! | 26 | `i64` next | 1-based index of the next record of the same object; -1 none |
//!
//! While the capture runs, records go to `<path>.part` as they come, with
//! `next` unknown and a miss's size unknown (0). Stopping finishes the file
//! in one backward and one forward pass: `next` for every record; a miss
//! takes the size of the key's next sized record (the value a cache-aside
//! client stores after it), else its previous one, else the mean size — so
//! that no get is 0 bytes, which libCacheSim's reader would skip. The
//! finished file is written beside and renamed into place, and the part
//! file removed; if finishing fails, the part file stays.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};

use super::{CAPTURE_BUFFER, CaptureOp};

/// Bytes per record.
pub const RECORD_BYTES: usize = 34;
/// libCacheSim's `OP_GET`.
pub const OP_GET: u16 = 1;
/// libCacheSim's `OP_SET`.
pub const OP_SET: u16 = 3;
/// libCacheSim's `OP_DELETE`.
pub const OP_DELETE: u16 = 9;
/// The namespace that marks a delete as an expiry.
pub const NS_EXPIRY: u16 = 1;

/// One captured request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Seconds since the capture started.
    pub time: u32,
    /// The object: a salted hash of the key.
    pub id: u64,
    /// The entry's weight in bytes (0: unknown, a miss not yet finished).
    pub size: u32,
    /// What the request did.
    pub op: CaptureOp,
    /// A set's time to live in seconds; 0 none.
    pub ttl: i32,
}

impl Record {
    /// The record's 34 bytes, with `next` as the next-access field.
    ///
    /// ```
    /// use goldylox::CaptureOp;
    /// use goldylox::capture::file::{Record, RECORD_BYTES};
    /// let r = Record { time: 1, id: 42, size: 100, op: CaptureOp::Set, ttl: 60 };
    /// let bytes = r.encode(-1);
    /// assert_eq!(bytes.len(), RECORD_BYTES);
    /// assert_eq!(Record::decode(&bytes)?, (r, -1));
    /// # Ok::<(), String>(())
    /// ```
    pub fn encode(&self, next: i64) -> [u8; RECORD_BYTES] {
        let (op, ns) = match self.op {
            CaptureOp::Get => (OP_GET, 0),
            CaptureOp::Set => (OP_SET, 0),
            CaptureOp::Delete => (OP_DELETE, 0),
            CaptureOp::Expire => (OP_DELETE, NS_EXPIRY),
        };
        let mut b = [0u8; RECORD_BYTES];
        b[0..4].copy_from_slice(&self.time.to_le_bytes());
        b[4..12].copy_from_slice(&self.id.to_le_bytes());
        b[12..14].copy_from_slice(&0u16.to_le_bytes());
        b[14..18].copy_from_slice(&self.size.to_le_bytes());
        b[18..20].copy_from_slice(&op.to_le_bytes());
        b[20..22].copy_from_slice(&ns.to_le_bytes());
        b[22..26].copy_from_slice(&self.ttl.to_le_bytes());
        b[26..34].copy_from_slice(&next.to_le_bytes());
        b
    }

    /// A record and its next-access field from 34 bytes. Any
    /// oracleSysTwrNS record decodes: a key size is added to the value
    /// size, as libCacheSim does; an op other than get, set or delete is
    /// refused.
    ///
    /// ```
    /// use goldylox::capture::file::Record;
    /// assert!(Record::decode(&[0u8; 34]).is_err(), "op 0 is no request");
    /// ```
    pub fn decode(b: &[u8]) -> Result<(Record, i64), String> {
        let u16_at = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        if b.len() != RECORD_BYTES {
            return Err(format!("a record is {RECORD_BYTES} bytes, not {}", b.len()));
        }
        let op = match (u16_at(18), u16_at(20)) {
            (OP_GET | 2, _) => CaptureOp::Get,
            (OP_SET..=8 | 10 | 11, _) => CaptureOp::Set,
            (OP_DELETE, NS_EXPIRY) => CaptureOp::Expire,
            (OP_DELETE, _) => CaptureOp::Delete,
            (other, _) => return Err(format!("op {other} is not a get, set or delete")),
        };
        let record = Record {
            time: u32_at(0),
            id: u64::from_le_bytes(b[4..12].try_into().expect("8 bytes")),
            size: u32::from(u16_at(12)).saturating_add(u32_at(14)),
            op,
            ttl: i32::from_le_bytes(b[22..26].try_into().expect("4 bytes")),
        };
        Ok((
            record,
            i64::from_le_bytes(b[26..34].try_into().expect("8 bytes")),
        ))
    }
}

/// Every record of a capture file (or any oracleSysTwrNS trace).
///
/// ```
/// use goldylox::CaptureOp;
/// use goldylox::capture::file::{Record, read};
/// let r = Record { time: 0, id: 7, size: 10, op: CaptureOp::Get, ttl: 0 };
/// let bytes = [r.encode(-1), r.encode(-1)].concat();
/// assert_eq!(read(&bytes)?, vec![r, r]);
/// assert!(read(&bytes[..40]).is_err(), "not a whole number of records");
/// # Ok::<(), String>(())
/// ```
pub fn read(bytes: &[u8]) -> Result<Vec<Record>, String> {
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(format!(
            "{} bytes is not a whole number of {RECORD_BYTES}-byte records",
            bytes.len()
        ));
    }
    bytes
        .chunks_exact(RECORD_BYTES)
        .enumerate()
        .map(|(i, b)| {
            Record::decode(b)
                .map(|(r, _)| r)
                .map_err(|e| format!("record {i}: {e}"))
        })
        .collect()
}

/// Where a running capture's records go until it is finished.
pub(crate) fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// What the request path sends the writer.
pub(crate) enum Msg {
    Record(Record),
    Stop,
}

/// What the writer wrote.
pub(crate) struct Written {
    pub(crate) records: u64,
    pub(crate) objects: u64,
    /// Records that arrived after the file reached its bound.
    pub(crate) over_bound: u64,
    pub(crate) sizes_from_neighbours: u64,
    pub(crate) sizes_guessed: u64,
}

/// The `gx-capture` thread.
pub(crate) struct Writer {
    rx: Receiver<Msg>,
    part: BufWriter<File>,
    part_path: PathBuf,
    path: PathBuf,
    max_records: u64,
}

impl Writer {
    /// Opens the part file (so that a bad path is refused now) and starts
    /// the thread.
    pub(crate) fn spawn(
        path: &Path,
        max_bytes: u64,
    ) -> Result<(Sender<Msg>, JoinHandle<std::io::Result<Written>>), String> {
        let part_path = part_path(path);
        let part = File::create(&part_path)
            .map_err(|e| format!("cannot create {}: {e}", part_path.display()))?;
        let (tx, rx) = bounded(CAPTURE_BUFFER);
        let writer = Writer {
            rx,
            part: BufWriter::with_capacity(1 << 20, part),
            part_path,
            path: path.to_owned(),
            max_records: max_bytes / RECORD_BYTES as u64,
        };
        let handle = std::thread::Builder::new()
            .name("gx-capture".into())
            .spawn(move || writer.run())
            .map_err(|e| format!("cannot start the capture thread: {e}"))?;
        Ok((tx, handle))
    }

    fn run(mut self) -> std::io::Result<Written> {
        let (mut records, mut over_bound) = (0u64, 0u64);
        // A disconnect (the cache dropped the capture) ends it like a stop.
        while let Ok(Msg::Record(r)) = self.rx.recv() {
            if records < self.max_records {
                self.part.write_all(&r.encode(-1))?;
                records += 1;
            } else {
                over_bound += 1;
            }
        }
        self.part.flush()?;
        drop(self.part);
        let mut all = read(&std::fs::read(&self.part_path)?)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let (next, objects) = next_accesses(&all);
        let (from_neighbours, guessed) = fill_sizes(&mut all);
        let tmp = {
            let mut name = self.path.as_os_str().to_owned();
            name.push(".tmp");
            PathBuf::from(name)
        };
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        for (r, n) in all.iter().zip(&next) {
            out.write_all(&r.encode(*n))?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        std::fs::remove_file(&self.part_path)?;
        Ok(Written {
            records,
            objects,
            over_bound,
            sizes_from_neighbours: from_neighbours,
            sizes_guessed: guessed,
        })
    }
}

/// Each record's next access (1-based, -1 none) and the number of objects.
fn next_accesses(records: &[Record]) -> (Vec<i64>, u64) {
    let mut next = vec![-1i64; records.len()];
    let mut seen: HashMap<u64, i64> = HashMap::new();
    for (i, r) in records.iter().enumerate().rev() {
        if let Some(&j) = seen.get(&r.id) {
            next[i] = j;
        }
        seen.insert(r.id, i as i64 + 1);
    }
    (next, seen.len() as u64)
}

/// Gives every get a size: the key's next sized get or set, else its
/// previous one, else the mean. Returns (taken from a neighbour, guessed).
fn fill_sizes(records: &mut [Record]) -> (u64, u64) {
    let sized = |r: &Record| r.size > 0 && matches!(r.op, CaptureOp::Get | CaptureOp::Set);
    let (mut from_neighbours, mut guessed) = (0, 0);
    let mut known: HashMap<u64, u32> = HashMap::new();
    for r in records.iter_mut().rev() {
        fill_one(r, &mut known, &mut from_neighbours, sized);
    }
    known.clear();
    for r in records.iter_mut() {
        fill_one(r, &mut known, &mut from_neighbours, sized);
    }
    let (sum, count) = records
        .iter()
        .filter(|r| sized(r))
        .fold((0u64, 0u64), |(s, c), r| (s + u64::from(r.size), c + 1));
    let mean = sum.checked_div(count).map_or(1, |m| m.max(1) as u32);
    for r in records.iter_mut() {
        if r.op == CaptureOp::Get && r.size == 0 {
            r.size = mean;
            guessed += 1;
        }
    }
    (from_neighbours, guessed)
}

/// One step of a pass of [`fill_sizes`]: a sizeless get takes the size
/// `known` holds for its key; a sized record updates it.
fn fill_one(
    r: &mut Record,
    known: &mut HashMap<u64, u32>,
    filled: &mut u64,
    sized: impl Fn(&Record) -> bool,
) {
    if sized(r) {
        known.insert(r.id, r.size);
    } else if r.op == CaptureOp::Get
        && let Some(&size) = known.get(&r.id)
    {
        r.size = size;
        *filled += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64, op: CaptureOp, size: u32) -> Record {
        Record {
            time: 0,
            id,
            size,
            op,
            ttl: 0,
        }
    }

    #[test]
    fn next_access_is_the_one_based_index_of_the_same_object() {
        let rs = [
            rec(1, CaptureOp::Get, 1),
            rec(2, CaptureOp::Get, 1),
            rec(1, CaptureOp::Set, 1),
        ];
        let (next, objects) = next_accesses(&rs);
        assert_eq!(next, vec![3, -1, -1]);
        assert_eq!(objects, 2);
    }

    #[test]
    fn a_miss_takes_the_size_of_the_fill_after_it_else_before_else_the_mean() {
        let mut rs = [
            rec(1, CaptureOp::Get, 0), // the fill after: 100
            rec(1, CaptureOp::Set, 100),
            rec(2, CaptureOp::Get, 30),
            rec(2, CaptureOp::Delete, 0),
            rec(2, CaptureOp::Get, 0), // none after: the one before, 30
            rec(3, CaptureOp::Get, 0), // never sized: the mean of 100 and 30
        ];
        assert_eq!(fill_sizes(&mut rs), (2, 1));
        let sizes: Vec<u32> = rs.iter().map(|r| r.size).collect();
        assert_eq!(sizes, vec![100, 100, 30, 0, 30, 65]);
    }
}
