//! A miniature shadow cache: one candidate policy over the sampled request
//! stream, with its own resident set and byte count and nothing else — no
//! keys, no values, never the real data.
//!
//! A shadow is driven exactly as `goldylox replay` drives a policy: a
//! request for a resident hash is a hit; any other request is a miss that
//! inserts the hash with its weight, after which the policy is asked for the
//! victims that bring the shadow back under its capacity. Hits are batched;
//! every miss flushes the batch first, so the policy sees events in order.

use crate::policy::EVICT_BATCH_MAX;
use crate::policy::list::HashMap64;
use crate::policy::{EventBatch, EventKind, EvictionPolicy, POLICY_BATCH_MAX, PolicyChoice};

/// One candidate's shadow cache.
pub(super) struct Shadow {
    /// The candidate's name (as configured).
    pub(super) name: String,
    /// How to build the candidate.
    pub(super) choice: PolicyChoice,
    /// The running instance; `None` once it failed.
    policy: Option<Box<dyn EvictionPolicy>>,
    /// Why it left the race, if it did.
    pub(super) failure: Option<String>,
    resident: HashMap64<u32>,
    used: u64,
    capacity: u64,
    batch: EventBatch,
    victims: Vec<u64>,
    /// Hits and requests in the current epoch.
    pub(super) hits: u64,
    pub(super) requests: u64,
    /// Smoothed hit ratio over past epochs (`None` before the first).
    pub(super) score: Option<f64>,
    /// Hits and requests since the race began (across rebuilds).
    pub(super) total_hits: u64,
    pub(super) total_requests: u64,
}

impl Shadow {
    /// A shadow of `choice` holding `capacity` weight (bytes, scaled by the
    /// sample rate). A candidate that cannot be built starts out failed.
    pub(super) fn new(name: String, choice: PolicyChoice, capacity: u64) -> Shadow {
        match crate::policy::guarded(|| choice.build(capacity)) {
            Ok(policy) => Shadow::with(name, choice, capacity, Some(policy), None),
            Err(e) => Shadow::with(name, choice, capacity, None, Some(e.to_string())),
        }
    }

    fn with(
        name: String,
        choice: PolicyChoice,
        capacity: u64,
        policy: Option<Box<dyn EvictionPolicy>>,
        failure: Option<String>,
    ) -> Shadow {
        Shadow {
            name,
            choice,
            policy,
            failure,
            resident: HashMap64::default(),
            used: 0,
            capacity,
            batch: EventBatch::with_capacity(64),
            victims: Vec::new(),
            hits: 0,
            requests: 0,
            score: None,
            total_hits: 0,
            total_requests: 0,
        }
    }

    /// A fresh shadow of the same candidate at another capacity; the
    /// smoothed score carries over, a failure stays a failure.
    pub(super) fn rebuilt(&self, capacity: u64) -> Shadow {
        let mut fresh = match &self.failure {
            Some(reason) => Shadow::with(
                self.name.clone(),
                self.choice.clone(),
                capacity,
                None,
                Some(reason.clone()),
            ),
            None => Shadow::new(self.name.clone(), self.choice.clone(), capacity),
        };
        fresh.score = self.score;
        fresh.total_hits = self.total_hits;
        fresh.total_requests = self.total_requests;
        fresh
    }

    /// Whether the candidate is still in the race.
    pub(super) fn racing(&self) -> bool {
        self.policy.is_some()
    }

    /// Entries the shadow holds.
    pub(super) fn len(&self) -> usize {
        self.resident.len()
    }

    /// A read (or a write that missed the real tier): a hit if resident,
    /// else a miss that inserts the hash with `weight`.
    pub(super) fn request(&mut self, hash: u64, weight: u32) {
        if self.policy.is_none() {
            return;
        }
        self.requests += 1;
        if self.resident.contains_key(&hash) {
            self.hits += 1;
            self.push(EventKind::Hit, hash, 0);
        } else {
            self.insert(hash, weight);
        }
    }

    /// A lookup that takes the entry out when found (a lower tier's hit is
    /// a promotion): counted like a request, but a miss inserts nothing.
    pub(super) fn probe(&mut self, hash: u64) {
        if self.policy.is_none() {
            return;
        }
        self.requests += 1;
        if self.resident.contains_key(&hash) {
            self.hits += 1;
            self.remove(hash);
        }
    }

    /// A write that is not a request: the resident entry's weight changes,
    /// or the entry arrives.
    pub(super) fn write(&mut self, hash: u64, weight: u32) {
        if self.policy.is_none() {
            return;
        }
        match self.resident.get_mut(&hash) {
            Some(old) => {
                self.used = self.used - u64::from(*old) + u64::from(weight);
                *old = weight;
                self.push(EventKind::Update, hash, weight);
                if self.used > self.capacity {
                    self.settle();
                }
            }
            None => self.insert(hash, weight),
        }
    }

    /// The entry left the real cache (removed or expired).
    pub(super) fn remove(&mut self, hash: u64) {
        if let Some(w) = self.resident.remove(&hash) {
            self.used -= u64::from(w);
            self.push(EventKind::Remove, hash, 0);
        }
    }

    fn insert(&mut self, hash: u64, weight: u32) {
        self.resident.insert(hash, weight);
        self.used += u64::from(weight);
        self.batch.push(EventKind::Insert, hash, weight);
        self.settle();
    }

    fn push(&mut self, kind: EventKind, hash: u64, weight: u32) {
        self.batch.push(kind, hash, weight);
        if self.batch.len() >= POLICY_BATCH_MAX {
            self.flush();
        }
    }

    /// Applies what is batched.
    pub(super) fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        if let Some(policy) = &mut self.policy
            && let Err(e) = crate::policy::guarded(|| policy.apply(&self.batch))
        {
            self.fail(e.to_string());
        }
        self.batch.clear();
    }

    /// Applies the batch, then evicts the policy's victims (those it queued
    /// while inserting, and more while the shadow is over its capacity).
    /// Victims the shadow does not hold are ignored, as the engine does.
    fn settle(&mut self) {
        self.flush();
        let mut rounds = 0;
        loop {
            let Some(policy) = &mut self.policy else {
                return;
            };
            let over = self.used.saturating_sub(self.capacity);
            self.victims.clear();
            let victims = &mut self.victims;
            if let Err(e) = crate::policy::guarded(|| policy.evict(EVICT_BATCH_MAX, over, victims))
            {
                return self.fail(e.to_string());
            }
            for victim in self.victims.drain(..) {
                if let Some(w) = self.resident.remove(&victim) {
                    self.used -= u64::from(w);
                }
            }
            rounds += 1;
            if self.used <= self.capacity {
                return;
            }
            if rounds >= crate::policy::EVICT_ROUNDS_MAX {
                // A policy that cannot bring its shadow under capacity is
                // out of the race: its figures would mean nothing.
                return self.fail("it does not evict enough to stay within its capacity".into());
            }
        }
    }

    /// Drops the candidate from the race (never from the cache).
    pub(super) fn fail(&mut self, reason: String) {
        self.policy = None;
        self.failure = Some(reason);
        self.resident = HashMap64::default();
        self.used = 0;
        self.batch.clear();
        self.score = None;
    }

    /// Closes an epoch: folds its hit ratio into the smoothed score with
    /// weight `alpha` and starts counting anew.
    pub(super) fn close_epoch(&mut self, alpha: f64) {
        self.flush();
        if self.requests > 0 && self.policy.is_some() {
            let ratio = self.hits as f64 / self.requests as f64;
            self.score = Some(match self.score {
                Some(s) => s + alpha * (ratio - s),
                None => ratio,
            });
            self.total_hits += self.hits;
            self.total_requests += self.requests;
        }
        self.hits = 0;
        self.requests = 0;
    }
}
