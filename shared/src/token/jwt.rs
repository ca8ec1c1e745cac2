//! Ticket tokens: JWT (RFC 7519) in JWS compact form (RFC 7515 §7.1), HS256 only.
//!
//! The ticketing system signs each ticket with a key it shares with the edge; the header's
//! `kid` names the key so keys can be rotated. Verification pins the algorithm before anything
//! else (RFC 8725 §3.1): `none`, `RS256`, `ES256` and every other `alg` are refused, so an
//! attacker can neither strip the signature nor make the edge treat a shared secret as a public
//! key.
//!
//! Checks run in this order, and the first failure is the [`Reason`]: the compact form and
//! base64url (`malformed`), `alg` (`alg_not_allowed`), `kid` (`missing_kid`, `unknown_kid`),
//! the MAC in constant time (`bad_signature`), the payload JSON (`malformed`), required claims
//! `exp`, `ev`, `scope` (`missing_claim`), `iat` and `nbf` (`not_yet_valid`), `exp`
//! (`expired`), `iss` (`bad_issuer`), `aud` (`bad_audience`), `ev` (`wrong_event`), and the
//! requested path against `scope` (`out_of_scope`). This is PyJWT's order for the registered
//! claims, so a ticketing system built on PyJWT sees the same verdicts; the interop tests
//! hold us to it.
//!
//! Beyond its MAC a check should cost as little as safe code allows, so decoding and reading
//! are done by hand, in private modules beside this one: base64url (RFC 4648 §5) in `base64url`,
//! the header and claims JSON in `claims` over a strict RFC 8259 cursor in `json`, borrowing
//! every string from the decoded bytes until the ticket is known to be good. Both readers are
//! held to the general-purpose implementations they replaced (the `base64` crate's
//! `URL_SAFE_NO_PAD`, and `serde` derives over `serde_json`) by differential tests, so they
//! accept and refuse exactly the same tokens.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::claims::{self, RawAudience, RawClaims};
use super::{ConfigError, Keyring, Reason, base64url, glob};

/// The only `alg` accepted.
pub const ALGORITHM: &str = "HS256";

/// What a ticket must satisfy besides a valid signature. Everything here is the edge's
/// configuration, not the ticket's.
#[derive(Clone, Debug, Default)]
pub struct Policy<'a> {
    /// The audience this edge identifies as. `None` accepts only tickets without `aud`
    /// (RFC 7519 §4.1.3).
    pub audience: Option<&'a str>,
    /// The issuer tickets must name in `iss`; `None` does not check `iss`.
    pub issuer: Option<&'a str>,
    /// Clock skew tolerated between the ticketing system and the edge, in seconds, applied
    /// to `exp`, `nbf` and `iat`.
    pub leeway_secs: u64,
    /// The event being requested; `None` skips the `ev` comparison.
    pub event: Option<&'a str>,
}

/// The claims of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the ticketing system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject: the viewer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audiences; serialised as a string when there is one, an array otherwise.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_audience"
    )]
    pub aud: Vec<String>,
    /// Ticket id, the key for revocation and concurrency leases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Issued-at time, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not-before time, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry time, Unix seconds.
    pub exp: i64,
    /// Event id the ticket is for.
    pub ev: String,
    /// Path glob the ticket opens, e.g. `/events/e1/*`.
    pub scope: String,
    /// Optional viewer session id chosen by the ticketing system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// How many screens may play at once with this ticket.
    #[serde(default = "one")]
    pub max_streams: u32,
}

fn one() -> u32 {
    1
}

fn serialize_audience<S: serde::Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
    match aud {
        [single] => s.serialize_str(single),
        many => many.serialize(s),
    }
}

/// A verified ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The key id that signed it.
    pub kid: String,
    /// Its claims.
    pub claims: Claims,
}

/// Verifies `token` for a request of `path` at time `now` (Unix seconds).
pub fn verify(
    token: &str,
    keyring: &Keyring,
    policy: &Policy<'_>,
    path: &str,
    now: u64,
) -> Result<Ticket, Reason> {
    let Segments {
        signing_input,
        header: header_b64,
        payload: payload_b64,
        signature,
    } = Segments::of(token).ok_or(Reason::Malformed)?;

    // Every segment is decoded before any check, as PyJWT does, so a token that is not even
    // well-formed is reported as `malformed` whatever else is wrong with it. Nothing in the
    // payload is trusted until the MAC matches.
    // A header is ~40 bytes, a ticket's claims a few hundred, an HS256 signature 32.
    let mut header_buf = Buffer::<128>::new();
    let mut payload_buf = Buffer::<1024>::new();
    let mut signature_buf = Buffer::<48>::new();
    let header_json = header_buf.decode(header_b64)?;
    let header = claims::header(header_json).ok_or(Reason::Malformed)?;
    let payload_json = payload_buf.decode(payload_b64)?;
    let signature = signature_buf.decode(signature)?;
    if header.crit {
        return Err(Reason::Malformed);
    }
    if header.alg.as_deref() != Some(ALGORITHM) {
        return Err(Reason::AlgNotAllowed);
    }
    let kid = header.kid.ok_or(Reason::MissingKid)?;
    let key = keyring.get(&kid).ok_or(Reason::UnknownKid)?;
    if !key.verify(&[signing_input.as_bytes()], signature) {
        return Err(Reason::BadSignature);
    }

    let mut raw = RawClaims::default();
    claims::claims(payload_json, &mut raw).ok_or(Reason::Malformed)?;
    check_claims(&kid, &mut raw, policy, path, now)
}

/// The parts of a compact JWS (RFC 7515 §7.1).
#[derive(Debug, PartialEq)]
struct Segments<'t> {
    /// Everything before the last dot: what the MAC covers.
    signing_input: &'t str,
    header: &'t str,
    payload: &'t str,
    signature: &'t str,
}

impl<'t> Segments<'t> {
    /// Splits `token` at its last dot, then the signing input at its first: the header ends at
    /// the token's first dot and the signature starts after its last. With more than two dots
    /// the payload keeps the extra ones and then fails base64url decoding, as it must.
    fn of(token: &'t str) -> Option<Self> {
        let bytes = token.as_bytes();
        let (first, last) = (first_dot(bytes)?, last_dot(bytes)?);
        if first == last {
            return None;
        }
        Some(Segments {
            signing_input: token.get(..last)?,
            header: token.get(..first)?,
            payload: token.get(first + 1..last)?,
            signature: token.get(last + 1..)?,
        })
    }
}

/// A mask with the high bit of each byte of `chunk` that is a `.`. Exact per byte (no carry
/// crosses bytes): after the XOR a byte is zero exactly when neither its low seven bits nor
/// its high bit is set. Headers and signatures are ~50 characters, and this finds their dots
/// eight bytes at a time on every ticket check.
fn dots(chunk: &[u8; 8]) -> u64 {
    const ONES: u64 = u64::MAX / 255;
    const LOW7: u64 = ONES * 0x7f;
    let x = u64::from_le_bytes(*chunk) ^ (ONES * u64::from(b'.'));
    !(((x & LOW7) + LOW7) | x) & !LOW7
}

/// The index of the first `.` in `bytes`.
fn first_dot(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(chunk) = bytes.get(start..).and_then(<[u8]>::first_chunk) {
        let hits = dots(chunk);
        if hits != 0 {
            return Some(start + hits.trailing_zeros() as usize / 8);
        }
        start += 8;
    }
    let at = bytes.get(start..)?.iter().position(|&b| b == b'.')?;
    Some(start + at)
}

/// The index of the last `.` in `bytes`.
fn last_dot(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.len();
    while let Some(chunk) = bytes.get(..end).and_then(<[u8]>::last_chunk) {
        let hits = dots(chunk);
        if hits != 0 {
            return Some(end - 1 - hits.leading_zeros() as usize / 8);
        }
        end -= 8;
    }
    bytes.get(..end)?.iter().rposition(|&b| b == b'.')
}

/// Checks the claims in the documented order, then builds the ticket: the owned strings are
/// allocated only for a ticket that passes, and straight into the value returned.
fn check_claims(
    kid: &str,
    raw: &mut RawClaims<'_>,
    policy: &Policy<'_>,
    path: &str,
    now: u64,
) -> Result<Ticket, Reason> {
    let (Some(exp), Some(ev), Some(scope)) = (raw.exp, raw.ev.take(), raw.scope.take()) else {
        return Err(Reason::MissingClaim);
    };
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let leeway = i64::try_from(policy.leeway_secs).unwrap_or(i64::MAX);
    let latest_start = now.saturating_add(leeway);
    let (iat, nbf) = (raw.iat, raw.nbf);
    if iat.is_some_and(|iat| iat > latest_start) || nbf.is_some_and(|nbf| nbf > latest_start) {
        return Err(Reason::NotYetValid);
    }
    if exp <= now.saturating_sub(leeway) {
        return Err(Reason::Expired);
    }
    if let Some(issuer) = policy.issuer {
        match raw.iss.as_deref() {
            None => return Err(Reason::MissingClaim),
            Some(iss) if iss != issuer => return Err(Reason::BadIssuer),
            Some(_) => {}
        }
    }
    let (aud, has_aud) = match raw.aud.take() {
        None => (Vec::new(), false),
        Some(RawAudience { values, present }) => (values, present),
    };
    match policy.audience {
        None if has_aud => return Err(Reason::BadAudience),
        None => {}
        Some(_) if !has_aud => return Err(Reason::MissingClaim),
        Some(audience) if !aud.iter().any(|a| a == audience) => {
            return Err(Reason::BadAudience);
        }
        Some(_) => {}
    }
    if policy.event.is_some_and(|event| event != ev) {
        return Err(Reason::WrongEvent);
    }
    let max_streams = raw.max_streams.unwrap_or(1);
    if max_streams == 0 {
        return Err(Reason::Malformed);
    }
    if !glob::matches(&scope, path) {
        return Err(Reason::OutOfScope);
    }
    Ok(Ticket {
        kid: String::from(kid),
        claims: Claims {
            iss: raw.iss.take().map(Cow::into_owned),
            sub: raw.sub.take().map(Cow::into_owned),
            aud,
            jti: raw.jti.take().map(Cow::into_owned),
            iat,
            nbf,
            exp,
            ev: ev.into_owned(),
            scope: scope.into_owned(),
            sid: raw.sid.take().map(Cow::into_owned),
            max_streams,
        },
    })
}

/// Room for one decoded segment: on the stack for the sizes tickets have (`N` bytes), on the
/// heap beyond.
struct Buffer<const N: usize> {
    stack: [u8; N],
    heap: Vec<u8>,
}

impl<const N: usize> Buffer<N> {
    fn new() -> Self {
        Buffer {
            stack: [0; N],
            heap: Vec::new(),
        }
    }

    /// Decodes one base64url segment. Trailing `=` padding is tolerated when it is correct
    /// (some issuers send it), and non-canonical encodings are refused, so one token has one
    /// spelling.
    fn decode(&mut self, segment: &str) -> Result<&[u8], Reason> {
        let stripped = segment.trim_end_matches('=');
        let padding = segment.len() - stripped.len();
        if padding > 2 || (padding > 0 && !segment.len().is_multiple_of(4)) {
            return Err(Reason::Malformed);
        }
        let len = base64url::decoded_len(stripped.len()).ok_or(Reason::Malformed)?;
        let out = match self.stack.get_mut(..len) {
            Some(out) => out,
            None => {
                self.heap.resize(len, 0);
                &mut self.heap
            }
        };
        base64url::decode(stripped.as_bytes(), out).ok_or(Reason::Malformed)?;
        Ok(out)
    }
}

/// Mints a ticket signed with the keyring's key `kid`.
///
/// This is what a ticketing system does; Usher uses it in tests, demos and `usher token mint`.
/// The header is `{"alg":"HS256","kid":…,"typ":"JWT"}`.
pub fn mint(claims: &Claims, kid: &str, keyring: &Keyring) -> Result<String, ConfigError> {
    #[derive(Serialize)]
    struct Header<'a> {
        alg: &'static str,
        kid: &'a str,
        typ: &'static str,
    }
    let key = keyring.get(kid).ok_or(ConfigError::UnknownKeyId)?;
    if claims.max_streams == 0 || claims.ev.is_empty() || claims.scope.is_empty() {
        return Err(ConfigError::BadValue);
    }
    let header = serde_json::to_vec(&Header {
        alg: ALGORITHM,
        kid,
        typ: "JWT",
    })
    .map_err(|_| ConfigError::BadValue)?;
    let payload = serde_json::to_vec(claims).map_err(|_| ConfigError::BadValue)?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let signature = key.sign(&[token.as_bytes()]);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    const NOW: u64 = 1_767_225_600;

    fn ring() -> Keyring {
        Keyring::from_json(br#"{"k1":"000102030405060708090a0b0c0d0e0f","k2":"ff"}"#).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            iss: Some("tickets".into()),
            sub: Some("viewer-1".into()),
            aud: alloc::vec!["usher".into()],
            jti: Some("t-1".into()),
            iat: Some(1_767_220_000),
            nbf: Some(1_767_220_000),
            exp: 1_767_240_000,
            ev: "e1".into(),
            scope: "/events/e1/*".into(),
            sid: None,
            max_streams: 2,
        }
    }

    fn policy() -> Policy<'static> {
        Policy {
            audience: Some("usher"),
            issuer: Some("tickets"),
            leeway_secs: 30,
            event: Some("e1"),
        }
    }

    fn sign_raw(header: &str, payload: &str, kid: &str) -> String {
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let sig = ring().get(kid).unwrap().sign(&[token.as_bytes()]);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        token
    }

    #[test]
    fn minted_ticket_verifies_with_its_claims() {
        let token = mint(&claims(), "k1", &ring()).unwrap();
        let ticket = verify(&token, &ring(), &policy(), "/events/e1/master.m3u8", NOW).unwrap();
        assert_eq!(ticket.kid, "k1");
        assert_eq!(ticket.claims, claims());
    }

    #[test]
    fn any_other_algorithm_is_refused_before_the_key_is_looked_up() {
        for alg in ["none", "RS256", "ES256", "HS512", "hs256", ""] {
            let header = alloc::format!(r#"{{"alg":"{alg}","kid":"nope"}}"#);
            let token = sign_raw(&header, r#"{"exp":1,"ev":"e1","scope":"*"}"#, "k1");
            assert_eq!(
                verify(&token, &ring(), &policy(), "/", NOW),
                Err(Reason::AlgNotAllowed),
                "{alg}"
            );
        }
        let token = sign_raw(r#"{"kid":"k1"}"#, "{}", "k1");
        assert_eq!(
            verify(&token, &ring(), &policy(), "/", NOW),
            Err(Reason::AlgNotAllowed)
        );
    }

    #[test]
    fn unsigned_none_token_is_refused() {
        let mut token = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(r#"{"exp":9999999999,"ev":"e1","scope":"*"}"#));
        token.push('.');
        assert_eq!(
            verify(&token, &ring(), &policy(), "/", NOW),
            Err(Reason::AlgNotAllowed)
        );
    }

    #[test]
    fn kid_is_required_and_must_be_known() {
        let body = r#"{"exp":9999999999,"ev":"e1","scope":"*"}"#;
        let token = sign_raw(r#"{"alg":"HS256"}"#, body, "k1");
        assert_eq!(
            verify(&token, &ring(), &Policy::default(), "/", NOW),
            Err(Reason::MissingKid)
        );
        let token = sign_raw(r#"{"alg":"HS256","kid":"k9"}"#, body, "k1");
        assert_eq!(
            verify(&token, &ring(), &Policy::default(), "/", NOW),
            Err(Reason::UnknownKid)
        );
    }

    #[test]
    fn ticket_signed_with_another_key_has_a_bad_signature() {
        let body = r#"{"exp":9999999999,"ev":"e1","scope":"*"}"#;
        let token = sign_raw(r#"{"alg":"HS256","kid":"k1"}"#, body, "k2");
        assert_eq!(
            verify(&token, &ring(), &Policy::default(), "/", NOW),
            Err(Reason::BadSignature)
        );
    }

    #[test]
    fn every_changed_byte_is_detected() {
        let token = mint(&claims(), "k1", &ring()).unwrap();
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(tampered) = String::from_utf8(bytes) else {
                continue;
            };
            if tampered == token {
                continue;
            }
            let verdict = verify(&tampered, &ring(), &policy(), "/events/e1/x", NOW);
            assert!(verdict.is_err(), "byte {i} changed and still valid");
        }
    }

    #[test]
    fn times_are_checked_with_leeway() {
        let mut c = claims();
        c.exp = NOW as i64 - 10;
        let token = mint(&c, "k1", &ring()).unwrap();
        // 10 s late is inside 30 s of leeway, 40 s late is not.
        assert!(verify(&token, &ring(), &policy(), "/events/e1/a", NOW).is_ok());
        assert_eq!(
            verify(&token, &ring(), &policy(), "/events/e1/a", NOW + 30),
            Err(Reason::Expired)
        );
        let strict = Policy {
            leeway_secs: 0,
            ..policy()
        };
        assert_eq!(
            verify(&token, &ring(), &strict, "/events/e1/a", NOW),
            Err(Reason::Expired)
        );

        let mut c = claims();
        c.nbf = Some(NOW as i64 + 20);
        let token = mint(&c, "k1", &ring()).unwrap();
        assert!(verify(&token, &ring(), &policy(), "/events/e1/a", NOW).is_ok());
        assert_eq!(
            verify(&token, &ring(), &strict, "/events/e1/a", NOW),
            Err(Reason::NotYetValid)
        );

        let mut c = claims();
        c.iat = Some(NOW as i64 + 100);
        let token = mint(&c, "k1", &ring()).unwrap();
        assert_eq!(
            verify(&token, &ring(), &policy(), "/events/e1/a", NOW),
            Err(Reason::NotYetValid)
        );
    }

    #[test]
    fn exp_at_exactly_now_is_expired() {
        let mut c = claims();
        c.exp = NOW as i64;
        let token = mint(&c, "k1", &ring()).unwrap();
        let strict = Policy {
            leeway_secs: 0,
            ..policy()
        };
        assert_eq!(
            verify(&token, &ring(), &strict, "/events/e1/a", NOW),
            Err(Reason::Expired)
        );
        assert!(verify(&token, &ring(), &strict, "/events/e1/a", NOW - 1).is_ok());
    }

    #[test]
    fn audience_issuer_event_and_scope_are_enforced() {
        let token = mint(&claims(), "k1", &ring()).unwrap();
        let check = |p: Policy<'_>, path: &str| verify(&token, &ring(), &p, path, NOW);
        let other_aud = Policy {
            audience: Some("other"),
            ..policy()
        };
        assert_eq!(check(other_aud, "/events/e1/a"), Err(Reason::BadAudience));
        let no_aud = Policy {
            audience: None,
            ..policy()
        };
        assert_eq!(check(no_aud, "/events/e1/a"), Err(Reason::BadAudience));
        let other_iss = Policy {
            issuer: Some("evil"),
            ..policy()
        };
        assert_eq!(check(other_iss, "/events/e1/a"), Err(Reason::BadIssuer));
        let other_event = Policy {
            event: Some("e2"),
            ..policy()
        };
        assert_eq!(check(other_event, "/events/e1/a"), Err(Reason::WrongEvent));
        assert_eq!(
            check(policy(), "/events/e2/master.m3u8"),
            Err(Reason::OutOfScope)
        );
    }

    #[test]
    fn missing_required_claims_are_named() {
        for body in [
            r#"{"ev":"e1","scope":"*"}"#,
            r#"{"exp":9999999999,"scope":"*"}"#,
            r#"{"exp":9999999999,"ev":"e1"}"#,
            r#"{"exp":null,"ev":"e1","scope":"*"}"#,
        ] {
            let token = sign_raw(r#"{"alg":"HS256","kid":"k1"}"#, body, "k1");
            assert_eq!(
                verify(&token, &ring(), &Policy::default(), "/", NOW),
                Err(Reason::MissingClaim),
                "{body}"
            );
        }
    }

    #[test]
    fn malformed_tokens_are_reported_as_such() {
        let good = mint(&claims(), "k1", &ring()).unwrap();
        let cases = [
            "".to_string(),
            "abc".to_string(),
            "a.b".to_string(),
            "!!!.???.***".to_string(),
            alloc::format!("{good}xy"),
            alloc::format!("{good}=="),
            sign_raw("[]", "{}", "k1"),
            sign_raw(r#"{"alg":"HS256","kid":"k1"}"#, "not json", "k1"),
            sign_raw(r#"{"alg":"HS256","kid":"k1"}"#, r#"{"exp":"soon"}"#, "k1"),
            sign_raw(r#"{"alg":"HS256","kid":"k1","crit":["exp"]}"#, "{}", "k1"),
            sign_raw(r#"{"alg":"HS256","kid":7}"#, "{}", "k1"),
        ];
        for token in cases {
            let verdict = verify(&token, &ring(), &policy(), "/", NOW);
            assert_eq!(verdict, Err(Reason::Malformed), "{token}");
        }
    }

    #[test]
    fn segments_split_as_rsplit_then_split_did() {
        fn old(token: &str) -> Option<Segments<'_>> {
            let (signing_input, signature) = token.rsplit_once('.')?;
            let (header, payload) = signing_input.split_once('.')?;
            Some(Segments {
                signing_input,
                header,
                payload,
                signature,
            })
        }
        let mut cases: Vec<String> = [
            "", ".", "..", "...", "a.b", "a.b.c", "a..c", ".b.", "a.b.c.d",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cases.push(mint(&claims(), "k1", &ring()).unwrap());
        for len in 0..40 {
            for dots in [0usize, 1, 2, 3] {
                for seed in 0..len.max(1) {
                    let mut bytes = alloc::vec![b'x'; len];
                    for d in 0..dots.min(len) {
                        bytes[(seed * 7 + d * 13) % len] = b'.';
                    }
                    let mut text = String::from_utf8(bytes).unwrap();
                    cases.push(text.clone());
                    text.insert(len / 2, '\u{e9}');
                    cases.push(text);
                }
            }
        }
        for token in &cases {
            assert_eq!(Segments::of(token), old(token), "{token:?}");
        }
    }

    #[test]
    fn correct_base64_padding_is_tolerated() {
        let token = mint(&claims(), "k1", &ring()).unwrap();
        let (rest, sig) = token.rsplit_once('.').unwrap();
        let padded_len = sig.len().div_ceil(4) * 4;
        if padded_len != sig.len() {
            let padded = alloc::format!("{rest}.{sig:=<padded_len$}");
            assert!(verify(&padded, &ring(), &policy(), "/events/e1/a", NOW).is_ok());
        }
    }

    #[test]
    fn fractional_and_huge_numeric_dates_behave_like_truncated_integers() {
        let body = r#"{"exp":1e300,"nbf":1767225600.9,"ev":"e1","scope":"*"}"#;
        let token = sign_raw(r#"{"alg":"HS256","kid":"k1"}"#, body, "k1");
        assert!(verify(&token, &ring(), &Policy::default(), "/", NOW).is_ok());
    }

    #[test]
    fn tickets_larger_than_the_stack_buffers_still_verify() {
        let mut c = claims();
        c.sub = Some("v".repeat(5000));
        let token = mint(&c, "k1", &ring()).unwrap();
        let ticket = verify(&token, &ring(), &policy(), "/events/e1/a", NOW).unwrap();
        assert_eq!(ticket.claims, c);
        let long_kid = "k".repeat(300);
        let mut big_ring = ring();
        big_ring.insert(&long_kid, b"secret").unwrap();
        let token = mint(&claims(), &long_kid, &big_ring).unwrap();
        assert!(verify(&token, &big_ring, &policy(), "/events/e1/a", NOW).is_ok());
    }

    /// `verify` as it was before the hand-written readers, kept verbatim but for the types:
    /// the `base64` crate's decoder, the `serde` oracle for the header and the claims, and the
    /// original order of checks and allocations.
    fn verify_before(
        token: &str,
        keyring: &Keyring,
        policy: &Policy<'_>,
        path: &str,
        now: u64,
    ) -> Result<Ticket, Reason> {
        use claims::tests::oracle;
        fn decode(segment: &str) -> Result<Vec<u8>, Reason> {
            let stripped = segment.trim_end_matches('=');
            let padding = segment.len() - stripped.len();
            if padding > 2 || (padding > 0 && !segment.len().is_multiple_of(4)) {
                return Err(Reason::Malformed);
            }
            URL_SAFE_NO_PAD
                .decode(stripped)
                .map_err(|_| Reason::Malformed)
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(Reason::Malformed)?;
        let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(Reason::Malformed)?;
        let header_json = decode(header_b64)?;
        let header = oracle::header(&header_json).ok_or(Reason::Malformed)?;
        let payload_json = decode(payload_b64)?;
        let signature = decode(signature)?;
        if header.crit {
            return Err(Reason::Malformed);
        }
        if header.alg.as_deref() != Some(ALGORITHM) {
            return Err(Reason::AlgNotAllowed);
        }
        let kid = header.kid.ok_or(Reason::MissingKid)?;
        let key = keyring.get(&kid).ok_or(Reason::UnknownKid)?;
        if !key.verify(&[signing_input.as_bytes()], &signature) {
            return Err(Reason::BadSignature);
        }
        let raw = oracle::claims(&payload_json).ok_or(Reason::Malformed)?;
        let (Some(exp), Some(ev), Some(scope)) = (raw.exp, raw.ev, raw.scope) else {
            return Err(Reason::MissingClaim);
        };
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let leeway = i64::try_from(policy.leeway_secs).unwrap_or(i64::MAX);
        let latest_start = now.saturating_add(leeway);
        let (iat, nbf) = (raw.iat, raw.nbf);
        if iat.is_some_and(|iat| iat > latest_start) || nbf.is_some_and(|nbf| nbf > latest_start) {
            return Err(Reason::NotYetValid);
        }
        if exp <= now.saturating_sub(leeway) {
            return Err(Reason::Expired);
        }
        if let Some(issuer) = policy.issuer {
            match raw.iss.as_deref() {
                None => return Err(Reason::MissingClaim),
                Some(iss) if iss != issuer => return Err(Reason::BadIssuer),
                Some(_) => {}
            }
        }
        let (aud, has_aud) = match raw.aud {
            None => (Vec::new(), false),
            Some(RawAudience { values, present }) => (values, present),
        };
        match policy.audience {
            None if has_aud => return Err(Reason::BadAudience),
            None => {}
            Some(_) if !has_aud => return Err(Reason::MissingClaim),
            Some(audience) if !aud.iter().any(|a| a == audience) => {
                return Err(Reason::BadAudience);
            }
            Some(_) => {}
        }
        if policy.event.is_some_and(|event| event != ev) {
            return Err(Reason::WrongEvent);
        }
        let max_streams = raw.max_streams.unwrap_or(1);
        if max_streams == 0 {
            return Err(Reason::Malformed);
        }
        let claims = Claims {
            iss: raw.iss.map(Cow::into_owned),
            sub: raw.sub.map(Cow::into_owned),
            aud,
            jti: raw.jti.map(Cow::into_owned),
            iat,
            nbf,
            exp,
            ev: ev.into_owned(),
            scope: scope.into_owned(),
            sid: raw.sid.map(Cow::into_owned),
            max_streams,
        };
        if !glob::matches(&claims.scope, path) {
            return Err(Reason::OutOfScope);
        }
        Ok(Ticket {
            kid: kid.into_owned(),
            claims,
        })
    }

    /// The policies and requests each generated token is checked under.
    fn requests() -> [(Policy<'static>, &'static str, u64); 5] {
        let open = Policy::default();
        let strict = Policy {
            leeway_secs: 0,
            ..policy()
        };
        [
            (policy(), "/events/e1/master.m3u8", NOW),
            (open, "/", NOW),
            (strict, "/events/e1/a", NOW + 20_000),
            (
                Policy {
                    audience: None,
                    issuer: None,
                    leeway_secs: u64::MAX,
                    event: Some("e2"),
                },
                "/events/e2/x",
                0,
            ),
            (policy(), "/events/e1/a", u64::MAX),
        ]
    }

    fn agree_end_to_end(token: &str) {
        let keyring = ring();
        for (policy, path, now) in requests() {
            assert_eq!(
                verify(token, &keyring, &policy, path, now),
                verify_before(token, &keyring, &policy, path, now),
                "{token:?} {policy:?} {path} {now}"
            );
        }
    }

    fn sign_bytes(header: &[u8], payload: &[u8], kid: &str) -> String {
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let sig = ring().get(kid).unwrap().sign(&[token.as_bytes()]);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        token
    }

    /// Claims that mostly pass the policies of [`requests`], and fail each check sometimes.
    fn any_claims() -> impl Strategy<Value = Claims> {
        let text = |usual: &'static str, others: &'static [&'static str]| {
            prop_oneof![
                3 => Just(String::from(usual)),
                1 => prop::sample::select(others).prop_map(String::from),
            ]
        };
        let start = prop_oneof![
            4 => NOW as i64 - 50_000..NOW as i64,
            1 => NOW as i64 - 50_000..NOW as i64 + 50_000,
            1 => prop::sample::select(&[i64::MIN, i64::MAX][..]),
        ];
        let end = prop_oneof![
            4 => NOW as i64 + 1..NOW as i64 + 50_000,
            1 => NOW as i64 - 50_000..NOW as i64 + 50_000,
            1 => prop::sample::select(&[i64::MIN, i64::MAX][..]),
        ];
        let audience = prop_oneof![
            3 => Just(alloc::vec![String::from("usher")]),
            1 => prop::collection::vec(
                prop::sample::select(&["usher", "other", ""][..]).prop_map(String::from),
                0..3
            ),
        ];
        (
            (
                proptest::option::of(text("tickets", &["evil", "", "tick\u{e9}ts"])),
                proptest::option::of("[a-z0-9-]{0,12}"),
                audience,
                proptest::option::of("[a-z0-9-]{0,12}"),
            ),
            (
                proptest::option::of(start.clone()),
                proptest::option::of(start),
                end,
            ),
            (
                text("e1", &["e2", "e\u{e9}"]),
                text("/events/e1/*", &["*", "/events/e2/*", "/events/e1/a", "/?"]),
                proptest::option::of("[a-f0-9-]{0,36}"),
                1u32..4,
            ),
        )
            .prop_map(
                |((iss, sub, aud, jti), (iat, nbf, exp), (ev, scope, sid, max_streams))| Claims {
                    iss,
                    sub,
                    aud,
                    jti,
                    iat,
                    nbf,
                    exp,
                    ev,
                    scope,
                    sid,
                    max_streams,
                },
            )
    }

    /// Characters a tampered token might gain: the alphabet's edges, padding, dots, the
    /// standard alphabet's `+` and `/`, and some that are not base64 at all.
    fn token_char() -> impl Strategy<Value = char> {
        prop::sample::select(
            &[
                'A', 'B', 'Q', 'g', 'w', 'z', '0', '9', '-', '_', '=', '.', '+', '/', ' ', '\u{e9}',
            ][..],
        )
    }

    #[derive(Clone, Debug)]
    enum TokenEdit {
        Replace(prop::sample::Index, char),
        Insert(prop::sample::Index, char),
        Remove(prop::sample::Index),
    }

    fn token_edit() -> impl Strategy<Value = TokenEdit> {
        prop_oneof![
            (any::<prop::sample::Index>(), token_char())
                .prop_map(|(i, c)| TokenEdit::Replace(i, c)),
            (any::<prop::sample::Index>(), token_char()).prop_map(|(i, c)| TokenEdit::Insert(i, c)),
            any::<prop::sample::Index>().prop_map(TokenEdit::Remove),
        ]
    }

    fn tamper(token: &str, edits: &[TokenEdit]) -> String {
        let mut chars: Vec<char> = token.chars().collect();
        for edit in edits {
            match edit {
                TokenEdit::Replace(at, c) if !chars.is_empty() => {
                    let at = at.index(chars.len());
                    chars[at] = *c;
                }
                TokenEdit::Insert(at, c) => {
                    let at = at.index(chars.len() + 1);
                    chars.insert(at, *c);
                }
                TokenEdit::Remove(at) if !chars.is_empty() => {
                    let at = at.index(chars.len());
                    chars.remove(at);
                }
                _ => {}
            }
        }
        chars.into_iter().collect()
    }

    proptest! {
        #![proptest_config(claims::tests::config(2_000))]

        #[test]
        fn verify_agrees_with_the_previous_implementation_on_minted_tickets(
            claims in any_claims(),
            kid in prop::sample::select(&["k1", "k2"][..]),
            edits in prop::collection::vec(token_edit(), 0..3),
        ) {
            let token = mint(&claims, kid, &ring()).unwrap();
            agree_end_to_end(&token);
            agree_end_to_end(&tamper(&token, &edits));
        }

        #[test]
        fn verify_agrees_with_the_previous_implementation_on_signed_documents(
            header in prop_oneof![
                3 => Just(br#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#.to_vec()),
                1 => claims::tests::document(),
            ],
            payload in claims::tests::document(),
            edits in prop::collection::vec(claims::tests::edit(), 0..2),
        ) {
            // Signed correctly, so every payload reaches the claims reader.
            let payload = claims::tests::apply(payload, &edits);
            agree_end_to_end(&sign_bytes(&header, &payload, "k1"));
        }
    }

    /// The end-to-end cases are worth their cost only if they reach every verdict: check that
    /// a sample of each generator's tokens gets each reason a ticket can get, and passes.
    #[test]
    fn end_to_end_cases_reach_every_verdict() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let minted = (
            any_claims(),
            prop::sample::select(&["k1", "k2"][..]),
            prop::collection::vec(token_edit(), 0..3),
        );
        let documents = (
            claims::tests::document(),
            claims::tests::document(),
            prop::collection::vec(claims::tests::edit(), 0..2),
        );
        let keyring = ring();
        let mut seen = alloc::collections::BTreeMap::new();
        for _ in 0..1_000 {
            let (c, kid, edits) = minted.new_tree(&mut runner).unwrap().current();
            let token = mint(&c, kid, &keyring).unwrap();
            let mut tokens = alloc::vec![tamper(&token, &edits), token];
            let (header, payload, edits) = documents.new_tree(&mut runner).unwrap().current();
            let payload = claims::tests::apply(payload, &edits);
            tokens.push(sign_bytes(br#"{"alg":"HS256","kid":"k1"}"#, &payload, "k1"));
            tokens.push(sign_bytes(&header, &payload, "k1"));
            for token in &tokens {
                for (policy, path, now) in requests() {
                    let verdict = verify(token, &keyring, &policy, path, now);
                    *seen
                        .entry(verdict.map(|_| "ok").map_err(Reason::code))
                        .or_insert(0) += 1;
                }
            }
        }
        let reachable = Reason::ALL.iter().filter(|r| **r != Reason::IpMismatch);
        for reason in reachable {
            assert!(
                seen.contains_key(&Err(reason.code())),
                "{reason:?} never: {seen:?}"
            );
        }
        // At the time of writing, 350 of the 20,000 verdicts are acceptances, and the rarest
        // reason (`unknown_kid`) comes 35 times.
        assert!(seen.get(&Ok("ok")).is_some_and(|n| *n > 150), "{seen:?}");
    }

    #[test]
    fn minting_refuses_an_unknown_kid_or_empty_claims() {
        assert_eq!(
            mint(&claims(), "nope", &ring()),
            Err(ConfigError::UnknownKeyId)
        );
        let mut c = claims();
        c.max_streams = 0;
        assert_eq!(mint(&c, "k1", &ring()), Err(ConfigError::BadValue));
    }
}
