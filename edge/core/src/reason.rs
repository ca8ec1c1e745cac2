//! Why the edge answered as it did: one code per outcome, mapped to the wire in one table.
//!
//! Every response the edge makes carries its code in the `x-usher-reason` header, and every
//! log line carries it too. Codes are stable snake_case strings: scripts, dashboards, the player
//! page and the conformance suite depend on them, so they are only ever added, never renamed.
//! Token refusals are prefixed with the layer that refused them (`ticket_expired`,
//! `session_out_of_scope`), because the viewer's remedy differs: a ticket problem needs the
//! ticketing system, a session problem only a reload of the page.

use std::fmt;

use http::StatusCode;
use usher_shared::token;

use crate::admission::PassError;

/// The response header carrying the reason code.
pub const REASON_HEADER: &str = "x-usher-reason";

/// Which token a token refusal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The viewer's ticket (JWT from the ticketing system).
    Ticket,
    /// The session token the edge minted (EdgeAuth).
    Session,
}

/// The outcome of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Served as asked.
    Ok,
    /// Served from a cached copy that had gone stale, because the origin failed.
    StaleOnOriginError,
    /// `If-None-Match` matched: 304.
    NotModified,
    /// A request that needs a ticket came without one.
    NoTicket,
    /// A request that needs a session token came without one.
    NoSession,
    /// A token was refused; the token layer says why.
    Token(Layer, token::Reason),
    /// The path names no configured event.
    UnknownEvent,
    /// The path is well-formed but nothing is served there.
    NotFound,
    /// A content key the event does not use, or a key route on an event without encryption.
    UnknownKey,
    /// The path is malformed: dot segments, encoded separators, control bytes, too long.
    BadPath,
    /// A method other than GET or HEAD (or POST on the beacon endpoint).
    MethodNotAllowed,
    /// A malformed query or beacon body.
    BadRequest,
    /// The ticket's `max_streams` screens are already playing.
    TooManyStreams,
    /// The origin answered with an error status.
    OriginError,
    /// The origin did not answer in time.
    OriginTimeout,
    /// The origin's playlist body is not a playlist.
    NotAPlaylist,
    /// The origin's playlist is larger than `playlist.max_bytes`.
    PlaylistTooLarge,
    /// The configuration is missing or invalid; the edge cannot serve.
    ConfigError,
    /// The event admits in phases and this viewer is not admitted yet: the waiting room.
    Queued,
    /// A waiting-room queue cookie was refused; the viewer queues again.
    Queue(PassError),
    /// An admission cookie was refused.
    Admission(PassError),
}

impl Reason {
    /// The stable reason code.
    pub fn code(self) -> &'static str {
        use token::Reason as T;
        match self {
            Reason::Ok => "ok",
            Reason::StaleOnOriginError => "stale_on_origin_error",
            Reason::NotModified => "not_modified",
            Reason::NoTicket => "no_ticket",
            Reason::NoSession => "no_session",
            Reason::Token(layer, reason) => match (layer, reason) {
                (Layer::Ticket, T::Malformed) => "ticket_malformed",
                (Layer::Ticket, T::AlgNotAllowed) => "ticket_alg_not_allowed",
                (Layer::Ticket, T::MissingKid) => "ticket_missing_kid",
                (Layer::Ticket, T::UnknownKid) => "ticket_unknown_kid",
                (Layer::Ticket, T::BadSignature) => "ticket_bad_signature",
                (Layer::Ticket, T::Expired) => "ticket_expired",
                (Layer::Ticket, T::NotYetValid) => "ticket_not_yet_valid",
                (Layer::Ticket, T::BadAudience) => "ticket_bad_audience",
                (Layer::Ticket, T::BadIssuer) => "ticket_bad_issuer",
                (Layer::Ticket, T::MissingClaim) => "ticket_missing_claim",
                (Layer::Ticket, T::WrongEvent) => "ticket_wrong_event",
                (Layer::Ticket, T::OutOfScope) => "ticket_out_of_scope",
                (Layer::Ticket, T::IpMismatch) => "ticket_ip_mismatch",
                (Layer::Session, T::Malformed) => "session_malformed",
                (Layer::Session, T::AlgNotAllowed) => "session_alg_not_allowed",
                (Layer::Session, T::MissingKid) => "session_missing_kid",
                (Layer::Session, T::UnknownKid) => "session_unknown_kid",
                (Layer::Session, T::BadSignature) => "session_bad_signature",
                (Layer::Session, T::Expired) => "session_expired",
                (Layer::Session, T::NotYetValid) => "session_not_yet_valid",
                (Layer::Session, T::BadAudience) => "session_bad_audience",
                (Layer::Session, T::BadIssuer) => "session_bad_issuer",
                (Layer::Session, T::MissingClaim) => "session_missing_claim",
                (Layer::Session, T::WrongEvent) => "session_wrong_event",
                (Layer::Session, T::OutOfScope) => "session_out_of_scope",
                (Layer::Session, T::IpMismatch) => "session_ip_mismatch",
            },
            Reason::UnknownEvent => "unknown_event",
            Reason::NotFound => "not_found",
            Reason::UnknownKey => "unknown_key",
            Reason::BadPath => "bad_path",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::BadRequest => "bad_request",
            Reason::TooManyStreams => "too_many_streams",
            Reason::OriginError => "origin_error",
            Reason::OriginTimeout => "origin_timeout",
            Reason::NotAPlaylist => "not_a_playlist",
            Reason::PlaylistTooLarge => "playlist_too_large",
            Reason::ConfigError => "config_error",
            Reason::Queued => "queued",
            Reason::Queue(e) => match e {
                PassError::Malformed => "queue_malformed",
                PassError::BadSignature => "queue_bad_signature",
                PassError::WrongEvent => "queue_wrong_event",
                PassError::OtherViewer => "queue_other_viewer",
                PassError::FromTheFuture => "queue_clock_skew",
                PassError::Expired => "queue_expired",
            },
            Reason::Admission(e) => match e {
                PassError::Malformed => "admission_malformed",
                PassError::BadSignature => "admission_bad_signature",
                PassError::WrongEvent => "admission_wrong_event",
                PassError::OtherViewer => "admission_other_viewer",
                PassError::FromTheFuture => "admission_clock_skew",
                PassError::Expired => "admission_expired",
            },
        }
    }

    /// The status a response with this reason gets. The one place reasons meet the wire.
    ///
    /// Token refusals follow Fastly's and nginx's token checks: 410 Gone when a fresh token
    /// would fix it (expired, not yet valid), 403 otherwise; a missing credential is 401.
    pub fn status(self) -> StatusCode {
        match self {
            Reason::Ok | Reason::StaleOnOriginError => StatusCode::OK,
            Reason::NotModified => StatusCode::NOT_MODIFIED,
            Reason::NoTicket | Reason::NoSession => StatusCode::UNAUTHORIZED,
            Reason::Token(_, reason) if reason.is_timing() => StatusCode::GONE,
            Reason::Token(..) => StatusCode::FORBIDDEN,
            Reason::UnknownEvent | Reason::NotFound | Reason::UnknownKey => StatusCode::NOT_FOUND,
            Reason::BadPath | Reason::BadRequest => StatusCode::BAD_REQUEST,
            Reason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Reason::TooManyStreams => StatusCode::TOO_MANY_REQUESTS,
            Reason::OriginError | Reason::NotAPlaylist | Reason::PlaylistTooLarge => {
                StatusCode::BAD_GATEWAY
            }
            Reason::OriginTimeout => StatusCode::GATEWAY_TIMEOUT,
            Reason::ConfigError => StatusCode::SERVICE_UNAVAILABLE,
            // Not an error of the viewer's: "later", with `Retry-After` (RFC 6585 §4). hls.js
            // does not retry a 4xx, so the page learns at once to go to the waiting room.
            Reason::Queued => StatusCode::TOO_MANY_REQUESTS,
            Reason::Queue(_) => StatusCode::BAD_REQUEST,
            Reason::Admission(PassError::Expired) => StatusCode::GONE,
            Reason::Admission(_) => StatusCode::FORBIDDEN,
        }
    }

    /// A one-line explanation for people: the body of an error response. Never more specific
    /// than the code, and never contains a token or a key.
    pub fn message(self) -> &'static str {
        match self {
            Reason::Ok | Reason::StaleOnOriginError | Reason::NotModified => "ok",
            Reason::NoTicket => "a ticket is required to watch this event",
            Reason::NoSession => "this address needs a session token; reload the player",
            Reason::Token(Layer::Ticket, token::Reason::Expired) => "your ticket has expired",
            Reason::Token(Layer::Ticket, token::Reason::NotYetValid) => {
                "your ticket is not valid yet"
            }
            Reason::Token(Layer::Ticket, token::Reason::WrongEvent | token::Reason::OutOfScope) => {
                "your ticket is for another event"
            }
            Reason::Token(Layer::Ticket, _) => "your ticket is not valid",
            Reason::Token(Layer::Session, token::Reason::Expired) => {
                "this session has expired; reload the player"
            }
            Reason::Token(Layer::Session, _) => "this address is not valid for your session",
            Reason::UnknownEvent => "no such event",
            Reason::NotFound => "not found",
            Reason::UnknownKey => "no such key for this event",
            Reason::BadPath => "malformed path",
            Reason::MethodNotAllowed => "method not allowed",
            Reason::BadRequest => "malformed request",
            Reason::TooManyStreams => {
                "this ticket is already playing on its maximum number of screens"
            }
            Reason::OriginError => "the origin failed",
            Reason::OriginTimeout => "the origin did not answer in time",
            Reason::NotAPlaylist => "the origin sent something that is not a playlist",
            Reason::PlaylistTooLarge => "the origin's playlist is too large",
            Reason::ConfigError => "the edge is not configured",
            Reason::Queued => "you are in the queue: the waiting room lets you in",
            Reason::Queue(_) => "your place in the queue is not valid; you queue again",
            Reason::Admission(PassError::Expired) => "your admission has expired; you queue again",
            Reason::Admission(_) => "your admission is not valid",
        }
    }

    /// Whether the client is at fault (4xx), as opposed to the origin or the edge (5xx).
    pub fn is_client_error(self) -> bool {
        self.status().is_client_error()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Reason> {
        let mut all = vec![
            Reason::Ok,
            Reason::StaleOnOriginError,
            Reason::NotModified,
            Reason::NoTicket,
            Reason::NoSession,
            Reason::UnknownEvent,
            Reason::NotFound,
            Reason::UnknownKey,
            Reason::BadPath,
            Reason::MethodNotAllowed,
            Reason::BadRequest,
            Reason::TooManyStreams,
            Reason::OriginError,
            Reason::OriginTimeout,
            Reason::NotAPlaylist,
            Reason::PlaylistTooLarge,
            Reason::ConfigError,
            Reason::Queued,
        ];
        for e in [
            PassError::Malformed,
            PassError::BadSignature,
            PassError::WrongEvent,
            PassError::OtherViewer,
            PassError::FromTheFuture,
            PassError::Expired,
        ] {
            all.push(Reason::Queue(e));
            all.push(Reason::Admission(e));
            assert!(Reason::Queue(e).code().ends_with(e.code()));
            assert!(Reason::Admission(e).code().ends_with(e.code()));
        }
        for layer in [Layer::Ticket, Layer::Session] {
            all.extend(token::Reason::ALL.iter().map(|r| Reason::Token(layer, *r)));
        }
        all
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let all = all();
        let mut codes: Vec<_> = all.iter().map(|r| r.code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn token_code_suffix_is_the_token_layers_code() {
        for r in token::Reason::ALL {
            assert_eq!(
                Reason::Token(Layer::Ticket, r).code(),
                format!("ticket_{}", r.code())
            );
            assert_eq!(
                Reason::Token(Layer::Session, r).code(),
                format!("session_{}", r.code())
            );
        }
    }

    #[test]
    fn statuses_follow_the_documented_table() {
        use token::Reason as T;
        assert_eq!(Reason::NoTicket.status(), 401);
        assert_eq!(Reason::Token(Layer::Session, T::Expired).status(), 410);
        assert_eq!(Reason::Token(Layer::Ticket, T::BadSignature).status(), 403);
        assert_eq!(Reason::TooManyStreams.status(), 429);
        assert_eq!(Reason::OriginTimeout.status(), 504);
        assert_eq!(Reason::NotAPlaylist.status(), 502);
        assert!(all().iter().all(|r| r.status().is_success()
            || r.status() == StatusCode::NOT_MODIFIED
            || r.is_client_error()
            || r.status().is_server_error()));
    }
}
