//! The edge core's whole decision for a viewer request, beside its largest parts measured in the
//! same run.
//!
//! * `multivariant`: `decide` (ticket check, CDN choice, session token) plus `finish` (rewrite
//!   and Content Steering) for the fixture multivariant playlist; baselines: the ticket check
//!   alone, and the playlist rewrite alone.
//! * `media`: `decide` (session check, re-mint) plus `finish` for the LL-HLS media playlist;
//!   baseline: the rewrite alone.
//! * `segment`: `decide` for a segment request (session check, cache key); baseline: the
//!   session token check alone.
//!
//! The ratios say what the decision costs on top of the work it cannot avoid. `make bench`
//! prints them.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::unreachable,
    reason = "benchmark set-up: a failure should stop the run"
)]

use std::hint::black_box;
use std::path::PathBuf;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use usher_edge_core::config::{ConfigParts, EdgeConfig};
use usher_edge_core::{Action, Client, EdgeInput, Fetched, Stored, decide, finish, leased};
use usher_shared::playlist::{BaseUrl, HttpUrl, Playlist, Rewrite};
use usher_shared::token::edgeauth::{MintRequest, Presented, Scope};
use usher_shared::token::jwt::{self, Claims, Policy};

const NOW: u64 = 1_767_225_600;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

fn config() -> EdgeConfig {
    let read = |name: &str| std::fs::read(root().join("config").join(name)).unwrap();
    let parts: Vec<Vec<u8>> = [
        "events.json",
        "pathways.json",
        "settings.json",
        "ticket-keys.json",
        "session-key.txt",
        "content-keys.json",
        "health-keys.json",
    ]
    .iter()
    .map(|n| read(n))
    .collect();
    EdgeConfig::from_parts(&ConfigParts {
        events: Some(&parts[0]),
        pathways: Some(&parts[1]),
        settings: Some(&parts[2]),
        ticket_keys: Some(&parts[3]),
        session_key: Some(&parts[4]),
        content_keys: Some(&parts[5]),
        health_keys: Some(&parts[6]),
    })
    .unwrap()
}

fn input(config: &EdgeConfig) -> EdgeInput<'_> {
    EdgeInput {
        now_ms: NOW * 1000,
        client: Client {
            ip: Some("198.51.100.7"),
            country: Some("DE"),
            asn: Some(3320),
        },
        config,
        health: None,
        entropy: [9; 16],
    }
}

fn ticket(config: &EdgeConfig) -> String {
    let claims = Claims {
        iss: Some("tickets.example".into()),
        sub: Some("viewer-8842133".into()),
        aud: vec!["usher".into()],
        jti: Some("t-5f0c2a9e".into()),
        iat: Some(NOW as i64 - 60),
        nbf: None,
        exp: NOW as i64 + 3 * 3600,
        ev: "final-2026".into(),
        scope: "/events/final-2026/*".into(),
        sid: None,
        max_streams: 1,
    };
    jwt::mint(&claims, "tickets-2026", &config.ticket_keys).unwrap()
}

fn session(config: &EdgeConfig) -> String {
    config
        .session
        .mint(&MintRequest {
            ip: None,
            start: Some(NOW - 10),
            end: NOW + 590,
            scope: Scope::Acl(&["/events/final-2026/*"]),
            session_id: Some("3f9a1c2e5b7d4e8f"),
            data: Some("cdn-a"),
        })
        .unwrap()
}

/// `decide`, then `finish` with the origin body: what one playlist request costs the core.
fn whole(request: &Request<()>, origin: &Bytes, input: &EdgeInput<'_>) -> Bytes {
    let mut action = decide(request, input).action;
    // A ticket's multivariant request takes its stream lease first (a store read the adapter
    // does; here, an empty store).
    if let Action::Lease(check) = action {
        action = leased(check, Stored::Missing, input).action;
    }
    match action {
        Action::Fetch(_, plan) => {
            let fetched = Fetched::Response {
                status: StatusCode::OK,
                body: origin.clone(),
                stale: false,
            };
            match finish(&plan, fetched, input).action {
                Action::Respond(response) => response.into_body(),
                _ => unreachable!("finish responds"),
            }
        }
        _ => unreachable!("a valid playlist request is fetched"),
    }
}

fn rewrite_only(origin: &[u8], playlist_url: &str, token: &str) -> Vec<u8> {
    let playlist = Playlist::parse(origin).unwrap();
    let params = [("__token__", token)];
    playlist.rewrite(&Rewrite {
        playlist_url: HttpUrl::parse(playlist_url).unwrap(),
        from_base: Some(BaseUrl::parse("https://origin-eu.example/live/final-2026/").unwrap()),
        to_base: BaseUrl::parse("https://cdn-a.example/events/final-2026/").unwrap(),
        params: &params,
    })
}

fn benches(c: &mut Criterion) {
    let config = config();
    let input = input(&config);
    let ticket = ticket(&config);
    let session = session(&config);
    let master = Bytes::from(std::fs::read(root().join("origin/master.m3u8")).unwrap());
    let media = Bytes::from(std::fs::read(root().join("origin/720p.m3u8")).unwrap());

    let request = Request::builder()
        .uri(format!("/events/final-2026/master.m3u8?ticket={ticket}"))
        .body(())
        .unwrap();
    assert!(whole(&request, &master, &input).starts_with(b"#EXTM3U"));
    let policy = Policy {
        audience: Some("usher"),
        issuer: Some("tickets.example"),
        leeway_secs: 30,
        event: Some("final-2026"),
    };
    let mut group = c.benchmark_group("edge_multivariant");
    group.bench_function("usher_decide_finish", |b| {
        b.iter(|| whole(black_box(&request), &master, &input))
    });
    group.bench_function("ticket_verify_part", |b| {
        b.iter(|| {
            jwt::verify(
                black_box(&ticket),
                &config.ticket_keys,
                &policy,
                "/events/final-2026/master.m3u8",
                NOW,
            )
        })
    });
    group.bench_function("rewrite_part", |b| {
        b.iter(|| {
            rewrite_only(
                black_box(&master),
                "https://origin-eu.example/live/final-2026/master.m3u8",
                &session,
            )
        })
    });
    group.finish();

    let request = Request::builder()
        .uri(format!(
            "/events/final-2026/720p/index.m3u8?_HLS_msn=883606689&_HLS_part=2&__token__={session}"
        ))
        .header("host", "cdn-b.example")
        .body(())
        .unwrap();
    assert!(whole(&request, &media, &input).starts_with(b"#EXTM3U"));
    let mut group = c.benchmark_group("edge_media");
    group.bench_function("usher_decide_finish", |b| {
        b.iter(|| whole(black_box(&request), &media, &input))
    });
    group.bench_function("rewrite_part", |b| {
        b.iter(|| {
            rewrite_only(
                black_box(&media),
                "https://origin-eu.example/live/final-2026/720p/index.m3u8",
                &session,
            )
        })
    });
    group.finish();

    let path = "/events/final-2026/720p/seg-883606687.m4s";
    let request = Request::builder()
        .uri(format!("{path}?__token__={session}"))
        .body(())
        .unwrap();
    assert!(matches!(decide(&request, &input).action, Action::Proxy(_)));
    let mut group = c.benchmark_group("edge_segment");
    group.bench_function("usher_decide", |b| {
        b.iter(|| decide(black_box(&request), &input))
    });
    group.bench_function("session_verify_part", |b| {
        b.iter(|| {
            config
                .session
                .verify(black_box(&session), &Presented { path, ip: None }, NOW)
        })
    });
    group.finish();
}

criterion_group!(edge, benches);
criterion_main!(edge);
