//! One request, start to finish: gather the core's inputs, call [`decide`], and carry out the
//! [`Action`] it returns.
//!
//! Everything here is mechanical. The branches are on the action, never on what a request
//! means: which requests need a ticket, what a playlist becomes and which status a refusal gets
//! are the core's answers, so this adapter behaves like every other one.
//!
//! | action | what happens here |
//! |---|---|
//! | `Respond` | sent as is (without the body for `HEAD`) |
//! | `Proxy` | the origin's response streamed through, with the core's headers added |
//! | `Fetch` | the playlist read up to `playlist.max_bytes` + 1 bytes, then [`finish`] |
//! | `ReadBody` | the body read up to the limit (413 `bad_request` beyond), then [`beacon`] |
//! | `Asset` | the asset streamed from the host's asset store with the core's headers; 404 `not_found` when the store lacks it or there is no store |
//! | `Lease` | the record read from the host's lease store, then [`leased`], then its action |
//!
//! Every decision may carry a lease record to write ([`Decision::store`]). WASI 0.2 has no
//! "after the response" facility, so the write runs alongside the action (the playlist fetch)
//! and is awaited with it; a failed write is logged, never fatal.
//!
//! Non-goal: caching, which is the host's job (see [`crate::origin`]).

use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use usher_edge_core::access::AccessLine;
use usher_edge_core::decision::{LogFields, body_too_large, refuse};
use usher_edge_core::reason::{REASON_HEADER, Reason};
use usher_edge_core::{
    Action, Decision, EdgeInput, Fetched, beacon, decide, finish, leased, proxied, route,
};
use wstd::http::Body;

use crate::config;
use crate::convert;
use crate::log;
use crate::origin;
use crate::services;

/// What was sent, and what the access line says about it.
struct Outcome {
    response: Response<Body>,
    status: StatusCode,
    reason: Reason,
    log: LogFields,
    error: Option<String>,
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
            response: convert::response(response, head_only),
            reason,
            log,
            error,
        }
    }

    /// Sends the response of a decision that can only be one (`refuse`, `finish`, `beacon`),
    /// after writing its QoE events.
    fn respond(decision: Decision, head_only: bool, error: Option<String>) -> Self {
        let answer = decision.into_answer();
        log::events(&answer.events);
        Outcome::sent(answer.response, answer.reason, answer.log, head_only, error)
    }
}

/// Answers one request. Never fails: every failure is a response with its reason.
pub(crate) async fn handle(request: Request<Body>) -> Response<Body> {
    let at_ms = now_ms();
    let (request, body) = convert::split(request);
    let (outcome, health_error) = match config::current() {
        Ok(loaded) => {
            let input = EdgeInput {
                now_ms: at_ms,
                client: convert::client(request.headers()),
                config: &loaded.config,
                health: loaded.health.as_ref(),
                entropy: entropy(),
            };
            let stores = Stores {
                assets: loaded.assets_url.as_deref(),
                leases: loaded.store_url.as_deref(),
            };
            let outcome = execute(&request, body, &input, stores).await;
            (outcome, loaded.health_error.as_deref())
        }
        Err(error) => {
            // The route is still worth logging: it says what the outage hit.
            let log = LogFields {
                route: route::route(request.uri().path()).map_or("", |r| r.name()),
                ..LogFields::default()
            };
            let decision = refuse(Reason::ConfigError, log);
            let head_only = request.method() == Method::HEAD;
            (
                Outcome::respond(decision, head_only, Some(error.to_string())),
                None,
            )
        }
    };
    log::access(&AccessLine {
        error: outcome.error.as_deref(),
        health_error,
        ..AccessLine::new(at_ms, &outcome.log, outcome.reason, outcome.status.as_u16())
    });
    outcome.response
}

/// The base URLs of the host's stores, where it has them.
#[derive(Clone, Copy, Debug)]
struct Stores<'a> {
    assets: Option<&'a str>,
    leases: Option<&'a str>,
}

/// Decides, checks the lease when the core asks, then carries out the action while writing the
/// lease record the core returned.
async fn execute(
    request: &Request<()>,
    body: Body,
    input: &EdgeInput<'_>,
    stores: Stores<'_>,
) -> Outcome {
    let mut decision = decide(request, input);
    log::events(&decision.events);
    let mut notes = Vec::new();
    if let Action::Lease(check) = decision.action {
        let (stored, why) = services::read_lease(stores.leases, check.key()).await;
        notes.extend(why);
        decision = leased(check, stored, input);
        log::events(&decision.events);
    }
    let write = decision.store.take();
    let written = async {
        match &write {
            Some(write) => services::write_lease(stores.leases, write).await.err(),
            None => None,
        }
    };
    let (mut outcome, write_error) =
        both(carry_out(request, body, input, stores, decision), written).await;
    notes.extend(write_error);
    notes.extend(outcome.error.take());
    outcome.error = (!notes.is_empty()).then(|| notes.join("; "));
    outcome
}

/// Runs two futures side by side and gives both results: the host's reactor wakes whichever
/// has I/O ready.
async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut done_a, mut done_b) = (None, None);
    poll_fn(|cx| {
        if done_a.is_none()
            && let Poll::Ready(output) = a.as_mut().poll(cx)
        {
            done_a = Some(output);
        }
        if done_b.is_none()
            && let Poll::Ready(output) = b.as_mut().poll(cx)
        {
            done_b = Some(output);
        }
        if done_a.is_some() && done_b.is_some() {
            match (done_a.take(), done_b.take()) {
                (Some(a), Some(b)) => Poll::Ready((a, b)),
                _ => Poll::Pending,
            }
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Carries out the action of a decision.
async fn carry_out(
    request: &Request<()>,
    body: Body,
    input: &EdgeInput<'_>,
    stores: Stores<'_>,
    decision: Decision,
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
        Action::Proxy(upstream) => match origin::proxy(&upstream, request.headers()).await {
            Ok(response) => {
                let reason = proxied(response.status());
                let mut response = convert::proxied(response, upstream.response_headers);
                response
                    .headers_mut()
                    .insert(REASON_HEADER, http::HeaderValue::from_static(reason.code()));
                Outcome {
                    status: response.status(),
                    response,
                    reason,
                    log,
                    error: None,
                }
            }
            Err(error) => Outcome::respond(
                refuse(error.failure.reason(), log),
                head_only,
                Some(error.detail),
            ),
        },
        Action::Fetch(upstream, plan) => {
            // One byte over the limit is enough for the core to refuse the playlist as too
            // large; the rest is never read.
            let cap = plan.max_bytes().saturating_add(1);
            let (fetched, error) = match origin::fetch(&upstream, cap).await {
                Ok(answer) => {
                    let status = answer.status;
                    let error = if answer.stale {
                        Some("origin failed: a stale copy stood in".to_owned())
                    } else {
                        (!status.is_success()).then(|| format!("origin answered {status}"))
                    };
                    let fetched = Fetched::Response {
                        status,
                        body: answer.body,
                        stale: answer.stale,
                    };
                    (fetched, error)
                }
                Err(error) => (error.failure.fetched(), Some(error.detail)),
            };
            let finished = finish(&plan, fetched, input);
            let finished = Decision {
                log: log.merged(finished.log),
                ..finished
            };
            Outcome::respond(finished, head_only, error)
        }
        Action::ReadBody(limit) => {
            if body.content_length().is_some_and(|n| n > limit as u64) {
                return too_large(log);
            }
            match convert::read_up_to(body.into_boxed_body(), limit.saturating_add(1)).await {
                Ok(bytes) if bytes.len() > limit => too_large(log),
                Ok(bytes) => {
                    let answered = beacon(request, &bytes, input);
                    let answered = Decision {
                        log: log.merged(answered.log),
                        ..answered
                    };
                    Outcome::respond(answered, head_only, None)
                }
                Err(error) => Outcome::respond(
                    refuse(Reason::BadRequest, log),
                    head_only,
                    Some(format!("reading the request body: {error:#}")),
                ),
            }
        }
        // `leased` never asks for a second check; refuse rather than loop if it ever did.
        Action::Lease(_) => Outcome::respond(
            refuse(Reason::ConfigError, log),
            head_only,
            Some("a lease check after a lease check".to_owned()),
        ),
        Action::Asset(asset) => match services::asset(stores.assets, &asset, head_only).await {
            Ok(Some(response)) => Outcome {
                status: response.status(),
                response,
                reason,
                log,
                error: None,
            },
            Ok(None) => {
                let why = stores
                    .assets
                    .is_none()
                    .then(|| "no asset store configured".to_owned());
                Outcome::respond(refuse(Reason::NotFound, log), head_only, why)
            }
            Err(error) => Outcome::respond(
                refuse(error.failure.reason(), log),
                head_only,
                Some(error.detail),
            ),
        },
    }
}

/// A body over the limit: the core's `bad_request` refusal, with 413 (RFC 9110 §15.5.14).
fn too_large(log: LogFields) -> Outcome {
    let response = body_too_large();
    let error = Some("request body over the limit".to_owned());
    Outcome::sent(response, Reason::BadRequest, log, false, error)
}

/// The wall clock, Unix milliseconds (`wasi:clocks/wall-clock` under `std`).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sixteen bytes from `wasi:random/random`, the host's cryptographically secure source.
fn entropy() -> [u8; 16] {
    let mut bytes = [0; 16];
    wstd::rand::get_random_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_body_is_413_with_the_bad_request_reason() {
        let outcome = too_large(LogFields::default());
        assert_eq!(outcome.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(outcome.response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(outcome.response.headers()["x-usher-reason"], "bad_request");
    }

    #[test]
    fn the_clock_reads_unix_milliseconds() {
        // 2025-01-01: a wrong unit or epoch is off by orders of magnitude.
        assert!(now_ms() > 1_735_689_600_000);
    }
}
