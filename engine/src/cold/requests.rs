//! What the cold store and its two actors send each other: the writer's and
//! the compactor's requests.
//!
//! They live apart from both actors so that neither names the other: the
//! compactor sends rewrites and retirements to the writer, the writer asks
//! the compactor for a pass when a segment seals, and each only knows this
//! vocabulary.

use std::sync::Arc;

use crossbeam_channel::Sender;

use super::durable::Waiter;
use super::index::{Loc, Record};
use crate::error::Error;

/// An append of a value or a tombstone.
pub(crate) struct Append {
    pub(crate) hash: u64,
    pub(crate) rec: Arc<Record>,
}

/// What the writer is asked to do.
pub(crate) enum WriterRequest {
    Append(Append),
    /// Compaction: append a verified record again and move the index entry
    /// if it still points at `from` (tombstones are kept unconditionally).
    Rewrite {
        hash: u64,
        from: Loc,
        record: Vec<u8>,
        tombstone: bool,
    },
    /// Call the waiter once everything before is durable; consecutive
    /// waiters share one sync (see `durable.rs`). `mark` is the count of
    /// failed commits and syncs when the waiter's writes began.
    Durable {
        waiter: Waiter,
        mark: u64,
    },
    /// Reply once everything before is appended (and durable if `sync`).
    Barrier {
        sync: bool,
        reply: Sender<Result<(), Error>>,
    },
    Seal {
        reply: Sender<Result<(), Error>>,
    },
    Snapshot {
        reply: Sender<Result<(), Error>>,
    },
    /// Make everything durable, then unmap and unlink segment `id`.
    Retire {
        id: u32,
        reply: Sender<Result<(), Error>>,
    },
    /// A health probe: create, write, sync and remove a small file.
    Probe {
        reply: Sender<Result<(), Error>>,
    },
    /// Empty the index and delete every segment.
    Clear {
        reply: Sender<Result<(), Error>>,
    },
    Shutdown {
        reply: Sender<()>,
    },
}

/// What the compactor is asked to do.
pub(crate) enum CompactorRequest {
    /// Evict past the capacity, then compact: every sealed segment with any
    /// garbage if `all`, else those past the threshold.
    Run {
        all: bool,
        reply: Option<Sender<Result<usize, Error>>>,
    },
    Shutdown,
}
