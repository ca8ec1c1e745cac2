//! The decision loop: signals in, a snapshot and a record out, once per tick.
//!
//! ```text
//!  probe results ─┐                        ┌─► HealthSnapshot (sealed, published by the runtime)
//!  QoE lines ─────┼─► Controller ─ tick ───┼─► Tick          (timeline.jsonl, dashboard)
//!  operator cmds ─┘    (HealthModel,       └─► Decisions     (decisions.jsonl, dashboard)
//!                       windows, viewers)
//! ```
//!
//! The runtime calls [`Controller::probe`] and [`Controller::qoe`] as results arrive,
//! [`Controller::command`] when an operator acts, and [`Controller::tick`] every
//! `interval_ms`. Everything the controller knows comes through those calls, with the time, so
//! a test can replay a whole event in microseconds.
//!
//! What it does not do: fetch, publish, sign or write. Signing needs the key, which the runtime
//! holds; [`Tick`] and the decisions are returned, not stored.
//!
//! Key design decision: the decision log records *changes*, not states. A tick that changes
//! nothing adds nothing to it, so the log of a calm three-hour event is short enough to read,
//! and every line in it is something that moved viewers or could have.

use std::collections::BTreeMap;

use usher_shared::health::{
    AdmissionPlan, CdnState, Evaluation, HealthModel, HealthSnapshot, Observation, ObserveError,
    Override, OverrideError, Reason,
};

use crate::admission::{self, Headroom, LineKind, Rate, Room};
use crate::config::ControlConfig;
use crate::metrics::Window;
use crate::operator::{Action, AuditEntry, Command, CommandError};
use crate::probe::ProbeRecord;
use crate::qoe::{self, QoeError, Viewers};
use crate::timeline::{
    AdmissionTick, CdnTick, Decision, DecisionKind, EventViewers, PublishStatus, Tick,
};

/// A weight change smaller than this (basis points) is not logged: the slot table lags the
/// targets by a step or two and small wobbles are the hysteresis doing its job.
const LOGGED_WEIGHT_CHANGE_BP: u16 = 100;

/// What one tick produced.
#[derive(Clone, Debug)]
pub struct TickOutput {
    /// The snapshot to seal and publish.
    pub snapshot: HealthSnapshot,
    /// The timeline record.
    pub tick: Tick,
    /// The decision log entries of this tick.
    pub decisions: Vec<Decision>,
}

/// Why an operator's command was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusedCommand {
    /// The command itself is malformed.
    Command(CommandError),
    /// The health model refused the override (unknown CDN, would drain all, pins over 100 %).
    Override(OverrideError),
    /// An admission command for an event without a waiting room.
    NoWaitingRoom(String),
}

impl std::fmt::Display for RefusedCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefusedCommand::Command(e) => e.fmt(f),
            RefusedCommand::Override(e) => e.fmt(f),
            RefusedCommand::NoWaitingRoom(event) => {
                write!(f, "event {event:?} has no [event.admission] waiting room")
            }
        }
    }
}

impl std::error::Error for RefusedCommand {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Last {
    state: CdnState,
    reason: Reason,
    weight_bp: u16,
}

/// The controller's state between ticks.
#[derive(Debug)]
pub struct Controller {
    config: ControlConfig,
    ids: Vec<String>,
    model: HealthModel,
    windows: Vec<Window>,
    viewers: BTreeMap<String, Viewers>,
    last_probe_ms: Vec<Option<u64>>,
    last_qoe_ms: Vec<Option<u64>>,
    last_external_ms: Vec<Option<u64>>,
    qoe_refused: BTreeMap<&'static str, u64>,
    publish: BTreeMap<String, PublishStatus>,
    last: Vec<Option<Last>>,
    pending: Vec<Decision>,
    rooms: BTreeMap<String, Room>,
}

impl Controller {
    /// A controller for a checked configuration.
    pub fn new(config: ControlConfig) -> Result<Self, usher_shared::health::ConfigError> {
        let model = HealthModel::new(config.health_config())?;
        let ids = config.cdn_ids();
        let n = ids.len();
        let viewers = config
            .events
            .iter()
            .map(|e| (e.id.clone(), Viewers::default()))
            .collect();
        let rooms = config
            .events
            .iter()
            .filter_map(|e| Some((e.id.clone(), Room::new(&e.id, e.admission.as_ref()?))))
            .collect();
        Ok(Controller {
            rooms,
            config,
            ids,
            model,
            windows: vec![Window::default(); n],
            viewers,
            last_probe_ms: vec![None; n],
            last_qoe_ms: vec![None; n],
            last_external_ms: vec![None; n],
            qoe_refused: BTreeMap::new(),
            publish: BTreeMap::new(),
            last: vec![None; n],
            pending: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    /// The health model (for resuming from the last published snapshot).
    pub fn model_mut(&mut self) -> &mut HealthModel {
        &mut self.model
    }

    fn index(&self, cdn: &str) -> Option<usize> {
        self.ids.iter().position(|id| id == cdn)
    }

    fn feed(&mut self, index: usize, observation: &Observation) -> Result<(), ObserveError> {
        // The model refuses what it cannot use (stale on arrival, inconsistent values); the
        // window keeps only what the model accepted, so the two never tell different stories.
        self.model.observe(observation)?;
        if let Some(window) = self.windows.get_mut(index) {
            window.add(observation.at_ms, &observation.kind);
        }
        Ok(())
    }

    /// Folds in one probe request's result.
    pub fn probe(&mut self, record: &ProbeRecord, observations: &[Observation]) {
        let Some(index) = self.index(&record.cdn) else {
            return;
        };
        if let Some(last) = self.last_probe_ms.get_mut(index) {
            *last = Some(last.unwrap_or(0).max(record.at_ms));
        }
        for observation in observations {
            // A sample the model refuses is dropped; the probe's other samples still count.
            let _ = self.feed(index, observation);
        }
    }

    /// The waiting room of `event`, if it has one.
    pub fn room(&self, event: &str) -> Option<&Room> {
        self.rooms.get(event)
    }

    /// Resumes the waiting rooms' frontiers from the last published snapshot, so a restart
    /// never moves a frontier backwards.
    pub fn resume_admission(&mut self, snapshot: &HealthSnapshot) {
        for plan in snapshot.admission_plans() {
            if let Some(room) = self.rooms.get_mut(&plan.event) {
                room.resume_frontier(plan.frontier_ms);
            }
        }
    }

    fn admission_line(&mut self, line: &[u8]) -> Result<(), QoeError> {
        let events = &self.config.events;
        let doors = |event: &str| {
            events
                .iter()
                .find(|e| e.id == event)
                .and_then(|e| e.admission.as_ref())
                .map(|a| a.doors_open_ms)
        };
        let line = admission::read_line(line, doors).map_err(QoeError::Admission)?;
        let room = self
            .rooms
            .get_mut(&line.event)
            .ok_or(QoeError::Admission(admission::LineError::UnknownEvent))?;
        match line.kind {
            LineKind::Arrival => room.arrival(line.position),
            LineKind::Admitted => room.minted(line.at_ms),
        }
        Ok(())
    }

    /// Folds in one QoE line from an edge: CMCD, or an admission line (`kind: arrival |
    /// admitted`). A refused line is counted by reason.
    pub fn qoe(&mut self, line: &[u8]) -> Result<(), QoeError> {
        let result = if admission::is_admission_line(line) {
            self.admission_line(line).map(|()| None)
        } else {
            qoe::read(line, &self.ids, &self.config.health.groups).map(Some)
        };
        let report = match result {
            Ok(Some(report)) => report,
            Ok(None) => return Ok(()),
            Err(error) => {
                *self.qoe_refused.entry(error.as_str()).or_default() += 1;
                return Err(error);
            }
        };
        let Some(index) = self.index(&report.cdn) else {
            return Err(QoeError::UnknownCdn);
        };
        if let Some(last) = self.last_qoe_ms.get_mut(index) {
            *last = Some(last.unwrap_or(0).max(report.at_ms));
        }
        if let (Some(session), Some(viewers)) =
            (&report.session, self.viewers.get_mut(&report.event))
        {
            viewers.seen(session, index, report.at_ms, report.bitrate_bps);
        }
        if report.stalled
            && let Some(window) = self.windows.get_mut(index)
        {
            window.stall(report.at_ms);
        }
        for observation in &report.observations {
            // As for probes: a refused sample is dropped, the line's others still count.
            let _ = self.feed(index, observation);
        }
        Ok(())
    }

    /// Folds in one observation from an external source: an adapter for a CDN's real-time
    /// statistics API (Fastly's real-time analytics, CloudFront's metrics) posts the
    /// shared model's own [`Observation`] JSON, so any language can feed the controller and
    /// no vendor API lives in it. Refused like the model refuses (unknown CDN, bad values,
    /// stale on arrival).
    pub fn external(&mut self, observation: &Observation) -> Result<(), ObserveError> {
        let index = self
            .index(&observation.cdn)
            .ok_or_else(|| ObserveError::UnknownCdn {
                cdn: observation.cdn.clone(),
            })?;
        self.feed(index, observation)?;
        if let Some(last) = self.last_external_ms.get_mut(index) {
            *last = Some(last.unwrap_or(0).max(observation.at_ms));
        }
        Ok(())
    }

    /// Records the outcome of publishing to `target` (for the dashboard's data ages).
    pub fn published(&mut self, target: &str, at_ms: u64, result: Result<(), String>) {
        let status = self
            .publish
            .entry(target.to_owned())
            .or_insert_with(|| PublishStatus {
                target: target.to_owned(),
                ok_at_ms: None,
                error: None,
            });
        match result {
            Ok(()) => {
                status.ok_at_ms = Some(at_ms);
                status.error = None;
            }
            Err(error) => status.error = Some(error),
        }
    }

    /// Applies an operator's command. Every command, applied or refused, returns its audit
    /// entry; an applied one is also logged as a decision and acts at the next tick.
    pub fn command(
        &mut self,
        command: &Command,
        now_ms: u64,
    ) -> (AuditEntry, Result<(), RefusedCommand>) {
        let result = command
            .check()
            .map_err(RefusedCommand::Command)
            .and_then(|()| self.apply(&command.action, now_ms));
        let entry = AuditEntry {
            at_ms: now_ms,
            who: command.who.clone(),
            why: command.why.clone(),
            action: command.action.to_string(),
            outcome: match &result {
                Ok(()) => "applied".to_owned(),
                Err(e) => format!("refused: {e}"),
            },
        };
        if result.is_ok() {
            let (cdns, reason): (Vec<String>, &str) = match &command.action {
                Action::Drain { cdn } => (vec![cdn.clone()], "operator_drain"),
                Action::Clear { cdn } => (vec![cdn.clone()], "operator_clear"),
                Action::Pin { weights } => (
                    weights.iter().map(|w| w.cdn.clone()).collect(),
                    "operator_pin",
                ),
                // Not a CDN: the decision log names the event's waiting room instead.
                Action::AdmissionOpen { event } => {
                    (vec![format!("event:{event}")], "operator_admission_open")
                }
                Action::AdmissionPause { event } => {
                    (vec![format!("event:{event}")], "operator_admission_pause")
                }
                Action::AdmissionRate { event, .. } => {
                    (vec![format!("event:{event}")], "operator_admission_rate")
                }
            };
            for cdn in cdns {
                self.pending.push(Decision {
                    at_ms: now_ms,
                    seq: 0,
                    cdn,
                    group: None,
                    kind: DecisionKind::Operator,
                    reason: reason.to_owned(),
                    detail: format!("{} by {}: {}", command.action, command.who, command.why),
                });
            }
        }
        (entry, result)
    }

    fn apply(&mut self, action: &Action, now_ms: u64) -> Result<(), RefusedCommand> {
        let model = match action {
            Action::Drain { cdn } => self.model.set_override(cdn, Some(Override::Drain)),
            Action::Clear { cdn } => self.model.set_override(cdn, None),
            Action::Pin { weights } => {
                let pins: Vec<(&str, u16)> = weights
                    .iter()
                    .map(|w| (w.cdn.as_str(), w.weight_bp))
                    .collect();
                self.model.set_pins(&pins)
            }
            Action::AdmissionOpen { event }
            | Action::AdmissionPause { event }
            | Action::AdmissionRate { event, .. } => {
                let config = self
                    .config
                    .events
                    .iter()
                    .find(|e| e.id == *event)
                    .and_then(|e| e.admission.as_ref());
                let (Some(room), Some(config)) = (self.rooms.get_mut(event), config) else {
                    return Err(RefusedCommand::NoWaitingRoom(event.clone()));
                };
                match action {
                    Action::AdmissionOpen { .. } => room.open(now_ms, config),
                    Action::AdmissionPause { .. } => room.set_paused(true, now_ms),
                    Action::AdmissionRate { rate_per_min, .. } => room.set_rate(*rate_per_min),
                    _ => {}
                }
                Ok(())
            }
        };
        model.map_err(RefusedCommand::Override)
    }

    /// Steps every waiting room and returns the plans to publish and the tick's records.
    fn admission(
        &mut self,
        now_ms: u64,
        audiences: &BTreeMap<String, (u64, u64)>,
        evaluation: &Evaluation,
        demand_per_cdn_bps: &[u64],
        viewer_bitrate_bps: Option<u64>,
    ) -> (Vec<AdmissionPlan>, Vec<AdmissionTick>) {
        let gated: Vec<bool> = evaluation
            .plan(None)
            .map(|d| d.state == CdnState::Gated)
            .collect();
        let cdns = self
            .config
            .cdns
            .iter()
            .enumerate()
            .filter(|(i, _)| !gated.get(*i).copied().unwrap_or(true))
            .filter_map(|(i, c)| {
                Some((
                    c.capacity_bps?,
                    demand_per_cdn_bps.get(i).copied().unwrap_or(0),
                ))
            })
            .collect();
        let mut headroom = Headroom {
            cdns,
            viewer_bitrate_bps,
            pending: 0,
        };
        let automatic_events = self
            .config
            .events
            .iter()
            .filter(|e| {
                e.admission
                    .as_ref()
                    .is_some_and(|a| a.rate() == Ok(Rate::Automatic))
                    && self
                        .rooms
                        .get(&e.id)
                        .is_some_and(|r| r.rate_override().is_none())
            })
            .count();
        let shares = u32::try_from(automatic_events).unwrap_or(u32::MAX);
        let mut plans = Vec::new();
        let mut ticks = Vec::new();
        for event in &self.config.events {
            let (Some(config), Some(room)) = (&event.admission, self.rooms.get_mut(&event.id))
            else {
                continue;
            };
            let automatic = admission::automatic_rate(config, &headroom, shares);
            let rate = room.effective_rate(config, automatic);
            let (players, new_players) = audiences.get(&event.id).copied().unwrap_or((0, 0));
            let audience = admission::Audience {
                players,
                new_players,
            };
            let (plan, step) = room.step(now_ms, config, rate, self.config.interval_ms, audience);
            headroom.pending = headroom.pending.saturating_add(step.pending);
            let newest_wait_ms = match room.newest_position() {
                Some(newest) if room.waiting() > 0 => plan.wait_ms(newest),
                _ => None,
            };
            ticks.push(AdmissionTick {
                event: event.id.clone(),
                state: plan.state,
                frontier_ms: plan.frontier_ms,
                waiting: plan.waiting,
                admitted: room.admitted(),
                active: plan.active,
                cap: plan.cap,
                configured_rate_per_min: config.rate_per_min,
                operator_rate_per_min: room.rate_override(),
                rate_per_min: rate,
                measured_rate_per_min: room.measured_rate(now_ms),
                newest_wait_ms,
            });
            plans.push(plan);
        }
        (plans, ticks)
    }

    /// One evaluation at `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> TickOutput {
        let n = self.ids.len();
        let mut per_cdn = vec![0_u64; n];
        let mut demand_bps = 0_u64;
        let mut viewers_by_event = Vec::new();
        let mut demand_per_cdn_bps = vec![0_u64; n];
        let mut with_bitrate = 0_u64;
        let mut audiences = BTreeMap::new();
        for (event, viewers) in &mut self.viewers {
            let audience = viewers.count(now_ms, self.config.viewer_window_ms, n);
            for (total, v) in per_cdn.iter_mut().zip(&audience.per_cdn) {
                *total += v;
            }
            for (total, v) in demand_per_cdn_bps
                .iter_mut()
                .zip(&audience.demand_per_cdn_bps)
            {
                *total = total.saturating_add(*v);
            }
            with_bitrate += audience.with_bitrate;
            if let Some(admission) = self
                .config
                .events
                .iter()
                .find(|e| e.id == *event)
                .and_then(|e| e.admission.as_ref())
            {
                let since = now_ms.saturating_sub(admission.grace_ms);
                audiences.insert(
                    event.clone(),
                    (
                        audience.per_cdn.iter().sum::<u64>(),
                        viewers.new_since(since),
                    ),
                );
            }
            demand_bps = demand_bps.saturating_add(audience.demand_bps);
            viewers_by_event.push(EventViewers {
                event: event.clone(),
                per_cdn: audience.per_cdn,
            });
        }
        // Capacity caps need a demand figure; without CMCD bitrates there is none, and the
        // caps fall back to the configured max shares.
        let capacities = self.config.cdns.iter().any(|c| c.capacity_bps.is_some());
        if capacities {
            self.model
                .set_demand_bps((demand_bps > 0).then_some(demand_bps));
        }
        let evaluation = self.model.evaluate(now_ms);
        let viewer_bitrate_bps = (with_bitrate > 0).then(|| demand_bps / with_bitrate);
        let (plans, admission) = self.admission(
            now_ms,
            &audiences,
            &evaluation,
            &demand_per_cdn_bps,
            viewer_bitrate_bps,
        );
        let snapshot = self.model.snapshot(now_ms);
        // The configuration's checks give every waiting room a valid event id and cap, so the
        // snapshot takes the plans; if it ever refused them, steering still publishes, without
        // plans, and edges admit nobody new (never admission by accident).
        let snapshot = snapshot.clone().with_admission(plans).unwrap_or(snapshot);
        let mut decisions = std::mem::take(&mut self.pending);
        decisions.extend(self.changes(&evaluation));

        let overrides = self.model.overrides();
        let slots = f64::from(snapshot.slots().max(1));
        let mut slot_counts = vec![0_u32; n];
        for slot in 0..snapshot.slots() {
            if let Some(c) = snapshot.slot_cdn(slot).and_then(|i| slot_counts.get_mut(i)) {
                *c += 1;
            }
        }
        let age = |at: Option<u64>| at.map(|at| now_ms.saturating_sub(at));
        let cdns = evaluation
            .plan(None)
            .enumerate()
            .map(|(i, d)| CdnTick {
                id: d.cdn.clone(),
                state: d.state,
                reason: d.reason,
                score: d.score,
                weight_bp: d.weight_bp,
                slot_share: f64::from(slot_counts.get(i).copied().unwrap_or(0)) / slots,
                viewers: per_cdn.get(i).copied().unwrap_or(0),
                figures: self
                    .windows
                    .get_mut(i)
                    .map(|w| w.figures(now_ms, self.config.metrics_window_ms))
                    .unwrap_or_default(),
                probe_age_ms: age(self.last_probe_ms.get(i).copied().flatten()),
                qoe_age_ms: age(self.last_qoe_ms.get(i).copied().flatten()),
                external_age_ms: age(self.last_external_ms.get(i).copied().flatten()),
                operator: overrides
                    .iter()
                    .find(|(id, _)| *id == d.cdn)
                    .map(|(_, o)| match o {
                        Override::Drain => "drain".to_owned(),
                        Override::Pin { weight_bp } => format!("pin {weight_bp}"),
                    }),
            })
            .collect();
        let tick = Tick {
            at_ms: now_ms,
            seq: evaluation.seq,
            events: self.config.events.iter().map(|e| e.id.clone()).collect(),
            cdns,
            viewers: per_cdn.iter().sum(),
            viewers_by_event,
            demand_bps,
            qoe_age_ms: age(self.last_qoe_ms.iter().flatten().max().copied()),
            qoe_refused: self
                .qoe_refused
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            publish: self.publish.values().cloned().collect(),
            moved_slots: u32::try_from(
                evaluation
                    .moves
                    .iter()
                    .filter(|m| m.group.is_none())
                    .count(),
            )
            .unwrap_or(u32::MAX),
            admission,
        };
        TickOutput {
            snapshot,
            tick,
            decisions,
        }
    }

    /// The decision log entries of one evaluation: state and reason changes, weight changes of
    /// at least a point, and slot moves grouped by source, destination and reason.
    fn changes(&mut self, evaluation: &Evaluation) -> Vec<Decision> {
        let mut out = Vec::new();
        let entry =
            |cdn: &str, group: Option<&String>, kind, reason: &str, detail: String| Decision {
                at_ms: evaluation.at_ms,
                seq: evaluation.seq,
                cdn: cdn.to_owned(),
                group: group.cloned(),
                kind,
                reason: reason.to_owned(),
                detail,
            };
        for (i, d) in evaluation.plan(None).enumerate() {
            let now = Last {
                state: d.state,
                reason: d.reason,
                weight_bp: d.weight_bp,
            };
            let Some(slot) = self.last.get_mut(i) else {
                continue;
            };
            let before = slot.replace(now);
            let reason = d.reason.as_str();
            match before {
                None => out.push(entry(
                    &d.cdn,
                    None,
                    DecisionKind::State,
                    reason,
                    format!(
                        "starts {} at {} bp (score {:.2})",
                        d.state.as_str(),
                        d.weight_bp,
                        d.score
                    ),
                )),
                Some(b) => {
                    if b.state != now.state {
                        out.push(entry(
                            &d.cdn,
                            None,
                            DecisionKind::State,
                            reason,
                            format!(
                                "{} → {} (score {:.2})",
                                b.state.as_str(),
                                now.state.as_str(),
                                d.score
                            ),
                        ));
                    }
                    if b.weight_bp.abs_diff(now.weight_bp) >= LOGGED_WEIGHT_CHANGE_BP {
                        out.push(entry(
                            &d.cdn,
                            None,
                            DecisionKind::Weight,
                            reason,
                            format!(
                                "weight {} → {} bp (score {:.2})",
                                b.weight_bp, now.weight_bp, d.score
                            ),
                        ));
                    }
                }
            }
        }
        let mut moves: BTreeMap<(Option<&String>, &str, &str, Reason), u32> = BTreeMap::new();
        for m in &evaluation.moves {
            *moves
                .entry((m.group.as_ref(), &m.from, &m.to, m.reason))
                .or_default() += 1;
        }
        for ((group, from, to, reason), count) in moves {
            out.push(entry(
                from,
                group,
                DecisionKind::Moves,
                reason.as_str(),
                format!("{count} slots {from} → {to}"),
            ));
        }
        out
    }
}
