//! `usher control simulate FILE.toml`: the pre-event simulation, printed as one JSON object.
//!
//! Reads the scenario file, runs [`usher_control::simulation::run`] (the health model the live
//! controller runs, against virtual viewers and scripted CDN signals) and prints the report as
//! one line of JSON on stdout. `docs/simulation.md` describes the scenario format, the model and
//! every output field.
//!
//! Exit codes: 0 with the report, 2 when the file cannot be read or is not a valid scenario (an
//! unknown or missing key, an event for an undeclared CDN, an event after the end, a negative or
//! out-of-range number), with a message naming the field on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use usher_control::simulation::{Scenario, run as simulate};

use crate::{UsageError, print_line};

/// Arguments of `usher control simulate`.
#[derive(Args, Debug)]
pub(crate) struct SimulateArgs {
    /// The scenario: a TOML file (see docs/simulation.md).
    #[arg(value_name = "FILE.toml")]
    scenario: PathBuf,
}

/// Runs the scenario and prints its report.
pub(crate) fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let path = args.scenario.display();
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| UsageError::new(format!("cannot read scenario {path}: {e}")))?;
    let scenario = Scenario::from_toml(&text)
        .map_err(|e| UsageError::new(format!("invalid scenario {path}: {e}")))?;
    let report = simulate(&scenario);
    let json = serde_json::to_string(&report).context("serialising the report")?;
    print_line(&json).context("writing the report")?;
    Ok(ExitCode::SUCCESS)
}
