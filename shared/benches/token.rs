//! Token verification cost, beside the floor: a bare HMAC-SHA256 over the same bytes.
//!
//! Each group measures Usher's whole check (parsing, MAC, times, scope) and, in the same run,
//! `Hmac::<Sha256>::new_from_slice(key)` + `update(bytes)` + `finalize()` over exactly the bytes
//! the check authenticates. The ratio between the two is what matters (these machines are
//! noisy); `make bench` prints it. Target: verify within 1.5x of the bare HMAC.
#![expect(
    clippy::unwrap_used,
    clippy::cast_possible_wrap,
    reason = "benchmark set-up: a failure should stop the run"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use usher_shared::token::edgeauth::{EdgeAuth, MintRequest, Options, Presented, Scope};
use usher_shared::token::jwt::{self, Claims, Policy};
use usher_shared::token::{Algorithm, Keyring};

const NOW: u64 = 1_767_225_600;
const KEY: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

fn bare_hmac(key: &[u8], bytes: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(bytes);
    mac.finalize().into_bytes().into()
}

fn edgeauth(c: &mut Criterion) {
    let key_hex: String = KEY.iter().map(|b| format!("{b:02x}")).collect();
    let auth = EdgeAuth::from_hex(&key_hex, Algorithm::Sha256, Options::default()).unwrap();
    let token = auth
        .mint(&MintRequest {
            ip: None,
            start: Some(NOW),
            end: NOW + 600,
            scope: Scope::Acl(&["/events/final-2026/*"]),
            session_id: Some("3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"),
            data: Some("kid:k2026"),
        })
        .unwrap();
    let signed = token.rsplit_once('~').unwrap().0.to_owned();
    let presented = Presented {
        path: "/events/final-2026/1080p/seg_884213370.m4s",
        ip: None,
    };
    assert!(auth.verify(&token, &presented, NOW + 1).is_ok());

    let mut group = c.benchmark_group("verify_edgeauth");
    group.bench_function("usher_verify", |b| {
        b.iter(|| auth.verify(black_box(&token), black_box(&presented), NOW + 1))
    });
    group.bench_function("hmac_sha256_floor", |b| {
        b.iter(|| bare_hmac(&KEY, black_box(signed.as_bytes())))
    });
    group.finish();
}

fn ticket(c: &mut Criterion) {
    let mut keyring = Keyring::new();
    keyring.insert("k2026", &KEY).unwrap();
    keyring
        .insert("k2025", b"an older key, still accepted")
        .unwrap();
    let claims = Claims {
        iss: Some("tickets.example".into()),
        sub: Some("viewer-8842133".into()),
        aud: vec!["usher".into()],
        jti: Some("t-5f0c2a9e".into()),
        iat: Some(NOW as i64 - 3600),
        nbf: Some(NOW as i64 - 3600),
        exp: NOW as i64 + 4 * 3600,
        ev: "final-2026".into(),
        scope: "/events/final-2026/*".into(),
        sid: Some("3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b".into()),
        max_streams: 2,
    };
    let token = jwt::mint(&claims, "k2026", &keyring).unwrap();
    let signing_input = token.rsplit_once('.').unwrap().0.to_owned();
    let policy = Policy {
        audience: Some("usher"),
        issuer: Some("tickets.example"),
        leeway_secs: 30,
        event: Some("final-2026"),
    };
    let path = "/events/final-2026/master.m3u8";
    assert!(jwt::verify(&token, &keyring, &policy, path, NOW).is_ok());

    let mut group = c.benchmark_group("verify_jwt");
    group.bench_function("usher_verify", |b| {
        b.iter(|| jwt::verify(black_box(&token), &keyring, &policy, black_box(path), NOW))
    });
    group.bench_function("hmac_sha256_floor", |b| {
        b.iter(|| bare_hmac(&KEY, black_box(signing_input.as_bytes())))
    });
    group.finish();
}

criterion_group!(benches, edgeauth, ticket);
criterion_main!(benches);
