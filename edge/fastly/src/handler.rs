//! One request, start to finish: gather the core's inputs, call [`decide`], carry out the
//! [`Action`] it returns, send the response, then log.
//!
//! Everything here is mechanical. The branches are on the action, never on what a request
//! means: which requests need a ticket, what a playlist becomes and which status a refusal gets
//! are the core's answers, so this adapter behaves like every other one.
//!
//! | action | what happens here |
//! |---|---|
//! | `Respond` | sent as is (without the body for `HEAD`) |
//! | `Proxy` | sent to the origin's backend through Fastly's HTTP cache, streamed back with the core's headers set over the origin's |
//! | `Fetch` | the playlist read through the Core Cache (`playlist`), up to `playlist.max_bytes` + 1 bytes, then [`finish`] |
//! | `ReadBody` | the body read up to the limit (413 `bad_request` beyond), then [`beacon`] |
//! | `Asset` | the bytes under the asset's name in the `usher_assets` KV store, streamed; 404 `not_found` without them |
//! | `Lease` | the record under the check's key read from the `usher_leases` KV store (missing, or unavailable on a store error), then [`leased`], whose decision is carried out in turn |
//!
//! The response goes out before the lease record is written and before the logs are, so
//! neither a KV write nor a slow log endpoint delays a viewer (a Compute instance keeps running
//! after its response is handed over: that is Fastly's background work). A failed write is
//! logged (`store_error`), never fatal. The access line's `duration_us` ends at the hand-over.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fastly::log::Endpoint;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use usher_edge_core::access::AccessLine;
use usher_edge_core::decision::{LogFields, body_too_large, refusal, refuse};
use usher_edge_core::reason::{REASON_HEADER, Reason};
use usher_edge_core::{
    Action, AssetResponse, Decision, EdgeInput, StoreWrite, beacon, decide, finish, leased,
    proxied, route,
};

use crate::config::ASSET_STORE;
use crate::convert::{self, ClientFacts};
use crate::log;
use crate::store::{self, KvError};
use crate::{origin, playlist};

/// What was sent, and what the access line says about it.
struct Outcome {
    response: fastly::Response,
    status: StatusCode,
    reason: Reason,
    log: LogFields,
    error: Option<String>,
    cache: Option<&'static str>,
    /// The lease record to write once the response is out.
    write: Option<StoreWrite>,
    /// Why the lease store could not be read, if it could not.
    store_error: Option<String>,
}

impl Outcome {
    /// Sends `response`, which the core made.
    fn sent(
        response: Response<Bytes>,
        reason: Reason,
        log: LogFields,
        head_only: bool,
        error: Option<String>,
    ) -> Self {
        Outcome {
            status: response.status(),
            response: platform_response(response, head_only),
            reason,
            log,
            error,
            cache: None,
            write: None,
            store_error: None,
        }
    }

    /// Sends the response of a decision that can only be one (`refuse`, `finish`, `beacon`),
    /// after taking its QoE events.
    fn respond(
        decision: Decision,
        head_only: bool,
        error: Option<String>,
        events: &mut Vec<String>,
    ) -> Self {
        let answer = decision.into_answer();
        events.extend(answer.events);
        Outcome::sent(answer.response, answer.reason, answer.log, head_only, error)
    }
}

/// Answers the client request of this Compute instance. Never fails: every failure is a
/// response with its reason.
pub(crate) fn serve() {
    let started = Instant::now();
    let at_ms = now_ms();
    let mut client = fastly::Request::from_client();
    let body = client.take_body();
    let ip = client.get_client_ip_addr();
    let geo = ip.and_then(fastly::geo::geo_lookup);
    let facts = ClientFacts::new(
        ip,
        geo.as_ref().map(fastly::geo::Geo::country_code),
        geo.as_ref().map(fastly::geo::Geo::as_number),
    );
    let head = convert::head(
        client.get_method_str(),
        client.get_url_str(),
        client.get_headers(),
    );
    let mut events = Vec::new();
    let (outcome, health_error) = match (head, store::current(), entropy()) {
        (None, _, _) => (unreadable(), None),
        (Some(head), Err(error), _) => (config_error(&head, error.to_string()), None),
        (Some(head), Ok(_), Err(error)) => (config_error(&head, error), None),
        (Some(head), Ok(loaded), Ok(entropy)) => {
            let input = EdgeInput {
                now_ms: at_ms,
                client: facts.client(),
                config: &loaded.config,
                health: loaded.health.as_ref(),
                entropy,
            };
            let outcome = execute(&head, body, &input, &mut events);
            (outcome, loaded.health_error.as_deref())
        }
    };
    let Outcome {
        response,
        status,
        reason,
        log: fields,
        error,
        cache,
        write,
        mut store_error,
    } = outcome;
    response.send_to_client();
    let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if let Some(write) = write
        && let Err(error) = store::write_lease(&write)
    {
        store_error = Some(format!("writing the lease record: {error}"));
    }
    let access = AccessLine {
        duration_us: Some(duration_us),
        cache,
        error: error.as_deref(),
        health_error,
        store_error: store_error.as_deref(),
        ..AccessLine::new(at_ms, &fields, reason, status.as_u16())
    };
    write_logs(&events, &access.render());
}

/// Decides, then carries out the action.
fn execute(
    request: &Request<()>,
    body: fastly::Body,
    input: &EdgeInput<'_>,
    events: &mut Vec<String>,
) -> Outcome {
    let mut decision = decide(request, input);
    events.append(&mut decision.events);
    let mut store_error = None;
    if let Action::Lease(check) = decision.action {
        let (stored, error) = store::lease(check.key());
        store_error = error;
        decision = leased(check, stored, input);
        events.append(&mut decision.events);
    }
    let write = decision.store.take();
    Outcome {
        write,
        store_error,
        ..carry_out(request, decision, body, input, events)
    }
}

/// Carries out a decision's action.
fn carry_out(
    request: &Request<()>,
    decision: Decision,
    body: fastly::Body,
    input: &EdgeInput<'_>,
    events: &mut Vec<String>,
) -> Outcome {
    let head_only = request.method() == Method::HEAD;
    let Decision {
        action,
        reason,
        log,
        ..
    } = decision;
    match action {
        Action::Respond(response) => Outcome::sent(response, reason, log, head_only, None),
        Action::Proxy(upstream) => match origin::proxy(&upstream, request.headers()) {
            Ok(mut response) => {
                let status = response.get_status();
                for (name, value) in upstream.response_headers {
                    response.set_header(name, value);
                }
                let reason = proxied(status);
                response.set_header(REASON_HEADER, reason.code());
                Outcome {
                    response,
                    status,
                    reason,
                    log,
                    error: None,
                    cache: None,
                    write: None,
                    store_error: None,
                }
            }
            Err(error) => Outcome::respond(
                refuse(error.failure.reason(), log),
                head_only,
                Some(error.detail),
                events,
            ),
        },
        Action::Fetch(upstream, plan) => {
            // One byte over the limit is enough for the core to refuse the playlist as too
            // large; the rest is never read.
            let cap = plan.max_bytes().saturating_add(1);
            let fetch = playlist::fetch(&upstream, cap, input.now_ms / 1000);
            let finished = finish(&plan, fetch.fetched, input);
            let finished = Decision {
                log: log.merged(finished.log),
                ..finished
            };
            Outcome {
                cache: Some(fetch.cache),
                ..Outcome::respond(finished, head_only, fetch.error, events)
            }
        }
        Action::ReadBody(limit) => {
            let declared = request
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return too_large(log);
            }
            match convert::read_up_to(body, limit.saturating_add(1)) {
                Ok(bytes) if bytes.len() > limit => too_large(log),
                Ok(bytes) => {
                    let answered = beacon(request, &bytes, input);
                    let answered = Decision {
                        log: log.merged(answered.log),
                        ..answered
                    };
                    Outcome::respond(answered, head_only, None, events)
                }
                Err(error) => Outcome::respond(
                    refuse(Reason::BadRequest, log),
                    head_only,
                    Some(format!("reading the request body: {error}")),
                    events,
                ),
            }
        }
        Action::Asset(asset) => serve_asset(&asset, log, head_only, events),
        // `leased` never asks for a second check; refuse rather than loop if it ever did.
        Action::Lease(_) => Outcome::respond(
            refuse(Reason::ConfigError, log),
            head_only,
            Some("a lease check after a lease check".to_owned()),
            events,
        ),
    }
}

/// A static asset from the asset store, streamed from it.
fn serve_asset(
    asset: &AssetResponse,
    log: LogFields,
    head_only: bool,
    events: &mut Vec<String>,
) -> Outcome {
    match store::kv(ASSET_STORE, &asset.name) {
        Ok(Some(body)) => {
            let mut response = fastly::Response::from_status(StatusCode::OK);
            response.set_header(CONTENT_TYPE, asset.content_type);
            response.set_header(CACHE_CONTROL, asset.cache_control);
            response.set_header(REASON_HEADER, Reason::Ok.code());
            if !head_only {
                response.set_body(body);
            }
            Outcome {
                response,
                status: StatusCode::OK,
                reason: Reason::Ok,
                log,
                error: None,
                cache: None,
                write: None,
                store_error: None,
            }
        }
        Ok(None) => Outcome::respond(
            refuse(Reason::NotFound, log),
            head_only,
            Some(format!("no asset {:?} in {ASSET_STORE}", asset.name)),
            events,
        ),
        // An asset store the service lacks is a deployment error; a failing one is the
        // asset's origin failing.
        Err(error) => {
            let reason = match error {
                KvError::NotLinked(_) => Reason::ConfigError,
                KvError::Failed(_) => Reason::OriginError,
            };
            Outcome::respond(
                refuse(reason, log),
                head_only,
                Some(error.to_string()),
                events,
            )
        }
    }
}

/// A request Fastly handed over but `http` cannot represent: 400 `bad_request`.
fn unreadable() -> Outcome {
    let response = refusal(Reason::BadRequest);
    Outcome::sent(
        response,
        Reason::BadRequest,
        LogFields::default(),
        false,
        Some("unreadable request: method or URL refused".to_owned()),
    )
}

/// The configuration (or the platform's randomness) is unusable: 503 `config_error`, the
/// error in the log and never in the body.
fn config_error(request: &Request<()>, error: String) -> Outcome {
    // The route is still worth logging: it says what the outage hit.
    let log = LogFields {
        route: route::route(request.uri().path()).map_or("", |r| r.name()),
        ..LogFields::default()
    };
    let head_only = request.method() == Method::HEAD;
    Outcome::sent(
        refusal(Reason::ConfigError),
        Reason::ConfigError,
        log,
        head_only,
        Some(error),
    )
}

/// A body over the limit: the core's `bad_request` refusal, with 413 (RFC 9110 §15.5.14).
fn too_large(log: LogFields) -> Outcome {
    let response = body_too_large();
    let error = Some("request body over the limit".to_owned());
    Outcome::sent(response, Reason::BadRequest, log, false, error)
}

/// A response the core made, as Fastly's. A `HEAD` request gets the head only.
fn platform_response(response: Response<Bytes>, head_only: bool) -> fastly::Response {
    let (parts, body) = response.into_parts();
    let mut out = fastly::Response::from_status(parts.status);
    for (name, value) in &parts.headers {
        out.append_header(name, value);
    }
    if !head_only {
        out.set_body(body.as_ref());
    }
    out
}

/// Writes the QoE events and the access line to their endpoints. An endpoint the platform
/// refuses to open falls back to the instance's stdout (events) or stderr (access), which
/// Fastly's log tailing shows.
fn write_logs(events: &[String], access: &str) {
    let endpoints = store::endpoints();
    if !events.is_empty() {
        match Endpoint::try_from_name(&endpoints.qoe) {
            Ok(mut endpoint) => log::write_lines(&mut endpoint, events.iter().map(String::as_str)),
            Err(_) => {
                let lines: Vec<String> = events.iter().map(|e| format!("{e}\n")).collect();
                log::write_lines(&mut std::io::stdout(), lines.iter().map(String::as_str));
            }
        }
    }
    match Endpoint::try_from_name(&endpoints.access) {
        Ok(mut endpoint) => log::write_lines(&mut endpoint, [access]),
        Err(_) => log::write_lines(&mut std::io::stderr(), [format!("{access}\n").as_str()]),
    }
}

/// The wall clock, Unix milliseconds (WASI `clock_time_get`, which Compute provides).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sixteen bytes from WASI `random_get`, the Compute host's cryptographically secure source.
/// Session ids are made from them, so a failure is refused rather than papered over.
fn entropy() -> Result<[u8; 16], String> {
    let mut bytes = [0; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("platform randomness: {e}"))?;
    Ok(bytes)
}
