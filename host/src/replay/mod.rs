//! Trace replay: hit ratios of policies at several cache sizes, next to
//! Belady's OPT and the infinite-cache ceiling.
//!
//! Cache sizes are in entries (every object weighs 1) or, for traces with
//! object sizes, in bytes (objects weigh their sizes); then byte hit ratios
//! are reported too. A policy is driven exactly
//! as the engine's maintenance thread drives it — through
//! [`EvictionPolicy::apply`] and [`EvictionPolicy::evict`] — one request per
//! batch, so that the hit ratio is the policy's own, free of the lossy read
//! buffer's sampling. Residency is tracked here from inserts and victims, and
//! every victim is checked, as the engine does.

mod opt;
mod progress;
pub mod report;
mod sim;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use goldylox::policy::auto::Switch;
use goldylox::{AutoConfig, Candidate, EvictionPolicy, PolicyChoice};

pub use opt::{infinite, infinite_hits, opt, opt_hits};
pub use progress::{Bar, Progress};
pub use sim::{AutoRun, Outcome, Requests, auto_simulate, simulate};

use crate::trace::Trace;
use goldylox_sandbox::{Loaded, Runtime, WasmPolicy};

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
        if goldylox_sandbox::builtin(name, &[]).is_none() {
            let known: Vec<String> = goldylox_sandbox::BUILTINS
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
            None => goldylox_sandbox::AUTO_DEFAULT
                .iter()
                .map(|n| (*n).to_owned())
                .collect(),
        };
        let candidates = names
            .iter()
            .map(|name| {
                let choice = match Contender::parse(name)? {
                    Contender::Builtin(b) => {
                        goldylox_sandbox::builtin(&b, &[]).context("checked")?
                    }
                    Contender::Component { loaded, params, .. } => {
                        PolicyChoice::Custom(goldylox_sandbox::WasmFactory::new(loaded, params)?)
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
                    label: format!("{label}({})", goldylox_sandbox::describe_params(params)),
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

/// Hits of `contender` on `trace` with room for `size` entries (every
/// object weighs 1).
pub fn hits(contender: &Contender, trace: &[u64], size: u64) -> Result<u64> {
    Ok(measure(contender, Requests::unit(trace), size, &Progress::silent())?.hits)
}

/// Drives `policy` over `trace` (unit weights) and counts hits.
pub fn policy_hits(policy: &mut dyn EvictionPolicy, trace: &[u64]) -> Result<u64> {
    Ok(simulate(policy, Requests::unit(trace), &Progress::silent())?.hits)
}

/// Replays `trace` (unit weights) through an `auto` tier of `size` entries.
pub fn auto_run(config: &Arc<AutoConfig>, trace: &[u64], size: u64) -> Result<AutoRun> {
    auto_simulate(config, Requests::unit(trace), size, &Progress::silent())
}

/// The outcome of `contender` on `requests` with room for `capacity`
/// weight units.
pub fn measure(
    contender: &Contender,
    requests: Requests<'_>,
    capacity: u64,
    progress: &Progress,
) -> Result<Outcome> {
    match contender {
        Contender::Opt => {
            let outcome = opt(requests, capacity);
            progress.finish(requests.keys.len());
            Ok(outcome)
        }
        Contender::Builtin(name) => {
            let choice = goldylox_sandbox::builtin(name, &[]).expect("checked by parse");
            let mut policy = choice.build(capacity)?;
            simulate(policy.as_mut(), requests, progress)
        }
        Contender::Component { loaded, params, .. } => {
            let mut policy = WasmPolicy::new(loaded, capacity, params)?;
            simulate(&mut policy, requests, progress)
        }
        Contender::Auto { config, .. } => {
            Ok(auto_simulate(config, requests, capacity, progress)?.outcome)
        }
    }
}

/// A bijective mix of a trace key into a policy hash (distinct keys stay
/// distinct; nearby keys land far apart in the policies' tables).
pub(crate) fn mix(key: u64) -> u64 {
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

/// A cache size: in entries (every object weighs 1) or in bytes (objects
/// weigh their sizes; the trace must have them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// Entries.
    Entries(u64),
    /// Bytes.
    Bytes(u64),
}

impl Capacity {
    /// Parses `1000` (entries) or `64MiB`, `512KB`, `2G`, `4096B` (bytes;
    /// K/M/G and KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000).
    pub fn parse(s: &str) -> Result<Capacity> {
        let s = s.trim();
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(digits);
        let n: u64 = number
            .parse()
            .with_context(|| format!("cache size {s:?} is not a number with an optional unit"))?;
        let scale = match unit.trim().to_ascii_lowercase().as_str() {
            "" => return Ok(Capacity::Entries(n)),
            "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            other => {
                bail!("cache size {s:?}: unknown unit {other:?} (B, KiB, MiB, GiB, KB, MB, GB)")
            }
        };
        Ok(Capacity::Bytes(
            n.checked_mul(scale).context("cache size overflows")?,
        ))
    }

    /// The capacity in its unit.
    pub fn value(self) -> u64 {
        match self {
            Capacity::Entries(n) | Capacity::Bytes(n) => n,
        }
    }
}

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Capacity::Entries(n) => write!(f, "{n}"),
            Capacity::Bytes(n) if n % (1 << 30) == 0 => write!(f, "{}GiB", n >> 30),
            Capacity::Bytes(n) if n % (1 << 20) == 0 => write!(f, "{}MiB", n >> 20),
            Capacity::Bytes(n) if n % (1 << 10) == 0 => write!(f, "{}KiB", n >> 10),
            Capacity::Bytes(n) => write!(f, "{n}B"),
        }
    }
}

/// One row of a replay report: a cache size and each contender's hit
/// ratios.
#[derive(Debug, Clone)]
pub struct Row {
    /// The cache size.
    pub capacity: Capacity,
    /// Cache size in its unit (entries or bytes).
    pub size: u64,
    /// Request hit ratio (0..=1) per contender, in the order given.
    pub ratios: Vec<f64>,
    /// Byte hit ratio (0..=1) per contender, when the trace has sizes.
    pub byte_ratios: Option<Vec<f64>>,
    /// Per contender, the switches an `auto` one made (empty for others).
    pub switches: Vec<Vec<Switch>>,
    /// Per contender, an `auto` one's candidates with their whole-run
    /// shadow hit ratios (empty for others).
    pub shadows: Vec<Vec<(String, f64)>>,
}

/// Replays `trace` through every contender at every capacity, ticking
/// `progress` (one pass per contender and capacity).
pub fn run(
    trace: &Trace,
    contenders: &[Contender],
    capacities: &[Capacity],
    progress: &Progress,
) -> Result<Vec<Row>> {
    let n = trace.reads().max(1) as f64;
    let total_bytes = trace.total_bytes().max(1) as f64;
    capacities
        .iter()
        .map(|&capacity| {
            let weights = match capacity {
                Capacity::Entries(_) => None,
                Capacity::Bytes(_) => Some(trace.sizes.as_deref().context(
                    "byte capacities need object sizes, and this trace has none; give sizes in entries",
                )?),
            };
            let requests = Requests {
                keys: &trace.keys,
                weights,
                sizes: trace.sizes.as_deref(),
                ops: trace.ops.as_deref(),
            };
            let mut row = Row {
                capacity,
                size: capacity.value(),
                ratios: Vec::with_capacity(contenders.len()),
                byte_ratios: trace.sizes.is_some().then(Vec::new),
                switches: Vec::with_capacity(contenders.len()),
                shadows: Vec::with_capacity(contenders.len()),
            };
            for c in contenders {
                let (outcome, switched, shadowed) = match c {
                    Contender::Auto { config, .. } => {
                        let run = auto_simulate(config, requests, capacity.value(), progress)?;
                        let shadowed = (run.status.candidates.iter())
                            .map(|c| (c.name.clone(), c.hits as f64 / c.requests.max(1) as f64))
                            .collect();
                        (run.outcome, run.switches, shadowed)
                    }
                    other => (
                        measure(other, requests, capacity.value(), progress)?,
                        Vec::new(),
                        Vec::new(),
                    ),
                };
                row.ratios.push(outcome.hits as f64 / n);
                if let Some(b) = &mut row.byte_ratios {
                    b.push(outcome.hit_bytes as f64 / total_bytes);
                }
                row.switches.push(switched);
                row.shadows.push(shadowed);
            }
            Ok(row)
        })
        .collect()
}
