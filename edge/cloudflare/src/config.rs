//! The configuration as a Worker's bindings carry it, and the health snapshot from KV.
//!
//! | binding | kind | holds | required |
//! |---|---|---|---|
//! | `USHER_EVENTS` | variable | `events` (JSON) | yes |
//! | `USHER_PATHWAYS` | variable | `pathways` (JSON) | yes |
//! | `USHER_SETTINGS` | variable | `settings` (JSON) | yes |
//! | `USHER_TICKET_KEYS` | secret | `ticket-keys` (JSON keyring) | yes |
//! | `USHER_SESSION_KEY` | secret | `session-key` (hex) | yes |
//! | `USHER_CONTENT_KEYS` | secret | `content-keys` (JSON keyring) | when an event is encrypted |
//! | `USHER_HEALTH_KEYS` | secret | `health-keys` (JSON keyring) | to trust a health snapshot |
//! | `USHER_HEALTH` | KV namespace | the signed health snapshot, under the key `snapshot` | no |
//!
//! A variable may be a string holding the document or, as wrangler writes a `[vars]` table, a
//! JSON object: both reach the core as the same bytes of JSON.
//!
//! Key decisions:
//! - The documents are checked once per isolate and kept for its lifetime. Workers starts
//!   new isolates for every deployment, and a changed variable or secret is a deployment, so an
//!   isolate never sees its configuration change.
//! - The health snapshot is the one part that changes while an isolate lives: the steering
//!   controller rewrites it every few seconds. It is read from KV at most once per
//!   [`HEALTH_REFRESH_MS`] per isolate ([`HealthMemo`]), so segment requests, the bulk of the
//!   traffic, almost never wait for KV, and decoded again only when its bytes changed. The
//!   consistency window is KV's edge cache (a location sees a new value up to 60 s after it
//!   was written elsewhere) plus this memo; the core itself ignores a snapshot past its own
//!   expiry and falls back to the static weights.
//! - Anyone with a Cloudflare API token for the namespace can write KV, so the snapshot is
//!   opened by [`EdgeConfig::health`]: only an envelope signed with a `USHER_HEALTH_KEYS` key
//!   (a Worker secret) is used.
//!
//! A snapshot that cannot be read, verified or decoded is never an error for the viewer: the
//! core falls back to the configured static weights, and the access line says why.

use std::convert::Infallible;
use std::rc::Rc;

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
/// The KV namespace the steering controller publishes the health snapshot to.
pub(crate) const HEALTH_STORE: &str = "USHER_HEALTH";
/// The snapshot's key in [`HEALTH_STORE`].
pub(crate) const HEALTH_KEY: &str = "snapshot";
/// How long an isolate uses the snapshot it read before reading KV again, in milliseconds.
pub(crate) const HEALTH_REFRESH_MS: u64 = 5_000;

/// The documents' bindings.
const DOCUMENTS: DocumentNames = DocumentNames {
    events: EVENTS,
    pathways: PATHWAYS,
    settings: SETTINGS,
    ticket_keys: TICKET_KEYS,
    session_key: SESSION_KEY,
    content_keys: CONTENT_KEYS,
    health_keys: HEALTH_KEYS,
};

/// Reads and checks the documents through `lookup` (the Worker's bindings, or a test's
/// table).
pub(crate) fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<EdgeConfig, ConfigError> {
    EdgeConfig::from_documents(&DOCUMENTS, |name| Ok::<_, Infallible>(lookup(name)))
}

/// The health snapshot as this isolate last read it.
#[derive(Debug, Default)]
pub(crate) struct HealthMemo {
    /// When KV was last asked, Unix milliseconds; `None` before the first read.
    read_at_ms: Option<u64>,
    /// The bytes last read, to skip decoding an unchanged snapshot.
    raw: Option<String>,
    /// The decoded snapshot, shared with the requests in flight.
    snapshot: Option<Rc<HealthSnapshot>>,
    /// Why there is no usable snapshot, or why the last read failed.
    error: Option<String>,
}

impl HealthMemo {
    /// Whether KV should be read again at `now_ms`.
    pub(crate) fn is_due(&self, now_ms: u64) -> bool {
        self.read_at_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= HEALTH_REFRESH_MS)
    }

    /// Takes in what a read of KV at `now_ms` gave: the value (`None`: no snapshot published),
    /// or the store's error. A failed read keeps the snapshot in hand: the core judges its age.
    /// A new value is opened with `config`'s health keys.
    pub(crate) fn update(
        &mut self,
        now_ms: u64,
        read: Result<Option<String>, String>,
        config: &EdgeConfig,
    ) {
        self.read_at_ms = Some(now_ms);
        match read {
            Err(error) => self.error = Some(format!("unreadable: {HEALTH_STORE}: {error}")),
            Ok(None) => {
                self.raw = None;
                self.snapshot = None;
                self.error = None;
            }
            Ok(Some(raw)) if self.raw.as_ref() == Some(&raw) => {}
            Ok(Some(raw)) => {
                // An empty value is how an operator clears the snapshot by hand: the core says
                // there is none.
                match config.health(raw.as_bytes()) {
                    Ok(snapshot) => {
                        self.snapshot = snapshot.map(Rc::new);
                        self.error = None;
                    }
                    Err(error) => {
                        self.snapshot = None;
                        self.error = Some(error.to_string());
                    }
                }
                self.raw = Some(raw);
            }
        }
    }

    /// The snapshot to decide with, if there is one.
    pub(crate) fn snapshot(&self) -> Option<Rc<HealthSnapshot>> {
        self.snapshot.clone()
    }

    /// What the access line says about the snapshot, if anything went wrong.
    pub(crate) fn error(&self) -> Option<String> {
        self.error.clone()
    }
}

#[cfg(target_arch = "wasm32")]
mod bindings {
    //! Reading the configuration and the snapshot from a Worker's `Env`.

    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::OnceLock;

    use usher_edge_core::config::{ConfigError, EdgeConfig};
    use usher_shared::health::HealthSnapshot;
    use worker::Env;

    use super::{HEALTH_KEY, HEALTH_STORE, HealthMemo, load};

    /// This isolate's configuration, read from its bindings on first use.
    pub(crate) fn current(env: &Env) -> &'static Result<EdgeConfig, ConfigError> {
        static CURRENT: OnceLock<Result<EdgeConfig, ConfigError>> = OnceLock::new();
        CURRENT.get_or_init(|| load(|name| text(env, name)))
    }

    /// A text binding, or a JSON object binding as its JSON text.
    fn text(env: &Env, name: &str) -> Option<String> {
        if let Ok(var) = env.var(name) {
            return Some(var.to_string());
        }
        env.object_var::<serde_json::Value>(name)
            .ok()
            .map(|value| value.to_string())
    }

    thread_local! {
        static HEALTH: RefCell<HealthMemo> = RefCell::new(HealthMemo::default());
    }

    /// The health snapshot to decide with at `now_ms`, opened with `config`'s health keys, and
    /// what went wrong with it, if anything.
    pub(crate) async fn health(
        env: &Env,
        config: &EdgeConfig,
        now_ms: u64,
    ) -> (Option<Rc<HealthSnapshot>>, Option<String>) {
        if HEALTH.with_borrow(|memo| memo.is_due(now_ms)) {
            // No borrow is held across the await: other requests of this isolate may run
            // meanwhile, and read the memo as it was.
            let read = match env.kv(HEALTH_STORE) {
                Ok(store) => store
                    .get(HEALTH_KEY)
                    .text()
                    .await
                    .map_err(|error| error.to_string()),
                // No namespace bound: no snapshot, the static weights.
                Err(_) => Ok(None),
            };
            HEALTH.with_borrow_mut(|memo| memo.update(now_ms, read, config));
        }
        HEALTH.with_borrow(|memo| (memo.snapshot(), memo.error()))
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) use bindings::{current, health};

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

    /// The conformance events without their waiting room, which needs `health-keys`: what an
    /// edge without the controller's keys can be configured with.
    fn without_waiting_rooms(events: &str) -> String {
        let mut document: serde_json::Value = serde_json::from_str(events).unwrap();
        for event in document["events"].as_array_mut().unwrap() {
            event.as_object_mut().unwrap().remove("admission");
        }
        document.to_string()
    }

    fn edge_config() -> EdgeConfig {
        let vars = conformance();
        load(|name| vars.get(name).cloned()).unwrap()
    }

    /// A health snapshot the core accepts (everybody on the first of the conformance
    /// pathways), numbered `seq`, signed with the conformance health key.
    fn snapshot_json(seq: u64) -> String {
        let cdn = |id: &str, static_weight_bp: u16, weight_bp: u16| {
            serde_json::json!({
                "id": id, "static_weight_bp": static_weight_bp, "score_permille": 500,
                "weight_bp": weight_bp, "state": "healthy", "reason": "healthy"
            })
        };
        let json = serde_json::json!({
            "format_version": 1,
            "seq": seq,
            "generated_at_ms": 1_767_225_600_000_u64,
            "expires_at_ms": 1_767_225_660_000_u64,
            "cdns": [cdn("cdn-a", 5000, 10_000), cdn("cdn-b", 3000, 0), cdn("cdn-c", 2000, 0)],
            "slots": "0".repeat(1000),
        })
        .to_string();
        let keys = HealthKeys::from_json(conformance()[HEALTH_KEYS].as_bytes()).unwrap();
        String::from_utf8(seal(&keys, "h-2026", json.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn the_conformance_configuration_loads_from_bindings() {
        let vars = conformance();
        let config = load(|name| vars.get(name).cloned()).unwrap();
        assert!(config.event("final-2026").is_some());
        assert_eq!(config.pathways.len(), 3);
    }

    #[test]
    fn kv_is_read_again_only_after_the_refresh_interval() {
        let config = edge_config();
        let mut memo = HealthMemo::default();
        assert!(memo.is_due(1_000));
        memo.update(1_000, Ok(None), &config);
        assert!(!memo.is_due(1_000 + HEALTH_REFRESH_MS - 1));
        assert!(memo.is_due(1_000 + HEALTH_REFRESH_MS));
        // A clock that went backwards does not stop reads for good.
        assert!(!memo.is_due(0));
    }

    #[test]
    fn a_published_snapshot_is_decoded_once_and_replaced_when_it_changes() {
        let config = edge_config();
        let mut memo = HealthMemo::default();
        memo.update(0, Ok(Some(snapshot_json(7))), &config);
        let first = memo.snapshot().unwrap();
        assert_eq!(first.seq(), 7);
        assert!(memo.error().is_none());
        // The same bytes: the same decoded snapshot, not a new one.
        memo.update(HEALTH_REFRESH_MS, Ok(Some(snapshot_json(7))), &config);
        assert!(Rc::ptr_eq(&first, &memo.snapshot().unwrap()));
        memo.update(2 * HEALTH_REFRESH_MS, Ok(Some(snapshot_json(8))), &config);
        assert_eq!(memo.snapshot().unwrap().seq(), 8);
    }

    #[test]
    fn a_failed_read_keeps_the_snapshot_and_says_why() {
        let config = edge_config();
        let mut memo = HealthMemo::default();
        memo.update(0, Ok(Some(snapshot_json(7))), &config);
        memo.update(HEALTH_REFRESH_MS, Err("network lost".to_owned()), &config);
        assert_eq!(memo.snapshot().unwrap().seq(), 7);
        assert_eq!(
            memo.error().as_deref(),
            Some("unreadable: USHER_HEALTH: network lost")
        );
    }

    #[test]
    fn an_undecodable_or_removed_snapshot_means_static_weights() {
        let config = edge_config();
        let mut memo = HealthMemo::default();
        memo.update(0, Ok(Some(snapshot_json(7))), &config);
        memo.update(HEALTH_REFRESH_MS, Ok(Some("{not json".to_owned())), &config);
        assert!(memo.snapshot().is_none());
        assert!(memo.error().unwrap().starts_with("unsigned: "));
        memo.update(2 * HEALTH_REFRESH_MS, Ok(Some(snapshot_json(7))), &config);
        assert!(memo.snapshot().is_some());
        memo.update(3 * HEALTH_REFRESH_MS, Ok(None), &config);
        assert!(memo.snapshot().is_none());
        assert!(memo.error().is_none());
        memo.update(4 * HEALTH_REFRESH_MS, Ok(Some(" \n".to_owned())), &config);
        assert!(memo.snapshot().is_none());
        assert!(memo.error().is_none());
    }

    #[test]
    fn a_snapshot_signed_with_another_key_or_changed_is_refused() {
        let config = edge_config();
        let mut memo = HealthMemo::default();
        let tampered = snapshot_json(7).replacen("\"seq\":7", "\"seq\":9", 1);
        memo.update(0, Ok(Some(tampered)), &config);
        assert!(memo.snapshot().is_none());
        assert!(memo.error().unwrap().starts_with("bad_signature: "));
        let mut vars = conformance();
        vars.remove(HEALTH_KEYS);
        let events = without_waiting_rooms(&vars[EVENTS]);
        vars.insert(EVENTS, events);
        let keyless = load(|name| vars.get(name).cloned()).unwrap();
        memo.update(HEALTH_REFRESH_MS, Ok(Some(snapshot_json(7))), &keyless);
        assert!(memo.snapshot().is_none());
        assert!(memo.error().unwrap().starts_with("no_health_keys: "));
    }
}
