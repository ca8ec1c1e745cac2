//! A kickoff surge through the waiting room: the scenario's optional `[surge]` table.
//!
//! `viewers` ticket holders arrive in three phases: a share `pre_queue` spread evenly over the
//! `pre_queue_seconds` before the doors (each gets a shuffled position in the minute before the
//! doors, as the edge gives it), a share `spike` spread over the `spike_seconds` after the doors,
//! and the rest over the following `tail_seconds`. Every `tick_seconds` the arrivals so far
//! reach the controller (arrival lines with no delay) and [`Room::step`], the live controller's
//! own arithmetic, moves the frontier; a viewer is admitted at the first tick whose frontier
//! passes its position, and then watches until the end (nobody leaves, so the cap is a hard
//! ceiling). The run ends when everyone is admitted or after `max_seconds`.
//!
//! What it reports: the peak admitted rate over any minute, the peak of active viewers against
//! the cap, and each viewer's wait from the later of its arrival and the doors until its
//! admission (p50, p95, max), plus who was still waiting at the end.
//!
//! What it does not model: arrival-line delays, edges' snapshot delays, players leaving, and
//! the automatic rate (the CDN half of the simulation has no admission in it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use usher_shared::health::PREQUEUE_SPAN_MS;

use super::noise::Rng;
use crate::admission::{AdmissionConfig, Audience, Room};

/// The doors, in virtual Unix ms (any value works; a real date reads well).
const DOORS_MS: u64 = 1_767_225_600_000;

/// The random stream of the pre-queue's shuffle.
const SHUFFLE_STREAM: u64 = 9_999;

/// The `[surge]` table.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurgeSpec {
    /// Ticket holders who arrive.
    pub viewers: u64,
    /// Share arriving before the doors (0 to 1).
    pub pre_queue: f64,
    /// Seconds before the doors over which the pre-queue arrives.
    #[serde(default = "default_pre_queue_seconds")]
    pub pre_queue_seconds: u64,
    /// Share arriving in the spike at the doors (0 to 1; with `pre_queue`, at most 1).
    pub spike: f64,
    /// Seconds after the doors over which the spike arrives.
    #[serde(default = "default_spike_seconds")]
    pub spike_seconds: u64,
    /// Seconds after the spike over which the rest arrives.
    #[serde(default = "default_tail_seconds")]
    pub tail_seconds: u64,
    /// The admission rate, viewers per minute.
    pub rate_per_min: u32,
    /// The active cap, if any.
    #[serde(default)]
    pub cap: Option<u64>,
    /// The controller's interval, seconds (default 5, as `interval_ms`).
    #[serde(default = "default_tick_seconds")]
    pub tick_seconds: u64,
    /// The run stops this long after the doors at the latest.
    #[serde(default = "default_max_seconds")]
    pub max_seconds: u64,
}

const fn default_pre_queue_seconds() -> u64 {
    600
}
const fn default_spike_seconds() -> u64 {
    60
}
const fn default_tail_seconds() -> u64 {
    1200
}
const fn default_tick_seconds() -> u64 {
    5
}
const fn default_max_seconds() -> u64 {
    4 * 3600
}

impl SurgeSpec {
    /// Checks the table; `Err` is (field, rule).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=10_000_000).contains(&self.viewers) {
            return Err(("surge.viewers", "1 to 10000000".into()));
        }
        let share = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
        if !share(self.pre_queue) || !share(self.spike) || self.pre_queue + self.spike > 1.0 {
            return Err((
                "surge.pre_queue",
                "pre_queue and spike: shares from 0 to 1, together at most 1".into(),
            ));
        }
        if self.rate_per_min == 0 || self.cap == Some(0) {
            return Err(("surge.rate_per_min", "rate_per_min and cap: above 0".into()));
        }
        if !(1..=60).contains(&self.tick_seconds) || !(60..=86_400).contains(&self.max_seconds) {
            return Err((
                "surge.tick_seconds",
                "tick_seconds 1 to 60, max_seconds 60 to 86400".into(),
            ));
        }
        if self.pre_queue_seconds > 86_400 || self.spike_seconds == 0 || self.tail_seconds > 86_400
        {
            return Err((
                "surge.spike_seconds",
                "spike_seconds above 0; pre_queue_seconds and tail_seconds at most 86400".into(),
            ));
        }
        Ok(())
    }
}

/// What a surge run reports (the `surge` object of the simulation's JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SurgeReport {
    /// Ticket holders who arrived.
    pub viewers: u64,
    /// Of them, admitted by the end.
    pub admitted: u64,
    /// Still waiting at the end (the cap was reached, or `max_seconds` passed).
    pub still_waiting: u64,
    /// The configured rate, viewers per minute.
    pub rate_per_min: u32,
    /// The most admissions in any 60 s (at the ticks), viewers.
    pub peak_admitted_per_min: u64,
    /// The most viewers active at once.
    pub active_peak: u64,
    /// The cap, if any.
    pub cap: Option<u64>,
    /// Waits of the admitted viewers, seconds (from the later of arrival and the doors).
    pub wait_p50_seconds: f64,
    /// 95th percentile.
    pub wait_p95_seconds: f64,
    /// The longest.
    pub wait_max_seconds: f64,
    /// The last pre-queue viewer's admission came before the first later arrival's.
    pub pre_queue_admitted_first: bool,
    /// Seconds after the doors when the last viewer was admitted, if all were.
    pub all_admitted_at_seconds: Option<u64>,
}

/// When viewer `i` of `n` arrives, ms, and whether it is in the pre-queue.
fn arrival(spec: &SurgeSpec, i: u64) -> (u64, bool) {
    let n = spec.viewers as f64;
    let pre = (n * spec.pre_queue).round() as u64;
    let spike = (n * spec.spike).round() as u64;
    let spread = |k: u64, of: u64, seconds: u64| (k * seconds * 1000).checked_div(of).unwrap_or(0);
    if i < pre {
        let before = spec.pre_queue_seconds * 1000;
        (
            DOORS_MS - before + spread(i, pre, spec.pre_queue_seconds),
            true,
        )
    } else if i < pre + spike {
        (DOORS_MS + spread(i - pre, spike, spec.spike_seconds), false)
    } else {
        let rest = spec.viewers - pre - spike;
        let start = DOORS_MS + spec.spike_seconds * 1000;
        (
            start + spread(i - pre - spike, rest, spec.tail_seconds),
            false,
        )
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).map_or(0.0, |ms| *ms as f64 / 1000.0)
}

/// Runs a surge with `seed` for the pre-queue shuffle.
pub fn run(spec: &SurgeSpec, seed: u64) -> SurgeReport {
    let mut config = AdmissionConfig::fixed(DOORS_MS, spec.rate_per_min, spec.cap);
    // Lines arrive at once here, so the idle room may follow the clock without delay, and
    // nobody leaves, so an admission counts against the cap for the whole run.
    config.line_delay_ms = 0;
    config.grace_ms = u64::MAX;
    let tick_ms = spec.tick_seconds * 1000;
    let mut room = Room::new("surge", &config);
    let mut rng = Rng::new(seed, SHUFFLE_STREAM);
    let mut next = 0;
    // Waiting viewers: position → (arrival ms, in the pre-queue).
    let mut waiting: BTreeMap<u64, Vec<(u64, bool)>> = BTreeMap::new();
    let mut waits = Vec::new();
    let mut per_tick: Vec<u64> = Vec::new();
    let mut admitted = 0_u64;
    let mut last_pre_admitted = 0_u64;
    let mut first_later_admitted = u64::MAX;
    let mut all_at = None;
    let start = DOORS_MS - spec.pre_queue_seconds * 1000 - tick_ms;
    let mut now = start;
    while now <= DOORS_MS + spec.max_seconds * 1000 {
        while next < spec.viewers {
            let (at, pre) = arrival(spec, next);
            if at > now {
                break;
            }
            let position = if pre {
                DOORS_MS - PREQUEUE_SPAN_MS + rng.below(PREQUEUE_SPAN_MS)
            } else {
                at
            };
            room.arrival(position);
            waiting.entry(position).or_default().push((at, pre));
            next += 1;
        }
        let (plan, _) = room.step(
            now,
            &config,
            spec.rate_per_min,
            tick_ms,
            Audience {
                players: admitted,
                new_players: admitted,
            },
        );
        let still = waiting.split_off(&plan.frontier_ms);
        let mut this_tick = 0;
        for (_, viewers) in std::mem::replace(&mut waiting, still) {
            for (at, pre) in viewers {
                waits.push(now - at.max(DOORS_MS).min(now));
                this_tick += 1;
                if pre {
                    last_pre_admitted = last_pre_admitted.max(now);
                } else {
                    first_later_admitted = first_later_admitted.min(now);
                }
            }
        }
        admitted += this_tick;
        per_tick.push(this_tick);
        if next == spec.viewers && waiting.is_empty() {
            all_at = Some((now.saturating_sub(DOORS_MS)) / 1000);
            break;
        }
        now += tick_ms;
    }
    let window = usize::try_from(60_000 / tick_ms).unwrap_or(1).max(1);
    let peak_admitted_per_min = per_tick
        .windows(window.min(per_tick.len()).max(1))
        .map(|w| w.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    waits.sort_unstable();
    SurgeReport {
        viewers: spec.viewers,
        admitted,
        still_waiting: spec.viewers - admitted,
        rate_per_min: spec.rate_per_min,
        peak_admitted_per_min,
        // Nobody leaves: the active peak is everyone admitted.
        active_peak: admitted,
        cap: spec.cap,
        wait_p50_seconds: percentile(&waits, 0.5),
        wait_p95_seconds: percentile(&waits, 0.95),
        wait_max_seconds: percentile(&waits, 1.0),
        pre_queue_admitted_first: last_pre_admitted <= first_later_admitted,
        all_admitted_at_seconds: all_at,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn spec() -> SurgeSpec {
        SurgeSpec {
            viewers: 20_000,
            pre_queue: 0.3,
            pre_queue_seconds: 600,
            spike: 0.5,
            spike_seconds: 60,
            tail_seconds: 1200,
            rate_per_min: 2000,
            cap: None,
            tick_seconds: 5,
            max_seconds: 4 * 3600,
        }
    }

    #[test]
    fn a_kickoff_surge_is_admitted_at_the_rate_pre_queue_first() {
        let r = run(&spec(), 7);
        assert_eq!(r.admitted, 20_000);
        assert_eq!(r.still_waiting, 0);
        assert!(r.pre_queue_admitted_first);
        // One minute of admissions never exceeds the rate plus one tick's worth.
        assert!(
            r.peak_admitted_per_min <= 2000 + 2000 * 5 / 60 + 1,
            "{}",
            r.peak_admitted_per_min
        );
        assert!(
            r.peak_admitted_per_min >= 1900,
            "{}",
            r.peak_admitted_per_min
        );
        // 16 000 arrive in the first minute; at 2000 a minute the last of them waits about
        // eight minutes, and the tail arrives slower than the rate.
        let all = r.all_admitted_at_seconds.unwrap();
        assert!((600..=1300).contains(&all), "{all}");
        assert!(r.wait_p50_seconds <= r.wait_p95_seconds);
        assert!(r.wait_p95_seconds <= r.wait_max_seconds);
        assert!(
            (400.0..=540.0).contains(&r.wait_max_seconds),
            "{}",
            r.wait_max_seconds
        );
    }

    #[test]
    fn the_cap_stops_admission_and_leaves_the_rest_waiting() {
        let mut s = spec();
        s.cap = Some(5000);
        s.max_seconds = 3600;
        let r = run(&s, 7);
        assert_eq!(
            (r.admitted, r.active_peak, r.still_waiting),
            (5000, 5000, 15_000)
        );
        assert_eq!(r.all_admitted_at_seconds, None);
    }

    #[test]
    fn a_rate_above_the_arrivals_admits_everyone_within_a_tick() {
        let mut s = spec();
        s.rate_per_min = 1_000_000;
        s.tick_seconds = 1;
        let r = run(&s, 7);
        assert_eq!(r.admitted, 20_000);
        assert!(r.wait_max_seconds <= 1.0, "{}", r.wait_max_seconds);
    }

    #[test]
    fn the_same_seed_gives_the_same_report() {
        assert_eq!(run(&spec(), 3), run(&spec(), 3));
    }

    #[test]
    fn shares_over_one_are_refused() {
        let mut s = spec();
        s.spike = 0.8;
        assert_eq!(s.check().unwrap_err().0, "surge.pre_queue");
        assert_eq!(spec().check(), Ok(()));
    }
}
