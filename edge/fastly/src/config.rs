//! The configuration as a Fastly service holds it: the documents of [`usher_edge_core::config::ConfigParts`] in a
//! Config Store and a Secret Store, the health snapshot in a KV store.
//!
//! | store (kind) | key | document | required |
//! |---|---|---|---|
//! | `usher_config` (Config Store) | `events` | `events` (JSON) | yes |
//! | `usher_config` (Config Store) | `pathways` | `pathways` (JSON) | yes |
//! | `usher_config` (Config Store) | `settings` | `settings` (JSON) | yes |
//! | `usher_secrets` (Secret Store) | `ticket-keys` | `ticket-keys` (JSON keyring) | yes |
//! | `usher_secrets` (Secret Store) | `session-key` | `session-key` (hex) | yes |
//! | `usher_secrets` (Secret Store) | `content-keys` | `content-keys` (JSON keyring) | when an event is encrypted |
//! | `usher_secrets` (Secret Store) | `health-keys` | `health-keys` (JSON keyring) | to trust a health snapshot |
//! | `usher_health` (KV store) | `snapshot` | health snapshot (the controller's signed envelope) | no |
//! | `usher_config` (Config Store) | `qoe-log-endpoint`, `access-log-endpoint` | log endpoint names | no |
//!
//! Store keys are the core's part names, so a [`ConfigError`] names the key to fix.
//!
//! Key decision: the health snapshot lives in a KV store, not the Config Store. A Config Store
//! value holds at most 8,000 characters, and a snapshot is one character per slot per table
//! (1,000 slots by default, plus one table per client group, up to 256 groups), so only the
//! smallest snapshots would fit; and the controller republishes it every few seconds, which is
//! KV traffic, not configuration management. The documents are small and change with
//! deployments, which is what the Config Store is for; the keys are secrets, which the Secret
//! Store keeps encrypted and out of the service's configuration API.
//!
//! A missing or unusable health snapshot is not an error: the core then falls back to the
//! configured static weights, and the access log says why the snapshot was ignored. The KV
//! store is writable by whoever holds a Fastly API token with KV access, so the snapshot is
//! opened by [`EdgeConfig::health`]: only an envelope signed with a `health-keys` key, which
//! lives in the Secret Store, is used.
//!
//! The documents are parsed once per instance (`handler` keeps the result in a `OnceLock`).
//! Compute starts a fresh instance per request, so in practice this is once per request: a few
//! tens of microseconds for documents of this size, and every request sees the current stores.

use usher_edge_core::config::{ConfigError, DocumentNames, EdgeConfig};
use usher_shared::health::HealthSnapshot;

/// The Config Store with the `events`, `pathways` and `settings` documents.
pub(crate) const CONFIG_STORE: &str = "usher_config";
/// The Secret Store with `ticket-keys`, `session-key`, `content-keys` and `health-keys`.
pub(crate) const SECRET_STORE: &str = "usher_secrets";
/// The KV store the steering controller publishes the health snapshot to.
pub(crate) const HEALTH_STORE: &str = "usher_health";
/// The health snapshot's key in [`HEALTH_STORE`].
pub(crate) const HEALTH_KEY: &str = "snapshot";
/// The KV store holding static assets, keyed by their path below `/assets/`.
pub(crate) const ASSET_STORE: &str = "usher_assets";
/// The KV store holding concurrent-stream lease records.
pub(crate) const LEASE_STORE: &str = "usher_leases";

/// The `events` document's key.
pub(crate) const EVENTS: &str = "events";
/// The `pathways` document's key.
pub(crate) const PATHWAYS: &str = "pathways";
/// The `settings` document's key.
pub(crate) const SETTINGS: &str = "settings";
/// The `ticket-keys` secret's key.
pub(crate) const TICKET_KEYS: &str = "ticket-keys";
/// The `session-key` secret's key.
pub(crate) const SESSION_KEY: &str = "session-key";
/// The `content-keys` secret's key.
pub(crate) const CONTENT_KEYS: &str = "content-keys";
/// The `health-keys` secret's key.
pub(crate) const HEALTH_KEYS: &str = "health-keys";

/// The documents' keys: the core's part names.
const DOCUMENTS: DocumentNames = DocumentNames {
    events: EVENTS,
    pathways: PATHWAYS,
    settings: SETTINGS,
    ticket_keys: TICKET_KEYS,
    session_key: SESSION_KEY,
    content_keys: CONTENT_KEYS,
    health_keys: HEALTH_KEYS,
};

/// The Config Store key naming the log endpoint for QoE events.
pub(crate) const QOE_ENDPOINT_KEY: &str = "qoe-log-endpoint";
/// The Config Store key naming the log endpoint for access lines.
pub(crate) const ACCESS_ENDPOINT_KEY: &str = "access-log-endpoint";
/// The QoE event endpoint when the Config Store names none.
pub(crate) const DEFAULT_QOE_ENDPOINT: &str = "usher_qoe";
/// The access log endpoint when the Config Store names none.
pub(crate) const DEFAULT_ACCESS_ENDPOINT: &str = "usher_access";

/// What a store said about one key: its bytes, `None` when it has no such key, or why it could
/// not be read (a store that is not linked to the service, a failed lookup).
pub(crate) type Lookup = Result<Option<Vec<u8>>, String>;

/// A checked configuration, and the health snapshot that came with it.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The edge configuration.
    pub(crate) config: EdgeConfig,
    /// The health snapshot, when one was published and decoded.
    pub(crate) health: Option<HealthSnapshot>,
    /// Why a published health snapshot was ignored: logged with every request, never fatal.
    pub(crate) health_error: Option<String>,
}

/// Reads and checks the documents: `config` and `secret` look keys up in the Config Store and
/// the Secret Store, `health` is what the health store holds under [`HEALTH_KEY`].
pub(crate) fn load(
    config: impl Fn(&'static str) -> Lookup,
    secret: impl Fn(&'static str) -> Lookup,
    health: Lookup,
) -> Result<Loaded, ConfigError> {
    // The secrets from the Secret Store, the documents from the Config Store.
    let config = EdgeConfig::from_documents(&DOCUMENTS, |key| {
        if matches!(key, TICKET_KEYS | SESSION_KEY | CONTENT_KEYS | HEALTH_KEYS) {
            secret(key)
        } else {
            config(key)
        }
    })?;
    let (health, health_error) = match health {
        Ok(None) => (None, None),
        // An empty value is how a controller withdraws its snapshot: the core says so.
        Ok(Some(bytes)) => match config.health(&bytes) {
            Ok(snapshot) => (snapshot, None),
            Err(error) => (None, Some(error.to_string())),
        },
        Err(error) => (
            None,
            Some(format!("unreadable: {HEALTH_STORE}/{HEALTH_KEY}: {error}")),
        ),
    };
    Ok(Loaded {
        config,
        health,
        health_error,
    })
}

/// The names of the two log endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoints {
    /// Where QoE events go.
    pub(crate) qoe: String,
    /// Where access lines go.
    pub(crate) access: String,
}

impl Endpoints {
    /// The endpoints the Config Store names, or the defaults. Read apart from the documents,
    /// because a request that meets a broken configuration must still be logged.
    pub(crate) fn from_store(config: impl Fn(&'static str) -> Lookup) -> Self {
        let name = |key, default: &str| {
            config(key)
                .ok()
                .flatten()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Endpoints {
            qoe: name(QOE_ENDPOINT_KEY, DEFAULT_QOE_ENDPOINT),
            access: name(ACCESS_ENDPOINT_KEY, DEFAULT_ACCESS_ENDPOINT),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The example configuration of `fastly.toml`'s local server, which the local run uses.
    const LOCAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/local");

    fn local_config() -> HashMap<&'static str, Vec<u8>> {
        let text = std::fs::read_to_string(format!("{LOCAL}/config-store.json")).unwrap();
        let object: HashMap<String, String> = serde_json::from_str(&text).unwrap();
        [EVENTS, PATHWAYS, SETTINGS]
            .into_iter()
            .map(|key| (key, object[key].clone().into_bytes()))
            .collect()
    }

    fn local_secrets() -> HashMap<&'static str, Vec<u8>> {
        let read = |file: &str| std::fs::read(format!("{LOCAL}/{file}")).unwrap();
        HashMap::from([
            (TICKET_KEYS, read("ticket-keys.json")),
            (SESSION_KEY, read("session-key.txt")),
            (HEALTH_KEYS, read("health-keys.json")),
        ])
    }

    fn from(map: &HashMap<&'static str, Vec<u8>>) -> impl Fn(&'static str) -> Lookup {
        |key| Ok(map.get(key).cloned())
    }

    #[test]
    fn the_local_example_configuration_loads() {
        let (config, secrets) = (local_config(), local_secrets());
        let loaded = load(from(&config), from(&secrets), Ok(None)).unwrap();
        assert!(loaded.config.event("final-2026").is_some());
        assert!(loaded.config.origins.contains_key("origin-local"));
        assert!(loaded.health.is_none() && loaded.health_error.is_none());
    }

    #[test]
    fn each_document_is_read_from_its_own_store() {
        let (config, secrets) = (local_config(), local_secrets());
        let broken = |_: &'static str| -> Lookup { Err("store not linked".to_owned()) };
        let error = load(from(&config), broken, Ok(None)).unwrap_err();
        assert_eq!(error.part, TICKET_KEYS);
        assert!(error.to_string().contains("store not linked"));
        let error = load(broken, from(&secrets), Ok(None)).unwrap_err();
        assert_eq!(error.part, EVENTS);
    }

    #[test]
    fn a_bad_or_unreadable_health_snapshot_is_ignored_and_said_why() {
        let (config, secrets) = (local_config(), local_secrets());
        let bad = load(
            from(&config),
            from(&secrets),
            Ok(Some(b"{not json".to_vec())),
        )
        .unwrap();
        assert!(bad.health.is_none());
        assert!(bad.health_error.unwrap().starts_with("unsigned: "));
        let down = load(from(&config), from(&secrets), Err("timeout".into())).unwrap();
        assert!(down.health.is_none());
        assert_eq!(
            down.health_error.unwrap(),
            "unreadable: usher_health/snapshot: timeout"
        );
        let empty = load(from(&config), from(&secrets), Ok(Some(b" \n".to_vec()))).unwrap();
        assert!(empty.health.is_none() && empty.health_error.is_none());
    }

    #[test]
    fn the_local_health_snapshot_is_signed_and_used() {
        let (config, secrets) = (local_config(), local_secrets());
        let snapshot = std::fs::read(format!("{LOCAL}/health.json")).unwrap();
        let loaded = load(from(&config), from(&secrets), Ok(Some(snapshot.clone()))).unwrap();
        assert!(loaded.health.is_some(), "{:?}", loaded.health_error);
        // The same envelope with the health keys missing from the Secret Store: refused.
        let mut keyless = secrets.clone();
        keyless.remove(HEALTH_KEYS);
        let loaded = load(from(&config), from(&keyless), Ok(Some(snapshot))).unwrap();
        assert!(loaded.health.is_none());
        assert!(loaded.health_error.unwrap().starts_with("no_health_keys: "));
    }

    #[test]
    fn log_endpoints_come_from_the_config_store_or_default() {
        let none = Endpoints::from_store(|_| Ok(None));
        assert_eq!(none.qoe, DEFAULT_QOE_ENDPOINT);
        assert_eq!(none.access, DEFAULT_ACCESS_ENDPOINT);
        let named = Endpoints::from_store(|key| {
            Ok((key == QOE_ENDPOINT_KEY).then(|| b" steering_qoe\n".to_vec()))
        });
        assert_eq!(named.qoe, "steering_qoe");
        assert_eq!(named.access, DEFAULT_ACCESS_ENDPOINT);
        let broken = Endpoints::from_store(|_| Err("not linked".into()));
        assert_eq!(broken.access, DEFAULT_ACCESS_ENDPOINT);
    }
}
