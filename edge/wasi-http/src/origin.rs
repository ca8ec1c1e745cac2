//! Requests to the origin, through the host's `wasi:http/outgoing-handler`.
//!
//! Two kinds, as the core asks: a *proxied* resource (segment, part, key, init section), whose
//! body is streamed to the viewer and never held, and a *fetched* playlist, read into memory up
//! to a cap so the core can rewrite it.
//!
//! Key decision: a failure is sorted into the two kinds the core knows, "did not answer in
//! time" ([`Failure::Timeout`], 504) and "could not be reached" ([`Failure::Unreachable`],
//! 502), from the `wasi:http` error code; the code's text is kept for the log.
//!
//! The host caches (`usher edge serve` has an HTTP cache; a platform has its CDN's). Each
//! request tells it how long a stale copy may stand in when the origin fails, as
//! `Cache-Control: stale-if-error=N` (RFC 5861 §4) from the core's `stale_if_error_secs`, and a
//! fetched playlist that the host answered that way (marked `x-cache: STALE`) is reported to
//! the core as stale, which then says `stale_on_origin_error`.
//!
//! Non-goals: a cache of its own, retries, and connection reuse (each request is a new
//! instance, and the host owns connections).

use std::time::Duration;

use bytes::Bytes;
use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use usher_edge_core::{Upstream, forwarding};
use wstd::http::{Body, Client, ErrorCode, Request, Response};

use crate::convert;

/// How long to wait for a connection to the origin.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long to wait for the origin's response head. Longer than a plain request needs, because
/// an LL-HLS blocking playlist reload (rfc8216bis §6.2.5.2) is held by the origin until the
/// next part exists, up to about three part durations.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the origin may pause in the middle of a body.
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(10);

/// The response header by which a caching host says where an answer came from, and the value
/// that means "a stale copy, because the origin failed". Compared exactly: CDNs that also send
/// `x-cache` write other values (`Hit from cloudfront`, `HIT, MISS`).
pub(crate) const CACHE_STATUS: (&str, &str) = ("x-cache", "STALE");

/// How long each phase of an origin request may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) first_byte: Duration,
    pub(crate) between_bytes: Duration,
}

/// The timeouts of origin requests.
pub(crate) const ORIGIN: Timeouts = Timeouts {
    connect: CONNECT_TIMEOUT,
    first_byte: FIRST_BYTE_TIMEOUT,
    between_bytes: BETWEEN_BYTES_TIMEOUT,
};

/// Why the origin gave no usable answer; the core says what the viewer is told.
pub(crate) use usher_edge_core::OriginFailure as Failure;

/// A failed origin request: its kind, and what the host said, for the log.
#[derive(Debug)]
pub(crate) struct OriginError {
    /// The kind.
    pub(crate) failure: Failure,
    /// The host's error, as text. Never holds a token: upstream URLs carry no per-viewer
    /// parameters.
    pub(crate) detail: String,
}

/// Starts a proxied request: the response head, with the body still to stream.
pub(crate) async fn proxy(
    upstream: &Upstream,
    viewer: &HeaderMap,
) -> Result<Response<Body>, OriginError> {
    let mut request = request(upstream.method.clone(), &upstream.url, Body::empty())?;
    *request.headers_mut() = forwarding::request_headers(viewer);
    allow_stale(&mut request, upstream);
    send(request, ORIGIN).await
}

/// A fetched playlist: the origin's status, at most `cap` bytes of its body, and whether the
/// host's cache answered with a stale copy because the origin failed.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    pub(crate) stale: bool,
}

/// Fetches a playlist.
pub(crate) async fn fetch(upstream: &Upstream, cap: usize) -> Result<Fetched, OriginError> {
    // Always GET: a viewer's HEAD still needs the body for the rewrite (its answer is sent
    // without one).
    let mut request = request(Method::GET, &upstream.url, Body::empty())?;
    allow_stale(&mut request, upstream);
    let response = send(request, ORIGIN).await?;
    let status = response.status();
    let (name, value) = CACHE_STATUS;
    let stale = response
        .headers()
        .get(name)
        .is_some_and(|v| v.as_bytes() == value.as_bytes());
    let body = convert::read_up_to(response.into_body().into_boxed_body(), cap)
        .await
        .map_err(classify)?;
    Ok(Fetched {
        status,
        body,
        stale,
    })
}

/// Tells the host's cache how long a stale copy may stand in for a failed origin.
fn allow_stale(request: &mut Request<Body>, upstream: &Upstream) {
    let directive = format!("stale-if-error={}", upstream.stale_if_error_secs);
    if let Ok(value) = HeaderValue::from_str(&directive) {
        request.headers_mut().insert(CACHE_CONTROL, value);
    }
}

/// A request for `url`.
pub(crate) fn request(method: Method, url: &str, body: Body) -> Result<Request<Body>, OriginError> {
    Request::builder()
        .method(method)
        .uri(url)
        .body(body)
        // The configuration checks base URLs, so this means a path the URI grammar refuses.
        .map_err(|error| OriginError {
            failure: Failure::Unreachable,
            detail: format!("URL rejected: {error}"),
        })
}

/// Sends a request with these timeouts; the response head, its body still to read.
pub(crate) async fn send(
    request: Request<Body>,
    timeouts: Timeouts,
) -> Result<Response<Body>, OriginError> {
    let mut client = Client::new();
    client.set_connect_timeout(timeouts.connect);
    client.set_first_byte_timeout(timeouts.first_byte);
    client.set_between_bytes_timeout(timeouts.between_bytes);
    client.send(request).await.map_err(classify)
}

/// Sorts a `wstd` error by its `wasi:http` error code. Errors met while reading a body reach
/// `wstd` as stream errors and keep only the code's debug text, so that text is the fallback.
pub(crate) fn classify(error: wstd::http::Error) -> OriginError {
    let timeout = match error.chain().find_map(|e| e.downcast_ref::<ErrorCode>()) {
        Some(code) => matches!(
            code,
            ErrorCode::DnsTimeout
                | ErrorCode::ConnectionTimeout
                | ErrorCode::ConnectionReadTimeout
                | ErrorCode::ConnectionWriteTimeout
                | ErrorCode::HttpResponseTimeout
        ),
        None => format!("{error:#}").contains("Timeout"),
    };
    OriginError {
        failure: if timeout {
            Failure::Timeout
        } else {
            Failure::Unreachable
        },
        detail: format!("{error:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_told_from_unreachable_origins() {
        let kind = |error: wstd::http::Error| classify(error).failure;
        assert_eq!(kind(ErrorCode::ConnectionTimeout.into()), Failure::Timeout);
        assert_eq!(
            kind(ErrorCode::ConnectionReadTimeout.into()),
            Failure::Timeout
        );
        assert_eq!(
            kind(ErrorCode::HttpResponseTimeout.into()),
            Failure::Timeout
        );
        assert_eq!(
            kind(ErrorCode::ConnectionRefused.into()),
            Failure::Unreachable
        );
        assert_eq!(
            kind(ErrorCode::HttpProtocolError.into()),
            Failure::Unreachable
        );
        let read = wstd::http::Error::msg("ConnectionReadTimeout").context("reading body");
        assert_eq!(kind(read), Failure::Timeout);
        let reset = wstd::http::Error::msg("connection reset").context("reading body");
        assert_eq!(kind(reset), Failure::Unreachable);
    }
}
