//! Reading a ticket's JOSE header (RFC 7515 §4) and claims set (RFC 7519 §4) off the
//! [`json`](super::json) cursor, into the raw, not yet checked form that `jwt::verify` judges.
//!
//! Both must be JSON objects (RFC 7515 §4, RFC 7519 §7.2 step 10). Members Usher knows are
//! read with the types `docs/token-format.md` §1.1 gives them; a known member that appears twice
//! makes the object malformed (RFC 7515 §4 and RFC 7519 §4 let a parser refuse duplicates, and
//! accepting the last one would let two parsers disagree about a ticket); other members are
//! checked for grammar and ignored. `null` for an optional member is the same as leaving it out.
//!
//! These rules are the ones the previous `serde` derive on the same fields applied, down to
//! each number conversion; the tests (`claims/tests.rs`) keep that derive as an oracle and
//! compare the two on hand-picked, generated and mutated documents.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::json::{Cursor, Number};

/// The members of a JOSE header that verification looks at.
#[derive(Debug, Default, PartialEq)]
pub(super) struct RawHeader<'a> {
    /// `alg`, if present and not null.
    pub(super) alg: Option<Cow<'a, str>>,
    /// `kid`, if present and not null.
    pub(super) kid: Option<Cow<'a, str>>,
    /// Whether `crit` is present and not null. RFC 7515 §4.1.11: a verifier must refuse
    /// critical extensions it does not understand, and Usher understands none.
    pub(super) crit: bool,
}

/// A claims set as read, before any check: every member optional, numbers converted.
#[derive(Debug, Default, PartialEq)]
pub(super) struct RawClaims<'a> {
    pub(super) iss: Option<Cow<'a, str>>,
    pub(super) sub: Option<Cow<'a, str>>,
    pub(super) aud: Option<RawAudience>,
    pub(super) jti: Option<Cow<'a, str>>,
    /// NumericDates (RFC 7519 §2) as whole seconds: see [`numeric_date`].
    pub(super) iat: Option<i64>,
    pub(super) nbf: Option<i64>,
    pub(super) exp: Option<i64>,
    pub(super) ev: Option<Cow<'a, str>>,
    pub(super) scope: Option<Cow<'a, str>>,
    pub(super) sid: Option<Cow<'a, str>>,
    pub(super) max_streams: Option<u32>,
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, PartialEq)]
pub(super) struct RawAudience {
    pub(super) values: Vec<String>,
    /// Whether the claim counts as present: PyJWT treats `""` and `[]` as absent.
    pub(super) present: bool,
}

/// The members of a JOSE header that verification reads.
#[derive(Clone, Copy)]
enum HeaderMember {
    Alg,
    Kid,
    Crit,
    Other,
}

impl HeaderMember {
    /// Reads a member name whose opening quote has been consumed, through the colon after it.
    #[inline(always)]
    fn read(cursor: &mut Cursor<'_>) -> Option<Self> {
        // Names are plain ASCII in practice: recognise them, with the closing quote and the
        // colon, without scanning them as strings first.
        let member = match cursor.current()? {
            b'a' if cursor.eat(b"alg\":") => Self::Alg,
            b'k' if cursor.eat(b"kid\":") => Self::Kid,
            b't' if cursor.eat(b"typ\":") => Self::Other,
            _ => {
                let member = match cursor.rest_of_string()?.as_bytes() {
                    b"alg" => Self::Alg,
                    b"kid" => Self::Kid,
                    b"crit" => Self::Crit,
                    _ => Self::Other,
                };
                cursor.expect(b':')?;
                member
            }
        };
        Some(member)
    }
}

/// Reads a JOSE header; `None` if it is not a JSON object with well-typed members.
pub(super) fn header(json: &[u8]) -> Option<RawHeader<'_>> {
    let mut header = RawHeader::default();
    let mut cursor = Cursor::new(json);
    let mut seen = 0;
    let mut more = open(&mut cursor)?;
    while more {
        let member = HeaderMember::read(&mut cursor)?;
        match member {
            HeaderMember::Alg => {
                first(&mut seen, 0)?;
                header.alg = optional_string(&mut cursor)?;
            }
            HeaderMember::Kid => {
                first(&mut seen, 1)?;
                header.kid = optional_string(&mut cursor)?;
            }
            HeaderMember::Crit => {
                first(&mut seen, 2)?;
                header.crit = optional(&mut cursor, Cursor::skip_value)?.is_some();
            }
            HeaderMember::Other => cursor.skip_value()?,
        }
        more = another(&mut cursor)?;
    }
    cursor.end()?;
    Some(header)
}

/// The members of a claims set that verification reads.
#[derive(Clone, Copy)]
enum Claim {
    Iss,
    Sub,
    Aud,
    Jti,
    Iat,
    Nbf,
    Exp,
    Ev,
    Scope,
    Sid,
    MaxStreams,
    Other,
}

impl Claim {
    /// Reads a member name whose opening quote has been consumed, through the colon after it.
    #[inline(always)]
    fn read(cursor: &mut Cursor<'_>) -> Option<Self> {
        // As for the header: names Usher reads, spelled plainly and followed directly by the
        // colon (as every JWT library writes them), are recognised in one comparison each;
        // anything else is read as a string.
        let claim = match cursor.current()? {
            b'i' if cursor.eat(b"iss\":") => Self::Iss,
            b'i' if cursor.eat(b"iat\":") => Self::Iat,
            b's' if cursor.eat(b"sub\":") => Self::Sub,
            b's' if cursor.eat(b"sid\":") => Self::Sid,
            b's' if cursor.eat(b"scope\":") => Self::Scope,
            b'a' if cursor.eat(b"aud\":") => Self::Aud,
            b'j' if cursor.eat(b"jti\":") => Self::Jti,
            b'n' if cursor.eat(b"nbf\":") => Self::Nbf,
            b'e' if cursor.eat(b"exp\":") => Self::Exp,
            b'e' if cursor.eat(b"ev\":") => Self::Ev,
            b'm' if cursor.eat(b"max_streams\":") => Self::MaxStreams,
            _ => {
                let claim = match cursor.rest_of_string()?.as_bytes() {
                    b"iss" => Self::Iss,
                    b"sub" => Self::Sub,
                    b"aud" => Self::Aud,
                    b"jti" => Self::Jti,
                    b"iat" => Self::Iat,
                    b"nbf" => Self::Nbf,
                    b"exp" => Self::Exp,
                    b"ev" => Self::Ev,
                    b"scope" => Self::Scope,
                    b"sid" => Self::Sid,
                    b"max_streams" => Self::MaxStreams,
                    _ => Self::Other,
                };
                cursor.expect(b':')?;
                claim
            }
        };
        Some(claim)
    }
}

impl<'a> RawClaims<'a> {
    /// Where a string claim goes; `None` for the others.
    #[inline(always)]
    fn text(&mut self, claim: Claim) -> Option<&mut Option<Cow<'a, str>>> {
        match claim {
            Claim::Iss => Some(&mut self.iss),
            Claim::Sub => Some(&mut self.sub),
            Claim::Jti => Some(&mut self.jti),
            Claim::Ev => Some(&mut self.ev),
            Claim::Scope => Some(&mut self.scope),
            Claim::Sid => Some(&mut self.sid),
            _ => None,
        }
    }

    /// Where a NumericDate claim goes; `None` for the others.
    #[inline(always)]
    fn date(&mut self, claim: Claim) -> Option<&mut Option<i64>> {
        match claim {
            Claim::Iat => Some(&mut self.iat),
            Claim::Nbf => Some(&mut self.nbf),
            Claim::Exp => Some(&mut self.exp),
            _ => None,
        }
    }
}

/// Reads a claims set into `claims`, which starts out empty; `None` if it is not a JSON object
/// with well-typed members. (Filled in place: the struct is a few hundred bytes, and returning
/// it by value costs a copy on the hot path.)
pub(super) fn claims<'a>(json: &'a [u8], claims: &mut RawClaims<'a>) -> Option<()> {
    let mut cursor = Cursor::new(json);
    let mut seen = 0;
    let mut more = open(&mut cursor)?;
    while more {
        let claim = Claim::read(&mut cursor)?;
        if !matches!(claim, Claim::Other) {
            first(&mut seen, claim as u32)?;
        }
        let c = &mut cursor;
        // One place reads the six string claims and one the three dates, so the scanners
        // are inlined once each.
        if let Some(slot) = claims.text(claim) {
            *slot = optional_string(c)?;
        } else if let Some(slot) = claims.date(claim) {
            *slot = optional(c, numeric_date)?;
        } else {
            match claim {
                Claim::Aud => claims.aud = c.detached(|c| optional(c, audience))?,
                Claim::MaxStreams => claims.max_streams = optional(c, count)?,
                _ => c.skip_value()?,
            }
        }
        more = another(&mut cursor)?;
    }
    cursor.end()
}

/// Consumes an object's opening brace: `true` if a member follows (its name's opening quote
/// consumed too), `false` if the object is empty (its closing brace consumed).
#[inline(always)]
fn open(cursor: &mut Cursor<'_>) -> Option<bool> {
    cursor.expect(b'{')?;
    match cursor.peek()? {
        b'"' => {
            cursor.bump();
            Some(true)
        }
        b'}' => {
            cursor.bump();
            Some(false)
        }
        _ => None,
    }
}

/// After a member's value: `true` if a comma and another member follow (its name's opening
/// quote consumed), `false` at the closing brace (consumed).
#[inline(always)]
fn another(cursor: &mut Cursor<'_>) -> Option<bool> {
    // Compact JSON, the usual case, in one comparison.
    if cursor.eat(b",\"") {
        return Some(true);
    }
    match cursor.peek()? {
        b',' => {
            cursor.bump();
            cursor.expect(b'"')?;
            Some(true)
        }
        b'}' => {
            cursor.bump();
            Some(false)
        }
        _ => None,
    }
}

/// Marks member number `bit` as seen; `None` if it already was.
#[inline(always)]
fn first(seen: &mut u16, bit: u32) -> Option<()> {
    let mask = 1 << bit;
    if *seen & mask != 0 {
        return None;
    }
    *seen |= mask;
    Some(())
}

/// `null`, or a value `read` accepts.
#[inline(always)]
fn optional<'a, T>(
    cursor: &mut Cursor<'a>,
    read: impl FnOnce(&mut Cursor<'a>) -> Option<T>,
) -> Option<Option<T>> {
    if cursor.peek()? == b'n' {
        cursor.literal(b"null")?;
        Some(None)
    } else {
        read(cursor).map(Some)
    }
}

/// `null`, or a string.
#[inline(always)]
fn optional_string<'a>(cursor: &mut Cursor<'a>) -> Option<Option<Cow<'a, str>>> {
    match cursor.peek()? {
        b'"' => {
            cursor.bump();
            cursor.rest_of_string().map(Some)
        }
        b'n' => {
            cursor.literal(b"null")?;
            Some(None)
        }
        _ => None,
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional, kept as whole
/// seconds truncated toward zero and clamped to `i64` (PyJWT's `int()` truncates the same way,
/// and clamping keeps every comparison with a realistic clock the same).
#[inline(always)]
fn numeric_date(cursor: &mut Cursor<'_>) -> Option<i64> {
    cursor.peek()?;
    Some(match cursor.number()? {
        Number::U64(n) => i64::try_from(n).unwrap_or(i64::MAX),
        Number::I64(n) => n,
        #[expect(
            clippy::cast_possible_truncation,
            reason = "`as` truncates toward zero and saturates, which is the rule"
        )]
        Number::F64(n) => n as i64,
    })
}

/// `max_streams`: an integer from 0 to `u32::MAX`, written without fraction, exponent or sign
/// (serde's `u32` takes nothing else, and `-0` is a float to `serde_json`).
fn count(cursor: &mut Cursor<'_>) -> Option<u32> {
    cursor.peek()?;
    match cursor.number()? {
        Number::U64(n) => u32::try_from(n).ok(),
        Number::I64(_) | Number::F64(_) => None,
    }
}

/// `aud`: a string, or an array of strings (RFC 7519 §4.1.3).
#[inline(never)]
fn audience(cursor: &mut Cursor<'_>) -> Option<RawAudience> {
    match cursor.peek()? {
        b'"' => {
            let value = cursor.string()?;
            Some(RawAudience {
                present: !value.is_empty(),
                values: vec![value.into_owned()],
            })
        }
        b'[' => {
            cursor.bump();
            let mut values = Vec::new();
            if cursor.peek()? == b']' {
                cursor.bump();
            } else {
                loop {
                    values.push(cursor.string()?.into_owned());
                    match cursor.peek()? {
                        b',' => cursor.bump(),
                        b']' => {
                            cursor.bump();
                            break;
                        }
                        _ => return None,
                    }
                }
            }
            let present = !values.is_empty();
            Some(RawAudience { values, present })
        }
        _ => None,
    }
}

#[cfg(test)]
pub(super) mod tests;
