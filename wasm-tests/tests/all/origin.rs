//! The local origin every runtime fetches from: a real HTTP server on 127.0.0.1.
//!
//! It serves the FFmpeg stream's files by path (playlists, init section, segments), unless the
//! running case says what the origin answers: a status and body (from the case), after a
//! delay, or never (a timeout). It records every request it gets, so a test can check what the
//! edge asked for (the upstream path and query, viewer parameters removed).
#![cfg(test)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};

use crate::http::{Server, serve};
use crate::stream;

/// What the origin answers to every request while a case runs.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub delay: Duration,
    /// Never answer (the edge must time out).
    pub hang: bool,
    /// Playlists are `no-store` unless a case primes the edge's cache.
    pub cache_control: &'static str,
}

/// A request the origin got.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
}

#[derive(Default)]
struct State {
    answer: Option<Answer>,
    seen: Vec<Seen>,
}

/// The running origin.
pub struct Origin {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl Origin {
    pub async fn start() -> Origin {
        let root = stream::dir();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let server = serve(move |request: Request<Bytes>| {
            let state = Arc::clone(&shared);
            let root = root.clone();
            async move {
                let path_and_query = request
                    .uri()
                    .path_and_query()
                    .map_or("/".to_owned(), ToString::to_string);
                let answer = {
                    let mut state = state.lock().unwrap();
                    state.seen.push(Seen {
                        method: request.method().to_string(),
                        path_and_query,
                        headers: request.headers().clone(),
                    });
                    state.answer.clone()
                };
                let path = request.uri().path();
                match answer {
                    Some(answer) => {
                        if answer.hang {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                        tokio::time::sleep(answer.delay).await;
                        respond(
                            answer.status,
                            answer.body,
                            content_type(path),
                            answer.cache_control,
                        )
                    }
                    None => {
                        let relative = path.trim_start_matches('/');
                        let file = (!relative.split('/').any(|p| p == ".." || p.is_empty()))
                            .then(|| std::fs::read(root.join(relative)).ok())
                            .flatten();
                        match file {
                            Some(bytes) => respond(
                                200,
                                Bytes::from(bytes),
                                content_type(path),
                                if path.ends_with(".m3u8") {
                                    "no-store"
                                } else {
                                    "public, max-age=31536000, immutable"
                                },
                            ),
                            None => respond(404, Bytes::new(), "text/plain", "max-age=1"),
                        }
                    }
                }
            }
        })
        .await;
        Origin { server, state }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.server.addr)
    }

    /// What to answer from now on; `None` serves the stream's files.
    pub fn answer(&self, answer: Option<Answer>) {
        self.state.lock().unwrap().answer = answer;
    }

    /// The requests since the last call.
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().seen)
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

fn respond(status: u16, body: Bytes, content_type: &str, cache_control: &str) -> Response<Bytes> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
        .header("cache-control", cache_control)
        .body(body)
        .unwrap()
}
