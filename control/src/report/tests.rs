#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::float_cmp,
    reason = "tests"
)]

use usher_shared::health::CdnState;

use super::*;
use crate::operator::AuditEntry;
use crate::timeline::{AdmissionTick, EventViewers, PublishStatus};

const T0: u64 = 1_795_378_500_000; // 2026-11-22T20:15:00Z

/// A healthy CDN tick. Built from its JSON form, as the report reads it, so fields added to the
/// format with a default need no change here.
fn cdn(id: &str, viewers: u64) -> CdnTick {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "state": "healthy",
        "reason": "healthy",
        "score": 0.8,
        "weight_bp": 5000,
        "slot_share": 0.5,
        "viewers": viewers,
        "figures": Figures::default(),
        "probe_age_ms": 1000,
        "qoe_age_ms": 1000,
        "operator": null,
    }))
    .unwrap()
}

/// A tick of the event "final" (from JSON, like [`cdn`]).
fn tick(seq: u64, at_ms: u64, cdns: Vec<CdnTick>) -> Tick {
    serde_json::from_value(serde_json::json!({
        "at_ms": at_ms,
        "seq": seq,
        "events": ["final"],
        "viewers": cdns.iter().map(|c| c.viewers).sum::<u64>(),
        "viewers_by_event": [],
        "cdns": cdns,
        "demand_bps": 0,
        "qoe_age_ms": 1000,
        "qoe_refused": [],
        "publish": [],
        "moved_slots": 0,
    }))
    .unwrap()
}

fn lines<T: Serialize>(items: &[T]) -> String {
    items
        .iter()
        .map(|t| serde_json::to_string(t).unwrap() + "\n")
        .collect()
}

fn build(ticks: &[Tick]) -> Report {
    let timeline = lines(ticks);
    let mut options = ReportOptions::new("final");
    options.interval_ms = Some(5000);
    Report::build(
        Record {
            timeline: &timeline,
            ..Record::default()
        },
        &options,
    )
    .unwrap()
}

#[test]
fn viewer_minutes_are_viewers_times_tick_duration_per_cdn() {
    let r = build(&[
        tick(1, T0, vec![cdn("a", 60), cdn("b", 0)]),
        tick(2, T0 + 5000, vec![cdn("a", 120), cdn("b", 60)]),
        tick(3, T0 + 10_000, vec![cdn("a", 60), cdn("b", 0)]),
    ]);
    // a: (60 + 120 + 60) viewers × 5 s = 20 min; b: 60 × 5 s = 5 min.
    assert_eq!(r.cdns[0].viewer_minutes, 20.0);
    assert_eq!(r.cdns[1].viewer_minutes, 5.0);
    assert_eq!(r.cdns[0].viewer_minutes_share, Some(0.8));
    assert_eq!(r.summary.viewer_minutes, 25.0);
    assert_eq!(r.summary.viewer_hours, 25.0 / 60.0);
    assert_eq!(r.summary.peak_viewers, 180);
    assert_eq!(r.summary.peak_at, "2026-11-22T20:15:05.000Z");
    assert_eq!(r.summary.duration_ms, 10_000);
    assert_eq!(r.cdns[1].peak_viewers, 60);
}

#[test]
fn only_the_events_own_viewers_count_when_a_tick_steers_several() {
    let mut t = tick(1, T0, vec![cdn("a", 100), cdn("b", 40)]);
    t.events = vec!["final".into(), "semi".into()];
    t.viewers_by_event = vec![
        EventViewers {
            event: "semi".into(),
            per_cdn: vec![70, 10],
        },
        EventViewers {
            event: "final".into(),
            per_cdn: vec![30, 30],
        },
    ];
    let r = build(&[t]);
    // One tick, the last, stands for one interval: 30 viewers × 5 s = 2.5 min each.
    assert_eq!(r.cdns[0].viewer_minutes, 2.5);
    assert_eq!(r.cdns[1].viewer_minutes, 2.5);
    assert_eq!(r.summary.peak_viewers, 60);
}

#[test]
fn a_gap_counts_one_interval_and_is_reported() {
    let r = build(&[
        tick(1, T0, vec![cdn("a", 12)]),
        tick(2, T0 + 5000, vec![cdn("a", 12)]),
        tick(3, T0 + 65_000, vec![cdn("a", 12)]),
    ]);
    // Three ticks of 5 s each, not 5 + 60 + 5.
    assert_eq!(r.cdns[0].viewer_minutes, 3.0);
    assert_eq!(r.cdns[0].time.healthy_ms, 15_000);
    assert_eq!(r.data_quality.gaps, 1);
    assert_eq!(r.data_quality.gap_ms, 55_000);
    assert!(r.recommendations.iter().any(|x| x.code == "gaps"));
}

#[test]
fn sla_adherence_counts_only_ticks_with_data_and_names_the_figure() {
    let ttfb = [Some(100.0), Some(900.0), None, Some(700.0)];
    let ticks: Vec<Tick> = ttfb
        .iter()
        .enumerate()
        .map(|(i, p95)| {
            let mut c = cdn("a", 1);
            c.figures.ttfb_p95_ms = *p95;
            tick(i as u64, T0 + i as u64 * 5000, vec![c])
        })
        .collect();
    let r = build(&ticks);
    let a = &r.cdns[0].sla[0];
    assert_eq!(a.level, Level::TtfbP95);
    assert_eq!((a.ticks_with_data, a.ticks_met), (3, 2));
    assert_eq!(a.adherence, Some(2.0 / 3.0));
    assert_eq!(a.meets_target, Some(false));
    // No error figures at all: no verdict, and no recommendation about them.
    assert_eq!(r.cdns[0].sla[1].adherence, None);
    let below: Vec<_> = r
        .recommendations
        .iter()
        .filter(|x| x.code == "below_sla")
        .collect();
    assert_eq!(below.len(), 1, "{below:?}");
    assert_eq!(
        below[0].trigger,
        "TTFB p95 ≤ 800 ms: met in 2 of 3 ticks with data (66.7 %), target 99.0 %"
    );
    assert_eq!(below[0].cdn.as_deref(), Some("a"));
}

#[test]
fn error_rate_is_weighted_by_requests_and_ttfb_uses_nearest_rank() {
    let ticks: Vec<Tick> = (1..=20_u64)
        .map(|i| {
            let mut c = cdn("a", 1);
            c.figures.ttfb_p95_ms = Some(i as f64 * 10.0);
            c.figures.ttfb_p50_ms = Some(i as f64);
            // Two ticks with errors: 10 % of 100 requests, then none of 300.
            if i == 1 {
                (c.figures.error_rate, c.figures.requests) = (Some(0.1), 100);
            } else if i == 2 {
                (c.figures.error_rate, c.figures.requests) = (Some(0.0), 300);
            }
            tick(i, T0 + i * 5000, vec![c])
        })
        .collect();
    let r = build(&ticks);
    let a = &r.cdns[0];
    assert_eq!(a.error_rate, Some(0.025));
    assert_eq!(a.error_rate_worst, Some(0.1));
    // Nearest rank: the 19th of 20 for p95, the 10th for the median.
    assert_eq!(a.ttfb_p95_ms, Some(190.0));
    assert_eq!(a.ttfb_p95_worst_ms, Some(200.0));
    assert_eq!(a.ttfb_p50_ms, Some(10.0));
}

#[test]
fn entries_into_the_gated_state_are_counted_and_timed() {
    let states = [
        CdnState::Healthy,
        CdnState::Gated,
        CdnState::Gated,
        CdnState::Recovering,
        CdnState::Gated,
    ];
    let ticks: Vec<Tick> = states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut c = cdn("b", 0);
            c.state = *s;
            tick(i as u64, T0 + i as u64 * 5000, vec![cdn("a", 0), c])
        })
        .collect();
    let r = build(&ticks);
    let b = &r.cdns[1];
    assert_eq!(b.gated_count, 2);
    assert_eq!(b.time.gated_ms, 15_000);
    assert_eq!(b.time.recovering_ms, 5000);
    let gated = r
        .recommendations
        .iter()
        .find(|x| x.code == "gated")
        .unwrap();
    assert_eq!(gated.trigger, "gated 2 times, 15 s in total");
}

#[test]
fn switches_per_viewer_are_half_the_moved_share_and_split_by_state_changes() {
    let mut ticks = Vec::new();
    for (i, (share_a, b_state)) in [
        (1.0, CdnState::Healthy),
        (0.5, CdnState::Healthy),
        (0.6, CdnState::Gated),
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = cdn("a", 0);
        a.slot_share = share_a;
        let mut b = cdn("b", 0);
        b.slot_share = 1.0 - share_a;
        b.state = b_state;
        ticks.push(tick(i as u64, T0 + i as u64 * 5000, vec![a, b]));
    }
    let r = build(&ticks);
    // 0.5 of viewers moved with no state change, then 0.1 as b was gated.
    assert!((r.summary.switches_per_viewer - 0.6).abs() < 1e-12);
    assert!((r.summary.rebalance_switches_per_viewer - 0.5).abs() < 1e-12);
}

#[test]
fn refused_qoe_lines_count_what_the_counters_grew_by_across_a_restart() {
    let counts = [
        vec![("malformed", 2)],
        vec![("malformed", 5)],
        vec![("malformed", 1), ("unknown_cdn", 4)],
    ];
    let ticks: Vec<Tick> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut t = tick(i as u64, T0 + i as u64 * 5000, vec![cdn("a", 0)]);
            t.qoe_refused = c.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect();
            t
        })
        .collect();
    let r = build(&ticks);
    // 5 − 2 = 3, then a restart: 1 malformed and 4 unknown_cdn from zero.
    assert_eq!(
        r.data_quality.qoe_refused,
        vec![("malformed".to_owned(), 4), ("unknown_cdn".to_owned(), 4)]
    );
}

#[test]
fn missing_and_late_sources_are_counted_and_recommended_on() {
    let ticks: Vec<Tick> = (0..10_u64)
        .map(|i| {
            let mut a = cdn("a", 0);
            // Never probed for two ticks, then 30 s old once (two intervals are 10 s).
            a.probe_age_ms = match i {
                0 | 1 => None,
                2 => Some(30_000),
                _ => Some(500),
            };
            let mut t = tick(i, T0 + i * 5000, vec![a]);
            t.qoe_age_ms = None;
            t.publish = vec![PublishStatus {
                target: "file:/tmp/health.json".into(),
                ok_at_ms: Some(T0),
                error: (i == 4).then(|| "disk full".to_owned()),
            }];
            t
        })
        .collect();
    let r = build(&ticks);
    let p = &r.data_quality.probes[0];
    assert_eq!((p.missing_ticks, p.late_ticks), (2, 1));
    assert_eq!(r.data_quality.qoe_missing_ticks, 10);
    assert_eq!(r.data_quality.publish[0].failed_ticks, 1);
    let codes: Vec<&str> = r.recommendations.iter().map(|x| x.code).collect();
    assert_eq!(codes, ["late_probes", "no_qoe", "publish_failures"]);
    let late = &r.recommendations[0];
    assert_eq!(
        late.trigger,
        "its probe data was missing or older than 10 s in 3 of 10 ticks"
    );
}

#[test]
fn a_timeline_without_the_event_is_refused_with_the_events_it_has() {
    let timeline = lines(&[tick(1, T0, vec![cdn("a", 0)])]);
    let record = Record {
        timeline: &timeline,
        ..Record::default()
    };
    let e = Report::build(record, &ReportOptions::new("semi")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no tick of event \"semi\" in timeline.jsonl (1 ticks, for events: final)"
    );
    let e = Report::build(Record::default(), &ReportOptions::new("semi")).unwrap_err();
    assert!(
        e.to_string().starts_with("no tick in timeline.jsonl"),
        "{e}"
    );
}

#[test]
fn unreadable_lines_are_skipped_and_counted_by_file() {
    let mut timeline = lines(&[
        tick(1, T0, vec![cdn("a", 0)]),
        tick(2, T0 + 5000, vec![cdn("a", 0)]),
    ]);
    timeline.push_str("{\"at_ms\": 17953785");
    let r = Report::build(
        Record {
            timeline: &timeline,
            decisions: "not json\n",
            audit: "",
        },
        &ReportOptions::new("final"),
    )
    .unwrap();
    assert_eq!(r.summary.ticks, 2);
    assert_eq!(r.data_quality.bad_lines.timeline, vec![3]);
    assert_eq!(r.data_quality.bad_lines.decisions, vec![1]);
    // Without a configured interval, the median gap between ticks.
    assert_eq!(r.summary.interval_ms, 5000);
    let bad = r
        .recommendations
        .iter()
        .find(|x| x.code == "bad_lines")
        .unwrap();
    assert_eq!(bad.trigger, "2 unreadable lines skipped");
}

fn decision(at_ms: u64, cdn: &str, detail: &str) -> Decision {
    Decision {
        at_ms,
        seq: 0,
        cdn: cdn.into(),
        group: None,
        kind: DecisionKind::Operator,
        reason: "operator_drain".into(),
        detail: detail.into(),
    }
}

fn audit(at_ms: u64, who: &str, why: &str) -> AuditEntry {
    AuditEntry {
        at_ms,
        who: who.into(),
        why: why.into(),
        action: "drain b".into(),
        outcome: "applied".into(),
    }
}

fn record_with_text(ticks: &[Tick], decisions: &[Decision], audit: &[AuditEntry]) -> Report {
    let (t, d, a) = (lines(ticks), lines(decisions), lines(audit));
    let mut options = ReportOptions::new("final");
    options.interval_ms = Some(5000);
    Report::build(
        Record {
            timeline: &t,
            decisions: &d,
            audit: &a,
        },
        &options,
    )
    .unwrap()
}

#[test]
fn decisions_and_commands_of_the_events_time_only_are_kept() {
    let ticks = [
        tick(1, T0, vec![cdn("a", 0)]),
        tick(2, T0 + 5000, vec![cdn("a", 0)]),
    ];
    let r = record_with_text(
        &ticks,
        &[
            decision(T0 - 60_000, "a", "long before"),
            decision(T0 - 1000, "a", "just before"),
            decision(T0 + 9000, "a", "just after"),
            decision(T0 + 11_000, "a", "long after"),
        ],
        &[
            audit(T0 + 2000, "ana", "test"),
            audit(T0 + 600_000, "bo", "later"),
        ],
    );
    let kept: Vec<&str> = r.decisions.iter().map(|d| d.detail.as_str()).collect();
    assert_eq!(kept, ["just before", "just after"]);
    assert_eq!(r.audit.len(), 1);
    assert_eq!(r.summary.decisions, 2);
    assert_eq!(r.summary.operator_actions, 1);
}

#[test]
fn the_html_page_escapes_every_string_from_the_record_and_loads_nothing() {
    let evil = "<script>alert(1)</script>";
    let mut c = cdn("b\"><img src=x>", 3);
    c.figures.ttfb_p95_ms = Some(120.0);
    let mut t = tick(1, T0, vec![cdn("a", 2), c]);
    t.publish = vec![PublishStatus {
        target: "http:<b>".into(),
        ok_at_ms: None,
        error: Some(evil.into()),
    }];
    let r = record_with_text(
        &[t],
        &[decision(T0, "a", evil)],
        &[audit(
            T0,
            "<i>mallory</i>",
            "because <b>reasons</b> & 'quotes'",
        )],
    );
    let html = r.to_html();
    for raw in ["<script", "<img", "<i>mallory", "<b>reasons", "http:<b>"] {
        assert!(!html.contains(raw), "{raw} unescaped");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("b&quot;&gt;&lt;img src=x&gt;"));
    assert!(html.contains("because &lt;b&gt;reasons&lt;/b&gt; &amp; &#39;quotes&#39;"));
    // Nothing fetched: no URL but the SVG namespace, and a CSP refusing everything else.
    assert!(!html.contains(" src=\""));
    assert!(!html.contains(" href=\""));
    assert_eq!(
        html.matches("http://").count(),
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    assert!(html.contains("default-src 'none'"));
    // A chart per figure plus the state strip, each with a series per CDN.
    assert_eq!(html.matches("<svg ").count(), 10);
    assert_eq!(
        html.matches(r#"class="series" data-cdn="a""#).count(),
        9,
        "a line per time-series chart"
    );
}

#[test]
fn timeline_csv_has_a_row_per_tick_per_cdn_with_every_column() {
    let mut a = cdn("a", 7);
    a.figures.ttfb_p50_ms = Some(42.5);
    a.operator = Some("pin 3000".into());
    let ticks = [
        tick(1, T0, vec![a.clone(), cdn("b", 1)]),
        tick(2, T0 + 5000, vec![a, cdn("b", 2)]),
    ];
    let csv = build(&ticks).timeline_csv();
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 1 + 2 * 2);
    assert_eq!(rows[0], csv::TIMELINE_HEADER.join(","));
    for row in &rows {
        assert_eq!(row.split(',').count(), csv::TIMELINE_HEADER.len(), "{row}");
    }
    assert_eq!(
        rows[1],
        "2026-11-22T20:15:00.000Z,1,a,healthy,healthy,0.8,5000,0.5,7,42.5,,,,0,,0,1000,1000,pin 3000"
    );
    assert!(csv.ends_with("\r\n"));
}

#[test]
fn decisions_csv_merges_decisions_and_commands_by_time_and_quotes_free_text() {
    let ticks = [tick(1, T0, vec![cdn("a", 0)])];
    let r = record_with_text(
        &ticks,
        &[decision(
            T0 + 2000,
            "b",
            "drain b by ana: \"b\" drops, see OPS-1",
        )],
        &[audit(T0 + 1000, "ana", "=cmd, \"now\"")],
    );
    let csv = r.decisions_csv();
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[1],
        "2026-11-22T20:15:01.000Z,operator,,,,,,,ana,\"'=cmd, \"\"now\"\"\",drain b,applied"
    );
    assert_eq!(
        rows[2],
        "2026-11-22T20:15:02.000Z,controller,0,b,,operator,operator_drain,\
         \"drain b by ana: \"\"b\"\" drops, see OPS-1\",,,,"
    );
}

#[test]
fn the_json_report_carries_the_figures_but_not_the_ticks() {
    let r = build(&[tick(1, T0, vec![cdn("a", 6)])]);
    let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    assert_eq!(v["event"], "final");
    assert_eq!(v["cdns"][0]["viewer_minutes"], 0.5);
    assert_eq!(v["cdns"][0]["sla"][0]["level"], "ttfb_p95");
    assert_eq!(v["summary"]["start"], "2026-11-22T20:15:00.000Z");
    assert!(v.get("ticks").is_none());
}

/// One waiting room's figures in a tick: `(state, waiting, admitted, active, operator rate,
/// measured rate, newest wait)`, with a cap of 10 and a configured rate of 60 per minute (the
/// rate in force is the operator's when there is one).
type Room = (&'static str, u64, u64, u64, Option<u32>, u64, Option<u64>);

fn room(
    event: &str,
    (state, waiting, admitted, active, operator, measured, wait): Room,
) -> AdmissionTick {
    serde_json::from_value(serde_json::json!({
        "event": event,
        "state": state,
        "frontier_ms": T0,
        "waiting": waiting,
        "admitted": admitted,
        "active": active,
        "cap": 10,
        "configured_rate_per_min": 60,
        "operator_rate_per_min": operator,
        "rate_per_min": operator.unwrap_or(60),
        "measured_rate_per_min": measured,
        "newest_wait_ms": wait,
    }))
    .unwrap()
}

/// Ticks of "final" 5 s apart, each with the rooms of `events` in the given states.
fn ticks_with_rooms(events: &[&str], rooms: &[Room]) -> Vec<Tick> {
    rooms
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut t = tick(i as u64, T0 + i as u64 * 5000, vec![cdn("a", r.3)]);
            t.admission = events.iter().map(|e| room(e, *r)).collect();
            t
        })
        .collect()
}

/// A kickoff surge through a waiting room with a cap of 10: a pre-queue of 8, the doors at
/// 20:15:10, the cap held for two ticks, an operator's rate of 30 for two paused ticks, then
/// back to the configured rate with the queue empty.
const SURGE: [Room; 9] = [
    ("before_doors", 5, 0, 0, None, 0, None),
    ("before_doors", 8, 0, 0, None, 0, None),
    ("open", 6, 2, 2, None, 24, Some(400_000)),
    ("open", 4, 6, 6, None, 72, Some(200_000)),
    ("full", 3, 10, 10, None, 48, None),
    ("full", 3, 10, 10, None, 48, None),
    ("open", 2, 11, 9, Some(30), 36, Some(240_000)),
    ("paused", 2, 11, 9, Some(30), 12, None),
    ("open", 0, 13, 9, None, 24, None),
];

fn rate_command(at_ms: u64, rate: &str, why: &str) -> AuditEntry {
    AuditEntry {
        at_ms,
        who: "ana".into(),
        why: why.into(),
        action: format!("admission rate final {rate}"),
        outcome: "applied".into(),
    }
}

#[test]
fn a_timeline_without_a_waiting_room_has_no_admission_section_chart_or_csv() {
    let r = build(&[
        tick(1, T0, vec![cdn("a", 3)]),
        tick(2, T0 + 5000, vec![cdn("a", 4)]),
    ]);
    assert!(r.admission.is_empty());
    assert_eq!(r.admission_csv(), None);
    let html = r.to_html();
    assert!(!html.contains(r#"id="admission"#), "no section");
    assert!(!html.contains("chart-admission"), "no empty chart");
    assert!(!html.contains("admission.csv"), "no file named");
    assert_eq!(html.matches("<svg ").count(), 10);
    let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    assert_eq!(v["admission"], serde_json::json!([]));
}

#[test]
fn a_surge_gives_the_doors_totals_peaks_and_time_in_each_state() {
    let ticks = ticks_with_rooms(&["final"], &SURGE);
    let r = record_with_text(
        &ticks,
        &[],
        &[
            rate_command(T0 + 27_000, "30", "cdn-b degraded"),
            rate_command(T0 + 38_000, "configured", "cdn-b back"),
        ],
    );
    let [a] = r.admission.as_slice() else {
        panic!("{:?}", r.admission)
    };
    assert_eq!(a.event, "final");
    assert_eq!(a.ticks, 9);
    assert_eq!(a.doors_open_ms, Some(T0 + 10_000));
    assert!(!a.open_at_first_tick);
    assert_eq!(a.pre_queue, Some(8));
    assert_eq!(a.queue_emptied_ms, Some(T0 + 40_000));
    assert_eq!(a.admitted, 13);
    assert_eq!((a.peak_waiting, a.peak_waiting_at_ms), (8, Some(T0 + 5000)));
    assert_eq!(
        (
            a.peak_measured_rate_per_min,
            a.peak_measured_at_ms,
            a.rate_at_peak_per_min
        ),
        (72, Some(T0 + 15_000), Some(60))
    );
    assert_eq!(
        (
            a.longest_wait_ms,
            a.longest_wait_at_ms,
            a.waiting_at_longest_wait
        ),
        (Some(400_000), Some(T0 + 10_000), Some(6))
    );
    // Each tick stands for 5 s: two before the doors, four open, two full, one paused.
    assert_eq!(
        a.time,
        AdmissionTimes {
            before_doors_ms: 10_000,
            open_ms: 20_000,
            paused_ms: 5000,
            full_ms: 10_000,
        }
    );
    assert_eq!(a.cap, Some(10));
    assert_eq!(a.peak_active, 10);
    assert_eq!(a.cap_reached_at_ms, Some(T0 + 20_000));
    assert_eq!((a.at_cap_ms, a.held_at_cap_ms), (10_000, 10_000));
    assert_eq!(a.held_without_capacity_ms, 0);
    assert_eq!(a.configured_rate_per_min, Some(60));
    let changes: Vec<_> = a
        .rate_changes
        .iter()
        .map(|c| {
            (
                c.at_ms,
                c.operator_rate_per_min,
                c.who.as_deref(),
                c.why.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            (T0 + 30_000, Some(30), Some("ana"), Some("cdn-b degraded")),
            (T0 + 40_000, None, Some("ana"), Some("cdn-b back")),
        ]
    );
    // Too short for the measured rate (a minute's worth) to settle.
    assert_eq!((a.settled_open_ticks, a.measured_share), (0, None));
}

#[test]
fn a_surge_held_at_the_cap_with_long_waits_is_recommended_on_with_its_figures() {
    let r = build(&ticks_with_rooms(&["final"], &SURGE));
    let rooms: Vec<_> = r
        .recommendations
        .iter()
        .filter(|x| x.event.is_some())
        .map(|x| (x.code, x.event.as_deref(), x.trigger.as_str()))
        .collect();
    assert_eq!(
        rooms,
        [
            (
                "admission_cap",
                Some("final"),
                "viewers waited at the cap of 10 for 10 s, 28.6 % of the 35 s after the doors \
                 (peak 10 active, 8 waiting)"
            ),
            (
                "admission_long_wait",
                Some("final"),
                "the newest arrival's estimated wait reached 6 min 40 s at 20:15:10 UTC, with 6 \
                 waiting; the pre-queue of 8 alone takes 8 s at 60/min"
            ),
        ]
    );
    let html = r.to_html();
    assert!(
        html.contains("Because final: viewers waited at the cap of 10"),
        "{html}"
    );
}

#[test]
fn admission_that_kept_up_with_arrivals_is_called_demand_limited() {
    // The doors, then 20 open ticks (100 s) admitting 6 a minute against 60 with an empty queue.
    let mut rooms = vec![("before_doors", 2, 0, 0, None, 0, None)];
    rooms.extend((0..20).map(|i| ("open", 0, 2 + i / 10, 2, None, 6, None)));
    let r = build(&ticks_with_rooms(&["final"], &rooms));
    let a = &r.admission[0];
    // From a minute after the doors (at T0 + 5 s): ticks at 65 s … 100 s.
    assert_eq!((a.settled_open_ticks, a.settled_empty_ticks), (8, 8));
    assert_eq!(a.measured_share, Some(0.1));
    let demand = r
        .recommendations
        .iter()
        .find(|x| x.code == "admission_demand_limited")
        .unwrap();
    assert_eq!(
        demand.trigger,
        "measured admissions were 10.0 % of the rate in force over 8 open ticks from a minute \
         after the doors, and the queue was empty in 8 of them"
    );
    assert!(
        !r.recommendations.iter().any(|x| x.code == "admission_cap"),
        "{:?}",
        r.recommendations
    );
}

#[test]
fn the_admitted_count_restarts_from_zero_with_the_controller() {
    let rooms: Vec<Room> = [3, 7, 2, 5]
        .iter()
        .map(|&n| ("open", 0, n, 0, None, 0, None))
        .collect();
    let r = build(&ticks_with_rooms(&["final"], &rooms));
    // 3, then +4, then a restart: 2 from zero, then +3.
    assert_eq!(r.admission[0].admitted, 12);
    assert!(r.admission[0].open_at_first_tick);
    assert_eq!(r.admission[0].pre_queue, None);
}

#[test]
fn the_waiting_room_section_has_its_charts_and_escapes_event_names() {
    let evil = "<b>\"semi\"</b>";
    let ticks = ticks_with_rooms(&[evil, "final"], &SURGE);
    let r = record_with_text(
        &ticks,
        &[],
        &[rate_command(T0 + 27_000, "30", "<script>x</script>")],
    );
    // The report's own event first, the neighbour's after.
    let events: Vec<&str> = r.admission.iter().map(|a| a.event.as_str()).collect();
    assert_eq!(events, ["final", evil]);
    let html = r.to_html();
    assert!(html.contains(r#"<section id="admission"><h2>Waiting rooms</h2>"#));
    for raw in ["<b>\"semi", "<script>x"] {
        assert!(!html.contains(raw), "{raw} unescaped");
    }
    assert!(html.contains("<h3>&lt;b&gt;&quot;semi&quot;&lt;/b&gt;</h3>"));
    assert!(html.contains(r#"data-event="&lt;b&gt;&quot;semi&quot;&lt;/b&gt;""#));
    assert!(
        html.contains("&lt;script&gt;x&lt;/script&gt;"),
        "the why, escaped"
    );
    // The CDN charts are unchanged; each room adds queue, rate and active charts and a state
    // strip, every line drawn.
    assert_eq!(html.matches("<svg ").count(), 10 + 2 * 4);
    for series in ["waiting", "measured", "in force", "active"] {
        let drawn = html
            .split(&format!(r#"data-series="{series}" d=""#))
            .skip(1)
            .filter(|rest| rest.starts_with('M'))
            .count();
        assert_eq!(drawn, 2, "{series}");
    }
    // The cap is drawn as a dashed line on each room's active chart.
    let section = html.split(r#"<section id="admission">"#).nth(1).unwrap();
    assert_eq!(section.matches(r#"<line class="threshold""#).count(), 2);
    for state in ["before_doors", "open", "paused", "full"] {
        assert!(
            html.contains(&format!(r#"data-state="{state}""#)),
            "{state}"
        );
    }
    assert!(html.contains("admission.csv"), "the footer names the file");
}

#[test]
fn admission_csv_has_a_row_per_tick_per_room_and_defuses_formulas() {
    let ticks = ticks_with_rooms(&["final", "=cmd()"], &SURGE[..3]);
    let csv = build(&ticks).admission_csv().unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 1 + 3 * 2);
    assert_eq!(rows[0], csv::ADMISSION_HEADER.join(","));
    for row in &rows {
        assert_eq!(row.split(',').count(), csv::ADMISSION_HEADER.len(), "{row}");
    }
    assert_eq!(
        rows[5],
        "2026-11-22T20:15:10.000Z,2,final,open,2026-11-22T20:15:00.000Z,6,2,2,10,60,,60,24,400000"
    );
    assert!(
        rows[6].starts_with("2026-11-22T20:15:10.000Z,2,'=cmd(),open,"),
        "{}",
        rows[6]
    );
    assert!(csv.ends_with("\r\n"));
}

#[test]
fn full_at_a_rate_of_zero_is_a_want_of_capacity_and_full_at_a_rate_is_the_cap() {
    // The cap: full just below it (the next viewers would pass it). Capacity: the automatic
    // rate at zero, far below the cap.
    let mut ticks = ticks_with_rooms(
        &["final"],
        &[
            ("open", 4, 0, 2, None, 0, None),
            ("full", 4, 6, 9, None, 0, None),
            ("full", 4, 6, 3, None, 0, None),
            ("full", 4, 6, 3, None, 0, None),
        ],
    );
    for t in &mut ticks[2..] {
        t.admission[0].configured_rate_per_min = None;
        t.admission[0].rate_per_min = 0;
    }
    let r = build(&ticks);
    let a = &r.admission[0];
    assert_eq!((a.at_cap_ms, a.held_at_cap_ms), (5000, 5000));
    assert_eq!(a.cap_reached_at_ms, Some(T0 + 5000));
    assert_eq!(a.held_without_capacity_ms, 10_000);
    assert_eq!(a.configured_rate_per_min, None, "automatic");
    let capacity = r
        .recommendations
        .iter()
        .find(|x| x.code == "admission_capacity")
        .unwrap();
    assert_eq!(
        capacity.trigger,
        "full at an automatic rate of zero with viewers waiting for 10 s, 50.0 % of the 20 s \
         after the doors"
    );
}
