//! Live workload capture: a spatially sampled record of the requests a
//! cache serves, for replaying the operator's own workload against every
//! policy ([`Cache::start_capture`](crate::Cache::start_capture)).
//!
//! A request is recorded when a 24-bit remix of its key hash falls under
//! `rate · 2²⁴` — the same kind of spatial sample as `auto`'s shadows, so
//! every request of a sampled key is recorded and a replay at `capacity ·
//! rate` is faithful (SHARDS). Gets, sets, deletes and expiries are
//! recorded with the entry's weight and its time to live; keys never leave
//! the process: each record names its key by the cache's key hash mixed
//! with a seed drawn for this capture alone, so two captures cannot be
//! joined and a key cannot be looked up in one.
//!
//! The request path only samples and hands a record to a bounded buffer
//! ([`CAPTURE_BUFFER`]); a background thread (`gx-capture`) writes it. When
//! the buffer is full the record is dropped and counted, never waited for.
//! The file is finished at [`Cache::stop_capture`](crate::Cache::stop_capture)
//! (see [`mod@file`] for the layout and the backward pass).

pub mod file;

use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::{Mutex, RwLock};

use crate::hot::NEVER;

/// Records the request path may hand the writer before it catches up; more
/// are dropped and counted ([`CaptureStatus::dropped`]).
pub const CAPTURE_BUFFER: usize = 64 * 1024;

/// The default bound on a capture file (256 MiB: about 7.9 million records).
pub const DEFAULT_CAPTURE_BYTES: u64 = 256 << 20;

/// The sample rate's resolution: a key is sampled when a 24-bit remix of its
/// hash is under `rate · 2²⁴`.
const SAMPLE_SPACE: u64 = 1 << 24;

/// What a captured request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureOp {
    /// A read (hit or miss).
    Get,
    /// A write: insert or overwrite.
    Set,
    /// A remove asked for by the caller.
    Delete,
    /// An entry the cache dropped because its time to live ran out.
    Expire,
}

/// What to capture, where, and how much.
///
/// ```
/// use goldylox::CaptureConfig;
/// let config = CaptureConfig::new("/tmp/workload.oracleSysTwrNS.bin")
///     .rate(0.01)
///     .max_bytes(64 << 20);
/// assert_eq!(config.sample_rate(), 0.01);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureConfig {
    path: PathBuf,
    rate: f64,
    max_bytes: u64,
}

impl CaptureConfig {
    /// A capture of every request (rate 1) into `path`, bounded by
    /// [`DEFAULT_CAPTURE_BYTES`].
    ///
    /// ```
    /// let config = goldylox::CaptureConfig::new("capture.bin");
    /// assert_eq!(config.sample_rate(), 1.0);
    /// ```
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CaptureConfig {
            path: path.into(),
            rate: 1.0,
            max_bytes: DEFAULT_CAPTURE_BYTES,
        }
    }

    /// Samples this share of the keys (0 < rate ≤ 1; rounded to a multiple
    /// of 2⁻²⁴).
    ///
    /// ```
    /// let config = goldylox::CaptureConfig::new("c.bin").rate(0.5);
    /// assert_eq!(config.sample_rate(), 0.5);
    /// ```
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    /// Stops recording once the file would pass `bytes` (later requests
    /// are counted as [`CaptureStatus::truncated`]).
    ///
    /// ```
    /// let config = goldylox::CaptureConfig::new("c.bin").max_bytes(1 << 20);
    /// assert_eq!(config.max_bytes_bound(), 1 << 20);
    /// ```
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The sample rate asked for.
    ///
    /// ```
    /// assert_eq!(goldylox::CaptureConfig::new("c.bin").sample_rate(), 1.0);
    /// ```
    pub fn sample_rate(&self) -> f64 {
        self.rate
    }

    /// The bound on the file's size.
    ///
    /// ```
    /// let config = goldylox::CaptureConfig::new("c.bin");
    /// assert_eq!(config.max_bytes_bound(), goldylox::DEFAULT_CAPTURE_BYTES);
    /// ```
    pub fn max_bytes_bound(&self) -> u64 {
        self.max_bytes
    }

    /// The file the capture is written to.
    ///
    /// ```
    /// let config = goldylox::CaptureConfig::new("c.bin");
    /// assert_eq!(config.path(), std::path::Path::new("c.bin"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sampling threshold, or why the settings cannot work.
    pub(crate) fn threshold(&self) -> Result<u64, String> {
        if !(self.rate > 0.0 && self.rate <= 1.0) {
            return Err(format!(
                "the sample rate must be in (0, 1], not {}",
                self.rate
            ));
        }
        if self.max_bytes < file::RECORD_BYTES as u64 {
            return Err(format!(
                "max bytes {} holds no {}-byte record",
                self.max_bytes,
                file::RECORD_BYTES
            ));
        }
        Ok(((self.rate * SAMPLE_SPACE as f64).round() as u64).clamp(1, SAMPLE_SPACE))
    }
}

/// A running capture, as [`Cache::capture_status`](crate::Cache::capture_status)
/// reports it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CaptureStatus {
    /// The file being written.
    pub path: PathBuf,
    /// The share of keys sampled.
    pub rate: f64,
    /// The bound on the file.
    pub max_bytes: u64,
    /// Records handed to the writer.
    pub records: u64,
    /// Sampled requests not recorded because the writer was behind.
    pub dropped: u64,
    /// Sampled requests not recorded because the file reached its bound.
    pub truncated: u64,
    /// How long it has been running.
    pub elapsed: Duration,
}

/// A finished capture, as [`Cache::stop_capture`](crate::Cache::stop_capture)
/// reports it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CaptureSummary {
    /// The file written.
    pub path: PathBuf,
    /// The share of keys sampled (scale a replay's capacities by it).
    pub rate: f64,
    /// Records in the file.
    pub records: u64,
    /// Distinct keys among them.
    pub objects: u64,
    /// Sampled requests not recorded because the writer was behind.
    pub dropped: u64,
    /// Sampled requests not recorded because the file reached its bound.
    pub truncated: u64,
    /// Reads whose size was unknown (a miss) and was taken from another
    /// record of the same key.
    pub sizes_from_neighbours: u64,
    /// Reads of a key never seen with a size, given the mean size.
    pub sizes_guessed: u64,
    /// How long it ran.
    pub elapsed: Duration,
}

/// The capture slot of a cache: off (threshold 0) or a running recorder.
/// The request path pays one relaxed load when off.
#[derive(Default)]
pub(crate) struct Tap {
    threshold: AtomicU64,
    recorder: RwLock<Option<Arc<Recorder>>>,
}

impl Tap {
    /// Whether a request for `hash` is recorded.
    #[inline]
    pub(crate) fn sampled(&self, hash: u64) -> bool {
        let t = self.threshold.load(Ordering::Relaxed);
        t != 0 && remix(hash) < t
    }

    /// Records a sampled request; `deadline` in the cache clock's
    /// nanoseconds (`NEVER`: none), `now` read from the same clock.
    pub(crate) fn record(&self, now: u64, op: CaptureOp, hash: u64, weight: u32, deadline: u64) {
        if let Some(r) = self.recorder.read().as_ref() {
            r.record(now, op, hash, weight, deadline);
        }
    }

    /// Starts `config` at `now`; refused if one is running.
    pub(crate) fn start(&self, config: &CaptureConfig, now: u64) -> Result<(), String> {
        let threshold = config.threshold()?;
        let mut slot = self.recorder.write();
        if let Some(r) = slot.as_ref() {
            return Err(format!(
                "a capture is already running into {}",
                r.path.display()
            ));
        }
        *slot = Some(Arc::new(Recorder::start(config, now)?));
        self.threshold.store(threshold, Ordering::Release);
        Ok(())
    }

    /// Stops the running capture and finishes its file.
    pub(crate) fn stop(&self, now: u64) -> Result<CaptureSummary, String> {
        let recorder = {
            let mut slot = self.recorder.write();
            self.threshold.store(0, Ordering::Release);
            slot.take().ok_or("no capture is running")?
        };
        recorder.finish(now)
    }

    /// The running capture's figures.
    pub(crate) fn status(&self, now: u64) -> Option<CaptureStatus> {
        self.recorder.read().as_ref().map(|r| r.status(now))
    }
}

/// The 24-bit remix a key hash is sampled by.
#[inline]
fn remix(hash: u64) -> u64 {
    hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40
}

/// One running capture: the request path's half.
struct Recorder {
    path: PathBuf,
    rate: f64,
    max_bytes: u64,
    max_records: u64,
    /// Mixes a key hash into the record's object id.
    salt: foldhash::quality::FixedState,
    started: u64,
    tx: Sender<file::Msg>,
    queued: AtomicU64,
    dropped: AtomicU64,
    truncated: AtomicU64,
    finished: AtomicBool,
    writer: Mutex<Option<JoinHandle<std::io::Result<file::Written>>>>,
}

impl Recorder {
    fn start(config: &CaptureConfig, now: u64) -> Result<Recorder, String> {
        let (tx, writer) = file::Writer::spawn(config.path(), config.max_bytes)?;
        Ok(Recorder {
            path: config.path().to_owned(),
            rate: (config.threshold()? as f64) / SAMPLE_SPACE as f64,
            max_bytes: config.max_bytes,
            max_records: config.max_bytes / file::RECORD_BYTES as u64,
            salt: foldhash::quality::FixedState::with_seed(crate::hot::random_seed()),
            started: now,
            tx,
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            writer: Mutex::new(Some(writer)),
        })
    }

    fn record(&self, now: u64, op: CaptureOp, hash: u64, weight: u32, deadline: u64) {
        if self.queued.load(Ordering::Relaxed) >= self.max_records {
            self.truncated.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let ttl = if deadline == NEVER || op != CaptureOp::Set {
            0
        } else {
            let left = deadline.saturating_sub(now).div_ceil(1_000_000_000).max(1);
            i32::try_from(left).unwrap_or(i32::MAX)
        };
        let record = file::Record {
            time: u32::try_from(now.saturating_sub(self.started) / 1_000_000_000)
                .unwrap_or(u32::MAX),
            id: self.salt.hash_one(hash),
            size: weight,
            op,
            ttl,
        };
        match self.tx.try_send(file::Msg::Record(record)) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn status(&self, now: u64) -> CaptureStatus {
        CaptureStatus {
            path: self.path.clone(),
            rate: self.rate,
            max_bytes: self.max_bytes,
            records: self.queued.load(Ordering::Relaxed).min(self.max_records),
            dropped: self.dropped.load(Ordering::Relaxed),
            truncated: self.truncated.load(Ordering::Relaxed),
            elapsed: Duration::from_nanos(now.saturating_sub(self.started)),
        }
    }

    /// Tells the writer to finish and waits for the file.
    fn finish(&self, now: u64) -> Result<CaptureSummary, String> {
        if self.finished.swap(true, Ordering::AcqRel) {
            return Err("the capture is already finished".to_owned());
        }
        // The writer drains what is queued before the stop. (A capture
        // the cache drops unfinished ends the same way: the channel
        // disconnects and the writer finishes the file on its own.)
        let _ = self.tx.send(file::Msg::Stop);
        let handle = self.writer.lock().take();
        let written = match handle.map(JoinHandle::join) {
            Some(Ok(Ok(w))) => w,
            Some(Ok(Err(e))) => {
                return Err(format!(
                    "could not finish {}: {e} (the records so far are in {})",
                    self.path.display(),
                    file::part_path(&self.path).display()
                ));
            }
            Some(Err(_)) => return Err("the capture writer panicked".to_owned()),
            None => return Err("the capture writer is gone".to_owned()),
        };
        let status = self.status(now);
        Ok(CaptureSummary {
            path: self.path.clone(),
            rate: self.rate,
            records: written.records,
            objects: written.objects,
            dropped: status.dropped,
            truncated: status.truncated + written.over_bound,
            sizes_from_neighbours: written.sizes_from_neighbours,
            sizes_guessed: written.sizes_guessed,
            elapsed: status.elapsed,
        })
    }
}
