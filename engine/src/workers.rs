//! The blocking workers of the async API: threads that run what could block
//! an executor — a cold-tier read, a write that waits for room or appends to
//! the cold tier — and hand the result to the awaiting task.
//!
//! The async API never blocks its caller's thread: what only touches memory
//! runs inline, the rest is sent here. A job's result reaches its task
//! through a [`Completion`], a one-shot cell with the task's waker; a job
//! that panics resumes the panic in the awaiting task, as the synchronous
//! call would have in its caller. No executor is assumed: the workers are
//! plain named threads and the futures use only `std::task`.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crossbeam_channel::{Receiver, Sender, unbounded};
use parking_lot::Mutex;

/// Worker threads an [`AsyncCache`](crate::AsyncCache) starts by default.
///
/// ```
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::new(1 << 20)?;
/// // `AsyncCache::new` starts this many; `with_workers` chooses.
/// let handle = goldylox::AsyncCache::with_workers(cache, 2 * goldylox::DEFAULT_BLOCKING_WORKERS)?;
/// # drop(handle);
/// # Ok::<(), goldylox::Error>(())
/// ```
pub const DEFAULT_BLOCKING_WORKERS: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

/// A pool of named threads running jobs in the order they were queued.
///
/// The queue is unbounded by design: each queued job is one task awaiting
/// its answer, so the queue is as long as the concurrency the application
/// already holds, and a bound could only be enforced by blocking the sender
/// — the executor thread this pool exists to keep free.
pub(crate) struct Workers {
    jobs: Sender<Job>,
}

impl Workers {
    /// Starts `n` (at least one) threads named `gx-{role}-{i}`. They stop
    /// when the pool is dropped and the queue has drained.
    pub(crate) fn start(role: &str, n: usize) -> std::io::Result<Workers> {
        let (jobs, queue) = unbounded::<Job>();
        for i in 0..n.max(1) {
            let queue: Receiver<Job> = queue.clone();
            std::thread::Builder::new()
                .name(format!("gx-{role}-{i}"))
                .spawn(move || {
                    for job in queue {
                        job();
                    }
                })?;
        }
        Ok(Workers { jobs })
    }

    /// Runs `f` on a worker and forgets it (a background job: it catches
    /// its own failures).
    pub(crate) fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        if let Err(unsent) = self.jobs.send(Box::new(f)) {
            (unsent.into_inner())();
        }
    }

    /// Runs `f` on a worker; the returned future resolves to its result.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Completion<T> {
        let cell = Arc::new(Mutex::new(Cell {
            result: None,
            waker: None,
        }));
        let done = Arc::clone(&cell);
        let job: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f));
            let waker = {
                let mut cell = done.lock();
                cell.result = Some(result);
                cell.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        if let Err(unsent) = self.jobs.send(job) {
            // Every worker is gone (none can exit while the pool lives, but
            // a thread may have been killed): run it here rather than hang.
            (unsent.into_inner())();
        }
        Completion(cell)
    }
}

struct Cell<T> {
    result: Option<Result<T, Box<dyn Any + Send>>>,
    waker: Option<Waker>,
}

/// The result of a job on the workers, awaited.
pub(crate) struct Completion<T>(Arc<Mutex<Cell<T>>>);

impl<T> Future for Completion<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut cell = self.0.lock();
        match cell.result.take() {
            Some(Ok(value)) => Poll::Ready(value),
            Some(Err(panic)) => {
                drop(cell);
                resume_unwind(panic)
            }
            None => {
                cell.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
