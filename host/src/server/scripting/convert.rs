//! Redis's conversion rules between replies and Lua values, both ways.
//!
//! A command called from a script writes its reply in RESP (2, or 3 after
//! `redis.setresp(3)`) as it would for a client; [`reply_to_lua`] reads that
//! back into Lua: integers become numbers, bulk strings strings, arrays
//! tables, a null `false` (RESP3: `nil`), a status `{ok=…}`, an error
//! `{err=…}`, and RESP3's maps, sets, doubles, booleans and big numbers
//! `{map=…}`, `{set=…}`, `{double=…}`, booleans and `{big_number=…}`.
//! [`lua_to_reply`] writes a script's result for the caller: numbers are
//! truncated to integers, `true` is 1 and `false` null (in RESP3 scripts:
//! booleans), a table is an array up to its first nil unless it holds
//! `err`, `ok`, `map`, `set`, `double` or `big_number`. Tables are read raw
//! (no metamethods run), and nesting deeper than [`MAX_DEPTH`] is cut.

use bytes::BytesMut;
use mlua::{Lua, Table, Value};

use crate::server::resp::reply;

/// Deepest table nesting converted to a reply; deeper levels become an
/// error reply (Redis: "reached lua stack limit"). The conversion recurses
/// once per level on the serving thread, whose stack may be tokio's 2 MiB
/// default when the server is embedded: 256 levels stay well within it,
/// even unoptimised.
pub(super) const MAX_DEPTH: usize = 256;

/// Reads one reply from `buf` at `*at` into a Lua value.
pub(super) fn reply_to_lua(lua: &Lua, buf: &[u8], at: &mut usize) -> mlua::Result<Value> {
    let kind = *buf.get(*at).ok_or_else(truncated)?;
    let line = line(buf, at)?;
    let text = &line[1..];
    let value = match kind {
        b'+' => tagged(lua, "ok", Value::String(lua.create_string(text)?))?,
        b'-' => tagged(lua, "err", Value::String(lua.create_string(text)?))?,
        b':' => Value::Number(number(text)? as f64),
        b'$' | b'=' => {
            let n = number(text)?;
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let end = *at + n as usize;
            let bytes = buf.get(*at..end).ok_or_else(truncated)?;
            *at = end + 2;
            if kind == b'$' {
                Value::String(lua.create_string(bytes)?)
            } else {
                verbatim(lua, bytes)?
            }
        }
        b'*' | b'~' | b'>' => {
            let n = number(text)?;
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let items = lua.create_table_with_capacity(n as usize, 0)?;
            for i in 1..=n {
                let item = reply_to_lua(lua, buf, at)?;
                if kind == b'~' {
                    items.raw_set(item, true)?;
                } else {
                    items.raw_set(i, item)?;
                }
            }
            if kind == b'~' {
                tagged(lua, "set", Value::Table(items))?
            } else {
                Value::Table(items)
            }
        }
        b'%' => {
            let map = lua.create_table()?;
            for _ in 0..number(text)? {
                let k = reply_to_lua(lua, buf, at)?;
                let v = reply_to_lua(lua, buf, at)?;
                map.raw_set(k, v)?;
            }
            tagged(lua, "map", Value::Table(map))?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(text == b"t"),
        b',' => {
            let d: f64 = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(truncated)?;
            tagged(lua, "double", Value::Number(d))?
        }
        b'(' => tagged(lua, "big_number", Value::String(lua.create_string(text)?))?,
        _ => return Err(truncated()),
    };
    Ok(value)
}

fn verbatim(lua: &Lua, bytes: &[u8]) -> mlua::Result<Value> {
    let (format, string) = if bytes.len() >= 4 && bytes[3] == b':' {
        (&bytes[..3], &bytes[4..])
    } else {
        (&b"txt"[..], bytes)
    };
    let t = lua.create_table()?;
    t.raw_set("format", lua.create_string(format)?)?;
    t.raw_set("string", lua.create_string(string)?)?;
    tagged(lua, "verbatim_string", Value::Table(t))
}

/// `{name = value}`.
fn tagged(lua: &Lua, name: &str, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(name, value)?;
    Ok(Value::Table(t))
}

/// The line at `*at` (without CRLF), moving past it.
fn line<'b>(buf: &'b [u8], at: &mut usize) -> mlua::Result<&'b [u8]> {
    let rest = &buf[*at..];
    let end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(truncated)?;
    *at += end + 2;
    Ok(&rest[..end])
}

fn number(text: &[u8]) -> mlua::Result<i64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(truncated)
}

fn truncated() -> mlua::Error {
    mlua::Error::RuntimeError("ERR a command's reply could not be read".to_owned())
}

/// Writes `value`, a script's result, as the reply. `resp3_script`: the
/// script chose RESP3 (`redis.setresp(3)`), which changes how booleans
/// convert.
pub(super) fn lua_to_reply(out: &mut BytesMut, value: &Value, resp3_script: bool) {
    write(out, value, resp3_script, 0);
}

fn write(out: &mut BytesMut, value: &Value, resp3_script: bool, depth: usize) {
    if depth > MAX_DEPTH {
        return reply::error(out, "ERR reached lua stack limit");
    }
    match value {
        Value::Boolean(true) if resp3_script => reply::boolean(out, true),
        Value::Boolean(false) if resp3_script => reply::boolean(out, false),
        Value::Boolean(true) => reply::int(out, 1),
        Value::Integer(n) => reply::int(out, *n),
        Value::Number(n) => reply::int(out, truncate(*n)),
        Value::String(s) => reply::bulk(out, &s.as_bytes()),
        Value::Table(t) => write_table(out, t, resp3_script, depth),
        _ => reply::nil(out),
    }
}

/// A Lua number as Redis turns it into an integer: C's `(long long)`
/// cast, which on x86 gives the smallest integer for anything out of range
/// (and NaN), where Rust's `as` would saturate.
fn truncate(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn write_table(out: &mut BytesMut, t: &Table, resp3_script: bool, depth: usize) {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(e) = field("err") {
        let text = e.as_bytes();
        return reply::error_bytes(out, text.strip_prefix(b"-").unwrap_or(&text));
    }
    if let Value::String(s) = field("ok") {
        return reply::simple(
            out,
            &String::from_utf8_lossy(&s.as_bytes()).replace(['\r', '\n'], " "),
        );
    }
    if let Value::Number(d) = field("double") {
        return reply::double(out, d);
    }
    if let Value::Integer(d) = field("double") {
        return reply::double(out, d as f64);
    }
    if let Value::String(s) = field("big_number") {
        return reply::big_number(out, &s.as_bytes());
    }
    if let Value::Table(m) = field("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().flatten().collect();
        reply::map(out, pairs.len());
        for (k, v) in &pairs {
            write(out, k, resp3_script, depth + 1);
            write(out, v, resp3_script, depth + 1);
        }
        return;
    }
    if let Value::Table(s) = field("set") {
        let members: Vec<Value> = s
            .pairs::<Value, Value>()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        reply::set(out, members.len());
        for m in &members {
            write(out, m, resp3_script, depth + 1);
        }
        return;
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    reply::array(out, items.len());
    for item in &items {
        write(out, item, resp3_script, depth + 1);
    }
}

/// The bytes of a RESP error reply at the start of `buf`, if it is one.
pub(super) fn error_of(buf: &[u8]) -> Option<String> {
    let rest = buf.strip_prefix(b"-")?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// Appends a RESP bulk header and body (for tests of the parser).
#[cfg(test)]
fn bulk(out: &mut BytesMut, s: &[u8]) {
    use bytes::BufMut;
    out.put_slice(format!("${}\r\n", s.len()).as_bytes());
    out.put_slice(s);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use mlua::{Lua, Table, Value};

    use super::{bulk, lua_to_reply, reply_to_lua};
    use crate::server::resp::reply;

    fn read(lua: &Lua, bytes: &[u8]) -> Value {
        let mut at = 0;
        let v = reply_to_lua(lua, bytes, &mut at).unwrap();
        assert_eq!(at, bytes.len(), "the whole reply is read");
        v
    }

    #[test]
    fn replies_become_lua_values_as_in_redis() {
        let lua = Lua::new();
        assert!(matches!(read(&lua, b":42\r\n"), Value::Number(n) if n == 42.0));
        assert!(matches!(read(&lua, b"$-1\r\n"), Value::Boolean(false)));
        assert!(matches!(read(&lua, b"*-1\r\n"), Value::Boolean(false)));
        assert!(matches!(read(&lua, b"_\r\n"), Value::Nil));
        let Value::Table(ok) = read(&lua, b"+OK\r\n") else {
            panic!("a status is a table")
        };
        assert_eq!(ok.get::<String>("ok").unwrap(), "OK");
        let mut arr = BytesMut::from(&b"*3\r\n:1\r\n"[..]);
        bulk(&mut arr, b"two\r\nlines");
        arr.extend_from_slice(b"*1\r\n-ERR x\r\n");
        let Value::Table(t) = read(&lua, &arr) else {
            panic!("an array is a table")
        };
        assert_eq!(t.raw_len(), 3);
        assert_eq!(t.get::<String>(2).unwrap(), "two\r\nlines");
        let inner: Table = t.get(3).unwrap();
        let err: Table = inner.get(1).unwrap();
        assert_eq!(err.get::<String>("err").unwrap(), "ERR x");
        let Value::Table(m) = read(&lua, b"%1\r\n+k\r\n,1.5\r\n") else {
            panic!("a map is a table")
        };
        assert!(m.get::<Table>("map").is_ok());
    }

    #[test]
    fn lua_values_become_replies_as_in_redis() {
        let lua = Lua::new();
        let reply = |chunk: &str, resp3: bool| {
            let v: Value = lua.load(chunk).eval().unwrap();
            let mut out = BytesMut::new();
            reply::with_protocol(resp3, || lua_to_reply(&mut out, &v, resp3));
            String::from_utf8(out.to_vec()).unwrap()
        };
        assert_eq!(reply("return 100.5", false), ":100\r\n");
        assert_eq!(reply("return true", false), ":1\r\n");
        assert_eq!(reply("return false", false), "$-1\r\n");
        assert_eq!(reply("return true", true), "#t\r\n");
        assert_eq!(reply("return {ok='fine'}", false), "+fine\r\n");
        assert_eq!(reply("return {err='ERR bad'}", false), "-ERR bad\r\n");
        assert_eq!(
            reply("return {1,'a',{2},nil,5}", false),
            "*3\r\n:1\r\n$1\r\na\r\n*1\r\n:2\r\n"
        );
        let meta = "local a = {}; setmetatable(a,{__index=function() error('x') end}) return a";
        assert_eq!(reply(meta, false), "*0\r\n", "no metamethod runs");
    }
}
