//! The one module of the workspace allowed `unsafe`: read-only memory maps of
//! sealed cold segments.
//!
//! A map is only made of a segment that is sealed — written, synced and never
//! written again by this process — after checking that the file is at least
//! as long as the map. Segments are never shrunk while mapped, and a retired
//! segment is unmapped (its last `Arc` dropped) before its file is unlinked.
//! What no process can promise is that *another* process leaves the file
//! alone: if someone truncates a mapped segment, touching the missing pages
//! raises SIGBUS. So maps are opt-in (`ColdConfig::map_sealed`): by default
//! sealed segments are read with positioned reads, which turn a truncation
//! into a short read (the segment is quarantined and its keys miss), and
//! cost no more per cold hit (`cargo bench -p goldylox --bench cold`).
//! Recovery still scans segments through maps once, at startup.
#![allow(
    unsafe_code,
    reason = "the one module the architecture lets map files (DESIGN.md)"
)]

use std::fs::File;
use std::io;

/// Maps the first `len` bytes of `file` read-only.
pub(super) fn map_sealed(file: &File, len: u64) -> io::Result<memmap2::Mmap> {
    let actual = file.metadata()?.len();
    if actual < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("segment is {actual} bytes, expected at least {len}"),
        ));
    }
    let len = usize::try_from(len).map_err(|_| io::Error::other("segment too large to map"))?;
    // SAFETY: the map is read-only and the file is a sealed segment: this
    // process never writes, truncates or extends it again (the writer has
    // moved on to a new segment and compaction only unlinks after the last
    // reader's Arc, and so this map, is gone). The length was checked against
    // the file's size just above. Modification by another process is outside
    // what Rust can guard; see the module docs.
    let map = unsafe { memmap2::MmapOptions::new().len(len).map(file)? };
    // Reads are random point lookups; tell the kernel not to read ahead.
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}
