//! The native adapter: the core's decisions executed against a case's inputs, in-process.
//!
//! This is the reference every runtime is compared with, and, on the case's own fixed `now`
//! and entropy, the check of the case's expectations and byte-exact bodies
//! (`expected/`; `USHER_BLESS=1` rewrites them).
#![cfg(test)]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use usher_edge_core::config::EdgeConfig;
use usher_edge_core::page;
use usher_edge_core::{
    Action, AssetResponse, Client, EdgeInput, Fetched, OriginFailure, StoreWrite, Stored, Upstream,
    decide, finish, leased,
};
use usher_shared::health::HealthSnapshot;

use crate::case::{Case, ClientSpec, Etags, Tokens, root};
use crate::stream;

/// What the core decided, executed as far as an adapter would without a network.
#[derive(Debug)]
pub enum Outcome {
    /// A response the core made (directly, or from the fetched playlist).
    Respond(Response<Bytes>),
    /// Stream the origin's response to the viewer.
    Proxy,
    /// Serve this static asset.
    Asset(AssetResponse),
    /// Anything an adapter could not finish with a single request (a beacon body, a second
    /// lease check).
    Unfinished(String),
}

/// The native run of one case.
#[derive(Debug)]
pub struct Native {
    pub outcome: Outcome,
    pub reason: &'static str,
    /// The origin request, for fetches and proxies.
    pub upstream: Option<Upstream>,
    /// The lease store key read, if any.
    pub lease_key: Option<String>,
    /// The lease outcome for the log line.
    pub lease: Option<&'static str>,
    /// The lease record written back.
    pub store: Option<StoreWrite>,
    /// The lines for the steering controller (CMCD, the waiting room's), in order.
    pub events: Vec<String>,
}

/// The world the core sees for one request.
pub struct World<'a> {
    pub config: &'a EdgeConfig,
    pub now_ms: u64,
    pub entropy: [u8; 16],
    pub client: &'a ClientSpec,
    /// The runtime reports an origin timeout as an unreachable origin (Viceroy 0.22 gives no
    /// send error causes).
    pub timeout_unreported: bool,
    /// The health snapshot the adapter opened from its store, if it trusted one.
    pub health: Option<&'a HealthSnapshot>,
}

/// The case's health snapshot as every adapter reads it: opened by the core with the
/// configuration's health keys. The snapshot, if trusted, and the refusal's code, if not.
pub fn health(
    config: &EdgeConfig,
    envelope: Option<&[u8]>,
) -> (Option<HealthSnapshot>, Option<&'static str>) {
    match envelope.map(|raw| config.health(raw)) {
        None | Some(Ok(None)) => (None, None),
        Some(Ok(Some(snapshot))) => (Some(snapshot), None),
        Some(Err(error)) => (None, Some(error.code())),
    }
}

/// The pages' ETags the revalidation cases send back: the player page of `final-2026`, the
/// waiting room page of `gala-2026`.
pub fn page_etags(config: &EdgeConfig) -> Etags {
    let event = config.event("final-2026").unwrap();
    let gala = config.event("gala-2026").unwrap();
    Etags {
        player: page::player_page(event, &page::Assets::default(), &config.settings.ticket)
            .etag()
            .to_owned(),
        waiting: page::waiting_page(gala).etag().to_owned(),
    }
}

/// The case's request with its tokens filled in, plus `extra` headers (what a runtime's
/// client adds).
pub fn request(
    case: &Case,
    tokens: &Tokens,
    etags: &Etags,
    extra: &[(&str, String)],
) -> Request<()> {
    let mut builder = Request::builder()
        .method(case.request.method.as_str())
        .uri(case.fill(&case.request.uri, tokens, etags));
    for (name, value) in &case.request.headers {
        builder = builder.header(name, case.fill(value, tokens, etags));
    }
    for (name, value) in extra {
        builder = builder.header(*name, value);
    }
    builder.body(()).unwrap()
}

/// Runs the core on `request` in `world`, with the case's lease store and origin.
pub fn run(case: &Case, request: &Request<()>, world: &World<'_>) -> Native {
    let input = EdgeInput {
        now_ms: world.now_ms,
        client: Client {
            ip: world.client.ip.as_deref(),
            country: world.client.country.as_deref(),
            asn: world.client.asn,
        },
        config: world.config,
        health: world.health,
        entropy: world.entropy,
    };
    let mut decision = decide(request, &input);
    let (mut lease_key, mut lease, mut store) = (None, None, None);
    // Each step's lines, as an adapter ships them.
    let mut events = std::mem::take(&mut decision.events);
    // The lease store, as an adapter would: read the key, hand over what was found.
    if let Action::Lease(check) = decision.action {
        let stored = match &case.lease_store {
            None => Stored::Missing,
            Some(spec) => match spec.state.as_str() {
                "missing" => Stored::Missing,
                "unavailable" => Stored::Unavailable,
                "found" => Stored::Found(Bytes::from(spec.bytes().unwrap())),
                state => panic!("{}: bad lease_store state {state}", case.name),
            },
        };
        lease_key = Some(check.key().to_owned());
        let mut next = leased(check, stored, &input);
        lease = next.log.lease;
        store = next.store.clone();
        events.append(&mut next.events);
        decision = next;
    }
    let native = |outcome, reason: &'static str, upstream, more: Vec<String>| Native {
        outcome,
        reason,
        upstream,
        lease_key: lease_key.clone(),
        lease,
        store: store.clone(),
        events: events.iter().cloned().chain(more).collect(),
    };
    match decision.action {
        Action::Respond(response) => native(
            Outcome::Respond(response),
            decision.reason.code(),
            None,
            decision.events,
        ),
        Action::Proxy(upstream) => native(
            Outcome::Proxy,
            decision.reason.code(),
            Some(upstream),
            decision.events,
        ),
        Action::Asset(asset) => native(
            Outcome::Asset(asset),
            decision.reason.code(),
            None,
            decision.events,
        ),
        Action::ReadBody(limit) => native(
            Outcome::Unfinished(format!("asked for a body of at most {limit} bytes")),
            decision.reason.code(),
            None,
            decision.events,
        ),
        Action::Lease(check) => native(
            Outcome::Unfinished(format!("asked for a second lease check: {}", check.key())),
            decision.reason.code(),
            None,
            decision.events,
        ),
        Action::Fetch(upstream, plan) => {
            let Some(origin) = &case.origin else {
                return native(
                    Outcome::Unfinished(format!("fetched {} without an origin", upstream.url)),
                    decision.reason.code(),
                    Some(upstream),
                    decision.events,
                );
            };
            let fetched = if origin.timeout && world.timeout_unreported {
                OriginFailure::Unreachable.fetched()
            } else if origin.timeout {
                Fetched::Timeout
            } else {
                Fetched::Response {
                    status: StatusCode::from_u16(origin.status.unwrap_or(200)).unwrap(),
                    body: Bytes::from(case.origin_body(&stream::dir()).unwrap_or_default()),
                    stale: origin.stale,
                }
            };
            let done = finish(&plan, fetched, &input);
            let more = decision.events.into_iter().chain(done.events).collect();
            match done.action {
                Action::Respond(response) => native(
                    Outcome::Respond(response),
                    done.reason.code(),
                    Some(upstream),
                    more,
                ),
                other => native(
                    Outcome::Unfinished(format!("finish did not respond: {other:?}")),
                    done.reason.code(),
                    Some(upstream),
                    more,
                ),
            }
        }
    }
}

/// Checks one native run against the case's expectations, `health_error` being the code the
/// case's snapshot was refused with; returns what went wrong.
fn check(case: &Case, native: &Native, health_error: Option<&str>, bless: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let expect = &case.expect;
    if let Some(want) = &expect.health_error {
        let got = health_error.unwrap_or("none");
        if got != want {
            problems.push(format!("health_error {got} != expected {want}"));
        }
    }
    if let Some(want) = &expect.events {
        let got: Vec<serde_json::Value> = native
            .events
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| line.as_str().into()))
            .collect();
        if got != *want {
            problems.push(format!(
                "events {} != expected {}",
                serde_json::Value::from(got),
                serde_json::Value::from(want.clone())
            ));
        }
    }
    if let Some(want) = &expect.lease {
        let got = native.lease.unwrap_or("none");
        if got != want {
            problems.push(format!("lease {got} != expected {want}"));
        }
    }
    if let Some(want) = &expect.store {
        let got = match &native.store {
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
    if let (Some(want), Some(upstream)) = (&expect.upstream, &native.upstream) {
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
    if native.reason != expect.reason {
        problems.push(format!("reason {} != {}", native.reason, expect.reason));
    }
    match (&native.outcome, expect.action.as_str()) {
        (Outcome::Respond(response), "respond") => {
            check_response(case, response, bless, &mut problems);
        }
        (Outcome::Proxy, "proxy") => {}
        (Outcome::Asset(asset), "asset") => {
            if let Some(name) = expect.asset.as_ref().filter(|n| **n != asset.name) {
                problems.push(format!("asset {} != {name}", asset.name));
            }
        }
        (outcome, want) => problems.push(format!("{outcome:?}, expected {want}")),
    }
    problems
}

fn check_response(
    case: &Case,
    response: &Response<Bytes>,
    bless: bool,
    problems: &mut Vec<String>,
) {
    let expect = &case.expect;
    if let Some(status) = expect.status.filter(|s| *s != response.status().as_u16()) {
        problems.push(format!("status {} != {status}", response.status()));
    }
    let header_reason = response
        .headers()
        .get("x-usher-reason")
        .and_then(|v| v.to_str().ok());
    if header_reason != Some(expect.reason.as_str()) {
        problems.push(format!(
            "reason header {header_reason:?} != {}",
            expect.reason
        ));
    }
    for (name, want) in &expect.headers {
        let got = response.headers().get(name).and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            problems.push(format!("header {name}: {got:?} != {want:?}"));
        }
    }
    if let Some(want) = &expect.set_cookie {
        let got: Vec<&str> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap_or("(not text)"))
            .collect();
        if got.len() != want.len() {
            problems.push(format!(
                "Set-Cookie {got:?}, expected {} of them",
                want.len()
            ));
        }
        for (got, want) in got.iter().zip(want) {
            problems.extend(want.mismatch(got));
        }
    }
    let body = response.body();
    for needle in &expect.body_contains {
        if !String::from_utf8_lossy(body).contains(needle.as_str()) {
            problems.push(format!("body lacks {needle:?}"));
        }
    }
    if let Some(file) = &expect.body_file {
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

/// The 16 bytes a case's `entropy` field spells in hex.
pub fn entropy(case: &Case) -> [u8; 16] {
    hex::decode(case.entropy.trim())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn conformance_cases_pass_natively() {
    let bless = std::env::var_os("USHER_BLESS").is_some();
    let config = crate::case::config(None);
    let etag = page_etags(&config);
    let all = Case::all();
    assert!(all.len() >= 40, "only {} cases", all.len());
    let failures: Vec<String> = all
        .iter()
        .filter_map(|(file, case)| {
            let tokens = case.tokens();
            let request = request(case, &tokens, &etag, &[]);
            let envelope = case.health.as_ref().map(|h| h.envelope());
            let (snapshot, health_error) = health(&config, envelope.as_deref());
            let world = World {
                config: &config,
                now_ms: case.now * 1000,
                entropy: entropy(case),
                client: &case.client,
                timeout_unreported: false,
                health: snapshot.as_ref(),
            };
            let problems = check(case, &run(case, &request, &world), health_error, bless);
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
