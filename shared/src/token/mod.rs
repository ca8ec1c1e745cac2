//! Ticket and session tokens: the two layers of Usher's access control.
//!
//! * A **ticket** ([`jwt`]) is a JWT signed with HS256 (RFC 7519, RFC 7515) by the ticketing
//!   system. It is long-lived (the whole event), says which event and which paths it opens, and
//!   is presented only to open a viewing session: on the player page and the multivariant
//!   playlist.
//! * A **session token** ([`edgeauth`]) is an Akamai EdgeAuth Token 2.0 compatible token that
//!   the edge mints for each viewer session and appends to every playlist and segment URI it
//!   writes. It is short-lived and cheap to check on the hot segment path (no base64, no JSON),
//!   and a CDN that speaks EdgeAuth can check the same URLs without Usher.
//!
//! What this module does not do: decide *where* a token comes from (query, header, cookie) or
//! what response a rejection gets. Both are the edge's business; this module answers valid or
//! not, and if not, exactly why, as a [`Reason`] with a stable code.
//!
//! Secrets live in [`SecretKey`] and [`Keyring`], which are keyed once when loaded, compare MACs
//! in constant time, and never print their bytes. See `docs/token-format.md` for the normative
//! wire formats.

mod base64url;
mod claims;
pub mod edgeauth;
pub mod glob;
mod json;
pub mod jwt;
mod key;

use core::fmt;

pub(crate) use key::decode_hex;
pub use key::{Algorithm, Keyring, SecretKey};

/// Why a token was refused.
///
/// Each variant has a stable snake_case [`code`](Reason::code) that the edge puts in its
/// `x-usher-reason` header and its logs, that the CLI prints, and that tests assert. Codes are a
/// contract: they are never renamed, only added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The token is not in the format at all: wrong number of parts, bad base64 or JSON, an
    /// unknown or repeated EdgeAuth field, a claim of the wrong type.
    Malformed,
    /// A JWT whose `alg` is anything but `HS256` (`none`, `RS256`, `ES256`, ...).
    AlgNotAllowed,
    /// A JWT without a `kid` header, so no key can be chosen.
    MissingKid,
    /// A JWT whose `kid` is not in the keyring (never issued, or rotated out).
    UnknownKid,
    /// The MAC does not match: a wrong key, or any byte of the token changed.
    BadSignature,
    /// The token's expiry (`exp`) has passed, leeway included.
    Expired,
    /// The token's start (`nbf`, `iat` or EdgeAuth `st`) is still in the future, leeway included.
    NotYetValid,
    /// The JWT's `aud` does not name the configured audience (or names one when none is
    /// configured, as RFC 7519 §4.1.3 requires).
    BadAudience,
    /// The JWT's `iss` is not the configured issuer.
    BadIssuer,
    /// A claim the ticket must carry is absent (`exp`, `ev`, `scope`, or `iss` when an issuer
    /// is configured).
    MissingClaim,
    /// The ticket is valid but for another event than the one requested.
    WrongEvent,
    /// The requested path is outside the ticket's `scope` or the session token's `acl`.
    OutOfScope,
    /// An EdgeAuth token bound to an IP address was presented from another address.
    IpMismatch,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 13] = [
        Reason::Malformed,
        Reason::AlgNotAllowed,
        Reason::MissingKid,
        Reason::UnknownKid,
        Reason::BadSignature,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::BadAudience,
        Reason::BadIssuer,
        Reason::MissingClaim,
        Reason::WrongEvent,
        Reason::OutOfScope,
        Reason::IpMismatch,
    ];

    /// The stable reason code, e.g. `expired`.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::MissingKid => "missing_kid",
            Reason::UnknownKid => "unknown_kid",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::BadAudience => "bad_audience",
            Reason::BadIssuer => "bad_issuer",
            Reason::MissingClaim => "missing_claim",
            Reason::WrongEvent => "wrong_event",
            Reason::OutOfScope => "out_of_scope",
            Reason::IpMismatch => "ip_mismatch",
        }
    }

    /// Whether the viewer could fix this by fetching a fresh token (as opposed to holding the
    /// wrong token altogether). The edge answers 410 Gone for these, 403 for the rest, as
    /// Fastly's and nginx's token checks do.
    pub fn is_timing(self) -> bool {
        matches!(self, Reason::Expired | Reason::NotYetValid)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Reason::Malformed => "token is malformed",
            Reason::AlgNotAllowed => "token algorithm is not allowed",
            Reason::MissingKid => "token has no key id",
            Reason::UnknownKid => "token key id is unknown",
            Reason::BadSignature => "token signature does not match",
            Reason::Expired => "token has expired",
            Reason::NotYetValid => "token is not valid yet",
            Reason::BadAudience => "token audience does not match",
            Reason::BadIssuer => "token issuer does not match",
            Reason::MissingClaim => "token lacks a required claim",
            Reason::WrongEvent => "token is for another event",
            Reason::OutOfScope => "path is outside the token's scope",
            Reason::IpMismatch => "token is bound to another address",
        };
        f.write_str(text)
    }
}

impl core::error::Error for Reason {}

/// A token key or token option that cannot be used. These are operator mistakes, found when
/// configuration is loaded, never per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A key given as hex has an odd number of digits or a non-hex digit.
    KeyNotHex,
    /// A key is empty.
    EmptyKey,
    /// A keyring entry has an empty key id.
    EmptyKeyId,
    /// A key id to sign with is not in the keyring.
    UnknownKeyId,
    /// A keyring document is not a JSON object of strings.
    KeyringNotJson,
    /// A keyring document holds no key.
    EmptyKeyring,
    /// An algorithm name other than `sha256`, `sha1` or `md5`.
    UnknownAlgorithm,
    /// A field or ACL delimiter that is not a single printable ASCII character, or two
    /// delimiters that are the same.
    BadDelimiter,
    /// A value to mint would corrupt the token: it contains a delimiter, `=` in a field that
    /// must not hold one, or is empty where a value is required.
    BadValue,
    /// A token would expire before (or when) it starts.
    EndBeforeStart,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ConfigError::KeyNotHex => "key is not an even number of hex digits",
            ConfigError::EmptyKey => "key is empty",
            ConfigError::EmptyKeyId => "keyring has an empty key id",
            ConfigError::UnknownKeyId => "key id is not in the keyring",
            ConfigError::KeyringNotJson => {
                "keyring is not a JSON object mapping key ids to hex secrets"
            }
            ConfigError::EmptyKeyring => "keyring holds no key",
            ConfigError::UnknownAlgorithm => "algorithm is not one of sha256, sha1, md5",
            ConfigError::BadDelimiter => {
                "delimiters must be distinct single printable ASCII characters"
            }
            ConfigError::BadValue => {
                "value is empty or contains a delimiter and escape_early is off"
            }
            ConfigError::EndBeforeStart => "token would expire before it starts",
        };
        f.write_str(text)
    }
}

impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn reason_codes_are_unique_snake_case() {
        let codes: alloc::vec::Vec<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        for (i, code) in codes.iter().enumerate() {
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(!codes[i + 1..].contains(code), "{code} repeated");
        }
    }
}
