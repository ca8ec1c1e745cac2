//! The conformance cases in `tests/conformance/cases/`, run natively against the core.
//!
//! Each case is a request plus its inputs (time, client, the origin's answer) and the expected
//! outcome (status, reason code, key headers, upstream request, body). Tickets and session
//! tokens are minted when the case runs, from the claims the case declares, with the keys in
//! `tests/conformance/config/` (or a `secret_hex` the case gives, to forge one). Expected bodies
//! in `tests/conformance/expected/` are byte-exact; `USHER_BLESS=1` rewrites them.
//!
//! The same cases run through each platform's real runtime in `wasm-tests`: this file is the
//! native adapter, executing the core's decisions against the case's origin.
#![cfg(test)]

use crate::fixture::{config, root};

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::Deserialize;
use usher_edge_core::config::EdgeConfig;
use usher_edge_core::page;
use usher_edge_core::{Action, Client, EdgeInput, Fetched, Stored, decide, finish, leased};
use usher_shared::token::edgeauth::{EdgeAuth, MintRequest, Scope};
use usher_shared::token::jwt::{self, Claims};
use usher_shared::token::{Algorithm, Keyring};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    now: u64,
    request: RequestSpec,
    #[serde(default)]
    client: ClientSpec,
    entropy: String,
    ticket: Option<TicketSpec>,
    session: Option<SessionSpec>,
    origin: Option<OriginSpec>,
    /// What the lease store holds under the key the edge asks for (default: nothing).
    lease_store: Option<LeaseStoreSpec>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseStoreSpec {
    /// `found`, `missing` or `unavailable`.
    state: String,
    /// The record, for `found` (any JSON; a string is stored as its bytes).
    record: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSpec {
    #[serde(default = "get")]
    method: String,
    uri: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClientSpec {
    ip: Option<String>,
    country: Option<String>,
    asn: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketSpec {
    kid: String,
    claims: Claims,
    /// Sign with this key instead of the configured one (a forgery).
    secret_hex: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionSpec {
    session_id: String,
    start: u64,
    end: u64,
    acl: Vec<String>,
    /// The steering base pathway, as the edge writes it into `data`.
    data: Option<String>,
    secret_hex: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginSpec {
    status: Option<u16>,
    body: Option<String>,
    body_file: Option<String>,
    #[serde(default)]
    stale: bool,
    #[serde(default)]
    timeout: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default = "respond")]
    action: String,
    status: Option<u16>,
    reason: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    upstream: Option<UpstreamSpec>,
    body_file: Option<String>,
    #[serde(default)]
    body_contains: Vec<String>,
    /// The asset name, for `"action": "asset"`.
    asset: Option<String>,
    /// The lease outcome in the log line (`taken`, `renewed`, `held`, `full`, ...); `"none"`
    /// when the request must not touch the lease store.
    lease: Option<String>,
    /// The record written back: `"none"`, or `{"key": .., "record": .., "ttl_secs": ..}`.
    store: Option<serde_json::Value>,
}

fn respond() -> String {
    "respond".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamSpec {
    origin: String,
    url: String,
    cache_key: Option<String>,
}

fn mint_ticket(spec: &TicketSpec) -> String {
    let mut ring = Keyring::new();
    let secret = match &spec.secret_hex {
        Some(hex) => hex.clone(),
        None => {
            let keys: BTreeMap<String, String> = serde_json::from_slice(
                &std::fs::read(root().join("config/ticket-keys.json")).unwrap(),
            )
            .unwrap();
            keys[&spec.kid].clone()
        }
    };
    ring.insert(&spec.kid, &hex::decode(secret)).unwrap();
    jwt::mint(&spec.claims, &spec.kid, &ring).unwrap()
}

fn mint_session(spec: &SessionSpec) -> String {
    let hex = match &spec.secret_hex {
        Some(hex) => hex.clone(),
        None => std::fs::read_to_string(root().join("config/session-key.txt")).unwrap(),
    };
    let auth = EdgeAuth::from_hex(hex.trim(), Algorithm::Sha256, Default::default()).unwrap();
    let acl: Vec<&str> = spec.acl.iter().map(String::as_str).collect();
    auth.mint(&MintRequest {
        ip: None,
        start: Some(spec.start),
        end: spec.end,
        scope: Scope::Acl(&acl),
        session_id: Some(&spec.session_id),
        data: spec.data.as_deref(),
    })
    .unwrap()
}

/// Tokens go into URIs percent-encoded where a query needs it, as a player would send them.
fn query_escape(token: &str) -> String {
    token
        .bytes()
        .map(|b| match b {
            b'+' | b'&' | b'#' | b'%' | b' ' => format!("%{b:02X}"),
            _ => char::from(b).to_string(),
        })
        .collect()
}

mod hex {
    pub fn decode(text: impl AsRef<str>) -> Vec<u8> {
        let text = text.as_ref().trim();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }
}

/// Runs one case; returns what went wrong, if anything.
fn run(case: &Case, config: &EdgeConfig, bless: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let ticket = case.ticket.as_ref().map(mint_ticket);
    let session = case.session.as_ref().map(mint_session);
    let fill = |text: &str| {
        let mut out = text.to_owned();
        if let Some(t) = &ticket {
            out = out.replace("{ticket}", &query_escape(t));
        }
        if let Some(s) = &session {
            out = out.replace("{session}", &query_escape(s));
        }
        if out.contains("{page_etag}") {
            let event = config.event("final-2026").unwrap();
            let page = page::player_page(event, &page::Assets::default(), &config.settings.ticket);
            out = out.replace("{page_etag}", page.etag());
        }
        out
    };
    let mut builder = Request::builder()
        .method(case.request.method.as_str())
        .uri(fill(&case.request.uri));
    for (name, value) in &case.request.headers {
        builder = builder.header(name, fill(value));
    }
    let request = builder.body(()).unwrap();
    let entropy: [u8; 16] = hex::decode(&case.entropy).try_into().unwrap();
    let input = EdgeInput {
        now_ms: case.now * 1000,
        client: Client {
            ip: case.client.ip.as_deref(),
            country: case.client.country.as_deref(),
            asn: case.client.asn,
        },
        config,
        health: None,
        entropy,
    };

    let mut decision = decide(&request, &input);
    // The lease store, as an adapter would: read the key, hand over what was found.
    let mut lease = None;
    if let Action::Lease(check) = decision.action {
        let stored = match &case.lease_store {
            None => Stored::Missing,
            Some(spec) => match (spec.state.as_str(), &spec.record) {
                ("missing", _) => Stored::Missing,
                ("unavailable", _) => Stored::Unavailable,
                ("found", Some(serde_json::Value::String(text))) => {
                    Stored::Found(Bytes::from(text.clone()))
                }
                ("found", Some(record)) => Stored::Found(Bytes::from(record.to_string())),
                (state, _) => panic!("{}: bad lease_store state {state}", case.name),
            },
        };
        let key = check.key().to_owned();
        let next = leased(check, stored, &input);
        lease = Some(next.log.lease);
        check_store(case, Some((&key, next.store.as_ref())), &mut problems);
        decision = next;
    } else {
        check_store(case, None, &mut problems);
    }
    if let Some(want) = &case.expect.lease {
        let got = lease.flatten().unwrap_or("none");
        if got != want {
            problems.push(format!("lease {got} != expected {want}"));
        }
    }
    let check_upstream = |problems: &mut Vec<String>, upstream: &usher_edge_core::Upstream| {
        if let Some(want) = &case.expect.upstream {
            if upstream.origin != want.origin || upstream.url != want.url {
                problems.push(format!(
                    "upstream {} {} != expected {} {}",
                    upstream.origin, upstream.url, want.origin, want.url
                ));
            }
            if let Some(key) = want
                .cache_key
                .as_ref()
                .filter(|k| **k != upstream.cache_key)
            {
                problems.push(format!("cache key {} != {key}", upstream.cache_key));
            }
        }
    };
    let (response, reason) = match decision.action {
        Action::Proxy(upstream) => {
            if case.expect.action != "proxy" {
                problems.push(format!("proxied {}, expected a response", upstream.url));
            }
            check_upstream(&mut problems, &upstream);
            if decision.reason.code() != case.expect.reason {
                problems.push(format!(
                    "reason {} != {}",
                    decision.reason.code(),
                    case.expect.reason
                ));
            }
            return problems;
        }
        Action::Respond(response) => (response, decision.reason),
        Action::Asset(asset) => {
            if case.expect.action != "asset" {
                problems.push(format!(
                    "served asset {}, expected {}",
                    asset.name, case.expect.action
                ));
            }
            if let Some(name) = case.expect.asset.as_ref().filter(|n| **n != asset.name) {
                problems.push(format!("asset {} != {name}", asset.name));
            }
            return problems;
        }
        Action::ReadBody(limit) => {
            problems.push(format!("asked for a body of at most {limit} bytes"));
            return problems;
        }
        Action::Lease(check) => {
            problems.push(format!("asked for a second lease check: {}", check.key()));
            return problems;
        }
        Action::Fetch(upstream, plan) => {
            check_upstream(&mut problems, &upstream);
            let Some(origin) = &case.origin else {
                problems.push(format!(
                    "fetched {} but the case has no origin",
                    upstream.url
                ));
                return problems;
            };
            let fetched = if origin.timeout {
                Fetched::Timeout
            } else {
                let body = match (&origin.body, &origin.body_file) {
                    (Some(body), _) => Bytes::from(body.clone()),
                    (None, Some(file)) => {
                        Bytes::from(std::fs::read(root().join("origin").join(file)).unwrap())
                    }
                    (None, None) => Bytes::new(),
                };
                Fetched::Response {
                    status: StatusCode::from_u16(origin.status.unwrap_or(200)).unwrap(),
                    body,
                    stale: origin.stale,
                }
            };
            let done = finish(&plan, fetched, &input);
            match done.action {
                Action::Respond(response) => (response, done.reason),
                other => {
                    problems.push(format!("finish did not respond: {other:?}"));
                    return problems;
                }
            }
        }
    };
    if case.expect.action != "respond" {
        problems.push(format!(
            "responded {}, expected {}",
            response.status(),
            case.expect.action
        ));
    }
    check_response(case, &response, reason.code(), bless, &mut problems);
    problems
}

/// Compares the lease record written back with the case's `expect.store`.
fn check_store(
    case: &Case,
    lease: Option<(&str, Option<&usher_edge_core::StoreWrite>)>,
    problems: &mut Vec<String>,
) {
    let Some(want) = &case.expect.store else {
        return;
    };
    let got = match lease.and_then(|(_, write)| write) {
        None => serde_json::Value::String("none".into()),
        Some(write) => serde_json::json!({
            "key": write.key,
            "record": serde_json::from_slice::<serde_json::Value>(&write.value)
                .unwrap_or_else(|_| String::from_utf8_lossy(&write.value).into()),
            "ttl_secs": write.ttl_secs,
        }),
    };
    if got != *want {
        problems.push(format!("store write {got} != expected {want}"));
    }
}

fn check_response(
    case: &Case,
    response: &Response<Bytes>,
    reason: &str,
    bless: bool,
    problems: &mut Vec<String>,
) {
    if let Some(status) = case
        .expect
        .status
        .filter(|s| *s != response.status().as_u16())
    {
        problems.push(format!("status {} != {status}", response.status()));
    }
    let header_reason = response
        .headers()
        .get("x-usher-reason")
        .and_then(|v| v.to_str().ok());
    if reason != case.expect.reason || header_reason != Some(case.expect.reason.as_str()) {
        problems.push(format!(
            "reason {reason} (header {header_reason:?}) != {}",
            case.expect.reason
        ));
    }
    for (name, want) in &case.expect.headers {
        let got = response.headers().get(name).and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            problems.push(format!("header {name}: {got:?} != {want:?}"));
        }
    }
    let body = response.body();
    for needle in &case.expect.body_contains {
        if !String::from_utf8_lossy(body).contains(needle.as_str()) {
            problems.push(format!("body lacks {needle:?}"));
        }
    }
    if let Some(file) = &case.expect.body_file {
        let path = root().join("expected").join(file);
        if bless {
            std::fs::write(&path, body).unwrap();
        } else {
            match std::fs::read(&path) {
                Ok(want) if want == body.as_ref() => {}
                Ok(want) => problems.push(format!(
                    "body differs from {}:\n--- expected\n{}\n--- got\n{}",
                    file,
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(body)
                )),
                Err(e) => problems.push(format!(
                    "{}: {e} (bless with USHER_BLESS=1)",
                    path.display()
                )),
            }
        }
    }
}

fn cases(dir: &Path) -> Vec<(String, Case)> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let case: Case = serde_json::from_slice(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_stem().unwrap().to_string_lossy().into_owned(), case)
        })
        .collect()
}

#[test]
fn conformance_cases_pass_natively() {
    let bless = std::env::var_os("USHER_BLESS").is_some();
    let config = config();
    let all = cases(&root().join("cases"));
    assert!(all.len() >= 20, "only {} cases", all.len());
    let failures: Vec<String> = all
        .iter()
        .filter_map(|(file, case)| {
            let problems = run(case, &config, bless);
            (!problems.is_empty())
                .then(|| format!("{file} ({}):\n  {}", case.name, problems.join("\n  ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
