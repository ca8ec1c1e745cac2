//! The local live event's own API, on one private address:
//!
//! - `GET /v1/faults` and `POST /v1/faults/{cdn}` (a [`Change`] as JSON): what `usher dev
//!   fault` talks to;
//! - `GET|PUT /store/{key}`: the lease store every edge shares (`usher edge serve
//!   --lease-store`), so a ticket's screens are counted across the entry edge and the three
//!   CDNs' edges as one platform would. It is `usher edge serve`'s own in-process store, served
//!   over HTTP with the store API of docs/edge.md.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::fault::{Change, Injector};
use crate::edge::outgoing::percent_decoded;
use crate::edge::store::{Store, TTL_HEADER};
use crate::now_ms;

/// The store's path prefix; `--lease-store http://ADDR/store/`.
pub(crate) const STORE_PREFIX: &str = "/store/";

/// The largest request body read: a fault change, or a lease record (64 KiB at most).
const MAX_BODY: usize = 128 * 1024;

/// What the API serves.
pub(crate) struct Api {
    pub(crate) injectors: Vec<Arc<Injector>>,
    pub(crate) store: Store,
}

/// Serves `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, api: Arc<Api>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let api = Arc::clone(&api);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let api = Arc::clone(&api);
                async move { Ok::<_, Infallible>(answer(&api, request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(api: &Api, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
        return reply(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", None);
    };
    let body = body.to_bytes();
    let path = parts.uri.path();
    if let Some(key) = path.strip_prefix(STORE_PREFIX) {
        let Some(key) = percent_decoded(key) else {
            return reply(StatusCode::BAD_REQUEST, "bad_key", None);
        };
        let ttl = parts.headers.get(TTL_HEADER).and_then(|v| v.to_str().ok());
        let found = api
            .store
            .answer(&parts.method, &key, ttl, body, Instant::now());
        let mut response = Response::new(Full::new(found.body.clone()));
        *response.status_mut() = found.status;
        if let Some(content_type) = found.content_type() {
            response.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        return response;
    }
    if path == "/v1/faults" && parts.method == Method::GET {
        return reply(StatusCode::OK, "", Some(faults_json(api)));
    }
    if let Some(cdn) = path.strip_prefix("/v1/faults/") {
        if parts.method != Method::POST {
            return reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
        }
        let Some(injector) = api.injectors.iter().find(|i| i.id == cdn) else {
            return reply(StatusCode::NOT_FOUND, "unknown_cdn", None);
        };
        let Ok(change) = serde_json::from_slice::<Change>(&body) else {
            return reply(StatusCode::BAD_REQUEST, "bad_change", None);
        };
        let faults = injector.change(change);
        crate::say(&format!(
            "usher dev: {cdn} is now {}",
            faults.describe(now_ms())
        ));
        return reply(StatusCode::OK, "", Some(faults_json(api)));
    }
    reply(StatusCode::NOT_FOUND, "not_found", None)
}

/// `{"cdn-a": {"faults": …, "now": "healthy"}, …}`.
fn faults_json(api: &Api) -> String {
    let now = now_ms();
    let map: serde_json::Map<String, serde_json::Value> = api
        .injectors
        .iter()
        .map(|injector| {
            let faults = injector.faults();
            (
                injector.id.to_owned(),
                serde_json::json!({ "faults": faults, "now": faults.describe(now),
                                    "latency_ms": faults.latency_ms(now) }),
            )
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn reply(status: StatusCode, reason: &'static str, json: Option<String>) -> Response<Full<Bytes>> {
    let body = json.unwrap_or_else(|| serde_json::json!({ "error": reason }).to_string());
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if !reason.is_empty()
        && let Ok(value) = HeaderValue::from_str(reason)
    {
        response.headers_mut().insert("x-usher-reason", value);
    }
    response
}
