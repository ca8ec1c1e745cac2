//! Recommendations for the next event: fixed rules over the report's figures.
//!
//! Each rule reads figures the report shows and, when they cross a line, says what to change
//! and which figure made it say so, so an operator can check the reasoning against the tables
//! above it. The rules are deliberately simple and few; they point at where to look, they do
//! not tune the model.

use serde::Serialize;

use super::{AdmissionSummary, FRESH_INTERVALS, Report, ReportOptions, calendar, percent};

/// Share of ticks with late or missing data above which a source is called unreliable.
const LATE_SHARE: f64 = 0.05;

/// Peak demand on a CDN above this share of its capacity calls for a higher commit.
const CAPACITY_SHARE: f64 = 0.8;

/// Score-driven switches per viewer per hour above which steering is called jumpy: a viewer
/// moved more than once an hour while no CDN changed state is churn, not protection.
const REBALANCE_SWITCHES_PER_HOUR: f64 = 1.0;

/// Share of the time after the doors that viewers may wait on the cap (or on the CDNs' spare
/// capacity) before it counts as a constraint of the event rather than a moment of it.
const HELD_SHARE: f64 = 0.1;

/// An estimated wait above this, ms: at a pay-per-view kickoff, viewers who paid miss the
/// start.
const LONG_WAIT_MS: u64 = 5 * 60_000;

/// Measured admissions below this share of the rate in force, with the queue empty in most
/// ticks, mean arrivals, not the rate, set the pace.
const DEMAND_SHARE: f64 = 0.5;

/// One recommendation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// A stable code (`below_sla`, `gated`, `near_capacity`, `frequent_rebalances`,
    /// `admission_cap`, `admission_capacity`, `admission_long_wait`,
    /// `admission_demand_limited`, `late_probes`, `no_qoe`, `late_qoe`, `refused_qoe`,
    /// `publish_failures`, `gaps`, `bad_lines`).
    pub code: &'static str,
    /// The CDN concerned, if one.
    pub cdn: Option<String>,
    /// The waiting room's event concerned, if one.
    pub event: Option<String>,
    /// What to do.
    pub advice: String,
    /// The figure that triggered it.
    pub trigger: String,
}

fn rec(code: &'static str, cdn: Option<&str>, advice: String, trigger: String) -> Recommendation {
    Recommendation {
        code,
        cdn: cdn.map(str::to_owned),
        event: None,
        advice,
        trigger,
    }
}

fn room_rec(code: &'static str, event: &str, advice: String, trigger: String) -> Recommendation {
    Recommendation {
        event: Some(event.to_owned()),
        ..rec(code, None, advice, trigger)
    }
}

/// What a waiting room's figures call for: viewers held at the cap or for want of spare
/// capacity, long waits, or (the all-clear) admission set by arrivals rather than the rate.
fn admission(out: &mut Vec<Recommendation>, room: &AdmissionSummary) {
    let event = room.event.as_str();
    let after_doors = room.time.after_doors_ms();
    let share = |ms: u64| ms as f64 / after_doors.max(1) as f64;
    if let Some(cap) = room.cap
        && after_doors > 0
        && share(room.held_at_cap_ms) >= HELD_SHARE
    {
        out.push(room_rec(
            "admission_cap",
            event,
            format!(
                "Raise {event}'s admission cap (now {cap}), with the CDN capacity commit to \
                 carry it, so viewers who paid are not held while the stream has room."
            ),
            format!(
                "viewers waited at the cap of {cap} for {}, {} of the {} after the doors \
                 (peak {} active, {} waiting)",
                calendar::duration(room.held_at_cap_ms),
                percent(share(room.held_at_cap_ms)),
                calendar::duration(after_doors),
                room.peak_active,
                room.peak_waiting
            ),
        ));
    }
    if after_doors > 0 && share(room.held_without_capacity_ms) >= HELD_SHARE {
        out.push(room_rec(
            "admission_capacity",
            event,
            "Raise the capacity commit with a CDN (and its capacity_bps) or add a CDN: the \
             automatic rate stops admitting when no CDN has spare capacity."
                .to_owned(),
            format!(
                "full at an automatic rate of zero with viewers waiting for {}, {} of the {} \
                 after the doors",
                calendar::duration(room.held_without_capacity_ms),
                percent(share(room.held_without_capacity_ms)),
                calendar::duration(after_doors)
            ),
        ));
    }
    if let (Some(wait), Some(at), Some(waiting), Some(rate)) = (
        room.longest_wait_ms,
        room.longest_wait_at_ms,
        room.waiting_at_longest_wait,
        room.rate_at_longest_wait_per_min,
    ) && wait > LONG_WAIT_MS
    {
        // The pre-queue alone, at the rate, says whether earlier doors would have helped.
        let backlog = match room.pre_queue {
            Some(n) if n > 0 && rate > 0 => format!(
                "; the pre-queue of {n} alone takes {} at {rate}/min",
                calendar::duration(n * 60_000 / u64::from(rate))
            ),
            _ => String::new(),
        };
        out.push(room_rec(
            "admission_long_wait",
            event,
            format!(
                "Open {event}'s doors earlier or raise its rate above {rate}/min, so the queue \
                 clears before kickoff."
            ),
            format!(
                "the newest arrival's estimated wait reached {} at {} UTC, with {waiting} \
                 waiting{backlog}",
                calendar::duration(wait),
                calendar::clock(at, true)
            ),
        ));
    }
    if let Some(measured) = room.measured_share
        && measured < DEMAND_SHARE
        && room.settled_empty_ticks * 2 > room.settled_open_ticks
    {
        out.push(room_rec(
            "admission_demand_limited",
            event,
            format!(
                "Nothing to change in {event}'s rate: viewers arrived slower than it let them \
                 in, so they waited on the line delay, not on the rate."
            ),
            format!(
                "measured admissions were {} of the rate in force over {} open ticks from a \
                 minute after the doors, and the queue was empty in {} of them",
                percent(measured),
                room.settled_open_ticks,
                room.settled_empty_ticks
            ),
        ));
    }
}

/// The recommendations of a report (everything but `recommendations` filled in).
pub fn recommend(report: &Report, options: &ReportOptions) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let summary = &report.summary;
    let ticks = summary.ticks.max(1) as f64;
    let fresh = calendar::duration(FRESH_INTERVALS * summary.interval_ms);

    for cdn in &report.cdns {
        let id = cdn.id.as_str();
        for a in &cdn.sla {
            if let (Some(false), Some(adherence)) = (a.meets_target, a.adherence) {
                out.push(rec(
                    "below_sla",
                    Some(id),
                    format!(
                        "Lower {id}'s static weight for the next event, or take these figures \
                         to {id} and renegotiate its service level."
                    ),
                    format!(
                        "{}: met in {} of {} ticks with data ({}), target {}",
                        a.level.describe(a.threshold),
                        a.ticks_met,
                        a.ticks_with_data,
                        percent(adherence),
                        percent(report.sla.target)
                    ),
                ));
            }
        }
        if cdn.gated_count > 0 {
            let worst = cdn
                .error_rate_worst
                .map(|e| format!("; worst window error rate {}", percent(e)))
                .unwrap_or_default();
            out.push(rec(
                "gated",
                Some(id),
                format!(
                    "Investigate {id}'s errors with the CDN (its logs at the times in the \
                     decision log) before the next event."
                ),
                format!(
                    "gated {} time{}, {} in total{worst}",
                    cdn.gated_count,
                    if cdn.gated_count == 1 { "" } else { "s" },
                    calendar::duration(cdn.time.gated_ms)
                ),
            ));
        }
        let near_cap = match (cdn.capacity_bps, cdn.peak_demand_bps) {
            (Some(cap), Some(peak)) if cap > 0 && peak >= CAPACITY_SHARE * cap as f64 => {
                Some(format!(
                    "peak estimated demand {} is {} of its capacity {}",
                    super::bitrate(peak),
                    percent(peak / cap as f64),
                    super::bitrate(cap as f64)
                ))
            }
            _ if cdn.capped_ticks > 0 => Some(format!(
                "its weight was cut to its cap in {} of {} ticks",
                cdn.capped_ticks, cdn.ticks
            )),
            _ => None,
        };
        if let Some(trigger) = near_cap {
            out.push(rec(
                "near_capacity",
                Some(id),
                format!(
                    "Raise the capacity commit with {id} (and its capacity_bps / max_share_bp) \
                     or add a CDN, so the next peak is not capped."
                ),
                trigger,
            ));
        }
    }

    for room in &report.admission {
        admission(&mut out, room);
    }

    let hours = summary.duration_ms.max(summary.interval_ms) as f64 / 3_600_000.0;
    let per_hour = summary.rebalance_switches_per_viewer / hours;
    if per_hour > REBALANCE_SWITCHES_PER_HOUR {
        out.push(rec(
            "frequent_rebalances",
            None,
            format!(
                "Raise steering.hysteresis (now {}) or steering.min_dwell_ms (now {}) so scores \
                 that wobble stop moving viewers.",
                options.steering.hysteresis, options.steering.min_dwell_ms
            ),
            format!(
                "{per_hour:.2} score-driven switches per viewer per hour \
                 ({:.2} over the event, {:.2} with failovers)",
                summary.rebalance_switches_per_viewer, summary.switches_per_viewer
            ),
        ));
    }

    for p in &report.data_quality.probes {
        let bad = p.missing_ticks + p.late_ticks;
        if bad as f64 / ticks > LATE_SHARE {
            out.push(rec(
                "late_probes",
                Some(&p.cdn),
                format!(
                    "Fix the probes of {}: check that the probe playlists are reachable through \
                     it and that probe.timeout_ms suits it.",
                    p.cdn
                ),
                format!(
                    "its probe data was missing or older than {fresh} in {bad} of {} ticks",
                    summary.ticks
                ),
            ));
        }
    }
    let dq = &report.data_quality;
    if dq.qoe_missing_ticks as usize == summary.ticks {
        out.push(rec(
            "no_qoe",
            None,
            "Enable CMCD (CTA-5004) in the player and ship the edges' QoE lines to the \
             controller (POST /v1/qoe or [qoe] files): without them viewers, viewer-minutes \
             and player-side figures are zero."
                .to_owned(),
            format!("no QoE line in any of the {} ticks", summary.ticks),
        ));
    } else if (dq.qoe_missing_ticks + dq.qoe_late_ticks) as f64 / ticks > LATE_SHARE {
        out.push(rec(
            "late_qoe",
            None,
            "Fix the edges' log shipping: viewer counts lag while QoE lines arrive late."
                .to_owned(),
            format!(
                "QoE data was missing or older than {fresh} in {} of {} ticks",
                dq.qoe_missing_ticks + dq.qoe_late_ticks,
                summary.ticks
            ),
        ));
    }
    let refused: u64 = dq.qoe_refused.iter().map(|(_, n)| n).sum();
    if refused > 0 {
        let reasons: Vec<String> = dq
            .qoe_refused
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        out.push(rec(
            "refused_qoe",
            None,
            "Check the edges' QoE line format and that their pathway ids match the [[cdn]] ids."
                .to_owned(),
            format!("{refused} QoE lines refused ({})", reasons.join(", ")),
        ));
    }
    for p in &dq.publish {
        if p.failed_ticks > 0 {
            out.push(rec(
                "publish_failures",
                None,
                format!(
                    "Fix publishing to {}: edges fall back to static weights once the snapshot \
                     they hold expires.",
                    p.target
                ),
                format!(
                    "failing in {} of {} ticks; last error: {}",
                    p.failed_ticks,
                    summary.ticks,
                    p.last_error.as_deref().unwrap_or("unknown")
                ),
            ));
        }
    }
    if dq.gaps > 0 {
        out.push(rec(
            "gaps",
            None,
            "Run the controller under a supervisor that restarts it, so the record has no holes \
             and steering does not freeze."
                .to_owned(),
            format!(
                "{} gap{} in the timeline, {} in total",
                dq.gaps,
                if dq.gaps == 1 { "" } else { "s" },
                calendar::duration(dq.gap_ms)
            ),
        ));
    }
    let bad = dq.bad_lines.total();
    if bad > 0 {
        out.push(rec(
            "bad_lines",
            None,
            "Check the data directory's disk and how the controller was stopped: a crash \
             leaves a partly written last line."
                .to_owned(),
            format!(
                "{bad} unreadable line{} skipped",
                if bad == 1 { "" } else { "s" }
            ),
        ));
    }
    out
}
