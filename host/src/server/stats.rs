//! The counters behind `INFO commandstats` and `INFO errorstats`: each
//! command's calls, time, rejections and failures, and each error code's
//! replies. `CONFIG RESETSTAT` zeroes them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most distinct error codes counted, as Redis 7 bounds them: a client
/// that invents codes (a script's `redis.error_reply`) cannot grow the
/// table without end. Past it, new codes count only in the total.
pub const ERROR_CODES_MAX: usize = 128;

/// One command's counters (`INFO commandstats`).
#[derive(Debug, Default)]
pub struct CommandCounters {
    /// Times it ran.
    pub calls: AtomicU64,
    /// Microseconds it ran, in all.
    pub usec: AtomicU64,
    /// Times it was refused before running (arity, authentication).
    pub rejected: AtomicU64,
    /// Times it ran and answered an error.
    pub failed: AtomicU64,
}

impl CommandCounters {
    fn reset(&self) {
        for counter in [&self.calls, &self.usec, &self.rejected, &self.failed] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// Counters for every command of the table, in its order.
#[derive(Debug)]
pub struct CommandStats {
    names: Vec<&'static str>,
    slots: Box<[CommandCounters]>,
}

impl CommandStats {
    /// Counters for the commands `names`, in the command table's order.
    pub fn new(names: Vec<&'static str>) -> Self {
        let slots = names.iter().map(|_| CommandCounters::default()).collect();
        CommandStats { names, slots }
    }

    /// Each command's name with its counters, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &CommandCounters)> {
        self.names.iter().copied().zip(self.slots.iter())
    }

    /// The counters of the command at `index` of the table.
    pub fn slot(&self, index: usize) -> &CommandCounters {
        &self.slots[index]
    }

    /// Zeroes every command's counters.
    pub fn reset(&self) {
        self.slots.iter().for_each(CommandCounters::reset);
    }
}

/// Error replies by code (`INFO errorstats`) and in all
/// (`total_error_replies`).
#[derive(Debug, Default)]
pub struct ErrorStats {
    total: AtomicU64,
    by_code: Mutex<HashMap<Vec<u8>, u64>>,
}

impl ErrorStats {
    /// Counts `reply` if it is an error (`-CODE message\r\n`); whether it
    /// was.
    pub fn count(&self, reply: &[u8]) -> bool {
        let Some(code) = error_code(reply) else {
            return false;
        };
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut by_code = self.by_code.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = by_code.get_mut(code) {
            *n += 1;
        } else if by_code.len() < ERROR_CODES_MAX {
            by_code.insert(code.to_vec(), 1);
        }
        true
    }

    /// Error replies in all.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Each code (its bytes, as the error reply had them) with its count,
    /// by code.
    pub fn by_code(&self) -> Vec<(Vec<u8>, u64)> {
        let by_code = self.by_code.lock().unwrap_or_else(|e| e.into_inner());
        let mut codes: Vec<(Vec<u8>, u64)> = by_code.iter().map(|(c, n)| (c.clone(), *n)).collect();
        codes.sort();
        codes
    }

    /// Forgets every count.
    pub fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        self.by_code
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// The code of an error reply: its first word (`ERR`, `WRONGTYPE`,
/// `NOSCRIPT`, a script's own); `None` for a reply that is not an error.
pub fn error_code(reply: &[u8]) -> Option<&[u8]> {
    let text = reply.strip_prefix(b"-")?;
    let end = text
        .iter()
        .position(|&b| b == b' ' || b == b'\r')
        .unwrap_or(text.len());
    Some(&text[..end])
}

/// The engine's cumulative counters `INFO` reports, as they stood at the
/// last `CONFIG RESETSTAT`: the engine keeps counting from its start, and
/// `INFO` shows what was counted since.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Baseline {
    /// `keyspace_hits`.
    pub hits: u64,
    /// `keyspace_misses`.
    pub misses: u64,
    /// `evicted_keys`.
    pub evicted: u64,
    /// `expired_keys`.
    pub expired: u64,
}

impl Baseline {
    /// `now` less this baseline, counter by counter.
    pub fn since(&self, now: Baseline) -> Baseline {
        Baseline {
            hits: now.hits.saturating_sub(self.hits),
            misses: now.misses.saturating_sub(self.misses),
            evicted: now.evicted.saturating_sub(self.evicted),
            expired: now.expired.saturating_sub(self.expired),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_count_by_their_first_word() {
        let stats = ErrorStats::default();
        assert!(stats.count(b"-ERR wrong number of arguments\r\n"));
        assert!(stats.count(b"-WRONGTYPE Operation against a key\r\n"));
        assert!(stats.count(b"-ERR\r\n"));
        assert!(!stats.count(b"+OK\r\n"));
        assert!(!stats.count(b"$-1\r\n"));
        assert_eq!(stats.total(), 3);
        assert_eq!(
            stats.by_code(),
            vec![(b"ERR".to_vec(), 2), (b"WRONGTYPE".to_vec(), 1)]
        );
        stats.reset();
        assert_eq!(stats.total(), 0);
        assert!(stats.by_code().is_empty());
    }

    #[test]
    fn invented_codes_stop_at_the_bound_but_still_count() {
        let stats = ErrorStats::default();
        for i in 0..ERROR_CODES_MAX + 10 {
            stats.count(format!("-CODE{i} made up\r\n").as_bytes());
        }
        stats.count(b"-CODE0 again\r\n");
        assert_eq!(stats.by_code().len(), ERROR_CODES_MAX);
        assert_eq!(stats.total(), ERROR_CODES_MAX as u64 + 11);
        assert!(stats.by_code().contains(&(b"CODE0".to_vec(), 2)));
    }
}
