//! `CLIENT TRACKING`, `CLIENT CACHING`, `CLIENT GETREDIR` and `CLIENT
//! TRACKINGINFO`: a connection's side of client-side caching (the table is
//! [`crate::server::keyspace::tracking`]). A connection's [`TrackingState`]
//! says whether the keys its next command reads are to be remembered:
//! always in the default mode, after `CLIENT CACHING YES` in `OPTIN` mode,
//! unless `CLIENT CACHING NO` in `OPTOUT` mode, never in `BCAST` mode
//! (which follows prefixes instead).

use std::sync::Arc;

use bytes::BytesMut;

use super::{Server, lower, parse_i64};
use crate::server::clients::Connection;
use crate::server::keyspace::tracking::Tracker;
use crate::server::keyspace::{Keyspace, Reader};
use crate::server::resp::reply;

/// A connection's tracking options.
#[derive(Debug)]
pub struct TrackingState {
    on: bool,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    /// `REDIRECT`'s client id.
    redirect: Option<u64>,
    /// That client, to tell whether it has gone (`broken_redirect`).
    redirect_to: Option<Arc<Connection>>,
    prefixes: Vec<Vec<u8>>,
    /// `CLIENT CACHING YES|NO`, for the next command.
    caching: Option<bool>,
    /// Set by `CLIENT CACHING`, so the command itself does not reset it.
    armed: bool,
    keyspace: Arc<Keyspace>,
    connection: Arc<Connection>,
}

impl TrackingState {
    /// Tracking off, for `connection`, in `keyspace`'s table.
    pub fn new(keyspace: Arc<Keyspace>, connection: Arc<Connection>) -> Self {
        TrackingState {
            on: false,
            bcast: false,
            optin: false,
            optout: false,
            noloop: false,
            redirect: None,
            redirect_to: None,
            prefixes: Vec::new(),
            caching: None,
            armed: false,
            keyspace,
            connection,
        }
    }

    /// The client as the keyspace sees it for the command about to run.
    pub fn reader(&self, id: u64) -> Reader {
        let tracks = self.on
            && !self.bcast
            && if self.optin {
                self.caching == Some(true)
            } else if self.optout {
                self.caching != Some(false)
            } else {
                true
            };
        Reader { id, tracks }
    }

    /// A command ran: `CLIENT CACHING`'s choice lasts for one command.
    pub fn command_done(&mut self, _name: &str) {
        if self.armed {
            self.armed = false;
        } else {
            self.caching = None;
        }
    }

    /// Turns tracking off (`RESET`).
    pub fn reset(&mut self) {
        self.off();
    }

    fn off(&mut self) {
        if self.on {
            self.keyspace.tracking.disable(self.connection.id);
        }
        self.on = false;
        self.bcast = false;
        self.optin = false;
        self.optout = false;
        self.noloop = false;
        self.redirect = None;
        self.redirect_to = None;
        self.prefixes.clear();
        self.caching = None;
    }
}

impl Drop for TrackingState {
    fn drop(&mut self) {
        self.off();
    }
}

/// The options of `CLIENT TRACKING ON|OFF …`.
#[derive(Debug, Default)]
struct Options {
    redirect: Option<u64>,
    prefixes: Vec<Vec<u8>>,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
}

fn parse_options(args: &[Vec<u8>]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        match lower(&args[i]).as_str() {
            "redirect" if i + 1 < args.len() => {
                let id = parse_i64(&args[i + 1]).filter(|&id| id >= 0);
                o.redirect = Some(id.ok_or("ERR Invalid client ID")? as u64);
                i += 1;
            }
            "prefix" if i + 1 < args.len() => {
                o.prefixes.push(args[i + 1].clone());
                i += 1;
            }
            "bcast" => o.bcast = true,
            "optin" => o.optin = true,
            "optout" => o.optout = true,
            "noloop" => o.noloop = true,
            _ => return Err("ERR syntax error".to_owned()),
        }
        i += 1;
    }
    Ok(o)
}

impl Options {
    /// Whether the options go together, checked when tracking is turned
    /// on (turning it off takes any well-formed options, as in Redis).
    fn compatible(&self) -> Result<(), String> {
        if !self.bcast && !self.prefixes.is_empty() {
            return Err("ERR PREFIX option requires BCAST mode to be enabled".to_owned());
        }
        if self.bcast && (self.optin || self.optout) {
            return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".to_owned());
        }
        if self.optin && self.optout {
            return Err("ERR You can't use both OPTIN and OPTOUT".to_owned());
        }
        for (i, a) in self.prefixes.iter().enumerate() {
            for b in &self.prefixes[i + 1..] {
                if a.starts_with(b) || b.starts_with(a) {
                    return Err(format!(
                        "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]`.
pub(super) fn tracking(
    server: &dyn Server,
    state: &mut TrackingState,
    args: &[Vec<u8>],
    out: &mut BytesMut,
) {
    let on = match lower(&args[2]).as_str() {
        "on" => true,
        "off" => false,
        _ => return reply::error(out, "ERR syntax error"),
    };
    let o = match parse_options(&args[3..]) {
        Ok(o) => o,
        Err(message) => return reply::error(out, &message),
    };
    // The redirection's target must exist now, whether turning on or off.
    let target = match o.redirect.filter(|&id| id != state.connection.id) {
        None => None,
        Some(id) => match server.clients().into_iter().find(|c| c.id == id) {
            Some(target) => Some(target),
            None => {
                return reply::error(out, "ERR The client ID you want redirect to does not exist");
            }
        },
    };
    if !on {
        state.off();
        return reply::ok(out);
    }
    if let Err(message) = o.compatible() {
        return reply::error(out, &message);
    }
    // Redis refuses only a switch of BCAST, or between OPTIN and OPTOUT,
    // while tracking is on; other options are replaced.
    if state.on && state.bcast != o.bcast {
        return reply::error(
            out,
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it.",
        );
    }
    if state.on && ((o.optin && state.optout) || (o.optout && state.optin)) {
        return reply::error(
            out,
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        );
    }
    if o.bcast
        && let Err(message) = check_prefixes(&state.prefixes, &o.prefixes)
    {
        return reply::error(out, &message);
    }
    let mut prefixes = std::mem::take(&mut state.prefixes);
    for p in o.prefixes {
        if !prefixes.contains(&p) {
            prefixes.push(p);
        }
    }
    if o.bcast && prefixes.is_empty() {
        prefixes.push(Vec::new());
    }
    state.on = true;
    state.bcast = o.bcast;
    state.optin = o.optin;
    state.optout = o.optout;
    state.noloop = o.noloop;
    state.redirect = o.redirect.filter(|&id| id != state.connection.id);
    state.prefixes = prefixes;
    state.redirect_to = target.clone();
    state.keyspace.tracking.enable(Tracker {
        client: Arc::clone(&state.connection),
        target,
        noloop: o.noloop,
        prefixes: o.bcast.then(|| state.prefixes.clone()),
    });
    reply::ok(out);
}

/// Refuses `BCAST` prefixes that overlap (one starts the other), among
/// themselves or with those the client has, as Redis does: a key would
/// fall under two of them.
fn check_prefixes(existing: &[Vec<u8>], new: &[Vec<u8>]) -> Result<(), String> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(old, p)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(old)
            ));
        }
        if let Some(other) = new[i + 1..].iter().find(|other| overlap(other, p)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(other)
            ));
        }
    }
    Ok(())
}

/// `CLIENT CACHING YES|NO`.
pub(super) fn caching(state: &mut TrackingState, args: &[Vec<u8>], out: &mut BytesMut) {
    if !state.on || !(state.optin || state.optout) {
        return reply::error(
            out,
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        );
    }
    match lower(&args[2]).as_str() {
        "yes" if state.optin => state.caching = Some(true),
        "no" if state.optout => state.caching = Some(false),
        "yes" => {
            return reply::error(
                out,
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
        "no" => {
            return reply::error(
                out,
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
        _ => return reply::error(out, "ERR syntax error"),
    }
    state.armed = true;
    reply::ok(out);
}

/// `CLIENT GETREDIR`: -1 with tracking off, 0 without a redirection.
pub(super) fn getredir(state: &TrackingState, out: &mut BytesMut) {
    let id = match (state.on, state.redirect) {
        (false, _) => -1,
        (true, None) => 0,
        (true, Some(id)) => id as i64,
    };
    reply::int(out, id);
}

/// `CLIENT TRACKINGINFO`: flags, redirect and prefixes.
pub(super) fn trackinginfo(state: &TrackingState, out: &mut BytesMut) {
    let mut flags = Vec::new();
    if !state.on {
        flags.push("off");
    } else {
        flags.push("on");
        for (set, name) in [
            (state.bcast, "bcast"),
            (state.optin, "optin"),
            (state.optout, "optout"),
            (state.caching == Some(true), "caching-yes"),
            (state.caching == Some(false), "caching-no"),
            (state.noloop, "noloop"),
            (
                state.redirect_to.as_ref().is_some_and(|t| t.is_closed()),
                "broken_redirect",
            ),
        ] {
            if set {
                flags.push(name);
            }
        }
    }
    reply::map(out, 3);
    reply::bulk(out, b"flags");
    reply::set(out, flags.len());
    for f in flags {
        reply::bulk(out, f.as_bytes());
    }
    reply::bulk(out, b"redirect");
    getredir(state, out);
    reply::bulk(out, b"prefixes");
    let prefixes: Vec<&Vec<u8>> = if state.bcast {
        state.prefixes.iter().collect()
    } else {
        Vec::new()
    };
    reply::array(out, prefixes.len());
    for p in prefixes {
        reply::bulk(out, p);
    }
}
