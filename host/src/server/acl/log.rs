//! `ACL LOG`: the latest denials — commands, keys and channels refused,
//! and failed logins — newest first, as Redis keeps them: a denial like
//! one logged less than a minute before adds to its count instead of a new
//! entry.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long after an entry's last update a like denial still adds to it.
const GROUPING_WINDOW: Duration = Duration::from_secs(60);

/// Entries kept by default (Redis's `acllog-max-len`).
pub const MAX_ENTRIES: usize = 128;

/// What was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A command or subcommand.
    Command = 0,
    /// A key.
    Key = 1,
    /// A channel.
    Channel = 2,
    /// A login (`AUTH`, `HELLO … AUTH`).
    Auth = 3,
}

impl Reason {
    fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the denied command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Sent by the client.
    Toplevel,
    /// Inside `MULTI … EXEC`.
    Multi,
    /// Called by a script.
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    count: u64,
    reason: Reason,
    context: Context,
    object: String,
    username: String,
    updated: Instant,
    client_info: String,
}

impl Entry {
    /// Its fields as `ACL LOG` reports them: (name, text or number).
    pub fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("count", Field::Int(self.count as i64)),
            ("reason", Field::Text(self.reason.name().to_owned())),
            ("context", Field::Text(self.context.name().to_owned())),
            ("object", Field::Text(self.object.clone())),
            ("username", Field::Text(self.username.clone())),
            (
                "age-seconds",
                Field::Float(self.updated.elapsed().as_secs_f64()),
            ),
            ("client-info", Field::Text(self.client_info.clone())),
        ]
    }
}

/// A field's value.
#[derive(Debug, Clone)]
pub enum Field {
    /// A string.
    Text(String),
    /// An integer.
    Int(i64),
    /// A double.
    Float(f64),
}

/// The log.
#[derive(Debug)]
pub struct AclLog {
    entries: VecDeque<Entry>,
    max_len: usize,
}

impl Default for AclLog {
    fn default() -> Self {
        AclLog {
            entries: VecDeque::new(),
            max_len: MAX_ENTRIES,
        }
    }
}

/// A denial to log.
pub struct Denial<'a> {
    /// What was denied.
    pub reason: Reason,
    /// Where.
    pub context: Context,
    /// The command, key or channel (or `AUTH`).
    pub object: &'a str,
    /// Who.
    pub username: &'a str,
    /// The connection, as `CLIENT LIST` shows it.
    pub client_info: String,
}

impl AclLog {
    /// Logs `denial`, or counts it into a like entry of the last minute.
    pub fn add(&mut self, denial: Denial<'_>) {
        let now = Instant::now();
        let like = self.entries.iter().position(|e| {
            e.reason == denial.reason
                && e.context == denial.context
                && e.object == denial.object
                && e.username == denial.username
                && now.duration_since(e.updated) < GROUPING_WINDOW
        });
        let entry = match like.and_then(|at| self.entries.remove(at)) {
            Some(mut e) => {
                e.count += 1;
                e.updated = now;
                e.client_info = denial.client_info;
                e
            }
            None => Entry {
                count: 1,
                reason: denial.reason,
                context: denial.context,
                object: denial.object.to_owned(),
                username: denial.username.to_owned(),
                updated: now,
                client_info: denial.client_info,
            },
        };
        self.entries.push_front(entry);
        self.entries.truncate(self.max_len);
    }

    /// Keeps at most `n` entries (`acllog-max-len`), dropping the oldest.
    pub fn set_max_len(&mut self, n: usize) {
        self.max_len = n;
        self.entries.truncate(n);
    }

    /// The newest `count` entries (all if `None`).
    pub fn newest(&self, count: Option<usize>) -> Vec<Entry> {
        let n = count.unwrap_or(self.entries.len());
        self.entries.iter().take(n).cloned().collect()
    }

    /// `ACL LOG RESET`.
    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial<'a>(object: &'a str) -> Denial<'a> {
        Denial {
            reason: Reason::Command,
            context: Context::Toplevel,
            object,
            username: "u",
            client_info: "id=1".to_owned(),
        }
    }

    #[test]
    fn like_denials_are_counted_and_the_newest_comes_first() {
        let mut log = AclLog::default();
        log.add(denial("get"));
        log.add(denial("set"));
        log.add(denial("get"));
        log.add(denial("get"));
        let entries = log.newest(None);
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].object.as_str(), entries[0].count), ("get", 3));
        assert_eq!(log.newest(Some(1)).len(), 1);
        for i in 0..300 {
            log.add(denial(&format!("k{i}")));
        }
        assert_eq!(log.newest(None).len(), MAX_ENTRIES);
        log.set_max_len(5);
        assert_eq!(log.newest(None).len(), 5);
        log.reset();
        assert!(log.newest(None).is_empty());
    }
}
