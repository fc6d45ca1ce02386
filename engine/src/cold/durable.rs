//! Callers waiting until their writes are durable, and the failures that
//! must reach them.
//!
//! A caller sends [`super::writer::Cmd::Durable`] after its appends; the
//! channel's order puts it behind every append made before it, by any
//! thread. The writer drains the queue as usual (group commit), commits,
//! makes everything durable once for all the waiters it collected, and
//! answers each: so many waiters cost one sync. A waiter is told `Err` if
//! any commit or sync failed after it arrived and before it was answered,
//! since a write of its own may be among the records that were dropped.

use crate::error::Error;

/// What a caller runs once its writes are durable (or not), on the
/// writer's thread.
pub(crate) type Waiter = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// The waiters of the next answer, and the failures since they came.
#[derive(Default)]
pub(crate) struct Waiters {
    waiting: Vec<(Waiter, u64)>,
    /// Commits and syncs that failed, ever.
    failures: u64,
    /// The last one's description.
    last_failure: String,
}

impl Waiters {
    /// A waiter arrived: it is answered by the next [`Waiters::answer`].
    pub(crate) fn push(&mut self, waiter: Waiter) {
        self.waiting.push((waiter, self.failures));
    }

    /// Whether anybody is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// A commit or a sync failed: `what` is why.
    pub(crate) fn failed(&mut self, what: &str) {
        self.failures += 1;
        self.last_failure = what.to_owned();
    }

    /// Answers every waiter: `synced` is the result of making everything
    /// appended so far durable.
    pub(crate) fn answer(&mut self, synced: &Result<(), Error>) {
        for (waiter, failures_then) in self.waiting.drain(..) {
            let result = match synced {
                Err(e) => Err(Error::Io {
                    reason: e.to_string(),
                }),
                Ok(()) if self.failures > failures_then => Err(Error::Io {
                    reason: format!(
                        "a write to the cold tier failed, so this one may not be durable: {}",
                        self.last_failure
                    ),
                }),
                Ok(()) => Ok(()),
            };
            waiter(result);
        }
    }

    /// The writer stops: every waiter is told.
    pub(crate) fn close(&mut self) {
        for (waiter, _) in self.waiting.drain(..) {
            waiter(Err(Error::Closed));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn recorder() -> (Arc<Mutex<Vec<bool>>>, impl Fn() -> Waiter) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let make = {
            let seen = Arc::clone(&seen);
            move || -> Waiter {
                let seen = Arc::clone(&seen);
                Box::new(move |r: Result<(), Error>| seen.lock().unwrap().push(r.is_ok()))
            }
        };
        (seen, make)
    }

    #[test]
    fn a_failure_after_a_waiter_arrived_reaches_it_and_no_later_one() {
        let (seen, waiter) = recorder();
        let mut w = Waiters::default();
        w.push(waiter());
        w.failed("disk full");
        w.push(waiter());
        w.answer(&Ok(()));
        assert_eq!(*seen.lock().unwrap(), [false, true]);
        w.push(waiter());
        w.answer(&Err(Error::Closed));
        w.push(waiter());
        w.close();
        assert_eq!(*seen.lock().unwrap(), [false, true, false, false]);
        assert!(w.is_empty());
    }
}
