//! `usher control run` with a waiting room: arrival lines in a QoE file, the frontier it
//! publishes in `health.json`, and the operator's pause, rate and open through the API and the
//! CLI. Checks are on counts and positions (with the snapshots' own generation times), never
//! on how long anything took.
#![cfg(test)] // Lets clippy's test allowances (unwrap, indexing) apply to the helpers too.

use std::time::Duration;

use serde_json::Value;
use usher_shared::health::{AdmissionState, HealthSnapshot, PREQUEUE_SPAN_MS};

use crate::control::{Cdn, Controller, config, http, unix_ms, usher, wait_for};
use crate::tempdir;

const RATE: u64 = 600;
const ARRIVALS: u64 = 300;

/// Known arrivals below the snapshot's frontier.
fn admitted(snapshot: &HealthSnapshot, positions: &[u64]) -> u64 {
    let plan = snapshot.admission("final").unwrap();
    positions.iter().filter(|p| plan.admits(**p)).count() as u64
}

#[test]
fn the_published_frontier_moves_at_the_configured_rate_and_stops_while_paused() {
    let dir = tempdir::Dir::new();
    let cdns = [Cdn::start(), Cdn::start(), Cdn::start()];
    // The doors opened ten seconds ago; the line delay is long enough that an empty queue never
    // makes the frontier follow the clock during the test, so it moves over known arrivals only.
    let doors = unix_ms() - 10_000;
    let extra = format!(
        "[qoe]\nfiles = [\"qoe.jsonl\"]\n\
         [event.admission]\ndoors_open_ms = {doors}\nrate_per_min = {RATE}\n\
         line_delay_ms = 3600000\n"
    );
    let path = config(dir.path(), &[&cdns[0], &cdns[1], &cdns[2]], &extra);
    let data = dir.path().join("data");
    let controller = Controller::start(&path, &data);
    let url = format!("http://{}/", controller.addr);

    // Before any arrival, the plan holds everyone back at the start of the pre-queue.
    let first = wait_for(dir.path(), "a plan", Duration::from_secs(30), |s| {
        s.admission("final").is_some()
    });
    let plan = first.admission("final").unwrap();
    assert_eq!(plan.frontier_ms, doors - PREQUEUE_SPAN_MS);
    assert_eq!(first.format_version(), 3);

    // A pre-queue of 300 (every 100 ms of the span's last 30 s), plus lines the controller
    // must refuse and count.
    let positions: Vec<u64> = (0..ARRIVALS).map(|i| doors - 30_000 + i * 100).collect();
    let at = unix_ms();
    let mut text: String = positions
        .iter()
        .map(|p| {
            format!("{{\"at\":{at},\"event\":\"final\",\"kind\":\"arrival\",\"position\":{p}}}\n")
        })
        .collect();
    text.push_str(&format!(
        "{{\"at\":{at},\"event\":\"final\",\"kind\":\"left\",\"position\":{doors}}}\n\
         {{\"at\":{at},\"event\":\"final\",\"kind\":\"arrival\",\"position\":-4}}\n\
         {{\"at\":{at},\"event\":\"other\",\"kind\":\"arrival\",\"position\":{doors}}}\n\
         {{\"at\":{at},\"event\":\"final\",\"kind\":\"admitted\",\"position\":{}}}\n",
        positions[0]
    ));
    std::fs::write(dir.path().join("qoe.jsonl"), text).unwrap();

    // The queue is known and draining.
    let a = wait_for(
        dir.path(),
        "admission under way",
        Duration::from_secs(30),
        |s| {
            let plan = s.admission("final").unwrap();
            plan.waiting > 0 && plan.waiting < ARRIVALS && plan.state == AdmissionState::Open
        },
    );
    let b = wait_for(
        dir.path(),
        "three more ticks",
        Duration::from_secs(30),
        |s| s.seq() >= a.seq() + 3,
    );
    // Between two snapshots the frontier admitted the rate times the time between them (by
    // the controller's own clock), within a viewer of rounding either way.
    let elapsed = b.generated_at_ms() - a.generated_at_ms();
    let expected = RATE * elapsed / 60_000;
    let moved = admitted(&b, &positions) - admitted(&a, &positions);
    assert!(
        moved + 2 >= expected && moved <= expected + 2,
        "{moved} admitted in {elapsed} ms at {RATE}/min"
    );
    // Lowest positions first: exactly the first `admitted` of the sorted pre-queue.
    let plan = b.admission("final").unwrap();
    let n = admitted(&b, &positions);
    assert_eq!(plan.waiting, ARRIVALS - n);
    assert!(plan.wait_ms(*positions.last().unwrap()).unwrap() > 0);

    // Pause through the API: the frontier stops.
    let pause = r#"{"action":"admission_pause","event":"final","who":"test","why":"checking"}"#;
    let (status, body) = http(controller.addr, "POST", "/v1/commands", pause);
    assert_eq!(status, 200, "{body}");
    let paused = wait_for(dir.path(), "paused", Duration::from_secs(30), |s| {
        s.admission("final").unwrap().state == AdmissionState::Paused
    });
    let later = wait_for(
        dir.path(),
        "three paused ticks",
        Duration::from_secs(30),
        |s| s.seq() >= paused.seq() + 3,
    );
    let frozen = later.admission("final").unwrap();
    assert_eq!(frozen.state, AdmissionState::Paused);
    assert_eq!(
        frozen.frontier_ms,
        paused.admission("final").unwrap().frontier_ms
    );
    assert_eq!(frozen.wait_ms(*positions.last().unwrap()), None);

    // A rate and an opening through the CLI; an unknown event is refused (exit 1).
    let who = ["--who", "test", "--why", "checking", "--controller", &url];
    let (code, out, err) =
        usher(&[&["control", "admission", "rate", "final", "1200"], &who[..]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = usher(&[&["control", "admission", "open", "nope"], &who[..]].concat());
    assert_eq!(code, 1);
    assert!(out.contains("no [event.admission]"), "{out}");
    let (code, out, err) = usher(&[&["control", "admission", "open", "final"], &who[..]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let reopened = wait_for(
        dir.path(),
        "open again at 1200",
        Duration::from_secs(30),
        |s| {
            let plan = s.admission("final").unwrap();
            plan.state == AdmissionState::Open && plan.rate_per_min == 1200
        },
    );
    assert!(
        reopened.admission("final").unwrap().frontier_ms >= frozen.frontier_ms,
        "the frontier never moves backwards"
    );

    // The refusals are counted by reason, and the dashboard's data has the waiting room.
    let (_, state) = http(controller.addr, "GET", "/v1/state", "");
    let state: Value = serde_json::from_str(&state).unwrap();
    let tick = state["ticks"].as_array().unwrap().last().unwrap().clone();
    let refused: Vec<(String, u64)> = serde_json::from_value(tick["qoe_refused"].clone()).unwrap();
    for code in [
        "admission_unknown_kind",
        "admission_malformed",
        "admission_unknown_event",
    ] {
        assert!(
            refused.contains(&(code.to_owned(), 1)),
            "{code}: {refused:?}"
        );
    }
    let room = &tick["admission"][0];
    assert_eq!(room["event"], "final");
    assert_eq!(room["configured_rate_per_min"], RATE);
    assert_eq!(room["operator_rate_per_min"], 1200);
    // One `admitted` line, counted while it is within the last minute.
    assert!(room["measured_rate_per_min"].as_u64().unwrap() <= 1);
    let audit = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 4, "{audit}");
    assert!(audit.contains("admission pause final"), "{audit}");
    assert!(audit.contains("refused: event \\\"nope\\\""), "{audit}");
    controller.stop();
}

#[test]
fn simulate_models_a_kickoff_surge_through_the_waiting_room() {
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../control/scenarios/kickoff-surge.toml");
    let (code, out, err) = usher(&["control", "simulate", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let surge = &report["surge"];
    // The figures the library computes for this file.
    let text = std::fs::read_to_string(&file).unwrap();
    let scenario = usher_control::simulation::Scenario::from_toml(&text).unwrap();
    let expected =
        usher_control::simulation::surge::run(scenario.surge.as_ref().unwrap(), scenario.seed);
    assert_eq!(surge, &serde_json::to_value(&expected).unwrap());
    // 200 000 arrive, the cap holds 150 000; a minute never admits more than the rate and a
    // tick's worth; the pre-queue goes first.
    assert_eq!(surge["admitted"], 150_000);
    assert_eq!(surge["still_waiting"], 50_000);
    assert_eq!(surge["active_peak"], 150_000);
    let peak = surge["peak_admitted_per_min"].as_u64().unwrap();
    assert!(peak <= 20_000 + 20_000 * 5 / 60 + 1, "{peak}");
    assert_eq!(surge["pre_queue_admitted_first"], true);
    let p50 = surge["wait_p50_seconds"].as_f64().unwrap();
    let p95 = surge["wait_p95_seconds"].as_f64().unwrap();
    let max = surge["wait_max_seconds"].as_f64().unwrap();
    assert!(0.0 < p50 && p50 <= p95 && p95 <= max, "{surge}");

    // A bad [surge] table is a usage error naming the field.
    let dir = tempdir::Dir::new();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, text.replace("spike = 0.5", "spike = 0.9")).unwrap();
    let (code, _, err) = usher(&["control", "simulate", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("surge.pre_queue"), "{err}");
}
