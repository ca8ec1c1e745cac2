//! The conformance configuration in `tests/conformance/config/`, shared by every test module.
#![cfg(test)]

use std::path::PathBuf;

use usher_edge_core::config::{ConfigParts, EdgeConfig};
use usher_shared::token::Keyring;
use usher_shared::token::jwt::{self, Claims};

/// `tests/conformance/`.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// The fixture configuration, parsed.
pub fn config() -> EdgeConfig {
    config_with(|_| {})
}

/// The fixture configuration with its `events` document changed by `edit` first.
pub fn config_with(edit: impl FnOnce(&mut serde_json::Value)) -> EdgeConfig {
    let read = |name: &str| std::fs::read(root().join("config").join(name)).unwrap();
    let mut document: serde_json::Value = serde_json::from_slice(&read("events.json")).unwrap();
    edit(&mut document);
    let events = serde_json::to_vec(&document).unwrap();
    let (pathways, settings, keys, session, content, health) = (
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

/// A ticket for `sub` and `event` (one screen, valid until 2026-01-01 04:00 UTC), signed with
/// the fixture keyring.
pub fn ticket_for(sub: &str, event: &str, max_streams: u32) -> String {
    let mut ring = Keyring::new();
    let secret =
        hex::decode("6b3a55e0261b0304143f805a24924d0c1c44524821305f31d9277843b8a10f4e").unwrap();
    ring.insert("tickets-2026", &secret).unwrap();
    let claims = Claims {
        iss: Some("tickets.example".into()),
        sub: Some(sub.into()),
        aud: vec!["usher".into()],
        jti: None,
        iat: None,
        nbf: None,
        exp: 1_767_240_000,
        ev: event.into(),
        scope: format!("/events/{event}/*"),
        sid: None,
        max_streams,
    };
    jwt::mint(&claims, "tickets-2026", &ring).unwrap()
}
