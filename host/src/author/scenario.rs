//! `goldylox policy test`'s scenario files and the tier that checks a
//! policy's every answer.
//!
//! A scenario file is TOML: parameters, a budget, and scenarios of steps —
//! events in, victims (or properties of them) out:
//!
//! ```toml
//! params = { max_freq = "1" }          # for every scenario (optional)
//!
//! [budget]                             # measured over the built-in suite
//! ns_per_event = 5000
//! memory = "16MiB"
//!
//! [[scenario]]
//! name = "a hit buys a second chance"
//! capacity = 3                          # bytes; an insert weighs 1 unless given
//!
//! [[scenario.step]]
//! events = ["insert a", "insert b", "insert c", "hit a", "insert d"]
//! evict = ["b"]                         # exactly these victims, in order
//! kept = ["a"]                          # never among the victims
//! ```
//!
//! Events are `insert KEY [WEIGHT]`, `hit KEY`, `update KEY WEIGHT` and
//! `remove KEY`, applied as one batch, as the engine sends them: a hit,
//! update or remove names a resident key, an insert a new one. After a
//! step the policy is asked for victims if the tier is over capacity (the
//! engine asks only then), and every answer is checked as the engine
//! checks it: each victim resident and named once, and the tier back
//! within capacity unless the policy has nothing left.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use goldylox::{EventBatch, EventKind, EvictionPolicy};
use serde::Deserialize;

/// A scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Parameters for every scenario's policy (`--param` adds to them).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// What the policy may cost.
    #[serde(default)]
    pub budget: Budget,
    /// The scenarios.
    #[serde(default, rename = "scenario")]
    pub scenarios: Vec<Scenario>,
}

/// A budget, checked against the built-in suite's measurements.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Nanoseconds per event (apply and evict calls over events applied).
    pub ns_per_event: Option<f64>,
    /// Linear memory at the end of the suite, with units (`16MiB`).
    pub memory: Option<String>,
}

/// One scenario: a tier of `capacity` and its steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What it shows.
    pub name: String,
    /// The tier's capacity (the weight unit is the event's; 1 per insert
    /// unless given).
    pub capacity: u64,
    /// Parameters of this scenario's policy (over the file's).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The steps, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// One step: a batch of events, then what the eviction must be.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The batch.
    pub events: Vec<String>,
    /// Exactly these victims, in this order (`[]`: none).
    pub evict: Option<Vec<String>>,
    /// Keys that must not be victims.
    #[serde(default)]
    pub kept: Vec<String>,
}

impl TestFile {
    /// Parses a scenario file's text (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<TestFile> {
        toml::from_str(text).with_context(|| format!("reading {origin}"))
    }
}

/// A key's hash in the memory tiers' form (never 0, top bit clear), from
/// its name: FNV-1a, so that a scenario's keys are the same on every run.
pub fn key_hash(name: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h & !(1 << 63)).max(1)
}

/// A policy under test: an eviction policy that may say how much memory it
/// holds (a component's linear memory).
pub trait Subject: EvictionPolicy {
    /// Bytes of memory it holds, if known (0 otherwise).
    fn memory_bytes(&self) -> usize {
        0
    }
}

impl Subject for goldylox_sandbox::WasmPolicy {
    fn memory_bytes(&self) -> usize {
        goldylox_sandbox::WasmPolicy::memory_bytes(self)
    }
}

/// A native policy as a [`Subject`].
pub struct Native(pub Box<dyn EvictionPolicy>);

impl EvictionPolicy for Native {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn apply(&mut self, batch: &EventBatch) -> Result<(), goldylox::PolicyError> {
        self.0.apply(batch)
    }
    fn evict(
        &mut self,
        max: u32,
        need: u64,
        out: &mut Vec<u64>,
    ) -> Result<(), goldylox::PolicyError> {
        self.0.evict(max, need, out)
    }
}

impl Subject for Native {}

/// Builds the policy under test for a capacity and parameters.
pub type Build<'a> = &'a dyn Fn(u64, &[(String, String)]) -> Result<Box<dyn Subject>>;

/// A tier the host would run: the resident set, and the checks the engine
/// applies to each answer of the policy.
pub struct Tier {
    policy: Box<dyn Subject>,
    capacity: u64,
    resident: HashMap<u64, u32>,
    used: u64,
    batch: EventBatch,
    /// Names of the keys a scenario used, for messages.
    names: HashMap<u64, String>,
    /// Events applied.
    pub events: u64,
    /// Time in the policy's calls.
    pub busy: Duration,
}

impl Tier {
    /// A tier of `capacity` driven by `policy`.
    pub fn new(policy: Box<dyn Subject>, capacity: u64) -> Tier {
        Tier {
            policy,
            capacity,
            resident: HashMap::new(),
            used: 0,
            batch: EventBatch::with_capacity(1024),
            names: HashMap::new(),
            events: 0,
            busy: Duration::ZERO,
        }
    }

    /// The policy under test's memory.
    pub fn memory_bytes(&self) -> usize {
        self.policy.memory_bytes()
    }

    /// The resident keys, in no order.
    pub fn resident(&self) -> Vec<u64> {
        self.resident.keys().copied().collect()
    }

    /// Whether `hash` is resident.
    pub fn holds(&self, hash: u64) -> bool {
        self.resident.contains_key(&hash)
    }

    fn name(&self, hash: u64) -> String {
        self.names
            .get(&hash)
            .cloned()
            .unwrap_or_else(|| format!("{hash:#x}"))
    }

    /// Applies `events` as one batch, keeping the resident set; an event
    /// the host would never send (a hit of a key not resident, an insert of
    /// one that is) is refused.
    pub fn apply(&mut self, events: &[(EventKind, u64, u32)]) -> Result<()> {
        self.batch.clear();
        for &(kind, hash, weight) in events {
            let resident = self.resident.contains_key(&hash);
            match kind {
                EventKind::Insert if resident => {
                    bail!("insert of {}, already resident", self.name(hash))
                }
                EventKind::Insert | EventKind::Update => {
                    if let Some(old) = self.resident.insert(hash, weight) {
                        self.used -= u64::from(old);
                    } else if kind == EventKind::Update {
                        bail!("update of {}, which is not resident", self.name(hash));
                    }
                    self.used += u64::from(weight);
                }
                EventKind::Hit if !resident => {
                    bail!("hit of {}, which is not resident", self.name(hash))
                }
                EventKind::Hit => {}
                EventKind::Remove => {
                    let old = (self.resident.remove(&hash)).with_context(|| {
                        format!("remove of {}, which is not resident", self.name(hash))
                    })?;
                    self.used -= u64::from(old);
                }
                other => bail!("{other:?} is not an event a scenario can send"),
            }
            self.batch
                .push(kind, hash, if kind == EventKind::Hit { 0 } else { weight });
        }
        self.events += events.len() as u64;
        let began = Instant::now();
        let applied = self.policy.apply(&self.batch);
        self.busy += began.elapsed();
        applied.map_err(|e| anyhow::anyhow!("apply failed: {e}"))
    }

    /// Asks for victims if the tier is over capacity, checks them as the
    /// engine does, removes them, and returns their names.
    pub fn evict(&mut self) -> Result<Vec<String>> {
        if self.used <= self.capacity {
            return Ok(Vec::new());
        }
        let need = self.used - self.capacity;
        let mut victims = Vec::new();
        let began = Instant::now();
        let asked = self.policy.evict(u32::MAX, need, &mut victims);
        self.busy += began.elapsed();
        asked.map_err(|e| anyhow::anyhow!("evict failed: {e}"))?;
        let mut names = Vec::with_capacity(victims.len());
        for v in victims {
            let name = self.name(v);
            let weight = self.resident.remove(&v).with_context(|| {
                format!("proposed {name}, which is not resident (never inserted, removed, or named twice)")
            })?;
            self.used -= u64::from(weight);
            names.push(name);
        }
        if self.used > self.capacity && !self.resident.is_empty() {
            bail!(
                "the tier stays over capacity ({} > {}) after evict: the policy fell short \
                 (the engine would have SIEVE choose the rest)",
                self.used,
                self.capacity
            );
        }
        Ok(names)
    }

    /// Parses one scenario event, remembering its key's name.
    fn event(&mut self, text: &str) -> Result<(EventKind, u64, u32)> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let weight = |w: Option<&&str>, default: Option<u32>| -> Result<u32> {
            match w {
                Some(w) => w
                    .parse()
                    .with_context(|| format!("{text:?}: weight {w:?} is not a number")),
                None => default.with_context(|| format!("{text:?}: needs a weight")),
            }
        };
        let (kind, key, w) = match words.as_slice() {
            ["insert", key, rest @ ..] if rest.len() <= 1 => {
                (EventKind::Insert, *key, weight(rest.first(), Some(1))?)
            }
            ["update", key, w] => (EventKind::Update, *key, weight(Some(w), None)?),
            ["hit", key] => (EventKind::Hit, *key, 0),
            ["remove", key] => (EventKind::Remove, *key, 0),
            _ => bail!(
                "{text:?}: an event is `insert KEY [WEIGHT]`, `hit KEY`, `update KEY WEIGHT` or `remove KEY`"
            ),
        };
        let hash = key_hash(key);
        self.names.insert(hash, key.to_owned());
        Ok((kind, hash, w))
    }
}

/// Runs `scenario` through a tier of the policy `build` makes for its
/// capacity and parameters; the first failure, with its step.
pub fn run(scenario: &Scenario, params: &BTreeMap<String, String>, build: Build<'_>) -> Result<()> {
    let mut all = params.clone();
    all.extend(scenario.params.clone());
    let params: Vec<(String, String)> = all.into_iter().collect();
    let mut tier = Tier::new(build(scenario.capacity, &params)?, scenario.capacity);
    for (i, step) in scenario.steps.iter().enumerate() {
        let at = || format!("step {}", i + 1);
        let events = (step.events.iter())
            .map(|e| tier.event(e))
            .collect::<Result<Vec<_>>>()
            .with_context(at)?;
        tier.apply(&events).with_context(at)?;
        let victims = tier.evict().with_context(at)?;
        if let Some(expected) = &step.evict
            && &victims != expected
        {
            bail!(
                "{}: expected victims {expected:?}, the policy chose {victims:?}",
                at()
            );
        }
        if let Some(k) = step.kept.iter().find(|k| victims.contains(k)) {
            bail!(
                "{}: {k} must be kept, the policy evicted it (victims {victims:?})",
                at()
            );
        }
    }
    Ok(())
}
