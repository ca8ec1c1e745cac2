//! The configuration as a WASI-HTTP host passes it: one environment variable per document.
//!
//! The `wasi:http/proxy` world has no key-value store and no files, so the host hands the five
//! documents of [`ConfigParts`] (and, optionally, the latest health snapshot) to the component
//! as environment variables:
//!
//! | variable | document | required |
//! |---|---|---|
//! | `USHER_EVENTS` | `events` (JSON) | yes |
//! | `USHER_PATHWAYS` | `pathways` (JSON) | yes |
//! | `USHER_SETTINGS` | `settings` (JSON) | yes |
//! | `USHER_TICKET_KEYS` | `ticket-keys` (JSON keyring, secret) | yes |
//! | `USHER_SESSION_KEY` | `session-key` (hex, secret) | yes |
//! | `USHER_HEALTH` | health snapshot (JSON) | no |
//!
//! Key decision: the documents are parsed once per instance and kept for its lifetime. A host
//! that reuses instances (or `wasmtime serve`, which makes one per request) pays the parse only
//! when an instance starts; a configuration change means new instances, which every WASI-HTTP
//! host already does when its environment changes.
//!
//! A missing or unusable health snapshot is not an error: the core then falls back to the
//! configured static weights, and the access log says why the snapshot was ignored.
//!
//! Non-goal: reloading. Nothing here watches for changes.

use std::sync::OnceLock;

use usher_edge_core::config::{ConfigError, ConfigParts, EdgeConfig};
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
/// The optional health snapshot.
pub(crate) const HEALTH: &str = "USHER_HEALTH";

/// A checked configuration, and the health snapshot that came with it.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The edge configuration.
    pub(crate) config: EdgeConfig,
    /// The health snapshot, when one was given and decoded.
    pub(crate) health: Option<HealthSnapshot>,
    /// Why a given health snapshot was ignored: logged with every request, never fatal.
    pub(crate) health_error: Option<String>,
}

/// This instance's configuration, read from its environment on first use.
pub(crate) fn current() -> &'static Result<Loaded, ConfigError> {
    static CURRENT: OnceLock<Result<Loaded, ConfigError>> = OnceLock::new();
    CURRENT.get_or_init(|| load(|name| std::env::var(name).ok()))
}

/// Reads and checks the documents through `lookup` (the environment, or a test's table).
pub(crate) fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let events = lookup(EVENTS);
    let pathways = lookup(PATHWAYS);
    let settings = lookup(SETTINGS);
    let ticket_keys = lookup(TICKET_KEYS);
    let session_key = lookup(SESSION_KEY);
    let config = EdgeConfig::from_parts(&ConfigParts {
        events: events.as_deref().map(str::as_bytes),
        pathways: pathways.as_deref().map(str::as_bytes),
        settings: settings.as_deref().map(str::as_bytes),
        ticket_keys: ticket_keys.as_deref().map(str::as_bytes),
        session_key: session_key.as_deref().map(str::as_bytes),
    })?;
    // An empty variable is how some hosts spell "unset".
    let (health, health_error) = match lookup(HEALTH).filter(|h| !h.trim().is_empty()) {
        None => (None, None),
        Some(json) => match HealthSnapshot::from_json(json.as_bytes()) {
            Ok(snapshot) => (Some(snapshot), None),
            Err(error) => (None, Some(format!("{HEALTH} ignored: {error}"))),
        },
    };
    Ok(Loaded {
        config,
        health,
        health_error,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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
        ])
    }

    #[test]
    fn the_conformance_configuration_loads_from_variables() {
        let vars = conformance();
        let loaded = load(|name| vars.get(name).cloned()).unwrap();
        assert!(loaded.config.event("final-2026").is_some());
        assert!(loaded.health.is_none());
        assert!(loaded.health_error.is_none());
    }

    #[test]
    fn a_missing_variable_names_its_document() {
        for (name, part) in [
            (EVENTS, "events"),
            (PATHWAYS, "pathways"),
            (SETTINGS, "settings"),
            (TICKET_KEYS, "ticket-keys"),
            (SESSION_KEY, "session-key"),
        ] {
            let mut vars = conformance();
            vars.remove(name);
            let error = load(|n| vars.get(n).cloned()).unwrap_err();
            assert_eq!(error.part, part);
        }
    }

    #[test]
    fn a_bad_health_snapshot_is_ignored_and_said_why() {
        let mut vars = conformance();
        vars.insert(HEALTH, "{not json".to_owned());
        let loaded = load(|n| vars.get(n).cloned()).unwrap();
        assert!(loaded.health.is_none());
        assert!(
            loaded
                .health_error
                .unwrap()
                .starts_with("USHER_HEALTH ignored")
        );
        vars.insert(HEALTH, "  ".to_owned());
        let loaded = load(|n| vars.get(n).cloned()).unwrap();
        assert!(loaded.health_error.is_none());
    }
}
