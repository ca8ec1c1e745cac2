//! Faults an operator can cause, through each runtime: a configuration document that does not
//! parse, and a missing secret. Every request must get the core's 503 `config_error`, never a
//! trap (a bare 500), and the runtime must go on serving. (Origin faults, 5xx, timeouts, a slow
//! origin, oversized and non-playlist bodies, are conformance cases, run by `runtimes`.)
#![cfg(test)]

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use usher_edge_core::decision::refusal;
use usher_edge_core::reason::Reason;

use crate::http::send;
use crate::origin::Origin;
use crate::runtime::{Documents, Kind, Running, Setup};

/// Requests of every kind: the page, a playlist, a segment, steering, health.
const PATHS: [&str; 5] = [
    "/events/final-2026/",
    "/events/final-2026/master.m3u8?ticket=x",
    "/events/final-2026/720p/seg-883606687.m4s?__token__=x",
    "/events/final-2026/steering?__token__=x",
    "/healthz",
];

async fn misconfigured(
    kind: Kind,
    label: &str,
    documents: Documents,
    origin: &Origin,
) -> Vec<String> {
    let setup = Setup {
        label: label.into(),
        documents,
        origin: ("origin-eu".into(), origin.base_url()),
        lease_store: None,
        seeds: Vec::new(),
        fuel: None,
    };
    let mut running = Running::start(kind, &setup).await;
    let want = refusal(Reason::ConfigError);
    let mut problems = Vec::new();
    for path in PATHS {
        let request = Request::get(path).body(Bytes::new()).unwrap();
        match send(running.addr, request, Duration::from_secs(30)).await {
            Ok(reply) => {
                let reason = reply.header("x-usher-reason");
                if reply.status != want.status()
                    || reason != Some("config_error")
                    || reply.body != *want.body()
                {
                    problems.push(format!(
                        "{} {label} {path}: {} {reason:?} {:?}, want {} config_error",
                        kind.name(),
                        reply.status,
                        String::from_utf8_lossy(&reply.body),
                        want.status()
                    ));
                }
            }
            Err(e) => problems.push(format!("{} {label} {path}: {e}", kind.name())),
        }
    }
    if !running.alive() {
        problems.push(format!("{} {label}: the runtime exited", kind.name()));
    }
    if !problems.is_empty() {
        problems.push(running.output());
    }
    running.stop().await;
    problems
}

async fn all_faults(kind: Kind) -> Vec<String> {
    let origin = Origin::start().await;
    let good = Documents::conformance(&origin.base_url());
    let unparsable = Documents {
        events: Some(b"{\"origins\": [".to_vec()),
        ..good.clone()
    };
    // `usher edge serve` refuses to start without the file, so its missing secret is an empty
    // one: what an unset environment variable gives the component.
    let missing = Documents {
        session_key: match kind {
            Kind::Wasmtime => Some(Vec::new()),
            Kind::Viceroy | Kind::Workerd => None,
        },
        ..good
    };
    let mut problems = misconfigured(kind, "unparsable-events", unparsable, &origin).await;
    problems.extend(misconfigured(kind, "missing-session-key", missing, &origin).await);
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_configuration_and_missing_secrets_answer_503_config_error_in_every_runtime() {
    let (a, b, c) = tokio::join!(
        all_faults(Kind::Wasmtime),
        all_faults(Kind::Viceroy),
        all_faults(Kind::Workerd)
    );
    let problems: Vec<String> = [a, b, c].concat();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
