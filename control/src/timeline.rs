//! The event's record: one [`Tick`] per evaluation and one [`Decision`] per change, as JSON
//! lines. The live dashboard streams them; the post-event report reads them back.
//!
//! The runtime appends each tick to `timeline.jsonl` and each decision to `decisions.jsonl` in
//! its data directory, and operator actions to `audit.jsonl` ([`crate::operator`]). Nothing is
//! summarised away while the event runs: the report is computed afterwards from these lines,
//! so a new question about an old event can still be answered.
//!
//! What it does not do: write files. Types and their JSON form only; the field names are the
//! file format (`docs/controller.md`), so renaming one is a format change.

use serde::{Deserialize, Serialize};
use usher_shared::health::{AdmissionState, CdnState, Reason};

use crate::metrics::Figures;

/// One evaluation tick: the state of every CDN and of the data behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// When (Unix ms).
    pub at_ms: u64,
    /// The evaluation counter (the snapshot's `seq`).
    pub seq: u64,
    /// The events the controller steers.
    pub events: Vec<String>,
    /// Every CDN, in configuration order.
    pub cdns: Vec<CdnTick>,
    /// Concurrent viewers, all CDNs and events.
    pub viewers: u64,
    /// Concurrent viewers per event, per CDN in configuration order.
    pub viewers_by_event: Vec<EventViewers>,
    /// The demand estimate handed to the model (sum of viewers' bitrates), bit/s.
    pub demand_bps: u64,
    /// Age of the newest QoE line from any edge, ms (`None`: never).
    pub qoe_age_ms: Option<u64>,
    /// QoE lines refused since the start, by reason code.
    pub qoe_refused: Vec<(String, u64)>,
    /// Every publish target's latest outcome.
    pub publish: Vec<PublishStatus>,
    /// Slots moved in this evaluation.
    pub moved_slots: u32,
    /// Every waiting room (events with `[event.admission]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admission: Vec<AdmissionTick>,
}

/// One event's waiting room in one tick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionTick {
    /// The event.
    pub event: String,
    /// `before_doors`, `open`, `paused` or `full`.
    pub state: AdmissionState,
    /// The published frontier.
    pub frontier_ms: u64,
    /// Known arrivals waiting (the queue's length).
    pub waiting: u64,
    /// Known arrivals admitted so far.
    pub admitted: u64,
    /// Viewers counted against the cap.
    pub active: u64,
    /// The cap, if any.
    pub cap: Option<u64>,
    /// The configured rate, viewers per minute (`None`: automatic).
    pub configured_rate_per_min: Option<u32>,
    /// The operator's rate, if one replaces the configured rate.
    pub operator_rate_per_min: Option<u32>,
    /// The rate in force, viewers per minute.
    pub rate_per_min: u32,
    /// Admissions the edges minted over the last minute (`admitted` lines).
    pub measured_rate_per_min: u64,
    /// The estimated wait of the newest arrival, ms (`None`: no estimate, or nobody waiting).
    pub newest_wait_ms: Option<u64>,
}

/// Viewers of one event per CDN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventViewers {
    /// The event.
    pub event: String,
    /// Viewers per CDN, in configuration order.
    pub per_cdn: Vec<u64>,
}

/// One CDN in one tick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CdnTick {
    /// Its id.
    pub id: String,
    /// Its state in the global plan.
    pub state: CdnState,
    /// Why it has its weight.
    pub reason: Reason,
    /// Its score in `[0, 1]`.
    pub score: f64,
    /// Target weight, basis points.
    pub weight_bp: u16,
    /// Share of the slot table it holds (what the edges apply now), `[0, 1]`.
    pub slot_share: f64,
    /// Concurrent viewers on it.
    pub viewers: u64,
    /// The window statistics.
    pub figures: Figures,
    /// Age of its newest probe result, ms (`None`: never probed).
    pub probe_age_ms: Option<u64>,
    /// Age of its newest QoE line, ms.
    pub qoe_age_ms: Option<u64>,
    /// Age of its newest observation from an external source (a CDN's real-time statistics
    /// API, through `POST /v1/observations`), ms.
    #[serde(default)]
    pub external_age_ms: Option<u64>,
    /// The operator's override, if any (`drain`, `pin 3000`).
    pub operator: Option<String>,
}

/// The latest outcome of one publish target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishStatus {
    /// The target, as `kind:where` (never with a token).
    pub target: String,
    /// When it last succeeded (Unix ms).
    pub ok_at_ms: Option<u64>,
    /// The last error, if the latest attempt failed.
    pub error: Option<String>,
}

/// One entry of the decision log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// When (Unix ms).
    pub at_ms: u64,
    /// The evaluation counter, or 0 for an operator's action between evaluations.
    pub seq: u64,
    /// The CDN concerned.
    pub cdn: String,
    /// The client group, `None` for the global plan.
    pub group: Option<String>,
    /// What changed.
    pub kind: DecisionKind,
    /// The reason code (`docs/health-model.md` §10, or `operator_*`).
    pub reason: String,
    /// One line for people.
    pub detail: String,
}

/// What a [`Decision`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// The CDN's state changed (healthy, gated, recovering, stale, no data).
    State,
    /// Its target weight moved by at least one percentage point.
    Weight,
    /// Slots moved from it to another CDN.
    Moves,
    /// An operator drained, pinned or cleared it.
    Operator,
}

/// Reads JSON lines of `T`, skipping blank lines; a line that does not parse is reported with
/// its number (a partly written last line, after a crash, is the usual cause).
pub fn read_lines<T: for<'de> Deserialize<'de>>(text: &str) -> (Vec<T>, Vec<usize>) {
    let mut items = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(item) => items.push(item),
            Err(_) => bad.push(i + 1),
        }
    }
    (items, bad)
}
