//! What an operator may do during an event, and the audit log that says who did it and why.
//!
//! Three actions (`usher control drain|pin|clear`):
//!
//! * **drain** a CDN: no viewer stays on it; its viewers move at the next evaluation, whatever
//!   the migration budget (the health model's `drained` reason);
//! * **pin** one or more CDNs' weights: their targets are fixed, the others share the rest by
//!   score; viewers move toward the pin within the normal migration budget (`pinned`);
//! * **clear** a CDN's drain or pin, handing it back to the scores.
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
    who: String,
    why: String,
}

impl TryFrom<RawCommand> for Command {
    type Error = String;

    fn try_from(raw: RawCommand) -> Result<Self, String> {
        let action = match (raw.action.as_str(), raw.cdn, raw.weights) {
            ("drain", Some(cdn), None) => Action::Drain { cdn },
            ("clear", Some(cdn), None) => Action::Clear { cdn },
            ("pin", None, Some(weights)) => Action::Pin { weights },
            ("drain" | "clear", _, _) => return Err(format!("{}: needs cdn only", raw.action)),
            ("pin", _, _) => return Err("pin: needs weights only".into()),
            (other, _, _) => return Err(format!("unknown action {other:?}")),
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
    /// The action names no CDN or pins nothing.
    Empty,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Attribution(field) => write!(
                f,
                "{field}: required, at most {MAX_TEXT} bytes, no control characters"
            ),
            CommandError::Empty => f.write_str("the action names no CDN"),
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
        };
        if empty {
            return Err(CommandError::Empty);
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
}
