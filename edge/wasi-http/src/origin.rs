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
//! Non-goals: a cache (the host, or the CDN in front of it, caches; `stale_if_error_secs` and
//! the cache key are unused here), retries, and connection reuse (each request is a new
//! instance, and the host owns connections).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use usher_edge_core::Upstream;
use usher_edge_core::reason::Reason;
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

/// Why the origin gave no usable answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It did not answer in time.
    Timeout,
    /// It could not be reached, or broke the exchange.
    Unreachable,
}

impl Failure {
    /// The reason the viewer is told.
    pub(crate) fn reason(self) -> Reason {
        match self {
            Failure::Timeout => Reason::OriginTimeout,
            Failure::Unreachable => Reason::OriginError,
        }
    }
}

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
    let mut request = request(upstream.method.clone(), &upstream.url)?;
    *request.headers_mut() = convert::forwarded(viewer);
    client().send(request).await.map_err(classify)
}

/// Fetches a playlist: its status, and at most `cap` bytes of its body.
pub(crate) async fn fetch(
    upstream: &Upstream,
    cap: usize,
) -> Result<(StatusCode, Bytes), OriginError> {
    // Always GET: a viewer's HEAD still needs the body for the rewrite (its answer is sent
    // without one).
    let request = request(Method::GET, &upstream.url)?;
    let response = client().send(request).await.map_err(classify)?;
    let status = response.status();
    let body = convert::read_up_to(response.into_body().into_boxed_body(), cap)
        .await
        .map_err(classify)?;
    Ok((status, body))
}

fn request(method: Method, url: &str) -> Result<Request<Body>, OriginError> {
    Request::builder()
        .method(method)
        .uri(url)
        .body(Body::empty())
        // The configuration checks base URLs, so this means a path the URI grammar refuses.
        .map_err(|error| OriginError {
            failure: Failure::Unreachable,
            detail: format!("origin URL rejected: {error}"),
        })
}

fn client() -> Client {
    let mut client = Client::new();
    client.set_connect_timeout(CONNECT_TIMEOUT);
    client.set_first_byte_timeout(FIRST_BYTE_TIMEOUT);
    client.set_between_bytes_timeout(BETWEEN_BYTES_TIMEOUT);
    client
}

/// Sorts a `wstd` error by its `wasi:http` error code. Errors met while reading a body reach
/// `wstd` as stream errors and keep only the code's debug text, so that text is the fallback.
fn classify(error: wstd::http::Error) -> OriginError {
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

    #[test]
    fn failures_map_to_the_cores_reasons() {
        assert_eq!(Failure::Timeout.reason(), Reason::OriginTimeout);
        assert_eq!(Failure::Unreachable.reason(), Reason::OriginError);
    }
}
