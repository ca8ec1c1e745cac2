//! Property tests of both token layers through the public API: what is minted verifies, any
//! change to a token is refused, and no input makes a check panic.
#![cfg(test)]

use proptest::prelude::*;
use usher_shared::token::edgeauth::{EdgeAuth, MintRequest, Options, Presented, Scope};
use usher_shared::token::jwt::{self, Claims, Policy};
use usher_shared::token::{Algorithm, Keyring, Reason};

const NOW: u64 = 1_767_225_600;

fn keyring(secret: &[u8]) -> Keyring {
    let mut ring = Keyring::new();
    ring.insert("k1", secret).unwrap();
    ring
}

fn claims_strategy() -> impl Strategy<Value = Claims> {
    (
        "[a-z0-9-]{1,12}",
        prop::option::of("\\PC{0,16}"),
        prop::option::of("\\PC{0,16}"),
        1u64..100_000,
        0u64..3600,
        1u32..5,
        prop::bool::ANY,
    )
        .prop_map(|(ev, sub, sid, ttl, age, max_streams, with_aud)| Claims {
            iss: Some("tickets.example".into()),
            sub,
            aud: if with_aud {
                vec!["usher".into()]
            } else {
                vec![]
            },
            jti: Some(format!("t-{ttl}")),
            iat: Some(NOW as i64 - age as i64),
            nbf: None,
            exp: NOW as i64 + ttl as i64,
            scope: format!("/events/{ev}/*"),
            ev,
            sid,
            max_streams,
        })
}

fn policy_for(claims: &Claims) -> Policy<'_> {
    Policy {
        audience: claims.aud.first().map(String::as_str),
        issuer: Some("tickets.example"),
        leeway_secs: 0,
        event: Some(&claims.ev),
    }
}

proptest! {
    #[test]
    fn minted_tickets_verify_with_exactly_their_claims(
        claims in claims_strategy(),
        secret in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let ring = keyring(&secret);
        let token = jwt::mint(&claims, "k1", &ring).unwrap();
        let path = format!("/events/{}/master.m3u8", claims.ev);
        let ticket = jwt::verify(&token, &ring, &policy_for(&claims), &path, NOW).unwrap();
        prop_assert_eq!(ticket.claims, claims);
    }

    #[test]
    fn a_ticket_with_any_byte_changed_is_refused(
        claims in claims_strategy(),
        at in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let ring = keyring(b"a fixed secret");
        let token = jwt::mint(&claims, "k1", &ring).unwrap();
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        // Base64 has spellings that decode alike only in the last character's unused bits,
        // and the strict decoder refuses those; so any change must fail some check.
        if let Ok(changed) = String::from_utf8(bytes) {
            let path = format!("/events/{}/master.m3u8", claims.ev);
            let verdict = jwt::verify(&changed, &ring, &policy_for(&claims), &path, NOW);
            prop_assert!(verdict.is_err(), "byte {} changed and still valid", i);
        }
    }

    #[test]
    fn ticket_checks_never_panic_on_arbitrary_input(token in "\\PC{0,300}", path in "\\PC{0,40}") {
        let ring = keyring(b"k");
        let _ = jwt::verify(&token, &ring, &Policy::default(), &path, NOW);
        // Three dot-separated base64url-ish segments get past the first checks more often.
        let shaped = token.replace(' ', ".");
        let _ = jwt::verify(&shaped, &ring, &Policy::default(), &path, NOW);
    }

    #[test]
    fn minted_session_tokens_verify_and_bound_their_lifetime(
        key in prop::collection::vec(any::<u8>(), 1..48),
        algorithm in prop::sample::select(vec![Algorithm::Sha256, Algorithm::Sha1, Algorithm::Md5]),
        escape_early in any::<bool>(),
        ttl in 1u64..10_000,
        session in "[a-zA-Z0-9 ./_-]{0,20}",
        segment in "[a-z0-9_/]{1,30}",
    ) {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let options = Options { escape_early, ..Options::default() };
        let auth = EdgeAuth::from_hex(&hex, algorithm, options).unwrap();
        // Without escape_early a value must not contain the delimiter; these never do.
        let token = auth
            .mint(&MintRequest {
                ip: None,
                start: Some(NOW),
                end: NOW + ttl,
                scope: Scope::Acl(&["/events/e1/*"]),
                session_id: Some(&session),
                data: None,
            })
            .unwrap();
        let path = format!("/events/e1/{segment}");
        let at = |now| auth.verify(&token, &Presented { path: &path, ip: None }, now);
        prop_assert!(at(NOW).is_ok());
        prop_assert!(at(NOW + ttl - 1).is_ok());
        prop_assert_eq!(at(NOW + ttl), Err(Reason::Expired));
        prop_assert_eq!(at(NOW - 1), Err(Reason::NotYetValid));
    }

    #[test]
    fn a_session_token_with_any_byte_changed_is_refused(
        at in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let auth = EdgeAuth::from_hex("0011223344556677", Algorithm::Sha256, Options::default())
            .unwrap();
        let token = auth
            .mint(&MintRequest {
                ip: Some("198.51.100.7"),
                start: Some(NOW),
                end: NOW + 600,
                scope: Scope::Acl(&["/events/e1/*", "/keys/e1/*"]),
                session_id: Some("s-1"),
                data: Some("kid:1"),
            })
            .unwrap();
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        // Hex digits differ only in case: `A` and `a` are the same digit.
        prop_assume!(!bytes[i].eq_ignore_ascii_case(&replacement));
        bytes[i] = replacement;
        if let Ok(changed) = String::from_utf8(bytes) {
            let presented = Presented { path: "/events/e1/x.m4s", ip: Some("198.51.100.7") };
            prop_assert!(auth.verify(&changed, &presented, NOW + 1).is_err(), "byte {} changed", i);
        }
    }

    #[test]
    fn session_token_checks_never_panic_on_arbitrary_input(
        token in "\\PC{0,300}",
        path in "\\PC{0,40}",
        ip in prop::option::of("\\PC{0,20}"),
    ) {
        for options in [
            Options::default(),
            Options { escape_early: true, field_delimiter: ';', acl_delimiter: ',', leeway_secs: 5 },
        ] {
            let auth = EdgeAuth::from_hex("00ff", Algorithm::Sha256, options).unwrap();
            let _ = auth.verify(&token, &Presented { path: &path, ip: ip.as_deref() }, NOW);
            let fielded = format!("exp=1~acl={token}~hmac=00");
            let _ = auth.verify(&fielded, &Presented { path: &path, ip: ip.as_deref() }, NOW);
        }
    }
}
