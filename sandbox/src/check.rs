//! `goldylox policy check`: load a component, type-check it, smoke-test it
//! against a scripted workload, and report what it exports and what it costs.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use goldylox::health::Action;
use goldylox::{EventBatch, EventKind, EvictionPolicy, PrefetchPolicy};

use crate::error::{Classify, Error, ErrorKind, Result};
use crate::{HealthEvent, Loaded, WasmFailover, WasmPolicy, WasmPrefetch, World};

/// Events per smoke-test batch (the engine's batch size).
const BATCH: usize = 1024;
/// Batches in the smoke test.
const BATCHES: usize = 200;
/// Capacity the smoke test builds an eviction policy with, in entries.
const CAPACITY: u64 = 10_000;

/// What a check found.
///
/// ```
/// use goldylox_sandbox::{embedded, Runtime};
/// let sandbox = Runtime::new()?;
/// let fifo = embedded("fifo").expect("built in");
/// let report = goldylox_sandbox::check(&sandbox.load("fifo", fifo.bytes)?, &[])?;
/// assert!(report.events > 0 && report.accepted > 0);
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The component's name.
    pub name: String,
    /// The world it exports.
    pub world: World,
    /// Its size in bytes.
    pub bytes: usize,
    /// Compile (or artifact-cache) time.
    pub compile_time: Duration,
    /// Time to instantiate and `init`.
    pub init_time: Duration,
    /// The world's exported functions, as WIT.
    pub exports: Vec<&'static str>,
    /// Events (or requests) passed in the smoke test.
    pub events: u64,
    /// Cost per event of the batch call (`apply` / `observe`).
    pub ns_per_event: f64,
    /// Cost of one decision call (`evict` / `propose` / `decide`).
    pub ns_per_decision: f64,
    /// Answers the host would reject: victims not resident (unknown, evicted
    /// already, or duplicated), proposals of keys never seen.
    pub rejected: u64,
    /// Answers accepted.
    pub accepted: u64,
    /// A failover policy's decisions: keep, bypass, probe, restore (the
    /// host takes every one, so it counts what they were instead).
    pub actions: [u64; 4],
    /// Decisions other than keep during the smoke test's outage.
    pub outage_responses: u64,
    /// Linear memory at the end of the smoke test (eviction policies).
    pub memory_bytes: usize,
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "component  {} ({} bytes)", self.name, self.bytes)?;
        writeln!(
            f,
            "world      goldylox:policy/{}@0.1.0 — type-checks",
            self.world
        )?;
        for export in &self.exports {
            writeln!(f, "  export   {export}")?;
        }
        writeln!(
            f,
            "compile    {:.1} ms",
            self.compile_time.as_secs_f64() * 1e3
        )?;
        writeln!(f, "init       {:.1} µs", self.init_time.as_secs_f64() * 1e6)?;
        writeln!(
            f,
            "smoke      {} events: {:.1} ns/event in batches of {BATCH}, {:.0} ns per decision",
            self.events, self.ns_per_event, self.ns_per_decision
        )?;
        if self.world == World::Failover {
            let [keep, bypass, probe, restore] = self.actions;
            writeln!(
                f,
                "answers    {keep} keep, {bypass} bypass, {probe} probe, {restore} restore; \
                 {} not keep during the outage",
                self.outage_responses
            )?;
        } else {
            writeln!(
                f,
                "answers    {} accepted, {} the host would reject",
                self.accepted, self.rejected
            )?;
        }
        if self.memory_bytes > 0 {
            writeln!(
                f,
                "memory     {} KiB of linear memory",
                self.memory_bytes / 1024
            )?;
        }
        Ok(())
    }
}

/// Checks `loaded` with `params`: instantiates it, drives it through a
/// scripted workload and measures it. Fails if any call traps or times out.
///
/// ```
/// let sandbox = goldylox_sandbox::Runtime::new()?;
/// let clock = goldylox_sandbox::embedded("clock").expect("built in");
/// let report = goldylox_sandbox::check(&sandbox.load("clock", clock.bytes)?, &[])?;
/// assert_eq!(report.rejected, 0, "every victim it proposed was resident");
/// println!("{report}"); // exports, compile time, ns per event, memory
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
pub fn check(loaded: &Loaded, params: &[(String, String)]) -> Result<CheckReport> {
    let mut report = CheckReport {
        name: loaded.name.clone(),
        world: loaded.world,
        bytes: loaded.bytes,
        compile_time: loaded.compile_time,
        init_time: Duration::ZERO,
        exports: exports(loaded.world),
        events: 0,
        ns_per_event: 0.0,
        ns_per_decision: 0.0,
        rejected: 0,
        accepted: 0,
        actions: [0; 4],
        outage_responses: 0,
        memory_bytes: 0,
    };
    match loaded.world {
        World::Eviction => check_eviction(loaded, params, &mut report)?,
        World::Prefetch => check_prefetch(loaded, params, &mut report)?,
        World::Failover => check_failover(loaded, params, &mut report)?,
    }
    Ok(report)
}

fn exports(world: World) -> Vec<&'static str> {
    match world {
        World::Eviction => vec![
            "init: func(capacity: u64, params: list<tuple<string, string>>) -> result<_, string>",
            "apply: func(kinds: list<u8>, hashes: list<u64>, weights: list<u32>)",
            "evict: func(max: u32, need: u64) -> list<u64>",
            "admit: func(candidate: u64, victim: u64) -> bool",
        ],
        World::Prefetch => vec![
            "init: func(capacity: u64, params: list<tuple<string, string>>) -> result<_, string>",
            "observe: func(hashes: list<u64>, hits: list<u8>)",
            "propose: func(max: u32) -> list<u64>",
        ],
        World::Failover => vec![
            "init: func(params: list<tuple<string, string>>) -> result<_, string>",
            "observe: func(tiers: list<u8>, kinds: list<u8>, at-ms: list<u64>)",
            "decide: func(tier: u8, now-ms: u64) -> decision",
        ],
    }
}

/// A small deterministic generator (SplitMix64) for the scripted workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A skewed key in `1..=n`: small keys are much more frequent.
    fn key(&mut self, n: u64) -> u64 {
        let a = self.next() % n;
        let b = self.next() % n;
        a.min(b).min(self.next() % n) + 1
    }
}

fn check_eviction(
    loaded: &Loaded,
    params: &[(String, String)],
    report: &mut CheckReport,
) -> Result<()> {
    let started = Instant::now();
    let mut policy =
        WasmPolicy::new(loaded, CAPACITY, params).map_err(|e| e.within("instantiating"))?;
    report.init_time = started.elapsed();
    let mut rng = Rng(0x601d_1e0c);
    let mut resident: HashSet<u64> = HashSet::new();
    let mut batch = EventBatch::with_capacity(BATCH);
    let (mut apply_time, mut evict_time, mut decisions) = (Duration::ZERO, Duration::ZERO, 0u32);
    let mut victims = Vec::new();
    for _ in 0..BATCHES {
        batch.clear();
        for _ in 0..BATCH {
            let hash = rng.key(4 * CAPACITY).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            // A removed hash is no longer resident: the batch is applied
            // before `evict`, so a policy that proposes it is wrong, as the
            // host would judge it.
            if resident.contains(&hash) {
                let kind = match rng.next() % 40 {
                    0 => EventKind::Remove,
                    1 | 2 => EventKind::Update,
                    _ => EventKind::Hit,
                };
                if kind == EventKind::Remove {
                    resident.remove(&hash);
                }
                batch.push(kind, hash, 1);
            } else {
                resident.insert(hash);
                batch.push(EventKind::Insert, hash, 1);
            }
        }
        let t = Instant::now();
        policy.apply(&batch).in_call("apply")?;
        apply_time += t.elapsed();
        report.events += batch.len() as u64;
        let over = (resident.len() as u64).saturating_sub(CAPACITY);
        let t = Instant::now();
        victims.clear();
        policy.evict(256, over, &mut victims).in_call("evict")?;
        evict_time += t.elapsed();
        decisions += 1;
        let mut seen = HashSet::new();
        for &v in &victims {
            if seen.insert(v) && resident.remove(&v) {
                report.accepted += 1;
            } else {
                report.rejected += 1;
            }
        }
        let candidate = rng.key(4 * CAPACITY);
        let victim = victims.first().copied().unwrap_or(0);
        policy.admit(candidate, victim).in_call("admit")?;
    }
    report.ns_per_event = apply_time.as_nanos() as f64 / report.events.max(1) as f64;
    report.ns_per_decision = evict_time.as_nanos() as f64 / f64::from(decisions.max(1));
    report.memory_bytes = policy.memory_bytes();
    if report.accepted == 0 {
        return Err(Error::msg(
            ErrorKind::Check,
            format_args!(
                "the policy never proposed a valid victim while {} entries were over a capacity of {CAPACITY}",
                resident.len() as u64 - CAPACITY.min(resident.len() as u64)
            ),
        ));
    }
    Ok(())
}

fn check_prefetch(
    loaded: &Loaded,
    params: &[(String, String)],
    report: &mut CheckReport,
) -> Result<()> {
    let started = Instant::now();
    let mut policy =
        WasmPrefetch::new(loaded, CAPACITY, params).map_err(|e| e.within("instantiating"))?;
    report.init_time = started.elapsed();
    // A looping sequence: a predictor should learn its successors.
    let sequence: Vec<u64> = (1..=500u64)
        .map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    let (mut observe_time, mut propose_time) = (Duration::ZERO, Duration::ZERO);
    let mut decisions = 0u32;
    for round in 0..BATCHES {
        let hashes: Vec<u64> = (0..BATCH)
            .map(|i| sequence[(round * BATCH + i) % sequence.len()])
            .collect();
        let hits: Vec<u8> = hashes.iter().map(|h| u8::from(h % 3 != 0)).collect();
        let t = Instant::now();
        policy.observe(&hashes, &hits).in_call("observe")?;
        observe_time += t.elapsed();
        report.events += hashes.len() as u64;
        let t = Instant::now();
        let mut proposals = Vec::new();
        policy.propose(16, &mut proposals).in_call("propose")?;
        propose_time += t.elapsed();
        decisions += 1;
        let known: HashSet<u64> = sequence.iter().copied().collect();
        for p in proposals {
            if known.contains(&p) {
                report.accepted += 1;
            } else {
                report.rejected += 1;
            }
        }
    }
    report.ns_per_event = observe_time.as_nanos() as f64 / report.events.max(1) as f64;
    report.ns_per_decision = propose_time.as_nanos() as f64 / f64::from(decisions.max(1));
    Ok(())
}

fn check_failover(
    loaded: &Loaded,
    params: &[(String, String)],
    report: &mut CheckReport,
) -> Result<()> {
    let started = Instant::now();
    let mut policy = WasmFailover::new(loaded, params).map_err(|e| e.within("instantiating"))?;
    report.init_time = started.elapsed();
    let (mut observe_time, mut decide_time) = (Duration::ZERO, Duration::ZERO);
    let mut decisions = 0u32;
    let mut rng = Rng(7);
    for round in 0..BATCHES as u64 {
        // An outage of the cold tier in the middle third of the run.
        let outage = (BATCHES as u64 / 3..2 * BATCHES as u64 / 3).contains(&round);
        let events: Vec<HealthEvent> = (0..64)
            .map(|i| HealthEvent {
                tier: (rng.next() % 3) as u8,
                kind: u8::from(outage && rng.next().is_multiple_of(2)),
                at_ms: round * 100 + i,
            })
            .collect();
        let t = Instant::now();
        policy.observe(&events).map_err(|e| e.within("observe"))?;
        observe_time += t.elapsed();
        report.events += events.len() as u64;
        for tier in 0..3 {
            let t = Instant::now();
            let decision = policy
                .decide(tier, round * 100 + 64)
                .map_err(|e| e.within("decide"))?;
            decide_time += t.elapsed();
            decisions += 1;
            let action = match decision.action {
                Action::Keep => 0,
                Action::Bypass => 1,
                Action::Probe => 2,
                Action::Restore => 3,
            };
            report.actions[action] += 1;
            if outage && decision.action != Action::Keep {
                report.outage_responses += 1;
            }
        }
    }
    if report.outage_responses == 0 {
        return Err(Error::msg(
            ErrorKind::Check,
            format_args!(
                "the policy kept every tier through an outage in which half the events were errors \
             (it never bypassed or probed one)"
            ),
        ));
    }
    report.ns_per_event = observe_time.as_nanos() as f64 / report.events.max(1) as f64;
    report.ns_per_decision = decide_time.as_nanos() as f64 / f64::from(decisions.max(1));
    Ok(())
}
