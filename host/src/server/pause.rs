//! `CLIENT PAUSE` and `CLIENT UNPAUSE`: the server holds the clients'
//! commands (all of them, or those that write) until a deadline or until
//! unpaused, as Redis does for a controlled switch-over to another server.
//!
//! A held command waits in its connection's task, out of the gate, and is
//! counted in `INFO`'s `blocked_clients` as Redis counts its postponed
//! clients. Checking costs one atomic load while nothing is paused.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;

/// What a pause holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every command (Redis's `ALL`, the default).
    All,
    /// Commands that write or may replicate: writes, `PUBLISH`, scripts
    /// not declared `no-writes`, and `EXEC` of a transaction holding one.
    Write,
}

/// The server's pause: none, or a mode and a deadline.
#[derive(Debug, Default)]
pub struct Pause {
    /// Whether a pause may be in force (the fast path's one load).
    active: AtomicBool,
    state: Mutex<Option<(Mode, Instant)>>,
    /// Woken when the pause is lifted or changed.
    changed: Notify,
    /// Commands held now.
    held: AtomicUsize,
}

impl Pause {
    /// `CLIENT PAUSE`: holds `mode`'s commands until `until`. As in Redis,
    /// the newest mode wins and the later deadline stays.
    pub fn pause(&self, mode: Mode, until: Instant) {
        let mut state = self.lock();
        let until = match *state {
            Some((_, end)) if end > until => end,
            _ => until,
        };
        *state = Some((mode, until));
        self.active.store(true, Ordering::Release);
        drop(state);
        self.changed.notify_waiters();
    }

    /// `CLIENT UNPAUSE`: lets every held command run.
    pub fn unpause(&self) {
        *self.lock() = None;
        self.active.store(false, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// How many commands are held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether the pause holds a command now (`writes`: it writes or may
    /// replicate).
    pub fn holds(&self, writes: bool) -> bool {
        self.deadline(writes).is_some()
    }

    /// The deadline until which a command is held (`writes`: it writes or
    /// may replicate), if it is.
    fn deadline(&self, writes: bool) -> Option<Instant> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let mut state = self.lock();
        match *state {
            Some((_, until)) if until <= Instant::now() => {
                *state = None;
                self.active.store(false, Ordering::Release);
                None
            }
            Some((Mode::All, until)) => Some(until),
            Some((Mode::Write, until)) if writes => Some(until),
            _ => None,
        }
    }

    /// Whether a pause may be in force (one atomic load).
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Waits while the pause holds a command (`writes`: it writes or may
    /// replicate); at once when it does not.
    pub async fn wait(&self, writes: bool) {
        let mut counted: Option<Counted<'_>> = None;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let Some(until) = self.deadline(writes) else {
                break;
            };
            counted.get_or_insert_with(|| Counted::new(&self.held));
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Mode, Instant)>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One held command in [`Pause::held`], for as long as it waits (also when
/// its task is dropped while waiting).
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(held: &'a AtomicUsize) -> Self {
        held.fetch_add(1, Ordering::Relaxed);
        Counted(held)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
