//! What the edge writes: one access line per request, and the core's QoE events, each to its
//! own Fastly log endpoint.
//!
//! Both are JSON objects, one per log entry:
//!
//! - **access** (endpoint `usher_access` unless the Config Store names another): `at` (Unix
//!   ms), `route`, `event`, `pathway`, `reason`, `status`, `duration_us` (microseconds from the
//!   request's arrival until its response was handed to Fastly; a streamed body continues after
//!   that), and when there is one, `cache` (how the playlist cache answered: `hit`, `miss`,
//!   `held`, `stale`, `bypass`), `lease` (what the request did to its stream lease: the core's
//!   word), `error` (the configuration error, the origin's failure), `cmcd_error`,
//!   `health_error` and `store_error` (a lease record that could not be read or written).
//! - **QoE events** (endpoint `usher_qoe` unless the Config Store names another): the core's
//!   CMCD events, exactly as the core wrote them, for the steering controller.
//!
//! Key decision: the access line is the core's [`usher_edge_core::access::AccessLine`], built
//! from the core's `LogFields`, the reason, the status and the adapter's own facts only. It
//! never sees the request's URI, query or headers, so it cannot carry a ticket, a session token
//! or a key. What is here is how lines reach an endpoint.
//!
//! Viceroy prints every endpoint's entries on its stdout as `endpoint :: line`, which is how a
//! local run shows both streams.

use std::io::Write;

/// Writes each line as one entry: one `write` per line, which Fastly's endpoints (and Viceroy's)
/// take as one log entry. A log endpoint that fails must not fail the request, so errors are
/// dropped.
pub(crate) fn write_lines<'l>(out: &mut impl Write, lines: impl IntoIterator<Item = &'l str>) {
    for line in lines {
        let _ = out.write_all(line.as_bytes());
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that records each `write` call separately, as a log endpoint sees them.
    #[derive(Default)]
    struct Entries(Vec<Vec<u8>>);

    impl Write for Entries {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_line_is_its_own_log_entry() {
        let mut out = Entries::default();
        write_lines(&mut out, [r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(out.0, [b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
    }
}
