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
//! Key decision: the access line is built from the core's `LogFields`, the reason, the status
//! and the adapter's own facts only. It never sees the request's URI, query or headers, so it
//! cannot carry a ticket, a session token or a key.
//!
//! Viceroy prints every endpoint's entries on its stdout as `endpoint :: line`, which is how a
//! local run shows both streams.

use std::io::Write;

use serde_json::{Map, Value, json};
use usher_edge_core::decision::LogFields;
use usher_edge_core::reason::Reason;

/// One request's access line.
#[derive(Debug, Default)]
pub(crate) struct Access<'a> {
    /// When the request arrived, Unix milliseconds.
    pub(crate) at_ms: u64,
    /// The core's facts.
    pub(crate) fields: LogFields,
    /// The reason code sent.
    pub(crate) reason: Option<Reason>,
    /// The status sent.
    pub(crate) status: u16,
    /// Microseconds from arrival to the response's hand-over.
    pub(crate) duration_us: u64,
    /// How the playlist cache answered, for playlist requests.
    pub(crate) cache: Option<&'static str>,
    /// What went wrong, when something did.
    pub(crate) error: Option<String>,
    /// Why the health snapshot was ignored, if it was.
    pub(crate) health_error: Option<&'a str>,
    /// Why a lease record could not be written, if it could not.
    pub(crate) store_error: Option<String>,
}

impl Access<'_> {
    /// The line, without a line break.
    pub(crate) fn render(&self) -> String {
        let mut line = Map::new();
        line.insert("at".into(), json!(self.at_ms));
        line.insert("route".into(), json!(self.fields.route));
        line.insert("event".into(), json!(self.fields.event));
        line.insert("pathway".into(), json!(self.fields.pathway));
        line.insert("reason".into(), json!(self.reason.map(Reason::code)));
        line.insert("status".into(), json!(self.status));
        line.insert("duration_us".into(), json!(self.duration_us));
        let optional = [
            ("cache", self.cache),
            ("lease", self.fields.lease),
            ("error", self.error.as_deref()),
            ("cmcd_error", self.fields.cmcd_error.as_deref()),
            ("health_error", self.health_error),
            ("store_error", self.store_error.as_deref()),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                line.insert(name.into(), json!(value));
            }
        }
        Value::Object(line).to_string()
    }
}

/// `finish` and `beacon` know only part of the request's facts: what they know wins, the rest
/// comes from `decide`.
pub(crate) fn merged(decided: LogFields, then: LogFields) -> LogFields {
    LogFields {
        route: if then.route.is_empty() {
            decided.route
        } else {
            then.route
        },
        event: then.event.or(decided.event),
        pathway: then.pathway.or(decided.pathway),
        cmcd_error: then.cmcd_error.or(decided.cmcd_error),
        lease: then.lease.or(decided.lease),
    }
}

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
    use usher_edge_core::reason::Layer;
    use usher_shared::token;

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
    fn an_access_line_is_one_json_object_with_the_facts() {
        let access = Access {
            at_ms: 1_767_225_600_000,
            fields: LogFields {
                route: "multivariant",
                event: Some("final-2026".into()),
                pathway: Some("cdn-a".into()),
                cmcd_error: None,
                lease: Some("taken"),
            },
            reason: Some(Reason::Token(Layer::Ticket, token::Reason::Expired)),
            status: 410,
            duration_us: 3,
            cache: Some("hit"),
            error: None,
            health_error: Some("usher_health/snapshot ignored: bad"),
            store_error: None,
        };
        let line = access.render();
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            json!({
                "at": 1_767_225_600_000_u64, "route": "multivariant", "event": "final-2026",
                "pathway": "cdn-a", "reason": "ticket_expired", "status": 410, "duration_us": 3,
                "cache": "hit", "lease": "taken",
                "health_error": "usher_health/snapshot ignored: bad"
            })
        );
    }

    #[test]
    fn later_facts_win_and_earlier_ones_fill_gaps() {
        let decided = LogFields {
            route: "multivariant",
            event: Some("final-2026".into()),
            pathway: Some("cdn-a".into()),
            cmcd_error: Some("bad CMCD".into()),
            lease: Some("taken"),
        };
        let finished = LogFields {
            route: "multivariant",
            event: None,
            pathway: Some("cdn-b".into()),
            cmcd_error: None,
            lease: None,
        };
        let log = merged(decided.clone(), finished);
        assert_eq!(log.event.as_deref(), Some("final-2026"));
        assert_eq!(log.pathway.as_deref(), Some("cdn-b"));
        assert_eq!(log.cmcd_error.as_deref(), Some("bad CMCD"));
        assert_eq!(log.lease, Some("taken"));
        assert_eq!(merged(decided, LogFields::default()).route, "multivariant");
    }

    #[test]
    fn each_line_is_its_own_log_entry() {
        let mut out = Entries::default();
        write_lines(&mut out, [r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(out.0, [b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
    }
}
