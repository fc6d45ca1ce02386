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
    error_bytes(out, message.as_bytes());
}

/// An error (`-CODE message`) of any bytes (a script's `error_reply` may
/// hold bytes that are not UTF-8, which Redis sends as they are); line
/// breaks become spaces.
pub fn error_bytes(out: &mut BytesMut, message: &[u8]) {
    out.put_u8(b'-');
    out.extend(
        message
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
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

/// Text meant for people (`LATENCY DOCTOR`, `MEMORY DOCTOR`): a RESP3
/// verbatim string of format `txt`, RESP2's bulk string.
pub fn verbatim(out: &mut BytesMut, text: &str) {
    if resp3() {
        out.put_u8(b'=');
        out.put_slice(itoa((text.len() + 4) as i64).as_bytes());
        out.put_slice(b"\r\ntxt:");
        out.put_slice(text.as_bytes());
        out.put_slice(b"\r\n");
    } else {
        bulk(out, text.as_bytes());
    }
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

/// A boolean (RESP3 `#t`/`#f`; RESP2: the integer 1 or 0).
pub fn boolean(out: &mut BytesMut, b: bool) {
    match (resp3(), b) {
        (true, true) => out.put_slice(b"#t\r\n"),
        (true, false) => out.put_slice(b"#f\r\n"),
        (false, b) => int(out, i64::from(b)),
    }
}

/// A double (RESP3 `,…`; RESP2: a bulk string), printed as Redis 7.0's
/// `addReplyDouble` prints one ([`g17`]).
pub fn double(out: &mut BytesMut, d: f64) {
    let text = g17(d);
    if resp3() {
        out.put_u8(b',');
        out.put_slice(text.as_bytes());
        out.put_slice(b"\r\n");
    } else {
        bulk(out, text.as_bytes());
    }
}

/// `d` as C's `printf("%.17g")` prints it (what Redis 7.0 answers for a
/// score): 17 significant digits, trailing zeros dropped, an exponent
/// below 1e-4 and from 1e17 on; `inf`, `-inf`, `nan`, `-0` as such.
pub fn g17(d: f64) -> String {
    g(d, 17)
}

/// `d` as C's `printf("%.{precision}g")` prints it (`precision` from 1
/// to 17): that many significant digits, trailing zeros dropped, an
/// exponent below 1e-4 and from 10^precision on.
pub fn g(d: f64, precision: usize) -> String {
    let precision = precision.clamp(1, 17);
    if d.is_nan() {
        return "nan".to_owned();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let text = format!("{d:.prec$e}", prec = precision - 1);
    let (mantissa, exp) = text.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("an integer exponent");
    let sign = if d < 0.0 { "-" } else { "" };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..precision as i32).contains(&exp) {
        let kept = digits.trim_end_matches('0');
        let (first, rest) = kept.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}{rest}e{esign}{:02}", exp.abs());
    }
    if exp >= 0 {
        let (int, frac) = digits.split_at(exp as usize + 1);
        let frac = frac.trim_end_matches('0');
        return if frac.is_empty() {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        };
    }
    let frac = format!("{}{digits}", "0".repeat((-exp - 1) as usize));
    format!("{sign}0.{}", frac.trim_end_matches('0'))
}

/// A big number (RESP3 `(…`; RESP2: a bulk string).
pub fn big_number(out: &mut BytesMut, digits: &[u8]) {
    if resp3() {
        out.put_u8(b'(');
        out.put_slice(digits);
        out.put_slice(b"\r\n");
    } else {
        bulk(out, digits);
    }
}

/// A RESP3 push header (`>n`): an unrequested message of `n` elements.
pub fn push(out: &mut BytesMut, n: usize) {
    out.put_u8(b'>');
    out.put_slice(itoa(n as i64).as_bytes());
    out.put_slice(b"\r\n");
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

#[cfg(test)]
mod tests {
    use super::g17;

    #[test]
    fn doubles_print_as_printf_17g() {
        for (d, want) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (-2.5, "-2.5"),
            (1e20, "1e+20"),
            (1.25e-5, "1.2500000000000001e-05"),
            (0.00012, "0.00012"),
            (123456789.0, "123456789"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(g17(d), want, "{d}");
        }
    }
}
