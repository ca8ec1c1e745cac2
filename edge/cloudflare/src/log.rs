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
    /// The time the request arrived, Unix milliseconds.
    pub(crate) at_ms: u64,
    /// The core's facts.
    pub(crate) fields: &'a LogFields,
    /// The reason code sent.
    pub(crate) reason: Reason,
    /// The status sent.
    pub(crate) status: StatusCode,
    /// Where a playlist came from, for a playlist request.
    pub(crate) cache: Option<&'static str>,
    /// What went wrong, when something did.
    pub(crate) error: Option<&'a str>,
    /// Why the health snapshot was ignored, if it was.
    pub(crate) health_error: Option<&'a str>,
}

impl Access<'_> {
    /// The line.
    pub(crate) fn render(&self) -> String {
        let mut line = Map::new();
        line.insert("at".into(), json!(self.at_ms));
        line.insert("route".into(), json!(self.fields.route));
        line.insert("event".into(), json!(self.fields.event));
        line.insert("pathway".into(), json!(self.fields.pathway));
        line.insert("reason".into(), json!(self.reason.code()));
        line.insert("status".into(), json!(self.status.as_u16()));
        let optional = [
            ("cache", self.cache),
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

/// The line reporting a store write that failed after the response left.
pub(crate) fn store_error(at_ms: u64, error: &str) -> String {
    json!({ "at": at_ms, "store_error": error }).to_string()
}

#[cfg(target_arch = "wasm32")]
mod console {
    //! The writes.

    use super::{Access, store_error};

    impl Access<'_> {
        /// Writes the line.
        pub(crate) fn write(&self) {
            worker::console_log!("{}", self.render());
        }
    }

    /// Writes the core's QoE events, one per line.
    pub(crate) fn events(events: &[String]) {
        for event in events {
            worker::console_log!("{event}");
        }
    }

    /// Reports a store write that failed after the response left.
    pub(crate) fn write_store_error(at_ms: u64, error: &str) {
        worker::console_log!("{}", store_error(at_ms, error));
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) use console::{events, write_store_error};

#[cfg(test)]
mod tests {
    use usher_shared::token;

    use super::*;

    #[test]
    fn an_access_line_is_one_json_object_with_the_facts() {
        let fields = LogFields {
            route: "media",
            event: Some("final-2026".into()),
            pathway: Some("cdn-a".into()),
            cmcd_error: None,
            lease: Some("renewed"),
        };
        let access = Access {
            at_ms: 1_767_225_600_000,
            fields: &fields,
            reason: Reason::StaleOnOriginError,
            status: StatusCode::OK,
            cache: Some("stale"),
            error: Some("origin answered 503 Service Unavailable"),
            health_error: None,
        };
        let line = access.render();
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            json!({
                "at": 1_767_225_600_000_u64, "route": "media", "event": "final-2026",
                "pathway": "cdn-a", "reason": "stale_on_origin_error", "status": 200,
                "cache": "stale", "error": "origin answered 503 Service Unavailable",
                "lease": "renewed"
            })
        );
    }

    #[test]
    fn a_refusal_line_has_only_the_facts_it_knows() {
        let fields = LogFields::default();
        let line = Access {
            at_ms: 1,
            fields: &fields,
            reason: Reason::Token(
                usher_edge_core::reason::Layer::Ticket,
                token::Reason::Expired,
            ),
            status: StatusCode::GONE,
            cache: None,
            error: None,
            health_error: Some("USHER_HEALTH snapshot ignored: bad"),
        }
        .render();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            json!({
                "at": 1, "route": "", "event": null, "pathway": null,
                "reason": "ticket_expired", "status": 410,
                "health_error": "USHER_HEALTH snapshot ignored: bad"
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
            lease: None,
        };
        let finished = LogFields {
            route: "multivariant",
            event: None,
            pathway: Some("cdn-b".into()),
            cmcd_error: None,
            lease: Some("taken"),
        };
        let log = merged(decided.clone(), finished);
        assert_eq!(log.event.as_deref(), Some("final-2026"));
        assert_eq!(log.pathway.as_deref(), Some("cdn-b"));
        assert_eq!(log.cmcd_error.as_deref(), Some("bad CMCD"));
        assert_eq!(log.lease, Some("taken"));
        assert_eq!(merged(decided, LogFields::default()).route, "multivariant");
    }

    #[test]
    fn a_failed_store_write_is_its_own_line() {
        let value: Value =
            serde_json::from_str(&store_error(5, "USHER_LEASES: quota exceeded")).unwrap();
        assert_eq!(
            value,
            json!({"at": 5, "store_error": "USHER_LEASES: quota exceeded"})
        );
    }
}
