//! `goldylox policy test`'s built-in suite: the workloads the engine's own
//! policy zoo survives, run through a [`Tier`] that checks every answer as
//! the engine does — victims resident and named once, removed keys never
//! proposed, the tier back within capacity after each eviction — and
//! measured for the budget.

use std::time::Duration;

use anyhow::{Context, Result};
use goldylox::EventKind;

use super::scenario::{Build, Tier};

/// One workload of the suite: its name and its driver.
type Case = (&'static str, fn(&mut Tier, &mut Rng) -> Result<()>);

/// The suite, with each workload's tier capacity.
const CASES: [(Case, u64); 4] = [
    (
        (
            "churn: hits, inserts, updates, removes of weights 1-64",
            churn,
        ),
        4096,
    ),
    (("removes: victims after half the keys left", removes), 100),
    (
        ("scan: a hot set under a stream of one-hit keys", scan),
        1000,
    ),
    (("reweigh: entries growing past the capacity", reweigh), 500),
];

/// What the suite measured, over every case that ran.
#[derive(Debug, Clone, Default)]
pub(super) struct Measured {
    /// Events applied.
    pub(super) events: u64,
    /// Time in the policy's calls.
    pub(super) busy: Duration,
    /// The policy's memory at the end of the longest case.
    pub(super) memory_bytes: usize,
}

impl Measured {
    /// Nanoseconds per event.
    pub(super) fn ns_per_event(&self) -> f64 {
        self.busy.as_nanos() as f64 / self.events.max(1) as f64
    }
}

/// Runs every case with `params`; each case's outcome by name, and the
/// measurements.
pub(super) fn run(
    build: Build<'_>,
    params: &[(String, String)],
) -> (Vec<(&'static str, Result<()>)>, Measured) {
    let mut measured = Measured::default();
    let mut outcomes = Vec::new();
    for ((name, case), capacity) in CASES {
        let outcome = build(capacity, params).and_then(|policy| {
            let mut tier = Tier::new(policy, capacity);
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let result = case(&mut tier, &mut rng);
            measured.events += tier.events;
            measured.busy += tier.busy;
            measured.memory_bytes = measured.memory_bytes.max(tier.memory_bytes());
            result
        });
        outcomes.push((name, outcome));
    }
    (outcomes, measured)
}

/// xorshift64: the same workload on every run.
pub(super) struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The hash of the suite's key `i` (never 0, top bit clear).
fn key(i: u64) -> u64 {
    (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 1).max(1)
}

fn step(tier: &mut Tier, events: &[(EventKind, u64, u32)]) -> Result<()> {
    tier.apply(events)?;
    tier.evict()?;
    Ok(())
}

fn churn(tier: &mut Tier, rng: &mut Rng) -> Result<()> {
    for round in 0..300 {
        let mut events = Vec::with_capacity(64);
        let mut touched = std::collections::HashSet::new();
        while events.len() < 64 {
            let k = key(rng.below(600));
            if !touched.insert(k) {
                continue; // one event per key and batch keeps the host's rules simple to follow
            }
            let weight = 1 + rng.below(64) as u32;
            events.push(match (tier.holds(k), rng.below(100)) {
                (false, _) => (EventKind::Insert, k, weight),
                (true, 0..70) => (EventKind::Hit, k, 0),
                (true, 70..85) => (EventKind::Update, k, weight),
                (true, _) => (EventKind::Remove, k, 0),
            });
        }
        step(tier, &events).with_context(|| format!("round {round}"))?;
    }
    Ok(())
}

fn removes(tier: &mut Tier, _: &mut Rng) -> Result<()> {
    let inserts: Vec<_> = (0..100).map(|i| (EventKind::Insert, key(i), 1)).collect();
    step(tier, &inserts)?;
    let gone: Vec<_> = (0..100)
        .step_by(2)
        .map(|i| (EventKind::Remove, key(i), 0))
        .collect();
    step(tier, &gone)?;
    // Over capacity again: every victim must be one of the keys still here.
    let more: Vec<_> = (1000..1060)
        .map(|i| (EventKind::Insert, key(i), 1))
        .collect();
    step(tier, &more).context("inserts after the removes")
}

fn scan(tier: &mut Tier, _: &mut Rng) -> Result<()> {
    let hot: Vec<_> = (0..50).map(|i| (EventKind::Insert, key(i), 4)).collect();
    step(tier, &hot)?;
    for batch in 0..300u64 {
        let mut events: Vec<_> = (0..50)
            .map(key)
            .filter(|&k| tier.holds(k))
            .map(|k| (EventKind::Hit, k, 0))
            .collect();
        events.extend((0..32).map(|i| (EventKind::Insert, key(10_000 + batch * 32 + i), 4)));
        step(tier, &events).with_context(|| format!("batch {batch}"))?;
    }
    Ok(())
}

fn reweigh(tier: &mut Tier, _: &mut Rng) -> Result<()> {
    let fill: Vec<_> = (0..50).map(|i| (EventKind::Insert, key(i), 10)).collect();
    step(tier, &fill)?;
    for i in 0..50 {
        if tier.holds(key(i)) {
            step(tier, &[(EventKind::Update, key(i), 20)])
                .with_context(|| format!("update {i}"))?;
        }
    }
    let resident: Vec<_> = tier.resident();
    let mut hits: Vec<_> = resident.iter().map(|&k| (EventKind::Hit, k, 0)).collect();
    hits.push((EventKind::Insert, key(999), 500));
    step(tier, &hits).context("an entry as heavy as the whole tier")
}
