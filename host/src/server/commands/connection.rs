//! Connection and server commands: PING, AUTH, HELLO, SELECT, INFO,
//! CONFIG, CLIENT, COMMAND, FUNCTION and the `GOLDYLOX` admin commands.

use bytes::BytesMut;

use super::{Client, Ctx, Server, arity_error, lower, not_integer, parse_i64, syntax_error};
use crate::server::resp::reply;

pub(super) fn ping(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    // A subscribed RESP2 connection reads arrays only: `["pong", arg]`.
    if c.client.subs.active() && !c.client.resp3 && args.len() <= 2 {
        reply::array(c.out, 2);
        reply::bulk(c.out, b"pong");
        return reply::bulk(c.out, args.get(1).map_or(&[][..], Vec::as_slice));
    }
    match args.len() {
        1 => reply::simple(c.out, "PONG"),
        2 => reply::bulk(c.out, &args[1]),
        _ => arity_error(c.out, "ping"),
    }
}

pub(super) fn echo(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    reply::bulk(c.out, &args[1]);
}

/// `WAIT numreplicas timeout`: how many replicas acknowledged the writes
/// so far, which is 0 (goldylox has no replicas). Asked for none, it
/// answers at once, as a standalone Redis does; asked for some, it answers
/// after `timeout` milliseconds, as Redis does when they never come, except
/// that a timeout of 0 (Redis: forever) answers at once.
pub(super) fn wait(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(replicas) = parse_i64(&args[1]) else {
        return not_integer(c.out);
    };
    match parse_i64(&args[2]) {
        None => return reply::error(c.out, "ERR timeout is not an integer or out of range"),
        Some(ms) if ms < 0 => return reply::error(c.out, "ERR timeout is negative"),
        Some(ms) if replicas > 0 && ms > 0 => {
            c.client.delay = Some(std::time::Duration::from_millis(ms as u64));
        }
        Some(_) => {}
    }
    reply::int(c.out, 0);
}

/// `RESET`: the connection as if new — out of `MULTI`, nothing watched,
/// no subscriptions, tracking off, replies on, RESP2, no name, and logged
/// in as the default user (if it needs no password; otherwise not logged
/// in).
pub(super) fn reset(c: &mut Ctx<'_>, _: &mut [Vec<u8>]) {
    let client = &mut *c.client;
    client.tx.reset();
    client.subs.clear();
    client.tracking.reset();
    client.replies = super::ReplyMode::On;
    client.resp3 = false;
    client.connection.set_resp3(false);
    client.connection.set_name(None);
    let (session, implicit) = c.server.acl().start();
    client.connection.set_user(session.name());
    client.user = session;
    client.authenticated = implicit;
    reply::simple(c.out, "RESET");
}

pub(super) fn quit(c: &mut Ctx<'_>, _: &mut [Vec<u8>]) {
    reply::ok(c.out);
    c.close = true;
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]`: stops the server, persisting
/// the memory tiers to the cold tier unless NOSAVE. As in Redis, success
/// has no reply: the connection closes.
pub(super) fn shutdown(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let mut save = true;
    let mut chosen = false;
    for opt in &args[1..] {
        match lower(opt).as_str() {
            "nosave" | "save" if chosen => return syntax_error(c.out),
            "nosave" => (save, chosen) = (false, true),
            "save" => chosen = true,
            // Nothing to wait for (no replicas) and nothing to force past.
            "now" | "force" => {}
            "abort" => return reply::error(c.out, "ERR No shutdown in progress."),
            _ => return syntax_error(c.out),
        }
    }
    c.server.shutdown(save);
    c.close = true;
}

/// `TIME`: Unix seconds and microseconds.
pub(super) fn time(c: &mut Ctx<'_>, _: &mut [Vec<u8>]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    reply::array(c.out, 2);
    reply::bulk(c.out, now.as_secs().to_string().as_bytes());
    reply::bulk(c.out, now.subsec_micros().to_string().as_bytes());
}

pub(super) fn select(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    match parse_i64(&args[1]) {
        Some(0) => reply::ok(c.out),
        Some(_) if c.client.cluster.is_some() => {
            reply::error(c.out, "ERR SELECT is not allowed in cluster mode")
        }
        Some(_) => reply::error(c.out, "ERR DB index is out of range"),
        None => not_integer(c.out),
    }
}

pub(super) fn auth_command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    auth(c.server, c.client, args, c.out);
}

pub(super) fn hello_command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    hello(c.server, c.client, args, c.out);
}

pub(super) fn info(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let sections: Vec<String> = args[1..].iter().map(|a| lower(a)).collect();
    let text = c.server.info(&sections);
    reply::bulk(c.out, &text);
}

pub(super) fn config_command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    config(c.server, args, c.out);
}

pub(super) fn client_command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    // A client that kills itself gets its reply, then is closed.
    if lower(&args[1]) == "kill" && args.len() >= 3 {
        c.close = client_kill(c.server, c.client, args, c.out);
    } else {
        client(c.server, c.client, args, c.out);
    }
}

pub(super) fn goldylox(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    match c.server.admin(&args[1..]) {
        super::AdminReply::Now(answer) => super::admin_reply(c.out, answer),
        super::AdminReply::Later(answer) => c.client.pending = Some(answer),
    }
}

fn auth(server: &dyn Server, client: &mut Client, args: &[Vec<u8>], out: &mut BytesMut) {
    super::acl::auth(server, client, args, out);
}

fn hello(server: &dyn Server, client: &mut Client, args: &[Vec<u8>], out: &mut BytesMut) {
    let mut resp3 = client.resp3;
    if let Some(version) = args.get(1) {
        match parse_i64(version) {
            Some(2) => resp3 = false,
            Some(3) => resp3 = true,
            Some(_) => {
                return reply::error(out, "NOPROTO sorry, this protocol version is not supported");
            }
            None => {
                return reply::error(
                    out,
                    "ERR Protocol version is not an integer or out of range",
                );
            }
        }
    }
    let mut i = 2;
    while i < args.len() {
        match lower(&args[i]).as_str() {
            "auth" if i + 2 < args.len() => {
                if !super::acl::login(server, client, &args[i + 1], &args[i + 2], out) {
                    return;
                }
                i += 3;
            }
            "setname" if i + 1 < args.len() => {
                client.connection.set_name(Some(args[i + 1].clone()));
                i += 2;
            }
            _ => return syntax_error(out),
        }
    }
    if !client.authenticated {
        return reply::error(
            out,
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    // The reply already speaks the protocol chosen.
    client.resp3 = resp3;
    client.connection.set_resp3(resp3);
    reply::with_protocol(resp3, || hello_reply(client, out));
}

/// `HELLO`'s map of server facts.
fn hello_reply(client: &Client, out: &mut BytesMut) {
    let proto = if client.resp3 { "3" } else { "2" };
    let fields: [(&str, String); 7] = [
        // As Redis answers: clients decide what they may use from these
        // (redis-py's client-side caching wants "redis", 7.4 or later).
        // INFO's goldylox_version says what this really is.
        ("server", "redis".into()),
        ("version", crate::server::REDIS_VERSION.into()),
        ("proto", proto.into()),
        ("id", client.connection.id.to_string()),
        ("mode", "standalone".into()),
        ("role", "master".into()),
        ("modules", String::new()),
    ];
    reply::map(out, fields.len());
    for (k, v) in fields {
        reply::bulk(out, k.as_bytes());
        if k == "proto" || k == "id" {
            reply::int(out, v.parse().unwrap_or(0));
        } else if k == "modules" {
            reply::array(out, 0);
        } else {
            reply::bulk(out, v.as_bytes());
        }
    }
}

fn config(server: &dyn Server, args: &[Vec<u8>], out: &mut BytesMut) {
    let sub = lower(&args[1]);
    match (sub.as_str(), args.len()) {
        ("get", n) if n >= 3 => {
            let mut pairs = Vec::new();
            for pattern in &args[2..] {
                pairs.extend(server.config_get(&lower(pattern)));
            }
            pairs.sort();
            pairs.dedup();
            reply::map(out, pairs.len());
            for (k, v) in pairs {
                reply::bulk(out, k.as_bytes());
                reply::bulk(out, v.as_bytes());
            }
        }
        ("set", n) if n >= 4 && n.is_multiple_of(2) => {
            let pairs: Vec<(String, String)> = args[2..]
                .chunks(2)
                .map(|pair| {
                    (
                        lower(&pair[0]),
                        String::from_utf8_lossy(&pair[1]).into_owned(),
                    )
                })
                .collect();
            match server.config_set(&pairs) {
                Ok(()) => reply::ok(out),
                Err(message) => reply::error(out, &message),
            }
        }
        ("resetstat", 2) => {
            server.reset_stats();
            reply::ok(out);
        }
        // The configuration is a TOML file the server reloads when it
        // changes: goldylox does not write it.
        ("rewrite", 2) => reply::error(
            out,
            "ERR CONFIG REWRITE is not supported: goldylox's configuration is its TOML file, which it reloads when the file changes (docs/redis-compatibility.md)",
        ),
        ("get" | "set", _) => arity_error(out, &format!("config|{sub}")),
        _ => reply::error(
            out,
            &format!(
                "ERR unknown subcommand '{}'. Try CONFIG HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: 1 if the client was blocked.
fn client_unblock(server: &dyn Server, args: &[Vec<u8>], out: &mut BytesMut) {
    use crate::server::keyspace::blocked::GaveUp;
    let Some(id) = super::parse_i64(&args[2]) else {
        return super::not_integer(out);
    };
    let how = match args.get(3).map(|a| lower(a)).as_deref() {
        None | Some("timeout") => GaveUp::Timeout,
        Some("error") => GaveUp::Error,
        Some(_) => {
            return reply::error(out, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        }
    };
    let unblocked =
        u64::try_from(id).is_ok_and(|id| server.keyspace().blocked.unblock_client(id, how));
    reply::int(out, i64::from(unblocked));
}

fn client(server: &dyn Server, client: &mut Client, args: &[Vec<u8>], out: &mut BytesMut) {
    let sub = lower(&args[1]);
    let me = &client.connection;
    match (sub.as_str(), args.len()) {
        ("id", 2) => reply::int(out, me.id as i64),
        ("getname", 2) => match me.name() {
            Some(name) => reply::bulk(out, &name),
            None => reply::nil(out),
        },
        ("setname", 3) => {
            if args[2].iter().any(|&b| b <= b' ' || b > b'~') {
                return reply::error(
                    out,
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            me.set_name((!args[2].is_empty()).then(|| args[2].clone()));
            reply::ok(out);
        }
        ("tracking", n) if n >= 3 => {
            super::tracking::tracking(server, &mut client.tracking, args, out)
        }
        ("caching", 3) => super::tracking::caching(&mut client.tracking, args, out),
        ("getredir", 2) => super::tracking::getredir(&client.tracking, out),
        ("trackinginfo", 2) => super::tracking::trackinginfo(&client.tracking, out),
        ("reply", 3) => match lower(&args[2]).as_str() {
            "on" => {
                client.replies = super::ReplyMode::On;
                reply::ok(out);
            }
            "off" => client.replies = super::ReplyMode::Off,
            "skip" => client.replies = super::ReplyMode::Skip,
            _ => syntax_error(out),
        },
        // Client libraries announce themselves (Redis 7.2).
        ("setinfo", 4) => match me.set_info(&lower(&args[2]), &args[3]) {
            Ok(()) => reply::ok(out),
            Err(message) => reply::error(out, &message),
        },
        ("info", 2) => reply::bulk(out, format!("{}\n", describe(me, Some(args))).as_bytes()),
        ("list", _) => client_list(server, me.id, args, out),
        ("unblock", 3 | 4) => client_unblock(server, args, out),
        ("pause", 3 | 4) => client_pause(server, args, out),
        ("unpause", 2) => {
            server.unpause();
            reply::ok(out);
        }
        // Redis exempts such a client from client eviction
        // (`maxmemory-clients`); goldylox evicts no clients, so the flag
        // is kept and shown (CLIENT LIST's `e`) and nothing else changes.
        ("no-evict", 3) => match lower(&args[2]).as_str() {
            "on" | "off" => {
                me.set_no_evict(lower(&args[2]) == "on");
                reply::ok(out);
            }
            _ => syntax_error(out),
        },
        (
            "id" | "getname" | "setname" | "setinfo" | "info" | "kill" | "tracking" | "caching"
            | "getredir" | "trackinginfo" | "reply" | "unblock" | "pause" | "unpause" | "no-evict",
            _,
        ) => arity_error(out, &format!("client|{sub}")),
        _ => reply::error(
            out,
            &format!(
                "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

/// The longest pause taken as it is (30 years); a longer one lasts that.
const PAUSE_MAX: std::time::Duration = std::time::Duration::from_secs(30 * 365 * 86_400);

/// `CLIENT PAUSE timeout [WRITE|ALL]`: holds every command, or those that
/// write, for `timeout` milliseconds (see [`crate::server::pause`]).
fn client_pause(server: &dyn Server, args: &[Vec<u8>], out: &mut BytesMut) {
    use crate::server::pause::Mode;
    let mode = match args.get(3).map(|a| lower(a)).as_deref() {
        None | Some("all") => Mode::All,
        Some("write") => Mode::Write,
        Some(_) => return reply::error(out, "ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let ms = match parse_i64(&args[2]) {
        None => return reply::error(out, "ERR timeout is not an integer or out of range"),
        Some(ms) if ms < 0 => return reply::error(out, "ERR timeout is negative"),
        Some(ms) => std::time::Duration::from_millis(ms as u64).min(PAUSE_MAX),
    };
    server.pause(mode, tokio::time::Instant::now() + ms);
    reply::ok(out);
}

/// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id …]`.
fn client_list(server: &dyn Server, me: u64, args: &[Vec<u8>], out: &mut BytesMut) {
    let mut ids: Option<Vec<u64>> = None;
    let mut normal = true;
    let mut i = 2;
    while i < args.len() {
        match lower(&args[i]).as_str() {
            "type" if i + 1 < args.len() => {
                normal = match lower(&args[i + 1]).as_str() {
                    "normal" => true,
                    "master" | "replica" | "slave" | "pubsub" => false,
                    other => {
                        return reply::error(out, &format!("ERR Unknown client type '{other}'"));
                    }
                };
                i += 2;
            }
            "id" if i + 1 < args.len() => {
                let mut wanted = Vec::new();
                for a in &args[i + 1..] {
                    match parse_i64(a)
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|&n| n > 0)
                    {
                        Some(id) => wanted.push(id),
                        None => return reply::error(out, "ERR Invalid client ID"),
                    }
                }
                ids = Some(wanted);
                i = args.len();
            }
            _ => return syntax_error(out),
        }
    }
    // Every connection is a normal client: no replicas, no pub/sub.
    let mut text = String::new();
    for c in server.clients().iter().filter(|_| normal) {
        if ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) {
            text.push_str(&describe(c, (c.id == me).then_some(args)));
            text.push('\n');
        }
    }
    reply::bulk(out, text.as_bytes());
}

/// `CLIENT KILL addr` (answers OK) and `CLIENT KILL <filter value> …` with
/// ID, ADDR, LADDR, USER, TYPE, MAXAGE (seconds connected, at least),
/// SKIPME (answers how many were killed).
/// `CLIENT KILL`'s filters (name, value) and its SKIPME, or the error.
fn kill_filters(
    server: &dyn Server,
    args: &[Vec<u8>],
) -> Result<(Vec<(String, String)>, bool), String> {
    let text = |a: &Vec<u8>| String::from_utf8_lossy(a).into_owned();
    let mut skip_me = true;
    let mut filters: Vec<(String, String)> = Vec::new();
    for pair in args[2..].chunks(2) {
        let (key, value) = (lower(&pair[0]), text(&pair[1]));
        match key.as_str() {
            "skipme" => match value.to_ascii_lowercase().as_str() {
                "yes" => skip_me = true,
                "no" => skip_me = false,
                _ => return Err("ERR syntax error".to_owned()),
            },
            "id" if parse_i64(&pair[1]).is_none_or(|n| n <= 0) => {
                return Err("ERR client-id should be greater than 0".to_owned());
            }
            "maxage" => match parse_i64(&pair[1]) {
                None => return Err("ERR maxage is not an integer or out of range".to_owned()),
                Some(age) if age <= 0 => {
                    return Err("ERR maxage should be greater than 0".to_owned());
                }
                Some(_) => filters.push((key, value)),
            },
            "user" if server.acl().user(&value).is_none() => {
                return Err(format!("ERR No such user '{value}'"));
            }
            "id" | "addr" | "laddr" | "user" => filters.push((key, value)),
            "type" => {
                if !matches!(
                    value.to_ascii_lowercase().as_str(),
                    "normal" | "master" | "replica" | "slave" | "pubsub"
                ) {
                    return Err(format!("ERR Unknown client type '{value}'"));
                }
                filters.push((key, value.to_ascii_lowercase()));
            }
            _ => return Err("ERR syntax error".to_owned()),
        }
    }
    Ok((filters, skip_me))
}

/// `CLIENT KILL addr` and `CLIENT KILL filter value …`: whether the caller
/// killed itself (it is closed after this reply, as in Redis).
fn client_kill(server: &dyn Server, client: &Client, args: &[Vec<u8>], out: &mut BytesMut) -> bool {
    let text = |a: &Vec<u8>| String::from_utf8_lossy(a).into_owned();
    let me = client.connection.id;
    if args.len() == 3 {
        let addr = text(&args[2]);
        return match server.clients().iter().find(|c| c.addr.to_string() == addr) {
            Some(c) => {
                if c.id != me {
                    c.kill();
                }
                reply::ok(out);
                c.id == me
            }
            None => {
                reply::error(out, "ERR No such client");
                false
            }
        };
    }
    if !(args.len() - 2).is_multiple_of(2) {
        syntax_error(out);
        return false;
    }
    let (filters, skip_me) = match kill_filters(server, args) {
        Ok(parsed) => parsed,
        Err(message) => {
            reply::error(out, &message);
            return false;
        }
    };
    let matches = |c: &crate::server::clients::Connection| {
        filters.iter().all(|(key, value)| match key.as_str() {
            "id" => c.id.to_string() == *value,
            "addr" => c.addr.to_string() == *value,
            "laddr" => c.laddr.to_string() == *value,
            "user" => *c.user() == **value,
            "maxage" => value
                .parse::<u64>()
                .is_ok_and(|age| c.age().as_secs() >= age),
            _ => value == "normal",
        })
    };
    let (mut killed, mut myself) = (0, false);
    for c in server.clients() {
        if matches(&c) && !(skip_me && c.id == me) {
            if c.id == me {
                myself = true;
            } else {
                c.kill();
            }
            killed += 1;
        }
    }
    reply::int(out, killed);
    myself
}

/// A connection's `CLIENT LIST` line, naming its last command; `running`
/// is the request the caller runs, if `c` is the caller.
fn describe(c: &crate::server::clients::Connection, running: Option<&[Vec<u8>]>) -> String {
    let argv = running.map_or(0, |args| args.iter().map(Vec::len).sum());
    c.describe(super::name_of(c.last_command()).unwrap_or("NULL"), argv)
}
