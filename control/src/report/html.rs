//! The report as one self-contained HTML page (`report.html`).
//!
//! One file that can be mailed, archived or opened offline years later: inline CSS, charts as
//! inline SVG (see [`super::chart`]), no script, no font, no image, nothing fetched. A
//! Content-Security-Policy of `default-src 'none'` (styles inline only) makes the browser
//! refuse anything that would reach out, should a later edit try. Every string that came from
//! the record (CDN ids, reasons, details, operators' names and reasons, publish errors) is
//! HTML-escaped, since an operator's `why` is free text.

use std::fmt::Write as _;

use super::chart::{self, Bucket, Chart, Series, StateRow, Strip};
use super::{AdmissionSummary, Level, Report, bitrate, calendar, is_state_change, percent};
use crate::timeline::{AdmissionTick, CdnTick, Tick};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with up to two decimals, trailing zeros dropped (axis labels).
fn compact(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A count with thin-space thousands groups (`12 345`); one decimal below ten.
fn grouped(v: f64) -> String {
    if v < 10.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{v:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "–".to_owned())
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1d2330; --muted: #5b6475; --line: #e3e6ec; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
header h1 { font-size: 22px; margin: 0 0 2px; }
header p { margin: 0; color: var(--muted); }
h2 { font-size: 16px; margin: 14px 0 8px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 4px 16px 14px;
  margin-top: 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px;
  background: none; border: 0; padding: 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card b { display: block; font-size: 20px; }
.card span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.n, th.n { text-align: right; } td.n { white-space: nowrap; }
td:first-child { white-space: nowrap; }
.chip { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.pass { color: #1b7a3a; } .fail { color: #b3261e; font-weight: 600; } .none { color: var(--muted); }
ol.recs { padding-left: 20px; } ol.recs li { margin: 6px 0; }
.trigger { color: var(--muted); font-size: 13px; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #eef0f4; padding: 1px 4px;
  border-radius: 3px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 8px 18px; }
figure { margin: 0; } figcaption { font-weight: 600; margin: 8px 0 2px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: #eceef2; } svg .axis { stroke: #9aa1ad; }
svg text { font: 12px system-ui, sans-serif; fill: #5b6475; }
svg path.series:not(.state) { fill: none; stroke-width: 1.8; stroke-linejoin: round; stroke-linecap: round; }
svg .threshold { stroke: #b3261e; stroke-dasharray: 5 4; }
tr.state td { background: #fff8e6; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; } dt { font-weight: 600; }
footer { color: var(--muted); margin-top: 18px; font-size: 12px; }
@media print { body { background: #fff; } }
"#;

/// The page.
pub fn page(report: &Report) -> String {
    let mut out = String::new();
    let event = escape(&report.event);
    let s = &report.summary;
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Usher post-event report: {event}</title>
<style>{STYLE}</style></head>
<body><main>
<header><h1>Post-event report: {event}</h1>
<p>{} to {} · {} · {} ticks, one every {}</p></header>
"#,
        calendar::readable(s.start_ms),
        calendar::readable(s.end_ms),
        calendar::duration(s.duration_ms),
        s.ticks,
        calendar::duration(s.interval_ms),
    );
    summary(&mut out, report);
    recommendations(&mut out, report);
    cdn_table(&mut out, report);
    sla_table(&mut out, report);
    charts(&mut out, report);
    admission(&mut out, report);
    log(&mut out, report);
    quality(&mut out, report);
    definitions(&mut out, report);
    let _ = write!(
        out,
        "<footer>Made by <code>usher control report</code> from the controller's \
         timeline.jsonl, decisions.jsonl and audit.jsonl. The same data is in report.json, \
         timeline.csv{} and decisions.csv beside this file.</footer>\n</main></body></html>\n",
        if report.admission.is_empty() {
            ""
        } else {
            ", admission.csv"
        }
    );
    out
}

fn summary(out: &mut String, report: &Report) {
    let s = &report.summary;
    let peak_at = s
        .peak_at
        .get(11..19)
        .map(|t| format!("at {t} UTC"))
        .unwrap_or_default();
    let cards = [
        (
            grouped(s.peak_viewers as f64),
            format!("peak concurrent viewers {peak_at}"),
        ),
        (grouped(s.viewer_hours), "viewer-hours".to_owned()),
        (
            calendar::duration(s.duration_ms),
            "first to last tick".to_owned(),
        ),
        (s.cdns.len().to_string(), escape(&s.cdns.join(", "))),
        (s.decisions.to_string(), "decisions logged".to_owned()),
        (
            s.operator_actions.to_string(),
            "operator actions".to_owned(),
        ),
        (
            format!("{:.2}", s.switches_per_viewer),
            "CDN switches per viewer (estimated)".to_owned(),
        ),
    ];
    out.push_str(r#"<section id="summary" class="cards">"#);
    for (value, label) in cards {
        let _ = write!(
            out,
            r#"<div class="card"><b>{value}</b><span>{label}</span></div>"#
        );
    }
    out.push_str("</section>\n");
}

fn recommendations(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="recommendations"><h2>Recommendations for the next event</h2>"#);
    if report.recommendations.is_empty() {
        out.push_str("<p>No rule fired: every CDN met every service level it had data for, and the data was complete.</p>");
    } else {
        out.push_str(r#"<ol class="recs">"#);
        for r in &report.recommendations {
            let who = r
                .cdn
                .as_deref()
                .or(r.event.as_deref())
                .map(|c| format!("{}: ", escape(c)))
                .unwrap_or_default();
            let _ = write!(
                out,
                r#"<li>{} <code>{}</code><br><span class="trigger">Because {who}{}</span></li>"#,
                escape(&r.advice),
                r.code,
                escape(&r.trigger)
            );
        }
        out.push_str("</ol>");
    }
    out.push_str("</section>\n");
}

fn chip(index: usize) -> String {
    format!(
        r#"<span class="chip" style="background:{}"></span>"#,
        chart::colour(index)
    )
}

fn cdn_table(out: &mut String, report: &Report) {
    out.push_str(
        r#"<section id="cdns"><h2>Per CDN</h2><table><thead><tr><th>CDN</th><th class="n">viewer-minutes</th><th class="n">share</th><th class="n">peak viewers</th><th class="n">TTFB p50</th><th class="n">TTFB p95 (worst)</th><th class="n">throughput</th><th class="n">error rate (worst)</th><th class="n">cache hits</th><th class="n">mean weight</th><th class="n">time healthy</th><th class="n">recovering</th><th class="n">gated</th><th class="n">stale</th><th class="n">times gated</th></tr></thead><tbody>"#,
    );
    for (i, c) in report.cdns.iter().enumerate() {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.0} ms"));
        let t = &c.time;
        let _ = write!(
            out,
            r#"<tr><td>{}{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{} ({})</td><td class="n">{}</td><td class="n">{} ({})</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            chip(i),
            escape(&c.id),
            grouped(c.viewer_minutes),
            or_dash(c.viewer_minutes_share.map(percent)),
            grouped(c.peak_viewers as f64),
            or_dash(ms(c.ttfb_p50_ms)),
            or_dash(ms(c.ttfb_p95_ms)),
            or_dash(ms(c.ttfb_p95_worst_ms)),
            or_dash(c.throughput_bps.map(bitrate)),
            or_dash(c.error_rate.map(percent)),
            or_dash(c.error_rate_worst.map(percent)),
            or_dash(c.cache_hit_ratio.map(percent)),
            percent(c.mean_weight_bp / 10_000.0),
            calendar::duration(t.healthy_ms),
            calendar::duration(t.recovering_ms),
            calendar::duration(t.gated_ms),
            calendar::duration(t.stale_ms),
            c.gated_count,
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn sla_table(out: &mut String, report: &Report) {
    let sla = &report.sla;
    let _ = write!(
        out,
        r#"<section id="sla"><h2>SLA adherence</h2><p>Share of ticks with data in which the window figure met the level; the target is {} of ticks.</p><table><thead><tr><th>CDN</th>"#,
        percent(sla.target)
    );
    let thresholds = [
        sla.ttfb_p95_ms,
        sla.error_rate,
        sla.cache_hit_ratio,
        sla.throughput_bps,
    ];
    for (level, threshold) in Level::ALL.iter().zip(thresholds) {
        let _ = write!(
            out,
            r#"<th class="n">{}</th>"#,
            escape(&level.describe(threshold))
        );
    }
    out.push_str("</tr></thead><tbody>");
    for (i, c) in report.cdns.iter().enumerate() {
        let _ = write!(out, "<tr><td>{}{}</td>", chip(i), escape(&c.id));
        for a in &c.sla {
            let (class, text) = match (a.adherence, a.meets_target) {
                (Some(adh), Some(ok)) => (
                    if ok { "pass" } else { "fail" },
                    format!(
                        "{} {} ({}/{})",
                        if ok { "✓" } else { "✗" },
                        percent(adh),
                        a.ticks_met,
                        a.ticks_with_data
                    ),
                ),
                _ => ("none", "no data".to_owned()),
            };
            let _ = write!(out, r#"<td class="n {class}">{text}</td>"#);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>\n");
}

fn ms_label(v: f64) -> String {
    format!("{} ms", compact(v))
}

fn mbps_label(v: f64) -> String {
    if v >= 1e9 {
        format!("{} Gbit/s", compact(v / 1e9))
    } else {
        format!("{} Mbit/s", compact(v / 1e6))
    }
}

fn percent_label(v: f64) -> String {
    format!("{} %", compact(v * 100.0))
}

fn count_label(v: f64) -> String {
    compact(v)
}

struct ChartSpec {
    id: &'static str,
    title: &'static str,
    label: fn(f64) -> String,
    min_top: f64,
    top: Option<f64>,
    bucket: Bucket,
    value: fn(&Tick, usize, &CdnTick, &str) -> Option<f64>,
    threshold: Option<f64>,
}

fn charts(out: &mut String, report: &Report) {
    let ticks = report.ticks();
    let span = (
        report.summary.start_ms,
        report.summary.end_ms.max(report.summary.start_ms + 1),
    );
    let sla = &report.sla;
    let specs = [
        ChartSpec {
            id: "chart-ttfb-p95",
            title: "TTFB p95 (window), ms",
            label: ms_label,
            min_top: 100.0,
            top: None,
            bucket: Bucket::Max,
            value: |_, _, c, _| c.figures.ttfb_p95_ms,
            threshold: Some(sla.ttfb_p95_ms),
        },
        ChartSpec {
            id: "chart-ttfb-p50",
            title: "TTFB p50 (window), ms",
            label: ms_label,
            min_top: 100.0,
            top: None,
            bucket: Bucket::Max,
            value: |_, _, c, _| c.figures.ttfb_p50_ms,
            threshold: None,
        },
        ChartSpec {
            id: "chart-throughput",
            title: "Throughput, median (window)",
            label: mbps_label,
            min_top: 1e6,
            top: None,
            bucket: Bucket::Min,
            value: |_, _, c, _| c.figures.throughput_bps,
            threshold: Some(sla.throughput_bps),
        },
        ChartSpec {
            id: "chart-errors",
            title: "Error rate (window)",
            label: percent_label,
            min_top: 0.02,
            top: None,
            bucket: Bucket::Max,
            value: |_, _, c, _| c.figures.error_rate,
            threshold: Some(sla.error_rate),
        },
        ChartSpec {
            id: "chart-cache",
            title: "Cache hit ratio (window)",
            label: percent_label,
            min_top: 1.0,
            top: Some(1.0),
            bucket: Bucket::Min,
            value: |_, _, c, _| c.figures.cache_hit_ratio,
            threshold: Some(sla.cache_hit_ratio),
        },
        ChartSpec {
            id: "chart-viewers",
            title: "Concurrent viewers of the event",
            label: count_label,
            min_top: 4.0,
            top: None,
            bucket: Bucket::Mean,
            value: |t, k, c, event| Some(super::event_viewers(t, event, k, c) as f64),
            threshold: None,
        },
        ChartSpec {
            id: "chart-share",
            title: "Share of viewers (slot table)",
            label: percent_label,
            min_top: 1.0,
            top: Some(1.0),
            bucket: Bucket::Mean,
            value: |_, _, c, _| Some(c.slot_share),
            threshold: None,
        },
        ChartSpec {
            id: "chart-weight",
            title: "Target weight",
            label: percent_label,
            min_top: 1.0,
            top: Some(1.0),
            bucket: Bucket::Mean,
            value: |_, _, c, _| Some(f64::from(c.weight_bp) / 10_000.0),
            threshold: None,
        },
        ChartSpec {
            id: "chart-score",
            title: "Score",
            label: count_label,
            min_top: 1.0,
            top: Some(1.0),
            bucket: Bucket::Mean,
            value: |_, _, c, _| Some(c.score),
            threshold: None,
        },
    ];
    out.push_str(r#"<section id="charts"><h2>Over the event (UTC)</h2><div class="charts">"#);
    for spec in &specs {
        let series = report
            .summary
            .cdns
            .iter()
            .enumerate()
            .map(|(i, id)| Series {
                name: id.clone(),
                colour: chart::colour(i),
                points: ticks
                    .iter()
                    .map(|t| {
                        let v = t
                            .cdns
                            .iter()
                            .enumerate()
                            .find(|(_, c)| &c.id == id)
                            .and_then(|(k, c)| (spec.value)(t, k, c, &report.event));
                        (t.at_ms, v)
                    })
                    .collect(),
            })
            .collect();
        let c = Chart {
            id: spec.id,
            title: spec.title,
            label: spec.label,
            min_top: spec.min_top,
            top: spec.top,
            bucket: spec.bucket,
            span,
            threshold: spec.threshold,
            attribute: "cdn",
            series,
        };
        let note = spec
            .threshold
            .map(|_| r#" <span class="trigger">(dashed: SLA level)</span>"#)
            .unwrap_or_default();
        let _ = write!(
            out,
            "<figure><figcaption>{}{note}</figcaption>{}</figure>",
            escape(spec.title),
            c.svg()
        );
    }
    let durations = super::tick_durations(ticks, report.summary.interval_ms);
    let rows: Vec<StateRow> = report
        .summary
        .cdns
        .iter()
        .enumerate()
        .map(|(i, id)| StateRow {
            name: id.clone(),
            colour: chart::colour(i),
            stretches: runs(ticks.iter().zip(&durations).filter_map(|(t, d)| {
                let c = t.cdns.iter().find(|c| &c.id == id)?;
                Some((t.at_ms, t.at_ms + d, c.state.as_str()))
            })),
        })
        .collect();
    let strip = Strip {
        id: "chart-state",
        title: "State per CDN",
        states: &chart::STATE_COLOURS,
        attribute: "cdn",
    };
    let _ = write!(
        out,
        "<figure><figcaption>State</figcaption>{}</figure>",
        chart::state_strip(&strip, span, &rows)
    );
    out.push_str("</div></section>\n");
}

/// One stretch per run of ticks in the same state, not one per tick.
fn runs(
    stretches: impl Iterator<Item = (u64, u64, &'static str)>,
) -> Vec<(u64, u64, &'static str)> {
    stretches.fold(
        Vec::new(),
        |mut runs: Vec<(u64, u64, &str)>, (from, to, state)| {
            match runs.last_mut() {
                Some(last) if last.2 == state && last.1 >= from => last.1 = to,
                _ => runs.push((from, to, state)),
            }
            runs
        },
    )
}

/// `20:15:05 UTC`.
fn at(at_ms: u64) -> String {
    format!("{} UTC", calendar::clock(at_ms, true))
}

/// A rate in viewers per minute: `60/min`.
fn per_min(rate: impl std::fmt::Display) -> String {
    format!("{rate}/min")
}

fn per_min_label(v: f64) -> String {
    per_min(compact(v))
}

/// The waiting-room section: per room, its figures, the operator's rate changes and its
/// charts. Absent for an event without a waiting room, rather than empty charts.
fn admission(out: &mut String, report: &Report) {
    if report.admission.is_empty() {
        return;
    }
    let several = report.admission.len() > 1;
    let _ = write!(
        out,
        r#"<section id="admission"><h2>Waiting room{}</h2><p>Phased admission as the controller ran it{}. The queue is the known arrivals waiting; the measured rate is what the edges admitted over the minute before a tick, against the rate in force (configured, operator's or automatic); the wait is the controller's estimate for the newest arrival; active viewers are those counted against the cap, and the room is at the cap when they reach it or when it is full at a rate above zero (the next viewers would pass it).</p>"#,
        if several { "s" } else { "" },
        if several {
            ", this event's first: rooms of other events ran beside it and shared the CDNs' spare capacity"
        } else {
            ""
        }
    );
    let span = (
        report.summary.start_ms,
        report.summary.end_ms.max(report.summary.start_ms + 1),
    );
    let durations = super::tick_durations(report.ticks(), report.summary.interval_ms);
    for (i, room) in report.admission.iter().enumerate() {
        let _ = write!(
            out,
            r#"<div class="room" id="admission-{i}"><h3>{}</h3>"#,
            escape(&room.event)
        );
        room_figures(out, room);
        room_charts(out, report, room, i, span, &durations);
        out.push_str("</div>");
    }
    out.push_str("</section>\n");
}

fn room_figures(out: &mut String, room: &AdmissionSummary) {
    let doors = match room.doors_open_ms {
        Some(ms) if room.open_at_first_tick => {
            format!("already open at the first tick ({})", at(ms))
        }
        Some(ms) => at(ms),
        None => "not in the record (before the doors throughout)".to_owned(),
    };
    let pre_queue = match (room.pre_queue, room.doors_open_ms, room.queue_emptied_ms) {
        (Some(n), Some(doors), Some(empty)) => format!(
            "{} waiting at the doors; the queue was first empty at {}, {} after the doors",
            grouped(n as f64),
            at(empty),
            calendar::duration(empty.saturating_sub(doors))
        ),
        (Some(n), _, _) => format!(
            "{} waiting at the doors; the queue was never empty after them",
            grouped(n as f64)
        ),
        (None, ..) => "–".to_owned(),
    };
    let peak_queue = match room.peak_waiting_at_ms {
        Some(ms) => format!("{} at {}", grouped(room.peak_waiting as f64), at(ms)),
        None => "0: nobody waited".to_owned(),
    };
    let peak_rate = match (room.peak_measured_at_ms, room.rate_at_peak_per_min) {
        (Some(ms), Some(rate)) => format!(
            "{} measured at {}, against {} in force",
            per_min(room.peak_measured_rate_per_min),
            at(ms),
            per_min(rate)
        ),
        _ => "0: nobody admitted".to_owned(),
    };
    let wait = match (
        room.longest_wait_ms,
        room.longest_wait_at_ms,
        room.waiting_at_longest_wait,
        room.rate_at_longest_wait_per_min,
    ) {
        (Some(wait), Some(ms), Some(waiting), Some(rate)) => format!(
            "{} at {}, with {} waiting at {}",
            calendar::duration(wait),
            at(ms),
            grouped(waiting as f64),
            per_min(rate)
        ),
        _ => "– (nobody waited with an estimate)".to_owned(),
    };
    let t = &room.time;
    let states = format!(
        "before the doors {} · open {} · paused {} · full {}",
        calendar::duration(t.before_doors_ms),
        calendar::duration(t.open_ms),
        calendar::duration(t.paused_ms),
        calendar::duration(t.full_ms)
    );
    let cap = match (room.cap, room.cap_reached_at_ms) {
        (Some(cap), Some(ms)) => format!(
            r#"{}: <span class="fail">reached</span> at {}; at the cap for {}, {} of it with viewers waiting; peak {} active"#,
            grouped(cap as f64),
            at(ms),
            calendar::duration(room.at_cap_ms),
            calendar::duration(room.held_at_cap_ms),
            grouped(room.peak_active as f64)
        ),
        (Some(cap), None) => format!(
            r#"{}: <span class="pass">not reached</span>; peak {} active"#,
            grouped(cap as f64),
            grouped(room.peak_active as f64)
        ),
        (None, _) => format!("none; peak {} active", grouped(room.peak_active as f64)),
    };
    let capacity = if room.held_without_capacity_ms > 0 {
        format!(
            "<dt>held without capacity</dt><dd>{} full with viewers waiting at an automatic rate of zero: no CDN had spare capacity</dd>",
            calendar::duration(room.held_without_capacity_ms)
        )
    } else {
        String::new()
    };
    let rate = room.configured_rate_per_min.map_or_else(
        || "automatic".to_owned(),
        |r| format!("{} configured", per_min(r)),
    );
    let _ = write!(
        out,
        "<dl><dt>doors opened</dt><dd>{doors}</dd><dt>pre-queue</dt><dd>{pre_queue}</dd>\
         <dt>admitted</dt><dd>{}</dd><dt>peak queue</dt><dd>{peak_queue}</dd>\
         <dt>peak admission rate</dt><dd>{peak_rate}</dd>\
         <dt>longest estimated wait</dt><dd>{wait}</dd><dt>time per state</dt><dd>{states}</dd>\
         <dt>cap</dt><dd>{cap}</dd>{capacity}<dt>rate</dt><dd>{rate}</dd>\
         <dt>operator rate changes</dt><dd>",
        grouped(room.admitted as f64)
    );
    if room.rate_changes.is_empty() {
        out.push_str("none: the configured rate held throughout");
    } else {
        out.push_str(
            r#"<table><thead><tr><th>time (UTC)</th><th class="n">operator rate</th><th class="n">configured</th><th>who</th><th>why</th></tr></thead><tbody>"#,
        );
        for c in &room.rate_changes {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td>{}</td></tr>"#,
                calendar::clock(c.at_ms, true),
                c.operator_rate_per_min
                    .map_or_else(|| "back to configured".to_owned(), per_min),
                c.configured_rate_per_min
                    .map_or_else(|| "automatic".to_owned(), per_min),
                or_dash(c.who.as_deref().map(escape)),
                or_dash(c.why.as_deref().map(escape)),
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</dd></dl>");
}

/// `event`'s waiting room in tick `t`.
fn of<'t>(t: &'t Tick, event: &str) -> Option<&'t AdmissionTick> {
    t.admission.iter().find(|a| a.event == event)
}

fn room_charts(
    out: &mut String,
    report: &Report,
    room: &AdmissionSummary,
    i: usize,
    span: (u64, u64),
    durations: &[u64],
) {
    let ticks = report.ticks();
    let series = |name: &str, colour: usize, value: fn(&AdmissionTick) -> f64| Series {
        name: name.to_owned(),
        colour: chart::colour(colour),
        points: ticks
            .iter()
            .map(|t| (t.at_ms, of(t, &room.event).map(value)))
            .collect(),
    };
    let cap = room.cap.map(|c| c as f64);
    let charts = [
        (
            "Queue length (viewers waiting)",
            Chart {
                id: &format!("chart-admission-queue-{i}"),
                title: &format!("Queue length of {}", room.event),
                label: count_label,
                min_top: 4.0,
                top: None,
                bucket: Bucket::Max,
                threshold: None,
                span,
                attribute: "series",
                series: vec![series("waiting", 0, |a| a.waiting as f64)],
            },
        ),
        (
            "Admission rate, viewers per minute",
            Chart {
                id: &format!("chart-admission-rate-{i}"),
                title: &format!("Admission rate of {}", room.event),
                label: per_min_label,
                min_top: 4.0,
                top: None,
                bucket: Bucket::Mean,
                threshold: None,
                span,
                attribute: "series",
                series: vec![
                    series("measured", 0, |a| a.measured_rate_per_min as f64),
                    series("in force", 1, |a| f64::from(a.rate_per_min)),
                ],
            },
        ),
        (
            "Viewers counted against the cap",
            Chart {
                id: &format!("chart-admission-active-{i}"),
                title: &format!("Active viewers of {}", room.event),
                label: count_label,
                // The cap on the axis, so its dashed line shows the headroom left.
                min_top: cap.unwrap_or(0.0).max(4.0),
                top: None,
                bucket: Bucket::Max,
                threshold: cap,
                span,
                attribute: "series",
                series: vec![series("active", 0, |a| a.active as f64)],
            },
        ),
    ];
    out.push_str(r#"<div class="charts">"#);
    for (caption, c) in &charts {
        let note = c
            .threshold
            .map(|_| r#" <span class="trigger">(dashed: the cap)</span>"#)
            .unwrap_or_default();
        let _ = write!(
            out,
            "<figure><figcaption>{caption}{note}</figcaption>{}</figure>",
            c.svg()
        );
    }
    let row =
        StateRow {
            name: room.event.clone(),
            colour: chart::colour(0),
            stretches: runs(ticks.iter().zip(durations).filter_map(|(t, d)| {
                Some((t.at_ms, t.at_ms + d, of(t, &room.event)?.state.as_str()))
            })),
        };
    let strip = Strip {
        id: &format!("chart-admission-state-{i}"),
        title: &format!("Admission state of {}", room.event),
        states: &chart::ADMISSION_STATE_COLOURS,
        attribute: "event",
    };
    let _ = write!(
        out,
        "<figure><figcaption>Admission state</figcaption>{}</figure></div>",
        chart::state_strip(&strip, span, &[row])
    );
}

fn log(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        r#"<section id="log"><h2>Decision log</h2><p>{} decisions of the controller and {} operator commands, oldest first; state changes are highlighted. Reason codes are those of docs/health-model.md §10.</p><table><thead><tr><th>time (UTC)</th><th>by</th><th>CDN</th><th>kind</th><th>reason</th><th>what</th></tr></thead><tbody>"#,
        report.decisions.len(),
        report.audit.len()
    );
    enum Entry<'a> {
        Decision(&'a crate::timeline::Decision),
        Audit(&'a crate::operator::AuditEntry),
    }
    let mut entries: Vec<(u64, Entry<'_>)> = report
        .decisions
        .iter()
        .map(|d| (d.at_ms, Entry::Decision(d)))
        .chain(report.audit.iter().map(|a| (a.at_ms, Entry::Audit(a))))
        .collect();
    entries.sort_by_key(|(at, _)| *at);
    for (at, entry) in entries {
        let time = calendar::clock(at, true);
        match entry {
            Entry::Decision(d) => {
                let kind = serde_json::to_value(d.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let group = d
                    .group
                    .as_deref()
                    .map(|g| format!(" ({})", escape(g)))
                    .unwrap_or_default();
                let _ = write!(
                    out,
                    r#"<tr class="{}"><td>{time}</td><td>controller</td><td>{}{group}</td><td>{kind}</td><td><code>{}</code></td><td>{}</td></tr>"#,
                    if is_state_change(d) { "state" } else { "" },
                    escape(&d.cdn),
                    escape(&d.reason),
                    escape(&d.detail)
                );
            }
            Entry::Audit(a) => {
                let _ = write!(
                    out,
                    r#"<tr class="audit"><td>{time}</td><td>operator <b>{}</b></td><td></td><td>command</td><td><code>{}</code></td><td>{}: “{}”</td></tr>"#,
                    escape(&a.who),
                    escape(&a.outcome),
                    escape(&a.action),
                    escape(&a.why)
                );
            }
        }
    }
    out.push_str("</tbody></table></section>\n");
}

fn quality(out: &mut String, report: &Report) {
    let dq = &report.data_quality;
    let fresh = calendar::duration(super::FRESH_INTERVALS * report.summary.interval_ms);
    let _ = write!(
        out,
        r#"<section id="quality"><h2>Data quality</h2><table><thead><tr><th>source</th><th class="n">ticks without data</th><th class="n">ticks with data older than {fresh}</th><th>notes</th></tr></thead><tbody>"#
    );
    for p in &dq.probes {
        let _ = write!(
            out,
            r#"<tr><td>probes of {}</td><td class="n">{}</td><td class="n">{}</td><td></td></tr>"#,
            escape(&p.cdn),
            p.missing_ticks,
            p.late_ticks
        );
    }
    let refused: Vec<String> = dq
        .qoe_refused
        .iter()
        .map(|(r, n)| format!("{} {n}", escape(r)))
        .collect();
    let _ = write!(
        out,
        r#"<tr><td>QoE lines (CMCD)</td><td class="n">{}</td><td class="n">{}</td><td>refused during the event: {}</td></tr>"#,
        dq.qoe_missing_ticks,
        dq.qoe_late_ticks,
        if refused.is_empty() {
            "none".to_owned()
        } else {
            refused.join(", ")
        }
    );
    for p in &dq.publish {
        let _ = write!(
            out,
            r#"<tr><td>publish to {}</td><td class="n">{}</td><td class="n">–</td><td>{}</td></tr>"#,
            escape(&p.target),
            p.failed_ticks,
            p.last_error
                .as_deref()
                .map(|e| format!("last error: {}", escape(e)))
                .unwrap_or_else(|| "no failure".to_owned())
        );
    }
    let lines = |v: &[usize]| -> String {
        if v.is_empty() {
            return "none".to_owned();
        }
        let shown: Vec<String> = v.iter().take(10).map(usize::to_string).collect();
        let more = if v.len() > 10 { " …" } else { "" };
        format!("{} (line {}{more})", v.len(), shown.join(", "))
    };
    let b = &dq.bad_lines;
    let _ = writeln!(
        out,
        "</tbody></table><p>Unreadable lines skipped: timeline.jsonl {}, decisions.jsonl {}, \
         audit.jsonl {}. Gaps in the timeline (ticks more than {} apart): {} ({} in total). \
         Ticks of other events skipped: {}.</p></section>",
        lines(&b.timeline),
        lines(&b.decisions),
        lines(&b.audit),
        calendar::duration(super::GAP_INTERVALS * report.summary.interval_ms),
        dq.gaps,
        calendar::duration(dq.gap_ms),
        dq.other_ticks
    );
}

fn definitions(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        r#"<section id="definitions"><h2>How the figures are computed</h2><dl>
<dt>tick</dt><dd>one evaluation of the controller (every {}); it stands for the time until the next tick, or one interval before a gap. Figures of a tick are over the controller's sliding window.</dd>
<dt>viewer-minutes</dt><dd>Σ the event's concurrent viewers on the CDN × tick duration (viewers are sessions that sent CMCD within the viewer window).</dd>
<dt>TTFB p50 / p95</dt><dd>the median of the ticks' window medians / the 95th percentile (nearest rank) of the ticks' window 95th percentiles; worst is the highest tick p95.</dd>
<dt>throughput</dt><dd>the median of the ticks' window medians.</dd>
<dt>error rate</dt><dd>the mean of the ticks' window error rates weighted by their requests; worst is the highest tick.</dd>
<dt>cache hits</dt><dd>the mean of the ticks' window hit ratios (RFC 9211 Cache-Status, X-Cache, CMSD).</dd>
<dt>SLA adherence</dt><dd>ticks with data whose window figure met the level ÷ ticks with data; ✓ when at least the target.</dd>
<dt>switches per viewer</dt><dd>half the summed change of every CDN's slot share between ticks: the share of viewers that changed CDN, summed over the event.</dd>
</dl></section>
"#,
        calendar::duration(report.summary.interval_ms)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(grouped(1_234_567.4), "1\u{2009}234\u{2009}567");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(2.34), "2.3");
        assert_eq!(compact(2.50), "2.5");
        assert_eq!(compact(3.0), "3");
        assert_eq!(percent_label(0.25), "25 %");
    }
}
