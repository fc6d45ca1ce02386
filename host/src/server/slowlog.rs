//! The slow log (`SLOWLOG`), as Redis keeps it: every command that ran at
//! least `slowlog_slower_than_us` (0: every command; negative: none) is
//! kept with its arguments, duration, time, client address and name, the
//! newest `slowlog_max_len`. Scripts' inner calls and `EXEC` are not
//! logged (the script and the transaction's commands are); a blocked
//! command is logged when it is served.
//!
//! A command's handler may move its arguments away, so the arguments are
//! captured before it runs, trimmed as Redis trims them (32 arguments, 128
//! bytes each), into a buffer each connection reuses: no allocation per
//! command.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::clients::Connection;

/// Most arguments an entry keeps; past it, the last kept says how many
/// more there were.
const ARGS_MAX: usize = 32;
/// Most bytes of an argument an entry keeps.
const ARG_BYTES_MAX: usize = 128;
/// What replaces the secrets of `AUTH`, `HELLO … AUTH` and `CONFIG SET
/// requirepass`.
const REDACTED: &[u8] = b"(redacted)";

/// One logged command.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its id: one more than the previous entry's, never reused.
    pub id: u64,
    /// When it ran, in seconds since the Unix epoch.
    pub at_unix_s: u64,
    /// How long it ran, in microseconds.
    pub micros: u64,
    /// Its arguments, trimmed.
    pub args: Vec<Vec<u8>>,
    /// The client's address (`ip:port`).
    pub peer: String,
    /// The client's name (`CLIENT SETNAME`), or empty.
    pub name: Vec<u8>,
}

/// The log and its two settings.
#[derive(Debug)]
pub struct SlowLog {
    slower_than_us: AtomicI64,
    max_len: AtomicUsize,
    next_id: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            slower_than_us: AtomicI64::new(-1),
            max_len: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl SlowLog {
    /// Applies the settings (at start, on `CONFIG SET` and reloads); a
    /// shorter length drops the oldest entries at once.
    pub fn configure(&self, slower_than_us: i64, max_len: usize) {
        self.slower_than_us.store(slower_than_us, Ordering::Relaxed);
        self.max_len.store(max_len, Ordering::Relaxed);
        let mut entries = self.lock();
        entries.truncate(max_len);
    }

    /// The threshold in microseconds, if logging is on.
    pub fn threshold(&self) -> Option<u64> {
        u64::try_from(self.slower_than_us.load(Ordering::Relaxed)).ok()
    }

    /// Logs a command that ran `micros` if that reaches the threshold.
    pub fn offer(&self, micros: u64, args: &Captured, connection: &Connection) {
        if self.threshold().is_none_or(|t| micros < t) {
            return;
        }
        let max_len = self.max_len.load(Ordering::Relaxed);
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            at_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            micros,
            args: args.entry_args(),
            peer: connection.addr.to_string(),
            name: connection.name().unwrap_or_default(),
        };
        let mut entries = self.lock();
        entries.push_front(entry);
        entries.truncate(max_len);
    }

    /// The newest `count` entries (all: `None`), newest first.
    pub fn newest(&self, count: Option<usize>) -> Vec<Entry> {
        let entries = self.lock();
        let n = count.unwrap_or(entries.len()).min(entries.len());
        entries.iter().take(n).cloned().collect()
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it keeps no entry.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every entry (ids go on from where they were).
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A command's arguments as an entry keeps them, captured before the
/// command runs into buffers reused from command to command.
#[derive(Debug, Default)]
pub struct Captured {
    bytes: Vec<u8>,
    /// Each kept argument: its end in `bytes`, and the bytes trimmed off.
    args: Vec<(usize, usize)>,
    /// Arguments not kept.
    more_args: usize,
}

impl Captured {
    /// Captures `args` (the whole request), redacting secrets.
    pub fn capture(&mut self, args: &[Vec<u8>]) {
        self.bytes.clear();
        self.args.clear();
        let kept = if args.len() > ARGS_MAX {
            ARGS_MAX - 1
        } else {
            args.len()
        };
        self.more_args = args.len() - kept;
        let secret = secrets(args);
        for (i, arg) in args.iter().take(kept).enumerate() {
            let arg: &[u8] = if secret(i) { REDACTED } else { arg };
            let keep = arg.len().min(ARG_BYTES_MAX);
            self.bytes.extend_from_slice(&arg[..keep]);
            self.args.push((self.bytes.len(), arg.len() - keep));
        }
    }

    fn entry_args(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.args.len() + 1);
        let mut start = 0;
        for &(end, trimmed) in &self.args {
            let mut arg = self.bytes[start..end].to_vec();
            if trimmed > 0 {
                arg.extend_from_slice(format!("... ({trimmed} more bytes)").as_bytes());
            }
            out.push(arg);
            start = end;
        }
        if self.more_args > 0 {
            out.push(format!("... ({} more arguments)", self.more_args).into_bytes());
        }
        out
    }
}

/// Which arguments of `args` are secrets, as the slow log and `MONITOR`
/// hide them: all of `AUTH`'s, `HELLO`'s after `AUTH`, the value of `CONFIG
/// SET requirepass`, and the passwords `ACL SETUSER` adds or removes in
/// clear (`>pw`, `<pw`).
pub(super) fn secrets(args: &[Vec<u8>]) -> impl Fn(usize) -> bool + use<> {
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let hello_auth = if is(0, "hello") {
        args.iter().position(|a| a.eq_ignore_ascii_case(b"auth"))
    } else {
        None
    };
    let auth = is(0, "auth");
    let setuser = is(0, "acl") && is(1, "setuser");
    let clear_passwords: Vec<usize> = (3..args.len())
        .filter(|&i| setuser && matches!(args[i].first(), Some(b'>' | b'<')))
        .collect();
    let config_secret = is(0, "config") && is(1, "set");
    let secret_values: Vec<usize> = if config_secret {
        (2..args.len())
            .step_by(2)
            .filter(|&i| is(i, "requirepass") || is(i, "masterauth"))
            .map(|i| i + 1)
            .collect()
    } else {
        Vec::new()
    };
    move |i| {
        (auth && i > 0)
            || hello_auth.is_some_and(|at| i == at + 1 || i == at + 2)
            || secret_values.contains(&i)
            || clear_passwords.contains(&i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn kept(words: &[Vec<u8>]) -> Vec<String> {
        let mut captured = Captured::default();
        captured.capture(words);
        captured
            .entry_args()
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect()
    }

    #[test]
    fn long_requests_are_trimmed_as_redis_trims_them() {
        let mut many = args(&["sadd", "set"]);
        many.extend((3..=33).map(|i| i.to_string().into_bytes()));
        let out = kept(&many);
        assert_eq!(out.len(), 32);
        assert_eq!(out[30], "31");
        assert_eq!(out[31], "... (2 more arguments)");
        let long = vec![b"sadd".to_vec(), b"set".to_vec(), vec![b'A'; 129]];
        let out = kept(&long);
        assert_eq!(out[2], format!("{}... (1 more bytes)", "A".repeat(128)));
        // Exactly 32 arguments are kept whole.
        let out = kept(&many[..32]);
        assert_eq!(out.len(), 32);
        assert_eq!(out[31], "32");
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            kept(&args(&["AUTH", "user", "pass"])),
            ["AUTH", "(redacted)", "(redacted)"]
        );
        assert_eq!(
            kept(&args(&["hello", "3", "auth", "u", "p", "setname", "x"])),
            [
                "hello",
                "3",
                "auth",
                "(redacted)",
                "(redacted)",
                "setname",
                "x"
            ]
        );
        assert_eq!(
            kept(&args(&[
                "config",
                "set",
                "maxclients",
                "9",
                "requirepass",
                "s"
            ])),
            [
                "config",
                "set",
                "maxclients",
                "9",
                "requirepass",
                "(redacted)"
            ]
        );
        assert_eq!(kept(&args(&["get", "auth"])), ["get", "auth"]);
    }

    #[test]
    fn the_log_keeps_the_newest_and_honours_its_threshold() {
        let log = SlowLog::default();
        let (connection, _inbox) = Connection::new(
            1,
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.1:6380".parse().unwrap(),
            -1,
        );
        let mut captured = Captured::default();
        captured.capture(&args(&["ping"]));
        log.offer(1_000_000, &captured, &connection);
        assert_eq!(log.len(), 0, "off by default");
        log.configure(100, 3);
        log.offer(99, &captured, &connection);
        assert_eq!(log.len(), 0, "under the threshold");
        for micros in [100, 200, 300, 400] {
            log.offer(micros, &captured, &connection);
        }
        let newest = log.newest(None);
        assert_eq!(newest.len(), 3);
        assert_eq!(newest[0].micros, 400);
        assert_eq!(newest[2].micros, 200);
        assert!(newest[0].id > newest[1].id);
        assert_eq!(newest[0].peer, "127.0.0.1:5000");
        assert_eq!(log.newest(Some(1)).len(), 1);
        log.configure(100, 1);
        assert_eq!(log.len(), 1);
        log.reset();
        assert_eq!(log.len(), 0);
    }
}
