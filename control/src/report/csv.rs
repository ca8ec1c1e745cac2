//! The report's CSV exports: `timeline.csv` (one row per tick per CDN), `decisions.csv`
//! (every decision and operator command, oldest first) and, for an event with a waiting room,
//! `admission.csv` (one row per tick per waiting room).
//!
//! RFC 4180: comma-separated, CRLF line ends, a header row, fields with a comma, quote or line
//! break quoted with inner quotes doubled. An absent figure is an empty field. Times are ISO
//! 8601 UTC with milliseconds.
//!
//! Free text (an operator's `why`, a decision's detail) is what an operator typed; a field
//! starting with `=`, `+`, `-`, `@`, tab or CR would be read as a formula by a spreadsheet, so
//! such text fields get a leading `'` (the OWASP CSV-injection advice). Numbers are written
//! by this module and never start with one of those.

use super::Report;
use super::calendar::iso8601;

/// One field, quoted when it must be.
fn field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn number(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn integer(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn row(out: &mut String, fields: &[String]) {
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// The header of `timeline.csv`.
pub const TIMELINE_HEADER: [&str; 19] = [
    "time",
    "seq",
    "cdn",
    "state",
    "reason",
    "score",
    "weight_bp",
    "slot_share",
    "viewers",
    "ttfb_p50_ms",
    "ttfb_p95_ms",
    "throughput_bps",
    "error_rate",
    "requests",
    "cache_hit_ratio",
    "stalls",
    "probe_age_ms",
    "qoe_age_ms",
    "operator",
];

/// `timeline.csv`. `viewers` is all the CDN's viewers in the tick, as the controller counted
/// them (the report's viewer-minutes use the event's own share of them).
pub fn timeline(report: &Report) -> String {
    let mut out = String::new();
    row(&mut out, &TIMELINE_HEADER.map(str::to_owned));
    for tick in report.ticks() {
        let time = iso8601(tick.at_ms);
        for c in &tick.cdns {
            let f = &c.figures;
            row(
                &mut out,
                &[
                    time.clone(),
                    tick.seq.to_string(),
                    field(&c.id),
                    c.state.as_str().to_owned(),
                    c.reason.as_str().to_owned(),
                    c.score.to_string(),
                    c.weight_bp.to_string(),
                    c.slot_share.to_string(),
                    c.viewers.to_string(),
                    number(f.ttfb_p50_ms),
                    number(f.ttfb_p95_ms),
                    number(f.throughput_bps),
                    number(f.error_rate),
                    f.requests.to_string(),
                    number(f.cache_hit_ratio),
                    f.stalls.to_string(),
                    integer(c.probe_age_ms),
                    integer(c.qoe_age_ms),
                    field(c.operator.as_deref().unwrap_or("")),
                ],
            );
        }
    }
    out
}

/// The header of `decisions.csv`.
pub const DECISIONS_HEADER: [&str; 12] = [
    "time", "source", "seq", "cdn", "group", "kind", "reason", "detail", "who", "why", "action",
    "outcome",
];

/// `decisions.csv`: the controller's decisions (`source` = `controller`) and the operators'
/// commands (`source` = `operator`), merged by time; a decision made by an operator's command
/// has both a `controller` row (its effect) and an `operator` row (who and why).
pub fn decisions(report: &Report) -> String {
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for d in &report.decisions {
        let kind = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        rows.push((
            d.at_ms,
            vec![
                iso8601(d.at_ms),
                "controller".into(),
                d.seq.to_string(),
                field(&d.cdn),
                field(d.group.as_deref().unwrap_or("")),
                kind,
                field(&d.reason),
                field(&d.detail),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
        ));
    }
    for a in &report.audit {
        rows.push((
            a.at_ms,
            vec![
                iso8601(a.at_ms),
                "operator".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                field(&a.who),
                field(&a.why),
                field(&a.action),
                field(&a.outcome),
            ],
        ));
    }
    // Stable: at equal times, decisions before the commands listed after them.
    rows.sort_by_key(|(at, _)| *at);
    let mut out = String::new();
    row(&mut out, &DECISIONS_HEADER.map(str::to_owned));
    for (_, fields) in rows {
        row(&mut out, &fields);
    }
    out
}

/// The header of `admission.csv`.
pub const ADMISSION_HEADER: [&str; 14] = [
    "time",
    "seq",
    "event",
    "state",
    "frontier",
    "waiting",
    "admitted",
    "active",
    "cap",
    "configured_rate_per_min",
    "operator_rate_per_min",
    "rate_per_min",
    "measured_rate_per_min",
    "newest_wait_ms",
];

/// `admission.csv`: every waiting room of every tick, as the controller recorded it (the
/// `admission` figures of `timeline.jsonl`). `frontier` is a time (viewers whose queue position
/// is below it are admitted); an empty `configured_rate_per_min` is the automatic rate, an empty
/// `operator_rate_per_min` no override, an empty `cap` none, an empty `newest_wait_ms` no
/// estimate (nobody waiting, or not moving).
pub fn admission(report: &Report) -> String {
    let mut out = String::new();
    row(&mut out, &ADMISSION_HEADER.map(str::to_owned));
    for tick in report.ticks() {
        let time = iso8601(tick.at_ms);
        for a in &tick.admission {
            row(
                &mut out,
                &[
                    time.clone(),
                    tick.seq.to_string(),
                    field(&a.event),
                    a.state.as_str().to_owned(),
                    iso8601(a.frontier_ms),
                    a.waiting.to_string(),
                    a.admitted.to_string(),
                    a.active.to_string(),
                    integer(a.cap),
                    integer(a.configured_rate_per_min.map(u64::from)),
                    integer(a.operator_rate_per_min.map(u64::from)),
                    a.rate_per_min.to_string(),
                    a.measured_rate_per_min.to_string(),
                    integer(a.newest_wait_ms),
                ],
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field("cdn-a"), "cdn-a");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn text_a_spreadsheet_would_run_as_a_formula_is_defused() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "'+1");
        assert_eq!(field("@cmd"), "'@cmd");
    }
}
