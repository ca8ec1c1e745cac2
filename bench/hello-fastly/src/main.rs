//! A hello-world Fastly Compute module: the floor against which `bench/edge-serve.py` reads the
//! Fastly edge module's figures under Viceroy.
//!
//! It is built as the edge module is (`fastly` 0.13.2, `wasm32-wasip1`, the `release-fastly`
//! profile's settings) and answers every request with 200 and a short body without reading
//! anything. What it costs per request is what Viceroy costs: accepting the request, a fresh
//! instance, the SDK's start-up, and sending the response. Not shipped, not a test fixture.

use fastly::Response;
use fastly::http::header::CONTENT_TYPE;

/// Answers the request Viceroy started this instance for.
fn main() {
    Response::from_body("hello\n")
        .with_header(CONTENT_TYPE, "text/plain")
        .send_to_client();
}
