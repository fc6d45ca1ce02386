//! Users and permissions over real connections: Redis's `unit/acl` cases
//! that matter (it is tagged `external:skip` and cannot run against
//! another server), ported — logins, command, key and channel denials and
//! their `NOPERM` errors, selectors, `ACL LOG` with its contexts, a read-only
//! dashboard user, `requirepass` as the default user's password, deleted
//! users' connections closed, and the ACL file at start, on reload and
//! through `ACL SAVE`/`ACL LOAD`.

use redis::Value;

use crate::serve::{TestServer, cmd};

fn text(v: Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8(b).unwrap(),
        Value::SimpleString(s) => s,
        Value::Okay => "OK".to_owned(),
        other => panic!("not text: {other:?}"),
    }
}

/// The error text of a refused command.
fn refused(c: &mut redis::Connection, args: &[&str]) -> String {
    let err = cmd(c, args).expect_err(&format!("{args:?} is refused"));
    format!(
        "{} {}",
        err.code().unwrap_or(""),
        err.detail().unwrap_or("")
    )
}

fn ok(c: &mut redis::Connection, args: &[&str]) {
    cmd(c, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
}

/// ACL LOG's newest entry as (field, value) text pairs.
fn newest_denial(c: &mut redis::Connection) -> Vec<(String, String)> {
    let Value::Array(entries) = cmd(c, &["ACL", "LOG", "1"]).unwrap() else {
        panic!("ACL LOG is an array");
    };
    let Some(Value::Array(fields)) = entries.into_iter().next() else {
        panic!("no ACL LOG entry");
    };
    fields
        .chunks(2)
        .map(|kv| {
            let value = match &kv[1] {
                Value::Int(n) => n.to_string(),
                v => text(v.clone()),
            };
            (text(kv[0].clone()), value)
        })
        .collect()
}

fn field(entry: &[(String, String)], name: &str) -> String {
    entry.iter().find(|(k, _)| k == name).unwrap().1.clone()
}

#[test]
fn users_log_in_and_are_held_to_their_permissions() {
    let server = TestServer::start(|_| {});
    let mut admin = server.client();
    let mut c = server.client();
    assert_eq!(text(cmd(&mut c, &["ACL", "WHOAMI"]).unwrap()), "default");
    assert!(refused(&mut admin, &["ACL", "SETUSER", "a a"]).contains("can't contain spaces"));
    ok(&mut admin, &["ACL", "SETUSER", "newuser", ">passwd1"]);
    assert!(
        refused(&mut c, &["AUTH", "newuser", "passwd1"]).starts_with("WRONGPASS"),
        "off"
    );
    ok(&mut admin, &["ACL", "SETUSER", "newuser", "on", "+acl"]);
    ok(&mut c, &["AUTH", "newuser", "passwd1"]);
    assert_eq!(text(cmd(&mut c, &["ACL", "WHOAMI"]).unwrap()), "newuser");
    assert_eq!(
        refused(&mut c, &["SET", "foo", "bar"]),
        "NOPERM this user has no permissions to run the 'set' command"
    );
    ok(&mut admin, &["ACL", "SETUSER", "newuser", "+set"]);
    assert!(refused(&mut c, &["SET", "foo", "bar"]).contains("keys used as arguments"));
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "newuser",
            "allcommands",
            "~foo:*",
            "%R~ro:*",
            "%W~wo:*",
        ],
    );
    ok(&mut c, &["SET", "foo:1", "a"]);
    ok(&mut c, &["GET", "ro:1"]);
    assert!(refused(&mut c, &["SET", "ro:1", "x"]).contains("keys"));
    ok(&mut c, &["SET", "wo:1", "x"]);
    assert!(refused(&mut c, &["GET", "wo:1"]).contains("keys"));
    assert!(
        refused(&mut c, &["INCR", "wo:1"]).contains("keys"),
        "INCR reads too"
    );
    // Channels: none by default for a new user.
    assert!(refused(&mut c, &["PUBLISH", "news", "x"]).contains("channels"));
    ok(&mut admin, &["ACL", "SETUSER", "newuser", "&news.*"]);
    ok(&mut c, &["PUBLISH", "news.today", "x"]);
    // Subcommands, and Goldylox's own category.
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "newuser",
            "-client",
            "+client|list",
            "-@goldylox",
        ],
    );
    ok(&mut c, &["CLIENT", "LIST"]);
    assert!(refused(&mut c, &["CLIENT", "KILL", "ID", "1"]).contains("'client|kill'"));
    assert!(refused(&mut c, &["GOLDYLOX", "STATUS"]).contains("'goldylox'"));
    // A selector allows what the root does not.
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "sel",
            "on",
            "nopass",
            "+get",
            "~a*",
            "(+set ~b*)",
        ],
    );
    ok(&mut c, &["AUTH", "sel", "x"]);
    ok(&mut c, &["GET", "a1"]);
    ok(&mut c, &["SET", "b1", "v"]);
    assert!(refused(&mut c, &["SET", "a1", "v"]).contains("keys"));
    assert!(refused(&mut c, &["GET", "c1"]).contains("keys"));
    // Bad rules change nothing and say which rule and why.
    let err = refused(&mut admin, &["ACL", "SETUSER", "sel", "-get", "+nosuch"]);
    assert!(err.contains("'+nosuch': Unknown command"), "{err}");
    ok(&mut c, &["GET", "a1"]);
}

#[test]
fn denials_are_logged_with_their_context() {
    let server = TestServer::start(|_| {});
    let mut admin = server.client();
    let mut c = server.client();
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "antirez",
            ">foo",
            "on",
            "+set",
            "~object:1234",
        ],
    );
    ok(
        &mut admin,
        &[
            "ACL", "SETUSER", "antirez", "+eval", "+multi", "+exec", "+publish",
        ],
    );
    ok(&mut admin, &["ACL", "LOG", "RESET"]);
    ok(&mut c, &["AUTH", "antirez", "foo"]);
    for _ in 0..3 {
        assert!(refused(&mut c, &["GET", "foo"]).contains("'get'"));
    }
    let entry = newest_denial(&mut admin);
    assert_eq!(field(&entry, "username"), "antirez");
    assert_eq!(field(&entry, "context"), "toplevel");
    assert_eq!(field(&entry, "reason"), "command");
    assert_eq!(field(&entry, "object"), "get");
    assert_eq!(field(&entry, "count"), "3", "like denials are counted");
    assert!(field(&entry, "client-info").contains("user=antirez"));
    refused(&mut c, &["SET", "somekeynotallowed", "1"]);
    let entry = newest_denial(&mut admin);
    assert_eq!(
        (field(&entry, "reason"), field(&entry, "object")),
        ("key".into(), "somekeynotallowed".into())
    );
    refused(&mut c, &["PUBLISH", "somechannel", "x"]);
    assert_eq!(field(&newest_denial(&mut admin), "reason"), "channel");
    // Inside MULTI: refused at queueing, logged as multi.
    ok(&mut c, &["MULTI"]);
    refused(&mut c, &["INCR", "foo"]);
    assert!(refused(&mut c, &["EXEC"]).starts_with("EXECABORT"));
    let entry = newest_denial(&mut admin);
    assert_eq!(
        (field(&entry, "context"), field(&entry, "object")),
        ("multi".into(), "incr".into())
    );
    // From a script: its own wording, logged as lua.
    let err = refused(
        &mut c,
        &["EVAL", "return redis.call('get','object:1234')", "0"],
    );
    assert!(
        err.contains("The user executing the script can't run this command"),
        "{err}"
    );
    assert_eq!(field(&newest_denial(&mut admin), "context"), "lua");
    // Failed logins.
    refused(&mut c, &["AUTH", "antirez", "wrong"]);
    let entry = newest_denial(&mut admin);
    assert_eq!(
        (field(&entry, "reason"), field(&entry, "object")),
        ("auth".into(), "AUTH".into())
    );
    ok(&mut admin, &["ACL", "LOG", "RESET"]);
    assert_eq!(
        cmd(&mut admin, &["ACL", "LOG"]).unwrap(),
        Value::Array(vec![])
    );
    let dry = text(cmd(&mut admin, &["ACL", "DRYRUN", "antirez", "GET", "x"]).unwrap());
    assert_eq!(dry, "This user has no permissions to run the 'get' command");
    let dry = text(
        cmd(
            &mut admin,
            &["ACL", "DRYRUN", "antirez", "SET", "object:1234", "v"],
        )
        .unwrap(),
    );
    assert_eq!(dry, "OK");
}

#[test]
fn a_read_only_user_reads_and_cannot_write() {
    let server = TestServer::start(|_| {});
    let mut admin = server.client();
    ok(&mut admin, &["SET", "k", "v"]);
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "dashboard",
            "on",
            ">look",
            "~*",
            "+@read",
            "+info",
            "+ping",
        ],
    );
    let mut c = server.client();
    ok(&mut c, &["HELLO", "3", "AUTH", "dashboard", "look"]);
    assert_eq!(text(cmd(&mut c, &["GET", "k"]).unwrap()), "v");
    ok(&mut c, &["INFO", "stats"]);
    assert!(refused(&mut c, &["SET", "k", "w"]).contains("'set'"));
    assert!(refused(&mut c, &["FLUSHALL"]).contains("'flushall'"));
    assert!(refused(&mut c, &["CONFIG", "SET", "maxclients", "5"]).contains("'config|set'"));
    let err = refused(&mut c, &["HELLO", "3", "AUTH", "dashboard", "nope"]);
    assert!(err.starts_with("WRONGPASS"), "{err}");
}

#[test]
fn requirepass_is_the_default_users_password() {
    let server = TestServer::start(|_| {});
    let mut admin = server.client();
    assert!(refused(&mut admin, &["AUTH", "x"]).contains("without any password configured"));
    ok(&mut admin, &["CONFIG", "SET", "requirepass", "s3cret"]);
    let mut c = server.client();
    assert!(refused(&mut c, &["GET", "k"]).starts_with("NOAUTH"));
    assert!(refused(&mut c, &["AUTH", "wrong"]).starts_with("WRONGPASS"));
    ok(&mut c, &["AUTH", "s3cret"]);
    ok(&mut c, &["AUTH", "default", "s3cret"]);
    let Value::Array(lines) = cmd(&mut c, &["ACL", "LIST"]).unwrap() else {
        panic!("ACL LIST is an array");
    };
    let default = text(lines[0].clone());
    assert!(default.starts_with("user default on #"), "{default}");
    ok(&mut c, &["CONFIG", "SET", "requirepass", ""]);
    let mut fresh = server.client();
    ok(&mut fresh, &["GET", "k"]);
}

#[test]
fn a_deleted_users_connections_are_closed_and_listed_users_killed() {
    let server = TestServer::start(|_| {});
    let mut admin = server.client();
    ok(
        &mut admin,
        &["ACL", "SETUSER", "temp", "on", "nopass", "+@all", "~*"],
    );
    let mut c = server.client();
    ok(&mut c, &["AUTH", "temp", "x"]);
    ok(&mut c, &["CLIENT", "SETNAME", "deathrow"]);
    let list = text(cmd(&mut admin, &["CLIENT", "LIST"]).unwrap());
    assert!(
        list.lines()
            .any(|l| l.contains("name=deathrow") && l.contains("user=temp")),
        "{list}"
    );
    assert!(refused(&mut admin, &["CLIENT", "KILL", "USER", "nosuch"]).contains("No such user"));
    assert_eq!(
        cmd(&mut admin, &["ACL", "DELUSER", "temp", "nosuch"]).unwrap(),
        Value::Int(1)
    );
    assert!(
        cmd(&mut c, &["PING"]).is_err(),
        "the deleted user's connection is closed"
    );
    assert!(refused(&mut admin, &["ACL", "DELUSER", "default"]).contains("cannot be removed"));
}

#[test]
fn the_acl_file_is_loaded_at_start_by_acl_load_and_written_by_acl_save() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("users.acl");
    std::fs::write(
        &acl,
        "user reader on >pw ~* +@read\n\nuser default on nopass ~* &* +@all\n",
    )
    .unwrap();
    let path = acl.clone();
    let server = TestServer::start(move |c| c.server.aclfile = Some(path));
    let mut admin = server.client();
    let mut c = server.client();
    ok(&mut c, &["AUTH", "reader", "pw"]);
    assert!(refused(&mut c, &["SET", "k", "v"]).contains("'set'"));
    ok(
        &mut admin,
        &["ACL", "SETUSER", "writer", "on", ">w", "~*", "+@write"],
    );
    ok(&mut admin, &["ACL", "SAVE"]);
    let saved = std::fs::read_to_string(&acl).unwrap();
    assert!(
        saved.lines().any(|l| l.starts_with("user writer on #")),
        "{saved}"
    );
    assert!(!saved.contains(">w"), "passwords are saved hashed: {saved}");
    // A broken file: ACL LOAD says where, and every user stays.
    std::fs::write(&acl, "user a on nopass\nuser b on +nosuch\n").unwrap();
    let err = refused(&mut admin, &["ACL", "LOAD"]);
    assert!(err.contains(":2:") && err.contains("+nosuch"), "{err}");
    ok(&mut c, &["AUTH", "writer", "w"]);
    std::fs::write(&acl, "user a on nopass +ping\n").unwrap();
    ok(&mut admin, &["ACL", "LOAD"]);
    let users = cmd(&mut admin, &["ACL", "USERS"]).unwrap();
    assert_eq!(
        users,
        Value::Array(vec![
            Value::BulkString(b"a".to_vec()),
            Value::BulkString(b"default".to_vec())
        ])
    );
    assert!(
        cmd(&mut c, &["PING"]).is_err(),
        "a removed user's connection is closed"
    );
    let mut fresh = server.client();
    assert!(refused(&mut fresh, &["AUTH", "writer", "w"]).starts_with("WRONGPASS"));
    ok(&mut fresh, &["AUTH", "a", "any"]);
    ok(&mut fresh, &["PING"]);
}

#[test]
fn a_broken_acl_file_stops_the_start_with_the_line_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("users.acl");
    std::fs::write(&acl, "user ok on nopass\nusr typo\n").unwrap();
    let mut config = goldylox_host::server::config::Config::embedded();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.cache.cold = None;
    config.cache.warm_bytes = 0;
    config.server.aclfile = Some(acl);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(goldylox_host::server::start(
            config,
            None,
            goldylox_sandbox::Runtime::shared().unwrap(),
        ))
        .err()
        .expect("the start fails");
    let message = format!("{err:#}");
    assert!(
        message.contains("users.acl:2") && message.contains("user keyword"),
        "{message}"
    );
}

#[test]
fn a_reload_reads_the_acl_file_again_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("users.acl");
    std::fs::write(&acl, "user one on >1 ~* +@all\n").unwrap();
    let toml = dir.path().join("goldylox.toml");
    std::fs::write(
        &toml,
        format!(
            "[server]\naclfile = \"{}\"\n[cache]\nwarm_bytes = 0\n[cache.cold]\nenabled = false\n",
            acl.display()
        ),
    )
    .unwrap();
    let server = TestServer::start_from(Some(toml), |_| {});
    let mut admin = server.client();
    let mut c = server.client();
    ok(&mut c, &["AUTH", "one", "1"]);
    std::fs::write(&acl, "user two on >2 ~* +@all\n").unwrap();
    let lines = cmd(&mut admin, &["GOLDYLOX", "RELOAD"]).unwrap();
    assert!(format!("{lines:?}").contains("users loaded"), "{lines:?}");
    let mut fresh = server.client();
    ok(&mut fresh, &["AUTH", "two", "2"]);
    assert!(refused(&mut fresh, &["AUTH", "one", "1"]).starts_with("WRONGPASS"));
    std::fs::write(&acl, "user three on +bogus\n").unwrap();
    let err = refused(&mut admin, &["GOLDYLOX", "RELOAD"]);
    assert!(
        err.contains("server.aclfile") && err.contains("+bogus"),
        "{err}"
    );
    ok(&mut fresh, &["AUTH", "two", "2"]);
}

/// Whether a connection named `name` is listed.
fn listed(admin: &mut redis::Connection, name: &str) -> bool {
    let list = text(cmd(admin, &["CLIENT", "LIST"]).unwrap());
    list.contains(&format!(" name={name} "))
}

/// Whether the connection named `name` leaves the list, within a bound (a
/// kill lands when the connection's task sees it).
fn leaves(admin: &mut redis::Connection, name: &str) -> bool {
    (0..500).any(|_| {
        let gone = !listed(admin, name);
        if !gone {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        gone
    })
}

#[test]
fn subscribers_lose_their_connection_with_their_channel_permission() {
    let server = TestServer::start(|_| {});
    let mut admin = server.client();
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "psuser",
            "on",
            ">pspass",
            "+@all",
            "resetchannels",
            "&foo:1",
            "&bar:*",
            "&orders",
        ],
    );
    let subscriber = |name: &str, subscribe: &[&str]| {
        let mut c = server.client();
        ok(&mut c, &["AUTH", "psuser", "pspass"]);
        ok(&mut c, &["CLIENT", "SETNAME", name]);
        let mut request = redis::cmd(subscribe[0]);
        subscribe[1..].iter().for_each(|a| {
            request.arg(*a);
        });
        request.exec(&mut c).unwrap();
        c
    };
    let _pardoned = subscriber("pardoned", &["SUBSCRIBE", "foo:1"]);
    let _pattern = subscriber("pattern", &["PSUBSCRIBE", "bar:*"]);
    // Literal permissions kept, more added: nobody is dropped.
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "psuser",
            "resetchannels",
            "&foo:1",
            "&bar:*",
            "&baz",
        ],
    );
    assert!(listed(&mut admin, "pardoned") && listed(&mut admin, "pattern"));
    ok(&mut admin, &["ACL", "SETUSER", "psuser", "allchannels"]);
    assert!(listed(&mut admin, "pardoned"));
    // The pattern goes: its subscriber goes; the other stays.
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "psuser",
            "resetchannels",
            "&foo:1",
            "&bar:1",
        ],
    );
    assert!(
        !listed(&mut admin, "pattern"),
        "the pattern's subscriber is closed"
    );
    assert!(listed(&mut admin, "pardoned"));
    ok(&mut admin, &["ACL", "SETUSER", "psuser", "resetchannels"]);
    assert!(leaves(&mut admin, "pardoned"));
    // Subscribing to what is not allowed is refused.
    let mut c = server.client();
    ok(&mut c, &["AUTH", "psuser", "pspass"]);
    assert!(refused(&mut c, &["SUBSCRIBE", "foo:1"]).contains("channels"));
}

#[test]
fn denials_are_counted_in_info_and_the_log_is_bounded() {
    let server = TestServer::start(|_| {});
    let mut admin = server.client();
    ok(
        &mut admin,
        &[
            "ACL", "SETUSER", "u", "on", "nopass", "+get", "+publish", "~a*",
        ],
    );
    let mut c = server.client();
    refused(&mut c, &["AUTH", "nosuch", "x"]);
    ok(&mut c, &["AUTH", "u", "x"]);
    refused(&mut c, &["SET", "a", "1"]);
    refused(&mut c, &["GET", "b"]);
    refused(&mut c, &["PUBLISH", "ch", "m"]);
    let info = text(cmd(&mut admin, &["INFO", "stats"]).unwrap());
    for line in [
        "acl_access_denied_auth:1",
        "acl_access_denied_cmd:1",
        "acl_access_denied_key:1",
        "acl_access_denied_channel:1",
    ] {
        assert!(info.contains(line), "{line} in {info}");
    }
    ok(&mut admin, &["CONFIG", "RESETSTAT"]);
    let info = text(cmd(&mut admin, &["INFO", "stats"]).unwrap());
    assert!(info.contains("acl_access_denied_cmd:0"), "{info}");
    ok(&mut admin, &["CONFIG", "SET", "acllog-max-len", "2"]);
    let Value::Array(entries) = cmd(&mut admin, &["ACL", "LOG"]).unwrap() else {
        panic!("ACL LOG is an array");
    };
    assert_eq!(entries.len(), 2, "the oldest entries are dropped");
}

/// `ACL CAT category` as command names (Redis lists a container's
/// subcommands, `client|kill`: the container's name stands for them).
fn category_members(
    c: &mut redis::Connection,
    category: &str,
) -> std::collections::BTreeSet<String> {
    let names: Vec<String> = redis::cmd("ACL").arg("CAT").arg(category).query(c).unwrap();
    names
        .into_iter()
        .map(|n| n.split('|').next().unwrap().to_owned())
        .collect()
}

/// Every category holds the commands redis-server 7.0 puts in it, among
/// the commands both implement, but where goldylox's categories are per
/// command and Redis's per subcommand (a container in any of its
/// subcommands' categories) — the differences named below.
#[test]
fn categories_hold_the_commands_redis_server_puts_in_them() {
    let Some(reference) = crate::serve_differential::Reference::start(false) else {
        return;
    };
    let server = TestServer::start(|_| {});
    let (mut ours, mut theirs) = (server.client(), reference.connection());
    let all: Vec<String> = redis::cmd("ACL").arg("CAT").query(&mut theirs).unwrap();
    let ours_all: Vec<String> = redis::cmd("ACL").arg("CAT").query(&mut ours).unwrap();
    assert_eq!(
        ours_all[..all.len()],
        all[..],
        "Redis's categories, in its order"
    );
    // Implemented by both: known to both, less the types goldylox does not
    // support (their commands only answer so).
    let theirs_names: Vec<String> = redis::cmd("COMMAND")
        .arg("LIST")
        .query(&mut theirs)
        .unwrap();
    let shared: std::collections::BTreeSet<String> = {
        let names: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut ours).unwrap();
        names
            .into_iter()
            .filter(|n| theirs_names.contains(n))
            .filter(|n| !(n.starts_with("geo") || n.starts_with("pf") || n.starts_with('x')))
            .collect()
    };
    // Per command here, per subcommand there: CLUSTER's changes are admin
    // in Redis, its SLOTS and INFO (which cluster clients need) are not;
    // FUNCTION's LOAD, DELETE, FLUSH and RESTORE write, its LIST does not.
    let known: &[(&str, &str)] = &[
        ("admin", "cluster"),
        ("dangerous", "cluster"),
        ("write", "function"),
    ];
    let (mut compared, mut differ) = (0, Vec::new());
    for category in &all {
        let (a, b) = (
            category_members(&mut ours, category),
            category_members(&mut theirs, category),
        );
        for name in &shared {
            if known.contains(&(category.as_str(), name.as_str())) {
                continue;
            }
            if a.contains(name) != b.contains(name) {
                differ.push(format!("@{category} {name}: ours {}", a.contains(name)));
            }
            compared += 1;
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
    println!("{compared} (category, command) pairs equal redis-server's");
}
