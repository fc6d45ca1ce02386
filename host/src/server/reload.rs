//! Live reconfiguration: from the config file (on change, on SIGHUP, or by
//! `GOLDYLOX RELOAD`) and by `CONFIG SET`.
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
use goldylox::PolicyTier;

use super::Shared;
use super::config::Config;

/// What a reload did, line by line.
pub(super) type Changes = Vec<String>;

/// Reloads from the configuration file the server was started with.
pub(super) fn reload_file(shared: &Shared) -> Result<Changes> {
    let Some(path) = &shared.config_path else {
        bail!(
            "the server runs on the embedded configuration; start it with --config FILE to reload"
        );
    };
    // The command line still wins over the file.
    let config = Config::load_with(Some(path), &shared.config().overrides)?;
    apply(shared, config)
}

/// Applies `new` to the running server; see the module docs.
pub(super) fn apply(shared: &Shared, mut new: Config) -> Result<Changes> {
    let _serialised = shared.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
    let old = shared.config();
    let mut changes = Vec::new();
    // Restart-only settings stay as they are.
    let keep = |changes: &mut Changes, name: &str, running: String, wanted: String| {
        if running != wanted {
            changes.push(format!(
                "{name}: needs a restart; still {running} (file says {wanted})"
            ));
        }
    };
    keep(
        &mut changes,
        "server.listen",
        old.server.listen.to_string(),
        new.server.listen.to_string(),
    );
    new.server.listen = old.server.listen;
    let tls_listen = |c: &Config| c.server.tls.as_ref().map(|t| t.listen.to_string());
    keep(
        &mut changes,
        "server.tls.listen",
        format!("{:?}", tls_listen(&old)),
        format!("{:?}", tls_listen(&new)),
    );
    match (&mut new.server.tls, &old.server.tls) {
        (Some(new_tls), Some(old_tls)) => new_tls.listen = old_tls.listen,
        (new_tls, None) => *new_tls = None,
        (new_tls @ None, Some(old_tls)) => *new_tls = Some(old_tls.clone()),
    }
    // The certificate files are read again (a rotated certificate applies
    // without a restart); files that do not load fail the whole reload.
    let tls = new
        .server
        .tls
        .as_ref()
        .map(super::tls::acceptor)
        .transpose()
        .context("server.tls")?;
    keep(
        &mut changes,
        "cache.memory_bytes",
        old.cache.memory_bytes.to_string(),
        new.cache.memory_bytes.to_string(),
    );
    new.cache.memory_bytes = old.cache.memory_bytes;
    keep(
        &mut changes,
        "cache.warm_bytes",
        old.cache.warm_bytes.to_string(),
        new.cache.warm_bytes.to_string(),
    );
    new.cache.warm_bytes = old.cache.warm_bytes;
    keep(
        &mut changes,
        "cache.prefetch",
        format!("{:?} {:?}", old.cache.prefetch, old.cache.prefetch_params),
        format!("{:?} {:?}", new.cache.prefetch, new.cache.prefetch_params),
    );
    new.cache.prefetch = old.cache.prefetch.clone();
    new.cache.prefetch_params = old.cache.prefetch_params.clone();
    keep(
        &mut changes,
        "cache.cold",
        format!("{:?}", old.cache.cold),
        format!("{:?}", new.cache.cold),
    );
    new.cache.cold = old.cache.cold.clone();

    // Load and type-check every changed policy before touching anything. A
    // policy changed if its spec, parameters, candidates, or the content of
    // a component file it names did.
    let digests_differ = |specs: &[&String]| {
        specs.iter().any(|spec| {
            new.cache.component_digests.get(*spec) != old.cache.component_digests.get(*spec)
        })
    };
    let hot_specs: Vec<&String> = std::iter::once(&new.cache.policy)
        .chain(&new.cache.auto_candidates)
        .collect();
    let hot = (new.cache.policy != old.cache.policy
        || new.cache.policy_params != old.cache.policy_params
        || new.cache.auto_candidates != old.cache.auto_candidates
        || digests_differ(&hot_specs))
    .then(|| {
        super::tier_policy(
            &new.cache.policy,
            &new.cache.params(),
            &new.cache.auto_candidates,
            &shared.runtime,
        )
    })
    .transpose()
    .with_context(|| format!("cache.policy = {:?}", new.cache.policy))?;
    let warm_specs: Vec<&String> = std::iter::once(&new.cache.warm_policy)
        .chain(&new.cache.warm_auto_candidates)
        .collect();
    let warm = (old.cache.warm_bytes > 0
        && (new.cache.warm_policy != old.cache.warm_policy
            || new.cache.warm_policy_params != old.cache.warm_policy_params
            || new.cache.warm_auto_candidates != old.cache.warm_auto_candidates
            || digests_differ(&warm_specs)))
    .then(|| {
        super::tier_policy(
            &new.cache.warm_policy,
            &new.cache.warm_params(),
            &new.cache.warm_auto_candidates,
            &shared.runtime,
        )
    })
    .transpose()
    .with_context(|| format!("cache.warm_policy = {:?}", new.cache.warm_policy))?;

    for (tier, choice, spec) in [
        (PolicyTier::Hot, hot, &new.cache.policy),
        (PolicyTier::Warm, warm, &new.cache.warm_policy),
    ] {
        let Some(choice) = choice else { continue };
        let report = shared
            .store
            .swap_policy(tier, choice)
            .with_context(|| format!("swapping the {tier} policy to {spec}"))?;
        changes.push(format!(
            "{tier} policy: {} -> {} ({spec}), {} entries replayed in {:.2} ms",
            report.previous,
            report.current,
            report.replayed,
            report.replay_time.as_secs_f64() * 1e3
        ));
    }
    if new.server != old.server {
        changes.push("server limits and password: updated for the next request".to_owned());
    }
    let new_map = new.cluster_map().cloned();
    let remap = new_map != old.cluster_map().cloned();
    if remap {
        changes.push(match &new_map {
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
    if changes.is_empty() {
        changes.push("no changes".to_owned());
    }
    if let Some(acceptor) = tls {
        *shared.tls.write().unwrap_or_else(|e| e.into_inner()) = Some(acceptor);
    }
    shared.set_config(new);
    if let (true, Some(map)) = (remap, new_map) {
        super::cluster::purge_in_background(shared.store.clone(), map);
    }
    for line in &changes {
        log::info!("reload: {line}");
    }
    Ok(changes)
}

/// `CONFIG SET name value` for the settings that can change live.
pub(super) fn config_set(shared: &Shared, name: &str, value: &str) -> Result<(), String> {
    let _serialised = shared.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = (*shared.config()).clone();
    let number = || {
        value
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("ERR CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"))
    };
    // Memory sizes take units, as in redis.conf (`1mb`, `1gb`).
    let size = || {
        super::units::parse_size(value)
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("ERR CONFIG SET failed (possibly related to argument '{name}') - argument must be a memory value"))
    };
    match name {
        "maxclients" => config.server.maxclients = number()?,
        "proto-max-bulk-len" => config.server.max_bulk_bytes = size()?,
        "client-query-buffer-limit" => config.server.max_query_buffer_bytes = size()?,
        "requirepass" => {
            config.server.password = (!value.is_empty()).then(|| value.to_owned());
        }
        "loglevel" => {
            let level = match value {
                "debug" => log::LevelFilter::Debug,
                "verbose" | "notice" => log::LevelFilter::Info,
                "warning" => log::LevelFilter::Warn,
                _ => {
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - argument(s) must be one of the following: debug, verbose, notice, warning"
                    ));
                }
            };
            log::set_max_level(level);
            config.log.level = level.to_string().to_ascii_lowercase();
        }
        "protected-mode" => {
            config.server.protected_mode = match value.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => {
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - argument must be 'yes' or 'no'"
                    ));
                }
            };
        }
        "maxmemory" | "port" | "bind" | "tls-port" | "cluster-enabled" => {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config; it needs a restart"
            ));
        }
        knob if super::ENCODING_KNOBS.contains(&knob) => {
            value.parse::<u64>().map_err(|_| format!("ERR CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"))?;
            let canonical = knob.replace("ziplist", "listpack");
            let mut knobs = shared
                .encoding_knobs
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            knobs.insert(canonical, value.to_owned());
            return Ok(());
        }
        _ => {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        }
    }
    shared.set_config(config);
    log::info!("CONFIG SET {name}");
    Ok(())
}

/// Watches the configuration file and reloads when it changes (polled once
/// a second: no platform watcher needed, and an editor's rename-over-write
/// is seen like any write).
pub(super) async fn watch_file(
    shared: Arc<Shared>,
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
        let shared = Arc::clone(&shared);
        let result = tokio::task::spawn_blocking(move || reload_file(&shared)).await;
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::error!(
                "reload of {} refused, running configuration kept: {e:#}",
                path.display()
            ),
            Err(e) => log::error!("reload task failed: {e}"),
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
