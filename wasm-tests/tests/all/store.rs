//! The lease store `usher edge serve --lease-store` talks to: the HTTP API the WASI-HTTP
//! component speaks (`GET {store}{key}` 200 or 404, `PUT {store}{key}` with `x-usher-ttl`; see
//! edge/wasi-http/src/services.rs), on 127.0.0.1. A test seeds it with a case's record, makes
//! it fail (503) for `unavailable`, and reads back what the edge wrote.
#![cfg(test)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use crate::http::{Server, percent_decode, serve};

/// A write the edge made.
#[derive(Clone, Debug)]
pub struct Written {
    pub key: String,
    pub value: Bytes,
    pub ttl_secs: Option<u64>,
}

#[derive(Default)]
struct State {
    values: HashMap<String, Bytes>,
    down: bool,
    written: Vec<Written>,
}

pub struct LeaseStore {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl LeaseStore {
    pub async fn start() -> LeaseStore {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let server = serve(move |request: Request<Bytes>| {
            let state = Arc::clone(&shared);
            async move {
                // Keys arrive percent-encoded (RFC 3986 §2.1), `/` kept.
                let key = percent_decode(request.uri().path().trim_start_matches('/'));
                let mut state = state.lock().unwrap();
                let status = if state.down {
                    StatusCode::SERVICE_UNAVAILABLE
                } else if request.method() == Method::GET {
                    if let Some(value) = state.values.get(&key) {
                        return Response::new(value.clone());
                    }
                    StatusCode::NOT_FOUND
                } else if request.method() == Method::PUT {
                    let ttl_secs = request
                        .headers()
                        .get("x-usher-ttl")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok());
                    state.values.insert(key.clone(), request.body().clone());
                    state.written.push(Written {
                        key,
                        value: request.body().clone(),
                        ttl_secs,
                    });
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::METHOD_NOT_ALLOWED
                };
                let mut response = Response::new(Bytes::new());
                *response.status_mut() = status;
                response
            }
        })
        .await;
        LeaseStore { server, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/", self.server.addr)
    }

    /// Empties the store, sets it up or down, and seeds `key` with `value`.
    pub fn reset(&self, down: bool, seed: Option<(&str, Vec<u8>)>) {
        let mut state = self.state.lock().unwrap();
        state.values.clear();
        state.written.clear();
        state.down = down;
        if let Some((key, value)) = seed {
            state.values.insert(key.to_owned(), Bytes::from(value));
        }
    }

    pub fn written(&self) -> Vec<Written> {
        self.state.lock().unwrap().written.clone()
    }
}
