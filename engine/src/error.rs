//! The engine's typed error.

use std::fmt;

/// Everything a cache operation can refuse to do.
///
/// Variants are named by the decision they drive: `InvalidConfig` means fix the
/// builder call, `EntryTooLarge` means the value can never be cached at this
/// capacity, `Closed` means the cache was shut down and will accept no more
/// writes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The builder was given settings that cannot work together.
    InvalidConfig {
        /// What is wrong, in a sentence.
        reason: String,
    },
    /// The entry weighs more than the whole capacity of the cache; it was not
    /// stored and nothing else was evicted to make room for it.
    EntryTooLarge {
        /// The entry's weight in bytes.
        weight: u64,
        /// The cache's capacity in bytes.
        capacity: u64,
    },
    /// The weigher panicked; the entry was not stored and the cache is
    /// unaffected.
    WeigherPanicked,
    /// The default weigher could not encode the entry to measure it.
    Encode {
        /// The encoder's message.
        reason: String,
    },
    /// The cache was shut down; reads still work, writes are refused.
    Closed,
    /// The cold tier's disk failed: a file could not be created, read,
    /// written or synced. The cache keeps serving from memory.
    Io {
        /// What failed, with the path and the operating system's message.
        reason: String,
    },
    /// A cold record failed its checksum (or did not decode): it was not
    /// returned, and its segment is quarantined.
    Corrupted {
        /// Where, and what was wrong.
        reason: String,
    },
    /// A policy could not be built or swapped in; the running policy was
    /// left in place.
    PolicyRejected {
        /// Why, in a sentence.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig { reason } => write!(f, "invalid cache configuration: {reason}"),
            Error::EntryTooLarge { weight, capacity } => write!(
                f,
                "entry weighs {weight} bytes, more than the cache capacity of {capacity} bytes"
            ),
            Error::WeigherPanicked => f.write_str("the weigher panicked; the entry was not stored"),
            Error::Encode { reason } => {
                write!(f, "could not encode the entry to weigh it: {reason}")
            }
            Error::Closed => f.write_str("the cache is shut down"),
            Error::Io { reason } => write!(f, "cold tier I/O error: {reason}"),
            Error::Corrupted { reason } => write!(f, "corrupt cold record: {reason}"),
            Error::PolicyRejected { reason } => {
                write!(f, "policy rejected, the running one stays: {reason}")
            }
        }
    }
}

impl std::error::Error for Error {}
