//! `cmsgpack`: MessagePack as Redis's bundled lua-cmsgpack writes and reads
//! it. Numbers that are whole and fit 64 bits are integers in the smallest
//! encoding, others doubles (or floats when a float holds them exactly);
//! a table whose keys are 1..n is an array, any other a map; nesting past
//! 16 levels is written as nil (so a table that refers to itself packs to a
//! finite copy, as lua-cmsgpack's does).

use mlua::{Lua, MultiValue, Table, Value};

/// lua-cmsgpack's nesting limit.
const MAX_NESTING: usize = 16;

/// `cmsgpack.*`.
pub(super) fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(runtime("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                pack(&mut out, v, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut at = 0;
            let mut values = Vec::new();
            while at < bytes.len() {
                values.push(unpack(lua, &bytes, &mut at)?);
            }
            Ok(MultiValue::from_vec(values))
        })?,
    )?;
    let limited =
        |lua: &Lua, s: mlua::String, limit: usize, offset: i64| -> mlua::Result<MultiValue> {
            let bytes = s.as_bytes();
            let mut at = usize::try_from(offset).map_err(|_| runtime("Offset must be positive"))?;
            let mut values = Vec::new();
            while at < bytes.len() && (limit == 0 || values.len() < limit) {
                values.push(unpack(lua, &bytes, &mut at)?);
            }
            let next = if at >= bytes.len() { -1 } else { at as i64 };
            let mut out = vec![Value::Number(next as f64)];
            out.extend(values);
            Ok(MultiValue::from_vec(out))
        };
    t.raw_set(
        "unpack_one",
        lua.create_function(move |lua, (s, offset): (mlua::String, Option<i64>)| {
            limited(lua, s, 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(
            move |lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
                limited(lua, s, limit.max(0) as usize, offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(t)
}

fn runtime(message: &str) -> mlua::Error {
    mlua::Error::RuntimeError(message.to_owned())
}

fn pack(out: &mut Vec<u8>, v: &Value, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => pack_int(out, *n),
        Value::Number(n) => pack_number(out, *n),
        Value::String(s) => pack_str(out, &s.as_bytes()),
        Value::Table(t) if depth < MAX_NESTING => pack_table(out, t, depth)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn pack_number(out: &mut Vec<u8>, n: f64) {
    if n.fract() == 0.0 && n >= i64::MIN as f64 && n < i64::MAX as f64 {
        pack_int(out, n as i64);
    } else if f64::from(n as f32) == n || n.is_nan() {
        out.push(0xca);
        out.extend((n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend(n.to_be_bytes());
    }
}

fn pack_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let n = n as u64;
        match n {
            0..=0x7f => out.push(n as u8),
            0x80..=0xff => out.extend([0xcc, n as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend((n as u32).to_be_bytes());
            }
            _ => {
                out.push(0xcf);
                out.extend(n.to_be_bytes());
            }
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend([0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend((n as i16).to_be_bytes());
    } else if n >= -(1 << 31) {
        out.push(0xd2);
        out.extend((n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend(n.to_be_bytes());
    }
}

fn pack_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend([0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend((n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// A header for a container of `n` items: fix form, 16 or 32 bits.
fn pack_len(out: &mut Vec<u8>, n: usize, fix: u8, wide: u8) {
    if n < 16 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(wide);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend((n as u32).to_be_bytes());
    }
}

fn pack_table(out: &mut Vec<u8>, t: &Table, depth: usize) -> mlua::Result<()> {
    // Pairs are walked twice rather than collected: each value held from
    // Rust takes a slot of Lua's auxiliary stack, which a table of 100,000
    // entries would exhaust.
    let len = t.raw_len();
    let (mut count, mut is_array) = (0, true);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        count += 1;
        is_array &= match k {
            Value::Integer(i) => i >= 1 && i as usize <= len,
            Value::Number(n) => n.fract() == 0.0 && n >= 1.0 && n as usize <= len,
            _ => false,
        };
    }
    if is_array && count == len {
        pack_len(out, len, 0x90, 0xdc);
        for i in 1..=len {
            pack(out, &t.raw_get::<Value>(i)?, depth + 1)?;
        }
    } else {
        pack_len(out, count, 0x80, 0xde);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            pack(out, &k, depth + 1)?;
            pack(out, &v, depth + 1)?;
        }
    }
    Ok(())
}

fn take<'b>(bytes: &'b [u8], at: &mut usize, n: usize) -> mlua::Result<&'b [u8]> {
    let end = at
        .checked_add(n)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| runtime("Missing bytes in input."))?;
    let slice = &bytes[*at..end];
    *at = end;
    Ok(slice)
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, &b| acc << 8 | u64::from(b))
}

fn unpack(lua: &Lua, bytes: &[u8], at: &mut usize) -> mlua::Result<Value> {
    let tag = take(bytes, at, 1)?[0];
    let num = |n: f64| Ok(Value::Number(n));
    match tag {
        0x00..=0x7f => num(f64::from(tag)),
        0xe0..=0xff => num(f64::from(tag as i8)),
        0xa0..=0xbf => string(lua, take(bytes, at, usize::from(tag & 0x1f))?),
        0x90..=0x9f => array(lua, bytes, at, usize::from(tag & 0x0f)),
        0x80..=0x8f => map(lua, bytes, at, usize::from(tag & 0x0f)),
        0xc0 => Ok(Value::Nil),
        0xc2 => Ok(Value::Boolean(false)),
        0xc3 => Ok(Value::Boolean(true)),
        0xca => num(f64::from(f32::from_bits(be(take(bytes, at, 4)?) as u32))),
        0xcb => num(f64::from_bits(be(take(bytes, at, 8)?))),
        0xcc..=0xcf => {
            let width = 1 << (tag - 0xcc);
            num(be(take(bytes, at, width)?) as f64)
        }
        0xd0 => num(f64::from(take(bytes, at, 1)?[0] as i8)),
        0xd1 => num(f64::from(be(take(bytes, at, 2)?) as u16 as i16)),
        0xd2 => num(f64::from(be(take(bytes, at, 4)?) as u32 as i32)),
        0xd3 => num(be(take(bytes, at, 8)?) as i64 as f64),
        0xd9 | 0xc4 => {
            let n = usize::from(take(bytes, at, 1)?[0]);
            string(lua, take(bytes, at, n)?)
        }
        0xda | 0xc5 => {
            let n = be(take(bytes, at, 2)?) as usize;
            string(lua, take(bytes, at, n)?)
        }
        0xdb | 0xc6 => {
            let n = be(take(bytes, at, 4)?) as usize;
            string(lua, take(bytes, at, n)?)
        }
        0xdc => {
            let n = be(take(bytes, at, 2)?) as usize;
            array(lua, bytes, at, n)
        }
        0xdd => {
            let n = be(take(bytes, at, 4)?) as usize;
            array(lua, bytes, at, n)
        }
        0xde => {
            let n = be(take(bytes, at, 2)?) as usize;
            map(lua, bytes, at, n)
        }
        0xdf => {
            let n = be(take(bytes, at, 4)?) as usize;
            map(lua, bytes, at, n)
        }
        _ => Err(runtime("Bad data format in input.")),
    }
}

fn string(lua: &Lua, bytes: &[u8]) -> mlua::Result<Value> {
    Ok(Value::String(lua.create_string(bytes)?))
}

fn array(lua: &Lua, bytes: &[u8], at: &mut usize, n: usize) -> mlua::Result<Value> {
    // Each item takes at least one byte: a count past what is left is bad.
    if n > bytes.len() - *at {
        return Err(runtime("Missing bytes in input."));
    }
    let t = lua.create_table_with_capacity(n, 0)?;
    for i in 1..=n {
        t.raw_set(i, unpack(lua, bytes, at)?)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, bytes: &[u8], at: &mut usize, n: usize) -> mlua::Result<Value> {
    if n > (bytes.len() - *at) / 2 {
        return Err(runtime("Missing bytes in input."));
    }
    let t = lua.create_table_with_capacity(0, n)?;
    for _ in 0..n {
        let k = unpack(lua, bytes, at)?;
        let v = unpack(lua, bytes, at)?;
        if !matches!(k, Value::Nil) {
            t.raw_set(k, v)?;
        }
    }
    Ok(Value::Table(t))
}
