//! Usher's edge router as a WASI-HTTP component (`wasi:http/proxy`, target `wasm32-wasip2`):
//! the thin adapter between a WASI-HTTP host and [`usher_edge_core`].
//!
//! Per request it turns the host's request into an `http::Request<()>` ([`convert`]), gathers
//! the core's inputs (the wall clock through `std`, sixteen bytes from `wasi:random`, the
//! client's address and location from headers the host sets, the configuration from the
//! environment: [`config`]), calls the core, and carries out its decision ([`handler`]): a
//! response, an origin request streamed through or fetched and rewritten ([`origin`]), a
//! beacon body read, an asset from the host's asset store, or a stream lease checked in the
//! host's lease store ([`services`]). It logs one JSON line per request on stderr and writes
//! QoE events on stdout ([`log`]).
//!
//! # What the host must do
//!
//! - Pass the configuration as environment variables (`USHER_EVENTS`, `USHER_PATHWAYS`,
//!   `USHER_SETTINGS`, `USHER_TICKET_KEYS`, `USHER_SESSION_KEY`, optionally `USHER_HEALTH`).
//!   The component reads them through `wasi:cli/environment`, which the bare `wasi:http/proxy`
//!   world lacks: `wasmtime serve` needs `-Scli` and `--env NAME=VALUE` (or `--env NAME` to
//!   pass its own).
//! - Set `x-usher-client-ip` (and, with geolocation, `x-usher-country` and `x-usher-asn`) on
//!   every request, **after removing any copy the client sent**: the component trusts them.
//! - Give the component the network for its origin requests (`wasi:http/outgoing-handler`),
//!   ideally through an HTTP cache that honours the `Cache-Control: stale-if-error=N` the
//!   component sends and marks a stale stand-in `x-cache: STALE` ([`origin`]).
//! - Optionally, offer an asset store and a lease store over HTTP and pass their base URLs as
//!   `USHER_ASSETS_URL` and `USHER_STORE_URL` (the API is in [`services`]). Without the first,
//!   assets answer 404 `not_found`; without the second, stream leases fail open.
//! - Route its stderr to the access log and its stdout to the QoE event stream.
//!
//! `usher edge serve` is such a host, with all of the above.
//!
//! What it does not do: cache (that is the host's job), or write lease records after the
//! response (WASI 0.2 has no such facility: the write runs alongside the playlist fetch).
//!
//! Key decision: the component exports `wasi:http/incoming-handler` itself instead of through
//! `#[wstd::http_server]`, whose generated handler unwraps the result of sending the response
//! body. A viewer hanging up mid-segment would then trap the instance and print a panic into
//! the access log; here it is one `stream_error` line.

mod config;
mod convert;
mod handler;
mod log;
mod origin;
mod services;

use usher_edge_core::access::AccessLine;
use usher_edge_core::decision::LogFields;
use usher_edge_core::reason::Reason;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};
use wstd::http::server::Responder;

/// The component's `wasi:http/incoming-handler` implementation.
struct Edge;

impl Guest for Edge {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let responder = Responder::new(response_out);
        wstd::runtime::block_on(async move {
            let response = match wstd::http::request::try_from_incoming(request) {
                Ok(request) => handler::handle(request).await,
                Err(error) => unreadable(&error),
            };
            // The head is out by now; a failure can only be in the body.
            if let Err(error) = responder.respond(response).await {
                log::stream_error(&format!("{error:#}"));
            }
        });
    }
}

wasip2::http::proxy::export!(Edge with_types_in wasip2);

/// A request the host handed over but `http` cannot represent (an invalid header name, a bad
/// `Content-Length`): 400 `bad_request`, logged like any other refusal.
fn unreadable(error: &wstd::http::Error) -> http::Response<wstd::http::Body> {
    let response = usher_edge_core::decision::refusal(Reason::BadRequest);
    let fields = LogFields::default();
    log::access(&AccessLine {
        error: Some(&format!("unreadable request: {error:#}")),
        ..AccessLine::new(
            handler::now_ms(),
            &fields,
            Reason::BadRequest,
            response.status().as_u16(),
        )
    });
    convert::response(response, false)
}

/// Never called: a WASI-HTTP host calls the exported handler, not `main`. A binary crate needs
/// one all the same.
fn main() {}
