//! The policy loader: the actor that compiles policy components and swaps
//! them in, one request at a time, on a thread of its own.
//!
//! Compiling a component takes from milliseconds to seconds, and a swap
//! waits for the maintenance actor to replay the resident set into the new
//! policy. Neither may run on a connection's task: it would hold a runtime
//! worker, and every connection scheduled on it, for that long. Reloads
//! (`GOLDYLOX RELOAD`, SIGHUP, the file watcher) and `GOLDYLOX POLICY SWAP`
//! are sent here instead; the connection awaits the answer without holding a
//! worker, and replies to its later pipelined commands only after it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use tokio::sync::oneshot;

/// Requests that wait for the loader before another is refused as busy.
pub(super) const LOADER_QUEUE: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

/// A handle on the loader thread, which ends when the last handle is
/// dropped (after the request it is running).
#[derive(Debug, Clone)]
pub(super) struct Loader {
    jobs: SyncSender<Job>,
}

impl Loader {
    /// Starts the loader thread (`goldylox-loader`).
    pub(super) fn start() -> std::io::Result<Loader> {
        let (jobs, queue) = sync_channel::<Job>(LOADER_QUEUE);
        std::thread::Builder::new()
            .name("goldylox-loader".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    // A panicking request drops its reply sender, which its
                    // caller hears as a failure; the loader goes on.
                    if catch_unwind(AssertUnwindSafe(job)).is_err() {
                        log::error!("policy loader: a request panicked");
                    }
                }
            })?;
        Ok(Loader { jobs })
    }

    /// Runs `work` on the loader; the receiver gets its result. Refuses,
    /// with a Redis-style error, when [`LOADER_QUEUE`] requests wait.
    pub(super) fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, String> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(format!(
                "ERR the policy loader is busy ({LOADER_QUEUE} requests wait); try again"
            )),
            Err(TrySendError::Disconnected(_)) => Err("ERR the policy loader has stopped".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_run_in_order_and_a_panic_does_not_stop_the_loader() {
        let loader = Loader::start().unwrap();
        let first = loader.submit(|| 1).unwrap();
        let panics = loader
            .submit(|| -> u32 { panic!("a broken request") })
            .unwrap();
        let after = loader.submit(|| 3).unwrap();
        assert_eq!(first.blocking_recv(), Ok(1));
        assert!(panics.blocking_recv().is_err(), "its caller hears of it");
        assert_eq!(after.blocking_recv(), Ok(3), "the loader goes on");
    }

    #[test]
    fn a_full_queue_is_refused_as_busy() {
        let loader = Loader::start().unwrap();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let running = loader.submit(move || wait.recv().ok()).unwrap();
        // One request runs and holds the thread; fill the queue behind it.
        let mut queued = Vec::new();
        let refused = loop {
            match loader.submit(|| None::<()>) {
                Ok(answer) => queued.push(answer),
                Err(e) => break e,
            }
            assert!(queued.len() <= LOADER_QUEUE + 1, "the queue is bounded");
        };
        assert!(refused.contains("busy"), "{refused}");
        release.send(()).unwrap();
        assert_eq!(running.blocking_recv(), Ok(Some(())));
        for answer in queued {
            assert_eq!(answer.blocking_recv(), Ok(None));
        }
    }
}
