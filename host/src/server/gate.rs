//! The gate that makes `EXEC` and scripts atomic. Every command takes it
//! for reading (a connection holds it across one batch of pipelined
//! requests, never while it waits on its socket); `EXEC`, `EVAL` and
//! `FCALL` take it for writing, so while one runs no other client's
//! command does, in any tier. Background work (maintenance moving entries
//! between tiers, the cold writer) does not take it: it changes where a
//! value lives, never what a key holds.
//!
//! A script that runs past `busy_reply_threshold_ms` marks the gate busy:
//! from then on a command waiting for the gate is answered `BUSY` instead
//! of waiting, and the commands flagged `allow_busy` (`SCRIPT KILL`,
//! `FUNCTION KILL`, `SHUTDOWN NOSAVE`, …), which take no part of the
//! gate, run — as Redis serves them while a script is stuck.

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::{Notify, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What holds the gate past the busy threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// An `EVAL` script.
    Script,
    /// An `FCALL` function.
    Function,
}

impl Busy {
    /// Redis's error for a command refused while busy.
    pub fn message(self) -> &'static str {
        match self {
            Busy::Script => {
                "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            }
            Busy::Function => {
                "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
            }
        }
    }
}

/// What a connection holds of the gate for the batch it runs.
#[derive(Debug)]
pub enum Held<'a> {
    /// A share: its commands run beside other connections' commands.
    Shared(RwLockReadGuard<'a, ()>),
    /// The whole gate: taken for an exclusive command and kept for the
    /// rest of the batch, so a pipeline of scripts or transactions takes
    /// it once, not once per command.
    Alone(RwLockWriteGuard<'a, ()>),
}

/// The server's gate.
#[derive(Debug, Default)]
pub struct Gate {
    lock: RwLock<()>,
    /// 0: not busy; 1: a script; 2: a function.
    busy: AtomicU8,
    /// Told when `busy` is set.
    became_busy: Notify,
}

impl Gate {
    /// Waits to share the gate, or answers what keeps it busy.
    pub async fn shared(&self) -> Result<RwLockReadGuard<'_, ()>, Busy> {
        if let Ok(guard) = self.lock.try_read() {
            return Ok(guard);
        }
        self.unless_busy(self.lock.read()).await
    }

    /// Waits to hold the gate alone, or answers what keeps it busy.
    pub async fn exclusive(&self) -> Result<RwLockWriteGuard<'_, ()>, Busy> {
        if let Ok(guard) = self.lock.try_write() {
            return Ok(guard);
        }
        self.unless_busy(self.lock.write()).await
    }

    async fn unless_busy<G>(
        &self,
        acquire: impl std::future::Future<Output = G>,
    ) -> Result<G, Busy> {
        tokio::pin!(acquire);
        loop {
            let notified = self.became_busy.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(busy) = self.busy() {
                return Err(busy);
            }
            tokio::select! {
                guard = &mut acquire => return Ok(guard),
                () = &mut notified => {}
            }
        }
    }

    /// What keeps the gate busy, if anything.
    pub fn busy(&self) -> Option<Busy> {
        match self.busy.load(Ordering::Acquire) {
            1 => Some(Busy::Script),
            2 => Some(Busy::Function),
            _ => None,
        }
    }

    /// Marks the gate busy (the holder ran past the threshold), or clears
    /// the mark (`None`: the holder is done).
    pub fn set_busy(&self, busy: Option<Busy>) {
        let code = match busy {
            None => 0,
            Some(Busy::Script) => 1,
            Some(Busy::Function) => 2,
        };
        self.busy.store(code, Ordering::Release);
        if busy.is_some() {
            self.became_busy.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Busy, Gate};

    #[tokio::test]
    async fn a_waiter_is_answered_busy_once_the_holder_runs_past_the_threshold() {
        let gate = Gate::default();
        let held = gate.exclusive().await.unwrap();
        let waiting = gate.shared();
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut waiting)
                .await
                .is_err(),
            "the gate is held: the reader waits"
        );
        gate.set_busy(Some(Busy::Script));
        let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("answered once busy");
        assert_eq!(answer.err(), Some(Busy::Script));
        assert_eq!(gate.exclusive().await.err(), Some(Busy::Script));
        gate.set_busy(None);
        drop(held);
        assert!(gate.shared().await.is_ok());
    }
}
