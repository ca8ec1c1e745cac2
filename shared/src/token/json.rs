//! A strict JSON (RFC 8259) cursor for the two small objects a ticket carries: the JOSE header
//! and the claims set.
//!
//! It replaces `serde_json` on the verification path because a ticket's claims are ~250 bytes
//! with a dozen members, and a general deserializer spends most of its time on machinery those
//! need none of. It accepts and refuses exactly what `serde_json` 1.x does when it deserializes
//! the same members (the differential tests in `claims/tests.rs` hold it to that), which is
//! stricter than "any JSON parser" in a few places worth knowing:
//!
//! * Strings that become values (member names, and the claims Usher reads) must be valid UTF-8
//!   (RFC 8259 §8.1) and their `\u` escapes must pair surrogates correctly (§7). Strings inside
//!   a member that is ignored are only checked for the grammar: no raw control characters,
//!   valid escapes. That is what `serde_json` does (`IgnoredAny` never looks inside them).
//! * Numbers follow the §6 grammar exactly: no leading zeros, no `+`, no bare `.` or `e`.
//! * Ignored values may nest arbitrarily deep, as with `serde_json`'s `IgnoredAny` (which has
//!   no depth limit); the walk is iterative and keeps one bit per level for the first 128, so
//!   depth costs no stack and only a hostile ticket's nesting costs heap.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

/// A JSON number, kept as `serde_json` keeps it (its `ParserNumber`), so each claim can apply
/// exactly the conversion serde's visitor for its type would.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Number {
    /// A non-negative integer that fits in `u64`.
    U64(u64),
    /// A negative integer that fits in `i64`.
    I64(i64),
    /// Everything else: a fraction or exponent, `-0`, or an integer beyond 64 bits.
    F64(f64),
}

/// What scanning a number's text found.
struct Scanned {
    negative: bool,
    /// The integer part, if it fits in `u64`.
    integer: Option<u64>,
    /// Whether a fraction or an exponent follows the integer part.
    float: bool,
}

/// A position in a JSON document.
#[derive(Clone, Copy)]
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The whole document as text when it is valid UTF-8, which is nearly always: one pass
    /// over the document then stands for checking each string, and strings are sliced from
    /// it. When some byte is not (possibly inside an ignored member, which is allowed), each
    /// string read is checked on its own.
    text: Option<&'a str>,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Cursor {
            bytes,
            pos: 0,
            text: core::str::from_utf8(bytes).ok(),
        }
    }

    /// Runs `step` on a copy of the cursor and moves this one to where the copy ended.
    ///
    /// For the rarely taken paths that are not inlined: handing them this cursor's address
    /// would make the compiler keep the cursor in memory for the whole scan, and reload it after
    /// every store; a copy's address costs nothing where the copy is not made.
    #[inline(always)]
    pub(super) fn detached<T>(&mut self, step: impl FnOnce(&mut Self) -> T) -> T {
        let mut copy = *self;
        let out = step(&mut copy);
        self.pos = copy.pos;
        out
    }

    /// Skips whitespace (RFC 8259 §2: space, tab, line feed, carriage return; not form feed)
    /// and returns the next byte without consuming it, `None` at the end.
    #[inline]
    pub(super) fn peek(&mut self) -> Option<u8> {
        loop {
            let byte = *self.bytes.get(self.pos)?;
            if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(byte);
            }
            self.pos += 1;
        }
    }

    /// Consumes the byte [`peek`](Self::peek) returned.
    #[inline]
    pub(super) fn bump(&mut self) {
        self.pos += 1;
    }

    /// Consumes `byte`, after whitespace; `None` if something else comes.
    #[inline]
    pub(super) fn expect(&mut self, byte: u8) -> Option<()> {
        if self.peek()? == byte {
            self.bump();
            Some(())
        } else {
            None
        }
    }

    /// Succeeds when only whitespace is left.
    pub(super) fn end(&mut self) -> Option<()> {
        match self.peek() {
            None => Some(()),
            Some(_) => None,
        }
    }

    /// Consumes `word` (`true`, `false`, `null`) at the current position.
    pub(super) fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.eat(word).then_some(())
    }

    /// The byte at the current position, without skipping whitespace.
    #[inline]
    pub(super) fn current(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Consumes `text` if the document continues with it here.
    #[inline(always)]
    pub(super) fn eat(&mut self, text: &[u8]) -> bool {
        let found = self
            .bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(text));
        if found {
            self.pos += text.len();
        }
        found
    }

    /// Reads a string, after whitespace, as text: escapes decoded, UTF-8 checked, surrogates
    /// paired. Borrowed from the document unless it holds an escape.
    #[inline]
    pub(super) fn string(&mut self) -> Option<Cow<'a, str>> {
        self.expect(b'"')?;
        self.rest_of_string()
    }

    /// [`string`](Self::string) for a string whose opening quote has been consumed.
    ///
    /// Always inlined: returned through memory, the `Cow` is reloaded by the caller right
    /// after the callee stored it, a store-forwarding stall on every string.
    #[inline(always)]
    pub(super) fn rest_of_string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        let (end, escaped) = self.scan_string()?;
        if escaped {
            return unescape(self.bytes.get(start..end)?).map(Cow::Owned);
        }
        match self.text {
            Some(text) => text.get(start..end).map(Cow::Borrowed),
            None => core::str::from_utf8(self.bytes.get(start..end)?)
                .ok()
                .map(Cow::Borrowed),
        }
    }

    /// Moves past a string whose opening quote has been consumed, checking only its grammar.
    /// Returns where its content ends (the closing quote's index) and whether it holds an
    /// escape.
    #[inline(always)]
    fn scan_string(&mut self) -> Option<(usize, bool)> {
        let mut escaped = false;
        loop {
            self.skip_plain();
            let end = self.pos;
            match *self.bytes.get(end)? {
                b'"' => {
                    self.pos += 1;
                    return Some((end, escaped));
                }
                b'\\' => {
                    self.pos += 1;
                    self.detached(Self::skip_escape)?;
                    escaped = true;
                }
                // RFC 8259 §7: control characters must be escaped.
                _ => return None,
            }
        }
    }

    /// Moves to the next `"`, `\` or control character inside a string, eight bytes at a
    /// time. The test is Mycroft's has-zero-byte trick (as `serde_json` uses): its lowest
    /// flagged byte is always a true hit, so the first one found is exact.
    #[inline]
    fn skip_plain(&mut self) {
        const ONES: u64 = u64::MAX / 255;
        while let Some(chunk) = self.bytes.get(self.pos..).and_then(<[u8]>::first_chunk) {
            let chars = u64::from_le_bytes(*chunk);
            let control = chars.wrapping_sub(ONES * 0x20) & !chars;
            let quote = chars ^ (ONES * u64::from(b'"'));
            let quote = quote.wrapping_sub(ONES) & !quote;
            let backslash = chars ^ (ONES * u64::from(b'\\'));
            let backslash = backslash.wrapping_sub(ONES) & !backslash;
            let hits = (control | quote | backslash) & (ONES << 7);
            if hits != 0 {
                self.pos += (hits.trailing_zeros() / 8) as usize;
                return;
            }
            self.pos += 8;
        }
        while let Some(&byte) = self.bytes.get(self.pos) {
            if byte == b'"' || byte == b'\\' || byte < 0x20 {
                return;
            }
            self.pos += 1;
        }
    }

    /// Moves past one escape whose backslash has been consumed (RFC 8259 §7). Surrogates are
    /// not checked here: only strings that are read need them paired.
    #[inline(never)]
    fn skip_escape(&mut self) -> Option<()> {
        let kind = *self.bytes.get(self.pos)?;
        self.pos += 1;
        match kind {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => {
                let digits = self.bytes.get(self.pos..)?.first_chunk::<4>()?;
                if digits.iter().all(u8::is_ascii_hexdigit) {
                    self.pos += 4;
                    Some(())
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Reads a number at the current position (after [`peek`](Self::peek)).
    ///
    /// Integers that fit in 64 bits are converted here. Anything with a fraction, an exponent
    /// or more digits is handed, as its exact text, to `serde_json`'s own number parser: its
    /// decimal-to-binary conversion is not always correctly rounded, and matching it bit for
    /// bit is simpler by calling it than by reimplementing it. Tickets carry integers, so this
    /// costs nothing on the usual path.
    #[inline(always)]
    pub(super) fn number(&mut self) -> Option<Number> {
        let start = self.pos;
        // The usual case first: a non-negative integer of at most 19 digits, which cannot
        // overflow `u64`, and nothing after it that makes it a float. A NumericDate has ten
        // digits: the first eight are converted at once.
        let mut value = 0u64;
        if let Some(eight) = self
            .bytes
            .get(start..)
            .and_then(<[u8]>::first_chunk)
            .and_then(|chunk| eight_digits(u64::from_le_bytes(*chunk)))
        {
            value = eight;
            self.pos += 8;
        }
        while let Some(&byte) = self.bytes.get(self.pos) {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
            self.pos += 1;
        }
        let digits = self.pos - start;
        let leading_zero = digits > 1 && self.bytes.get(start) == Some(&b'0');
        let float = matches!(self.current(), Some(b'.' | b'e' | b'E'));
        if (1..=19).contains(&digits) && !leading_zero && !float {
            return Some(Number::U64(value));
        }
        self.pos = start;
        self.detached(Self::general_number)
    }

    /// [`number`](Self::number) for every other case.
    #[cold]
    #[inline(never)]
    fn general_number(&mut self) -> Option<Number> {
        let start = self.pos;
        let scanned = self.scan_number()?;
        if let (Some(integer), false) = (scanned.integer, scanned.float) {
            if !scanned.negative {
                return Some(Number::U64(integer));
            }
            // `serde_json` makes `-0` and negatives below `i64::MIN` floats.
            let negated = (integer as i64).wrapping_neg();
            let float = -(integer as f64);
            return Some(if negated >= 0 {
                Number::F64(float)
            } else {
                Number::I64(negated)
            });
        }
        float(self.bytes.get(start..self.pos)?).map(Number::F64)
    }

    /// Moves past a number (RFC 8259 §6), checking its grammar.
    fn scan_number(&mut self) -> Option<Scanned> {
        let negative = self.bytes.get(self.pos) == Some(&b'-');
        if negative {
            self.pos += 1;
        }
        let first = self.digit()?;
        let mut integer = Some(u64::from(first));
        if first == 0 {
            // One leading zero, and only alone.
            if self.digit_here() {
                return None;
            }
        } else {
            while let Some(&byte @ b'0'..=b'9') = self.bytes.get(self.pos) {
                self.pos += 1;
                integer = integer
                    .and_then(|n| n.checked_mul(10))
                    .and_then(|n| n.checked_add(u64::from(byte - b'0')));
            }
        }
        let mut float = false;
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.digits()?;
            float = true;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            self.digits()?;
            float = true;
        }
        Some(Scanned {
            negative,
            integer,
            float,
        })
    }

    fn digit_here(&self) -> bool {
        self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit)
    }

    /// Consumes one digit and returns its value.
    fn digit(&mut self) -> Option<u8> {
        match self.bytes.get(self.pos) {
            Some(&byte @ b'0'..=b'9') => {
                self.pos += 1;
                Some(byte - b'0')
            }
            _ => None,
        }
    }

    /// Consumes one or more digits.
    fn digits(&mut self) -> Option<()> {
        self.digit()?;
        while self.digit_here() {
            self.pos += 1;
        }
        Some(())
    }

    /// Moves past one value of any kind, after whitespace, checking its grammar but reading
    /// nothing from it: what `serde_json` does for a member that no field wants.
    #[inline(always)]
    pub(super) fn skip_value(&mut self) -> Option<()> {
        self.detached(Self::skip_any)
    }

    /// [`skip_value`](Self::skip_value), out of line.
    #[inline(never)]
    fn skip_any(&mut self) -> Option<()> {
        let mut open = Nesting::default();
        loop {
            // A value, or the start of a container.
            match self.peek()? {
                b'"' => {
                    self.bump();
                    self.scan_string()?;
                }
                b'-' | b'0'..=b'9' => {
                    self.scan_number()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'[' => {
                    self.bump();
                    if self.peek()? == b']' {
                        self.bump();
                    } else {
                        open.push(false);
                        continue;
                    }
                }
                b'{' => {
                    self.bump();
                    if self.peek()? == b'}' {
                        self.bump();
                    } else {
                        open.push(true);
                        self.skip_name()?;
                        continue;
                    }
                }
                _ => return None,
            }
            // After a value: close containers until one continues, or the value is done.
            loop {
                let Some(object) = open.top() else {
                    return Some(());
                };
                match (self.peek()?, object) {
                    (b',', false) => {
                        self.bump();
                        break;
                    }
                    (b',', true) => {
                        self.bump();
                        self.skip_name()?;
                        break;
                    }
                    (b']', false) | (b'}', true) => {
                        self.bump();
                        open.pop();
                    }
                    _ => return None,
                }
            }
        }
    }

    /// Moves past a member name and its colon inside an ignored object.
    fn skip_name(&mut self) -> Option<()> {
        self.expect(b'"')?;
        self.scan_string()?;
        self.expect(b':')
    }
}

/// The containers open around the current point of [`Cursor::skip_value`], one bit each
/// (`true` for an object). The first 128 levels live in a word; deeper ones, which only an
/// odd or hostile ticket has, in a vector.
#[derive(Default)]
struct Nesting {
    depth: usize,
    shallow: u128,
    deep: Vec<bool>,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        if self.depth < 128 {
            self.shallow = (self.shallow & !(1 << self.depth)) | (u128::from(object) << self.depth);
        } else {
            self.deep.push(object);
        }
        self.depth += 1;
    }

    /// Whether the innermost open container is an object; `None` when none is open.
    fn top(&self) -> Option<bool> {
        let depth = self.depth.checked_sub(1)?;
        if depth < 128 {
            Some(self.shallow >> depth & 1 == 1)
        } else {
            self.deep.last().copied()
        }
    }

    fn pop(&mut self) {
        if self.depth > 128 {
            self.deep.pop();
        }
        self.depth = self.depth.saturating_sub(1);
    }
}

/// The value of eight ASCII digits read little-endian (the first digit in the low byte), or
/// `None` if any of the eight is not a digit. Lemire's SWAR conversion: pairs, then quads,
/// then the eight, each step one multiply.
fn eight_digits(chunk: u64) -> Option<u64> {
    const ONES: u64 = u64::MAX / 255;
    // Each byte is 0x30..=0x39 exactly when its high nibble is 3 and adding 6 leaves it 3.
    // (A byte that could carry into the next has a high nibble above 3 and fails anyway.)
    let high = chunk & (ONES * 0xf0);
    let bumped = chunk.wrapping_add(ONES * 0x06) & (ONES * 0xf0);
    if high | (bumped >> 4) != ONES * 0x33 {
        return None;
    }
    let pairs = (chunk & (ONES * 0x0f)).wrapping_mul(10 << 8 | 1) >> 8;
    let quads = (pairs & 0x00ff_00ff_00ff_00ff).wrapping_mul(100 << 16 | 1) >> 16;
    Some((quads & 0x0000_ffff_0000_ffff).wrapping_mul(10_000 << 32 | 1) >> 32)
}

/// Parses a number's text the way `serde_json` does, for the rare claim that is not a 64-bit
/// integer. `None` where it fails (a magnitude beyond `f64`, which it refuses).
#[cold]
#[inline(never)]
fn float(text: &[u8]) -> Option<f64> {
    serde_json::from_slice(text).ok()
}

/// Decodes the escapes of a string's raw content (RFC 8259 §7) whose grammar has been checked,
/// requiring valid UTF-8 and `\u` surrogates in high-low pairs, as `serde_json` does for a
/// string it reads.
#[cold]
#[inline(never)]
fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.iter().position(|&byte| byte == b'\\') {
        let (plain, escape) = rest.split_at(at);
        out.extend_from_slice(plain);
        let (&kind, after) = escape.get(1..)?.split_first()?;
        rest = after;
        let decoded = match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit;
                (unit, rest) = hex4(rest)?;
                match unit {
                    0xd800..=0xdbff => {
                        let low;
                        (low, rest) = hex4(rest.strip_prefix(b"\\u")?)?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return None;
                        }
                        char::from_u32(0x1_0000 + ((unit - 0xd800) << 10) + (low - 0xdc00))?
                    }
                    // A low surrogate with no high one before it.
                    0xdc00..=0xdfff => return None,
                    _ => char::from_u32(unit)?,
                }
            }
            _ => return None,
        };
        out.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
    }
    out.extend_from_slice(rest);
    String::from_utf8(out).ok()
}

/// The value of the four hex digits that start `text`, and what follows them.
fn hex4(text: &[u8]) -> Option<(u32, &[u8])> {
    let (digits, rest) = text.split_first_chunk::<4>()?;
    let mut value = 0;
    for &digit in digits {
        value = value << 4 | char::from(digit).to_digit(16)?;
    }
    Some((value, rest))
}
