//! W-TinyLFU (Einziger, Friedman & Manes, 2017), as in Caffeine: new keys
//! enter a small LRU *window*; when the window overflows, its oldest key
//! becomes a *candidate* for the main SLRU (probation + protected) and is
//! admitted only if a count-min sketch says it is more popular than the
//! victim it would displace. A probation hit promotes to protected.
//!
//! The window adapts by hill climbing (Caffeine's simple climber): every
//! `10 x capacity` requests the hit rate is compared with the previous
//! sample; the window grows or shrinks by a step (6.25 % of capacity,
//! decaying by 2 % a sample, restarting after a 5-point swing) in whichever
//! direction last improved it. Recency-heavy traces get a large window,
//! frequency-heavy ones a small one.
//!
//! Parameters: `window` (initial window share, 0.01), `protected` (share of
//! main kept protected, 0.80), `adaptive` (true).
//!
//! ```
//! use goldylox_policy_sdk::{Build, EvictionPolicy, kind};
//! use goldylox_policy_wtinylfu::WTinyLfu;
//!
//! let mut policy = WTinyLfu::build(2, &[]).unwrap();
//! // Three keys of weight 1 into room for two: one must go.
//! policy.apply(&[kind::INSERT; 3], &[11, 22, 33], &[1; 3]);
//! let victims = policy.evict(8, 0);
//! assert_eq!(victims.len(), 1);
//! assert!(!policy.contains(victims[0]));
//! ```

mod sketch;

use goldylox_policy_sdk::{Build, Handler, Lists, NodeId, Params, Pending, param};
use sketch::Sketch;

const WINDOW: usize = 0;
const PROBATION: usize = 1;
const PROTECTED: usize = 2;

const SAMPLE_MULTIPLIER: u64 = 10;
const STEP_PERCENT: f64 = 0.0625;
const STEP_DECAY: f64 = 0.98;
const RESTART_THRESHOLD: f64 = 0.05;

/// The hill climber's state.
#[derive(Debug)]
struct Climber {
    sample: u64,
    hits: u64,
    requests: u64,
    previous_hit_rate: f64,
    step: f64,
}

/// W-TinyLFU over weights.
#[derive(Debug)]
pub struct WTinyLfu {
    lists: Lists<3>,
    sketch: Sketch,
    capacity: u64,
    window_max: u64,
    protected_share: f64,
    climber: Option<Climber>,
    pending: Pending,
}

impl WTinyLfu {
    /// Whether `hash` is resident.
    pub fn contains(&self, hash: u64) -> bool {
        self.lists.find(hash).is_some()
    }

    /// The window's current share of the capacity, in weight units.
    pub fn window_capacity(&self) -> u64 {
        self.window_max
    }

    fn total(&self) -> u64 {
        self.lists.weight_of(WINDOW)
            + self.lists.weight_of(PROBATION)
            + self.lists.weight_of(PROTECTED)
    }

    fn protected_max(&self) -> u64 {
        ((self.capacity - self.window_max) as f64 * self.protected_share) as u64
    }

    fn access(&mut self, id: NodeId, hash: u64) {
        self.sketch.increment(hash);
        self.record(true);
        match self.lists.list_of(id) {
            WINDOW => self.lists.move_to_front(id, WINDOW),
            PROBATION => {
                self.lists.move_to_front(id, PROTECTED);
                self.demote_protected();
            }
            _ => self.lists.move_to_front(id, PROTECTED),
        }
    }

    fn demote_protected(&mut self) {
        while self.lists.weight_of(PROTECTED) > self.protected_max() {
            let Some(tail) = self.lists.tail(PROTECTED) else {
                break;
            };
            self.lists.move_to_front(tail, PROBATION);
        }
    }

    fn miss(&mut self, hash: u64, weight: u32) {
        self.sketch.increment(hash);
        self.record(false);
        if u64::from(weight) > self.capacity {
            self.pending.push(hash, weight);
            return;
        }
        self.lists.push_front(WINDOW, hash, weight);
        self.settle();
    }

    /// Moves window overflow into main through the admission filter, then
    /// trims main to the capacity.
    fn settle(&mut self) {
        while self.lists.weight_of(WINDOW) > self.window_max {
            let Some(candidate) = self.lists.tail(WINDOW) else {
                break;
            };
            if self.total() <= self.capacity {
                self.lists.move_to_front(candidate, PROBATION);
                continue;
            }
            let victim = self
                .lists
                .tail(PROBATION)
                .or_else(|| self.lists.tail(PROTECTED));
            match victim {
                Some(victim)
                    if self.sketch.frequency(self.lists.hash(candidate))
                        > self.sketch.frequency(self.lists.hash(victim)) =>
                {
                    let (h, vw) = self.lists.remove(victim);
                    self.pending.push(h, vw);
                    self.lists.move_to_front(candidate, PROBATION);
                }
                _ => {
                    let (h, cw) = self.lists.remove(candidate);
                    self.pending.push(h, cw);
                }
            }
        }
        while self.total() > self.capacity {
            let Some((h, w)) = self.evict_one() else {
                break;
            };
            self.pending.push(h, w);
        }
        self.demote_protected();
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        let victim = self
            .lists
            .tail(PROBATION)
            .or_else(|| self.lists.tail(WINDOW))
            .or_else(|| self.lists.tail(PROTECTED))?;
        Some(self.lists.remove(victim))
    }

    fn record(&mut self, hit: bool) {
        let Some(c) = self.climber.as_mut() else {
            return;
        };
        c.requests += 1;
        c.hits += u64::from(hit);
        if c.requests < c.sample {
            return;
        }
        let rate = c.hits as f64 / c.requests as f64;
        let delta = rate - c.previous_hit_rate;
        let amount = if delta >= 0.0 { c.step } else { -c.step };
        c.step = if delta.abs() >= RESTART_THRESHOLD {
            STEP_PERCENT * self.capacity as f64 * amount.signum()
        } else {
            STEP_DECAY * amount
        };
        c.previous_hit_rate = rate;
        c.hits = 0;
        c.requests = 0;
        let target = (self.window_max as f64 + amount).round();
        self.window_max = target.clamp(1.0, (self.capacity.max(2) - 1) as f64) as u64;
        self.demote_protected();
    }
}

impl Build for WTinyLfu {
    fn build(capacity: u64, params: &Params) -> Result<Self, String> {
        let window: f64 = param(params, "window", 0.01)?;
        let protected: f64 = param(params, "protected", 0.80)?;
        let adaptive: bool = param(params, "adaptive", true)?;
        if !(0.0..1.0).contains(&window) || !(0.0..=1.0).contains(&protected) {
            return Err(format!(
                "window must be in [0, 1) and protected in [0, 1]; got {window}, {protected}"
            ));
        }
        Ok(WTinyLfu {
            lists: Lists::default(),
            sketch: Sketch::new(capacity),
            capacity,
            window_max: ((capacity as f64 * window) as u64).max(1),
            protected_share: protected,
            climber: adaptive.then(|| Climber {
                sample: SAMPLE_MULTIPLIER * capacity.max(1),
                hits: 0,
                requests: 0,
                previous_hit_rate: 0.0,
                step: STEP_PERCENT * capacity as f64,
            }),
            pending: Pending::default(),
        })
    }
}

impl Handler for WTinyLfu {
    fn hit(&mut self, hash: u64) {
        if let Some(id) = self.lists.find(hash) {
            self.access(id, hash);
        }
    }

    fn write(&mut self, hash: u64, weight: u32) {
        match self.lists.find(hash) {
            Some(id) => {
                self.access(id, hash);
                self.lists.set_weight(id, weight);
                self.settle();
            }
            None => self.miss(hash, weight),
        }
    }

    fn remove(&mut self, hash: u64) {
        if let Some(id) = self.lists.find(hash) {
            self.lists.remove(id);
        }
    }

    fn evict_one(&mut self) -> Option<(u64, u32)> {
        WTinyLfu::evict_one(self)
    }

    fn pending(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

goldylox_policy_sdk::eviction_policy_of_handler!(WTinyLfu, "wtinylfu");

goldylox_policy_sdk::export_eviction_policy!(WTinyLfu);
