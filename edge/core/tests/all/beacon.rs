//! The CMCD beacon endpoint and CMCD carried on media requests: what the controller receives.
#![cfg(test)]

use crate::fixture::config;

use http::Request;
use usher_edge_core::config::EdgeConfig;
use usher_edge_core::{Action, Client, EdgeInput, beacon, decide};

fn input(config: &EdgeConfig) -> EdgeInput<'_> {
    EdgeInput {
        now_ms: 1_767_225_600_123,
        client: Client {
            ip: Some("198.51.100.7"),
            country: Some("DE"),
            asn: Some(3320),
        },
        config,
        health: None,
        entropy: [7; 16],
    }
}

fn post(path: &str) -> Request<()> {
    Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/cmcd")
        .body(())
        .unwrap()
}

#[test]
fn a_beacon_asks_for_its_body_then_becomes_one_event_per_report() {
    let config = config();
    let input = input(&config);
    let request = post("/events/final-2026/cmcd");
    let decision = decide(&request, &input);
    let Action::ReadBody(limit) = decision.action else {
        panic!("expected ReadBody, got {:?}", decision.action);
    };
    assert!(limit >= 16 * 1024);

    let body = b"e=ps,sid=\"6e2fb550\",sta=p,ts=1767225600000\nbr=3200,bl=21300,e=t,ot=v,sid=\"6e2fb550\",ts=1767225601000\n";
    let done = beacon(&request, body, &input);
    let Action::Respond(response) = done.action else {
        panic!("expected a response");
    };
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["x-usher-reason"], "ok");
    assert_eq!(done.events.len(), 2);
    let first: serde_json::Value = serde_json::from_str(&done.events[0]).unwrap();
    assert_eq!(first["event"], "final-2026");
    assert_eq!(first["source"], "beacon");
    assert_eq!(first["country"], "DE");
    assert_eq!(first["asn"], 3320);
    assert_eq!(first["at"], 1_767_225_600_123u64);
    assert_eq!(first["cmcd"]["sid"], "6e2fb550");
}

#[test]
fn a_malformed_beacon_is_400_and_emits_nothing() {
    let config = config();
    let input = input(&config);
    let request = post("/events/final-2026/cmcd");
    let done = beacon(&request, b"br=\"unterminated\n", &input);
    let Action::Respond(response) = done.action else {
        panic!("expected a response");
    };
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-usher-reason"], "bad_request");
    assert!(done.events.is_empty());
    assert!(done.log.cmcd_error.is_some());
}

#[test]
fn a_beacon_for_an_unknown_event_is_404() {
    let config = config();
    let input = input(&config);
    let done = beacon(&post("/events/nope/cmcd"), b"br=1\n", &input);
    assert_eq!(done.reason.code(), "unknown_event");
}

#[test]
fn a_get_on_the_beacon_endpoint_is_405() {
    let config = config();
    let request = Request::builder()
        .uri("/events/final-2026/cmcd")
        .body(())
        .unwrap();
    assert_eq!(
        decide(&request, &input(&config)).reason.code(),
        "method_not_allowed"
    );
}

#[test]
fn cmcd_on_a_segment_request_becomes_an_event_and_bad_cmcd_never_blocks_playback() {
    let config = config();
    let input = input(&config);
    let request = Request::builder()
        .uri("/events/final-2026/720p/seg-1.m4s?CMCD=br%3D3200%2Cot%3Dv%2Csid%3D%22abc%22")
        .body(())
        .unwrap();
    // No session token: refused, but the QoE event is still recorded.
    let decision = decide(&request, &input);
    assert_eq!(decision.reason.code(), "no_session");
    assert_eq!(decision.events.len(), 1, "{:?}", decision.log);
    let event: serde_json::Value = serde_json::from_str(&decision.events[0]).unwrap();
    assert_eq!(event["source"], "request");
    assert_eq!(event["object"], "/events/final-2026/720p/seg-1.m4s");
    assert_eq!(event["cmcd"]["br"], 3200);

    let request = Request::builder()
        .uri("/events/final-2026/720p/seg-1.m4s?CMCD=br%3D%22x")
        .body(())
        .unwrap();
    let decision = decide(&request, &input);
    assert!(decision.events.is_empty());
    assert!(decision.log.cmcd_error.is_some());
    assert_eq!(
        decision.reason.code(),
        "no_session",
        "telemetry does not change the answer"
    );
}

#[test]
fn qoe_is_attributed_to_the_cdn_whose_host_it_came_in_on_never_to_the_players_cdn_key() {
    let config = config();
    let input = input(&config);
    let pathway_of = |events: &[String]| -> serde_json::Value {
        let event: serde_json::Value = serde_json::from_str(&events[0]).unwrap();
        event["pathway"].clone()
    };
    // The player claims cdn-c; the request came in on cdn-b's host name (any case).
    let segment = Request::builder()
        .uri("/events/final-2026/720p/seg-1.m4s?CMCD=cdn%3D%22cdn-c%22%2Csid%3D%22abc%22")
        .header("host", "CDN-B.example")
        .body(())
        .unwrap();
    assert_eq!(pathway_of(&decide(&segment, &input).events), "cdn-b");
    // An absolute URI's authority is the host, as HTTP/2 sends it.
    let absolute = Request::builder()
        .uri("https://cdn-a.example/events/final-2026/720p/seg-1.m4s?CMCD=sid%3D%22abc%22")
        .body(())
        .unwrap();
    assert_eq!(pathway_of(&decide(&absolute, &input).events), "cdn-a");
    // A host that is no pathway's (the entry host, or a port that differs): unattributed.
    for host in ["watch.example", "cdn-a.example:8443"] {
        let entry = Request::builder()
            .uri("/events/final-2026/720p/seg-1.m4s?CMCD=sid%3D%22abc%22")
            .header("host", host)
            .body(())
            .unwrap();
        assert_eq!(
            pathway_of(&decide(&entry, &input).events),
            serde_json::Value::Null
        );
    }
    // A beacon posted through a CDN's host is that CDN's.
    let mut request = post("/events/final-2026/cmcd");
    request
        .headers_mut()
        .insert("host", http::HeaderValue::from_static("cdn-c.example"));
    let done = beacon(&request, b"e=ps,sid=\"6e2fb550\",sta=p\n", &input);
    assert_eq!(pathway_of(&done.events), "cdn-c");
}
