//! CDN health scoring: the model the steering controller and the edge share.
//!
//! The controller feeds a [`HealthModel`] with per-CDN (and per client group) measurements:
//! throughput, time to first byte, cache hit ratio and request outcomes. Every few seconds it
//! [evaluates](HealthModel::evaluate): time-decayed averages become scores, an error-rate gate
//! takes failing CDNs out, scores become integer traffic weights within caps and an exploration
//! floor, and a slot table moves toward those weights. Each decision and each slot move carries
//! a [`Reason`]. The controller publishes a [`HealthSnapshot`]; the edge decodes it once and, per
//! request, maps the viewer's session id to a slot and the slot to a CDN
//! ([`HealthSnapshot::assign`]).
//!
//! * [`signal`]: observations and time-decayed averages, the staleness rule.
//! * [`score`]: sub-scores and their weighted geometric mean, shrinkage of sparse data.
//! * `gate`: the error-rate gate with two thresholds, consecutive counts and probation.
//! * `allocation`: weights from preferences with floors, caps and water-filling, in basis points.
//! * [`slot`]: the stable session hash and the slot table's failover and bounded migration.
//! * [`admission`]: the waiting room's per-event plans (the frontier) and wait estimate.
//! * [`snapshot`]: the versioned, strictly decoded snapshot and the edge's assignment rule.
//! * [`signature`]: the signed envelope around the snapshot's bytes, and the health keys.
//! * [`model`]: state between evaluations and the evaluation step.
//! * [`config`] and [`reason`]: the knobs and the reason codes.
//!
//! What this module does not do: measure anything, keep time or publish snapshots. The
//! controller does I/O and passes `now_ms` (and its signing key); the result depends only on
//! the inputs.
//!
//! The key design decision is the slot table: the controller decides *which viewers* move (all
//! of a failed CDN's at once, otherwise a bounded number of settled ones), instead of the edge
//! drawing a weighted random CDN per request. That is what makes stickiness, bounded migration,
//! minimum dwell and instant failover properties of one data structure rather than hopes about
//! many independent random draws. `docs/health-model.md` has the formulas, defaults and format.

pub mod admission;
mod allocation;
pub mod config;
mod gate;
pub mod model;
pub mod reason;
pub mod score;
pub mod signal;
pub mod signature;
pub mod slot;
pub mod snapshot;

pub use admission::{AdmissionError, AdmissionPlan, AdmissionState, PREQUEUE_SPAN_MS};
pub use config::{
    BASIS_POINTS, CdnConfig, ConfigError, GateConfig, HealthConfig, ScoreConfig, SteeringConfig,
};
pub use model::{
    CdnDecision, Evaluation, HealthModel, Override, OverrideError, ResumeError, SlotMove,
};
pub use reason::{CdnState, Reason};
pub use score::SubScores;
pub use signal::{Observation, ObserveError, SignalKind};
pub use signature::{HealthKey, HealthKeys, KeyError, SignatureError, open, seal};
pub use slot::{session_slot, static_slot_cdn};
pub use snapshot::{
    Assignment, DecodeError, FORMAT_VERSION, GroupPlan, HealthSnapshot, PlanEntry, SnapshotCdn,
};
