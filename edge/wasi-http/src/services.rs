//! The two stores the core asks for, reached over HTTP: the static asset store and the lease
//! store.
//!
//! The `wasi:http/proxy` world has no key-value or asset interface, so the host offers both as
//! tiny HTTP services at base URLs it passes in the environment (`USHER_ASSETS_URL`,
//! `USHER_STORE_URL`; see [`crate::config`]). `usher edge serve` answers them in-process; under
//! `wasmtime serve` or Spin, any service that speaks the same API will do:
//!
//! | request | answer |
//! |---|---|
//! | `GET {assets}{name}` (or `HEAD`) | 200 with the asset's bytes; 404 when there is none |
//! | `GET {store}{key}` | 200 with the value; 404 when absent or expired |
//! | `PUT {store}{key}`, `x-usher-ttl: SECONDS`, the value as the body | any 2xx once stored |
//!
//! Names and keys are appended to the base URL percent-encoded (RFC 3986 §2.1), `/` kept.
//!
//! Key decision: the lease store *fails open*, as the core asks. A store that is not
//! configured, does not answer within a second, or answers anything but 200 or 404 reads as
//! [`Stored::Unavailable`]: the viewer plays, and the access line says why. A failed write is
//! logged and never fails the request.

use std::time::Duration;

use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Response, StatusCode};
use usher_edge_core::reason::{REASON_HEADER, Reason};
use usher_edge_core::{AssetResponse, StoreWrite, Stored};
use wstd::http::Body;

use crate::convert;
use crate::origin::{self, Failure, OriginError, Timeouts};

/// The request header carrying a stored value's time to live, in seconds.
pub(crate) const TTL_HEADER: &str = "x-usher-ttl";

/// The largest lease record read. Records hold at most a few dozen entries of about 100 bytes;
/// anything larger is not a record this edge wrote.
const MAX_RECORD_BYTES: usize = 64 << 10;

/// Lease store requests: short, because a viewer waits on them and the core fails open.
const STORE: Timeouts = Timeouts {
    connect: Duration::from_secs(1),
    first_byte: Duration::from_secs(1),
    between_bytes: Duration::from_secs(1),
};

/// Reads `key` from the lease store at `base`: what was found, and, when the store could not
/// answer, why (for the log).
pub(crate) async fn read_lease(base: Option<&str>, key: &str) -> (Stored, Option<String>) {
    let Some(base) = base else {
        return (
            Stored::Unavailable,
            Some("no lease store configured".into()),
        );
    };
    let read = async {
        let request = origin::request(Method::GET, &url(base, key), Body::empty())?;
        let response = origin::send(request, STORE).await?;
        match response.status() {
            StatusCode::OK => {
                let body = response.into_body().into_boxed_body();
                let bytes = convert::read_up_to(body, MAX_RECORD_BYTES + 1)
                    .await
                    .map_err(origin::classify)?;
                if bytes.len() > MAX_RECORD_BYTES {
                    return Err(unusable("lease record over the size limit"));
                }
                Ok(Stored::Found(bytes))
            }
            StatusCode::NOT_FOUND => Ok(Stored::Missing),
            status => Err(unusable(&format!("lease store answered {status}"))),
        }
    };
    match read.await {
        Ok(stored) => (stored, None),
        Err(error) => (
            Stored::Unavailable,
            Some(format!("lease store: {}", error.detail)),
        ),
    }
}

/// Writes a lease record to the store at `base`; the error, for the log, if it failed.
pub(crate) async fn write_lease(base: Option<&str>, write: &StoreWrite) -> Result<(), String> {
    let base = base.ok_or("no lease store configured")?;
    let written = async {
        let body = Body::from(write.value.clone());
        let mut request = origin::request(Method::PUT, &url(base, &write.key), body)?;
        let headers = request.headers_mut();
        headers.insert(TTL_HEADER, HeaderValue::from(write.ttl_secs));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(write.value.len()));
        let response = origin::send(request, STORE).await?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(unusable(&format!("lease store answered {status}")))
        }
    };
    written
        .await
        .map_err(|error| format!("lease store write: {}", error.detail))
}

/// An asset from the store at `base`, with the headers the core decided: `Ok(None)` when the
/// store has no such asset (or there is no store).
pub(crate) async fn asset(
    base: Option<&str>,
    asset: &AssetResponse,
    head_only: bool,
) -> Result<Option<Response<Body>>, OriginError> {
    let Some(base) = base else {
        return Ok(None);
    };
    let method = if head_only { Method::HEAD } else { Method::GET };
    let request = origin::request(method, &url(base, &asset.name), Body::empty())?;
    let found = origin::send(request, origin::ORIGIN).await?;
    match found.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Ok(None),
        status => return Err(unusable(&format!("asset store answered {status}"))),
    }
    let length = found.headers().get(CONTENT_LENGTH).cloned();
    let mut response = Response::new(if head_only {
        Body::empty()
    } else {
        found.into_body()
    });
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(asset.cache_control));
    headers.insert(REASON_HEADER, HeaderValue::from_static(Reason::Ok.code()));
    if let Some(length) = length {
        headers.insert(CONTENT_LENGTH, length);
    }
    Ok(Some(response))
}

/// An answer of a store that cannot be used.
fn unusable(detail: &str) -> OriginError {
    OriginError {
        failure: Failure::Unreachable,
        detail: detail.to_owned(),
    }
}

/// `base` followed by `path`, each byte outside RFC 3986's unreserved set (and `/`)
/// percent-encoded.
fn url(base: &str, path: &str) -> String {
    let mut url = String::with_capacity(base.len() + path.len());
    url.push_str(base);
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    /// Runs a future that finishes without waiting on I/O.
    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the future waited"),
        }
    }

    #[test]
    fn keys_and_names_are_percent_encoded_with_slashes_kept() {
        assert_eq!(
            url("http://store.usher.internal/", "leases/final-2026/0a1b"),
            "http://store.usher.internal/leases/final-2026/0a1b"
        );
        assert_eq!(
            url("http://kv/ns/", "a b/ü?#%"),
            "http://kv/ns/a%20b/%C3%BC%3F%23%25"
        );
        assert_eq!(
            url("http://assets.usher.internal/", "hls.js/1.7.4/hls.min.js"),
            "http://assets.usher.internal/hls.js/1.7.4/hls.min.js"
        );
    }

    #[test]
    fn without_a_store_a_lease_read_is_unavailable_and_a_write_fails() {
        let (stored, why) = ready(read_lease(None, "leases/e/k"));
        assert_eq!(stored, Stored::Unavailable);
        assert_eq!(why.as_deref(), Some("no lease store configured"));
        let write = StoreWrite {
            key: "leases/e/k".into(),
            value: bytes::Bytes::from_static(b"{}"),
            ttl_secs: 30,
        };
        let written = ready(write_lease(None, &write));
        assert_eq!(written.unwrap_err(), "no lease store configured");
    }
}
