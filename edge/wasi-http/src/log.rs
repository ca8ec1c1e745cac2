//! What the edge writes: one access line per request on stderr, QoE events on stdout.
//!
//! A WASI-HTTP host gives a guest two byte streams and nothing else, so the two outputs are
//! split by stream, each a sequence of JSON objects, one per line:
//!
//! - **stderr**: the access log. One object per request, written when the response head is
//!   decided: `at` (Unix ms), `route`, `event`, `pathway`, `reason`, `status`, and when there
//!   is one, `error` (why: the configuration error, the origin's failure) and `cmcd_error`,
//!   `lease` (what the stream lease check did), `health_error`. A response body that fails after its head went out (a viewer that hung up
//!   mid-segment, an origin that broke off) adds one object with `stream_error`.
//! - **stdout**: the QoE events the core derived from CMCD data, exactly as the core wrote
//!   them, for the steering controller to read from the host's log stream.
//!
//! The access line is the core's [`AccessLine`], which never sees the request's URI, query or
//! headers, so it cannot carry a ticket, a session token or a key; what is here is where the
//! lines go.

use serde_json::json;
use usher_edge_core::access::AccessLine;

/// Writes a request's access line to stderr.
pub(crate) fn access(line: &AccessLine<'_>) {
    write_line(&mut std::io::stderr().lock(), &line.render());
}

/// Reports a response body that failed after its head was sent.
pub(crate) fn stream_error(error: &str) {
    let line = json!({ "stream_error": error }).to_string();
    write_line(&mut std::io::stderr().lock(), &line);
}

/// Writes QoE events to stdout, one per line.
pub(crate) fn events(events: &[String]) {
    if events.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    for event in events {
        write_line(&mut out, event);
    }
}

/// Writes one line in one write, so that lines of instances running side by side on the same
/// host stream do not interleave. A closed log stream must not fail the request, so errors are
/// dropped.
fn write_line(out: &mut impl std::io::Write, line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let _ = out.write_all(&bytes).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_written_whole() {
        let mut out = Vec::new();
        write_line(&mut out, r#"{"a":1}"#);
        write_line(&mut out, r#"{"b":2}"#);
        assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
    }
}
