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
//! Key decision: the access line is built from [`LogFields`], the reason and the status only.
//! It never sees the request's URI, query or headers, so it cannot carry a ticket, a session
//! token or a key.

use http::StatusCode;
use serde_json::{Map, Value, json};
use usher_edge_core::decision::LogFields;
use usher_edge_core::reason::Reason;

/// One request's access line.
#[derive(Debug)]
pub(crate) struct Access<'a> {
    /// The time the request was decided at, Unix milliseconds.
    pub(crate) at_ms: u64,
    /// The core's facts.
    pub(crate) fields: &'a LogFields,
    /// The reason code sent.
    pub(crate) reason: Reason,
    /// The status sent.
    pub(crate) status: StatusCode,
    /// What went wrong, when something did.
    pub(crate) error: Option<&'a str>,
    /// Why the health snapshot was ignored, if it was.
    pub(crate) health_error: Option<&'a str>,
}

impl Access<'_> {
    /// The line, without its line break.
    pub(crate) fn render(&self) -> String {
        let mut line = Map::new();
        line.insert("at".into(), json!(self.at_ms));
        line.insert("route".into(), json!(self.fields.route));
        line.insert("event".into(), json!(self.fields.event));
        line.insert("pathway".into(), json!(self.fields.pathway));
        line.insert("reason".into(), json!(self.reason.code()));
        line.insert("status".into(), json!(self.status.as_u16()));
        let optional = [
            ("error", self.error),
            ("cmcd_error", self.fields.cmcd_error.as_deref()),
            ("lease", self.fields.lease),
            ("health_error", self.health_error),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                line.insert(name.into(), json!(value));
            }
        }
        Value::Object(line).to_string()
    }

    /// Writes the line to stderr.
    pub(crate) fn write(&self) {
        write_line(&mut std::io::stderr().lock(), &self.render());
    }
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
    use usher_shared::token;

    use super::*;

    #[test]
    fn an_access_line_is_one_json_object_with_the_facts() {
        let fields = LogFields {
            route: "multivariant",
            event: Some("final-2026".into()),
            pathway: Some("cdn-a".into()),
            cmcd_error: None,
            lease: None,
        };
        let access = Access {
            at_ms: 1_767_225_600_000,
            fields: &fields,
            reason: Reason::Token(
                usher_edge_core::reason::Layer::Ticket,
                token::Reason::Expired,
            ),
            status: StatusCode::GONE,
            error: None,
            health_error: Some("USHER_HEALTH ignored: bad"),
        };
        let line = access.render();
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            json!({
                "at": 1_767_225_600_000_u64, "route": "multivariant", "event": "final-2026",
                "pathway": "cdn-a", "reason": "ticket_expired", "status": 410,
                "health_error": "USHER_HEALTH ignored: bad"
            })
        );
    }

    #[test]
    fn lines_are_written_whole() {
        let mut out = Vec::new();
        write_line(&mut out, r#"{"a":1}"#);
        write_line(&mut out, r#"{"b":2}"#);
        assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
    }
}
