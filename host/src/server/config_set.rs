//! `CONFIG SET`: Redis's names for the settings that can change live,
//! applied to a copy of the running configuration and swapped in whole, so
//! several parameters set at once apply together or not at all.

use super::ServerState;
use super::config::Config;

/// `CONFIG SET name value [name value …]` for the settings that can change
/// live: every pair applies, or, if one is refused (or named twice), none
/// does and the error names it.
pub(super) fn config_set(shared: &ServerState, pairs: &[(String, String)]) -> Result<(), String> {
    let _serialised = shared.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = (*shared.config()).clone();
    let mut knobs = Vec::new();
    // Every name once, checked before any is applied, as in Redis.
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            ));
        }
    }
    for (name, value) in pairs {
        match set_one(&mut config, name, value) {
            Ok(Some(knob)) => knobs.push((knob, value.clone())),
            Ok(None) => {}
            // A parameter set to the value it has changes nothing, whether
            // or not it can change live: `CONFIG SET` of what `CONFIG GET *`
            // reports always succeeds, as in Redis.
            Err(_) if current(shared, name).as_deref() == Some(value.as_str()) => {}
            Err(e) => return Err(e),
        }
    }
    shared
        .encoding_knobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(knobs);
    shared.set_config(config);
    for (name, _) in pairs {
        log::info!("CONFIG SET {name}");
    }
    Ok(())
}

/// What `CONFIG GET name` reports of `name`, if it is one parameter.
fn current(shared: &ServerState, name: &str) -> Option<String> {
    use super::commands::Server;
    shared
        .config_get(name)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// Applies one `CONFIG SET` pair to `config`; an encoding threshold (which
/// changes nothing but is remembered) is returned by its canonical name.
fn set_one(config: &mut Config, name: &str, value: &str) -> Result<Option<String>, String> {
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
        "client-output-buffer-limit" => set_output_limits(&mut config.server, value)?,
        "notify-keyspace-events" => {
            if super::keyspace::events::parse(value).is_none() {
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
                ));
            }
            config.server.notify_keyspace_events = value.to_owned();
        }
        "tracking-table-max-keys" => config.server.tracking_table_max_keys = number()?,
        "slowlog-log-slower-than" => config.server.slowlog_slower_than_us = integer(name, value)?,
        "slowlog-max-len" => config.server.slowlog_max_len = integer(name, value)?,
        "acllog-max-len" => config.server.acllog_max_len = integer(name, value)?,
        "latency-monitor-threshold" => {
            config.server.latency_monitor_threshold_ms = integer(name, value)?;
        }
        "busy-reply-threshold" | "lua-time-limit" => {
            config.server.busy_reply_threshold_ms = number()? as u64;
        }
        "proto-max-bulk-len" => config.server.max_bulk_bytes = size()?,
        "client-query-buffer-limit" => config.server.max_query_buffer_bytes = size()?,
        "requirepass" => {
            config.server.password = (!value.is_empty()).then(|| value.to_owned());
        }
        "loglevel" => config.log.level = log_level(name, value)?,
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
        // Goldylox takes no RDB snapshots (the cold tier keeps every key):
        // "no snapshots" is what it does already.
        "save" if value.trim().is_empty() => {}
        "save" => {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - goldylox takes no RDB snapshots (its cold tier persists every key); only save \"\" is accepted"
            ));
        }
        "maxmemory" | "port" | "bind" | "tls-port" | "cluster-enabled" => {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config; it needs a restart"
            ));
        }
        knob if super::encodings::KNOBS.contains(&knob) => {
            value.parse::<i64>().map_err(|_| format!("ERR CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"))?;
            return Ok(Some(knob.replace("ziplist", "listpack")));
        }
        _ => {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        }
    }
    Ok(None)
}

/// `value` as an integer of `T`, or `CONFIG SET`'s error for `name`.
fn integer<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| {
        format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"
        )
    })
}

/// `CONFIG SET loglevel`: Redis's levels, applied at once; the level's
/// name as the configuration keeps it.
fn log_level(name: &str, value: &str) -> Result<String, String> {
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
    Ok(level.to_string().to_ascii_lowercase())
}

/// `CONFIG SET client-output-buffer-limit "pubsub <hard> <soft> <seconds>"`:
/// goldylox limits subscribers' waiting messages this way; the `normal`
/// and `replica` classes are Redis's and have no meaning here.
fn set_output_limits(server: &mut super::config::ServerConfig, value: &str) -> Result<(), String> {
    let failed = |why: &str| {
        format!(
            "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - {why}"
        )
    };
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err(failed(
            "Wrong number of arguments in buffer limit configuration.",
        ));
    }
    let size = |w: &str| {
        super::units::parse_size(w)
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                failed("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
            })
    };
    for class in words.chunks(4) {
        match class[0].to_ascii_lowercase().as_str() {
            "pubsub" => {
                server.pubsub_hard_bytes = size(class[1])?;
                server.pubsub_soft_bytes = size(class[2])?;
                server.pubsub_soft_seconds = size(class[3])? as u64;
            }
            "normal" | "slave" | "replica" => {
                return Err(failed(&format!(
                    "goldylox limits the '{}' class with output_buffer_bytes and output_stall_ms, not this setting",
                    class[0]
                )));
            }
            other => {
                return Err(failed(&format!(
                    "Invalid client class specified in buffer limit configuration: {other}"
                )));
            }
        }
    }
    Ok(())
}
