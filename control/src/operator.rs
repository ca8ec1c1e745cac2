//! What an operator may do during an event, and the audit log that says who did it and why.
//!
//! Three actions (`usher control drain|pin|clear`):
//!
//! * **drain** a CDN: no viewer stays on it; its viewers move at the next evaluation, whatever
//!   the migration budget (the health model's `drained` reason);
//! * **pin** one or more CDNs' weights: their targets are fixed, the others share the rest by
//!   score; viewers move toward the pin within the normal migration budget (`pinned`);
//! * **clear** a CDN's drain or pin, handing it back to the scores;
//! * an event's waiting room (`usher control admission open|pause|rate`): **open** it (resume a
//!   pause; before the doors, open them now), **pause** it (the frontier stops), or set its
//!   **rate** in viewers per minute (or back to the configured rate).
//!
//! Every command carries `who` and `why`; both are required, because the post-event report
//! must be able to explain every manual move. Every command, applied or refused, becomes one
//! [`AuditEntry`].
//!
//! What it does not do: authenticate. The runtime checks the operator's bearer token before a
//! command reaches this module; `who` is what the operator says, recorded as said.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest `who` or `why`, in bytes.
pub const MAX_TEXT: usize = 500;

/// An operator's action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Move every viewer off `cdn` and keep it empty.
    Drain {
        /// The CDN.
        cdn: String,
    },
    /// Fix the target weights of the listed CDNs (basis points).
    Pin {
        /// `(cdn, weight_bp)` pairs.
        weights: Vec<PinWeight>,
    },
    /// Remove `cdn`'s drain or pin.
    Clear {
        /// The CDN.
        cdn: String,
    },
    /// Resume `event`'s admission, or open its doors now.
    AdmissionOpen {
        /// The event.
        event: String,
    },
    /// Stop `event`'s frontier.
    AdmissionPause {
        /// The event.
        event: String,
    },
    /// Set `event`'s admission rate; `None` goes back to the configured rate.
    AdmissionRate {
        /// The event.
        event: String,
        /// Viewers per minute (above 0; pause instead of 0).
        rate_per_min: Option<u32>,
    },
}

/// One CDN's pinned weight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinWeight {
    /// The CDN.
    pub cdn: String,
    /// Its target weight, basis points.
    pub weight_bp: u16,
}

/// An action with its author and justification, as the API receives it:
/// `{"action": "drain", "cdn": "cdn-b", "who": "…", "why": "…"}` (or `"pin"` with `weights`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawCommand")]
pub struct Command {
    /// The action.
    pub action: Action,
    /// Who asked (a name or handle).
    pub who: String,
    /// Why (free text: "cdn-b packet loss in FR, ticket OPS-123").
    pub why: String,
}

/// The API's flat JSON form of a [`Command`] (serde cannot combine a flattened tagged enum
/// with `deny_unknown_fields`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    action: String,
    #[serde(default)]
    cdn: Option<String>,
    #[serde(default)]
    weights: Option<Vec<PinWeight>>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    rate_per_min: Option<u32>,
    who: String,
    why: String,
}

impl TryFrom<RawCommand> for Command {
    type Error = String;

    fn try_from(raw: RawCommand) -> Result<Self, String> {
        let cdn_only = raw.event.is_none() && raw.rate_per_min.is_none();
        let event_only = raw.cdn.is_none() && raw.weights.is_none();
        let action = match (raw.action.as_str(), raw.cdn, raw.weights, raw.event) {
            ("drain", Some(cdn), None, _) if cdn_only => Action::Drain { cdn },
            ("clear", Some(cdn), None, _) if cdn_only => Action::Clear { cdn },
            ("pin", None, Some(weights), _) if cdn_only => Action::Pin { weights },
            ("admission_open", _, _, Some(event)) if event_only && raw.rate_per_min.is_none() => {
                Action::AdmissionOpen { event }
            }
            ("admission_pause", _, _, Some(event)) if event_only && raw.rate_per_min.is_none() => {
                Action::AdmissionPause { event }
            }
            ("admission_rate", _, _, Some(event)) if event_only => Action::AdmissionRate {
                event,
                rate_per_min: raw.rate_per_min,
            },
            ("drain" | "clear", ..) => return Err(format!("{}: needs cdn only", raw.action)),
            ("pin", ..) => return Err("pin: needs weights only".into()),
            ("admission_open" | "admission_pause", ..) => {
                return Err(format!("{}: needs event only", raw.action));
            }
            ("admission_rate", ..) => {
                return Err("admission_rate: needs event and rate_per_min (or null) only".into());
            }
            (other, ..) => return Err(format!("unknown action {other:?}")),
        };
        Ok(Command {
            action,
            who: raw.who,
            why: raw.why,
        })
    }
}

/// Why a command was refused before it reached the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// `who` or `why` is empty, too long, or holds control characters.
    Attribution(&'static str),
    /// The action names no CDN or event, or pins nothing.
    Empty,
    /// An admission rate of 0 (pause instead).
    ZeroRate,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Attribution(field) => write!(
                f,
                "{field}: required, at most {MAX_TEXT} bytes, no control characters"
            ),
            CommandError::Empty => f.write_str("the action names no CDN or event"),
            CommandError::ZeroRate => {
                f.write_str("an admission rate is above 0 (pause admission instead)")
            }
        }
    }
}

impl std::error::Error for CommandError {}

impl Command {
    /// Checks the attribution and the shape of the action.
    pub fn check(&self) -> Result<(), CommandError> {
        for (field, text) in [("who", &self.who), ("why", &self.why)] {
            let bad = text.trim().is_empty()
                || text.len() > MAX_TEXT
                || text.chars().any(char::is_control);
            if bad {
                return Err(CommandError::Attribution(field));
            }
        }
        let empty = match &self.action {
            Action::Drain { cdn } | Action::Clear { cdn } => cdn.is_empty(),
            Action::Pin { weights } => weights.is_empty(),
            Action::AdmissionOpen { event }
            | Action::AdmissionPause { event }
            | Action::AdmissionRate { event, .. } => event.is_empty(),
        };
        if empty {
            return Err(CommandError::Empty);
        }
        if let Action::AdmissionRate {
            rate_per_min: Some(0),
            ..
        } = self.action
        {
            return Err(CommandError::ZeroRate);
        }
        Ok(())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Drain { cdn } => write!(f, "drain {cdn}"),
            Action::Clear { cdn } => write!(f, "clear {cdn}"),
            Action::Pin { weights } => {
                f.write_str("pin")?;
                for w in weights {
                    write!(f, " {}={}", w.cdn, w.weight_bp)?;
                }
                Ok(())
            }
            Action::AdmissionOpen { event } => write!(f, "admission open {event}"),
            Action::AdmissionPause { event } => write!(f, "admission pause {event}"),
            Action::AdmissionRate {
                event,
                rate_per_min: Some(rate),
            } => write!(f, "admission rate {event} {rate}"),
            Action::AdmissionRate {
                event,
                rate_per_min: None,
            } => write!(f, "admission rate {event} configured"),
        }
    }
}

/// One line of `audit.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it was received (Unix ms).
    pub at_ms: u64,
    /// Who asked.
    pub who: String,
    /// Why.
    pub why: String,
    /// What, as the command line spells it (`drain cdn-b`).
    pub action: String,
    /// `applied`, or `refused: <reason>`.
    pub outcome: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_command_reads_from_the_apis_json() {
        let c: Command = serde_json::from_str(
            r#"{"action":"pin","weights":[{"cdn":"a","weight_bp":7000}],"who":"ana","why":"test"}"#,
        )
        .unwrap();
        assert_eq!(c.action.to_string(), "pin a=7000");
        c.check().unwrap();
    }

    #[test]
    fn a_command_without_who_or_why_is_refused() {
        let mut c = Command {
            action: Action::Drain { cdn: "a".into() },
            who: "ana".into(),
            why: " ".into(),
        };
        assert_eq!(c.check(), Err(CommandError::Attribution("why")));
        c.why = "ok".into();
        c.who = "a\nb".into();
        assert_eq!(c.check(), Err(CommandError::Attribution("who")));
        let unknown = serde_json::from_str::<Command>(
            r#"{"action":"drain","cdn":"a","who":"x","why":"y","force":true}"#,
        );
        assert!(unknown.is_err());
    }

    #[test]
    fn admission_commands_read_from_the_apis_json() {
        let read = |json: &str| serde_json::from_str::<Command>(json).map(|c| c.action.to_string());
        assert_eq!(
            read(r#"{"action":"admission_pause","event":"final","who":"a","why":"b"}"#).unwrap(),
            "admission pause final"
        );
        assert_eq!(
            read(r#"{"action":"admission_open","event":"final","who":"a","why":"b"}"#).unwrap(),
            "admission open final"
        );
        assert_eq!(
            read(r#"{"action":"admission_rate","event":"final","rate_per_min":900,"who":"a","why":"b"}"#)
                .unwrap(),
            "admission rate final 900"
        );
        assert_eq!(
            read(r#"{"action":"admission_rate","event":"final","rate_per_min":null,"who":"a","why":"b"}"#)
                .unwrap(),
            "admission rate final configured"
        );
        assert!(read(r#"{"action":"admission_pause","cdn":"a","who":"a","why":"b"}"#).is_err());
        assert!(read(r#"{"action":"drain","cdn":"a","event":"e","who":"a","why":"b"}"#).is_err());
        let zero = Command {
            action: Action::AdmissionRate {
                event: "final".into(),
                rate_per_min: Some(0),
            },
            who: "a".into(),
            why: "b".into(),
        };
        assert_eq!(zero.check(), Err(CommandError::ZeroRate));
    }
}
