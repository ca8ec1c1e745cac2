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
//! | `Fetch` | the playlist from the Cache API or the origin (`cache`), at most `playlist.max_bytes` + 1 bytes, then [`finish`] |
//! | `ReadBody` | the body read up to the limit (413 `bad_request` beyond), then [`beacon`] |
//! | `Asset` | the asset streamed from the `USHER_ASSETS` KV namespace with the core's headers; 404 `not_found` when absent |
//! | `Lease` | the record read from the `USHER_LEASES` KV namespace, then [`leased`], then its action |
//!
//! Every decision may carry a lease record to write ([`Decision::store`]): it is written with
//! `ctx.waitUntil`, so the response never waits for KV.

use std::rc::Rc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use usher_edge_core::access::AccessLine;
use usher_edge_core::decision::{LogFields, body_too_large, refuse};
use usher_edge_core::reason::{REASON_HEADER, Reason};
use usher_edge_core::{
    Action, AssetResponse, Decision, EdgeInput, Fetched, RewritePlan, Upstream, beacon, decide,
    finish, leased, proxied, route,
};
use worker::{Context, Date, Env, ResponseBody};

use crate::cache::{self, Answer, Lifetime, Source};
use crate::config;
use crate::convert;
use crate::log;
use crate::origin;
use crate::store;

/// What was sent, and what the access line says about it.
struct Outcome {
    response: worker::Response,
    status: StatusCode,
    reason: Reason,
    log: LogFields,
    cache: Option<&'static str>,
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
            cache: None,
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
pub(crate) async fn handle(
    mut request: worker::Request,
    env: Env,
    ctx: Context,
) -> worker::Response {
    let at_ms = Date::now().as_millis();
    let method = request.inner().method();
    let head_only = method == Method::HEAD.as_str();
    let head = match convert::head(
        &method,
        &request.inner().url(),
        convert::pairs(request.headers()),
    ) {
        Ok(head) => head,
        Err(unreadable) => {
            let outcome = Outcome::respond(
                refuse(Reason::BadRequest, LogFields::default()),
                head_only,
                Some(unreadable.to_string()),
            );
            return written(outcome, at_ms, None);
        }
    };
    let (outcome, health_error) = match config::current(&env) {
        Ok(edge_config) => {
            let (health, health_error) = config::health(&env, edge_config, at_ms).await;
            let ip = request.headers().get(convert::CLIENT_IP).ok().flatten();
            let country = request.cf().and_then(|cf| cf.country());
            let asn = request.cf().and_then(|cf| cf.asn());
            let outcome = match entropy() {
                Ok(entropy) => {
                    let input = EdgeInput {
                        now_ms: at_ms,
                        client: convert::client(ip.as_deref(), country.as_deref(), asn),
                        config: edge_config,
                        health: health.as_ref().map(Rc::as_ref),
                        entropy,
                    };
                    execute(&head, &mut request, &input, &env, &ctx).await
                }
                // `crypto.getRandomValues` does not fail on Workers; if it ever did, minting
                // session ids from anything weaker would be worse than answering 503.
                Err(error) => unavailable(&head, head_only, format!("no randomness: {error}")),
            };
            (outcome, health_error)
        }
        Err(error) => (unavailable(&head, head_only, error.to_string()), None),
    };
    written(outcome, at_ms, health_error.as_deref())
}

/// 503 `config_error`: the edge cannot decide. The route is still worth logging: it says what
/// the outage hit.
fn unavailable(head: &Request<()>, head_only: bool, error: String) -> Outcome {
    let log = LogFields {
        route: route::route(head.uri().path()).map_or("", |r| r.name()),
        ..LogFields::default()
    };
    Outcome::respond(refuse(Reason::ConfigError, log), head_only, Some(error))
}

/// Writes the access line and hands the response over.
fn written(outcome: Outcome, at_ms: u64, health_error: Option<&str>) -> worker::Response {
    log::access(&AccessLine {
        cache: outcome.cache,
        error: outcome.error.as_deref(),
        health_error,
        ..AccessLine::new(at_ms, &outcome.log, outcome.reason, outcome.status.as_u16())
    });
    outcome.response
}

/// Decides, checks the lease when the core asks, starts writing the lease record the core
/// returned, then carries out the action.
async fn execute(
    head: &Request<()>,
    request: &mut worker::Request,
    input: &EdgeInput<'_>,
    env: &Env,
    ctx: &Context,
) -> Outcome {
    let mut decision = decide(head, input);
    log::events(&decision.events);
    let mut notes = Vec::new();
    if let Action::Lease(check) = decision.action {
        let (stored, why) = store::read_lease(env, check.key()).await;
        notes.extend(why);
        decision = leased(check, stored, input);
        log::events(&decision.events);
    }
    if let Some(write) = decision.store.take() {
        let env = env.clone();
        let at_ms = input.now_ms;
        ctx.wait_until(async move {
            if let Err(error) = store::write_lease(&env, &write).await {
                log::write_store_error(at_ms, &error);
            }
        });
    }
    let mut outcome = carry_out(head, request, input, env, ctx, decision).await;
    notes.extend(outcome.error.take());
    outcome.error = (!notes.is_empty()).then(|| notes.join("; "));
    outcome
}

/// Carries out the action of a decision.
async fn carry_out(
    head: &Request<()>,
    request: &mut worker::Request,
    input: &EdgeInput<'_>,
    env: &Env,
    ctx: &Context,
    decision: Decision,
) -> Outcome {
    let head_only = head.method() == Method::HEAD;
    let Decision {
        action,
        reason,
        log,
        ..
    } = decision;
    match action {
        Action::Respond(response) => Outcome::sent(response, reason, log, head_only, None),
        Action::Proxy(upstream) => proxy(head, &upstream, log, head_only).await,
        Action::Fetch(upstream, plan) => {
            let (fetched, source, error) = playlist(ctx, &upstream, &plan).await;
            let finished = finish(&plan, fetched, input);
            let finished = Decision {
                log: log.merged(finished.log),
                ..finished
            };
            Outcome {
                cache: Some(source.as_str()),
                ..Outcome::respond(finished, head_only, error)
            }
        }
        Action::ReadBody(limit) => {
            let declared = head
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return too_large(log);
            }
            let body = match request.stream() {
                Ok(stream) => origin::read_up_to(stream, limit.saturating_add(1)).await,
                // No body at all: an empty beacon, which the core judges.
                Err(_) => Ok(Bytes::new()),
            };
            match body {
                Ok(bytes) if bytes.len() > limit => too_large(log),
                Ok(bytes) => {
                    let answered = beacon(head, &bytes, input);
                    let answered = Decision {
                        log: log.merged(answered.log),
                        ..answered
                    };
                    Outcome::respond(answered, head_only, None)
                }
                Err(error) => Outcome::respond(
                    refuse(Reason::BadRequest, log),
                    head_only,
                    Some(format!("reading the request body: {error}")),
                ),
            }
        }
        Action::Asset(asset) => served_asset(env, &asset, reason, log, head_only).await,
        // `leased` never asks for a second check; refuse rather than loop if it ever did.
        Action::Lease(_) => Outcome::respond(
            refuse(Reason::ConfigError, log),
            head_only,
            Some("a lease check after a lease check".to_owned()),
        ),
    }
}

/// Streams a resource from the origin to the viewer, with the core's headers.
async fn proxy(
    head: &Request<()>,
    upstream: &Upstream,
    log: LogFields,
    head_only: bool,
) -> Outcome {
    let response = match origin::proxy(upstream, head.headers()).await {
        Ok(response) => response,
        Err(error) => {
            return Outcome::respond(
                refuse(error.failure.reason(), log),
                head_only,
                Some(error.detail),
            );
        }
    };
    let Ok(status) = StatusCode::from_u16(response.status_code()) else {
        let error = format!("origin answered status {}", response.status_code());
        return Outcome::respond(refuse(Reason::OriginError, log), head_only, Some(error));
    };
    let reason = proxied(status);
    let mut headers =
        convert::proxied(&convert::map(response.headers()), upstream.response_headers);
    headers.insert(REASON_HEADER, HeaderValue::from_static(reason.code()));
    let builder = convert::builder(status.as_u16(), &headers);
    let response = match response.into_parts().1 {
        ResponseBody::Stream(stream) if !head_only => builder.stream(stream),
        _ => builder.empty(),
    };
    let error = (!status.is_success() && status != StatusCode::NOT_MODIFIED)
        .then(|| format!("origin answered {status}"));
    Outcome {
        response,
        status,
        reason,
        log,
        cache: None,
        error,
    }
}

/// The playlist for `finish`: a fresh copy from the Cache API, else the origin's answer (stored
/// in the background when its headers allow), else a stale copy when the origin failed.
async fn playlist(
    ctx: &Context,
    upstream: &Upstream,
    plan: &RewritePlan,
) -> (Fetched, Source, Option<String>) {
    // One byte over the limit is enough for the core to refuse the playlist as too large; the
    // rest is never read.
    let cap = plan.max_bytes().saturating_add(1);
    let copy = cache::lookup(&upstream.cache_key, cap).await;
    if let Some(fetched) = cache::before_origin(copy.as_ref(), Date::now().as_millis()) {
        return (fetched, Source::Hit, None);
    }
    let (answer, headers, error) = origin::playlist(&upstream.url, cap).await;
    let now_ms = Date::now().as_millis();
    if let Answer::Response(status, body) = &answer
        && let Some(lifetime) = Lifetime::of(
            *status,
            body.len(),
            plan.max_bytes(),
            &headers,
            upstream.stale_if_error_secs,
            now_ms,
        )
    {
        let (key, body) = (upstream.cache_key.clone(), body.clone());
        ctx.wait_until(async move {
            if let Err(error) = cache::store(key, body, headers, lifetime, now_ms).await {
                log::write_store_error(now_ms, &error);
            }
        });
    }
    let (fetched, source) = cache::after_origin(copy, answer, now_ms);
    let error = match (source, error) {
        (Source::Stale, Some(error)) => Some(format!("{error}; a stale copy stood in")),
        (_, error) => error,
    };
    (fetched, source, error)
}

/// Streams an asset from KV with the core's headers; 404 `not_found` when KV lacks it, 502
/// `origin_error` when KV fails.
async fn served_asset(
    env: &Env,
    asset: &AssetResponse,
    reason: Reason,
    log: LogFields,
    head_only: bool,
) -> Outcome {
    let stream = match store::asset(env, &asset.name).await {
        Ok(Some(stream)) => stream,
        Ok(None) => return Outcome::respond(refuse(Reason::NotFound, log), head_only, None),
        Err(error) => {
            return Outcome::respond(refuse(Reason::OriginError, log), head_only, Some(error));
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(asset.cache_control));
    headers.insert(REASON_HEADER, HeaderValue::from_static(reason.code()));
    let builder = convert::builder(StatusCode::OK.as_u16(), &headers);
    let response = if head_only {
        // Nobody reads the value: let the runtime release it.
        let _ = stream.cancel();
        builder.empty()
    } else {
        builder.stream(stream)
    };
    Outcome {
        response,
        status: StatusCode::OK,
        reason,
        log,
        cache: None,
        error: None,
    }
}

/// A body over the limit: the core's `bad_request` refusal, with 413 (RFC 9110 §15.5.14).
fn too_large(log: LogFields) -> Outcome {
    let response = body_too_large();
    let error = Some("request body over the limit".to_owned());
    Outcome::sent(response, Reason::BadRequest, log, false, error)
}

/// Sixteen bytes from `crypto.getRandomValues`, the runtime's cryptographically secure source.
fn entropy() -> Result<[u8; 16], getrandom::Error> {
    let mut bytes = [0; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}
