//! The controller's configuration file (`usher control run --config control.toml`).
//!
//! One TOML document: the CDNs (the same ids, base URLs and static weights as the edges'
//! `pathways`), the events to probe, the health model's thresholds, the SLA the report holds
//! the CDNs to, where snapshots are published, and where QoE lines come from. Every table but
//! `[[cdn]]` and `[[event]]` is optional; missing fields take the defaults documented on each
//! field and in `docs/controller.md`. Unknown keys are refused, so a misspelt threshold is an
//! error at start rather than a default in the middle of an event.
//!
//! What it does not do: read files. The runtime reads the document and the files it names
//! (keys, tokens) and passes text in.

use std::fmt;

use serde::Deserialize;
use usher_shared::health::{CdnConfig, HealthConfig};

use crate::admission::{AdmissionConfig, Rate};

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Evaluation cadence in ms (default 5000): probes and QoE are folded in, the model
    /// evaluated and a snapshot published this often.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// Window of the dashboard's and report's statistics, in ms (default 30 000).
    #[serde(default = "default_window_ms")]
    pub metrics_window_ms: u64,
    /// A session counts as a viewer while it sent CMCD within this window, in ms (default
    /// 30 000).
    #[serde(default = "default_window_ms")]
    pub viewer_window_ms: u64,
    /// The CDNs, in the edges' pathway order.
    #[serde(rename = "cdn")]
    pub cdns: Vec<Cdn>,
    /// The live events to probe (and to report on).
    #[serde(rename = "event")]
    pub events: Vec<Event>,
    /// The health model's thresholds (`docs/health-model.md` §11); `cdns` comes from `[[cdn]]`
    /// and must not be given here.
    #[serde(default)]
    pub health: HealthConfig,
    /// How probes are sent.
    #[serde(default)]
    pub probe: ProbeConfig,
    /// The service levels the report checks.
    #[serde(default)]
    pub sla: Sla,
    /// Where snapshots go (`kind = "file" | "http" | "fastly-config-store" |
    /// "fastly-kv-store" | "cloudflare-kv"`, see `docs/controller.md`).
    #[serde(default, rename = "publish")]
    pub publish: Vec<toml_value::Table>,
    /// Files of QoE lines to follow, as edges' log shipping writes them.
    #[serde(default)]
    pub qoe: QoeConfig,
    /// How the snapshot is signed.
    pub signing: Signing,
}

/// Publish targets stay raw TOML here: the publishing module parses them with its own types,
/// so this module does not depend on it.
pub mod toml_value {
    /// A TOML table, as parsed.
    pub type Table = serde_json::Map<String, serde_json::Value>;
}

/// One CDN.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cdn {
    /// The pathway id, as the edges know it.
    pub id: String,
    /// Its base URL (`https://cdn-a.example.com/`): probes fetch
    /// `{base_url}events/{event}/{playlist}` through it.
    pub base_url: String,
    /// Static weight in basis points; all CDNs' add up to 10 000.
    pub static_weight_bp: u16,
    /// Cap on its share in basis points (default 10 000).
    #[serde(default)]
    pub max_share_bp: Option<u16>,
    /// Deliverable capacity in bit/s, if known.
    #[serde(default)]
    pub capacity_bps: Option<u64>,
}

/// One event.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The event id, as in the edges' catalog and paths.
    pub id: String,
    /// Media playlists to probe, relative to `{base_url}events/{id}/` (one rendition is
    /// enough; a mid-ladder one is representative of what most viewers fetch).
    pub probe_playlists: Vec<String>,
    /// The event's waiting room (`[event.admission]`), if it has one: the controller then
    /// publishes its admission plan in every snapshot.
    #[serde(default)]
    pub admission: Option<AdmissionConfig>,
}

/// How probes are sent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Probe cadence per CDN and playlist, in ms (default 2000, one segment duration: each
    /// probe sees a new segment).
    pub interval_ms: u64,
    /// Time limit of each request, in ms (default 4000).
    pub timeout_ms: u64,
    /// Largest segment body read, in bytes (default 16 MiB).
    pub max_body_bytes: u64,
    /// A file with the edges' EdgeAuth session key, hex, to mint probe session tokens as the
    /// edge does (relative to the configuration file). Without it probes carry no token, which
    /// suits CDNs that need none.
    pub session_key_file: Option<String>,
    /// The session token's HMAC algorithm (default `sha256`), as the edges' `settings`.
    pub session_algorithm: String,
    /// The session token's query parameter (default `__token__`).
    pub session_param: String,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            interval_ms: 2000,
            timeout_ms: 4000,
            max_body_bytes: 16 << 20,
            session_key_file: None,
            session_algorithm: "sha256".into(),
            session_param: "__token__".into(),
        }
    }
}

/// The service levels a CDN is held to: the report counts the share of evaluation ticks each
/// CDN met each of them (a tick without data for a level does not count either way).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Sla {
    /// TTFB 95th percentile over the window at most this, ms (default 800).
    pub ttfb_p95_ms: f64,
    /// Error rate at most this (default 0.01).
    pub error_rate: f64,
    /// Cache hit ratio at least this (default 0.9).
    pub cache_hit_ratio: f64,
    /// Median throughput at least this, bit/s (default 6 Mbit/s).
    pub throughput_bps: f64,
    /// The share of ticks a CDN must meet a level in to adhere (default 0.99).
    pub target: f64,
}

impl Default for Sla {
    fn default() -> Self {
        Sla {
            ttfb_p95_ms: 800.0,
            error_rate: 0.01,
            cache_hit_ratio: 0.9,
            throughput_bps: 6_000_000.0,
            target: 0.99,
        }
    }
}

/// QoE inputs besides `POST /v1/qoe`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QoeConfig {
    /// JSON-lines files to follow from their end (relative to the configuration file).
    pub files: Vec<String>,
}

/// How snapshots are signed (`usher_shared::health` signing layer).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// The key id to sign with; it must be in the keyring file.
    pub key_id: String,
    /// The keyring, `{"kid": "hex"}`, the same document as the edges' `health-keys`
    /// (relative to the configuration file).
    pub keys_file: String,
}

const fn default_interval_ms() -> u64 {
    5000
}

const fn default_window_ms() -> u64 {
    30_000
}

/// Why a configuration was refused. The message names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ControlConfig {
    /// Parses and checks a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: ControlConfig =
            toml::from_str(text).map_err(|e| ConfigError(e.message().to_owned()))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if !self.health.cdns.is_empty() {
            return err("health.cdns: list the CDNs as [[cdn]] tables, not in [health]".into());
        }
        if self.interval_ms < 500 {
            return err("interval_ms: at least 500".into());
        }
        if self.probe.interval_ms < 100 || self.probe.timeout_ms == 0 {
            return err("probe.interval_ms: at least 100; probe.timeout_ms: above 0".into());
        }
        if self.metrics_window_ms == 0 || self.viewer_window_ms == 0 {
            return err("metrics_window_ms and viewer_window_ms: above 0".into());
        }
        if self.events.is_empty() {
            return err("event: at least one [[event]]".into());
        }
        for (i, event) in self.events.iter().enumerate() {
            if event.id.is_empty() || event.id.contains(['/', '?', '#']) {
                return err(format!("event[{i}].id: a non-empty path segment"));
            }
            if event.probe_playlists.is_empty() {
                return err(format!("event[{i}].probe_playlists: at least one"));
            }
            if let Some(admission) = &event.admission {
                let edge_id = event.id.len() <= 64
                    && event
                        .id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                if !edge_id {
                    return err(format!(
                        "event[{i}].id: an event with a waiting room has an id of 1 to 64 of \
                         A-Z a-z 0-9 - _ ."
                    ));
                }
                admission
                    .check()
                    .map_err(|e| ConfigError(format!("event[{i}].admission.{e}")))?;
                let automatic = admission.rate() == Ok(Rate::Automatic);
                if automatic && self.cdns.iter().all(|c| c.capacity_bps.is_none()) {
                    return err(format!(
                        "event[{i}].admission.rate: \"automatic\" needs capacity_bps on at \
                         least one [[cdn]]"
                    ));
                }
            }
        }
        for (i, cdn) in self.cdns.iter().enumerate() {
            let http = cdn.base_url.starts_with("http://") || cdn.base_url.starts_with("https://");
            if !http || !cdn.base_url.ends_with('/') {
                return err(format!(
                    "cdn[{i}].base_url: an http(s) URL ending in '/', got {:?}",
                    cdn.base_url
                ));
            }
        }
        let sla = &self.sla;
        let ratios = [sla.error_rate, sla.cache_hit_ratio, sla.target];
        if ratios.iter().any(|r| !(0.0..=1.0).contains(r))
            || !(sla.ttfb_p95_ms > 0.0 && sla.throughput_bps >= 0.0)
        {
            return err("sla: ratios within 0..=1, ttfb_p95_ms above 0".into());
        }
        self.health_config()
            .validate()
            .map_err(|e| ConfigError(format!("health: {e}")))?;
        Ok(())
    }

    /// The health model's configuration: `[health]` with the `[[cdn]]` list.
    pub fn health_config(&self) -> HealthConfig {
        let mut health = self.health.clone();
        health.cdns = self
            .cdns
            .iter()
            .map(|c| {
                let mut cdn = CdnConfig::new(c.id.clone(), c.static_weight_bp);
                if let Some(cap) = c.max_share_bp {
                    cdn.max_share_bp = cap;
                }
                cdn.capacity_bps = c.capacity_bps;
                cdn
            })
            .collect();
        health
    }

    /// The CDN ids, in order.
    pub fn cdn_ids(&self) -> Vec<String> {
        self.cdns.iter().map(|c| c.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    const MINIMAL: &str = r#"
        [signing]
        key_id = "h1"
        keys_file = "health-keys.json"
        [[cdn]]
        id = "cdn-a"
        base_url = "http://127.0.0.1:8081/"
        static_weight_bp = 6000
        [[cdn]]
        id = "cdn-b"
        base_url = "http://127.0.0.1:8082/"
        static_weight_bp = 4000
        capacity_bps = 400000000000
        [[event]]
        id = "final"
        probe_playlists = ["v1/playlist.m3u8"]
    "#;

    #[test]
    fn a_minimal_file_takes_the_defaults() {
        let c = ControlConfig::from_toml(MINIMAL).unwrap();
        assert_eq!(c.interval_ms, 5000);
        assert_eq!(c.probe.interval_ms, 2000);
        assert_eq!(c.sla, Sla::default());
        let h = c.health_config();
        assert_eq!(h.cdns.len(), 2);
        assert_eq!(h.cdns[1].capacity_bps, Some(400_000_000_000));
        assert_eq!(h.slots, HealthConfig::default().slots);
    }

    #[test]
    fn a_misspelt_key_is_refused_by_name() {
        let text = MINIMAL.replace("[signing]", "[sla]\nttfb_p59_ms = 3\n[signing]");
        let e = ControlConfig::from_toml(&text).unwrap_err();
        assert!(e.0.contains("ttfb_p59_ms"), "{e}");
    }

    #[test]
    fn weights_that_do_not_add_up_are_refused_by_the_health_model() {
        let text = MINIMAL.replace("6000", "5000");
        let e = ControlConfig::from_toml(&text).unwrap_err();
        assert!(e.0.starts_with("health:"), "{e}");
    }

    #[test]
    fn an_admission_table_is_read_and_checked() {
        let text = format!(
            "{MINIMAL}\n[event.admission]\ndoors_open_ms = 1767225600000\nrate_per_min = 600\ncap = 5000\n"
        );
        let c = ControlConfig::from_toml(&text).unwrap();
        let a = c.events[0].admission.as_ref().unwrap();
        assert_eq!(
            (a.rate_per_min, a.cap, a.line_delay_ms),
            (Some(600), Some(5000), 5000)
        );
        let auto = text.replace("rate_per_min = 600", "rate = \"automatic\"");
        assert!(ControlConfig::from_toml(&auto).is_ok());
        let no_capacity = auto.replace("capacity_bps = 400000000000", "");
        let e = ControlConfig::from_toml(&no_capacity).unwrap_err();
        assert!(e.0.contains("needs capacity_bps"), "{e}");
        let e = ControlConfig::from_toml(&text.replace("cap = 5000", "cap = 0")).unwrap_err();
        assert_eq!(e.0, "event[0].admission.cap: above 0");
        let e = ControlConfig::from_toml(&text.replace("cap =", "cop =")).unwrap_err();
        assert!(e.0.contains("cop"), "{e}");
    }

    #[test]
    fn a_base_url_without_a_trailing_slash_is_refused() {
        let text = MINIMAL.replace("8082/", "8082");
        let e = ControlConfig::from_toml(&text).unwrap_err();
        assert!(e.0.contains("cdn[1].base_url"), "{e}");
    }
}
