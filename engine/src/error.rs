//! The engine's typed error.

use std::fmt;
use std::sync::Arc;

/// Everything a cache operation can refuse to do.
///
/// Variants are named by the decision they drive: `InvalidConfig` means fix the
/// builder call, `EntryTooLarge` means the value can never be cached at this
/// capacity, `Closed` means the cache was shut down and will accept no more
/// writes.
///
/// ```
/// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::new(1024)?;
/// match cache.insert(1, vec![0; 4096]) {
///     Err(goldylox::Error::EntryTooLarge { weight, capacity }) => assert!(weight > capacity),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), goldylox::Error>(())
/// ```
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
        /// What failed, with the path.
        reason: String,
        /// The operating system's error, when one caused it (a write that
        /// is refused because an earlier one failed has none of its own).
        source: Option<IoCause>,
    },
    /// The cold tier's disk is full (or its quota spent): the write was not
    /// stored there. The cache keeps serving from memory, and the cold tier
    /// comes back once space does.
    NoSpace {
        /// What could not be written, with the path.
        reason: String,
        /// The operating system's error.
        source: IoCause,
    },
    /// A thread the cache needs could not be started (the process is out
    /// of threads or memory); nothing was built.
    ThreadSpawn {
        /// The thread's role.
        thread: String,
        /// The operating system's error.
        source: IoCause,
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
    /// A workload capture could not start or finish: one is already
    /// running (or none is), the settings are out of range, or its file
    /// could not be written. The cache is unaffected.
    Capture {
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
            Error::Io { reason, .. } => write!(f, "cold tier I/O error: {reason}"),
            Error::NoSpace { reason, .. } => write!(f, "cold tier disk full: {reason}"),
            Error::ThreadSpawn { thread, .. } => write!(f, "cannot start the {thread} thread"),
            Error::Corrupted { reason } => write!(f, "corrupt cold record: {reason}"),
            Error::PolicyRejected { reason } => {
                write!(f, "policy rejected, the running one stays: {reason}")
            }
            Error::Capture { reason } => write!(f, "capture: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io {
                source: Some(cause),
                ..
            }
            | Error::NoSpace { source: cause, .. }
            | Error::ThreadSpawn { source: cause, .. } => Some(cause.get()),
            _ => None,
        }
    }
}

impl Error {
    /// The error for a failed disk operation: [`Error::NoSpace`] when the
    /// disk or quota is full, else [`Error::Io`].
    pub(crate) fn disk(reason: String, e: std::io::Error) -> Error {
        const ENOSPC: i32 = 28;
        const EDQUOT: i32 = 122;
        let full = matches!(
            e.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ) || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT));
        let source = IoCause::from(e);
        if full {
            Error::NoSpace { reason, source }
        } else {
            Error::Io {
                reason,
                source: Some(source),
            }
        }
    }

    /// A thread could not be started.
    pub(crate) fn spawn(thread: impl Into<String>, e: std::io::Error) -> Error {
        Error::ThreadSpawn {
            thread: thread.into(),
            source: e.into(),
        }
    }

    /// The operating system's error behind this one, if any.
    ///
    /// ```
    /// let e = goldylox::cold::ColdStore::open(goldylox::cold::ColdConfig::new("/proc/no/such", 1 << 30))
    ///     .unwrap_err();
    /// if let Some(cause) = e.io_cause() {
    ///     println!("the disk said: {}", cause.get());
    /// }
    /// ```
    pub fn io_cause(&self) -> Option<&IoCause> {
        match self {
            Error::Io { source, .. } => source.as_ref(),
            Error::NoSpace { source, .. } | Error::ThreadSpawn { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// An operating-system error kept as the source of an [`Error`]. It is
/// shared, so that one failure can answer many waiters and [`Error`] stays
/// `Clone`; two are equal when their kind and message are.
///
/// ```
/// let e = goldylox::cold::ColdStore::open(goldylox::cold::ColdConfig::new("/proc/no/such", 1 << 30))
///     .unwrap_err();
/// let kind = e.io_cause().map(|c| c.kind());
/// # let _ = kind;
/// ```
#[derive(Debug, Clone)]
pub struct IoCause(Arc<std::io::Error>);

impl IoCause {
    /// The error itself.
    ///
    /// ```
    /// let e = goldylox::cold::ColdStore::open(goldylox::cold::ColdConfig::new("/proc/no/such", 1 << 30))
    ///     .unwrap_err();
    /// let io: Option<&std::io::Error> = e.io_cause().map(|c| c.get());
    /// # let _ = io;
    /// ```
    pub fn get(&self) -> &std::io::Error {
        &self.0
    }

    /// Its kind.
    ///
    /// ```
    /// let e = goldylox::cold::ColdStore::open(goldylox::cold::ColdConfig::new("/proc/no/such", 1 << 30))
    ///     .unwrap_err();
    /// let full = e.io_cause().is_some_and(|c| c.kind() == std::io::ErrorKind::StorageFull);
    /// # let _ = full;
    /// ```
    pub fn kind(&self) -> std::io::ErrorKind {
        self.0.kind()
    }
}

impl From<std::io::Error> for IoCause {
    fn from(e: std::io::Error) -> Self {
        IoCause(Arc::new(e))
    }
}

impl PartialEq for IoCause {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for IoCause {}

impl fmt::Display for IoCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
