//! The simulated cache a policy drives during a replay, plain or `auto`.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use goldylox::policy::auto::{Selector, Switch};
use goldylox::{AutoConfig, Candidate, EventBatch, EventKind, EvictionPolicy};

use super::progress::Progress;
use crate::trace::TraceOp;

/// The requests of a replay: keys, the weight each insert has against the
/// capacity (all 1 when sizes are in entries), and the object sizes the
/// byte hit ratio counts (when the trace has them).
#[derive(Debug, Clone, Copy)]
pub struct Requests<'a> {
    /// The key of each request.
    pub keys: &'a [u64],
    /// The weight of each request's object; `None`: every object weighs 1.
    pub weights: Option<&'a [u32]>,
    /// The size of each request's object in bytes, if known.
    pub sizes: Option<&'a [u32]>,
    /// Each record's operation (a capture's); `None`: every one is a get.
    pub ops: Option<&'a [TraceOp]>,
}

impl<'a> Requests<'a> {
    /// Unit weights and no sizes.
    pub fn unit(keys: &'a [u64]) -> Requests<'a> {
        Requests {
            keys,
            weights: None,
            sizes: None,
            ops: None,
        }
    }

    /// What record `i` does.
    pub fn op(&self, i: usize) -> TraceOp {
        self.ops.map_or(TraceOp::Get, |ops| ops[i])
    }

    /// Whether a missed get brings its object in (cache-aside, implied by
    /// a trace of requests only). In a trace with operations the fill is
    /// its own set record, so a miss stores nothing — as in the cache the
    /// trace was captured from.
    pub fn fills_on_miss(&self) -> bool {
        self.ops.is_none()
    }

    fn weight(&self, i: usize) -> u32 {
        self.weights.map_or(1, |w| w[i])
    }

    /// Bytes of request `i` (1 without sizes).
    pub fn bytes(&self, i: usize) -> u64 {
        self.sizes.map_or(1, |s| u64::from(s[i]))
    }
}

/// Hits of one replay, by request and by byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Requests that hit.
    pub hits: u64,
    /// Bytes of the requests that hit (the hits, without sizes).
    pub hit_bytes: u64,
}

impl Outcome {
    /// Counts record `i`'s outcome: `Some(hit)` for a get, `None` for a
    /// write or delete.
    fn count(&mut self, hit: Option<bool>, requests: &Requests<'_>, i: usize) {
        if hit == Some(true) {
            self.hits += 1;
            self.hit_bytes += requests.bytes(i);
        }
    }
}

/// Drives `policy` over `requests` and counts hits.
pub fn simulate(
    policy: &mut dyn EvictionPolicy,
    requests: Requests<'_>,
    progress: &Progress,
) -> Result<Outcome> {
    let mut sim = Simulation::default();
    let mut outcome = Outcome::default();
    for (i, &key) in requests.keys.iter().enumerate() {
        let op = requests.op(i);
        let hit = sim.step(
            policy,
            op,
            key,
            requests.weight(i),
            requests.fills_on_miss(),
        )?;
        outcome.count(hit, &requests, i);
        progress.tick(i);
    }
    progress.finish(requests.keys.len());
    Ok(outcome)
}

/// What an `auto` replay did.
#[derive(Debug, Clone)]
pub struct AutoRun {
    /// Hits of the live policy (whichever ran at the time).
    pub outcome: Outcome,
    /// Every switch, positioned by request.
    pub switches: Vec<Switch>,
    /// The race at the end.
    pub status: goldylox::AutoStatus,
}

/// Replays `requests` through an `auto` tier of `capacity`: the live policy
/// decides, the selector watches the same events, and a switch builds the
/// chosen candidate and tells it of the resident set (in no particular
/// order, as the engine's swap does).
pub fn auto_simulate(
    config: &Arc<AutoConfig>,
    requests: Requests<'_>,
    capacity: u64,
    progress: &Progress,
) -> Result<AutoRun> {
    let mut selector = Selector::new(Arc::clone(config), capacity, 1);
    let mut live = selector.current().choice.build(capacity)?;
    let mut sim = Simulation::default();
    let mut outcome = Outcome::default();
    for (i, &key) in requests.keys.iter().enumerate() {
        let (op, fill) = (requests.op(i), requests.fills_on_miss());
        let hit = sim.step(live.as_mut(), op, key, requests.weight(i), fill)?;
        outcome.count(hit, &requests, i);
        progress.tick(i);
        selector.observe(&sim.batch);
        if let Some(candidate) = selector.take_proposal() {
            match switch_to(&candidate, capacity, &sim.resident) {
                Ok(policy) => {
                    live = policy;
                    selector.switched(&candidate.name);
                }
                Err(e) => selector.rejected(&candidate.name, &e.to_string()),
            }
        }
    }
    progress.finish(requests.keys.len());
    Ok(AutoRun {
        outcome,
        switches: selector.switch_log().to_vec(),
        status: selector.status(),
    })
}

/// Builds `candidate` and replays the resident set into it.
fn switch_to(
    candidate: &Candidate,
    capacity: u64,
    resident: &HashMap<u64, u32>,
) -> Result<Box<dyn EvictionPolicy>, goldylox::PolicyError> {
    let mut policy = candidate.choice.build(capacity)?;
    let mut batch = EventBatch::with_capacity(1024);
    for (&hash, &weight) in resident {
        batch.push(EventKind::Insert, hash, weight);
        if batch.len() == 1024 {
            policy.apply(&batch)?;
            batch.clear();
        }
    }
    policy.apply(&batch)?;
    Ok(policy)
}

/// A cache driven by a policy, one request per batch; the policy's victims
/// are checked against the resident set.
#[derive(Default)]
struct Simulation {
    /// Resident hashes and their weights.
    resident: HashMap<u64, u32>,
    /// The last request's event.
    batch: EventBatch,
    victims: Vec<u64>,
}

impl Simulation {
    /// One record: a get of `key` hits if it is resident, else (if `fill`)
    /// inserts it with `weight` (`Some(hit)`); a set stores it (an update
    /// if resident) and a delete removes it (`None`: neither hits nor
    /// misses). Then evicts what the policy names.
    fn step(
        &mut self,
        policy: &mut dyn EvictionPolicy,
        op: TraceOp,
        key: u64,
        weight: u32,
        fill: bool,
    ) -> Result<Option<bool>> {
        let hash = super::mix(key);
        self.batch.clear();
        let resident = self.resident.contains_key(&hash);
        let hit = match op {
            TraceOp::Get => Some(resident),
            TraceOp::Set | TraceOp::Delete => None,
        };
        match (op, resident) {
            (TraceOp::Get, true) => self.batch.push(EventKind::Hit, hash, 0),
            (TraceOp::Get, false) if !fill => return Ok(hit),
            (TraceOp::Get | TraceOp::Set, false) => {
                self.resident.insert(hash, weight);
                self.batch.push(EventKind::Insert, hash, weight);
            }
            (TraceOp::Set, true) => {
                self.resident.insert(hash, weight);
                self.batch.push(EventKind::Update, hash, weight);
            }
            (TraceOp::Delete, true) => {
                self.resident.remove(&hash);
                self.batch.push(EventKind::Remove, hash, 0);
            }
            (TraceOp::Delete, false) => return Ok(hit),
        }
        policy.apply(&self.batch)?;
        self.victims.clear();
        policy.evict(u32::MAX, 0, &mut self.victims)?;
        for v in &self.victims {
            if self.resident.remove(v).is_none() {
                bail!(
                    "policy {} evicted {v:#x}, which is not resident",
                    policy.name()
                );
            }
        }
        Ok(hit)
    }
}
