//! Requests to the origin, through the Fastly backend named after the origin's id.
//!
//! Two kinds, as the core asks: a *proxied* resource (segment, part, key, init section), sent
//! through Fastly's HTTP cache under the core's cache key and streamed to the viewer, and a
//! *fetched* playlist, sent past that cache (`playlist` caches it itself) and read into memory
//! up to a cap so the core can rewrite it.
//!
//! Key decision: a failure is sorted into the two kinds the core knows, "did not answer in
//! time" ([`Failure::Timeout`], 504) and "could not be reached" ([`Failure::Unreachable`],
//! 502), from the SDK's send error cause; a backend that does not exist is a deployment error
//! ([`Failure::Unconfigured`], 503 `config_error`): the service must name a backend after every
//! origin id. Timeouts are the backend's (`connect_timeout`, `first_byte_timeout`,
//! `between_bytes_timeout` in the service configuration).
//!
//! Viceroy 0.22 reports every send failure without its cause, so under Viceroy a timeout shows
//! as [`Failure::Unreachable`]; Fastly reports the cause.

use bytes::Bytes;
use fastly::Backend;
use fastly::http::request::SendErrorCause;
use fastly::http::{Method, Url};
use http::{HeaderMap, StatusCode};
use usher_edge_core::Upstream;

use crate::convert;

/// Why the origin gave no usable answer; the core says what the viewer is told.
pub(crate) use usher_edge_core::OriginFailure as Failure;

/// A failed origin request: its kind, and what Fastly said, for the log.
#[derive(Debug)]
pub(crate) struct OriginError {
    /// The kind.
    pub(crate) failure: Failure,
    /// The platform's error, as text. Never holds a token: upstream URLs carry no per-viewer
    /// parameters.
    pub(crate) detail: String,
}

/// A fetched playlist: the origin's status and headers, and at most `cap` bytes of its body.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The origin's status.
    pub(crate) status: StatusCode,
    /// The origin's headers (for freshness).
    pub(crate) headers: HeaderMap,
    /// The body, up to the cap.
    pub(crate) body: Bytes,
}

/// Starts a proxied request: the response head, with the body still to stream. The viewer's
/// range and revalidation headers go along; Fastly's HTTP cache keys it by the core's cache
/// key, honours the origin's cache headers, and may serve a stale copy for
/// `stale_if_error_secs` when the origin fails.
pub(crate) fn proxy(
    upstream: &Upstream,
    viewer: &HeaderMap,
) -> Result<fastly::Response, OriginError> {
    let mut request = request(upstream.method.clone(), upstream)?;
    for (name, value) in convert::forwarded(viewer) {
        request.append_header(name, value);
    }
    request.set_cache_key(upstream.cache_key.as_bytes());
    request.set_stale_if_error(u32::try_from(upstream.stale_if_error_secs).unwrap_or(u32::MAX));
    request.send(backend(upstream)?).map_err(sent)
}

/// Fetches a playlist from the origin itself, past Fastly's HTTP cache: its status, headers and
/// at most `cap` bytes of its body.
pub(crate) fn fetch(upstream: &Upstream, cap: usize) -> Result<Fetched, OriginError> {
    // Always GET: a viewer's HEAD still needs the body for the rewrite.
    let mut request = request(Method::GET, upstream)?;
    request.set_pass(true);
    let mut response = request.send(backend(upstream)?).map_err(sent)?;
    let status = response.get_status();
    let mut headers = HeaderMap::new();
    for (name, value) in response.get_headers() {
        headers.append(name.clone(), value.clone());
    }
    let body = convert::read_up_to(response.take_body(), cap).map_err(|error| OriginError {
        // A body that stalls past the backend's between-bytes timeout ends in a timed-out read.
        failure: if error.kind() == std::io::ErrorKind::TimedOut {
            Failure::Timeout
        } else {
            Failure::Unreachable
        },
        detail: format!("reading the playlist body: {error}"),
    })?;
    Ok(Fetched {
        status,
        headers,
        body: Bytes::from(body),
    })
}

fn request(method: Method, upstream: &Upstream) -> Result<fastly::Request, OriginError> {
    // `Request::new` would panic on a URL it cannot parse; the configuration checks base URLs
    // and the core checks paths, so this is a path the URL grammar refuses.
    let url = Url::parse(&upstream.url).map_err(|error| OriginError {
        failure: Failure::Unreachable,
        detail: format!("origin URL rejected: {error}"),
    })?;
    Ok(fastly::Request::new(method, url))
}

/// The backend named after the upstream's origin. The SDK would panic on a name it cannot
/// use as a backend name; the configuration's id rules make that a deployment error.
fn backend(upstream: &Upstream) -> Result<Backend, OriginError> {
    Backend::from_name(&upstream.origin).map_err(|error| OriginError {
        failure: Failure::Unconfigured,
        detail: format!("backend {:?}: {error}", upstream.origin),
    })
}

/// Sorts a send error by its cause.
fn sent(error: fastly::http::request::SendError) -> OriginError {
    let cause = error.root_cause();
    let failure = match cause {
        SendErrorCause::DnsTimeout
        | SendErrorCause::ConnectionTimeout
        | SendErrorCause::HttpResponseTimeout => Failure::Timeout,
        SendErrorCause::DestinationNotFound => Failure::Unconfigured,
        _ => Failure::Unreachable,
    };
    OriginError {
        failure,
        detail: format!("backend {}: {cause}", error.backend_name()),
    }
}
