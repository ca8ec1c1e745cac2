//! The post-event report (`usher control report`): what happened to one event's delivery,
//! computed afterwards from the controller's record.
//!
//! Input is the text of the three files the runtime appended to during the event
//! (`timeline.jsonl`, `decisions.jsonl`, `audit.jsonl`, see [`crate::timeline`] and
//! [`crate::operator`]) and the thresholds it is judged against. Output is one [`Report`]:
//! an executive summary, per-CDN figures and SLA adherence, the waiting rooms' admission (when
//! the event had one), the decision and audit logs, the quality of the data behind it all, and
//! recommendations for the next event, each naming the figure that triggered it. It renders as
//! JSON ([`Report::to_json`]), CSV ([`Report::timeline_csv`], [`Report::decisions_csv`],
//! [`Report::admission_csv`]) and one self-contained HTML page with inline SVG charts
//! ([`Report::to_html`]).
//!
//! What it does not do: read files or the clock (the runtime hands the text in; nothing in the
//! report depends on when it was made, so the same record always gives the same report), or
//! re-run the health model. Every figure is recomputed from the per-tick window statistics the
//! controller recorded, so the report shows what operators saw on the dashboard.
//!
//! Key design decision: a tick stands for the time until the next one (so a late tick's jitter
//! is neither lost nor counted twice), except across a gap: when the controller was down (the
//! next tick more than [`GAP_INTERVALS`] intervals later), the tick counts one interval, and
//! the gap is reported in the data quality section instead of being filled in. Viewer-minutes
//! and time in each state are sums of `value × duration` over ticks.
//!
//! Definitions used throughout (the HTML page prints them too):
//!
//! * **TTFB p50** is the median (nearest rank) of the ticks' window medians; **TTFB p95** the
//!   95th percentile (nearest rank) of the ticks' window 95th percentiles, and **worst p95**
//!   their maximum.
//! * **throughput** is the median of the ticks' window medians.
//! * **error rate** is the mean of the ticks' window error rates weighted by each window's
//!   request count.
//! * **cache hit ratio** is the mean of the ticks' window hit ratios.
//! * **SLA adherence** of a level is the share of ticks *with data for it* whose window figure
//!   meets the threshold; it meets the target when that share is at least `sla.target`.

mod admission;
mod calendar;
mod chart;
mod csv;
mod html;
mod recommendation;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::Serialize;
use usher_shared::health::{CdnState, HealthConfig, Reason, SteeringConfig};

use crate::config::{ControlConfig, Sla};
use crate::metrics::{Figures, quantile};
use crate::operator::AuditEntry;
use crate::timeline::{CdnTick, Decision, DecisionKind, Tick, read_lines};

pub use admission::{AdmissionSummary, AdmissionTimes, RateChange};
pub use recommendation::Recommendation;

/// A data source is fresh while its newest data is at most this many evaluation intervals old
/// (probes run faster than evaluations, so two intervals without one is already a fault).
pub const FRESH_INTERVALS: u64 = 2;

/// Consecutive ticks further apart than this many intervals mark a gap in the record.
pub const GAP_INTERVALS: u64 = 2;

/// The evaluation interval assumed when neither the configuration nor the ticks tell it.
const DEFAULT_INTERVAL_MS: u64 = 5000;

/// What the report is judged against, besides the record itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOptions {
    /// The event reported on: only ticks whose `events` list it count.
    pub event: String,
    /// The service levels.
    pub sla: Sla,
    /// The evaluation interval, ms; `None` takes the median gap between the event's ticks.
    pub interval_ms: Option<u64>,
    /// Configured capacities, bit/s, by CDN id (for the capacity recommendation).
    pub capacities: Vec<(String, u64)>,
    /// The steering settings in force (quoted by the rebalancing recommendation).
    pub steering: SteeringConfig,
}

impl ReportOptions {
    /// The defaults: the default SLA and steering settings, the interval read from the ticks.
    pub fn new(event: impl Into<String>) -> Self {
        ReportOptions {
            event: event.into(),
            sla: Sla::default(),
            interval_ms: None,
            capacities: Vec::new(),
            steering: HealthConfig::default().steering,
        }
    }

    /// The thresholds of the controller's configuration file.
    pub fn from_config(event: impl Into<String>, config: &ControlConfig) -> Self {
        ReportOptions {
            event: event.into(),
            sla: config.sla.clone(),
            interval_ms: Some(config.interval_ms),
            capacities: config
                .cdns
                .iter()
                .filter_map(|c| Some((c.id.clone(), c.capacity_bps?)))
                .collect(),
            steering: config.health.steering.clone(),
        }
    }
}

/// The contents of the data directory's three files.
#[derive(Clone, Copy, Debug, Default)]
pub struct Record<'a> {
    /// `timeline.jsonl`.
    pub timeline: &'a str,
    /// `decisions.jsonl`.
    pub decisions: &'a str,
    /// `audit.jsonl`.
    pub audit: &'a str,
}

/// Why no report could be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportError {
    /// The timeline holds no tick of the event.
    NoTicks {
        /// The event asked for.
        event: String,
        /// Ticks read from the timeline, all events.
        ticks: usize,
        /// The events those ticks name.
        events: Vec<String>,
    },
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::NoTicks {
                event, ticks: 0, ..
            } => write!(
                f,
                "no tick in timeline.jsonl, so nothing to report on event {event:?} \
                 (is this the controller's data directory?)"
            ),
            ReportError::NoTicks {
                event,
                ticks,
                events,
            } => write!(
                f,
                "no tick of event {event:?} in timeline.jsonl ({ticks} ticks, for events: {})",
                events.join(", ")
            ),
        }
    }
}

impl std::error::Error for ReportError {}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The event.
    pub event: String,
    /// The headline figures.
    pub summary: Summary,
    /// The thresholds the CDNs were held to.
    pub sla: SlaThresholds,
    /// One entry per CDN, in configuration order.
    pub cdns: Vec<CdnSummary>,
    /// One entry per waiting room in the event's ticks, the event's own first; empty for an
    /// event without one.
    pub admission: Vec<AdmissionSummary>,
    /// Every decision of the controller during the event (and operators' actions as decided).
    pub decisions: Vec<Decision>,
    /// Every operator command during the event, applied or refused.
    pub audit: Vec<AuditEntry>,
    /// How complete and fresh the data behind the figures was.
    pub data_quality: DataQuality,
    /// What to change for the next event.
    pub recommendations: Vec<Recommendation>,
    /// The event's ticks, oldest first (CSV and charts).
    #[serde(skip)]
    ticks: Vec<Tick>,
}

/// The headline figures.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// First tick, Unix ms.
    pub start_ms: u64,
    /// Last tick, Unix ms.
    pub end_ms: u64,
    /// First tick, ISO 8601 UTC.
    pub start: String,
    /// Last tick, ISO 8601 UTC.
    pub end: String,
    /// From the first tick to the last, ms.
    pub duration_ms: u64,
    /// The evaluation interval the figures assume, ms.
    pub interval_ms: u64,
    /// The event's ticks.
    pub ticks: usize,
    /// Most concurrent viewers of the event, all CDNs.
    pub peak_viewers: u64,
    /// When (the first tick with that many), ISO 8601 UTC.
    pub peak_at: String,
    /// Viewer-minutes of the event, all CDNs.
    pub viewer_minutes: f64,
    /// The same in hours.
    pub viewer_hours: f64,
    /// The CDNs, in configuration order.
    pub cdns: Vec<String>,
    /// Decisions logged during the event.
    pub decisions: usize,
    /// Operator commands during the event.
    pub operator_actions: usize,
    /// Estimated CDN switches per viewer over the event: the share of the slot table that
    /// changed CDN, summed over ticks (each slot stands for an equal share of viewers).
    pub switches_per_viewer: f64,
    /// The part of it in ticks where no CDN changed state: moves by score alone.
    pub rebalance_switches_per_viewer: f64,
}

/// The service levels, as configured.
#[derive(Clone, Debug, Serialize)]
pub struct SlaThresholds {
    /// TTFB p95 at most this, ms.
    pub ttfb_p95_ms: f64,
    /// Error rate at most this.
    pub error_rate: f64,
    /// Cache hit ratio at least this.
    pub cache_hit_ratio: f64,
    /// Median throughput at least this, bit/s.
    pub throughput_bps: f64,
    /// Share of ticks a level must be met in.
    pub target: f64,
}

/// One service level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The window's TTFB p95 at most `sla.ttfb_p95_ms`.
    TtfbP95,
    /// The window's error rate at most `sla.error_rate`.
    ErrorRate,
    /// The window's cache hit ratio at least `sla.cache_hit_ratio`.
    CacheHitRatio,
    /// The window's median throughput at least `sla.throughput_bps`.
    Throughput,
}

impl Level {
    /// Every level, in report order.
    pub const ALL: [Level; 4] = [
        Level::TtfbP95,
        Level::ErrorRate,
        Level::CacheHitRatio,
        Level::Throughput,
    ];

    /// The window figure the level reads.
    pub fn figure(self, figures: &Figures) -> Option<f64> {
        match self {
            Level::TtfbP95 => figures.ttfb_p95_ms,
            Level::ErrorRate => figures.error_rate,
            Level::CacheHitRatio => figures.cache_hit_ratio,
            Level::Throughput => figures.throughput_bps,
        }
    }

    /// Its threshold.
    pub fn threshold(self, sla: &Sla) -> f64 {
        match self {
            Level::TtfbP95 => sla.ttfb_p95_ms,
            Level::ErrorRate => sla.error_rate,
            Level::CacheHitRatio => sla.cache_hit_ratio,
            Level::Throughput => sla.throughput_bps,
        }
    }

    /// Whether `value` meets `threshold` (TTFB and errors are ceilings, the others floors).
    pub fn met(self, value: f64, threshold: f64) -> bool {
        match self {
            Level::TtfbP95 | Level::ErrorRate => value <= threshold,
            Level::CacheHitRatio | Level::Throughput => value >= threshold,
        }
    }

    /// The level as a sentence fragment: `TTFB p95 ≤ 800 ms`.
    pub fn describe(self, threshold: f64) -> String {
        match self {
            Level::TtfbP95 => format!("TTFB p95 ≤ {threshold:.0} ms"),
            Level::ErrorRate => format!("error rate ≤ {}", percent(threshold)),
            Level::CacheHitRatio => format!("cache hit ratio ≥ {}", percent(threshold)),
            Level::Throughput => format!("throughput ≥ {}", bitrate(threshold)),
        }
    }
}

/// A ratio as a percentage with as many decimals as small values need.
pub(crate) fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    if p != 0.0 && p.abs() < 1.0 {
        format!("{p:.2} %")
    } else {
        format!("{p:.1} %")
    }
}

/// Bit/s as Mbit/s (or kbit/s below one megabit).
pub(crate) fn bitrate(bps: f64) -> String {
    if bps >= 1e6 {
        format!("{:.1} Mbit/s", bps / 1e6)
    } else {
        format!("{:.0} kbit/s", bps / 1e3)
    }
}

/// One CDN's adherence to one level.
#[derive(Clone, Debug, Serialize)]
pub struct Adherence {
    /// The level.
    pub level: Level,
    /// Its threshold.
    pub threshold: f64,
    /// Ticks whose window had the figure.
    pub ticks_with_data: u64,
    /// Of those, ticks that met the threshold.
    pub ticks_met: u64,
    /// `ticks_met / ticks_with_data`; `None` without data.
    pub adherence: Option<f64>,
    /// `adherence >= sla.target`; `None` without data.
    pub meets_target: Option<bool>,
}

/// Time spent in each state, ms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StateTimes {
    /// Healthy.
    pub healthy_ms: u64,
    /// Recovering after a gate.
    pub recovering_ms: u64,
    /// Gated (no traffic).
    pub gated_ms: u64,
    /// Stale data.
    pub stale_ms: u64,
    /// Never observed.
    pub no_data_ms: u64,
}

impl StateTimes {
    fn add(&mut self, state: CdnState, ms: u64) {
        let slot = match state {
            CdnState::Healthy => &mut self.healthy_ms,
            CdnState::Recovering => &mut self.recovering_ms,
            CdnState::Gated => &mut self.gated_ms,
            CdnState::Stale => &mut self.stale_ms,
            CdnState::NoData => &mut self.no_data_ms,
        };
        *slot += ms;
    }
}

/// One CDN over the event.
#[derive(Clone, Debug, Serialize)]
pub struct CdnSummary {
    /// Its id.
    pub id: String,
    /// Ticks that list it.
    pub ticks: usize,
    /// Σ the event's viewers on it × tick duration, in minutes.
    pub viewer_minutes: f64,
    /// Its share of all CDNs' viewer-minutes; `None` when there were none.
    pub viewer_minutes_share: Option<f64>,
    /// Most concurrent viewers of the event on it.
    pub peak_viewers: u64,
    /// Mean share of the slot table.
    pub mean_slot_share: f64,
    /// Mean target weight, basis points.
    pub mean_weight_bp: f64,
    /// Median of the ticks' TTFB medians, ms.
    pub ttfb_p50_ms: Option<f64>,
    /// 95th percentile of the ticks' TTFB p95s, ms.
    pub ttfb_p95_ms: Option<f64>,
    /// Highest tick TTFB p95, ms.
    pub ttfb_p95_worst_ms: Option<f64>,
    /// Median of the ticks' median throughputs, bit/s.
    pub throughput_bps: Option<f64>,
    /// Mean of the ticks' error rates weighted by their requests.
    pub error_rate: Option<f64>,
    /// Highest tick error rate.
    pub error_rate_worst: Option<f64>,
    /// Mean of the ticks' cache hit ratios.
    pub cache_hit_ratio: Option<f64>,
    /// Time in each state.
    pub time: StateTimes,
    /// How many times it entered the gated state.
    pub gated_count: u64,
    /// Ticks in which its weight was cut to its cap (`capped`, `over_capacity`).
    pub capped_ticks: u64,
    /// Its configured capacity, bit/s.
    pub capacity_bps: Option<u64>,
    /// Highest estimated demand on it: the tick's demand × its share of all viewers, bit/s.
    pub peak_demand_bps: Option<f64>,
    /// Adherence to each level.
    pub sla: Vec<Adherence>,
}

/// Freshness of one CDN's probes.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeQuality {
    /// The CDN.
    pub cdn: String,
    /// Ticks with no probe result yet.
    pub missing_ticks: u64,
    /// Ticks whose newest probe was older than [`FRESH_INTERVALS`] intervals.
    pub late_ticks: u64,
}

/// One publish target's failures.
#[derive(Clone, Debug, Serialize)]
pub struct PublishQuality {
    /// The target (`kind:where`).
    pub target: String,
    /// Ticks whose latest attempt had failed.
    pub failed_ticks: u64,
    /// The last error seen.
    pub last_error: Option<String>,
}

/// Lines that did not parse, by file (1-based line numbers).
#[derive(Clone, Debug, Default, Serialize)]
pub struct BadLines {
    /// In `timeline.jsonl`.
    pub timeline: Vec<usize>,
    /// In `decisions.jsonl`.
    pub decisions: Vec<usize>,
    /// In `audit.jsonl`.
    pub audit: Vec<usize>,
}

impl BadLines {
    /// All files' bad lines.
    pub fn total(&self) -> usize {
        self.timeline.len() + self.decisions.len() + self.audit.len()
    }
}

/// How complete and fresh the data behind the report was.
#[derive(Clone, Debug, Serialize)]
pub struct DataQuality {
    /// The event's ticks.
    pub ticks: usize,
    /// Ticks of the timeline skipped because they do not list the event.
    pub other_ticks: usize,
    /// Probe freshness per CDN.
    pub probes: Vec<ProbeQuality>,
    /// Ticks with no QoE line from any edge yet.
    pub qoe_missing_ticks: u64,
    /// Ticks whose newest QoE line was older than [`FRESH_INTERVALS`] intervals.
    pub qoe_late_ticks: u64,
    /// QoE lines refused during the event, by reason code.
    pub qoe_refused: Vec<(String, u64)>,
    /// Publish failures per target.
    pub publish: Vec<PublishQuality>,
    /// Lines skipped because they are not valid JSON of their format.
    pub bad_lines: BadLines,
    /// Gaps between ticks longer than [`GAP_INTERVALS`] intervals.
    pub gaps: u64,
    /// Their total length beyond one interval each, ms.
    pub gap_ms: u64,
}

/// One tick as the report sees it.
struct Row<'a> {
    tick: &'a Tick,
    /// How long the tick stands for, ms.
    duration_ms: u64,
    /// Each report CDN's entry in the tick.
    cdns: Vec<Option<&'a CdnTick>>,
    /// The event's viewers on each report CDN.
    viewers: Vec<u64>,
}

/// The event's viewers on the tick's CDN at `index`: its own count from `viewers_by_event`; a
/// tick that steers this one event alone counts all the CDN's viewers.
fn event_viewers(tick: &Tick, event: &str, index: usize, cdn: &CdnTick) -> u64 {
    match tick.viewers_by_event.iter().find(|e| e.event == event) {
        Some(e) => e.per_cdn.get(index).copied().unwrap_or(0),
        None if tick.events.len() == 1 => cdn.viewers,
        None => 0,
    }
}

/// How long each tick stands for: until the next tick, or one interval for the last tick and
/// before a gap (the next tick more than [`GAP_INTERVALS`] intervals later).
pub(crate) fn tick_durations(ticks: &[Tick], interval_ms: u64) -> Vec<u64> {
    ticks
        .iter()
        .enumerate()
        .map(|(i, t)| match ticks.get(i + 1) {
            Some(next) => {
                let gap = next.at_ms.saturating_sub(t.at_ms);
                if gap > GAP_INTERVALS * interval_ms {
                    interval_ms
                } else {
                    gap
                }
            }
            None => interval_ms,
        })
        .collect()
}

fn median_gap(ticks: &[Tick]) -> Option<u64> {
    let mut gaps: Vec<f64> = ticks
        .windows(2)
        .filter_map(|w| match w {
            [a, b] if b.at_ms > a.at_ms => Some((b.at_ms - a.at_ms) as f64),
            _ => None,
        })
        .collect();
    quantile(&mut gaps, 0.5).map(|g| g as u64)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

impl Report {
    /// Computes the report of `options.event` from the record.
    pub fn build(record: Record<'_>, options: &ReportOptions) -> Result<Report, ReportError> {
        let (all_ticks, bad_timeline) = read_lines::<Tick>(record.timeline);
        let (all_decisions, bad_decisions) = read_lines::<Decision>(record.decisions);
        let (all_audit, bad_audit) = read_lines::<AuditEntry>(record.audit);
        let total = all_ticks.len();
        let mut events: Vec<String> = Vec::new();
        for e in all_ticks.iter().flat_map(|t| &t.events) {
            if !events.contains(e) {
                events.push(e.clone());
            }
        }
        let mut ticks: Vec<Tick> = all_ticks
            .into_iter()
            .filter(|t| t.events.contains(&options.event))
            .collect();
        // Appended in order by one writer; a restarted controller appends after the old lines,
        // so a stable sort only matters for clocks that stepped back.
        ticks.sort_by_key(|t| t.at_ms);
        let (Some(first), Some(last)) = (ticks.first(), ticks.last()) else {
            return Err(ReportError::NoTicks {
                event: options.event.clone(),
                ticks: total,
                events,
            });
        };
        let (start_ms, end_ms) = (first.at_ms, last.at_ms);
        let interval_ms = options
            .interval_ms
            .or_else(|| median_gap(&ticks))
            .filter(|&i| i > 0)
            .unwrap_or(DEFAULT_INTERVAL_MS);

        let mut cdn_ids: Vec<String> = Vec::new();
        for c in ticks.iter().flat_map(|t| &t.cdns) {
            if !cdn_ids.contains(&c.id) {
                cdn_ids.push(c.id.clone());
            }
        }

        let durations = tick_durations(&ticks, interval_ms);
        let rows: Vec<Row<'_>> = ticks
            .iter()
            .enumerate()
            .map(|(i, tick)| {
                let duration_ms = durations.get(i).copied().unwrap_or(interval_ms);
                let cdns: Vec<Option<&CdnTick>> = cdn_ids
                    .iter()
                    .map(|id| tick.cdns.iter().find(|c| &c.id == id))
                    .collect();
                let viewers = cdn_ids
                    .iter()
                    .map(|id| {
                        tick.cdns
                            .iter()
                            .enumerate()
                            .find(|(_, c)| &c.id == id)
                            .map_or(0, |(i, c)| event_viewers(tick, &options.event, i, c))
                    })
                    .collect();
                Row {
                    tick,
                    duration_ms,
                    cdns,
                    viewers,
                }
            })
            .collect();

        let viewer_minutes_of = |k: usize| -> f64 {
            rows.iter()
                .map(|r| r.viewers.get(k).copied().unwrap_or(0) as f64 * r.duration_ms as f64)
                .sum::<f64>()
                / 60_000.0
        };
        let all_minutes: f64 = (0..cdn_ids.len()).map(viewer_minutes_of).sum();
        let cdns: Vec<CdnSummary> = cdn_ids
            .iter()
            .enumerate()
            .map(|(k, id)| cdn_summary(&rows, k, id, options, viewer_minutes_of(k), all_minutes))
            .collect();

        let (mut peak_viewers, mut peak_at_ms) = (0, start_ms);
        for r in &rows {
            let v: u64 = r.viewers.iter().sum();
            if v > peak_viewers {
                (peak_viewers, peak_at_ms) = (v, r.tick.at_ms);
            }
        }
        let (switches, rebalance_switches) = switches(&rows);

        // Decisions and commands are per CDN, not per event: those from one interval before
        // the event's first tick (an operator acting just before) to one after its last.
        let from = start_ms.saturating_sub(interval_ms);
        let to = end_ms.saturating_add(interval_ms);
        let mut decisions: Vec<Decision> = all_decisions
            .into_iter()
            .filter(|d| (from..=to).contains(&d.at_ms))
            .collect();
        decisions.sort_by_key(|d| d.at_ms);
        let mut audit: Vec<AuditEntry> = all_audit
            .into_iter()
            .filter(|a| (from..=to).contains(&a.at_ms))
            .collect();
        audit.sort_by_key(|a| a.at_ms);
        let admission = admission::summarise(&ticks, &durations, &options.event, &audit);

        let data_quality = data_quality(
            &rows,
            &cdn_ids,
            interval_ms,
            total - ticks.len(),
            BadLines {
                timeline: bad_timeline,
                decisions: bad_decisions,
                audit: bad_audit,
            },
        );
        let summary = Summary {
            start_ms,
            end_ms,
            start: calendar::iso8601(start_ms),
            end: calendar::iso8601(end_ms),
            duration_ms: end_ms - start_ms,
            interval_ms,
            ticks: ticks.len(),
            peak_viewers,
            peak_at: calendar::iso8601(peak_at_ms),
            viewer_minutes: all_minutes,
            viewer_hours: all_minutes / 60.0,
            cdns: cdn_ids.clone(),
            decisions: decisions.len(),
            operator_actions: audit.len(),
            switches_per_viewer: switches,
            rebalance_switches_per_viewer: rebalance_switches,
        };
        let sla = &options.sla;
        let mut report = Report {
            event: options.event.clone(),
            summary,
            sla: SlaThresholds {
                ttfb_p95_ms: sla.ttfb_p95_ms,
                error_rate: sla.error_rate,
                cache_hit_ratio: sla.cache_hit_ratio,
                throughput_bps: sla.throughput_bps,
                target: sla.target,
            },
            cdns,
            admission,
            decisions,
            audit,
            data_quality,
            recommendations: Vec::new(),
            ticks: Vec::new(),
        };
        report.recommendations = recommendation::recommend(&report, options);
        report.ticks = ticks;
        Ok(report)
    }

    /// The event's ticks, oldest first.
    pub fn ticks(&self) -> &[Tick] {
        &self.ticks
    }

    /// The report as pretty-printed JSON (the ticks themselves are in `timeline.csv`).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// One row per tick per CDN (`timeline.csv`).
    pub fn timeline_csv(&self) -> String {
        csv::timeline(self)
    }

    /// Every decision and operator command, oldest first (`decisions.csv`).
    pub fn decisions_csv(&self) -> String {
        csv::decisions(self)
    }

    /// One row per tick per waiting room (`admission.csv`); `None` when the event's ticks have
    /// no waiting room, so an event without one gets no empty file.
    pub fn admission_csv(&self) -> Option<String> {
        (!self.admission.is_empty()).then(|| csv::admission(self))
    }

    /// One self-contained HTML page (`report.html`).
    pub fn to_html(&self) -> String {
        html::page(self)
    }
}

fn cdn_summary(
    rows: &[Row<'_>],
    k: usize,
    id: &str,
    options: &ReportOptions,
    viewer_minutes: f64,
    all_minutes: f64,
) -> CdnSummary {
    let present: Vec<(&Row<'_>, &CdnTick)> = rows
        .iter()
        .filter_map(|r| Some((r, r.cdns.get(k).copied().flatten()?)))
        .collect();
    let figures = |f: fn(&Figures) -> Option<f64>| -> Vec<f64> {
        present.iter().filter_map(|(_, c)| f(&c.figures)).collect()
    };
    let mut p50s = figures(|f| f.ttfb_p50_ms);
    let mut p95s = figures(|f| f.ttfb_p95_ms);
    let mut throughputs = figures(|f| f.throughput_bps);
    let errors = figures(|f| f.error_rate);
    let hits = figures(|f| f.cache_hit_ratio);
    let (weighted_errors, requests) = present
        .iter()
        .filter_map(|(_, c)| Some((c.figures.error_rate?, c.figures.requests as f64)))
        .fold((0.0, 0.0), |(e, n), (rate, req)| (e + rate * req, n + req));

    let mut time = StateTimes::default();
    let mut gated_count = 0;
    let mut capped_ticks = 0;
    let mut before: Option<CdnState> = None;
    let mut peak_demand: Option<f64> = None;
    for (row, cdn) in &present {
        time.add(cdn.state, row.duration_ms);
        if cdn.state == CdnState::Gated && before != Some(CdnState::Gated) {
            gated_count += 1;
        }
        before = Some(cdn.state);
        if matches!(cdn.reason, Reason::Capped | Reason::OverCapacity) {
            capped_ticks += 1;
        }
        if row.tick.viewers > 0 && row.tick.demand_bps > 0 {
            let demand = row.tick.demand_bps as f64 * cdn.viewers as f64 / row.tick.viewers as f64;
            peak_demand = Some(peak_demand.map_or(demand, |p: f64| p.max(demand)));
        }
    }

    let sla = Level::ALL
        .iter()
        .map(|&level| {
            let threshold = level.threshold(&options.sla);
            let values: Vec<f64> = present
                .iter()
                .filter_map(|(_, c)| level.figure(&c.figures))
                .collect();
            let met = values.iter().filter(|&&v| level.met(v, threshold)).count() as u64;
            let with_data = values.len() as u64;
            let adherence = (with_data > 0).then(|| met as f64 / with_data as f64);
            Adherence {
                level,
                threshold,
                ticks_with_data: with_data,
                ticks_met: met,
                adherence,
                meets_target: adherence.map(|a| a >= options.sla.target),
            }
        })
        .collect();

    let n = present.len().max(1) as f64;
    CdnSummary {
        id: id.to_owned(),
        ticks: present.len(),
        viewer_minutes,
        viewer_minutes_share: (all_minutes > 0.0).then(|| viewer_minutes / all_minutes),
        peak_viewers: rows
            .iter()
            .map(|r| r.viewers.get(k).copied().unwrap_or(0))
            .max()
            .unwrap_or(0),
        mean_slot_share: present.iter().map(|(_, c)| c.slot_share).sum::<f64>() / n,
        mean_weight_bp: present
            .iter()
            .map(|(_, c)| f64::from(c.weight_bp))
            .sum::<f64>()
            / n,
        ttfb_p50_ms: quantile(&mut p50s, 0.5),
        ttfb_p95_worst_ms: max(&p95s),
        ttfb_p95_ms: quantile(&mut p95s, 0.95),
        throughput_bps: quantile(&mut throughputs, 0.5),
        error_rate: (requests > 0.0).then(|| weighted_errors / requests),
        error_rate_worst: max(&errors),
        cache_hit_ratio: mean(&hits),
        time,
        gated_count,
        capped_ticks,
        capacity_bps: options
            .capacities
            .iter()
            .find(|(c, _)| c == id)
            .map(|(_, cap)| *cap),
        peak_demand_bps: peak_demand,
        sla,
    }
}

/// Estimated switches per viewer: half the summed absolute change of every CDN's slot share
/// between consecutive ticks (a slot that leaves one CDN arrives at another, hence the half),
/// over the event; and the same restricted to ticks in which no CDN changed state.
fn switches(rows: &[Row<'_>]) -> (f64, f64) {
    let mut all = 0.0;
    let mut rebalance = 0.0;
    for pair in rows.windows(2) {
        let [a, b] = pair else { continue };
        let mut moved = 0.0;
        let mut state_changed = false;
        for (ca, cb) in a.cdns.iter().zip(&b.cdns) {
            let share = |c: &Option<&CdnTick>| c.map_or(0.0, |c| c.slot_share);
            moved += (share(cb) - share(ca)).abs();
            state_changed |= ca.map(|c| c.state) != cb.map(|c| c.state);
        }
        all += moved / 2.0;
        if !state_changed {
            rebalance += moved / 2.0;
        }
    }
    (all, rebalance)
}

fn data_quality(
    rows: &[Row<'_>],
    cdn_ids: &[String],
    interval_ms: u64,
    other_ticks: usize,
    bad_lines: BadLines,
) -> DataQuality {
    let fresh_ms = FRESH_INTERVALS * interval_ms;
    let probes = cdn_ids
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let ages = rows.iter().filter_map(|r| r.cdns.get(k).copied().flatten());
            let (mut missing, mut late) = (0, 0);
            for c in ages {
                match c.probe_age_ms {
                    None => missing += 1,
                    Some(age) if age > fresh_ms => late += 1,
                    Some(_) => {}
                }
            }
            ProbeQuality {
                cdn: id.clone(),
                missing_ticks: missing,
                late_ticks: late,
            }
        })
        .collect();
    let qoe_missing_ticks = rows.iter().filter(|r| r.tick.qoe_age_ms.is_none()).count() as u64;
    let qoe_late_ticks = rows
        .iter()
        .filter(|r| r.tick.qoe_age_ms.is_some_and(|a| a > fresh_ms))
        .count() as u64;

    // The refusal counters run from the controller's start: count what they grew by during
    // the event, and a counter that fell (a restart) from zero.
    let mut qoe_refused: Vec<(String, u64)> = Vec::new();
    for pair in rows.windows(2) {
        let [a, b] = pair else { continue };
        for (reason, now) in &b.tick.qoe_refused {
            let then = a
                .tick
                .qoe_refused
                .iter()
                .find(|(r, _)| r == reason)
                .map_or(0, |(_, n)| *n);
            let grew = if *now >= then { now - then } else { *now };
            if grew == 0 {
                continue;
            }
            match qoe_refused.iter_mut().find(|(r, _)| r == reason) {
                Some((_, n)) => *n += grew,
                None => qoe_refused.push((reason.clone(), grew)),
            }
        }
    }

    let mut publish: Vec<PublishQuality> = Vec::new();
    for status in rows.iter().flat_map(|r| &r.tick.publish) {
        let index = match publish.iter().position(|p| p.target == status.target) {
            Some(i) => i,
            None => {
                publish.push(PublishQuality {
                    target: status.target.clone(),
                    failed_ticks: 0,
                    last_error: None,
                });
                publish.len() - 1
            }
        };
        if let (Some(p), Some(error)) = (publish.get_mut(index), &status.error) {
            p.failed_ticks += 1;
            p.last_error = Some(error.clone());
        }
    }

    let (mut gaps, mut gap_ms) = (0, 0);
    for pair in rows.windows(2) {
        let [a, b] = pair else { continue };
        let gap = b.tick.at_ms.saturating_sub(a.tick.at_ms);
        if gap > GAP_INTERVALS * interval_ms {
            gaps += 1;
            gap_ms += gap - interval_ms;
        }
    }

    DataQuality {
        ticks: rows.len(),
        other_ticks,
        probes,
        qoe_missing_ticks,
        qoe_late_ticks,
        qoe_refused,
        publish,
        bad_lines,
        gaps,
        gap_ms,
    }
}

/// Whether a decision records a change of state (for the log's highlighting).
pub(crate) fn is_state_change(d: &Decision) -> bool {
    d.kind == DecisionKind::State
}
