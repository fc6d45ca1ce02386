//! A progress bar on stderr for replays that take more than a second.
//!
//! The replay counts requests into an atomic; a `gx-progress` thread draws
//! the bar every 200 ms once a second has passed, and only when stderr is a
//! terminal (a log file gets no carriage returns).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Requests between two updates of the shared counter.
const TICK_EVERY: usize = 1 << 14;
/// How long a replay runs before the bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// How often the bar is redrawn.
const REDRAW: Duration = Duration::from_millis(200);
/// Width of the bar in characters.
const BAR_WIDTH: usize = 30;

/// Counts replayed requests against a total; cheap to tick from the replay
/// loop. [`Progress::silent`] counts nothing.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    done: Option<Arc<AtomicU64>>,
}

impl Progress {
    /// A progress that draws nothing.
    pub fn silent() -> Progress {
        Progress { done: None }
    }

    /// Records that request `i` of a pass was replayed.
    pub fn tick(&self, i: usize) {
        if let Some(done) = &self.done
            && i % TICK_EVERY == TICK_EVERY - 1
        {
            done.fetch_add(TICK_EVERY as u64, Ordering::Relaxed);
        }
    }

    /// Records the end of a pass of `len` requests (the part `tick` did not
    /// count).
    pub fn finish(&self, len: usize) {
        if let Some(done) = &self.done {
            done.fetch_add((len % TICK_EVERY) as u64, Ordering::Relaxed);
        }
    }
}

/// The bar's drawing thread; dropping it stops the thread and clears the line.
pub struct Bar {
    progress: Progress,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bar {
    /// Starts a bar for `total` requests labelled `what`, drawn only if
    /// stderr is a terminal.
    pub fn start(what: &str, total: u64) -> Bar {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() || total == 0 {
            return Bar {
                progress: Progress::silent(),
                stop,
                thread: None,
            };
        }
        let done = Arc::new(AtomicU64::new(0));
        let thread = {
            let (done, stop, what) = (Arc::clone(&done), Arc::clone(&stop), what.to_owned());
            std::thread::Builder::new()
                .name("gx-progress".into())
                .spawn(move || draw(&what, total, &done, &stop))
                .ok()
        };
        Bar {
            progress: Progress { done: Some(done) },
            stop,
            thread,
        }
    }

    /// The counter the replay ticks.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn draw(what: &str, total: u64, done: &AtomicU64, stop: &AtomicBool) {
    let started = Instant::now();
    let mut drawn = false;
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(REDRAW);
        let elapsed = started.elapsed();
        if elapsed < SHOW_AFTER {
            continue;
        }
        let done = done.load(Ordering::Relaxed).min(total);
        let fraction = done as f64 / total as f64;
        let filled = (fraction * BAR_WIDTH as f64) as usize;
        let eta = if done > 0 {
            let left = elapsed.as_secs_f64() * (total - done) as f64 / done as f64;
            format!("{left:.0} s left")
        } else {
            String::new()
        };
        eprint!(
            "\r{what} [{}{}] {:>5.1}% {:.0} s, {eta}   ",
            "#".repeat(filled),
            "-".repeat(BAR_WIDTH - filled),
            fraction * 100.0,
            elapsed.as_secs_f64()
        );
        let _ = std::io::stderr().flush();
        drawn = true;
    }
    if drawn {
        eprint!("\r{}\r", " ".repeat(BAR_WIDTH + what.len() + 40));
    }
}
