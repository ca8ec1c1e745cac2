//! The access log line every adapter writes, one JSON object per request, and the line that
//! reports a store write that failed after the response left.
//!
//! The core builds the lines; the adapter writes them where its platform keeps logs (stderr, a
//! Fastly log endpoint, `console.log`), one line per log entry.
//!
//! The access line has `at` (Unix ms), `route`, `event`, `pathway`, `reason`, `status`, and
//! when the adapter has them, `duration_us`, `cache`, `error`, `cmcd_error`, `lease`,
//! `health_error` and `store_error`. `event` and `pathway` are always present (`null`
//! when unknown); the others only when there is something to say.
//!
//! Key decision: the line is built from [`LogFields`], the reason, the status and the
//! adapter's own facts only. It never sees the request's URI, query or headers, so it cannot
//! carry a ticket, a session token or a key.

use serde_json::{Map, Value, json};

use crate::decision::LogFields;
use crate::reason::Reason;

/// One request's access line.
#[derive(Clone, Copy, Debug)]
pub struct AccessLine<'a> {
    /// When the request arrived (or was decided), Unix milliseconds.
    pub at_ms: u64,
    /// The core's facts.
    pub fields: &'a LogFields,
    /// The reason code sent.
    pub reason: Reason,
    /// The status sent.
    pub status: u16,
    /// Microseconds from the request's arrival until its response was handed over, where the
    /// platform measures it.
    pub duration_us: Option<u64>,
    /// How the playlist cache answered (`hit`, `miss`, `held`, `stale`, `bypass`), for a
    /// playlist request.
    pub cache: Option<&'a str>,
    /// What went wrong, when something did: the configuration error, the origin's failure.
    pub error: Option<&'a str>,
    /// Why the health snapshot was ignored, if it was: a `config::HealthError` as text, so
    /// starting with its code (`no_health_keys`, `unsigned`, `bad_signature`, ...), or
    /// `unreadable: …` when the adapter's store failed.
    pub health_error: Option<&'a str>,
    /// Why a lease record could not be read or written, if it could not.
    pub store_error: Option<&'a str>,
}

impl<'a> AccessLine<'a> {
    /// The line of a request answered with `reason` and `status`, with none of the optional
    /// facts; set those the adapter has.
    pub fn new(at_ms: u64, fields: &'a LogFields, reason: Reason, status: u16) -> Self {
        AccessLine {
            at_ms,
            fields,
            reason,
            status,
            duration_us: None,
            cache: None,
            error: None,
            health_error: None,
            store_error: None,
        }
    }

    /// The line, as one JSON object without a line break.
    pub fn render(&self) -> String {
        let mut line = Map::new();
        line.insert("at".into(), json!(self.at_ms));
        line.insert("route".into(), json!(self.fields.route));
        line.insert("event".into(), json!(self.fields.event));
        line.insert("pathway".into(), json!(self.fields.pathway));
        line.insert("reason".into(), json!(self.reason.code()));
        line.insert("status".into(), json!(self.status));
        if let Some(duration_us) = self.duration_us {
            line.insert("duration_us".into(), json!(duration_us));
        }
        let optional = [
            ("cache", self.cache),
            ("error", self.error),
            ("cmcd_error", self.fields.cmcd_error.as_deref()),
            ("lease", self.fields.lease),
            ("health_error", self.health_error),
            ("store_error", self.store_error),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                line.insert(name.into(), json!(value));
            }
        }
        Value::Object(line).to_string()
    }
}

/// The line reporting a store write that failed after the response left, at `at_ms` (Unix
/// milliseconds).
pub fn store_error_line(at_ms: u64, error: &str) -> String {
    json!({ "at": at_ms, "store_error": error }).to_string()
}

#[cfg(test)]
mod tests {
    use usher_shared::token;

    use super::*;
    use crate::reason::Layer;

    #[test]
    fn an_access_line_is_one_json_object_with_every_fact_given() {
        let fields = LogFields {
            route: "media",
            event: Some("final-2026".into()),
            pathway: Some("cdn-a".into()),
            cmcd_error: Some("bad CMCD".into()),
            lease: Some("renewed"),
        };
        let line = AccessLine {
            at_ms: 1_767_225_600_000,
            fields: &fields,
            reason: Reason::StaleOnOriginError,
            status: 200,
            duration_us: Some(3),
            cache: Some("stale"),
            error: Some("origin answered 503 Service Unavailable"),
            health_error: Some("USHER_HEALTH ignored: bad"),
            store_error: Some("writing the lease record: timeout"),
        }
        .render();
        // The exact bytes: keys in the order serde_json's map keeps them (sorted), so every
        // adapter's line is the same for the same facts.
        assert_eq!(
            line,
            concat!(
                r#"{"at":1767225600000,"cache":"stale","cmcd_error":"bad CMCD","#,
                r#""duration_us":3,"error":"origin answered 503 Service Unavailable","#,
                r#""event":"final-2026","health_error":"USHER_HEALTH ignored: bad","#,
                r#""lease":"renewed","pathway":"cdn-a","reason":"stale_on_origin_error","#,
                r#""route":"media","status":200,"#,
                r#""store_error":"writing the lease record: timeout"}"#
            )
        );
    }

    #[test]
    fn a_refusal_line_has_only_the_facts_it_knows() {
        let fields = LogFields::default();
        let refusal = AccessLine::new(
            1,
            &fields,
            Reason::Token(Layer::Ticket, token::Reason::Expired),
            410,
        );
        assert_eq!(
            refusal.render(),
            r#"{"at":1,"event":null,"pathway":null,"reason":"ticket_expired","route":"","status":410}"#
        );
    }

    #[test]
    fn a_failed_store_write_is_its_own_line() {
        assert_eq!(
            store_error_line(5, "USHER_LEASES: quota exceeded"),
            r#"{"at":5,"store_error":"USHER_LEASES: quota exceeded"}"#
        );
    }
}
