//! `cjson`: lua-cjson 2.1 as Redis bundles it. `encode` and `decode` with
//! its rules (a table whose keys are all positive integers is an array,
//! holes as `null`, an excessively sparse one refused; any other table is
//! an object; numbers as `%.14g`; `/` escaped), `cjson.null`, and its
//! settings (`encode_max_depth`, `decode_max_depth`,
//! `encode_invalid_numbers`, `decode_invalid_numbers`,
//! `encode_sparse_array`, `encode_number_precision`, `encode_keep_buffer`),
//! which last for the interpreter's life, as in Redis.

use std::sync::{Arc, Mutex, MutexGuard};

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use crate::server::resp::reply;

/// What `NaN` and infinities become when encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invalid {
    /// An error (the default).
    Refuse,
    /// `nan`, `inf`, `-inf` (not JSON, as lua-cjson writes them).
    Write,
    /// `null`.
    Null,
}

/// lua-cjson's settings, with its defaults.
#[derive(Debug, Clone)]
struct Config {
    encode_max_depth: u32,
    decode_max_depth: u32,
    encode_invalid: Invalid,
    decode_invalid: bool,
    sparse_convert: bool,
    sparse_ratio: u32,
    sparse_safe: u32,
    precision: u32,
    keep_buffer: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid: Invalid::Refuse,
            decode_invalid: true,
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            precision: 14,
            keep_buffer: true,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

fn lock(config: &Shared) -> MutexGuard<'_, Config> {
    config.lock().unwrap_or_else(|e| e.into_inner())
}

fn error<T>(message: impl Into<String>) -> mlua::Result<T> {
    Err(mlua::Error::RuntimeError(message.into()))
}

/// cjson's null: a light userdata holding no pointer.
pub(super) fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table.
pub(super) fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let config: Shared = Arc::default();
    t.raw_set("null", null())?;
    let c = Arc::clone(&config);
    t.raw_set(
        "encode",
        lua.create_function(move |lua, v: Value| {
            let config = lock(&c).clone();
            let mut out = Vec::new();
            encode(&config, &v, 0, &mut out).map_err(|e| positioned(lua, e))?;
            lua.create_string(&out)
        })?,
    )?;
    let c = Arc::clone(&config);
    t.raw_set(
        "decode",
        lua.create_function(move |lua, s: mlua::String| {
            let config = lock(&c).clone();
            let bytes = s.as_bytes();
            Decoder {
                lua,
                config: &config,
                text: &bytes,
                at: 0,
            }
            .document()
            .map_err(|e| positioned(lua, e))
        })?,
    )?;
    settings(lua, &t, &config)?;
    Ok(t)
}

/// An error of `encode` or `decode` as lua-cjson raises it (`luaL_error`:
/// with the caller's position).
fn positioned(lua: &Lua, e: mlua::Error) -> mlua::Error {
    match e {
        mlua::Error::RuntimeError(message) => super::libs::raised(lua, &message),
        other => other,
    }
}

/// A setting's argument: `true`/`false`/`"on"`/`"off"` (and `"null"` where
/// allowed).
fn switch(v: &Value, allow_null: bool) -> mlua::Result<Option<Invalid>> {
    let text = match v {
        Value::Nil => return Ok(None),
        Value::Boolean(true) => "on".to_owned(),
        Value::Boolean(false) => "off".to_owned(),
        Value::String(s) => s.to_string_lossy(),
        _ => return error("bad argument #1 (invalid option)"),
    };
    match text.as_str() {
        "on" => Ok(Some(Invalid::Write)),
        "off" => Ok(Some(Invalid::Refuse)),
        "null" if allow_null => Ok(Some(Invalid::Null)),
        _ => error(format!("bad argument #1 (invalid option '{text}')")),
    }
}

fn integer(v: &Value, min: u32, max: u32) -> mlua::Result<Option<u32>> {
    let n = match v {
        Value::Nil => return Ok(None),
        Value::Integer(n) => *n as f64,
        Value::Number(n) => *n,
        _ => return error("bad argument #1 (number expected)"),
    };
    if n < min as f64 || n > max as f64 {
        return error(format!(
            "bad argument #1 (expected integer between {min} and {max})"
        ));
    }
    Ok(Some(n as u32))
}

fn setting(
    lua: &Lua,
    t: &Table,
    name: &str,
    config: &Shared,
    apply: impl Fn(&Lua, &mut Config, &MultiValue) -> mlua::Result<MultiValue> + Send + 'static,
) -> mlua::Result<()> {
    let c = Arc::clone(config);
    t.raw_set(
        name,
        lua.create_function(move |lua, args: MultiValue| apply(lua, &mut lock(&c), &args))?,
    )
}

fn settings(lua: &Lua, t: &Table, config: &Shared) -> mlua::Result<()> {
    fn arg(args: &MultiValue, i: usize) -> Value {
        args.get(i).cloned().unwrap_or(Value::Nil)
    }
    fn one(v: Value) -> MultiValue {
        MultiValue::from_vec(vec![v])
    }
    fn depth(v: u32) -> MultiValue {
        one(Value::Integer(v.into()))
    }
    setting(lua, t, "encode_max_depth", config, move |_, c, a| {
        if let Some(n) = integer(&arg(a, 0), 1, i32::MAX as u32)? {
            c.encode_max_depth = n;
        }
        Ok(depth(c.encode_max_depth))
    })?;
    setting(lua, t, "decode_max_depth", config, move |_, c, a| {
        if let Some(n) = integer(&arg(a, 0), 1, i32::MAX as u32)? {
            c.decode_max_depth = n;
        }
        Ok(depth(c.decode_max_depth))
    })?;
    setting(lua, t, "encode_number_precision", config, move |_, c, a| {
        if let Some(n) = integer(&arg(a, 0), 1, 14)? {
            c.precision = n;
        }
        Ok(depth(c.precision))
    })?;
    setting(lua, t, "encode_keep_buffer", config, move |_, c, a| {
        if let Some(on) = switch(&arg(a, 0), false)? {
            c.keep_buffer = on == Invalid::Write;
        }
        Ok(one(Value::Boolean(c.keep_buffer)))
    })?;
    setting(lua, t, "decode_invalid_numbers", config, move |_, c, a| {
        if let Some(on) = switch(&arg(a, 0), false)? {
            c.decode_invalid = on == Invalid::Write;
        }
        Ok(one(Value::Boolean(c.decode_invalid)))
    })?;
    setting(
        lua,
        t,
        "encode_invalid_numbers",
        config,
        move |lua, c, a| {
            if let Some(mode) = switch(&arg(a, 0), true)? {
                c.encode_invalid = mode;
            }
            Ok(one(match c.encode_invalid {
                Invalid::Refuse => Value::Boolean(false),
                Invalid::Write => Value::Boolean(true),
                Invalid::Null => Value::String(lua.create_string("null")?),
            }))
        },
    )?;
    setting(lua, t, "encode_sparse_array", config, move |_, c, a| {
        if let Some(on) = switch(&arg(a, 0), false)? {
            c.sparse_convert = on == Invalid::Write;
        }
        if let Some(n) = integer(&arg(a, 1), 0, i32::MAX as u32)? {
            c.sparse_ratio = n;
        }
        if let Some(n) = integer(&arg(a, 2), 0, i32::MAX as u32)? {
            c.sparse_safe = n;
        }
        Ok(MultiValue::from_vec(vec![
            Value::Boolean(c.sparse_convert),
            Value::Integer(c.sparse_ratio.into()),
            Value::Integer(c.sparse_safe.into()),
        ]))
    })
}

fn number(config: &Config, n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if n.is_finite() {
        out.extend_from_slice(reply::g(n, config.precision as usize).as_bytes());
        return Ok(());
    }
    match config.encode_invalid {
        Invalid::Refuse => error("Cannot serialise number: must not be NaN or Inf"),
        Invalid::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Invalid::Write => {
            out.extend_from_slice(reply::g(n, 14).as_bytes());
            Ok(())
        }
    }
}

fn string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..0x20 | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// A table's array length by lua-cjson's rule: `Some(max)` when every key
/// is a positive integer (and the array is not too sparse), `None` for an
/// object.
fn array_length(config: &Config, t: &Table) -> mlua::Result<Option<usize>> {
    let (mut max, mut count) = (0usize, 0usize);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if n < 1.0 || n.fract() != 0.0 {
            return Ok(None);
        }
        max = max.max(n as usize);
        count += 1;
    }
    let (ratio, safe) = (config.sparse_ratio as usize, config.sparse_safe as usize);
    if ratio > 0 && max > safe && max > count * ratio {
        if config.sparse_convert {
            return Ok(None);
        }
        return error("Cannot serialise table: excessively sparse array");
    }
    Ok((max > 0).then_some(max))
}

fn encode(config: &Config, v: &Value, depth: u32, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => number(config, *n as f64, out)?,
        Value::Number(n) => number(config, *n, out)?,
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > config.encode_max_depth {
                return error(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_length(config, t)? {
                Some(len) => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode(config, &t.raw_get::<Value>(i)?, depth, out)?;
                    }
                    out.push(b']');
                }
                None => object(config, t, depth, out)?,
            }
        }
        other => {
            return error(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ));
        }
    }
    Ok(())
}

fn object(config: &Config, t: &Table, depth: u32, out: &mut Vec<u8>) -> mlua::Result<()> {
    out.push(b'{');
    let mut first = true;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        if !first {
            out.push(b',');
        }
        first = false;
        match &k {
            Value::String(s) => string(&s.as_bytes(), out),
            Value::Integer(n) => string(reply::g(*n as f64, 14).as_bytes(), out),
            Value::Number(n) => string(reply::g(*n, 14).as_bytes(), out),
            _ => return error("Cannot serialise table: table key must be a number or string"),
        }
        out.push(b':');
        encode(config, &v, depth, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// A recursive-descent JSON reader that builds Lua values as it goes.
struct Decoder<'a> {
    lua: &'a Lua,
    config: &'a Config,
    text: &'a [u8],
    at: usize,
}

impl Decoder<'_> {
    /// A malformed string: lua-cjson reports it as an invalid token.
    fn invalid<T>(&self) -> mlua::Result<T> {
        error(format!(
            "Expected value but found invalid token at character {}",
            self.at + 1
        ))
    }

    /// lua-cjson's "Expected WHAT but found TOKEN at character N", the
    /// token being the one at the reading position.
    fn fail<T>(&mut self, what: &str) -> mlua::Result<T> {
        self.blank();
        let rest = &self.text[self.at.min(self.text.len())..];
        let found = match rest.first() {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b'"') => "T_STRING",
            Some(b':') => "T_COLON",
            Some(b',') => "T_COMMA",
            Some(b'-' | b'0'..=b'9') => "T_NUMBER",
            _ if rest.starts_with(b"true") || rest.starts_with(b"false") => "T_BOOLEAN",
            _ if rest.starts_with(b"null") => "T_NULL",
            _ => "invalid token",
        };
        error(format!(
            "Expected {what} but found {found} at character {}",
            self.at + 1
        ))
    }

    fn blank(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn document(mut self) -> mlua::Result<Value> {
        let v = self.value(0)?;
        self.blank();
        if self.at < self.text.len() {
            return self.fail("the end");
        }
        Ok(v)
    }

    fn value(&mut self, depth: u32) -> mlua::Result<Value> {
        self.blank();
        let rest = &self.text[self.at..];
        match rest.first() {
            Some(b'{') | Some(b'[') => {
                let depth = depth + 1;
                if depth > self.config.decode_max_depth {
                    return error(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        self.at + 1
                    ));
                }
                if rest[0] == b'{' {
                    self.object(depth)
                } else {
                    self.array(depth)
                }
            }
            Some(b'"') => Ok(Value::String(self.lua.create_string(self.string()?)?)),
            _ if rest.starts_with(b"true") => self.word(4, Value::Boolean(true)),
            _ if rest.starts_with(b"false") => self.word(5, Value::Boolean(false)),
            _ if rest.starts_with(b"null") => self.word(4, null()),
            _ => self.number(),
        }
    }

    fn word(&mut self, len: usize, v: Value) -> mlua::Result<Value> {
        self.at += len;
        Ok(v)
    }

    fn number(&mut self) -> mlua::Result<Value> {
        let start = self.at;
        let rest = &self.text[start..];
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'a'..=b'z' | b'A'..=b'Z'))
            .unwrap_or(rest.len());
        let token = std::str::from_utf8(&rest[..len]).unwrap_or("");
        let lower = token.to_ascii_lowercase();
        let invalid = matches!(
            lower.trim_start_matches(['-', '+']),
            "nan" | "inf" | "infinity"
        );
        let parsed = if invalid && !self.config.decode_invalid {
            None
        } else {
            let plain = token.starts_with(|c: char| c == '-' || c.is_ascii_digit());
            lower.parse::<f64>().ok().filter(|_| plain || invalid)
        };
        match parsed {
            Some(n) if len > 0 => {
                self.at += len;
                Ok(Value::Number(n))
            }
            _ => self.fail("value"),
        }
    }

    fn string(&mut self) -> mlua::Result<Vec<u8>> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.text.get(self.at) else {
                return error(format!(
                    "Expected value but found unexpected end of string at character {}",
                    self.at + 1
                ));
            };
            self.at += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => self.escape(&mut out)?,
                _ => out.push(b),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> mlua::Result<()> {
        let Some(&e) = self.text.get(self.at) else {
            return self.invalid();
        };
        self.at += 1;
        let plain = match e {
            b'"' | b'\\' | b'/' => e,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let c = self.unicode()?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            _ => return self.invalid(),
        };
        out.push(plain);
        Ok(())
    }

    fn hex4(&mut self) -> mlua::Result<u32> {
        let digits = self.text.get(self.at..self.at + 4);
        let n = digits
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        match n {
            Some(n) => {
                self.at += 4;
                Ok(n)
            }
            None => self.invalid(),
        }
    }

    fn unicode(&mut self) -> mlua::Result<char> {
        let high = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&high) {
            if self.text.get(self.at..self.at + 2) != Some(b"\\u") {
                return self.invalid();
            }
            self.at += 2;
            let low = self.hex4()?;
            if !(0xdc00..0xe000).contains(&low) {
                return self.invalid();
            }
            0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
        } else {
            high
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => self.invalid(),
        }
    }

    fn array(&mut self, depth: u32) -> mlua::Result<Value> {
        self.at += 1;
        let t = self.lua.create_table()?;
        self.blank();
        if self.text.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Value::Table(t));
        }
        for i in 1.. {
            t.raw_set(i, self.value(depth)?)?;
            self.blank();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    break;
                }
                _ => return self.fail("comma or array end"),
            }
        }
        Ok(Value::Table(t))
    }

    fn object(&mut self, depth: u32) -> mlua::Result<Value> {
        self.at += 1;
        let t = self.lua.create_table()?;
        self.blank();
        if self.text.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Value::Table(t));
        }
        loop {
            self.blank();
            if self.text.get(self.at) != Some(&b'"') {
                return self.fail("object key string");
            }
            let key = self.string()?;
            self.blank();
            if self.text.get(self.at) != Some(&b':') {
                return self.fail("colon");
            }
            self.at += 1;
            t.raw_set(self.lua.create_string(&key)?, self.value(depth)?)?;
            self.blank();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    break;
                }
                _ => return self.fail("comma or object end"),
            }
        }
        Ok(Value::Table(t))
    }
}
