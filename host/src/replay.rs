//! Trace replay: hit ratios of policies at several cache sizes, next to
//! Belady's OPT and the infinite-cache ceiling.
//!
//! Every object weighs 1, so sizes are in entries. A policy is driven exactly
//! as the engine's maintenance thread drives it — through
//! [`EvictionPolicy::apply`] and [`EvictionPolicy::evict`] — one request per
//! batch, so that the hit ratio is the policy's own, free of the lossy read
//! buffer's sampling. Residency is tracked here from inserts and victims, and
//! every victim is checked, as the engine does.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use goldylox::policy::auto::{Selector, Switch};
use goldylox::{AutoConfig, Candidate, EventBatch, EventKind, EvictionPolicy, PolicyChoice};

use crate::wasm::{Loaded, Runtime, WasmPolicy};

/// Which cache to simulate.
#[derive(Debug, Clone)]
pub enum Contender {
    /// A built-in policy (`builtin:lru`, `builtin:sieve`, `builtin:fifo`,
    /// `builtin:clock`, `builtin:s3fifo`, `builtin:arc`).
    Builtin(String),
    /// A policy component, run in the sandbox: `wasm:NAME` for one built into
    /// this binary, or a path to a `.wasm` / `.wat` file.
    Component {
        /// The column name.
        label: String,
        /// The compiled, type-checked component.
        loaded: Loaded,
        /// `key=value` parameters for its `init`.
        params: Vec<(String, String)>,
    },
    /// Belady's optimal offline policy.
    Opt,
    /// `auto`: the engine's selector racing candidates on shadow caches and
    /// switching the live policy, exactly as an `auto` tier does.
    Auto {
        /// The column name.
        label: String,
        /// The candidates.
        config: Arc<AutoConfig>,
    },
}

impl PartialEq for Contender {
    fn eq(&self, other: &Self) -> bool {
        self.label() == other.label()
    }
}

impl Contender {
    /// Parses `builtin:NAME`, a bare built-in name, `opt`, `wasm:NAME` (a
    /// component built into this binary) or the path of a component file
    /// (`.wasm`, `.wat`), which is loaded and type-checked now.
    pub fn parse(s: &str) -> Result<Contender> {
        if s == "auto" || s.starts_with("auto:") {
            return Contender::auto(s, &AutoTuning::default());
        }
        if s.starts_with("wasm:") || s.ends_with(".wasm") || s.ends_with(".wat") {
            let loaded = Runtime::offline()?.load_spec(s)?;
            let label = if s.starts_with("wasm:") {
                s.to_owned()
            } else {
                loaded.name.clone()
            };
            return Ok(Contender::Component {
                label,
                loaded,
                params: Vec::new(),
            });
        }
        let name = s.strip_prefix("builtin:").unwrap_or(s);
        if name.eq_ignore_ascii_case("opt") || name.eq_ignore_ascii_case("belady") {
            return Ok(Contender::Opt);
        }
        if crate::native::builtin(name, &[]).is_none() {
            let known: Vec<String> = crate::native::BUILTINS
                .iter()
                .map(|b| format!("builtin:{b}"))
                .collect();
            bail!(
                "unknown policy {s:?}: this build knows {}, opt, wasm:NAME and component files (.wasm)",
                known.join(", ")
            );
        }
        Ok(Contender::Builtin(name.to_ascii_lowercase()))
    }

    /// `auto` (every built-in policy) or `auto:A+B+…` (the named
    /// candidates, built-in or components), with the selector's knobs.
    pub fn auto(s: &str, tuning: &AutoTuning) -> Result<Contender> {
        let names: Vec<String> = match s.strip_prefix("auto:") {
            Some(list) => list.split('+').map(str::to_owned).collect(),
            None => crate::native::AUTO_DEFAULT
                .iter()
                .map(|n| (*n).to_owned())
                .collect(),
        };
        let candidates = names
            .iter()
            .map(|name| {
                let choice = match Contender::parse(name)? {
                    Contender::Builtin(b) => crate::native::builtin(&b, &[]).context("checked")?,
                    Contender::Component { loaded, params, .. } => {
                        PolicyChoice::Custom(crate::wasm::WasmFactory::new(loaded, params)?)
                    }
                    _ => bail!("{name:?} cannot be an auto candidate"),
                };
                Ok(Candidate::new(name.clone(), choice))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut config = AutoConfig::new(candidates).map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(m) = tuning.margin {
            config = config.margin(m);
        }
        if let Some(n) = tuning.streak {
            config = config.streak(n);
        }
        if let Some(w) = tuning.smoothing {
            config = config.smoothing(w);
        }
        Ok(Contender::Auto {
            label: s.to_owned(),
            config: Arc::new(config),
        })
    }

    /// Gives a component contender `params` for its `init` (checked now:
    /// a policy that refuses them is an error); other contenders are
    /// returned unchanged. The label names the parameters.
    pub fn with_params(self, params: &[(String, String)]) -> Result<Contender> {
        match self {
            Contender::Component { label, loaded, .. } if !params.is_empty() => {
                WasmPolicy::new(&loaded, 1 << 20, params)
                    .with_context(|| format!("{label} refused its parameters"))?;
                Ok(Contender::Component {
                    label: format!("{label}({})", crate::native::describe_params(params)),
                    loaded,
                    params: params.to_vec(),
                })
            }
            other => Ok(other),
        }
    }

    /// The column name.
    pub fn label(&self) -> String {
        match self {
            Contender::Builtin(n) => n.clone(),
            Contender::Component { label, .. } | Contender::Auto { label, .. } => label.clone(),
            Contender::Opt => "OPT".to_owned(),
        }
    }
}

/// The `auto` selector's knobs, when not the defaults.
#[derive(Debug, Clone, Default)]
pub struct AutoTuning {
    /// Lead (hit-ratio fraction) a candidate needs to replace the live one.
    pub margin: Option<f64>,
    /// Epochs in a row it must lead.
    pub streak: Option<u32>,
    /// Weight of the newest epoch in a score.
    pub smoothing: Option<f64>,
}

/// Hits of `contender` on `trace` with room for `size` entries.
pub fn hits(contender: &Contender, trace: &[u64], size: u64) -> Result<u64> {
    match contender {
        Contender::Opt => Ok(opt_hits(trace, size)),
        Contender::Builtin(name) => {
            let choice = crate::native::builtin(name, &[]).expect("checked by parse");
            let mut policy = choice.build(size)?;
            policy_hits(policy.as_mut(), trace)
        }
        Contender::Component { loaded, params, .. } => {
            let mut policy = WasmPolicy::new(loaded, size, params)?;
            policy_hits(&mut policy, trace)
        }
        Contender::Auto { config, .. } => Ok(auto_run(config, trace, size)?.hits),
    }
}

/// What an `auto` replay did.
#[derive(Debug, Clone)]
pub struct AutoRun {
    /// Hits of the live policy (whichever ran at the time).
    pub hits: u64,
    /// Every switch, positioned by request.
    pub switches: Vec<Switch>,
    /// The race at the end.
    pub status: goldylox::AutoStatus,
}

/// Replays `trace` through an `auto` tier of `size` entries: the live
/// policy decides, the selector watches the same events, and a switch
/// builds the chosen candidate and tells it of the resident set (in no
/// particular order, as the engine's swap does).
pub fn auto_run(config: &Arc<AutoConfig>, trace: &[u64], size: u64) -> Result<AutoRun> {
    let mut selector = Selector::new(Arc::clone(config), size, 1);
    let mut live = selector.current().choice.build(size)?;
    let mut sim = Simulation::default();
    let mut hits = 0;
    for &key in trace {
        hits += u64::from(sim.request(live.as_mut(), key)?);
        selector.observe(&sim.batch);
        if let Some(candidate) = selector.take_proposal() {
            match switch_to(&candidate, size, &sim.resident) {
                Ok(policy) => {
                    live = policy;
                    selector.switched(&candidate.name);
                }
                Err(e) => selector.rejected(&candidate.name, &e.to_string()),
            }
        }
    }
    Ok(AutoRun {
        hits,
        switches: selector.switch_log().to_vec(),
        status: selector.status(),
    })
}

/// Builds `candidate` and replays the resident set into it.
fn switch_to(
    candidate: &Candidate,
    size: u64,
    resident: &HashSet<u64>,
) -> Result<Box<dyn EvictionPolicy>, goldylox::PolicyError> {
    let mut policy = candidate.choice.build(size)?;
    let mut batch = EventBatch::with_capacity(1024);
    for &hash in resident {
        batch.push(EventKind::Insert, hash, 1);
        if batch.len() == 1024 {
            policy.apply(&batch)?;
            batch.clear();
        }
    }
    policy.apply(&batch)?;
    Ok(policy)
}

/// Drives `policy` over `trace` (unit weights) and counts hits.
pub fn policy_hits(policy: &mut dyn EvictionPolicy, trace: &[u64]) -> Result<u64> {
    let mut sim = Simulation::default();
    let mut hits = 0;
    for &key in trace {
        hits += u64::from(sim.request(policy, key)?);
    }
    Ok(hits)
}

/// A unit-weight cache driven by a policy, one request per batch; the
/// policy's victims are checked against the resident set.
#[derive(Default)]
struct Simulation {
    resident: HashSet<u64>,
    /// The last request's event.
    batch: EventBatch,
    victims: Vec<u64>,
}

impl Simulation {
    /// Requests `key`: a hit if resident, else an insert; then evicts what
    /// the policy names. Returns whether it was a hit.
    fn request(&mut self, policy: &mut dyn EvictionPolicy, key: u64) -> Result<bool> {
        let hash = mix(key);
        self.batch.clear();
        let hit = self.resident.contains(&hash);
        if hit {
            self.batch.push(EventKind::Hit, hash, 0);
        } else {
            self.resident.insert(hash);
            self.batch.push(EventKind::Insert, hash, 1);
        }
        policy.apply(&self.batch)?;
        self.victims.clear();
        policy.evict(u32::MAX, 0, &mut self.victims)?;
        for v in &self.victims {
            if !self.resident.remove(v) {
                bail!(
                    "policy {} evicted {v:#x}, which is not resident",
                    policy.name()
                );
            }
        }
        Ok(hit)
    }
}

/// Hits with an unbounded cache: every request after a key's first.
pub fn infinite_hits(trace: &[u64]) -> u64 {
    let distinct: HashSet<u64> = trace.iter().copied().collect();
    (trace.len() - distinct.len()) as u64
}

/// Belady's OPT with unit sizes: on a miss with a full cache, evict the
/// resident key whose next request is farthest away (never = infinity).
///
/// ```
/// use goldylox_host::replay::{Contender, hits, infinite_hits, opt_hits};
///
/// // A loop of three keys in a cache of two: LRU always misses, OPT keeps
/// // one key and hits every other round.
/// let trace = [1, 2, 3, 1, 2, 3, 1, 2, 3];
/// assert_eq!(hits(&Contender::parse("builtin:lru").unwrap(), &trace, 2).unwrap(), 0);
/// assert_eq!(opt_hits(&trace, 2), 3);
/// assert_eq!(infinite_hits(&trace), 6);
/// ```
pub fn opt_hits(trace: &[u64], size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    // next[i]: index of the next request for trace[i], or usize::MAX.
    let mut next = vec![usize::MAX; trace.len()];
    let mut last: HashMap<u64, usize> = HashMap::new();
    for (i, &k) in trace.iter().enumerate().rev() {
        if let Some(&j) = last.get(&k) {
            next[i] = j;
        }
        last.insert(k, i);
    }
    // Resident keys with their current next-use; stale heap entries are
    // skipped lazily.
    let mut next_use: HashMap<u64, usize> = HashMap::new();
    let mut heap: BinaryHeap<(usize, u64)> = BinaryHeap::new();
    let mut hits = 0;
    for (i, &k) in trace.iter().enumerate() {
        if next_use.contains_key(&k) {
            hits += 1;
        } else if next_use.len() as u64 >= size {
            while let Some((when, victim)) = heap.pop() {
                if next_use.get(&victim) == Some(&when) {
                    next_use.remove(&victim);
                    break;
                }
            }
        }
        next_use.insert(k, next[i]);
        heap.push((next[i], k));
    }
    hits
}

/// A bijective mix of a trace key into a policy hash (distinct keys stay
/// distinct; nearby keys land far apart in the policies' tables).
fn mix(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The embedded default workload, for a run with no trace: 400 000 requests
/// mixing a skewed hot set (a quarter of the requests over 2 000 keys, with
/// squared-uniform skew), a loop over 6 000 keys, and one-off scan keys —
/// the mix on which recency, scan resistance and OPT visibly differ.
pub fn synthetic() -> Vec<u64> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut scan = 1_000_000u64;
    (0..400_000u64)
        .map(|i| match next() % 4 {
            0 => {
                let u = (next() % 10_000) as f64 / 10_000.0;
                (u * u * 2_000.0) as u64
            }
            1 | 2 => 10_000 + i % 6_000,
            _ => {
                scan += 1;
                scan
            }
        })
        .collect()
}

/// One row of a replay report: a cache size and each contender's hit ratio.
#[derive(Debug, Clone)]
pub struct Row {
    /// Cache size in entries.
    pub size: u64,
    /// Hit ratio (0..=1) per contender, in the order given.
    pub ratios: Vec<f64>,
    /// Per contender, the switches an `auto` one made (empty for others).
    pub switches: Vec<Vec<Switch>>,
    /// Per contender, an `auto` one's candidates with their whole-run
    /// shadow hit ratios (empty for others).
    pub shadows: Vec<Vec<(String, f64)>>,
}

/// Replays `trace` through every contender at every size.
pub fn run(trace: &[u64], contenders: &[Contender], sizes: &[u64]) -> Result<Vec<Row>> {
    let n = trace.len().max(1) as f64;
    sizes
        .iter()
        .map(|&size| {
            let mut ratios = Vec::with_capacity(contenders.len());
            let mut switches = Vec::with_capacity(contenders.len());
            let mut shadows = Vec::with_capacity(contenders.len());
            for c in contenders {
                let (hits, switched, shadowed) = match c {
                    Contender::Auto { config, .. } => {
                        let run = auto_run(config, trace, size)?;
                        let shadowed = (run.status.candidates.iter())
                            .map(|c| (c.name.clone(), c.hits as f64 / c.requests.max(1) as f64))
                            .collect();
                        (run.hits, run.switches, shadowed)
                    }
                    other => (hits(other, trace, size)?, Vec::new(), Vec::new()),
                };
                ratios.push(hits as f64 / n);
                switches.push(switched);
                shadows.push(shadowed);
            }
            Ok(Row {
                size,
                ratios,
                switches,
                shadows,
            })
        })
        .collect()
}
