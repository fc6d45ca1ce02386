//! The libraries scripts see besides Lua's own: `redis` (all but `call`
//! and `pcall`, which `vm.rs` adds) and `bit` (LuaBitOp's functions on
//! 32-bit integers); `cjson.rs`, `msgpack.rs` and `structs.rs` hold the
//! others.

use mlua::{Lua, MultiValue, Table, Value};

/// The protocol `redis.call` speaks to commands (`redis.setresp`): 2 or 3.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resp(pub(super) u8);

use crate::server::{REDIS_VERSION, REDIS_VERSION_NUM};

/// The calling user's permissions, for `redis.acl_check_cmd` (set for
/// each run).
pub(super) struct CallerPermits(pub(super) super::Permits);

/// `redis.acl_check_cmd(command, arg …)`: whether the user running the
/// script may run that request (Redis 7.0).
fn acl_check_cmd(lua: &Lua, args: MultiValue) -> mlua::Result<bool> {
    let mut request = Vec::with_capacity(args.len());
    for arg in args {
        request.push(match arg {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(n) => n.to_string().into_bytes(),
            // As `redis.call` turns a number into an argument (`%.17g`).
            Value::Number(n) => crate::server::resp::reply::g17(n).into_bytes(),
            _ => {
                return Err(raised(
                    lua,
                    "Lua redis lib command arguments must be strings or integers",
                ));
            }
        });
    }
    let permits = lua.app_data_ref::<CallerPermits>();
    match permits.and_then(|p| (p.0.0)(&request)) {
        Some(allowed) => Ok(allowed),
        None => Err(raised(
            lua,
            "Invalid command passed to redis.acl_check_cmd()",
        )),
    }
}

/// `redis.*`.
pub(super) fn redis_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "error_reply",
        lua.create_function(|lua, message: Value| reply_table(lua, "err", message, "error_reply"))?,
    )?;
    t.raw_set(
        "status_reply",
        lua.create_function(|lua, message: Value| reply_table(lua, "ok", message, "status_reply"))?,
    )?;
    t.raw_set(
        "sha1hex",
        lua.create_function(|_, args: MultiValue| {
            let args = args.into_vec();
            let [Value::String(s)] = args.as_slice() else {
                return Err(mlua::Error::RuntimeError(
                    "wrong number of arguments".to_owned(),
                ));
            };
            Ok(sha1_smol::Sha1::from(&*s.as_bytes()).digest().to_string())
        })?,
    )?;
    t.raw_set("log", lua.create_function(log)?)?;
    t.raw_set("acl_check_cmd", lua.create_function(acl_check_cmd)?)?;
    t.raw_set(
        "setresp",
        lua.create_function(|lua, version: i64| match version {
            2 | 3 => {
                lua.set_app_data(Resp(version as u8));
                Ok(())
            }
            _ => Err(mlua::Error::RuntimeError(
                "RESP version must be 2 or 3.".to_owned(),
            )),
        })?,
    )?;
    t.raw_set(
        "set_repl",
        lua.create_function(|_, flags: i64| {
            if (0..=3).contains(&flags) {
                Ok(())
            } else {
                Err(mlua::Error::RuntimeError(
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
                        .to_owned(),
                ))
            }
        })?,
    )?;
    t.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    t.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    t.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    for (name, value) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        t.raw_set(name, value)?;
    }
    t.raw_set("REDIS_VERSION", REDIS_VERSION)?;
    t.raw_set("REDIS_VERSION_NUM", REDIS_VERSION_NUM)?;
    Ok(t)
}

/// `{err=message}` or `{ok=message}` for `redis.error_reply` and
/// `redis.status_reply`.
fn reply_table(lua: &Lua, field: &str, message: Value, name: &str) -> mlua::Result<Table> {
    let Value::String(message) = message else {
        return Err(mlua::Error::RuntimeError(format!(
            "wrong number or type of arguments to redis.{name}"
        )));
    };
    let t = lua.create_table()?;
    if field == "err" {
        t.raw_set(field, lua.create_string(error_text(&message.as_bytes()))?)?;
    } else {
        t.raw_set(field, message)?;
    }
    Ok(t)
}

/// `redis.error_reply`'s message as Redis 7 shapes it: a leading `-` is
/// dropped, and a message that is a single word (or empty) is given the
/// code `ERR`, since every error has a code.
fn error_text(message: &[u8]) -> Vec<u8> {
    let text = message.strip_prefix(b"-").unwrap_or(message);
    let text = text.strip_suffix(b"\r\n").unwrap_or(text);
    if text.contains(&b' ') {
        text.to_vec()
    } else {
        [b"ERR ".as_slice(), text].concat()
    }
}

/// `redis.log(level, message, …)`: to the server's log.
fn log(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    let mut args = args.into_iter();
    let level = match args.next() {
        Some(Value::Integer(n)) => n,
        Some(Value::Number(n)) => n as i64,
        _ => {
            return Err(mlua::Error::RuntimeError(
                "redis.log() requires two arguments or more.".to_owned(),
            ));
        }
    };
    let text: Vec<String> = args
        .map(|v| match v {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            Value::Integer(n) => n.to_string(),
            Value::Number(n) => n.to_string(),
            other => other.type_name().to_owned(),
        })
        .collect();
    if text.is_empty() {
        return Err(mlua::Error::RuntimeError(
            "redis.log() requires two arguments or more.".to_owned(),
        ));
    }
    let level = match level {
        0 => log::Level::Debug,
        1 | 2 => log::Level::Info,
        3 => log::Level::Warn,
        _ => return Err(mlua::Error::RuntimeError("Invalid debug level.".to_owned())),
    };
    log::log!(target: "goldylox::script", level, "{}", text.join(" "));
    Ok(())
}

/// A Lua number as LuaBitOp normalises it: the low 32 bits, signed.
fn tobit(n: f64) -> i32 {
    (n as i64) as i32
}

fn number_arg(v: &Value) -> mlua::Result<f64> {
    match v {
        Value::Integer(n) => Ok(*n as f64),
        Value::Number(n) => Ok(*n),
        Value::String(s) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| mlua::Error::RuntimeError("bad argument (number expected)".to_owned())),
        _ => Err(mlua::Error::RuntimeError(
            "bad argument (number expected)".to_owned(),
        )),
    }
}

fn bits(args: &MultiValue) -> mlua::Result<Vec<i32>> {
    args.iter().map(|v| number_arg(v).map(tobit)).collect()
}

/// `bit.*`, as LuaBitOp defines them.
pub(super) fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    type Fold = fn(i32, i32) -> i32;
    let folds: [(&str, Fold); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, op) in folds {
        t.raw_set(
            name,
            lua.create_function(move |_, args: MultiValue| {
                let v = bits(&args)?;
                Ok(f64::from(v.into_iter().reduce(op).unwrap_or(0)))
            })?,
        )?;
    }
    t.raw_set(
        "tobit",
        lua.create_function(|_, n: Value| Ok(f64::from(tobit(number_arg(&n)?))))?,
    )?;
    t.raw_set(
        "bnot",
        lua.create_function(|_, n: Value| Ok(f64::from(!tobit(number_arg(&n)?))))?,
    )?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, n: Value| Ok(f64::from(tobit(number_arg(&n)?).swap_bytes())))?,
    )?;
    type Shift = fn(i32, u32) -> i32;
    let shifts: [(&str, Shift); 5] = [
        ("lshift", |a, n| ((a as u32) << n) as i32),
        ("rshift", |a, n| ((a as u32) >> n) as i32),
        ("arshift", |a, n| a >> n),
        ("rol", |a, n| (a as u32).rotate_left(n) as i32),
        ("ror", |a, n| (a as u32).rotate_right(n) as i32),
    ];
    for (name, op) in shifts {
        t.raw_set(
            name,
            lua.create_function(move |_, (a, n): (Value, Value)| {
                let (a, n) = (tobit(number_arg(&a)?), tobit(number_arg(&n)?) as u32 & 31);
                Ok(f64::from(op(a, n)))
            })?,
        )?;
    }
    t.raw_set(
        "tohex",
        lua.create_function(|_, (a, n): (Value, Option<Value>)| {
            let a = tobit(number_arg(&a)?) as u32;
            let n = match n {
                Some(n) => tobit(number_arg(&n)?),
                None => 8,
            };
            let width = n.unsigned_abs().min(8) as usize;
            let hex = format!("{a:08x}");
            let hex = &hex[8 - width..];
            Ok(if n < 0 {
                hex.to_uppercase()
            } else {
                hex.to_owned()
            })
        })?,
    )?;
    Ok(t)
}

/// Where the Lua code that called the running library function stands
/// (`user_script:3: `), as `luaL_error` prefixes its messages; empty when
/// a C function (`pcall`) called it.
fn caller_position(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| match (d.source().short_src, d.current_line()) {
        (Some(src), Some(line)) if line > 0 => format!("{src}:{line}: "),
        _ => String::new(),
    })
    .unwrap_or_default()
}

/// A library function's error as `luaL_error` raises it: prefixed with
/// its caller's position.
pub(super) fn raised(lua: &Lua, message: &str) -> mlua::Error {
    mlua::Error::RuntimeError(format!("{}{message}", caller_position(lua)))
}

/// A library function's argument error as `luaL_argerror` raises it:
/// `bad argument #N to 'name' (message)`, the name as the caller knows the
/// function (`?` when it cannot tell, as under `pcall`).
pub(super) fn arg_error(lua: &Lua, n: usize, message: &str) -> mlua::Error {
    let name = lua
        .inspect_stack(0, |d| d.names().name.map(|n| n.into_owned()))
        .flatten()
        .unwrap_or_else(|| "?".to_owned());
    raised(lua, &format!("bad argument #{n} to '{name}' ({message})"))
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn error_replies_always_have_a_code() {
        let shaped = |m: &str| String::from_utf8(error_text(m.as_bytes())).unwrap();
        assert_eq!(shaped("MY_CODE custom msg"), "MY_CODE custom msg");
        assert_eq!(shaped("-MY_CODE custom msg"), "MY_CODE custom msg");
        assert_eq!(shaped("oops"), "ERR oops");
        assert_eq!(shaped(""), "ERR ");
        assert_eq!(shaped("-"), "ERR ");
    }
}
