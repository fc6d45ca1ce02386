//! Walking the cold tier's keys (for `SCAN` and the cache's key
//! listings): through the index, reading each record's key from its
//! segment, or from the writer's queue while its append is in flight.

use super::index::Loc;
use super::{ColdState, ColdStore, format, reader};

impl ColdStore {
    /// Calls `f(stored key, deadline)` for every live entry whose index
    /// hash passes `want`: a record on disk is read and verified, an append
    /// in flight is read from the queue. A record that cannot be read is
    /// skipped, as a lookup would miss it.
    pub(crate) fn keys_where(&self, want: impl Fn(u64) -> bool, mut f: impl FnMut(&[u8], u64)) {
        let s = self.shared();
        let mut chosen = Vec::new();
        s.index.for_each(|hash, loc| {
            if want(hash) {
                chosen.push((hash, loc));
            }
        });
        for (hash, first) in chosen {
            // The record may land (pending -> on disk) or be compacted
            // elsewhere between the walk of the index and this read: then
            // the index is asked again.
            let mut loc = first;
            for _ in 0..reader::READ_ATTEMPTS {
                if visit_key(s, hash, loc, &mut f) {
                    break;
                }
                match s.index.get(hash) {
                    Some(now) => loc = now,
                    None => break,
                }
            }
        }
    }
}

/// Calls `f` with the key and deadline of the record `loc` names, unless
/// it is a tombstone; `false` if the record is not there any more (landed,
/// or compacted away) and must be looked up again.
fn visit_key(s: &ColdState, hash: u64, loc: Loc, f: &mut impl FnMut(&[u8], u64)) -> bool {
    if loc.is_pending() {
        let Some(rec) = s.inflight.get(hash, loc.tag) else {
            return false;
        };
        if rec.value.is_some() {
            f(&rec.key, rec.expires);
        }
        return true;
    }
    let Some(seg) = s.segments.get(loc.seg) else {
        return false;
    };
    let read = seg.with_bytes(loc.offset, loc.len, |b| {
        if let Ok(h) = format::verify(b)
            && !h.is_tombstone()
        {
            f(format::key_of(b, &h), h.expires);
        }
    });
    if let Err(e) = read {
        s.io_error("reading a cold record's key", &e);
    }
    true
}
