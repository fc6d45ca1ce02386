//! `auto`: a tier picks its own eviction policy by shadow simulation.
//!
//! A [`Selector`] runs every candidate policy on a **miniature shadow
//! cache** fed by a spatial sample of the tier's own event stream, and, when
//! one candidate is clearly ahead, proposes it; the maintenance thread swaps
//! the live policy to it with the ordinary hot swap (and `goldylox replay
//! --policies auto` drives the same code over a trace).
//!
//! # Sampling (SHARDS)
//!
//! A request is sampled when `(hash · φ) >> 40`, a 24-bit remix of its key
//! hash, falls under a threshold `T`: the sample rate is `R = T / 2²⁴`, and
//! every event of a sampled key is seen, so each shadow observes whole key
//! histories (Waldspurger et al., FAST '15). Each shadow's capacity is the
//! tier's capacity scaled by `R`, and entries keep their real weights, so a
//! byte-capacity tier is simulated in bytes.
//!
//! # The rate rule, and its error
//!
//! `R = min(1, S · w̄ / C)`: the rate at which a shadow holds about `S`
//! entries ([`AutoConfig::shadow_entries`], default 4096), where `C` is the
//! tier's capacity and `w̄` the mean entry weight seen so far. Small tiers
//! are simulated in full (`R = 1`, no sampling error at all). The rate is
//! re-derived at every epoch and changed only when it is off by more than a
//! factor of two (the shadows are rebuilt at the new scale, keeping their
//! scores). SHARDS' estimate of a miss ratio at a sample of `S` resident
//! entries has a standard error of roughly `1/√(requests sampled)` per epoch
//! plus a bias from the scaled-down capacity; `goldylox replay` measures
//! both against full simulation (see reports/auto.md).
//!
//! # Choosing
//!
//! An epoch ends after `E` sampled requests (about one shadow turnover,
//! `E = clamp(R·C / w̄, 256, 16384)`). Each shadow's epoch hit ratio is
//! folded into a smoothed score (exponential, newest epoch weighted
//! [`AutoConfig::smoothing`], default 0.2). The leader replaces the live
//! candidate only when its score is ahead by more than
//! [`AutoConfig::margin`] (default 2 percentage points) for
//! [`AutoConfig::streak`] epochs in a row (default 3), or by more than
//! four margins in one epoch (a decisive lead is not worth waiting for):
//! hysteresis against thrashing between near-equal policies. Ties go to
//! the live candidate, then to the first in configured order. Two
//! refinements were measured and left out: a margin that grows after each
//! quick switch (on sprite it cut switches from 21 to 17 and lost 0.5 pp),
//! and telling a switched-in policy the last turnover's hits after the
//! resident set (within ±0.8 pp either way on OLTP, sprite, gli, multi3 and
//! backf). The defaults are deliberately steady: every switch costs the
//! new policy its history (it learns the resident set in no particular
//! order), and on OLTP a twitchier rule (0.5 pp, 2 epochs, weight ½)
//! switched 23–26 times per run and trailed S3-FIFO by 1.3–2.6 pp. With the
//! defaults, `reports/auto.md` has `auto` within 1 pp of the best single
//! policy on 56 of 76 cells and at most 3.5 pp behind it.
//!
//! A candidate that fails in its shadow (a trap, a deadline, a broken
//! contract) is dropped from the race and never chosen; if the live
//! candidate fails there, the leader is proposed at once.
//!
//! # A known bias
//!
//! In a cache, hits reach the selector through the lossy read buffer, which
//! drops hints under heavy read load, while inserts are never dropped; the
//! shadows then see the live policy's misses more fully than its hits.
//! `goldylox replay` has no such loss.
//!
//! ```
//! use std::sync::Arc;
//! use goldylox::{AutoConfig, Cache, Candidate, PolicyChoice, PolicyTier};
//! let auto = AutoConfig::new(vec![
//!     Candidate::new("sieve", PolicyChoice::Sieve),
//!     Candidate::new("lru", PolicyChoice::Lru),
//! ])
//! .map_err(|e| goldylox::Error::InvalidConfig { reason: e.to_string() })?;
//! let cache: Cache<u64, u64> = Cache::builder(1 << 20)
//!     .policy(PolicyChoice::Auto(Arc::new(auto)))
//!     .build()?;
//! let status = cache.policy_status(PolicyTier::Hot).unwrap();
//! assert_eq!(status.auto.unwrap().current, "sieve", "the first candidate starts");
//! # Ok::<(), goldylox::Error>(())
//! ```

mod selector;
mod shadow;

pub use selector::Selector;

use std::time::Duration;

use crate::policy::{PolicyChoice, PolicyError};

/// Resolution of the sampling threshold (24 bits).
const SAMPLE_SPACE: u64 = 1 << 24;
/// Sampled requests per epoch, at least and at most.
const EPOCH_MIN: u64 = 256;
const EPOCH_MAX: u64 = 16 * 1024;
/// Weights observed before the first re-derivation of the rate.
const EARLY_RERATE_AFTER: u64 = 1024;
/// A lead of this many margins switches without waiting for the streak.
const DECISIVE_MARGINS: f64 = 4.0;
/// Switches kept in the log.
const SWITCH_LOG_MAX: usize = 1024;

/// One candidate policy of an `auto` tier.
///
/// ```
/// use goldylox::{Candidate, PolicyChoice};
/// let c = Candidate::new("lru", PolicyChoice::Lru);
/// assert_eq!(c.name, "lru");
/// ```
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The name it is reported under (e.g. `s3fifo`, `wasm:arc`).
    pub name: String,
    /// How to build it, parameters included.
    pub choice: PolicyChoice,
}

impl Candidate {
    /// A candidate called `name`.
    ///
    /// ```
    /// let c = goldylox::Candidate::new("sieve", goldylox::PolicyChoice::Sieve);
    /// # drop(c);
    /// ```
    pub fn new(name: impl Into<String>, choice: PolicyChoice) -> Candidate {
        Candidate {
            name: name.into(),
            choice,
        }
    }
}

/// The candidates of an `auto` tier and the rule that picks among them.
///
/// ```
/// use std::sync::Arc;
/// use goldylox::{AutoConfig, Cache, Candidate, PolicyChoice};
/// let auto = AutoConfig::new(vec![
///     Candidate::new("sieve", PolicyChoice::Sieve),
///     Candidate::new("lru", PolicyChoice::Lru),
/// ])
/// .map_err(|e| goldylox::Error::InvalidConfig { reason: e.to_string() })?;
/// let cache: Cache<u64, u64> = Cache::builder(1 << 20)
///     .policy(PolicyChoice::Auto(Arc::new(auto)))
///     .build()?;
/// # drop(cache);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AutoConfig {
    candidates: Vec<Candidate>,
    shadow_entries: u64,
    margin: f64,
    streak: u32,
    smoothing: f64,
}

impl AutoConfig {
    /// A race between `candidates`; the first one runs until the shadows
    /// pick another. Names must be distinct and the list not empty.
    ///
    /// ```
    /// use goldylox::{AutoConfig, Candidate, PolicyChoice};
    /// assert!(AutoConfig::new(vec![]).is_err(), "at least one candidate");
    /// let one = AutoConfig::new(vec![Candidate::new("lru", PolicyChoice::Lru)])?;
    /// assert_eq!(one.candidates().len(), 1);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn new(candidates: Vec<Candidate>) -> Result<AutoConfig, PolicyError> {
        if candidates.is_empty() {
            return Err(PolicyError::Init(
                "auto needs at least one candidate".into(),
            ));
        }
        for (i, c) in candidates.iter().enumerate() {
            if candidates[..i].iter().any(|d| d.name == c.name) {
                return Err(PolicyError::Init(format!(
                    "auto names candidate {:?} twice",
                    c.name
                )));
            }
        }
        Ok(AutoConfig {
            candidates,
            shadow_entries: 4096,
            margin: 0.02,
            streak: 3,
            smoothing: 0.2,
        })
    }

    /// Entries each shadow should hold (`S` in the rate rule; at least 64).
    ///
    /// ```
    /// use goldylox::{AutoConfig, Candidate, PolicyChoice};
    /// let config = AutoConfig::new(vec![Candidate::new("lru", PolicyChoice::Lru)])?
    ///     .shadow_entries(8192);
    /// # drop(config);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn shadow_entries(mut self, entries: u64) -> Self {
        self.shadow_entries = entries.max(64);
        self
    }

    /// How far ahead (as a hit-ratio fraction, 0.02 = 2 pp) a candidate
    /// must be to replace the live one.
    ///
    /// ```
    /// use goldylox::{AutoConfig, Candidate, PolicyChoice};
    /// let config = AutoConfig::new(vec![Candidate::new("lru", PolicyChoice::Lru)])?.margin(0.01);
    /// # drop(config);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn margin(mut self, margin: f64) -> Self {
        self.margin = margin.clamp(0.0, 1.0);
        self
    }

    /// For how many epochs in a row it must be ahead (at least 1).
    ///
    /// ```
    /// use goldylox::{AutoConfig, Candidate, PolicyChoice};
    /// let config = AutoConfig::new(vec![Candidate::new("lru", PolicyChoice::Lru)])?.streak(5);
    /// # drop(config);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn streak(mut self, epochs: u32) -> Self {
        self.streak = epochs.max(1);
        self
    }

    /// The weight of the newest epoch in a candidate's score (0 < w ≤ 1;
    /// smaller is slower to move and steadier).
    ///
    /// ```
    /// use goldylox::{AutoConfig, Candidate, PolicyChoice};
    /// let config = AutoConfig::new(vec![Candidate::new("lru", PolicyChoice::Lru)])?.smoothing(0.5);
    /// # drop(config);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn smoothing(mut self, weight: f64) -> Self {
        self.smoothing = weight.clamp(0.01, 1.0);
        self
    }

    /// The candidates, in order.
    ///
    /// ```
    /// use goldylox::{AutoConfig, Candidate, PolicyChoice};
    /// let config = AutoConfig::new(vec![Candidate::new("lru", PolicyChoice::Lru)])?;
    /// assert_eq!(config.candidates()[0].name, "lru");
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }
}

/// A candidate's standing in the race.
///
/// ```
/// use std::sync::Arc;
/// use goldylox::{AutoConfig, Candidate, EventBatch, EventKind, PolicyChoice};
/// use goldylox::policy::auto::Selector;
/// let config = AutoConfig::new(vec![
///     Candidate::new("lru", PolicyChoice::Lru),
///     Candidate::new("sieve", PolicyChoice::Sieve),
/// ])?;
/// let mut selector = Selector::new(Arc::new(config), 1 << 20, 100);
/// assert_eq!(selector.status().candidates[0].name, "lru");
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CandidateStatus {
    /// Its name.
    pub name: String,
    /// Its smoothed shadow hit ratio (0..=1), once an epoch has closed.
    pub hit_ratio: Option<f64>,
    /// Why it left the race, if it did.
    pub failure: Option<String>,
    /// Entries in its shadow now.
    pub entries: usize,
    /// Sampled requests its shadow served, and hits among them, over every
    /// closed epoch (its whole-run shadow hit ratio is their quotient).
    pub requests: u64,
    /// See `requests`.
    pub hits: u64,
}

/// One switch of the live policy.
///
/// ```
/// use std::sync::Arc;
/// use goldylox::{AutoConfig, Candidate, EventBatch, EventKind, PolicyChoice};
/// use goldylox::policy::auto::Selector;
/// let config = AutoConfig::new(vec![
///     Candidate::new("lru", PolicyChoice::Lru),
///     Candidate::new("sieve", PolicyChoice::Sieve),
/// ])?;
/// let mut selector = Selector::new(Arc::new(config), 1 << 20, 100);
/// assert!(selector.switch_log().is_empty(), "no switch yet");
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Switch {
    /// Events the selector had been shown when it proposed the switch.
    pub at: u64,
    /// The candidate that was live.
    pub from: String,
    /// The candidate that replaced it.
    pub to: String,
}

/// What a selector reports.
///
/// ```
/// use std::sync::Arc;
/// use goldylox::{AutoConfig, Candidate, EventBatch, EventKind, PolicyChoice};
/// use goldylox::policy::auto::Selector;
/// let config = AutoConfig::new(vec![
///     Candidate::new("lru", PolicyChoice::Lru),
///     Candidate::new("sieve", PolicyChoice::Sieve),
/// ])?;
/// let mut selector = Selector::new(Arc::new(config), 1 << 20, 100);
/// let status = selector.status();
/// assert_eq!(status.current, "lru");
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AutoStatus {
    /// The candidate running the tier.
    pub current: String,
    /// Every candidate, in configured order.
    pub candidates: Vec<CandidateStatus>,
    /// Switches of the live policy.
    pub switches: u64,
    /// Closed epochs.
    pub epochs: u64,
    /// The share of keys the shadows see (`R`).
    pub sample_rate: f64,
    /// Each shadow's capacity (the tier's, scaled by `R`).
    pub shadow_capacity: u64,
    /// Time spent feeding the shadows (as measured by the caller).
    pub cpu: Duration,
}
