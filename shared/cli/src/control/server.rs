//! The controller's HTTP face: the live dashboard, its data and event stream, the QoE intake,
//! the latest sealed snapshot for edges that pull, and the operators' commands.
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the dashboard page (`control/assets/dashboard.html`) |
//! | `GET /v1/state` | configuration summary, recent ticks, decisions and audit entries (JSON) |
//! | `GET /v1/stream` | Server-Sent Events (WHATWG HTML §9.2): `tick`, `decision`, `audit` |
//! | `GET /v1/snapshot` | the latest sealed snapshot envelope (404 before the first tick) |
//! | `POST /v1/qoe` | QoE JSON lines from edges; 200 with `{"accepted", "refused"}` |
//! | `POST /v1/observations` | health-model `Observation` JSON lines from any other source (an adapter for a CDN's real-time statistics API); same answer |
//! | `POST /v1/commands` | an operator command (`drain`, `pin`, `clear`, `admission_open`, `admission_pause`, `admission_rate`) with who and why |
//! | `GET /healthz` | `ok` |
//!
//! Every refusal carries `x-usher-reason` and a one-line body, like the edge's. Commands need
//! `Authorization: Bearer <operator token>` when the controller was started with one; reading
//! does not (run the controller on a private network or behind an authenticating proxy).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{broadcast, mpsc};
use usher_control::operator::Command;

use super::run::Hub;
use crate::now_ms;

/// The dashboard page, built into the binary so the controller is one file to deploy.
const DASHBOARD: &str = include_str!("../../../../control/assets/dashboard.html");

/// The largest QoE batch accepted in one request.
const MAX_QOE_BYTES: usize = 4 << 20;

/// The largest command body.
const MAX_COMMAND_BYTES: usize = 16 << 10;

/// How often an idle event stream gets a comment, so proxies and browsers keep it open.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// A response body: a whole buffer, or an event stream fed by a channel.
pub(crate) enum Reply {
    Full(Full<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Reply::Full(full) => Pin::new(full).poll_frame(cx),
            Reply::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }

    // A whole buffer has a known length, so hyper sends `content-length` instead of chunks.
    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Reply::Full(full) => full.size_hint(),
            Reply::Stream(_) => hyper::body::SizeHint::default(),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Reply::Full(full) => full.is_end_stream(),
            Reply::Stream(_) => false,
        }
    }
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Reply> {
    let mut response = Response::new(Reply::Full(Full::new(body.into())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refuse(status: StatusCode, reason: &'static str, message: &str) -> Response<Reply> {
    let mut response = reply(status, "text/plain; charset=utf-8", format!("{message}\n"));
    response
        .headers_mut()
        .insert("x-usher-reason", HeaderValue::from_static(reason));
    response
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Reply> {
    reply(status, "application/json", value.to_string())
}

/// Answers one request.
pub(crate) async fn handle(hub: Arc<Hub>, request: Request<Incoming>) -> Response<Reply> {
    let path = request.uri().path().to_owned();
    match (request.method(), path.as_str()) {
        (&Method::GET | &Method::HEAD, "/") => {
            reply(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD)
        }
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, "/v1/state") => json(StatusCode::OK, &hub.state()),
        (&Method::GET, "/v1/stream") => stream(&hub),
        (&Method::GET, "/v1/snapshot") => match hub.envelope() {
            Some(envelope) => reply(StatusCode::OK, "text/plain; charset=utf-8", envelope),
            None => refuse(StatusCode::NOT_FOUND, "no_snapshot", "no snapshot yet"),
        },
        (&Method::POST, "/v1/qoe") => lines(&hub, request, Hub::qoe_lines).await,
        (&Method::POST, "/v1/observations") => lines(&hub, request, Hub::observation_lines).await,
        (&Method::POST, "/v1/commands") => command(&hub, request).await,
        (_, "/" | "/healthz" | "/v1/state" | "/v1/stream" | "/v1/snapshot" | "/v1/qoe")
        | (_, "/v1/commands" | "/v1/observations") => refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
        ),
        _ => refuse(StatusCode::NOT_FOUND, "not_found", "not found"),
    }
}

async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, Response<Reply>> {
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!("body over {limit} bytes"),
        )),
        Err(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body could not be read",
        )),
    }
}

/// A batch of JSON lines, each fed on its own: a bad line is counted, never fatal to the rest.
async fn lines(
    hub: &Hub,
    request: Request<Incoming>,
    feed: fn(&Hub, &[u8]) -> (u64, u64),
) -> Response<Reply> {
    let body = match read_body(request, MAX_QOE_BYTES).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (accepted, refused) = feed(hub, &body);
    json(
        StatusCode::OK,
        &serde_json::json!({"accepted": accepted, "refused": refused}),
    )
}

async fn command(hub: &Hub, request: Request<Incoming>) -> Response<Reply> {
    if !hub.authorised(request.headers().get(hyper::header::AUTHORIZATION)) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "commands need the operator token: Authorization: Bearer …",
        );
    }
    let body = match read_body(request, MAX_COMMAND_BYTES).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let command: Command = match serde_json::from_slice(&body) {
        Ok(command) => command,
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad_command",
                &format!("not a command: {error}"),
            );
        }
    };
    let (entry, result) = hub.command(&command, now_ms());
    let value = serde_json::to_value(&entry).unwrap_or_default();
    match result {
        Ok(()) => json(StatusCode::OK, &value),
        Err(_) => {
            let mut response = json(StatusCode::CONFLICT, &value);
            response.headers_mut().insert(
                "x-usher-reason",
                HeaderValue::from_static("command_refused"),
            );
            response
        }
    }
}

/// An event stream: the hub's broadcasts, forwarded to this client until it hangs up. A
/// client too slow to keep up loses the events it missed (the dashboard re-reads `/v1/state`
/// when it reconnects) rather than holding the controller's memory.
fn stream(hub: &Hub) -> Response<Reply> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut events = hub.subscribe();
    tokio::spawn(async move {
        if tx
            .send(Bytes::from_static(b"retry: 2000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let next = tokio::time::timeout(KEEPALIVE, events.recv()).await;
            let chunk = match next {
                Ok(Ok(event)) => event,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    Bytes::from_static(b"event: lagged\ndata: {}\n\n")
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
                Err(_) => Bytes::from_static(b": keepalive\n\n"),
            };
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let mut response = Response::new(Reply::Stream(rx));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// One Server-Sent Event: `event: NAME` and the JSON on one `data:` line (JSON has no raw
/// newlines, so one line is always enough).
pub(crate) fn sse(name: &str, json: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}
