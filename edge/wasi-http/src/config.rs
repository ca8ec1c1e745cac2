//! The configuration as a WASI-HTTP host passes it: one environment variable per document, and
//! the base URLs of the host's stores.
//!
//! The `wasi:http/proxy` world has no key-value store and no files, so the host hands the
//! documents of [`usher_edge_core::config::ConfigParts`] (and, optionally, the latest signed
//! health snapshot) to the component
//! as environment variables, and offers its asset and lease stores as HTTP services
//! ([`crate::services`]) whose base URLs come the same way:
//!
//! | variable | document | required |
//! |---|---|---|
//! | `USHER_EVENTS` | `events` (JSON) | yes |
//! | `USHER_PATHWAYS` | `pathways` (JSON) | yes |
//! | `USHER_SETTINGS` | `settings` (JSON) | yes |
//! | `USHER_TICKET_KEYS` | `ticket-keys` (JSON keyring, secret) | yes |
//! | `USHER_SESSION_KEY` | `session-key` (hex, secret) | yes |
//! | `USHER_CONTENT_KEYS` | `content-keys` (JSON keyring, secret) | when an event is encrypted |
//! | `USHER_HEALTH_KEYS` | `health-keys` (JSON keyring, secret) | to trust a health snapshot |
//! | `USHER_HEALTH` | health snapshot (the controller's signed envelope) | no |
//! | `USHER_ASSETS_URL` | base URL of the static asset store, e.g. `http://assets.usher.internal/` | no: every asset is then 404 `not_found` |
//! | `USHER_STORE_URL` | base URL of the lease store, e.g. `http://store.usher.internal/` | no: leases then fail open (`store_unavailable`) |
//!
//! Key decision: the documents are parsed once per instance and kept for its lifetime. A host
//! that reuses instances (or `wasmtime serve`, which makes one per request) pays the parse only
//! when an instance starts; a configuration change means new instances, which every WASI-HTTP
//! host already does when its environment changes.
//!
//! A missing or unusable health snapshot is not an error: the core then falls back to the
//! configured static weights, and the access log says why the snapshot was ignored. The
//! snapshot is opened by [`EdgeConfig::health`], as on every platform: only an envelope signed
//! with a `USHER_HEALTH_KEYS` key is used.
//!
//! A base URL is a prefix: the asset name or store key is appended to it as it is, so it
//! normally ends with `/`. It is not checked here; one that makes no valid URL fails each
//! store request, which the access line then reports.
//!
//! Non-goal: reloading. Nothing here watches for changes.

use std::convert::Infallible;
use std::sync::OnceLock;

use usher_edge_core::config::{ConfigError, DocumentNames, EdgeConfig};
use usher_shared::health::HealthSnapshot;

/// The `events` document.
pub(crate) const EVENTS: &str = "USHER_EVENTS";
/// The `pathways` document.
pub(crate) const PATHWAYS: &str = "USHER_PATHWAYS";
/// The `settings` document.
pub(crate) const SETTINGS: &str = "USHER_SETTINGS";
/// The `ticket-keys` secret.
pub(crate) const TICKET_KEYS: &str = "USHER_TICKET_KEYS";
/// The `session-key` secret.
pub(crate) const SESSION_KEY: &str = "USHER_SESSION_KEY";
/// The `content-keys` secret.
pub(crate) const CONTENT_KEYS: &str = "USHER_CONTENT_KEYS";
/// The `health-keys` secret.
pub(crate) const HEALTH_KEYS: &str = "USHER_HEALTH_KEYS";
/// The optional health snapshot.
pub(crate) const HEALTH: &str = "USHER_HEALTH";
/// The optional base URL of the static asset store.
pub(crate) const ASSETS_URL: &str = "USHER_ASSETS_URL";
/// The optional base URL of the lease store.
pub(crate) const STORE_URL: &str = "USHER_STORE_URL";

/// A checked configuration, and the health snapshot that came with it.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The edge configuration.
    pub(crate) config: EdgeConfig,
    /// The health snapshot, when one was given and decoded.
    pub(crate) health: Option<HealthSnapshot>,
    /// Why a given health snapshot was ignored: logged with every request, never fatal.
    pub(crate) health_error: Option<String>,
    /// The asset store's base URL, if the host has one.
    pub(crate) assets_url: Option<String>,
    /// The lease store's base URL, if the host has one.
    pub(crate) store_url: Option<String>,
}

/// This instance's configuration, read from its environment on first use.
pub(crate) fn current() -> &'static Result<Loaded, ConfigError> {
    static CURRENT: OnceLock<Result<Loaded, ConfigError>> = OnceLock::new();
    CURRENT.get_or_init(|| load(|name| std::env::var(name).ok()))
}

/// The documents' variables.
const DOCUMENTS: DocumentNames = DocumentNames {
    events: EVENTS,
    pathways: PATHWAYS,
    settings: SETTINGS,
    ticket_keys: TICKET_KEYS,
    session_key: SESSION_KEY,
    content_keys: CONTENT_KEYS,
    health_keys: HEALTH_KEYS,
};

/// Reads and checks the documents through `lookup` (the environment, or a test's table).
pub(crate) fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let config = EdgeConfig::from_documents(&DOCUMENTS, |name| Ok::<_, Infallible>(lookup(name)))?;
    // An empty variable is how some hosts spell "unset"; the core treats it as no snapshot.
    let (health, health_error) = match lookup(HEALTH).map(|raw| config.health(raw.as_bytes())) {
        None => (None, None),
        Some(Ok(snapshot)) => (snapshot, None),
        Some(Err(error)) => (None, Some(error.to_string())),
    };
    let url = |name| lookup(name).filter(|u| !u.trim().is_empty());
    Ok(Loaded {
        config,
        health,
        health_error,
        assets_url: url(ASSETS_URL),
        store_url: url(STORE_URL),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use usher_shared::health::{HealthKeys, seal};

    use super::*;

    const CONFORMANCE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/conformance/config"
    );

    fn conformance() -> HashMap<&'static str, String> {
        let read = |file: &str| std::fs::read_to_string(format!("{CONFORMANCE}/{file}")).unwrap();
        HashMap::from([
            (EVENTS, read("events.json")),
            (PATHWAYS, read("pathways.json")),
            (SETTINGS, read("settings.json")),
            (TICKET_KEYS, read("ticket-keys.json")),
            (SESSION_KEY, read("session-key.txt")),
            (CONTENT_KEYS, read("content-keys.json")),
            (HEALTH_KEYS, read("health-keys.json")),
        ])
    }

    /// A health snapshot over the conformance pathways, everybody on `cdn-c`, signed with the
    /// conformance health key.
    fn sealed_snapshot() -> String {
        let cdn = |id: &str, static_weight_bp: u16, weight_bp: u16| {
            serde_json::json!({
                "id": id, "static_weight_bp": static_weight_bp, "score_permille": 500,
                "weight_bp": weight_bp, "state": "healthy", "reason": "healthy"
            })
        };
        let json = serde_json::json!({
            "format_version": usher_shared::health::FORMAT_VERSION,
            "seq": 4,
            "generated_at_ms": 1_767_225_600_000_u64,
            "expires_at_ms": 1_767_225_660_000_u64,
            "cdns": [cdn("cdn-a", 5000, 0), cdn("cdn-b", 3000, 0), cdn("cdn-c", 2000, 10_000)],
            "slots": "2".repeat(1000),
        })
        .to_string();
        let keys = HealthKeys::from_json(conformance()[HEALTH_KEYS].as_bytes()).unwrap();
        String::from_utf8(seal(&keys, "h-2026", json.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn the_conformance_configuration_loads_from_variables() {
        let vars = conformance();
        let loaded = load(|name| vars.get(name).cloned()).unwrap();
        assert!(loaded.config.event("final-2026").is_some());
        assert!(loaded.health.is_none());
        assert!(loaded.health_error.is_none());
        assert_eq!((loaded.assets_url, loaded.store_url), (None, None));
    }

    #[test]
    fn store_urls_are_optional_and_empty_means_unset() {
        let mut vars = conformance();
        vars.insert(ASSETS_URL, "http://assets.usher.internal/".to_owned());
        vars.insert(STORE_URL, " ".to_owned());
        let loaded = load(|n| vars.get(n).cloned()).unwrap();
        assert_eq!(
            loaded.assets_url.as_deref(),
            Some("http://assets.usher.internal/")
        );
        assert_eq!(loaded.store_url, None);
    }

    #[test]
    fn a_signed_health_snapshot_is_used() {
        let mut vars = conformance();
        vars.insert(HEALTH, sealed_snapshot());
        let loaded = load(|n| vars.get(n).cloned()).unwrap();
        assert_eq!(loaded.health.map(|h| h.seq()), Some(4));
        assert!(loaded.health_error.is_none());
    }

    #[test]
    fn an_unsigned_or_bad_health_snapshot_is_ignored_and_said_why() {
        let mut vars = conformance();
        vars.insert(HEALTH, "{not json".to_owned());
        let loaded = load(|n| vars.get(n).cloned()).unwrap();
        assert!(loaded.health.is_none());
        assert!(loaded.health_error.unwrap().starts_with("unsigned: "));
        let tampered = sealed_snapshot().replacen("\"seq\":4", "\"seq\":5", 1);
        vars.insert(HEALTH, tampered);
        let loaded = load(|n| vars.get(n).cloned()).unwrap();
        assert!(loaded.health.is_none());
        assert!(loaded.health_error.unwrap().starts_with("bad_signature: "));
        vars.insert(HEALTH, "  ".to_owned());
        let loaded = load(|n| vars.get(n).cloned()).unwrap();
        assert!(loaded.health_error.is_none());
    }

    /// The conformance events without their waiting room, which needs `health-keys`: what an
    /// edge without the controller's keys can be configured with.
    fn without_waiting_rooms(events: &str) -> String {
        let mut document: serde_json::Value = serde_json::from_str(events).unwrap();
        for event in document["events"].as_array_mut().unwrap() {
            event.as_object_mut().unwrap().remove("admission");
        }
        document.to_string()
    }

    #[test]
    fn without_health_keys_a_signed_snapshot_is_refused() {
        let mut vars = conformance();
        vars.remove(HEALTH_KEYS);
        let events = without_waiting_rooms(&vars[EVENTS]);
        vars.insert(EVENTS, events);
        vars.insert(HEALTH, sealed_snapshot());
        let loaded = load(|n| vars.get(n).cloned()).unwrap();
        assert!(loaded.health.is_none());
        assert!(loaded.health_error.unwrap().starts_with("no_health_keys: "));
    }
}
