//! The origin's HTTP server: HTTP/1.1 and HTTP/2 (cleartext, prior knowledge) on one port,
//! for the CDNs in front of it.
//!
//! | path | what |
//! |---|---|
//! | `/{channel}/master.m3u8` | the multivariant playlist |
//! | `/{channel}/{rendition}/index.m3u8` | a media playlist; `_HLS_msn`/`_HLS_part` block (RFC 8216bis §6.2.5.2) |
//! | `/{channel}/{rendition}/init.mp4`, `{n}.m4s`, `{n}.{p}.m4s` | media |
//! | `/healthz` | 200 when every active channel's newest segment is younger than two target durations |
//! | `/metrics` | Prometheus text |
//!
//! Caching is set for a CDN to act on: media is immutable (its name is its place on the
//! wall clock's timeline, never reused); a live playlist lives for half a part; a playlist
//! answering a blocking request (its URL names the part it waited for) for a minute; an
//! ended playlist for a day; a 404 for one second, since the file it missed may exist a part
//! later. Every answer allows any origin (CORS): players fetch from the CDN's domain, not the
//! page's. Errors carry a reason code in `x-usher-reason`, as the edge's do.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::channel::{Channel, reload_state};
use crate::clock::now_ms;
use crate::playlist::{self, Reload};

/// The reason header, as the edge names it.
pub const REASON: &str = "x-usher-reason";

/// What the server needs to know of one channel.
#[derive(Clone, Debug)]
pub struct Served {
    /// Its live state on this node, when this node is encoding it.
    pub live: Option<Channel>,
    /// Its directory under the data directory (for replay and older segments).
    pub dir: PathBuf,
}

/// What the server reads: the channels, and the health and metrics text, each computed on
/// request by the node.
pub trait Site: Send + Sync + 'static {
    /// The channel named `name`.
    fn channel(&self, name: &str) -> Option<Served>;
    /// The health report: healthy or not, and a JSON body saying why.
    fn health(&self) -> (bool, String);
    /// The Prometheus exposition.
    fn metrics(&self) -> String;
}

/// Serves `site` on `listener` until `stop` turns true; connections in flight are given
/// five seconds to finish.
pub async fn serve(listener: TcpListener, site: Arc<dyn Site>, mut stop: watch::Receiver<bool>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let site = Arc::clone(&site);
                let service = service_fn(move |request: Request<Incoming>| {
                    let site = Arc::clone(&site);
                    async move { Ok::<_, Infallible>(handle(site.as_ref(), request).await) }
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let connection = graceful.watch(connection.into_owned());
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            _ = stop.changed() => {
                if *stop.borrow() {
                    break;
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// The local address a listener is bound to, for logs.
pub fn bound(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}

type Answer = Response<Full<Bytes>>;

fn answer(
    status: StatusCode,
    reason: &str,
    cache: &str,
    content_type: &str,
    body: Bytes,
) -> Answer {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(reason) {
        headers.insert(REASON, v);
    }
    if let Ok(v) = HeaderValue::from_str(cache) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-usher-reason, age, date"),
    );
    response
}

fn refuse(status: StatusCode, reason: &str) -> Answer {
    let cache = if status == StatusCode::NOT_FOUND {
        "public, max-age=1"
    } else {
        "no-store"
    };
    answer(
        status,
        reason,
        cache,
        "text/plain; charset=utf-8",
        Bytes::from(format!("{reason}\n")),
    )
}

const PLAYLIST: &str = "application/vnd.apple.mpegurl";

/// A file name the server will look for on disk: letters, digits, `.`, `-`, `_`, not
/// starting with a dot.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

fn media_type(name: &str, rendition: &str) -> &'static str {
    if name.ends_with(".m3u8") {
        PLAYLIST
    } else if name.ends_with(".m4s") {
        "video/iso.segment"
    } else if rendition == "audio" {
        "audio/mp4"
    } else {
        "video/mp4"
    }
}

/// Answers one request.
pub async fn handle<B>(site: &dyn Site, request: Request<B>) -> Answer
where
    B: hyper::body::Body + Send,
{
    let method = request.method().clone();
    if method == Method::OPTIONS {
        // A CORS preflight: any origin, the methods and the one request header a player sends.
        let mut response = answer(
            StatusCode::NO_CONTENT,
            "cors_preflight",
            "public, max-age=86400",
            "text/plain",
            Bytes::new(),
        );
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("range, content-type"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
        return response;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = refuse(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        response.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        return response;
    }
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    drop(request.into_body().collect().await);
    let mut response = route(site, &path, &query).await;
    if method == Method::HEAD {
        let length = response
            .body()
            .clone()
            .collect()
            .await
            .map(|b| b.to_bytes().len())
            .unwrap_or(0);
        let (parts, _) = response.into_parts();
        response = Response::from_parts(parts, Full::new(Bytes::new()));
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

async fn route(site: &dyn Site, path: &str, query: &str) -> Answer {
    match path {
        "/healthz" => {
            let (healthy, body) = site.health();
            let status = if healthy {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            return answer(
                status,
                if healthy { "healthy" } else { "unhealthy" },
                "no-store",
                "application/json",
                Bytes::from(body),
            );
        }
        "/metrics" => {
            return answer(
                StatusCode::OK,
                "ok",
                "no-store",
                "text/plain; version=0.0.4; charset=utf-8",
                Bytes::from(site.metrics()),
            );
        }
        _ => {}
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [channel, "master.m3u8"] => {
            let Some(served) = site.channel(channel) else {
                return refuse(StatusCode::NOT_FOUND, "unknown_channel");
            };
            if let Some(live) = &served.live {
                let (text, ended) = {
                    let state = live.lock();
                    (state.multivariant.clone(), state.ended)
                };
                let cache = if ended {
                    "public, max-age=86400"
                } else {
                    "public, max-age=10"
                };
                return answer(StatusCode::OK, "ok", cache, PLAYLIST, Bytes::from(text));
            }
            from_disk(&served, None, "master.m3u8").await
        }
        [channel, rendition, file] => {
            let Some(served) = site.channel(channel) else {
                return refuse(StatusCode::NOT_FOUND, "unknown_channel");
            };
            if !plain(rendition) || !plain(file) {
                return refuse(StatusCode::BAD_REQUEST, "bad_path");
            }
            let Some(live) = &served.live else {
                return from_disk(&served, Some(rendition), file).await;
            };
            let Some(track) = live.track_index(rendition) else {
                return refuse(StatusCode::NOT_FOUND, "unknown_rendition");
            };
            if *file == "index.m3u8" {
                return media_playlist(live, track, query).await;
            }
            if let Some(bytes) = live.file(track, file) {
                return answer(
                    StatusCode::OK,
                    "ok",
                    "public, max-age=31536000, immutable",
                    media_type(file, rendition),
                    bytes,
                );
            }
            from_disk(&served, Some(rendition), file).await
        }
        _ => refuse(StatusCode::NOT_FOUND, "not_found"),
    }
}

async fn from_disk(served: &Served, rendition: Option<&str>, file: &str) -> Answer {
    let mut path = served.dir.clone();
    if let Some(r) = rendition {
        path.push(r);
    }
    path.push(file);
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            // On disk and not live: media, or an ended event's replay playlists.
            let cache = if file.ends_with(".m3u8") {
                "public, max-age=86400"
            } else {
                "public, max-age=31536000, immutable"
            };
            answer(
                StatusCode::OK,
                "ok",
                cache,
                media_type(file, rendition.unwrap_or_default()),
                Bytes::from(bytes),
            )
        }
        Err(_) => refuse(StatusCode::NOT_FOUND, "not_found"),
    }
}

/// A media playlist, held while a blocking request waits for the part it names.
async fn media_playlist(live: &Channel, track: usize, query: &str) -> Answer {
    let params: BTreeMap<&str, &str> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let msn = params.get("_HLS_msn").copied();
    let part = params.get("_HLS_part").copied();
    let mut versions = live.subscribe();
    let decision = {
        let state = live.lock();
        if state.tracks.get(track).is_none() {
            return refuse(StatusCode::NOT_FOUND, "unknown_rendition");
        }
        match reload_state(&state, track) {
            Some(rs) if msn.is_some() || rs.last_segment.is_some() || rs.ended => {
                playlist::decide(msn, part, &rs, now_ms())
            }
            None if state.ended => {
                return refuse(StatusCode::NOT_FOUND, "nothing_published");
            }
            // No segment complete yet (the channel has just started): a request waits for the
            // first one. hls.js gives up on a playlist answered 404 at once, and on one without
            // a whole segment after two retries a second apart; a page opened as the channel
            // starts asks in that time, load balancer or not.
            _ => Reload::Wait {
                awaited: playlist::Awaited::Segment(0),
                deadline_ms: now_ms() + 3 * live.timeline.segment_ms(),
            },
        }
    };
    let blocking = msn.is_some();
    let (awaited, deadline_ms) = match decision {
        Reload::Refuse(_) => return refuse(StatusCode::BAD_REQUEST, decision.code()),
        Reload::Now(_) => return playlist_now(live, track, blocking, decision.code()),
        Reload::Wait {
            awaited,
            deadline_ms,
        } => (awaited, deadline_ms),
    };
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms()));
    loop {
        {
            let state = live.lock();
            let reached = match (reload_state(&state, track), awaited) {
                (Some(rs), _) => awaited.reached(&rs) || rs.ended,
                (None, _) => false,
            };
            if reached {
                drop(state);
                return playlist_now(live, track, blocking, "hls_reload_published");
            }
        }
        tokio::select! {
            changed = versions.changed() => {
                if changed.is_err() {
                    return refuse(StatusCode::SERVICE_UNAVAILABLE, "channel_stopped");
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                return refuse(
                    StatusCode::from_u16(playlist::TIMEOUT_STATUS).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                    playlist::TIMEOUT_CODE,
                );
            }
        }
    }
}

fn playlist_now(live: &Channel, track: usize, blocking: bool, code: &str) -> Answer {
    let ended = live.lock().ended;
    match live.media_playlist(track) {
        Some(Ok(text)) => {
            // A blocking request's URL names the part it waited for: its answer never changes,
            // so a CDN may keep it (RFC 8216bis §6.2.5.2 and Apple's LL-HLS CDN guidance).
            let cache = if ended {
                "public, max-age=86400"
            } else if blocking {
                "public, max-age=60"
            } else {
                "public, max-age=0, s-maxage=1"
            };
            answer(StatusCode::OK, code, cache, PLAYLIST, Bytes::from(text))
        }
        Some(Err(playlist::MediaError::NothingPublished)) | None => {
            refuse(StatusCode::NOT_FOUND, "nothing_published")
        }
        Some(Err(e)) => {
            // What contradicts itself, in the body: a bug to report, and no secret in it.
            let mut response = refuse(StatusCode::INTERNAL_SERVER_ERROR, "playlist_inconsistent");
            *response.body_mut() = Full::new(Bytes::from(format!("playlist_inconsistent: {e}\n")));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::testing::{MSN, channel, publish_part, publish_segment};
    use http_body_util::Empty;

    struct One(Served);

    impl Site for One {
        fn channel(&self, name: &str) -> Option<Served> {
            (name == "final").then(|| self.0.clone())
        }
        fn health(&self) -> (bool, String) {
            (true, String::new())
        }
        fn metrics(&self) -> String {
            String::new()
        }
    }

    /// A plain playlist request made when `parts_out` parts and no segment are published is
    /// held until the first segment, and answered with it.
    async fn asked_before_the_first_segment(parts_out: u32) {
        let dir =
            std::env::temp_dir().join(format!("usher-server-{}-{parts_out}", std::process::id()));
        let channel = channel(&dir);
        let site: Arc<dyn Site> = Arc::new(One(Served {
            live: Some(channel.clone()),
            dir: dir.clone(),
        }));
        for part in 0..parts_out {
            publish_part(&channel, part).await;
        }
        let asked = tokio::spawn({
            let site = Arc::clone(&site);
            async move {
                let request = Request::get("/final/240p/index.m3u8")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                handle(site.as_ref(), request).await
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!asked.is_finished(), "answered before the first segment");
        for part in parts_out..4 {
            publish_part(&channel, part).await;
        }
        publish_segment(&channel).await;
        let answer = asked.await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(&format!("\n{MSN}.m4s\n")), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_playlist_asked_before_anything_is_published_waits_for_the_first_segment() {
        asked_before_the_first_segment(0).await;
    }

    #[tokio::test]
    async fn a_playlist_asked_with_parts_but_no_segment_waits_for_the_first_segment() {
        asked_before_the_first_segment(1).await;
    }
}
