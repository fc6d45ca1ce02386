//! `struct`: Roberto Ierusalimschy's struct library as Redis bundles it —
//! `struct.pack(fmt, …)`, `struct.unpack(fmt, s [, pos])` and
//! `struct.size(fmt)`, converting Lua values to and from C-like binary
//! layouts.
//!
//! A format is a sequence of options: `>` big-endian, `<` little-endian,
//! `=` native (little-endian here), `![n]` alignment up to `n` (native, 8,
//! without a number); `x` a pad byte; `b`/`B` signed/unsigned char,
//! `h`/`H` short, `l`/`L` long and `T` size_t (8 bytes), `i[n]`/`I[n]` an
//! int of `n` bytes (4 by default); `f` float, `d` double; `s` a
//! zero-terminated string; `c[n]` a fixed-size string (`c0`: its whole
//! length when packing, the previous unpacked number when unpacking).
//! Spaces are ignored.

use mlua::{Lua, MultiValue, Table, Value};

/// The widest integer option (`i32`); as in Redis's copy.
const MAX_INT_SIZE: usize = 32;
/// The native alignment `!` sets without a number.
const NATIVE_ALIGN: usize = 8;

/// Why a call failed, before it is worded as Lua words it.
enum Fail {
    /// `luaL_argerror`: argument `n` is wrong.
    Arg(usize, String),
    /// `luaL_error`.
    Error(String),
    /// From the interpreter itself.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Self {
        Fail::Lua(e)
    }
}

type Fallible<T> = Result<T, Fail>;

fn error<T>(message: impl Into<String>) -> Fallible<T> {
    Err(Fail::Error(message.into()))
}

fn arg<T>(n: usize, message: impl Into<String>) -> Fallible<T> {
    Err(Fail::Arg(n, message.into()))
}

/// Words `fail` as Lua would, for the function running in `lua`.
fn raise(lua: &Lua, fail: Fail) -> mlua::Error {
    match fail {
        Fail::Arg(n, message) => super::libs::arg_error(lua, n, &message),
        Fail::Error(message) => super::libs::raised(lua, &message),
        Fail::Lua(e) => e,
    }
}

/// The `struct` table.
pub(super) fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args| pack(lua, args).map_err(|f| raise(lua, f)))?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args| unpack(lua, args).map_err(|f| raise(lua, f)))?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|lua, fmt| size(fmt).map_err(|f| raise(lua, f)))?,
    )?;
    Ok(t)
}

/// One option read from a format.
struct Item {
    option: u8,
    size: usize,
}

/// Reads a format option by option, keeping endianness and alignment.
struct Format<'a> {
    fmt: &'a [u8],
    at: usize,
    little: bool,
    align: usize,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8]) -> Self {
        Format {
            fmt,
            at: 0,
            little: true,
            align: 1,
        }
    }

    /// The number after an option, if any.
    fn number(&mut self, default: usize) -> Fallible<usize> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut n: usize = 0;
        while let Some(&d) = self.fmt.get(self.at).filter(|d| d.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(d - b'0')))
                .filter(|&n| n <= i32::MAX as usize)
                .map_or_else(|| error("integral size overflow"), Ok)?;
            self.at += 1;
        }
        Ok(n)
    }

    /// The next data option (settings applied on the way), or `None` at
    /// the end.
    fn next(&mut self) -> Fallible<Option<Item>> {
        while let Some(&option) = self.fmt.get(self.at) {
            self.at += 1;
            let size = match option {
                b' ' => continue,
                b'>' | b'<' | b'=' => {
                    self.little = option != b'>';
                    continue;
                }
                b'!' => {
                    let a = self.number(NATIVE_ALIGN)?;
                    if !a.is_power_of_two() {
                        return arg(1, format!("alignment {a} is not a power of 2"));
                    }
                    self.align = a;
                    continue;
                }
                b'x' | b'b' | b'B' => 1,
                b'h' | b'H' => 2,
                b'l' | b'L' | b'T' | b'd' => 8,
                b'f' => 4,
                b's' => 0,
                b'c' => self.number(1)?,
                b'i' | b'I' => {
                    let n = self.number(4)?;
                    if n == 0 || n > MAX_INT_SIZE {
                        return error(format!(
                            "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                        ));
                    }
                    n
                }
                other => return arg(1, format!("invalid format option '{}'", other as char)),
            };
            return Ok(Some(Item { option, size }));
        }
        Ok(None)
    }

    /// Padding to put before `item` at offset `len`.
    fn padding(&self, item: &Item, len: usize) -> usize {
        if item.size <= 1 || item.option == b'c' {
            return 0;
        }
        let a = item.size.min(self.align);
        if !a.is_power_of_two() {
            return 0;
        }
        (a - (len & (a - 1))) & (a - 1)
    }
}

fn number_of(v: &Value, i: usize) -> Fallible<f64> {
    match v {
        Value::Integer(n) => Ok(*n as f64),
        Value::Number(n) => Ok(*n),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map_or_else(|| arg(i, "number expected"), Ok),
        Value::Nil => arg(i, "number expected, got nil"),
        other => arg(i, format!("number expected, got {}", other.type_name())),
    }
}

fn integer_bytes(n: f64, size: usize, little: bool, out: &mut Vec<u8>) {
    let v = if n < 0.0 { n as i64 } else { n as u64 as i64 };
    let fill = if v < 0 { 0xff } else { 0 };
    let mut bytes: Vec<u8> = (0..size)
        .map(|i| if i < 8 { (v >> (8 * i)) as u8 } else { fill })
        .collect();
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn pack(lua: &Lua, args: MultiValue) -> Fallible<mlua::String> {
    let mut args = args.into_iter();
    let fmt = match args.next() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => return arg(1, "string expected"),
    };
    let mut format = Format::new(&fmt);
    let mut out = Vec::new();
    let mut arg_at = 1;
    while let Some(item) = format.next()? {
        out.resize(out.len() + format.padding(&item, out.len()), 0);
        if item.option == b'x' {
            out.push(0);
            continue;
        }
        arg_at += 1;
        let value = args.next().unwrap_or(Value::Nil);
        match item.option {
            b'f' => {
                let n = number_of(&value, arg_at)? as f32;
                let b = if format.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            b'd' => {
                let n = number_of(&value, arg_at)?;
                let b = if format.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            b'c' | b's' => {
                let s = match &value {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(_) | Value::Number(_) => {
                        super::run::lua_number(number_of(&value, arg_at)?).into_bytes()
                    }
                    _ => return arg(arg_at, "string expected"),
                };
                let len = if item.option == b'c' && item.size > 0 {
                    if s.len() < item.size {
                        return arg(arg_at, "string too short");
                    }
                    item.size
                } else {
                    s.len()
                };
                out.extend_from_slice(&s[..len]);
                if item.option == b's' {
                    out.push(0);
                }
            }
            _ => integer_bytes(
                number_of(&value, arg_at)?,
                item.size,
                format.little,
                &mut out,
            ),
        }
    }
    Ok(lua.create_string(&out)?)
}

fn integer_value(bytes: &[u8], little: bool, signed: bool) -> Fallible<f64> {
    let mut b = bytes.to_vec();
    if !little {
        b.reverse();
    }
    let size = b.len();
    if size > 8 {
        let fill = if signed && b[7] & 0x80 != 0 { 0xff } else { 0 };
        if b[8..].iter().any(|&x| x != fill) {
            return error(format!("{size}-byte integer does not fit into Lua Integer"));
        }
        b.truncate(8);
    }
    let mut v: u64 = 0;
    for (i, &x) in b.iter().enumerate() {
        v |= u64::from(x) << (8 * i);
    }
    let width = b.len() * 8;
    if signed && width < 64 && v & (1 << (width - 1)) != 0 {
        v |= !0u64 << width;
    }
    Ok(if signed { v as i64 as f64 } else { v as f64 })
}

fn unpack(
    lua: &Lua,
    (fmt, data, pos): (mlua::String, mlua::String, Option<i64>),
) -> Fallible<MultiValue> {
    let (fmt, data) = (fmt.as_bytes().to_vec(), data.as_bytes().to_vec());
    let mut at = match pos {
        Some(p) if p < 1 => return arg(3, "offset must be 1 or greater"),
        Some(p) => p as usize - 1,
        None => 0,
    };
    let mut format = Format::new(&fmt);
    let mut values: Vec<Value> = Vec::new();
    while let Some(item) = format.next()? {
        at += format.padding(&item, at);
        let mut size = item.size;
        if item.option == b'c' && size == 0 {
            size = match values.pop() {
                Some(Value::Number(n)) if n >= 0.0 => n as usize,
                Some(Value::Integer(n)) if n >= 0 => n as usize,
                _ => return arg(2, "format 'c0' needs a previous size"),
            };
        }
        if item.option == b's' {
            let rest = data.get(at..).unwrap_or_default();
            let Some(end) = rest.iter().position(|&b| b == 0) else {
                return arg(2, "unfinished string in data");
            };
            values.push(Value::String(lua.create_string(&rest[..end])?));
            at += end + 1;
            continue;
        }
        let Some(bytes) = data.get(at..at + size) else {
            return arg(2, "data string too short");
        };
        let little = format.little;
        match item.option {
            b'x' => {}
            b'c' => values.push(Value::String(lua.create_string(bytes)?)),
            b'f' => {
                let b: [u8; 4] = bytes.try_into().expect("four bytes");
                let n = if little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                values.push(Value::Number(f64::from(n)));
            }
            b'd' => {
                let b: [u8; 8] = bytes.try_into().expect("eight bytes");
                let n = if little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                values.push(Value::Number(n));
            }
            option => {
                let signed = option.is_ascii_lowercase();
                values.push(Value::Number(integer_value(bytes, little, signed)?));
            }
        }
        at += size;
    }
    values.push(Value::Number((at + 1) as f64));
    Ok(MultiValue::from_vec(values))
}

fn size(fmt: mlua::String) -> Fallible<f64> {
    let fmt = fmt.as_bytes().to_vec();
    let mut format = Format::new(&fmt);
    let mut len = 0;
    while let Some(item) = format.next()? {
        if item.option == b's' || (item.option == b'c' && item.size == 0) {
            return arg(1, "options 'c0' - 's' have undefined sizes");
        }
        len += format.padding(&item, len) + item.size;
    }
    Ok(len as f64)
}
