//! Reason codes and CDN states: the vocabulary of every decision the model logs.
//!
//! The codes are stable snake_case strings: they go into the controller's decision log, the
//! post-event report and the snapshot, so renaming one is a format change (see
//! `docs/health-model.md`, "Versioning").

use core::fmt;

use serde::{Deserialize, Serialize};

/// Why a CDN got its weight and slots, why a slot moved, or why the edge picked a CDN.
///
/// One enum for all three so that a log line, a snapshot entry and an edge assignment speak the
/// same language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Fresh data, gate open, weight follows the score.
    Healthy,
    /// The error-rate gate is closed: the CDN gets no traffic.
    GatedErrorRate,
    /// The gate reopened (good data or bad data gone stale): probation at the exploration floor.
    Recovering,
    /// The CDN had data but all of it is older than `stale_after_ms`: probation at the floor.
    StaleData,
    /// The CDN has never been observed while others have: probation at the floor.
    NoData,
    /// No CDN has fresh data: the operator's static weights apply.
    StaticFallback,
    /// Every CDN is gated: traffic goes by score anyway, because a degraded CDN beats none.
    LastResort,
    /// The weight was cut to the CDN's max share or capacity.
    Capped,
    /// The caps of the usable CDNs add up to less than the audience: a cap had to be exceeded.
    OverCapacity,
    /// The weight was raised to the exploration floor to keep the CDN warm.
    ExplorationFloor,
    /// The score moved, but by less than the hysteresis delta: targets kept.
    HysteresisHold,
    /// Slots are off target because they moved within `min_dwell_ms`.
    DwellHold,
    /// Slots are off target because the per-step migration budget ran out.
    MigrationBounded,
    /// A slot left a gated or collapsed CDN at once, ignoring dwell and the migration budget;
    /// or, for a CDN, its score collapsed below the emergency score: exploration floor only.
    Failover,
    /// A slot moved toward the target weights within the migration budget.
    Rebalance,
    /// Edge: the viewer's slot was looked up in a fresh snapshot.
    Steered,
    /// Edge: the snapshot expired, so the static layout picked the CDN.
    SnapshotStale,
    /// An operator drained the CDN: no traffic (CDN); a slot left a drained CDN at once,
    /// ignoring dwell and the migration budget (move). Format version 2.
    Drained,
    /// An operator pinned the CDN's target weight (CDN). Format version 2.
    Pinned,
}

impl Reason {
    /// Every reason, in declaration order (for docs, tests and log schema generation).
    pub const ALL: [Reason; 19] = [
        Reason::Healthy,
        Reason::GatedErrorRate,
        Reason::Recovering,
        Reason::StaleData,
        Reason::NoData,
        Reason::StaticFallback,
        Reason::LastResort,
        Reason::Capped,
        Reason::OverCapacity,
        Reason::ExplorationFloor,
        Reason::HysteresisHold,
        Reason::DwellHold,
        Reason::MigrationBounded,
        Reason::Failover,
        Reason::Rebalance,
        Reason::Steered,
        Reason::SnapshotStale,
        Reason::Drained,
        Reason::Pinned,
    ];

    /// The snapshot format version that introduced this code: a document of an older version
    /// must not carry it (its decoders would refuse it as unknown).
    pub const fn since_format_version(self) -> u16 {
        match self {
            Reason::Drained | Reason::Pinned => 2,
            _ => 1,
        }
    }

    /// The stable snake_case code, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Healthy => "healthy",
            Reason::GatedErrorRate => "gated_error_rate",
            Reason::Recovering => "recovering",
            Reason::StaleData => "stale_data",
            Reason::NoData => "no_data",
            Reason::StaticFallback => "static_fallback",
            Reason::LastResort => "last_resort",
            Reason::Capped => "capped",
            Reason::OverCapacity => "over_capacity",
            Reason::ExplorationFloor => "exploration_floor",
            Reason::HysteresisHold => "hysteresis_hold",
            Reason::DwellHold => "dwell_hold",
            Reason::MigrationBounded => "migration_bounded",
            Reason::Failover => "failover",
            Reason::Rebalance => "rebalance",
            Reason::Steered => "steered",
            Reason::SnapshotStale => "snapshot_stale",
            Reason::Drained => "drained",
            Reason::Pinned => "pinned",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a CDN stands, independent of how much traffic it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CdnState {
    /// Fresh data and an open gate: competes for traffic by score.
    Healthy,
    /// Reopened after a gate, on probation at the exploration floor.
    Recovering,
    /// Gate closed: no traffic.
    Gated,
    /// Had data, all of it stale: on probation at the exploration floor.
    Stale,
    /// Never observed.
    NoData,
}

impl CdnState {
    /// The stable snake_case code, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            CdnState::Healthy => "healthy",
            CdnState::Recovering => "recovering",
            CdnState::Gated => "gated",
            CdnState::Stale => "stale",
            CdnState::NoData => "no_data",
        }
    }
}

impl fmt::Display for CdnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    #[test]
    fn codes_match_serde_names() {
        for reason in Reason::ALL {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
        for state in [
            CdnState::Healthy,
            CdnState::Recovering,
            CdnState::Gated,
            CdnState::Stale,
            CdnState::NoData,
        ] {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut codes: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        for code in &codes {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
        assert_eq!(String::from("failover"), Reason::Failover.to_string());
    }
}
