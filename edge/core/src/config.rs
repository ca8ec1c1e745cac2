//! The edge's configuration: what each platform's stores hold, parsed and checked once.
//!
//! An edge reads five documents, a sixth when an event is encrypted and a seventh when it is
//! steered by the controller's health snapshot, each from the store its platform provides for it
//! (Fastly's Config and Secret stores, Cloudflare's KV and secrets, files or environment for WASI
//! hosts):
//!
//! | part | store | holds |
//! |---|---|---|
//! | `events` | config | the event catalog and the origins serving them |
//! | `pathways` | config | the CDNs viewers can be sent to |
//! | `settings` | config | TTLs, limits, parameter names |
//! | `ticket-keys` | secret | the ticketing system's HS256 keyring (`{"kid": "hex"}`) |
//! | `session-key` | secret | the EdgeAuth key for session tokens, in hex |
//! | `content-keys` | secret | the master secrets of encrypted events' AES-128 keys (`{"kid": "hex"}`), optional |
//! | `health-keys` | secret | the keys the controller signs health snapshots with (`{"kid": "hex"}`), optional |
//!
//! Every part but `content-keys` and `health-keys` is required, and so is every field of a part
//! but an event's `key_ids`: a missing or malformed part is a [`ConfigError`] naming the part and
//! the field, never a silent default. `content-keys` is required as soon as an event names a key
//! id. The core never reads a store itself; the adapter passes the bytes in ([`ConfigParts`]).
//!
//! The health snapshot is not a configuration document: the controller republishes it every few
//! seconds, into a store anyone with write access to it could fill. Every adapter hands the bytes
//! it read to [`EdgeConfig::health`], which accepts only an envelope signed with a `health-keys`
//! key (`usher_shared::health::signature`); without `health-keys` every snapshot is refused.
//! A refused snapshot is never fatal: the static weights apply and the access log's
//! `health_error` says why ([`HealthError`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use usher_shared::content_key::ContentKeys;
use usher_shared::health::{HealthKeys, HealthSnapshot, SignatureError, signature};
use usher_shared::token::edgeauth::{self, EdgeAuth};
use usher_shared::token::{Algorithm, Keyring};

/// The raw documents, as the adapter read them from its stores. `None` means the store had no
/// such key.
#[derive(Clone, Copy, Default)]
pub struct ConfigParts<'a> {
    /// The `events` document.
    pub events: Option<&'a [u8]>,
    /// The `pathways` document.
    pub pathways: Option<&'a [u8]>,
    /// The `settings` document.
    pub settings: Option<&'a [u8]>,
    /// The `ticket-keys` secret.
    pub ticket_keys: Option<&'a [u8]>,
    /// The `session-key` secret.
    pub session_key: Option<&'a [u8]>,
    /// The `content-keys` secret.
    pub content_keys: Option<&'a [u8]>,
    /// The `health-keys` secret.
    pub health_keys: Option<&'a [u8]>,
}

impl fmt::Debug for ConfigParts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secrets' presence, never their bytes.
        f.debug_struct("ConfigParts")
            .field("events", &self.events.map(<[u8]>::len))
            .field("pathways", &self.pathways.map(<[u8]>::len))
            .field("settings", &self.settings.map(<[u8]>::len))
            .field("ticket_keys", &self.ticket_keys.is_some())
            .field("session_key", &self.session_key.is_some())
            .field("content_keys", &self.content_keys.is_some())
            .field("health_keys", &self.health_keys.is_some())
            .finish()
    }
}

/// A configuration that cannot be used: which part, and what is wrong with it. Never contains
/// secret material: secret parts are reported by name only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The part: `events`, `pathways`, `settings`, `ticket-keys`, `session-key`,
    /// `content-keys` or `health-keys`.
    pub part: &'static str,
    /// What is wrong, naming the field.
    pub message: String,
}

impl ConfigError {
    fn new(part: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            part,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config {}: {}", self.part, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Why a health snapshot was refused. Never fatal: the static weights apply. The access log's
/// `health_error` is this error's `Display`, which starts with its code ([`HealthError::code`])
/// so a log query can match on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthError {
    /// A snapshot was published, but this edge has no `health-keys` to check it with:
    /// `no_health_keys`.
    NoHealthKeys,
    /// The envelope or the snapshot in it was refused: the signature's code (`unsigned`,
    /// `malformed_envelope`, `unknown_key`, `bad_signature`, `decode`).
    Refused(SignatureError),
}

impl HealthError {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            HealthError::NoHealthKeys => "no_health_keys",
            HealthError::Refused(error) => error.as_str(),
        }
    }
}

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthError::NoHealthKeys => write!(
                f,
                "{}: no health-keys configured, so no snapshot can be trusted",
                self.code()
            ),
            HealthError::Refused(error) => write!(f, "{}: {error}", self.code()),
        }
    }
}

impl std::error::Error for HealthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HealthError::NoHealthKeys => None,
            HealthError::Refused(error) => Some(error),
        }
    }
}

/// An origin: where the edge fetches playlists and segments for the events it serves.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The name the adapter knows it by (a Fastly backend name, for instance).
    pub id: String,
    /// Its base URL, `http` or `https`, ending in `/`.
    pub base_url: String,
}

/// One event of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The event id, as in tickets' `ev` claim and in paths (`/events/{id}/`).
    pub id: String,
    /// A title for the player page.
    pub title: String,
    /// The origin (an id from `origins`) that serves it.
    pub origin: String,
    /// The event's directory on the origin, relative to the origin's base URL, ending in `/`
    /// (e.g. `live/final-2026/`). The multivariant playlist is `master.m3u8` in it.
    pub origin_path: String,
    /// The ids of the `content-keys` master secrets the event's segments may be encrypted
    /// under (RFC 8216 §4.3.2.4 `METHOD=AES-128`): the edge serves this event's keys, and only
    /// these. Empty (the default) for an event sent in the clear. Usually one id per event;
    /// two while its master is rotated.
    #[serde(default)]
    pub key_ids: Vec<String>,
    /// Phased admission (the waiting room; see [`crate::admission`]). Absent (the default):
    /// every ticket holder plays at once. Needs `health-keys`: the admission frontier comes in
    /// the controller's signed health snapshot.
    #[serde(default)]
    pub admission: Option<EventAdmission>,
}

/// An event's waiting room, as the edge needs it: when the doors open. The admission rate and
/// the active cap are the controller's (its `[event.admission]`), which publishes the frontier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventAdmission {
    /// When the doors open, Unix ms: viewers arriving before it are shuffled into the pre-queue.
    pub doors_open_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsDocument {
    origins: Vec<Origin>,
    events: Vec<Event>,
}

/// A CDN viewers can be sent to: one HLS Content Steering pathway.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pathway {
    /// The pathway id, as in the health snapshot and `PATHWAY-ID` (letters, digits, `.`, `-`,
    /// `_`; HLS Content Steering §4.4.6.6 of rfc8216bis).
    pub id: String,
    /// The CDN's base URL for this service, `https` (or `http` for local runs), ending in `/`.
    /// Segment and playlist paths are appended to it.
    pub base_url: String,
    /// Weight out of 10 000 used when no fresh health snapshot is available.
    pub static_weight_bp: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PathwaysDocument {
    pathways: Vec<Pathway>,
}

/// Ticket checking.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSettings {
    /// The audience tickets must name (`aud`).
    pub audience: String,
    /// The issuer tickets must name (`iss`).
    pub issuer: String,
    /// Clock skew tolerated, in seconds (at most 300).
    pub leeway_secs: u64,
    /// Query parameter that may carry the ticket.
    pub query_param: String,
    /// Cookie that may carry the ticket.
    pub cookie: String,
}

/// Session tokens.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// Lifetime of a session token, in seconds (30 to 3600); renewed on every media playlist
    /// reload, so this bounds how long a copied URL keeps working after its viewer leaves.
    pub ttl_secs: u64,
    /// Query parameter carrying the session token on every rewritten URI.
    pub query_param: String,
    /// HMAC of session tokens: `sha256` (default for new deployments), `sha1` or `md5`.
    pub algorithm: String,
}

/// Playlists fetched from the origin.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaylistSettings {
    /// Largest origin playlist accepted, in bytes; a larger body is refused with a reason.
    pub max_bytes: usize,
    /// How long a cached playlist may be served after its freshness ran out when the origin
    /// fails, in seconds (RFC 5861 `stale-if-error`).
    pub stale_if_error_secs: u64,
}

/// HLS Content Steering.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SteeringSettings {
    /// The steering manifest's TTL, in seconds (5 to 300).
    pub ttl_secs: u64,
}

/// One ticket, one screen.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseSettings {
    /// How long a screen's lease lives without a media playlist reload, in seconds (10 to 600).
    pub ttl_secs: u64,
}

/// TTLs, limits and names.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Ticket checking.
    pub ticket: TicketSettings,
    /// Session tokens.
    pub session: SessionSettings,
    /// Origin playlists.
    pub playlist: PlaylistSettings,
    /// Content Steering.
    pub steering: SteeringSettings,
    /// Concurrent-stream leases.
    pub leases: LeaseSettings,
}

/// The whole, checked configuration. Built once per configuration change, shared by every
/// request. `Debug` shows no secret.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Origins by id.
    pub origins: BTreeMap<String, Origin>,
    /// Events by id.
    pub events: BTreeMap<String, Event>,
    /// Pathways, in configuration order.
    pub pathways: Vec<Pathway>,
    /// Settings.
    pub settings: Settings,
    /// Ticket keys.
    pub ticket_keys: Keyring,
    /// The session-token minter and verifier.
    pub session: EdgeAuth,
    /// The master secrets of content keys, when any event is encrypted.
    pub content_keys: Option<ContentKeys>,
    /// The keys health snapshots must be signed with; without them every snapshot is refused.
    pub health_keys: Option<HealthKeys>,
}

/// What a platform calls each document of [`ConfigParts`]: an environment variable, a binding,
/// a store key. The adapter's lookup is asked for these names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentNames {
    /// The `events` document's name.
    pub events: &'static str,
    /// The `pathways` document's name.
    pub pathways: &'static str,
    /// The `settings` document's name.
    pub settings: &'static str,
    /// The `ticket-keys` secret's name.
    pub ticket_keys: &'static str,
    /// The `session-key` secret's name.
    pub session_key: &'static str,
    /// The `content-keys` secret's name.
    pub content_keys: &'static str,
    /// The `health-keys` secret's name.
    pub health_keys: &'static str,
}

impl EdgeConfig {
    /// Looks the seven documents up by their platform's `names` and checks them
    /// ([`EdgeConfig::from_parts`]). `lookup` gives a document's bytes, `None` when the
    /// platform has no such document, or why it could not be read, which is a [`ConfigError`]
    /// for that part (`could not be read: …`; the lookup's error must not hold secret
    /// material). Documents are read in the order of [`ConfigParts`], and the first one that
    /// cannot be read stops the rest.
    pub fn from_documents<D: AsRef<[u8]>, E: fmt::Display>(
        names: &DocumentNames,
        lookup: impl Fn(&'static str) -> Result<Option<D>, E>,
    ) -> Result<Self, ConfigError> {
        let read = |part: &'static str, name: &'static str| {
            lookup(name)
                .map_err(|error| ConfigError::new(part, format!("could not be read: {error}")))
        };
        let events = read("events", names.events)?;
        let pathways = read("pathways", names.pathways)?;
        let settings = read("settings", names.settings)?;
        let ticket_keys = read("ticket-keys", names.ticket_keys)?;
        let session_key = read("session-key", names.session_key)?;
        let content_keys = read("content-keys", names.content_keys)?;
        let health_keys = read("health-keys", names.health_keys)?;
        EdgeConfig::from_parts(&ConfigParts {
            events: events.as_ref().map(AsRef::as_ref),
            pathways: pathways.as_ref().map(AsRef::as_ref),
            settings: settings.as_ref().map(AsRef::as_ref),
            ticket_keys: ticket_keys.as_ref().map(AsRef::as_ref),
            session_key: session_key.as_ref().map(AsRef::as_ref),
            content_keys: content_keys.as_ref().map(AsRef::as_ref),
            health_keys: health_keys.as_ref().map(AsRef::as_ref),
        })
    }

    /// Parses and checks every part.
    pub fn from_parts(parts: &ConfigParts<'_>) -> Result<Self, ConfigError> {
        let events: EventsDocument = json("events", parts.events)?;
        let pathways: PathwaysDocument = json("pathways", parts.pathways)?;
        let settings: Settings = json("settings", parts.settings)?;

        let mut origins = BTreeMap::new();
        for origin in events.origins {
            check_id("events", "origins[].id", &origin.id)?;
            check_base_url("events", &format!("origin {}", origin.id), &origin.base_url)?;
            if origins.insert(origin.id.clone(), origin.clone()).is_some() {
                return Err(ConfigError::new(
                    "events",
                    format!("origin {} is listed twice", origin.id),
                ));
            }
        }
        let mut catalog = BTreeMap::new();
        for event in events.events {
            check_id("events", "events[].id", &event.id)?;
            if !origins.contains_key(&event.origin) {
                return Err(ConfigError::new(
                    "events",
                    format!("event {} names unknown origin {}", event.id, event.origin),
                ));
            }
            let path_ok = event.origin_path.ends_with('/')
                && !event.origin_path.starts_with('/')
                && !event.origin_path.split('/').any(|s| s == ".." || s == ".");
            if !path_ok {
                return Err(ConfigError::new(
                    "events",
                    format!(
                        "event {}: origin_path must be relative, without dot segments, and end in /",
                        event.id
                    ),
                ));
            }
            if catalog.insert(event.id.clone(), event.clone()).is_some() {
                return Err(ConfigError::new(
                    "events",
                    format!("event {} is listed twice", event.id),
                ));
            }
        }
        if catalog.is_empty() {
            return Err(ConfigError::new("events", "events is empty"));
        }

        if pathways.pathways.is_empty() {
            return Err(ConfigError::new("pathways", "pathways is empty"));
        }
        let mut total_weight = 0u32;
        for (i, pathway) in pathways.pathways.iter().enumerate() {
            check_id("pathways", "pathways[].id", &pathway.id)?;
            check_base_url(
                "pathways",
                &format!("pathway {}", pathway.id),
                &pathway.base_url,
            )?;
            if pathways.pathways.iter().take(i).any(|p| p.id == pathway.id) {
                return Err(ConfigError::new(
                    "pathways",
                    format!("pathway {} is listed twice", pathway.id),
                ));
            }
            total_weight += u32::from(pathway.static_weight_bp);
        }
        if total_weight != 10_000 {
            return Err(ConfigError::new(
                "pathways",
                format!("static_weight_bp must sum to 10000, not {total_weight}"),
            ));
        }

        check_settings(&settings)?;

        let keys = parts
            .ticket_keys
            .ok_or_else(|| ConfigError::new("ticket-keys", "missing"))?;
        let ticket_keys =
            Keyring::from_json(keys).map_err(|e| ConfigError::new("ticket-keys", e.to_string()))?;
        let session_hex = parts
            .session_key
            .ok_or_else(|| ConfigError::new("session-key", "missing"))?;
        let session_hex = std::str::from_utf8(session_hex)
            .map_err(|_| ConfigError::new("session-key", "is not hex"))?
            .trim();
        let algorithm = Algorithm::parse(&settings.session.algorithm)
            .map_err(|e| ConfigError::new("settings", format!("session.algorithm: {e}")))?;
        let session = EdgeAuth::from_hex(session_hex, algorithm, edgeauth::Options::default())
            .map_err(|e| ConfigError::new("session-key", e.to_string()))?;

        // An empty document is how some stores spell "unset".
        let content_keys = parts
            .content_keys
            .filter(|doc| !doc.trim_ascii().is_empty())
            .map(ContentKeys::from_json)
            .transpose()
            .map_err(|e| ConfigError::new("content-keys", e.to_string()))?;
        for event in catalog.values() {
            for kid in &event.key_ids {
                let Some(keys) = &content_keys else {
                    return Err(ConfigError::new(
                        "content-keys",
                        format!("missing, and event {} names key id {kid}", event.id),
                    ));
                };
                if keys.get(kid).is_none() {
                    return Err(ConfigError::new(
                        "content-keys",
                        format!("holds no key id {kid}, which event {} names", event.id),
                    ));
                }
            }
        }

        let health_keys = parts
            .health_keys
            .filter(|doc| !doc.trim_ascii().is_empty())
            .map(HealthKeys::from_json)
            .transpose()
            .map_err(|e| ConfigError::new("health-keys", e.to_string()))?;

        if health_keys.is_none()
            && let Some(event) = catalog.values().find(|e| e.admission.is_some())
        {
            return Err(ConfigError::new(
                "health-keys",
                format!(
                    "missing, and event {} has admission (its frontier comes in the signed health snapshot)",
                    event.id
                ),
            ));
        }

        Ok(EdgeConfig {
            origins,
            events: catalog,
            pathways: pathways.pathways,
            settings,
            ticket_keys,
            session,
            content_keys,
            health_keys,
        })
    }

    /// The health snapshot in `raw`, as an adapter read it from its store: `Ok(None)` when
    /// there is none (no bytes, or only whitespace, which is how a controller or an operator
    /// withdraws a snapshot), the snapshot when `raw` is an envelope signed with one of the
    /// `health-keys` and its JSON decodes, and otherwise why it is refused. Every adapter reads
    /// its snapshot through this one function, so every platform refuses the same bytes.
    pub fn health(&self, raw: &[u8]) -> Result<Option<HealthSnapshot>, HealthError> {
        if raw.trim_ascii().is_empty() {
            return Ok(None);
        }
        let keys = self.health_keys.as_ref().ok_or(HealthError::NoHealthKeys)?;
        signature::open(keys, raw)
            .map(Some)
            .map_err(HealthError::Refused)
    }

    /// The event with this id.
    pub fn event(&self, id: &str) -> Option<&Event> {
        self.events.get(id)
    }

    /// The origin serving `event`.
    pub fn origin_of(&self, event: &Event) -> Option<&Origin> {
        self.origins.get(&event.origin)
    }

    /// The pathway with this id.
    pub fn pathway(&self, id: &str) -> Option<&Pathway> {
        self.pathways.iter().find(|p| p.id == id)
    }
}

fn json<'de, T: Deserialize<'de>>(
    part: &'static str,
    bytes: Option<&'de [u8]>,
) -> Result<T, ConfigError> {
    let bytes = bytes.ok_or_else(|| ConfigError::new(part, "missing"))?;
    serde_json::from_slice(bytes).map_err(|e| ConfigError::new(part, e.to_string()))
}

/// Ids appear in paths, headers and HLS attributes: keep them to a safe alphabet.
fn check_id(part: &'static str, field: &str, id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            part,
            format!("{field} {id:?} must be 1 to 64 of A-Z a-z 0-9 - _ ."),
        ))
    }
}

fn check_base_url(part: &'static str, what: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| {
        let host = r.split('/').next().unwrap_or("");
        !host.is_empty() && r.ends_with('/') && !r.contains(['?', '#', ' '])
    });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            part,
            format!("{what}: base_url {url:?} must be an http(s) URL ending in / without query"),
        ))
    }
}

fn check_settings(s: &Settings) -> Result<(), ConfigError> {
    let fail = |m: &str| Err(ConfigError::new("settings", m));
    if s.ticket.leeway_secs > 300 {
        return fail("ticket.leeway_secs must be at most 300");
    }
    for (name, value) in [
        ("ticket.query_param", &s.ticket.query_param),
        ("ticket.cookie", &s.ticket.cookie),
        ("session.query_param", &s.session.query_param),
    ] {
        let ok = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !ok {
            return Err(ConfigError::new(
                "settings",
                format!("{name} must be a non-empty token of A-Z a-z 0-9 - _"),
            ));
        }
    }
    if s.ticket.audience.is_empty() || s.ticket.issuer.is_empty() {
        return fail("ticket.audience and ticket.issuer must be set");
    }
    if !(30..=3600).contains(&s.session.ttl_secs) {
        return fail("session.ttl_secs must be between 30 and 3600");
    }
    if !(1024..=16 * 1024 * 1024).contains(&s.playlist.max_bytes) {
        return fail("playlist.max_bytes must be between 1024 and 16777216");
    }
    if s.playlist.stale_if_error_secs > 3600 {
        return fail("playlist.stale_if_error_secs must be at most 3600");
    }
    if !(5..=300).contains(&s.steering.ttl_secs) {
        return fail("steering.ttl_secs must be between 5 and 300");
    }
    if !(10..=600).contains(&s.leases.ttl_secs) {
        return fail("leases.ttl_secs must be between 10 and 600");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const EVENTS: &str = r#"{
        "origins": [{"id": "origin-eu", "base_url": "https://origin-eu.example/"}],
        "events": [{"id": "final-2026", "title": "The Final", "origin": "origin-eu",
                    "origin_path": "live/final-2026/", "key_ids": ["final-k1"]}]
    }"#;
    pub(crate) const PATHWAYS: &str = r#"{"pathways": [
        {"id": "cdn-a", "base_url": "https://cdn-a.example/", "static_weight_bp": 6000},
        {"id": "cdn-b", "base_url": "https://cdn-b.example/", "static_weight_bp": 4000}
    ]}"#;
    pub(crate) const SETTINGS: &str = r#"{
        "ticket": {"audience": "usher", "issuer": "tickets.example", "leeway_secs": 30,
                   "query_param": "ticket", "cookie": "usher_ticket"},
        "session": {"ttl_secs": 600, "query_param": "__token__", "algorithm": "sha256"},
        "playlist": {"max_bytes": 1048576, "stale_if_error_secs": 30},
        "steering": {"ttl_secs": 10},
        "leases": {"ttl_secs": 30}
    }"#;
    pub(crate) const TICKET_KEYS: &str = r#"{"k1": "00112233445566778899aabbccddeeff"}"#;
    pub(crate) const SESSION_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    pub(crate) const CONTENT_KEYS: &str = r#"{"final-k1": "f00dfacef00dfacef00dfacef00dface"}"#;
    pub(crate) const HEALTH_KEYS: &str = r#"{"h1": "5eed5eed5eed5eed5eed5eed5eed5eed"}"#;

    pub(crate) fn parts() -> ConfigParts<'static> {
        ConfigParts {
            events: Some(EVENTS.as_bytes()),
            pathways: Some(PATHWAYS.as_bytes()),
            settings: Some(SETTINGS.as_bytes()),
            ticket_keys: Some(TICKET_KEYS.as_bytes()),
            session_key: Some(SESSION_KEY.as_bytes()),
            content_keys: Some(CONTENT_KEYS.as_bytes()),
            health_keys: Some(HEALTH_KEYS.as_bytes()),
        }
    }

    #[test]
    fn a_complete_configuration_parses() {
        let config = EdgeConfig::from_parts(&parts()).unwrap();
        assert_eq!(config.events.len(), 1);
        assert_eq!(config.pathways.len(), 2);
        let event = config.event("final-2026").unwrap();
        assert_eq!(
            config.origin_of(event).unwrap().base_url,
            "https://origin-eu.example/"
        );
    }

    #[test]
    fn every_missing_part_is_named() {
        for (name, strip) in [
            ("events", 0),
            ("pathways", 1),
            ("settings", 2),
            ("ticket-keys", 3),
            ("session-key", 4),
        ] {
            let mut p = parts();
            match strip {
                0 => p.events = None,
                1 => p.pathways = None,
                2 => p.settings = None,
                3 => p.ticket_keys = None,
                _ => p.session_key = None,
            }
            let err = EdgeConfig::from_parts(&p).unwrap_err();
            assert_eq!(err.part, name);
            assert_eq!(err.to_string(), format!("config {name}: missing"));
        }
    }

    #[test]
    fn an_event_with_admission_needs_health_keys_and_names_only_its_doors() {
        let with_room = EVENTS.replace(
            r#""key_ids": ["final-k1"]"#,
            r#""key_ids": ["final-k1"], "admission": {"doors_open_ms": 1767225600000}"#,
        );
        let mut p = parts();
        p.events = Some(with_room.as_bytes());
        let config = EdgeConfig::from_parts(&p).unwrap();
        let admission = config.event("final-2026").unwrap().admission;
        assert_eq!(admission.map(|a| a.doors_open_ms), Some(1_767_225_600_000));
        p.health_keys = None;
        let error = EdgeConfig::from_parts(&p).unwrap_err();
        assert_eq!(error.part, "health-keys");
        assert!(
            error.message.contains("final-2026 has admission"),
            "{error}"
        );
        // The rate and the cap are the controller's: a misplaced key is refused, not ignored.
        let misplaced = with_room.replace(r#"1767225600000}"#, r#"1767225600000, "cap": 5}"#);
        let mut p = parts();
        p.events = Some(misplaced.as_bytes());
        assert_eq!(EdgeConfig::from_parts(&p).unwrap_err().part, "events");
    }

    #[test]
    fn content_keys_are_optional_until_an_event_names_one() {
        let clear = EVENTS.replace(r#", "key_ids": ["final-k1"]"#, "");
        for doc in [None, Some(&b""[..]), Some(&b" \n"[..])] {
            let mut p = parts();
            p.events = Some(clear.as_bytes());
            p.content_keys = doc;
            let config = EdgeConfig::from_parts(&p).unwrap();
            assert!(config.content_keys.is_none());
        }
        let mut p = parts();
        p.content_keys = None;
        let err = EdgeConfig::from_parts(&p).unwrap_err();
        assert_eq!(err.part, "content-keys");
        assert!(err.message.contains("final-k1"), "{err}");
        let mut p = parts();
        p.content_keys = Some(br#"{"other": "f00dfacef00dfacef00dfacef00dface"}"#);
        let err = EdgeConfig::from_parts(&p).unwrap_err();
        assert!(err.message.contains("holds no key id final-k1"), "{err}");
        let mut p = parts();
        p.content_keys = Some(br#"{"final-k1": "f00dface"}"#);
        let err = EdgeConfig::from_parts(&p).unwrap_err();
        assert_eq!(err.part, "content-keys");
        assert!(err.message.contains("shorter than 16 bytes"), "{err}");
        assert!(!err.to_string().contains("f00dface"), "{err}");
    }

    #[test]
    fn bad_values_are_named_without_defaults() {
        let cases = [
            (
                r#"{"origins": [], "events": []}"#,
                None,
                None,
                "events",
                "events is empty",
            ),
            (
                EVENTS,
                Some(
                    r#"{"pathways": [{"id": "a", "base_url": "https://a/", "static_weight_bp": 5000}]}"#,
                ),
                None,
                "pathways",
                "sum to 10000",
            ),
            (
                EVENTS,
                Some(
                    r#"{"pathways": [{"id": "a b", "base_url": "https://a/", "static_weight_bp": 10000}]}"#,
                ),
                None,
                "pathways",
                "must be 1 to 64",
            ),
            (
                EVENTS,
                Some(
                    r#"{"pathways": [{"id": "a", "base_url": "ftp://a/", "static_weight_bp": 10000}]}"#,
                ),
                None,
                "pathways",
                "http(s) URL",
            ),
            (
                EVENTS,
                None,
                Some(&SETTINGS.replace("\"ttl_secs\": 600", "\"ttl_secs\": 5")),
                "settings",
                "session.ttl_secs",
            ),
            (
                EVENTS,
                None,
                Some(&SETTINGS.replace("\"leeway_secs\": 30,", "")),
                "settings",
                "missing field `leeway_secs`",
            ),
            (
                EVENTS,
                None,
                Some(&SETTINGS.replace("sha256", "sha512")),
                "settings",
                "session.algorithm",
            ),
        ];
        for (events, pathways, settings, part, needle) in cases {
            let mut p = parts();
            p.events = Some(events.as_bytes());
            if let Some(pw) = pathways {
                p.pathways = Some(pw.as_bytes());
            }
            if let Some(s) = settings {
                p.settings = Some(s.as_bytes());
            }
            let err = EdgeConfig::from_parts(&p).unwrap_err();
            assert_eq!(err.part, part, "{err}");
            assert!(err.message.contains(needle), "{err}");
        }
    }

    #[test]
    fn secret_errors_never_echo_the_secret() {
        let mut p = parts();
        p.session_key = Some(b"not-hex-secret-material");
        let err = EdgeConfig::from_parts(&p).unwrap_err();
        assert_eq!(err.part, "session-key");
        assert!(!err.to_string().contains("secret-material"));
        let mut p = parts();
        p.ticket_keys = Some(br#"{"k1": "zz-secret-material"}"#);
        let err = EdgeConfig::from_parts(&p).unwrap_err();
        assert!(!err.to_string().contains("secret-material"));
        let config = EdgeConfig::from_parts(&parts()).unwrap();
        let printed = format!("{config:?} {:?}", parts());
        assert!(!printed.contains(SESSION_KEY), "{printed}");
        assert!(!printed.contains("f00dface"), "{printed}");
        assert!(!printed.contains("00112233445566778899"), "{printed}");
        assert!(!printed.contains("5eed5eed"), "{printed}");
    }

    /// A snapshot over the test pathways, everybody on `cdn-b`.
    fn snapshot_json() -> Vec<u8> {
        let cdn = |id: &str, static_weight_bp: u16, weight_bp: u16| {
            serde_json::json!({
                "id": id, "static_weight_bp": static_weight_bp, "score_permille": 500,
                "weight_bp": weight_bp, "state": "healthy", "reason": "healthy"
            })
        };
        serde_json::json!({
            "format_version": usher_shared::health::FORMAT_VERSION,
            "seq": 3,
            "generated_at_ms": 1_000,
            "expires_at_ms": 61_000,
            "cdns": [cdn("cdn-a", 6000, 0), cdn("cdn-b", 4000, 10_000)],
            "slots": "1".repeat(100),
        })
        .to_string()
        .into_bytes()
    }

    fn sealed(keys: &str, kid: &str, json: &[u8]) -> Vec<u8> {
        let keys = HealthKeys::from_json(keys.as_bytes()).unwrap();
        signature::seal(&keys, kid, json).unwrap()
    }

    #[test]
    fn health_keys_are_optional_and_a_bad_document_names_its_part() {
        for doc in [None, Some(&b""[..]), Some(&b" \n"[..])] {
            let mut p = parts();
            p.health_keys = doc;
            assert!(EdgeConfig::from_parts(&p).unwrap().health_keys.is_none());
        }
        let mut p = parts();
        p.health_keys = Some(br#"{"h1": "5eed"}"#);
        let err = EdgeConfig::from_parts(&p).unwrap_err();
        assert_eq!(err.part, "health-keys");
        assert!(err.message.contains("shorter than 16 bytes"), "{err}");
        assert!(!err.to_string().contains("5eed"), "{err}");
    }

    #[test]
    fn only_a_snapshot_signed_with_a_health_key_is_trusted() {
        let config = EdgeConfig::from_parts(&parts()).unwrap();
        let json = snapshot_json();
        let snapshot = config
            .health(&sealed(HEALTH_KEYS, "h1", &json))
            .unwrap()
            .unwrap();
        assert_eq!(snapshot.seq(), 3);
        let refused = |raw: &[u8]| config.health(raw).unwrap_err();
        assert_eq!(refused(&json).code(), "unsigned");
        let other = r#"{"h2": "5eed5eed5eed5eed5eed5eed5eed5eed"}"#;
        assert_eq!(refused(&sealed(other, "h2", &json)).code(), "unknown_key");
        let forged = r#"{"h1": "0badc0de0badc0de0badc0de0badc0de"}"#;
        assert_eq!(
            refused(&sealed(forged, "h1", &json)).code(),
            "bad_signature"
        );
        let mut tampered = sealed(HEALTH_KEYS, "h1", &json);
        let last = tampered.len() - 3;
        tampered[last] ^= 1;
        assert_eq!(refused(&tampered).code(), "bad_signature");
        let invalid = sealed(HEALTH_KEYS, "h1", b"{\"format_version\":1}");
        let error = refused(&invalid);
        assert_eq!(error.code(), "decode");
        // The access log's field: the code first, then what it means.
        assert!(
            error.to_string().starts_with("decode: signed, but "),
            "{error}"
        );
        // Nothing published: nothing to refuse, keys or not.
        assert_eq!(config.health(b" \n").unwrap(), None);
    }

    #[test]
    fn without_health_keys_every_snapshot_is_refused() {
        let mut p = parts();
        p.health_keys = None;
        let config = EdgeConfig::from_parts(&p).unwrap();
        let error = config
            .health(&sealed(HEALTH_KEYS, "h1", &snapshot_json()))
            .unwrap_err();
        assert_eq!(error, HealthError::NoHealthKeys);
        assert!(error.to_string().starts_with("no_health_keys: "), "{error}");
        assert_eq!(config.health(b"").unwrap(), None);
    }

    /// Names unlike the part names, as a platform's variables are.
    const NAMES: DocumentNames = DocumentNames {
        events: "USHER_EVENTS",
        pathways: "USHER_PATHWAYS",
        settings: "USHER_SETTINGS",
        ticket_keys: "USHER_TICKET_KEYS",
        session_key: "USHER_SESSION_KEY",
        content_keys: "USHER_CONTENT_KEYS",
        health_keys: "USHER_HEALTH_KEYS",
    };

    fn documents() -> BTreeMap<&'static str, &'static str> {
        BTreeMap::from([
            (NAMES.events, EVENTS),
            (NAMES.pathways, PATHWAYS),
            (NAMES.settings, SETTINGS),
            (NAMES.ticket_keys, TICKET_KEYS),
            (NAMES.session_key, SESSION_KEY),
            (NAMES.content_keys, CONTENT_KEYS),
            (NAMES.health_keys, HEALTH_KEYS),
        ])
    }

    #[test]
    fn documents_are_looked_up_by_their_platform_names() {
        let docs = documents();
        let config =
            EdgeConfig::from_documents(&NAMES, |name| Ok::<_, String>(docs.get(name).copied()))
                .unwrap();
        assert!(config.event("final-2026").is_some());
        assert_eq!(config.pathways.len(), 2);
        assert_eq!(config.settings.ticket.audience, "usher");
    }

    #[test]
    fn a_document_looked_up_and_missing_names_its_part() {
        for (name, part) in [
            (NAMES.events, "events"),
            (NAMES.pathways, "pathways"),
            (NAMES.settings, "settings"),
            (NAMES.ticket_keys, "ticket-keys"),
            (NAMES.session_key, "session-key"),
        ] {
            let mut docs = documents();
            docs.remove(name);
            let error =
                EdgeConfig::from_documents(&NAMES, |n| Ok::<_, String>(docs.get(n).copied()))
                    .unwrap_err();
            assert_eq!((error.part, error.message.as_str()), (part, "missing"));
        }
    }

    #[test]
    fn a_document_that_cannot_be_read_names_its_part_and_why() {
        let docs = documents();
        let error = EdgeConfig::from_documents(&NAMES, |name| {
            if name == NAMES.events || name == NAMES.pathways || name == NAMES.settings {
                Ok(docs.get(name).copied())
            } else {
                Err("secret store not linked")
            }
        })
        .unwrap_err();
        assert_eq!(error.part, "ticket-keys");
        assert_eq!(
            error.to_string(),
            "config ticket-keys: could not be read: secret store not linked"
        );
    }
}
