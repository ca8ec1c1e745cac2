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

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{ConfigError, Keyring, Reason, glob};

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

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    /// RFC 7515 §4.1.11: a verifier must refuse critical extensions it does not understand,
    /// and Usher understands none.
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional, kept as whole
/// seconds truncated toward zero and clamped to `i64` (PyJWT's `int()` truncates the same way,
/// and clamping keeps every comparison with a realistic clock the same).
struct NumericDate(i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_i64<E>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<NumericDate, E> {
                Ok(NumericDate(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            #[expect(
                clippy::cast_possible_truncation,
                reason = "`as` truncates toward zero and saturates, which is the rule"
            )]
            fn visit_f64<E>(self, v: f64) -> Result<NumericDate, E> {
                Ok(NumericDate(v as i64))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
struct RawAudience {
    values: Vec<String>,
    /// Whether the claim counts as present: PyJWT treats `""` and `[]` as absent.
    present: bool,
}

impl<'de> Deserialize<'de> for RawAudience {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawAudience;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E>(self, v: &str) -> Result<RawAudience, E> {
                Ok(RawAudience {
                    values: alloc::vec![String::from(v)],
                    present: !v.is_empty(),
                })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawAudience, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                let present = !values.is_empty();
                Ok(RawAudience { values, present })
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Deserialize)]
struct RawClaims<'a> {
    #[serde(borrow, default)]
    iss: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sub: Option<Cow<'a, str>>,
    #[serde(default)]
    aud: Option<RawAudience>,
    #[serde(borrow, default)]
    jti: Option<Cow<'a, str>>,
    #[serde(default)]
    iat: Option<NumericDate>,
    #[serde(default)]
    nbf: Option<NumericDate>,
    #[serde(default)]
    exp: Option<NumericDate>,
    #[serde(borrow, default)]
    ev: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    scope: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sid: Option<Cow<'a, str>>,
    #[serde(default)]
    max_streams: Option<u32>,
}

/// Verifies `token` for a request of `path` at time `now` (Unix seconds).
pub fn verify(
    token: &str,
    keyring: &Keyring,
    policy: &Policy<'_>,
    path: &str,
    now: u64,
) -> Result<Ticket, Reason> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(Reason::Malformed)?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(Reason::Malformed)?;

    // Every segment is decoded before any check, as PyJWT does, so a token that is not even
    // well-formed is reported as `malformed` whatever else is wrong with it. Nothing in the
    // payload is trusted until the MAC matches.
    // A header is ~40 bytes, a ticket's claims a few hundred, an HS256 signature 32.
    let mut header_buf = Buffer::<128>::new();
    let mut payload_buf = Buffer::<1024>::new();
    let mut signature_buf = Buffer::<48>::new();
    let header_json = header_buf.decode(header_b64)?;
    let header: RawHeader<'_> = json_object(header_json)?;
    let payload_json = payload_buf.decode(payload_b64)?;
    let signature = signature_buf.decode(signature)?;
    if header.crit.is_some() {
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

    let raw: RawClaims<'_> = json_object(payload_json)?;
    let claims = check_claims(raw, policy, now)?;
    if !glob::matches(&claims.scope, path) {
        return Err(Reason::OutOfScope);
    }
    Ok(Ticket {
        kid: kid.into_owned(),
        claims,
    })
}

fn check_claims(raw: RawClaims<'_>, policy: &Policy<'_>, now: u64) -> Result<Claims, Reason> {
    let (Some(exp), Some(ev), Some(scope)) = (raw.exp, raw.ev, raw.scope) else {
        return Err(Reason::MissingClaim);
    };
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let leeway = i64::try_from(policy.leeway_secs).unwrap_or(i64::MAX);
    let latest_start = now.saturating_add(leeway);
    let iat = raw.iat.map(|d| d.0);
    let nbf = raw.nbf.map(|d| d.0);
    let exp = exp.0;
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
    Ok(Claims {
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
    })
}

/// Parses a JSON object. Serde would also accept an array for a struct, but the JOSE header
/// and the claims set must be objects (RFC 7515 §4, RFC 7519 §7.2).
fn json_object<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Result<T, Reason> {
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(Reason::Malformed);
    }
    serde_json::from_slice(json).map_err(|_| Reason::Malformed)
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
        // Three bytes per four characters, rounded up, bounds the decoded length.
        if stripped.len().div_ceil(4) * 3 <= self.stack.len() {
            let n = URL_SAFE_NO_PAD
                .decode_slice(stripped, &mut self.stack)
                .map_err(|_| Reason::Malformed)?;
            self.stack.get(..n).ok_or(Reason::Malformed)
        } else {
            self.heap = URL_SAFE_NO_PAD
                .decode(stripped)
                .map_err(|_| Reason::Malformed)?;
            Ok(&self.heap)
        }
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
