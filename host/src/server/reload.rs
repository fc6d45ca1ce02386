//! Live reconfiguration from the config file (on change, on SIGHUP, or by
//! `GOLDYLOX RELOAD`); `CONFIG SET` is in `config_set.rs`.
//!
//! A reload is all or nothing up to the point of applying it: the file is
//! parsed and checked, and every policy that changed is loaded and
//! type-checked, before anything changes; any failure leaves the running
//! configuration as it was and says exactly why (file:line for TOML errors).
//! Then the changed policies are swapped in (the engine replays the resident
//! set into each) and the limits take effect for the next request of every
//! connection. Settings that need a restart — the listen address, the tier
//! sizes, the prefetch policy — are kept as they are and reported.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use goldylox::{PolicyChoice, PolicyTier};

use super::ServerState;
use super::config::Config;

/// What a reload did, line by line.
pub(super) type Changes = Vec<String>;

/// Reloads from the configuration file the server was started with. The
/// error says whether the running configuration was kept (the usual case)
/// or partly replaced (a policy swap failed after another succeeded).
pub(super) fn reload_file(shared: &ServerState) -> Result<Changes> {
    let Some(path) = &shared.config_path else {
        bail!(
            "reload refused: the server runs on the embedded configuration; start it with \
             --config FILE to reload"
        );
    };
    // The command line still wins over the file.
    Config::load_with(Some(path), &shared.config().overrides)
        .and_then(|config| apply(shared, config))
        .map_err(|e| {
            if e.is::<PartlyApplied>() {
                e
            } else {
                e.context("reload refused, running configuration kept")
            }
        })
}

/// A reload that swapped one tier's policy and then failed to swap the
/// other's: the configuration names what runs, and nothing else changed.
#[derive(Debug)]
struct PartlyApplied {
    applied: String,
    failed: anyhow::Error,
}

impl std::fmt::Display for PartlyApplied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reload partly applied: {}; then {:#}; the running configuration names the policies \
             that run, and nothing else changed",
            self.applied, self.failed
        )
    }
}

impl std::error::Error for PartlyApplied {}

/// Applies `new` to the running server; see the module docs.
pub(super) fn apply(shared: &ServerState, mut new: Config) -> Result<Changes> {
    let _serialised = shared.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
    let old = shared.config();
    let mut changes = Vec::new();
    keep_restart_only(&old, &mut new, &mut changes);
    // The certificate files are read again (a rotated certificate applies
    // without a restart); files that do not load fail the whole reload.
    let tls = new
        .server
        .tls
        .as_ref()
        .map(super::tls::acceptor)
        .transpose()
        .context("server.tls")?;
    // A users file that does not load refuses the reload.
    if let Some(path) = &new.server.aclfile {
        super::acl::read_file(path)
            .map_err(|e| anyhow::anyhow!("{}", e.trim_start_matches("ERR ")))
            .context("server.aclfile")?;
    }
    // Load and type-check every changed policy before touching anything.
    let hot = changed_policy(shared, &old, &new, PolicyTier::Hot)?;
    let warm = changed_policy(shared, &old, &new, PolicyTier::Warm)?;
    swap_policies(shared, &old, &new, [hot, warm], &mut changes)?;
    let remap = live_changes(&old, &new, &mut changes);
    capture_changes(shared, &old, &new, &mut changes);
    let users_file = new.server.aclfile.clone();
    if let Some(path) = &users_file {
        changes.push(format!(
            "server.aclfile: users loaded from {}",
            path.display()
        ));
    }
    if changes.is_empty() {
        changes.push("no changes".to_owned());
    }
    if let Some(acceptor) = tls {
        *shared.tls.write().unwrap_or_else(|e| e.into_inner()) = Some(acceptor);
    }
    let new_map = new.cluster_map().cloned();
    shared.set_config(new);
    if users_file.is_some()
        && let Err(e) = shared.acl.load()
    {
        // Checked above; only a change to the file since then gets here.
        log::warn!("reload: server.aclfile: {e}");
        changes.push(format!("server.aclfile: {e}"));
    }
    if users_file.is_some() {
        // No connection of the reload's own is spared: id 0 is nobody's.
        super::commands::users_changed(shared, 0);
    }
    if let (true, Some(map)) = (remap, new_map) {
        super::cluster::purge_in_background(shared.store.clone(), map);
    }
    for line in &changes {
        log::info!("reload: {line}");
    }
    Ok(changes)
}

/// A `[capture]` section the file adds or changes starts its capture when
/// none runs; a running capture is never stopped by a reload (`GOLDYLOX
/// TRACE STOP` finishes it).
fn capture_changes(shared: &ServerState, old: &Config, new: &Config, changes: &mut Changes) {
    if old.capture == new.capture {
        return;
    }
    let running = shared.store.capture_status();
    match (&new.capture, running) {
        (Some(section), None) => match shared.store.start_capture(section.engine()) {
            Ok(()) => changes.push(format!("capture: started into {}", section.file.display())),
            Err(e) => changes.push(format!("capture: not started: {e}")),
        },
        (_, Some(status)) => changes.push(format!(
            "capture: one runs into {}; GOLDYLOX TRACE STOP finishes it before another starts",
            status.path.display()
        )),
        (None, None) => {}
    }
}

/// Keeps the settings that need a restart as they run, saying so for each
/// one the file changes.
fn keep_restart_only(old: &Config, new: &mut Config, changes: &mut Changes) {
    let mut keep = |name: &str, running: String, wanted: String| {
        if running != wanted {
            changes.push(format!(
                "{name}: needs a restart; still {running} (file says {wanted})"
            ));
        }
    };
    keep(
        "server.listen",
        old.server.listen.to_string(),
        new.server.listen.to_string(),
    );
    new.server.listen = old.server.listen;
    let tls_listen = |c: &Config| c.server.tls.as_ref().map(|t| t.listen.to_string());
    keep(
        "server.tls.listen",
        format!("{:?}", tls_listen(old)),
        format!("{:?}", tls_listen(new)),
    );
    match (&mut new.server.tls, &old.server.tls) {
        (Some(new_tls), Some(old_tls)) => new_tls.listen = old_tls.listen,
        (new_tls, None) => *new_tls = None,
        (new_tls @ None, Some(old_tls)) => *new_tls = Some(old_tls.clone()),
    }
    keep(
        "cache.memory_bytes",
        old.cache.memory_bytes.to_string(),
        new.cache.memory_bytes.to_string(),
    );
    new.cache.memory_bytes = old.cache.memory_bytes;
    keep(
        "cache.warm_bytes",
        old.cache.warm_bytes.to_string(),
        new.cache.warm_bytes.to_string(),
    );
    new.cache.warm_bytes = old.cache.warm_bytes;
    keep(
        "cache.prefetch",
        format!("{:?} {:?}", old.cache.prefetch, old.cache.prefetch_params),
        format!("{:?} {:?}", new.cache.prefetch, new.cache.prefetch_params),
    );
    new.cache.prefetch = old.cache.prefetch.clone();
    new.cache.prefetch_params = old.cache.prefetch_params.clone();
    keep(
        "cache.cold",
        format!("{:?}", old.cache.cold),
        format!("{:?}", new.cache.cold),
    );
    new.cache.cold = old.cache.cold.clone();
}

/// One tier's policy as a configuration names it (a server has two tiers
/// with eviction policies, hot and warm).
#[derive(PartialEq)]
struct TierSpec<'a> {
    spec: &'a String,
    params: &'a std::collections::BTreeMap<String, String>,
    candidates: &'a Vec<String>,
}

fn tier_spec(c: &Config, tier: PolicyTier) -> TierSpec<'_> {
    match tier {
        PolicyTier::Hot => TierSpec {
            spec: &c.cache.policy,
            params: &c.cache.policy_params,
            candidates: &c.cache.auto_candidates,
        },
        _ => TierSpec {
            spec: &c.cache.warm_policy,
            params: &c.cache.warm_policy_params,
            candidates: &c.cache.warm_auto_candidates,
        },
    }
}

/// The digests of the component files a tier's policy names.
fn tier_digests(c: &Config, tier: PolicyTier) -> Vec<(String, Option<u64>)> {
    let named = tier_spec(c, tier);
    std::iter::once(named.spec)
        .chain(named.candidates)
        .map(|spec| (spec.clone(), c.cache.component_digests.get(spec).cloned()))
        .collect()
}

/// The tier's new policy, loaded and checked, if its spec, parameters,
/// candidates, or the content of a component file it names changed.
fn changed_policy(
    shared: &ServerState,
    old: &Config,
    new: &Config,
    tier: PolicyTier,
) -> Result<Option<(PolicyTier, PolicyChoice)>> {
    if tier == PolicyTier::Warm && old.cache.warm_bytes == 0 {
        return Ok(None);
    }
    let wanted = tier_spec(new, tier);
    let digests_differ = tier_digests(new, tier)
        .into_iter()
        .any(|(spec, digest)| digest != old.cache.component_digests.get(&spec).copied());
    if wanted == tier_spec(old, tier) && !digests_differ {
        return Ok(None);
    }
    let params = match tier {
        PolicyTier::Hot => new.cache.params(),
        _ => new.cache.warm_params(),
    };
    let key = match tier {
        PolicyTier::Hot => "cache.policy",
        _ => "cache.warm_policy",
    };
    shared
        .runtime
        .tier_policy(wanted.spec, &params, wanted.candidates)
        .with_context(|| format!("{key} = {:?}", wanted.spec))
        .map(|choice| Some((tier, choice)))
}

/// Swaps the changed policies in. If a swap fails after another succeeded,
/// the running configuration is updated to name the policy that now runs
/// (and nothing else), and the error says so.
fn swap_policies(
    shared: &ServerState,
    old: &Config,
    new: &Config,
    swaps: [Option<(PolicyTier, PolicyChoice)>; 2],
    changes: &mut Changes,
) -> Result<()> {
    let mut done: Vec<PolicyTier> = Vec::new();
    for (tier, choice) in swaps.into_iter().flatten() {
        let spec = tier_spec(new, tier).spec;
        let report = match shared.store.swap_policy(tier, choice) {
            Ok(report) => report,
            Err(e) => {
                let failed =
                    anyhow::Error::new(e).context(format!("swapping the {tier} policy to {spec}"));
                if done.is_empty() {
                    return Err(failed);
                }
                let mut running = old.clone();
                for tier in &done {
                    adopt_policy(&mut running, new, *tier);
                }
                shared.set_config(running);
                return Err(PartlyApplied {
                    applied: changes.join("; "),
                    failed,
                }
                .into());
            }
        };
        changes.push(format!(
            "{tier} policy: {} -> {} ({spec}), {} entries replayed in {:.2} ms",
            report.previous,
            report.current,
            report.replayed,
            report.replay_time.as_secs_f64() * 1e3
        ));
        done.push(tier);
    }
    Ok(())
}

/// Makes `running` name `from`'s policy for `tier`, with the digests of the
/// component files it names.
fn adopt_policy(running: &mut Config, from: &Config, tier: PolicyTier) {
    let (spec, params, candidates) = match tier {
        PolicyTier::Hot => (
            &mut running.cache.policy,
            &mut running.cache.policy_params,
            &mut running.cache.auto_candidates,
        ),
        _ => (
            &mut running.cache.warm_policy,
            &mut running.cache.warm_policy_params,
            &mut running.cache.warm_auto_candidates,
        ),
    };
    let wanted = tier_spec(from, tier);
    spec.clone_from(wanted.spec);
    params.clone_from(wanted.params);
    candidates.clone_from(wanted.candidates);
    for (name, digest) in tier_digests(from, tier) {
        match digest {
            Some(d) => running.cache.component_digests.insert(name, d),
            None => running.cache.component_digests.remove(&name),
        };
    }
}

/// Reports the settings that apply from the next request (limits,
/// password, cluster map, log level) and sets the log level; returns
/// whether the cluster map changed.
fn live_changes(old: &Config, new: &Config, changes: &mut Changes) -> bool {
    if new.server != old.server {
        changes.push("server limits and password: updated for the next request".to_owned());
    }
    let new_map = new.cluster_map();
    let remap = new_map != old.cluster_map();
    if remap {
        changes.push(match new_map {
            Some(map) => format!(
                "cluster: a new slot map; this node ({}) owns {} slots, keys of the others are \
                 removed in the background",
                map.myself().name,
                map.myself().slot_count()
            ),
            None => "cluster: off".to_owned(),
        });
    }
    if new.log != old.log {
        match new.log.level.parse::<log::LevelFilter>() {
            Ok(level) => {
                log::set_max_level(level);
                changes.push(format!("log.level: {}", new.log.level));
            }
            Err(_) => changes.push(format!(
                "log.level: {:?} is a filter, not a level; needs a restart",
                new.log.level
            )),
        }
    }
    remap
}

/// Watches the configuration file and reloads when it changes (polled once
/// a second: no platform watcher needed, and an editor's rename-over-write
/// is seen like any write).
pub(super) async fn watch_file(
    shared: Arc<ServerState>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let Some(path) = shared.config_path.clone() else {
        return;
    };
    let mut seen = modified(&path);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        let now = modified(&path);
        if now == seen {
            continue;
        }
        // An editor may still be writing (a truncated file is valid TOML,
        // and an empty one is a valid configuration): wait until the file
        // stops changing.
        let Some(settled) = settle(&path, &mut stopped).await else {
            return;
        };
        seen = settled;
        let me = Arc::clone(&shared);
        let answer = match shared.loader.submit(move || reload_file(&me)) {
            Ok(answer) => answer.await,
            Err(busy) => {
                log::error!("reload of {} not run: {busy}", path.display());
                continue;
            }
        };
        match answer {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::error!("{}: {e:#}", path.display()),
            Err(_) => log::error!("the policy loader failed the reload of {}", path.display()),
        }
    }
}

/// How long a changed configuration file must stay unchanged before a
/// reload reads it.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

/// Waits until `path`'s modification time and length hold still for
/// [`SETTLE`]; returns the time (`None` if the server stops meanwhile).
async fn settle(
    path: &Path,
    stopped: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<Option<SystemTime>> {
    let state = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut last = state(path);
    loop {
        tokio::select! {
            () = tokio::time::sleep(SETTLE) => {}
            _ = stopped.changed() => return None,
        }
        let now = state(path);
        if now == last {
            return Some(modified(path));
        }
        last = now;
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
