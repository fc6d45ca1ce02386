//! `ACL` and the permission check every command passes: the connection's
//! user must allow the command (or subcommand), each key for the access
//! the command needs, and each channel it publishes or subscribes to.
//! Denials are answered with Redis's `NOPERM` errors (a script gets its own
//! wording) and logged for `ACL LOG`.

use bytes::BytesMut;

use super::table::{self, ADMIN, NO_AUTH, NO_SCRIPT, READONLY, Spec, TABLE, WRITE, spec};
use super::{Client, Ctx, Server, lower, parse_i64, subcommands, syntax_error};
use crate::server::acl::{self, Access, Context, Denial, Reason, Refusal, categories};
use crate::server::resp::reply;

/// The `ACL` command.
pub(super) static SPECS: &[Spec] = &[spec("acl", -2, ADMIN | NO_SCRIPT, table::NONE, acl)];

/// The containers whose unknown subcommands their handler answers
/// ("unknown subcommand"), as Redis does, rather than the check refusing
/// and logging them. Only containers whose every subcommand the table
/// lists: one it did not list would pass the check unseen.
const ANSWERED_FIRST: [&str; 3] = ["acl", "client", "config"];

/// Whether `args` names a subcommand its container does not have.
fn unknown_subcommand(spec: &Spec, args: &[Vec<u8>]) -> bool {
    let Some(sub) = args.get(1) else {
        return false;
    };
    ANSWERED_FIRST.contains(&spec.name) && subcommands::find(spec.name, sub).is_none()
}

/// Writes that also read what they change (they answer with it), so a
/// write-only key pattern does not cover them; the blocking pops too.
const READ_WRITES: &[&str] = &[
    "decr",
    "decrby",
    "getdel",
    "getex",
    "getset",
    "hincrby",
    "hincrbyfloat",
    "incr",
    "incrby",
    "incrbyfloat",
    "lmove",
    "lmpop",
    "lpop",
    "rpop",
    "rpoplpush",
    "spop",
    "zincrby",
    "zmpop",
    "zpopmax",
    "zpopmin",
    "eval",
    "evalsha",
    "fcall",
];

/// The access `spec` needs to its keys.
fn access_of(spec: &Spec) -> Access {
    let blocking = categories::bit("blocking").is_some_and(|b| categories::of(spec) & b != 0);
    if spec.flags & WRITE != 0 {
        Access {
            read: blocking || READ_WRITES.contains(&spec.name),
            write: true,
        }
    } else if spec.flags & READONLY != 0 {
        Access {
            read: true,
            write: false,
        }
    } else {
        Access {
            read: true,
            write: READ_WRITES.contains(&spec.name),
        }
    }
}

/// The command's name as a denial reports it: `get`, `client|kill`.
fn full_name(spec: &Spec, args: &[Vec<u8>]) -> String {
    match args.get(1) {
        Some(sub) if subcommands::is_container(spec.name) => {
            format!("{}|{}", spec.name, lower(sub))
        }
        _ => spec.name.to_owned(),
    }
}

/// Checks `args` (the command at `index` of the table) against `user`.
fn refusal(user: &acl::User, index: usize, spec: &Spec, args: &[Vec<u8>]) -> Option<Refusal> {
    if user.unrestricted() || spec.flags & NO_AUTH != 0 || unknown_subcommand(spec, args) {
        return None;
    }
    let keys = spec.key_positions(args);
    let request = acl::Request {
        index,
        spec,
        args,
        keys: &keys,
        access: access_of(spec),
    };
    user.check(&request).err()
}

/// `redis.acl_check_cmd`'s check for `user`: whether it may run a
/// request; `None` for an unknown command or a wrong number of arguments.
pub(super) fn permits(user: &std::sync::Arc<acl::User>) -> crate::server::scripting::Permits {
    let user = std::sync::Arc::clone(user);
    crate::server::scripting::Permits(std::sync::Arc::new(move |request: &[Vec<u8>]| {
        let index = table::lookup_index(request.first()?)?;
        let spec = TABLE[index];
        spec.accepts(request.len())
            .then(|| refusal(&user, index, spec, request).is_none())
    }))
}

/// Whether the connection's user may run `args`; otherwise the error to
/// answer, after logging the denial.
pub(super) fn permit(
    server: &dyn Server,
    client: &Client,
    index: usize,
    spec: &Spec,
    args: &[Vec<u8>],
) -> Result<(), String> {
    let Some(refused) = refusal(&client.user.user, index, spec, args) else {
        return Ok(());
    };
    let context = if client.in_script {
        Context::Lua
    } else if client.tx.queueing() || client.in_exec {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let (reason, object) = match refused {
        Refusal::Command => (Reason::Command, full_name(spec, args)),
        Refusal::Key(at) => (Reason::Key, String::from_utf8_lossy(&args[at]).into_owned()),
        Refusal::Channel(at) => (
            Reason::Channel,
            String::from_utf8_lossy(&args[at]).into_owned(),
        ),
    };
    log(server, client, reason, context, &object, client.user.name());
    let script = context == Context::Lua;
    Err(match (reason, script) {
        (Reason::Command, false) => {
            format!("NOPERM this user has no permissions to run the '{object}' command")
        }
        (Reason::Key, false) => {
            "NOPERM this user has no permissions to access one of the keys used as arguments"
                .to_owned()
        }
        (_, false) => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .to_owned()
        }
        (Reason::Command, true) => {
            "ERR The user executing the script can't run this command or subcommand".to_owned()
        }
        (Reason::Key, true) => "ERR The user executing the script can't access at least one of \
                                the keys mentioned in the command arguments"
            .to_owned(),
        (_, true) => {
            "ERR The user executing the script can't publish to the channel mentioned in the \
             command"
                .to_owned()
        }
    })
}

fn log(
    server: &dyn Server,
    client: &Client,
    reason: Reason,
    context: Context,
    object: &str,
    username: &str,
) {
    let client_info = client.connection.describe(
        super::name_of(client.connection.last_command()).unwrap_or("NULL"),
        0,
    );
    server.acl().deny(Denial {
        reason,
        context,
        object,
        username,
        client_info,
    });
}

/// Logs the connection in as `user` with `password`; on failure logs the
/// attempt and answers `WRONGPASS`.
pub(super) fn login(
    server: &dyn Server,
    client: &mut Client,
    user: &[u8],
    password: &[u8],
    out: &mut BytesMut,
) -> bool {
    let name = String::from_utf8_lossy(user);
    match server.acl().authenticate(&name, password) {
        Some(session) => {
            client.connection.set_user(session.name());
            client.user = session;
            client.authenticated = true;
            true
        }
        None => {
            log(
                server,
                client,
                Reason::Auth,
                Context::Toplevel,
                "AUTH",
                &name,
            );
            reply::error(
                out,
                "WRONGPASS invalid username-password pair or user is disabled.",
            );
            false
        }
    }
}

fn acl(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let sub = lower(&args[1]);
    let words: Vec<String> = args[2..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let registry = c.server.acl();
    let out = &mut *c.out;
    match (sub.as_str(), words.len()) {
        ("whoami", 0) => reply::bulk(out, c.client.user.name().as_bytes()),
        ("users", 0) => bulks(out, &registry.names()),
        ("list", 0) => bulks(out, &registry.describe()),
        ("setuser", n) if n >= 1 => match registry.set_user(&words[0], &words[1..]) {
            Ok(()) => {
                users_changed(c.server, c.client.connection.id);
                reply::ok(out);
            }
            Err(e) => reply::error(out, &e),
        },
        ("deluser", n) if n >= 1 => match registry.delete(&words) {
            Ok(n) => {
                users_changed(c.server, c.client.connection.id);
                reply::int(out, n as i64);
            }
            Err(e) => reply::error(out, &e),
        },
        ("getuser", 1) => match registry.user(&words[0]) {
            Some(user) => getuser(out, &user),
            None => reply::nil(out),
        },
        ("cat", 0) => bulks(out, &categories::NAMES.map(str::to_owned)),
        ("cat", 1) => match categories::bit(&words[0]) {
            Some(bit) => {
                let names: Vec<String> = TABLE
                    .iter()
                    .filter(|s| categories::of(s) & bit != 0)
                    .map(|s| s.name.to_owned())
                    .collect();
                bulks(out, &names);
            }
            None => reply::error(out, &format!("ERR Unknown category '{}'", words[0])),
        },
        ("genpass", 0 | 1) => genpass(out, words.first().map(|w| w.as_bytes())),
        ("dryrun", n) if n >= 2 => dryrun(out, registry, &args[2..]),
        ("log", 0 | 1) => log_command(out, registry, words.first().map(String::as_str)),
        ("load", 0) => match registry.load() {
            Ok(()) => {
                users_changed(c.server, c.client.connection.id);
                reply::ok(out);
            }
            Err(e) => reply::error(out, &e),
        },
        ("save", 0) => match registry.save() {
            Ok(()) => reply::ok(out),
            Err(e) => reply::error(out, &e),
        },
        ("help", 0) => bulks(out, &HELP.map(str::to_owned)),
        _ => reply::error(
            out,
            &format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

fn bulks(out: &mut BytesMut, items: &[String]) {
    reply::array(out, items.len());
    for item in items {
        reply::bulk(out, item.as_bytes());
    }
}

/// After the users changed: closes the connections of users that no
/// longer exist (but `me`'s, which closes at its next command) and the
/// subscribers whose user no longer allows a channel or pattern they
/// listen to, as Redis does when permissions are revoked.
pub fn users_changed(server: &dyn Server, me: u64) {
    let registry = server.acl();
    for conn in server.clients() {
        if conn.id != me && registry.user(&conn.user()).is_none() {
            conn.kill();
        }
    }
    let mut revoked = std::collections::BTreeMap::new();
    server.pubsub().each_subscription(|kind, name, conn| {
        let allowed = registry.user(&conn.user()).is_none_or(|user| {
            user.allows_channel(name, kind == crate::server::pubsub::Kind::Pattern)
        });
        if !allowed {
            revoked.insert(conn.id, std::sync::Arc::clone(conn));
        }
    });
    revoked.values().for_each(|conn| conn.kill());
}

fn getuser(out: &mut BytesMut, user: &acl::User) {
    reply::map(out, 6);
    reply::bulk(out, b"flags");
    let mut flags = vec![if user.enabled { "on" } else { "off" }];
    if user.nopass {
        flags.push("nopass");
    }
    reply::array(out, flags.len());
    for f in flags {
        reply::bulk(out, f.as_bytes());
    }
    reply::bulk(out, b"passwords");
    bulks(out, user.password_hashes());
    for (name, text) in [
        ("commands", user.root.describe_commands()),
        ("keys", user.root.describe_keys()),
        ("channels", user.root.describe_channels()),
    ] {
        reply::bulk(out, name.as_bytes());
        reply::bulk(out, text.as_bytes());
    }
    reply::bulk(out, b"selectors");
    reply::array(out, user.selectors().len());
    for s in user.selectors() {
        reply::map(out, 3);
        for (name, text) in [
            ("commands", s.describe_commands()),
            ("keys", s.describe_keys()),
            ("channels", s.describe_channels()),
        ] {
            reply::bulk(out, name.as_bytes());
            reply::bulk(out, text.as_bytes());
        }
    }
}

/// `ACL GENPASS [bits]`: random bits from the operating system, in hex
/// (256 by default).
fn genpass(out: &mut BytesMut, bits: Option<&[u8]>) {
    let bits = match bits.map(parse_i64) {
        None => 256,
        Some(Some(n)) if (1..=4096).contains(&n) => n as usize,
        Some(_) => {
            return reply::error(
                out,
                "ERR ACL GENPASS argument must be the number of bits for the output password, a \
                 positive number up to 4096",
            );
        }
    };
    let chars = bits.div_ceil(4);
    let mut random = vec![0u8; chars.div_ceil(2)];
    if let Err(e) = getrandom::fill(&mut random) {
        return reply::error(out, &format!("ERR no random bytes: {e}"));
    }
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    reply::bulk(out, &hex.as_bytes()[..chars]);
}

/// `ACL DRYRUN user command [arg …]`: whether the user could run it.
fn dryrun(out: &mut BytesMut, registry: &acl::Acl, args: &[Vec<u8>]) {
    let name = String::from_utf8_lossy(&args[0]);
    let Some(user) = registry.user(&name) else {
        return reply::error(out, &format!("ERR User '{name}' not found"));
    };
    let request = &args[1..];
    let Some(index) = table::lookup_index(&request[0]) else {
        return reply::error(
            out,
            &format!(
                "ERR Command '{}' not found",
                String::from_utf8_lossy(&request[0])
            ),
        );
    };
    let spec = TABLE[index];
    if !spec.accepts(request.len()) {
        return reply::error(
            out,
            &format!("ERR wrong number of arguments for '{}' command", spec.name),
        );
    }
    let text = |at: usize| String::from_utf8_lossy(&request[at]).into_owned();
    match refusal(&user, index, spec, request) {
        None => reply::ok(out),
        Some(Refusal::Command) => reply::bulk(
            out,
            format!(
                "This user has no permissions to run the '{}' command",
                full_name(spec, request)
            )
            .as_bytes(),
        ),
        Some(Refusal::Key(at)) => reply::bulk(
            out,
            format!(
                "This user has no permissions to access the '{}' key",
                text(at)
            )
            .as_bytes(),
        ),
        Some(Refusal::Channel(at)) => reply::bulk(
            out,
            format!(
                "This user has no permissions to access the '{}' channel",
                text(at)
            )
            .as_bytes(),
        ),
    }
}

/// `ACL LOG [count|RESET]`.
fn log_command(out: &mut BytesMut, registry: &acl::Acl, arg: Option<&str>) {
    let mut log = registry.log();
    let count = match arg {
        None => None,
        Some(a) if a.eq_ignore_ascii_case("reset") => {
            log.reset();
            return reply::ok(out);
        }
        Some(a) => match a.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            _ => return reply::error(out, "ERR value is out of range, must be positive"),
        },
    };
    let entries = log.newest(count);
    reply::array(out, entries.len());
    for entry in entries {
        let fields = entry.fields();
        reply::map(out, fields.len());
        for (name, value) in fields {
            reply::bulk(out, name.as_bytes());
            match value {
                acl::log::Field::Text(t) => reply::bulk(out, t.as_bytes()),
                acl::log::Field::Int(n) => reply::int(out, n),
                acl::log::Field::Float(f) => reply::bulk(out, format!("{f:.3}").as_bytes()),
            }
        }
    }
}

const HELP: [&str; 24] = [
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bit-length>]",
    "    Generate a secure 256-bit user password. The optional `bit-length` argument",
    "    specifies the amount of bits for the password; default is 256.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS | WHOAMI: list all the registered usernames, or show the current one.",
];

/// `AUTH [user] password` (`user` defaults to `default`).
pub(super) fn auth(
    server: &dyn Server,
    client: &mut Client,
    args: &[Vec<u8>],
    out: &mut BytesMut,
) -> bool {
    let (user, password): (&[u8], &[u8]) = match args.len() {
        2 => (b"default", &args[1]),
        3 => (&args[1], &args[2]),
        _ => {
            syntax_error(out);
            return false;
        }
    };
    if args.len() == 2 && server.acl().user("default").is_some_and(|u| u.nopass) {
        reply::error(
            out,
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
        return false;
    }
    let ok = login(server, client, user, password, out);
    if ok {
        reply::ok(out);
    }
    ok
}
