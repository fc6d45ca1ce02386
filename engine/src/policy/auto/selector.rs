//! The selector: the shadows of an `auto` tier's candidates, fed a
//! spatially sampled share of its events, and the race between them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::shadow::Shadow;
use super::{
    AutoConfig, AutoStatus, Candidate, CandidateStatus, DECISIVE_MARGINS, EARLY_RERATE_AFTER,
    EPOCH_MAX, EPOCH_MIN, SAMPLE_SPACE, SWITCH_LOG_MAX, Switch,
};
use crate::policy::list::HashMap64;
use crate::policy::{EventBatch, EventKind};

/// Runs the candidates' shadows and proposes switches. See the
/// [module docs](super).
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
/// let mut batch = EventBatch::with_capacity(1);
/// batch.push(EventKind::Insert, 1, 100);
/// selector.observe(&batch);
/// assert_eq!(selector.take_proposal().map(|c| c.name), None, "too early to tell");
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
pub struct Selector {
    config: Arc<AutoConfig>,
    capacity: u64,
    threshold: u64,
    shadows: Vec<Shadow>,
    current: usize,
    /// The candidate proposed and not yet taken.
    proposal: Option<usize>,
    leader_streak: (usize, u32),
    /// Last known weights of sampled keys (hits carry none).
    weights: HashMap64<u32>,
    weight_sum: u64,
    weight_count: u64,
    rerated_early: bool,
    epoch_len: u64,
    sampled: u64,
    events: u64,
    epochs: u64,
    switches: u64,
    log: Vec<Switch>,
    cpu: Duration,
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("status", &self.status())
            .finish()
    }
}

impl Selector {
    /// A selector for a tier of `capacity` whose entries weigh about
    /// `mean_weight` (a hint until weights are seen; 1 for entry counts).
    /// The first candidate is taken as live.
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
    /// assert_eq!(selector.current().name, "lru", "the first candidate is live");
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn new(config: Arc<AutoConfig>, capacity: u64, mean_weight: u64) -> Selector {
        let mut selector = Selector {
            config,
            capacity: capacity.max(1),
            threshold: SAMPLE_SPACE,
            shadows: Vec::new(),
            current: 0,
            proposal: None,
            leader_streak: (0, 0),
            weights: HashMap64::default(),
            weight_sum: mean_weight.max(1),
            weight_count: 1,
            rerated_early: false,
            epoch_len: EPOCH_MIN,
            sampled: 0,
            events: 0,
            epochs: 0,
            switches: 0,
            log: Vec::new(),
            cpu: Duration::ZERO,
        };
        selector.threshold = selector.wanted_threshold();
        selector.rebuild_shadows();
        selector
    }

    /// The candidates' configuration.
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
    /// assert_eq!(selector.config().candidates().len(), 2);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn config(&self) -> &Arc<AutoConfig> {
        &self.config
    }

    /// The live candidate.
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
    /// assert_eq!(selector.current().name, "lru");
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn current(&self) -> &Candidate {
        &self.config.candidates[self.current]
    }

    fn mean_weight(&self) -> f64 {
        self.weight_sum as f64 / self.weight_count as f64
    }

    /// `T` for `R = min(1, S·w̄/C)`.
    fn wanted_threshold(&self) -> u64 {
        let rate = (self.config.shadow_entries as f64 * self.mean_weight() / self.capacity as f64)
            .min(1.0);
        ((rate * SAMPLE_SPACE as f64).ceil() as u64).clamp(1, SAMPLE_SPACE)
    }

    /// The sample rate `R`.
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
    /// assert!(selector.sample_rate() > 0.0 && selector.sample_rate() <= 1.0);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn sample_rate(&self) -> f64 {
        self.threshold as f64 / SAMPLE_SPACE as f64
    }

    fn shadow_capacity(&self) -> u64 {
        ((self.capacity as f64 * self.sample_rate()).round() as u64).max(1)
    }

    fn rebuild_shadows(&mut self) {
        let capacity = self.shadow_capacity();
        self.shadows = if self.shadows.is_empty() {
            (self.config.candidates.iter())
                .map(|c| Shadow::new(c.name.clone(), c.choice.clone(), capacity))
                .collect()
        } else {
            self.shadows.iter().map(|s| s.rebuilt(capacity)).collect()
        };
        self.weights.clear();
        let entries = capacity as f64 / self.mean_weight();
        self.epoch_len = (entries as u64).clamp(EPOCH_MIN, EPOCH_MAX);
        self.sampled = 0;
    }

    /// Changes the rate when it is off by more than a factor of two.
    fn rerate(&mut self) {
        let wanted = self.wanted_threshold();
        if wanted > 2 * self.threshold || 2 * wanted < self.threshold {
            self.threshold = wanted;
            self.rebuild_shadows();
        }
    }

    #[inline]
    fn sampled(&self, hash: u64) -> bool {
        self.threshold >= SAMPLE_SPACE
            || (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) < self.threshold
    }

    fn learn_weight(&mut self, weight: u32) {
        self.weight_sum += u64::from(weight);
        self.weight_count += 1;
        if !self.rerated_early && self.weight_count > EARLY_RERATE_AFTER {
            self.rerated_early = true;
            self.rerate();
        }
    }

    fn weight_of(&self, hash: u64) -> u32 {
        self.weights
            .get(&hash)
            .copied()
            .unwrap_or_else(|| self.mean_weight().round().max(1.0) as u32)
    }

    fn remember(&mut self, hash: u64, weight: u32) {
        if self.weights.len() as u64 >= 16 * self.config.shadow_entries.max(EPOCH_MAX) {
            self.weights.clear();
        }
        self.weights.insert(hash, weight);
    }

    /// Feeds the events of the tier this selector chooses for, when it is
    /// the top tier (the events a policy sees: hits and inserts are
    /// requests, updates are writes, removes leave).
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
    /// let mut batch = EventBatch::with_capacity(1);
    /// batch.push(EventKind::Hit, 1, 100);
    /// selector.observe(&batch);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn observe(&mut self, batch: &EventBatch) {
        for (kind, hash, weight) in batch.iter() {
            self.events += 1;
            if matches!(kind, EventKind::Insert | EventKind::Update) {
                self.learn_weight(weight);
            }
            if !self.sampled(hash) {
                continue;
            }
            match kind {
                EventKind::Hit => {
                    let w = self.weight_of(hash);
                    self.each(|s| s.request(hash, w));
                    self.count_request();
                }
                EventKind::Insert => {
                    self.remember(hash, weight);
                    self.each(|s| s.request(hash, weight));
                    self.count_request();
                }
                EventKind::Update => {
                    self.remember(hash, weight);
                    self.each(|s| s.write(hash, weight));
                }
                EventKind::Remove => {
                    self.weights.remove(&hash);
                    self.each(|s| s.remove(hash));
                }
            }
        }
    }

    /// Feeds the events of the tier above, for a selector of a lower tier:
    /// an insert above is a lookup below (a miss above that the lower tier
    /// may serve: a hit takes the entry up), a remove above leaves the
    /// cache.
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
    /// let mut above = EventBatch::with_capacity(1);
    /// above.push(EventKind::Insert, 1, 100); // the tier above stored it: a lookup here
    /// selector.observe_above(&above);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn observe_above(&mut self, batch: &EventBatch) {
        for (kind, hash, _) in batch.iter() {
            if !self.sampled(hash) {
                continue;
            }
            match kind {
                EventKind::Insert => {
                    self.each(|s| s.probe(hash));
                    self.count_request();
                }
                EventKind::Remove => self.each(|s| s.remove(hash)),
                _ => {}
            }
        }
    }

    /// Feeds a lower tier's own events: inserts and updates are entries
    /// arriving (demotions). Removes are ignored — a lower tier's entry
    /// leaves by promotion, which [`observe_above`](Self::observe_above)
    /// sees as a hit, or by a remove above.
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
    /// let mut below = EventBatch::with_capacity(1);
    /// below.push(EventKind::Insert, 1, 100);
    /// selector.observe_below(&below);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn observe_below(&mut self, batch: &EventBatch) {
        for (kind, hash, weight) in batch.iter() {
            self.events += 1;
            if !matches!(kind, EventKind::Insert | EventKind::Update) {
                continue;
            }
            self.learn_weight(weight);
            if self.sampled(hash) {
                self.each(|s| s.write(hash, weight));
            }
        }
    }

    fn each(&mut self, mut f: impl FnMut(&mut Shadow)) {
        for shadow in &mut self.shadows {
            f(shadow);
        }
    }

    fn count_request(&mut self) {
        self.sampled += 1;
        if self.sampled >= self.epoch_len {
            self.close_epoch();
        }
    }

    /// Scores the epoch and decides.
    fn close_epoch(&mut self) {
        self.sampled = 0;
        self.epochs += 1;
        let alpha = self.config.smoothing;
        self.each(|s| s.close_epoch(alpha));
        self.decide();
        self.rerate();
    }

    fn decide(&mut self) {
        let score = |s: &Shadow| s.score.filter(|_| s.racing());
        // The best score; on a tie the live candidate, then the first in
        // configured order.
        let mut leader = None;
        let order = std::iter::once(self.current).chain(0..self.shadows.len());
        for i in order {
            if let Some(si) = score(&self.shadows[i])
                && leader.is_none_or(|l: usize| si > score(&self.shadows[l]).unwrap_or(0.0))
            {
                leader = Some(i);
            }
        }
        let Some(leader) = leader else {
            return;
        };
        if leader == self.current {
            self.leader_streak = (leader, 0);
            return;
        }
        let Some(current) = score(&self.shadows[self.current]) else {
            // The live candidate left the race: the leader takes over now.
            self.proposal = Some(leader);
            return;
        };
        let ahead = score(&self.shadows[leader]).unwrap_or(0.0) - current;
        let margin = self.config.margin;
        if ahead <= margin {
            self.leader_streak = (leader, 0);
            return;
        }
        let streak = if self.leader_streak.0 == leader {
            self.leader_streak.1 + 1
        } else {
            1
        };
        self.leader_streak = (leader, streak);
        // A lead of four margins is decisive at once; a smaller one must
        // hold for the streak.
        if streak >= self.config.streak || ahead > DECISIVE_MARGINS * margin {
            self.proposal = Some(leader);
        }
    }

    /// The candidate to switch to, if the race has decided on one. The
    /// caller swaps, then reports with [`switched`](Self::switched) or
    /// [`rejected`](Self::rejected).
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
    /// if let Some(candidate) = selector.take_proposal() {
    ///     // … swap the tier to candidate.choice, then:
    ///     selector.switched(&candidate.name);
    /// }
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn take_proposal(&mut self) -> Option<Candidate> {
        let i = self.proposal.take()?;
        (i != self.current).then(|| self.config.candidates[i].clone())
    }

    /// The live policy is now the candidate called `name`.
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
    /// selector.switched("sieve");
    /// assert_eq!(selector.current().name, "sieve");
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn switched(&mut self, name: &str) {
        let Some(i) = self.index_of(name) else { return };
        if i == self.current {
            return;
        }
        if self.log.len() >= SWITCH_LOG_MAX {
            self.log.remove(0);
        }
        self.log.push(Switch {
            at: self.events,
            from: self.config.candidates[self.current].name.clone(),
            to: name.to_owned(),
        });
        self.current = i;
        self.switches += 1;
        self.leader_streak = (i, 0);
    }

    /// Installing the candidate called `name` failed: it leaves the race.
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
    /// selector.rejected("sieve", "failed to build");
    /// assert_eq!(selector.current().name, "lru");
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn rejected(&mut self, name: &str, reason: &str) {
        if let Some(i) = self.index_of(name) {
            self.shadows[i].fail(format!("could not be installed: {reason}"));
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.config.candidates.iter().position(|c| c.name == name)
    }

    /// Adds time the caller spent feeding the shadows.
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
    /// selector.add_cpu(std::time::Duration::from_micros(40));
    /// assert!(selector.status().cpu >= std::time::Duration::from_micros(40));
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn add_cpu(&mut self, spent: Duration) {
        self.cpu += spent;
    }

    /// The switches so far (the newest 1024).
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
    /// selector.switched("sieve");
    /// assert_eq!(selector.switch_log().len(), 1);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn switch_log(&self) -> &[Switch] {
        &self.log
    }

    /// The race as it stands.
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
    /// assert_eq!(selector.status().switches, 0);
    /// # Ok::<(), goldylox::PolicyError>(())
    /// ```
    pub fn status(&self) -> AutoStatus {
        AutoStatus {
            current: self.current().name.clone(),
            candidates: self
                .shadows
                .iter()
                .map(|s| CandidateStatus {
                    name: s.name.clone(),
                    hit_ratio: s.score,
                    failure: s.failure.clone(),
                    entries: s.len(),
                    requests: s.total_requests,
                    hits: s.total_hits,
                })
                .collect(),
            switches: self.switches,
            epochs: self.epochs,
            sample_rate: self.sample_rate(),
            shadow_capacity: self.shadow_capacity(),
            cpu: self.cpu,
        }
    }
}
