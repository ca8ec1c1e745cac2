//! The operator's knobs: which CDNs exist, their static weights and caps, and every threshold of
//! the model, with validation.
//!
//! Every field has a default chosen for a live HLS event with 2 to 6 second segments and an
//! evaluation step every 5 seconds; `docs/health-model.md` explains each one. Deserialising fills
//! missing fields with those defaults, so a config file only has to list the CDNs.
//!
//! What this module does not do: read files. The controller parses whatever format it likes into
//! [`HealthConfig`] and calls [`HealthConfig::validate`] (which [`HealthModel::new`] also does).
//!
//! [`HealthModel::new`]: super::HealthModel::new

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

/// Basis points in a whole: weights and shares are integers out of this.
pub const BASIS_POINTS: u16 = 10_000;

/// The most CDNs a model can steer between.
///
/// The snapshot encodes a slot's CDN as one character of a 62-letter alphabet (see
/// [`slot`](super::slot)); real multi-CDN deployments use 2 to 6.
pub const MAX_CDNS: usize = 62;

/// The most client groups that get their own slot table (each costs one table in the snapshot).
pub const MAX_GROUPS: usize = 256;

/// The longest CDN id or group key, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Fewest and most slots in a slot table. Below 100 slots the 1 % granularity of a slot cannot
/// express a 2 % exploration floor; the upper bound keeps the snapshot small.
pub const SLOTS_RANGE: core::ops::RangeInclusive<u16> = 100..=10_000;

/// The whole model's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// The CDNs, in a fixed order: the order of the snapshot's `cdns` and slot indexes.
    pub cdns: Vec<CdnConfig>,
    /// Client groups (e.g. `"country:DE"`, `"asn:3320"`) that get their own scores and slot
    /// table. Observations for other groups still count toward the CDN's global figures.
    pub groups: Vec<String>,
    /// Slots in every slot table (default 1000: 0.1 % of the audience per slot).
    pub slots: u16,
    /// Half-life of the time-decayed averages behind the score, in milliseconds (default 30 s).
    pub half_life_ms: u64,
    /// Age after which a signal stops counting, in milliseconds (default 60 s).
    pub stale_after_ms: u64,
    /// How long the edge may use a snapshot after it was generated (default 60 s).
    pub snapshot_ttl_ms: u64,
    /// How signals become a score.
    pub score: ScoreConfig,
    /// The error-rate gate.
    pub gate: GateConfig,
    /// How scores become weights and slot moves.
    pub steering: SteeringConfig,
}

/// One CDN as the operator configured it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdnConfig {
    /// Stable id, e.g. `"akamai"`: printable ASCII, 1 to 64 bytes.
    pub id: String,
    /// Share of the audience with no data at all, and the preference between equally healthy
    /// CDNs (commit contracts). All CDNs' static weights add up to 10000. Zero makes a pure
    /// backup CDN that only gets the exploration floor while the others are healthy.
    pub static_weight_bp: u16,
    /// Contractual or capacity cap on this CDN's share, in basis points (default 10000: none).
    /// At least the exploration floor and the static weight.
    #[serde(default = "default_max_share_bp")]
    pub max_share_bp: u16,
    /// Deliverable capacity in bit/s; with a demand estimate (see
    /// [`HealthModel::set_demand_bps`](super::HealthModel::set_demand_bps)) it becomes a share cap.
    #[serde(default)]
    pub capacity_bps: Option<u64>,
}

const fn default_max_share_bp() -> u16 {
    BASIS_POINTS
}

impl CdnConfig {
    /// A CDN with a static weight and no cap.
    pub fn new(id: impl Into<String>, static_weight_bp: u16) -> Self {
        Self {
            id: id.into(),
            static_weight_bp,
            max_share_bp: BASIS_POINTS,
            capacity_bps: None,
        }
    }
}

/// How signals become a score in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreConfig {
    /// Exponent of the throughput sub-score in the weighted geometric mean (default 0.35).
    pub weight_throughput: f64,
    /// Exponent of the time-to-first-byte sub-score (default 0.2).
    pub weight_ttfb: f64,
    /// Exponent of the error sub-score (default 0.35).
    pub weight_error: f64,
    /// Exponent of the cache-hit sub-score (default 0.1).
    pub weight_cache: f64,
    /// Throughput that scores 1: 1.5 times the 6 Mbit/s top rendition (default 9 Mbit/s).
    pub throughput_target_bps: f64,
    /// TTFB that scores 0.5 (default 200 ms).
    pub ttfb_ref_ms: f64,
    /// Error rate that scores 1/e (default 0.02).
    pub error_ref: f64,
    /// Neutral score of a sub-score with no data (default 0.5).
    pub prior: f64,
    /// Pseudo-samples of the prior (and of a group's CDN-wide value) in the shrinkage blend
    /// `n/(n+n0)` (default 5). Keep it small next to the samples a CDN at the exploration floor
    /// produces per half-life: shrinkage pulls sparse CDNs toward the prior, which would
    /// otherwise favour busy CDNs.
    pub prior_samples: f64,
}

/// The error-rate gate: two thresholds and consecutive counts, like Cloudflare load balancer
/// monitors' `consecutive_down`/`consecutive_up`, so one bad sample neither gates nor reopens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// Error rate above which an evaluation counts as bad (default 0.05).
    pub down_error_rate: f64,
    /// Error rate below which an evaluation counts as good (default 0.02).
    pub up_error_rate: f64,
    /// Consecutive bad evaluations that close the gate (default 2).
    pub k_down: u8,
    /// Consecutive good evaluations that reopen it, and that end probation (default 3).
    pub k_up: u8,
    /// Decayed request count needed before a bad verdict counts (default 20).
    pub min_requests: f64,
    /// Half-life of the gate's own error average, shorter than the score's so outages are
    /// caught fast (default 10 s).
    pub half_life_ms: u64,
}

/// How scores become weights and slot moves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SteeringConfig {
    /// Softmax temperature: weights are proportional to `static × exp(score / temperature)`
    /// (default 0.2: a 0.2 score lead is worth a factor e).
    pub temperature: f64,
    /// Least share of every usable CDN, so backups stay warm and measured (default 200 = 2 %).
    pub exploration_floor_bp: u16,
    /// Score change below which target weights are kept (default 0.05).
    pub hysteresis: f64,
    /// A slot that moved cannot move again for this long, except in failover (default 60 s).
    pub min_dwell_ms: u64,
    /// Most slots moved per evaluation when balancing, in basis points of the table
    /// (default 500 = 5 %).
    pub max_migration_bp: u16,
    /// Score under which a CDN's excess slots leave at once, like a gated CDN's (default 0.15).
    pub emergency_score: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            cdns: Vec::new(),
            groups: Vec::new(),
            slots: 1000,
            half_life_ms: 30_000,
            stale_after_ms: 60_000,
            snapshot_ttl_ms: 60_000,
            score: ScoreConfig::default(),
            gate: GateConfig::default(),
            steering: SteeringConfig::default(),
        }
    }
}

impl Default for ScoreConfig {
    fn default() -> Self {
        Self {
            weight_throughput: 0.35,
            weight_ttfb: 0.2,
            weight_error: 0.35,
            weight_cache: 0.1,
            throughput_target_bps: 9_000_000.0,
            ttfb_ref_ms: 200.0,
            error_ref: 0.02,
            prior: 0.5,
            prior_samples: 5.0,
        }
    }
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            down_error_rate: 0.05,
            up_error_rate: 0.02,
            k_down: 2,
            k_up: 3,
            min_requests: 20.0,
            half_life_ms: 10_000,
        }
    }
}

impl Default for SteeringConfig {
    fn default() -> Self {
        Self {
            temperature: 0.2,
            exploration_floor_bp: 200,
            hysteresis: 0.05,
            min_dwell_ms: 60_000,
            max_migration_bp: 500,
            emergency_score: 0.15,
        }
    }
}

/// Why a [`HealthConfig`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// No CDN is configured.
    NoCdns,
    /// More CDNs than [`MAX_CDNS`].
    TooManyCdns {
        /// How many were configured.
        count: usize,
    },
    /// A CDN id is empty, too long or not printable ASCII.
    InvalidCdnId {
        /// The offending id.
        id: String,
    },
    /// Two CDNs share an id.
    DuplicateCdn {
        /// The repeated id.
        id: String,
    },
    /// The static weights do not add up to 10000 basis points.
    StaticWeightsSum {
        /// What they add up to.
        sum: u32,
    },
    /// A group key is empty, too long, not printable ASCII, repeated, or there are too many.
    InvalidGroup {
        /// The offending key.
        group: String,
    },
    /// A numeric field is outside its range.
    OutOfRange {
        /// The field, as a dotted path (e.g. `gate.k_down`).
        field: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoCdns => f.write_str("no cdn configured"),
            ConfigError::TooManyCdns { count } => {
                write!(f, "{count} cdns configured, at most {MAX_CDNS} allowed")
            }
            ConfigError::InvalidCdnId { id } => write!(
                f,
                "invalid cdn id {id:?}: must be 1 to {MAX_ID_LEN} bytes of printable ascii"
            ),
            ConfigError::DuplicateCdn { id } => write!(f, "cdn id {id:?} configured twice"),
            ConfigError::StaticWeightsSum { sum } => {
                write!(f, "static weights add up to {sum} basis points, not 10000")
            }
            ConfigError::InvalidGroup { group } => write!(
                f,
                "invalid group {group:?}: must be unique, 1 to {MAX_ID_LEN} bytes of printable \
                 ascii, at most {MAX_GROUPS} groups"
            ),
            ConfigError::OutOfRange { field, rule } => write!(f, "{field} out of range: {rule}"),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Printable ASCII without spaces: ids end up in logs, JSON and HTTP headers.
fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_ID_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

fn check(ok: bool, field: &'static str, rule: &'static str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { field, rule })
    }
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn unit(x: f64) -> bool {
    x.is_finite() && (0.0..=1.0).contains(&x)
}

impl HealthConfig {
    /// The default configuration for these CDNs.
    pub fn new(cdns: Vec<CdnConfig>) -> Self {
        Self {
            cdns,
            ..Self::default()
        }
    }

    /// Checks every rule the model relies on; the model never sees an invalid config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_cdns()?;
        self.validate_groups()?;
        check(
            SLOTS_RANGE.contains(&self.slots),
            "slots",
            "must be 100 to 10000",
        )?;
        check(self.half_life_ms > 0, "half_life_ms", "must be positive")?;
        check(
            self.stale_after_ms > 0,
            "stale_after_ms",
            "must be positive",
        )?;
        check(
            self.snapshot_ttl_ms > 0,
            "snapshot_ttl_ms",
            "must be positive",
        )?;
        self.validate_score()?;
        self.validate_gate()?;
        self.validate_steering()
    }

    fn validate_cdns(&self) -> Result<(), ConfigError> {
        if self.cdns.is_empty() {
            return Err(ConfigError::NoCdns);
        }
        if self.cdns.len() > MAX_CDNS {
            return Err(ConfigError::TooManyCdns {
                count: self.cdns.len(),
            });
        }
        let mut static_sum = 0u32;
        for (i, cdn) in self.cdns.iter().enumerate() {
            if !valid_key(&cdn.id) {
                return Err(ConfigError::InvalidCdnId { id: cdn.id.clone() });
            }
            if self.cdns.iter().take(i).any(|other| other.id == cdn.id) {
                return Err(ConfigError::DuplicateCdn { id: cdn.id.clone() });
            }
            check(
                cdn.max_share_bp <= BASIS_POINTS,
                "cdns.max_share_bp",
                "must be at most 10000",
            )?;
            check(
                cdn.max_share_bp >= self.steering.exploration_floor_bp,
                "cdns.max_share_bp",
                "must be at least the exploration floor",
            )?;
            check(
                cdn.static_weight_bp <= cdn.max_share_bp,
                "cdns.static_weight_bp",
                "must not exceed max_share_bp",
            )?;
            check(
                cdn.capacity_bps != Some(0),
                "cdns.capacity_bps",
                "must be positive",
            )?;
            static_sum += u32::from(cdn.static_weight_bp);
        }
        if static_sum != u32::from(BASIS_POINTS) {
            return Err(ConfigError::StaticWeightsSum { sum: static_sum });
        }
        Ok(())
    }

    fn validate_groups(&self) -> Result<(), ConfigError> {
        for (i, group) in self.groups.iter().enumerate() {
            let repeated = self.groups.iter().take(i).any(|other| other == group);
            if !valid_key(group) || repeated || i >= MAX_GROUPS {
                return Err(ConfigError::InvalidGroup {
                    group: group.clone(),
                });
            }
        }
        Ok(())
    }

    fn validate_score(&self) -> Result<(), ConfigError> {
        let s = &self.score;
        let weights = [
            s.weight_throughput,
            s.weight_ttfb,
            s.weight_error,
            s.weight_cache,
        ];
        check(
            weights.iter().all(|w| w.is_finite() && *w >= 0.0),
            "score.weight_*",
            "must be finite and not negative",
        )?;
        check(
            weights.iter().sum::<f64>() > 0.0,
            "score.weight_*",
            "must not all be zero",
        )?;
        check(
            positive(s.throughput_target_bps),
            "score.throughput_target_bps",
            "must be positive",
        )?;
        check(
            positive(s.ttfb_ref_ms),
            "score.ttfb_ref_ms",
            "must be positive",
        )?;
        check(positive(s.error_ref), "score.error_ref", "must be positive")?;
        check(
            unit(s.prior) && s.prior > 0.0,
            "score.prior",
            "must be in (0, 1]",
        )?;
        check(
            s.prior_samples.is_finite() && s.prior_samples >= 0.0,
            "score.prior_samples",
            "must be finite and not negative",
        )
    }

    fn validate_gate(&self) -> Result<(), ConfigError> {
        let g = &self.gate;
        check(
            unit(g.down_error_rate),
            "gate.down_error_rate",
            "must be in [0, 1]",
        )?;
        check(
            unit(g.up_error_rate),
            "gate.up_error_rate",
            "must be in [0, 1]",
        )?;
        check(
            g.up_error_rate <= g.down_error_rate,
            "gate.up_error_rate",
            "must not exceed gate.down_error_rate",
        )?;
        check(g.k_down >= 1, "gate.k_down", "must be at least 1")?;
        check(g.k_up >= 1, "gate.k_up", "must be at least 1")?;
        check(
            g.min_requests.is_finite() && g.min_requests >= 0.0,
            "gate.min_requests",
            "must be finite and not negative",
        )?;
        check(g.half_life_ms > 0, "gate.half_life_ms", "must be positive")
    }

    fn validate_steering(&self) -> Result<(), ConfigError> {
        let s = &self.steering;
        check(
            positive(s.temperature),
            "steering.temperature",
            "must be positive",
        )?;
        // `validate_cdns` already capped `cdns.len()` at 62, so this cannot overflow.
        let floor_total = u32::from(s.exploration_floor_bp) * self.cdns.len() as u32;
        check(
            floor_total <= u32::from(BASIS_POINTS),
            "steering.exploration_floor_bp",
            "floor times cdn count must not exceed 10000",
        )?;
        check(
            s.hysteresis.is_finite() && (0.0..1.0).contains(&s.hysteresis),
            "steering.hysteresis",
            "must be in [0, 1)",
        )?;
        check(
            (1..=BASIS_POINTS).contains(&s.max_migration_bp),
            "steering.max_migration_bp",
            "must be 1 to 10000",
        )?;
        check(
            unit(s.emergency_score),
            "steering.emergency_score",
            "must be in [0, 1]",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn two() -> HealthConfig {
        HealthConfig::new(vec![CdnConfig::new("a", 6000), CdnConfig::new("b", 4000)])
    }

    #[test]
    fn defaults_validate() {
        assert_eq!(two().validate(), Ok(()));
    }

    #[test]
    fn empty_cdn_list_is_rejected() {
        assert_eq!(HealthConfig::default().validate(), Err(ConfigError::NoCdns));
    }

    #[test]
    fn static_weights_must_sum_to_whole() {
        let mut c = two();
        c.cdns[1].static_weight_bp = 3999;
        assert_eq!(
            c.validate(),
            Err(ConfigError::StaticWeightsSum { sum: 9999 })
        );
    }

    #[test]
    fn duplicate_and_malformed_ids_are_rejected() {
        let mut c = two();
        c.cdns[1].id = "a".into();
        assert_eq!(
            c.validate(),
            Err(ConfigError::DuplicateCdn { id: "a".into() })
        );
        c.cdns[1].id = "b c".into();
        assert_eq!(
            c.validate(),
            Err(ConfigError::InvalidCdnId { id: "b c".into() })
        );
    }

    #[test]
    fn static_weight_over_the_cap_is_rejected() {
        // Static weights add up to the whole and each fits its cap, so the caps always hold
        // the audience.
        let mut c = two();
        c.cdns[0].max_share_bp = 5000;
        let err = c.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "cdns.static_weight_bp out of range: must not exceed max_share_bp"
        );
    }

    #[test]
    fn inverted_gate_thresholds_are_rejected() {
        let mut c = two();
        c.gate.up_error_rate = 0.1;
        let err = c.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "gate.up_error_rate out of range: must not exceed gate.down_error_rate"
        );
    }

    #[test]
    fn floor_too_large_for_cdn_count_is_rejected() {
        let mut c = two();
        c.steering.exploration_floor_bp = 5001;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                field: "steering.exploration_floor_bp",
                ..
            })
        ));
    }

    #[test]
    fn repeated_group_is_rejected() {
        let mut c = two();
        c.groups = vec!["country:DE".into(), "country:DE".into()];
        assert_eq!(
            c.validate(),
            Err(ConfigError::InvalidGroup {
                group: "country:DE".into()
            })
        );
    }

    #[test]
    fn missing_fields_deserialise_to_defaults() {
        let json = r#"{"cdns":[{"id":"a","static_weight_bp":10000}]}"#;
        let c: HealthConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.slots, 1000);
        assert_eq!(c.cdns[0].max_share_bp, 10_000);
        assert_eq!(c.validate(), Ok(()));
    }
}
