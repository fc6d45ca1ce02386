//! Connection and server commands: PING, AUTH, HELLO, SELECT, INFO,
//! CONFIG, CLIENT, COMMAND, FUNCTION and the `GOLDYLOX` admin commands.

use bytes::BytesMut;

use super::{Client, Ctx, Server, arity_error, lower, not_integer, parse_i64, syntax_error};
use crate::server::resp::reply;

pub(super) fn ping(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    match args.len() {
        1 => reply::simple(c.out, "PONG"),
        2 => reply::bulk(c.out, &args[1]),
        _ => arity_error(c.out, "ping"),
    }
}

pub(super) fn echo(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    reply::bulk(c.out, &args[1]);
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
    reply::bulk(c.out, text.as_bytes());
}

pub(super) fn config_command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    config(c.server, args, c.out);
}

pub(super) fn client_command(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    client(c.server, c.client, args, c.out);
}

/// `FUNCTION FLUSH|LIST|…`: there are no functions (no scripting), so
/// flushing succeeds and listing is empty; loading is refused.
pub(super) fn function(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    match lower(&args[1]).as_str() {
        "flush" if args.len() <= 3 => reply::ok(c.out),
        "list" => reply::array(c.out, 0),
        "load" | "restore" | "delete" | "dump" | "kill" | "stats" => reply::error(
            c.out,
            "ERR goldylox has no scripting: functions are not supported",
        ),
        _ => reply::error(
            c.out,
            &format!(
                "ERR unknown subcommand '{}'. Try FUNCTION HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

pub(super) fn goldylox(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    match c.server.admin(&args[1..]) {
        super::AdminReply::Now(answer) => super::admin_reply(c.out, answer),
        super::AdminReply::Later(answer) => c.client.pending = Some(answer),
    }
}

fn auth(server: &dyn Server, client: &mut Client, args: &[Vec<u8>], out: &mut BytesMut) {
    let Some(password) = server.password() else {
        reply::error(
            out,
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
        return;
    };
    let (user, given) = match args.len() {
        2 => (None, &args[1]),
        3 => (Some(&args[1]), &args[2]),
        _ => return syntax_error(out),
    };
    let user_ok = user.is_none_or(|u| u.as_slice() == b"default");
    if user_ok && given.as_slice() == password.as_bytes() {
        client.authenticated = true;
        reply::ok(out);
    } else {
        reply::error(
            out,
            "WRONGPASS invalid username-password pair or user is disabled.",
        );
    }
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
                let creds = [args[i].clone(), args[i + 1].clone(), args[i + 2].clone()];
                let mut scratch = BytesMut::new();
                auth(server, client, &creds, &mut scratch);
                if !client.authenticated {
                    out.extend_from_slice(&scratch);
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
    reply::with_protocol(resp3, || hello_reply(client, out));
}

/// `HELLO`'s map of server facts.
fn hello_reply(client: &Client, out: &mut BytesMut) {
    let proto = if client.resp3 { "3" } else { "2" };
    let fields: [(&str, String); 7] = [
        ("server", "goldylox".into()),
        ("version", env!("CARGO_PKG_VERSION").into()),
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
            for pair in args[2..].chunks(2) {
                let (name, value) = (
                    lower(&pair[0]),
                    String::from_utf8_lossy(&pair[1]).into_owned(),
                );
                if let Err(message) = server.config_set(&name, &value) {
                    return reply::error(out, &message);
                }
            }
            reply::ok(out);
        }
        ("resetstat" | "rewrite", 2) => reply::ok(out),
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
        // Client libraries announce themselves (Redis 7.2); accept it.
        ("setinfo", 4) => reply::ok(out),
        ("info", 2) => reply::bulk(out, format!("{}\n", describe(me)).as_bytes()),
        ("list", _) => client_list(server, args, out),
        ("kill", n) if n >= 3 => client_kill(server, client, args, out),
        ("id" | "getname" | "setname" | "setinfo" | "info" | "kill", _) => {
            arity_error(out, &format!("client|{sub}"))
        }
        _ => reply::error(
            out,
            &format!(
                "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

/// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id …]`.
fn client_list(server: &dyn Server, args: &[Vec<u8>], out: &mut BytesMut) {
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
            text.push_str(&describe(c));
            text.push('\n');
        }
    }
    reply::bulk(out, text.as_bytes());
}

/// `CLIENT KILL addr` (answers OK) and `CLIENT KILL <filter value> …` with
/// ID, ADDR, LADDR, USER, SKIPME (answers how many were killed).
fn client_kill(server: &dyn Server, client: &Client, args: &[Vec<u8>], out: &mut BytesMut) {
    let text = |a: &Vec<u8>| String::from_utf8_lossy(a).into_owned();
    if args.len() == 3 {
        let addr = text(&args[2]);
        return match server.clients().iter().find(|c| c.addr.to_string() == addr) {
            Some(c) => {
                c.kill();
                reply::ok(out);
            }
            None => reply::error(out, "ERR No such client"),
        };
    }
    if !(args.len() - 2).is_multiple_of(2) {
        return syntax_error(out);
    }
    let mut skip_me = true;
    let mut filters: Vec<(String, String)> = Vec::new();
    for pair in args[2..].chunks(2) {
        let (key, value) = (lower(&pair[0]), text(&pair[1]));
        match key.as_str() {
            "skipme" => match value.to_ascii_lowercase().as_str() {
                "yes" => skip_me = true,
                "no" => skip_me = false,
                _ => return syntax_error(out),
            },
            "id" if parse_i64(&pair[1]).is_none_or(|n| n <= 0) => {
                return reply::error(out, "ERR client-id should be greater than 0");
            }
            "id" | "addr" | "laddr" | "user" => filters.push((key, value)),
            "type" => {
                if !matches!(
                    value.to_ascii_lowercase().as_str(),
                    "normal" | "master" | "replica" | "slave" | "pubsub"
                ) {
                    return reply::error(out, &format!("ERR Unknown client type '{value}'"));
                }
                filters.push((key, value.to_ascii_lowercase()));
            }
            _ => return syntax_error(out),
        }
    }
    let me = client.connection.id;
    let matches = |c: &crate::server::clients::Connection| {
        filters.iter().all(|(key, value)| match key.as_str() {
            "id" => c.id.to_string() == *value,
            "addr" => c.addr.to_string() == *value,
            "laddr" => c.laddr.to_string() == *value,
            "user" => value == "default",
            _ => value == "normal",
        })
    };
    let mut killed = 0;
    for c in server.clients() {
        if matches(&c) && !(skip_me && c.id == me) {
            c.kill();
            killed += 1;
        }
    }
    reply::int(out, killed);
}

/// A connection's `CLIENT LIST` line, naming its last command.
fn describe(c: &crate::server::clients::Connection) -> String {
    c.describe(super::name_of(c.last_command()).unwrap_or("NULL"))
}
