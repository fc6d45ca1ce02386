//! Appends replies to an output buffer, in the protocol the connection
//! speaks: RESP2, or RESP3 after `HELLO 3`. Nulls, maps, pairs and sets differ in
//! what the commands answer; [`with_protocol`] sets which, for the
//! duration of one command (handlers run synchronously, so the setting is
//! per thread and never crosses an `await`).

use std::cell::Cell;

use bytes::{BufMut, BytesMut};

thread_local! {
    static RESP3: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with replies in RESP3 (`resp3`) or RESP2.
pub fn with_protocol<R>(resp3: bool, f: impl FnOnce() -> R) -> R {
    let before = RESP3.replace(resp3);
    let result = f();
    RESP3.set(before);
    result
}

fn resp3() -> bool {
    RESP3.get()
}

/// `+OK`.
pub fn ok(out: &mut BytesMut) {
    out.put_slice(b"+OK\r\n");
}

/// A simple string (`+…`); `s` must not contain CR or LF.
pub fn simple(out: &mut BytesMut, s: &str) {
    out.put_u8(b'+');
    out.put_slice(s.as_bytes());
    out.put_slice(b"\r\n");
}

/// An error (`-…`): `message` starts with its code, e.g. `ERR …`.
pub fn error(out: &mut BytesMut, message: &str) {
    out.put_u8(b'-');
    out.put_slice(message.replace(['\r', '\n'], " ").as_bytes());
    out.put_slice(b"\r\n");
}

/// An integer (`:…`).
pub fn int(out: &mut BytesMut, n: i64) {
    out.put_u8(b':');
    out.put_slice(itoa(n).as_bytes());
    out.put_slice(b"\r\n");
}

/// A bulk string (`$len` + bytes).
pub fn bulk(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u8(b'$');
    out.put_slice(itoa(bytes.len() as i64).as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

/// The null bulk string (`$-1`; RESP3: `_`).
pub fn nil(out: &mut BytesMut) {
    out.put_slice(if resp3() { &b"_\r\n"[..] } else { b"$-1\r\n" });
}

/// The null array (`*-1`; RESP3: `_`).
pub fn nil_array(out: &mut BytesMut) {
    out.put_slice(if resp3() { &b"_\r\n"[..] } else { b"*-1\r\n" });
}

/// A map header for `n` key–value pairs (RESP3 `%n`; RESP2: an array
/// of `2n` elements); keys and values follow alternately.
pub fn map(out: &mut BytesMut, n: usize) {
    if resp3() {
        out.put_u8(b'%');
        out.put_slice(itoa(n as i64).as_bytes());
        out.put_slice(b"\r\n");
    } else {
        array(out, 2 * n);
    }
}

/// A header for a list of `n` pairs (RESP3: an array of `n` two-element
/// arrays, each opened by [`pair_header`]; RESP2: one flat array).
pub fn pairs(out: &mut BytesMut, n: usize) {
    array(out, if resp3() { n } else { 2 * n });
}

/// Opens one pair of a [`pairs`] list (nothing in RESP2).
pub fn pair_header(out: &mut BytesMut) {
    if resp3() {
        array(out, 2);
    }
}

/// A set header for `n` elements (RESP3 `~n`; RESP2: an array).
pub fn set(out: &mut BytesMut, n: usize) {
    if resp3() {
        out.put_u8(b'~');
        out.put_slice(itoa(n as i64).as_bytes());
        out.put_slice(b"\r\n");
    } else {
        array(out, n);
    }
}

/// An array header (`*n`); the `n` elements follow.
pub fn array(out: &mut BytesMut, n: usize) {
    out.put_u8(b'*');
    out.put_slice(itoa(n as i64).as_bytes());
    out.put_slice(b"\r\n");
}

fn itoa(n: i64) -> String {
    n.to_string()
}
