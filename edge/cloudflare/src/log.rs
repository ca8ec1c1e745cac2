//! What the edge writes: one access line per request and the QoE events, through
//! `console.log`, which Workers Logs, `wrangler tail` and Logpush (Workers Trace Events, the
//! `Logs` field) pick up.
//!
//! Every line is one JSON object:
//!
//! - **the access line**, one per request, written when the response head is decided: `at`
//!   (Unix ms), `route`, `event`, `pathway`, `reason`, `status`, and when there is one, `cache`
//!   (`hit`, `miss` or `stale`: where a playlist came from), `error` (why: the configuration
//!   error, the origin's failure), `cmcd_error`, `lease` (what the stream lease check did) and
//!   `health_error`. A lease record or cache write that fails after the response left adds a
//!   line with `store_error`.
//! - **the QoE events**: the core's CMCD events, exactly as the core wrote them. They have no
//!   `route` field and always a `cmcd` one, which is how a log consumer tells the two apart.
//!
//! The access and `store_error` lines are the core's ([`usher_edge_core::access`]), built from the core's facts, the
//! reason and the status only: never the request's URI, query or headers, so they cannot carry
//! a ticket, a session token or a key. What is here is where they go.

use usher_edge_core::access::{AccessLine, store_error_line};

/// Writes a request's access line.
pub(crate) fn access(line: &AccessLine<'_>) {
    worker::console_log!("{}", line.render());
}

/// Writes the core's QoE events, one per line.
pub(crate) fn events(events: &[String]) {
    for event in events {
        worker::console_log!("{event}");
    }
}

/// Reports a store write that failed after the response left.
pub(crate) fn write_store_error(at_ms: u64, error: &str) {
    worker::console_log!("{}", store_error_line(at_ms, error));
}
