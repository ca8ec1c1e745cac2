//! Every conformance case through each platform's real runtime, compared with the native core.
//!
//! For each runtime: a local origin (the FFmpeg stream, or what the case says the origin
//! answers), the runtime started with the conformance configuration pointed at it, and then,
//! case by case, the case's request over HTTP. The answer must be the native core's for the
//! same request at the same moment: the same status, reason code, headers (every header the
//! core sets) and body, byte for byte; the same origin request (path and query); for a proxied
//! segment or an asset, the origin's or the store's exact bytes.
//!
//! "The same moment": a runtime reads its own clock and entropy. Playlists and steering
//! manifests carry a session token the edge minted, whose `st` field is the runtime's `now` and
//! whose `id` is its entropy in hex; the native run uses those, so even the tokens compare
//! byte for byte. Answers without a token do not depend on either beyond the second the test
//! sent the request in.
#![cfg(test)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request};
use usher_edge_core::config::EdgeConfig;
use usher_shared::health::HealthSnapshot;

use crate::case::{Case, Etags, HealthSpec, root};
use crate::http::{Reply, percent_decode, send};
use crate::native::{self, Native, Outcome, World};
use crate::origin::{Answer, Origin, Seen};
use crate::runtime::{Documents, Kind, Running, Setup};
use crate::store::LeaseStore;
use crate::{budget, stream, tools};

/// How long one request may take end to end (the edge's origin timeout is 10 s).
const REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// How long a cached playlist takes to go stale in the stale-if-error case: the origin's
/// `max-age=1`, and a margin.
const STALE_AFTER: Duration = Duration::from_millis(2500);

/// How long the Fastly adapter holds an origin failure, and a margin.
const FAILURE_HOLD: Duration = Duration::from_millis(1100);

/// Where a runtime's platform presents a request differently from how it was sent, and so
/// the case's own expectation cannot hold there; the runtime must still give the native answer
/// to the request as presented. Each with the reason it is acceptable.
const DIVERGENCES: [(Kind, &str, &str); 2] = [
    (
        Kind::Viceroy,
        "path_traversal_is_400",
        "Fastly's SDK parses the request URL (WHATWG URL rules) and resolves `%2e%2e` before \
         the edge sees it, so the edge gets /events/semi-2026/master.m3u8, which needs a ticket \
         for that event: 401, and the traversal is closed either way",
    ),
    (
        Kind::Viceroy,
        "origin_timeout_is_504",
        "Viceroy 0.22 reports every backend send failure without its cause, so the Fastly \
         adapter cannot tell a timeout (504) from an unreachable origin (502) there; Fastly \
         reports HttpResponseTimeout, and the adapter's mapping of causes is unit-tested",
    ),
];

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A case file, loaded as it runs through a runtime: moved to the real time, with a lease of
/// its own.
fn load(file: &str, now: u64, unique: &str) -> Case {
    Case::load_at(
        &root().join("cases").join(format!("{file}.json")),
        Some(now),
        Some(unique),
    )
}

/// The order cases run in: those whose lease record is seeded at start first (their records'
/// expiry is relative to the start), the one that leaves a playlist in the cache last.
fn order(cases: &mut [(String, Case)]) {
    cases.sort_by_key(|(file, case)| {
        let seeded = case.lease_store.is_some();
        let caches = case.origin.as_ref().is_some_and(|o| o.stale);
        (!seeded, caches, file.clone())
    });
}

/// The result of one runtime's run.
pub struct Report {
    pub kind: Kind,
    pub passed: usize,
    pub failures: Vec<String>,
    pub skipped: Vec<String>,
    /// Cases compared on the request or origin failure as the platform presents it.
    pub diverged: Vec<String>,
    /// wasmtime: fuel per request, by route.
    pub fuel: Vec<(String, String, u64)>,
}

/// The session token in a body the edge made: its `st` (the runtime's `now`, seconds) and `id`.
fn minted(body: &[u8]) -> Option<(u64, String)> {
    let text = String::from_utf8_lossy(body);
    let start = text.find("__token__=")? + "__token__=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| !matches!(c, '&' | '"' | '\n' | '\r' | ' ' | ','))
        .collect();
    let token = percent_decode(&token);
    let field = |name: &str| {
        token
            .split('~')
            .find_map(|f| f.strip_prefix(name))
            .map(str::to_owned)
    };
    Some((field("st=")?.parse().ok()?, field("id=")?))
}

/// The runtime's `now`, Unix ms, from a waiting room cookie it set: a queue position or an
/// admission carries the time it was issued (`q1~EVENT~POSITION~ISSUED~...`,
/// `a1~EVENT~ISSUED~EXPIRES~...`).
fn issued(reply: &Reply) -> Option<u64> {
    reply.headers.get_all("set-cookie").iter().find_map(|v| {
        let text = v.to_str().ok()?;
        let value = text.split(';').next()?.split_once('=')?.1;
        let fields: Vec<&str> = value.split('~').collect();
        match fields.as_slice() {
            ["q1", _, _, issued, ..] | ["a1", _, issued, ..] => issued.parse().ok(),
            _ => None,
        }
    })
}

/// The route a request belongs to, for the fuel budget.
pub fn route(path: &str) -> &'static str {
    if path.starts_with("/assets/") {
        "asset"
    } else if path.ends_with("/queue") {
        "queue"
    } else if path.contains("/steering") {
        "steering"
    } else if path.ends_with("master.m3u8") {
        "multivariant"
    } else if path.ends_with(".m3u8") {
        "media"
    } else if path.ends_with(".m4s") || path.ends_with(".mp4") {
        "segment"
    } else if path.starts_with("/events/") {
        "page"
    } else {
        "other"
    }
}

/// Runs every case through `kind`, in groups of cases sharing a health snapshot in the
/// platform's store (most cases put none). Viceroy's KV stores are fixed when it starts, and
/// workerd's are given at start: a runtime of their own per group. `usher edge serve` rereads
/// `health.json` while it runs (as it does when the controller publishes), so under wasmtime
/// the groups share one runtime, its snapshot replaced between them: the component is compiled
/// once, not once per group.
pub async fn run(kind: Kind) -> Report {
    let origin = Origin::start().await;
    let store = match kind {
        Kind::Wasmtime => Some(LeaseStore::start().await),
        Kind::Viceroy | Kind::Workerd => None,
    };
    let documents = Documents::conformance(&origin.base_url());
    let config = crate::case::config(documents.events.as_deref());
    let etag = native::page_etags(&config);
    let mut report = Report {
        kind,
        passed: 0,
        failures: Vec::new(),
        skipped: Vec::new(),
        diverged: DIVERGENCES
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, file, why)| format!("{file}: {why}"))
            .collect(),
        fuel: Vec::new(),
    };
    let mut groups: Vec<(Option<HealthSpec>, Vec<String>)> = Vec::new();
    for (file, case) in Case::all() {
        match groups.iter_mut().find(|(health, _)| *health == case.health) {
            Some((_, files)) => files.push(file),
            None => groups.push((case.health, vec![file])),
        }
    }
    let mut shared = None;
    for (n, (_, files)) in groups.iter().enumerate() {
        let rig = Rig {
            origin: &origin,
            store: store.as_ref(),
            config: &config,
            etag: &etag,
            health: None,
        };
        let label = if n == 0 {
            "conformance".to_owned()
        } else {
            format!("conformance-health-{n}")
        };
        run_group(
            kind,
            &rig,
            &documents,
            &label,
            files,
            &mut report,
            &mut shared,
        )
        .await;
    }
    if let Some(running) = shared {
        running.stop().await;
    }
    report
}

/// Runs `files` (cases sharing one health snapshot) through a runtime of `kind`: under
/// wasmtime the one in `shared` (started by the first group) with its snapshot replaced, else
/// one of the group's own.
async fn run_group(
    kind: Kind,
    rig: &Rig<'_>,
    documents: &Documents,
    label: &str,
    files: &[String],
    report: &mut Report,
    shared: &mut Option<Running>,
) {
    let Rig {
        origin,
        store,
        config,
        etag,
        ..
    } = *rig;
    let started = now_secs();
    let mut cases: Vec<(String, Case)> = files
        .iter()
        .map(|file| (file.clone(), load(file, started, file)))
        .collect();
    order(&mut cases);
    // The snapshot in the store, made when the runtime starts; every case of the group is
    // compared with the core deciding on what the core makes of these same bytes.
    let envelope = cases
        .first()
        .and_then(|(_, case)| case.health.as_ref())
        .map(HealthSpec::envelope);
    let (snapshot, health_error) = native::health(config, envelope.as_deref());
    // Viceroy's KV stores are fixed at start: seed every case's record then, under the key
    // the edge will ask for.
    let mut seeds = Vec::new();
    if kind == Kind::Viceroy {
        for (_, case) in &cases {
            if let Some(bytes) = case.lease_store.as_ref().and_then(|s| s.bytes()) {
                let key = lease_key(case, config, etag).unwrap();
                seeds.push((key, bytes));
            }
        }
    }
    let setup = Setup {
        label: label.to_owned(),
        documents: Documents {
            health: envelope.clone(),
            ..documents.clone()
        },
        origin: ("origin-eu".into(), origin.base_url()),
        lease_store: store.map(LeaseStore::base_url),
        seeds,
        fuel: (kind == Kind::Wasmtime).then(|| budget::load().fuel_ceiling),
    };
    let mut own = None;
    let running = match (kind, shared.as_mut()) {
        (Kind::Wasmtime, Some(running)) => {
            running.set_health(envelope.as_deref()).await;
            running
        }
        (Kind::Wasmtime, None) => shared.insert(Running::start(kind, &setup).await),
        _ => own.insert(Running::start(kind, &setup).await),
    };
    // The group's own lines of the runtime's output, for the health checks and a failure.
    let since = running.lines();
    let failures_before = report.failures.len();
    let mut failed_last = false;
    for (file, _) in &cases {
        // At the real time, on every runtime: a media playlist checks its lease only in a
        // window of a few seconds after each half-life, which a case moved to the start would
        // miss on a runtime that took longer than that to start. Viceroy's records, seeded at
        // the start, are then older than the case says by the start-up time, which the seeded
        // cases' margins (a live lease has 10 s and more left) absorb; seeded cases run first.
        let case = load(file, now_secs(), file);
        let unavailable = case
            .lease_store
            .as_ref()
            .is_some_and(|s| s.state == "unavailable");
        if unavailable && kind != Kind::Wasmtime {
            report.skipped.push(format!(
                "{file}: {}'s local store cannot be made unavailable",
                kind.name()
            ));
            continue;
        }
        let rig = Rig {
            health: snapshot.as_ref(),
            ..*rig
        };
        let problems = run_case(running, &rig, file, &case, &mut failed_last).await;
        if problems.is_empty() {
            report.passed += 1;
        } else {
            report.failures.push(format!(
                "{} {file}:\n  {}",
                kind.name(),
                problems.join("\n  ")
            ));
        }
        if kind == Kind::Wasmtime {
            let path = case
                .request
                .uri
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned();
            match running.next_fuel().await {
                Some((_, logged, used)) => {
                    report
                        .fuel
                        .push((file.clone(), route(&logged).into(), used))
                }
                None => report
                    .failures
                    .push(format!("wasmtime {file}: no fuel reported for {path}")),
            }
        }
    }
    // The access lines say why a snapshot was refused, with the code the core gives.
    if envelope.is_some() {
        check_health_log(running, since, label, health_error, &mut report.failures).await;
    }
    if !running.alive() {
        report
            .failures
            .push(format!("{} exited during the run", kind.name()));
    }
    if report.failures.len() > failures_before {
        let output = running.output_since(since);
        let tail: Vec<&str> = output.lines().rev().take(40).collect();
        report.failures.push(format!(
            "{} {label} output (last 40 lines):\n{}",
            kind.name(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    if let Some(running) = own {
        running.stop().await;
    }
}

/// The runtime's access lines since line `since` (the group's) carry `health_error` starting
/// with the code the native core refused the snapshot with, or no `health_error` at all when
/// it trusted it. Access lines are written as the response goes out, so they are waited for a
/// little.
async fn check_health_log(
    running: &Running,
    since: usize,
    label: &str,
    code: Option<&str>,
    failures: &mut Vec<String>,
) {
    let kind = running.kind;
    let refused = code.map(|code| format!(r#""health_error":"{code}: "#));
    if refused.is_none() {
        // Nothing must appear: give the last lines time to arrive first.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let output = running.output_since(since);
        let ok = match &refused {
            Some(needle) => output.contains(needle.as_str()),
            None => !output.contains("health_error"),
        };
        if ok {
            return;
        }
        if refused.is_none() || std::time::Instant::now() > deadline {
            failures.push(format!(
                "{} {label}: the access log does not say {}",
                kind.name(),
                refused
                    .as_deref()
                    .unwrap_or("nothing about the health snapshot")
            ));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every line the native core gave the steering controller for this request (CMCD, the
/// waiting room's arrivals and admissions) reached the platform's log stream, from line `since`
/// of the runtime's output on: the same JSON object, its time (`at`, the runtime's clock in ms,
/// which the native run knows only to the second unless a waiting room cookie told it) within
/// the request, `sent_ms` (less a second: workerd's clock is the last I/O's) to `done_ms`. Log
/// lines are written as the response goes out, so they are waited for a little.
async fn check_events(
    running: &Running,
    since: usize,
    (sent_ms, done_ms): (u64, u64),
    events: &[String],
    problems: &mut Vec<String>,
) {
    // The object without its time, and the time.
    type Untimed = (serde_json::Value, Option<u64>);
    let untimed = |line: &str| -> Option<Untimed> {
        let mut value: serde_json::Value = serde_json::from_str(&line[line.find('{')?..]).ok()?;
        let at = value.as_object_mut()?.remove("at");
        Some((value, at.and_then(|a| a.as_u64())))
    };
    let wanted: Vec<(&String, Option<Untimed>)> =
        events.iter().map(|line| (line, untimed(line))).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let output = running.output_since(since);
        let logged: Vec<Untimed> = output.lines().filter_map(untimed).collect();
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|(_, want)| {
                let Some((object, at)) = want else {
                    return true;
                };
                !logged.iter().any(|(got, got_at)| {
                    got == object
                        && match (at, got_at) {
                            (None, None) => true,
                            (Some(_), Some(t)) => (sent_ms - 1000..=done_ms).contains(t),
                            _ => false,
                        }
                })
            })
            .map(|(line, _)| *line)
            .collect();
        if missing.is_empty() {
            return;
        }
        if std::time::Instant::now() > deadline {
            problems.push(format!(
                "the platform's log lacks the controller's lines {missing:?}"
            ));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The lease store key the edge reads for `case`, if it reads one.
fn lease_key(case: &Case, config: &EdgeConfig, etag: &Etags) -> Option<String> {
    let request = native::request(case, &case.tokens(), etag, &[]);
    let world = World {
        config,
        now_ms: case.now * 1000,
        entropy: native::entropy(case),
        client: &case.client,
        timeout_unreported: false,
        health: None,
    };
    native::run(case, &request, &world).lease_key
}

/// What every case of one runtime's run shares.
#[derive(Clone, Copy)]
struct Rig<'a> {
    origin: &'a Origin,
    store: Option<&'a LeaseStore>,
    config: &'a EdgeConfig,
    etag: &'a Etags,
    /// The health snapshot the runtime's adapter opened from its store, if it trusted one.
    health: Option<&'a HealthSnapshot>,
}

async fn run_case(
    running: &mut Running,
    rig: &Rig<'_>,
    file: &str,
    case: &Case,
    failed_last: &mut bool,
) -> Vec<String> {
    let Rig {
        origin,
        store,
        config,
        etag,
        health,
    } = *rig;
    let kind = running.kind;
    let tokens = case.tokens();
    let (client, extra) = kind.client(&case.client);
    let request = native::request(case, &tokens, etag, &extra);
    let seed = case.lease_store.as_ref().and_then(|s| s.bytes());
    let key = lease_key(case, config, etag);
    match (kind, store) {
        (Kind::Wasmtime, Some(store)) => {
            let down = case
                .lease_store
                .as_ref()
                .is_some_and(|s| s.state == "unavailable");
            store.reset(down, key.as_deref().zip(seed.clone()));
        }
        (Kind::Workerd, _) => {
            // workerd's KV stand-in reads seeds through from disk, so a record written now is
            // read by the next request.
            if let (Some(dir), Some(key), Some(seed)) = (&running.lease_seeds, &key, &seed) {
                let path = dir.join(key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, seed).unwrap();
            }
        }
        _ => {}
    }
    let origin_spec = case.origin.clone().unwrap_or_default();
    let body = case.origin_body(&stream::dir());
    let answer = |status: u16, cache_control| {
        body.as_ref().map(|body| Answer {
            status,
            body: Bytes::from(body.clone()),
            delay: Duration::from_millis(origin_spec.delay_ms.unwrap_or(0)),
            hang: origin_spec.timeout,
            cache_control,
        })
    };
    let mut problems = Vec::new();
    if case.origin.is_some() && *failed_last {
        // The Fastly adapter holds an origin failure for a second, for every viewer of that
        // playlist (it protects a failing origin from a stampede): a fetch case right after a
        // failing one would get the held failure. Let it lapse.
        tokio::time::sleep(FAILURE_HOLD).await;
    }
    *failed_last = origin_spec.timeout
        || origin_spec.stale
        || origin_spec.status.is_some_and(|s| s >= 500)
        || case.expect.status.is_some_and(|s| s >= 500);
    if origin_spec.stale {
        // Prime the runtime's cache with a copy that goes stale a second later (another
        // ticket, so that its lease is not this case's), then fail the origin.
        origin.answer(answer(origin_spec.status.unwrap_or(200), "max-age=1"));
        let prime = Case::load_at(
            &root().join("cases").join(format!("{file}.json")),
            Some(case.now),
            Some("prime"),
        );
        let prime_tokens = prime.tokens();
        let primer = native::request(&prime, &prime_tokens, etag, &extra);
        match send(running.addr, with_body(primer), REQUEST_LIMIT).await {
            Ok(reply) if reply.status == 200 => {}
            Ok(reply) => problems.push(format!("priming request answered {}", reply.status)),
            Err(e) => problems.push(format!("priming request: {e}")),
        }
        if kind == Kind::Wasmtime {
            running.next_fuel().await;
        }
        if let Some(store) = store {
            store.reset(false, key.as_deref().zip(seed.clone()));
        }
        tokio::time::sleep(STALE_AFTER).await;
        origin.answer(Some(Answer {
            status: 500,
            body: Bytes::from_static(b"origin down"),
            delay: Duration::ZERO,
            hang: false,
            cache_control: "no-store",
        }));
    } else {
        origin.answer(answer(origin_spec.status.unwrap_or(200), "no-store"));
    }
    origin.take_seen();
    let output_before = running.lines();
    let sent_ms = now_ms();
    let reply = match send(running.addr, with_body(request.clone()), REQUEST_LIMIT).await {
        Ok(reply) => reply,
        Err(e) => {
            problems.push(e);
            return problems;
        }
    };
    let done_ms = now_ms();
    let seen = origin.take_seen();
    // The native run, at the runtime's moment.
    let recovered = minted(&reply.body).map(|(st, id)| {
        let entropy = hex::decode(&id)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok());
        (st * 1000, entropy)
    });
    let (now_ms, entropy) = match recovered {
        Some((now_ms, Some(entropy))) => (now_ms, Some(entropy)),
        Some((now_ms, None)) => (now_ms, None),
        None => (issued(&reply).unwrap_or(sent_ms), None),
    };
    // The request as the platform presents it to the edge.
    let presented = kind.presented(&request);
    let world = World {
        config,
        now_ms,
        entropy: entropy.unwrap_or_else(|| native::entropy(case)),
        client: &client,
        timeout_unreported: kind == Kind::Viceroy,
        health,
    };
    let native = native::run(case, &presented, &world);
    let divergence = DIVERGENCES
        .iter()
        .find(|(k, f, _)| *k == kind && *f == file);
    if native.reason != case.expect.reason && divergence.is_none() {
        problems.push(format!(
            "at the runtime's time the case no longer tests what it says: the core says {}, the case {}",
            native.reason, case.expect.reason
        ));
    }
    compare(&native, &reply, &seen, request.method(), &mut problems);
    let during = (sent_ms, done_ms);
    check_events(
        running,
        output_before,
        during,
        &native.events,
        &mut problems,
    )
    .await;
    // What crosses to the origin never carries the viewer's credentials.
    for seen in &seen {
        for token in tokens.ticket.iter().chain(&tokens.session) {
            if seen.path_and_query.contains(token.as_str())
                || seen
                    .headers
                    .values()
                    .any(|v| String::from_utf8_lossy(v.as_bytes()).contains(token.as_str()))
            {
                problems.push(format!("the origin got a viewer token: {seen:?}"));
            }
        }
    }
    if let Some(store) = store {
        compare_store(&native, &store.written(), entropy.is_some(), &mut problems);
    }
    problems
}

fn with_body(request: Request<()>) -> Request<Bytes> {
    request.map(|()| Bytes::new())
}

/// Headers a platform sets on every response itself, whatever the edge said.
const PLATFORM_HEADERS: [&str; 3] = ["content-length", "date", "transfer-encoding"];

fn compare(
    native: &Native,
    reply: &Reply,
    seen: &[Seen],
    method: &Method,
    problems: &mut Vec<String>,
) {
    let reason = reply.header("x-usher-reason");
    if reason != Some(native.reason) {
        problems.push(format!("reason {reason:?}, native {}", native.reason));
    }
    if let Some(upstream) = &native.upstream {
        let want = upstream
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("/");
        let asked: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
        if !asked.contains(&want) || asked.iter().any(|a| *a != want) {
            problems.push(format!("origin was asked for {asked:?}, native {want}"));
        }
        if let Some(seen) = seen.iter().find(|s| s.method != upstream.method.as_str()) {
            problems.push(format!(
                "origin got a {}, native {}",
                seen.method, upstream.method
            ));
        }
    }
    let body_of = |bytes: Vec<u8>| {
        if *method == Method::HEAD {
            Vec::new()
        } else {
            bytes
        }
    };
    match &native.outcome {
        Outcome::Respond(response) => {
            if reply.status != response.status() {
                problems.push(format!(
                    "status {}, native {}",
                    reply.status,
                    response.status()
                ));
            }
            let mut names: Vec<&str> = response.headers().keys().map(|n| n.as_str()).collect();
            names.dedup();
            for name in names.into_iter().filter(|n| !PLATFORM_HEADERS.contains(n)) {
                let join = |map: &http::HeaderMap| {
                    map.get_all(name)
                        .iter()
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let (got, want) = (join(&reply.headers), join(response.headers()));
                if got != want {
                    problems.push(format!("header {name}: {got:?}, native {want:?}"));
                }
            }
            let want = body_of(response.body().to_vec());
            if reply.body.as_ref() != want.as_slice() {
                problems.push(format!(
                    "body differs from the native core's:\n--- native\n{}\n--- runtime\n{}",
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&reply.body)
                ));
            }
        }
        Outcome::Proxy => {
            let path = seen
                .first()
                .map(|s| s.path_and_query.clone())
                .unwrap_or_default();
            let file = std::fs::read(stream::dir().join(path.trim_start_matches('/'))).ok();
            match file {
                Some(bytes)
                    if reply.status == 200
                        && reply.body.as_ref() == body_of(bytes.clone()).as_slice() => {}
                Some(_) => problems.push(format!(
                    "proxied {path}: status {}, {} bytes, not the origin's bytes",
                    reply.status,
                    reply.body.len()
                )),
                None => problems.push(format!("proxied {path}, which the origin does not have")),
            }
        }
        Outcome::Asset(asset) => {
            let bytes = std::fs::read(tools::assets().join(&asset.name)).unwrap();
            let headers = [
                ("content-type", asset.content_type),
                ("cache-control", asset.cache_control),
            ];
            for (name, want) in headers {
                if reply.header(name) != Some(want) {
                    problems.push(format!(
                        "asset header {name}: {:?}, native {want:?}",
                        reply.header(name)
                    ));
                }
            }
            if reply.status != 200 || reply.body.as_ref() != body_of(bytes).as_slice() {
                problems.push(format!(
                    "asset {}: status {}, {} bytes, not the store's bytes",
                    asset.name,
                    reply.status,
                    reply.body.len()
                ));
            }
        }
        Outcome::Unfinished(what) => problems.push(format!("the native core left {what}")),
    }
    if reply.status == 500 && reason.is_none() {
        problems.push("500 without a reason: a trap".into());
    }
}

/// wasmtime's lease store saw the write the core asked for: same key, same TTL, the same
/// sessions holding leases.
///
/// The session ids are compared only when the runtime's entropy is known (read back from a
/// token it minted); otherwise the number of leases is.
fn compare_store(
    native: &Native,
    written: &[crate::store::Written],
    entropy_known: bool,
    problems: &mut Vec<String>,
) {
    let sessions = |value: &[u8]| -> Vec<String> {
        serde_json::from_slice::<serde_json::Value>(value)
            .ok()
            .and_then(|v| {
                v["leases"].as_array().map(|l| {
                    l.iter()
                        .filter_map(|e| e["s"].as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default()
    };
    match (&native.store, written) {
        (None, []) => {}
        (Some(want), [got]) => {
            if got.key != want.key
                || got.ttl_secs != Some(want.ttl_secs)
                || (entropy_known && sessions(&got.value) != sessions(&want.value))
                || sessions(&got.value).len() != sessions(&want.value).len()
            {
                problems.push(format!(
                    "lease store write {} ttl {:?} {}, native {} ttl {} {}",
                    got.key,
                    got.ttl_secs,
                    String::from_utf8_lossy(&got.value),
                    want.key,
                    want.ttl_secs,
                    String::from_utf8_lossy(&want.value)
                ));
            }
        }
        (want, got) => problems.push(format!(
            "lease store writes {:?}, native {:?}",
            got.iter().map(|w| &w.key).collect::<Vec<_>>(),
            want.as_ref().map(|w| &w.key)
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_cases_give_the_native_answer_in_wasmtime_viceroy_and_workerd() {
    let reports = tokio::join!(run(Kind::Wasmtime), run(Kind::Viceroy), run(Kind::Workerd));
    let reports = [reports.0, reports.1, reports.2];
    let mut summary = String::new();
    let mut failures = Vec::new();
    for report in &reports {
        writeln!(
            summary,
            "{:<9} {} passed, {} failed, {} skipped",
            report.kind.name(),
            report.passed,
            report.failures.len(),
            report.skipped.len()
        )
        .unwrap();
        for skip in &report.skipped {
            writeln!(summary, "          skipped {skip}").unwrap();
        }
        for diverged in &report.diverged {
            writeln!(summary, "          as presented: {diverged}").unwrap();
        }
        failures.extend(report.failures.iter().cloned());
    }
    // The fuel budget: every request within its route's budget.
    let budgets = budget::load();
    let mut worst: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for (file, route, used) in &reports[0].fuel {
        let entry = worst.entry(route.clone()).or_insert((0, String::new()));
        if *used > entry.0 {
            *entry = (*used, file.clone());
        }
        match budgets.fuel.get(route) {
            Some(budget) if used <= budget => {}
            Some(budget) => failures.push(format!(
                "wasmtime {file}: {used} fuel for a {route} request, over its budget of {budget} (wasm-tests/budgets.json)"
            )),
            None => failures.push(format!("wasmtime {file}: no fuel budget for route {route}")),
        }
    }
    writeln!(summary, "fuel per request (most in any case, budget):").unwrap();
    for (route, (used, file)) in &worst {
        let budget = budgets.fuel.get(route).copied().unwrap_or_default();
        writeln!(summary, "  {route:<12} {used:>12} {budget:>12}  ({file})").unwrap();
    }
    println!("{summary}");
    assert!(
        reports.iter().all(|r| r.passed >= 40),
        "too few cases passed:\n{summary}\n{}",
        failures.join("\n")
    );
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
}
