//! Callers waiting until their writes are durable, and the failures that
//! must reach them.
//!
//! A caller takes a mark ([`super::ColdStore::durability_mark`]: the count
//! of failed commits and syncs) *before* its appends, and sends
//! [`super::requests::WriterRequest::Durable`] after them; the channel's order puts the
//! request behind every append made before it, by any thread. The writer
//! drains the queue as usual (group commit), commits, makes everything
//! durable once for all the waiters it collected, and answers each: so many
//! waiters cost one sync. A waiter is told `Err` if any commit or sync
//! failed since its mark, since a write of its own may be among the records
//! that were dropped. (A baseline taken when the request *arrives* would
//! miss a commit of the caller's own appends that failed before it did.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// What a caller runs once its writes are durable (or not), on the
/// writer's thread.
pub(crate) type Waiter = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// The waiters of the next answer, and the failures since their marks.
pub(crate) struct Waiters {
    waiting: Vec<(Waiter, u64)>,
    /// Commits and syncs that failed, ever: what marks count.
    failures: Arc<AtomicU64>,
    /// The last one.
    last_failure: Option<Error>,
}

impl Waiters {
    /// No waiters; failures are counted in `failures`, which callers read
    /// for their marks.
    pub(crate) fn new(failures: Arc<AtomicU64>) -> Self {
        Waiters {
            waiting: Vec::new(),
            failures,
            last_failure: None,
        }
    }

    /// A waiter arrived whose writes came after `mark` failures: it is
    /// answered by the next [`Waiters::answer`].
    pub(crate) fn push(&mut self, waiter: Waiter, mark: u64) {
        self.waiting.push((waiter, mark));
    }

    /// Whether anybody is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// A commit or a sync failed with `e`.
    pub(crate) fn failed(&mut self, e: &Error) {
        self.last_failure = Some(e.clone());
        self.failures.fetch_add(1, Ordering::AcqRel);
    }

    /// Answers every waiter: `synced` is the result of making everything
    /// appended so far durable.
    pub(crate) fn answer(&mut self, synced: &Result<(), Error>) {
        let failures = self.failures.load(Ordering::Acquire);
        for (waiter, mark) in self.waiting.drain(..) {
            let result = match synced {
                Err(e) => Err(e.clone()),
                Ok(()) if failures > mark => Err(Error::Io {
                    reason: format!(
                        "a write to the cold tier failed, so this one may not be durable{}",
                        self.last_failure
                            .as_ref()
                            .map_or_else(String::new, |e| format!(": {e}"))
                    ),
                    source: self
                        .last_failure
                        .as_ref()
                        .and_then(Error::io_cause)
                        .cloned(),
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
    use std::sync::Mutex;

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
    fn a_failure_after_a_mark_reaches_its_waiter_and_no_later_one() {
        let (seen, waiter) = recorder();
        let failures = Arc::new(AtomicU64::new(0));
        let mut w = Waiters::new(Arc::clone(&failures));
        let early = failures.load(Ordering::Acquire);
        w.failed(&Error::disk(
            "a test".to_owned(),
            std::io::Error::from_raw_os_error(28),
        ));
        // The failure came before the first waiter arrived, but after its
        // mark: its writes may be among those lost.
        w.push(waiter(), early);
        w.push(waiter(), failures.load(Ordering::Acquire));
        w.answer(&Ok(()));
        assert_eq!(*seen.lock().unwrap(), [false, true]);
        w.push(waiter(), failures.load(Ordering::Acquire));
        w.answer(&Err(Error::Closed));
        w.push(waiter(), failures.load(Ordering::Acquire));
        w.close();
        assert_eq!(*seen.lock().unwrap(), [false, true, false, false]);
        assert!(w.is_empty());
    }
}
