//! The pre-event simulation behind `usher control simulate`: a scripted scenario, many virtual
//! viewers, and the live controller's own decision code.
//!
//! A [`Scenario`] (parsed from the TOML contract of issue 6) describes an event: how long, how
//! many viewers, the CDNs with their capacity and baseline signals, and events that change a
//! CDN's signals from some second on. [`run`] replays it second by second and returns a
//! [`Report`]: how long viewers stayed on degraded CDNs, how often they switched, peak shares
//! and capacity violations. `docs/simulation.md` is the user's guide; this is the model:
//!
//! * **Controller.** The same [`HealthModel`] the live controller runs: observations in,
//!   [`evaluate`](usher_shared::health::HealthModel::evaluate) every `evaluation_interval_seconds` (5 s), then
//!   [`snapshot`](usher_shared::health::HealthModel::snapshot). The demand estimate passed to
//!   [`set_demand_bps`](usher_shared::health::HealthModel::set_demand_bps) is viewers × bitrate × (1 +
//!   `demand_headroom`), headroom 5 % by default: a CDN at its cap holds a whole number of slots,
//!   and the viewers in those slots vary around their expected count (±0.7 % for 200 slots of
//!   100 viewers each), so a cap at exactly the capacity is exceeded half the time.
//! * **Warm-up.** The controller starts `warmup_seconds` (60 s) before the viewers arrive, with
//!   probes only, as it would before doors open: the first viewers already get a table shaped by
//!   the probes and the capacity caps instead of the bare static layout.
//! * **Viewers.** Viewer `i` has session id `viewer-{i}` and the slot
//!   [`session_slot`] gives it, so the population of every slot is exact, and every viewer of a
//!   slot is on the same CDN. All viewers arrive at second 0 and get their CDN from the snapshot
//!   the edges have then ([`HealthSnapshot::assign`], the edge's own rule; the static layout
//!   before any snapshot). Afterwards a viewer follows the table only when its player reloads
//!   the Content Steering manifest, every `steering_ttl_seconds` (10 s); each slot gets a seeded
//!   phase in that period, so a table change reaches a tenth of the slots per second and all of
//!   them within the TTL. Snapshots reach the edges `publish_delay_seconds` (0) after their
//!   evaluation. A viewer's switches are its slot's, so max and mean are exact.
//! * **Signals.** See the `traffic` module: probes once per segment per CDN, viewer
//!   traffic at one request per viewer per segment, seeded noise, and a congestion model that
//!   makes load beyond capacity cost throughput, latency and errors.
//!
//! Not modelled: players' own failover to the next pathway on errors (the measure is of the
//! controller alone, an upper bound), viewers joining or leaving during the event, client groups,
//! and the origin.
//!
//! What this module does not do: read the scenario file or print (the CLI does). The run is
//! pure: same scenario, same report, on every machine.
//!
//! Key design decision: viewers are simulated per slot, not one by one. A slot is exactly the
//! unit the controller moves and the edge maps, so per-slot bookkeeping gives per-viewer switch
//! counts without approximation, and a 100 000-viewer, 10-minute run costs 100 000 hashes and a
//! few hundred evaluations instead of sixty million viewer-steps.
//!
//! [`HealthModel`]: usher_shared::health::HealthModel

pub mod measure;
mod noise;
pub mod report;
pub mod scenario;
pub mod surge;
mod traffic;

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use usher_shared::health::{HealthSnapshot, Observation, session_slot, static_slot_cdn};

pub use measure::Reroute;
pub use report::{Report, TimelineCdn, TimelinePoint};
pub use scenario::{CdnSpec, EventSpec, Scenario, ScenarioError, SignalChange, Signals};

use noise::Rng;

/// Virtual Unix time of the warm-up's first second, 2026-01-01T00:00:00Z. Any value would do;
/// a real date makes the snapshots look like production ones.
const START_MS: u64 = 1_767_225_600_000;

/// The random stream of the slots' reload phases (CDN `i` uses stream `i + 1`).
const PHASE_STREAM: u64 = 0;

/// One slot of the global table and its viewers.
struct Slot {
    /// Viewers whose session hashes to it.
    population: u64,
    /// One of them, whose session id the edge's rule is asked about.
    representative: String,
    /// The second of each steering TTL period at which its viewers reload.
    phase: u64,
    /// The CDN its viewers are on.
    cdn: usize,
    /// How often its viewers changed CDN.
    switches: u32,
}

/// One CDN during the run.
struct Cdn {
    id: String,
    capacity_bps: f64,
    baseline: Signals,
    signals: Signals,
    viewers: u64,
    rng: Rng,
    peak_share: f64,
    violations: u64,
}

/// The viewers' slots: population and a representative session id per slot. Slots no viewer
/// hashes to are left out.
fn audience(viewers: u64, slots: u16, seed: u64, ttl: u64) -> Vec<Slot> {
    let mut population = vec![0u64; usize::from(slots)];
    let mut representative: Vec<Option<String>> = vec![None; usize::from(slots)];
    let mut id = String::new();
    for i in 0..viewers {
        id.clear();
        // Writing to a String cannot fail.
        let _ = write!(id, "viewer-{i}");
        let s = usize::from(session_slot(id.as_bytes(), slots));
        if let Some(p) = population.get_mut(s) {
            *p += 1;
        }
        if let Some(r @ None) = representative.get_mut(s) {
            *r = Some(id.clone());
        }
    }
    let mut phases = Rng::new(seed, PHASE_STREAM);
    population
        .into_iter()
        .zip(representative)
        .map(|(population, representative)| (population, representative, phases.below(ttl)))
        .filter_map(|(population, representative, phase)| {
            Some(Slot {
                population,
                representative: representative?,
                phase,
                cdn: 0,
                switches: 0,
            })
        })
        .collect()
}

/// The edge's answer for a slot: the snapshot's rule, or the static layout before any snapshot.
fn edge_cdn(
    visible: Option<&HealthSnapshot>,
    statics: &[u16],
    slots: u16,
    slot: &Slot,
    now_ms: u64,
) -> usize {
    let answer = match visible {
        Some(snapshot) => snapshot
            .assign(slot.representative.as_bytes(), &[], now_ms)
            .map(|a| a.cdn_index),
        None => static_slot_cdn(
            statics,
            session_slot(slot.representative.as_bytes(), slots),
            slots,
        ),
    };
    answer.unwrap_or(slot.cdn)
}

/// Hands the snapshots whose publication delay has passed to the edges.
fn deliver(
    pending: &mut VecDeque<(i64, HealthSnapshot)>,
    visible: &mut Option<HealthSnapshot>,
    t: i64,
) {
    while pending.front().is_some_and(|(from, _)| *from <= t) {
        *visible = pending.pop_front().map(|(_, snapshot)| snapshot);
    }
}

/// Whether a new segment appears in second `abs` (counted from the warm-up's start): the
/// probes fetch each new segment once.
fn new_segment(abs: u64, segment_seconds: f64) -> bool {
    abs == 0
        || libm::floor(abs as f64 / segment_seconds)
            != libm::floor((abs - 1) as f64 / segment_seconds)
}

fn signed(x: u64) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

/// Replays `scenario` and reports on it. See the module docs for the model.
pub fn run(scenario: &Scenario) -> Report {
    let s = scenario;
    let mut model = s.model.clone();
    let slots = model.config().slots;
    let statics: Vec<u16> = model
        .config()
        .cdns
        .iter()
        .map(|c| c.static_weight_bp)
        .collect();
    let demand_bps = s.viewers as f64 * s.bitrate_bps * (1.0 + s.demand_headroom);
    // At most 1e7 viewers × 1e9 bit/s × 2: well inside u64.
    model.set_demand_bps(Some(demand_bps as u64));

    let mut audience = audience(s.viewers, slots, s.seed, s.steering_ttl_seconds);
    let mut cdns: Vec<Cdn> = (0u64..)
        .zip(&s.cdns)
        .map(|(i, c)| Cdn {
            id: c.id.clone(),
            capacity_bps: c.capacity_bps,
            baseline: c.baseline,
            signals: c.baseline,
            viewers: 0,
            rng: Rng::new(s.seed, i + 1),
            peak_share: 0.0,
            violations: 0,
        })
        .collect();

    let viewers = s.viewers as f64;
    let mut reroute = Reroute::default();
    let mut pending: VecDeque<(i64, HealthSnapshot)> = VecDeque::new();
    let mut visible: Option<HealthSnapshot> = None;
    let mut events = s.events.iter().peekable();
    let mut observations: Vec<Observation> = Vec::new();
    let mut report = Report {
        seed: s.seed,
        duration_seconds: s.duration_seconds,
        viewers: s.viewers,
        time_to_reroute_seconds: None,
        first_degraded_at_seconds: None,
        max_switches_per_viewer: 0,
        mean_switches_per_viewer: 0.0,
        viewers_by_switches: BTreeMap::new(),
        peak_share: BTreeMap::new(),
        final_share: BTreeMap::new(),
        capacity_violations: 0,
        capacity_violations_by_cdn: BTreeMap::new(),
        seconds_over_capacity: 0,
        viewer_seconds_on_degraded: 0,
        evaluations: 0,
        slot_moves: BTreeMap::new(),
        last_slot_move_at_seconds: None,
        last_switch_at_seconds: None,
        decision_reasons: BTreeMap::new(),
        timeline: Vec::new(),
        surge: None,
    };

    let interval = signed(s.evaluation_interval_seconds);
    let ttl = signed(s.steering_ttl_seconds);
    for t in -signed(s.warmup_seconds)..signed(s.duration_seconds) {
        let abs = (t + signed(s.warmup_seconds)).unsigned_abs();
        let now_ms = START_MS + abs * 1000;
        let watching = t >= 0;

        while let Some(e) = events.next_if(|e| signed(e.at) <= t) {
            if let Some(c) = cdns.get_mut(e.cdn) {
                c.signals = c.signals.with(&e.change);
            }
        }
        deliver(&mut pending, &mut visible, t);

        if t == 0 {
            for slot in &mut audience {
                slot.cdn = edge_cdn(visible.as_ref(), &statics, slots, slot, now_ms);
                if let Some(c) = cdns.get_mut(slot.cdn) {
                    c.viewers += slot.population;
                }
            }
        }

        // Where viewers are this second: shares, capacity, degradation.
        let utilization: Vec<f64> = cdns
            .iter()
            .map(|c| c.viewers as f64 * s.bitrate_bps / c.capacity_bps)
            .collect();
        if watching {
            let second = t.unsigned_abs();
            let mut any_over = false;
            let mut any_degraded = false;
            let mut degraded_viewers = 0;
            for (c, &u) in cdns.iter_mut().zip(&utilization) {
                c.peak_share = c.peak_share.max(c.viewers as f64 / viewers);
                if u > 1.0 {
                    c.violations += 1;
                    any_over = true;
                }
                if c.signals.worse_than(&c.baseline) {
                    any_degraded = true;
                    degraded_viewers += c.viewers;
                }
            }
            report.seconds_over_capacity += u64::from(any_over);
            report.viewer_seconds_on_degraded += degraded_viewers;
            reroute.record(second, any_degraded, degraded_viewers, s.viewers);
        }

        // What the controller hears about this second.
        observations.clear();
        let probe = new_segment(abs, s.segment_seconds);
        for (c, &u) in cdns.iter_mut().zip(&utilization) {
            let d = traffic::delivered(&c.signals, u);
            if probe {
                traffic::observe(&c.id, now_ms, 1, &d, s.noise, &mut c.rng, &mut observations);
            }
            if watching {
                let requests = c.rng.round(c.viewers as f64 / s.segment_seconds);
                traffic::observe(
                    &c.id,
                    now_ms,
                    requests,
                    &d,
                    s.noise,
                    &mut c.rng,
                    &mut observations,
                );
            }
        }
        for obs in &observations {
            // Every observation names a configured CDN with finite, consistent values, so none
            // is refused; the live controller likewise drops a refused one and carries on.
            let _ = model.observe(obs);
        }

        if t.rem_euclid(interval) == 0 {
            let evaluation = model.evaluate(now_ms);
            if watching {
                let second = t.unsigned_abs();
                report.evaluations += 1;
                let mut moved = false;
                for m in evaluation.moves.iter().filter(|m| m.group.is_none()) {
                    *report
                        .slot_moves
                        .entry(m.reason.as_str().to_owned())
                        .or_default() += 1;
                    moved = true;
                }
                if moved {
                    report.last_slot_move_at_seconds = Some(second);
                }
                let mut point = TimelinePoint {
                    at_seconds: second,
                    cdns: Vec::with_capacity(cdns.len()),
                };
                for ((d, c), &u) in evaluation.plan(None).zip(&cdns).zip(&utilization) {
                    *report
                        .decision_reasons
                        .entry(d.cdn.clone())
                        .or_default()
                        .entry(d.reason.as_str().to_owned())
                        .or_default() += 1;
                    point.cdns.push(TimelineCdn {
                        id: d.cdn.clone(),
                        share: c.viewers as f64 / viewers,
                        utilization: u,
                        score: d.score,
                        weight_bp: d.weight_bp,
                        state: d.state,
                        reason: d.reason,
                    });
                }
                report.timeline.push(point);
            }
            let delay = signed(s.publish_delay_seconds);
            pending.push_back((t.saturating_add(delay), model.snapshot(now_ms)));
            deliver(&mut pending, &mut visible, t);
        }

        // Players that reload their steering manifest this second follow the edge's answer.
        if watching {
            let phase = t.rem_euclid(ttl).unsigned_abs();
            for slot in audience.iter_mut().filter(|slot| slot.phase == phase) {
                let to = edge_cdn(visible.as_ref(), &statics, slots, slot, now_ms);
                if to == slot.cdn {
                    continue;
                }
                if let Some(c) = cdns.get_mut(slot.cdn) {
                    c.viewers -= slot.population;
                }
                if let Some(c) = cdns.get_mut(to) {
                    c.viewers += slot.population;
                }
                slot.cdn = to;
                slot.switches += 1;
                report.last_switch_at_seconds = Some(t.unsigned_abs());
            }
        }
    }

    report.first_degraded_at_seconds = reroute.first_degraded_at;
    report.time_to_reroute_seconds = reroute.seconds();
    let mut switched = 0u64;
    for slot in &audience {
        report.max_switches_per_viewer = report.max_switches_per_viewer.max(slot.switches);
        *report.viewers_by_switches.entry(slot.switches).or_default() += slot.population;
        switched += slot.population * u64::from(slot.switches);
    }
    report.mean_switches_per_viewer = switched as f64 / viewers;
    for c in &cdns {
        report.peak_share.insert(c.id.clone(), c.peak_share);
        report
            .final_share
            .insert(c.id.clone(), c.viewers as f64 / viewers);
        report
            .capacity_violations_by_cdn
            .insert(c.id.clone(), c.violations);
        report.capacity_violations += c.violations;
    }
    report.surge = s.surge.as_ref().map(|spec| surge::run(spec, s.seed));
    report
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use proptest::prelude::*;

    use super::*;

    /// Two similar CDNs; `top` goes before the CDN tables (keys, `[controller]`), `tail` after
    /// them (`[[event]]`s).
    fn scenario(top: &str, tail: &str) -> Scenario {
        let text = format!(
            r#"
duration_seconds = 120
viewers = 3000
segment_seconds = 2
bitrate_mbps = 5.0
{top}
[[cdn]]
id = "a"
capacity_gbps = 100.0
baseline = {{ ttfb_ms = 40.0, throughput_mbps = 30.0, error_rate = 0.001, cache_hit = 0.98 }}
[[cdn]]
id = "b"
capacity_gbps = 100.0
baseline = {{ ttfb_ms = 45.0, throughput_mbps = 28.0, error_rate = 0.001, cache_hit = 0.97 }}
{tail}
"#
        );
        Scenario::from_toml(&text).unwrap()
    }

    #[test]
    fn every_viewer_is_counted_in_exactly_one_slot() {
        let slots = audience(12_345, 1000, 1, 10);
        assert_eq!(slots.iter().map(|s| s.population).sum::<u64>(), 12_345);
        for slot in &slots {
            let own = session_slot(slot.representative.as_bytes(), 1000);
            assert_eq!(
                slots
                    .iter()
                    .filter(|s| session_slot(s.representative.as_bytes(), 1000) == own)
                    .count(),
                1
            );
            assert!(slot.phase < 10);
        }
    }

    #[test]
    fn probes_follow_the_segment_cadence() {
        let probes: Vec<u64> = (0..10).filter(|&t| new_segment(t, 2.5)).collect();
        assert_eq!(probes, vec![0, 3, 5, 8]);
        assert!((0..10).all(|t| new_segment(t, 1.0)));
    }

    #[test]
    fn the_same_seed_gives_the_same_report_and_another_seed_another() {
        let a = run(&scenario("seed = 11", ""));
        assert_eq!(a, run(&scenario("seed = 11", "")));
        assert_eq!(a.seed, 11);
        assert_ne!(a.timeline, run(&scenario("seed = 12", "")).timeline);
    }

    #[test]
    fn a_delayed_snapshot_delays_the_failover() {
        let outage = "[[event]]\nat = 30\ncdn = \"a\"\nset = { outage = true }";
        let reroute = |delay: u32| {
            let top = format!("[controller]\npublish_delay_seconds = {delay}");
            run(&scenario(&top, outage))
                .time_to_reroute_seconds
                .unwrap()
        };
        let prompt = reroute(0);
        let late = reroute(30);
        assert!(late >= prompt + 20, "prompt {prompt}, late {late}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        #[test]
        fn reports_are_consistent_for_any_seed(seed in 0u64..1_000_000) {
            let r = run(&scenario(&format!("seed = {seed}"), ""));
            let total: f64 = r.final_share.values().sum();
            prop_assert!((total - 1.0).abs() < 1e-9);
            prop_assert!(r.mean_switches_per_viewer <= f64::from(r.max_switches_per_viewer));
            prop_assert_eq!(r.viewers_by_switches.values().sum::<u64>(), 3000);
            prop_assert_eq!(r.time_to_reroute_seconds, None);
            prop_assert_eq!(r.viewer_seconds_on_degraded, 0);
            prop_assert_eq!(r.capacity_violations, 0);
            prop_assert_eq!(r.evaluations, 24);
            for (id, peak) in &r.peak_share {
                prop_assert!(*peak >= r.final_share[id] && *peak <= 1.0);
            }
        }
    }
}
