//! Requests in (RESP2: every client sends RESP2 requests), replies out (RESP2,
//! or RESP3 after `HELLO 3`).
//!
//! The [`Parser`] is incremental: it consumes bytes from the connection's
//! buffer as soon as they form a whole token (a count line, or a complete
//! bulk argument), so it never re-scans and never holds more than one
//! partial line or one partial argument. Memory grows only as bytes arrive —
//! a client that declares a 512 MB bulk and sends ten bytes costs ten bytes
//! (Redis preallocates large bulks; this does not). Inline commands (a line
//! of space-separated words, with quotes) are accepted as Redis accepts them.
//! Limits and error texts follow Redis 7.

use std::fmt;

use bytes::{Buf, BytesMut};

/// The bounds a request must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk argument, in bytes (Redis: `proto-max-bulk-len`).
    pub max_bulk: usize,
    /// Most arguments in one request (Redis: 1 048 576).
    pub max_args: usize,
    /// Longest inline request or count line, in bytes (Redis: 64 KiB).
    pub max_inline: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk: 512 << 20,
            max_args: 1 << 20,
            max_inline: 64 << 10,
        }
    }
}

/// A request that breaks the protocol. The connection is answered
/// `-ERR Protocol error: …` and closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline request or count line longer than the limit.
    TooBigInline,
    /// A multibulk count line longer than the limit.
    TooBigMbulkCount,
    /// A bulk count line longer than the limit.
    TooBigBulkCount,
    /// A multibulk count that is not a number or out of range.
    InvalidMultibulkLength,
    /// A bulk length that is not a number or out of range.
    InvalidBulkLength,
    /// Something other than `$` where a bulk was expected.
    ExpectedDollar(u8),
    /// An inline request with an unclosed quote.
    UnbalancedQuotes,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protocol error: ")?;
        match self {
            ProtocolError::TooBigInline => f.write_str("too big inline request"),
            ProtocolError::TooBigMbulkCount => f.write_str("too big mbulk count string"),
            ProtocolError::TooBigBulkCount => f.write_str("too big bulk count string"),
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::ExpectedDollar(b) => write!(f, "expected '$', got '{}'", *b as char),
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Where the parser is within a request.
#[derive(Debug)]
enum State {
    /// Between requests.
    Idle,
    /// Inside `*N`: `remaining` arguments to go; `bulk` is the length of the
    /// argument being read, once its `$` line is in.
    Multibulk {
        remaining: usize,
        bulk: Option<usize>,
    },
}

/// An incremental RESP2 request parser (one per connection).
#[derive(Debug)]
pub struct Parser {
    limits: Limits,
    state: State,
    args: Vec<Vec<u8>>,
}

impl Parser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Parser {
        Parser {
            limits,
            state: State::Idle,
            args: Vec::new(),
        }
    }

    /// Replaces the limits (a reload); they apply from the next token.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Bytes held for the request being parsed (arguments completed so far).
    pub fn held_bytes(&self) -> usize {
        self.args.iter().map(Vec::capacity).sum()
    }

    /// Takes the next complete request out of `buf`, consuming what it
    /// parses. `Ok(None)`: more bytes are needed (what was consumed is kept
    /// in the parser). An empty request (`*0`, a blank line) is skipped.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        loop {
            match self.state {
                State::Idle => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first != b'*' {
                        match self.inline(buf)? {
                            Some(args) if args.is_empty() => continue,
                            other => return Ok(other),
                        }
                    }
                    let Some(count) = self.count_line(buf, ProtocolError::TooBigMbulkCount)? else {
                        return Ok(None);
                    };
                    let count = count
                        .filter(|&n| n <= self.limits.max_args as i64)
                        .ok_or(ProtocolError::InvalidMultibulkLength)?;
                    if count <= 0 {
                        continue;
                    }
                    self.args = Vec::with_capacity((count as usize).min(1024));
                    self.state = State::Multibulk {
                        remaining: count as usize,
                        bulk: None,
                    };
                }
                State::Multibulk { remaining, bulk } => {
                    if remaining == 0 {
                        self.state = State::Idle;
                        return Ok(Some(std::mem::take(&mut self.args)));
                    }
                    match bulk {
                        None => {
                            let Some(&first) = buf.first() else {
                                return Ok(None);
                            };
                            if first != b'$' {
                                return Err(ProtocolError::ExpectedDollar(first));
                            }
                            let Some(len) = self.count_line(buf, ProtocolError::TooBigBulkCount)?
                            else {
                                return Ok(None);
                            };
                            let len = len
                                .filter(|&n| n >= 0 && n <= self.limits.max_bulk as i64)
                                .ok_or(ProtocolError::InvalidBulkLength)?;
                            self.state = State::Multibulk {
                                remaining,
                                bulk: Some(len as usize),
                            };
                        }
                        Some(len) => {
                            // The argument and its CRLF, all in: take it.
                            // Until then the bytes wait in `buf`, which grows
                            // only as they arrive.
                            if buf.len() < len + 2 {
                                return Ok(None);
                            }
                            // Copied out and skipped: no `split_to`,
                            // which would make `buf` shared and count
                            // references for every argument.
                            let arg = buf[..len].to_vec();
                            buf.advance(len + 2);
                            self.args.push(arg);
                            self.state = State::Multibulk {
                                remaining: remaining - 1,
                                bulk: None,
                            };
                        }
                    }
                }
            }
        }
    }

    /// Whether the parser is in the middle of a request.
    pub fn mid_request(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Takes a count line (`*N` or `$N`) out of `buf` and reads its number
    /// (after the type byte): `Ok(None)` until the line is whole;
    /// `Some(None)` if it is not a number.
    fn count_line(
        &self,
        buf: &mut BytesMut,
        too_big: ProtocolError,
    ) -> Result<Option<Option<i64>>, ProtocolError> {
        let Some(end) = self.line_end(buf, too_big)? else {
            return Ok(None);
        };
        let line = &buf[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let count = parse_int(&line[1..]);
        buf.advance(end + 1);
        Ok(Some(count))
    }

    /// Where the first line of `buf` ends (its `\n`), once it is whole and
    /// within the limit (not counting its terminator).
    fn line_end(&self, buf: &[u8], too_big: ProtocolError) -> Result<Option<usize>, ProtocolError> {
        match memchr(b'\n', buf) {
            Some(end) => {
                let len = end - usize::from(end > 0 && buf[end - 1] == b'\r');
                if len > self.limits.max_inline {
                    return Err(too_big);
                }
                Ok(Some(end))
            }
            // Too long already, whatever comes: a trailing `\r` may be the
            // terminator's first half, so it does not count (the verdict
            // must not depend on where the bytes were split).
            None if buf.len() - usize::from(buf.last() == Some(&b'\r'))
                > self.limits.max_inline =>
            {
                Err(too_big)
            }
            None => Ok(None),
        }
    }

    /// Takes one CRLF-terminated line (without its terminator) out of `buf`.
    fn line(
        &self,
        buf: &mut BytesMut,
        too_big: ProtocolError,
    ) -> Result<Option<Vec<u8>>, ProtocolError> {
        let Some(end) = self.line_end(buf, too_big)? else {
            return Ok(None);
        };
        let line = &buf[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
        buf.advance(end + 1);
        Ok(Some(line))
    }

    fn inline(&self, buf: &mut BytesMut) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        let Some(line) = self.line(buf, ProtocolError::TooBigInline)? else {
            return Ok(None);
        };
        split_inline(&line).map(Some)
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// A signed decimal as Redis reads counts: no sign but `-`, no spaces.
fn parse_int(digits: &[u8]) -> Option<i64> {
    let (neg, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -n } else { n })
}

/// Splits an inline request into words as Redis's `sdssplitargs` does:
/// spaces separate, `"…"` allows `\n \r \t \b \a \\ \" \xHH`, `'…'` allows
/// `\'`, and a closing quote must be followed by a space or the end.
fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Ok(args);
        }
        let mut word = Vec::new();
        i = match line[i] {
            b'"' => double_quoted(line, i + 1, &mut word)?,
            b'\'' => single_quoted(line, i + 1, &mut word)?,
            _ => {
                while i < n && !line[i].is_ascii_whitespace() {
                    word.push(line[i]);
                    i += 1;
                }
                i
            }
        };
        args.push(word);
    }
}

/// A `"…"` word from `i` (past its opening quote) into `word`; returns
/// where the word ends.
fn double_quoted(line: &[u8], mut i: usize, word: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    let n = line.len();
    loop {
        if i >= n {
            return Err(ProtocolError::UnbalancedQuotes);
        }
        match line[i] {
            b'\\'
                if i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                word.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                i += 4;
            }
            b'\\' if i + 1 < n => {
                word.push(match line[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    other => other,
                });
                i += 2;
            }
            b'"' => return closing_quote(line, i + 1),
            c => {
                word.push(c);
                i += 1;
            }
        }
    }
}

/// A `'…'` word from `i` (past its opening quote) into `word`; returns
/// where the word ends.
fn single_quoted(line: &[u8], mut i: usize, word: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    let n = line.len();
    loop {
        if i >= n {
            return Err(ProtocolError::UnbalancedQuotes);
        }
        match line[i] {
            b'\\' if i + 1 < n && line[i + 1] == b'\'' => {
                word.push(b'\'');
                i += 2;
            }
            b'\'' => return closing_quote(line, i + 1),
            c => {
                word.push(c);
                i += 1;
            }
        }
    }
}

/// A closing quote must be followed by a space or the end: `i` is past it.
fn closing_quote(line: &[u8], i: usize) -> Result<usize, ProtocolError> {
    if i < line.len() && !line[i].is_ascii_whitespace() {
        return Err(ProtocolError::UnbalancedQuotes);
    }
    Ok(i)
}

pub mod reply;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], chunk: usize) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = Parser::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(cmd) = p.next(&mut buf)? {
                out.push(cmd);
            }
        }
        Ok(out)
    }

    #[test]
    fn multibulk_inline_and_chunking_agree() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nv2\r\nPING\r\n\r\nset 'a b' \"c\\x41\\n\"\r\n*0\r\n*1\r\n$4\r\nPING\r\n";
        let whole = parse_all(input, input.len()).unwrap();
        assert_eq!(
            whole,
            vec![
                vec![b"SET".to_vec(), b"k".to_vec(), b"v\r\nv2".to_vec()],
                vec![b"PING".to_vec()],
                vec![b"set".to_vec(), b"a b".to_vec(), b"cA\n".to_vec()],
                vec![b"PING".to_vec()],
            ]
        );
        for chunk in 1..input.len() {
            assert_eq!(parse_all(input, chunk).unwrap(), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn protocol_errors_have_redis_texts() {
        let err = |input: &[u8]| parse_all(input, input.len()).unwrap_err().to_string();
        assert_eq!(err(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*2147483648\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(err(b"*1\r\n$-5\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"*1\r\n$536870913\r\n"),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"*1\r\n:5\r\n"),
            "Protocol error: expected '$', got ':'"
        );
        assert_eq!(
            err(b"set \"a\r\n"),
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(b"set \"a\"b\r\n"),
            "Protocol error: unbalanced quotes in request"
        );
        let long = vec![b'a'; 70_000];
        assert_eq!(err(&long), "Protocol error: too big inline request");
    }

    /// Encodes requests as a client would: multibulk, or inline when the
    /// words are plain.
    fn encode(requests: &[Vec<Vec<u8>>], inline: &[bool]) -> Vec<u8> {
        let mut out = Vec::new();
        for (req, &inline) in requests.iter().zip(inline) {
            let plain = req
                .iter()
                .all(|w| !w.is_empty() && w.iter().all(|b| b.is_ascii_alphanumeric()));
            if inline && plain {
                let words: Vec<&[u8]> = req.iter().map(Vec::as_slice).collect();
                out.extend_from_slice(&words.join(&b' '));
                out.extend_from_slice(b"\r\n");
            } else {
                out.extend_from_slice(format!("*{}\r\n", req.len()).as_bytes());
                for w in req {
                    out.extend_from_slice(format!("${}\r\n", w.len()).as_bytes());
                    out.extend_from_slice(w);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        out
    }

    proptest::proptest! {
        /// TESTING.md D2: whatever the chunking, the same requests come out
        /// (or the same error), and valid input round-trips.
        #[test]
        fn chunking_never_changes_the_result(
            requests in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 1..6),
                0..8,
            ),
            inline in proptest::collection::vec(proptest::bool::ANY, 8),
            cuts in proptest::collection::vec(1usize..64, 1..40),
        ) {
            let input = encode(&requests, &inline);
            let whole = parse_all(&input, input.len().max(1)).unwrap();
            proptest::prop_assert_eq!(&whole, &requests);
            let mut p = Parser::new(Limits::default());
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let (mut at, mut i) = (0, 0);
            while at < input.len() {
                let n = cuts[i % cuts.len()].min(input.len() - at);
                buf.extend_from_slice(&input[at..at + n]);
                at += n;
                i += 1;
                while let Some(cmd) = p.next(&mut buf).unwrap() {
                    got.push(cmd);
                }
            }
            proptest::prop_assert_eq!(got, whole);
        }

        /// Arbitrary bytes: never a panic, and one-shot and byte-at-a-time
        /// parsing agree on the requests and on the error.
        #[test]
        fn garbage_parses_the_same_in_any_chunking(input in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let whole = parse_all(&input, input.len().max(1));
            let bytewise = parse_all(&input, 1);
            match (&whole, &bytewise) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a, b),
                // One-shot may reach an error that byte-at-a-time reaches
                // too, but requests before it still match.
                _ => proptest::prop_assert!(false, "{:?} vs {:?}", whole, bytewise),
            }
        }
    }

    #[test]
    fn a_huge_declared_bulk_holds_only_what_arrived() {
        let mut p = Parser::new(Limits::default());
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$536870912\r\n0123456789"[..]);
        assert_eq!(p.next(&mut buf).unwrap(), None);
        assert!(p.mid_request());
        assert_eq!(
            buf.len() + p.held_bytes(),
            10 + 3,
            "only what arrived is held"
        );
    }
}
