//! [`Cache`]'s live workload capture: start, look, stop (see
//! [`crate::capture`]).

use std::hash::Hash;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use crate::capture::{CaptureConfig, CaptureOp, CaptureStatus, CaptureSummary};
use crate::error::Error;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Starts recording a spatial sample of this cache's requests (gets,
    /// sets, deletes and expiries, with weights and times to live) into a
    /// file in libCacheSim's oracleSysTwrNS layout, for replaying the
    /// workload against other policies ([`crate::capture`]). Refused if a
    /// capture is running, the rate is not in (0, 1], or the file cannot
    /// be created.
    ///
    /// ```
    /// use goldylox::{Cache, CaptureConfig};
    /// let dir = std::env::temp_dir().join(format!("gx-doc-capture-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("workload.oracleSysTwrNS.bin");
    /// let cache: Cache<String, String> = Cache::new(1 << 20)?;
    /// cache.start_capture(CaptureConfig::new(&path))?;
    /// cache.insert("k".into(), "v".into())?;
    /// cache.get("k");
    /// let summary = cache.stop_capture()?;
    /// assert_eq!(summary.records, 2);
    /// assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * 34);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn start_capture(&self, config: CaptureConfig) -> Result<(), Error> {
        let s = self.shared();
        s.capture
            .start(&config, s.clock.now_nanos())
            .map_err(|reason| Error::Capture { reason })
    }

    /// Stops the running capture and finishes its file: every record's
    /// next access, and a size for every miss (see
    /// [`crate::capture::file`]). Waits for the writer; refused if none
    /// runs.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::new(1 << 20)?;
    /// assert!(matches!(cache.stop_capture(), Err(goldylox::Error::Capture { .. })));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn stop_capture(&self) -> Result<CaptureSummary, Error> {
        let s = self.shared();
        s.capture
            .stop(s.clock.now_nanos())
            .map_err(|reason| Error::Capture { reason })
    }

    /// The running capture's figures, if one runs.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::new(1 << 20)?;
    /// assert!(cache.capture_status().is_none());
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn capture_status(&self) -> Option<CaptureStatus> {
        let s = self.shared();
        s.capture.status(s.clock.now_nanos())
    }

    /// Records a request for `hash` if a capture runs and samples it.
    #[inline]
    pub(super) fn captured(&self, op: CaptureOp, hash: u64, weight: u32, deadline: u64) {
        let s = self.shared();
        if s.capture.sampled(hash) {
            s.capture
                .record(s.clock.now_nanos(), op, hash, weight, deadline);
        }
    }
}
