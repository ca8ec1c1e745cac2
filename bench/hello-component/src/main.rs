//! A hello-world WASI-HTTP component: the floor against which `bench/edge-serve.py` measures
//! the edge component under `usher edge serve`.
//!
//! It is built and exported exactly as the edge component is (`wstd` 0.6.8, its own
//! `wasi:http/incoming-handler` export), and answers every request with 200 and a short body
//! without reading anything. What it costs per request is what the host costs: accepting the
//! connection, a fresh instance from the pool, the WASI context, moving the request in and the
//! response out. The edge's figures divided by this one are what the edge's own work adds.
//!
//! Not a test fixture and not shipped: it exists for the benchmark.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};
use wstd::http::server::Responder;

/// The component's `wasi:http/incoming-handler` implementation.
struct Hello;

impl Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        // Dropping the request unread is what a handler that needs nothing from it does.
        drop(request);
        let responder = Responder::new(response_out);
        wstd::runtime::block_on(async move {
            let mut response = http::Response::new(wstd::http::Body::from("hello\n"));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain"),
            );
            // A failed body write means the client left; there is nobody to tell.
            let _ = responder.respond(response).await;
        });
    }
}

wasip2::http::proxy::export!(Hello with_types_in wasip2);

/// Never called: a WASI-HTTP host calls the exported handler, not `main`.
fn main() {}
