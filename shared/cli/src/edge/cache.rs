//! The HTTP cache between the edge component and its origins: what a CDN's cache gives the
//! edge on a platform, in memory.
//!
//! Every origin request the component makes passes through [`Cache::send`]. A GET whose answer
//! is stored and fresh is answered here (`x-cache: HIT`); anything else goes to the origin
//! (`MISS`), and a storable answer is kept for the next viewer. The key is the method and the
//! URL: the edge core already strips every per-viewer parameter from origin URLs, so all
//! viewers of a playlist or segment share one copy.
//!
//! What it does, and the RFCs it follows ([`super::freshness`] has the arithmetic):
//! - freshness from the origin's `Cache-Control` (`s-maxage`, `max-age`), `Expires`, `Date` and
//!   `Age` (RFC 9111 §4.2); `no-store`, `private` and `no-cache` answers are not stored; served
//!   copies carry `Age` (§5.1);
//! - *request coalescing*: concurrent misses for one key wait for a single origin fetch, and are
//!   then answered from what it stored. At kickoff a million viewers ask for the same playlist
//!   within a second; the origin sees one request per key per expiry;
//! - *`stale-if-error`* (RFC 5861 §4): when the origin fails (no connection, a timeout, a 500,
//!   502, 503 or 504) a stored copy that has been stale for no longer than the window the
//!   request allows (`Cache-Control: stale-if-error=N`, which the component sends) is served
//!   instead, marked `x-cache: STALE`; the component reports it as `stale_on_origin_error`;
//! - conditional requests (`If-None-Match`, `If-Modified-Since`) answered from stored copies;
//! - bounded memory: at most `capacity` bytes (bodies, headers and keys), least recently used
//!   copies evicted first; a body over `max_object` bytes is passed through, not stored.
//!
//! Bodies stream: the fetch that fills the cache runs in its own task and hands its frames to
//! the component as they arrive while it keeps a copy, and it goes on filling if the component
//! stops reading (a viewer that hung up mid-segment does not cost the next viewer a miss).
//! Requests that wait on it get the stored copy once it is complete.
//!
//! Not done: `Range` requests and HEAD go to the origin uncached (`x-cache: BYPASS`), stale
//! copies are refetched whole rather than revalidated, and nothing is persisted.

use crate::now_ms;
use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Body, Frame};
use hyper::header::{
    AGE, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, ETAG, HeaderMap, HeaderName, HeaderValue,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, RANGE, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE, VARY,
};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot, watch};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::freshness::{self, CacheControl, Freshness};

/// The response header saying where an answer came from: `HIT` (a fresh stored copy), `MISS`
/// (the origin), `STALE` (a stored copy standing in for a failed origin: the component's marker
/// for `stale_on_origin_error`) or `BYPASS` (not cacheable: the origin, uncached).
pub(crate) const X_CACHE: &str = "x-cache";

/// Bytes counted for an entry besides its body, headers and key: the bookkeeping.
const ENTRY_OVERHEAD: usize = 256;

/// Frames a fill may run ahead of the component reading them.
const FILL_BUFFER_FRAMES: usize = 16;

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A fresh stored copy.
    Hit,
    /// The origin.
    Miss,
    /// A stale stored copy, the origin having failed.
    Stale,
    /// The origin, the request being one this cache does not handle.
    Bypass,
}

impl Source {
    fn value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Source::Hit => "HIT",
            Source::Miss => "MISS",
            Source::Stale => "STALE",
            Source::Bypass => "BYPASS",
        })
    }
}

/// How much the cache may hold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// All entries together, bytes. 0 turns the cache off.
    pub(crate) capacity: usize,
    /// The largest body stored, bytes.
    pub(crate) max_object: usize,
}

/// The cache. Shared by every instance of the component.
#[derive(Debug)]
pub(crate) struct Cache {
    limits: Limits,
    inner: Mutex<Inner>,
    next_fill: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Slot>,
    /// Keys by last use, oldest first.
    lru: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
    /// Fetches under way, by key, each with its id.
    fills: HashMap<String, (u64, watch::Receiver<Option<Filled>>)>,
}

#[derive(Debug)]
struct Slot {
    entry: Arc<Entry>,
    tick: u64,
}

/// A stored response.
#[derive(Debug)]
struct Entry {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    freshness: Freshness,
    cache_control: CacheControl,
    /// The request headers the response varies on, and their values when it was fetched.
    vary: Vec<(HeaderName, Option<HeaderValue>)>,
    size: usize,
}

/// How a fill ended, as requests waiting on it learn.
#[derive(Clone, Debug)]
enum Filled {
    /// Stored: answer from it.
    Stored(Arc<Entry>),
    /// Not storable (or abandoned): ask the origin yourself.
    Passed,
    /// The origin failed.
    Failed(Failure),
}

/// Why the origin gave no usable answer, in a form every waiting request can share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    ConnectTimeout,
    ReadTimeout,
    Refused,
    Broken,
    /// A 500, 502, 503 or 504: each waiting request asks the origin itself unless a stale copy
    /// may stand in.
    Status,
}

impl Failure {
    fn of(error: &Error) -> Self {
        match error {
            Error::ConnectionTimeout | Error::DnsTimeout => Failure::ConnectTimeout,
            Error::ConnectionReadTimeout
            | Error::ConnectionWriteTimeout
            | Error::HttpResponseTimeout => Failure::ReadTimeout,
            Error::Hyper(e) if e.is_timeout() => Failure::ReadTimeout,
            Error::Connect(_) | Error::ConnectionRefused => Failure::Refused,
            _ => Failure::Broken,
        }
    }

    /// The error to give a waiting request, which the component classifies just as it would
    /// the original one (a timeout is 504 `origin_timeout`, anything else 502 `origin_error`).
    fn error(self) -> Option<Error> {
        match self {
            Failure::ConnectTimeout => Some(Error::ConnectionTimeout),
            Failure::ReadTimeout => Some(Error::ConnectionReadTimeout),
            Failure::Refused => Some(Error::ConnectionRefused),
            Failure::Broken => Some(Error::ConnectionTerminated),
            Failure::Status => None,
        }
    }
}

/// The request's conditions, evaluated against stored copies (RFC 9110 §13.1).
#[derive(Clone, Debug, Default)]
struct Conditions {
    if_none_match: Option<HeaderValue>,
    if_modified_since: Option<HeaderValue>,
}

/// What a request finds in the cache.
enum Lookup {
    Hit(Arc<Entry>),
    /// Another request is fetching this key: wait for it. With the stale copy, if any.
    Wait(watch::Receiver<Option<Filled>>, Option<Arc<Entry>>),
    /// Nobody is: fetch it. With the stale copy, if any.
    Fill(FillGuard, Option<Arc<Entry>>),
}

impl Cache {
    pub(crate) fn new(limits: Limits) -> Self {
        Cache {
            limits,
            inner: Mutex::new(Inner::default()),
            next_fill: AtomicU64::new(0),
        }
    }

    /// Answers an origin request from the cache or the origin.
    pub(crate) async fn send(
        self: &Arc<Self>,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<Response<WasiBody>, Error> {
        if !self.handles(&request) {
            return Ok(marked(origin(request, options).await?, Source::Bypass));
        }
        let asked = CacheControl::parse(request.headers());
        let key = format!("{} {}", request.method(), request.uri());
        match self.lookup(&key, &request, &asked) {
            Lookup::Hit(entry) => Ok(entry.answer(&conditions(&request), Source::Hit, now_ms())),
            Lookup::Wait(mut filled, stale) => {
                let outcome = filled
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|o| o.clone());
                match outcome {
                    Some(Filled::Stored(entry)) if entry.varies_with(request.headers()) => {
                        Ok(entry.answer(&conditions(&request), Source::Hit, now_ms()))
                    }
                    Some(Filled::Failed(failure)) => {
                        if let Some(answer) = stand_in(stale.as_deref(), &request, &asked) {
                            return Ok(answer);
                        }
                        match failure.error() {
                            Some(error) => Err(error),
                            None => forward(request, options, stale, &asked).await,
                        }
                    }
                    _ => forward(request, options, stale, &asked).await,
                }
            }
            Lookup::Fill(guard, stale) => {
                let (head, answer) = oneshot::channel();
                let fill = Fill {
                    cache: Arc::clone(self),
                    guard,
                    stale,
                    asked,
                    conditions: conditions(&request),
                    head,
                };
                // Its own task: the fill outlives this request if the component goes away.
                tokio::spawn(fill.run(without_conditions(request), options));
                answer.await.unwrap_or_else(|_| {
                    Err(Error::InternalError(Some(
                        "the cache fill ended".to_owned(),
                    )))
                })
            }
        }
    }

    /// Whether this request is one the cache answers: a GET without a range (RFC 9110 §14.2)
    /// or credentials (RFC 9111 §3.5) that does not forbid storing, with the cache on.
    fn handles<B>(&self, request: &Request<B>) -> bool {
        let headers = request.headers();
        self.limits.capacity > 0
            && request.method() == Method::GET
            && !headers.contains_key(RANGE)
            && !headers.contains_key(IF_RANGE)
            && !headers.contains_key(AUTHORIZATION)
            && !CacheControl::parse(headers).no_store
    }

    fn lookup<B>(
        self: &Arc<Self>,
        key: &str,
        request: &Request<B>,
        asked: &CacheControl,
    ) -> Lookup {
        let now = now_ms();
        let mut inner = self.lock();
        let mut stale = None;
        if let Some(entry) = inner.entries.get(key).map(|s| Arc::clone(&s.entry))
            && entry.varies_with(request.headers())
        {
            if freshness::usable(&entry.freshness, asked, now) {
                inner.touch(key);
                return Lookup::Hit(entry);
            }
            stale = Some(entry);
        }
        // A fill whose task is gone (its sender dropped) is no fill to wait for.
        if let Some((_, filled)) = inner.fills.get(key)
            && filled.has_changed().is_ok()
        {
            return Lookup::Wait(filled.clone(), stale);
        }
        let id = self.next_fill.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = watch::channel(None);
        inner.fills.insert(key.to_owned(), (id, receiver));
        let guard = FillGuard {
            cache: Arc::clone(self),
            key: key.to_owned(),
            id,
            sender,
        };
        Lookup::Fill(guard, stale)
    }

    /// Stores `entry` under `key`, evicting the least recently used entries to make room.
    fn insert(&self, key: &str, entry: Arc<Entry>) {
        if entry.size > self.limits.capacity {
            return;
        }
        let mut inner = self.lock();
        inner.remove(key);
        while inner.bytes + entry.size > self.limits.capacity {
            let Some((_, oldest)) = inner.lru.pop_first() else {
                break;
            };
            inner.remove(&oldest);
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.lru.insert(tick, key.to_owned());
        inner.bytes += entry.size;
        inner.entries.insert(key.to_owned(), Slot { entry, tick });
    }

    /// Bytes held, and entries.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.bytes, inner.entries.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent maps behind (every change is a
        // single insert or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn touch(&mut self, key: &str) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(slot) = self.entries.get_mut(key) {
            self.lru.remove(&slot.tick);
            slot.tick = tick;
            self.lru.insert(tick, key.to_owned());
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.entries.remove(key) {
            self.lru.remove(&slot.tick);
            self.bytes -= slot.entry.size;
        }
    }
}

/// The right to fetch one key: removes the key's fill from the cache when it is done or
/// dropped, so waiting requests never wait on a fetch nobody makes.
struct FillGuard {
    cache: Arc<Cache>,
    key: String,
    id: u64,
    sender: watch::Sender<Option<Filled>>,
}

impl FillGuard {
    fn publish(self, filled: Filled) {
        self.sender.send_replace(Some(filled));
    }
}

impl Drop for FillGuard {
    /// Never dropped under the cache's lock: lookups return their guard.
    fn drop(&mut self) {
        let mut inner = self.cache.lock();
        if inner
            .fills
            .get(&self.key)
            .is_some_and(|(id, _)| *id == self.id)
        {
            inner.fills.remove(&self.key);
        }
    }
}

/// One origin fetch that fills the cache.
struct Fill {
    cache: Arc<Cache>,
    guard: FillGuard,
    stale: Option<Arc<Entry>>,
    asked: CacheControl,
    conditions: Conditions,
    head: oneshot::Sender<Result<Response<WasiBody>, Error>>,
}

impl Fill {
    async fn run(self, request: Request<WasiBody>, options: Option<RequestOptions>) {
        let Fill {
            cache,
            guard,
            stale,
            asked,
            conditions,
            head,
        } = self;
        let request_headers = request.headers().clone();
        let request_time = now_ms();
        let response = match origin(request, options).await {
            Ok(response) => response,
            Err(error) => {
                let failure = Failure::of(&error);
                let answer = stale
                    .as_deref()
                    .and_then(|s| s.stand_in(&asked, &conditions))
                    .ok_or(error);
                guard.publish(Filled::Failed(failure));
                let _ = head.send(answer);
                return;
            }
        };
        let response_time = now_ms();
        let status = response.status();
        if freshness::is_error_status(status)
            && let Some(answer) = stale
                .as_deref()
                .and_then(|s| s.stand_in(&asked, &conditions))
        {
            guard.publish(Filled::Failed(Failure::Status));
            let _ = head.send(Ok(answer));
            return;
        }
        let cache_control = CacheControl::parse(response.headers());
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let fits = declared.is_none_or(|n| n <= cache.limits.max_object as u64);
        let storable = fits
            && freshness::storable(
                &Method::GET,
                status,
                &asked,
                &cache_control,
                response.headers(),
            );
        if !storable {
            guard.publish(Filled::Passed);
            let _ = head.send(Ok(marked(response, Source::Miss)));
            return;
        }
        let (parts, mut body) = response.into_parts();
        let mut headers = parts.headers.clone();
        strip_hop_by_hop(&mut headers);
        let (frames, receiver) = mpsc::channel(FILL_BUFFER_FRAMES);
        let mut viewer = Response::new(Frames(receiver).boxed_unsync());
        *viewer.status_mut() = status;
        *viewer.version_mut() = parts.version;
        *viewer.headers_mut() = parts.headers;
        let viewer = marked(viewer, Source::Miss);
        let mut frames = head.send(Ok(viewer)).is_ok().then_some(frames);
        let mut copy = Some(BytesMut::new());
        let mut guard = Some(guard);
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => {
                    if let Some(guard) = guard.take() {
                        guard.publish(Filled::Failed(Failure::of(&error)));
                    }
                    if let Some(frames) = frames {
                        let _ = frames.send(Err(error)).await;
                    }
                    return;
                }
            };
            if let (Some(data), Some(kept)) = (frame.data_ref(), copy.as_mut()) {
                if kept.len() + data.len() > cache.limits.max_object {
                    // Too large to keep: the waiting requests fetch it themselves.
                    copy = None;
                    if let Some(guard) = guard.take() {
                        guard.publish(Filled::Passed);
                    }
                } else {
                    kept.extend_from_slice(data);
                }
            }
            if let Some(sender) = &frames
                && sender.send(Ok(frame)).await.is_err()
            {
                // The component stopped reading; the copy is still worth finishing.
                frames = None;
            }
            if frames.is_none() && copy.is_none() {
                return;
            }
        }
        let (Some(body), Some(guard)) = (copy, guard) else {
            return;
        };
        let vary = vary_of(&headers, &request_headers);
        let freshness = Freshness::of(&headers, &cache_control, request_time, response_time);
        let entry = Entry::new(
            status,
            headers,
            body.freeze(),
            freshness,
            cache_control,
            vary,
        );
        let entry = Arc::new(entry.keyed(&guard.key));
        cache.insert(&guard.key, Arc::clone(&entry));
        guard.publish(Filled::Stored(entry));
    }
}

/// Sends a request to the origin through wasmtime-wasi-http's default sender, honouring the
/// component's timeouts, and drives the connection in its own task. Uncached: also what an
/// external lease store's requests take ([`super::outgoing`]).
pub(crate) async fn origin(
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Response<WasiBody>, Error> {
    let (response, connection) = wasmtime_wasi_http::default_send_request(request, options).await?;
    tokio::spawn(async move {
        // A connection that breaks shows up as an error in the body the component reads.
        let _ = connection.await;
    });
    Ok(response.map(|body| body.boxed_unsync()))
}

/// An uncoalesced, unstored origin request, with a stale copy standing in on failure.
async fn forward(
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
    stale: Option<Arc<Entry>>,
    asked: &CacheControl,
) -> Result<Response<WasiBody>, Error> {
    let conditions = conditions(&request);
    let stand_in = || {
        stale
            .as_deref()
            .and_then(|s| s.stand_in(asked, &conditions))
    };
    match origin(request, options).await {
        Ok(response) if freshness::is_error_status(response.status()) => {
            Ok(stand_in().unwrap_or_else(|| marked(response, Source::Miss)))
        }
        Ok(response) => Ok(marked(response, Source::Miss)),
        Err(error) => stand_in().ok_or(error),
    }
}

fn stand_in<B>(
    stale: Option<&Entry>,
    request: &Request<B>,
    asked: &CacheControl,
) -> Option<Response<WasiBody>> {
    stale.and_then(|s| s.stand_in(asked, &conditions(request)))
}

impl Entry {
    fn new(
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        freshness: Freshness,
        cache_control: CacheControl,
        vary: Vec<(HeaderName, Option<HeaderValue>)>,
    ) -> Self {
        let header_bytes: usize = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum();
        let size = body.len() + header_bytes + ENTRY_OVERHEAD;
        Entry {
            status,
            headers,
            body,
            freshness,
            cache_control,
            vary,
            size,
        }
    }

    /// The entry with the bytes of its key counted.
    fn keyed(self, key: &str) -> Self {
        Entry {
            size: self.size + key.len(),
            ..self
        }
    }

    /// Whether this copy was fetched with the same values of the headers it varies on
    /// (RFC 9111 §4.1) as `request` has.
    fn varies_with(&self, request: &HeaderMap) -> bool {
        self.vary
            .iter()
            .all(|(name, value)| request.get(name) == value.as_ref())
    }

    /// This copy as a stand-in for a failed origin, if the request and the copy allow it.
    fn stand_in(
        &self,
        asked: &CacheControl,
        conditions: &Conditions,
    ) -> Option<Response<WasiBody>> {
        let now = now_ms();
        freshness::usable_on_error(&self.freshness, &self.cache_control, asked, now)
            .then(|| self.answer(conditions, Source::Stale, now))
    }

    /// The stored response as an answer at `now`: with its current `Age`, the source, and 304
    /// when the request's conditions say the requester has it already.
    fn answer(&self, conditions: &Conditions, source: Source, now: u64) -> Response<WasiBody> {
        let not_modified = self.status == StatusCode::OK && conditions.satisfied_by(&self.headers);
        let mut headers = self.headers.clone();
        headers.insert(AGE, HeaderValue::from(self.freshness.age_secs(now)));
        headers.insert(X_CACHE, source.value());
        let (status, body) = if not_modified {
            headers.remove(CONTENT_LENGTH);
            (StatusCode::NOT_MODIFIED, empty())
        } else {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(self.body.len()));
            (self.status, full(self.body.clone()))
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

impl Conditions {
    /// Whether a stored 200 with `headers` means the requester's copy is current:
    /// `If-None-Match` by weak comparison (RFC 9110 §13.1.2), else `If-Modified-Since`
    /// against `Last-Modified` (§13.1.3).
    fn satisfied_by(&self, headers: &HeaderMap) -> bool {
        if let Some(tags) = &self.if_none_match {
            let Some(tags) = tags.to_str().ok() else {
                return false;
            };
            if tags.trim() == "*" {
                return true;
            }
            let Some(etag) = headers.get(ETAG).and_then(|e| e.to_str().ok()) else {
                return false;
            };
            let weak = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
            return tags.split(',').any(|tag| weak(tag) == weak(etag));
        }
        let since = self
            .if_modified_since
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(freshness::http_date_ms);
        let modified = headers
            .get(LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(freshness::http_date_ms);
        matches!((since, modified), (Some(since), Some(modified)) if modified <= since)
    }
}

fn conditions<B>(request: &Request<B>) -> Conditions {
    Conditions {
        if_none_match: request.headers().get(IF_NONE_MATCH).cloned(),
        if_modified_since: request.headers().get(IF_MODIFIED_SINCE).cloned(),
    }
}

/// The request a fill sends: without the requester's conditions, which the cache evaluates
/// itself, so the origin sends a whole answer worth storing.
fn without_conditions<B>(mut request: Request<B>) -> Request<B> {
    request.headers_mut().remove(IF_NONE_MATCH);
    request.headers_mut().remove(IF_MODIFIED_SINCE);
    request
}

/// The values of the request headers a response varies on (RFC 9111 §4.1).
fn vary_of(response: &HeaderMap, request: &HeaderMap) -> Vec<(HeaderName, Option<HeaderValue>)> {
    response
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .map(|name| {
            let value = request.get(&name).cloned();
            (name, value)
        })
        .collect()
}

/// Removes the headers that describe one connection (RFC 9110 §7.6.1) from a copy to store.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let fixed = [CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE];
    for name in fixed.iter().chain(&named) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    headers.remove(X_CACHE);
}

/// `response` with this cache's `x-cache` over any the origin sent.
fn marked(mut response: Response<WasiBody>, source: Source) -> Response<WasiBody> {
    response.headers_mut().insert(X_CACHE, source.value());
    response
}

fn full(bytes: Bytes) -> WasiBody {
    Full::new(bytes)
        .map_err(|never| -> Error { match never {} })
        .boxed_unsync()
}

fn empty() -> WasiBody {
    Empty::new()
        .map_err(|never| -> Error { match never {} })
        .boxed_unsync()
}

/// A body whose frames a fill sends as they arrive from the origin.
struct Frames(mpsc::Receiver<Result<Frame<Bytes>, Error>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::time::Duration;

    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    use super::*;

    fn entry(body_len: usize) -> Arc<Entry> {
        let freshness = Freshness {
            lifetime_ms: 60_000,
            initial_age_ms: 0,
            response_time_ms: now_ms(),
        };
        let body = Bytes::from(vec![b'x'; body_len]);
        let entry = Entry::new(
            StatusCode::OK,
            HeaderMap::new(),
            body,
            freshness,
            CacheControl::default(),
            Vec::new(),
        );
        Arc::new(entry.keyed("k0"))
    }

    fn held(cache: &Cache, key: &str) -> bool {
        cache.lock().entries.contains_key(key)
    }

    #[test]
    fn the_least_recently_used_entries_make_room_and_bytes_stay_bounded() {
        let one = entry(1000).size;
        let cache = Cache::new(Limits {
            capacity: 3 * one,
            max_object: 1 << 20,
        });
        for key in ["k1", "k2", "k3"] {
            cache.insert(key, entry(1000));
        }
        assert_eq!(cache.usage(), (3 * one, 3));
        // k1 is used again, so k2 is now the oldest.
        cache.lock().touch("k1");
        cache.insert("k4", entry(1000));
        assert!(held(&cache, "k1") && !held(&cache, "k2"));
        assert!(held(&cache, "k3") && held(&cache, "k4"));
        // Replacing a key frees its old bytes first.
        cache.insert("k4", entry(10));
        assert_eq!(cache.usage(), (2 * one + entry(10).size, 3));
        // An entry larger than the whole cache is not stored, and evicts nothing.
        cache.insert("huge", entry(4 * one));
        assert_eq!(cache.usage().1, 3);
    }

    #[test]
    fn conditions_are_weak_etag_matches_or_not_modified_since() {
        let mut stored = HeaderMap::new();
        stored.insert(ETAG, HeaderValue::from_static("\"v2\""));
        stored.insert(
            LAST_MODIFIED,
            HeaderValue::from_static("Thu, 01 Jan 2026 00:00:00 GMT"),
        );
        let tags = |value: &'static str| Conditions {
            if_none_match: Some(HeaderValue::from_static(value)),
            if_modified_since: None,
        };
        assert!(tags("\"v2\"").satisfied_by(&stored));
        assert!(tags("\"v1\", W/\"v2\"").satisfied_by(&stored));
        assert!(tags("*").satisfied_by(&stored));
        assert!(!tags("\"v1\"").satisfied_by(&stored));
        let since = |value: &'static str| Conditions {
            if_none_match: None,
            if_modified_since: Some(HeaderValue::from_static(value)),
        };
        assert!(since("Thu, 01 Jan 2026 00:00:00 GMT").satisfied_by(&stored));
        assert!(!since("Wed, 31 Dec 2025 23:59:59 GMT").satisfied_by(&stored));
        assert!(!since("yesterday").satisfied_by(&stored));
        // If-None-Match decides alone when present (RFC 9110 §13.2.2).
        let both = Conditions {
            if_modified_since: Some(HeaderValue::from_static("Thu, 01 Jan 2026 00:00:00 GMT")),
            ..tags("\"v1\"")
        };
        assert!(!both.satisfied_by(&stored));
        assert!(!Conditions::default().satisfied_by(&stored));
    }

    /// An origin on 127.0.0.1 that counts requests by path. `/slow/…` answers after 300 ms;
    /// `?cc=…` is the answer's Cache-Control; `?len=N` its body length.
    struct TestOrigin {
        addr: SocketAddr,
        counts: Arc<Mutex<HashMap<String, usize>>>,
    }

    impl TestOrigin {
        async fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let counts = Arc::new(Mutex::new(HashMap::new()));
            let seen = Arc::clone(&counts);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let seen = Arc::clone(&seen);
                    let service = service_fn(move |request: Request<Incoming>| {
                        let seen = Arc::clone(&seen);
                        async move {
                            *seen
                                .lock()
                                .unwrap()
                                .entry(request.uri().path().to_owned())
                                .or_insert(0) += 1;
                            Ok::<_, std::convert::Infallible>(origin_answer(&request).await)
                        }
                    });
                    tokio::spawn(
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                    );
                }
            });
            TestOrigin { addr, counts }
        }

        fn count(&self, path: &str) -> usize {
            self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
        }

        fn request(&self, target: &str) -> Request<WasiBody> {
            let mut request = Request::new(empty());
            *request.uri_mut() = format!("http://{}{target}", self.addr).parse().unwrap();
            request
        }
    }

    async fn origin_answer(request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let query: HashMap<String, String> = request
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if request.uri().path().starts_with("/slow/") {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let len = query.get("len").and_then(|l| l.parse().ok()).unwrap_or(5);
        let mut response = Response::new(Full::new(Bytes::from(vec![b'o'; len])));
        if let Some(cc) = query.get("cc") {
            response
                .headers_mut()
                .insert("cache-control", HeaderValue::from_str(cc).unwrap());
        }
        response
    }

    async fn body_of(response: Response<WasiBody>) -> Bytes {
        response.into_body().collect().await.unwrap().to_bytes()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn cache(max_object: usize) -> Arc<Cache> {
        Arc::new(Cache::new(Limits {
            capacity: 1 << 20,
            max_object,
        }))
    }

    fn source(response: &Response<WasiBody>) -> &str {
        response.headers()[X_CACHE].to_str().unwrap()
    }

    #[test]
    fn concurrent_misses_share_one_origin_fetch() {
        runtime().block_on(async {
            let origin = TestOrigin::start().await;
            let cache = cache(1 << 20);
            let target = "/slow/index.m3u8?cc=max-age=5";
            let asks: Vec<_> = (0..20)
                .map(|_| {
                    let cache = Arc::clone(&cache);
                    let request = origin.request(target);
                    tokio::spawn(async move { cache.send(request, None).await })
                })
                .collect();
            let mut sources = Vec::new();
            for ask in asks {
                let response = ask.await.unwrap().unwrap();
                sources.push(source(&response).to_owned());
                assert_eq!(body_of(response).await, "ooooo");
            }
            assert_eq!(origin.count("/slow/index.m3u8"), 1);
            assert_eq!(
                sources.iter().filter(|s| *s == "MISS").count(),
                1,
                "{sources:?}"
            );
            // And the next one is a hit with an Age.
            let again = cache.send(origin.request(target), None).await.unwrap();
            assert_eq!(source(&again), "HIT");
            assert_eq!(again.headers()[AGE], "0");
            assert_eq!(origin.count("/slow/index.m3u8"), 1);
        });
    }

    #[test]
    fn uncacheable_answers_make_waiting_requests_ask_the_origin_themselves() {
        runtime().block_on(async {
            let origin = TestOrigin::start().await;
            let cache = cache(1 << 20);
            let target = "/slow/private?cc=private";
            let asks: Vec<_> = (0..3)
                .map(|_| {
                    let cache = Arc::clone(&cache);
                    let request = origin.request(target);
                    tokio::spawn(async move { cache.send(request, None).await })
                })
                .collect();
            for ask in asks {
                let response = ask.await.unwrap().unwrap();
                assert_eq!(source(&response), "MISS");
            }
            assert_eq!(origin.count("/slow/private"), 3);
            assert_eq!(cache.usage().1, 0);
        });
    }

    #[test]
    fn a_body_over_the_object_limit_streams_through_unstored() {
        runtime().block_on(async {
            let origin = TestOrigin::start().await;
            let cache = cache(1000);
            let target = "/big?cc=max-age=60&len=5000";
            for _ in 0..2 {
                let response = cache.send(origin.request(target), None).await.unwrap();
                assert_eq!(source(&response), "MISS");
                assert_eq!(body_of(response).await.len(), 5000);
            }
            assert_eq!(origin.count("/big"), 2);
            assert_eq!(cache.usage().1, 0);
        });
    }

    #[test]
    fn a_fill_completes_when_its_requester_stops_reading() {
        runtime().block_on(async {
            let origin = TestOrigin::start().await;
            let cache = cache(1 << 20);
            let target = "/segment.m4s?cc=max-age=60&len=200000";
            let response = cache.send(origin.request(target), None).await.unwrap();
            drop(response);
            // The fill finishes on its own task.
            for _ in 0..100 {
                if cache.usage().1 == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let again = cache.send(origin.request(target), None).await.unwrap();
            assert_eq!(source(&again), "HIT");
            assert_eq!(body_of(again).await.len(), 200_000);
            assert_eq!(origin.count("/segment.m4s"), 1);
        });
    }

    #[test]
    fn ranges_credentials_and_other_methods_bypass_the_cache() {
        runtime().block_on(async {
            let origin = TestOrigin::start().await;
            let cache = cache(1 << 20);
            let target = "/seg?cc=max-age=60";
            let mut ranged = origin.request(target);
            ranged
                .headers_mut()
                .insert(RANGE, HeaderValue::from_static("bytes=0-1"));
            let response = cache.send(ranged, None).await.unwrap();
            assert_eq!(source(&response), "BYPASS");
            let mut head = origin.request(target);
            *head.method_mut() = Method::HEAD;
            assert_eq!(source(&cache.send(head, None).await.unwrap()), "BYPASS");
            let mut credentials = origin.request(target);
            credentials
                .headers_mut()
                .insert(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
            assert_eq!(
                source(&cache.send(credentials, None).await.unwrap()),
                "BYPASS"
            );
            assert_eq!(origin.count("/seg"), 3);
            assert_eq!(cache.usage().1, 0);
        });
    }

    #[test]
    fn a_conditional_request_gets_304_from_a_stored_copy() {
        runtime().block_on(async {
            let origin = TestOrigin::start().await;
            let cache = cache(1 << 20);
            let target = "/page?cc=max-age=60";
            let first = cache.send(origin.request(target), None).await.unwrap();
            assert_eq!(body_of(first).await, "ooooo");
            let mut conditional = origin.request(target);
            conditional.headers_mut().insert(
                IF_MODIFIED_SINCE,
                HeaderValue::from_static("Thu, 01 Jan 2099 00:00:00 GMT"),
            );
            // The test origin sends no Last-Modified: nothing to compare, a full answer.
            let response = cache.send(conditional, None).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let mut star = origin.request(target);
            star.headers_mut()
                .insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
            let response = cache.send(star, None).await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
            assert!(response.headers().get(CONTENT_LENGTH).is_none());
            assert_eq!(origin.count("/page"), 1);
        });
    }
}
