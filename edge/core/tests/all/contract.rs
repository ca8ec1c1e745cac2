//! What adapters rely on beyond the conformance cases: how to fetch, how much to read, what to
//! say about a proxied answer.
#![cfg(test)]

use crate::fixture::config;

use http::{Method, Request, StatusCode};
use usher_edge_core::{
    Action, Client, EdgeInput, Fetched, Stored, decide, finish, leased, proxied,
};
use usher_shared::token::Keyring;
use usher_shared::token::jwt::{self, Claims};

fn ticket() -> String {
    let mut ring = Keyring::new();
    let secret: Vec<u8> = (0..32)
        .map(|i| {
            u8::from_str_radix(
                &"6b3a55e0261b0304143f805a24924d0c1c44524821305f31d9277843b8a10f4e"
                    [i * 2..i * 2 + 2],
                16,
            )
            .unwrap()
        })
        .collect();
    ring.insert("tickets-2026", &secret).unwrap();
    let claims = Claims {
        iss: Some("tickets.example".into()),
        sub: None,
        aud: vec!["usher".into()],
        jti: None,
        iat: None,
        nbf: None,
        exp: 1_767_240_000,
        ev: "final-2026".into(),
        scope: "/events/final-2026/*".into(),
        sid: None,
        max_streams: 1,
    };
    jwt::mint(&claims, "tickets-2026", &ring).unwrap()
}

#[test]
fn a_head_request_for_a_playlist_is_fetched_with_get_and_logged_with_its_event() {
    let config = config();
    let input = EdgeInput {
        now_ms: 1_767_225_600_000,
        client: Client::default(),
        config: &config,
        health: None,
        entropy: [1; 16],
    };
    let request = Request::builder()
        .method(Method::HEAD)
        .uri(format!(
            "/events/final-2026/master.m3u8?ticket={}",
            ticket()
        ))
        .body(())
        .unwrap();
    let Action::Lease(check) = decide(&request, &input).action else {
        panic!("a ticket's playlist takes a stream lease first");
    };
    let Action::Fetch(upstream, plan) = leased(check, Stored::Missing, &input).action else {
        panic!("expected a fetch");
    };
    assert_eq!(upstream.method, Method::GET, "finish needs the body");
    assert_eq!(plan.max_bytes(), config.settings.playlist.max_bytes);
    let done = finish(
        &plan,
        Fetched::Response {
            status: StatusCode::OK,
            body: "#EXTM3U\n".into(),
            stale: false,
        },
        &input,
    );
    assert_eq!(done.log.event.as_deref(), Some("final-2026"));
}

#[test]
fn a_proxied_answer_is_attributed_to_the_origin_when_it_fails() {
    assert_eq!(proxied(StatusCode::OK).code(), "ok");
    assert_eq!(proxied(StatusCode::PARTIAL_CONTENT).code(), "ok");
    assert_eq!(proxied(StatusCode::NOT_MODIFIED).code(), "ok");
    assert_eq!(proxied(StatusCode::NOT_FOUND).code(), "not_found");
    assert_eq!(proxied(StatusCode::GONE).code(), "not_found");
    assert_eq!(proxied(StatusCode::FORBIDDEN).code(), "origin_error");
    assert_eq!(
        proxied(StatusCode::SERVICE_UNAVAILABLE).code(),
        "origin_error"
    );
}
