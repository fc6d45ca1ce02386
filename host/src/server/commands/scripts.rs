//! `EVAL`, `EVALSHA`, `EVAL_RO`, `EVALSHA_RO` and `SCRIPT`: the command
//! side of [`crate::server::scripting`]. The commands a script calls run
//! through [`execute`] on the calling connection, after the checks Redis
//! makes of a script's commands.

use bytes::BytesMut;

use super::{Ctx, execute, lower, parse_i64, table};
use crate::server::keyspace::Reader;
use crate::server::resp::reply;
use crate::server::scripting::{Invocation, Source};

/// `EVAL script numkeys [key …] [arg …]` and its `SHA` and `_RO` forms.
pub(super) fn eval(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let name = lower(&args[0]);
    let invocation = match invocation(c, args, "ERR value is not an integer or out of range") {
        Ok(invocation) => invocation,
        Err(message) => return reply::error(c.out, message),
    };
    let source = if name.starts_with("evalsha") {
        Source::Sha(&args[1])
    } else {
        Source::Body(&args[1])
    };
    let reader = c.client.tracking.reader(c.client.connection.id);
    c.client.script_read = false;
    let (server, out) = (c.server, &mut *c.out);
    let mut caller = script_caller(c.store, c.server, c.client);
    server.scripts().eval(source, &invocation, &mut caller, out);
    drop(caller);
    track_declared_keys(c, reader, invocation.keys);
}

/// After a script that called a read-only command, its declared keys are
/// tracked for a client with tracking on (Redis's rule).
fn track_declared_keys(c: &mut Ctx<'_>, reader: Reader, keys: &[Vec<u8>]) {
    if std::mem::take(&mut c.client.script_read) {
        c.server
            .keyspace()
            .remember(reader, keys.iter().map(Vec::as_slice));
    }
}

/// `FCALL function numkeys [key …] [arg …]` and `FCALL_RO`.
pub(super) fn fcall(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let invocation = match invocation(c, args, "ERR Bad number of keys provided") {
        Ok(invocation) => invocation,
        Err(message) => return reply::error(c.out, message),
    };
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    let reader = c.client.tracking.reader(c.client.connection.id);
    c.client.script_read = false;
    let (server, out) = (c.server, &mut *c.out);
    let mut caller = script_caller(c.store, c.server, c.client);
    server.scripts().fcall(&name, &invocation, &mut caller, out);
    drop(caller);
    track_declared_keys(c, reader, invocation.keys);
}

/// The call `args` (`EVAL`/`FCALL` and their forms) makes: its keys after
/// the count at `args[2]`, then its arguments; or the error for a bad
/// count (`not_a_count` when it is no number).
fn invocation<'a>(
    c: &Ctx<'_>,
    args: &'a [Vec<u8>],
    not_a_count: &'static str,
) -> Result<Invocation<'a>, &'static str> {
    let numkeys = parse_i64(&args[2]).ok_or(not_a_count)?;
    if numkeys < 0 {
        return Err("ERR Number of keys can't be negative");
    }
    if numkeys as usize > args.len() - 3 {
        return Err("ERR Number of keys can't be greater than number of args");
    }
    let (keys, argv) = args[3..].split_at(numkeys as usize);
    Ok(Invocation {
        command: args,
        keys,
        argv,
        read_only: lower(&args[0]).ends_with("_ro"),
        limits: c.server.script_limits(),
        permits: super::acl::permits(&c.client.user.user),
    })
}

/// Runs a script's commands on the calling connection, after the checks
/// Redis makes of them.
fn script_caller<'c>(
    store: &'c super::Store,
    server: &'c dyn super::Server,
    client: &'c mut super::Client,
) -> impl FnMut(&mut [Vec<u8>], bool, bool, &mut BytesMut) -> Result<bool, String> + 'c {
    move |request, resp3, read_only, out| {
        let spec = table::lookup(&request[0])
            .ok_or_else(|| "ERR Unknown Redis command called from script".to_owned())?;
        let flags = table::subcommand_flags(spec, request.get(1).map(Vec::as_slice));
        if flags & table::NO_SCRIPT != 0 {
            return Err("ERR This Redis command is not allowed from script".to_owned());
        }
        if !spec.accepts(request.len()) {
            return Err("ERR Wrong number of args calling Redis command from script".to_owned());
        }
        let writes = spec.flags & table::WRITE != 0;
        if read_only && (writes || spec.flags & table::MAY_REPLICATE != 0) {
            return Err("ERR Write commands are not allowed from read-only scripts.".to_owned());
        }
        let resp3_before = std::mem::replace(&mut client.resp3, resp3);
        client.in_script = true;
        execute(store, server, client, request, out);
        client.in_script = false;
        client.resp3 = resp3_before;
        Ok(writes)
    }
}

/// `FUNCTION LOAD|DELETE|FLUSH|LIST|STATS|KILL|DUMP|RESTORE|HELP`.
pub(super) fn function(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let scripts = c.server.scripts();
    let out = &mut *c.out;
    let done = |out: &mut BytesMut, r: Result<(), String>| match r {
        Ok(()) => reply::ok(out),
        Err(message) => reply::error(out, &message),
    };
    match (lower(&args[1]).as_str(), args.len()) {
        ("load", n) if n >= 3 => {
            let replace = match &args[2..n - 1] {
                [] => false,
                [word] if word.eq_ignore_ascii_case(b"replace") => true,
                [word, ..] => {
                    return reply::error(
                        out,
                        &format!(
                            "ERR Unknown option given: {}",
                            String::from_utf8_lossy(word)
                        ),
                    );
                }
            };
            match scripts.function_load(&args[n - 1], replace) {
                Ok(name) => reply::bulk(out, name.as_bytes()),
                Err(message) => reply::error(out, &message),
            }
        }
        ("delete", 3) => done(
            out,
            scripts.function_delete(&String::from_utf8_lossy(&args[2])),
        ),
        ("flush", 2 | 3) => {
            if args.len() == 3 && !matches!(lower(&args[2]).as_str(), "sync" | "async") {
                return reply::error(out, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            }
            scripts.function_flush();
            reply::ok(out);
        }
        ("kill", 2) => done(out, scripts.kill(true).map_err(str::to_owned)),
        ("list", _) => function_list(scripts, &args[2..], out),
        ("stats", 2) => function_stats(scripts, out),
        ("dump", 2) => reply::bulk(out, &scripts.function_dump()),
        ("restore", 3 | 4) => {
            let policy = match args.get(3).map(|p| lower(p)).as_deref() {
                None | Some("append") => crate::server::scripting::RestorePolicy::Append,
                Some("replace") => crate::server::scripting::RestorePolicy::Replace,
                Some("flush") => crate::server::scripting::RestorePolicy::Flush,
                Some(_) => {
                    return reply::error(
                        out,
                        "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                    );
                }
            };
            done(out, scripts.function_restore(&args[2], policy));
        }
        // Redis checks these two counts itself, with this message.
        (sub @ ("restore" | "flush"), _) => reply::error(
            out,
            &format!(
                "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try FUNCTION HELP."
            ),
        ),
        (sub @ ("load" | "delete" | "kill" | "stats" | "dump"), _) => {
            super::arity_error(out, &format!("function|{sub}"))
        }
        _ => reply::error(
            out,
            &format!(
                "ERR unknown subcommand '{}'. Try FUNCTION HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}

/// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`.
fn function_list(
    scripts: &crate::server::scripting::Scripts,
    options: &[Vec<u8>],
    out: &mut BytesMut,
) {
    let (mut pattern, mut with_code) = (None, false);
    let mut i = 0;
    while i < options.len() {
        match lower(&options[i]).as_str() {
            "withcode" if !with_code => with_code = true,
            "libraryname" if pattern.is_none() => {
                let Some(name) = options.get(i + 1) else {
                    return reply::error(out, "ERR library name argument was not given");
                };
                pattern = Some(name.as_slice());
                i += 1;
            }
            _ => {
                let arg = String::from_utf8_lossy(&options[i]);
                return reply::error(out, &format!("ERR Unknown argument {arg}"));
            }
        }
        i += 1;
    }
    let libraries = scripts.function_list(pattern);
    reply::array(out, libraries.len());
    for lib in libraries {
        reply::map(out, if with_code { 4 } else { 3 });
        reply::bulk(out, b"library_name");
        reply::bulk(out, lib.name.as_bytes());
        reply::bulk(out, b"engine");
        reply::bulk(out, b"LUA");
        reply::bulk(out, b"functions");
        reply::array(out, lib.functions.len());
        for (name, (description, flags)) in &lib.functions {
            reply::map(out, 3);
            reply::bulk(out, b"name");
            reply::bulk(out, name.as_bytes());
            reply::bulk(out, b"description");
            match description {
                Some(d) => reply::bulk(out, d.as_bytes()),
                None => reply::nil(out),
            }
            reply::bulk(out, b"flags");
            reply::set(out, flags.len());
            for f in flags {
                reply::bulk(out, f.as_bytes());
            }
        }
        if with_code {
            reply::bulk(out, b"library_code");
            reply::bulk(out, &lib.code);
        }
    }
}

/// `FUNCTION STATS`: the running function and the engine's counts.
fn function_stats(scripts: &crate::server::scripting::Scripts, out: &mut BytesMut) {
    let (running, libraries, functions) = scripts.function_stats();
    reply::map(out, 2);
    reply::bulk(out, b"running_script");
    match running {
        None => reply::nil(out),
        Some((name, command, ms)) => {
            reply::map(out, 3);
            reply::bulk(out, b"name");
            reply::bulk(out, name.as_bytes());
            reply::bulk(out, b"command");
            reply::array(out, command.len());
            for word in &command {
                reply::bulk(out, word);
            }
            reply::bulk(out, b"duration_ms");
            reply::int(out, ms as i64);
        }
    }
    reply::bulk(out, b"engines");
    reply::map(out, 1);
    reply::bulk(out, b"LUA");
    reply::map(out, 2);
    reply::bulk(out, b"libraries_count");
    reply::int(out, libraries as i64);
    reply::bulk(out, b"functions_count");
    reply::int(out, functions as i64);
}

/// `SCRIPT LOAD|EXISTS|FLUSH|KILL|HELP`.
pub(super) fn script(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let scripts = c.server.scripts();
    match (lower(&args[1]).as_str(), args.len()) {
        ("load", 3) => match scripts.load(&args[2]) {
            Ok(sha) => reply::bulk(c.out, sha.as_bytes()),
            Err(message) => reply::error(c.out, &message),
        },
        ("exists", n) if n >= 3 => {
            reply::array(c.out, n - 2);
            for sha in &args[2..] {
                reply::int(c.out, i64::from(scripts.exists(sha)));
            }
        }
        ("flush", 2) => {
            scripts.flush();
            reply::ok(c.out);
        }
        ("flush", 3) => match lower(&args[2]).as_str() {
            "sync" | "async" => {
                scripts.flush();
                reply::ok(c.out);
            }
            _ => reply::error(c.out, "ERR SCRIPT FLUSH only support SYNC|ASYNC option"),
        },
        ("kill", 2) => match scripts.kill(false) {
            Ok(()) => reply::ok(c.out),
            Err(message) => reply::error(c.out, message),
        },
        ("help", 2) => {
            let lines = [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
            ];
            reply::array(c.out, lines.len());
            for line in lines {
                reply::simple(c.out, line);
            }
        }
        (sub @ ("load" | "exists" | "flush" | "kill"), _) => {
            super::arity_error(c.out, &format!("script|{sub}"))
        }
        _ => reply::error(
            c.out,
            &format!(
                "ERR unknown subcommand '{}'. Try SCRIPT HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}
