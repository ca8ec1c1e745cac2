//! Requests to the origin with the runtime's `fetch`: segments streamed through, playlists read
//! into memory up to a cap.
//!
//! Key decisions:
//! - A proxied body never enters wasm. The origin's response body is a JavaScript
//!   `ReadableStream`; the viewer's response is built around that same stream, so the runtime
//!   pipes the bytes itself and the Worker's CPU time does not grow with the segment.
//! - Timeouts are ours. Workers' `fetch` has no timeout of its own (it waits as long as the
//!   origin holds the connection), so each request carries an `AbortSignal` and a timer races
//!   it: for a proxied resource until the response head arrives ([`FIRST_BYTE_TIMEOUT`]: the
//!   body may then take as long as the viewer's connection needs), for a playlist until the
//!   capped body is read ([`PLAYLIST_TIMEOUT`]). When the timer wins the request is aborted and
//!   the core hears "timeout"; any other failure of `fetch` is "unreachable".
//! - Proxied requests ask Cloudflare's cache to keep what the origin allows
//!   (`cf.cacheEverything`): segment extensions (`.m4s`, `.ts`, `.m4a`) are not in its
//!   default list of cacheable extensions, and the upstream URL carries no per-viewer part, so
//!   one copy serves every viewer of a location. Playlists go through the adapter's own cache
//!   (`cache`), which can serve stale copies.

use std::time::Duration;

/// How long to wait for the response head of a proxied resource. Longer than a plain request
/// needs, because an LL-HLS blocking request (rfc8216bis §6.2.5.2) is held by the origin until
/// the part exists.
pub(crate) const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a playlist fetch may take, head and capped body together: a blocking playlist
/// reload is held up to about three part durations, and a playlist is a few kilobytes.
pub(crate) const PLAYLIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the origin gave no usable answer; the core says what the viewer is told.
pub(crate) use usher_edge_core::OriginFailure as Failure;

/// A failed origin request: its kind, and what the runtime said, for the log.
#[derive(Debug)]
pub(crate) struct OriginError {
    /// The kind.
    pub(crate) failure: Failure,
    /// The runtime's error, as text. Never holds a token: upstream URLs carry no per-viewer
    /// parameters.
    pub(crate) detail: String,
}

#[cfg(target_arch = "wasm32")]
mod fetch {
    //! The runtime calls.

    use std::future::{Future, poll_fn};
    use std::pin::pin;
    use std::task::Poll;
    use std::time::Duration;

    use bytes::{Bytes, BytesMut};
    use futures_util::StreamExt as _;
    use http::{HeaderMap, Method, StatusCode};
    use usher_edge_core::{Upstream, forwarding};
    use worker::{
        AbortController, ByteStream, CfProperties, Delay, Fetch, Request, RequestInit, Response,
    };

    use super::{FIRST_BYTE_TIMEOUT, Failure, OriginError, PLAYLIST_TIMEOUT};
    use crate::cache::Answer;
    use crate::convert;

    /// `future`'s output, or `None` if `limit` passed first (the future is then dropped).
    pub(crate) async fn within<F: Future>(future: F, limit: Duration) -> Option<F::Output> {
        let mut future = pin!(future);
        let mut timer = pin!(Delay::from(limit));
        poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }

    /// Starts a proxied request: the origin's response, its body still to stream.
    pub(crate) async fn proxy(
        upstream: &Upstream,
        viewer: &HeaderMap,
    ) -> Result<Response, OriginError> {
        let mut init = RequestInit::new();
        init.with_method(if upstream.method == Method::HEAD {
            worker::Method::Head
        } else {
            worker::Method::Get
        });
        let headers = worker::Headers::new();
        for (name, value) in &forwarding::request_headers(viewer) {
            if let Ok(value) = value.to_str() {
                let _ = headers.append(name.as_str(), value);
            }
        }
        init.with_headers(headers);
        let mut cf = CfProperties::new();
        cf.cache_everything = Some(true);
        init.with_cf_properties(cf);
        let request = Request::new_with_init(&upstream.url, &init).map_err(rejected)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        match within(
            Fetch::Request(request).send_with_signal(&signal),
            FIRST_BYTE_TIMEOUT,
        )
        .await
        {
            Some(Ok(response)) => Ok(response),
            Some(Err(error)) => Err(OriginError {
                failure: Failure::Unreachable,
                detail: format!("origin unreachable: {error}"),
            }),
            None => {
                controller.abort();
                Err(timed_out(FIRST_BYTE_TIMEOUT))
            }
        }
    }

    /// Fetches a playlist with GET (a viewer's HEAD still needs the body for the rewrite): its
    /// status and at most `cap` bytes of its body, with the origin's headers for the cache.
    pub(crate) async fn playlist(url: &str, cap: usize) -> (Answer, HeaderMap, Option<String>) {
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let request = Request::new(url, worker::Method::Get).map_err(rejected)?;
            let mut response = Fetch::Request(request)
                .send_with_signal(&signal)
                .await
                .map_err(|error| OriginError {
                    failure: Failure::Unreachable,
                    detail: format!("origin unreachable: {error}"),
                })?;
            let status = StatusCode::from_u16(response.status_code()).map_err(|_| OriginError {
                failure: Failure::Unreachable,
                detail: format!("origin answered status {}", response.status_code()),
            })?;
            let headers = convert::map(response.headers());
            let body = match response.stream() {
                Ok(stream) => read_up_to(stream, cap).await.map_err(|error| OriginError {
                    failure: Failure::Unreachable,
                    detail: format!("reading the origin's playlist: {error}"),
                })?,
                // No body at all (a 204, say): nothing to read.
                Err(_) => Bytes::new(),
            };
            Ok::<_, OriginError>((status, headers, body))
        };
        match within(exchange, PLAYLIST_TIMEOUT).await {
            Some(Ok((status, headers, body))) => {
                let error = (!status.is_success()).then(|| format!("origin answered {status}"));
                (Answer::Response(status, body), headers, error)
            }
            Some(Err(error)) => (answer(error.failure), HeaderMap::new(), Some(error.detail)),
            None => {
                controller.abort();
                let error = timed_out(PLAYLIST_TIMEOUT);
                (answer(error.failure), HeaderMap::new(), Some(error.detail))
            }
        }
    }

    fn answer(failure: Failure) -> Answer {
        match failure {
            Failure::Timeout => Answer::Timeout,
            Failure::Unreachable | Failure::Unconfigured => Answer::Unreachable,
        }
    }

    fn timed_out(limit: Duration) -> OriginError {
        OriginError {
            failure: Failure::Timeout,
            detail: format!("origin did not answer in {limit:?}"),
        }
    }

    /// A URL the runtime refuses to make a request of. The configuration checks base URLs, so
    /// this is a path the URL grammar refuses.
    fn rejected(error: worker::Error) -> OriginError {
        OriginError {
            failure: Failure::Unreachable,
            detail: format!("origin URL rejected: {error}"),
        }
    }

    /// Reads `stream` until it ends or `cap` bytes are in hand, whichever comes first; the rest
    /// is never read. A caller that must refuse bodies over a limit asks for one byte more than
    /// the limit and looks at the length.
    pub(crate) async fn read_up_to(mut stream: ByteStream, cap: usize) -> Result<Bytes, String> {
        let mut out = BytesMut::new();
        while out.len() < cap {
            let Some(chunk) = stream.next().await else {
                break;
            };
            let chunk = chunk.map_err(|error| error.to_string())?;
            let room = cap - out.len();
            out.extend_from_slice(chunk.get(..room).unwrap_or(&chunk));
        }
        Ok(out.freeze())
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) use fetch::{playlist, proxy, read_up_to, within};
