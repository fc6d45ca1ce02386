//! `goldylox policy test [DIR|FILE]`: a policy tested like code — the
//! project's scenario files, the built-in adversarial suite and the
//! declared budget, each through the real component boundary, pass or fail
//! per check.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use goldylox_sandbox::{Runtime, WasmPolicy, World};

use super::adversary;
use super::scenario::{self, Native, Subject, TestFile};

/// The scenario file `policy new` writes and `policy test DIR` reads.
pub const TEST_FILE: &str = "policy-test.toml";

/// What `policy test` runs: a component (or built-in policy) and the
/// scenarios for it.
pub struct Target {
    /// A component file, `wasm:NAME` or `builtin:NAME`.
    pub component: String,
    /// The scenario file's contents (empty: the built-in suite alone).
    pub file: TestFile,
    /// Where the scenarios came from, for the report.
    pub origin: Option<PathBuf>,
}

impl Target {
    /// `path` (a project directory or a scenario file, default `.`) and the
    /// component to test (default: the project's `NAME.wasm`).
    pub fn find(path: Option<&Path>, component: Option<String>) -> Result<Target> {
        let path = path.unwrap_or(Path::new("."));
        let (dir, scenarios) = if path.is_dir() {
            (path.to_path_buf(), path.join(TEST_FILE))
        } else {
            let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            (dir, path.to_path_buf())
        };
        let component = match component {
            Some(c) => c,
            None => {
                let project = super::Project::open(&dir).context(
                    "give the component to test with --component, or run in a policy project",
                )?;
                let wasm = dir.join(format!("{}.wasm", project.name));
                if !wasm.exists() {
                    bail!(
                        "{} does not exist: run `goldylox policy build` first",
                        wasm.display()
                    );
                }
                wasm.to_string_lossy().into_owned()
            }
        };
        let (file, origin) = if scenarios.exists() {
            let text = std::fs::read_to_string(&scenarios)
                .with_context(|| format!("reading {}", scenarios.display()))?;
            (
                TestFile::parse(&text, &scenarios.display().to_string())?,
                Some(scenarios),
            )
        } else if path.is_dir() {
            (TestFile::default(), None)
        } else {
            bail!("{} does not exist", scenarios.display());
        };
        Ok(Target {
            component,
            file,
            origin,
        })
    }
}

/// Every check `policy test` ran: its name, and why it failed if it did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// In the order they ran.
    pub checks: Vec<(String, Option<String>)>,
}

impl Outcome {
    /// How many failed.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|(_, why)| why.is_some()).count()
    }

    /// Why the check whose name starts with `name` failed, if it did.
    pub fn failure(&self, name: &str) -> Option<&str> {
        self.checks
            .iter()
            .find(|(n, _)| n.starts_with(name))
            .and_then(|(_, why)| why.as_deref())
    }
}

/// Runs every check, printing one line each. An error is a target that
/// could not be run at all; failed checks are in the [`Outcome`].
pub fn run(target: &Target, extra: &[(String, String)]) -> Result<Outcome> {
    let mut params = target.file.params.clone();
    params.extend(extra.iter().cloned());
    let component = target.component.as_str();
    let loaded = match component.strip_prefix("builtin:") {
        Some(name) => {
            goldylox_sandbox::builtin_checked(name, &[])?;
            None
        }
        None => Some(Runtime::checking()?.load_spec(component)?),
    };
    let world = loaded.as_ref().map_or(World::Eviction, |l| l.world);
    let build = |capacity: u64, params: &[(String, String)]| -> Result<Box<dyn Subject>> {
        Ok(match (&loaded, component.strip_prefix("builtin:")) {
            (Some(l), _) => Box::new(WasmPolicy::new(l, capacity, params)?),
            (None, Some(name)) => Box::new(Native(
                goldylox_sandbox::builtin_checked(name, params)?.build(capacity)?,
            )),
            (None, None) => unreachable!("loaded unless built in"),
        })
    };
    let mut outcome = Outcome::default();
    let mut report = |what: String, result: Result<()>| {
        match &result {
            Ok(()) => println!("{what} ... ok"),
            Err(e) => println!("{what} ... FAILED: {e:#}"),
        }
        outcome
            .checks
            .push((what, result.err().map(|e| format!("{e:#}"))));
    };
    if world != World::Eviction {
        if !target.file.scenarios.is_empty() {
            bail!("scenario files describe evictions; {component} is a {world} policy");
        }
        let loaded = loaded.as_ref().expect("a component");
        let params: Vec<_> = params.into_iter().collect();
        let checked = goldylox_sandbox::check(loaded, &params).map(|r| {
            println!("{r}");
        });
        report(
            format!("built-in {world} suite (policy check)"),
            checked.map_err(Into::into),
        );
    } else {
        for s in &target.file.scenarios {
            report(
                format!("scenario {:?}", s.name),
                scenario::run(s, &params, &build),
            );
        }
        let params: Vec<_> = params.into_iter().collect();
        let (outcomes, measured) = adversary::run(&build, &params);
        for (name, outcome) in outcomes {
            report(format!("built-in {name}"), outcome);
        }
        budget(&target.file.budget, &measured, &mut report)?;
    }
    let failed = outcome.failed();
    println!("{} passed, {failed} failed", outcome.checks.len() - failed);
    Ok(outcome)
}

/// `goldylox policy test`: runs the checks; an error if any failed.
pub fn test_command(target: &Target, params: &[(String, String)]) -> Result<()> {
    let outcome = run(target, params)?;
    match outcome.failed() {
        0 => Ok(()),
        n => bail!("{n} of {} checks failed", outcome.checks.len()),
    }
}

/// The budget's checks against what the suite measured (none without a
/// budget; the figures are printed either way).
fn budget(
    budget: &scenario::Budget,
    measured: &adversary::Measured,
    report: &mut impl FnMut(String, Result<()>),
) -> Result<()> {
    let ns = measured.ns_per_event();
    let memory = measured.memory_bytes as u64;
    println!(
        "measured {} events: {ns:.1} ns/event, {} KiB of memory",
        measured.events,
        memory / 1024
    );
    if let Some(limit) = budget.ns_per_event {
        let ok = ns <= limit;
        report(
            format!("budget {ns:.1} ns/event ≤ {limit}"),
            if ok {
                Ok(())
            } else {
                Err(anyhow::anyhow!("over budget"))
            },
        );
    }
    if let Some(text) = &budget.memory {
        let limit = crate::server::units::parse_size(text)
            .map_err(|e| anyhow::anyhow!("budget.memory {text:?}: {e}"))?;
        report(
            format!("budget {} KiB of memory ≤ {text}", memory / 1024),
            if memory <= limit {
                Ok(())
            } else {
                Err(anyhow::anyhow!("over budget"))
            },
        );
    }
    Ok(())
}
