//! The model: state between evaluations, and the evaluation step that ties signals, gates,
//! allocation and the slot table together.
//!
//! The controller owns one [`HealthModel`], feeds it [`Observation`]s as they arrive, calls
//! [`evaluate`](HealthModel::evaluate) every few seconds, logs the returned [`Evaluation`]
//! (decisions and slot moves, each with a [`Reason`]) and publishes
//! [`snapshot`](HealthModel::snapshot) to the edges. The simulator does the same with virtual
//! time. Same observations and times in, same evaluations and snapshots out: there is no clock,
//! no randomness and no hash-map iteration order anywhere in here.
//!
//! Each evaluation runs the same steps for the global plan and then for every configured group:
//!
//! 1. score every CDN (group sub-scores shrink toward the CDN's global ones),
//! 2. step the error-rate gates (a CDN gated globally is gated in every group),
//! 3. classify: healthy CDNs compete, recovering/stale/unmeasured ones are on probation at the
//!    exploration floor, gated ones are out,
//! 4. hold scores that moved less than the hysteresis delta, then allocate weights
//!    `∝ static_weight × exp(score / temperature)` within floors and caps,
//! 5. move slots toward the weights: failover at once, balancing within budget and dwell.
//!
//! When no CDN has fresh data at all, the weights are the static weights and the slot table is
//! left as it is: a controller that knows nothing should move nobody (the table starts as the
//! static layout, so a cold start is already there).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::allocation::{Limit, Role, allocate, apportion};
use super::config::{BASIS_POINTS, ConfigError, HealthConfig};
use super::gate::{Gate, Position, Verdict};
use super::reason::{CdnState, Reason};
use super::score::SubScores;
use super::signal::{Horizon, Observation, ObserveError, Reading, Sample, SignalSet};
use super::slot::{Step, Table};
use super::snapshot::{HealthSnapshot, PlanEntry, SnapshotCdn};

/// One CDN's outcome of an evaluation, globally or in one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CdnDecision {
    /// The group, or `None` for the global plan.
    pub group: Option<String>,
    /// The CDN's id.
    pub cdn: String,
    /// The score in [0, 1] (before hysteresis).
    pub score: f64,
    /// What the score is made of.
    pub sub_scores: SubScores,
    /// Target weight in basis points.
    pub weight_bp: u16,
    /// Slots the target weight asks for.
    pub target_slots: u16,
    /// Slots held after this evaluation's moves.
    pub slots: u16,
    /// State.
    pub state: CdnState,
    /// The main reason for this weight and slot count.
    pub reason: Reason,
}

/// One slot that changed CDN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotMove {
    /// The group's table, or `None` for the global one.
    pub group: Option<String>,
    /// The slot.
    pub slot: u16,
    /// The CDN it left.
    pub from: String,
    /// The CDN it joined.
    pub to: String,
    /// [`Reason::Failover`] or [`Reason::Rebalance`].
    pub reason: Reason,
}

/// Everything one evaluation decided, for the decision log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The evaluation counter (also the next snapshot's `seq`).
    pub seq: u64,
    /// The evaluation time.
    pub at_ms: u64,
    /// Global decisions in CDN order, then each group's in key order.
    pub decisions: Vec<CdnDecision>,
    /// Slot moves, global first.
    pub moves: Vec<SlotMove>,
}

impl Evaluation {
    /// The decisions of one plan (`None`: global), in CDN order.
    pub fn plan<'a>(&'a self, group: Option<&'a str>) -> impl Iterator<Item = &'a CdnDecision> {
        self.decisions
            .iter()
            .filter(move |d| d.group.as_deref() == group)
    }

    /// One CDN's decision in one plan.
    pub fn decision(&self, group: Option<&str>, cdn: &str) -> Option<&CdnDecision> {
        self.decisions
            .iter()
            .find(|d| d.group.as_deref() == group && d.cdn == cdn)
    }
}

/// Why a snapshot could not be resumed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumeError {
    /// The snapshot's CDN ids (in order) differ from the configuration's.
    CdnMismatch,
    /// The snapshot's slot count differs from the configuration's.
    SlotCountMismatch {
        /// The configured count.
        expected: u16,
        /// The snapshot's.
        found: u16,
    },
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::CdnMismatch => {
                f.write_str("snapshot cdns differ from the configured cdns")
            }
            ResumeError::SlotCountMismatch { expected, found } => {
                write!(
                    f,
                    "snapshot has {found} slots, the configuration {expected}"
                )
            }
        }
    }
}

impl core::error::Error for ResumeError {}

/// Per CDN and plan: what carries over between evaluations.
#[derive(Clone, Debug, PartialEq)]
struct Track {
    gate: Gate,
    /// The score the weights were last computed from (hysteresis).
    held: Option<f64>,
    /// When the CDN last turned healthy, while it is.
    healthy_since: Option<u64>,
    /// Last evaluation's published figures.
    entry: PlanEntry,
}

/// The global plan or one group's.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    signals: Vec<SignalSet>,
    tracks: Vec<Track>,
    table: Table,
}

/// One CDN's inputs to a plan's evaluation.
#[derive(Clone, Copy, Debug)]
struct Input {
    sub: SubScores,
    score: f64,
    verdict: Verdict,
    /// The CDN's global gate, which bounds every group's.
    global: Option<Position>,
    fresh: bool,
    seen: bool,
}

/// Evaluation-wide facts shared by all plans.
struct Context<'a> {
    config: &'a HealthConfig,
    ids: &'a [String],
    caps: Vec<u16>,
    now_ms: u64,
    any_fresh: bool,
}

/// The scoring model's state. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthModel {
    config: HealthConfig,
    ids: Vec<String>,
    global: Plan,
    groups: BTreeMap<String, Plan>,
    seq: u64,
    demand_bps: Option<u64>,
}

impl Plan {
    fn new(config: &HealthConfig) -> Self {
        let statics: Vec<u16> = config.cdns.iter().map(|c| c.static_weight_bp).collect();
        let prior = SubScores::prior(&config.score).combine(&config.score);
        let tracks = statics
            .iter()
            .map(|&w| Track {
                gate: Gate::default(),
                held: None,
                healthy_since: None,
                entry: PlanEntry {
                    score_permille: permille(prior),
                    weight_bp: w,
                    state: CdnState::NoData,
                    reason: Reason::StaticFallback,
                },
            })
            .collect();
        Self {
            signals: vec![SignalSet::default(); statics.len()],
            tracks,
            table: Table::from_static(&statics, config.slots),
        }
    }

    /// Adopts a published table and states (gates of gated and recovering CDNs).
    fn resume(&mut self, entries: &[PlanEntry], slot_cdn: impl Fn(u16) -> Option<usize>) {
        for (track, entry) in self.tracks.iter_mut().zip(entries) {
            track.entry = *entry;
            track.gate.position = match entry.state {
                CdnState::Gated => Position::Down,
                CdnState::Recovering => Position::Probation,
                _ => Position::Up,
            };
        }
        for (s, cdn) in self.table.cdn_of.iter_mut().enumerate() {
            // Slot counts are at most 10000, and CDN indexes below 62.
            if let Some(c) = slot_cdn(s as u16) {
                *cdn = c as u8;
            }
        }
    }
}

fn permille(score: f64) -> u16 {
    libm::round(score.clamp(0.0, 1.0) * 1000.0) as u16
}

impl HealthModel {
    /// A model for a validated configuration, with every table at the static layout.
    pub fn new(config: HealthConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let ids = config.cdns.iter().map(|c| c.id.clone()).collect();
        let global = Plan::new(&config);
        let groups = config
            .groups
            .iter()
            .map(|g| (g.clone(), Plan::new(&config)))
            .collect();
        Ok(Self {
            config,
            ids,
            global,
            groups,
            seq: 0,
            demand_bps: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Picks up where a previous controller left off: its last snapshot's slot tables (so a
    /// restart moves no viewer), its gate states and its `seq` (so edges see newer snapshots).
    /// Groups the snapshot lacks keep the static layout; groups the config lacks are ignored.
    pub fn resume(&mut self, snapshot: &HealthSnapshot) -> Result<(), ResumeError> {
        let same_cdns = snapshot.cdns().len() == self.ids.len()
            && snapshot
                .cdns()
                .iter()
                .zip(&self.ids)
                .all(|(c, id)| &c.id == id);
        if !same_cdns {
            return Err(ResumeError::CdnMismatch);
        }
        if snapshot.slots() != self.config.slots {
            return Err(ResumeError::SlotCountMismatch {
                expected: self.config.slots,
                found: snapshot.slots(),
            });
        }
        let entries: Vec<PlanEntry> = snapshot
            .cdns()
            .iter()
            .map(|c| PlanEntry {
                score_permille: c.score_permille,
                weight_bp: c.weight_bp,
                state: c.state,
                reason: c.reason,
            })
            .collect();
        self.global.resume(&entries, |s| snapshot.slot_cdn(s));
        for (key, plan) in &mut self.groups {
            if let Some(g) = snapshot.group(key) {
                plan.resume(g.entries(), |s| g.slot_cdn(s));
            }
        }
        self.seq = self.seq.max(snapshot.seq());
        Ok(())
    }

    /// Sets the expected total delivery bandwidth, turning each CDN's `capacity_bps` into a
    /// share cap (`capacity / demand`); `None` leaves only the configured max shares.
    pub fn set_demand_bps(&mut self, demand_bps: Option<u64>) {
        self.demand_bps = demand_bps.filter(|&d| d > 0);
    }

    fn horizon(&self) -> Horizon {
        Horizon {
            half_life_ms: self.config.half_life_ms,
            gate_half_life_ms: self.config.gate.half_life_ms,
            stale_after_ms: self.config.stale_after_ms,
        }
    }

    /// Records one observation: always into the CDN's global signals, and into its group's when
    /// the group is configured. Observations without samples are accepted and change nothing.
    pub fn observe(&mut self, obs: &Observation) -> Result<(), ObserveError> {
        let h = self.horizon();
        let Some(i) = self.ids.iter().position(|id| *id == obs.cdn) else {
            return Err(ObserveError::UnknownCdn {
                cdn: obs.cdn.clone(),
            });
        };
        let Some(sample) = Sample::from_kind(obs.kind)? else {
            return Ok(());
        };
        let Some(global) = self.global.signals.get_mut(i) else {
            return Err(ObserveError::UnknownCdn {
                cdn: obs.cdn.clone(),
            });
        };
        // A group's newest sample is never newer than the CDN's, so admission here covers both.
        global.admit(sample, obs.at_ms, h)?;
        global.add(sample, obs.at_ms, h);
        let group = obs.group.as_deref().and_then(|g| self.groups.get_mut(g));
        if let Some(set) = group.and_then(|plan| plan.signals.get_mut(i)) {
            set.add(sample, obs.at_ms, h);
        }
        Ok(())
    }

    /// Share caps in basis points: the configured max share, tightened by capacity over demand.
    fn caps(&self) -> Vec<u16> {
        self.config
            .cdns
            .iter()
            .map(|c| match (c.capacity_bps, self.demand_bps) {
                (Some(capacity), Some(demand)) => {
                    let share =
                        u128::from(capacity) * u128::from(BASIS_POINTS) / u128::from(demand);
                    // Bounded by the max share, itself at most 10000.
                    (share.min(u128::from(c.max_share_bp))) as u16
                }
                _ => c.max_share_bp,
            })
            .collect()
    }

    /// Runs one evaluation step at `now_ms`. See the module docs for the steps.
    pub fn evaluate(&mut self, now_ms: u64) -> Evaluation {
        self.seq += 1;
        let h = self.horizon();
        let cfg = &self.config;
        let prior = SubScores::prior(&cfg.score);
        let read_gate = |set: &SignalSet| {
            set.gate_errors
                .read(now_ms, h.gate_half_life_ms, h.stale_after_ms)
        };

        let global_inputs: Vec<Input> = self
            .global
            .signals
            .iter()
            .map(|set| {
                let sub = SubScores::measure(set, &prior, now_ms, h, &cfg.score);
                Input {
                    sub,
                    score: sub.combine(&cfg.score),
                    verdict: Verdict::of(read_gate(set), &cfg.gate),
                    global: None,
                    fresh: set.fresh(now_ms, h),
                    seen: set.seen(),
                }
            })
            .collect();
        let ctx = Context {
            config: cfg,
            ids: &self.ids,
            caps: self.caps(),
            now_ms,
            any_fresh: global_inputs.iter().any(|i| i.fresh),
        };
        let mut decisions = Vec::new();
        let mut moves = Vec::new();
        evaluate_plan(
            &mut self.global,
            &global_inputs,
            None,
            &ctx,
            &mut decisions,
            &mut moves,
        );

        let n0 = cfg.score.prior_samples;
        for (key, plan) in &mut self.groups {
            let inputs: Vec<Input> = plan
                .signals
                .iter()
                .zip(&global_inputs)
                .zip(&self.global.signals)
                .zip(&self.global.tracks)
                .map(|(((set, g), gset), gtrack)| {
                    let sub = SubScores::measure(set, &g.sub, now_ms, h, &cfg.score);
                    // The group's own evidence decides a bad verdict; its rate is shrunk toward
                    // the CDN-wide rate like the sub-scores are.
                    let reading = read_gate(set).map(|own| match read_gate(gset) {
                        Some(all) => Reading {
                            mean: (own.weight * own.mean + n0 * all.mean) / (own.weight + n0),
                            weight: own.weight,
                        },
                        None => own,
                    });
                    Input {
                        sub,
                        score: sub.combine(&cfg.score),
                        verdict: Verdict::of(reading, &cfg.gate),
                        global: Some(gtrack.gate.position),
                        fresh: g.fresh,
                        seen: g.seen,
                    }
                })
                .collect();
            evaluate_plan(plan, &inputs, Some(key), &ctx, &mut decisions, &mut moves);
        }
        Evaluation {
            seq: self.seq,
            at_ms: now_ms,
            decisions,
            moves,
        }
    }

    /// The snapshot of the last evaluation, generated at `now_ms` and valid for
    /// `snapshot_ttl_ms`. Before the first evaluation it carries the static weights.
    pub fn snapshot(&self, now_ms: u64) -> HealthSnapshot {
        let cdns = self
            .config
            .cdns
            .iter()
            .zip(&self.global.tracks)
            .map(|(c, t)| SnapshotCdn {
                id: c.id.clone(),
                static_weight_bp: c.static_weight_bp,
                score_permille: t.entry.score_permille,
                weight_bp: t.entry.weight_bp,
                state: t.entry.state,
                reason: t.entry.reason,
            })
            .collect();
        let groups = self
            .groups
            .iter()
            .map(|(k, p)| {
                let entries = p.tracks.iter().map(|t| t.entry).collect();
                (k.clone(), (entries, p.table.cdn_of.clone()))
            })
            .collect();
        HealthSnapshot::from_parts(
            self.seq,
            now_ms,
            now_ms.saturating_add(self.config.snapshot_ttl_ms),
            cdns,
            self.global.table.cdn_of.clone(),
            groups,
        )
    }
}

/// Softmax preferences `static × exp((score − best) / temperature)`; subtracting the best score
/// keeps every exponent at or below 0, so nothing overflows.
fn preferences(scores: &[Option<f64>], statics: &[u16], temperature: f64) -> Vec<f64> {
    let best = scores
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    scores
        .iter()
        .zip(statics)
        .map(|(s, &w)| match s {
            Some(s) => f64::from(w) * libm::exp((s - best) / temperature),
            None => 0.0,
        })
        .collect()
}

/// Healthy CDNs compete, except collapsed ones, which join recovering, stale and unmeasured ones
/// at the exploration floor; gated ones are out.
fn roles_for(states: &[CdnState], collapsed: &[bool], prefs: &[f64]) -> Vec<Role> {
    states
        .iter()
        .zip(collapsed)
        .zip(prefs)
        .map(|((state, &collapsed), &p)| match state {
            CdnState::Healthy if !collapsed => Role::Compete(p),
            CdnState::Healthy | CdnState::Recovering | CdnState::Stale | CdnState::NoData => {
                Role::Probation
            }
            CdnState::Gated => Role::Out,
        })
        .collect()
}

/// One plan's evaluation: gates, states, allocation, slot moves, decisions.
fn evaluate_plan(
    plan: &mut Plan,
    inputs: &[Input],
    group: Option<&str>,
    ctx: &Context<'_>,
    decisions: &mut Vec<CdnDecision>,
    moves: &mut Vec<SlotMove>,
) {
    let cfg = ctx.config;
    let steer = &cfg.steering;
    let statics: Vec<u16> = cfg.cdns.iter().map(|c| c.static_weight_bp).collect();

    // Gates and states.
    let mut states = Vec::with_capacity(inputs.len());
    for (track, input) in plan.tracks.iter_mut().zip(inputs) {
        track.gate.step(input.verdict, &cfg.gate);
        let own = track.gate.position;
        let gated = own == Position::Down || input.global == Some(Position::Down);
        let probation = own == Position::Probation || input.global == Some(Position::Probation);
        let state = if gated {
            CdnState::Gated
        } else if probation {
            CdnState::Recovering
        } else if !input.fresh {
            if input.seen {
                CdnState::Stale
            } else {
                CdnState::NoData
            }
        } else {
            CdnState::Healthy
        };
        // Hysteresis: a healthy CDN keeps the score its weights were computed from until the
        // score moves by more than the delta. For one half-life after it (re)turns healthy its
        // averages are still filling up, so the held score follows the score: freezing an
        // immature score would bias its weight for as long as the hysteresis holds.
        let since = match (state, track.entry.state, track.healthy_since) {
            (CdnState::Healthy, CdnState::Healthy, Some(since)) => since,
            (CdnState::Healthy, ..) => ctx.now_ms,
            _ => u64::MAX,
        };
        let settling = ctx.now_ms.saturating_sub(since) < cfg.half_life_ms;
        track.healthy_since = (state == CdnState::Healthy).then_some(since);
        track.held = match (state, track.held) {
            (CdnState::Healthy, Some(held))
                if !settling && libm::fabs(input.score - held) <= steer.hysteresis =>
            {
                Some(held)
            }
            (CdnState::Healthy, _) => Some(input.score),
            _ => None,
        };
        states.push(state);
    }

    // A healthy CDN whose score collapsed below the emergency score (throughput gone, say,
    // without errors to trip the gate) is treated as failing: floor only, excess out at once.
    let collapsed: Vec<bool> = states
        .iter()
        .zip(inputs)
        .map(|(s, i)| *s == CdnState::Healthy && i.score < steer.emergency_score)
        .collect();

    // Allocation.
    let mut last_resort = false;
    let mut competing = false;
    let (bp, limits, held_back) = if !ctx.any_fresh {
        (
            statics.clone(),
            vec![Limit::Free; statics.len()],
            vec![false; statics.len()],
        )
    } else {
        let held: Vec<Option<f64>> = plan.tracks.iter().map(|t| t.held).collect();
        let prefs = preferences(&held, &statics, steer.temperature);
        let mut roles = roles_for(&states, &collapsed, &prefs);
        let usable = roles.iter().any(|r| !matches!(r, Role::Out));
        competing = roles.iter().any(|r| matches!(r, Role::Compete(_)));
        if !usable {
            // Every CDN is gated. Serving from the least bad one beats serving nothing.
            last_resort = true;
            let scores: Vec<Option<f64>> = inputs.iter().map(|i| Some(i.score)).collect();
            let prefs = preferences(&scores, &statics, steer.temperature);
            roles = prefs.into_iter().map(Role::Compete).collect();
        } else if !competing {
            // Only CDNs on probation or collapsed: none is known good, so share by the static
            // plan.
            roles = roles
                .iter()
                .zip(&statics)
                .map(|(r, &w)| match r {
                    Role::Probation => Role::Compete(f64::from(w)),
                    other => *other,
                })
                .collect();
        }
        let alloc = allocate(&roles, &ctx.caps, steer.exploration_floor_bp);
        // Would the raw scores have asked for different slots? Then hysteresis is holding.
        let raw: Vec<Option<f64>> = states
            .iter()
            .zip(inputs)
            .map(|(s, i)| (*s == CdnState::Healthy).then_some(i.score))
            .collect();
        let held_back = if competing {
            let raw_prefs = preferences(&raw, &statics, steer.temperature);
            let raw_roles = roles_for(&states, &collapsed, &raw_prefs);
            let raw_alloc = allocate(&raw_roles, &ctx.caps, steer.exploration_floor_bp);
            let a = apportion(&alloc.bp, cfg.slots);
            let b = apportion(&raw_alloc.bp, cfg.slots);
            a.iter().zip(&b).map(|(x, y)| x != y).collect()
        } else {
            vec![false; statics.len()]
        };
        (alloc.bp, alloc.limits, held_back)
    };

    // Slot moves.
    let targets = apportion(&bp, cfg.slots);
    let step = if ctx.any_fresh {
        // A collapsed CDN's excess leaves at once only if some CDN is known good: if all of
        // them collapsed (a slow origin, say), moving viewers around would only add switches.
        let urgent: Vec<bool> = states
            .iter()
            .zip(&collapsed)
            .map(|(s, &c)| !last_resort && (*s == CdnState::Gated || (c && competing)))
            .collect();
        let budget = (u32::from(steer.max_migration_bp) * u32::from(cfg.slots))
            .div_ceil(u32::from(BASIS_POINTS))
            .max(1) as usize;
        plan.table
            .rebalance(&targets, &urgent, ctx.now_ms, steer.min_dwell_ms, budget)
    } else {
        let n = statics.len();
        Step {
            moves: Vec::new(),
            dwell_held: vec![false; n],
            bounded: vec![false; n],
        }
    };
    let id = |i: u8| ctx.ids.get(usize::from(i)).cloned().unwrap_or_default();
    moves.extend(step.moves.iter().map(|m| SlotMove {
        group: group.map(String::from),
        slot: m.slot,
        from: id(m.from),
        to: id(m.to),
        reason: if m.failover {
            Reason::Failover
        } else {
            Reason::Rebalance
        },
    }));

    // Decisions.
    let counts = plan.table.counts(statics.len());
    let flag = |v: &[bool], i: usize| v.get(i).copied().unwrap_or(false);
    for (i, (track, input)) in plan.tracks.iter_mut().zip(inputs).enumerate() {
        let state = states.get(i).copied().unwrap_or(CdnState::NoData);
        let reason = if !ctx.any_fresh {
            Reason::StaticFallback
        } else {
            match (state, limits.get(i).copied().unwrap_or(Limit::Free)) {
                (CdnState::Gated, _) if last_resort => Reason::LastResort,
                (CdnState::Gated, _) => Reason::GatedErrorRate,
                // Serving beyond a cap is the operator's alarm, whatever the state.
                (_, Limit::OverCapacity) => Reason::OverCapacity,
                (CdnState::Healthy, _) if flag(&collapsed, i) => Reason::Failover,
                (CdnState::Recovering, _) => Reason::Recovering,
                (CdnState::Stale, _) => Reason::StaleData,
                (CdnState::NoData, _) => Reason::NoData,
                (CdnState::Healthy, Limit::Capped) => Reason::Capped,
                (CdnState::Healthy, Limit::Floor) => Reason::ExplorationFloor,
                (CdnState::Healthy, Limit::Free) if flag(&step.dwell_held, i) => Reason::DwellHold,
                (CdnState::Healthy, Limit::Free) if flag(&step.bounded, i) => {
                    Reason::MigrationBounded
                }
                (CdnState::Healthy, Limit::Free) if flag(&held_back, i) => Reason::HysteresisHold,
                (CdnState::Healthy, Limit::Free) => Reason::Healthy,
            }
        };
        let weight_bp = bp.get(i).copied().unwrap_or(0);
        track.entry = PlanEntry {
            score_permille: permille(input.score),
            weight_bp,
            state,
            reason,
        };
        decisions.push(CdnDecision {
            group: group.map(String::from),
            cdn: ctx.ids.get(i).cloned().unwrap_or_default(),
            score: input.score,
            sub_scores: input.sub,
            weight_bp,
            target_slots: targets.get(i).copied().unwrap_or(0),
            slots: counts.get(i).copied().unwrap_or(0),
            state,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::config::CdnConfig;
    use crate::health::signal::SignalKind;

    fn model() -> HealthModel {
        let mut cfg = HealthConfig::new(vec![CdnConfig::new("a", 5000), CdnConfig::new("b", 5000)]);
        cfg.groups = vec!["country:DE".into()];
        HealthModel::new(cfg).unwrap()
    }

    fn requests(m: &mut HealthModel, cdn: &str, group: Option<&str>, at: u64, errors: u64) {
        // Group-less observations stand for the rest of the world: far more traffic.
        let requests = if group.is_some() { 1000 } else { 100_000 };
        let obs = Observation {
            cdn: cdn.into(),
            group: group.map(String::from),
            at_ms: at,
            kind: SignalKind::Requests { requests, errors },
        };
        m.observe(&obs).unwrap();
    }

    #[test]
    fn unknown_cdn_is_refused() {
        let mut m = model();
        let obs = Observation {
            cdn: "zz".into(),
            group: None,
            at_ms: 0,
            kind: SignalKind::Requests {
                requests: 1,
                errors: 0,
            },
        };
        assert_eq!(
            m.observe(&obs),
            Err(ObserveError::UnknownCdn { cdn: "zz".into() })
        );
    }

    #[test]
    fn group_outage_gates_only_that_group() {
        let mut m = model();
        for step in 0..4u64 {
            let t = step * 5000;
            requests(&mut m, "a", None, t, 0);
            requests(&mut m, "b", None, t, 0);
            requests(&mut m, "a", Some("country:DE"), t, 900);
            requests(&mut m, "b", Some("country:DE"), t, 0);
            m.evaluate(t);
        }
        let e = m.evaluate(20_000);
        assert_eq!(
            e.decision(Some("country:DE"), "a").unwrap().state,
            CdnState::Gated
        );
        assert_eq!(e.decision(Some("country:DE"), "a").unwrap().slots, 0);
        assert_eq!(e.decision(None, "a").unwrap().state, CdnState::Healthy);
    }

    #[test]
    fn resume_keeps_the_published_table() {
        let mut m = model();
        for step in 0..20u64 {
            let t = step * 5000;
            requests(&mut m, "a", None, t, 0);
            requests(&mut m, "b", None, t, 50_000);
            m.evaluate(t);
        }
        let snap = m.snapshot(100_000);
        let mut fresh = model();
        fresh.resume(&snap).unwrap();
        assert_eq!(fresh.snapshot(100_000).slot_cdn(0), snap.slot_cdn(0));
        assert_eq!(fresh.snapshot(100_000).to_json(), snap.to_json());
        // With no data yet, the resumed controller moves nobody.
        assert!(fresh.evaluate(100_000).moves.is_empty());
    }
}
