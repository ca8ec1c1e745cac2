//! The conformance configuration in `tests/conformance/config/`, shared by every test module.
#![cfg(test)]

use std::path::PathBuf;

use usher_edge_core::config::{ConfigParts, EdgeConfig};

/// `tests/conformance/`.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// The fixture configuration, parsed.
pub fn config() -> EdgeConfig {
    let read = |name: &str| std::fs::read(root().join("config").join(name)).unwrap();
    let (events, pathways, settings, keys, session, content, health) = (
        read("events.json"),
        read("pathways.json"),
        read("settings.json"),
        read("ticket-keys.json"),
        read("session-key.txt"),
        read("content-keys.json"),
        read("health-keys.json"),
    );
    EdgeConfig::from_parts(&ConfigParts {
        events: Some(&events),
        pathways: Some(&pathways),
        settings: Some(&settings),
        ticket_keys: Some(&keys),
        session_key: Some(&session),
        content_keys: Some(&content),
        health_keys: Some(&health),
    })
    .unwrap()
}
