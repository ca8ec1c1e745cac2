//! The fault injector in front of each local CDN: an HTTP/1.1 proxy that passes requests on to
//! the CDN and, when told to, makes the CDN slow, flaky, narrow or gone, while the event runs.
//!
//! The faults are the ones a multi-CDN event meets: added latency before the answer starts
//! (optionally ramped in over a period, for a CDN that degrades gradually), a share of requests
//! answered 503, a bandwidth cap shared by everything the CDN serves (a congested link, not a
//! per-viewer limit), and a full outage, where every connection is dropped without an answer,
//! as a dead point of presence looks to a player. Faults are plain data ([`Faults`]), changed
//! by [`Change`]s from the control API (`usher dev fault`), and read on every request, so a
//! change applies to the next request, including ones on open connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::now_ms;

/// The header naming an injected failure, so nobody mistakes it for the CDN's own.
const REASON: HeaderName = HeaderName::from_static("x-usher-reason");

/// A latency that moves linearly from one value to another over a period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ramp {
    /// Latency at `start_ms`, milliseconds.
    pub(crate) from_ms: u64,
    /// Latency from `start_ms + over_ms` on, milliseconds.
    pub(crate) to_ms: u64,
    /// When the ramp began, Unix milliseconds.
    pub(crate) start_ms: u64,
    /// How long it takes, milliseconds (0: at once).
    pub(crate) over_ms: u64,
}

impl Ramp {
    /// The latency at `now_ms`.
    pub(crate) fn at(&self, now_ms: u64) -> u64 {
        let elapsed = now_ms.saturating_sub(self.start_ms);
        if self.over_ms == 0 || elapsed >= self.over_ms {
            return self.to_ms;
        }
        let (from, to) = (u128::from(self.from_ms), u128::from(self.to_ms));
        let (elapsed, over) = (u128::from(elapsed), u128::from(self.over_ms));
        let value = if to >= from {
            from + (to - from) * elapsed / over
        } else {
            from - (from - to) * elapsed / over
        };
        u64::try_from(value).unwrap_or(u64::MAX)
    }
}

/// The faults one CDN has now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Faults {
    /// Every connection dropped without an answer.
    pub(crate) outage: bool,
    /// Added before each answer starts.
    pub(crate) latency: Option<Ramp>,
    /// Requests answered 503, per thousand.
    pub(crate) error_permille: u16,
    /// The CDN's whole output, bytes per second.
    pub(crate) bandwidth_bytes_per_sec: Option<u64>,
}

impl Faults {
    /// Applies a change made at `now_ms`. A latency change ramps from the latency in force at
    /// `now_ms`, so ramps can be chained.
    pub(crate) fn apply(&mut self, change: Change, now_ms: u64) {
        match change {
            Change::Clear => *self = Faults::default(),
            Change::Outage => self.outage = true,
            Change::Restore => self.outage = false,
            Change::Latency { ms, ramp_ms } => {
                let from_ms = self.latency_ms(now_ms);
                self.latency = (ms > 0 || ramp_ms > 0).then_some(Ramp {
                    from_ms,
                    to_ms: ms,
                    start_ms: now_ms,
                    over_ms: ramp_ms,
                });
            }
            Change::Errors { permille } => self.error_permille = permille.min(1000),
            Change::Bandwidth { kbit_per_sec } => {
                self.bandwidth_bytes_per_sec =
                    (kbit_per_sec > 0).then(|| kbit_per_sec.saturating_mul(1000) / 8);
            }
        }
    }

    /// The added latency at `now_ms`, milliseconds.
    pub(crate) fn latency_ms(&self, now_ms: u64) -> u64 {
        self.latency.map_or(0, |ramp| ramp.at(now_ms))
    }

    /// Whether the `n`th request (counting from 0) is answered 503: exactly `error_permille`
    /// of every thousand consecutive requests, spread evenly, so a test sees the rate it set
    /// rather than a random draw's.
    pub(crate) fn fails(&self, n: u64) -> bool {
        let permille = u64::from(self.error_permille);
        permille > 0 && (n.wrapping_mul(permille) % 1000) < permille
    }

    /// One line for people: what this CDN suffers from now.
    pub(crate) fn describe(&self, now_ms: u64) -> String {
        if self.outage {
            return "outage".to_owned();
        }
        let mut parts = Vec::new();
        if let Some(ramp) = self.latency {
            let now = ramp.at(now_ms);
            if now == ramp.to_ms {
                parts.push(format!("latency {now} ms"));
            } else {
                parts.push(format!("latency {now} ms, ramping to {} ms", ramp.to_ms));
            }
        }
        if self.error_permille > 0 {
            parts.push(format!(
                "{:.1} % errors",
                f64::from(self.error_permille) / 10.0
            ));
        }
        if let Some(rate) = self.bandwidth_bytes_per_sec {
            parts.push(format!(
                "bandwidth {} kbit/s",
                rate.saturating_mul(8) / 1000
            ));
        }
        if parts.is_empty() {
            "healthy".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// A change to one CDN's faults, as `usher dev fault` sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Change {
    /// Remove every fault.
    Clear,
    /// Drop every connection.
    Outage,
    /// End an outage, keeping the other faults.
    Restore,
    /// Add latency, reached over `ramp_ms`.
    Latency {
        /// The latency to reach, milliseconds.
        ms: u64,
        /// How long to take to reach it, milliseconds.
        #[serde(default)]
        ramp_ms: u64,
    },
    /// Answer this share of requests 503.
    Errors {
        /// Per thousand requests.
        permille: u16,
    },
    /// Cap the CDN's output (0 removes the cap).
    Bandwidth {
        /// Kilobits per second.
        kbit_per_sec: u64,
    },
}

/// One CDN's injector: where it forwards to, its faults, and the shared state the faults need.
pub(crate) struct Injector {
    /// The CDN's id.
    pub(crate) id: &'static str,
    upstream: Mutex<Option<SocketAddr>>,
    faults: Mutex<Faults>,
    requests: AtomicU64,
    /// When the capped link is next free to send.
    link_free_at: Mutex<Instant>,
}

impl Injector {
    pub(crate) fn new(id: &'static str) -> Self {
        Injector {
            id,
            upstream: Mutex::new(None),
            faults: Mutex::new(Faults::default()),
            requests: AtomicU64::new(0),
            link_free_at: Mutex::new(Instant::now()),
        }
    }

    /// Where requests go from now on (the CDN, once it is up).
    pub(crate) fn set_upstream(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap_or_else(PoisonError::into_inner) = Some(upstream);
    }

    pub(crate) fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn change(&self, change: Change) -> Faults {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        faults.apply(change, now_ms());
        *faults
    }

    /// How long to hold `bytes` back so the CDN's output stays under `rate` bytes per second,
    /// counting everything it sends: one link, shared.
    fn reserve(&self, bytes: usize, rate: u64) -> Instant {
        let mut free_at = self
            .link_free_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let start = (*free_at).max(now);
        let micros = u64::try_from(bytes)
            .unwrap_or(u64::MAX)
            .saturating_mul(1_000_000)
            / rate.max(1);
        *free_at = start + Duration::from_micros(micros);
        *free_at
    }
}

/// Serves `listener` as `injector`'s CDN until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, injector: Arc<Injector>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if injector.faults().outage {
            // A dead point of presence: the connection closes with no answer.
            drop(stream);
            continue;
        }
        let injector = Arc::clone(&injector);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let injector = Arc::clone(&injector);
                async move { handle(&injector, request).await }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// An error that makes hyper drop the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault injector")
    }
}

impl std::error::Error for Dropped {}

type ProxyBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn handle(
    injector: &Arc<Injector>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Dropped> {
    let faults = injector.faults();
    if faults.outage {
        return Err(Dropped);
    }
    let n = injector.requests.fetch_add(1, Ordering::Relaxed);
    if faults.fails(n) {
        return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "injected_error"));
    }
    let latency = faults.latency_ms(now_ms());
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let upstream = *injector
        .upstream
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let Some(upstream) = upstream else {
        return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "cdn_starting"));
    };
    let Ok(response) = forward(upstream, request).await else {
        return Ok(plain(StatusCode::BAD_GATEWAY, "cdn_unreachable"));
    };
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        relay(Arc::clone(injector), body),
    ))
}

/// Sends `request` to the CDN on a connection of its own.
async fn forward(
    upstream: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Incoming>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?)
}

/// The CDN's body, passed on chunk by chunk, each held back as long as the bandwidth cap in
/// force when it arrives needs. A body the CDN breaks off is broken off here too: the channel
/// closes early and the receiver gets less than the length it was promised.
fn relay(injector: Arc<Injector>, mut body: Incoming) -> ProxyBody {
    let (sender, receiver) = mpsc::channel::<Frame<Bytes>>(4);
    let hint = body.size_hint();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = body.frame().await {
            let cap = injector.faults().bandwidth_bytes_per_sec;
            if let (Some(rate), Some(data)) = (cap, frame.data_ref()) {
                let until = injector.reserve(data.len(), rate);
                tokio::time::sleep_until(until).await;
            }
            if sender.send(frame).await.is_err() {
                break;
            }
        }
    });
    ChannelBody { receiver, hint }.boxed()
}

/// A response body fed by [`relay`]'s task.
struct ChannelBody {
    receiver: mpsc::Receiver<Frame<Bytes>>,
    hint: SizeHint,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.receiver.poll_recv(cx).map(|frame| frame.map(Ok))
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

/// A short answer of the injector's own, with its reason.
fn plain(status: StatusCode, reason: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(
        http_body_util::Full::new(Bytes::from(format!("{reason}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(REASON, HeaderValue::from_static(reason));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_moves_linearly_and_then_holds() {
        let ramp = Ramp {
            from_ms: 100,
            to_ms: 1100,
            start_ms: 10_000,
            over_ms: 10_000,
        };
        assert_eq!(ramp.at(5_000), 100);
        assert_eq!(ramp.at(10_000), 100);
        assert_eq!(ramp.at(15_000), 600);
        assert_eq!(ramp.at(20_000), 1100);
        assert_eq!(ramp.at(99_000), 1100);
        let down = Ramp {
            from_ms: 1000,
            to_ms: 0,
            start_ms: 0,
            over_ms: 4,
        };
        assert_eq!(down.at(1), 750);
    }

    #[test]
    fn a_latency_change_ramps_from_the_latency_in_force() {
        let mut faults = Faults::default();
        faults.apply(
            Change::Latency {
                ms: 1000,
                ramp_ms: 10_000,
            },
            0,
        );
        assert_eq!(faults.latency_ms(5_000), 500);
        faults.apply(
            Change::Latency {
                ms: 0,
                ramp_ms: 1_000,
            },
            5_000,
        );
        assert_eq!(faults.latency_ms(5_000), 500);
        assert_eq!(faults.latency_ms(5_500), 250);
        assert_eq!(faults.latency_ms(6_000), 0);
        faults.apply(Change::Latency { ms: 0, ramp_ms: 0 }, 7_000);
        assert_eq!(faults.latency, None);
    }

    #[test]
    fn the_error_share_is_exact_over_every_thousand_requests() {
        for permille in [0_u16, 1, 10, 250, 500, 999, 1000] {
            let faults = Faults {
                error_permille: permille,
                ..Faults::default()
            };
            let failed = (0..1000).filter(|&n| faults.fails(n)).count();
            assert_eq!(failed, usize::from(permille), "{permille} per mille");
            let later = (7000..8000).filter(|&n| faults.fails(n)).count();
            assert_eq!(later, usize::from(permille));
        }
    }

    #[test]
    fn outage_and_restore_keep_the_other_faults_and_clear_removes_all() {
        let mut faults = Faults::default();
        faults.apply(Change::Errors { permille: 200 }, 0);
        faults.apply(Change::Bandwidth { kbit_per_sec: 800 }, 0);
        faults.apply(Change::Outage, 0);
        assert_eq!(faults.describe(0), "outage");
        faults.apply(Change::Restore, 0);
        assert!(!faults.outage);
        assert_eq!(faults.bandwidth_bytes_per_sec, Some(100_000));
        assert_eq!(faults.describe(0), "20.0 % errors, bandwidth 800 kbit/s");
        faults.apply(Change::Clear, 0);
        assert_eq!(faults, Faults::default());
        assert_eq!(faults.describe(0), "healthy");
    }

    #[test]
    fn changes_read_as_the_control_api_takes_them() {
        let change: Change =
            serde_json::from_str(r#"{"kind":"latency","ms":800,"ramp_ms":30000}"#).unwrap();
        assert_eq!(
            change,
            Change::Latency {
                ms: 800,
                ramp_ms: 30_000
            }
        );
        assert!(serde_json::from_str::<Change>(r#"{"kind":"latency","ms":800,"oops":1}"#).is_err());
        assert!(serde_json::from_str::<Change>(r#"{"kind":"fire"}"#).is_err());
    }

    #[tokio::test]
    async fn a_capped_link_is_shared_by_everything_the_cdn_sends() {
        let injector = Injector::new("cdn-x");
        let start = Instant::now();
        // 100 kB/s: two 50 kB chunks take a second between them, whoever sends them.
        let first = injector.reserve(50_000, 100_000);
        let second = injector.reserve(50_000, 100_000);
        assert!(first >= start + Duration::from_millis(500));
        assert_eq!(second - first, Duration::from_millis(500));
    }
}
