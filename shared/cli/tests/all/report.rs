//! `usher control report`: the built binary on a data directory writes the four files and prints
//! their paths, holds the CDNs to the configuration's SLA, and exits 2 naming what is missing.
//! (The report on a real controller's record, rendered in Chromium, is
//! control/tests/browser/dashboard.mjs.)
#![cfg(test)] // Lets clippy's test allowances (unwrap, indexing) apply to the helpers too.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::tempdir::Dir;

const T0: u64 = 1_795_378_500_000; // 2026-11-22T20:15:00Z

/// One tick of event "final": cdn-a with `ttfb_p95` ms, cdn-b without figures.
fn tick(seq: u64, ttfb_p95: f64) -> Value {
    let cdn = |id: &str, viewers: u64, figures: Value| {
        json!({
            "id": id, "state": "healthy", "reason": "healthy", "score": 0.8, "weight_bp": 5000,
            "slot_share": 0.5, "viewers": viewers, "figures": figures,
            "probe_age_ms": 500, "qoe_age_ms": 500, "operator": null,
        })
    };
    json!({
        "at_ms": T0 + seq * 5000, "seq": seq, "events": ["final"],
        "cdns": [
            cdn("cdn-a", 30, json!({"ttfb_p95_ms": ttfb_p95, "requests": 10, "stalls": 0})),
            cdn("cdn-b", 10, json!({"requests": 0, "stalls": 0})),
        ],
        "viewers": 40, "viewers_by_event": [], "demand_bps": 0, "qoe_age_ms": 500,
        "qoe_refused": [], "publish": [], "moved_slots": 0,
    })
}

fn write_record(data: &Path) {
    std::fs::create_dir_all(data).unwrap();
    let ticks: Vec<String> = [100.0, 300.0, 500.0, 700.0]
        .iter()
        .enumerate()
        .map(|(i, ms)| tick(i as u64 + 1, *ms).to_string())
        .collect();
    std::fs::write(data.join("timeline.jsonl"), ticks.join("\n") + "\n").unwrap();
    let audit = json!({"at_ms": T0 + 6000, "who": "ana", "why": "cdn-b, \"flaky\" in FR",
        "action": "drain cdn-b", "outcome": "applied"});
    std::fs::write(data.join("audit.jsonl"), format!("{audit}\n")).unwrap();
    // No decisions.jsonl: a calm event may have none.
}

const CONFIG: &str = r#"
interval_ms = 5000
[signing]
key_id = "h1"
keys_file = "health-keys.json"
[sla]
ttfb_p95_ms = 400.0
[[cdn]]
id = "cdn-a"
base_url = "http://127.0.0.1:9/"
static_weight_bp = 5000
[[cdn]]
id = "cdn-b"
base_url = "http://127.0.0.1:9/"
static_weight_bp = 5000
[[event]]
id = "final"
probe_playlists = ["v1/playlist.m3u8"]
"#;

fn report(args: &[&str], data: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["control", "report", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn report_writes_four_files_judged_by_the_configured_sla_and_prints_their_paths() {
    let dir = Dir::new();
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    write_record(&data);
    let config = dir.path().join("control.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let output = report(
        &["--event", "final", "--config", config.to_str().unwrap()],
        &data,
        &out,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = [
        "report.html",
        "report.json",
        "timeline.csv",
        "decisions.csv",
    ]
    .iter()
    .map(|f| out.join(f).display().to_string())
    .collect();
    assert_eq!(printed, expected);

    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["sla"]["ttfb_p95_ms"], 400.0);
    // TTFB p95 of 100 and 300 ms meet 400 ms; 500 and 700 do not: 2 of 4.
    let a = &json["cdns"][0];
    assert_eq!(a["sla"][0]["ticks_met"], 2);
    assert_eq!(a["sla"][0]["ticks_with_data"], 4);
    // 30 viewers for four ticks of 5 s: 10 viewer-minutes.
    assert_eq!(a["viewer_minutes"], 10.0);
    assert_eq!(json["audit"][0]["who"], "ana");

    let timeline = std::fs::read_to_string(out.join("timeline.csv")).unwrap();
    assert_eq!(timeline.lines().count(), 1 + 4 * 2);
    let decisions = std::fs::read_to_string(out.join("decisions.csv")).unwrap();
    assert!(
        decisions.contains(r#"ana,"cdn-b, ""flaky"" in FR",drain cdn-b,applied"#),
        "{decisions}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Post-event report: final"));
    assert!(
        html.contains("cdn-b, &quot;flaky&quot; in FR"),
        "the why, escaped"
    );
}

#[test]
fn report_without_a_timeline_exits_2_naming_the_file() {
    let dir = Dir::new();
    let output = report(
        &["--event", "final"],
        &dir.path().join("nowhere"),
        &dir.path().join("out"),
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("timeline.jsonl"), "{message}");
    assert!(!dir.path().join("out").exists(), "nothing written");
}

#[test]
fn report_of_an_event_without_ticks_exits_2_naming_the_events_there_are() {
    let dir = Dir::new();
    let data = dir.path().join("data");
    write_record(&data);
    let output = report(&["--event", "semi"], &data, &dir.path().join("out"));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains(r#"no tick of event "semi""#) && message.contains("for events: final"),
        "{message}"
    );
}

#[test]
fn report_with_an_invalid_configuration_exits_2_naming_the_field() {
    let dir = Dir::new();
    let data = dir.path().join("data");
    write_record(&data);
    let config = dir.path().join("control.toml");
    std::fs::write(&config, CONFIG.replace("ttfb_p95_ms", "ttfb_p59_ms")).unwrap();
    let output = report(
        &["--event", "final", "--config", config.to_str().unwrap()],
        &data,
        &dir.path().join("out"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("ttfb_p59_ms"),
        "{}",
        stderr(&output)
    );
}
