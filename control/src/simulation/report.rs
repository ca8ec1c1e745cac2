//! What a simulation run prints: the figures issue 6 asks for, and a few that explain them.
//!
//! All times are seconds since the viewers arrived (the warm-up before is not reported); shares
//! are fractions of all viewers, 0 to 1; per-CDN maps are keyed by CDN id. The JSON field names
//! are the contract's (`time_to_reroute_seconds`, `max_switches_per_viewer`,
//! `mean_switches_per_viewer`, `peak_share`, `capacity_violations`, `viewer_seconds_on_degraded`)
//! plus the extras documented on each field.
//!
//! What this module does not do: compute anything; the run fills it in.

use std::collections::BTreeMap;

use serde::Serialize;
use usher_shared::health::{CdnState, Reason};

/// The outcome of one simulation run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The seed every random draw came from (the scenario's, or the default).
    pub seed: u64,
    /// Simulated seconds with viewers.
    pub duration_seconds: u64,
    /// Virtual viewers.
    pub viewers: u64,
    /// Seconds from the first degradation until at most 1 % of viewers were on degraded CDNs;
    /// `None` (JSON `null`) if nothing degraded or that never happened (see
    /// [`measure`](super::measure)).
    pub time_to_reroute_seconds: Option<u64>,
    /// The second the first CDN became degraded, if any.
    pub first_degraded_at_seconds: Option<u64>,
    /// The most CDN changes any viewer made (exact: a viewer changes CDN when its slot does).
    pub max_switches_per_viewer: u32,
    /// CDN changes per viewer, averaged over all viewers.
    pub mean_switches_per_viewer: f64,
    /// Viewers by how many times they changed CDN.
    pub viewers_by_switches: BTreeMap<u32, u64>,
    /// Per CDN: the largest share of viewers it had in any second.
    pub peak_share: BTreeMap<String, f64>,
    /// Per CDN: its share in the last second.
    pub final_share: BTreeMap<String, f64>,
    /// Seconds CDNs spent over capacity, summed over CDNs (CDN-seconds: two CDNs over capacity
    /// for 10 s count 20).
    pub capacity_violations: u64,
    /// Per CDN: seconds it spent over capacity.
    pub capacity_violations_by_cdn: BTreeMap<String, u64>,
    /// Seconds in which at least one CDN was over capacity.
    pub seconds_over_capacity: u64,
    /// Viewer-seconds spent on degraded CDNs, summed over viewers.
    pub viewer_seconds_on_degraded: u64,
    /// Evaluations of the health model while viewers watched.
    pub evaluations: u64,
    /// Slot moves of the global table while viewers watched, by reason (`failover`,
    /// `rebalance`).
    pub slot_moves: BTreeMap<String, u64>,
    /// The last evaluation that moved a slot, if any.
    pub last_slot_move_at_seconds: Option<u64>,
    /// The last second a viewer changed CDN, if any.
    pub last_switch_at_seconds: Option<u64>,
    /// Per CDN: how many evaluations gave each reason code (`docs/health-model.md` section 10).
    pub decision_reasons: BTreeMap<String, BTreeMap<String, u64>>,
    /// One point per evaluation while viewers watched.
    pub timeline: Vec<TimelinePoint>,
    /// The kickoff surge through the waiting room, if the scenario has `[surge]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surge: Option<super::surge::SurgeReport>,
}

/// The state of every CDN at one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the viewers arrived.
    pub at_seconds: u64,
    /// The CDNs, in scenario order.
    pub cdns: Vec<TimelineCdn>,
}

/// One CDN at one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineCdn {
    /// Its id.
    pub id: String,
    /// Share of viewers on it in that second (where they are, not where the table says).
    pub share: f64,
    /// Its load over its capacity.
    pub utilization: f64,
    /// The evaluation's score, 0 to 1.
    pub score: f64,
    /// The evaluation's target weight, in basis points.
    pub weight_bp: u16,
    /// The evaluation's state.
    pub state: CdnState,
    /// The evaluation's reason code.
    pub reason: Reason,
}
