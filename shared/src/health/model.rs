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
//! 5. apply the operator's [`Override`]s: a drained CDN gets nothing, a pinned one (unless
//!    gated) its pin, and the others share the rest in proportion to step 4's weights,
//! 6. move slots toward the weights: failover (and drains) at once, balancing within budget and
//!    dwell.
//!
//! When no CDN has fresh data at all, the weights are the static weights and the slot table is
//! left as it is, unless an override is in force: a controller that knows nothing should move
//! nobody (the table starts as the static layout, so a cold start is already there). Overrides
//! never touch scores, gates or held scores, so clearing one returns the CDN to exactly the
//! weight the data gives it.

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
    /// [`Reason::Failover`] (left a gated or collapsed CDN at once), [`Reason::Drained`] (left a
    /// drained CDN at once) or [`Reason::Rebalance`].
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

/// An operator's override of what the scores say about one CDN (`usher control drain|pin`).
///
/// Overrides are the controller's state, not the snapshot's: a resumed model has none until
/// the controller re-applies them (it keeps them in its data directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Override {
    /// No traffic: every slot of the CDN moves at the next evaluation, whatever the dwell and
    /// the migration budget (move and CDN reason `drained`). Beats everything.
    Drain,
    /// A fixed target weight while the CDN is not gated (reason `pinned`); the other CDNs share
    /// the rest by score. Slots move toward it within the normal migration budget. A gated
    /// CDN is still failed over: safety beats the pin.
    Pin {
        /// The target weight in basis points.
        weight_bp: u16,
    },
}

/// Why an override was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverrideError {
    /// No such CDN in the configuration.
    UnknownCdn {
        /// The id as given.
        cdn: String,
    },
    /// The drain would leave no CDN to serve.
    WouldDrainAll,
    /// The pins would add up to more than the whole audience.
    PinsOverWhole {
        /// Their sum, in basis points.
        sum_bp: u32,
    },
}

impl fmt::Display for OverrideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverrideError::UnknownCdn { cdn } => write!(f, "unknown cdn {cdn:?}"),
            OverrideError::WouldDrainAll => f.write_str("draining it would leave no cdn"),
            OverrideError::PinsOverWhole { sum_bp } => {
                write!(f, "pins add up to {sum_bp} bp, over 10000")
            }
        }
    }
}

impl core::error::Error for OverrideError {}

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
    overrides: &'a [Option<Override>],
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
    overrides: Vec<Option<Override>>,
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
        let ids_len = config.cdns.len();
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
            overrides: vec![None; ids_len],
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

    /// Sets (`Some`) or clears (`None`) the operator's override of one CDN, effective at the
    /// next evaluation. Refuses an unknown CDN, a drain of the last undrained CDN, and pins
    /// adding up to more than 10000 basis points.
    pub fn set_override(
        &mut self,
        cdn: &str,
        value: Option<Override>,
    ) -> Result<(), OverrideError> {
        let i = self.index_of(cdn)?;
        let mut next = self.overrides.clone();
        if let Some(slot) = next.get_mut(i) {
            *slot = value;
        }
        self.replace_overrides(next)
    }

    /// Pins several CDNs at once (one check of their sum, so weights can be moved between
    /// pinned CDNs in one step). Other CDNs' overrides stay.
    pub fn set_pins(&mut self, pins: &[(&str, u16)]) -> Result<(), OverrideError> {
        let mut next = self.overrides.clone();
        for (cdn, weight_bp) in pins {
            let i = self.index_of(cdn)?;
            if let Some(slot) = next.get_mut(i) {
                *slot = Some(Override::Pin {
                    weight_bp: *weight_bp,
                });
            }
        }
        self.replace_overrides(next)
    }

    /// The overrides in force, in CDN order.
    pub fn overrides(&self) -> Vec<(&str, Override)> {
        self.ids
            .iter()
            .zip(&self.overrides)
            .filter_map(|(id, o)| o.map(|o| (id.as_str(), o)))
            .collect()
    }

    fn index_of(&self, cdn: &str) -> Result<usize, OverrideError> {
        self.ids
            .iter()
            .position(|id| id == cdn)
            .ok_or_else(|| OverrideError::UnknownCdn { cdn: cdn.into() })
    }

    fn replace_overrides(&mut self, next: Vec<Option<Override>>) -> Result<(), OverrideError> {
        if next.iter().all(|o| *o == Some(Override::Drain)) {
            return Err(OverrideError::WouldDrainAll);
        }
        let sum_bp: u32 = next
            .iter()
            .map(|o| match o {
                Some(Override::Pin { weight_bp }) => u32::from(*weight_bp),
                _ => 0,
            })
            .sum();
        if sum_bp > u32::from(BASIS_POINTS) {
            return Err(OverrideError::PinsOverWhole { sum_bp });
        }
        self.overrides = next;
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
            overrides: &self.overrides,
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

/// Applies drains and pins to an allocation that sums to the whole: drained CDNs get nothing;
/// pinned CDNs get their pins; the other CDNs with weight share the rest in proportion to what
/// the scores gave them. When no unpinned CDN has weight, the pinned ones share the whole in
/// proportion to their pins. Integer basis points by largest remainder, summing to the whole.
fn with_overrides(bp: &[u16], drained: &[bool], pins: &[Option<u16>]) -> Vec<u16> {
    let n = bp.len();
    let flag = |v: &[bool], i: usize| v.get(i).copied().unwrap_or(false);
    let pin = |i: usize| pins.get(i).copied().flatten();
    let pinned_sum: f64 = (0..n).filter_map(pin).map(f64::from).sum();
    let free: Vec<f64> = (0..n)
        .map(|i| {
            if flag(drained, i) || pin(i).is_some() {
                0.0
            } else {
                f64::from(bp.get(i).copied().unwrap_or(0))
            }
        })
        .collect();
    let free_sum: f64 = free.iter().sum();
    let whole = f64::from(BASIS_POINTS);
    let exact: Vec<f64> = if free_sum > 0.0 {
        let rest = (whole - pinned_sum).max(0.0);
        (0..n)
            .map(|i| match pin(i) {
                Some(p) if !flag(drained, i) => f64::from(p),
                _ => free.get(i).copied().unwrap_or(0.0) * rest / free_sum,
            })
            .collect()
    } else if pinned_sum > 0.0 {
        (0..n)
            .map(|i| pin(i).map_or(0.0, |p| f64::from(p) * whole / pinned_sum))
            .collect()
    } else {
        // Nothing pinned and nothing free: every usable CDN is drained or unweighted. Keep
        // the allocation but for the drained, renormalised.
        let kept: Vec<f64> = (0..n)
            .map(|i| {
                if flag(drained, i) {
                    0.0
                } else {
                    f64::from(bp.get(i).copied().unwrap_or(0))
                }
            })
            .collect();
        let sum: f64 = kept.iter().sum();
        if sum > 0.0 {
            kept.iter().map(|k| k * whole / sum).collect()
        } else {
            let undrained = (0..n).filter(|&i| !flag(drained, i)).count().max(1) as f64;
            (0..n)
                .map(|i| {
                    if flag(drained, i) {
                        0.0
                    } else {
                        whole / undrained
                    }
                })
                .collect()
        }
    };
    largest_remainder(&exact)
}

/// Rounds non-negative values summing to the whole to integers summing to exactly the whole.
fn largest_remainder(exact: &[f64]) -> Vec<u16> {
    let mut out: Vec<u16> = exact.iter().map(|x| libm::floor(*x) as u16).collect();
    let mut short = i64::from(BASIS_POINTS) - out.iter().map(|&x| i64::from(x)).sum::<i64>();
    let mut order: Vec<usize> = (0..exact.len()).collect();
    order.sort_by(|&a, &b| {
        let frac = |i: usize| {
            let x = exact.get(i).copied().unwrap_or(0.0);
            x - libm::floor(x)
        };
        frac(b).total_cmp(&frac(a)).then(a.cmp(&b))
    });
    for i in order.into_iter().cycle().take(exact.len() * 2) {
        if short <= 0 {
            break;
        }
        if exact.get(i).copied().unwrap_or(0.0) > 0.0
            && let Some(x) = out.get_mut(i)
        {
            *x += 1;
            short -= 1;
        }
    }
    out
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

    let drained: Vec<bool> = (0..inputs.len())
        .map(|i| ctx.overrides.get(i).copied().flatten() == Some(Override::Drain))
        .collect();
    // A pin counts while its CDN is not gated: safety beats the pin.
    let pins: Vec<Option<u16>> = (0..inputs.len())
        .map(|i| match ctx.overrides.get(i).copied().flatten() {
            Some(Override::Pin { weight_bp })
                if states.get(i).copied() != Some(CdnState::Gated) =>
            {
                Some(weight_bp)
            }
            _ => None,
        })
        .collect();
    let overridden = drained.iter().any(|d| *d) || pins.iter().any(Option::is_some);

    // Allocation.
    let mut last_resort = false;
    let mut competing = false;
    let (mut bp, limits, held_back) = if !ctx.any_fresh {
        (
            statics.clone(),
            vec![Limit::Free; statics.len()],
            vec![false; statics.len()],
        )
    } else {
        let held: Vec<Option<f64>> = plan.tracks.iter().map(|t| t.held).collect();
        let prefs = preferences(&held, &statics, steer.temperature);
        let mut roles = roles_for(&states, &collapsed, &prefs);
        for (role, &d) in roles.iter_mut().zip(&drained) {
            if d {
                *role = Role::Out;
            }
        }
        let usable = roles.iter().any(|r| !matches!(r, Role::Out));
        competing = roles.iter().any(|r| matches!(r, Role::Compete(_)));
        if !usable {
            // Every CDN is gated. Serving from the least bad one beats serving nothing.
            last_resort = true;
            let scores: Vec<Option<f64>> = inputs.iter().map(|i| Some(i.score)).collect();
            let prefs = preferences(&scores, &statics, steer.temperature);
            roles = prefs
                .into_iter()
                .zip(&drained)
                .map(|(p, &d)| if d { Role::Out } else { Role::Compete(p) })
                .collect();
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

    if overridden {
        bp = with_overrides(&bp, &drained, &pins);
    }

    // Slot moves.
    let targets = apportion(&bp, cfg.slots);
    let step = if ctx.any_fresh || overridden {
        // A collapsed CDN's excess leaves at once only if some CDN is known good: if all of
        // them collapsed (a slow origin, say), moving viewers around would only add switches.
        let urgent: Vec<bool> = states
            .iter()
            .zip(&collapsed)
            .zip(&drained)
            .map(|((s, &c), &d)| d || (!last_resort && (*s == CdnState::Gated || (c && competing))))
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
    // A slot that left a drained CDN says so, even if the CDN is also gated: the drain beats
    // everything, and the decision log should name the operator's action.
    let drained_from = |from: u8| drained.get(usize::from(from)).copied().unwrap_or(false);
    moves.extend(step.moves.iter().map(|m| SlotMove {
        group: group.map(String::from),
        slot: m.slot,
        from: id(m.from),
        to: id(m.to),
        reason: match (m.failover, drained_from(m.from)) {
            (true, true) => Reason::Drained,
            (true, false) => Reason::Failover,
            (false, _) => Reason::Rebalance,
        },
    }));

    // Decisions.
    let counts = plan.table.counts(statics.len());
    let flag = |v: &[bool], i: usize| v.get(i).copied().unwrap_or(false);
    for (i, (track, input)) in plan.tracks.iter_mut().zip(inputs).enumerate() {
        let state = states.get(i).copied().unwrap_or(CdnState::NoData);
        // The operator's overrides first (a pin only counts while its CDN is not gated), then
        // what the data says.
        let reason = if flag(&drained, i) {
            Reason::Drained
        } else if pins.get(i).copied().flatten().is_some() {
            Reason::Pinned
        } else if !ctx.any_fresh {
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

    fn healthy_steps(m: &mut HealthModel, from: u64, steps: u64) -> Evaluation {
        let mut last = None;
        for step in from..from + steps {
            let t = step * 5000;
            requests(m, "a", None, t, 0);
            requests(m, "b", None, t, 0);
            last = Some(m.evaluate(t));
        }
        last.unwrap()
    }

    #[test]
    fn a_drain_empties_the_cdn_in_one_evaluation_and_a_clear_hands_it_back() {
        let mut m = model();
        healthy_steps(&mut m, 0, 10);
        m.set_override("a", Some(Override::Drain)).unwrap();
        let e = healthy_steps(&mut m, 10, 1);
        let a = e.decision(None, "a").unwrap();
        assert_eq!((a.slots, a.weight_bp, a.reason), (0, 0, Reason::Drained));
        assert_eq!(
            a.state,
            CdnState::Healthy,
            "the state stays what was measured"
        );
        // In every group too.
        assert_eq!(e.decision(Some("country:DE"), "a").unwrap().slots, 0);
        assert!(
            e.moves
                .iter()
                .all(|mv| mv.reason == Reason::Drained && mv.from == "a")
        );
        assert_eq!(m.overrides(), vec![("a", Override::Drain)]);
        m.set_override("a", None).unwrap();
        let e = healthy_steps(&mut m, 11, 12);
        assert!(e.decision(None, "a").unwrap().slots > 300);
    }

    #[test]
    fn a_drain_that_would_leave_no_cdn_and_pins_over_the_whole_are_refused() {
        let mut m = model();
        m.set_override("a", Some(Override::Drain)).unwrap();
        assert_eq!(
            m.set_override("b", Some(Override::Drain)),
            Err(OverrideError::WouldDrainAll)
        );
        assert_eq!(
            m.set_pins(&[("b", 6000), ("a", 6000)]),
            Err(OverrideError::PinsOverWhole { sum_bp: 12000 })
        );
        assert_eq!(
            m.set_override("zz", None),
            Err(OverrideError::UnknownCdn { cdn: "zz".into() })
        );
        // A refused change leaves the overrides as they were.
        assert_eq!(m.overrides(), vec![("a", Override::Drain)]);
    }

    #[test]
    fn a_pin_converges_within_the_migration_budget() {
        let mut m = model();
        healthy_steps(&mut m, 0, 10);
        m.set_pins(&[("a", 8000)]).unwrap();
        let budget = usize::from(m.config.steering.max_migration_bp) * usize::from(m.config.slots)
            / usize::from(BASIS_POINTS);
        let mut t = 10;
        loop {
            let e = healthy_steps(&mut m, t, 1);
            t += 1;
            let global = e.moves.iter().filter(|mv| mv.group.is_none()).count();
            assert!(global <= budget, "{global} moves in one step");
            let a = e.decision(None, "a").unwrap();
            assert_eq!((a.weight_bp, a.reason), (8000, Reason::Pinned));
            if a.slots == 800 {
                break;
            }
            assert!(t < 40, "the pin did not converge");
        }
    }

    #[test]
    fn a_gated_cdn_is_failed_over_even_when_pinned() {
        let mut m = model();
        healthy_steps(&mut m, 0, 10);
        m.set_pins(&[("b", 9000)]).unwrap();
        for step in 10..14u64 {
            let t = step * 5000;
            requests(&mut m, "a", None, t, 0);
            requests(&mut m, "b", None, t, 60_000);
            m.evaluate(t);
        }
        let e = m.evaluate(70_000);
        let b = e.decision(None, "b").unwrap();
        assert_eq!((b.state, b.slots, b.weight_bp), (CdnState::Gated, 0, 0));
        assert_eq!(e.decision(None, "a").unwrap().weight_bp, BASIS_POINTS);
    }

    proptest::proptest! {
        #[test]
        fn overrides_keep_weights_whole_drained_empty_and_pins_exact(
            raw in proptest::collection::vec(0u16..=10_000, 2..6),
            drains in proptest::collection::vec(proptest::bool::ANY, 6),
            pin_choice in proptest::collection::vec(proptest::option::of(0u16..=3000), 6),
        ) {
            let n = raw.len();
            // An allocation summing to the whole, as `allocate` makes.
            let total: u32 = raw.iter().map(|&x| u32::from(x)).sum::<u32>().max(1);
            let exact: Vec<f64> = raw.iter().map(|&x| f64::from(x) * 10_000.0 / f64::from(total)).collect();
            let bp = if raw.iter().all(|&x| x == 0) { vec![10_000 / n as u16; n] } else { largest_remainder(&exact) };
            let mut drained: Vec<bool> = drains[..n].to_vec();
            if drained.iter().all(|d| *d) { drained[0] = false; }
            let pins: Vec<Option<u16>> = (0..n).map(|i| if drained[i] { None } else { pin_choice[i] }).collect();
            let out = with_overrides(&bp, &drained, &pins);
            let sum: u32 = out.iter().map(|&x| u32::from(x)).sum();
            proptest::prop_assert_eq!(sum, 10_000);
            for i in 0..n {
                if drained[i] { proptest::prop_assert_eq!(out[i], 0); }
            }
            let free_weight: u32 = (0..n).filter(|&i| !drained[i] && pins[i].is_none()).map(|i| u32::from(bp[i])).sum();
            if free_weight > 0 {
                for i in 0..n {
                    if let Some(p) = pins[i] { proptest::prop_assert_eq!(out[i], p); }
                }
            }
        }
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
