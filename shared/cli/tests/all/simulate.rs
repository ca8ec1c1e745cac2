//! `usher control simulate`: the built binary on a shipped scenario file prints one JSON object
//! with the contract's keys, and a bad scenario exits 2 naming the field.
#![cfg(test)] // Lets clippy's test allowances (unwrap, indexing) apply to the helpers too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::tempdir::Dir;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../control/scenarios")
        .join(name)
}

fn simulate(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["control", "simulate"])
        .arg(file)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn simulate_prints_one_json_object_with_the_contract_keys() {
    let output = simulate(&scenario("error-rate.toml"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    // One line, one object.
    assert_eq!(stdout.lines().count(), 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for key in [
        "time_to_reroute_seconds",
        "max_switches_per_viewer",
        "mean_switches_per_viewer",
        "peak_share",
        "capacity_violations",
        "viewer_seconds_on_degraded",
        "seed",
    ] {
        assert!(report.get(key).is_some(), "{key} missing from {stdout}");
    }
    // The same figures the library computes for this file.
    let text = std::fs::read_to_string(scenario("error-rate.toml")).unwrap();
    let expected = usher_control::simulation::run(
        &usher_control::simulation::Scenario::from_toml(&text).unwrap(),
    );
    assert_eq!(
        report["time_to_reroute_seconds"].as_u64(),
        expected.time_to_reroute_seconds
    );
    assert_eq!(
        report["peak_share"]["a"].as_f64(),
        Some(expected.peak_share["a"])
    );
    assert_eq!(report["seed"].as_u64(), Some(expected.seed));
}

#[test]
fn a_bad_scenario_exits_2_naming_the_field() {
    let dir = Dir::new();
    let text = std::fs::read_to_string(scenario("error-rate.toml")).unwrap();
    for (from, to, message) in [
        (
            "cdn = \"a\"",
            "cdn = \"z\"",
            "event[0].cdn: \"z\" is not a declared cdn",
        ),
        (
            "at = 120",
            "at = 601",
            "event[0].at: must be a whole number from 0 to 600",
        ),
        (
            "viewers = 100000",
            "viewers = -1",
            "viewers: must be a whole number",
        ),
        (
            "segment_seconds = 2",
            "segment_seconds = 2\nsegments = 2",
            "unknown field `segments`",
        ),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let output = simulate(&path);
        assert_eq!(output.status.code(), Some(2), "{to}: {}", stderr(&output));
        assert!(output.stdout.is_empty());
        let err = stderr(&output);
        assert!(err.contains("invalid scenario"), "{err}");
        assert!(err.contains(message), "{to}: {err}");
    }
    let output = simulate(&dir.path().join("missing.toml"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read scenario"));
}
