//! RESP2, the Redis serialisation protocol, as bytes in and values out: no I/O.
//!
//! A command is an array of bulk strings ([`command`]); a reply is one of five types
//! ([`Reply`]), read incrementally by [`Parser`] from whatever chunks a socket delivers. The
//! protocol is described at <https://redis.io/docs/latest/develop/reference/protocol-spec/>
//! (RESP2 is what a server speaks until a client says `HELLO 3`, and what this client keeps).
//!
//! The parser never panics and never allocates from a length it has not yet received: a reply
//! is only ever the handful of values a lease script returns, so lines, bulk strings, arrays and
//! nesting are bounded ([`MAX_LINE`], [`MAX_BULK`], [`MAX_DEPTH`]) and anything past them is a
//! [`RespError`], after which the connection must be dropped (the stream is out of step).

use core::fmt;

/// The longest simple-string, error or integer line accepted, CRLF excluded. Redis's own
/// error messages are a few hundred bytes at most.
pub const MAX_LINE: usize = 64 * 1024;

/// The longest bulk string accepted. A lease reply holds a node id (at most 64 bytes); the
/// bound only stops a confused or hostile peer from making this process allocate.
pub const MAX_BULK: usize = 1024 * 1024;

/// The deepest nesting of arrays accepted (a lease reply is one array of two values).
pub const MAX_DEPTH: usize = 16;

/// The most elements accepted in one array.
pub const MAX_ARRAY: usize = 64 * 1024;

/// One RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`: a status line (never contains CR or LF).
    Simple(String),
    /// `-ERR ...`: an error line; its first word is the error code (`NOSCRIPT`, `READONLY`,
    /// `WRONGPASS`, ...).
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`, or `$-1`: the null bulk string (a missing key).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`, or `*-1`: the null array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply's wire form. The client never sends replies; this is the inverse of
    /// [`Parser`], for tests and for anything that has to speak as a server.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => line(out, b'-', s.as_bytes()),
            Reply::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(b)) => bulk(out, b),
            Reply::Array(None) => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(Some(items)) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for item in items {
                    item.encode_into(out);
                }
            }
        }
    }

    /// The error code of an error reply: its first word (`NOSCRIPT`, `WRONGPASS`, ...).
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Reply::Error(s) => s.split(' ').next(),
            _ => None,
        }
    }
}

fn line(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, body: &[u8]) {
    line(out, b'$', body.len().to_string().as_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

/// A command as Redis expects it from a client: an array of bulk strings.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    line(&mut out, b'*', args.len().to_string().as_bytes());
    for arg in args {
        bulk(&mut out, arg);
    }
    out
}

/// Why bytes are not a RESP2 reply. After one, the stream is out of step and the connection
/// is no use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RespError {
    /// The first byte of a value is not one of `+ - : $ *`.
    Type(u8),
    /// A line has no CRLF within [`MAX_LINE`] bytes.
    LineTooLong,
    /// An integer, or a length, is not a decimal number within range.
    Number,
    /// A bulk string longer than [`MAX_BULK`], or an array longer than [`MAX_ARRAY`].
    TooLarge(u64),
    /// Arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A bulk string's bytes are not followed by CRLF.
    BulkEnd,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::Type(b) => write!(f, "unknown RESP type byte 0x{b:02x}"),
            RespError::LineTooLong => write!(f, "RESP line longer than {MAX_LINE} bytes"),
            RespError::Number => write!(f, "RESP integer or length is not a valid number"),
            RespError::TooLarge(n) => write!(f, "RESP value of {n} bytes or elements is too large"),
            RespError::TooDeep => write!(f, "RESP arrays nested deeper than {MAX_DEPTH}"),
            RespError::BulkEnd => write!(f, "RESP bulk string not terminated by CRLF"),
        }
    }
}

impl std::error::Error for RespError {}

/// An incremental reply reader: push bytes as they arrive, take replies as they complete.
///
/// ```
/// use usher_origin::lease::resp::{Parser, Reply};
/// let mut parser = Parser::default();
/// parser.push(b"*2\r\n:1\r\n$4\r\nno");
/// assert!(parser.next().is_none()); // incomplete
/// parser.push(b"de\r\n");
/// let reply = parser.next();
/// assert_eq!(reply, Some(Ok(Reply::Array(Some(vec![
///     Reply::Integer(1),
///     Reply::Bulk(Some(b"node".to_vec())),
/// ])))));
/// ```
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    failed: Option<RespError>,
}

/// The outcome of reading one value from the start of a slice.
enum Step<T> {
    /// The value, and how many bytes it took.
    Done(T, usize),
    /// Not all of it has arrived.
    More,
}

impl Parser {
    /// Adds bytes received from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next complete reply, `None` until one has fully arrived. An error is sticky: once
    /// the bytes are not RESP, every later call returns the same error.
    #[allow(
        clippy::should_implement_trait,
        reason = "an Iterator would end at the first None, but None here means 'not yet'"
    )]
    pub fn next(&mut self) -> Option<Result<Reply, RespError>> {
        if let Some(e) = &self.failed {
            return Some(Err(e.clone()));
        }
        match value(&self.buf, 0) {
            Ok(Step::Done(reply, used)) => {
                self.buf.drain(..used.min(self.buf.len()));
                Some(Ok(reply))
            }
            Ok(Step::More) => None,
            Err(e) => {
                self.buf = Vec::new();
                self.failed = Some(e.clone());
                Some(Err(e))
            }
        }
    }

    /// Bytes received but not yet part of a complete reply.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// One value from the start of `buf`.
fn value(buf: &[u8], depth: usize) -> Result<Step<Reply>, RespError> {
    let Some((&tag, rest)) = buf.split_first() else {
        return Ok(Step::More);
    };
    let (body, after) = match read_line(rest)? {
        Step::Done(body, used) => (body, 1 + used),
        Step::More => return Ok(Step::More),
    };
    match tag {
        b'+' => Ok(Step::Done(
            Reply::Simple(String::from_utf8_lossy(body).into_owned()),
            after,
        )),
        b'-' => Ok(Step::Done(
            Reply::Error(String::from_utf8_lossy(body).into_owned()),
            after,
        )),
        b':' => Ok(Step::Done(Reply::Integer(integer(body)?), after)),
        b'$' => {
            let Some(len) = length(body, MAX_BULK)? else {
                return Ok(Step::Done(Reply::Bulk(None), after));
            };
            let rest = buf.get(after..).unwrap_or_default();
            if rest.len() < len + 2 {
                return Ok(Step::More);
            }
            let (data, end) = rest.split_at(len);
            if end.get(..2) != Some(b"\r\n") {
                return Err(RespError::BulkEnd);
            }
            Ok(Step::Done(
                Reply::Bulk(Some(data.to_vec())),
                after + len + 2,
            ))
        }
        b'*' => {
            let Some(len) = length(body, MAX_ARRAY)? else {
                return Ok(Step::Done(Reply::Array(None), after));
            };
            if len > 0 && depth >= MAX_DEPTH {
                return Err(RespError::TooDeep);
            }
            // Grown as elements arrive, never sized from the announced length.
            let mut items = Vec::new();
            let mut at = after;
            for _ in 0..len {
                match value(buf.get(at..).unwrap_or_default(), depth + 1)? {
                    Step::Done(item, used) => {
                        items.push(item);
                        at += used;
                    }
                    Step::More => return Ok(Step::More),
                }
            }
            Ok(Step::Done(Reply::Array(Some(items)), at))
        }
        other => Err(RespError::Type(other)),
    }
}

/// A line up to CRLF, and the bytes it took with the CRLF.
fn read_line(buf: &[u8]) -> Result<Step<&[u8]>, RespError> {
    let window = buf.get(..(MAX_LINE + 2).min(buf.len())).unwrap_or(buf);
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok(Step::Done(buf.get(..end).unwrap_or_default(), end + 2)),
        None if buf.len() >= MAX_LINE + 2 => Err(RespError::LineTooLong),
        None => Ok(Step::More),
    }
}

fn integer(body: &[u8]) -> Result<i64, RespError> {
    // Plain ASCII decimal with an optional sign, as Redis writes it (no spaces, no `+` needed,
    // but a `+` is harmless and `str::parse` accepts it).
    core::str::from_utf8(body)
        .ok()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(RespError::Number)
}

/// A bulk or array length: `None` for the null value (-1), else at most `max`.
fn length(body: &[u8], max: usize) -> Result<Option<usize>, RespError> {
    match integer(body)? {
        -1 => Ok(None),
        n if n < 0 => Err(RespError::Number),
        n => {
            let n = n.unsigned_abs();
            match usize::try_from(n) {
                Ok(len) if len <= max => Ok(Some(len)),
                _ => Err(RespError::TooLarge(n)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(bytes: &[u8]) -> Vec<Result<Reply, RespError>> {
        let mut p = Parser::default();
        p.push(bytes);
        let mut out = Vec::new();
        while let Some(r) = p.next() {
            let stop = r.is_err();
            out.push(r);
            if stop {
                break;
            }
        }
        out
    }

    #[test]
    fn a_command_is_an_array_of_bulk_strings() {
        assert_eq!(
            command(&[b"GET", b"usher:origin:lease:news"]),
            b"*2\r\n$3\r\nGET\r\n$23\r\nusher:origin:lease:news\r\n"
        );
        assert_eq!(command(&[]), b"*0\r\n");
    }

    #[test]
    fn each_reply_type_is_read_as_redis_writes_it() {
        let wire = b"+OK\r\n-NOSCRIPT No matching script.\r\n:-42\r\n$-1\r\n$0\r\n\r\n*-1\r\n*0\r\n*2\r\n:1\r\n*1\r\n$2\r\nab\r\n";
        assert_eq!(
            parse_all(wire),
            vec![
                Ok(Reply::Simple("OK".into())),
                Ok(Reply::Error("NOSCRIPT No matching script.".into())),
                Ok(Reply::Integer(-42)),
                Ok(Reply::Bulk(None)),
                Ok(Reply::Bulk(Some(Vec::new()))),
                Ok(Reply::Array(None)),
                Ok(Reply::Array(Some(Vec::new()))),
                Ok(Reply::Array(Some(vec![
                    Reply::Integer(1),
                    Reply::Array(Some(vec![Reply::Bulk(Some(b"ab".to_vec()))])),
                ]))),
            ]
        );
    }

    #[test]
    fn a_bulk_string_may_hold_crlf_and_arrive_byte_by_byte() {
        let wire = b"$4\r\n\r\n\r\n\r\n";
        let mut p = Parser::default();
        for (i, b) in wire.iter().enumerate() {
            assert!(p.next().is_none(), "complete after {i} bytes");
            p.push(&[*b]);
        }
        assert_eq!(p.next(), Some(Ok(Reply::Bulk(Some(b"\r\n\r\n".to_vec())))));
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn malformed_replies_are_errors_and_the_error_sticks() {
        assert_eq!(parse_all(b"?x\r\n"), vec![Err(RespError::Type(b'?'))]);
        assert_eq!(parse_all(b":12a\r\n"), vec![Err(RespError::Number)]);
        assert_eq!(parse_all(b":\r\n"), vec![Err(RespError::Number)]);
        assert_eq!(parse_all(b"$-2\r\n"), vec![Err(RespError::Number)]);
        assert_eq!(parse_all(b"$2\r\nabcd"), vec![Err(RespError::BulkEnd)]);
        assert_eq!(
            parse_all(b"$99999999999\r\n"),
            vec![Err(RespError::TooLarge(99_999_999_999))]
        );
        assert_eq!(
            parse_all(b":99999999999999999999\r\n"),
            vec![Err(RespError::Number)]
        );
        let mut p = Parser::default();
        p.push(b"!\r\n+OK\r\n");
        assert_eq!(p.next(), Some(Err(RespError::Type(b'!'))));
        p.push(b"+OK\r\n");
        assert_eq!(p.next(), Some(Err(RespError::Type(b'!'))));
    }

    #[test]
    fn nesting_and_lines_are_bounded() {
        let deep: Vec<u8> = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(parse_all(&deep), vec![Err(RespError::TooDeep)]);
        let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
        ok.extend_from_slice(b":7\r\n");
        assert_eq!(parse_all(&ok).len(), 1);
        assert!(parse_all(&ok)[0].is_ok());

        let mut long = vec![b'+'];
        long.extend(std::iter::repeat_n(b'a', MAX_LINE + 2));
        assert_eq!(parse_all(&long), vec![Err(RespError::LineTooLong)]);
        // Just short of the bound, still waiting for its CRLF.
        let mut p = Parser::default();
        p.push(&long[..MAX_LINE]);
        assert!(p.next().is_none());
    }

    #[test]
    fn an_announced_length_is_not_allocated_before_it_arrives() {
        // A peer announcing the largest array allowed, then nothing: the parser waits without
        // reserving room for the elements.
        let mut p = Parser::default();
        p.push(format!("*{MAX_ARRAY}\r\n").as_bytes());
        assert!(p.next().is_none());
        assert_eq!(
            parse_all(format!("*{}\r\n", MAX_ARRAY + 1).as_bytes()),
            vec![Err(RespError::TooLarge(MAX_ARRAY as u64 + 1))]
        );
    }

    #[test]
    fn error_codes_are_the_first_word() {
        assert_eq!(
            Reply::Error("READONLY You can't write against a read only replica.".into())
                .error_code(),
            Some("READONLY")
        );
        assert_eq!(Reply::Simple("OK".into()).error_code(), None);
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let line = "[^\r\n]{0,40}";
        let leaf = prop_oneof![
            line.prop_map(Reply::Simple),
            line.prop_map(Reply::Error),
            any::<i64>().prop_map(Reply::Integer),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(Reply::Bulk),
            Just(Reply::Array(None)),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(|v| Reply::Array(Some(v)))
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parser(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..32), 0..8)
        ) {
            let mut p = Parser::default();
            for chunk in &chunks {
                p.push(chunk);
                while let Some(r) = p.next() {
                    if r.is_err() {
                        break;
                    }
                }
            }
        }

        #[test]
        fn arbitrary_bytes_after_a_valid_tag_never_panic_the_parser(
            tag in prop_oneof![Just(b'+'), Just(b'-'), Just(b':'), Just(b'$'), Just(b'*')],
            body in "[-0-9\r\n*$:+a]{0,40}",
        ) {
            let mut bytes = vec![tag];
            bytes.extend_from_slice(body.as_bytes());
            let _ = parse_all(&bytes);
        }

        #[test]
        fn replies_read_back_as_written_whatever_the_chunking(
            replies in proptest::collection::vec(reply(), 1..5),
            cut in 1usize..17,
        ) {
            let wire: Vec<u8> = replies.iter().flat_map(Reply::encode).collect();
            let mut p = Parser::default();
            let mut read = Vec::new();
            for chunk in wire.chunks(cut) {
                p.push(chunk);
                while let Some(r) = p.next() {
                    read.push(r);
                }
            }
            prop_assert_eq!(read, replies.into_iter().map(Ok).collect::<Vec<_>>());
            prop_assert_eq!(p.buffered(), 0);
        }
    }
}
